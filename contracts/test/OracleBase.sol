// SPDX-License-Identifier: MIT
pragma solidity ^0.8.27;

import {Test} from "forge-std/Test.sol";
import {InferenceOracle} from "../src/InferenceOracle.sol";
import {IInferenceConsumer} from "../src/interfaces/IInferenceConsumer.sol";

/// @dev Test consumer that records what the oracle delivered.
contract RecordingConsumer is IInferenceConsumer {
    InferenceOracle public immutable oracle;
    mapping(uint256 => bytes) public outputs;
    mapping(uint256 => uint16) public codes;
    mapping(uint256 => uint256) public calls;
    uint256 public gasSeen;

    constructor(InferenceOracle oracle_) {
        oracle = oracle_;
    }

    function ask(bytes32 modelId, bytes calldata input, bytes calldata params, uint32 gasLimit)
        external
        payable
        returns (uint256)
    {
        return oracle.request{value: msg.value}(modelId, "text", input, params, gasLimit);
    }

    function onInferenceResult(uint256 id, bytes calldata output) external {
        require(msg.sender == address(oracle), "not oracle");
        gasSeen = gasleft();
        outputs[id] = output;
        calls[id]++;
    }

    function onInferenceRejected(uint256 id, uint16 code) external {
        require(msg.sender == address(oracle), "not oracle");
        codes[id] = code;
        calls[id]++;
    }

    function withdraw(address payable to) external {
        oracle.withdraw(to);
    }
}

/// @dev Hostile consumers: each callback misbehaves in one way.
contract RevertingConsumer is IInferenceConsumer {
    function onInferenceResult(uint256, bytes calldata) external pure {
        revert("no thanks");
    }

    function onInferenceRejected(uint256, uint16) external pure {
        revert("no thanks");
    }
}

contract GasBurningConsumer is IInferenceConsumer {
    function onInferenceResult(uint256, bytes calldata) external pure {
        while (true) {}
    }

    function onInferenceRejected(uint256, uint16) external pure {
        while (true) {}
    }
}

contract ReturnBombConsumer is IInferenceConsumer {
    /// 900 kB of return data costs the callee about 1.6M gas of memory; a caller that copied it
    /// would pay as much again
    uint256 internal constant SIZE = 900_000;

    function onInferenceResult(uint256, bytes calldata) external pure {
        assembly {
            return(0, SIZE)
        }
    }

    function onInferenceRejected(uint256, uint16) external pure {
        assembly {
            revert(0, SIZE)
        }
    }
}

/// @dev Tries to get a second answer in through its own callback.
contract ReentrantConsumer is IInferenceConsumer {
    InferenceOracle public immutable oracle;
    bytes public replayCall;
    bool public reentryFailed;

    constructor(InferenceOracle oracle_) {
        oracle = oracle_;
    }

    function setReplay(bytes calldata data) external {
        replayCall = data;
    }

    function onInferenceResult(uint256, bytes calldata) external {
        (bool ok,) = address(oracle).call(replayCall);
        reentryFailed = !ok;
    }

    function onInferenceRejected(uint256, uint16) external {
        (bool ok,) = address(oracle).call(replayCall);
        reentryFailed = !ok;
    }
}

