/*
 * GGUF reader: a model file mapped read-only into memory, with its metadata and tensors
 * exposed in place (zero copy). See docs/gguf.md for the format and what is checked.
 *
 * gguf_open() validates the whole header before it returns: every count, string length,
 * array length, tensor dimension, tensor type and data range is checked against the file
 * size, so a truncated or corrupt file gives an error that names the key or tensor and the
 * byte offset, never a crash. After a successful open every pointer handed out lies inside
 * the map and stays valid until gguf_close().
 *
 * Versions: GGUF v3 (64-bit counts), and v2 (same layout). v1 (32-bit counts) is refused.
 * Byte order: little-endian files only (the only kind ggml writes on x86/ARM).
 *
 * Error convention: functions returning int return 0 on success and a negative value on
 * failure, with a NUL-terminated message in err (errlen bytes; err may be NULL).
 * Getters that take no err buffer return GGUF_ENOTFOUND / GGUF_ETYPE; gguf_strerror-like
 * text is available from gguf_last_error(f) for them.
 */
#ifndef SIBYL_INFERENCE_GGUF_H
#define SIBYL_INFERENCE_GGUF_H

#include <stddef.h>
#include <stdint.h>

/* Metadata value types (GGUF spec numbering). */
typedef enum {
    GGUF_TYPE_UINT8 = 0,
    GGUF_TYPE_INT8 = 1,
    GGUF_TYPE_UINT16 = 2,
    GGUF_TYPE_INT16 = 3,
    GGUF_TYPE_UINT32 = 4,
    GGUF_TYPE_INT32 = 5,
    GGUF_TYPE_FLOAT32 = 6,
    GGUF_TYPE_BOOL = 7,
    GGUF_TYPE_STRING = 8,
    GGUF_TYPE_ARRAY = 9,
    GGUF_TYPE_UINT64 = 10,
    GGUF_TYPE_INT64 = 11,
    GGUF_TYPE_FLOAT64 = 12,
    GGUF_TYPE_COUNT
} gguf_type;

/* Tensor element types: ggml's type ids. Those listed are recognised (names and block sizes
 * known); which ones the engine can compute with is the engine's business (docs/arithmetic.md
 * A4: F32, F16, BF16, Q8_0, Q4_K, Q6_K). */
typedef enum {
    GGML_TYPE_F32 = 0,
    GGML_TYPE_F16 = 1,
    GGML_TYPE_Q4_0 = 2,
    GGML_TYPE_Q4_1 = 3,
    GGML_TYPE_Q5_0 = 6,
    GGML_TYPE_Q5_1 = 7,
    GGML_TYPE_Q8_0 = 8,
    GGML_TYPE_Q8_1 = 9,
    GGML_TYPE_Q2_K = 10,
    GGML_TYPE_Q3_K = 11,
    GGML_TYPE_Q4_K = 12,
    GGML_TYPE_Q5_K = 13,
    GGML_TYPE_Q6_K = 14,
    GGML_TYPE_Q8_K = 15,
    GGML_TYPE_IQ2_XXS = 16,
    GGML_TYPE_IQ2_XS = 17,
    GGML_TYPE_IQ3_XXS = 18,
    GGML_TYPE_IQ1_S = 19,
    GGML_TYPE_IQ4_NL = 20,
    GGML_TYPE_IQ3_S = 21,
    GGML_TYPE_IQ2_S = 22,
    GGML_TYPE_IQ4_XS = 23,
    GGML_TYPE_I8 = 24,
    GGML_TYPE_I16 = 25,
    GGML_TYPE_I32 = 26,
    GGML_TYPE_I64 = 27,
    GGML_TYPE_F64 = 28,
    GGML_TYPE_IQ1_M = 29,
    GGML_TYPE_BF16 = 30,
    GGML_TYPE_TQ1_0 = 34,
    GGML_TYPE_TQ2_0 = 35,
    GGML_TYPE_MXFP4 = 39,
    GGML_TYPE_COUNT = 40
} ggml_type;

enum {
    GGUF_OK = 0,
    GGUF_EIO = -1,       /* open/stat/mmap failed */
    GGUF_EFORMAT = -2,   /* not a GGUF file, or corrupt/truncated */
    GGUF_ENOTFOUND = -3, /* key or tensor absent */
    GGUF_ETYPE = -4,     /* key present with an incompatible type */
    GGUF_ERANGE = -5,    /* index out of range, or value does not fit the asked type */
    GGUF_ENOMEM = -6
};

#define GGUF_DEFAULT_ALIGNMENT 32
#define GGUF_MAX_DIMS 4

typedef struct gguf_file gguf_file;

typedef struct {
    const char *name; /* NUL-terminated copy owned by the gguf_file */
    uint32_t name_len;
    ggml_type type;
    uint32_t n_dims;           /* 1..4 */
    int64_t ne[GGUF_MAX_DIMS]; /* elements per dimension, ne[0] the fastest; unused dims = 1 */
    uint64_t n_elements;
    uint64_t offset; /* from the start of the file */
    uint64_t nbytes;
    const void *data; /* inside the map: file base + offset, aligned to the file's alignment */
} gguf_tensor;

