/*
 * GGUF reader and writer: round trip of every KV type and tensor layout, typed-getter
 * conversions and errors, and robustness: every truncation of a small valid file and many
 * random byte flips must give an error or a valid load, never a crash (run under ASan in the
 * sanitizer build).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "inference/gguf.h"
#include "inference/gguf_write.h"

static char tmp_path[256];

static void make_path(const char *tag)
{
    snprintf(tmp_path, sizeof tmp_path, "/tmp/sibyl_test_gguf_%d_%s.gguf", (int)getpid(), tag);
}

static uint8_t *read_all(const char *path, size_t *n)
{
    FILE *fp = fopen(path, "rb");
    assert_non_null(fp);
    fseek(fp, 0, SEEK_END);
    long sz = ftell(fp);
    fseek(fp, 0, SEEK_SET);
    uint8_t *b = malloc((size_t)sz + 1);
    assert_non_null(b);
    assert_int_equal(fread(b, 1, (size_t)sz, fp), (size_t)sz);
    fclose(fp);
    *n = (size_t)sz;
    return b;
}

/* A small file with every KV type, a string array and three tensors of different types. */
static void write_sample(const char *path, uint32_t alignment)
{
    char err[256];
    gguf_writer *w;
    assert_int_equal(gguf_writer_open(path, &w, err, sizeof err), 0);
    if (alignment)
        assert_int_equal(gguf_writer_add_u32(w, "general.alignment", alignment), 0);
    assert_int_equal(gguf_writer_add_str(w, "general.architecture", "test-arch"), 0);
    assert_int_equal(gguf_writer_add_u8(w, "k.u8", 200), 0);
    assert_int_equal(gguf_writer_add_i8(w, "k.i8", -5), 0);
    assert_int_equal(gguf_writer_add_u16(w, "k.u16", 60000), 0);
    assert_int_equal(gguf_writer_add_i16(w, "k.i16", -30000), 0);
    assert_int_equal(gguf_writer_add_u32(w, "k.u32", 4000000000u), 0);
    assert_int_equal(gguf_writer_add_i32(w, "k.i32", -7), 0);
    assert_int_equal(gguf_writer_add_i32(w, "k.i32pos", 12345), 0);
    assert_int_equal(gguf_writer_add_u64(w, "k.u64", 1ull << 40), 0);
    assert_int_equal(gguf_writer_add_i64(w, "k.i64", -(1ll << 40)), 0);
    assert_int_equal(gguf_writer_add_f32(w, "k.f32", 0.125f), 0);
    assert_int_equal(gguf_writer_add_f64(w, "k.f64", 1e-6), 0);
    assert_int_equal(gguf_writer_add_bool(w, "k.bool", 1), 0);
    const int32_t ia[5] = {8, 8, 8, 8, 2};
    assert_int_equal(gguf_writer_add_arr(w, "k.arr_i32", GGUF_TYPE_INT32, ia, 5), 0);
    const uint8_t ba[3] = {1, 0, 1};
    assert_int_equal(gguf_writer_add_arr(w, "k.arr_bool", GGUF_TYPE_BOOL, ba, 3), 0);
    const float fa[2] = {1.5f, -2.0f};
    assert_int_equal(gguf_writer_add_arr(w, "k.arr_f32", GGUF_TYPE_FLOAT32, fa, 2), 0);
    const char *sa[4] = {"<pad>", "\xe2\x96\x81the", "", "z"};
    assert_int_equal(gguf_writer_add_arr_str(w, "k.arr_str", sa, NULL, 4), 0);
    const int64_t ne_a[2] = {32, 3};
    const int64_t ne_b[1] = {5};
    const int64_t ne_c[3] = {64, 2, 2};
    assert_int_equal(gguf_writer_add_tensor(w, "a.weight", GGML_TYPE_Q8_0, 2, ne_a), 0);
    assert_int_equal(gguf_writer_add_tensor(w, "b.weight", GGML_TYPE_F32, 1, ne_b), 0);
    assert_int_equal(gguf_writer_add_tensor(w, "c.weight", GGML_TYPE_F16, 3, ne_c), 0);
    assert_int_equal(gguf_writer_write_header(w), 0);
    /* a: 3 rows of one Q8_0 block (34 bytes), written in two pieces */
    uint8_t a[3 * 34];
    for (size_t i = 0; i < sizeof a; i++)
        a[i] = (uint8_t)(i * 7 + 1);
    assert_int_equal(gguf_writer_write_tensor_data(w, a, 50), 0);
    assert_int_equal(gguf_writer_remaining(w), sizeof a - 50);
    /* rest of a and all of b in one call that crosses the boundary */
    uint8_t ab[sizeof a - 50 + 20];
    memcpy(ab, a + 50, sizeof a - 50);
    const float b[5] = {0.0f, 1.0f, -1.0f, 3.25f, 1e30f};
    memcpy(ab + sizeof a - 50, b, 20);
    assert_int_equal(gguf_writer_write_tensor_data(w, ab, sizeof ab), 0);
    uint16_t c[256];
    for (int i = 0; i < 256; i++)
        c[i] = (uint16_t)(0x3c00 + i);
    assert_int_equal(gguf_writer_write_tensor_data(w, c, sizeof c), 0);
    assert_int_equal(gguf_writer_remaining(w), 0);
    assert_int_equal(gguf_writer_close(w, err, sizeof err), 0);
}