/// @dev Shared set-up: an oracle, three registered nodes, one model with quorum 1 and one with
/// quorum 2, and helpers that build and sign attestations the way the C node does.
abstract contract OracleBase is Test {
    InferenceOracle internal oracle;
    RecordingConsumer internal consumer;

    address internal owner = makeAddr("owner");
    address internal requesterEoa = makeAddr("requester");
    address internal relayer = makeAddr("relayer");
    address[3] internal nodes;
    uint256[3] internal nodeKeys;
    address internal outsider;
    uint256 internal outsiderKey;

    bytes32 internal constant MODEL = "diffusiongemma-tiny";
    // keccak, not sha256: a sha256 constant is a precompile call, which would eat a vm.prank
    bytes32 internal constant MODEL_HASH = keccak256("model file bytes");
    bytes32 internal constant MODEL2 = "diffusiongemma-k2";
    bytes32 internal constant MODEL2_HASH = keccak256("another model file");
    uint128 internal constant FEE = 0.01 ether;
    uint128 internal constant FEE2 = 1 ether + 1; // odd: a remainder when split in two
    uint64 internal constant TIMEOUT = 1 hours;
    uint32 internal constant MAX_CB_GAS = 2_000_000;
    uint32 internal constant CB_GAS = 200_000;
    bytes32 internal constant ENGINE = "sibyl-arith-1";

    bytes internal constant INPUT = bytes("What is the capital of France?");
    bytes internal constant PARAMS = hex"0040";
    bytes internal constant OUTPUT = bytes("Paris");

    function setUp() public virtual {
        vm.warp(1_700_000_000);
        vm.roll(100);
        oracle = new InferenceOracle(owner, TIMEOUT, MAX_CB_GAS);
        consumer = new RecordingConsumer(oracle);
        string[3] memory names = ["node0", "node1", "node2"];
        for (uint256 i; i < 3; ++i) {
            (nodes[i], nodeKeys[i]) = makeAddrAndKey(names[i]);
        }
        (outsider, outsiderKey) = makeAddrAndKey("outsider");
        vm.startPrank(owner);
        for (uint256 i; i < 3; ++i) {
            oracle.addNode(nodes[i]);
        }
        oracle.registerModel(MODEL, MODEL_HASH, 1, FEE, true);
        oracle.registerModel(MODEL2, MODEL2_HASH, 2, FEE2, true);
        vm.stopPrank();
        vm.deal(requesterEoa, 100 ether);
        vm.deal(address(this), 100 ether);
    }

    // ------------------------------------------------------------ helpers

    function _request(bytes32 modelId, uint256 value) internal returns (uint256) {
        return consumer.ask{value: value}(modelId, INPUT, PARAMS, CB_GAS);
    }

    function _att(uint256 id, bytes memory output) internal view returns (InferenceOracle.Attestation memory a) {
        InferenceOracle.Request memory r = oracle.getRequest(id);
        a = InferenceOracle.Attestation({
            requestId: id,
            modelHash: r.modelHash,
            inputHash: keccak256(INPUT),
            paramsHash: keccak256(PARAMS),
            outputHash: keccak256(output),
            seed: r.seed,
            engineVersion: ENGINE,
            rejectCode: 0
        });
    }

    function _rejectAtt(uint256 id, uint16 code) internal view returns (InferenceOracle.Attestation memory a) {
        a = _att(id, "");
        a.rejectCode = code;
    }

    /// EIP-712 digest computed here from the definition, independently of the contract's code.
    function _digest(InferenceOracle.Attestation memory a, uint256 chainId, address verifyingContract)
        internal
        pure
        returns (bytes32)
    {
        bytes32 domain = keccak256(
            abi.encode(
                keccak256("EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)"),
                keccak256("SibylInferenceOracle"),
                keccak256("1"),
                chainId,
                verifyingContract
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
        return keccak256(abi.encodePacked(hex"1901", domain, structHash));
    }

    function _signFor(uint256 key, InferenceOracle.Attestation memory a, uint256 chainId, address verifying)
        internal
        pure
        returns (bytes memory)
    {
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(key, _digest(a, chainId, verifying));
        return abi.encodePacked(r, s, v);
    }

    function _sign(uint256 key, InferenceOracle.Attestation memory a) internal view returns (bytes memory) {
        return _signFor(key, a, block.chainid, address(oracle));
    }

    function _fulfill(uint256 nodeIdx, uint256 id, bytes memory output) internal {
        InferenceOracle.Attestation memory a = _att(id, output);
        vm.prank(relayer);
        oracle.fulfill(id, output, a, _sign(nodeKeys[nodeIdx], a));
    }

    function _attest(uint256 nodeIdx, uint256 id, bytes memory output) internal {
        InferenceOracle.Attestation memory a = _att(id, output);
        vm.prank(relayer);
        oracle.attest(id, a, _sign(nodeKeys[nodeIdx], a));
    }

    function _reject(uint256 nodeIdx, uint256 id, uint16 code) internal {
        InferenceOracle.Attestation memory a = _rejectAtt(id, code);
        vm.prank(relayer);
        oracle.reject(id, a, _sign(nodeKeys[nodeIdx], a));
    }

    function _status(uint256 id) internal view returns (InferenceOracle.Status) {
        return oracle.getRequest(id).status;
    }
}
