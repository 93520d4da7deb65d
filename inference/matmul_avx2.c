/*
 * AVX2 kernels (compiled with -mavx2 and WITHOUT -mfma: no fused multiply-add can appear;
 * only called when the CPU has AVX2). Bit-identical to A1/A5 and the portable path.
 *
 * sum8 / dot8: A1's eight lanes are the eight floats of one ymm register; the combine is
 * high half + low half (acc_l + acc_{l+4}), then lanes (0,2),(1,3), then lane 0 + lane 1.
 * The tail is loaded with a mask: masked lanes add +0.0f, which cannot change a lane (a lane
 * sum started at +0 is never -0 under round-to-nearest, and x + +0 = x for every other x).
 *
 * q8_matmul: weight rows 8 at a time (a panel; one int32/float lane per row), repacked per
 * chunk of KC blocks into
 *     wa[block][g][row][4] = |w[row][block][4g..4g+3]|   (unsigned; |-128| = 128 fits a u8)
 *     ws[block][g][row][4] =  w[row][block][4g..4g+3]    (signed, for the sign)
 * For token t, the four activation bytes a[4g..4g+3] are broadcast, vpsignb gives
 * a*sign(w) per byte, vpmaddubsw multiplies by |w| and adds pairs into int16 (at most
 * 2*128*127 = 32512: no saturation), vpmaddwd by 1 adds pairs into int32 lanes. Eight groups
 * give A5's exact isum per row; the fold acc = acc + (float)isum * (wd * ad) then runs on the
 * 8 lanes with the scalar operations.
 */
#include "inference/matmul_internal.h"

#include <immintrin.h>
#include <stdlib.h>
#include <string.h>

/* ---- A1 -------------------------------------------------------------------------------- */

static __m256i tail_mask(size_t rem)
{
    const int32_t m[16] = {-1, -1, -1, -1, -1, -1, -1, -1, 0, 0, 0, 0, 0, 0, 0, 0};
    return _mm256_loadu_si256((const __m256i *)(m + 8 - rem));
}

static float combine(__m256 acc)
{
    __m128 a = _mm_add_ps(_mm256_castps256_ps128(acc), _mm256_extractf128_ps(acc, 1));
    __m128 b = _mm_add_ps(a, _mm_movehl_ps(a, a)); /* b0 = a0 + a2, b1 = a1 + a3 */
    __m128 c = _mm_add_ss(b, _mm_shuffle_ps(b, b, 1));
    return _mm_cvtss_f32(c);
}

float sum8_avx2(const float *x, size_t n)
{
    __m256 acc = _mm256_setzero_ps();
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        acc = _mm256_add_ps(acc, _mm256_loadu_ps(x + i));
    if (i < n)
        acc = _mm256_add_ps(acc, _mm256_maskload_ps(x + i, tail_mask(n - i)));
    return combine(acc);
}

float dot8_avx2(const float *x, const float *y, size_t n)
{
    __m256 acc = _mm256_setzero_ps();
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        acc = _mm256_add_ps(acc, _mm256_mul_ps(_mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i)));
    if (i < n) {
        __m256i m = tail_mask(n - i);
        acc = _mm256_add_ps(acc,
                            _mm256_mul_ps(_mm256_maskload_ps(x + i, m), _mm256_maskload_ps(y + i, m)));
    }
    return combine(acc);
}

/* ---- A5 -------------------------------------------------------------------------------- */

#define PANEL 8
#define KC 64
#define TT_MAX 4 /* tokens per register tile: half a token group */
_Static_assert(2 * TT_MAX == MM_TGROUP, "two tiles per group of interleaved activations");

struct scratch {
    __m256i *wa, *ws; /* KC * 8 vectors each */
    float *wd;        /* KC * 8 */
    float *acc;       /* T * 8 */
};

static void repack(const mm_job *job, int n0, int rows, int b0, int kc, struct scratch *s)
{
    const int nb = job->nb;
    uint32_t *da = (uint32_t *)s->wa, *ds = (uint32_t *)s->ws;
    for (int b = 0; b < kc; b++) {
        for (int r = 0; r < PANEL; r++) {
            if (r < rows) {
                const block_q8_0 *blk = job->W->blocks + (size_t)(n0 + r) * nb + b0 + b;
                uint8_t qa[32];
                for (int i = 0; i < 32; i++) {
                    int v = blk->q[i];
                    qa[i] = (uint8_t)(v < 0 ? -v : v);
                }
                for (int g = 0; g < 8; g++) {
                    memcpy(&da[(size_t)b * 64 + g * 8 + r], qa + 4 * g, 4);
                    memcpy(&ds[(size_t)b * 64 + g * 8 + r], blk->q + 4 * g, 4);
                }
                s->wd[b * PANEL + r] = fp16_to_f32(blk->d);
            } else {
                for (int g = 0; g < 8; g++) {
                    da[(size_t)b * 64 + g * 8 + r] = 0;
                    ds[(size_t)b * 64 + g * 8 + r] = 0;
                }
                s->wd[b * PANEL + r] = 0.0f;
            }
        }
    }
}

