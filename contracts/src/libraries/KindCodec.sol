// SPDX-License-Identifier: MIT
pragma solidity ^0.8.27;

/// @title KindCodec: the request kinds' input and output encodings, from a contract's side
/// @notice Every kind is named by the request's `adapter` field and has one input encoding (what
/// the consumer sends) and one output encoding (what its callback receives); docs/protocol.md,
/// "Consumers", has the table. The encoders build exactly the bytes the node's adapters parse.
/// The decoders never revert: they return `ok = false` for bytes that are not a valid output of
/// the kind (wrong length, a value outside the request's range, an index past the options, text
/// that is not UTF-8 or not JSON), so a consumer can record a malformed answer instead of
/// failing its callback.
library KindCodec {
    bytes32 internal constant TEXT = "text";
    bytes32 internal constant CHAT = "chat";
    bytes32 internal constant CHOICE = "choice";
    bytes32 internal constant NUMBER = "number";
    bytes32 internal constant BOOL = "bool";
    bytes32 internal constant JSON = "json";

    /// @notice The largest magnitude of a `number` bound: both bounds lie in [-(10^18-1), 10^18-1].
    int256 internal constant NUMBER_LIMIT = 1e18 - 1;
    uint256 internal constant MIN_OPTIONS = 2;
    uint256 internal constant MAX_OPTIONS = 26;
    /// @notice Nesting deeper than this is refused by `isJson` (bounds its bookkeeping).
    uint256 internal constant MAX_JSON_DEPTH = 64;

    // ------------------------------------------------------------------ inputs

    /// @notice `chat`: abi.encode(string[] roles, string[] contents). Roles are "system" (first
    /// only), "user", "model"; both arrays have the same length and the last role is "user".
    function encodeChat(string[] memory roles, string[] memory contents) internal pure returns (bytes memory) {
        return abi.encode(roles, contents);
    }

    /// @notice `choice`: abi.encode(string prompt, string[] options), 2..26 non-empty options.
    function encodeChoice(string memory prompt, string[] memory options) internal pure returns (bytes memory) {
        return abi.encode(prompt, options);
    }

    /// @notice `number`: abi.encode(string prompt, int256 min, int256 max), min <= max, both
    /// within +-(10^18-1).
    function encodeNumber(string memory prompt, int256 min, int256 max) internal pure returns (bytes memory) {
        return abi.encode(prompt, min, max);
    }

    /// @notice `bool`: abi.encode(string prompt).
    function encodeBool(string memory prompt) internal pure returns (bytes memory) {
        return abi.encode(prompt);
    }

    /// @notice `json`: abi.encode(string prompt, string schema); schema "" = any JSON value,
    /// otherwise a flat JSON object of key -> "string" / "number" / "bool" (1..16 keys).
    function encodeJson(string memory prompt, string memory schema) internal pure returns (bytes memory) {
        return abi.encode(prompt, schema);
    }

    /// @notice params for every kind: abi.encode(uint32 maxNewTokens, uint32 steps), 0 = the
    /// model's default (empty params mean both defaults).
    function encodeParams(uint32 maxNewTokens, uint32 steps) internal pure returns (bytes memory) {
        return abi.encode(maxNewTokens, steps);
    }

    // ----------------------------------------------------------------- outputs

    /// @notice `choice` output abi.encode(uint256 index): ok when it is exactly one word and
    /// index < nOptions.
    function decodeChoice(bytes memory output, uint256 nOptions) internal pure returns (bool ok, uint256 index) {
        if (output.length != 32) return (false, 0);
        index = _word(output, 0);
        if (index >= nOptions) return (false, 0);
        return (true, index);
    }

    /// @notice `number` output abi.encode(int256 value): ok when it is exactly one word and
    /// min <= value <= max.
    function decodeNumber(bytes memory output, int256 min, int256 max) internal pure returns (bool ok, int256 value) {
        if (output.length != 32) return (false, 0);
        value = int256(_word(output, 0));
        if (value < min || value > max) return (false, 0);
        return (true, value);
    }

    /// @notice `bool` output abi.encode(bool): ok when it is exactly one word holding 0 or 1
    /// (any other word is not a canonical ABI bool).
    function decodeBool(bytes memory output) internal pure returns (bool ok, bool value) {
        if (output.length != 32) return (false, false);
        uint256 w = _word(output, 0);
        if (w > 1) return (false, false);
        return (true, w == 1);
    }

    // ------------------------------------------------------------ text checks
    //
    // Bytes are read with one mload each (no bounds check: every read is after an `i < n` test),
    // and runs of 32 plain ASCII bytes are skipped a word at a time: without the optimizer a
    // checked `s[i]` costs several hundred gas, which made a 1 KiB check cost over 1M gas.

    uint256 private constant ONES = 0x0101010101010101010101010101010101010101010101010101010101010101;
    uint256 private constant HIGHS = 0x8080808080808080808080808080808080808080808080808080808080808080;

    /// @notice True when `s` is well-formed UTF-8 (RFC 3629: shortest forms only, no
    /// surrogates, nothing above U+10FFFF).
    function isUtf8(bytes memory s) internal pure returns (bool) {
        uint256 n = s.length;
        uint256 i;
        bool ok;
        while (i < n) {
            if (i + 32 <= n && _word(s, i) & HIGHS == 0) {
                i += 32; // 32 ASCII bytes
                continue;
            }
            (ok, i) = _utf8Char(s, i);
            if (!ok) return false;
        }
        return true;
    }

    /// @dev One UTF-8 character at s[i] (i < s.length); returns whether it is well-formed and
    /// the index after it.
    function _utf8Char(bytes memory s, uint256 i) private pure returns (bool, uint256) {
        uint256 c = _at(s, i);
        if (c < 0x80) return (true, i + 1);
        uint256 more;
        uint256 lo = 0x80; // bounds of the second byte (the later ones are always 0x80..0xBF)
        uint256 hi = 0xBF;
        if (c >= 0xC2 && c <= 0xDF) {
            more = 1;
        } else if (c >= 0xE0 && c <= 0xEF) {
            more = 2;
            if (c == 0xE0) lo = 0xA0; // no overlong 3-byte forms
            if (c == 0xED) hi = 0x9F; // no UTF-16 surrogates
        } else if (c >= 0xF0 && c <= 0xF4) {
            more = 3;
            if (c == 0xF0) lo = 0x90; // no overlong 4-byte forms
            if (c == 0xF4) hi = 0x8F; // nothing above U+10FFFF
        } else {
            return (false, i); // a continuation byte, C0/C1 or F5..FF
        }
        if (i + more >= s.length) return (false, i);
        uint256 b = _at(s, i + 1);
        if (b < lo || b > hi) return (false, i);
        for (uint256 k = 2; k <= more; ++k) {
            b = _at(s, i + k);
            if (b < 0x80 || b > 0xBF) return (false, i);
        }
        return (true, i + more + 1);
    }

    /// @notice True when `s` is one JSON value (RFC 8259) with optional whitespace around it:
    /// objects, arrays, strings (escapes checked, UTF-8 checked, no raw control characters),
    /// numbers, true, false, null; nesting at most MAX_JSON_DEPTH. It checks the syntax only,
    /// not a schema. Gas grows linearly with the length, so a caller bounds the length first.
    function isJson(bytes memory s) internal pure returns (bool) {
        uint256 n = s.length;
        uint256 i = _ws(s, 0);
        uint256 depth;
        uint256 objects; // bit d set: the container at depth d is an object, clear: an array
        bool ok;
        while (true) {
            // a value starts at i
            if (i >= n) return false;
            uint256 c = _at(s, i);
            if (c == 0x7B || c == 0x5B) {
                // '{' or '['
                bool isObject = c == 0x7B;
                i = _ws(s, i + 1);
                if (i < n && _at(s, i) == c + 2) {
                    ++i; // '}' or ']' right away: an empty container is a complete value
                    ok = true;
                } else {
                    if (depth == MAX_JSON_DEPTH) return false;
                    if (isObject) objects |= 2 ** depth;
                    else objects &= ~(2 ** depth);
                    ++depth;
                    if (isObject) {
                        (ok, i) = _key(s, i);
                        if (!ok) return false;
                    }
                    continue;
                }
            } else if (c == 0x22) {
                (ok, i) = _string(s, i);
            } else if (c == 0x2D || (c >= 0x30 && c <= 0x39)) {
                (ok, i) = _number(s, i);
            } else if (c == 0x74) {
                (ok, i) = _literal(s, i, "true");
            } else if (c == 0x66) {
                (ok, i) = _literal(s, i, "false");
            } else if (c == 0x6E) {
                (ok, i) = _literal(s, i, "null");
            } else {
                return false;
            }
            if (!ok) return false;
            // after a value: close containers until a ',' asks for the next value
            while (true) {
                i = _ws(s, i);
                if (depth == 0) return i == n;
                if (i >= n) return false;
                bool inObject = (objects >> (depth - 1)) & 1 == 1;
                c = _at(s, i);
                if (c == 0x2C) {
                    // ','
                    i = _ws(s, i + 1);
                    if (inObject) {
                        (ok, i) = _key(s, i);
                        if (!ok) return false;
                    }
                    break;
                }
                if (c != (inObject ? 0x7D : 0x5D)) return false;
                ++i;
                --depth;
            }
        }
        return false; // not reached
    }

    /// @dev The index of the first byte at or after i that is not JSON whitespace.
    function _ws(bytes memory s, uint256 i) private pure returns (uint256) {
        uint256 n = s.length;
        while (i < n) {
            uint256 c = _at(s, i);
            if (c != 0x20 && c != 0x0A && c != 0x0D && c != 0x09) break;
            ++i;
        }
        return i;
    }

    /// @dev `"key" :` then whitespace; returns the index of the value after it.
    function _key(bytes memory s, uint256 i) private pure returns (bool ok, uint256) {
        if (i >= s.length || _at(s, i) != 0x22) return (false, i);
        (ok, i) = _string(s, i);
        if (!ok) return (false, i);
        i = _ws(s, i);
        if (i >= s.length || _at(s, i) != 0x3A) return (false, i);
        return (true, _ws(s, i + 1));
    }

    /// @dev A string starting at the quote s[i]; returns the index after the closing quote.
    function _string(bytes memory s, uint256 i) private pure returns (bool ok, uint256) {
        uint256 n = s.length;
        ++i;
        while (i < n) {
            if (i + 32 <= n && _plainWord(_word(s, i))) {
                i += 32;
                continue;
            }
            uint256 c = _at(s, i);
            if (c == 0x22) return (true, i + 1); // closing quote
            if (c < 0x20) return (false, i); // raw control characters must be escaped
            if (c == 0x5C) {
                // backslash
                if (i + 1 >= n) return (false, i);
                uint256 e = _at(s, i + 1);
                if (e == 0x75) {
                    // \uXXXX
                    if (i + 5 >= n) return (false, i);
                    for (uint256 k = 2; k < 6; ++k) {
                        if (!_isHex(_at(s, i + k))) return (false, i);
                    }
                    i += 6;
                } else if (
                    e == 0x22 || e == 0x5C || e == 0x2F || e == 0x62 || e == 0x66 || e == 0x6E || e == 0x72 || e == 0x74
                ) {
                    // \" \\ \/ \b \f \n \r \t
                    i += 2;
                } else {
                    return (false, i);
                }
            } else {
                (ok, i) = _utf8Char(s, i);
                if (!ok) return (false, i);
            }
        }
        return (false, i); // no closing quote
    }

    /// @dev True when none of the 32 bytes of `w` needs a look inside a string: all ASCII, none a
    /// control character, a quote or a backslash. (With no byte >= 0x80, `x - ONES * k` sets a
    /// byte's high bit exactly when some byte of x is below k: the usual SWAR test, exact here.)
    function _plainWord(uint256 w) private pure returns (bool) {
        if (w & HIGHS != 0) return false;
        unchecked {
            uint256 quote = w ^ (ONES * 0x22);
            uint256 backslash = w ^ (ONES * 0x5C);
            return ((w - ONES * 0x20) | (quote - ONES) | (backslash - ONES)) & HIGHS == 0;
        }
    }

    /// @dev -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?
    function _number(bytes memory s, uint256 i) private pure returns (bool, uint256) {
        uint256 n = s.length;
        if (_at(s, i) == 0x2D) ++i;
        if (i >= n || !_isDigit(_at(s, i))) return (false, i);
        if (_at(s, i) == 0x30) {
            ++i; // a leading 0 stands alone
        } else {
            i = _digits(s, i);
        }
        if (i < n && _at(s, i) == 0x2E) {
            // '.'
            ++i;
            if (i >= n || !_isDigit(_at(s, i))) return (false, i);
            i = _digits(s, i);
        }
        if (i < n && (_at(s, i) | 0x20) == 0x65) {
            // 'e' or 'E'
            ++i;
            if (i < n && (_at(s, i) == 0x2B || _at(s, i) == 0x2D)) ++i;
            if (i >= n || !_isDigit(_at(s, i))) return (false, i);
            i = _digits(s, i);
        }
        return (true, i);
    }

    function _digits(bytes memory s, uint256 i) private pure returns (uint256) {
        uint256 n = s.length;
        while (i < n && _isDigit(_at(s, i))) ++i;
        return i;
    }

    function _literal(bytes memory s, uint256 i, bytes memory word) private pure returns (bool, uint256) {
        if (i + word.length > s.length) return (false, i);
        for (uint256 k; k < word.length; ++k) {
            if (_at(s, i + k) != uint8(word[k])) return (false, i);
        }
        return (true, i + word.length);
    }

    function _isDigit(uint256 c) private pure returns (bool) {
        return c >= 0x30 && c <= 0x39;
    }

    function _isHex(uint256 c) private pure returns (bool) {
        return (c >= 0x30 && c <= 0x39) || (c >= 0x61 && c <= 0x66) || (c >= 0x41 && c <= 0x46);
    }

    /// @dev s[i] without the bounds check (callers test i < s.length first).
    function _at(bytes memory s, uint256 i) private pure returns (uint256 c) {
        assembly ("memory-safe") {
            c := byte(0, mload(add(add(s, 0x20), i)))
        }
    }

    /// @dev The 32 bytes s[i..i+32) as one big-endian word (callers test i + 32 <= s.length).
    function _word(bytes memory s, uint256 i) private pure returns (uint256 w) {
        assembly ("memory-safe") {
            w := mload(add(add(s, 0x20), i))
        }
    }
}
