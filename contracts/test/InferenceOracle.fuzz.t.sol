// SPDX-License-Identifier: MIT
pragma solidity ^0.8.27;

import {InferenceOracle} from "../src/InferenceOracle.sol";
import {IInferenceConsumer} from "../src/interfaces/IInferenceConsumer.sol";
import {OracleBase} from "./OracleBase.sol";

/// @dev Burns exactly as much as it is given, and records how much that was.
contract GasProbeConsumer is IInferenceConsumer {
    uint256 public seen;

    function onInferenceResult(uint256, bytes calldata) external {
        seen = gasleft();
    }

    function onInferenceRejected(uint256, uint16) external {
        seen = gasleft();
    }
}

/// Fuzz tests: properties over random fees, quorums, outputs, times, keys and field changes.
contract InferenceOracleFuzzTest is OracleBase {
    function testFuzz_request_escrowPlusCreditIsWhatWasPaid(uint128 fee, uint96 extra) public {
        vm.prank(owner);
        oracle.registerModel("f", MODEL_HASH, 1, fee, true);
        uint256 value = uint256(fee) + extra;
        vm.deal(address(this), value);
        uint256 id = consumer.ask{value: value}("f", INPUT, PARAMS, CB_GAS);
        assertEq(oracle.getRequest(id).escrow, fee);
        assertEq(oracle.balances(address(consumer)), extra);
        assertEq(address(oracle).balance, value);
    }

    function testFuzz_request_feeBelowModelFeeReverts(uint128 fee, uint128 paid) public {
        vm.assume(paid < fee);
        vm.prank(owner);
        oracle.registerModel("f", MODEL_HASH, 1, fee, true);
        vm.deal(address(this), paid);
        vm.expectRevert(abi.encodeWithSelector(InferenceOracle.FeeTooLow.selector, fee, paid));
        consumer.ask{value: paid}("f", INPUT, PARAMS, CB_GAS);
    }

    /// k of up to 16 nodes: the request finalises exactly at the k-th agreeing vote and the fee
    /// is split to the wei (the remainder to the first voter).
    function testFuzz_quorum_feeSplitIsExact(uint8 kRaw, uint128 fee) public {
        uint16 k = uint16(bound(kRaw, 1, 16));
        uint256[] memory keys = new uint256[](k);
        vm.startPrank(owner);
        for (uint256 i; i < k; ++i) {
            keys[i] = uint256(keccak256(abi.encode("fuzz node", i))) % (2 ** 200) + 1;
            address n = vm.addr(keys[i]);
            if (!oracle.isNode(n)) oracle.addNode(n);
        }
        oracle.registerModel("q", MODEL_HASH, k, fee, true);
        vm.stopPrank();
        vm.deal(address(this), fee);
        uint256 id = consumer.ask{value: fee}("q", INPUT, PARAMS, CB_GAS);

        InferenceOracle.Attestation memory a = _att(id, OUTPUT);
        oracle.fulfill(id, OUTPUT, a, _sign(keys[0], a));
        for (uint256 i = 1; i < k; ++i) {
            assertEq(uint8(_status(id)), uint8(InferenceOracle.Status.Open));
            oracle.attest(id, a, _sign(keys[i], a));
        }
        assertEq(uint8(_status(id)), uint8(InferenceOracle.Status.Fulfilled));
        assertEq(consumer.outputs(id), OUTPUT);
        uint256 total;
        for (uint256 i; i < k; ++i) {
            uint256 got = oracle.balances(vm.addr(keys[i]));
            assertGe(got, fee / k);
            assertLe(got, fee / k + (i == 0 ? fee % k : 0));
            total += got;
        }
        assertEq(total, fee);
        assertEq(address(oracle).balance, fee);
    }

    function testFuzz_fulfill_outputDeliveredIntact(bytes calldata output) public {
        uint256 id = _request(MODEL, FEE);
        InferenceOracle.Attestation memory a = _att(id, output);
        oracle.fulfill(id, output, a, _sign(nodeKeys[1], a));
        assertEq(consumer.outputs(id), output);
        assertEq(oracle.getRequest(id).outputHash, keccak256(output));
    }

    /// Changing any one field of a signed attestation (and keeping the signature) is refused.
    function testFuzz_fulfill_anyAlteredFieldIsRefused(uint8 field, bytes32 noise) public {
        vm.assume(noise != bytes32(0));
        uint256 id = _request(MODEL, FEE);
        InferenceOracle.Attestation memory a = _att(id, OUTPUT);
        bytes memory sig = _sign(nodeKeys[0], a);
        field = uint8(bound(field, 0, 6));
        bytes memory output = OUTPUT;
        if (field == 0) a.requestId ^= uint256(noise);
        if (field == 1) a.modelHash ^= noise;
        if (field == 2) a.inputHash ^= noise;
        if (field == 3) a.paramsHash ^= noise;
        if (field == 4) {
            output = abi.encodePacked(noise);
            a.outputHash = keccak256(output);
        }
        if (field == 5) a.seed ^= uint256(noise);
        if (field == 6) a.engineVersion ^= noise;
        vm.expectRevert();
        oracle.fulfill(id, output, a, sig);
        // the honest one still goes through
        InferenceOracle.Attestation memory good = _att(id, OUTPUT);
        oracle.fulfill(id, OUTPUT, good, _sign(nodeKeys[0], good));
    }

    /// Any key that is not a registered node is refused, whatever it signs.
    function testFuzz_fulfill_unregisteredKeyRefused(uint256 key) public {
        key = bound(key, 1, 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364140);
        address signer = vm.addr(key);
        vm.assume(!oracle.isNode(signer));
        uint256 id = _request(MODEL, FEE);
        InferenceOracle.Attestation memory a = _att(id, OUTPUT);
        vm.expectRevert(abi.encodeWithSelector(InferenceOracle.NotNode.selector, signer));
        oracle.fulfill(id, OUTPUT, a, _sign(key, a));
    }

    function testFuzz_fulfill_otherChainOrContractRefused(uint64 chainId, address verifying) public {
        vm.assume(chainId != block.chainid || verifying != address(oracle));
        uint256 id = _request(MODEL, FEE);
        InferenceOracle.Attestation memory a = _att(id, OUTPUT);
        bytes memory sig = _signFor(nodeKeys[0], a, chainId, verifying);
        (bool ok, bytes memory ret) = address(oracle).call(abi.encodeCall(oracle.fulfill, (id, OUTPUT, a, sig)));
        assertFalse(ok);
        assertEq(bytes4(ret), InferenceOracle.NotNode.selector);
    }

    /// Answers are accepted up to and including the deadline; cancel only after it.
    function testFuzz_deadline_splitsFulfilAndCancel(uint32 dt) public {
        uint256 id = _request(MODEL, FEE);
        uint64 deadline = oracle.getRequest(id).deadline;
        vm.warp(block.timestamp + dt);
        InferenceOracle.Attestation memory a = _att(id, OUTPUT);
        bytes memory sig = _sign(nodeKeys[0], a);
        if (block.timestamp <= deadline) {
            vm.prank(address(consumer));
            vm.expectRevert(abi.encodeWithSelector(InferenceOracle.RequestNotExpired.selector, id, deadline));
            oracle.cancel(id);
            oracle.fulfill(id, OUTPUT, a, sig);
            assertEq(uint8(_status(id)), uint8(InferenceOracle.Status.Fulfilled));
        } else {
            vm.expectRevert(abi.encodeWithSelector(InferenceOracle.RequestExpired.selector, id, deadline));
            oracle.fulfill(id, OUTPUT, a, sig);
            vm.prank(address(consumer));
            oracle.cancel(id);
            assertEq(oracle.balances(address(consumer)), FEE);
        }
    }

    /// Whatever callbackGasLimit the request asked for, the callee gets all of it or the
    /// fulfilment reverts (never a short-changed callback that counts as delivered).
    function testFuzz_callback_getsItsWholeLimit(uint32 limit, uint32 txGas) public {
        // from 100k up, a callee short-changed by the 63/64 rule would miss >= 1562 gas: more
        // than the <= 1000 gas of its own dispatch that the check below tolerates
        limit = uint32(bound(limit, 100_000, MAX_CB_GAS));
        txGas = uint32(bound(txGas, 100_000, 3_000_000));
        GasProbeConsumer probe = new GasProbeConsumer();
        vm.deal(address(probe), 1 ether);
        vm.prank(address(probe));
        uint256 id = oracle.request{value: FEE}(MODEL, "text", INPUT, PARAMS, limit);
        InferenceOracle.Attestation memory a = _att(id, OUTPUT);
        bytes memory sig = _sign(nodeKeys[0], a);
        (bool ok,) = address(oracle).call{gas: txGas}(abi.encodeCall(oracle.fulfill, (id, OUTPUT, a, sig)));
        if (ok) {
            assertEq(uint8(_status(id)), uint8(InferenceOracle.Status.Fulfilled));
            // the probe's gasleft() sees its limit minus its dispatch and calldata decoding;
            // 0 means the callback ran out of gas before writing, which also needs the full limit
            uint256 seen = probe.seen();
            if (seen != 0) {
                assertLe(seen, limit);
                assertGe(seen + 1000, limit);
            }
        } else {
            assertEq(uint8(_status(id)), uint8(InferenceOracle.Status.Open));
        }
    }

    function testFuzz_reject_anyNonZeroCodeRefundsAll(uint16 code, uint96 extra) public {
        vm.assume(code != 0);
        vm.deal(address(this), uint256(FEE) + extra);
        uint256 id = _request(MODEL, uint256(FEE) + extra);
        _reject(0, id, code);
        assertEq(consumer.codes(id), code);
        assertEq(oracle.balances(address(consumer)), uint256(FEE) + extra);
        assertEq(oracle.getRequest(id).rejectCode, code);
    }
}
