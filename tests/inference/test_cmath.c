/*
 * inference/cmath.h: accuracy against libm in double precision over dense sweeps, special
 * values, and frozen bits (a hash of the outputs over a fixed input grid, compared with a
 * committed constant, so that any change of any bit is caught: the functions are part of the
 * arithmetic profile).
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "inference/cmath.h"

/* Position of a float on the line of all floats (monotonic; +0 and -0 both map to 0). */
static int64_t ordinal(float f)
{
    int32_t i;
    memcpy(&i, &f, sizeof i);
    return i < 0 ? -(int64_t)(i & 0x7fffffff) : (int64_t)i;
}

static int64_t ulp_dist(float a, float b)
{
    int64_t d = ordinal(a) - ordinal(b);
    return d < 0 ? -d : d;
}

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

typedef float (*f1)(float);

/* Max ulp error of fn versus ref over floats in [lo, hi], sampling every `stride`-th bit
 * pattern of each sign (plus the endpoints). Also returns the worst input. */
static int64_t sweep_ulp(f1 fn, double (*ref)(double), float lo, float hi, uint32_t stride,
                         float *worst)
{
    int64_t maxd = 0;
    *worst = lo;
    int64_t olo = ordinal(lo), ohi = ordinal(hi);
    for (int64_t o = olo; o <= ohi; o += stride) {
        float x = o < 0 ? from_bits(0x80000000u | (uint32_t)(-o)) : from_bits((uint32_t)o);
        float want = (float)ref((double)x);
        float got = fn(x);
        int64_t d = ulp_dist(got, want);
        if (isnan(want) != isnan(got))
            d = INT32_MAX;
        if (d > maxd) {
            maxd = d;
            *worst = x;
        }
    }
    return maxd;
}

static void test_expf_accuracy(void **state)
{
    (void)state;
    float worst;
    int64_t d = sweep_ulp(cm_expf, exp, -104.0f, 89.0f, 1021, &worst);
    printf("cm_expf  max %lld ulp over [-104, 89] (worst x = %a)\n", (long long)d, worst);
    assert_true(d <= 1);
    /* subnormal results: absolute error within one subnormal spacing */
    d = sweep_ulp(cm_expf, exp, -103.9f, -87.4f, 3, &worst);
    printf("cm_expf  max %lld ulp over [-103.9, -87.4] (subnormal results)\n", (long long)d);
    assert_true(d <= 1);
}

static void test_expf_specials(void **state)
{
    (void)state;
    assert_true(cm_expf(0.0f) == 1.0f);
    assert_true(cm_expf(-0.0f) == 1.0f);
    assert_true(cm_expf(INFINITY) == INFINITY);
    assert_true(cm_expf(-INFINITY) == 0.0f && !signbit(cm_expf(-INFINITY)));
    assert_true(isnan(cm_expf(NAN)));
    assert_true(cm_expf(1.0f) == (float)exp(1.0));
    assert_true(isinf(cm_expf(88.7229f)));
    assert_true(isfinite(cm_expf(88.72283f)));
    assert_true(cm_expf(88.72283f) == (float)exp((double)88.72283f));
    assert_true(cm_expf(-103.98f) == 0.0f);
    assert_true(cm_expf(-103.0f) == (float)exp(-103.0) && cm_expf(-103.0f) > 0.0f);
    assert_true(cm_expf(1e-30f) == 1.0f);
    assert_true(cm_expf(-1e-30f) == 1.0f);
}

static void test_logf_accuracy(void **state)
{
    (void)state;
    float worst;
    int64_t d = sweep_ulp(cm_logf, log, from_bits(1), from_bits(0x7f7fffff), 2039, &worst);
    printf("cm_logf  max %lld ulp over all positive floats (worst x = %a)\n", (long long)d,
           worst);
    assert_true(d <= 1);
    d = sweep_ulp(cm_logf, log, 0.5f, 2.0f, 13, &worst);
    printf("cm_logf  max %lld ulp over [0.5, 2] (worst x = %a)\n", (long long)d, worst);
    assert_true(d <= 1);
}

