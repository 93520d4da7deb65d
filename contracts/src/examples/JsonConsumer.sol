// SPDX-License-Identifier: MIT
pragma solidity ^0.8.27;

import {InferenceOracle} from "../InferenceOracle.sol";
import {KindCodec} from "../libraries/KindCodec.sol";
import {KindConsumerBase} from "./KindConsumerBase.sol";

/// @title JsonConsumer: JSON text, optionally of a small schema (kind `json`)
/// @notice
///   cast send $JSON "askJson(string,string)" "a city" '{"name":"string","people":"number"}' --value 0.001ether ...
///   cast call $JSON "jsonOf(uint256)(string)" 1
/// Input abi.encode(string prompt, string schema): schema "" = any JSON value, otherwise a flat
/// object of key -> "string" / "number" / "bool" (1..16 keys). Output: UTF-8 JSON text. The
/// consumer checks the syntax (KindCodec.isJson) of outputs up to MAX_JSON_BYTES; longer output
/// or output that does not parse is Invalid. The schema itself is the node's guarantee (its
/// adapter restricts decoding to it, and the answer is attested and replayable), not
/// re-checked here.
contract JsonConsumer is KindConsumerBase {
    /// @notice Outputs longer than this are Invalid without parsing. It bounds the callback's
    /// gas: checking and storing 512 bytes costs at most about 1.15M gas (a list of one-digit
    /// numbers, the costliest shape per byte; a 512-byte string 0.42M).
    uint256 public constant MAX_JSON_BYTES = 512;

    /// @notice The JSON text (empty until Answered).
    mapping(uint256 id => string) public jsonOf;

    event JsonAnswered(uint256 indexed id, string json);

    constructor(InferenceOracle oracle_, bytes32 modelId_, bytes memory params_, uint32 callbackGasLimit_)
        KindConsumerBase(oracle_, KindCodec.JSON, modelId_, params_, callbackGasLimit_)
    {}

    /// @notice Asks for JSON answering `prompt`, shaped by `schema` ("" = any value); msg.value
    /// pays the model's fee.
    /// @return id the oracle's request id
    function askJson(string calldata prompt, string calldata schema) external payable returns (uint256 id) {
        return _ask(KindCodec.encodeJson(prompt, schema));
    }

    function _accept(uint256 id, bytes calldata output) internal override returns (bool) {
        if (output.length > MAX_JSON_BYTES || !KindCodec.isJson(output)) return false;
        jsonOf[id] = string(output);
        emit JsonAnswered(id, string(output));
        return true;
    }
}
