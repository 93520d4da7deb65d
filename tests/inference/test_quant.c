/*
 * inference/quant.c: f16/bf16 conversions (exhaustive round trip, RNE against the compiler's
 * _Float16 where it has one), A3 and A4 quantisation on hand-made blocks, exact Q8_0
 * dequantisation, and Q4_K / Q6_K dequantisation of blocks packed by the test from the ggml
 * layout.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "inference/quant.h"

static float from_bits(uint32_t u)
{
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

static uint32_t to_bits(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

static void test_fp16_round_trip(void **state)
{
    (void)state;
    for (uint32_t h = 0; h < 65536; h++) {
        float f = fp16_to_f32((uint16_t)h);
        uint16_t back = f32_to_fp16(f);
        if ((h & 0x7c00u) == 0x7c00u && (h & 0x3ffu)) {
            assert_true(isnan(f));
            assert_true((back & 0x7c00u) == 0x7c00u && (back & 0x3ffu));
            assert_int_equal(back & 0x8000u, h & 0x8000u);
        } else {
            assert_int_equal(back, h);
        }
#ifdef __FLT16_MANT_DIG__
        _Float16 ref;
        uint16_t hb = (uint16_t)h;
        memcpy(&ref, &hb, 2);
        if (!isnan(f))
            assert_int_equal(to_bits(f), to_bits((float)ref));
#endif
    }
    assert_true(fp16_to_f32(0x3c00) == 1.0f);
    assert_true(fp16_to_f32(0xc000) == -2.0f);
    assert_true(fp16_to_f32(0x0001) == 0x1p-24f);
    assert_true(fp16_to_f32(0x7bff) == 65504.0f);
    assert_true(fp16_to_f32(0x7c00) == INFINITY);
    assert_true(signbit(fp16_to_f32(0x8000)));
}

static void test_fp16_rounding(void **state)
{
    (void)state;
    /* hand cases: ties to even, overflow, subnormal rounding, underflow */
    assert_int_equal(f32_to_fp16(1.0f + 0x1p-11f), 0x3c00);             /* tie, to even */
    assert_int_equal(f32_to_fp16(1.0f + 3 * 0x1p-11f), 0x3c02);         /* tie, to even (up) */
    assert_int_equal(f32_to_fp16(1.0f + 0x1p-11f + 0x1p-20f), 0x3c01); /* above tie */
    assert_int_equal(f32_to_fp16(65504.0f), 0x7bff);
    assert_int_equal(f32_to_fp16(65519.99f), 0x7bff);
    assert_int_equal(f32_to_fp16(65520.0f), 0x7c00); /* rounds up to inf */
    assert_int_equal(f32_to_fp16(1e10f), 0x7c00);
    assert_int_equal(f32_to_fp16(-1e10f), 0xfc00);
    assert_int_equal(f32_to_fp16(0x1p-24f), 0x0001);
    assert_int_equal(f32_to_fp16(0x1p-25f), 0x0000);               /* tie to even: 0 */
    assert_int_equal(f32_to_fp16(0x1p-25f + 0x1p-40f), 0x0001);    /* above the tie */
    assert_int_equal(f32_to_fp16(3 * 0x1p-25f), 0x0002);           /* 1.5 units: to even 2 */
    assert_int_equal(f32_to_fp16(0x1.ffcp-15f), 0x0400);           /* carries into normal */
    assert_int_equal(f32_to_fp16(-0x1p-30f), 0x8000);
    assert_int_equal(f32_to_fp16(from_bits(1)), 0x0000);
    assert_int_equal(f32_to_fp16(INFINITY), 0x7c00);
    uint16_t n = f32_to_fp16(NAN);
    assert_true((n & 0x7c00u) == 0x7c00u && (n & 0x3ffu));
#ifdef __FLT16_MANT_DIG__
    /* every 1021st float bit pattern, and every f16 midpoint, against the compiler's RNE */
    for (uint64_t u = 0; u < 0x100000000ull; u += 1021) {
        float f = from_bits((uint32_t)u);
        if (isnan(f))
            continue;
        _Float16 r = (_Float16)f;
        uint16_t rb;
        memcpy(&rb, &r, 2);
        assert_int_equal(f32_to_fp16(f), rb);
    }
    for (uint32_t h = 0; h < 0x7bff; h++) {
        float mid = (fp16_to_f32((uint16_t)h) + fp16_to_f32((uint16_t)(h + 1))) * 0.5f;
        for (int s = 0; s < 2; s++) {
            float f = s ? -mid : mid;
            _Float16 r = (_Float16)f;
            uint16_t rb;
            memcpy(&rb, &r, 2);
            assert_int_equal(f32_to_fp16(f), rb);
        }
    }
#else
    printf("no _Float16 in this compiler: RNE checked on hand cases only\n");
#endif
}

