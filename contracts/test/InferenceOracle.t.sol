// SPDX-License-Identifier: MIT
pragma solidity ^0.8.27;

import {Vm} from "forge-std/Vm.sol";
import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";
import {InferenceOracle} from "../src/InferenceOracle.sol";
import {
    OracleBase,
    RecordingConsumer,
    RevertingConsumer,
    GasBurningConsumer,
    ReturnBombConsumer,
    ReentrantConsumer
} from "./OracleBase.sol";

contract NoReceive {}

/// Unit tests: every path and every revert of InferenceOracle.
contract InferenceOracleRequestTest is OracleBase {
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
    event Credited(address indexed account, uint256 indexed id, uint256 amount);

    function test_request_emitsEverythingANodeNeeds() public {
        uint256 expectedSeed =
            uint256(keccak256(abi.encode(block.chainid, address(oracle), uint256(1), blockhash(block.number - 1))));
        vm.expectEmit(address(oracle));
        emit InferenceRequested(
            1,
            address(consumer),
            MODEL,
            bytes32("text"),
            INPUT,
            PARAMS,
            expectedSeed,
            CB_GAS,
            uint64(block.timestamp) + TIMEOUT
        );
        uint256 id = _request(MODEL, FEE);
        assertEq(id, 1);
        InferenceOracle.Request memory r = oracle.getRequest(id);
        assertEq(r.requester, address(consumer));
        assertEq(uint8(r.status), uint8(InferenceOracle.Status.Open));
        assertEq(r.seed, expectedSeed);
        assertEq(r.inputHash, keccak256(INPUT));
        assertEq(r.paramsHash, keccak256(PARAMS));
        assertEq(r.modelHash, MODEL_HASH);
        assertEq(r.modelId, MODEL);
        assertEq(r.quorum, 1);
        assertEq(r.escrow, FEE);
        assertEq(r.callbackGasLimit, CB_GAS);
        assertEq(r.deadline, block.timestamp + TIMEOUT);
        assertEq(address(oracle).balance, FEE);
    }

    function test_request_idsAreSequentialAndSeedsDiffer() public {
        uint256 a = _request(MODEL, FEE);
        uint256 b = _request(MODEL, FEE);
        assertEq(b, a + 1);
        assertEq(oracle.requestCount(), 2);
        assertTrue(oracle.getRequest(a).seed != oracle.getRequest(b).seed);
    }

    function test_request_seedDependsOnPreviousBlockHash() public {
        uint256 snap = vm.snapshotState();
        vm.setBlockhash(block.number - 1, keccak256("one"));
        uint256 s1 = oracle.getRequest(_request(MODEL, FEE)).seed;
        vm.revertToState(snap);
        vm.setBlockhash(block.number - 1, keccak256("two"));
        uint256 s2 = oracle.getRequest(_request(MODEL, FEE)).seed;
        assertTrue(s1 != s2);
    }

    function test_request_fromEoa() public {
        vm.prank(requesterEoa);
        uint256 id = oracle.request{value: FEE}(MODEL, "number", INPUT, "", 0);
        assertEq(oracle.getRequest(id).requester, requesterEoa);
    }

    function test_request_excessIsCreditedBack() public {
        vm.expectEmit(address(oracle));
        emit Credited(address(consumer), 1, 5 wei);
        uint256 id = _request(MODEL, FEE + 5);
        assertEq(oracle.getRequest(id).escrow, FEE);
        assertEq(oracle.balances(address(consumer)), 5);
        address payable sink = payable(makeAddr("sink"));
        consumer.withdraw(sink);
        assertEq(sink.balance, 5);
        assertEq(address(oracle).balance, FEE);
    }

    function test_request_revertsUnknownModel() public {
        vm.expectRevert(abi.encodeWithSelector(InferenceOracle.ModelNotActive.selector, bytes32("nope")));
        consumer.ask{value: FEE}("nope", INPUT, PARAMS, CB_GAS);
    }

    function test_request_revertsInactiveModel() public {
        vm.prank(owner);
        oracle.registerModel(MODEL, MODEL_HASH, 1, FEE, false);
        vm.expectRevert(abi.encodeWithSelector(InferenceOracle.ModelNotActive.selector, MODEL));
        _request(MODEL, FEE);
    }

    function test_request_revertsFeeTooLow() public {
        vm.expectRevert(abi.encodeWithSelector(InferenceOracle.FeeTooLow.selector, FEE, FEE - 1));
        _request(MODEL, FEE - 1);
    }

    function test_request_revertsCallbackGasTooHigh() public {
        vm.expectRevert(
            abi.encodeWithSelector(InferenceOracle.CallbackGasLimitTooHigh.selector, MAX_CB_GAS + 1, MAX_CB_GAS)
        );
        consumer.ask{value: FEE}(MODEL, INPUT, PARAMS, MAX_CB_GAS + 1);
    }

    function test_request_freeModel() public {
        vm.prank(owner);
        oracle.registerModel("free", MODEL_HASH, 1, 0, true);
        uint256 id = consumer.ask("free", INPUT, PARAMS, CB_GAS);
        assertEq(oracle.getRequest(id).escrow, 0);
    }

    function test_request_keepsModelAsOfRequestTime() public {
        uint256 id = _request(MODEL2, FEE2);
        vm.prank(owner);
        oracle.registerModel(MODEL2, keccak256("new file"), 1, 5, false);
        InferenceOracle.Request memory r = oracle.getRequest(id);
        assertEq(r.modelHash, MODEL2_HASH);
        assertEq(r.quorum, 2);
        assertEq(r.escrow, FEE2);
        _fulfill(0, id, OUTPUT); // the old hash still answers it
        assertEq(uint8(_status(id)), uint8(InferenceOracle.Status.Open));
        _attest(1, id, OUTPUT);
        assertEq(uint8(_status(id)), uint8(InferenceOracle.Status.Fulfilled));
    }
}

