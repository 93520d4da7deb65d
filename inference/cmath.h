/*
 * Canonical transcendentals of the arithmetic profile sibyl-arith-1 (docs/arithmetic.md A2).
 *
 * One header for the CPU (C11) and CUDA (host and device). Every function is built only from
 * IEEE-754 binary32 `+ - * /`, comparisons, integer<->float conversions, integer operations
 * and bit casts, each written as one rounded operation in a fixed order. No FMA (the build
 * sets -ffp-contract=off, CUDA -fmad=false), no libm, no branches that a SIMD version could
 * not turn into selects. The algorithms below, with their constants and evaluation order,
 * ARE the profile: changing one bit of any result means a new profile version.
 *
 * The polynomial coefficients were fitted (near-minimax, Lawson iterations in double, then
 * rounded to float) by scripts/cmath-fit.py; they are fixed here as exact hex floats.
 *
 * Measured accuracy (tests/inference/test_cmath.c prints it: libm in double precision rounded
 * to float as reference, sampled sweeps of every 13th..2039th float in the range, plus special
 * values; "ulp" = distance in representable floats):
 *   cm_expf   max 1 ulp over [-104, 89], subnormal results included; exact specials
 *             (exp(+-0) = 1, overflow to +inf above ~88.7228, +0 below ~-103.97).
 *   cm_logf   max 1 ulp over all positive floats, subnormals included.
 *   cm_tanhf  max 1 ulp over [-10, 10]; odd; +-1 for |x| >= 9.
 *   cm_sinf, cm_cosf: max 1 ulp on [-pi/4, pi/4]; absolute error <= 9.2e-8 for |x| <= 4e5
 *             (2^18 quadrants; RoPE angles reach 262144). Beyond 4e5 the result is still
 *             deterministic but the reduction loses accuracy.
 * The same bits come out at -O0 and -O3 (-march=native), from gcc and clang: the test hashes
 * the outputs over a fixed grid against a committed constant.
 */
#ifndef SIBYL_INFERENCE_CMATH_H
#define SIBYL_INFERENCE_CMATH_H

#include <stdint.h>

#ifdef __CUDACC__
#define CM_FN __host__ __device__ static inline
#else
#include <string.h>
#define CM_FN static inline
#endif

/* Bit casts between float and its IEEE-754 encoding (exact, no arithmetic). */
CM_FN uint32_t cm_f2u(float f)
{
#ifdef __CUDA_ARCH__
    return (uint32_t)__float_as_uint(f);
#else
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
#endif
}

CM_FN float cm_u2f(uint32_t u)
{
#ifdef __CUDA_ARCH__
    return __uint_as_float(u);
#else
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
#endif
}

/* 2^k as a float for k in [-126, 127] (a normal number), built from the exponent bits. */
CM_FN float cm_pow2i(int32_t k)
{
    return cm_u2f((uint32_t)(k + 127) << 23);
}

/* Round to the nearest integer, ties to even, for |v| < 2^22: adding 1.5*2^23 puts the value
 * in [2^23, 2^24) where the float spacing is exactly 1, so the (correctly rounded, RNE) add
 * performs the rounding; subtracting the constant back is exact. Result is an integral float. */
#define CM_ROUND_MAGIC 0x1.8p23f
CM_FN float cm_rint_small(float v)
{
    float t = v + CM_ROUND_MAGIC;
    return t - CM_ROUND_MAGIC;
}

/*
 * A3's round_half_away(v) = sign(v) * (int)(|v| + 0.5f): the float addition is rounded (RNE),
 * the conversion truncates toward zero. Defined for every input: NaN gives 0 and values whose
 * magnitude reaches 2^31 saturate to +-2147483647 (A3/A4 only ever pass |v| <= ~127).
 */
CM_FN int32_t cm_round_half_away(float v)
{
    float a = v < 0.0f ? -v : v;
    a = a + 0.5f;
    int32_t i;
    if (!(a == a))
        i = 0;
    else if (a >= 2147483648.0f)
        i = 2147483647;
    else
        i = (int32_t)a;
    return v < 0.0f ? -i : i;
}