static void check_sample(const gguf_file *f, uint32_t alignment)
{
    uint32_t u32;
    int32_t i32;
    uint64_t u64;
    float f32;
    int b;
    const char *s;
    uint64_t len;
    assert_int_equal(gguf_version(f), 3);
    assert_int_equal(gguf_alignment(f), alignment ? alignment : 32);
    assert_int_equal(gguf_get_str(f, "general.architecture", &s, &len), 0);
    assert_int_equal(len, 9);
    assert_memory_equal(s, "test-arch", 9);
    assert_int_equal(gguf_get_u32(f, "k.u8", &u32), 0);
    assert_int_equal(u32, 200);
    assert_int_equal(gguf_get_i32(f, "k.i8", &i32), 0);
    assert_int_equal(i32, -5);
    assert_int_equal(gguf_get_u32(f, "k.u16", &u32), 0);
    assert_int_equal(u32, 60000);
    assert_int_equal(gguf_get_i32(f, "k.i16", &i32), 0);
    assert_int_equal(i32, -30000);
    assert_int_equal(gguf_get_u32(f, "k.u32", &u32), 0);
    assert_int_equal(u32, 4000000000u);
    assert_int_equal(gguf_get_i32(f, "k.i32", &i32), 0);
    assert_int_equal(i32, -7);
    /* compatible integer types */
    assert_int_equal(gguf_get_u32(f, "k.i32pos", &u32), 0);
    assert_int_equal(u32, 12345);
    assert_int_equal(gguf_get_u32(f, "k.i32", &u32), GGUF_ERANGE);
    assert_non_null(strstr(gguf_last_error(f), "k.i32"));
    assert_int_equal(gguf_get_i32(f, "k.u32", &i32), GGUF_ERANGE);
    assert_int_equal(gguf_get_u64(f, "k.u64", &u64), 0);
    assert_true(u64 == (1ull << 40));
    assert_int_equal(gguf_get_u32(f, "k.u64", &u32), GGUF_ERANGE);
    assert_int_equal(gguf_get_u64(f, "k.i64", &u64), GGUF_ERANGE);
    assert_int_equal(gguf_get_f32(f, "k.f32", &f32), 0);
    assert_true(f32 == 0.125f);
    assert_int_equal(gguf_get_f32(f, "k.f64", &f32), 0);
    assert_true(f32 == (float)1e-6);
    assert_int_equal(gguf_get_bool(f, "k.bool", &b), 0);
    assert_int_equal(b, 1);
    /* wrong types and missing keys */
    assert_int_equal(gguf_get_bool(f, "k.u8", &b), GGUF_ETYPE);
    assert_non_null(strstr(gguf_last_error(f), "k.u8"));
    assert_int_equal(gguf_get_u32(f, "k.f32", &u32), GGUF_ETYPE);
    assert_int_equal(gguf_get_str(f, "k.u32", &s, &len), GGUF_ETYPE);
    assert_int_equal(gguf_get_u32(f, "no.such.key", &u32), GGUF_ENOTFOUND);
    assert_non_null(strstr(gguf_last_error(f), "no.such.key"));
    assert_int_equal(gguf_find_key(f, "no.such.key"), -1);
    assert_true(gguf_find_key(f, "k.u8") >= 0);
    /* arrays */
    gguf_type et;
    uint64_t n;
    const void *data;
    assert_int_equal(gguf_get_arr(f, "k.arr_i32", &et, &n, &data), 0);
    assert_int_equal(et, GGUF_TYPE_INT32);
    assert_int_equal(n, 5);
    int32_t v4;
    memcpy(&v4, (const uint8_t *)data + 16, 4);
    assert_int_equal(v4, 2);
    assert_int_equal(gguf_get_arr_u32(f, "k.arr_i32", 0, &u32), 0);
    assert_int_equal(u32, 8);
    assert_int_equal(gguf_get_arr_u32(f, "k.arr_i32", 5, &u32), GGUF_ERANGE);
    assert_int_equal(gguf_get_arr_bool(f, "k.arr_bool", 1, &b), 0);
    assert_int_equal(b, 0);
    assert_int_equal(gguf_get_arr_bool(f, "k.arr_bool", 2, &b), 0);
    assert_int_equal(b, 1);
    assert_int_equal(gguf_get_arr_f32(f, "k.arr_f32", 1, &f32), 0);
    assert_true(f32 == -2.0f);
    assert_int_equal(gguf_get_arr(f, "k.arr_str", &et, &n, &data), GGUF_ETYPE);
    assert_int_equal(gguf_get_arr_str(f, "k.arr_str", 1, &s, &len), 0);
    assert_int_equal(len, 6);
    assert_memory_equal(s, "\xe2\x96\x81the", 6);
    assert_int_equal(gguf_get_arr_str(f, "k.arr_str", 2, &s, &len), 0);
    assert_int_equal(len, 0);
    assert_int_equal(gguf_get_arr_str(f, "k.arr_str", 3, &s, &len), 0);
    assert_int_equal(len, 1);
    assert_int_equal(s[0], 'z');
    assert_int_equal(gguf_get_arr_str(f, "k.arr_str", 4, &s, &len), GGUF_ERANGE);
    assert_int_equal(gguf_get_arr_str(f, "k.arr_i32", 0, &s, &len), GGUF_ETYPE);
    int64_t kv = gguf_find_key(f, "k.arr_str");
    assert_int_equal(gguf_kv_type(f, kv), GGUF_TYPE_ARRAY);
    assert_int_equal(gguf_kv_arr(f, kv, &et, &n), 0);
    assert_int_equal(et, GGUF_TYPE_STRING);
    assert_int_equal(n, 4);
    /* tensors */
    assert_int_equal(gguf_n_tensors(f), 3);
    const gguf_tensor *ta = gguf_find_tensor(f, "a.weight");
    assert_non_null(ta);
    assert_int_equal(ta->type, GGML_TYPE_Q8_0);
    assert_int_equal(ta->n_dims, 2);
    assert_int_equal(ta->ne[0], 32);
    assert_int_equal(ta->ne[1], 3);
    assert_int_equal(ta->ne[2], 1);
    assert_int_equal(ta->nbytes, 3 * 34);
    uint32_t al = gguf_alignment(f);
    assert_int_equal(((const uint8_t *)ta->data - (const uint8_t *)gguf_base(f)) % al, 0);
    for (size_t i = 0; i < 3 * 34; i++)
        assert_int_equal(((const uint8_t *)ta->data)[i], (uint8_t)(i * 7 + 1));
    const gguf_tensor *tb = gguf_find_tensor(f, "b.weight");
    assert_non_null(tb);
    assert_int_equal(tb->nbytes, 20);
    float fb[5];
    memcpy(fb, tb->data, 20);
    assert_true(fb[3] == 3.25f && fb[4] == 1e30f);
    assert_int_equal(((const uint8_t *)tb->data - (const uint8_t *)gguf_base(f)) % al, 0);
    const gguf_tensor *tc = gguf_tensor_at(f, 2);
    assert_non_null(tc);
    assert_string_equal(tc->name, "c.weight");
    assert_int_equal(tc->n_elements, 256);
    uint16_t c0;
    memcpy(&c0, (const uint8_t *)tc->data + 2 * 255, 2);
    assert_int_equal(c0, 0x3c00 + 255);
    assert_null(gguf_tensor_at(f, 3));
    assert_null(gguf_find_tensor(f, "nope"));
}

