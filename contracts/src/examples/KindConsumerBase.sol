// SPDX-License-Identifier: MIT
pragma solidity ^0.8.27;

import {InferenceOracle} from "../InferenceOracle.sol";
import {IInferenceConsumer} from "../interfaces/IInferenceConsumer.sol";

/// @title KindConsumerBase: what the typed example consumers share
/// @notice One consumer per request kind (ChatConsumer, ChoiceConsumer, NumberConsumer,
/// BoolConsumer, JsonConsumer) builds the kind's input from typed arguments, forwards msg.value
/// as the fee and decodes the output in its callback. This base keeps the request's progress:
/// Pending, then Answered (the output decoded to a valid value, stored by the consumer), Invalid
/// (the output is not a valid value of the kind: recorded, never reverted, so the oracle's
/// fulfilment and the callback both go through) or Rejected (with the attested reason code).
/// Only the oracle may call back. The model, params and callback gas come from deployment and
/// can be changed by the owner; refunds and overpayments the oracle credits to this contract
/// are withdrawn by the owner.
///
/// The consumer does not check its inputs: an input the node's adapter cannot use (too few
/// options, min > max, a bad schema, ...) gets an attested reject and the oracle refunds the
/// fee to this contract.
abstract contract KindConsumerBase is IInferenceConsumer {
    enum State {
        None,
        Pending,
        Answered,
        Invalid,
        Rejected
    }

    struct Ask {
        State state;
        uint16 rejectCode; // the attested reason code once Rejected
        address asker;
    }

    InferenceOracle public immutable oracle;
    /// @notice The request kind (the oracle's `adapter` field), fixed per consumer.
    bytes32 public immutable kind;
    address public owner;
    bytes32 public modelId;
    /// @notice abi.encode(uint32 maxNewTokens, uint32 steps) or empty (the model's defaults).
    bytes public params;
    uint32 public callbackGasLimit;

    mapping(uint256 id => Ask) public asks;
    uint256 public lastRequestId;
    uint256 public answeredCount;
    uint256 public invalidCount;
    uint256 public rejectedCount;

    event Asked(uint256 indexed id, address indexed asker);
    /// @notice The output was not a valid value of this kind; it is in the oracle's Fulfilled event.
    event InvalidOutput(uint256 indexed id);
    event AnswerRejected(uint256 indexed id, uint16 code);

    error NotOracle(address caller);
    error NotOwner(address caller);
    error UnknownRequest(uint256 id);

    constructor(
        InferenceOracle oracle_,
        bytes32 kind_,
        bytes32 modelId_,
        bytes memory params_,
        uint32 callbackGasLimit_
    ) {
        oracle = oracle_;
        kind = kind_;
        owner = msg.sender;
        modelId = modelId_;
        params = params_;
        callbackGasLimit = callbackGasLimit_;
    }

    modifier onlyOracle() {
        if (msg.sender != address(oracle)) revert NotOracle(msg.sender);
        _;
    }

    modifier onlyOwner() {
        if (msg.sender != owner) revert NotOwner(msg.sender);
        _;
    }

    /// @notice Sends `input` as it is, with this consumer's kind (for inputs the typed functions
    /// cannot build, e.g. to see the node's reject for malformed bytes). The output is decoded
    /// as for a typed request; kinds whose check needs the request's arguments (choice, number)
    /// take them from the input if it decodes, and record the output as Invalid if not.
    /// @return id the oracle's request id
    function askRaw(bytes calldata input) external payable returns (uint256 id) {
        id = _ask(input);
        _rememberRaw(id, input);
    }

    /// @notice Called by the oracle with the output bytes of request `id`; decodes and records
    /// them, and never reverts for malformed output.
    function onInferenceResult(uint256 id, bytes calldata output) external onlyOracle {
        Ask storage a = asks[id];
        if (a.state != State.Pending) revert UnknownRequest(id);
        if (_accept(id, output)) {
            a.state = State.Answered;
            ++answeredCount;
        } else {
            a.state = State.Invalid;
            ++invalidCount;
            emit InvalidOutput(id);
        }
    }

    /// @notice Called by the oracle when request `id` was rejected with reason `code`.
    function onInferenceRejected(uint256 id, uint16 code) external onlyOracle {
        Ask storage a = asks[id];
        if (a.state != State.Pending) revert UnknownRequest(id);
        a.state = State.Rejected;
        a.rejectCode = code;
        ++rejectedCount;
        emit AnswerRejected(id, code);
    }

    /// @notice Where request `id` stands (None for ids this consumer did not make).
    function stateOf(uint256 id) external view returns (State) {
        return asks[id].state;
    }

    /// @notice Changes the model, params and callback gas of later requests.
    function configure(bytes32 modelId_, bytes calldata params_, uint32 callbackGasLimit_) external onlyOwner {
        modelId = modelId_;
        params = params_;
        callbackGasLimit = callbackGasLimit_;
    }

    /// @notice Collects refunds and overpayments the oracle credited to this contract.
    function withdrawRefunds(address payable to) external onlyOwner {
        oracle.withdraw(to);
    }

    /// @dev Pays msg.value to the oracle with this consumer's kind and settings.
    function _ask(bytes memory input) internal returns (uint256 id) {
        id = oracle.request{value: msg.value}(modelId, kind, input, params, callbackGasLimit);
        Ask storage a = asks[id];
        a.state = State.Pending;
        a.asker = msg.sender;
        lastRequestId = id;
        emit Asked(id, msg.sender);
    }

    /// @dev Decodes `output` for request `id`: stores the value and emits the typed event and
    /// returns true, or returns false for an output that is not a valid value. Must not revert.
    function _accept(uint256 id, bytes calldata output) internal virtual returns (bool valid);

    /// @dev What `_accept` needs to know about a raw request (nothing, by default).
    function _rememberRaw(uint256 id, bytes calldata input) internal virtual {}
}
