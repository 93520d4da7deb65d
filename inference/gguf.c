/*
 * GGUF reader (see gguf.h). The whole header is parsed and checked at open with a bounds-
 * checked cursor; afterwards every accessor only reads what open already validated.
 */
#include "inference/gguf.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define GGUF_MAGIC "GGUF"
#define GGUF_MAX_NAME 256 /* longest tensor name accepted (ggml itself allows 63) */

typedef struct {
    const char *key; /* into the map, not NUL-terminated */
    uint64_t key_len;
    gguf_type type;
    gguf_type arr_type; /* for arrays */
    uint64_t n;         /* array length (1 for scalars) */
    uint64_t val_off;   /* file offset of the value (arrays: of the first element) */
    uint64_t *str_offs; /* string arrays: file offset of each element's length field */
} gguf_kv;

struct gguf_file {
    const uint8_t *base;
    uint64_t size;
    int mapped;
    uint32_t version;
    uint32_t alignment;
    int64_t n_kv;
    gguf_kv *kvs;
    int64_t n_tensors;
    gguf_tensor *tensors;
    char *names; /* NUL-terminated tensor names, one block */
    uint64_t data_offset;
    char last_err[256];
};

/* ---- type tables ---- */

static const char *const kv_type_names[GGUF_TYPE_COUNT] = {
    "u8", "i8", "u16", "i16", "u32", "i32", "f32", "bool", "string", "array", "u64", "i64", "f64"};
static const uint8_t kv_type_sizes[GGUF_TYPE_COUNT] = {1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8};

const char *gguf_type_name(gguf_type t)
{
    return ((unsigned)t < GGUF_TYPE_COUNT) ? kv_type_names[t] : "?";
}

size_t gguf_type_size(gguf_type t)
{
    return ((unsigned)t < GGUF_TYPE_COUNT) ? kv_type_sizes[t] : 0;
}

typedef struct {
    const char *name;
    uint16_t block_size;
    uint16_t block_bytes;
} ggml_type_info;

/* Block layouts of ggml (ggml-common.h); ids with no entry are not recognised. */
static const ggml_type_info ggml_types[GGML_TYPE_COUNT] = {
    [GGML_TYPE_F32] = {"f32", 1, 4},
    [GGML_TYPE_F16] = {"f16", 1, 2},
    [GGML_TYPE_Q4_0] = {"q4_0", 32, 18},
    [GGML_TYPE_Q4_1] = {"q4_1", 32, 20},
    [GGML_TYPE_Q5_0] = {"q5_0", 32, 22},
    [GGML_TYPE_Q5_1] = {"q5_1", 32, 24},
    [GGML_TYPE_Q8_0] = {"q8_0", 32, 34},
    [GGML_TYPE_Q8_1] = {"q8_1", 32, 36},
    [GGML_TYPE_Q2_K] = {"q2_K", 256, 84},
    [GGML_TYPE_Q3_K] = {"q3_K", 256, 110},
    [GGML_TYPE_Q4_K] = {"q4_K", 256, 144},
    [GGML_TYPE_Q5_K] = {"q5_K", 256, 176},
    [GGML_TYPE_Q6_K] = {"q6_K", 256, 210},
    [GGML_TYPE_Q8_K] = {"q8_K", 256, 292},
    [GGML_TYPE_IQ2_XXS] = {"iq2_xxs", 256, 66},
    [GGML_TYPE_IQ2_XS] = {"iq2_xs", 256, 74},
    [GGML_TYPE_IQ3_XXS] = {"iq3_xxs", 256, 98},
    [GGML_TYPE_IQ1_S] = {"iq1_s", 256, 50},
    [GGML_TYPE_IQ4_NL] = {"iq4_nl", 32, 18},
    [GGML_TYPE_IQ3_S] = {"iq3_s", 256, 110},
    [GGML_TYPE_IQ2_S] = {"iq2_s", 256, 82},
    [GGML_TYPE_IQ4_XS] = {"iq4_xs", 256, 136},
    [GGML_TYPE_I8] = {"i8", 1, 1},
    [GGML_TYPE_I16] = {"i16", 1, 2},
    [GGML_TYPE_I32] = {"i32", 1, 4},
    [GGML_TYPE_I64] = {"i64", 1, 8},
    [GGML_TYPE_F64] = {"f64", 1, 8},
    [GGML_TYPE_IQ1_M] = {"iq1_m", 256, 56},
    [GGML_TYPE_BF16] = {"bf16", 1, 2},
    [GGML_TYPE_TQ1_0] = {"tq1_0", 256, 54},
    [GGML_TYPE_TQ2_0] = {"tq2_0", 256, 66},
    [GGML_TYPE_MXFP4] = {"mxfp4", 32, 17},
};

const char *ggml_type_name(ggml_type t)
{
    return ((unsigned)t < GGML_TYPE_COUNT) ? ggml_types[t].name : NULL;
}