static void test_bf16(void **state)
{
    (void)state;
    assert_true(bf16_to_f32(0x3f80) == 1.0f);
    assert_true(bf16_to_f32(0xc0a0) == -5.0f);
    assert_true(bf16_to_f32(0x7f80) == INFINITY);
    assert_true(isnan(bf16_to_f32(0x7fc0)));
    for (uint32_t h = 0; h < 65536; h += 7)
        assert_int_equal(to_bits(bf16_to_f32((uint16_t)h)), h << 16);
}

/* A3 on a block whose amax is 127: d = 1, id = 1, so q = round_half_away(x) exactly. */
static void test_act_quant_hand(void **state)
{
    (void)state;
    float x[64];
    for (int i = 0; i < 32; i++)
        x[i] = (float)(i - 16) * 0.5f; /* -8 .. 7.5, halves included */
    x[31] = 127.0f;
    memset(x + 32, 0, 32 * sizeof(float)); /* an all-zero block */
    q8_act a;
    assert_int_equal(q8_act_alloc(&a, 1, 64), 0);
    q8_quantize_rows(x, 1, 64, &a);
    assert_true(a.d[0] == 1.0f);
    assert_true(a.d[1] == 0.0f);
    for (int i = 0; i < 31; i++) {
        float v = x[i];
        int want = v < 0 ? -(int)(-v + 0.5f) : (int)(v + 0.5f);
        assert_int_equal(a.q[i], want);
    }
    assert_int_equal(a.q[0], -8);
    assert_int_equal(a.q[1], -8); /* -7.5 -> -8 (away from zero) */
    assert_int_equal(a.q[17], 1); /* 0.5 -> 1 */
    assert_int_equal(a.q[31], 127);
    for (int i = 32; i < 64; i++)
        assert_int_equal(a.q[i], 0);
    q8_act_free(&a);

    /* amax = 2.54 -> d = 0.02, id = 127/2.54 = 50; values map to x*50 rounded */
    float y[32];
    for (int i = 0; i < 32; i++)
        y[i] = (i & 1 ? -1.0f : 1.0f) * 0.01f * (float)(i * 8 % 255);
    y[5] = -2.54f;
    assert_int_equal(q8_act_alloc(&a, 1, 32), 0);
    q8_quantize_rows(y, 1, 32, &a);
    assert_true(a.d[0] == 2.54f / 127.0f);
    assert_int_equal(a.q[5], -127);
    float id = 127.0f / 2.54f;
    for (int i = 0; i < 32; i++) {
        float v = y[i] * id;
        int r = v < 0 ? -(int)(-v + 0.5f) : (int)(v + 0.5f);
        assert_int_equal(a.q[i], r);
        assert_true(fabsf((float)a.q[i] * a.d[0] - y[i]) <= 0.5f * a.d[0] * 1.0001f);
    }
    q8_act_free(&a);
    assert_int_equal(q8_act_alloc(&a, 2, 33), -1); /* cols not a multiple of 32 */
}

static void test_q8_0_weights(void **state)
{
    (void)state;
    float x[96];
    for (int i = 0; i < 32; i++)
        x[i] = (float)(i - 16) * 0.5f;
    x[31] = -127.0f; /* amax 127: d = 1 (f16 0x3c00) */
    for (int i = 32; i < 64; i++)
        x[i] = 0.0f;
    srand(7);
    for (int i = 64; i < 96; i++)
        x[i] = (float)rand() / (float)RAND_MAX * 6.0f - 3.0f;
    block_q8_0 b[3];
    q8_0_quantize_row(x, b, 96);
    assert_int_equal(b[0].d, 0x3c00);
    assert_int_equal(b[0].q[31], -127);
    assert_int_equal(b[0].q[1], -8);
    assert_int_equal(b[0].q[17], 1);
    assert_int_equal(b[1].d, 0);
    for (int i = 0; i < 32; i++)
        assert_int_equal(b[1].q[i], 0);
    float amax = 0;
    for (int i = 64; i < 96; i++)
        amax = fmaxf(amax, fabsf(x[i]));
    float d = amax / 127.0f;
    assert_int_equal(b[2].d, f32_to_fp16(d));
    float out[96];
    q8_0_dequantize_row(b, out, 96);
    for (int i = 0; i < 96; i++) {
        float want = (float)b[i / 32].q[i % 32] * fp16_to_f32(b[i / 32].d);
        assert_int_equal(to_bits(out[i]), to_bits(want)); /* exact */
    }
    float dd = fp16_to_f32(b[2].d);
    for (int i = 64; i < 96; i++)
        assert_true(fabsf(out[i] - x[i]) <= 0.5f * dd + fabsf(x[i]) * 0x1p-10f);
    assert_int_equal(sizeof(block_q8_0), 34);
}