/* One tile of TT tokens: tokens h*4 .. h*4+TT-1 of token group G (matmul_internal.h layout),
 * over blocks [b0, b0+kc) of the current chunk; acc_in/acc_out rows of 8 floats per token. */
static inline __attribute__((always_inline)) void tile(const mm_job *job, const struct scratch *s,
                                                       int TT, int G, int h, int b0, int kc,
                                                       const float *acc_in, float *acc_out)
{
    const size_t o = ((size_t)G * job->nb + (size_t)b0) * MM_TGROUP;
    const int8_t *ap = job->apack + o * QK + (size_t)h * TT_MAX * QK;
    const float *dp = job->adp + o + (size_t)h * TT_MAX;
    const __m256i ones = _mm256_set1_epi16(1);
    __m256 acc[TT_MAX];
    _Pragma("GCC unroll 8")
    for (int j = 0; j < TT; j++)
        acc[j] = acc_in ? _mm256_loadu_ps(acc_in + (size_t)j * PANEL) : _mm256_setzero_ps();
    const __m256i *wa = s->wa, *ws = s->ws;
    const float *wdp = s->wd;
    for (int b = 0; b < kc; b++) {
        const __m256 wd = _mm256_load_ps(wdp);
        _Pragma("GCC unroll 8")
        for (int j = 0; j < TT; j++) {
            const int8_t *a = ap + j * QK;
            __m256i isum = _mm256_setzero_si256();
            _Pragma("GCC unroll 8")
            for (int g = 0; g < 8; g++) {
                int32_t a4;
                memcpy(&a4, a + 4 * g, 4);
                const __m256i av = _mm256_set1_epi32(a4);
                const __m256i sg = _mm256_sign_epi8(av, _mm256_load_si256(ws + g));
                const __m256i p16 = _mm256_maddubs_epi16(_mm256_load_si256(wa + g), sg);
                isum = _mm256_add_epi32(isum, _mm256_madd_epi16(p16, ones));
            }
            const __m256 sc = _mm256_mul_ps(wd, _mm256_set1_ps(dp[j]));   /* wd * ad */
            const __m256 p = _mm256_mul_ps(_mm256_cvtepi32_ps(isum), sc); /* (float)isum * s */
            acc[j] = _mm256_add_ps(acc[j], p);                             /* acc + p */
        }
        wa += 8;
        ws += 8;
        wdp += PANEL;
        ap += MM_TGROUP * QK;
        dp += MM_TGROUP;
    }
    _Pragma("GCC unroll 8")
    for (int j = 0; j < TT; j++)
        _mm256_storeu_ps(acc_out + (size_t)j * PANEL, acc[j]);
}

#define TILE_FN(n)                                                                             \
    static void tile_##n(const mm_job *job, const struct scratch *s, int G, int h, int b0,     \
                         int kc, const float *acc_in, float *acc_out)                          \
    {                                                                                          \
        tile(job, s, n, G, h, b0, kc, acc_in, acc_out);                                        \
    }
TILE_FN(1)
TILE_FN(2)
TILE_FN(3)
TILE_FN(4)

typedef void (*tile_fn)(const mm_job *, const struct scratch *, int, int, int, int,
                        const float *, float *);
static const tile_fn tiles[TT_MAX + 1] = {NULL, tile_1, tile_2, tile_3, tile_4};

void q8_matmul_rows_avx2(const mm_job *job, int n0, int n1)
{
    const int T = job->A->rows, nb = job->nb;
    const int nchunks = (nb + KC - 1) / KC;
    struct scratch s;
    s.wa = aligned_alloc(32, (size_t)KC * 8 * sizeof(__m256i));
    s.ws = aligned_alloc(32, (size_t)KC * 8 * sizeof(__m256i));
    s.wd = aligned_alloc(32, (size_t)KC * PANEL * sizeof(float));
    s.acc = aligned_alloc(32, ((size_t)T * PANEL * sizeof(float) + 31) & ~(size_t)31);
    if (!s.wa || !s.ws || !s.wd || !s.acc) {
        free(s.wa);
        free(s.ws);
        free(s.wd);
        free(s.acc);
        q8_matmul_rows_portable(job, n0, n1); /* same bits, no scratch */
        return;
    }
    for (int p0 = n0; p0 < n1; p0 += PANEL) {
        const int rows = n1 - p0 < PANEL ? n1 - p0 : PANEL;
        for (int c = 0; c < nchunks; c++) {
            const int b0 = c * KC, kc = nb - b0 < KC ? nb - b0 : KC;
            repack(job, p0, rows, b0, kc, &s);
            for (int t0 = 0; t0 < T; t0 += TT_MAX) {
                const int tt = T - t0 < TT_MAX ? T - t0 : TT_MAX;
                float *acc = s.acc + (size_t)t0 * PANEL;
                tiles[tt](job, &s, t0 / MM_TGROUP, (t0 % MM_TGROUP) / TT_MAX, b0, kc,
                          c ? acc : NULL, acc);
            }
        }
        for (int t = 0; t < T; t++)
            memcpy(job->y + (size_t)t * job->ldy + p0, s.acc + (size_t)t * PANEL,
                   (size_t)rows * sizeof(float));
    }
    free(s.wa);
    free(s.ws);
    free(s.wd);
    free(s.acc);
}
