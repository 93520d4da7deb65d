// SPDX-License-Identifier: MIT
pragma solidity ^0.8.27;

import {Vm} from "forge-std/Vm.sol";
import {InferenceOracle} from "../src/InferenceOracle.sol";
import {KindConsumerBase} from "../src/examples/KindConsumerBase.sol";
import {ChatConsumer} from "../src/examples/ChatConsumer.sol";
import {ChoiceConsumer} from "../src/examples/ChoiceConsumer.sol";
import {NumberConsumer} from "../src/examples/NumberConsumer.sol";
import {BoolConsumer} from "../src/examples/BoolConsumer.sol";
import {JsonConsumer} from "../src/examples/JsonConsumer.sol";
import {KindCodec} from "../src/libraries/KindCodec.sol";
import {OracleBase} from "./OracleBase.sol";

/// The typed example consumers against the real oracle: each request's adapter, input and
/// params bytes exactly as docs/protocol.md ("Consumers") says, answers delivered by signed
/// attested fulfilments (node keys registered in OracleBase), malformed outputs recorded as
/// Invalid with the fulfilment and callback going through, rejects recorded with their code.
contract KindConsumersTest is OracleBase {
    ChatConsumer internal chat;
    ChoiceConsumer internal choice;
    NumberConsumer internal number;
    BoolConsumer internal yesno;
    JsonConsumer internal json;
    address internal user = makeAddr("user");

    bytes internal constant KPARAMS =
        hex"00000000000000000000000000000000000000000000000000000000000000080000000000000000000000000000000000000000000000000000000000000000"; // abi.encode(uint32(8), uint32(0))
    uint32 internal constant KGAS = 1_000_000;
    uint32 internal constant JSON_GAS = 1_500_000;

    bytes32 internal constant REQUESTED_TOPIC =
        keccak256("InferenceRequested(uint256,address,bytes32,bytes32,bytes,bytes,uint256,uint32,uint64)");

    event Chosen(uint256 indexed id, uint256 index);
    event NumberAnswered(uint256 indexed id, int256 value);
    event BoolAnswered(uint256 indexed id, bool value);
    event JsonAnswered(uint256 indexed id, string json);
    event ChatAnswered(uint256 indexed id, string reply);
    event InvalidOutput(uint256 indexed id);
    event AnswerRejected(uint256 indexed id, uint16 code);
    event Asked(uint256 indexed id, address indexed asker);
    event CallbackResult(uint256 indexed id, bool success);

    function setUp() public override {
        super.setUp();
        assertEq(KPARAMS, abi.encode(uint32(8), uint32(0)));
        chat = new ChatConsumer(oracle, MODEL, KPARAMS, KGAS);
        choice = new ChoiceConsumer(oracle, MODEL, KPARAMS, KGAS);
        number = new NumberConsumer(oracle, MODEL, KPARAMS, KGAS);
        yesno = new BoolConsumer(oracle, MODEL, KPARAMS, KGAS);
        json = new JsonConsumer(oracle, MODEL, KPARAMS, JSON_GAS);
        vm.deal(user, 10 ether);
    }

    // ------------------------------------------------------------ helpers

    struct Sent {
        uint256 id;
        bytes32 adapter;
        bytes input;
        bytes params;
    }

    /// The InferenceRequested event of the last recorded request.
    function _sent() internal returns (Sent memory s) {
        Vm.Log[] memory logs = vm.getRecordedLogs();
        for (uint256 i = logs.length; i > 0; --i) {
            Vm.Log memory l = logs[i - 1];
            if (l.emitter == address(oracle) && l.topics[0] == REQUESTED_TOPIC) {
                s.id = uint256(l.topics[1]);
                (s.adapter, s.input, s.params,,,) = abi.decode(l.data, (bytes32, bytes, bytes, uint256, uint32, uint64));
                return s;
            }
        }
        revert("no InferenceRequested");
    }

    function _attFor(uint256 id, bytes memory input, bytes memory output)
        internal
        view
        returns (InferenceOracle.Attestation memory a)
    {
        InferenceOracle.Request memory r = oracle.getRequest(id);
        a = InferenceOracle.Attestation({
            requestId: id,
            modelHash: MODEL_HASH,
            inputHash: keccak256(input),
            paramsHash: keccak256(KPARAMS),
            outputHash: keccak256(output),
            seed: r.seed,
            engineVersion: ENGINE,
            rejectCode: 0
        });
    }

    /// A fulfilment signed by registered node 0 over the expected input; the oracle checks the
    /// input hash, so this also proves the consumer sent exactly `input`.
    function _answer(uint256 id, bytes memory input, bytes memory output) internal {
        InferenceOracle.Attestation memory a = _attFor(id, input, output);
        vm.prank(relayer);
        oracle.fulfill(id, output, a, _sign(nodeKeys[0], a));
        assertEq(uint8(_status(id)), uint8(InferenceOracle.Status.Fulfilled));
    }

    function _rejectWith(uint256 id, bytes memory input, uint16 code) internal {
        InferenceOracle.Attestation memory a = _attFor(id, input, "");
        a.rejectCode = code;
        vm.prank(relayer);
        oracle.reject(id, a, _sign(nodeKeys[1], a));
        assertEq(uint8(_status(id)), uint8(InferenceOracle.Status.Rejected));
    }

    function _state(KindConsumerBase c, uint256 id) internal view returns (KindConsumerBase.State) {
        return c.stateOf(id);
    }

    function _assertState(KindConsumerBase c, uint256 id, KindConsumerBase.State want) internal view {
        assertEq(uint8(c.stateOf(id)), uint8(want));
    }

    function _assertSent(Sent memory s, bytes32 kind, bytes memory input) internal pure {
        assertEq(s.adapter, kind);
        assertEq(s.input, input);
        assertEq(s.params, KPARAMS);
    }

    function _options3() internal pure returns (string[] memory o) {
        o = new string[](3);
        o[0] = "green";
        o[1] = "blue";
        o[2] = "red";
    }

    // ------------------------------------------------------------- choice

    function test_choice_encodingAndAnswer() public {
        string[] memory options = _options3();
        vm.recordLogs();
        vm.prank(user);
        uint256 id = choice.askChoice{value: FEE}("The sky is", options);
        Sent memory s = _sent();
        assertEq(s.id, id);
        _assertSent(s, "choice", abi.encode("The sky is", options));
        (string memory p, string[] memory o) = abi.decode(s.input, (string, string[]));
        assertEq(p, "The sky is");
        assertEq(o.length, 3);
        assertEq(o[1], "blue");
        assertEq(choice.optionCount(id), 3);
        (KindConsumerBase.State st,, address asker) = choice.asks(id);
        assertEq(uint8(st), uint8(KindConsumerBase.State.Pending));
        assertEq(asker, user);

        vm.expectEmit(address(choice));
        emit Chosen(id, 2);
        vm.expectEmit(address(oracle));
        emit CallbackResult(id, true);
        _answer(id, s.input, abi.encode(uint256(2)));
        _assertState(choice, id, KindConsumerBase.State.Answered);
        assertEq(choice.choiceOf(id), 2);
        assertEq(choice.answeredCount(), 1);
    }

    function test_choice_malformedOutputsAreInvalid() public {
        bytes[4] memory bad =
            [abi.encode(uint256(3)), abi.encode(type(uint256).max), abi.encodePacked(uint248(1)), bytes("")];
        for (uint256 k; k < bad.length; ++k) {
            vm.prank(user);
            uint256 id = choice.askChoice{value: FEE}("The sky is", _options3());
            vm.expectEmit(address(choice));
            emit InvalidOutput(id);
            vm.expectEmit(address(oracle));
            emit CallbackResult(id, true); // recorded, not reverted
            _answer(id, abi.encode("The sky is", _options3()), bad[k]);
            _assertState(choice, id, KindConsumerBase.State.Invalid);
            assertEq(choice.choiceOf(id), 0);
        }
        assertEq(choice.invalidCount(), 4);
        assertEq(choice.answeredCount(), 0);
    }

    function test_choice_rawInputTakesItsOptionCount() public {
        bytes memory input = abi.encode("pick", _options3());
        vm.prank(user);
        uint256 id = choice.askRaw{value: FEE}(input);
        assertEq(choice.optionCount(id), 3);
        _answer(id, input, abi.encode(uint256(1)));
        assertEq(choice.choiceOf(id), 1);

        vm.prank(user);
        id = choice.askRaw{value: FEE}(hex"1234"); // not a choice input: no valid index
        assertEq(choice.optionCount(id), 0);
        _answer(id, hex"1234", abi.encode(uint256(0)));
        _assertState(choice, id, KindConsumerBase.State.Invalid);
    }

    // ------------------------------------------------------------- number

    function test_number_encodingAndAnswer() public {
        vm.recordLogs();
        vm.prank(user);
        uint256 id = number.askNumber{value: FEE}("12+34", 0, 198);
        Sent memory s = _sent();
        _assertSent(s, "number", abi.encode("12+34", int256(0), int256(198)));
        (string memory p, int256 lo, int256 hi) = abi.decode(s.input, (string, int256, int256));
        assertEq(p, "12+34");
        assertEq(lo, 0);
        assertEq(hi, 198);
        vm.expectEmit(address(number));
        emit NumberAnswered(id, 46);
        _answer(id, s.input, abi.encode(int256(46)));
        _assertState(number, id, KindConsumerBase.State.Answered);
        assertEq(number.numberOf(id), 46);
    }

    function test_number_negativeRangeAndBounds() public {
        int256 lim = 1e18 - 1;
        int256[3] memory values = [-lim, int256(-7), lim];
        for (uint256 k; k < 3; ++k) {
            vm.prank(user);
            uint256 id = number.askNumber{value: FEE}("x", -lim, lim);
            _answer(id, abi.encode("x", -lim, lim), abi.encode(values[k]));
            _assertState(number, id, KindConsumerBase.State.Answered);
            assertEq(number.numberOf(id), values[k]);
        }
    }

    function test_number_malformedOutputsAreInvalid() public {
        bytes[5] memory bad = [
            abi.encode(int256(-1)), // below min
            abi.encode(int256(11)), // above max
            abi.encode(int256(5), int256(5)), // two words
            bytes("5"), // text, not ABI
            bytes("")
        ];
        bytes memory input = abi.encode("n", int256(0), int256(10));
        for (uint256 k; k < bad.length; ++k) {
            vm.prank(user);
            uint256 id = number.askNumber{value: FEE}("n", 0, 10);
            vm.expectEmit(address(number));
            emit InvalidOutput(id);
            _answer(id, input, bad[k]);
            _assertState(number, id, KindConsumerBase.State.Invalid);
        }
        assertEq(number.invalidCount(), 5);
    }

    function test_number_rawGarbageHasAnEmptyRange() public {
        vm.prank(user);
        uint256 id = number.askRaw{value: FEE}(hex"00");
        (int256 lo, int256 hi) = number.rangeOf(id);
        assertGt(lo, hi);
        _answer(id, hex"00", abi.encode(int256(0)));
        _assertState(number, id, KindConsumerBase.State.Invalid);
    }

    // --------------------------------------------------------------- bool

    function test_bool_encodingAndAnswers() public {
        vm.recordLogs();
        vm.prank(user);
        uint256 id = yesno.askBool{value: FEE}("Is 2+2 four?");
        Sent memory s = _sent();
        _assertSent(s, "bool", abi.encode("Is 2+2 four?"));
        assertEq(abi.decode(s.input, (string)), "Is 2+2 four?");
        vm.expectEmit(address(yesno));
        emit BoolAnswered(id, true);
        _answer(id, s.input, abi.encode(true));
        assertTrue(yesno.boolOf(id));

        vm.prank(user);
        id = yesno.askBool{value: FEE}("Is 2+2 four?");
        _answer(id, s.input, abi.encode(false));
        _assertState(yesno, id, KindConsumerBase.State.Answered);
        assertFalse(yesno.boolOf(id));
        assertEq(yesno.answeredCount(), 2);
    }

    function test_bool_malformedOutputsAreInvalid() public {
        bytes[4] memory bad = [abi.encode(uint256(2)), abi.encode(true, true), bytes("true"), bytes("")];
        bytes memory input = abi.encode("q");
        for (uint256 k; k < bad.length; ++k) {
            vm.prank(user);
            uint256 id = yesno.askBool{value: FEE}("q");
            _answer(id, input, bad[k]);
            _assertState(yesno, id, KindConsumerBase.State.Invalid);
            assertFalse(yesno.boolOf(id));
        }
        assertEq(yesno.invalidCount(), 4);
    }

    // --------------------------------------------------------------- json

    function test_json_encodingAndAnswer() public {
        string memory schema = '{"name":"string","people":"number","capital":"bool"}';
        vm.recordLogs();
        vm.prank(user);
        uint256 id = json.askJson{value: FEE}("a city", schema);
        Sent memory s = _sent();
        _assertSent(s, "json", abi.encode("a city", schema));
        (string memory p, string memory sc) = abi.decode(s.input, (string, string));
        assertEq(p, "a city");
        assertEq(sc, schema);
        string memory out = '{"name": "Paris", "people": 2.1e6, "capital": true}';
        vm.expectEmit(address(json));
        emit JsonAnswered(id, out);
        _answer(id, s.input, bytes(out));
        _assertState(json, id, KindConsumerBase.State.Answered);
        assertEq(json.jsonOf(id), out);
    }

    function test_json_anyValueSchema() public {
        vm.prank(user);
        uint256 id = json.askJson{value: FEE}("anything", "");
        _answer(id, abi.encode("anything", ""), bytes("[1, \"two\", null]"));
        assertEq(json.jsonOf(id), "[1, \"two\", null]");
    }

    function test_json_malformedOutputsAreInvalid() public {
        bytes[5] memory bad =
            [bytes('{"name":'), bytes("{name: 1}"), bytes("[1,]"), bytes(""), abi.encodePacked('"', hex"ff", '"')];
        bytes memory input = abi.encode("c", "");
        for (uint256 k; k < bad.length; ++k) {
            vm.prank(user);
            uint256 id = json.askJson{value: FEE}("c", "");
            _answer(id, input, bad[k]);
            _assertState(json, id, KindConsumerBase.State.Invalid);
            assertEq(bytes(json.jsonOf(id)).length, 0);
        }
    }

    /// The longest output the consumer parses, in the costliest shape per byte, is checked and
    /// stored within its callback gas (1.5M here), and one byte more is Invalid without parsing.
    function test_json_longestOutputFitsTheCallbackGas() public {
        uint256 max = json.MAX_JSON_BYTES();
        bytes memory big = new bytes(max);
        big[0] = "[";
        for (uint256 i = 1; i < max - 1; i += 2) {
            big[i] = "1";
            big[i + 1] = ",";
        }
        big[max - 2] = "1";
        big[max - 1] = "]";
        bytes memory input = abi.encode("long", "");
        vm.prank(user);
        uint256 id = json.askJson{value: FEE}("long", "");
        vm.expectEmit(address(oracle));
        emit CallbackResult(id, true);
        _answer(id, input, big);
        _assertState(json, id, KindConsumerBase.State.Answered);
        assertEq(bytes(json.jsonOf(id)).length, max);

        bytes memory tooBig = bytes.concat(big, " ");
        vm.prank(user);
        id = json.askJson{value: FEE}("long", "");
        _answer(id, input, tooBig);
        _assertState(json, id, KindConsumerBase.State.Invalid);
    }

    // --------------------------------------------------------------- chat

    function test_chat_encodingAndAnswer() public {
        string[] memory roles = new string[](3);
        string[] memory contents = new string[](3);
        (roles[0], roles[1], roles[2]) = ("system", "user", "model");
        (contents[0], contents[1], contents[2]) = ("Be brief.", "Hi!", "Hello.");
        // the last role must be "user" for the node; the consumer sends what it is given
        string[] memory r4 = new string[](4);
        string[] memory c4 = new string[](4);
        for (uint256 i; i < 3; ++i) {
            (r4[i], c4[i]) = (roles[i], contents[i]);
        }
        (r4[3], c4[3]) = ("user", "What is 1+1?");
        vm.recordLogs();
        vm.prank(user);
        uint256 id = chat.askChat{value: FEE}(r4, c4);
        Sent memory s = _sent();
        _assertSent(s, "chat", abi.encode(r4, c4));
        (string[] memory dr, string[] memory dc) = abi.decode(s.input, (string[], string[]));
        assertEq(dr.length, 4);
        assertEq(dr[3], "user");
        assertEq(dc[3], "What is 1+1?");
        string memory reply = unicode"Two. ½ · ✓ 🚀";
        vm.expectEmit(address(chat));
        emit ChatAnswered(id, reply);
        _answer(id, s.input, bytes(reply));
        _assertState(chat, id, KindConsumerBase.State.Answered);
        assertEq(chat.replyOf(id), reply);
    }

    function test_chat_oneTurnHelper() public {
        string[] memory r1 = new string[](1);
        string[] memory c1 = new string[](1);
        (r1[0], c1[0]) = ("user", "hi");
        vm.recordLogs();
        vm.prank(user);
        chat.ask{value: FEE}("", "hi");
        _assertSent(_sent(), "chat", abi.encode(r1, c1));

        string[] memory r2 = new string[](2);
        string[] memory c2 = new string[](2);
        (r2[0], c2[0], r2[1], c2[1]) = ("system", "Be brief.", "user", "hi");
        vm.prank(user);
        chat.ask{value: FEE}("Be brief.", "hi");
        _assertSent(_sent(), "chat", abi.encode(r2, c2));
    }

    function test_chat_notUtf8IsInvalid() public {
        string[] memory r1 = new string[](1);
        string[] memory c1 = new string[](1);
        (r1[0], c1[0]) = ("user", "hi");
        bytes[3] memory bad = [bytes(hex"ff"), bytes(hex"c0af"), bytes(hex"48e282")];
        for (uint256 k; k < bad.length; ++k) {
            vm.prank(user);
            uint256 id = chat.ask{value: FEE}("", "hi");
            _answer(id, abi.encode(r1, c1), bad[k]);
            _assertState(chat, id, KindConsumerBase.State.Invalid);
        }
    }

    // ------------------------------------------------ common to every kind

    function _all() internal view returns (KindConsumerBase[5] memory) {
        return [KindConsumerBase(chat), choice, number, yesno, json];
    }

    function test_all_kindsAndSettings() public view {
        KindConsumerBase[5] memory cs = _all();
        bytes32[5] memory kinds = [bytes32("chat"), "choice", "number", "bool", "json"];
        for (uint256 k; k < 5; ++k) {
            assertEq(cs[k].kind(), kinds[k]);
            assertEq(address(cs[k].oracle()), address(oracle));
            assertEq(cs[k].modelId(), MODEL);
            assertEq(cs[k].params(), KPARAMS);
            assertEq(cs[k].callbackGasLimit(), k == 4 ? JSON_GAS : KGAS);
            assertEq(cs[k].owner(), address(this));
        }
    }

    /// A reject reaches every consumer with its code, and the fee comes back to the consumer.
    function test_all_rejectRecordedWithCodeAndRefunded() public {
        KindConsumerBase[5] memory cs = _all();
        for (uint256 k; k < 5; ++k) {
            bytes memory input = abi.encodePacked("malformed ", k);
            vm.prank(user);
            uint256 id = cs[k].askRaw{value: FEE}(input);
            vm.expectEmit(address(cs[k]));
            emit AnswerRejected(id, uint16(4 + k));
            _rejectWith(id, input, uint16(4 + k));
            (KindConsumerBase.State st, uint16 code,) = cs[k].asks(id);
            assertEq(uint8(st), uint8(KindConsumerBase.State.Rejected));
            assertEq(code, 4 + k);
            assertEq(cs[k].rejectedCount(), 1);
            assertEq(oracle.balances(address(cs[k])), FEE);
            address payable sink = payable(makeAddr(string.concat("sink", vm.toString(k))));
            cs[k].withdrawRefunds(sink);
            assertEq(sink.balance, FEE);
        }
    }

    function test_all_onlyTheOracleCallsBack() public {
        KindConsumerBase[5] memory cs = _all();
        for (uint256 k; k < 5; ++k) {
            vm.prank(user);
            uint256 id = cs[k].askRaw{value: FEE}("x");
            vm.expectRevert(abi.encodeWithSelector(KindConsumerBase.NotOracle.selector, address(this)));
            cs[k].onInferenceResult(id, abi.encode(uint256(0)));
            vm.expectRevert(abi.encodeWithSelector(KindConsumerBase.NotOracle.selector, user));
            vm.prank(user);
            cs[k].onInferenceRejected(id, 4);
            _assertState(cs[k], id, KindConsumerBase.State.Pending);
            // the oracle itself, for an id that is not pending here
            vm.prank(address(oracle));
            vm.expectRevert(abi.encodeWithSelector(KindConsumerBase.UnknownRequest.selector, id + 1));
            cs[k].onInferenceResult(id + 1, "");
            vm.prank(address(oracle));
            vm.expectRevert(abi.encodeWithSelector(KindConsumerBase.UnknownRequest.selector, id + 1));
            cs[k].onInferenceRejected(id + 1, 4);
        }
    }

    /// A second callback for an answered request is refused (the oracle never makes one).
    function test_all_answeredOnce() public {
        vm.prank(user);
        uint256 id = yesno.askBool{value: FEE}("q");
        _answer(id, abi.encode("q"), abi.encode(true));
        vm.prank(address(oracle));
        vm.expectRevert(abi.encodeWithSelector(KindConsumerBase.UnknownRequest.selector, id));
        yesno.onInferenceResult(id, abi.encode(false));
        assertTrue(yesno.boolOf(id));
    }

    /// Whatever bytes the node delivers, every consumer's callback succeeds and records the
    /// request as Answered exactly when the bytes are a valid value of its kind, else Invalid.
    function testFuzz_all_anyOutputIsRecorded(bytes calldata output, int8 lo, uint8 span) public {
        int256 min = lo;
        int256 max = min + int256(uint256(span));
        KindConsumerBase[5] memory cs = _all();
        bytes[5] memory inputs;
        uint256[5] memory ids;
        vm.startPrank(user);
        ids[0] = chat.ask{value: FEE}("", "hi");
        inputs[0] = _chatInput();
        ids[1] = choice.askChoice{value: FEE}("q", _options3());
        inputs[1] = abi.encode("q", _options3());
        ids[2] = number.askNumber{value: FEE}("q", min, max);
        inputs[2] = abi.encode("q", min, max);
        ids[3] = yesno.askBool{value: FEE}("q");
        inputs[3] = abi.encode("q");
        ids[4] = json.askJson{value: FEE}("q", "");
        inputs[4] = abi.encode("q", "");
        vm.stopPrank();
        bool[5] memory valid;
        valid[0] = KindCodec.isUtf8(output); // the text checks are fuzzed in KindCodec.t.sol

        valid[1] = output.length == 32 && uint256(bytes32(output)) < 3;
        if (output.length == 32) {
            int256 v = int256(uint256(bytes32(output)));
            valid[2] = min <= v && v <= max;
        }
        valid[3] = output.length == 32 && uint256(bytes32(output)) <= 1;
        valid[4] = output.length <= 512 && KindCodec.isJson(output);
        for (uint256 k; k < 5; ++k) {
            vm.expectEmit(address(oracle));
            emit CallbackResult(ids[k], true);
            _answer(ids[k], inputs[k], output);
            _assertState(cs[k], ids[k], valid[k] ? KindConsumerBase.State.Answered : KindConsumerBase.State.Invalid);
        }
    }

    function _chatInput() internal pure returns (bytes memory) {
        string[] memory r = new string[](1);
        string[] memory c = new string[](1);
        (r[0], c[0]) = ("user", "hi");
        return abi.encode(r, c);
    }

    function test_all_ownerOnlySettings() public {
        KindConsumerBase[5] memory cs = _all();
        for (uint256 k; k < 5; ++k) {
            vm.prank(user);
            vm.expectRevert(abi.encodeWithSelector(KindConsumerBase.NotOwner.selector, user));
            cs[k].configure(MODEL2, "", 1);
            vm.prank(user);
            vm.expectRevert(abi.encodeWithSelector(KindConsumerBase.NotOwner.selector, user));
            cs[k].withdrawRefunds(payable(user));
            cs[k].configure(MODEL2, hex"aa", 1234);
            assertEq(cs[k].modelId(), MODEL2);
            assertEq(cs[k].params(), hex"aa");
            assertEq(cs[k].callbackGasLimit(), 1234);
        }
        // later requests use the new settings
        vm.recordLogs();
        vm.prank(user);
        uint256 id = number.askNumber{value: FEE2}("n", 0, 1);
        Sent memory s = _sent();
        assertEq(s.params, hex"aa");
        assertEq(oracle.getRequest(id).modelId, MODEL2);
        assertEq(oracle.getRequest(id).callbackGasLimit, 1234);
    }

    function test_all_feeIsForwarded() public {
        vm.prank(user);
        vm.expectRevert(abi.encodeWithSelector(InferenceOracle.FeeTooLow.selector, FEE, FEE - 1));
        number.askNumber{value: FEE - 1}("n", 0, 1);
        vm.prank(user);
        vm.expectEmit(address(number));
        emit Asked(1, user);
        number.askNumber{value: FEE}("n", 0, 1);
        assertEq(oracle.getRequest(1).escrow, FEE);
        assertEq(number.lastRequestId(), 1);
    }
}