/*
 * cm_expf(x)
 * 1. NaN returns NaN. x is clamped to [-104, 89]: exp(89) overflows and exp(-104) < 2^-150
 *    rounds to +0, so clamping changes no result and keeps n below in range.
 * 2. n = rint(x * log2(e)) (cm_rint_small, ties to even), |n| <= 150.
 * 3. r = (x - n*LN2_HI) - n*LN2_LO (Cody-Waite, 2 parts). LN2_HI has 9 trailing zero bits so
 *    n*LN2_HI is exact and the first subtraction is exact; |r| <= ~0.3466.
 * 4. p = 1 + (r + r^2*Q(r)), Q a degree-4 polynomial by Horner: q = Q4; q = q*r + Q3; ...
 *    evaluated as: r2 = r*r; t = r2*q; t = r + t; p = 1 + t.
 * 5. Scale by 2^n in two exact-then-rounded steps, n1 = n >> 1 (floor), n2 = n - n1, both in
 *    [-75, 64]: p*2^n1 is exact (stays normal), the final *2^n2 rounds once, so overflow to inf
 *    and gradual underflow to subnormals/zero come out correctly rounded from p.
 */
#define CM_LOG2E 0x1.715476p+0f
#define CM_LN2_HI 0x1.62e400p-1f /* 0.693145751953125 */
#define CM_LN2_LO 0x1.7f7d1cp-20f
#define CM_EXP_Q0 0x1.fffffcp-2f
#define CM_EXP_Q1 0x1.55548ap-3f
#define CM_EXP_Q2 0x1.555916p-5f
#define CM_EXP_Q3 0x1.123fb6p-7f
#define CM_EXP_Q4 0x1.6a1a80p-10f

CM_FN float cm_expf(float x)
{
    if (!(x == x))
        return x + x;
    x = x > 89.0f ? 89.0f : x;
    x = x < -104.0f ? -104.0f : x;
    float nf = cm_rint_small(x * CM_LOG2E);
    int32_t n = (int32_t)nf;
    float r = x - nf * CM_LN2_HI;
    r = r - nf * CM_LN2_LO;
    float q = CM_EXP_Q4;
    q = q * r + CM_EXP_Q3;
    q = q * r + CM_EXP_Q2;
    q = q * r + CM_EXP_Q1;
    q = q * r + CM_EXP_Q0;
    float r2 = r * r;
    float t = r2 * q;
    t = r + t;
    float p = 1.0f + t;
    int32_t n1 = n >> 1; /* arithmetic shift: floor(n/2) */
    int32_t n2 = n - n1;
    p = p * cm_pow2i(n1);
    return p * cm_pow2i(n2);
}

/*
 * cm_logf(x)
 * 1. Specials: NaN -> NaN, x < 0 -> NaN, +-0 -> -inf, +inf -> +inf.
 * 2. Subnormal x: multiply by 2^23 (exact) and remember k = -23.
 * 3. Split x = m * 2^e with m in [sqrt(1/2), sqrt(2)) by integer operations on the bits:
 *    ix = bits(x) - bits(0x1.6a09e6p-1) (sqrt(1/2) rounded down); e = ix >> 23 (arithmetic);
 *    bits(m) = (ix & 0x7fffff) + bits(0x1.6a09e6p-1). f = m - 1 is exact (Sterbenz).
 * 4. s = f / (2 + f), z = s*s, R = z*(L0 + z*(L1 + z*(L2 + z*L3))) approximates
 *    2*atanh(s)/s - 2, so log(1+f) = f - s*(f - R)   (because 2s = f - s*f).
 *    Evaluated: t = f - R; t = s*t; y = (E*LN2_LO - t) + f; result = E*LN2_HI + y, E = e + k as
 *    float (LN2_HI has 9 trailing zeros, so E*LN2_HI is exact for |E| < 2^9).
 */
