// SPDX-License-Identifier: MIT
pragma solidity ^0.8.27;

import {Test} from "forge-std/Test.sol";
import {Vm} from "forge-std/Vm.sol";
import {InferenceOracle} from "../src/InferenceOracle.sol";
import {RecordingConsumer, RevertingConsumer, GasBurningConsumer, ReturnBombConsumer} from "./OracleBase.sol";

/// @dev Drives the oracle with random sequences of requests, answers, rejects, forged
/// signatures, cancels, withdrawals, node removals and time jumps, and keeps what the
/// invariants compare against.
contract OracleHandler is Test {
    InferenceOracle public immutable oracle;
    address public immutable owner;

    bytes32 internal constant MODEL_HASH = keccak256("handler model");
    bytes32[3] internal modelIds = [bytes32("k1"), bytes32("k2"), bytes32("k3")];
    bytes internal constant INPUT = "prompt";
    bytes internal constant PARAMS = "";
    bytes32 internal constant ENGINE = "sibyl-arith-1";

    uint256[5] internal keys; // 0..3 are nodes (the owner may remove them), 4 is never one
    address[5] public signers;
    address[5] public requesters; // recording, reverting, gas burning, return bomb, an EOA
    RecordingConsumer public recording;

    uint256[] public ids;
    mapping(uint256 id => uint256) public finalisations; // Fulfilled + Rejected + Cancelled events
    mapping(uint256 id => InferenceOracle.Status) public finalStatus;

    // set when a property the invariants check was broken inside an action
    bool public unregisteredNodePaid;
    bool public wrongQuorumPaid;
    bool public forgedSignatureAccepted;
    bool public validAnswerReverted;
    bool public finalStatusChanged;
    bool public batchElementMisjudged; // an answerMany element skipped or accepted unlike alone

    uint256 public forgeriesTried;
    uint256 public answersAccepted;
    uint256 public hostileCallbacks;
    uint256 public batchesSent;

    bytes32 internal constant FULFILLED_SIG = keccak256("Fulfilled(uint256,bytes32,bytes)");
    bytes32 internal constant REJECTED_SIG = keccak256("Rejected(uint256,uint16)");
    bytes32 internal constant CANCELLED_SIG = keccak256("Cancelled(uint256)");
    bytes32 internal constant CREDITED_SIG = keccak256("Credited(address,uint256,uint256)");
    bytes32 internal constant SKIPPED_SIG = keccak256("AnswerSkipped(uint256,uint256,bytes)");

    constructor(InferenceOracle oracle_, address owner_) {
        oracle = oracle_;
        owner = owner_;
        vm.startPrank(owner);
        for (uint256 i; i < 5; ++i) {
            keys[i] = uint256(keccak256(abi.encode("handler key", i))) % (2 ** 240) + 1;
            signers[i] = vm.addr(keys[i]);
            if (i < 4) oracle.addNode(signers[i]);
        }
        oracle.registerModel(modelIds[0], MODEL_HASH, 1, 1 ether, true);
        oracle.registerModel(modelIds[1], MODEL_HASH, 2, 3 ether + 1, true);
        oracle.registerModel(modelIds[2], MODEL_HASH, 3, 7 ether + 2, true);
        vm.stopPrank();
        recording = new RecordingConsumer(oracle);
        requesters[0] = address(recording);
        requesters[1] = address(new RevertingConsumer());
        requesters[2] = address(new GasBurningConsumer());
        requesters[3] = address(new ReturnBombConsumer());
        requesters[4] = makeAddr("eoa requester");
    }

    function idCount() external view returns (uint256) {
        return ids.length;
    }

    /// every address the oracle could ever credit
    function accounts() external view returns (address[] memory list) {
        list = new address[](10);
        for (uint256 i; i < 5; ++i) {
            list[i] = signers[i];
            list[5 + i] = requesters[i];
        }
    }

    // --------------------------------------------------------------- actions

    function request(uint256 who, uint256 model, uint96 extra, uint32 cbGas) external {
        address requester = requesters[who % 5];
        bytes32 modelId = modelIds[model % 3];
        (, uint128 fee,,) = oracle.models(modelId);
        uint256 value = uint256(fee) + (extra % 1 ether);
        vm.deal(requester, value);
        uint32 gasLimit = uint32(bound(cbGas, 0, 300_000));
        vm.prank(requester);
        uint256 id = oracle.request{value: value}(modelId, "text", INPUT, PARAMS, gasLimit);
        ids.push(id);
        if (who % 5 != 0 && who % 5 != 4) ++hostileCallbacks;
    }

    function fulfill(uint256 idSeed, uint256 nodeSeed, uint8 outputSeed) external {
        (bool found, uint256 id) = _pick(idSeed);
        if (!found) return;
        uint256 n = nodeSeed % 5;
        bytes memory output = _output(outputSeed);
        InferenceOracle.Attestation memory a = _att(id, keccak256(output), 0);
        bool expectOk = _answerable(id, n);
        vm.recordLogs();
        try oracle.fulfill(id, output, a, _sign(keys[n], a, block.chainid, address(oracle))) {
            ++answersAccepted;
            _afterCall(id);
        } catch {
            _afterCall(id);
            if (expectOk) validAnswerReverted = true;
        }
    }

    function attest(uint256 idSeed, uint256 nodeSeed, uint8 outputSeed) external {
        (bool found, uint256 id) = _pick(idSeed);
        if (!found) return;
        uint256 n = nodeSeed % 5;
        bytes32 outputHash = keccak256(_output(outputSeed));
        InferenceOracle.Attestation memory a = _att(id, outputHash, 0);
        bool expectOk = _answerable(id, n) && oracle.outputSupplied(id, outputHash);
        vm.recordLogs();
        try oracle.attest(id, a, _sign(keys[n], a, block.chainid, address(oracle))) {
            ++answersAccepted;
            _afterCall(id);
        } catch {
            _afterCall(id);
            if (expectOk) validAnswerReverted = true;
        }
    }

    function reject(uint256 idSeed, uint256 nodeSeed, uint16 code) external {
        (bool found, uint256 id) = _pick(idSeed);
        if (!found) return;
        uint256 n = nodeSeed % 5;
        code = uint16(bound(code, 1, 3));
        InferenceOracle.Attestation memory a = _att(id, keccak256(""), code);
        bool expectOk = _answerable(id, n);
        vm.recordLogs();
        try oracle.reject(id, a, _sign(keys[n], a, block.chainid, address(oracle))) {
            ++answersAccepted;
            _afterCall(id);
        } catch {
            _afterCall(id);
            if (expectOk) validAnswerReverted = true;
        }
    }

    /// A registered node's key, but signed for another chain, another contract, or other hashes.
    function forge(uint256 idSeed, uint256 nodeSeed, uint256 kind) external {
        (bool found, uint256 id) = _pick(idSeed);
        if (!found) return;
        uint256 n = nodeSeed % 4;
        bytes memory output = bytes("A");
        InferenceOracle.Attestation memory a = _att(id, keccak256(output), 0);
        bytes memory sig;
        kind %= 3;
        if (kind == 0) {
            sig = _sign(keys[n], a, block.chainid + 1, address(oracle));
        } else if (kind == 1) {
            sig = _sign(keys[n], a, block.chainid, address(uint160(address(oracle)) + 1));
        } else {
            InferenceOracle.Attestation memory other = _att(id, keccak256("B"), 0);
            sig = _sign(keys[n], other, block.chainid, address(oracle));
        }
        ++forgeriesTried;
        vm.recordLogs();
        try oracle.fulfill(id, output, a, sig) {
            forgedSignatureAccepted = true;
            _afterCall(id);
        } catch {
            _afterCall(id);
        }
    }

    /// One answer on each of the three newest requests (fulfill, attest or reject, by a random
    /// signer) in one answerMany: each element must be accepted exactly when the same call alone
    /// would be (the requests differ, so the elements do not affect one another).
    function answerBatch(uint256 seed) external {
        uint256 n = ids.length;
        if (n < 3) return;
        bytes[] memory calls = new bytes[](3);
        uint256[] memory batchIds = new uint256[](3);
        bool[3] memory expectOk;
        for (uint256 i; i < 3; ++i) {
            uint256 s = uint256(keccak256(abi.encode(seed, i)));
            uint256 id = ids[n - 1 - i];
            uint256 node = s % 5;
            batchIds[i] = id;
            expectOk[i] = _answerable(id, node);
            uint256 kind = (s >> 8) % 3;
            if (kind == 2) {
                InferenceOracle.Attestation memory r = _att(id, keccak256(""), uint16(1 + (s >> 16) % 3));
                calls[i] = abi.encodeCall(oracle.reject, (id, r, _sign(keys[node], r, block.chainid, address(oracle))));
                continue;
            }
            bytes memory output = _output(uint8(s >> 16));
            InferenceOracle.Attestation memory a = _att(id, keccak256(output), 0);
            bytes memory sig = _sign(keys[node], a, block.chainid, address(oracle));
            if (kind == 0) {
                calls[i] = abi.encodeCall(oracle.fulfill, (id, output, a, sig));
            } else {
                calls[i] = abi.encodeCall(oracle.attest, (id, a, sig));
                expectOk[i] = expectOk[i] && oracle.outputSupplied(id, a.outputHash);
            }
        }
        ++batchesSent;
        vm.recordLogs();
        try oracle.answerMany(calls) {}
        catch {
            batchElementMisjudged = true; // enough gas and only answers: it never reverts
        }
        Vm.Log[] memory logs = vm.getRecordedLogs();
        bool[3] memory skipped;
        for (uint256 i; i < logs.length; ++i) {
            if (logs[i].emitter == address(oracle) && logs[i].topics[0] == SKIPPED_SIG) {
                (uint256 index,) = abi.decode(logs[i].data, (uint256, bytes));
                skipped[index] = true;
            }
        }
        for (uint256 i; i < 3; ++i) {
            if (skipped[i] == expectOk[i]) batchElementMisjudged = true;
            if (!skipped[i]) ++answersAccepted;
        }
        _account(batchIds, logs);
    }

    function cancel(uint256 idSeed, uint32 dt) external {
        (bool found, uint256 id) = _pick(idSeed);
        if (!found) return;
        vm.warp(block.timestamp + bound(dt, 0, 40 minutes));
        vm.recordLogs();
        vm.prank(oracle.getRequest(id).requester);
        try oracle.cancel(id) {
            _afterCall(id);
        } catch {
            _afterCall(id);
        }
    }

    function warp(uint32 dt) external {
        vm.warp(block.timestamp + bound(dt, 0, 10 minutes));
    }

    function withdraw(uint256 who) external {
        address account = who % 2 == 0 ? signers[who % 5] : requesters[who % 5];
        if (oracle.balances(account) == 0) return;
        vm.prank(account);
        oracle.withdraw(payable(makeAddr("sink")));
    }

    function toggleNode(uint256 nodeSeed) external {
        address node = signers[nodeSeed % 4];
        bool registered = oracle.isNode(node); // before the prank: a view call would use it up
        vm.prank(owner);
        if (registered) oracle.removeNode(node);
        else oracle.addNode(node);
    }

    /// Removes a registered node that has voted on one of the newest requests, so that
    /// finalisation has to skip its vote.
    function removeVoter(uint256 idSeed) external {
        (bool found, uint256 id) = _pick(idSeed);
        if (!found) return;
        for (uint256 i; i < 4; ++i) {
            if (oracle.hasVoted(id, signers[i]) && oracle.isNode(signers[i])) {
                vm.prank(owner);
                oracle.removeNode(signers[i]);
                return;
            }
        }
    }

    // --------------------------------------------------------------- helpers

    /// "A" three times in four, so that quorums complete; "B" makes disagreements
    function _output(uint8 seed) internal pure returns (bytes memory) {
        return seed % 4 == 0 ? bytes("B") : bytes("A");
    }

    /// one of the three newest requests: actions pile up on few requests, so quorums complete,
    /// votes disagree and nodes get removed between votes within one run
    function _pick(uint256 seed) internal view returns (bool, uint256) {
        uint256 n = ids.length;
        if (n == 0) return (false, 0);
        uint256 window = n < 3 ? n : 3;
        return (true, ids[n - 1 - (seed % window)]);
    }

    /// true when a correct answer from node n must be accepted
    function _answerable(uint256 id, uint256 n) internal view returns (bool) {
        InferenceOracle.Request memory r = oracle.getRequest(id);
        return r.status == InferenceOracle.Status.Open && block.timestamp <= r.deadline && oracle.isNode(signers[n])
            && !oracle.hasVoted(id, signers[n]);
    }

    function _att(uint256 id, bytes32 outputHash, uint16 code)
        internal
        view
        returns (InferenceOracle.Attestation memory)
    {
        InferenceOracle.Request memory r = oracle.getRequest(id);
        return InferenceOracle.Attestation({
            requestId: id,
            modelHash: r.modelHash,
            inputHash: keccak256(INPUT),
            paramsHash: keccak256(PARAMS),
            outputHash: outputHash,
            seed: r.seed,
            engineVersion: ENGINE,
            rejectCode: code
        });
    }

    function _sign(uint256 key, InferenceOracle.Attestation memory a, uint256 chainId, address verifying)
        internal
        pure
        returns (bytes memory)
    {
        bytes32 domain = keccak256(
            abi.encode(
                keccak256("EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)"),
                keccak256("SibylInferenceOracle"),
                keccak256("1"),
                chainId,
                verifying
            )
        );
        bytes32 structHash = keccak256(
            abi.encode(
                keccak256(
                    "Attestation(uint256 requestId,bytes32 modelHash,bytes32 inputHash,bytes32 paramsHash,bytes32 outputHash,uint256 seed,bytes32 engineVersion,uint16 rejectCode)"
                ),
                a.requestId,
                a.modelHash,
                a.inputHash,
                a.paramsHash,
                a.outputHash,
                a.seed,
                a.engineVersion,
                a.rejectCode
            )
        );
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(key, keccak256(abi.encodePacked(hex"1901", domain, structHash)));
        return abi.encodePacked(r, s, v);
    }

    /// Reads the logs of the last call: counts finalisations and checks who got paid.
    function _afterCall(uint256 id) internal {
        uint256[] memory one = new uint256[](1);
        one[0] = id;
        _account(one, vm.getRecordedLogs());
    }

    /// Counts every finalisation in `logs` (whichever request), then checks who got paid for
    /// each of `callIds`, the requests the call was about.
    function _account(uint256[] memory callIds, Vm.Log[] memory logs) internal {
        for (uint256 i; i < logs.length; ++i) {
            if (logs[i].emitter != address(oracle)) continue;
            bytes32 t0 = logs[i].topics[0];
            if (t0 == FULFILLED_SIG || t0 == REJECTED_SIG || t0 == CANCELLED_SIG) {
                ++finalisations[uint256(logs[i].topics[1])];
            }
        }
        for (uint256 c; c < callIds.length; ++c) {
            uint256 id = callIds[c];
            uint256 nodesPaid;
            bool fulfilled;
            for (uint256 i; i < logs.length; ++i) {
                if (logs[i].emitter != address(oracle)) continue;
                bytes32 t0 = logs[i].topics[0];
                if (t0 == FULFILLED_SIG && uint256(logs[i].topics[1]) == id) {
                    fulfilled = true;
                } else if (t0 == CREDITED_SIG && uint256(logs[i].topics[2]) == id) {
                    address account = address(uint160(uint256(logs[i].topics[1])));
                    if (_isSigner(account)) {
                        ++nodesPaid;
                        if (!oracle.isNode(account)) unregisteredNodePaid = true;
                    }
                }
            }
            if (fulfilled && nodesPaid != oracle.getRequest(id).quorum) wrongQuorumPaid = true;
            if (!fulfilled && nodesPaid != 0) wrongQuorumPaid = true;
            InferenceOracle.Status s = oracle.getRequest(id).status;
            if (finalStatus[id] != InferenceOracle.Status.None && finalStatus[id] != s) finalStatusChanged = true;
            if (s != InferenceOracle.Status.Open) finalStatus[id] = s;
        }
    }

    function _isSigner(address a) internal view returns (bool) {
        for (uint256 i; i < 5; ++i) {
            if (signers[i] == a) return true;
        }
        return false;
    }
}

