// SPDX-License-Identifier: MIT
pragma solidity ^0.8.27;

import {InferenceOracle} from "../InferenceOracle.sol";
import {KindCodec} from "../libraries/KindCodec.sol";
import {KindConsumerBase} from "./KindConsumerBase.sol";

/// @title NumberConsumer: an integer in a declared range (kind `number`)
/// @notice
///   cast send $NUMBER "askNumber(string,int256,int256)" "12+34" 0 198 --value 0.001ether ...
///   cast call $NUMBER "numberOf(uint256)(int256)" 1
/// Input abi.encode(string prompt, int256 min, int256 max) (min <= max, both within
/// +-(10^18-1)); output abi.encode(int256 value). A value outside [min, max], or output that is
/// not one word, is Invalid.
contract NumberConsumer is KindConsumerBase {
    struct Range {
        int256 min;
        int256 max;
    }

    /// @notice The range request `id` declared.
    mapping(uint256 id => Range) public rangeOf;
    /// @notice The answer (meaningful once Answered).
    mapping(uint256 id => int256) public numberOf;

    event NumberAnswered(uint256 indexed id, int256 value);

    constructor(InferenceOracle oracle_, bytes32 modelId_, bytes memory params_, uint32 callbackGasLimit_)
        KindConsumerBase(oracle_, KindCodec.NUMBER, modelId_, params_, callbackGasLimit_)
    {}

    /// @notice Asks for an integer answer to `prompt` in [min, max]; msg.value pays the fee.
    /// @return id the oracle's request id
    function askNumber(string calldata prompt, int256 min, int256 max) external payable returns (uint256 id) {
        id = _ask(KindCodec.encodeNumber(prompt, min, max));
        rangeOf[id] = Range(min, max);
    }

    /// @notice The input's fields, decoded (reverts for bytes that are not a number input).
    function decodeInput(bytes calldata input) external pure returns (string memory prompt, int256 min, int256 max) {
        return abi.decode(input, (string, int256, int256));
    }

    function _rememberRaw(uint256 id, bytes calldata input) internal override {
        try this.decodeInput(input) returns (string memory, int256 min, int256 max) {
            rangeOf[id] = Range(min, max);
        } catch {
            rangeOf[id] = Range(1, 0); // empty: any output is recorded as Invalid
        }
    }

    function _accept(uint256 id, bytes calldata output) internal override returns (bool) {
        Range memory r = rangeOf[id];
        (bool ok, int256 value) = KindCodec.decodeNumber(output, r.min, r.max);
        if (!ok) return false;
        numberOf[id] = value;
        emit NumberAnswered(id, value);
        return true;
    }
}
