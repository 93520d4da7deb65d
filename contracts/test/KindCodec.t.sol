// SPDX-License-Identifier: MIT
pragma solidity ^0.8.27;

import {Test} from "forge-std/Test.sol";
import {KindCodec} from "../src/libraries/KindCodec.sol";

/// @dev The library's internal functions, callable from tests.
contract KindCodecHarness {
    function decodeChoice(bytes memory o, uint256 n) external pure returns (bool, uint256) {
        return KindCodec.decodeChoice(o, n);
    }

    function decodeNumber(bytes memory o, int256 lo, int256 hi) external pure returns (bool, int256) {
        return KindCodec.decodeNumber(o, lo, hi);
    }

    function decodeBool(bytes memory o) external pure returns (bool, bool) {
        return KindCodec.decodeBool(o);
    }

    function isUtf8(bytes memory s) external pure returns (bool) {
        return KindCodec.isUtf8(s);
    }

    function isJson(bytes memory s) external pure returns (bool) {
        return KindCodec.isJson(s);
    }
}

/// The output decoders and the UTF-8 / JSON checks: fixed cases, and fuzzed properties (they
/// never revert; they accept exactly the valid encodings).
contract KindCodecTest is Test {
    KindCodecHarness internal h;

    function setUp() public {
        h = new KindCodecHarness();
    }

    // ------------------------------------------------------------ decoders

    function test_codec_inputEncodings() public pure {
        string[] memory options = new string[](2);
        (options[0], options[1]) = ("yes", "no");
        // the head of abi.encode(string, string[]): two offsets, then the prompt
        bytes memory c = KindCodec.encodeChoice("p", options);
        assertEq(uint256(bytes32(slice(c, 0))), 0x40);
        assertEq(uint256(bytes32(slice(c, 32))), 0x80);
        assertEq(uint256(bytes32(slice(c, 64))), 1); // prompt length
        bytes memory nb = KindCodec.encodeNumber("p", -1, 5);
        assertEq(nb.length, 5 * 32); // offset, min, max, length, "p"
        assertEq(bytes32(slice(nb, 32)), bytes32(type(uint256).max)); // -1, two's complement
        assertEq(uint256(bytes32(slice(nb, 64))), 5);
        assertEq(KindCodec.encodeBool("p"), abi.encode("p"));
        assertEq(KindCodec.encodeJson("p", ""), abi.encode("p", ""));
        assertEq(KindCodec.encodeParams(8, 0), abi.encode(uint32(8), uint32(0)));
        assertEq(KindCodec.encodeChat(options, options), abi.encode(options, options));
    }

    function slice(bytes memory b, uint256 at) internal pure returns (bytes memory w) {
        w = new bytes(32);
        for (uint256 i; i < 32; ++i) {
            w[i] = b[at + i];
        }
    }

    function testFuzz_codec_choice(bytes calldata output, uint256 n) public view {
        (bool ok, uint256 index) = h.decodeChoice(output, n);
        bool valid = output.length == 32 && uint256(bytes32(output)) < n;
        assertEq(ok, valid);
        assertEq(index, valid ? uint256(bytes32(output)) : 0);
    }

    function testFuzz_codec_choiceRoundTrip(uint256 index, uint256 n) public view {
        n = bound(n, 2, 26);
        index = bound(index, 0, n - 1);
        (bool ok, uint256 got) = h.decodeChoice(abi.encode(index), n);
        assertTrue(ok);
        assertEq(got, index);
        (ok,) = h.decodeChoice(abi.encode(n), n);
        assertFalse(ok);
    }

    function testFuzz_codec_number(bytes calldata output, int256 lo, int256 hi) public view {
        (bool ok, int256 v) = h.decodeNumber(output, lo, hi);
        bool valid;
        if (output.length == 32) {
            int256 w = int256(uint256(bytes32(output)));
            valid = lo <= w && w <= hi;
        }
        assertEq(ok, valid);
        assertEq(v, valid ? int256(uint256(bytes32(output))) : int256(0));
    }

    function testFuzz_codec_numberRoundTrip(int256 value, int256 lo, int256 hi) public view {
        int256 lim = KindCodec.NUMBER_LIMIT;
        lo = bound(lo, -lim, lim);
        hi = bound(hi, lo, lim);
        value = bound(value, lo, hi);
        (bool ok, int256 got) = h.decodeNumber(abi.encode(value), lo, hi);
        assertTrue(ok);
        assertEq(got, value);
        if (hi < lim) {
            (ok,) = h.decodeNumber(abi.encode(hi + 1), lo, hi);
            assertFalse(ok);
        }
        if (lo > -lim) {
            (ok,) = h.decodeNumber(abi.encode(lo - 1), lo, hi);
            assertFalse(ok);
        }
    }

    function testFuzz_codec_bool(bytes calldata output) public view {
        (bool ok, bool v) = h.decodeBool(output);
        bool valid = output.length == 32 && uint256(bytes32(output)) <= 1;
        assertEq(ok, valid);
        assertEq(v, valid && uint256(bytes32(output)) == 1);
    }

    function test_codec_boolCanonical() public view {
        (bool ok, bool v) = h.decodeBool(abi.encode(true));
        assertTrue(ok && v);
        (ok, v) = h.decodeBool(abi.encode(false));
        assertTrue(ok && !v);
        (ok,) = h.decodeBool(abi.encode(uint256(1) << 255));
        assertFalse(ok);
    }

    // --------------------------------------------------------------- UTF-8

    /// UTF-8 of one code point, built by encoding (the checker validates; this side encodes).
    function utf8Of(uint256 cp) internal pure returns (bytes memory) {
        if (cp < 0x80) return abi.encodePacked(uint8(cp));
        if (cp < 0x800) return abi.encodePacked(uint8(0xC0 | (cp >> 6)), uint8(0x80 | (cp & 0x3F)));
        if (cp < 0x10000) {
            return
                abi.encodePacked(uint8(0xE0 | (cp >> 12)), uint8(0x80 | ((cp >> 6) & 0x3F)), uint8(0x80 | (cp & 0x3F)));
        }
        return abi.encodePacked(
            uint8(0xF0 | (cp >> 18)),
            uint8(0x80 | ((cp >> 12) & 0x3F)),
            uint8(0x80 | ((cp >> 6) & 0x3F)),
            uint8(0x80 | (cp & 0x3F))
        );
    }

    function testFuzz_utf8_everyScalarValueIsValid(uint256 a, uint256 b) public view {
        a = bound(a, 0, 0x10FFFF - 0x800); // skip the surrogates D800..DFFF
        b = bound(b, 0, 0x10FFFF - 0x800);
        if (a >= 0xD800) a += 0x800;
        if (b >= 0xD800) b += 0x800;
        assertTrue(h.isUtf8(bytes.concat(utf8Of(a), "x", utf8Of(b))));
    }

    function testFuzz_utf8_truncatedIsInvalid(uint256 cp) public view {
        cp = bound(cp, 0x80, 0x10FFFF);
        if (cp >= 0xD800 && cp < 0xE000) cp += 0x800;
        bytes memory e = utf8Of(cp);
        bytes memory cut = new bytes(e.length - 1);
        for (uint256 i; i < cut.length; ++i) {
            cut[i] = e[i];
        }
        assertFalse(h.isUtf8(cut));
        assertFalse(h.isUtf8(bytes.concat(cut, "a"))); // a non-continuation byte where one belongs
    }

    function testFuzz_utf8_surrogatesAreInvalid(uint256 cp) public view {
        cp = bound(cp, 0xD800, 0xDFFF);
        assertFalse(h.isUtf8(utf8Of(cp)));
    }

    function testFuzz_utf8_overlongIsInvalid(uint256 cp) public view {
        cp = bound(cp, 0, 0x7FF);
        // cp in 3 bytes (its shortest form is 1 or 2)
        bytes memory three = abi.encodePacked(uint8(0xE0), uint8(0x80 | ((cp >> 6) & 0x3F)), uint8(0x80 | (cp & 0x3F)));
        assertFalse(h.isUtf8(three));
        if (cp < 0x80) {
            assertFalse(h.isUtf8(abi.encodePacked(uint8(0xC0 | (cp >> 6)), uint8(0x80 | (cp & 0x3F)))));
        }
    }

    function test_utf8_fixedCases() public view {
        assertTrue(h.isUtf8(""));
        assertTrue(h.isUtf8(bytes(unicode"héllo ✓ 🚀")));
        assertTrue(h.isUtf8(hex"f48fbfbf")); // U+10FFFF
        assertFalse(h.isUtf8(hex"f4908080")); // U+110000
        assertFalse(h.isUtf8(hex"80"));
        assertFalse(h.isUtf8(hex"fe"));
        assertFalse(h.isUtf8(hex"c1bf"));
        assertFalse(h.isUtf8(hex"eda080")); // U+D800
    }

    function testFuzz_utf8_neverReverts(bytes calldata s) public view {
        h.isUtf8(s);
    }

    // ---------------------------------------------------------------- JSON

    function test_json_valid() public view {
        string[19] memory ok = [
            "0",
            "-0",
            "12.5e-3",
            "1E+2",
            "true",
            "false",
            "null",
            '""',
            '"a\\"b\\\\c\\/\\b\\f\\n\\r\\t\\u00e9\\uD83D"',
            "[]",
            "{}",
            " \t\r\n[ ] ",
            '{"a":1,"b":[true,false,null],"c":{"d":"e"}}',
            '{ "k" : "v" , "n" : -3.25 }',
            "[[[[[[[[]]]]]]]]",
            '[{},{"x":[]},[]]',
            unicode'"é ✓ 🚀"',
            '{"name":"Paris","people":2100000,"capital":true}',
            "[0,1,-1,0.5,1e9]"
        ];
        for (uint256 i; i < ok.length; ++i) {
            assertTrue(h.isJson(bytes(ok[i])), ok[i]);
        }
    }

    function test_json_invalid() public view {
        bytes[27] memory bad = [
            bytes(""),
            " ",
            "01",
            "-",
            "1.",
            ".5",
            "1e",
            "+1",
            "tru",
            "nul",
            "True",
            "[1,]",
            "[,1]",
            "{,}",
            '{"a"}',
            '{"a":}',
            '{"a" 1}',
            "{a:1}",
            '{"a":1,}',
            "[1 2]",
            "[}",
            "{]",
            '"abc',
            '"\\x"',
            '"\\u12g4"',
            "1 2",
            "[]]"
        ];
        for (uint256 i; i < bad.length; ++i) {
            assertFalse(h.isJson(bad[i]), string(bad[i]));
        }
        assertFalse(h.isJson(abi.encodePacked('"', hex"0a", '"'))); // raw newline in a string
        assertFalse(h.isJson(abi.encodePacked('"', hex"c0af", '"'))); // bad UTF-8 in a string
        assertFalse(h.isJson(abi.encodePacked("[", hex"00", "]")));
    }

    function test_json_depthLimit() public view {
        uint256 d = KindCodec.MAX_JSON_DEPTH;
        assertTrue(h.isJson(nested(d)));
        assertFalse(h.isJson(nested(d + 1)));
    }

    /// `depth` arrays, the innermost holding 1 (an innermost `[]` would be a value, not a level)
    function nested(uint256 depth) internal pure returns (bytes memory b) {
        b = "1";
        for (uint256 i; i < depth; ++i) {
            b = bytes.concat("[", b, "]");
        }
    }

    /// JSON that forge's serializer (an independent implementation) writes is accepted, and
    /// every proper prefix of it is refused. (64 runs: each is a few cheatcode round trips.)
    /// forge-config: default.fuzz.runs = 64
    function testFuzz_json_serializedObjects(string calldata key, string calldata value, int256 n, bool flag) public {
        string memory obj = "fuzz";
        vm.serializeString(obj, "s", value);
        vm.serializeInt(obj, "n", n);
        vm.serializeBool(obj, "b", flag);
        string memory out = vm.serializeString(obj, key, value);
        bytes memory b = bytes(out);
        assertTrue(h.isJson(b), out);
        uint256 cut = uint256(keccak256(b)) % b.length;
        bytes memory prefix = new bytes(cut);
        for (uint256 i; i < cut; ++i) {
            prefix[i] = b[i];
        }
        assertFalse(h.isJson(prefix));
        assertFalse(h.isJson(bytes.concat(b, ",")));
    }

    function testFuzz_json_numbers(int256 n, uint64 frac, int16 exp) public view {
        string memory s = vm.toString(n);
        assertTrue(h.isJson(bytes(s)));
        string memory f = string.concat(s, ".", vm.toString(frac), "e", vm.toString(exp));
        assertTrue(h.isJson(bytes(f)), f);
    }

    /// One byte of every value at every place of a long string: the word-at-a-time skip over
    /// plain ASCII must stop exactly where the byte-by-byte rules would.
    function testFuzz_json_stringFastPath(uint8 pos, uint8 ch) public view {
        bytes memory s = new bytes(66);
        s[0] = '"';
        for (uint256 i = 1; i < 65; ++i) {
            s[i] = "a";
        }
        s[65] = '"';
        s[1 + (pos % 64)] = bytes1(ch);
        bool plain = ch >= 0x20 && ch < 0x80 && ch != 0x22 && ch != 0x5C;
        assertEq(h.isJson(s), plain);
        assertEq(h.isUtf8(s), ch < 0x80);
    }

    function testFuzz_json_neverReverts(bytes calldata s) public view {
        h.isJson(s);
    }
}