uint32_t ggml_type_block_size(ggml_type t)
{
    return ((unsigned)t < GGML_TYPE_COUNT) ? ggml_types[t].block_size : 0;
}

uint32_t ggml_type_block_bytes(ggml_type t)
{
    return ((unsigned)t < GGML_TYPE_COUNT) ? ggml_types[t].block_bytes : 0;
}

uint64_t ggml_row_bytes(ggml_type t, int64_t ne0)
{
    uint32_t bs = ggml_type_block_size(t);
    if (bs == 0 || ne0 < 0 || ne0 % bs != 0)
        return 0;
    return (uint64_t)(ne0 / bs) * ggml_type_block_bytes(t);
}

/* ---- errors ---- */

static void set_err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
    if (!err || errlen == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

/* Getters report into the file's last_err; the struct is heap memory owned by the caller's
 * handle, so writing it through a const pointer is well defined (documented in gguf.h). */
static int getter_fail(const gguf_file *f, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int getter_fail(const gguf_file *f, int code, const char *fmt, ...)
{
    gguf_file *mf = (gguf_file *)f;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(mf->last_err, sizeof mf->last_err, fmt, ap);
    va_end(ap);
    return code;
}

const char *gguf_last_error(const gguf_file *f)
{
    return f->last_err;
}

/* ---- bounds-checked cursor ---- */

typedef struct {
    const uint8_t *p;
    uint64_t size;
    uint64_t off;
} cursor;

static int cur_need(const cursor *c, uint64_t n)
{
    return n <= c->size - c->off; /* off <= size always holds */
}

static int cur_u32(cursor *c, uint32_t *v)
{
    if (!cur_need(c, 4))
        return -1;
    memcpy(v, c->p + c->off, 4);
    c->off += 4;
    return 0;
}

static int cur_u64(cursor *c, uint64_t *v)
{
    if (!cur_need(c, 8))
        return -1;
    memcpy(v, c->p + c->off, 8);
    c->off += 8;
    return 0;
}

/* A GGUF string: u64 length then bytes. */
static int cur_str(cursor *c, const char **s, uint64_t *len)
{
    uint64_t n;
    if (cur_u64(c, &n) || !cur_need(c, n))
        return -1;
    *s = (const char *)c->p + c->off;
    *len = n;
    c->off += n;
    return 0;
}

static int valid_kv_type(uint32_t t)
{
    return t < GGUF_TYPE_COUNT;
}

/* Prints a key for messages: at most 80 bytes, non-printables as '?'. */
static void key_for_msg(const char *k, uint64_t len, char out[96])
{
    uint64_t n = len < 80 ? len : 80;
    for (uint64_t i = 0; i < n; i++)
        out[i] = (k[i] >= 32 && k[i] < 127) ? k[i] : '?';
    out[n] = 0;
    if (len > 80)
        strcpy(out + n, "...");
}

static int parse_kv(cursor *c, gguf_kv *kv, int64_t idx, char *err, size_t errlen)
{
    char kname[96];
    uint64_t at = c->off;
    if (cur_str(c, &kv->key, &kv->key_len)) {
        set_err(err, errlen, "gguf: KV %lld: key truncated at offset %llu", (long long)idx,
                (unsigned long long)at);
        return GGUF_EFORMAT;
    }
    key_for_msg(kv->key, kv->key_len, kname);
    if (kv->key_len == 0) {
        set_err(err, errlen, "gguf: KV %lld: empty key at offset %llu", (long long)idx,
                (unsigned long long)at);
        return GGUF_EFORMAT;
    }
    uint32_t t;
    at = c->off;
    if (cur_u32(c, &t)) {
        set_err(err, errlen, "gguf: key '%s': type truncated at offset %llu", kname,
                (unsigned long long)at);
        return GGUF_EFORMAT;
    }
    if (!valid_kv_type(t)) {
        set_err(err, errlen, "gguf: key '%s': invalid type %u at offset %llu", kname, t,
                (unsigned long long)at);
        return GGUF_EFORMAT;
    }
    kv->type = (gguf_type)t;
    kv->n = 1;
    kv->arr_type = GGUF_TYPE_COUNT;
    if (t == GGUF_TYPE_STRING) {
        const char *s;
        uint64_t len;
        kv->val_off = c->off;
        if (cur_str(c, &s, &len)) {
            set_err(err, errlen, "gguf: key '%s': string value truncated at offset %llu", kname,
                    (unsigned long long)kv->val_off);
            return GGUF_EFORMAT;
        }
        return 0;
    }
    if (t != GGUF_TYPE_ARRAY) {
        kv->val_off = c->off;
        if (!cur_need(c, kv_type_sizes[t])) {
            set_err(err, errlen, "gguf: key '%s': %s value truncated at offset %llu", kname,
                    kv_type_names[t], (unsigned long long)c->off);
            return GGUF_EFORMAT;
        }
        c->off += kv_type_sizes[t];
        return 0;
    }
    uint32_t et;
    uint64_t n;
    at = c->off;
    if (cur_u32(c, &et) || cur_u64(c, &n)) {
        set_err(err, errlen, "gguf: key '%s': array header truncated at offset %llu", kname,
                (unsigned long long)at);
        return GGUF_EFORMAT;
    }
    if (!valid_kv_type(et) || et == GGUF_TYPE_ARRAY) {
        set_err(err, errlen, "gguf: key '%s': invalid array element type %u at offset %llu", kname,
                et, (unsigned long long)at);
        return GGUF_EFORMAT;
    }
    kv->arr_type = (gguf_type)et;
    kv->n = n;
    kv->val_off = c->off;
    if (et != GGUF_TYPE_STRING) {
        uint64_t es = kv_type_sizes[et];
        if (n > (c->size - c->off) / es) {
            set_err(err, errlen,
                    "gguf: key '%s': array of %llu %s runs past the end of the file "
                    "(offset %llu, size %llu)",
                    kname, (unsigned long long)n, kv_type_names[et], (unsigned long long)c->off,
                    (unsigned long long)c->size);
            return GGUF_EFORMAT;
        }
        c->off += n * es;
        return 0;
    }
    /* Each string takes at least its 8-byte length: bound n before allocating. */
    if (n > (c->size - c->off) / 8) {
        set_err(err, errlen,
                "gguf: key '%s': string array of %llu entries runs past the end of the file "
                "(offset %llu)",
                kname, (unsigned long long)n, (unsigned long long)c->off);
        return GGUF_EFORMAT;
    }
    kv->str_offs = malloc((n ? n : 1) * sizeof *kv->str_offs);
    if (!kv->str_offs) {
        set_err(err, errlen, "gguf: key '%s': out of memory for %llu strings", kname,
                (unsigned long long)n);
        return GGUF_ENOMEM;
    }
    for (uint64_t i = 0; i < n; i++) {
        const char *s;
        uint64_t len;
        kv->str_offs[i] = c->off;
        if (cur_str(c, &s, &len)) {
            set_err(err, errlen, "gguf: key '%s': string %llu of %llu truncated at offset %llu",
                    kname, (unsigned long long)i, (unsigned long long)n,
                    (unsigned long long)kv->str_offs[i]);
            return GGUF_EFORMAT;
        }
    }
    return 0;
}

static int64_t find_key_raw(const gguf_file *f, const char *key, size_t len)
{
    for (int64_t i = 0; i < f->n_kv; i++)
        if (f->kvs[i].key_len == len && memcmp(f->kvs[i].key, key, len) == 0)
            return i;
    return -1;
}

static int parse_tensor(cursor *c, gguf_tensor *t, int64_t idx, char **names_pos, char *err,
                        size_t errlen)
{
    uint64_t at = c->off;
    const char *name;
    uint64_t nlen;
    if (cur_str(c, &name, &nlen)) {
        set_err(err, errlen, "gguf: tensor %lld: name truncated at offset %llu", (long long)idx,
                (unsigned long long)at);
        return GGUF_EFORMAT;
    }
    char tname[96];
    key_for_msg(name, nlen, tname);
    if (nlen == 0 || nlen >= GGUF_MAX_NAME || memchr(name, 0, nlen)) {
        set_err(err, errlen, "gguf: tensor %lld: bad name '%s' (length %llu) at offset %llu",
                (long long)idx, tname, (unsigned long long)nlen, (unsigned long long)at);
        return GGUF_EFORMAT;
    }
    memcpy(*names_pos, name, nlen);
    (*names_pos)[nlen] = 0;
    t->name = *names_pos;
    t->name_len = (uint32_t)nlen;
    *names_pos += nlen + 1;

    uint32_t nd;
    at = c->off;
    if (cur_u32(c, &nd)) {
        set_err(err, errlen, "gguf: tensor '%s': n_dims truncated at offset %llu", tname,
                (unsigned long long)at);
        return GGUF_EFORMAT;
    }
    if (nd < 1 || nd > GGUF_MAX_DIMS) {
        set_err(err, errlen, "gguf: tensor '%s': n_dims %u out of range 1..4 at offset %llu", tname,
                nd, (unsigned long long)at);
        return GGUF_EFORMAT;
    }
    t->n_dims = nd;
    uint64_t nel = 1;
    for (int d = 0; d < GGUF_MAX_DIMS; d++) {
        uint64_t ne = 1;
        if ((uint32_t)d < nd) {
            at = c->off;
            if (cur_u64(c, &ne)) {
                set_err(err, errlen, "gguf: tensor '%s': dim %d truncated at offset %llu", tname, d,
                        (unsigned long long)at);
                return GGUF_EFORMAT;
            }
            if (ne > (uint64_t)INT64_MAX || (ne != 0 && nel > (uint64_t)INT64_MAX / ne)) {
                set_err(err, errlen,
                        "gguf: tensor '%s': dim %d = %llu overflows the element count "
                        "(offset %llu)",
                        tname, d, (unsigned long long)ne, (unsigned long long)at);
                return GGUF_EFORMAT;
            }
        }
        t->ne[d] = (int64_t)ne;
        nel *= ne;
    }
    t->n_elements = nel;
    uint32_t ty;
    at = c->off;
    if (cur_u32(c, &ty)) {
        set_err(err, errlen, "gguf: tensor '%s': type truncated at offset %llu", tname,
                (unsigned long long)at);
        return GGUF_EFORMAT;
    }
    if (ty >= GGML_TYPE_COUNT || ggml_types[ty].name == NULL) {
        set_err(err, errlen, "gguf: tensor '%s': unknown ggml type %u at offset %llu", tname, ty,
                (unsigned long long)at);
        return GGUF_EFORMAT;
    }
    t->type = (ggml_type)ty;
    uint32_t bs = ggml_types[ty].block_size;
    if (t->ne[0] % bs != 0) {
        set_err(err, errlen,
                "gguf: tensor '%s': ne0 = %lld is not a multiple of the %s block size %u", tname,
                (long long)t->ne[0], ggml_types[ty].name, bs);
        return GGUF_EFORMAT;
    }
    /* bytes = (ne0/bs)*block_bytes * ne1*ne2*ne3, checked for overflow */
    uint64_t bytes = (uint64_t)(t->ne[0] / bs) * ggml_types[ty].block_bytes;
    for (int d = 1; d < GGUF_MAX_DIMS; d++) {
        uint64_t ne = (uint64_t)t->ne[d];
        if (ne != 0 && bytes > UINT64_MAX / ne) {
            set_err(err, errlen, "gguf: tensor '%s': byte size overflows", tname);
            return GGUF_EFORMAT;
        }
        bytes *= ne;
    }
    t->nbytes = bytes;
    at = c->off;
    if (cur_u64(c, &t->offset)) {
        set_err(err, errlen, "gguf: tensor '%s': data offset truncated at offset %llu", tname,
                (unsigned long long)at);
        return GGUF_EFORMAT;
    }
    return 0;
}

static int parse(gguf_file *f, char *err, size_t errlen)
{
    cursor c = {f->base, f->size, 0};
    if (f->size < 4 || memcmp(f->base, GGUF_MAGIC, 4) != 0) {
        set_err(err, errlen, "gguf: not a GGUF file (bad magic at offset 0)");
        return GGUF_EFORMAT;
    }
    c.off = 4;
    uint64_t nt, nkv;
    if (cur_u32(&c, &f->version) || cur_u64(&c, &nt) || cur_u64(&c, &nkv)) {
        set_err(err, errlen, "gguf: header truncated (file is %llu bytes)",
                (unsigned long long)f->size);
        return GGUF_EFORMAT;
    }
    if (f->version != 2 && f->version != 3) {
        set_err(err, errlen, "gguf: unsupported version %u (only 2 and 3)", f->version);
        return GGUF_EFORMAT;
    }
    /* Minimal sizes: a KV takes >= 8 (key len) + 1 + 4 + 1 bytes, a tensor info
     * 8 + 1 + 4 + 8 + 4 + 8. Bound the counts before allocating. */
    if (nkv > (f->size - c.off) / 14) {
        set_err(err, errlen, "gguf: KV count %llu cannot fit in a file of %llu bytes",
                (unsigned long long)nkv, (unsigned long long)f->size);
        return GGUF_EFORMAT;
    }
    if (nt > (f->size - c.off) / 33) {
        set_err(err, errlen, "gguf: tensor count %llu cannot fit in a file of %llu bytes",
                (unsigned long long)nt, (unsigned long long)f->size);
        return GGUF_EFORMAT;
    }
    f->kvs = calloc(nkv ? nkv : 1, sizeof *f->kvs);
    f->tensors = calloc(nt ? nt : 1, sizeof *f->tensors);
    if (!f->kvs || !f->tensors) {
        set_err(err, errlen, "gguf: out of memory");
        return GGUF_ENOMEM;
    }
    for (uint64_t i = 0; i < nkv; i++) {
        int rc = parse_kv(&c, &f->kvs[i], (int64_t)i, err, errlen);
        f->n_kv = (int64_t)i + 1; /* so close frees str_offs of a partly parsed KV */
        if (rc)
            return rc;
        if (find_key_raw(f, f->kvs[i].key, f->kvs[i].key_len) != (int64_t)i) {
            char kname[96];
            key_for_msg(f->kvs[i].key, f->kvs[i].key_len, kname);
            set_err(err, errlen, "gguf: duplicate key '%s'", kname);
            return GGUF_EFORMAT;
        }
    }
    f->alignment = GGUF_DEFAULT_ALIGNMENT;
    int64_t ai = find_key_raw(f, "general.alignment", 17);
    if (ai >= 0) {
        const gguf_kv *kv = &f->kvs[ai];
        uint32_t a;
        if (kv->type != GGUF_TYPE_UINT32) {
            set_err(err, errlen, "gguf: general.alignment is %s, must be u32",
                    gguf_type_name(kv->type));
            return GGUF_EFORMAT;
        }
        memcpy(&a, f->base + kv->val_off, 4);
        if (a == 0 || (a & (a - 1)) != 0) {
            set_err(err, errlen, "gguf: general.alignment %u is not a power of two", a);
            return GGUF_EFORMAT;
        }
        f->alignment = a;
    }
    /* Tensor names: the raw name bytes are bounded by the file size. */
    uint64_t names_cap = f->size - c.off;
    if (names_cap > nt * GGUF_MAX_NAME)
        names_cap = nt * GGUF_MAX_NAME;
    names_cap += nt + 1;
    f->names = malloc(names_cap);
    if (!f->names) {
        set_err(err, errlen, "gguf: out of memory");
        return GGUF_ENOMEM;
    }
    char *np = f->names;
    for (uint64_t i = 0; i < nt; i++) {
        int rc = parse_tensor(&c, &f->tensors[i], (int64_t)i, &np, err, errlen);
        if (rc)
            return rc;
        f->n_tensors = (int64_t)i + 1;
        for (uint64_t j = 0; j < i; j++)
            if (f->tensors[j].name_len == f->tensors[i].name_len &&
                memcmp(f->tensors[j].name, f->tensors[i].name, f->tensors[i].name_len) == 0) {
                set_err(err, errlen, "gguf: duplicate tensor '%s'", f->tensors[i].name);
                return GGUF_EFORMAT;
            }
    }
    f->n_tensors = (int64_t)nt;
    /* Data section: starts at the next multiple of the alignment. */
    uint64_t a = f->alignment;
    uint64_t ds = c.off + (a - c.off % a) % a;
    if (nt > 0 && ds > f->size) {
        set_err(err, errlen, "gguf: data section would start at %llu, past the end (%llu)",
                (unsigned long long)ds, (unsigned long long)f->size);
        return GGUF_EFORMAT;
    }
    f->data_offset = ds < f->size ? ds : f->size;
    uint64_t avail = f->size - f->data_offset;
    for (int64_t i = 0; i < f->n_tensors; i++) {
        gguf_tensor *t = &f->tensors[i];
        if (t->offset % a != 0) {
            set_err(err, errlen, "gguf: tensor '%s': data offset %llu is not aligned to %llu",
                    t->name, (unsigned long long)t->offset, (unsigned long long)a);
            return GGUF_EFORMAT;
        }
        if (t->offset > avail || t->nbytes > avail - t->offset) {
            set_err(err, errlen,
                    "gguf: tensor '%s': data [%llu, +%llu) runs past the end of the file "
                    "(data section %llu bytes at offset %llu)",
                    t->name, (unsigned long long)t->offset, (unsigned long long)t->nbytes,
                    (unsigned long long)avail, (unsigned long long)f->data_offset);
            return GGUF_EFORMAT;
        }
        t->offset += f->data_offset;
        t->data = f->base + t->offset;
    }
    return 0;
}

static int open_common(gguf_file *f, gguf_file **out, char *err, size_t errlen)
{
    int rc = parse(f, err, errlen);
    if (rc) {
        gguf_close(f);
        return rc;
    }
    *out = f;
    return 0;
}

int gguf_open_memory(const void *data, size_t size, gguf_file **out, char *err, size_t errlen)
{
    *out = NULL;
    gguf_file *f = calloc(1, sizeof *f);
    if (!f) {
        set_err(err, errlen, "gguf: out of memory");
        return GGUF_ENOMEM;
    }
    static const uint8_t empty[1];
    f->base = size ? data : empty;
    f->size = size;
    return open_common(f, out, err, errlen);
}

int gguf_open(const char *path, gguf_file **out, char *err, size_t errlen)
{
    *out = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        set_err(err, errlen, "gguf: cannot open %s: %s", path, strerror(errno));
        return GGUF_EIO;
    }
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        set_err(err, errlen, "gguf: %s is not a regular file", path);
        close(fd);
        return GGUF_EIO;
    }
    if (st.st_size < 24) {
        set_err(err, errlen, "gguf: %s: file too short (%lld bytes) for a GGUF header", path,
                (long long)st.st_size);
        close(fd);
        return GGUF_EFORMAT;
    }
    void *m = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    int e = errno;
    close(fd);
    if (m == MAP_FAILED) {
        set_err(err, errlen, "gguf: cannot mmap %s: %s", path, strerror(e));
        return GGUF_EIO;
    }
    gguf_file *f = calloc(1, sizeof *f);
    if (!f) {
        munmap(m, (size_t)st.st_size);
        set_err(err, errlen, "gguf: out of memory");
        return GGUF_ENOMEM;
    }
    f->base = m;
    f->size = (uint64_t)st.st_size;
    f->mapped = 1;
    int rc = open_common(f, out, err, errlen);
    if (rc && err && errlen) {
        /* prefix the path */
        char tmp[512];
        snprintf(tmp, sizeof tmp, "%s: %s", path, err);
        snprintf(err, errlen, "%s", tmp);
    }
    return rc;
}

