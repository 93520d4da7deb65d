/*
 * Block formats and conversions (docs/arithmetic.md A3, A4): f16/bf16 <-> f32, the activation
 * quantiser, Q8_0 weight quantisation, and the ggml K-quant dequantisers.
 */
#include "inference/quant.h"

#include <stdlib.h>
#include <string.h>

#include "inference/cmath.h"

/* ---- f16 / bf16 ------------------------------------------------------------------------- */

/* Exact: every f16 value is a float. Subnormals (mantissa * 2^-24) are formed by an exact
 * integer-to-float conversion and an exact power-of-two scaling. */
float fp16_to_f32(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t exp = (h >> 10) & 0x1fu;
    uint32_t mant = h & 0x3ffu;
    if (exp == 0) {
        float v = (float)mant * 0x1p-24f;
        return sign ? -v : v;
    }
    if (exp == 31) /* inf, or NaN with the payload kept in the top mantissa bits */
        return cm_u2f(sign | 0x7f800000u | (mant << 13));
    return cm_u2f(sign | ((exp + 112u) << 23) | (mant << 13));
}

/* Round to nearest, ties to even, on the bit patterns; overflow gives inf, NaN stays a quiet
 * NaN (payload truncated, quiet bit set), tiny values round correctly into f16 subnormals. */
uint16_t f32_to_fp16(float f)
{
    uint32_t x = cm_f2u(f);
    uint16_t sign = (uint16_t)((x >> 16) & 0x8000u);
    uint32_t exp = (x >> 23) & 0xffu;
    uint32_t mant = x & 0x7fffffu;
    if (exp == 0xff)
        return (uint16_t)(sign | 0x7c00u | (mant ? 0x200u | (mant >> 13) : 0));
    int32_t e = (int32_t)exp - 127 + 15; /* f16 biased exponent */
    if (e >= 31)
        return (uint16_t)(sign | 0x7c00u);
    if (e <= 0) {
        /* Result is an f16 subnormal (or zero): value = m * 2^-24 with m = full_mant >> shift. */
        if (e < -10)
            return sign; /* below half the smallest subnormal: rounds to zero */
        uint32_t full = mant | 0x800000u;
        uint32_t shift = (uint32_t)(14 - e); /* 14..24 */
        uint32_t q = full >> shift;
        uint32_t rem = full & ((1u << shift) - 1);
        uint32_t half = 1u << (shift - 1);
        if (rem > half || (rem == half && (q & 1)))
            q++;
        return (uint16_t)(sign | q); /* q == 0x400 carries into the smallest normal: right */
    }
    uint32_t q = ((uint32_t)e << 10) | (mant >> 13);
    uint32_t rem = mant & 0x1fffu;
    if (rem > 0x1000u || (rem == 0x1000u && (q & 1)))
        q++; /* a carry into the exponent is the correct rounding, up to inf */
    return (uint16_t)(sign | q);
}

float bf16_to_f32(uint16_t h)
{
    return cm_u2f((uint32_t)h << 16);
}

/* ---- A3: activations -------------------------------------------------------------------- */

int q8_act_alloc(q8_act *a, int rows, int cols)
{
    memset(a, 0, sizeof *a);
    if (rows < 0 || cols < 0 || cols % QK != 0)
        return -1;
    size_t n = (size_t)rows * (size_t)cols;
    size_t nd = (size_t)rows * (size_t)(cols / QK);
    /* 64-byte alignment and a multiple of 64 bytes, so SIMD kernels may load whole vectors. */
    size_t qbytes = (n + 63) & ~(size_t)63;
    size_t dbytes = (nd * sizeof(float) + 63) & ~(size_t)63;
    a->q = aligned_alloc(64, qbytes ? qbytes : 64);
    a->d = aligned_alloc(64, dbytes ? dbytes : 64);
    if (!a->q || !a->d) {
        q8_act_free(a);
        return -1;
    }
    a->rows = rows;
    a->cols = cols;
    return 0;
}

void q8_act_free(q8_act *a)
{
    free(a->q);
    free(a->d);
    a->q = NULL;
    a->d = NULL;
    a->rows = a->cols = 0;
}

/* max |x_i| over one block; exact. A NaN never wins a comparison, so it is skipped. */
static float block_amax(const float *x)
{
    float amax = 0.0f;
    for (int i = 0; i < QK; i++) {
        float v = x[i] < 0.0f ? -x[i] : x[i];
        amax = v > amax ? v : amax;
    }
    return amax;
}

static int8_t clamp_q(int32_t v)
{
    return (int8_t)(v > 127 ? 127 : (v < -127 ? -127 : v));
}

void q8_quantize_rows(const float *x, int rows, int cols, q8_act *out)
{
    int nb = cols / QK;
    for (int r = 0; r < rows; r++) {
        for (int b = 0; b < nb; b++) {
            const float *xb = x + (size_t)r * cols + (size_t)b * QK;
            int8_t *qb = out->q + (size_t)r * cols + (size_t)b * QK;
            float amax = block_amax(xb);
            if (amax == 0.0f) {
                out->d[(size_t)r * nb + b] = 0.0f;
                memset(qb, 0, QK);
                continue;
            }
            float d = amax / 127.0f;
            float id = 127.0f / amax;
            out->d[(size_t)r * nb + b] = d;
            for (int i = 0; i < QK; i++)
                qb[i] = clamp_q(cm_round_half_away(xb[i] * id));
        }
    }
}

/* ---- A4: Q8_0 weights ------------------------------------------------------------------- */

