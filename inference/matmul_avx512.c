/*
 * q8_matmul, AVX-512 VNNI path (compiled with -mavx512f -mavx512bw -mavx512vl -mavx512vnni;
 * only called when the CPU has them). Bit-identical to A5 and the portable path.
 *
 * Layout: the weight rows are taken 48 at a time (a "panel": three zmm vectors of 16 rows, one
 * int32/float lane per row) and, a chunk of KC blocks at a time, repacked into a scratch buffer:
 *     wp[block][g][v][lane r] = (uint8_t)(w[row 16v+r][block][4g .. 4g+3] + 128),  g = 0..7
 * so one vpdpbusd multiplies the four activation bytes a[t][block][4g..4g+3] (broadcast to all
 * lanes, signed) by the matching four weight bytes of 16 rows (unsigned) and adds them into 16
 * int32 lanes, one per row. Eight of them give, per row,
 *     sum_i a_i * (w_i + 128) = isum + 128 * sum_i a_i,
 * so each lane starts from -128 * sum_i a_i (precomputed per token block by the dispatcher, with
 * the token-interleaved activation copy of matmul_internal.h) and ends at exactly A5's isum (no
 * overflow: |isum| <= 32*127*128). The per-block fold
 *     acc = acc + (float)isum * (wd * ad)
 * then runs on the 16 lanes with the same three rounded operations as the scalar code
 * (cvtdq2ps is exact here, no FMA anywhere), so each lane is that row's A5 result.
 * Tokens go in register tiles of 4; a panel's accumulators carry over between K chunks in a
 * small buffer (T x 48 floats).
 */
#include "inference/matmul_internal.h"

#include <immintrin.h>
#include <stdlib.h>
#include <string.h>

/* Register tile: 3 vectors of 16 rows x 4 tokens. Per 4-byte group g the kernel loads 3 weight
 * vectors and broadcasts 4 activation dwords (vpbroadcastd into a register; asm keeps the
 * compiler from turning it into a scalar load + GPR broadcast), then issues 12 independent
 * vpdpbusd. On the AMD EPYC (Zen 5) of the dev machine this beat 1 x 8 with EVEX embedded
 * broadcasts by ~20% (embedded-broadcast vpdpbusd ran at about half rate there). */
#ifndef MM512_NV
#define MM512_NV 3 /* zmm vectors of 16 rows per panel */
#endif
#define VROWS 16                 /* rows per vector = float lanes of a zmm */
#define PANEL (VROWS * MM512_NV) /* weight rows per panel */
_Static_assert(PANEL == MM_AVX512_PANEL, "the dispatcher splits work in panels");
#ifndef KC
#define KC 32 /* blocks per repacked chunk: 48 KiB of repacked weights */
#endif
#ifndef MM512_TT
#define MM512_TT 4 /* tokens per register tile (divides MM_TGROUP) */
#endif
#define TT_MAX MM512_TT
_Static_assert(MM_TGROUP % TT_MAX == 0, "tiles split a group of the interleaved activations");

struct scratch {
    __m512i *wp; /* KC * 8 * MM512_NV vectors */
    float *wd;   /* KC * 16 scales */
    float *acc;  /* T * 16 partial sums, when K has more than one chunk */
};

/* Exact f16 -> f32 of 16 values with integer operations: the same bits as fp16_to_f32
 * (normal: rebias the exponent; subnormal: (float)mantissa * 2^-24, exact; inf/NaN: exponent
 * all ones, payload shifted, no quieting). */
static __m512 f16x16_to_f32(__m256i h16)
{
    const __m512i h = _mm512_cvtepu16_epi32(h16);
    const __m512i sign = _mm512_slli_epi32(_mm512_and_si512(h, _mm512_set1_epi32(0x8000)), 16);
    const __m512i e = _mm512_and_si512(_mm512_srli_epi32(h, 10), _mm512_set1_epi32(0x1f));
    const __m512i m = _mm512_and_si512(h, _mm512_set1_epi32(0x3ff));
    const __m512i m13 = _mm512_slli_epi32(m, 13);
    __m512i r =
        _mm512_or_si512(_mm512_slli_epi32(_mm512_add_epi32(e, _mm512_set1_epi32(112)), 23), m13);
    const __mmask16 is_sub = _mm512_cmpeq_epi32_mask(e, _mm512_setzero_si512());
    const __mmask16 is_max = _mm512_cmpeq_epi32_mask(e, _mm512_set1_epi32(0x1f));
    const __m512 sub = _mm512_mul_ps(_mm512_cvtepi32_ps(m), _mm512_set1_ps(0x1p-24f));
    r = _mm512_mask_mov_epi32(r, is_sub, _mm512_castps_si512(sub));
    r = _mm512_mask_mov_epi32(r, is_max, _mm512_or_si512(_mm512_set1_epi32(0x7f800000), m13));
    return _mm512_castsi512_ps(_mm512_or_si512(r, sign));
}

