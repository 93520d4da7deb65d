// SPDX-License-Identifier: MIT
pragma solidity ^0.8.27;

import {Vm} from "forge-std/Vm.sol";
import {InferenceOracle} from "../src/InferenceOracle.sol";
import {OracleBase, RevertingConsumer, GasBurningConsumer} from "./OracleBase.sol";

/// answerMany: several fulfill / attest / reject calls in one transaction. Each element must
/// behave exactly as the call sent alone; a reverting element is skipped and reported; a lack of
/// gas is never a skip (eth_estimateGas would otherwise settle on a limit that drops answers).
contract InferenceOracleAnswerManyTest is OracleBase {
    event AnswerSkipped(uint256 indexed id, uint256 index, bytes reason);
    event CallbackResult(uint256 indexed id, bool success);

    bytes32 internal constant SKIPPED_TOPIC = keccak256("AnswerSkipped(uint256,uint256,bytes)");

    // ------------------------------------------------------------ helpers

    function _fulfillCall(uint256 nodeIdx, uint256 id, bytes memory output) internal view returns (bytes memory) {
        InferenceOracle.Attestation memory a = _att(id, output);
        return abi.encodeCall(oracle.fulfill, (id, output, a, _sign(nodeKeys[nodeIdx], a)));
    }

    function _attestCall(uint256 nodeIdx, uint256 id, bytes memory output) internal view returns (bytes memory) {
        InferenceOracle.Attestation memory a = _att(id, output);
        return abi.encodeCall(oracle.attest, (id, a, _sign(nodeKeys[nodeIdx], a)));
    }

    function _rejectCall(uint256 nodeIdx, uint256 id, uint16 code) internal view returns (bytes memory) {
        InferenceOracle.Attestation memory a = _rejectAtt(id, code);
        return abi.encodeCall(oracle.reject, (id, a, _sign(nodeKeys[nodeIdx], a)));
    }

    function _list(bytes memory a) internal pure returns (bytes[] memory l) {
        l = new bytes[](1);
        l[0] = a;
    }

    function _list(bytes memory a, bytes memory b) internal pure returns (bytes[] memory l) {
        l = new bytes[](2);
        (l[0], l[1]) = (a, b);
    }

    function _list(bytes memory a, bytes memory b, bytes memory c) internal pure returns (bytes[] memory l) {
        l = new bytes[](3);
        (l[0], l[1], l[2]) = (a, b, c);
    }

    function _requestFrom(address requester, uint32 cbGas) internal returns (uint256) {
        vm.deal(requester, 1 ether);
        vm.prank(requester);
        return oracle.request{value: FEE}(MODEL, "text", INPUT, PARAMS, cbGas);
    }

    /// The smallest gas limit in (lo, hi] at which `data` sent to the oracle does not revert,
    /// found by bisection the way eth_estimateGas finds it; the state is left as it was.
    function _estimate(bytes memory data, uint256 lo, uint256 hi) internal returns (uint256) {
        while (hi - lo > 1) {
            uint256 mid = (lo + hi) / 2;
            uint256 snap = vm.snapshotState();
            (bool ok,) = address(oracle).call{gas: mid}(data);
            vm.revertToStateAndDelete(snap);
            if (ok) hi = mid;
            else lo = mid;
        }
        return hi;
    }

    function _skips(Vm.Log[] memory logs) internal view returns (uint256 n) {
        for (uint256 i; i < logs.length; ++i) {
            if (logs[i].emitter == address(oracle) && logs[i].topics[0] == SKIPPED_TOPIC) ++n;
        }
    }

    function _isOpen(uint256 id) internal view returns (bool) {
        return _status(id) == InferenceOracle.Status.Open;
    }

    function _outOfGas(uint256 index) internal pure returns (bytes memory) {
        return abi.encodeWithSelector(InferenceOracle.AnswerOutOfGas.selector, index);
    }

    // ------------------------------------------------------------ delivery

    function test_answerMany_threeFulfillsQuorumOne() public {
        uint256 a = _request(MODEL, FEE);
        uint256 b = _request(MODEL, FEE);
        uint256 c = _request(MODEL, FEE);
        bytes[] memory calls = _list(_fulfillCall(0, a, "one"), _fulfillCall(1, b, "two"), _fulfillCall(2, c, "three"));
        vm.expectEmit(address(oracle));
        emit CallbackResult(a, true);
        vm.expectEmit(address(oracle));
        emit CallbackResult(b, true);
        vm.expectEmit(address(oracle));
        emit CallbackResult(c, true);
        vm.recordLogs();
        vm.prank(relayer);
        oracle.answerMany(calls);
        assertEq(_skips(vm.getRecordedLogs()), 0);
        uint256[3] memory ids = [a, b, c];
        bytes[3] memory outs = [bytes("one"), bytes("two"), bytes("three")];
        for (uint256 i; i < 3; ++i) {
            assertEq(uint8(_status(ids[i])), uint8(InferenceOracle.Status.Fulfilled));
            assertEq(consumer.outputs(ids[i]), outs[i]);
            assertEq(consumer.calls(ids[i]), 1);
            assertEq(oracle.balances(nodes[i]), FEE);
        }
        assertEq(oracle.balances(relayer), 0);
        assertEq(address(oracle).balance, 3 * FEE);
    }

    /// quorum 2: node 0's fulfill went in its own transaction; node 1's attest rides in a batch
    /// with a quorum-1 fulfill and a quorum-1 reject.
    function test_answerMany_mixesFulfillRejectAndAttest() public {
        uint256 k2 = _request(MODEL2, FEE2);
        _fulfill(0, k2, OUTPUT);
        uint256 f = _request(MODEL, FEE);
        uint256 r = _request(MODEL, FEE);
        vm.prank(relayer);
        oracle.answerMany(_list(_fulfillCall(2, f, OUTPUT), _rejectCall(2, r, 3), _attestCall(1, k2, OUTPUT)));

        assertEq(uint8(_status(f)), uint8(InferenceOracle.Status.Fulfilled));
        assertEq(consumer.outputs(f), OUTPUT);
        assertEq(uint8(_status(r)), uint8(InferenceOracle.Status.Rejected));
        assertEq(oracle.getRequest(r).rejectCode, 3);
        assertEq(consumer.codes(r), 3);
        assertEq(oracle.balances(address(consumer)), FEE); // the reject's refund
        assertEq(uint8(_status(k2)), uint8(InferenceOracle.Status.Fulfilled));
        assertEq(consumer.outputs(k2), OUTPUT);
        assertEq(oracle.balances(nodes[0]), FEE2 / 2 + 1);
        assertEq(oracle.balances(nodes[1]), FEE2 / 2);
        assertEq(oracle.balances(nodes[2]), FEE); // paid for the fulfill, not for the reject
    }

    /// fulfill and the attest that confirms it in the same batch: the second element sees the
    /// output the first one stored.
    function test_answerMany_fulfillThenAttestInOneBatch() public {
        uint256 k2 = _request(MODEL2, FEE2);
        vm.prank(relayer);
        oracle.answerMany(_list(_fulfillCall(1, k2, OUTPUT), _attestCall(2, k2, OUTPUT)));
        assertEq(uint8(_status(k2)), uint8(InferenceOracle.Status.Fulfilled));
        assertEq(consumer.outputs(k2), OUTPUT);
        assertEq(oracle.balances(nodes[1]) + oracle.balances(nodes[2]), FEE2);
        assertEq(oracle.suppliedOutput(k2, keccak256(OUTPUT)).length, 0);
    }

    function test_answerMany_emptyBatchDoesNothing() public {
        uint256 id = _request(MODEL, FEE);
        vm.recordLogs();
        oracle.answerMany(new bytes[](0));
        assertEq(vm.getRecordedLogs().length, 0);
        assertTrue(_isOpen(id));
    }

    // ------------------------------------------------------------ skips

    function test_answerMany_skipsAnAlreadyFulfilledRequest() public {
        uint256 a = _request(MODEL, FEE);
        uint256 b = _request(MODEL, FEE);
        uint256 c = _request(MODEL, FEE);
        _fulfill(0, b, OUTPUT); // someone else was first
        vm.expectEmit(address(oracle));
        emit AnswerSkipped(
            b, 1, abi.encodeWithSelector(InferenceOracle.RequestNotOpen.selector, b, InferenceOracle.Status.Fulfilled)
        );
        vm.recordLogs();
        vm.prank(relayer);
        oracle.answerMany(_list(_fulfillCall(1, a, OUTPUT), _fulfillCall(1, b, "late"), _fulfillCall(1, c, OUTPUT)));
        assertEq(_skips(vm.getRecordedLogs()), 1);
        assertEq(uint8(_status(a)), uint8(InferenceOracle.Status.Fulfilled));
        assertEq(uint8(_status(c)), uint8(InferenceOracle.Status.Fulfilled));
        assertEq(consumer.outputs(b), OUTPUT); // the first answer stands
        assertEq(consumer.calls(b), 1);
        assertEq(oracle.balances(nodes[0]), FEE);
        assertEq(oracle.balances(nodes[1]), 2 * FEE);
    }

    function test_answerMany_skipsBadSignatures() public {
        uint256 a = _request(MODEL, FEE);
        uint256 b = _request(MODEL, FEE);
        uint256 c = _request(MODEL, FEE);
        InferenceOracle.Attestation memory att = _att(b, OUTPUT);
        bytes memory byOutsider = abi.encodeCall(oracle.fulfill, (b, OUTPUT, att, _sign(outsiderKey, att)));
        att = _att(c, OUTPUT);
        bytes memory cut = abi.encodeCall(oracle.fulfill, (c, OUTPUT, att, bytes(hex"0102")));
        vm.expectEmit(address(oracle));
        emit AnswerSkipped(b, 1, abi.encodeWithSelector(InferenceOracle.NotNode.selector, outsider));
        vm.expectEmit(address(oracle));
        emit AnswerSkipped(c, 2, abi.encodeWithSelector(InferenceOracle.InvalidSignature.selector));
        vm.prank(relayer);
        oracle.answerMany(_list(_fulfillCall(0, a, OUTPUT), byOutsider, cut));
        assertEq(uint8(_status(a)), uint8(InferenceOracle.Status.Fulfilled));
        assertTrue(_isOpen(b));
        assertTrue(_isOpen(c));
        assertFalse(oracle.hasVoted(b, outsider));
    }

    /// A node that already voted (quorum 2) and an expired request: the revert data is the
    /// same custom error a lone call gets.
    function test_answerMany_skipReasonIsTheLoneCallsRevertData() public {
        uint256 k2 = _request(MODEL2, FEE2);
        _fulfill(0, k2, OUTPUT);
        bytes memory again = _attestCall(0, k2, OUTPUT);
        (bool ok, bytes memory alone) = address(oracle).call(again);
        assertFalse(ok);
        assertEq(alone, abi.encodeWithSelector(InferenceOracle.AlreadyVoted.selector, k2, nodes[0]));
        vm.expectEmit(address(oracle));
        emit AnswerSkipped(k2, 0, alone);
        oracle.answerMany(_list(again));
        assertEq(oracle.votesFor(k2, keccak256(OUTPUT), 0), 1);

        uint256 late = _request(MODEL, FEE);
        bytes memory answer = _fulfillCall(0, late, OUTPUT);
        uint64 deadline = oracle.getRequest(late).deadline;
        vm.warp(deadline + 1);
        vm.expectEmit(address(oracle));
        emit AnswerSkipped(late, 0, abi.encodeWithSelector(InferenceOracle.RequestExpired.selector, late, deadline));
        oracle.answerMany(_list(answer));
        assertTrue(_isOpen(late));
    }

    // ------------------------------------------------------------ not an answer

    function test_answerMany_revertsOnAnythingButAnAnswer() public {
        uint256 id = _request(MODEL, FEE);
        bytes memory good = _fulfillCall(0, id, OUTPUT);
        bytes[6] memory bad = [
            abi.encodeCall(oracle.withdraw, (payable(relayer))),
            abi.encodeCall(oracle.request, (MODEL, bytes32("text"), INPUT, PARAMS, CB_GAS)),
            abi.encodeCall(oracle.cancel, (id)),
            abi.encodeCall(oracle.answerMany, (_list(good))),
            bytes(""),
            bytes(hex"1542c9") // three bytes of fulfill's selector
        ];
        bytes4[6] memory selectors = [
            oracle.withdraw.selector,
            oracle.request.selector,
            oracle.cancel.selector,
            oracle.answerMany.selector,
            bytes4(0),
            bytes4(hex"1542c900")
        ];
        for (uint256 i; i < bad.length; ++i) {
            vm.expectRevert(abi.encodeWithSelector(InferenceOracle.NotAnAnswer.selector, 1, selectors[i]));
            oracle.answerMany(_list(good, bad[i]));
        }
        // fulfill's selector and 31 bytes: one short of an id
        bytes memory short = new bytes(35);
        for (uint256 i; i < 4; ++i) {
            short[i] = oracle.fulfill.selector[i];
        }
        vm.expectRevert(abi.encodeWithSelector(InferenceOracle.NotAnAnswer.selector, 0, oracle.fulfill.selector));
        oracle.answerMany(_list(short, good));
        assertTrue(_isOpen(id)); // the good element was undone with the rest
    }

    /// A well-formed selector with arguments that do not decode is an answer that reverts: skipped.
    function test_answerMany_skipsUndecodableArguments() public {
        uint256 id = _request(MODEL, FEE);
        bytes memory garbage = abi.encodePacked(oracle.attest.selector, id, uint256(7));
        vm.expectEmit(address(oracle));
        emit AnswerSkipped(id, 0, "");
        oracle.answerMany(_list(garbage, _fulfillCall(0, id, OUTPUT)));
        assertEq(uint8(_status(id)), uint8(InferenceOracle.Status.Fulfilled));
    }

    // ------------------------------------------------------------ gas

    /// Requests from an account without code make no callback, so an element short of gas runs
    /// out in its own work (the 1/64 rule), not at the callback's check.
    function test_answerMany_elementOutOfGasRevertsTheWholeBatch() public {
        uint256 a = _requestFrom(requesterEoa, CB_GAS);
        uint256 b = _requestFrom(requesterEoa, CB_GAS);
        bytes memory fa = _fulfillCall(0, a, OUTPUT);
        bytes memory fb = _fulfillCall(1, b, OUTPUT);
        uint256 one = _estimate(abi.encodeCall(oracle.answerMany, (_list(fa))), 0, 2_000_000);
        uint256 two = _estimate(abi.encodeCall(oracle.answerMany, (_list(fa, fb))), 0, 2_000_000);
        emit log_named_uint("estimate, one answer (no callback)", one);
        emit log_named_uint("estimate, two answers (no callback)", two);
        // enough for the first answer and 60k more: the second starts and runs dry, and the 1/64
        // answerMany keeps (~940 gas) pays for the error (below ~45k more it runs dry itself: no data)
        (bool ok, bytes memory ret) =
            address(oracle).call{gas: one + 60_000}(abi.encodeCall(oracle.answerMany, (_list(fa, fb))));
        assertFalse(ok);
        assertEq(ret, _outOfGas(1));
        assertTrue(_isOpen(a)); // the first answer is undone too
        assertTrue(_isOpen(b));
        // at the estimate both answers land
        vm.recordLogs();
        (ok,) = address(oracle).call{gas: two}(abi.encodeCall(oracle.answerMany, (_list(fa, fb))));
        assertTrue(ok);
        assertEq(_skips(vm.getRecordedLogs()), 0);
        assertFalse(_isOpen(a));
        assertFalse(_isOpen(b));
    }

    /// An expensive element (quorum 2: the fulfill stores 2 kB of output, ~1.4M gas) that runs
    /// dry with 1M: the 1/64 answerMany keeps (~15k) would pay for an AnswerSkipped and a
    /// successful transaction; the batch must revert instead. (With cheap elements the 1/64 is
    /// too little to emit anything, so only an expensive one shows the rule at work.)
    function test_answerMany_expensiveElementOutOfGasIsNotASkip() public {
        uint256 k2 = _request(MODEL2, FEE2);
        bytes memory big = new bytes(2048);
        for (uint256 i; i < big.length; ++i) {
            big[i] = bytes1(uint8(i % 251) + 1);
        }
        bytes memory data = abi.encodeCall(oracle.answerMany, (_list(_fulfillCall(0, k2, big))));
        (bool ok, bytes memory ret) = address(oracle).call{gas: 1_000_000}(data);
        assertFalse(ok);
        assertEq(ret, _outOfGas(0));
        assertFalse(oracle.outputSupplied(k2, keccak256(big)));
        (ok,) = address(oracle).call{gas: 3_000_000}(data);
        assertTrue(ok);
        assertEq(oracle.suppliedOutput(k2, keccak256(big)), big);
    }

    /// An element that reaches the callback without the gas for the consumer's whole
    /// callbackGasLimit reverts InsufficientGasForCallback with plenty of gas still unspent; the
    /// batch must treat it as out of gas all the same.
    function test_answerMany_callbackGasShortfallRevertsTheWholeBatch() public {
        uint256 a = _request(MODEL, FEE);
        uint256 big = consumer.ask{value: FEE}(MODEL, INPUT, PARAMS, 1_500_000);
        bytes memory data =
            abi.encodeCall(oracle.answerMany, (_list(_fulfillCall(0, a, OUTPUT), _fulfillCall(1, big, OUTPUT))));
        // 1M: the second element has far more than 1/64 left when it refuses to short-change
        // its 1.5M callback
        (bool ok, bytes memory ret) = address(oracle).call{gas: 1_000_000}(data);
        assertFalse(ok);
        assertEq(ret, _outOfGas(1));
        assertTrue(_isOpen(a));
        assertTrue(_isOpen(big));
        (ok,) = address(oracle).call{gas: 3_000_000}(data);
        assertTrue(ok);
        assertEq(consumer.outputs(big), OUTPUT);
        assertLe(consumer.gasSeen(), 1_500_000);
        assertGe(consumer.gasSeen(), 1_500_000 - 1000); // the callee got its whole limit
    }

    /// Where eth_estimateGas lands (the smallest limit that does not revert) every answer is
    /// delivered; a callback that reverts or burns all its gas is reported, not a revert.
    function test_answerMany_estimateDeliversEveryAnswer() public {
        uint256 a = _request(MODEL, FEE);
        uint256 burner = _requestFrom(address(new GasBurningConsumer()), CB_GAS);
        uint256 reverter = _requestFrom(address(new RevertingConsumer()), CB_GAS);
        bytes memory data = abi.encodeCall(
            oracle.answerMany,
            (_list(_fulfillCall(0, a, OUTPUT), _fulfillCall(1, burner, OUTPUT), _rejectCall(2, reverter, 2)))
        );
        uint256 est = _estimate(data, 0, 5_000_000);
        emit log_named_uint("estimate, three answers with callbacks", est);
        vm.expectEmit(address(oracle));
        emit CallbackResult(burner, false);
        vm.expectEmit(address(oracle));
        emit CallbackResult(reverter, false);
        vm.recordLogs();
        (bool ok,) = address(oracle).call{gas: est}(data);
        assertTrue(ok);
        assertEq(_skips(vm.getRecordedLogs()), 0);
        assertEq(uint8(_status(a)), uint8(InferenceOracle.Status.Fulfilled));
        assertEq(uint8(_status(burner)), uint8(InferenceOracle.Status.Fulfilled));
        assertEq(uint8(_status(reverter)), uint8(InferenceOracle.Status.Rejected));
        assertEq(oracle.balances(nodes[1]), FEE);
        assertEq(consumer.outputs(a), OUTPUT);
    }

    /// Whatever the gas limit, a batch either delivers every answer or reverts AnswerOutOfGas
    /// (or runs dry in answerMany's own code): never a transaction that succeeds with an answer
    /// dropped for want of gas.
    function testFuzz_answerMany_allOrRevertAtAnyGas(uint256 gasLimit) public {
        uint256 a = _request(MODEL, FEE);
        uint256 b = _requestFrom(requesterEoa, CB_GAS);
        uint256 c = _request(MODEL, FEE);
        bytes memory data = abi.encodeCall(
            oracle.answerMany, (_list(_fulfillCall(0, a, OUTPUT), _rejectCall(1, b, 4), _fulfillCall(2, c, OUTPUT)))
        );
        gasLimit = bound(gasLimit, 0, 1_200_000);
        _allOrRevert(data, gasLimit, a, b, c);
    }

    function _allOrRevert(bytes memory data, uint256 gasLimit, uint256 a, uint256 b, uint256 c) internal {
        vm.recordLogs();
        (bool ok, bytes memory ret) = address(oracle).call{gas: gasLimit}(data);
        if (ok) {
            assertEq(_skips(vm.getRecordedLogs()), 0, "succeeded with a skip");
            assertFalse(_isOpen(a) || _isOpen(b) || _isOpen(c), "succeeded with an open request");
        } else {
            assertTrue(ret.length == 0 || bytes4(ret) == InferenceOracle.AnswerOutOfGas.selector, "unexpected revert");
            assertTrue(_isOpen(a) && _isOpen(b) && _isOpen(c), "reverted but left a change");
        }
    }

    /// The same, at every 8th gas value up to the one-answer estimate (no callback): passes
    /// through the point where the element's ecrecover (3000 gas, a call of its own) runs out,
    /// which hands a few dozen gas back to answerMany above the plain 1/64.
    function test_answerMany_allOrRevertSweepNoCallback() public {
        uint256 a = _requestFrom(requesterEoa, CB_GAS);
        bytes memory data = abi.encodeCall(oracle.answerMany, (_list(_fulfillCall(0, a, OUTPUT))));
        uint256 est = _estimate(data, 0, 1_000_000);
        for (uint256 g; g < est; g += 8) {
            (bool ok, bytes memory ret) = address(oracle).call{gas: g}(data);
            assertFalse(ok);
            if (ret.length != 0) assertEq(ret, _outOfGas(0));
        }
    }

    // ------------------------------------------------------------ same as alone

    /// Credits, statuses and votes after a batch equal those after the same calls one by one,
    /// and do not depend on who sends the batch.
    function test_answerMany_sameOutcomeAsSeparateCallsFromAnySender() public {
        uint256 k2 = _request(MODEL2, FEE2);
        uint256 f = _request(MODEL, FEE);
        uint256 r = _request(MODEL, FEE);
        bytes[] memory calls = new bytes[](4);
        calls[0] = _fulfillCall(1, k2, OUTPUT);
        calls[1] = _fulfillCall(0, f, "42");
        calls[2] = _rejectCall(2, r, 5);
        calls[3] = _attestCall(0, k2, OUTPUT);

        uint256 snap = vm.snapshotState();
        for (uint256 i; i < calls.length; ++i) {
            vm.prank(relayer);
            (bool ok,) = address(oracle).call(calls[i]);
            assertTrue(ok);
        }
        bytes memory alone = _outcome(k2, f, r);

        address[3] memory senders = [relayer, nodes[2], makeAddr("stranger")];
        for (uint256 s; s < senders.length; ++s) {
            vm.revertToState(snap);
            vm.prank(senders[s]);
            oracle.answerMany(calls);
            assertEq(_outcome(k2, f, r), alone);
            assertEq(oracle.balances(senders[s]), 0);
        }
    }

    function _outcome(uint256 k2, uint256 f, uint256 r) internal view returns (bytes memory) {
        return abi.encode(
            oracle.getRequest(k2),
            oracle.getRequest(f),
            oracle.getRequest(r),
            [oracle.balances(nodes[0]), oracle.balances(nodes[1]), oracle.balances(nodes[2])],
            oracle.balances(address(consumer)),
            [oracle.hasVoted(k2, nodes[0]), oracle.hasVoted(k2, nodes[1]), oracle.hasVoted(k2, nodes[2])],
            consumer.outputs(k2),
            consumer.outputs(f),
            consumer.codes(r)
        );
    }

    // ------------------------------------------------------------ gas per answer

    /// Calldata gas as a transaction pays it (EIP-2028: 4 per zero byte, 16 per other byte).
    function _calldataGas(bytes memory data) internal pure returns (uint256 g) {
        for (uint256 i; i < data.length; ++i) {
            g += data[i] == 0 ? 4 : 16;
        }
    }

    /// Gas of one transaction: 21,000 + calldata + execution, the oracle's and the consumer's
    /// state cold as at the start of a transaction. (No refunds: a quorum-1 fulfill clears no slot.)
    function _txGas(bytes memory data) internal returns (uint256 exec, uint256 total) {
        vm.cool(address(oracle));
        vm.cool(address(consumer));
        uint256 g = gasleft();
        (bool ok,) = address(oracle).call(data);
        exec = g - gasleft();
        assertTrue(ok);
        total = 21_000 + _calldataGas(data) + exec;
    }

    function _gasPerAnswer(uint256 n) internal returns (uint256 batchEach, uint256 aloneEach) {
        bytes[] memory calls = new bytes[](n);
        for (uint256 i; i < n; ++i) {
            calls[i] = _fulfillCall(i % 3, _request(MODEL, FEE), OUTPUT);
        }
        uint256 snap = vm.snapshotState();
        uint256 aloneTotal;
        uint256 aloneExec;
        for (uint256 i; i < n; ++i) {
            (uint256 exec, uint256 total) = _txGas(calls[i]);
            aloneExec += exec;
            aloneTotal += total;
        }
        vm.revertToState(snap);
        vm.recordLogs();
        (uint256 batchExec, uint256 batchTotal) = _txGas(abi.encodeCall(oracle.answerMany, (calls)));
        assertEq(_skips(vm.getRecordedLogs()), 0);
        batchEach = batchTotal / n;
        aloneEach = aloneTotal / n;
        emit log_named_uint("answers", n);
        emit log_named_uint("  separate fulfill txs: gas per answer (21k + calldata + execution)", aloneEach);
        emit log_named_uint("  separate fulfill txs: execution per answer", aloneExec / n);
        emit log_named_uint("  one answerMany tx:    gas per answer (21k + calldata + execution)", batchEach);
        emit log_named_uint("  one answerMany tx:    execution per answer", batchExec / n);
    }

    /// -vv prints the numbers; the test holds the batch to being cheaper per answer.
    function test_answerMany_gasPerAnswer() public {
        uint256[3] memory sizes = [uint256(1), 8, 32];
        for (uint256 s; s < sizes.length; ++s) {
            (uint256 batchEach, uint256 aloneEach) = _gasPerAnswer(sizes[s]);
            if (sizes[s] == 1) assertLt(batchEach, aloneEach + 3_000); // the wrapper's own cost
            else assertLt(batchEach, aloneEach - 15_000); // most of the 21k is saved
        }
    }
}