void q8_0_quantize_row(const float *x, block_q8_0 *out, int n)
{
    for (int b = 0; b < n / QK; b++) {
        const float *xb = x + (size_t)b * QK;
        float amax = block_amax(xb);
        float d = amax / 127.0f;
        float id = d != 0.0f ? 1.0f / d : 0.0f;
        out[b].d = f32_to_fp16(d);
        for (int i = 0; i < QK; i++)
            out[b].q[i] = clamp_q(cm_round_half_away(xb[i] * id));
    }
}

void q8_0_dequantize_row(const block_q8_0 *in, float *out, int n)
{
    for (int b = 0; b < n / QK; b++) {
        float d = fp16_to_f32(in[b].d);
        for (int i = 0; i < QK; i++)
            out[(size_t)b * QK + i] = (float)in[b].q[i] * d;
    }
}

/* ---- ggml K-quants ---------------------------------------------------------------------- */

/* Q4_K super-block (144 bytes): f16 d, f16 dmin, 12 bytes packing eight 6-bit scales and
 * eight 6-bit mins, 128 bytes of 4-bit values (256 values in 8 sub-blocks of 32). */
#define Q4_K_BYTES 144
#define Q6_K_BYTES 210

size_t q4_k_block_bytes(void)
{
    return Q4_K_BYTES;
}

size_t q6_k_block_bytes(void)
{
    return Q6_K_BYTES;
}

static uint16_t read_u16le(const uint8_t *p)
{
    return (uint16_t)(p[0] | (p[1] << 8));
}

/* Sub-block j's 6-bit scale and min: j < 4 keep them in the low 6 bits of bytes j and j+4;
 * j >= 4 take the low/high nibble of byte j+4 and the top 2 bits of bytes j-4 / j. */
static void q4_k_scale_min(int j, const uint8_t *s, int *sc, int *m)
{
    if (j < 4) {
        *sc = s[j] & 63;
        *m = s[j + 4] & 63;
    } else {
        *sc = (s[j + 4] & 0x0f) | ((s[j - 4] >> 6) << 4);
        *m = (s[j + 4] >> 4) | ((s[j] >> 6) << 4);
    }
}

/* x = (d*sc)*q - (dmin*m): sub-blocks 2i and 2i+1 share 32 bytes of qs (low nibbles, then
 * high nibbles). */
void q4_k_dequantize_row(const void *blocks, float *out, int n)
{
    const uint8_t *blk = blocks;
    for (int b = 0; b < n / QK_K; b++, blk += Q4_K_BYTES) {
        float d = fp16_to_f32(read_u16le(blk));
        float dmin = fp16_to_f32(read_u16le(blk + 2));
        const uint8_t *scales = blk + 4;
        const uint8_t *qs = blk + 16;
        float *y = out + (size_t)b * QK_K;
        for (int pair = 0; pair < 4; pair++) {
            int sc0, m0, sc1, m1;
            q4_k_scale_min(2 * pair, scales, &sc0, &m0);
            q4_k_scale_min(2 * pair + 1, scales, &sc1, &m1);
            float d0 = d * (float)sc0, mm0 = dmin * (float)m0;
            float d1 = d * (float)sc1, mm1 = dmin * (float)m1;
            const uint8_t *q = qs + 32 * pair;
            for (int l = 0; l < 32; l++)
                y[64 * pair + l] = d0 * (float)(q[l] & 0x0f) - mm0;
            for (int l = 0; l < 32; l++)
                y[64 * pair + 32 + l] = d1 * (float)(q[l] >> 4) - mm1;
        }
    }
}

/* Q6_K super-block (210 bytes): ql[128] low 4 bits, qh[64] high 2 bits, int8 scales[16] (one
 * per 16 values), f16 d. x = (d*sc)*(q - 32). Each half of 128 values uses 64 bytes of ql
 * and 32 of qh: value l (0..31) of the four 32-value quarters takes
 *   quarter 0: ql[l] low nibble,    qh[l] bits 0-1
 *   quarter 1: ql[l+32] low nibble, qh[l] bits 2-3
 *   quarter 2: ql[l] high nibble,   qh[l] bits 4-5
 *   quarter 3: ql[l+32] high nibble, qh[l] bits 6-7 */
void q6_k_dequantize_row(const void *blocks, float *out, int n)
{
    const uint8_t *blk = blocks;
    for (int b = 0; b < n / QK_K; b++, blk += Q6_K_BYTES) {
        const uint8_t *ql = blk;
        const uint8_t *qh = blk + 128;
        const int8_t *sc = (const int8_t *)(blk + 192);
        float d = fp16_to_f32(read_u16le(blk + 208));
        float *y = out + (size_t)b * QK_K;
        for (int half = 0; half < 2; half++) {
            for (int l = 0; l < 32; l++) {
                int is = l / 16;
                int q0 = (int)((ql[l] & 0x0f) | (((qh[l] >> 0) & 3) << 4)) - 32;
                int q1 = (int)((ql[l + 32] & 0x0f) | (((qh[l] >> 2) & 3) << 4)) - 32;
                int q2 = (int)((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
                int q3 = (int)((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
                y[l] = (d * (float)sc[is + 0]) * (float)q0;
                y[l + 32] = (d * (float)sc[is + 2]) * (float)q1;
                y[l + 64] = (d * (float)sc[is + 4]) * (float)q2;
                y[l + 96] = (d * (float)sc[is + 6]) * (float)q3;
            }
            y += 128;
            ql += 64;
            qh += 32;
            sc += 8;
        }
    }
}
