// SPDX-License-Identifier: MIT
pragma solidity ^0.8.27;

import {Test} from "forge-std/Test.sol";
import {InferenceOracle} from "../src/InferenceOracle.sol";

/// The fixed EIP-712 vector that the C attestation code (eth helper) tests against; the same
/// numbers are in docs/protocol.md ("Test vector"). Every constant below was also computed outside
/// forge, with `cast keccak` / `cast abi-encode` for the hashes and `cast wallet sign --data` (an
/// independent EIP-712 implementation) for the signatures. The request is real: the oracle is
/// placed where the first contract deployed by anvil's account 0 lands, on chain 31337, and the
/// seed comes out of the contract's own formula.
contract AttestationVectorTest is Test {
    address constant ORACLE_ADDR = 0x5FbDB2315678afecb367f032d93F642f64180aa3;
    uint256 constant CHAIN_ID = 31337;
    // anvil's account 0 (a well-known test key)
    uint256 constant NODE_KEY = 0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80;
    address constant NODE = 0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266;

    // request 1: model "vector-model", input "What is the capital of France?", empty params,
    // made in block 2 whose parent hash is keccak256("sibyl block 1")
    bytes32 constant PARENT_HASH = 0x6ba36a874651a86a1d7248c32dd68e2d285ca1539b91268b407de40514bd3aac;
    bytes32 constant MODEL_HASH = 0x68ce3354038bb7c0ab22f2a32f1f8fb79758277f17270784c9b783eafa3bf4dc; // sha256("sibyl test model")
    bytes32 constant INPUT_HASH = 0x8509974b1782e5f11bc2bea2973802345c5d50a9199bdc39fcd6ff817a1b1eef;
    bytes32 constant PARAMS_HASH = 0xc5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470; // keccak256("")
    bytes32 constant OUTPUT_HASH = 0x90a894675cfa858465214570edc881aeb6a199b8fc3e79cb33a5099da2d7cd44; // keccak256("Paris")
    uint256 constant SEED = 0x19b58184ba28b3f9c26393a37e043658524e5dcafcde007ac15968b2194c8576;
    uint64 constant ENGINE_SEED = 0xc15968b2194c8576; // the low 64 bits the engine uses
    bytes32 constant ENGINE_VERSION = 0x736962796c2d61726974682d3100000000000000000000000000000000000000;

    bytes32 constant TYPEHASH = 0x87aaa3dd27f0c301b06280783998f55060600fe3fbb9f9511304c96639559044;
    bytes32 constant DOMAIN_SEPARATOR = 0x6a2acde29cb3ec976fe7b0bb70e8646f7bcd27a782811afadd3f32805f9717b4;

    bytes32 constant FULFIL_STRUCT_HASH = 0x33320f6bd44f717ad1dbd46c5caf64444a9efe668ce44ead97f2575aceee6a35;
    bytes32 constant FULFIL_DIGEST = 0x8c4a96cd775003d9fcdb378e19089e9b1af5910dab7dc2a065ccbe0c85e388c4;
    bytes constant FULFIL_SIG =
        hex"9d7e1768eba683cd603f9ebd659f40415b64ce0eeecdc859b10e148d3acfb3a44f1c8873f3c0afdd354849b9719b9f8ab6f925323c25ad3a5e6488bbd4d1951a1c";

    // the same request rejected with code 2 (input too long): outputHash = keccak256("")
    bytes32 constant REJECT_DIGEST = 0xbc25fb98c354bebc1159bc5613814dab58d46468d0c1df30cb3ac7e8bce15176;
    bytes constant REJECT_SIG =
        hex"6d9636ba43fd87e78775f41295a97549911fb10173fa0fddaf826cf1d74eb28d0f8e99398adfff488bca44c509fa3e065ee2fe8e19298165f3ec0f87d2f3e1621b";

    InferenceOracle oracle;
    address requester = makeAddr("requester");

    function setUp() public {
        vm.chainId(CHAIN_ID);
        vm.roll(2);
        vm.setBlockhash(1, PARENT_HASH);
        address owner = makeAddr("owner");
        deployCodeTo(
            "InferenceOracle.sol:InferenceOracle", abi.encode(owner, uint64(3600), uint32(500_000)), ORACLE_ADDR
        );
        oracle = InferenceOracle(ORACLE_ADDR);
        vm.startPrank(owner);
        oracle.addNode(NODE);
        oracle.registerModel("vector-model", MODEL_HASH, 1, 1 gwei, true);
        vm.stopPrank();
        vm.deal(requester, 1 ether);
        vm.prank(requester);
        oracle.request{value: 1 gwei}("vector-model", "text", bytes("What is the capital of France?"), "", 100_000);
    }

    function _fulfilAtt() internal pure returns (InferenceOracle.Attestation memory) {
        return InferenceOracle.Attestation({
            requestId: 1,
            modelHash: MODEL_HASH,
            inputHash: INPUT_HASH,
            paramsHash: PARAMS_HASH,
            outputHash: OUTPUT_HASH,
            seed: SEED,
            engineVersion: ENGINE_VERSION,
            rejectCode: 0
        });
    }

    function test_vector_requestCommitsToTheVectorsValues() public view {
        InferenceOracle.Request memory r = oracle.getRequest(1);
        assertEq(r.seed, SEED);
        assertEq(uint64(r.seed), ENGINE_SEED);
        assertEq(r.inputHash, INPUT_HASH);
        assertEq(r.paramsHash, PARAMS_HASH);
        assertEq(r.modelHash, MODEL_HASH);
        assertEq(ENGINE_VERSION, bytes32("sibyl-arith-1"));
        assertEq(OUTPUT_HASH, keccak256("Paris"));
    }

    function test_vector_hashesAndDigest() public view {
        assertEq(oracle.ATTESTATION_TYPEHASH(), TYPEHASH);
        assertEq(oracle.domainSeparator(), DOMAIN_SEPARATOR);
        InferenceOracle.Attestation memory a = _fulfilAtt();
        bytes32 structHash = keccak256(
            abi.encode(
                TYPEHASH,
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
        assertEq(structHash, FULFIL_STRUCT_HASH);
        assertEq(oracle.attestationDigest(a), FULFIL_DIGEST);
        a.outputHash = keccak256("");
        a.rejectCode = 2;
        assertEq(oracle.attestationDigest(a), REJECT_DIGEST);
    }

    function test_vector_signatureIsDeterministicRfc6979() public pure {
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(NODE_KEY, FULFIL_DIGEST);
        assertEq(abi.encodePacked(r, s, v), FULFIL_SIG); // r || s || v, v in {27, 28}
        assertEq(ecrecover(FULFIL_DIGEST, v, r, s), NODE);
        (v, r, s) = vm.sign(NODE_KEY, REJECT_DIGEST);
        assertEq(abi.encodePacked(r, s, v), REJECT_SIG);
        assertEq(ecrecover(REJECT_DIGEST, v, r, s), NODE);
        assertEq(vm.addr(NODE_KEY), NODE);
    }

    function test_vector_oracleAcceptsTheFulfilment() public {
        oracle.fulfill(1, bytes("Paris"), _fulfilAtt(), FULFIL_SIG);
        assertEq(uint8(oracle.getRequest(1).status), uint8(InferenceOracle.Status.Fulfilled));
        assertEq(oracle.balances(NODE), 1 gwei);
    }

    function test_vector_oracleAcceptsTheReject() public {
        InferenceOracle.Attestation memory a = _fulfilAtt();
        a.outputHash = keccak256("");
        a.rejectCode = 2;
        oracle.reject(1, a, REJECT_SIG);
        assertEq(uint8(oracle.getRequest(1).status), uint8(InferenceOracle.Status.Rejected));
        assertEq(oracle.balances(requester), 1 gwei);
    }
}