/* Repack blocks [b0, b0 + kc) of rows [n0, n0 + rows) (rows <= 16; missing rows get zero
 * weights and zero scales, which yields 0 in their unused lanes).
 * Row r's 32 bytes are eight dwords; pairing rows r and r+8 in one zmm and running an 8x8
 * dword transpose inside each 256-bit half gives, for dword index g, the vector
 * [row 0..7 dword g | row 8..15 dword g], i.e. exactly wp[block][g]. */
static void repack16(const mm_job *job, int n0, int rows, int b0, int kc, struct scratch *s, int v)
{
    const int nb = job->nb;
    const block_q8_0 *src[PANEL];
    static const block_q8_0 zero_block; /* d = +0, q = 0 */
    for (int r = 0; r < VROWS; r++)
        src[r] = r < rows ? job->W->blocks + (size_t)(n0 + r) * nb + b0 : &zero_block;
    const __m512i bias = _mm512_set1_epi8((char)0x80);
    const __m512i idx_lo = _mm512_setr_epi64(0, 1, 8, 9, 4, 5, 12, 13);
    const __m512i idx_hi = _mm512_setr_epi64(2, 3, 10, 11, 6, 7, 14, 15);
    for (int b = 0; b < kc; b++) {
        __m512i z[8];
        uint16_t d16[VROWS];
        for (int r = 0; r < 8; r++) {
            const block_q8_0 *lo = src[r], *hi = src[r + 8];
            z[r] = _mm512_inserti64x4(
                _mm512_castsi256_si512(_mm256_loadu_si256((const __m256i *)lo->q)),
                _mm256_loadu_si256((const __m256i *)hi->q), 1);
            memcpy(&d16[r], &lo->d, 2);
            memcpy(&d16[r + 8], &hi->d, 2);
        }
        for (int r = 0; r < rows && r < VROWS; r++) /* next block of each real row */
            src[r]++;
        __m512i t[8], u[8];
        for (int i = 0; i < 4; i++) {
            t[2 * i] = _mm512_unpacklo_epi32(z[2 * i], z[2 * i + 1]);
            t[2 * i + 1] = _mm512_unpackhi_epi32(z[2 * i], z[2 * i + 1]);
        }
        /* u[0..3] from rows 0-3 (and 8-11), u[4..7] from rows 4-7 (and 12-15); u[k] and
         * u[k+4] hold dword g = k (128-bit lanes 0, 2) and g = k + 4 (lanes 1, 3). */
        for (int i = 0; i < 2; i++) {
            u[4 * i + 0] = _mm512_unpacklo_epi64(t[4 * i + 0], t[4 * i + 2]);
            u[4 * i + 1] = _mm512_unpackhi_epi64(t[4 * i + 0], t[4 * i + 2]);
            u[4 * i + 2] = _mm512_unpacklo_epi64(t[4 * i + 1], t[4 * i + 3]);
            u[4 * i + 3] = _mm512_unpackhi_epi64(t[4 * i + 1], t[4 * i + 3]);
        }
        __m512i *dst = s->wp + (size_t)b * 8 * MM512_NV + v;
        for (int k = 0; k < 4; k++) {
            dst[k * MM512_NV] =
                _mm512_xor_si512(_mm512_permutex2var_epi64(u[k], idx_lo, u[k + 4]), bias);
            dst[(k + 4) * MM512_NV] =
                _mm512_xor_si512(_mm512_permutex2var_epi64(u[k], idx_hi, u[k + 4]), bias);
        }
        _mm512_store_ps(s->wd + b * PANEL + v * VROWS,
                        f16x16_to_f32(_mm256_loadu_si256((const __m256i *)d16)));
    }
}

/* The panel = MM512_NV groups of 16 rows; wp[block][g][v] (v = vector), wd[block][v*16 + r]. */
static void repack(const mm_job *job, int n0, int rows, int b0, int kc, struct scratch *s)
{
    for (int v = 0; v < MM512_NV; v++) {
        int r = rows - v * VROWS;
        repack16(job, n0 + v * VROWS, r < 0 ? 0 : (r > VROWS ? VROWS : r), b0, kc, s, v);
    }
}

/* One tile of TT tokens (the first TT of token group G) over blocks [b0, b0+kc) of the current
 * chunk. acc_in: previous partial sums (NULL: start at +0), rows of PANEL floats per token;
 * results go to acc_out, rows of ldo floats (the panel buffer, or y itself on the last chunk of
 * a full panel, so the output stores spread over the tiles instead of one burst at the end); 16
 * floats per token. */
