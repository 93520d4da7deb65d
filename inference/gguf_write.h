/*
 * GGUF writer (v3, little-endian): streams a model file of any size without holding the
 * tensor data in memory.
 *
 * Order of use:
 *   gguf_writer_open(path)
 *   gguf_writer_add_*(key, value) ...        metadata, kept in memory (small)
 *   gguf_writer_add_tensor(name, type, dims) tensor infos, in the order their data will come
 *   gguf_writer_write_header()               writes magic, counts, KVs, tensor infos, padding
 *   gguf_writer_write_tensor_data(bytes) ... the data of tensor 0, then 1, ...: any number of
 *                                            calls per tensor; the writer knows each tensor's
 *                                            size and inserts the alignment padding itself
 *   gguf_writer_close()                      checks every tensor was complete, flushes, closes
 *
 * Alignment: general.alignment if added as a u32 KV (power of two), else 32. Tensor data
 * offsets are laid out contiguously, each rounded up to the alignment.
 *
 * Errors are sticky: after the first failure every call returns the same error and
 * gguf_writer_close() reports it (and removes the partial file). Each function returns 0 or a
 * negative GGUF_E* code; gguf_writer_error() gives the message.
 */
#ifndef SIBYL_INFERENCE_GGUF_WRITE_H
#define SIBYL_INFERENCE_GGUF_WRITE_H

#include <stddef.h>
#include <stdint.h>

#include "inference/gguf.h"

typedef struct gguf_writer gguf_writer;

/* path NULL: no file is written, bytes are only counted (gguf_writer_bytes_written). */
int gguf_writer_open(const char *path, gguf_writer **out, char *err, size_t errlen);
const char *gguf_writer_error(const gguf_writer *w);

int gguf_writer_add_u8(gguf_writer *w, const char *key, uint8_t v);
int gguf_writer_add_i8(gguf_writer *w, const char *key, int8_t v);
int gguf_writer_add_u16(gguf_writer *w, const char *key, uint16_t v);
int gguf_writer_add_i16(gguf_writer *w, const char *key, int16_t v);
int gguf_writer_add_u32(gguf_writer *w, const char *key, uint32_t v);
int gguf_writer_add_i32(gguf_writer *w, const char *key, int32_t v);
int gguf_writer_add_u64(gguf_writer *w, const char *key, uint64_t v);
int gguf_writer_add_i64(gguf_writer *w, const char *key, int64_t v);
int gguf_writer_add_f32(gguf_writer *w, const char *key, float v);
int gguf_writer_add_f64(gguf_writer *w, const char *key, double v);
int gguf_writer_add_bool(gguf_writer *w, const char *key, int v);
int gguf_writer_add_str(gguf_writer *w, const char *key, const char *s); /* NUL-terminated */
int gguf_writer_add_strn(gguf_writer *w, const char *key, const char *s, uint64_t len);
/* Numeric or bool array of n elements of elem_type, packed little-endian in data (bool: one
 * byte each, 0 or 1). */
int gguf_writer_add_arr(gguf_writer *w, const char *key, gguf_type elem_type, const void *data,
                        uint64_t n);
/* String array; lens may be NULL (then each string is NUL-terminated). */
int gguf_writer_add_arr_str(gguf_writer *w, const char *key, const char *const *strs,
                            const uint32_t *lens, uint64_t n);

/* ne[0] first (ggml order), n_dims 1..4; ne[0] must be a multiple of the type's block size. */
int gguf_writer_add_tensor(gguf_writer *w, const char *name, ggml_type type, uint32_t n_dims,
                           const int64_t *ne);

int gguf_writer_write_header(gguf_writer *w);
/* Appends n bytes of tensor data, in tensor order. A call may end inside a tensor or cross
 * into the next one (the padding between them is inserted); writing more bytes than the
 * tensors hold is an error. */
int gguf_writer_write_tensor_data(gguf_writer *w, const void *data, size_t n);
/* Bytes of the tensor that the next write_tensor_data call continues; 0 when all are done. */
uint64_t gguf_writer_remaining(const gguf_writer *w);
uint64_t gguf_writer_bytes_written(const gguf_writer *w);

/* Finishes the file; 0 on success. On any error (now or earlier) the partial file is removed
 * and the message copied to err. Frees w either way. */
int gguf_writer_close(gguf_writer *w, char *err, size_t errlen);
/* Abandons the file: removes it and frees w. */
void gguf_writer_abort(gguf_writer *w);

#endif
