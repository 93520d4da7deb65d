/*
 * GGUF writer (see gguf_write.h). Metadata and tensor infos are serialised into one memory
 * buffer; tensor data goes through a large output buffer straight to the file descriptor, and
 * big writes bypass the buffer.
 */
#include "inference/gguf_write.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define OUTBUF_SIZE (8u << 20)

typedef struct {
    char *name;
    ggml_type type;
    uint32_t n_dims;
    int64_t ne[GGUF_MAX_DIMS];
    uint64_t nbytes;
    uint64_t offset; /* within the data section */
} wtensor;

typedef struct {
    uint8_t *p;
    size_t len, cap;
} bytes;

struct gguf_writer {
    int fd;
    int counting; /* no file: bytes are only counted (dry runs) */
    char *path;
    int failed;
    char err[512];
    uint64_t n_kv;
    bytes kv;    /* serialised KVs */
    char **keys; /* for duplicate detection */
    uint32_t alignment;
    wtensor *tensors;
    uint64_t n_tensors, cap_tensors;
    uint64_t data_size; /* running end of the data section */
    int header_done;
    uint64_t cur;      /* tensor being written */
    uint64_t cur_done; /* bytes of it written */
    uint64_t written;  /* bytes written to the file */
    uint8_t *out;
    size_t out_len;
};

static int fail(gguf_writer *w, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int fail(gguf_writer *w, int code, const char *fmt, ...)
{
    if (w->failed)
        return w->failed;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(w->err, sizeof w->err, fmt, ap);
    va_end(ap);
    w->failed = code;
    return code;
}

const char *gguf_writer_error(const gguf_writer *w)
{
    return w->err;
}

static int b_put(gguf_writer *w, bytes *b, const void *p, size_t n)
{
    if (n == 0)
        return 0;
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->len + n)
            cap *= 2;
        uint8_t *np = realloc(b->p, cap);
        if (!np)
            return fail(w, GGUF_ENOMEM, "gguf writer: out of memory");
        b->p = np;
        b->cap = cap;
    }
    memcpy(b->p + b->len, p, n);
    b->len += n;
    return 0;
}

static int b_u32(gguf_writer *w, bytes *b, uint32_t v)
{
    return b_put(w, b, &v, 4);
}
static int b_u64(gguf_writer *w, bytes *b, uint64_t v)
{
    return b_put(w, b, &v, 8);
}
static int b_str(gguf_writer *w, bytes *b, const char *s, uint64_t len)
{
    if (b_u64(w, b, len))
        return w->failed;
    return b_put(w, b, s, len);
}

int gguf_writer_open(const char *path, gguf_writer **out, char *err, size_t errlen)
{
    *out = NULL;
    gguf_writer *w = calloc(1, sizeof *w);
    if (!w) {
        if (err && errlen)
            snprintf(err, errlen, "gguf writer: out of memory");
        return GGUF_ENOMEM;
    }
    w->alignment = GGUF_DEFAULT_ALIGNMENT;
    w->path = strdup(path ? path : "(counting only)");
    w->out = malloc(OUTBUF_SIZE);
    if (!w->path || !w->out) {
        free(w->path);
        free(w->out);
        free(w);
        if (err && errlen)
            snprintf(err, errlen, "gguf writer: out of memory");
        return GGUF_ENOMEM;
    }
    w->counting = path == NULL;
    w->fd = w->counting ? -1 : open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (!w->counting && w->fd < 0) {
        if (err && errlen)
            snprintf(err, errlen, "gguf writer: cannot create %s: %s", path, strerror(errno));
        free(w->path);
        free(w->out);
        free(w);
        return GGUF_EIO;
    }
    *out = w;
    return 0;
}

static int begin_kv(gguf_writer *w, const char *key, gguf_type t)
{
    if (w->failed)
        return w->failed;
    if (w->header_done)
        return fail(w, GGUF_EFORMAT, "gguf writer: key '%s' added after the header", key);
    size_t klen = strlen(key);
    if (klen == 0)
        return fail(w, GGUF_EFORMAT, "gguf writer: empty key");
    for (uint64_t i = 0; i < w->n_kv; i++)
        if (strcmp(w->keys[i], key) == 0)
            return fail(w, GGUF_EFORMAT, "gguf writer: duplicate key '%s'", key);
    char **nk = realloc(w->keys, (w->n_kv + 1) * sizeof *nk);
    if (!nk)
        return fail(w, GGUF_ENOMEM, "gguf writer: out of memory");
    w->keys = nk;
    if (!(w->keys[w->n_kv] = strdup(key)))
        return fail(w, GGUF_ENOMEM, "gguf writer: out of memory");
    w->n_kv++;
    if (b_str(w, &w->kv, key, klen) || b_u32(w, &w->kv, (uint32_t)t))
        return w->failed;
    return 0;
}