static void test_round_trip(void **state)
{
    (void)state;
    const uint32_t aligns[3] = {0, 64, 1};
    for (int i = 0; i < 3; i++) {
        make_path("rt");
        write_sample(tmp_path, aligns[i]);
        gguf_file *f;
        char err[256];
        int rc = gguf_open(tmp_path, &f, err, sizeof err);
        if (rc)
            fail_msg("%s", err);
        check_sample(f, aligns[i]);
        gguf_close(f);
        unlink(tmp_path);
    }
}

static void test_type_table(void **state)
{
    (void)state;
    assert_string_equal(ggml_type_name(GGML_TYPE_Q8_0), "q8_0");
    assert_int_equal(ggml_type_block_bytes(GGML_TYPE_Q8_0), 34);
    assert_int_equal(ggml_type_block_size(GGML_TYPE_Q4_K), 256);
    assert_int_equal(ggml_type_block_bytes(GGML_TYPE_Q4_K), 144);
    assert_int_equal(ggml_type_block_bytes(GGML_TYPE_Q6_K), 210);
    assert_int_equal(ggml_type_block_bytes(GGML_TYPE_BF16), 2);
    assert_null(ggml_type_name((ggml_type)4)); /* removed Q4_2 */
    assert_int_equal(ggml_row_bytes(GGML_TYPE_Q8_0, 64), 68);
    assert_int_equal(ggml_row_bytes(GGML_TYPE_Q8_0, 48), 0);
    assert_string_equal(gguf_type_name(GGUF_TYPE_STRING), "string");
}

