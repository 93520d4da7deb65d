// SPDX-License-Identifier: MIT
pragma solidity ^0.8.27;

import {InferenceOracle} from "../InferenceOracle.sol";
import {KindCodec} from "../libraries/KindCodec.sol";
import {KindConsumerBase} from "./KindConsumerBase.sol";

/// @title ChatConsumer: a conversation in, the model's reply out (kind `chat`)
/// @notice
///   cast send $CHAT "askChat(string[],string[])" '["system","user"]' '["Be brief.","Hi!"]' --value 0.001ether ...
///   cast call $CHAT "replyOf(uint256)(string)" 1
/// Input abi.encode(string[] roles, string[] contents): "system" (first only), then "user" and
/// "model" alternating, the first and the last "user"; as many roles as contents. Output: the reply as UTF-8 text; bytes
/// that are not UTF-8 are Invalid. Storing the reply costs about 22k gas per 32 bytes: give the
/// callback enough gas for the longest reply the params allow.
contract ChatConsumer is KindConsumerBase {
    /// @notice The model's reply (empty until Answered).
    mapping(uint256 id => string) public replyOf;

    event ChatAnswered(uint256 indexed id, string reply);

    constructor(InferenceOracle oracle_, bytes32 modelId_, bytes memory params_, uint32 callbackGasLimit_)
        KindConsumerBase(oracle_, KindCodec.CHAT, modelId_, params_, callbackGasLimit_)
    {}

    /// @notice Asks for the model's next turn in the conversation; msg.value pays the fee.
    /// @return id the oracle's request id
    function askChat(string[] calldata roles, string[] calldata contents) external payable returns (uint256 id) {
        return _ask(KindCodec.encodeChat(roles, contents));
    }

    /// @notice A one-turn conversation: an optional system message ("" = none) and the user's
    /// message.
    /// @return id the oracle's request id
    function ask(string calldata system, string calldata user) external payable returns (uint256 id) {
        uint256 n = bytes(system).length == 0 ? 1 : 2;
        string[] memory roles = new string[](n);
        string[] memory contents = new string[](n);
        if (n == 2) {
            roles[0] = "system";
            contents[0] = system;
        }
        roles[n - 1] = "user";
        contents[n - 1] = user;
        return _ask(KindCodec.encodeChat(roles, contents));
    }

    function _accept(uint256 id, bytes calldata output) internal override returns (bool) {
        if (!KindCodec.isUtf8(output)) return false;
        replyOf[id] = string(output);
        emit ChatAnswered(id, string(output));
        return true;
    }
}
