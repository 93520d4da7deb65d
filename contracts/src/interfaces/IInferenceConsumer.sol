// SPDX-License-Identifier: MIT
pragma solidity ^0.8.27;

/// @notice What a contract that calls InferenceOracle.request implements to receive the answer.
/// The oracle calls exactly one of these once per request, with the gas the request asked for
/// (callbackGasLimit). A revert, out-of-gas or huge return data in the callback does not undo
/// the answer: the oracle records it, emits it and reports the callback's outcome in an event.
interface IInferenceConsumer {
    /// @param id the request id that InferenceOracle.request returned
    /// @param output the output bytes the adapter produced (their keccak256 is the attested outputHash)
    function onInferenceResult(uint256 id, bytes calldata output) external;

    /// @param id the request id
    /// @param code the attested reason code (docs/protocol.md lists them); never 0
    function onInferenceRejected(uint256 id, uint16 code) external;
}
