// SPDX-License-Identifier: MIT
pragma solidity ^0.8.27;

import {InferenceOracle} from "../InferenceOracle.sol";
import {IInferenceConsumer} from "../interfaces/IInferenceConsumer.sol";

/// @title ExampleConsumer: asks the oracle and keeps every answer it gets
/// @notice Made to be driven from `cast`:
///   cast send $CONSUMER "ask(string)" "What is 2+2?" --value 0.001ether ...
///   cast call $CONSUMER "answerText(uint256)(string)" 1
/// `ask(string)` uses the model, adapter, params and callback gas set at deployment
/// (and changeable by the owner); `askWith` takes all of them.
contract ExampleConsumer is IInferenceConsumer {
    enum State {
        None,
        Pending,
        Answered,
        Rejected
    }

    struct Answer {
        State state;
        uint16 rejectCode;
        address asker;
        bytes output;
    }

    InferenceOracle public immutable oracle;
    address public owner;
    bytes32 public modelId;
    bytes32 public adapter;
    bytes public params;
    uint32 public callbackGasLimit;

    mapping(uint256 id => Answer) public answers;
    uint256 public lastRequestId;
    uint256 public answeredCount;
    uint256 public rejectedCount;

    event Asked(uint256 indexed id, address indexed asker);
    event Answered(uint256 indexed id, bytes output);
    event AnswerRejected(uint256 indexed id, uint16 code);

    error NotOracle(address caller);
    error NotOwner(address caller);
    error UnknownRequest(uint256 id);
    error ValueNotSplittable(uint256 value, uint256 prompts);

    constructor(
        InferenceOracle oracle_,
        bytes32 modelId_,
        bytes32 adapter_,
        bytes memory params_,
        uint32 callbackGasLimit_
    ) {
        oracle = oracle_;
        owner = msg.sender;
        modelId = modelId_;
        adapter = adapter_;
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

    /// @notice Asks with the default model/adapter/params; the input is the prompt's UTF-8 bytes.
    function ask(string calldata prompt) external payable returns (uint256 id) {
        return _ask(modelId, adapter, bytes(prompt), params, callbackGasLimit);
    }

    /// @notice Several prompts in one transaction, each its own request (a load generator's way
    /// to make many requests without a transaction each: scripts/bench-node ASK_MANY).
    /// msg.value is split evenly, one share per request.
    function askMany(string[] calldata prompts) external payable returns (uint256 firstId) {
        uint256 n = prompts.length;
        if (n == 0 || msg.value % n != 0) revert ValueNotSplittable(msg.value, n);
        uint256 each = msg.value / n;
        for (uint256 i; i < n; ++i) {
            uint256 id = _askValue(modelId, adapter, bytes(prompts[i]), params, callbackGasLimit, each);
            if (i == 0) firstId = id;
        }
    }

    function askWith(
        bytes32 modelId_,
        bytes32 adapter_,
        bytes calldata input,
        bytes calldata params_,
        uint32 callbackGasLimit_
    ) external payable returns (uint256 id) {
        return _ask(modelId_, adapter_, input, params_, callbackGasLimit_);
    }

    function _ask(bytes32 m, bytes32 a, bytes memory input, bytes memory p, uint32 gasLimit)
        private
        returns (uint256 id)
    {
        return _askValue(m, a, input, p, gasLimit, msg.value);
    }

    function _askValue(bytes32 m, bytes32 a, bytes memory input, bytes memory p, uint32 gasLimit, uint256 value)
        private
        returns (uint256 id)
    {
        id = oracle.request{value: value}(m, a, input, p, gasLimit);
        answers[id].state = State.Pending;
        answers[id].asker = msg.sender;
        lastRequestId = id;
        emit Asked(id, msg.sender);
    }

    function onInferenceResult(uint256 id, bytes calldata output) external onlyOracle {
        Answer storage a = answers[id];
        if (a.state != State.Pending) revert UnknownRequest(id);
        a.state = State.Answered;
        a.output = output;
        ++answeredCount;
        emit Answered(id, output);
    }

    function onInferenceRejected(uint256 id, uint16 code) external onlyOracle {
        Answer storage a = answers[id];
        if (a.state != State.Pending) revert UnknownRequest(id);
        a.state = State.Rejected;
        a.rejectCode = code;
        ++rejectedCount;
        emit AnswerRejected(id, code);
    }

    /// @notice The raw output bytes of an answered request (empty otherwise).
    function answerOf(uint256 id) external view returns (bytes memory) {
        return answers[id].output;
    }

    /// @notice The output read as text: for adapters whose output is UTF-8 bytes as-is.
    function answerText(uint256 id) external view returns (string memory) {
        return string(answers[id].output);
    }

    /// @notice Changes the defaults `ask(string)` uses.
    function configure(bytes32 modelId_, bytes32 adapter_, bytes calldata params_, uint32 callbackGasLimit_)
        external
        onlyOwner
    {
        modelId = modelId_;
        adapter = adapter_;
        params = params_;
        callbackGasLimit = callbackGasLimit_;
    }

    /// @notice Collects refunds and overpayments the oracle credited to this contract.
    function withdrawRefunds(address payable to) external onlyOwner {
        oracle.withdraw(to);
    }
}
