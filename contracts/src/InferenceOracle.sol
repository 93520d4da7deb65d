// SPDX-License-Identifier: MIT
pragma solidity ^0.8.27;

import {Ownable, Ownable2Step} from "@openzeppelin/contracts/access/Ownable2Step.sol";
import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {IInferenceConsumer} from "./interfaces/IInferenceConsumer.sol";

/// @title InferenceOracle: requests for DiffusionGemma inference, answered by Sibyl nodes
/// @notice A consumer pays a model's fee and calls `request`; the oracle fixes a seed and emits
/// everything a node (or an auditor replaying it) needs in `InferenceRequested`. Registered nodes
/// answer with an EIP-712 `Attestation` that binds the request id, the model file's hash, the
/// hashes of input, params and output, the seed and the arithmetic profile. A request finalises
/// when `quorum` distinct registered nodes attested the same answer (an output hash, or a reject
/// code); then the fee is credited to those nodes, and the consumer's callback runs with the gas
/// it asked for and can never undo the answer. All money leaves through `withdraw` (pull
/// payments), so no transfer can block a fulfilment. The full rules are in docs/protocol.md.
contract InferenceOracle is Ownable2Step, EIP712 {
    // ------------------------------------------------------------------ types

    /// @notice What a node signs (EIP-712, domain "SibylInferenceOracle" version "1").
    /// For a fulfilment rejectCode is 0; for a reject outputHash is keccak256("") and rejectCode != 0.
    struct Attestation {
        uint256 requestId;
        bytes32 modelHash; // sha256 of the GGUF file (docs/protocol.md: split files)
        bytes32 inputHash; // keccak256(input)
        bytes32 paramsHash; // keccak256(params)
        bytes32 outputHash; // keccak256(output)
        uint256 seed; // the seed from InferenceRequested
        bytes32 engineVersion; // arithmetic profile name, ASCII left-aligned ("sibyl-arith-1")
        uint16 rejectCode; // 0 = answer; otherwise a reason code from docs/protocol.md
    }

    enum Status {
        None,
        Open,
        Fulfilled,
        Rejected,
        Cancelled
    }

    struct Model {
        bytes32 modelHash;
        uint128 fee; // wei, the escrow every request for this model pays
        uint16 quorum; // k: distinct registered nodes that must agree
        bool active; // inactive models take no new requests
    }

    /// @dev What a request committed to, plus its progress. The model's hash, quorum and fee are
    /// copied at request time, so a later change to the registry never changes an open request.
    struct Request {
        address requester;
        uint64 deadline;
        uint32 callbackGasLimit;
        Status status;
        uint16 quorum;
        uint16 rejectCode; // the final code once Rejected
        uint16 firstRejectCode; // the first vote's answer, to detect disagreement
        bool hasVote;
        uint128 escrow; // wei held for this request while it is Open
        bytes32 modelId;
        bytes32 modelHash;
        bytes32 inputHash;
        bytes32 paramsHash;
        uint256 seed;
        bytes32 firstOutputHash;
        bytes32 outputHash; // the final output hash once Fulfilled (see getRequest for how it is stored)
    }

    /// @dev The voters for one answer of one request, in vote order. The count shares a slot with
    /// the first voter, so the first vote for an answer writes one new slot, not two (an
    /// address[] keeps its length in a slot of its own).
    struct Voters {
        uint96 count;
        address first;
        mapping(uint256 index => address) rest; // voters 1 .. count-1
    }

    // -------------------------------------------------------------- constants

    bytes32 public constant ATTESTATION_TYPEHASH = keccak256(
        "Attestation(uint256 requestId,bytes32 modelHash,bytes32 inputHash,bytes32 paramsHash,bytes32 outputHash,uint256 seed,bytes32 engineVersion,uint16 rejectCode)"
    );
    /// @notice The arithmetic profile accepted from deployment on (docs/arithmetic.md).
    bytes32 public constant ENGINE_SIBYL_ARITH_1 = "sibyl-arith-1";
    /// @notice outputHash of every reject: keccak256 of empty output.
    bytes32 public constant EMPTY_OUTPUT_HASH = keccak256("");
    uint16 public constant MAX_QUORUM = 16;
    /// @notice Upper bound for the owner's maxCallbackGasLimit (half of a 30M block).
    uint32 public constant CALLBACK_GAS_CEILING = 15_000_000;
    /// @notice Gas that must be left, beyond callbackGasLimit and its 1/64, when the callback is
    /// made: pays for the call itself and for the event and return after it.
    uint256 public constant CALLBACK_GAS_RESERVE = 40_000;
    /// @dev answerMany's allowance above the plain 1/64 when it asks whether a failed element ran
    /// out of gas. An element's ecrecover is a call of its own (3,000 gas): when that call runs
    /// dry, the element keeps under 3000/63 < 48 gas of its 1/64, reverts, and hands that back, so
    /// answerMany can see a little more than 1/64 left after an element that was out of gas.
    /// (Today the copying of return data between the call and gasleft() costs more than that, so
    /// no gas limit lets such an element pass as a skip even without the slack: checked gas unit
    /// by gas unit; the slack keeps it so when the code generated around the call changes.)
    uint256 private constant ANSWER_GAS_SLACK = 100;

    // ------------------------------------------------------------------ state

    mapping(bytes32 modelId => Model) public models;
    mapping(address => bool) public isNode;
    uint256 public nodeCount;
    mapping(bytes32 engineVersion => bool) public acceptedEngineVersion;
    /// @notice Seconds from request to deadline.
    uint64 public requestTimeout;
    uint32 public maxCallbackGasLimit;

    uint256 public requestCount; // ids are 1, 2, 3, ...
    mapping(uint256 id => Request) private _requests;
    /// @notice Wei each account can withdraw: node fees, refunds, overpayments.
    mapping(address => uint256) public balances;

    /// @dev every voter of a request but the first, who is the head of the first answer's
    /// voters; `hasVoted` looks in both (so a request finalised by one vote writes no slot here)
    mapping(uint256 id => mapping(address node => bool)) private _hasVoted;
    /// @dev voters per (request, answer key); key = keccak256(abi.encode(outputHash, rejectCode))
    mapping(uint256 id => mapping(bytes32 key => Voters)) private _voters;
    /// @dev output bytes supplied by a `fulfill` that did not finalise (quorum > 1)
    mapping(uint256 id => mapping(bytes32 outputHash => bytes)) private _outputs;
    mapping(uint256 id => mapping(bytes32 outputHash => bool)) public outputSupplied;

    // ----------------------------------------------------------------- events

    event InferenceRequested(
        uint256 indexed id,
        address indexed requester,
        bytes32 indexed modelId,
        bytes32 adapter,
        bytes input,
        bytes params,
        uint256 seed,
        uint32 callbackGasLimit,
        uint64 deadline
    );
    /// @notice One node's vote counted (fulfill, attest or reject); votes = valid votes for
    /// this answer so far, including this one.
    event Attested(
        uint256 indexed id, address indexed node, bytes32 indexed outputHash, uint16 rejectCode, uint256 votes
    );
    /// @notice A fulfill with quorum > 1 stored output bytes that later `attest` calls can confirm.
    event OutputSupplied(uint256 indexed id, bytes32 indexed outputHash, address indexed node);
    /// @notice A vote differs from the request's first vote (auditors look here).
    event QuorumDisagreement(
        uint256 indexed id,
        address indexed node,
        bytes32 firstOutputHash,
        uint16 firstRejectCode,
        bytes32 outputHash,
        uint16 rejectCode
    );
    event Fulfilled(uint256 indexed id, bytes32 indexed outputHash, bytes output);
    event Rejected(uint256 indexed id, uint16 indexed code);
    event Cancelled(uint256 indexed id);
    /// @notice The consumer callback ran (success) or reverted / ran out of gas / was skipped
    /// because the requester has no code (false).
    event CallbackResult(uint256 indexed id, bool success);
    /// @notice Element `index` of an `answerMany` batch reverted and was skipped (its effects
    /// undone, the other elements stand). id = the element's first argument; reason = its revert
    /// data (RequestNotOpen, AlreadyVoted, NotNode, ... ABI-encoded as a custom error).
    event AnswerSkipped(uint256 indexed id, uint256 index, bytes reason);
    /// @notice `amount` wei became withdrawable by `account` because of request `id`.
    event Credited(address indexed account, uint256 indexed id, uint256 amount);
    event Withdrawn(address indexed account, address indexed to, uint256 amount);
    event ModelRegistered(bytes32 indexed modelId, bytes32 modelHash, uint16 quorum, uint128 fee, bool active);
    event NodeAdded(address indexed node);
    event NodeRemoved(address indexed node);
    event EngineVersionSet(bytes32 indexed engineVersion, bool accepted);
    event RequestTimeoutSet(uint64 requestTimeout);
    event MaxCallbackGasLimitSet(uint32 maxCallbackGasLimit);

    // ----------------------------------------------------------------- errors

    error ModelNotActive(bytes32 modelId);
    error FeeTooLow(uint256 required, uint256 paid);
    error CallbackGasLimitTooHigh(uint32 requested, uint32 maximum);
    error RequestNotOpen(uint256 id, Status status);
    error RequestExpired(uint256 id, uint64 deadline);
    error RequestNotExpired(uint256 id, uint64 deadline);
    error NotRequester(uint256 id, address caller);
    error WrongRequestId(uint256 expected, uint256 attested);
    error WrongSeed(uint256 expected, uint256 attested);
    error WrongModelHash(bytes32 expected, bytes32 attested);
    error WrongInputHash(bytes32 expected, bytes32 attested);
    error WrongParamsHash(bytes32 expected, bytes32 attested);
    error OutputHashMismatch(bytes32 attested, bytes32 actual);
    error EngineVersionNotAccepted(bytes32 engineVersion);
    error InvalidSignature();
    error NotNode(address signer);
    error AlreadyVoted(uint256 id, address node);
    error RejectCodeNotZero(uint16 code);
    error RejectCodeZero();
    error RejectOutputNotEmpty(bytes32 outputHash);
    error OutputNotSupplied(uint256 id, bytes32 outputHash);
    error InsufficientGasForCallback(uint256 needed, uint256 left);
    /// @notice Element `index` of an `answerMany` batch is not a fulfill / attest / reject call
    /// (or is shorter than a selector and an id).
    error NotAnAnswer(uint256 index, bytes4 selector);
    /// @notice Element `index` of an `answerMany` batch failed for want of gas (its own, or its
    /// callback's): the whole batch reverts so that the sender retries with more.
    error AnswerOutOfGas(uint256 index);
    error NothingToWithdraw(address account);
    error WithdrawFailed(address to, uint256 amount);
    error InvalidModel();
    error InvalidQuorum(uint16 quorum);
    error InvalidNode(address node);
    error NodeAlreadyRegistered(address node);
    error NodeNotRegistered(address node);
    error InvalidTimeout(uint64 timeout);
    error InvalidCallbackGasLimit(uint32 limit);

    // ------------------------------------------------------------ construction

    /// @param initialOwner registers models and nodes (Ownable2Step)
    /// @param requestTimeout_ seconds a request stays open (the deadline is request time + this)
    /// @param maxCallbackGasLimit_ the largest callbackGasLimit a request may ask for
    constructor(address initialOwner, uint64 requestTimeout_, uint32 maxCallbackGasLimit_)
        Ownable(initialOwner)
        EIP712("SibylInferenceOracle", "1")
    {
        _setRequestTimeout(requestTimeout_);
        _setMaxCallbackGasLimit(maxCallbackGasLimit_);
        acceptedEngineVersion[ENGINE_SIBYL_ARITH_1] = true;
        emit EngineVersionSet(ENGINE_SIBYL_ARITH_1, true);
    }

    // --------------------------------------------------------------- requests

    /// @notice Asks for one inference. msg.value must be at least the model's fee; the fee is
    /// held in escrow and anything above it is credited back to the caller at once (withdraw).
    /// @param adapter ASCII adapter name, left-aligned ("text", "number", ...)
    /// @param callbackGasLimit gas for onInferenceResult / onInferenceRejected on msg.sender
    function request(
        bytes32 modelId,
        bytes32 adapter,
        bytes calldata input,
        bytes calldata params,
        uint32 callbackGasLimit
    ) external payable returns (uint256 id) {
        id = _open(modelId, callbackGasLimit);
        Request storage r = _requests[id];
        r.inputHash = keccak256(input);
        r.paramsHash = keccak256(params);
        emit InferenceRequested(id, msg.sender, modelId, adapter, input, params, r.seed, callbackGasLimit, r.deadline);
    }

    /// @dev Everything of `request` but the calldata bytes (kept apart to stay within the stack).
    function _open(bytes32 modelId, uint32 callbackGasLimit) private returns (uint256 id) {
        Model memory m = models[modelId];
        if (!m.active) revert ModelNotActive(modelId);
        if (msg.value < m.fee) revert FeeTooLow(m.fee, msg.value);
        if (callbackGasLimit > maxCallbackGasLimit) {
            revert CallbackGasLimitTooHigh(callbackGasLimit, maxCallbackGasLimit);
        }
        id = ++requestCount;
        Request storage r = _requests[id];
        r.requester = msg.sender;
        r.deadline = uint64(block.timestamp) + requestTimeout;
        r.callbackGasLimit = callbackGasLimit;
        r.status = Status.Open;
        r.quorum = m.quorum;
        r.escrow = m.fee;
        r.modelId = modelId;
        r.modelHash = m.modelHash;
        // Fixed before anyone can see an output; the requester cannot choose it after the fact.
        r.seed = uint256(keccak256(abi.encode(block.chainid, address(this), id, blockhash(block.number - 1))));
        uint256 excess = msg.value - m.fee;
        if (excess != 0) _credit(msg.sender, id, excess);
    }

    /// @notice The requester takes back the escrow of a request nobody finalised in time.
    function cancel(uint256 id) external {
        Request storage r = _requests[id];
        if (r.status != Status.Open) revert RequestNotOpen(id, r.status);
        if (msg.sender != r.requester) revert NotRequester(id, msg.sender);
        if (block.timestamp <= r.deadline) revert RequestNotExpired(id, r.deadline);
        r.status = Status.Cancelled;
        uint256 escrow = r.escrow;
        r.escrow = 0;
        emit Cancelled(id);
        _credit(r.requester, id, escrow);
    }

    // ---------------------------------------------------------------- answers

    /// @notice Delivers an answer with the output bytes. Anyone may send it; the vote is the
    /// signer's. With quorum 1 this finalises; otherwise it counts one vote and, if nobody has
    /// supplied these output bytes yet, stores them for the nodes that confirm with `attest`.
    function fulfill(uint256 id, bytes calldata output, Attestation calldata att, bytes calldata signature) external {
        if (att.rejectCode != 0) revert RejectCodeNotZero(att.rejectCode);
        bytes32 actual = keccak256(output);
        if (actual != att.outputHash) revert OutputHashMismatch(att.outputHash, actual);
        Request storage r = _openRequest(id);
        address node = _checkAttestation(r, id, att, signature);
        if (_vote(r, id, node, att.outputHash, 0)) {
            // With quorum 1 this is the request's first vote and nothing can have been supplied:
            // the quorum comes first so that such a request never reads the outputSupplied slot.
            if (r.quorum > 1 && outputSupplied[id][att.outputHash]) delete _outputs[id][att.outputHash];
            _finaliseFulfilled(r, id, att.outputHash, output);
        } else if (!outputSupplied[id][att.outputHash]) {
            outputSupplied[id][att.outputHash] = true;
            _outputs[id][att.outputHash] = output;
            emit OutputSupplied(id, att.outputHash, node);
        }
    }

    /// @notice Confirms an answer whose output bytes an earlier `fulfill` supplied: the
    /// attestation and signature only (cheap for the 2nd..k-th node).
    function attest(uint256 id, Attestation calldata att, bytes calldata signature) external {
        if (att.rejectCode != 0) revert RejectCodeNotZero(att.rejectCode);
        Request storage r = _openRequest(id);
        if (!outputSupplied[id][att.outputHash]) revert OutputNotSupplied(id, att.outputHash);
        address node = _checkAttestation(r, id, att, signature);
        if (_vote(r, id, node, att.outputHash, 0)) {
            bytes memory output = _outputs[id][att.outputHash];
            delete _outputs[id][att.outputHash];
            _finaliseFulfilled(r, id, att.outputHash, output);
        }
    }

    /// @notice A node's signed refusal (unknown model, input too long, ...). Counted like an
    /// answer: `quorum` nodes attesting the same code finalise the request as Rejected and
    /// credit the whole escrow back to the requester.
    function reject(uint256 id, Attestation calldata att, bytes calldata signature) external {
        if (att.rejectCode == 0) revert RejectCodeZero();
        if (att.outputHash != EMPTY_OUTPUT_HASH) revert RejectOutputNotEmpty(att.outputHash);
        Request storage r = _openRequest(id);
        address node = _checkAttestation(r, id, att, signature);
        if (_vote(r, id, node, EMPTY_OUTPUT_HASH, att.rejectCode)) {
            _finaliseRejected(r, id, att.rejectCode);
        }
    }

    /// @notice Several answers (fulfill, attest, reject) in one transaction. Each element of
    /// `calls` is the ABI-encoded call of one of those three functions, selector included, and
    /// runs exactly as if msg.sender had sent it alone. An element that reverts is skipped: its
    /// effects are undone, it is reported by AnswerSkipped with its revert data, and the others
    /// stand. Fewer transactions for the same answers: one intrinsic 21,000 gas instead of one
    /// per answer, and on a devnet fewer blocks, each of which costs a state root.
    /// @dev Each element is a delegatecall to this contract: the answer runs on this storage with
    /// this msg.sender (none of the answer functions reads msg.sender today, but "as if sent
    /// alone" then holds for any that will) and msg.value 0 (answerMany is not payable, and
    /// neither are the answer functions). A plain self-call would make msg.sender the oracle.
    ///
    /// Running out of gas is never a skip. eth_estimateGas looks for the smallest gas limit at
    /// which the transaction does not revert; if an element starved of gas were skipped, that
    /// limit would be one at which the last answers are silently dropped, and the node would
    /// send it. So a failed element reverts the whole batch with AnswerOutOfGas when
    ///  - gasleft() after it is at most 1/64 of gasleft() before it (plus ANSWER_GAS_SLACK):
    ///    under the 63/64 rule the element was handed all the gas there was and used it up; or
    ///  - it reverted with InsufficientGasForCallback: `_callback` checks before it calls that
    ///    the consumer can get its whole callbackGasLimit, and reverts (leaving that gas unspent,
    ///    so the 1/64 test does not see it) precisely so that the sender retries with more gas.
    /// Both are the shortage of gas that a larger limit cures; every other revert is about the
    /// answer itself (already final, already voted, bad signature, ...) and more gas would not
    /// change it. The revert data can only be the oracle's own: the callback's return or revert
    /// data is never copied (`_callback`), and an element cannot be a nested answerMany.
    function answerMany(bytes[] calldata calls) external {
        for (uint256 i; i < calls.length; ++i) {
            bytes calldata answer = calls[i];
            bytes4 selector = bytes4(answer); // zero-padded when shorter than 4 bytes
            if (
                answer.length < 36
                    || (selector != this.fulfill.selector
                        && selector != this.attest.selector
                        && selector != this.reject.selector)
            ) revert NotAnAnswer(i, selector);
            uint256 gasBefore = gasleft();
            (bool ok, bytes memory reason) = address(this).delegatecall(answer);
            if (ok) continue;
            if (gasleft() <= gasBefore / 64 + ANSWER_GAS_SLACK || bytes4(reason) == InsufficientGasForCallback.selector)
            {
                revert AnswerOutOfGas(i);
            }
            emit AnswerSkipped(uint256(bytes32(answer[4:36])), i, reason);
        }
    }

    // --------------------------------------------------------------- payments

    /// @notice Sends all of msg.sender's withdrawable wei to `to`.
    function withdraw(address payable to) external {
        uint256 amount = balances[msg.sender];
        if (amount == 0) revert NothingToWithdraw(msg.sender);
        balances[msg.sender] = 0;
        emit Withdrawn(msg.sender, to, amount);
        bool ok;
        assembly ("memory-safe") {
            // no return data copied: the receiver cannot make this call expensive for us
            ok := call(gas(), to, amount, 0, 0, 0, 0)
        }
        if (!ok) revert WithdrawFailed(to, amount);
    }

    // ------------------------------------------------------------------ owner

    /// @notice Registers a model or changes it. Open requests keep what they were made with.
    function registerModel(bytes32 modelId, bytes32 modelHash, uint16 quorum, uint128 fee, bool active)
        external
        onlyOwner
    {
        if (modelId == bytes32(0) || modelHash == bytes32(0)) revert InvalidModel();
        if (quorum == 0 || quorum > MAX_QUORUM) revert InvalidQuorum(quorum);
        models[modelId] = Model({modelHash: modelHash, fee: fee, quorum: quorum, active: active});
        emit ModelRegistered(modelId, modelHash, quorum, fee, active);
    }

    function addNode(address node) external onlyOwner {
        if (node == address(0)) revert InvalidNode(node);
        if (isNode[node]) revert NodeAlreadyRegistered(node);
        isNode[node] = true;
        ++nodeCount;
        emit NodeAdded(node);
    }

    /// @notice Removes a node. Its votes on open requests stop counting toward quorum.
    function removeNode(address node) external onlyOwner {
        if (!isNode[node]) revert NodeNotRegistered(node);
        isNode[node] = false;
        --nodeCount;
        emit NodeRemoved(node);
    }

    function setEngineVersion(bytes32 engineVersion, bool accepted) external onlyOwner {
        acceptedEngineVersion[engineVersion] = accepted;
        emit EngineVersionSet(engineVersion, accepted);
    }

    function setRequestTimeout(uint64 timeout) external onlyOwner {
        _setRequestTimeout(timeout);
    }

    function setMaxCallbackGasLimit(uint32 limit) external onlyOwner {
        _setMaxCallbackGasLimit(limit);
    }

    // ------------------------------------------------------------------ views

    /// @dev outputHash is stored only where it differs from firstOutputHash (_finaliseFulfilled):
    /// a zero slot in a Fulfilled request means "the same as the first vote". It cannot be
    /// confused with a real hash of zero: every outputHash is a keccak256 of output bytes.
    function getRequest(uint256 id) external view returns (Request memory) {
        Request memory q = _requests[id];
        if (q.status == Status.Fulfilled && q.outputHash == bytes32(0)) q.outputHash = q.firstOutputHash;
        return q;
    }

    /// @notice Whether `node` has voted on request `id`, for whatever answer.
    function hasVoted(uint256 id, address node) public view returns (bool) {
        Request storage r = _requests[id];
        // the first voter is not in _hasVoted: it heads the voters of the first vote's answer
        return (r.hasVote && _voters[id][_answerKey(r.firstOutputHash, r.firstRejectCode)].first == node)
            || _hasVoted[id][node];
    }

    /// @notice The EIP-712 digest a node signs for `att` on this chain and contract.
    function attestationDigest(Attestation calldata att) public view returns (bytes32) {
        return _hashTypedDataV4(_structHash(att));
    }

    function domainSeparator() external view returns (bytes32) {
        return _domainSeparatorV4();
    }

    /// @notice Valid votes (from nodes registered now) for one answer of request `id`.
    function votesFor(uint256 id, bytes32 outputHash, uint16 rejectCode) external view returns (uint256) {
        return _countValid(_voters[id][_answerKey(outputHash, rejectCode)]);
    }

    /// @notice The output bytes a non-final fulfill stored (empty once the request finalised).
    function suppliedOutput(uint256 id, bytes32 outputHash) external view returns (bytes memory) {
        return _outputs[id][outputHash];
    }

    // --------------------------------------------------------------- internal

    function _setRequestTimeout(uint64 timeout) private {
        if (timeout == 0 || timeout > 365 days) revert InvalidTimeout(timeout);
        requestTimeout = timeout;
        emit RequestTimeoutSet(timeout);
    }

    function _setMaxCallbackGasLimit(uint32 limit) private {
        if (limit > CALLBACK_GAS_CEILING) revert InvalidCallbackGasLimit(limit);
        maxCallbackGasLimit = limit;
        emit MaxCallbackGasLimitSet(limit);
    }

    function _openRequest(uint256 id) private view returns (Request storage r) {
        r = _requests[id];
        if (r.status != Status.Open) revert RequestNotOpen(id, r.status);
        if (block.timestamp > r.deadline) revert RequestExpired(id, r.deadline);
    }

    function _structHash(Attestation calldata att) private pure returns (bytes32) {
        return keccak256(
            abi.encode(
                ATTESTATION_TYPEHASH,
                att.requestId,
                att.modelHash,
                att.inputHash,
                att.paramsHash,
                att.outputHash,
                att.seed,
                att.engineVersion,
                att.rejectCode
            )
        );
    }

    /// @dev Checks that `att` is about this request as committed and signed by a registered node;
    /// returns the node.
    function _checkAttestation(Request storage r, uint256 id, Attestation calldata att, bytes calldata signature)
        private
        view
        returns (address node)
    {
        if (att.requestId != id) revert WrongRequestId(id, att.requestId);
        if (att.seed != r.seed) revert WrongSeed(r.seed, att.seed);
        if (att.modelHash != r.modelHash) revert WrongModelHash(r.modelHash, att.modelHash);
        if (att.inputHash != r.inputHash) revert WrongInputHash(r.inputHash, att.inputHash);
        if (att.paramsHash != r.paramsHash) revert WrongParamsHash(r.paramsHash, att.paramsHash);
        if (!acceptedEngineVersion[att.engineVersion]) revert EngineVersionNotAccepted(att.engineVersion);
        // OpenZeppelin's recover refuses malleable (high-s) signatures and v other than 27/28.
        (address signer, ECDSA.RecoverError err,) = ECDSA.tryRecoverCalldata(attestationDigest(att), signature);
        if (err != ECDSA.RecoverError.NoError) revert InvalidSignature();
        if (!isNode[signer]) revert NotNode(signer);
        return signer;
    }

    function _answerKey(bytes32 outputHash, uint16 rejectCode) private pure returns (bytes32) {
        return keccak256(abi.encode(outputHash, rejectCode));
    }

    function _voterAt(Voters storage voters, uint256 i) private view returns (address) {
        return i == 0 ? voters.first : voters.rest[i];
    }

    function _addVoter(Voters storage voters, address node) private {
        uint256 n = voters.count;
        if (n == 0) voters.first = node;
        else voters.rest[n] = node;
        voters.count = uint96(n + 1);
    }

    function _countValid(Voters storage voters) private view returns (uint256 n) {
        for (uint256 i; i < voters.count; ++i) {
            if (isNode[_voterAt(voters, i)]) ++n;
        }
    }

    /// @dev Records `node`'s vote; returns true when the answer now has `quorum` valid votes.
    function _vote(Request storage r, uint256 id, address node, bytes32 outputHash, uint16 rejectCode)
        private
        returns (bool)
    {
        if (!r.hasVote) {
            // The first vote: nobody can have voted yet, so neither the check nor a _hasVoted
            // slot is needed (hasVoted finds this node at the head of the answer's voters).
            r.hasVote = true;
            r.firstOutputHash = outputHash;
            r.firstRejectCode = rejectCode;
        } else {
            if (hasVoted(id, node)) revert AlreadyVoted(id, node);
            _hasVoted[id][node] = true;
            if (r.firstOutputHash != outputHash || r.firstRejectCode != rejectCode) {
                emit QuorumDisagreement(id, node, r.firstOutputHash, r.firstRejectCode, outputHash, rejectCode);
            }
        }
        Voters storage voters = _voters[id][_answerKey(outputHash, rejectCode)];
        _addVoter(voters, node);
        uint256 valid = _countValid(voters);
        emit Attested(id, node, outputHash, rejectCode, valid);
        return valid >= r.quorum;
    }

    function _finaliseFulfilled(Request storage r, uint256 id, bytes32 outputHash, bytes memory output) private {
        r.status = Status.Fulfilled;
        // Only an answer other than the first vote's needs the slot: getRequest reports
        // firstOutputHash for a zero one (so a request that agreed from the start writes no slot).
        if (outputHash != r.firstOutputHash) r.outputHash = outputHash;
        uint256 escrow = r.escrow;
        r.escrow = 0;
        emit Fulfilled(id, outputHash, output);
        _payNodes(r, id, _voters[id][_answerKey(outputHash, 0)], escrow);
        _callback(r, id, abi.encodeCall(IInferenceConsumer.onInferenceResult, (id, output)));
    }

    function _finaliseRejected(Request storage r, uint256 id, uint16 code) private {
        r.status = Status.Rejected;
        r.rejectCode = code;
        uint256 escrow = r.escrow;
        r.escrow = 0;
        emit Rejected(id, code);
        _credit(r.requester, id, escrow);
        _callback(r, id, abi.encodeCall(IInferenceConsumer.onInferenceRejected, (id, code)));
    }

    /// @dev Splits `escrow` among the first `quorum` valid voters, in vote order: each gets
    /// escrow / quorum and the first also gets the remainder, so not one wei is lost.
    function _payNodes(Request storage r, uint256 id, Voters storage voters, uint256 escrow) private {
        uint256 k = r.quorum;
        uint256 share = escrow / k;
        uint256 remainder = escrow - share * k;
        uint256 paid;
        for (uint256 i; i < voters.count && paid < k; ++i) {
            address node = _voterAt(voters, i);
            if (!isNode[node]) continue;
            _credit(node, id, paid == 0 ? share + remainder : share);
            ++paid;
        }
    }

    function _credit(address account, uint256 id, uint256 amount) private {
        if (amount == 0) return;
        balances[account] += amount;
        emit Credited(account, id, amount);
    }

    /// @dev Calls the requester with exactly its callbackGasLimit. Reverts (so the relayer retries
    /// with more gas) if the callee could not get the full limit under the 63/64 rule; never
    /// reverts because of what the callee does; copies no return data.
    function _callback(Request storage r, uint256 id, bytes memory data) private {
        address target = r.requester;
        uint256 limit = r.callbackGasLimit;
        bool ok;
        if (target.code.length != 0) {
            uint256 needed = limit + limit / 63 + CALLBACK_GAS_RESERVE;
            uint256 left = gasleft();
            if (left < needed) revert InsufficientGasForCallback(needed, left);
            assembly ("memory-safe") {
                ok := call(limit, target, 0, add(data, 0x20), mload(data), 0, 0)
            }
        }
        emit CallbackResult(id, ok);
    }
}