#define CM_SQRT_HALF_BITS 0x3f3504f3u
#define CM_LOG_L0 0x1.555554p-1f
#define CM_LOG_L1 0x1.999a7ap-2f
#define CM_LOG_L2 0x1.2438d8p-2f
#define CM_LOG_L3 0x1.e2f674p-3f

CM_FN float cm_logf(float x)
{
    if (!(x == x))
        return x + x;
    if (x < 0.0f)
        return cm_u2f(0x7fc00000u); /* NaN */
    if (x == 0.0f)
        return cm_u2f(0xff800000u); /* -inf */
    if (x == cm_u2f(0x7f800000u))
        return x;
    int32_t k = 0;
    if (x < 0x1p-126f) {
        x = x * 0x1p23f;
        k = -23;
    }
    int32_t ix = (int32_t)(cm_f2u(x) - CM_SQRT_HALF_BITS);
    int32_t e = ix >> 23;
    float m = cm_u2f(((uint32_t)ix & 0x7fffffu) + CM_SQRT_HALF_BITS);
    float f = m - 1.0f;
    float s = f / (2.0f + f);
    float z = s * s;
    float R = CM_LOG_L3;
    R = R * z + CM_LOG_L2;
    R = R * z + CM_LOG_L1;
    R = R * z + CM_LOG_L0;
    R = R * z;
    float t = f - R;
    t = s * t;
    float E = (float)(e + k);
    float y = E * CM_LN2_LO - t;
    y = y + f;
    return E * CM_LN2_HI + y;
}

/*
 * cm_tanhf(x)
 * 1. NaN -> NaN. a = |x|. a < 2^-12: return x (tanh(x) = x - x^3/3 rounds to x there; this
 *    also keeps the sign of -0).
 * 2. a < 0.55: tanh(x) = x + x*(z*P(z)), z = x*x, P degree 5 by Horner.
 * 3. 0.55 <= a < 9: e = cm_expf(2a) (2a is exact), t = 1 - 2/(e + 1), sign restored.
 * 4. a >= 9 (also inf): +-1 (tanh(9) = 1 - 3.0e-8 rounds to 1).
 */
#define CM_TANH_P0 -0x1.555554p-2f
#define CM_TANH_P1 0x1.1110dcp-3f
#define CM_TANH_P2 -0x1.ba0996p-5f
#define CM_TANH_P3 0x1.64e3c8p-6f
#define CM_TANH_P4 -0x1.13b550p-7f
#define CM_TANH_P5 0x1.3a061ep-9f

CM_FN float cm_tanhf(float x)
{
    if (!(x == x))
        return x + x;
    float a = x < 0.0f ? -x : x;
    if (a < 0x1p-12f)
        return x;
    if (a < 0.55f) {
        float z = x * x;
        float p = CM_TANH_P5;
        p = p * z + CM_TANH_P4;
        p = p * z + CM_TANH_P3;
        p = p * z + CM_TANH_P2;
        p = p * z + CM_TANH_P1;
        p = p * z + CM_TANH_P0;
        p = z * p;
        return x + x * p;
    }
    float t;
    if (a < 9.0f) {
        float e = cm_expf(a + a);
        t = 1.0f - 2.0f / (e + 1.0f);
    } else {
        t = 1.0f;
    }
    return x < 0.0f ? -t : t;
}

/*
 * Shared argument reduction of cm_sinf / cm_cosf.
 * 1. n = rint(x * 2/pi) (cm_rint_small), an integral float; |n| < 2^22 is required for the
 *    rounding trick, inputs beyond are clamped to +-2^22*pi/2 first (accuracy is only claimed
 *    for |x| <= 4e5, i.e. |n| <= 2^18).
 * 2. r = x - n*(pi/2) by Cody-Waite in 4 parts. Without FMA a product n*C is exact only if C has
 *    at most 24 - 18 = 6 significant bits (n < 2^18), so the first three parts have <= 6 bits
 *    and every partial difference is exact; the last part is a full float:
 *      r = x - n*C1; r = r - n*C2; r = r - n*C3; r = r - n*C4
 *    C1 + C2 + C3 + C4 equals pi/2 to 1.7e-15.
 * 3. Quadrant q = n mod 4 (two's complement & 3).
 */