/* Maps and validates `path`. On success *out owns the map; free with gguf_close. */
int gguf_open(const char *path, gguf_file **out, char *err, size_t errlen);
/* Same, over a caller-owned buffer (no mmap; the buffer must outlive the gguf_file). Used by
 * the fuzz target and tests. */
int gguf_open_memory(const void *data, size_t size, gguf_file **out, char *err, size_t errlen);
void gguf_close(gguf_file *f);

uint32_t gguf_version(const gguf_file *f);
uint32_t gguf_alignment(const gguf_file *f);
const void *gguf_base(const gguf_file *f);     /* start of the map */
uint64_t gguf_size(const gguf_file *f);        /* file size in bytes */
uint64_t gguf_data_offset(const gguf_file *f); /* start of the tensor data section */
/* The message of the last failed getter on this file ("key 'x' is u8, wanted u32"). */
const char *gguf_last_error(const gguf_file *f);

/* ---- metadata ---- */
int64_t gguf_n_kv(const gguf_file *f);
int64_t gguf_find_key(const gguf_file *f, const char *key); /* index or -1 */
/* The key of entry i (not NUL-terminated: pointer into the map), and its type. For arrays,
 * gguf_kv_type returns GGUF_TYPE_ARRAY and gguf_kv_arr gives the element type and count. */
const char *gguf_kv_key(const gguf_file *f, int64_t i, uint64_t *len);
gguf_type gguf_kv_type(const gguf_file *f, int64_t i);
int gguf_kv_arr(const gguf_file *f, int64_t i, gguf_type *elem_type, uint64_t *n);

/* Typed getters: 0, GGUF_ENOTFOUND (key missing) or GGUF_ETYPE / GGUF_ERANGE (stored with
 * another type, or a value that does not fit). Integer getters accept any stored integer type
 * whose value fits (e.g. a u32 key stored as i32 >= 0, or as u8/u16/u64 in range); gguf_get_f32
 * accepts f32 and f64 (f64 rounded); gguf_get_bool accepts bool only. */
int gguf_get_u32(const gguf_file *f, const char *key, uint32_t *v);
int gguf_get_i32(const gguf_file *f, const char *key, int32_t *v);
int gguf_get_u64(const gguf_file *f, const char *key, uint64_t *v);
int gguf_get_f32(const gguf_file *f, const char *key, float *v);
int gguf_get_bool(const gguf_file *f, const char *key, int *v);
/* String value: *ptr points into the map and is NOT NUL-terminated; *len is its length. */
int gguf_get_str(const gguf_file *f, const char *key, const char **ptr, uint64_t *len);
/* Numeric (or bool) array: element type, count and a pointer to the packed little-endian
 * elements in the map (may be unaligned: read with memcpy). GGUF_ETYPE for string arrays. */
int gguf_get_arr(const gguf_file *f, const char *key, gguf_type *elem_type, uint64_t *n,
                 const void **data);
/* Element i of a string array (O(1): offsets are indexed at open). */
int gguf_get_arr_str(const gguf_file *f, const char *key, uint64_t i, const char **ptr,
                     uint64_t *len);
/* Same by KV index (avoids the key lookup in loops over 262k tokens). */
int gguf_kv_arr_str(const gguf_file *f, int64_t kv, uint64_t i, const char **ptr, uint64_t *len);
/* Element i of a numeric array converted like the scalar getters (u32/i32 accept any integer
 * type in range; f32 accepts f32/f64; bool accepts bool). */
int gguf_get_arr_u32(const gguf_file *f, const char *key, uint64_t i, uint32_t *v);
int gguf_get_arr_i32(const gguf_file *f, const char *key, uint64_t i, int32_t *v);
int gguf_get_arr_f32(const gguf_file *f, const char *key, uint64_t i, float *v);
int gguf_get_arr_bool(const gguf_file *f, const char *key, uint64_t i, int *v);

/* ---- tensors ---- */
int64_t gguf_n_tensors(const gguf_file *f);
const gguf_tensor *gguf_tensor_at(const gguf_file *f, int64_t i); /* NULL if out of range */
const gguf_tensor *gguf_find_tensor(const gguf_file *f, const char *name); /* NULL if absent */

/* ---- types ---- */
const char *gguf_type_name(gguf_type t);     /* "u32", "string", ...; "?" if unknown */
size_t gguf_type_size(gguf_type t);          /* bytes of one scalar; 0 for string/array/unknown */
const char *ggml_type_name(ggml_type t);     /* "f32", "q8_0", ...; NULL if not recognised */
uint32_t ggml_type_block_size(ggml_type t);  /* elements per block (1 for f32); 0 if unknown */
uint32_t ggml_type_block_bytes(ggml_type t); /* bytes per block; 0 if unknown */
/* Bytes of a row of ne0 elements; 0 if the type is unknown or ne0 is not a multiple of the
 * block size. */
uint64_t ggml_row_bytes(ggml_type t, int64_t ne0);

#endif