void gguf_close(gguf_file *f)
{
    if (!f)
        return;
    for (int64_t i = 0; i < f->n_kv; i++)
        free(f->kvs[i].str_offs);
    free(f->kvs);
    free(f->tensors);
    free(f->names);
    if (f->mapped)
        munmap((void *)f->base, f->size);
    free(f);
}

uint32_t gguf_version(const gguf_file *f)
{
    return f->version;
}
uint32_t gguf_alignment(const gguf_file *f)
{
    return f->alignment;
}
const void *gguf_base(const gguf_file *f)
{
    return f->base;
}
uint64_t gguf_size(const gguf_file *f)
{
    return f->size;
}
uint64_t gguf_data_offset(const gguf_file *f)
{
    return f->data_offset;
}

/* ---- metadata ---- */

int64_t gguf_n_kv(const gguf_file *f)
{
    return f->n_kv;
}

int64_t gguf_find_key(const gguf_file *f, const char *key)
{
    return find_key_raw(f, key, strlen(key));
}

const char *gguf_kv_key(const gguf_file *f, int64_t i, uint64_t *len)
{
    if (i < 0 || i >= f->n_kv)
        return NULL;
    if (len)
        *len = f->kvs[i].key_len;
    return f->kvs[i].key;
}

gguf_type gguf_kv_type(const gguf_file *f, int64_t i)
{
    if (i < 0 || i >= f->n_kv)
        return GGUF_TYPE_COUNT;
    return f->kvs[i].type;
}