static void test_writer_errors(void **state)
{
    (void)state;
    char err[256];
    gguf_writer *w;
    make_path("werr");
    assert_int_equal(gguf_writer_open(tmp_path, &w, err, sizeof err), 0);
    assert_int_equal(gguf_writer_add_u32(w, "a", 1), 0);
    assert_int_equal(gguf_writer_add_u32(w, "a", 2), GGUF_EFORMAT);
    assert_non_null(strstr(gguf_writer_error(w), "duplicate key 'a'"));
    assert_int_not_equal(gguf_writer_close(w, err, sizeof err), 0);
    assert_int_equal(access(tmp_path, F_OK), -1); /* partial file removed */

    assert_int_equal(gguf_writer_open(tmp_path, &w, err, sizeof err), 0);
    const int64_t ne[2] = {33, 2};
    assert_int_equal(gguf_writer_add_tensor(w, "x", GGML_TYPE_Q8_0, 2, ne), GGUF_EFORMAT);
    gguf_writer_abort(w);

    /* incomplete tensor data */
    assert_int_equal(gguf_writer_open(tmp_path, &w, err, sizeof err), 0);
    const int64_t ne1[1] = {4};
    assert_int_equal(gguf_writer_add_tensor(w, "x", GGML_TYPE_F32, 1, ne1), 0);
    assert_int_equal(gguf_writer_write_header(w), 0);
    float v[5] = {0};
    assert_int_equal(gguf_writer_write_tensor_data(w, v, 8), 0);
    assert_int_not_equal(gguf_writer_close(w, err, sizeof err), 0);
    assert_non_null(strstr(err, "incomplete"));

    /* too much data */
    assert_int_equal(gguf_writer_open(tmp_path, &w, err, sizeof err), 0);
    assert_int_equal(gguf_writer_add_tensor(w, "x", GGML_TYPE_F32, 1, ne1), 0);
    assert_int_equal(gguf_writer_write_header(w), 0);
    assert_int_not_equal(gguf_writer_write_tensor_data(w, v, 20), 0);
    gguf_writer_abort(w);
}

static void test_open_errors(void **state)
{
    (void)state;
    gguf_file *f;
    char err[256];
    assert_int_equal(gguf_open("/nonexistent/x.gguf", &f, err, sizeof err), GGUF_EIO);
    assert_non_null(strstr(err, "/nonexistent/x.gguf"));
    const uint8_t junk[32] = "NOTAGGUFFILE";
    assert_int_equal(gguf_open_memory(junk, sizeof junk, &f, err, sizeof err), GGUF_EFORMAT);
    assert_non_null(strstr(err, "magic"));
    uint8_t v1[24] = {'G', 'G', 'U', 'F', 1};
    assert_int_equal(gguf_open_memory(v1, sizeof v1, &f, err, sizeof err), GGUF_EFORMAT);
    assert_non_null(strstr(err, "version"));
    /* huge counts */
    uint8_t big[24] = {'G', 'G', 'U', 'F', 3};
    memset(big + 8, 0xff, 16);
    assert_int_equal(gguf_open_memory(big, sizeof big, &f, err, sizeof err), GGUF_EFORMAT);
    /* empty valid file */
    uint8_t empty[24] = {'G', 'G', 'U', 'F', 3};
    assert_int_equal(gguf_open_memory(empty, sizeof empty, &f, err, sizeof err), 0);
    assert_int_equal(gguf_n_tensors(f), 0);
    assert_int_equal(gguf_n_kv(f), 0);
    gguf_close(f);
}

