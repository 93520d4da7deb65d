// SPDX-License-Identifier: MIT
pragma solidity ^0.8.27;

import {Script, console} from "forge-std/Script.sol";
import {InferenceOracle} from "../src/InferenceOracle.sol";
import {ExampleConsumer} from "../src/examples/ExampleConsumer.sol";
import {ChatConsumer} from "../src/examples/ChatConsumer.sol";
import {ChoiceConsumer} from "../src/examples/ChoiceConsumer.sol";
import {NumberConsumer} from "../src/examples/NumberConsumer.sol";
import {BoolConsumer} from "../src/examples/BoolConsumer.sol";
import {JsonConsumer} from "../src/examples/JsonConsumer.sol";

/// @title Deploy: InferenceOracle (+ nodes, one model), an ExampleConsumer (kind text) and one
/// typed consumer per other request kind, from env vars
/// @notice From contracts/ (anvil's account 0 as deployer):
///   NODES=0x70997970C51812dc3A010C7d01b50e0d17dc79C8 MODEL_ID=diffusiongemma-tiny \
///   MODEL_HASH=0x<sha256 of the GGUF> MODEL_FEE=1000000000000000 \
///   node_modules/.bin/forge script script/Deploy.s.sol:Deploy --rpc-url http://127.0.0.1:8545 \
///     --private-key 0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80 --broadcast
/// Prints one "NAME ADDRESS" line per contract (`InferenceOracle 0x...`, `ExampleConsumer 0x...`,
/// `ChatConsumer 0x...`, `ChoiceConsumer`, `NumberConsumer`, `BoolConsumer`, `JsonConsumer`).
///
/// Variables (all optional):
///   REQUEST_TIMEOUT      seconds a request stays open            (3600)
///   MAX_CALLBACK_GAS     the largest callbackGasLimit allowed     (2000000)
///   ENGINE_VERSION       an extra accepted profile name           (none; sibyl-arith-1 is always in)
///   NODES                comma-separated node addresses           (none)
///   MODEL_ID             model name, ASCII <= 32 bytes            (no model registered)
///   MODEL_HASH           bytes32, sha256 of the GGUF file         (required with MODEL_ID)
///   MODEL_FEE            wei per request                          (0)
///   MODEL_QUORUM         k                                        (1)
///   DEPLOY_CONSUMER      false to skip the ExampleConsumer        (true)
///   CONSUMER_ADAPTER     ASCII adapter name for ask(string)       ("text")
///   CONSUMER_PARAMS      hex bytes params for ask(string)         (empty)
///   CONSUMER_CALLBACK_GAS callbackGasLimit for ask(string)        (500000)
///   DEPLOY_KIND_CONSUMERS false to skip the typed consumers      (true)
///   KIND_PARAMS          hex bytes params of the typed consumers  (CONSUMER_PARAMS)
///   KIND_CALLBACK_GAS    their callbackGasLimit                   (1500000: JsonConsumer's worst case)
///   ORACLE_OWNER         hand ownership over (Ownable2Step: that address must call acceptOwnership)
contract Deploy is Script {
    struct Deployed {
        InferenceOracle oracle;
        ExampleConsumer consumer;
        ChatConsumer chat;
        ChoiceConsumer choice;
        NumberConsumer number;
        BoolConsumer yesno;
        JsonConsumer json;
    }

    function run() external returns (Deployed memory d) {
        vm.startBroadcast();
        (, address deployer,) = vm.readCallers();
        d.oracle = new InferenceOracle(
            deployer,
            uint64(vm.envOr("REQUEST_TIMEOUT", uint256(3600))),
            uint32(vm.envOr("MAX_CALLBACK_GAS", uint256(2_000_000)))
        );
        string memory engine = vm.envOr("ENGINE_VERSION", string(""));
        if (bytes(engine).length != 0) d.oracle.setEngineVersion(toBytes32(engine), true);

        address[] memory nodes = vm.envOr("NODES", ",", new address[](0));
        for (uint256 i; i < nodes.length; ++i) {
            d.oracle.addNode(nodes[i]);
        }

        string memory modelName = vm.envOr("MODEL_ID", string(""));
        bytes32 modelId = bytes(modelName).length == 0 ? bytes32(0) : toBytes32(modelName);
        if (modelId != bytes32(0)) {
            d.oracle
                .registerModel(
                    modelId,
                    vm.envBytes32("MODEL_HASH"),
                    uint16(vm.envOr("MODEL_QUORUM", uint256(1))),
                    uint128(vm.envOr("MODEL_FEE", uint256(0))),
                    true
                );
        }

        if (vm.envOr("DEPLOY_CONSUMER", true)) {
            d.consumer = new ExampleConsumer(
                d.oracle,
                modelId,
                toBytes32(vm.envOr("CONSUMER_ADAPTER", string("text"))),
                vm.envOr("CONSUMER_PARAMS", bytes("")),
                uint32(vm.envOr("CONSUMER_CALLBACK_GAS", uint256(500_000)))
            );
        }

        if (vm.envOr("DEPLOY_KIND_CONSUMERS", true)) _deployKindConsumers(d, modelId);

        address newOwner = vm.envOr("ORACLE_OWNER", address(0));
        if (newOwner != address(0) && newOwner != deployer) d.oracle.transferOwnership(newOwner);
        vm.stopBroadcast();

        console.log("InferenceOracle", address(d.oracle));
        if (address(d.consumer) != address(0)) console.log("ExampleConsumer", address(d.consumer));
        if (address(d.chat) != address(0)) {
            console.log("ChatConsumer", address(d.chat));
            console.log("ChoiceConsumer", address(d.choice));
            console.log("NumberConsumer", address(d.number));
            console.log("BoolConsumer", address(d.yesno));
            console.log("JsonConsumer", address(d.json));
        }
    }

    /// One consumer per typed kind, all with the same model, params and callback gas.
    function _deployKindConsumers(Deployed memory d, bytes32 modelId) private {
        bytes memory p = vm.envOr("KIND_PARAMS", vm.envOr("CONSUMER_PARAMS", bytes("")));
        uint32 gasLimit = uint32(vm.envOr("KIND_CALLBACK_GAS", uint256(1_500_000)));
        d.chat = new ChatConsumer(d.oracle, modelId, p, gasLimit);
        d.choice = new ChoiceConsumer(d.oracle, modelId, p, gasLimit);
        d.number = new NumberConsumer(d.oracle, modelId, p, gasLimit);
        d.yesno = new BoolConsumer(d.oracle, modelId, p, gasLimit);
        d.json = new JsonConsumer(d.oracle, modelId, p, gasLimit);
    }

    /// ASCII name, left-aligned and zero-padded (the on-chain form of model ids, adapters and
    /// engine versions).
    function toBytes32(string memory s) public pure returns (bytes32 out) {
        bytes memory b = bytes(s);
        require(b.length <= 32, "Deploy: name longer than 32 bytes");
        assembly {
            out := mload(add(b, 32))
        }
        // clear whatever followed the string in memory
        if (b.length < 32) out &= ~bytes32(type(uint256).max >> (8 * b.length));
    }
}