/// Invariant tests over random action sequences (runs and depth in foundry.toml).
contract InferenceOracleInvariantTest is Test {
    InferenceOracle internal oracle;
    OracleHandler internal handler;

    function setUp() public {
        vm.warp(1_700_000_000);
        vm.roll(10);
        address owner = makeAddr("owner");
        oracle = new InferenceOracle(owner, 1 hours, 2_000_000);
        handler = new OracleHandler(oracle, owner);
        targetContract(address(handler));
        bytes4[] memory actions = new bytes4[](11);
        actions[0] = OracleHandler.request.selector;
        actions[1] = OracleHandler.fulfill.selector;
        actions[2] = OracleHandler.attest.selector;
        actions[3] = OracleHandler.reject.selector;
        actions[4] = OracleHandler.forge.selector;
        actions[5] = OracleHandler.cancel.selector;
        actions[6] = OracleHandler.warp.selector;
        actions[7] = OracleHandler.withdraw.selector;
        actions[8] = OracleHandler.toggleNode.selector;
        actions[9] = OracleHandler.removeVoter.selector;
        actions[10] = OracleHandler.answerBatch.selector;
        targetSelector(FuzzSelector({addr: address(handler), selectors: actions}));
    }

    /// One campaign checks every property after every call (one campaign per property would
    /// cost six times the CPU for the same sequences).
    function invariant_oracleProperties() public view {
        check_feesConservedToTheWei();
        check_noRequestFinalisedTwice();
        check_onlyRegisteredNodesCount();
        check_forgedSignaturesRefused();
        check_callbacksNeverBlockAnswers();
        check_fulfilledOutputsWereAnswered();
    }

    /// Money in == money out + money held: the oracle's balance is exactly the escrow of open
    /// requests plus what accounts may withdraw.
    function check_feesConservedToTheWei() internal view {
        uint256 owed;
        for (uint256 i; i < handler.idCount(); ++i) {
            InferenceOracle.Request memory r = oracle.getRequest(handler.ids(i));
            if (r.status == InferenceOracle.Status.Open) owed += r.escrow;
            else assertEq(r.escrow, 0);
        }
        address[] memory accounts = handler.accounts();
        for (uint256 i; i < accounts.length; ++i) {
            owed += oracle.balances(accounts[i]);
        }
        assertEq(address(oracle).balance, owed);
    }

    /// A request is finalised (Fulfilled, Rejected or Cancelled) at most once, and a final
    /// status never changes.
    function check_noRequestFinalisedTwice() internal view {
        for (uint256 i; i < handler.idCount(); ++i) {
            uint256 id = handler.ids(i);
            uint256 f = handler.finalisations(id);
            assertLe(f, 1);
            bool open = oracle.getRequest(id).status == InferenceOracle.Status.Open;
            assertEq(f, open ? 0 : 1);
        }
        assertFalse(handler.finalStatusChanged());
    }

    /// Fees go only to nodes registered at finalisation, exactly `quorum` of them.
    function check_onlyRegisteredNodesCount() internal view {
        assertFalse(handler.unregisteredNodePaid());
        assertFalse(handler.wrongQuorumPaid());
    }

    /// Signatures for another chain id, another contract or other hashes are always refused.
    function check_forgedSignaturesRefused() internal view {
        assertFalse(handler.forgedSignatureAccepted());
    }

    /// A correct answer for an open request from a registered node that has not voted is
    /// always accepted, whatever the consumer's callback does (revert, burn gas, return bombs).
    /// The same holds for answers in an answerMany batch, and a batch element is skipped exactly
    /// when the same call alone would revert.
    function check_callbacksNeverBlockAnswers() internal view {
        assertFalse(handler.validAnswerReverted());
        assertFalse(handler.batchElementMisjudged());
    }

    /// A Fulfilled request's output hash is one that nodes actually signed.
    function check_fulfilledOutputsWereAnswered() internal view {
        for (uint256 i; i < handler.idCount(); ++i) {
            uint256 id = handler.ids(i);
            InferenceOracle.Request memory r = oracle.getRequest(id);
            if (r.status != InferenceOracle.Status.Fulfilled) continue;
            assertTrue(r.outputHash == keccak256("A") || r.outputHash == keccak256("B"));
        }
    }

    uint256 internal constant SEED = 6; // a batch with accepted and skipped answers

    /// The handler's actions do reach the paths the invariants are about (a fixed sequence).
    function test_handlerActionsReachEveryPath() public {
        handler.request(0, 0, 0, 100_000); // id 1, quorum 1, recording consumer
        handler.request(2, 1, 5, 300_000); // id 2, quorum 2, gas-burning consumer
        handler.fulfill(1, 0, 1); // id 1 (second newest) by node 0: fulfilled
        handler.fulfill(0, 0, 1); // id 2 by node 0: output stored
        handler.attest(0, 1, 1); // id 2 by node 1: fulfilled
        handler.forge(0, 0, 0); // refused
        handler.request(3, 0, 0, 300_000); // id 3, return bomb
        handler.reject(0, 3, 2); // id 3 by node 3: rejected
        handler.toggleNode(3); // node 3 removed
        handler.request(4, 2, 0, 0); // id 4, quorum 3, EOA
        handler.fulfill(0, 1, 1); // id 4 by node 1
        handler.removeVoter(0); // node 1 removed: its vote stops counting
        handler.fulfill(0, 0, 1);
        handler.fulfill(0, 2, 1);
        assertEq(uint8(oracle.getRequest(4).status), uint8(InferenceOracle.Status.Open));
        handler.toggleNode(3); // node 3 back
        handler.fulfill(0, 3, 1); // valid votes 0, 2, 3 reach quorum 3; removed node 1 is not paid
        assertEq(uint8(oracle.getRequest(4).status), uint8(InferenceOracle.Status.Fulfilled));
        assertEq(oracle.balances(handler.signers(1)), uint256(3 ether + 1) / 2); // from id 2 only
        assertFalse(handler.unregisteredNodePaid());
        assertFalse(handler.wrongQuorumPaid());
        handler.request(4, 0, 0, 0); // id 5
        handler.warp(10 minutes);
        for (uint256 i; i < 6; ++i) {
            handler.warp(10 minutes);
        }
        handler.cancel(0, 40 minutes); // id 5 cancelled
        handler.withdraw(0);
        assertEq(handler.answersAccepted(), 8);
        assertEq(handler.forgeriesTried(), 1);
        assertEq(uint8(oracle.getRequest(1).status), uint8(InferenceOracle.Status.Fulfilled));
        assertEq(uint8(oracle.getRequest(2).status), uint8(InferenceOracle.Status.Fulfilled));
        assertEq(uint8(oracle.getRequest(3).status), uint8(InferenceOracle.Status.Rejected));
        assertEq(uint8(oracle.getRequest(5).status), uint8(InferenceOracle.Status.Cancelled));
        assertFalse(handler.validAnswerReverted());
        assertFalse(handler.forgedSignatureAccepted());
        check_feesConservedToTheWei();
        check_noRequestFinalisedTwice();

        handler.request(0, 0, 0, 100_000); // ids 6, 7, 8: quorum 1, recording consumer
        handler.request(2, 0, 0, 100_000); // gas-burning consumer
        handler.request(4, 1, 0, 0); // quorum 2, EOA
        handler.answerBatch(SEED);
        uint256 accepted = handler.answersAccepted() - 8;
        assertTrue(accepted > 0 && accepted < 3); // with this seed: some accepted, some skipped
        handler.answerBatch(SEED); // the same signed answers again: every one is skipped now
        assertEq(handler.answersAccepted() - 8, accepted);
        assertEq(handler.batchesSent(), 2);
        assertFalse(handler.batchElementMisjudged());
        check_feesConservedToTheWei();
        check_noRequestFinalisedTwice();
    }
}