static int add_scalar(gguf_writer *w, const char *key, gguf_type t, const void *v)
{
    if (begin_kv(w, key, t))
        return w->failed;
    return b_put(w, &w->kv, v, gguf_type_size(t));
}

int gguf_writer_add_u8(gguf_writer *w, const char *key, uint8_t v)
{
    return add_scalar(w, key, GGUF_TYPE_UINT8, &v);
}
int gguf_writer_add_i8(gguf_writer *w, const char *key, int8_t v)
{
    return add_scalar(w, key, GGUF_TYPE_INT8, &v);
}
int gguf_writer_add_u16(gguf_writer *w, const char *key, uint16_t v)
{
    return add_scalar(w, key, GGUF_TYPE_UINT16, &v);
}
int gguf_writer_add_i16(gguf_writer *w, const char *key, int16_t v)
{
    return add_scalar(w, key, GGUF_TYPE_INT16, &v);
}
int gguf_writer_add_u32(gguf_writer *w, const char *key, uint32_t v)
{
    if (strcmp(key, "general.alignment") == 0) {
        if (v == 0 || (v & (v - 1)) != 0)
            return fail(w, GGUF_EFORMAT, "gguf writer: alignment %u is not a power of two", v);
        if (w->n_tensors)
            return fail(w, GGUF_EFORMAT, "gguf writer: set general.alignment before tensors");
        w->alignment = v;
    }
    return add_scalar(w, key, GGUF_TYPE_UINT32, &v);
}
int gguf_writer_add_i32(gguf_writer *w, const char *key, int32_t v)
{
    return add_scalar(w, key, GGUF_TYPE_INT32, &v);
}
int gguf_writer_add_u64(gguf_writer *w, const char *key, uint64_t v)
{
    return add_scalar(w, key, GGUF_TYPE_UINT64, &v);
}
int gguf_writer_add_i64(gguf_writer *w, const char *key, int64_t v)
{
    return add_scalar(w, key, GGUF_TYPE_INT64, &v);
}
int gguf_writer_add_f32(gguf_writer *w, const char *key, float v)
{
    return add_scalar(w, key, GGUF_TYPE_FLOAT32, &v);
}
int gguf_writer_add_f64(gguf_writer *w, const char *key, double v)
{
    return add_scalar(w, key, GGUF_TYPE_FLOAT64, &v);
}
int gguf_writer_add_bool(gguf_writer *w, const char *key, int v)
{
    uint8_t b = v ? 1 : 0;
    return add_scalar(w, key, GGUF_TYPE_BOOL, &b);
}

int gguf_writer_add_strn(gguf_writer *w, const char *key, const char *s, uint64_t len)
{
    if (begin_kv(w, key, GGUF_TYPE_STRING))
        return w->failed;
    return b_str(w, &w->kv, s, len);
}

int gguf_writer_add_str(gguf_writer *w, const char *key, const char *s)
{
    return gguf_writer_add_strn(w, key, s, strlen(s));
}

int gguf_writer_add_arr(gguf_writer *w, const char *key, gguf_type elem_type, const void *data,
                        uint64_t n)
{
    size_t es = gguf_type_size(elem_type);
    if (es == 0)
        return fail(w, GGUF_ETYPE, "gguf writer: key '%s': bad array element type %d", key,
                    (int)elem_type);
    if (begin_kv(w, key, GGUF_TYPE_ARRAY) || b_u32(w, &w->kv, (uint32_t)elem_type) ||
        b_u64(w, &w->kv, n))
        return w->failed;
    if (elem_type == GGUF_TYPE_BOOL) {
        const uint8_t *p = data;
        for (uint64_t i = 0; i < n; i++) {
            uint8_t b = p[i] ? 1 : 0;
            if (b_put(w, &w->kv, &b, 1))
                return w->failed;
        }
        return 0;
    }
    return b_put(w, &w->kv, data, n * es);
}