static void test_logf_specials(void **state)
{
    (void)state;
    assert_true(cm_logf(1.0f) == 0.0f && !signbit(cm_logf(1.0f)));
    assert_true(cm_logf(0.0f) == -INFINITY);
    assert_true(cm_logf(-0.0f) == -INFINITY);
    assert_true(isnan(cm_logf(-1.0f)));
    assert_true(isnan(cm_logf(-INFINITY)));
    assert_true(isnan(cm_logf(NAN)));
    assert_true(cm_logf(INFINITY) == INFINITY);
    assert_true(cm_logf(from_bits(1)) == (float)log((double)from_bits(1)));
    assert_true(cm_logf(2.0f) == (float)log(2.0));
    assert_true(cm_logf(10000.0f) == (float)log(10000.0));
}

static void test_tanhf_accuracy(void **state)
{
    (void)state;
    float worst;
    int64_t d = sweep_ulp(cm_tanhf, tanh, -10.0f, 10.0f, 1021, &worst);
    printf("cm_tanhf max %lld ulp over [-10, 10] (worst x = %a)\n", (long long)d, worst);
    assert_true(d <= 2);
    d = sweep_ulp(cm_tanhf, tanh, 0.3f, 0.8f, 13, &worst);
    printf("cm_tanhf max %lld ulp over [0.3, 0.8], every 13th float (worst x = %a)\n", (long long)d,
           worst);
    assert_true(d <= 2);
}

static void test_tanhf_specials(void **state)
{
    (void)state;
    assert_true(cm_tanhf(0.0f) == 0.0f && !signbit(cm_tanhf(0.0f)));
    assert_true(cm_tanhf(-0.0f) == 0.0f && signbit(cm_tanhf(-0.0f)));
    assert_true(cm_tanhf(INFINITY) == 1.0f);
    assert_true(cm_tanhf(-INFINITY) == -1.0f);
    assert_true(cm_tanhf(20.0f) == 1.0f);
    assert_true(cm_tanhf(-1e30f) == -1.0f);
    assert_true(isnan(cm_tanhf(NAN)));
    assert_true(cm_tanhf(1e-20f) == 1e-20f);
    assert_true(cm_tanhf(from_bits(1)) == from_bits(1));
    for (float x = -9.5f; x < 9.5f; x += 0.01f)
        assert_true(cm_tanhf(-x) == -cm_tanhf(x)); /* odd by construction */
}

/* sin/cos: ulp error on the primary interval, absolute error on the long range. */
static void trig_check(f1 fn, double (*ref)(double), const char *name)
{
    float worst;
    int64_t d = sweep_ulp(fn, ref, -0.7853982f, 0.7853982f, 509, &worst);
    printf("%s max %lld ulp over [-pi/4, pi/4] (worst x = %a)\n", name, (long long)d, worst);
    assert_true(d <= 1);
    double maxabs = 0;
    float wx = 0;
    for (int64_t o = ordinal(-4.0e5f); o <= ordinal(4.0e5f); o += 2039) {
        float x = o < 0 ? from_bits(0x80000000u | (uint32_t)(-o)) : from_bits((uint32_t)o);
        double e = fabs((double)fn(x) - ref((double)x));
        if (e > maxabs) {
            maxabs = e;
            wx = x;
        }
    }
    /* and every RoPE-like angle pos * f for the positions of a long context */
    for (int pos = 0; pos <= 262144; pos += 3) {
        float x = (float)pos * 0.8317f;
        double e = fabs((double)fn(x) - ref((double)x));
        if (e > maxabs) {
            maxabs = e;
            wx = x;
        }
    }
    printf("%s max abs error %.3g over |x| <= 4e5 (worst x = %a)\n", name, maxabs, wx);
    assert_true(maxabs <= 1.2e-7);
}

static void test_sinf_accuracy(void **state)
{
    (void)state;
    trig_check(cm_sinf, sin, "cm_sinf ");
}

static void test_cosf_accuracy(void **state)
{
    (void)state;
    trig_check(cm_cosf, cos, "cm_cosf ");
}

static void test_trig_specials(void **state)
{
    (void)state;
    assert_true(cm_sinf(0.0f) == 0.0f && !signbit(cm_sinf(0.0f)));
    assert_true(cm_sinf(-0.0f) == 0.0f && signbit(cm_sinf(-0.0f)));
    assert_true(cm_cosf(0.0f) == 1.0f);
    assert_true(cm_cosf(-0.0f) == 1.0f);
    assert_true(isnan(cm_sinf(INFINITY)) && isnan(cm_sinf(-INFINITY)) && isnan(cm_sinf(NAN)));
    assert_true(isnan(cm_cosf(INFINITY)) && isnan(cm_cosf(-INFINITY)) && isnan(cm_cosf(NAN)));
    assert_true(cm_sinf(1e-30f) == 1e-30f);
    /* huge arguments: deterministic and bounded, no accuracy claimed */
    assert_true(isfinite(cm_sinf(1e30f)));
    assert_true(isfinite(cm_cosf(-3e38f)));
}