contract InferenceOracleFulfillTest is OracleBase {
    event Fulfilled(uint256 indexed id, bytes32 indexed outputHash, bytes output);
    event CallbackResult(uint256 indexed id, bool success);
    event Attested(
        uint256 indexed id, address indexed node, bytes32 indexed outputHash, uint16 rejectCode, uint256 votes
    );
    event Credited(address indexed account, uint256 indexed id, uint256 amount);

    uint256 internal id;

    function setUp() public override {
        super.setUp();
        id = _request(MODEL, FEE);
    }

    function test_fulfill_quorumOne() public {
        InferenceOracle.Attestation memory a = _att(id, OUTPUT);
        bytes memory sig = _sign(nodeKeys[0], a);
        vm.expectEmit(address(oracle));
        emit Attested(id, nodes[0], keccak256(OUTPUT), 0, 1);
        vm.expectEmit(address(oracle));
        emit Fulfilled(id, keccak256(OUTPUT), OUTPUT);
        vm.expectEmit(address(oracle));
        emit Credited(nodes[0], id, FEE);
        vm.expectEmit(address(oracle));
        emit CallbackResult(id, true);
        vm.prank(relayer); // anyone may relay
        oracle.fulfill(id, OUTPUT, a, sig);

        InferenceOracle.Request memory r = oracle.getRequest(id);
        assertEq(uint8(r.status), uint8(InferenceOracle.Status.Fulfilled));
        assertEq(r.outputHash, keccak256(OUTPUT));
        assertEq(r.escrow, 0);
        assertEq(oracle.balances(nodes[0]), FEE);
        assertEq(oracle.balances(relayer), 0);
        assertEq(consumer.outputs(id), OUTPUT);
        assertEq(consumer.calls(id), 1);
        assertTrue(oracle.hasVoted(id, nodes[0]));
        assertEq(oracle.votesFor(id, keccak256(OUTPUT), 0), 1);
        assertEq(oracle.suppliedOutput(id, keccak256(OUTPUT)).length, 0); // k = 1 stores nothing
    }

    function test_fulfill_nodeWithdrawsFee() public {
        _fulfill(0, id, OUTPUT);
        vm.prank(nodes[0]);
        oracle.withdraw(payable(nodes[0]));
        assertEq(nodes[0].balance, FEE);
        assertEq(oracle.balances(nodes[0]), 0);
        assertEq(address(oracle).balance, 0);
    }

    function test_fulfill_emptyOutput() public {
        _fulfill(1, id, "");
        assertEq(uint8(_status(id)), uint8(InferenceOracle.Status.Fulfilled));
        assertEq(consumer.calls(id), 1);
    }

    function test_fulfill_atDeadlineStillWorks() public {
        vm.warp(oracle.getRequest(id).deadline);
        _fulfill(0, id, OUTPUT);
        assertEq(uint8(_status(id)), uint8(InferenceOracle.Status.Fulfilled));
    }

    function test_fulfill_calleeGetsItsFullGasLimit() public {
        _fulfill(0, id, OUTPUT);
        uint256 seen = consumer.gasSeen();
        assertLe(seen, CB_GAS);
        assertGe(seen, CB_GAS - 1000);
    }

    function test_fulfill_revertsWhenCallbackWouldGetLessThanItsLimit() public {
        InferenceOracle.Attestation memory a = _att(id, OUTPUT);
        bytes memory sig = _sign(nodeKeys[0], a);
        vm.expectRevert(); // InsufficientGasForCallback (its arguments depend on the gas left)
        oracle.fulfill{gas: 150_000}(id, OUTPUT, a, sig);
        assertEq(uint8(_status(id)), uint8(InferenceOracle.Status.Open));
        oracle.fulfill{gas: 1_000_000}(id, OUTPUT, a, sig);
        assertEq(uint8(_status(id)), uint8(InferenceOracle.Status.Fulfilled));
    }

    function test_fulfill_insufficientGasErrorSelector() public {
        InferenceOracle.Attestation memory a = _att(id, OUTPUT);
        bytes memory sig = _sign(nodeKeys[0], a);
        (bool ok, bytes memory ret) =
            address(oracle).call{gas: 270_000}(abi.encodeCall(oracle.fulfill, (id, OUTPUT, a, sig)));
        assertFalse(ok);
        assertEq(bytes4(ret), InferenceOracle.InsufficientGasForCallback.selector);
    }

    function test_fulfill_eoaRequesterHasNoCallback() public {
        vm.prank(requesterEoa);
        uint256 eoaId = oracle.request{value: FEE}(MODEL, "text", INPUT, PARAMS, CB_GAS);
        vm.expectEmit(address(oracle));
        emit CallbackResult(eoaId, false);
        _fulfill(0, eoaId, OUTPUT);
        assertEq(uint8(_status(eoaId)), uint8(InferenceOracle.Status.Fulfilled));
    }

    function _hostileRequest(address hostile) internal returns (uint256 hid) {
        vm.deal(hostile, 1 ether);
        vm.prank(hostile);
        hid = oracle.request{value: FEE}(MODEL, "text", INPUT, PARAMS, CB_GAS);
    }

    function test_fulfill_revertingCallbackDoesNotRevert() public {
        uint256 hid = _hostileRequest(address(new RevertingConsumer()));
        vm.expectEmit(address(oracle));
        emit CallbackResult(hid, false);
        _fulfill(0, hid, OUTPUT);
        assertEq(uint8(_status(hid)), uint8(InferenceOracle.Status.Fulfilled));
        assertEq(oracle.balances(nodes[0]), FEE);
    }

    function test_fulfill_gasBurningCallbackDoesNotRevert() public {
        uint256 hid = _hostileRequest(address(new GasBurningConsumer()));
        InferenceOracle.Attestation memory a = _att(hid, OUTPUT);
        bytes memory sig = _sign(nodeKeys[0], a);
        uint256 before = gasleft();
        oracle.fulfill{gas: 600_000}(hid, OUTPUT, a, sig);
        uint256 used = before - gasleft();
        assertEq(uint8(_status(hid)), uint8(InferenceOracle.Status.Fulfilled));
        // burned at most its own limit plus the fulfilment's own work
        assertLt(used, CB_GAS + 300_000);
    }

    function test_fulfill_returnBombCallbackDoesNotRevertOrCostMore() public {
        address hostile = address(new ReturnBombConsumer());
        vm.deal(hostile, 1 ether);
        vm.prank(hostile);
        uint256 hid = oracle.request{value: FEE}(MODEL, "text", INPUT, PARAMS, MAX_CB_GAS);
        InferenceOracle.Attestation memory a = _att(hid, OUTPUT);
        bytes memory sig = _sign(nodeKeys[0], a);
        vm.expectEmit(address(oracle));
        emit CallbackResult(hid, true);
        // enough for the callee's 2M and the fulfilment, far from enough to also copy 900 kB
        oracle.fulfill{gas: 2_400_000}(hid, OUTPUT, a, sig);
        assertEq(uint8(_status(hid)), uint8(InferenceOracle.Status.Fulfilled));
    }

    function test_fulfill_reentrantCallbackCannotAnswerTwice() public {
        ReentrantConsumer re = new ReentrantConsumer(oracle);
        uint256 hid = _hostileRequest(address(re));
        InferenceOracle.Attestation memory a = _att(hid, OUTPUT);
        bytes memory other = bytes("Lyon");
        InferenceOracle.Attestation memory b = _att(hid, other);
        re.setReplay(abi.encodeCall(oracle.fulfill, (hid, other, b, _sign(nodeKeys[1], b))));
        oracle.fulfill(hid, OUTPUT, a, _sign(nodeKeys[0], a));
        assertTrue(re.reentryFailed());
        assertEq(oracle.getRequest(hid).outputHash, keccak256(OUTPUT));
        assertEq(oracle.balances(nodes[1]), 0);
    }

    // ------------------------------------------------------------- reverts

    function _expectFulfillRevert(InferenceOracle.Attestation memory a, bytes memory output, bytes memory err)
        internal
    {
        bytes memory sig = _sign(nodeKeys[0], a);
        vm.expectRevert(err);
        oracle.fulfill(id, output, a, sig);
    }

    function test_fulfill_revertsRejectCode() public {
        InferenceOracle.Attestation memory a = _att(id, OUTPUT);
        a.rejectCode = 3;
        _expectFulfillRevert(a, OUTPUT, abi.encodeWithSelector(InferenceOracle.RejectCodeNotZero.selector, 3));
    }

    function test_fulfill_revertsOutputHashMismatch() public {
        InferenceOracle.Attestation memory a = _att(id, OUTPUT);
        _expectFulfillRevert(
            a,
            bytes("Lyon"),
            abi.encodeWithSelector(InferenceOracle.OutputHashMismatch.selector, keccak256(OUTPUT), keccak256("Lyon"))
        );
    }

    function test_fulfill_revertsUnknownRequest() public {
        InferenceOracle.Attestation memory a = _att(id, OUTPUT);
        a.requestId = 99;
        bytes memory sig = _sign(nodeKeys[0], a);
        vm.expectRevert(
            abi.encodeWithSelector(InferenceOracle.RequestNotOpen.selector, 99, InferenceOracle.Status.None)
        );
        oracle.fulfill(99, OUTPUT, a, sig);
    }

    function test_fulfill_revertsWhenAlreadyFulfilled() public {
        _fulfill(0, id, OUTPUT);
        InferenceOracle.Attestation memory a = _att(id, OUTPUT);
        bytes memory sig = _sign(nodeKeys[1], a);
        vm.expectRevert(
            abi.encodeWithSelector(InferenceOracle.RequestNotOpen.selector, id, InferenceOracle.Status.Fulfilled)
        );
        oracle.fulfill(id, OUTPUT, a, sig);
    }

    function test_fulfill_revertsAfterDeadline() public {
        uint64 deadline = oracle.getRequest(id).deadline;
        vm.warp(deadline + 1);
        InferenceOracle.Attestation memory a = _att(id, OUTPUT);
        _expectFulfillRevert(a, OUTPUT, abi.encodeWithSelector(InferenceOracle.RequestExpired.selector, id, deadline));
    }

    function test_fulfill_revertsWrongRequestId() public {
        uint256 other = _request(MODEL, FEE);
        InferenceOracle.Attestation memory a = _att(other, OUTPUT); // a valid attestation, for `other`
        _expectFulfillRevert(a, OUTPUT, abi.encodeWithSelector(InferenceOracle.WrongRequestId.selector, id, other));
    }

    function test_fulfill_revertsWrongSeed() public {
        InferenceOracle.Attestation memory a = _att(id, OUTPUT);
        uint256 good = a.seed;
        a.seed = good ^ 1;
        _expectFulfillRevert(a, OUTPUT, abi.encodeWithSelector(InferenceOracle.WrongSeed.selector, good, good ^ 1));
    }

    function test_fulfill_revertsWrongModelHash() public {
        InferenceOracle.Attestation memory a = _att(id, OUTPUT);
        a.modelHash = MODEL2_HASH;
        _expectFulfillRevert(
            a, OUTPUT, abi.encodeWithSelector(InferenceOracle.WrongModelHash.selector, MODEL_HASH, MODEL2_HASH)
        );
    }

    function test_fulfill_revertsWrongInputHash() public {
        InferenceOracle.Attestation memory a = _att(id, OUTPUT);
        a.inputHash = keccak256("other input");
        _expectFulfillRevert(
            a,
            OUTPUT,
            abi.encodeWithSelector(InferenceOracle.WrongInputHash.selector, keccak256(INPUT), keccak256("other input"))
        );
    }

    function test_fulfill_revertsWrongParamsHash() public {
        InferenceOracle.Attestation memory a = _att(id, OUTPUT);
        a.paramsHash = keccak256("");
        _expectFulfillRevert(
            a,
            OUTPUT,
            abi.encodeWithSelector(InferenceOracle.WrongParamsHash.selector, keccak256(PARAMS), keccak256(""))
        );
    }

    function test_fulfill_revertsUnacceptedEngineVersion() public {
        InferenceOracle.Attestation memory a = _att(id, OUTPUT);
        a.engineVersion = "sibyl-arith-2";
        _expectFulfillRevert(
            a, OUTPUT, abi.encodeWithSelector(InferenceOracle.EngineVersionNotAccepted.selector, a.engineVersion)
        );
    }

    function test_fulfill_revertsSignatureFromOutsider() public {
        InferenceOracle.Attestation memory a = _att(id, OUTPUT);
        bytes memory sig = _sign(outsiderKey, a);
        vm.expectRevert(abi.encodeWithSelector(InferenceOracle.NotNode.selector, outsider));
        oracle.fulfill(id, OUTPUT, a, sig);
    }

    function test_fulfill_revertsSignatureFromRemovedNode() public {
        vm.prank(owner);
        oracle.removeNode(nodes[2]);
        InferenceOracle.Attestation memory a = _att(id, OUTPUT);
        bytes memory sig = _sign(nodeKeys[2], a);
        vm.expectRevert(abi.encodeWithSelector(InferenceOracle.NotNode.selector, nodes[2]));
        oracle.fulfill(id, OUTPUT, a, sig);
    }

    function test_fulfill_revertsSignatureForAnotherChain() public {
        InferenceOracle.Attestation memory a = _att(id, OUTPUT);
        bytes memory sig = _signFor(nodeKeys[0], a, block.chainid + 1, address(oracle));
        vm.expectRevert(); // recovers some other address: NotNode
        oracle.fulfill(id, OUTPUT, a, sig);
        (bool ok, bytes memory ret) = address(oracle).call(abi.encodeCall(oracle.fulfill, (id, OUTPUT, a, sig)));
        assertFalse(ok);
        assertEq(bytes4(ret), InferenceOracle.NotNode.selector);
    }

    function test_fulfill_revertsSignatureForAnotherContract() public {
        InferenceOracle other = new InferenceOracle(owner, TIMEOUT, MAX_CB_GAS);
        InferenceOracle.Attestation memory a = _att(id, OUTPUT);
        bytes memory sig = _signFor(nodeKeys[0], a, block.chainid, address(other));
        (bool ok, bytes memory ret) = address(oracle).call(abi.encodeCall(oracle.fulfill, (id, OUTPUT, a, sig)));
        assertFalse(ok);
        assertEq(bytes4(ret), InferenceOracle.NotNode.selector);
    }

    function test_fulfill_revertsSignatureOverOtherHashes() public {
        bytes memory lyon = bytes("Lyon");
        InferenceOracle.Attestation memory signedOne = _att(id, lyon);
        bytes memory sig = _sign(nodeKeys[0], signedOne);
        InferenceOracle.Attestation memory sent = _att(id, OUTPUT);
        (bool ok, bytes memory ret) = address(oracle).call(abi.encodeCall(oracle.fulfill, (id, OUTPUT, sent, sig)));
        assertFalse(ok);
        assertEq(bytes4(ret), InferenceOracle.NotNode.selector);
    }

    function test_fulfill_revertsBadSignatureLength() public {
        InferenceOracle.Attestation memory a = _att(id, OUTPUT);
        bytes memory sig = _sign(nodeKeys[0], a);
        bytes memory shortSig = new bytes(64);
        for (uint256 i; i < 64; ++i) {
            shortSig[i] = sig[i];
        }
        vm.expectRevert(InferenceOracle.InvalidSignature.selector);
        oracle.fulfill(id, OUTPUT, a, shortSig);
    }

    function test_fulfill_revertsMalleableHighS() public {
        InferenceOracle.Attestation memory a = _att(id, OUTPUT);
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(nodeKeys[0], _digest(a, block.chainid, address(oracle)));
        uint256 n = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141;
        bytes32 highS = bytes32(n - uint256(s));
        uint8 flippedV = v == 27 ? 28 : 27;
        vm.expectRevert(InferenceOracle.InvalidSignature.selector);
        oracle.fulfill(id, OUTPUT, a, abi.encodePacked(r, highS, flippedV));
    }

    function test_fulfill_revertsVZeroOrOne() public {
        InferenceOracle.Attestation memory a = _att(id, OUTPUT);
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(nodeKeys[0], _digest(a, block.chainid, address(oracle)));
        vm.expectRevert(InferenceOracle.InvalidSignature.selector);
        oracle.fulfill(id, OUTPUT, a, abi.encodePacked(r, s, v - 27));
    }
}