int gguf_kv_arr(const gguf_file *f, int64_t i, gguf_type *elem_type, uint64_t *n)
{
    if (i < 0 || i >= f->n_kv)
        return getter_fail(f, GGUF_ERANGE, "KV index %lld out of range", (long long)i);
    if (f->kvs[i].type != GGUF_TYPE_ARRAY)
        return getter_fail(f, GGUF_ETYPE, "KV %lld is %s, not an array", (long long)i,
                           gguf_type_name(f->kvs[i].type));
    if (elem_type)
        *elem_type = f->kvs[i].arr_type;
    if (n)
        *n = f->kvs[i].n;
    return 0;
}

/* Reads one integer scalar of type t at p (little-endian, as GGUF stores it) as a signed or
 * unsigned 64-bit value for range checks; -1 if t is not an integer type. */
static int read_int(gguf_type t, const uint8_t *p, int64_t *sv, uint64_t *uv, int *is_signed)
{
    int sign;
    switch (t) {
    case GGUF_TYPE_UINT8:
    case GGUF_TYPE_UINT16:
    case GGUF_TYPE_UINT32:
    case GGUF_TYPE_UINT64:
        sign = 0;
        break;
    case GGUF_TYPE_INT8:
    case GGUF_TYPE_INT16:
    case GGUF_TYPE_INT32:
    case GGUF_TYPE_INT64:
        sign = 1;
        break;
    default:
        return -1;
    }
    unsigned n = kv_type_sizes[t];
    uint64_t u = 0;
    for (unsigned i = 0; i < n; i++)
        u |= (uint64_t)p[i] << (8 * i);
    if (sign && n < 8 && (u >> (8 * n - 1)) & 1)
        u |= ~UINT64_C(0) << (8 * n); /* sign-extend */
    *is_signed = sign;
    if (sign)
        memcpy(sv, &u, 8); /* two's complement bits as int64 */
    else
        *uv = u;
    return 0;
}

