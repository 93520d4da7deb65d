// SPDX-License-Identifier: MIT
pragma solidity ^0.8.27;

import {InferenceOracle} from "../InferenceOracle.sol";
import {KindCodec} from "../libraries/KindCodec.sol";
import {KindConsumerBase} from "./KindConsumerBase.sol";

/// @title BoolConsumer: yes or no (kind `bool`)
/// @notice
///   cast send $BOOL "askBool(string)" "Is 2+2 four?" --value 0.001ether ...
///   cast call $BOOL "boolOf(uint256)(bool)" 1
/// Input abi.encode(string prompt); output abi.encode(bool). Anything but one word holding 0 or
/// 1 is Invalid.
contract BoolConsumer is KindConsumerBase {
    /// @notice The answer (meaningful once Answered).
    mapping(uint256 id => bool) public boolOf;

    event BoolAnswered(uint256 indexed id, bool value);

    constructor(InferenceOracle oracle_, bytes32 modelId_, bytes memory params_, uint32 callbackGasLimit_)
        KindConsumerBase(oracle_, KindCodec.BOOL, modelId_, params_, callbackGasLimit_)
    {}

    /// @notice Asks a yes/no question; msg.value pays the model's fee.
    /// @return id the oracle's request id
    function askBool(string calldata prompt) external payable returns (uint256 id) {
        return _ask(KindCodec.encodeBool(prompt));
    }

    function _accept(uint256 id, bytes calldata output) internal override returns (bool) {
        (bool ok, bool value) = KindCodec.decodeBool(output);
        if (!ok) return false;
        boolOf[id] = value;
        emit BoolAnswered(id, value);
        return true;
    }
}