contract InferenceOracleQuorumTest is OracleBase {
    event OutputSupplied(uint256 indexed id, bytes32 indexed outputHash, address indexed node);
    event QuorumDisagreement(
        uint256 indexed id,
        address indexed node,
        bytes32 firstOutputHash,
        uint16 firstRejectCode,
        bytes32 outputHash,
        uint16 rejectCode
    );
    event Fulfilled(uint256 indexed id, bytes32 indexed outputHash, bytes output);

    uint256 internal id;

    function setUp() public override {
        super.setUp();
        id = _request(MODEL2, FEE2);
    }

    function test_quorum_fulfillThenAttestFinalisesAndSplitsFee() public {
        vm.expectEmit(address(oracle));
        emit OutputSupplied(id, keccak256(OUTPUT), nodes[0]);
        _fulfill(0, id, OUTPUT);
        assertEq(uint8(_status(id)), uint8(InferenceOracle.Status.Open));
        assertEq(oracle.suppliedOutput(id, keccak256(OUTPUT)), OUTPUT);
        assertTrue(oracle.outputSupplied(id, keccak256(OUTPUT)));
        assertEq(consumer.calls(id), 0);

        vm.expectEmit(address(oracle));
        emit Fulfilled(id, keccak256(OUTPUT), OUTPUT);
        _attest(1, id, OUTPUT);
        assertEq(uint8(_status(id)), uint8(InferenceOracle.Status.Fulfilled));
        assertEq(consumer.outputs(id), OUTPUT);
        // FEE2 is odd: the first voter gets the extra wei; nothing is lost
        assertEq(oracle.balances(nodes[0]), FEE2 / 2 + 1);
        assertEq(oracle.balances(nodes[1]), FEE2 / 2);
        assertEq(oracle.balances(nodes[0]) + oracle.balances(nodes[1]), FEE2);
        assertEq(oracle.suppliedOutput(id, keccak256(OUTPUT)).length, 0); // storage freed
    }

    function test_quorum_secondFullFulfillAlsoCounts() public {
        _fulfill(0, id, OUTPUT);
        _fulfill(1, id, OUTPUT);
        assertEq(uint8(_status(id)), uint8(InferenceOracle.Status.Fulfilled));
        assertEq(consumer.outputs(id), OUTPUT);
        assertEq(oracle.suppliedOutput(id, keccak256(OUTPUT)).length, 0);
    }

    function test_quorum_attestBeforeAnyOutputReverts() public {
        InferenceOracle.Attestation memory a = _att(id, OUTPUT);
        bytes memory sig = _sign(nodeKeys[0], a);
        vm.expectRevert(abi.encodeWithSelector(InferenceOracle.OutputNotSupplied.selector, id, keccak256(OUTPUT)));
        oracle.attest(id, a, sig);
    }

    function test_quorum_attestWithRejectCodeReverts() public {
        _fulfill(0, id, OUTPUT);
        InferenceOracle.Attestation memory a = _att(id, OUTPUT);
        a.rejectCode = 1;
        bytes memory sig = _sign(nodeKeys[1], a);
        vm.expectRevert(abi.encodeWithSelector(InferenceOracle.RejectCodeNotZero.selector, 1));
        oracle.attest(id, a, sig);
    }

    function test_quorum_attestRevertsAfterDeadline() public {
        _fulfill(0, id, OUTPUT);
        vm.warp(block.timestamp + TIMEOUT + 1);
        InferenceOracle.Attestation memory a = _att(id, OUTPUT);
        bytes memory sig = _sign(nodeKeys[1], a);
        vm.expectRevert(
            abi.encodeWithSelector(InferenceOracle.RequestExpired.selector, id, oracle.getRequest(id).deadline)
        );
        oracle.attest(id, a, sig);
    }

    function test_quorum_attestByOutsiderReverts() public {
        _fulfill(0, id, OUTPUT);
        InferenceOracle.Attestation memory a = _att(id, OUTPUT);
        bytes memory sig = _sign(outsiderKey, a);
        vm.expectRevert(abi.encodeWithSelector(InferenceOracle.NotNode.selector, outsider));
        oracle.attest(id, a, sig);
    }

    function test_quorum_nodeCannotVoteTwice() public {
        _fulfill(0, id, OUTPUT);
        InferenceOracle.Attestation memory a = _att(id, OUTPUT);
        bytes memory sig = _sign(nodeKeys[0], a);
        vm.expectRevert(abi.encodeWithSelector(InferenceOracle.AlreadyVoted.selector, id, nodes[0]));
        oracle.attest(id, a, sig);
        vm.expectRevert(abi.encodeWithSelector(InferenceOracle.AlreadyVoted.selector, id, nodes[0]));
        oracle.fulfill(id, OUTPUT, a, sig);
        // nor by changing its answer
        InferenceOracle.Attestation memory b = _rejectAtt(id, 2);
        bytes memory sigB = _sign(nodeKeys[0], b);
        vm.expectRevert(abi.encodeWithSelector(InferenceOracle.AlreadyVoted.selector, id, nodes[0]));
        oracle.reject(id, b, sigB);
        assertEq(oracle.votesFor(id, keccak256(OUTPUT), 0), 1);
    }

    function test_quorum_disagreementIsRecordedAndMajorityWins() public {
        bytes memory lyon = bytes("Lyon");
        _fulfill(0, id, OUTPUT);
        vm.expectEmit(address(oracle));
        emit QuorumDisagreement(id, nodes[1], keccak256(OUTPUT), 0, keccak256(lyon), 0);
        _fulfill(1, id, lyon);
        assertEq(uint8(_status(id)), uint8(InferenceOracle.Status.Open));
        assertEq(oracle.votesFor(id, keccak256(OUTPUT), 0), 1);
        assertEq(oracle.votesFor(id, keccak256(lyon), 0), 1);
        _attest(2, id, lyon);
        assertEq(uint8(_status(id)), uint8(InferenceOracle.Status.Fulfilled));
        assertEq(oracle.getRequest(id).outputHash, keccak256(lyon));
        assertEq(consumer.outputs(id), lyon);
        assertEq(oracle.balances(nodes[0]), 0);
        assertEq(oracle.balances(nodes[1]) + oracle.balances(nodes[2]), FEE2);
    }

    function test_quorum_rejectVersusAnswerIsADisagreement() public {
        _reject(0, id, 2);
        vm.expectEmit(address(oracle));
        emit QuorumDisagreement(id, nodes[1], keccak256(""), 2, keccak256(OUTPUT), 0);
        _fulfill(1, id, OUTPUT);
        _attest(2, id, OUTPUT);
        assertEq(uint8(_status(id)), uint8(InferenceOracle.Status.Fulfilled));
    }

    function test_quorum_removedNodesVoteStopsCounting() public {
        _fulfill(0, id, OUTPUT);
        vm.prank(owner);
        oracle.removeNode(nodes[0]);
        assertEq(oracle.votesFor(id, keccak256(OUTPUT), 0), 0);
        _attest(1, id, OUTPUT);
        assertEq(uint8(_status(id)), uint8(InferenceOracle.Status.Open));
        _attest(2, id, OUTPUT);
        assertEq(uint8(_status(id)), uint8(InferenceOracle.Status.Fulfilled));
        assertEq(oracle.balances(nodes[0]), 0);
        assertEq(oracle.balances(nodes[1]), FEE2 / 2 + 1);
        assertEq(oracle.balances(nodes[2]), FEE2 / 2);
    }

    function test_quorum_rejectNeedsQuorumOfTheSameCode() public {
        _reject(0, id, 2);
        assertEq(uint8(_status(id)), uint8(InferenceOracle.Status.Open));
        _reject(1, id, 3); // a different code: disagreement, not a second vote
        assertEq(uint8(_status(id)), uint8(InferenceOracle.Status.Open));
        _reject(2, id, 2);
        assertEq(uint8(_status(id)), uint8(InferenceOracle.Status.Rejected));
        assertEq(oracle.getRequest(id).rejectCode, 2);
        assertEq(consumer.codes(id), 2);
        assertEq(oracle.balances(address(consumer)), FEE2);
    }

    function test_quorum_splitVotesLeaveItToCancel() public {
        _fulfill(0, id, OUTPUT);
        _fulfill(1, id, bytes("Lyon"));
        _reject(2, id, 6);
        vm.warp(block.timestamp + TIMEOUT + 1);
        vm.prank(address(consumer));
        oracle.cancel(id);
        assertEq(uint8(_status(id)), uint8(InferenceOracle.Status.Cancelled));
        assertEq(oracle.balances(address(consumer)), FEE2);
        // the stored outputs of the losing answers stay readable for auditors
        assertEq(oracle.suppliedOutput(id, keccak256(OUTPUT)), OUTPUT);
    }
}