static const gguf_kv *lookup(const gguf_file *f, const char *key, int *rc)
{
    int64_t i = gguf_find_key(f, key);
    if (i < 0) {
        *rc = getter_fail(f, GGUF_ENOTFOUND, "key '%s' not found", key);
        return NULL;
    }
    return &f->kvs[i];
}

/* Converts the integer at p (type t) to [lo, hi] (as signed 128-ish via two paths). */
static int int_in_range(const gguf_file *f, const char *what, gguf_type t, const uint8_t *p,
                        int64_t lo, uint64_t hi, int is_u64_target, int64_t *out_s, uint64_t *out_u)
{
    int64_t sv = 0;
    uint64_t uv = 0;
    int is_signed;
    if (read_int(t, p, &sv, &uv, &is_signed))
        return getter_fail(f, GGUF_ETYPE, "%s is %s, wanted an integer", what, gguf_type_name(t));
    if (is_signed) {
        if (sv < lo || (sv >= 0 && (uint64_t)sv > hi))
            return getter_fail(f, GGUF_ERANGE, "%s = %lld is out of range", what, (long long)sv);
        *out_s = sv;
        *out_u = (uint64_t)sv;
    } else {
        if (uv > hi)
            return getter_fail(f, GGUF_ERANGE, "%s = %llu is out of range", what,
                               (unsigned long long)uv);
        *out_u = uv;
        *out_s = is_u64_target ? 0 : (int64_t)uv;
    }
    return 0;
}

