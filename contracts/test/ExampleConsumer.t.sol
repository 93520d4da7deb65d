// SPDX-License-Identifier: MIT
pragma solidity ^0.8.27;

import {InferenceOracle} from "../src/InferenceOracle.sol";
import {ExampleConsumer} from "../src/examples/ExampleConsumer.sol";
import {OracleBase} from "./OracleBase.sol";

/// The example consumer, driven the way the demo drives it with cast.
contract ExampleConsumerTest is OracleBase {
    ExampleConsumer internal example;
    address internal user = makeAddr("user");

    function setUp() public override {
        super.setUp();
        example = new ExampleConsumer(oracle, MODEL, "text", PARAMS, CB_GAS);
        vm.deal(user, 5 ether);
    }

    function _ask() internal returns (uint256 id) {
        vm.prank(user);
        id = example.ask{value: FEE}(string(INPUT));
    }

    function test_example_askAndAnswer() public {
        uint256 id = _ask();
        assertEq(example.lastRequestId(), id);
        (ExampleConsumer.State state,, address asker,) = example.answers(id);
        assertEq(uint8(state), uint8(ExampleConsumer.State.Pending));
        assertEq(asker, user);
        InferenceOracle.Request memory r = oracle.getRequest(id);
        assertEq(r.requester, address(example));
        assertEq(r.inputHash, keccak256(INPUT));
        assertEq(r.paramsHash, keccak256(PARAMS));

        _fulfill(0, id, OUTPUT);
        (state,,,) = example.answers(id);
        assertEq(uint8(state), uint8(ExampleConsumer.State.Answered));
        assertEq(example.answerText(id), "Paris");
        assertEq(example.answerOf(id), OUTPUT);
        assertEq(example.answeredCount(), 1);
    }

    function test_example_askMany() public {
        string[] memory prompts = new string[](3);
        prompts[0] = "one";
        prompts[1] = "two";
        prompts[2] = "three";
        vm.prank(user);
        uint256 first = example.askMany{value: 3 * FEE}(prompts);
        assertEq(example.lastRequestId(), first + 2);
        for (uint256 i; i < 3; ++i) {
            (ExampleConsumer.State state,, address asker,) = example.answers(first + i);
            assertEq(uint8(state), uint8(ExampleConsumer.State.Pending));
            assertEq(asker, user);
            InferenceOracle.Request memory r = oracle.getRequest(first + i);
            assertEq(r.requester, address(example));
            assertEq(r.inputHash, keccak256(bytes(prompts[i])));
            assertEq(r.escrow, FEE);
        }
        vm.prank(user);
        vm.expectRevert(abi.encodeWithSelector(ExampleConsumer.ValueNotSplittable.selector, 3 * FEE + 1, 3));
        example.askMany{value: 3 * FEE + 1}(prompts);
        vm.prank(user);
        vm.expectRevert(abi.encodeWithSelector(ExampleConsumer.ValueNotSplittable.selector, 0, 0));
        example.askMany(new string[](0));
    }

    function test_example_askWith() public {
        vm.prank(user);
        uint256 id = example.askWith{value: FEE2}(MODEL2, "number", hex"01", hex"02", 90_000);
        InferenceOracle.Request memory r = oracle.getRequest(id);
        assertEq(r.modelId, MODEL2);
        assertEq(r.callbackGasLimit, 90_000);
        assertEq(r.inputHash, keccak256(hex"01"));
    }

    function test_example_rejectAndRefund() public {
        uint256 id = _ask();
        _reject(1, id, 2);
        (ExampleConsumer.State state, uint16 code,,) = example.answers(id);
        assertEq(uint8(state), uint8(ExampleConsumer.State.Rejected));
        assertEq(code, 2);
        assertEq(example.rejectedCount(), 1);
        address payable sink = payable(makeAddr("sink"));
        example.withdrawRefunds(sink); // the test contract deployed it: owner
        assertEq(sink.balance, FEE);
    }

    function test_example_onlyOracleMayAnswer() public {
        uint256 id = _ask();
        vm.expectRevert(abi.encodeWithSelector(ExampleConsumer.NotOracle.selector, address(this)));
        example.onInferenceResult(id, "forged");
        vm.expectRevert(abi.encodeWithSelector(ExampleConsumer.NotOracle.selector, address(this)));
        example.onInferenceRejected(id, 1);
    }

    function test_example_unknownIdFromOracleReverts() public {
        vm.prank(address(oracle));
        vm.expectRevert(abi.encodeWithSelector(ExampleConsumer.UnknownRequest.selector, 42));
        example.onInferenceResult(42, "x");
    }

    function test_example_ownerOnlySettings() public {
        vm.prank(user);
        vm.expectRevert(abi.encodeWithSelector(ExampleConsumer.NotOwner.selector, user));
        example.configure(MODEL2, "number", "", 1);
        vm.prank(user);
        vm.expectRevert(abi.encodeWithSelector(ExampleConsumer.NotOwner.selector, user));
        example.withdrawRefunds(payable(user));
        example.configure(MODEL2, "number", hex"aa", 1234);
        assertEq(example.modelId(), MODEL2);
        assertEq(example.adapter(), bytes32("number"));
        assertEq(example.params(), hex"aa");
        assertEq(example.callbackGasLimit(), 1234);
    }
}