int gguf_writer_add_arr_str(gguf_writer *w, const char *key, const char *const *strs,
                            const uint32_t *lens, uint64_t n)
{
    if (begin_kv(w, key, GGUF_TYPE_ARRAY) || b_u32(w, &w->kv, GGUF_TYPE_STRING) ||
        b_u64(w, &w->kv, n))
        return w->failed;
    for (uint64_t i = 0; i < n; i++)
        if (b_str(w, &w->kv, strs[i], lens ? lens[i] : strlen(strs[i])))
            return w->failed;
    return 0;
}

int gguf_writer_add_tensor(gguf_writer *w, const char *name, ggml_type type, uint32_t n_dims,
                           const int64_t *ne)
{
    if (w->failed)
        return w->failed;
    if (w->header_done)
        return fail(w, GGUF_EFORMAT, "gguf writer: tensor '%s' added after the header", name);
    size_t nlen = strlen(name);
    if (nlen == 0 || nlen >= 64)
        return fail(w, GGUF_EFORMAT, "gguf writer: tensor name '%s' must be 1..63 bytes", name);
    if (n_dims < 1 || n_dims > GGUF_MAX_DIMS)
        return fail(w, GGUF_EFORMAT, "gguf writer: tensor '%s': n_dims %u", name, n_dims);
    uint32_t bs = ggml_type_block_size(type);
    if (bs == 0)
        return fail(w, GGUF_ETYPE, "gguf writer: tensor '%s': unknown type %d", name, (int)type);
    for (uint64_t i = 0; i < w->n_tensors; i++)
        if (strcmp(w->tensors[i].name, name) == 0)
            return fail(w, GGUF_EFORMAT, "gguf writer: duplicate tensor '%s'", name);
    wtensor t = {0};
    t.type = type;
    t.n_dims = n_dims;
    uint64_t nbytes = 0;
    for (uint32_t d = 0; d < GGUF_MAX_DIMS; d++) {
        t.ne[d] = d < n_dims ? ne[d] : 1;
        if (t.ne[d] < 1)
            return fail(w, GGUF_EFORMAT, "gguf writer: tensor '%s': ne[%u] = %lld", name, d,
                        (long long)t.ne[d]);
    }
    nbytes = ggml_row_bytes(type, t.ne[0]);
    if (nbytes == 0)
        return fail(w, GGUF_EFORMAT,
                    "gguf writer: tensor '%s': ne0 %lld is not a multiple of the %s block %u", name,
                    (long long)t.ne[0], ggml_type_name(type), bs);
    for (uint32_t d = 1; d < GGUF_MAX_DIMS; d++)
        nbytes *= (uint64_t)t.ne[d];
    t.nbytes = nbytes;
    uint64_t a = w->alignment;
    t.offset = (w->data_size + a - 1) / a * a;
    w->data_size = t.offset + nbytes;
    if (w->n_tensors == w->cap_tensors) {
        uint64_t cap = w->cap_tensors ? w->cap_tensors * 2 : 64;
        wtensor *nt = realloc(w->tensors, cap * sizeof *nt);
        if (!nt)
            return fail(w, GGUF_ENOMEM, "gguf writer: out of memory");
        w->tensors = nt;
        w->cap_tensors = cap;
    }
    if (!(t.name = strdup(name)))
        return fail(w, GGUF_ENOMEM, "gguf writer: out of memory");
    w->tensors[w->n_tensors++] = t;
    return 0;
}

static int raw_write(gguf_writer *w, const void *p, size_t n)
{
    const uint8_t *q = p;
    if (w->counting)
        return 0;
    while (n > 0) {
        ssize_t k = write(w->fd, q, n);
        if (k < 0) {
            if (errno == EINTR)
                continue;
            return fail(w, GGUF_EIO, "gguf writer: write to %s failed: %s", w->path,
                        strerror(errno));
        }
        q += k;
        n -= (size_t)k;
    }
    return 0;
}

static int flush_out(gguf_writer *w)
{
    if (w->out_len == 0)
        return 0;
    int rc = raw_write(w, w->out, w->out_len);
    w->out_len = 0;
    return rc;
}

static int emit(gguf_writer *w, const void *p, size_t n)
{
    if (w->failed)
        return w->failed;
    w->written += n;
    if (n >= OUTBUF_SIZE / 2) {
        if (flush_out(w))
            return w->failed;
        return raw_write(w, p, n);
    }
    if (w->out_len + n > OUTBUF_SIZE && flush_out(w))
        return w->failed;
    memcpy(w->out + w->out_len, p, n);
    w->out_len += n;
    return 0;
}

static int emit_zeros(gguf_writer *w, uint64_t n)
{
    static const uint8_t zeros[256];
    while (n > 0) {
        size_t k = n < sizeof zeros ? (size_t)n : sizeof zeros;
        if (emit(w, zeros, k))
            return w->failed;
        n -= k;
    }
    return 0;
}