static inline __attribute__((always_inline)) void tile(const mm_job *job, const struct scratch *s,
                                                       int TT, int G, int h, int b0, int kc,
                                                       const float *acc_in, float *acc_out,
                                                       size_t ldo)
{
    const size_t o = ((size_t)G * job->nb + (size_t)b0) * MM_TGROUP;
    const int8_t *ap = job->apack + o * QK + (size_t)h * TT_MAX * QK;
    const float *dp = job->adp + o + (size_t)h * TT_MAX;
    const int32_t *sp = job->asn + o + (size_t)h * TT_MAX;
    __m512 acc[MM512_NV][TT_MAX];
#pragma GCC unroll 8
    for (int j = 0; j < TT; j++)
#pragma GCC unroll 4
        for (int v = 0; v < MM512_NV; v++)
            acc[v][j] = acc_in ? _mm512_loadu_ps(acc_in + (size_t)j * PANEL + v * VROWS)
                               : _mm512_setzero_ps();
    const __m512i *wp = s->wp;
    const float *wdp = s->wd;
    for (int b = 0; b < kc; b++) {
        /* Integer part. Groups outer, tokens inner: the dependency chains interleave, so the
         * core always has independent vpdpbusd to issue. */
        __m512i isum[MM512_NV][TT_MAX];
#pragma GCC unroll 8
        for (int j = 0; j < TT; j++)
#pragma GCC unroll 4
            for (int v = 0; v < MM512_NV; v++)
                isum[v][j] = _mm512_set1_epi32(sp[j]); /* -128 * sum(a) */
#pragma GCC unroll 8
        for (int g = 0; g < 8; g++) {
            __m512i w[MM512_NV];
#pragma GCC unroll 4
            for (int v = 0; v < MM512_NV; v++)
                w[v] = _mm512_load_si512(wp + g * MM512_NV + v);
#pragma GCC unroll 8
            for (int j = 0; j < TT; j++) {
                __m512i ab; /* token j's 4 activation bytes in every lane */
                __asm__("vpbroadcastd %1, %0"
                        : "=v"(ab)
                        : "m"(*(const int32_t *)(ap + j * QK + 4 * g)));
#pragma GCC unroll 4
                for (int v = 0; v < MM512_NV; v++)
                    isum[v][j] = _mm512_dpbusd_epi32(isum[v][j], w[v], ab);
            }
        }
        /* A5 fold, per lane = per row, exactly the scalar operations. */
#pragma GCC unroll 4
        for (int v = 0; v < MM512_NV; v++) {
            const __m512 wd = _mm512_load_ps(wdp + v * VROWS);
#pragma GCC unroll 8
            for (int j = 0; j < TT; j++) {
                const __m512 sc = _mm512_mul_ps(wd, _mm512_set1_ps(dp[j]));         /* wd*ad */
                const __m512 p = _mm512_mul_ps(_mm512_cvtepi32_ps(isum[v][j]), sc); /* isum*s */
                acc[v][j] = _mm512_add_ps(acc[v][j], p);                            /* acc+p */
            }
        }
        wp += 8 * MM512_NV;
        wdp += PANEL;
        ap += MM_TGROUP * QK;
        dp += MM_TGROUP;
        sp += MM_TGROUP;
    }
#pragma GCC unroll 8
    for (int j = 0; j < TT; j++)
#pragma GCC unroll 4
        for (int v = 0; v < MM512_NV; v++)
            _mm512_storeu_ps(acc_out + (size_t)j * ldo + v * VROWS, acc[v][j]);
}

/* Instantiations with a constant tile height, so acc[] lives in registers. */
#define TILE_FN(n)                                                                                 \
    static void tile_##n(const mm_job *job, const struct scratch *s, int G, int h, int b0, int kc, \
                         const float *acc_in, float *acc_out, size_t ldo)                          \
    {                                                                                              \
        tile(job, s, n, G, h, b0, kc, acc_in, acc_out, ldo);                                       \
    }
TILE_FN(1)
TILE_FN(2)
TILE_FN(3)
TILE_FN(4)
#if TT_MAX == 8
TILE_FN(5)
TILE_FN(6)
TILE_FN(7)
TILE_FN(8)
#endif

typedef void (*tile_fn)(const mm_job *, const struct scratch *, int, int, int, int, const float *,
                        float *, size_t);
static const tile_fn tiles[TT_MAX + 1] = {
    NULL,   tile_1, tile_2, tile_3, tile_4,
#if TT_MAX == 8
    tile_5, tile_6, tile_7, tile_8,
#endif
};

