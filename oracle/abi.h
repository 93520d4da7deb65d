/*
 * abi: the Solidity contract ABI (v2 encoding): types, values, encode, strict decode,
 * function selectors, event topics and event logs.
 *
 * Types are parsed from the strings Solidity and cast use:
 *     "uint256", "int8", "address", "bool", "bytes32", "bytes", "string", "uint64[]",
 *     "bytes32[3]", "(uint256,bytes,address[])", "((uint8,string)[],bool)"
 * and signatures with optional parameter names and `indexed`:
 *     "transfer(address to,uint256 amount)"
 *     "InferenceRequested(uint256 indexed id,address indexed requester,bytes input)"
 * Aliases: uint = uint256, int = int256, byte = bytes1.
 *
 * Values are trees of abi_value that mirror the type. Fixed-size values hold their 32-byte
 * ABI word (`word`): uintN/intN as a big-endian two's-complement 256-bit number, address in
 * the low 20 bytes, bool as 0/1, bytesN left-aligned. bytes and string hold `data`/`len`,
 * arrays and tuples hold `items`/`n_items`.
 *
 * The top-level encoding is always that of a parameter list (what abi.encode(a, b, ...) and
 * calldata after the selector contain): a tuple type is that list; any other type T is read
 * as the one-element list (T). So "(uint256,bytes)" describes abi.encode(uint256, bytes),
 * and "((uint256,bytes))" describes abi.encode(aStruct).
 *
 * Decoding is strict: it accepts exactly the canonical encoding the encoder produces (the
 * encoding Solidity's abi.encode produces), so decode(x) = v implies encode(v) = x. Truncated
 * input, trailing bytes, an offset that is out of bounds or not where the canonical layout
 * puts it, non-zero padding, dirty high bits of uintN/intN/address/bool and lengths that
 * cannot fit are errors whose message names the byte offset. Untrusted input never crashes
 * it (it is fuzzed: tests/oracle/fuzz_abi.c) and nesting is limited to ABI_MAX_DEPTH.
 *
 * Functions return 0 on success and -1 on failure with a NUL-terminated message in err
 * (errlen bytes; err may be NULL).
 */
#ifndef SIBYL_ORACLE_ABI_H
#define SIBYL_ORACLE_ABI_H

#include <stddef.h>
#include <stdint.h>

#include "oracle/buf.h"
#include "oracle/hex.h"

#define ABI_MAX_DEPTH 16 /* nesting of arrays and tuples in one type */

typedef enum {
    ABI_UINT,    /* uintN, N = 8..256 step 8 */
    ABI_INT,     /* intN */
    ABI_ADDRESS, /* 20 bytes */
    ABI_BOOL,
    ABI_FIXED_BYTES, /* bytesN, N = 1..32 */
    ABI_BYTES,       /* dynamic bytes */
    ABI_STRING,      /* dynamic, UTF-8 not checked (Solidity does not check it either) */
    ABI_ARRAY,       /* T[]: dynamic length */
    ABI_FIXED_ARRAY, /* T[k], k >= 1 */
    ABI_TUPLE        /* (T1,...,Tn) */
} abi_kind;

typedef struct abi_type {
    abi_kind kind;
    unsigned bits;            /* uintN/intN: N */
    unsigned size;            /* bytesN: N; T[k]: k */
    struct abi_type *elem;    /* arrays: the element type */
    struct abi_type **fields; /* tuples: the component types */
    size_t n_fields;
    char *name;  /* the parameter/component name in a signature, or NULL */
    int indexed; /* event parameters: declared `indexed` */
    /* Computed by the parser (build types only with abi_type_parse / abi_signature_parse): */
    int dynamic;        /* bytes, string, T[], or containing one of them */
    size_t static_size; /* encoded size in bytes when not dynamic (32 per word) */
} abi_type;

/* Parses one type (e.g. "(uint256,bytes,address[])"). Free with abi_type_free. */
int abi_type_parse(const char *s, abi_type **out, char *err, size_t errlen);
void abi_type_free(abi_type *t);
/* Writes the canonical type string ("uint256", "(address,uint8[])") into out (cap bytes).
 * Fails when it does not fit. */
int abi_type_canonical(const abi_type *t, char *out, size_t cap);
int abi_type_is_dynamic(const abi_type *t);