static void test_round_half_away(void **state)
{
    (void)state;
    assert_int_equal(cm_round_half_away(0.5f), 1);
    assert_int_equal(cm_round_half_away(-0.5f), -1);
    assert_int_equal(cm_round_half_away(1.5f), 2);
    assert_int_equal(cm_round_half_away(2.5f), 3);
    assert_int_equal(cm_round_half_away(-2.5f), -3);
    assert_int_equal(cm_round_half_away(0.49999997f), 1); /* the float add rounds up (A3) */
    assert_int_equal(cm_round_half_away(126.6f), 127);
    assert_int_equal(cm_round_half_away(-127.0f), -127);
    assert_int_equal(cm_round_half_away(0.0f), 0);
    assert_int_equal(cm_round_half_away(-0.0f), 0);
    assert_int_equal(cm_round_half_away(NAN), 0);
    assert_int_equal(cm_round_half_away(1e20f), 2147483647);
    assert_int_equal(cm_round_half_away(-1e20f), -2147483647);
}

/* FNV-1a over the output bits. */
static uint64_t fnv1a(uint64_t h, uint32_t v)
{
    for (int i = 0; i < 4; i++) {
        h ^= (v >> (8 * i)) & 0xffu;
        h *= 0x100000001b3ull;
    }
    return h;
}

/* The fixed grid: 2^16 inputs per function from an LCG, scaled into each function's range,
 * plus a run of consecutive bit patterns around 1.0. */
static uint64_t frozen_hash(void)
{
    uint64_t h = 0xcbf29ce484222325ull;
    uint32_t s = 12345u;
    for (int i = 0; i < 65536; i++) {
        s = s * 1664525u + 1013904223u;
        float u = (float)(s >> 8) * 0x1p-24f; /* [0, 1) */
        float xe = (u - 0.5f) * 200.0f;       /* exp: [-100, 100) */
        float xl = from_bits(s & 0x7f7fffffu); /* log: any positive finite float */
        float xt = (u - 0.5f) * 24.0f;        /* tanh */
        float xs = (u - 0.5f) * 8.0e5f;       /* sin/cos */
        float xr = (u - 0.5f) * 300.0f;       /* round */
        h = fnv1a(h, to_bits(cm_expf(xe)));
        h = fnv1a(h, to_bits(cm_logf(xl)));
        h = fnv1a(h, to_bits(cm_tanhf(xt)));
        h = fnv1a(h, to_bits(cm_sinf(xs)));
        h = fnv1a(h, to_bits(cm_cosf(xs)));
        h = fnv1a(h, to_bits(cm_sinf(u)));
        h = fnv1a(h, to_bits(cm_cosf(u * 4.0f)));
        h = fnv1a(h, (uint32_t)cm_round_half_away(xr));
    }
    for (uint32_t b = 0x3f7ff000u; b < 0x3f801000u; b++) {
        float x = from_bits(b);
        h = fnv1a(h, to_bits(cm_expf(x)));
        h = fnv1a(h, to_bits(cm_logf(x)));
        h = fnv1a(h, to_bits(cm_tanhf(x)));
        h = fnv1a(h, to_bits(cm_sinf(x)));
        h = fnv1a(h, to_bits(cm_cosf(x)));
    }
    return h;
}

/* Changing this constant changes the arithmetic profile: bump ENGINE_ARITH_VERSION. */
#define CMATH_FROZEN_HASH 0x9b29375e7ee1fcbdull

static void test_frozen_bits(void **state)
{
    (void)state;
    uint64_t h = frozen_hash();
    printf("cmath frozen hash 0x%016llxull\n", (unsigned long long)h);
    assert_true(h == CMATH_FROZEN_HASH);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_expf_accuracy),   cmocka_unit_test(test_expf_specials),
        cmocka_unit_test(test_logf_accuracy),   cmocka_unit_test(test_logf_specials),
        cmocka_unit_test(test_tanhf_accuracy),  cmocka_unit_test(test_tanhf_specials),
        cmocka_unit_test(test_sinf_accuracy),   cmocka_unit_test(test_cosf_accuracy),
        cmocka_unit_test(test_trig_specials),   cmocka_unit_test(test_round_half_away),
        cmocka_unit_test(test_frozen_bits),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