contract InferenceOracleRejectCancelTest is OracleBase {
    event Rejected(uint256 indexed id, uint16 indexed code);
    event Cancelled(uint256 indexed id);
    event CallbackResult(uint256 indexed id, bool success);

    uint256 internal id;

    function setUp() public override {
        super.setUp();
        id = _request(MODEL, FEE + 7);
    }

    function test_reject_refundsAndTellsConsumer() public {
        vm.expectEmit(address(oracle));
        emit Rejected(id, 4);
        vm.expectEmit(address(oracle));
        emit CallbackResult(id, true);
        _reject(2, id, 4);
        InferenceOracle.Request memory r = oracle.getRequest(id);
        assertEq(uint8(r.status), uint8(InferenceOracle.Status.Rejected));
        assertEq(r.rejectCode, 4);
        assertEq(r.escrow, 0);
        assertEq(consumer.codes(id), 4);
        assertEq(oracle.balances(address(consumer)), FEE + 7);
        assertEq(oracle.balances(nodes[2]), 0);
    }

    function test_reject_revertsCodeZero() public {
        InferenceOracle.Attestation memory a = _rejectAtt(id, 0);
        bytes memory sig = _sign(nodeKeys[0], a);
        vm.expectRevert(InferenceOracle.RejectCodeZero.selector);
        oracle.reject(id, a, sig);
    }

    function test_reject_revertsNonEmptyOutputHash() public {
        InferenceOracle.Attestation memory a = _att(id, OUTPUT);
        a.rejectCode = 1;
        bytes memory sig = _sign(nodeKeys[0], a);
        vm.expectRevert(abi.encodeWithSelector(InferenceOracle.RejectOutputNotEmpty.selector, keccak256(OUTPUT)));
        oracle.reject(id, a, sig);
    }

    function test_reject_revertsOutsider() public {
        InferenceOracle.Attestation memory a = _rejectAtt(id, 1);
        bytes memory sig = _sign(outsiderKey, a);
        vm.expectRevert(abi.encodeWithSelector(InferenceOracle.NotNode.selector, outsider));
        oracle.reject(id, a, sig);
    }

    function test_reject_revertsWrongInputHash() public {
        InferenceOracle.Attestation memory a = _rejectAtt(id, 1);
        a.inputHash = bytes32(0);
        bytes memory sig = _sign(nodeKeys[0], a);
        vm.expectRevert(abi.encodeWithSelector(InferenceOracle.WrongInputHash.selector, keccak256(INPUT), bytes32(0)));
        oracle.reject(id, a, sig);
    }

    function test_reject_revertsAfterDeadline() public {
        vm.warp(block.timestamp + TIMEOUT + 1);
        InferenceOracle.Attestation memory a = _rejectAtt(id, 1);
        bytes memory sig = _sign(nodeKeys[0], a);
        vm.expectRevert(
            abi.encodeWithSelector(InferenceOracle.RequestExpired.selector, id, oracle.getRequest(id).deadline)
        );
        oracle.reject(id, a, sig);
    }

    function test_reject_revertingCallbackDoesNotRevert() public {
        address hostile = address(new RevertingConsumer());
        vm.deal(hostile, 1 ether);
        vm.prank(hostile);
        uint256 hid = oracle.request{value: FEE}(MODEL, "text", INPUT, PARAMS, CB_GAS);
        _reject(0, hid, 5);
        assertEq(uint8(_status(hid)), uint8(InferenceOracle.Status.Rejected));
        assertEq(oracle.balances(hostile), FEE);
    }

    function test_reject_returnBombOnRevertDoesNotRevert() public {
        address hostile = address(new ReturnBombConsumer());
        vm.deal(hostile, 1 ether);
        vm.prank(hostile);
        uint256 hid = oracle.request{value: FEE}(MODEL, "text", INPUT, PARAMS, MAX_CB_GAS);
        InferenceOracle.Attestation memory a = _rejectAtt(hid, 5);
        bytes memory sig = _sign(nodeKeys[0], a);
        oracle.reject{gas: 2_400_000}(hid, a, sig);
        assertEq(uint8(_status(hid)), uint8(InferenceOracle.Status.Rejected));
    }

    function test_cancel_afterDeadlineRefunds() public {
        vm.warp(oracle.getRequest(id).deadline + 1);
        vm.expectEmit(address(oracle));
        emit Cancelled(id);
        vm.prank(address(consumer));
        oracle.cancel(id);
        assertEq(uint8(_status(id)), uint8(InferenceOracle.Status.Cancelled));
        assertEq(oracle.balances(address(consumer)), FEE + 7);
        assertEq(consumer.calls(id), 0); // the requester asked for it: no callback
        // and nothing can answer it any more
        InferenceOracle.Attestation memory a = _att(id, OUTPUT);
        bytes memory sig = _sign(nodeKeys[0], a);
        vm.expectRevert(
            abi.encodeWithSelector(InferenceOracle.RequestNotOpen.selector, id, InferenceOracle.Status.Cancelled)
        );
        oracle.fulfill(id, OUTPUT, a, sig);
    }

    function test_cancel_revertsAtOrBeforeDeadline() public {
        uint64 deadline = oracle.getRequest(id).deadline;
        vm.warp(deadline);
        vm.prank(address(consumer));
        vm.expectRevert(abi.encodeWithSelector(InferenceOracle.RequestNotExpired.selector, id, deadline));
        oracle.cancel(id);
    }

    function test_cancel_revertsForOthers() public {
        vm.warp(block.timestamp + TIMEOUT + 1);
        vm.prank(relayer);
        vm.expectRevert(abi.encodeWithSelector(InferenceOracle.NotRequester.selector, id, relayer));
        oracle.cancel(id);
    }

    function test_cancel_revertsTwice() public {
        vm.warp(block.timestamp + TIMEOUT + 1);
        vm.startPrank(address(consumer));
        oracle.cancel(id);
        vm.expectRevert(
            abi.encodeWithSelector(InferenceOracle.RequestNotOpen.selector, id, InferenceOracle.Status.Cancelled)
        );
        oracle.cancel(id);
        vm.stopPrank();
    }

    function test_cancel_revertsWhenFulfilled() public {
        _fulfill(0, id, OUTPUT);
        vm.warp(block.timestamp + TIMEOUT + 1);
        vm.prank(address(consumer));
        vm.expectRevert(
            abi.encodeWithSelector(InferenceOracle.RequestNotOpen.selector, id, InferenceOracle.Status.Fulfilled)
        );
        oracle.cancel(id);
    }

    function test_withdraw_toAnotherAddress() public {
        _fulfill(0, id, OUTPUT);
        address payable sink = payable(makeAddr("sink"));
        vm.prank(nodes[0]);
        oracle.withdraw(sink);
        assertEq(sink.balance, FEE);
    }

    function test_withdraw_revertsWhenNothingOwed() public {
        vm.prank(nodes[1]);
        vm.expectRevert(abi.encodeWithSelector(InferenceOracle.NothingToWithdraw.selector, nodes[1]));
        oracle.withdraw(payable(nodes[1]));
    }

    function test_withdraw_revertsWhenReceiverRefusesAndKeepsBalance() public {
        _fulfill(0, id, OUTPUT);
        address noReceive = address(new NoReceive());
        vm.prank(nodes[0]);
        vm.expectRevert(abi.encodeWithSelector(InferenceOracle.WithdrawFailed.selector, noReceive, FEE));
        oracle.withdraw(payable(noReceive));
        assertEq(oracle.balances(nodes[0]), FEE);
    }
}

