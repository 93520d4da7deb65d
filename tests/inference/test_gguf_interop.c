/*
 * Reads a GGUF written by llama.cpp's Python gguf-py (tests/inference/data/README.md says how
 * it was made) and checks every key and tensor value.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "inference/gguf.h"

static float half_to_float(uint16_t h)
{
    int e = (h >> 10) & 0x1f, m = h & 0x3ff;
    float v = e == 0 ? ldexpf((float)m, -24) : ldexpf((float)(m | 0x400), e - 25);
    return (h & 0x8000) ? -v : v;
}

static void test_gguf_py_file(void **state)
{
    (void)state;
    gguf_file *f;
    char err[256];
    if (gguf_open("tests/inference/data/gguf_py_v2.gguf", &f, err, sizeof err))
        fail_msg("%s", err);
    assert_int_equal(gguf_version(f), 2);
    assert_int_equal(gguf_alignment(f), 64);
    assert_int_equal(gguf_n_kv(f), 18);
    const char *s;
    uint64_t len;
    assert_int_equal(gguf_get_str(f, "general.architecture", &s, &len), 0);
    assert_int_equal(len, 13);
    assert_memory_equal(s, "sibyl-interop", 13);
    uint32_t u32;
    int32_t i32;
    uint64_t u64;
    float f32;
    int b;
    assert_int_equal(gguf_get_u32(f, "general.alignment", &u32), 0);
    assert_int_equal(u32, 64);
    assert_int_equal(gguf_get_u32(f, "t.u8", &u32), 0);
    assert_int_equal(u32, 250);
    assert_int_equal(gguf_get_i32(f, "t.i8", &i32), 0);
    assert_int_equal(i32, -100);
    assert_int_equal(gguf_get_u32(f, "t.u16", &u32), 0);
    assert_int_equal(u32, 65000);
    assert_int_equal(gguf_get_i32(f, "t.i16", &i32), 0);
    assert_int_equal(i32, -32000);
    assert_int_equal(gguf_get_u32(f, "t.u32", &u32), 0);
    assert_int_equal(u32, 3000000000u);
    assert_int_equal(gguf_get_i32(f, "t.i32", &i32), 0);
    assert_int_equal(i32, -2000000000);
    assert_int_equal(gguf_get_f32(f, "t.f32", &f32), 0);
    assert_true(f32 == 3.5f);
    assert_int_equal(gguf_get_u64(f, "t.u64", &u64), 0);
    assert_true(u64 == (1ull << 50));
    int64_t k = gguf_find_key(f, "t.i64");
    assert_int_equal(gguf_kv_type(f, k), GGUF_TYPE_INT64);
    assert_int_equal(gguf_get_i32(f, "t.i64", &i32), GGUF_ERANGE);
    assert_int_equal(gguf_get_f32(f, "t.f64", &f32), 0);
    assert_true(f32 == (float)2.718281828459045);
    assert_int_equal(gguf_get_bool(f, "t.bool", &b), 0);
    assert_int_equal(b, 1);
    assert_int_equal(gguf_get_str(f, "t.str", &s, &len), 0);
    assert_int_equal(len, strlen("h\xc3\xa9llo \xe2\x96\x81world"));
    assert_memory_equal(s, "h\xc3\xa9llo \xe2\x96\x81world", len);
    /* arrays */
    const int32_t ai[4] = {1, -2, 3, 4000000};
    for (int i = 0; i < 4; i++) {
        assert_int_equal(gguf_get_arr_i32(f, "t.arr_i32", (uint64_t)i, &i32), 0);
        assert_int_equal(i32, ai[i]);
    }
    const float af[3] = {0.5f, -1.25f, 1e10f};
    for (int i = 0; i < 3; i++) {
        assert_int_equal(gguf_get_arr_f32(f, "t.arr_f32", (uint64_t)i, &f32), 0);
        assert_true(f32 == af[i]);
    }
    const char *as[3] = {"a",
                         "\xe2\x96\x81"
                         "bc",
                         "<0x0A>"};
    for (int i = 0; i < 3; i++) {
        assert_int_equal(gguf_get_arr_str(f, "t.arr_str", (uint64_t)i, &s, &len), 0);
        assert_int_equal(len, strlen(as[i]));
        assert_memory_equal(s, as[i], len);
    }
    const int ab[4] = {1, 0, 1, 1};
    for (int i = 0; i < 4; i++) {
        assert_int_equal(gguf_get_arr_bool(f, "t.arr_bool", (uint64_t)i, &b), 0);
        assert_int_equal(b, ab[i]);
    }
    /* tensors */
    assert_int_equal(gguf_n_tensors(f), 3);
    const gguf_tensor *t = gguf_find_tensor(f, "tensor.f32");
    assert_non_null(t);
    assert_int_equal(t->type, GGML_TYPE_F32);
    assert_int_equal(t->n_dims, 2);
    assert_int_equal(t->ne[0], 32);
    assert_int_equal(t->ne[1], 3);
    assert_int_equal((uintptr_t)((const uint8_t *)t->data - (const uint8_t *)gguf_base(f)) % 64, 0);
    for (int i = 0; i < 96; i++) {
        float v;
        memcpy(&v, (const uint8_t *)t->data + 4 * i, 4);
        assert_true(v == (float)i * 0.25f);
    }
    t = gguf_find_tensor(f, "tensor.f16");
    assert_non_null(t);
    assert_int_equal(t->type, GGML_TYPE_F16);
    assert_int_equal(t->ne[0], 64);
    assert_int_equal(t->ne[1], 4);
    assert_int_equal(t->nbytes, 512);
    for (int i = 0; i < 256; i++) {
        uint16_t h;
        memcpy(&h, (const uint8_t *)t->data + 2 * i, 2);
        assert_true(half_to_float(h) == ((float)i - 128.0f) / 8.0f);
    }
    t = gguf_find_tensor(f, "tensor.q8_0");
    assert_non_null(t);
    assert_int_equal(t->type, GGML_TYPE_Q8_0);
    assert_int_equal(t->ne[0], 64);
    assert_int_equal(t->ne[1], 2);
    assert_int_equal(t->nbytes, 4 * 34);
    for (int blk = 0; blk < 4; blk++) {
        const uint8_t *p = (const uint8_t *)t->data + 34 * blk;
        uint16_t h;
        memcpy(&h, p, 2);
        assert_true(half_to_float(h) == 0.5f * (float)(blk + 1));
        for (int i = 0; i < 32; i++)
            assert_int_equal((int8_t)p[2 + i], ((blk * 32 + i) % 255) - 127);
    }
    gguf_close(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_gguf_py_file)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