/* Locates element i of a numeric array key. */
static int arr_elem(const gguf_file *f, const char *key, uint64_t i, gguf_type *t,
                    const uint8_t **p)
{
    int rc;
    const gguf_kv *kv = lookup(f, key, &rc);
    if (!kv)
        return rc;
    if (kv->type != GGUF_TYPE_ARRAY || kv->arr_type == GGUF_TYPE_STRING)
        return getter_fail(f, GGUF_ETYPE, "key '%s' is not a numeric array", key);
    if (i >= kv->n)
        return getter_fail(f, GGUF_ERANGE, "key '%s': index %llu out of range (%llu)", key,
                           (unsigned long long)i, (unsigned long long)kv->n);
    *t = kv->arr_type;
    *p = f->base + kv->val_off + i * kv_type_sizes[kv->arr_type];
    return 0;
}

/* Locates the value of a scalar key (idx < 0) or element idx of a numeric array key, and names
 * it for messages ("key 'k'" or "key 'k'[i]"). */
static int locate(const gguf_file *f, const char *key, int64_t idx, gguf_type *t, const uint8_t **p,
                  char what[128])
{
    int rc;
    if (idx >= 0) {
        rc = arr_elem(f, key, (uint64_t)idx, t, p);
        snprintf(what, 128, "key '%s'[%lld]", key, (long long)idx);
        return rc;
    }
    const gguf_kv *kv = lookup(f, key, &rc);
    if (!kv)
        return rc;
    *t = kv->type;
    *p = f->base + kv->val_off;
    snprintf(what, 128, "key '%s'", key);
    return 0;
}

