// SPDX-License-Identifier: MIT
pragma solidity ^0.8.27;

import {InferenceOracle} from "../InferenceOracle.sol";
import {KindCodec} from "../libraries/KindCodec.sol";
import {KindConsumerBase} from "./KindConsumerBase.sol";

/// @title ChoiceConsumer: one of several options (kind `choice`)
/// @notice
///   cast send $CHOICE "askChoice(string,string[])" "Is the sky" '["green","blue"]' --value 0.001ether ...
///   cast call $CHOICE "choiceOf(uint256)(uint256)" 1      # 0-based index into the options
/// Input abi.encode(string prompt, string[] options) (2..26 options); output abi.encode(uint256
/// index). An index >= the number of options, or output that is not one word, is Invalid.
contract ChoiceConsumer is KindConsumerBase {
    /// @notice How many options request `id` offered.
    mapping(uint256 id => uint256) public optionCount;
    /// @notice The chosen option's 0-based index (meaningful once Answered).
    mapping(uint256 id => uint256) public choiceOf;

    event Chosen(uint256 indexed id, uint256 index);

    constructor(InferenceOracle oracle_, bytes32 modelId_, bytes memory params_, uint32 callbackGasLimit_)
        KindConsumerBase(oracle_, KindCodec.CHOICE, modelId_, params_, callbackGasLimit_)
    {}

    /// @notice Asks which of `options` answers `prompt`; msg.value pays the model's fee.
    /// @return id the oracle's request id
    function askChoice(string calldata prompt, string[] calldata options) external payable returns (uint256 id) {
        id = _ask(KindCodec.encodeChoice(prompt, options));
        optionCount[id] = options.length;
    }

    /// @notice The input's options, decoded (reverts for bytes that are not a choice input).
    function decodeInput(bytes calldata input) external pure returns (string memory prompt, string[] memory options) {
        return abi.decode(input, (string, string[]));
    }

    function _rememberRaw(uint256 id, bytes calldata input) internal override {
        try this.decodeInput(input) returns (string memory, string[] memory options) {
            optionCount[id] = options.length;
        } catch {
            // stays 0: no index is valid, any output is recorded as Invalid
        }
    }

    function _accept(uint256 id, bytes calldata output) internal override returns (bool) {
        (bool ok, uint256 index) = KindCodec.decodeChoice(output, optionCount[id]);
        if (!ok) return false;
        choiceOf[id] = index;
        emit Chosen(id, index);
        return true;
    }
}