contract InferenceOracleAdminTest is OracleBase {
    event ModelRegistered(bytes32 indexed modelId, bytes32 modelHash, uint16 quorum, uint128 fee, bool active);
    event NodeAdded(address indexed node);
    event NodeRemoved(address indexed node);
    event EngineVersionSet(bytes32 indexed engineVersion, bool accepted);

    function test_admin_onlyOwner() public {
        bytes memory err = abi.encodeWithSelector(Ownable.OwnableUnauthorizedAccount.selector, relayer);
        vm.startPrank(relayer);
        vm.expectRevert(err);
        oracle.registerModel("m", MODEL_HASH, 1, 0, true);
        vm.expectRevert(err);
        oracle.addNode(relayer);
        vm.expectRevert(err);
        oracle.removeNode(nodes[0]);
        vm.expectRevert(err);
        oracle.setEngineVersion("x", true);
        vm.expectRevert(err);
        oracle.setRequestTimeout(5);
        vm.expectRevert(err);
        oracle.setMaxCallbackGasLimit(5);
        vm.stopPrank();
    }

    function test_admin_registerModel() public {
        vm.expectEmit(address(oracle));
        emit ModelRegistered("m", MODEL_HASH, 3, 42, true);
        vm.prank(owner);
        oracle.registerModel("m", MODEL_HASH, 3, 42, true);
        (bytes32 h, uint128 fee, uint16 q, bool active) = oracle.models("m");
        assertEq(h, MODEL_HASH);
        assertEq(fee, 42);
        assertEq(q, 3);
        assertTrue(active);
    }

    function test_admin_registerModelReverts() public {
        vm.startPrank(owner);
        vm.expectRevert(InferenceOracle.InvalidModel.selector);
        oracle.registerModel(bytes32(0), MODEL_HASH, 1, 0, true);
        vm.expectRevert(InferenceOracle.InvalidModel.selector);
        oracle.registerModel("m", bytes32(0), 1, 0, true);
        vm.expectRevert(abi.encodeWithSelector(InferenceOracle.InvalidQuorum.selector, 0));
        oracle.registerModel("m", MODEL_HASH, 0, 0, true);
        vm.expectRevert(abi.encodeWithSelector(InferenceOracle.InvalidQuorum.selector, 17));
        oracle.registerModel("m", MODEL_HASH, 17, 0, true);
        vm.stopPrank();
    }

    function test_admin_nodes() public {
        address n = makeAddr("n");
        vm.startPrank(owner);
        vm.expectEmit(address(oracle));
        emit NodeAdded(n);
        oracle.addNode(n);
        assertTrue(oracle.isNode(n));
        assertEq(oracle.nodeCount(), 4);
        vm.expectRevert(abi.encodeWithSelector(InferenceOracle.NodeAlreadyRegistered.selector, n));
        oracle.addNode(n);
        vm.expectRevert(abi.encodeWithSelector(InferenceOracle.InvalidNode.selector, address(0)));
        oracle.addNode(address(0));
        vm.expectEmit(address(oracle));
        emit NodeRemoved(n);
        oracle.removeNode(n);
        assertFalse(oracle.isNode(n));
        assertEq(oracle.nodeCount(), 3);
        vm.expectRevert(abi.encodeWithSelector(InferenceOracle.NodeNotRegistered.selector, n));
        oracle.removeNode(n);
        vm.stopPrank();
    }

    function test_admin_engineVersion() public {
        assertTrue(oracle.acceptedEngineVersion("sibyl-arith-1"));
        uint256 id = _request(MODEL, FEE);
        vm.expectEmit(address(oracle));
        emit EngineVersionSet("sibyl-arith-2", true);
        vm.startPrank(owner);
        oracle.setEngineVersion("sibyl-arith-2", true);
        oracle.setEngineVersion("sibyl-arith-1", false);
        vm.stopPrank();
        InferenceOracle.Attestation memory a = _att(id, OUTPUT);
        bytes memory sig = _sign(nodeKeys[0], a);
        vm.expectRevert(abi.encodeWithSelector(InferenceOracle.EngineVersionNotAccepted.selector, ENGINE));
        oracle.fulfill(id, OUTPUT, a, sig);
        a.engineVersion = "sibyl-arith-2";
        oracle.fulfill(id, OUTPUT, a, _sign(nodeKeys[0], a));
        assertEq(uint8(_status(id)), uint8(InferenceOracle.Status.Fulfilled));
    }

    function test_admin_timeouts() public {
        vm.startPrank(owner);
        vm.expectRevert(abi.encodeWithSelector(InferenceOracle.InvalidTimeout.selector, 0));
        oracle.setRequestTimeout(0);
        vm.expectRevert(abi.encodeWithSelector(InferenceOracle.InvalidTimeout.selector, 365 days + 1));
        oracle.setRequestTimeout(365 days + 1);
        oracle.setRequestTimeout(60);
        vm.expectRevert(abi.encodeWithSelector(InferenceOracle.InvalidCallbackGasLimit.selector, 15_000_001));
        oracle.setMaxCallbackGasLimit(15_000_001);
        oracle.setMaxCallbackGasLimit(100);
        vm.stopPrank();
        assertEq(oracle.requestTimeout(), 60);
        assertEq(oracle.maxCallbackGasLimit(), 100);
        uint256 id = consumer.ask{value: FEE}(MODEL, INPUT, PARAMS, 100);
        assertEq(oracle.getRequest(id).deadline, block.timestamp + 60);
    }

    function test_admin_constructorRejectsBadSettings() public {
        vm.expectRevert(abi.encodeWithSelector(InferenceOracle.InvalidTimeout.selector, 0));
        new InferenceOracle(owner, 0, 1);
        vm.expectRevert(abi.encodeWithSelector(Ownable.OwnableInvalidOwner.selector, address(0)));
        new InferenceOracle(address(0), 1, 1);
    }

    function test_admin_twoStepOwnership() public {
        address next = makeAddr("next");
        vm.prank(owner);
        oracle.transferOwnership(next);
        assertEq(oracle.owner(), owner);
        vm.prank(next);
        oracle.acceptOwnership();
        assertEq(oracle.owner(), next);
    }

    function test_views_domain() public view {
        (, string memory name, string memory version, uint256 chainId, address verifying,,) = oracle.eip712Domain();
        assertEq(name, "SibylInferenceOracle");
        assertEq(version, "1");
        assertEq(chainId, block.chainid);
        assertEq(verifying, address(oracle));
        InferenceOracle.Attestation memory a = _att(0, OUTPUT);
        assertEq(oracle.attestationDigest(a), _digest(a, block.chainid, address(oracle)));
        assertEq(
            oracle.ATTESTATION_TYPEHASH(),
            keccak256(
                "Attestation(uint256 requestId,bytes32 modelHash,bytes32 inputHash,bytes32 paramsHash,bytes32 outputHash,uint256 seed,bytes32 engineVersion,uint16 rejectCode)"
            )
        );
        assertEq(oracle.EMPTY_OUTPUT_HASH(), keccak256(""));
    }
}