/* Prefetches a share of the weight bytes the next repack will read: rows [r0, r1) of the panel
 * starting at row n, blocks [b0, b0 + kc). The weights stream from memory once per call (the
 * model is far larger than the caches) and the repack reads 48 rows at once, more streams
 * than the hardware prefetchers follow; fetched while the tiles of the current chunk run, the
 * repack finds them in L2 instead of waiting on each row in turn. */
static void prefetch_rows(const mm_job *job, int n, int r0, int r1, int b0, int kc)
{
    for (int r = r0; r < r1; r++) {
        const char *p = (const char *)(job->W->blocks + (size_t)(n + r) * job->nb + b0);
        const size_t bytes = (size_t)kc * sizeof(block_q8_0);
        for (size_t o = 0; o < bytes; o += 64)
            _mm_prefetch(p + o, _MM_HINT_T1);
        _mm_prefetch(p + bytes - 1, _MM_HINT_T1);
    }
}

void q8_matmul_rows_avx512vnni(const mm_job *job, int n0, int n1)
{
    const int T = job->A->rows, nb = job->nb;
    const int nchunks = (nb + KC - 1) / KC;
    struct scratch s;
    s.wp = aligned_alloc(64, (size_t)KC * 8 * MM512_NV * sizeof(__m512i));
    s.wd = aligned_alloc(64, (size_t)KC * PANEL * sizeof(float));
    /* accumulators of the whole panel: always used for the final (possibly partial) store */
    s.acc = aligned_alloc(64, ((size_t)T * PANEL * sizeof(float) + 63) & ~(size_t)63);
    if (!s.wp || !s.wd || !s.acc) {
        /* No memory for scratch: the portable kernel gives the same bits without any. */
        free(s.wp);
        free(s.wd);
        free(s.acc);
        q8_matmul_rows_portable(job, n0, n1);
        return;
    }
    for (int p0 = n0; p0 < n1; p0 += PANEL) {
        const int rows = n1 - p0 < PANEL ? n1 - p0 : PANEL;
        for (int c = 0; c < nchunks; c++) {
            const int b0 = c * KC, kc = nb - b0 < KC ? nb - b0 : KC;
            repack(job, p0, rows, b0, kc, &s);
            /* what the next repack reads: the next chunk of this panel, or the first chunk of
             * the next panel of this range */
            int pn = p0, pb = b0 + KC, prows = rows;
            if (c + 1 == nchunks) {
                pn = p0 + PANEL;
                pb = 0;
                prows = n1 - pn < PANEL ? n1 - pn : PANEL;
            }
            const int pkc = nb - pb < KC ? nb - pb : KC;
            const int direct = rows == PANEL && c + 1 == nchunks; /* results straight to y */
            const int ntiles = (T + TT_MAX - 1) / TT_MAX;
            for (int t0 = 0, i = 0; t0 < T; t0 += TT_MAX, i++) {
                const int tt = T - t0 < TT_MAX ? T - t0 : TT_MAX;
                float *acc = s.acc + (size_t)t0 * PANEL;
                if (prows > 0)
                    prefetch_rows(job, pn, i * prows / ntiles, (i + 1) * prows / ntiles, pb, pkc);
                if (direct)
                    tiles[tt](job, &s, t0 / MM_TGROUP, (t0 % MM_TGROUP) / TT_MAX, b0, kc,
                              c ? acc : NULL, job->y + (size_t)t0 * job->ldy + p0,
                              (size_t)job->ldy);
                else
                    tiles[tt](job, &s, t0 / MM_TGROUP, (t0 % MM_TGROUP) / TT_MAX, b0, kc,
                              c ? acc : NULL, acc, PANEL);
            }
        }
        if (rows == PANEL)
            continue; /* written by the tiles */
        /* scatter a partial panel's results: token t, rows p0 .. p0+rows-1 */
        for (int t = 0; t < T; t++) {
            float *y = job->y + (size_t)t * job->ldy + p0;
            const float *src = s.acc + (size_t)t * PANEL;
            for (int v = 0; v * VROWS < rows; v++) {
                const int r = rows - v * VROWS < VROWS ? rows - v * VROWS : VROWS;
                /* masked stores are slow on AMD even with every lane on: only the tail */
                if (r == VROWS)
                    _mm512_storeu_ps(y + v * VROWS, _mm512_loadu_ps(src + v * VROWS));
                else
                    _mm512_mask_storeu_ps(y + v * VROWS, (__mmask16)((1u << r) - 1),
                                          _mm512_loadu_ps(src + v * VROWS));
            }
        }
    }
    free(s.wp);
    free(s.wd);
    free(s.acc);
}
