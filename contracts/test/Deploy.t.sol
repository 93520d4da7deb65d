// SPDX-License-Identifier: MIT
pragma solidity ^0.8.27;

import {Test} from "forge-std/Test.sol";
import {Deploy} from "../script/Deploy.s.sol";
import {InferenceOracle} from "../src/InferenceOracle.sol";
import {KindConsumerBase} from "../src/examples/KindConsumerBase.sol";

/// The deploy script as the demo runs it, from the same environment variables.
contract DeployScriptTest is Test {
    Deploy internal script;

    function setUp() public {
        script = new Deploy();
    }

    function test_deploy_fromEnvironment() public {
        address n1 = makeAddr("n1");
        address n2 = makeAddr("n2");
        vm.setEnv("NODES", string.concat(vm.toString(n1), ",", vm.toString(n2)));
        vm.setEnv("MODEL_ID", "diffusiongemma-tiny");
        vm.setEnv("MODEL_HASH", vm.toString(sha256("gguf")));
        vm.setEnv("MODEL_FEE", "1000");
        vm.setEnv("MODEL_QUORUM", "2");
        vm.setEnv("REQUEST_TIMEOUT", "120");
        vm.setEnv("CONSUMER_PARAMS", "0x0102");
        Deploy.Deployed memory d = script.run();
        InferenceOracle oracle = d.oracle;
        assertTrue(oracle.isNode(n1));
        assertTrue(oracle.isNode(n2));
        assertEq(oracle.nodeCount(), 2);
        assertEq(oracle.requestTimeout(), 120);
        (bytes32 h, uint128 fee, uint16 q, bool active) = oracle.models("diffusiongemma-tiny");
        assertEq(h, sha256("gguf"));
        assertEq(fee, 1000);
        assertEq(q, 2);
        assertTrue(active);
        assertEq(d.consumer.modelId(), bytes32("diffusiongemma-tiny"));
        assertEq(d.consumer.adapter(), bytes32("text"));
        assertEq(d.consumer.params(), hex"0102");
        assertEq(d.consumer.callbackGasLimit(), 500_000);
        assertEq(address(d.consumer.oracle()), address(oracle));
        // the typed consumers: one per kind, the consumer's params, 1.5M callback gas
        address[5] memory typed =
            [address(d.chat), address(d.choice), address(d.number), address(d.yesno), address(d.json)];
        bytes32[5] memory kinds = [bytes32("chat"), "choice", "number", "bool", "json"];
        for (uint256 k; k < 5; ++k) {
            KindConsumerBase c = KindConsumerBase(typed[k]);
            assertEq(c.kind(), kinds[k]);
            assertEq(address(c.oracle()), address(oracle));
            assertEq(c.modelId(), bytes32("diffusiongemma-tiny"));
            assertEq(c.params(), hex"0102");
            assertEq(c.callbackGasLimit(), 1_500_000);
        }

        // their own settings, or none of them (one test function: the environment is shared by
        // tests that run in parallel)
        vm.setEnv("KIND_PARAMS", "0x03");
        vm.setEnv("KIND_CALLBACK_GAS", "700000");
        vm.setEnv("NODES", "");
        d = script.run();
        assertEq(d.number.params(), hex"03");
        assertEq(d.json.callbackGasLimit(), 700_000);
        vm.setEnv("DEPLOY_KIND_CONSUMERS", "false");
        d = script.run();
        assertEq(address(d.chat), address(0));
        assertEq(address(d.json), address(0));
        assertTrue(address(d.consumer) != address(0));
    }

    function test_deploy_toBytes32IsLeftAligned() public view {
        assertEq(script.toBytes32("text"), bytes32("text"));
        assertEq(script.toBytes32(""), bytes32(0));
        assertEq(script.toBytes32("sibyl-arith-1"), bytes32("sibyl-arith-1"));
        assertEq(script.toBytes32("0123456789abcdef0123456789abcdef"), bytes32("0123456789abcdef0123456789abcdef"));
    }

    function test_deploy_rejectsLongNames() public {
        vm.expectRevert("Deploy: name longer than 32 bytes");
        script.toBytes32("0123456789abcdef0123456789abcdef!");
    }
}