/* The integer at (key, idx) checked against [lo, hi]. */
static int get_int(const gguf_file *f, const char *key, int64_t idx, int64_t lo, uint64_t hi,
                   int is_u64_target, int64_t *s, uint64_t *u)
{
    gguf_type t = GGUF_TYPE_COUNT;
    const uint8_t *p = NULL;
    char what[128];
    int rc = locate(f, key, idx, &t, &p, what);
    if (rc)
        return rc;
    *s = 0;
    *u = 0;
    return int_in_range(f, what, t, p, lo, hi, is_u64_target, s, u);
}

int gguf_get_u32(const gguf_file *f, const char *key, uint32_t *v)
{
    int64_t s;
    uint64_t u;
    int rc = get_int(f, key, -1, 0, UINT32_MAX, 0, &s, &u);
    if (rc == 0)
        *v = (uint32_t)u;
    return rc;
}

int gguf_get_i32(const gguf_file *f, const char *key, int32_t *v)
{
    int64_t s;
    uint64_t u;
    int rc = get_int(f, key, -1, INT32_MIN, INT32_MAX, 0, &s, &u);
    if (rc == 0)
        *v = (int32_t)s;
    return rc;
}

int gguf_get_u64(const gguf_file *f, const char *key, uint64_t *v)
{
    int64_t s;
    uint64_t u;
    int rc = get_int(f, key, -1, 0, UINT64_MAX, 1, &s, &u);
    if (rc == 0)
        *v = u;
    return rc;
}

static int read_f32(const gguf_file *f, const char *what, gguf_type t, const uint8_t *p, float *v)
{
    if (t == GGUF_TYPE_FLOAT32) {
        memcpy(v, p, 4);
        return 0;
    }
    if (t == GGUF_TYPE_FLOAT64) {
        double d;
        memcpy(&d, p, 8);
        *v = (float)d;
        return 0;
    }
    return getter_fail(f, GGUF_ETYPE, "%s is %s, wanted f32", what, gguf_type_name(t));
}

/* The f32 (or f64, narrowed) at (key, idx). */
static int get_f32(const gguf_file *f, const char *key, int64_t idx, float *v)
{
    gguf_type t = GGUF_TYPE_COUNT;
    const uint8_t *p = NULL;
    char what[128];
    int rc = locate(f, key, idx, &t, &p, what);
    return rc ? rc : read_f32(f, what, t, p, v);
}

/* The bool at (key, idx). */
static int get_bool(const gguf_file *f, const char *key, int64_t idx, int *v)
{
    gguf_type t = GGUF_TYPE_COUNT;
    const uint8_t *p = NULL;
    char what[128];
    int rc = locate(f, key, idx, &t, &p, what);
    if (rc)
        return rc;
    if (t != GGUF_TYPE_BOOL)
        return getter_fail(f, GGUF_ETYPE, "%s is %s, wanted bool", what, gguf_type_name(t));
    *v = p[0] != 0;
    return 0;
}