/* Packs a Q4_K block the way ggml lays it out (independent of the dequantiser's code). */
static void pack_q4_k(uint8_t blk[144], uint16_t d, uint16_t dmin, const int sc[8],
                      const int m[8], const uint8_t q[256])
{
    memset(blk, 0, 144);
    blk[0] = (uint8_t)(d & 0xff);
    blk[1] = (uint8_t)(d >> 8);
    blk[2] = (uint8_t)(dmin & 0xff);
    blk[3] = (uint8_t)(dmin >> 8);
    uint8_t *s = blk + 4;
    for (int j = 0; j < 8; j++) {
        if (j < 4) {
            s[j] |= (uint8_t)(sc[j] & 63);
            s[j + 4] |= (uint8_t)(m[j] & 63);
        } else {
            s[j + 4] |= (uint8_t)((sc[j] & 15) | ((m[j] & 15) << 4));
            s[j - 4] |= (uint8_t)((sc[j] >> 4) << 6);
            s[j] |= (uint8_t)((m[j] >> 4) << 6);
        }
    }
    uint8_t *qs = blk + 16;
    for (int i = 0; i < 256; i++) {
        int j = i / 32, l = i % 32;
        int byte = 32 * (j / 2) + l;
        qs[byte] |= (uint8_t)(j % 2 ? q[i] << 4 : q[i]);
    }
}

static void test_q4_k(void **state)
{
    (void)state;
    assert_int_equal(q4_k_block_bytes(), 144);
    uint8_t blk[2][144];
    int sc[8], m[8];
    uint8_t q[256];
    for (int j = 0; j < 8; j++) {
        sc[j] = j < 4 ? j + 1 : 40 + j; /* >= 16 for j >= 4: uses the packed high bits */
        m[j] = j < 4 ? 2 * j : 33 + 3 * j;
    }
    for (int i = 0; i < 256; i++)
        q[i] = (uint8_t)((i * 7 + i / 32) & 15);
    pack_q4_k(blk[0], 0x3c00 /* 1.0 */, 0x3800 /* 0.5 */, sc, m, q);
    pack_q4_k(blk[1], 0x2e66 /* ~0.1 */, 0x1800 /* 2^-9 */, sc, m, q);
    float out[512];
    q4_k_dequantize_row(blk, out, 512);
    for (int b = 0; b < 2; b++) {
        float d = b ? fp16_to_f32(0x2e66) : 1.0f, dmin = b ? 0x1p-9f : 0.5f;
        for (int i = 0; i < 256; i++) {
            int j = i / 32;
            float want = (d * (float)sc[j]) * (float)q[i] - dmin * (float)m[j];
            assert_int_equal(to_bits(out[256 * b + i]), to_bits(want));
        }
    }
    assert_true(out[0] == 0.0f);                 /* q 0, m 0 */
    assert_true(out[255] == -27.0f); /* j=7: q = 0, m = 54 */
}

static void pack_q6_k(uint8_t blk[210], uint16_t d, const int8_t sc[16], const uint8_t q[256])
{
    memset(blk, 0, 210);
    uint8_t *ql = blk, *qh = blk + 128;
    for (int i = 0; i < 256; i++) {
        int h = i / 128, k = (i % 128) / 32, l = i % 32;
        int lo = q[i] & 15, hi = q[i] >> 4;
        int qli = 64 * h + l + (k & 1 ? 32 : 0);
        ql[qli] |= (uint8_t)(k >= 2 ? lo << 4 : lo);
        qh[32 * h + l] |= (uint8_t)(hi << (2 * k));
    }
    memcpy(blk + 192, sc, 16);
    blk[208] = (uint8_t)(d & 0xff);
    blk[209] = (uint8_t)(d >> 8);
}

static void test_q6_k(void **state)
{
    (void)state;
    assert_int_equal(q6_k_block_bytes(), 210);
    uint8_t blk[210];
    int8_t sc[16];
    uint8_t q[256];
    for (int i = 0; i < 16; i++)
        sc[i] = (int8_t)(i * 5 - 40);
    sc[15] = -128;
    for (int i = 0; i < 256; i++)
        q[i] = (uint8_t)((i * 13 + 5) & 63);
    q[0] = 0;
    q[255] = 63;
    pack_q6_k(blk, 0x3400 /* 0.25 */, sc, q);
    float out[256];
    q6_k_dequantize_row(blk, out, 256);
    for (int i = 0; i < 256; i++) {
        float want = (0.25f * (float)sc[i / 16]) * (float)((int)q[i] - 32);
        assert_int_equal(to_bits(out[i]), to_bits(want));
    }
    assert_true(out[0] == (0.25f * -40.0f) * -32.0f);
    assert_true(out[255] == (0.25f * -128.0f) * 31.0f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fp16_round_trip), cmocka_unit_test(test_fp16_rounding),
        cmocka_unit_test(test_bf16),            cmocka_unit_test(test_act_quant_hand),
        cmocka_unit_test(test_q8_0_weights),    cmocka_unit_test(test_q4_k),
        cmocka_unit_test(test_q6_k),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
