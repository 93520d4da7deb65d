// SPDX-License-Identifier: MIT
pragma solidity ^0.8.27;

import {Vm} from "forge-std/Vm.sol";
import {OracleBase} from "./OracleBase.sol";
import {InferenceOracle} from "../src/InferenceOracle.sol";

/// @dev Pins how many storage slots of the oracle one request touches (read or written), and logs
/// the gas of each call. Why it matters: every slot a request touches is new state that stays
/// for good; on a real chain a fresh slot costs 22,100 gas to write, and anvil recomputes its
/// state root from every slot it has seen, in every block (docs/performance.md). A change that
/// makes a request touch more slots fails here; one that makes it touch fewer should lower the
/// pinned numbers.
///
/// "Per request" = the slots a request (and its answers) touches that the same sequence for
/// the previous request did not: what each request adds to the state. The shared slots
/// (requestCount, the model, isNode, balances, ...) are counted in "total".
contract InferenceOracleStorageTest is OracleBase {
    /// quorum 1: request + fulfill
    uint256 internal constant Q1_PER_REQUEST = 9; // 13 before the first voter and the final hash were folded in
    uint256 internal constant Q1_TOTAL = 16;
    /// quorum 2: request + fulfill (stores the output) + attest (finalises)
    uint256 internal constant Q2_PER_REQUEST = 13; // 16 before
    uint256 internal constant Q2_TOTAL = 22;

    /// The oracle's slots read or written since vm.record(), added to `set` (no duplicates).
    function _addTouched(bytes32[] memory set) internal returns (bytes32[] memory out) {
        (bytes32[] memory reads, bytes32[] memory writes) = vm.accesses(address(oracle));
        out = new bytes32[](set.length + reads.length + writes.length);
        uint256 n;
        for (uint256 i; i < out.length; ++i) {
            bytes32 s = i < set.length
                ? set[i]
                : i < set.length + reads.length ? reads[i - set.length] : writes[i - set.length - reads.length];
            bool seen;
            for (uint256 j; j < n && !seen; ++j) {
                seen = out[j] == s;
            }
            if (!seen) out[n++] = s;
        }
        assembly ("memory-safe") {
            mstore(out, n)
        }
    }

    function _notIn(bytes32[] memory a, bytes32[] memory b) internal pure returns (uint256 n) {
        for (uint256 i; i < a.length; ++i) {
            bool found;
            for (uint256 j; j < b.length && !found; ++j) {
                found = a[i] == b[j];
            }
            if (!found) ++n;
        }
    }

    /// One request and its answers, each call on cold storage (as in its own transaction);
    /// returns the oracle's slots these calls touched (the test's own view calls left out).
    function _cycle(bytes32 model, bool log) internal returns (bytes32[] memory touched) {
        vm.cool(address(oracle));
        vm.record();
        uint256 g = gasleft();
        uint256 id = _request(model, model == MODEL ? FEE : FEE2);
        uint256 gRequest = g - gasleft();
        touched = _addTouched(touched);

        InferenceOracle.Attestation memory a = _att(id, OUTPUT);
        bytes memory sig0 = _sign(nodeKeys[0], a);
        bytes memory sig1 = _sign(nodeKeys[1], a);
        vm.cool(address(oracle));
        vm.record();
        g = gasleft();
        oracle.fulfill(id, OUTPUT, a, sig0);
        uint256 gFulfill = g - gasleft();
        touched = _addTouched(touched);
        uint256 gAttest;
        if (model == MODEL2) {
            vm.cool(address(oracle));
            vm.record();
            g = gasleft();
            oracle.attest(id, a, sig1);
            gAttest = g - gasleft();
            touched = _addTouched(touched);
        }
        vm.stopRecord();
        assertEq(uint8(_status(id)), uint8(InferenceOracle.Status.Fulfilled));
        if (log) {
            emit log_named_uint("request gas (cold, from the consumer)", gRequest);
            emit log_named_uint("fulfill gas (cold)", gFulfill);
            if (model == MODEL2) emit log_named_uint("attest gas (cold)", gAttest);
        }
    }

    function _measure(bytes32 model) internal returns (uint256 perRequest, uint256 total) {
        bytes32[] memory first = _cycle(model, false);
        bytes32[] memory second = _cycle(model, true);
        perRequest = _notIn(second, first);
        total = second.length;
        emit log_named_uint("slots touched per request (new state)", perRequest);
        emit log_named_uint("slots touched in all (with shared ones)", total);
    }

    function test_slots_quorumOne() public {
        (uint256 perRequest, uint256 total) = _measure(MODEL);
        assertEq(perRequest, Q1_PER_REQUEST, "quorum 1: slots per request");
        assertEq(total, Q1_TOTAL, "quorum 1: slots in all");
    }

    function test_slots_quorumTwo() public {
        (uint256 perRequest, uint256 total) = _measure(MODEL2);
        assertEq(perRequest, Q2_PER_REQUEST, "quorum 2: slots per request");
        assertEq(total, Q2_TOTAL, "quorum 2: slots in all");
    }

    // The slots saved are not visible from outside: getRequest and hasVoted report what they
    // did when every vote and every final hash had a slot of its own.

    function test_storedAsBefore_quorumOne() public {
        uint256 id = _request(MODEL, FEE);
        assertFalse(oracle.hasVoted(id, nodes[0]));
        _fulfill(0, id, OUTPUT);
        InferenceOracle.Request memory r = oracle.getRequest(id);
        assertTrue(r.hasVote);
        assertEq(r.firstOutputHash, keccak256(OUTPUT));
        assertEq(r.outputHash, keccak256(OUTPUT));
        assertTrue(oracle.hasVoted(id, nodes[0]));
        assertFalse(oracle.hasVoted(id, nodes[1]));
        assertFalse(oracle.hasVoted(id + 1, nodes[0]));
        assertFalse(oracle.outputSupplied(id, keccak256(OUTPUT)));
    }

    function test_storedAsBefore_quorumTwoAgreeing() public {
        uint256 id = _request(MODEL2, FEE2);
        _fulfill(0, id, OUTPUT);
        InferenceOracle.Request memory r = oracle.getRequest(id);
        assertEq(r.firstOutputHash, keccak256(OUTPUT));
        assertEq(r.outputHash, bytes32(0)); // Open: no final hash yet
        assertTrue(oracle.hasVoted(id, nodes[0]));
        assertFalse(oracle.hasVoted(id, nodes[1]));
        _attest(1, id, OUTPUT);
        r = oracle.getRequest(id);
        assertEq(uint8(r.status), uint8(InferenceOracle.Status.Fulfilled));
        assertEq(r.firstOutputHash, keccak256(OUTPUT));
        assertEq(r.outputHash, keccak256(OUTPUT));
        assertTrue(oracle.hasVoted(id, nodes[0]));
        assertTrue(oracle.hasVoted(id, nodes[1]));
        assertFalse(oracle.hasVoted(id, nodes[2]));
    }

    function test_storedAsBefore_finalDiffersFromFirst() public {
        uint256 id = _request(MODEL2, FEE2);
        bytes memory lyon = bytes("Lyon");
        _fulfill(0, id, OUTPUT);
        _fulfill(1, id, lyon);
        _attest(2, id, lyon);
        InferenceOracle.Request memory r = oracle.getRequest(id);
        assertEq(r.firstOutputHash, keccak256(OUTPUT));
        assertEq(r.outputHash, keccak256(lyon));
        for (uint256 i; i < 3; ++i) {
            assertTrue(oracle.hasVoted(id, nodes[i]));
        }
    }

    /// A first vote that rejects, then an empty output wins: the final hash equals the first
    /// vote's (keccak256("")) although the answers differ.
    function test_storedAsBefore_rejectFirstThenEmptyOutput() public {
        uint256 id = _request(MODEL2, FEE2);
        _reject(0, id, 2);
        _fulfill(1, id, "");
        _fulfill(2, id, "");
        InferenceOracle.Request memory r = oracle.getRequest(id);
        assertEq(uint8(r.status), uint8(InferenceOracle.Status.Fulfilled));
        assertEq(r.firstOutputHash, keccak256(""));
        assertEq(r.firstRejectCode, 2);
        assertEq(r.outputHash, keccak256(""));
        assertEq(r.rejectCode, 0);
        assertTrue(oracle.hasVoted(id, nodes[0]));
        assertEq(oracle.votesFor(id, keccak256(""), 2), 1);
        assertEq(oracle.votesFor(id, keccak256(""), 0), 2);
    }

    function test_storedAsBefore_rejectedAndCancelledHaveNoOutputHash() public {
        uint256 id = _request(MODEL, FEE);
        _reject(0, id, 3);
        InferenceOracle.Request memory r = oracle.getRequest(id);
        assertEq(uint8(r.status), uint8(InferenceOracle.Status.Rejected));
        assertEq(r.firstOutputHash, keccak256(""));
        assertEq(r.outputHash, bytes32(0));
        assertTrue(oracle.hasVoted(id, nodes[0]));

        id = _request(MODEL2, FEE2);
        _fulfill(0, id, OUTPUT);
        vm.warp(block.timestamp + TIMEOUT + 1);
        vm.prank(address(consumer));
        oracle.cancel(id);
        r = oracle.getRequest(id);
        assertEq(uint8(r.status), uint8(InferenceOracle.Status.Cancelled));
        assertEq(r.firstOutputHash, keccak256(OUTPUT));
        assertEq(r.outputHash, bytes32(0));
        assertTrue(oracle.hasVoted(id, nodes[0]));
    }

    /// The first voter has no _hasVoted slot: it still cannot vote again, even after it was
    /// removed and registered again, and whatever it votes for.
    function test_firstVoterCannotVoteAgain() public {
        uint256 id = _request(MODEL2, FEE2);
        _reject(0, id, 2);
        vm.startPrank(owner);
        oracle.removeNode(nodes[0]);
        oracle.addNode(nodes[0]);
        vm.stopPrank();
        InferenceOracle.Attestation memory a = _att(id, OUTPUT);
        bytes memory sig = _sign(nodeKeys[0], a);
        vm.expectRevert(abi.encodeWithSelector(InferenceOracle.AlreadyVoted.selector, id, nodes[0]));
        oracle.fulfill(id, OUTPUT, a, sig);
        InferenceOracle.Attestation memory b = _rejectAtt(id, 2);
        bytes memory sigB = _sign(nodeKeys[0], b);
        vm.expectRevert(abi.encodeWithSelector(InferenceOracle.AlreadyVoted.selector, id, nodes[0]));
        oracle.reject(id, b, sigB);
        // the second voter has its slot, for the first answer or another one
        _reject(1, id, 3);
        InferenceOracle.Attestation memory c = _rejectAtt(id, 2);
        bytes memory sigC = _sign(nodeKeys[1], c);
        vm.expectRevert(abi.encodeWithSelector(InferenceOracle.AlreadyVoted.selector, id, nodes[1]));
        oracle.reject(id, c, sigC);
    }
}