/* A function or event signature: name(params). params is a tuple. */
typedef struct {
    char *name;
    abi_type *params;
} abi_signature;

/* Parses "name(type [indexed] [pname], ...)". `indexed` is accepted anywhere but only
 * meaningful for events. */
int abi_signature_parse(const char *s, abi_signature *out, char *err, size_t errlen);
void abi_signature_free(abi_signature *sig);
/* The canonical signature "name(type,type)" into out (cap bytes). */
int abi_signature_canonical(const abi_signature *sig, char *out, size_t cap);
/* keccak256 of the canonical signature: the event topic0 / the first 4 bytes = selector. */
int abi_signature_hash(const abi_signature *sig, uint8_t out[32]);
int abi_selector(const abi_signature *sig, uint8_t out[4]);

/* ---- values ---- */

typedef struct abi_value {
    abi_kind kind;
    uint8_t word[32]; /* fixed-size scalars, see above */
    uint8_t *data;    /* bytes/string: owned (NUL-terminated for convenience) */
    size_t len;
    struct abi_value *items; /* arrays/tuples: owned array of n_items values */
    size_t n_items;
    int is_topic_hash; /* set on an indexed dynamic event parameter: word holds the
                          topic (keccak of the value), kind is ABI_FIXED_BYTES */
} abi_value;

/* Constructors: each initialises *v from scratch (it does not free what *v held before). Scalar
 * values are range-checked against their type when encoded (abi_value_uint(v, 300) encodes as
 * uint16 but fails as uint8). The allocating ones return 0, or -1 when out of memory (then *v
 * is still safe to abi_value_free). */
void abi_value_uint(abi_value *v, uint64_t x);
void abi_value_u256(abi_value *v, const u256 *x);
void abi_value_int(abi_value *v, int64_t x); /* sign-extended to 256 bits */
void abi_value_address(abi_value *v, const uint8_t addr[20]);
void abi_value_bool(abi_value *v, int b);
/* bytesN: the n bytes left-aligned; n must be <= 32 (only the first 32 are kept). */
void abi_value_fixed_bytes(abi_value *v, const uint8_t *p, size_t n);
int abi_value_bytes(abi_value *v, const uint8_t *p, size_t n);
int abi_value_string(abi_value *v, const char *s);
/* Arrays and tuples with n zero-initialised items to fill in. kind = ABI_ARRAY,
 * ABI_FIXED_ARRAY or ABI_TUPLE. */
int abi_value_list(abi_value *v, abi_kind kind, size_t n);
void abi_value_free(abi_value *v);

/* Reads a uintN value as u64 (fails on other kinds or when it does not fit); for the full
 * 256 bits copy v->word into a u256. */
int abi_value_get_u64(const abi_value *v, uint64_t *out, char *err, size_t errlen);
/* The i-th component of a tuple value by its name in type t (NULL when absent). */
const abi_value *abi_value_field(const abi_type *t, const abi_value *v, const char *name);

/* ---- encoding and decoding ---- */

/* Appends the encoding of v (type t, see "top-level" above) to out. Checks that v matches t:
 * kind, array lengths, that uintN/intN/bool/bytesN values are in range. */
int abi_encode(const abi_type *t, const abi_value *v, buf *out, char *err, size_t errlen);
/* Calldata: selector(sig) || encoding of args (a tuple value for sig->params). */
int abi_encode_call(const abi_signature *sig, const abi_value *args, buf *out, char *err,
                    size_t errlen);
/* Decodes data[0..len) (type t, see "top-level" above) into *out (free with abi_value_free).
 * For a non-tuple t the result is the value itself, not a 1-tuple. */
int abi_decode(const abi_type *t, const uint8_t *data, size_t len, abi_value *out, char *err,
               size_t errlen);

/* Decodes an event log of event `ev` into a tuple value with all of ev's parameters in
 * declaration order: indexed ones from topics[1..], the others from data. topics[0] must be
 * the event's topic. Indexed static values are checked like ABI words; indexed dynamic values
 * (bytes, string, arrays, tuples) are only their keccak hash, returned as a bytes32 value with
 * is_topic_hash set. Fails on a wrong topic count or topic0. */
int abi_decode_log(const abi_signature *ev, const uint8_t (*topics)[32], size_t n_topics,
                   const uint8_t *data, size_t len, abi_value *out, char *err, size_t errlen);

#endif