int gguf_get_f32(const gguf_file *f, const char *key, float *v)
{
    return get_f32(f, key, -1, v);
}

int gguf_get_bool(const gguf_file *f, const char *key, int *v)
{
    return get_bool(f, key, -1, v);
}

int gguf_get_str(const gguf_file *f, const char *key, const char **ptr, uint64_t *len)
{
    int rc;
    const gguf_kv *kv = lookup(f, key, &rc);
    if (!kv)
        return rc;
    if (kv->type != GGUF_TYPE_STRING)
        return getter_fail(f, GGUF_ETYPE, "key '%s' is %s, wanted string", key,
                           gguf_type_name(kv->type));
    uint64_t n;
    memcpy(&n, f->base + kv->val_off, 8);
    *ptr = (const char *)f->base + kv->val_off + 8;
    *len = n;
    return 0;
}

int gguf_get_arr(const gguf_file *f, const char *key, gguf_type *elem_type, uint64_t *n,
                 const void **data)
{
    int rc;
    const gguf_kv *kv = lookup(f, key, &rc);
    if (!kv)
        return rc;
    if (kv->type != GGUF_TYPE_ARRAY)
        return getter_fail(f, GGUF_ETYPE, "key '%s' is %s, wanted an array", key,
                           gguf_type_name(kv->type));
    if (kv->arr_type == GGUF_TYPE_STRING)
        return getter_fail(f, GGUF_ETYPE, "key '%s' is a string array (use gguf_get_arr_str)", key);
    *elem_type = kv->arr_type;
    *n = kv->n;
    *data = f->base + kv->val_off;
    return 0;
}

int gguf_kv_arr_str(const gguf_file *f, int64_t i, uint64_t idx, const char **ptr, uint64_t *len)
{
    if (i < 0 || i >= f->n_kv)
        return getter_fail(f, GGUF_ERANGE, "KV index %lld out of range", (long long)i);
    const gguf_kv *kv = &f->kvs[i];
    if (kv->type != GGUF_TYPE_ARRAY || kv->arr_type != GGUF_TYPE_STRING)
        return getter_fail(f, GGUF_ETYPE, "KV %lld is not a string array", (long long)i);
    if (idx >= kv->n)
        return getter_fail(f, GGUF_ERANGE, "index %llu out of range (%llu strings)",
                           (unsigned long long)idx, (unsigned long long)kv->n);
    uint64_t n;
    memcpy(&n, f->base + kv->str_offs[idx], 8);
    *ptr = (const char *)f->base + kv->str_offs[idx] + 8;
    *len = n;
    return 0;
}

int gguf_get_arr_str(const gguf_file *f, const char *key, uint64_t i, const char **ptr,
                     uint64_t *len)
{
    int64_t k = gguf_find_key(f, key);
    if (k < 0)
        return getter_fail(f, GGUF_ENOTFOUND, "key '%s' not found", key);
    int rc = gguf_kv_arr_str(f, k, i, ptr, len);
    if (rc) {
        char tmp[sizeof f->last_err];
        memcpy(tmp, f->last_err, sizeof tmp);
        getter_fail(f, rc, "key '%s': %s", key, tmp);
    }
    return rc;
}

int gguf_get_arr_u32(const gguf_file *f, const char *key, uint64_t i, uint32_t *v)
{
    int64_t s;
    uint64_t u;
    int rc = get_int(f, key, (int64_t)i, 0, UINT32_MAX, 0, &s, &u);
    if (rc == 0)
        *v = (uint32_t)u;
    return rc;
}

int gguf_get_arr_i32(const gguf_file *f, const char *key, uint64_t i, int32_t *v)
{
    int64_t s;
    uint64_t u;
    int rc = get_int(f, key, (int64_t)i, INT32_MIN, INT32_MAX, 0, &s, &u);
    if (rc == 0)
        *v = (int32_t)s;
    return rc;
}

int gguf_get_arr_f32(const gguf_file *f, const char *key, uint64_t i, float *v)
{
    return get_f32(f, key, (int64_t)i, v);
}

int gguf_get_arr_bool(const gguf_file *f, const char *key, uint64_t i, int *v)
{
    return get_bool(f, key, (int64_t)i, v);
}

/* ---- tensors ---- */

int64_t gguf_n_tensors(const gguf_file *f)
{
    return f->n_tensors;
}

const gguf_tensor *gguf_tensor_at(const gguf_file *f, int64_t i)
{
    if (i < 0 || i >= f->n_tensors)
        return NULL;
    return &f->tensors[i];
}

const gguf_tensor *gguf_find_tensor(const gguf_file *f, const char *name)
{
    size_t len = strlen(name);
    for (int64_t i = 0; i < f->n_tensors; i++)
        if (f->tensors[i].name_len == len && memcmp(f->tensors[i].name, name, len) == 0)
            return &f->tensors[i];
    return NULL;
}