#define CM_2_OVER_PI 0x1.45f306p-1f
#define CM_PIO2_C1 0x1.9p+0f      /* 1.5625 */
#define CM_PIO2_C2 0x1.1p-7f      /* 0.00830078125 */
#define CM_PIO2_C3 -0x1.28p-18f   /* -4.410743713378906e-06 */
#define CM_PIO2_C4 -0x1.777a5cp-25f

CM_FN float cm_trig_reduce(float x, int32_t *quadrant)
{
    const float lim = 0x1p22f * 0x1.921fb6p+0f;
    x = x > lim ? lim : x;
    x = x < -lim ? -lim : x;
    float nf = cm_rint_small(x * CM_2_OVER_PI);
    float r = x - nf * CM_PIO2_C1;
    r = r - nf * CM_PIO2_C2;
    r = r - nf * CM_PIO2_C3;
    r = r - nf * CM_PIO2_C4;
    *quadrant = (int32_t)nf & 3;
    return r;
}

/* sin(r) = r + r*(z*S(z)), z = r*r, S degree 3; |r| <= ~0.8. */
#define CM_SIN_S0 -0x1.555556p-3f
#define CM_SIN_S1 0x1.111106p-7f
#define CM_SIN_S2 -0x1.a00d84p-13f
#define CM_SIN_S3 0x1.6c5dbap-19f

CM_FN float cm_sin_poly(float r)
{
    float z = r * r;
    float p = CM_SIN_S3;
    p = p * z + CM_SIN_S2;
    p = p * z + CM_SIN_S1;
    p = p * z + CM_SIN_S0;
    p = z * p;
    return r + r * p;
}

/* cos(r) = (1 - z/2) + z*z*C(z), z = r*r, C degree 3; |r| <= ~0.8.
 * Evaluated: h = 0.5*z; w = 1 - h; c = (z*z)*C; result = w + c. */
#define CM_COS_C0 0x1.555556p-5f
#define CM_COS_C1 -0x1.6c16b6p-10f
#define CM_COS_C2 0x1.a00f20p-16f
#define CM_COS_C3 -0x1.23c6c0p-22f

CM_FN float cm_cos_poly(float r)
{
    float z = r * r;
    float p = CM_COS_C3;
    p = p * z + CM_COS_C2;
    p = p * z + CM_COS_C1;
    p = p * z + CM_COS_C0;
    float z2 = z * z;
    p = z2 * p;
    float h = 0.5f * z;
    float w = 1.0f - h;
    return w + p;
}

/* cm_sinf: NaN/inf -> NaN; |x| < 2^-12 -> x (sin(x) = x - x^3/6 rounds to x; keeps -0);
 * else reduce and pick by quadrant: q=0: sin(r), q=1: cos(r), q=2: -sin(r), q=3: -cos(r). */
CM_FN float cm_sinf(float x)
{
    if (!(x - x == 0.0f))
        return x - x; /* NaN for NaN and +-inf */
    if ((x < 0.0f ? -x : x) < 0x1p-12f)
        return x;
    int32_t q;
    float r = cm_trig_reduce(x, &q);
    float v = (q & 1) ? cm_cos_poly(r) : cm_sin_poly(r);
    return (q & 2) ? -v : v;
}

/* cm_cosf: NaN/inf -> NaN; q=0: cos(r), q=1: -sin(r), q=2: -cos(r), q=3: sin(r). */
CM_FN float cm_cosf(float x)
{
    if (!(x - x == 0.0f))
        return x - x;
    int32_t q;
    float r = cm_trig_reduce(x, &q);
    float v = (q & 1) ? cm_sin_poly(r) : cm_cos_poly(r);
    return ((q + 1) & 2) ? -v : v;
}

#endif