int gguf_writer_write_header(gguf_writer *w)
{
    if (w->failed)
        return w->failed;
    if (w->header_done)
        return fail(w, GGUF_EFORMAT, "gguf writer: header written twice");
    bytes h = {0};
    uint32_t version = 3;
    if (b_put(w, &h, "GGUF", 4) || b_u32(w, &h, version) || b_u64(w, &h, w->n_tensors) ||
        b_u64(w, &h, w->n_kv) || b_put(w, &h, w->kv.p, w->kv.len)) {
        free(h.p);
        return w->failed;
    }
    for (uint64_t i = 0; i < w->n_tensors; i++) {
        const wtensor *t = &w->tensors[i];
        if (b_str(w, &h, t->name, strlen(t->name)) || b_u32(w, &h, t->n_dims))
            break;
        for (uint32_t d = 0; d < t->n_dims; d++)
            b_u64(w, &h, (uint64_t)t->ne[d]);
        b_u32(w, &h, (uint32_t)t->type);
        b_u64(w, &h, t->offset);
    }
    if (!w->failed)
        emit(w, h.p, h.len);
    free(h.p);
    if (w->failed)
        return w->failed;
    uint64_t a = w->alignment;
    if (emit_zeros(w, (a - w->written % a) % a))
        return w->failed;
    w->header_done = 1;
    w->cur = 0;
    w->cur_done = 0;
    return 0;
}

uint64_t gguf_writer_remaining(const gguf_writer *w)
{
    if (!w->header_done || w->cur >= w->n_tensors)
        return 0;
    return w->tensors[w->cur].nbytes - w->cur_done;
}

uint64_t gguf_writer_bytes_written(const gguf_writer *w)
{
    return w->written;
}

int gguf_writer_write_tensor_data(gguf_writer *w, const void *data, size_t n)
{
    if (w->failed)
        return w->failed;
    if (!w->header_done)
        return fail(w, GGUF_EFORMAT, "gguf writer: tensor data before the header");
    const uint8_t *p = data;
    while (n > 0) {
        if (w->cur >= w->n_tensors)
            return fail(w, GGUF_EFORMAT, "gguf writer: %zu bytes of data past the last tensor", n);
        wtensor *t = &w->tensors[w->cur];
        uint64_t left = t->nbytes - w->cur_done;
        size_t k = n < left ? n : (size_t)left;
        if (emit(w, p, k))
            return w->failed;
        p += k;
        n -= k;
        w->cur_done += k;
        if (w->cur_done == t->nbytes) {
            w->cur++;
            w->cur_done = 0;
            if (w->cur < w->n_tensors) {
                uint64_t gap = w->tensors[w->cur].offset - (t->offset + t->nbytes);
                if (emit_zeros(w, gap))
                    return w->failed;
            }
        }
    }
    return 0;
}

static void free_writer(gguf_writer *w)
{
    for (uint64_t i = 0; i < w->n_kv; i++)
        free(w->keys[i]);
    free(w->keys);
    for (uint64_t i = 0; i < w->n_tensors; i++)
        free(w->tensors[i].name);
    free(w->tensors);
    free(w->kv.p);
    free(w->out);
    free(w->path);
    free(w);
}

int gguf_writer_close(gguf_writer *w, char *err, size_t errlen)
{
    if (!w->failed && !w->header_done)
        fail(w, GGUF_EFORMAT, "gguf writer: closed before the header was written");
    if (!w->failed && w->cur < w->n_tensors)
        fail(w, GGUF_EFORMAT, "gguf writer: tensor '%s' incomplete (%llu of %llu bytes)",
             w->tensors[w->cur].name, (unsigned long long)w->cur_done,
             (unsigned long long)w->tensors[w->cur].nbytes);
    if (!w->failed)
        flush_out(w);
    if (!w->counting && close(w->fd) != 0 && !w->failed)
        fail(w, GGUF_EIO, "gguf writer: closing %s: %s", w->path, strerror(errno));
    int rc = w->failed;
    if (rc) {
        if (!w->counting)
            unlink(w->path);
        if (err && errlen)
            snprintf(err, errlen, "%s", w->err);
    }
    free_writer(w);
    return rc;
}

void gguf_writer_abort(gguf_writer *w)
{
    if (!w->counting) {
        close(w->fd);
        unlink(w->path);
    }
    free_writer(w);
}