/* Every prefix of the sample must fail cleanly (except the full file). */
static void test_truncations(void **state)
{
    (void)state;
    make_path("trunc");
    write_sample(tmp_path, 0);
    size_t n;
    uint8_t *full = read_all(tmp_path, &n);
    unlink(tmp_path);
    char err[256];
    for (size_t len = 0; len < n; len++) {
        uint8_t *b = malloc(len ? len : 1); /* exact size, so ASan sees any overread */
        memcpy(b, full, len);
        gguf_file *f = NULL;
        int rc = gguf_open_memory(b, len, &f, err, sizeof err);
        assert_int_not_equal(rc, 0);
        assert_null(f);
        assert_true(strlen(err) > 0);
        free(b);
    }
    gguf_file *f;
    assert_int_equal(gguf_open_memory(full, n, &f, err, sizeof err), 0);
    check_sample(f, 0);
    gguf_close(f);
    free(full);
}

/* Exercise every accessor on whatever a corrupted file yields. */
static void touch_all(const gguf_file *f)
{
    for (int64_t i = 0; i < gguf_n_kv(f); i++) {
        uint64_t klen;
        const char *k = gguf_kv_key(f, i, &klen);
        char key[300];
        size_t kl = klen < sizeof key - 1 ? (size_t)klen : sizeof key - 1;
        memcpy(key, k, kl);
        key[kl] = 0;
        uint32_t u;
        int32_t s;
        float fl;
        int b;
        const char *p;
        uint64_t len, n;
        gguf_type et;
        const void *d;
        gguf_get_u32(f, key, &u);
        gguf_get_i32(f, key, &s);
        gguf_get_f32(f, key, &fl);
        gguf_get_bool(f, key, &b);
        gguf_get_str(f, key, &p, &len);
        if (gguf_get_arr(f, key, &et, &n, &d) == 0 && n > 0) {
            gguf_get_arr_u32(f, key, n - 1, &u);
            gguf_get_arr_f32(f, key, 0, &fl);
        }
        if (gguf_kv_arr(f, i, &et, &n) == 0 && et == GGUF_TYPE_STRING && n > 0) {
            gguf_kv_arr_str(f, i, n - 1, &p, &len);
            volatile char c = len ? p[len - 1] : 0;
            (void)c;
        }
    }
    for (int64_t i = 0; i < gguf_n_tensors(f); i++) {
        const gguf_tensor *t = gguf_tensor_at(f, i);
        if (t->nbytes) {
            volatile uint8_t c = ((const uint8_t *)t->data)[t->nbytes - 1];
            (void)c;
        }
    }
}

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static uint64_t rng(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

static void test_byte_flips(void **state)
{
    (void)state;
    make_path("flip");
    write_sample(tmp_path, 0);
    size_t n;
    uint8_t *full = read_all(tmp_path, &n);
    unlink(tmp_path);
    char err[256];
    int loaded = 0, failed = 0;
    uint8_t *b = malloc(n);
    for (int iter = 0; iter < 4000; iter++) {
        memcpy(b, full, n);
        int flips = 1 + (int)(rng() % 4);
        for (int k = 0; k < flips; k++) {
            size_t pos = (size_t)(rng() % n);
            switch (rng() % 4) {
            case 0:
                b[pos] ^= (uint8_t)(1u << (rng() % 8));
                break;
            case 1:
                b[pos] = 0xff;
                break;
            case 2:
                b[pos] = 0;
                break;
            default:
                b[pos] = (uint8_t)rng();
                break;
            }
        }
        gguf_file *f = NULL;
        if (gguf_open_memory(b, n, &f, err, sizeof err) == 0) {
            touch_all(f);
            gguf_close(f);
            loaded++;
        } else {
            assert_true(strlen(err) > 0);
            failed++;
        }
    }
    free(b);
    free(full);
    /* both outcomes must occur: data-byte flips load, header flips fail */
    assert_true(loaded > 0);
    assert_true(failed > 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),    cmocka_unit_test(test_type_table),
        cmocka_unit_test(test_writer_errors), cmocka_unit_test(test_open_errors),
        cmocka_unit_test(test_truncations),   cmocka_unit_test(test_byte_flips),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
