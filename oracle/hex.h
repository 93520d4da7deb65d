/*
 * hex: hex strings as Ethereum writes them ("0x"-prefixed), and 256-bit unsigned integers
 * (u256, big-endian bytes32) with decimal and hex conversions.
 *
 * Decoders are strict and say what was wrong and where: a missing "0x", an odd number of
 * digits, a non-hex character (with its position), a wrong length, an overflow. Functions
 * return 0 on success and -1 on failure with a NUL-terminated message in err (errlen bytes;
 * err may be NULL).
 */
#ifndef SIBYL_ORACLE_HEX_H
#define SIBYL_ORACLE_HEX_H

#include <stddef.h>
#include <stdint.h>

/* Writes "0x" + 2n lowercase digits + NUL into out, which must hold 2n+3 bytes. Returns the
 * string length (2n+2). */
size_t hex_encode(char *out, const uint8_t *in, size_t n);

/* Decodes "0x"-prefixed hex of any even length into out (capacity cap); *out_len gets the
 * byte count. Fails when the prefix is missing, the digit count is odd, a character is not a
 * hex digit, or the result exceeds cap. */
int hex_decode(const char *hex, uint8_t *out, size_t cap, size_t *out_len, char *err,
               size_t errlen);
/* Same, for exactly n bytes (e.g. an address: n = 20, a hash: n = 32). */
int hex_decode_exact(const char *hex, uint8_t *out, size_t n, char *err, size_t errlen);
/* Same, into a fresh malloc'd buffer (*out; free() it). A zero-length result gives a non-NULL
 * 1-byte allocation so that *out is always freeable. */
int hex_decode_alloc(const char *hex, uint8_t **out, size_t *out_len, char *err, size_t errlen);

/* JSON-RPC QUANTITY ("0x0", "0x1a": no leading zeros, at least one digit) <-> uint64_t. */
int hex_quantity_to_u64(const char *hex, uint64_t *out, char *err, size_t errlen);
/* out must hold 19 bytes. Returns the string length. */
size_t hex_quantity_from_u64(char *out, uint64_t v);

/* A 256-bit unsigned integer as 32 big-endian bytes (the ABI/EVM word). */
typedef struct {
    uint8_t b[32];
} u256;

#define U256_DEC_MAX 79 /* 78 decimal digits + NUL */
#define U256_HEX_MAX 67 /* "0x" + 64 digits + NUL */

void u256_from_u64(u256 *out, uint64_t v);
/* Fails (with a message) when the value does not fit in 64 bits. */
int u256_to_u64(const u256 *v, uint64_t *out, char *err, size_t errlen);
int u256_is_zero(const u256 *v);
/* -1, 0 or 1 as a <, ==, > b. */
int u256_cmp(const u256 *a, const u256 *b);
/* Decimal digits only (no sign, no spaces, no leading zeros unless the value is "0"). */
int u256_from_dec(const char *s, u256 *out, char *err, size_t errlen);
/* Writes the decimal form into out (U256_DEC_MAX bytes). Returns its length. */
size_t u256_to_dec(const u256 *v, char out[U256_DEC_MAX]);
/* "0x" + 1..64 hex digits (leading zeros allowed here; this also reads bytes32 strings). */
int u256_from_hex(const char *s, u256 *out, char *err, size_t errlen);
/* Writes the QUANTITY form ("0x0", "0x1a") into out (U256_HEX_MAX bytes). Returns its length. */
size_t u256_to_hex(const u256 *v, char out[U256_HEX_MAX]);

#endif
