/*
 * The per-position sampler arithmetic of A9: argmax ties to the lowest id, the allowed mask,
 * the entropy formula, the chunked categorical draw (edges and a frequency check), and the
 * logits hash (its expected values were computed independently, see test_logits_hash).
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
#include <openssl/evp.h>
#include <xxhash.h>

#include "inference/philox.h"
#include "inference/sampler.h"

#define V 3000 /* three chunks: 1024, 1024, 952 */

static float z[V], e[V], cs[3];

static void hex32(const uint8_t *b, char out[65])
{
    for (int i = 0; i < 32; i++)
        snprintf(out + 2 * i, 3, "%02x", b[i]);
}

/* 3 rows of 9000 floats: leaves of 4096, 4096 and 808 floats per row.
 *
 * The expected values were computed outside this code (2026-11-26): /usr/bin/python3 with
 * numpy built the same floats, wrote each leaf's little-endian f32 bytes to a file, took each
 * leaf's XXH3-128 from the `xxh128sum` command of Debian's xxhash 0.8.1 package (which
 * prints the canonical big-endian digest), and did both sha256 levels with hashlib. */
static void test_logits_hash(void **st)
{
    (void)st;
    enum { HC = 3, HV = 9000 };
    float *zz = malloc(sizeof(float) * HC * HV);
    assert_non_null(zz);
    for (int i = 0; i < HC * HV; i++)
        zz[i] = (float)(i % 1000) * 0.25f - 100.0f;
    uint8_t h[32];
    char hx[65];
    sampler_row_hash(zz + HV, HV, h);
    hex32(h, hx);
    assert_string_equal(hx, "9d50d86b2b8fa80e02e68cfd8d6cc68ea27b2cab4e0d2981c1c610cb5703a78f");
    sampler_logits_hash(zz, HC, HV, h);
    hex32(h, hx);
    assert_string_equal(hx, "5c89225ff158a0e9192f5e60ca7f664191028a4ab42a8255265ece1dc9016017");
    zz[HV + 8999] = -zz[HV + 8999]; /* the last float of the middle row's short leaf */
    sampler_logits_hash(zz, HC, HV, h);
    hex32(h, hx);
    assert_string_equal(hx, "79bf96c5646f5c65fcfaed40ee91b9e10f10ac9392b23c72d1f84b47b191a3dd");
    free(zz);
}

/* sampler_row_hash against the definition built another way: each leaf through libxxhash's
 * streaming interface (XXH3_128bits_update in uneven pieces, not the one-shot call the sampler
 * makes), the digests in canonical form, one sha256 over their concatenation; for rows whose
 * last leaf takes each of XXH3's length paths (4, 8, 12-16, 17-128, 129-240, > 240 bytes). */
static void test_row_hash_definition(void **st)
{
    (void)st;
    static const uint32_t Vs[] = {
        1,    2,    3,    4,    5,    32,   33,         60,       61,           4096,
        4097, 4098, 4100, 4128, 4156, 4157, 8192 + 500, 3 * 4096, 64 * 4096 + 1};
    uint32_t maxV = 64 * 4096 + 1;
    float *row = malloc(sizeof(float) * maxV);
    uint8_t *dig = malloc(16 * 65);
    XXH3_state_t *xs = XXH3_createState();
    assert_true(row && dig && xs);
    uint32_t r = 1;
    for (uint32_t v = 0; v < maxV; v++) {
        r = r * 1664525u + 1013904223u;
        row[v] = (float)(int32_t)r * 0x1p-24f;
    }
    for (size_t k = 0; k < sizeof Vs / sizeof Vs[0]; k++) {
        uint32_t Vk = Vs[k], n_leaves = (Vk + 4095) / 4096;
        for (uint32_t j = 0; j < n_leaves; j++) {
            const uint8_t *p = (const uint8_t *)(row + 4096 * j);
            size_t len = 4 * (size_t)(Vk - 4096 * j < 4096 ? Vk - 4096 * j : 4096), off = 0;
            assert_int_equal(XXH3_128bits_reset(xs), XXH_OK);
            for (size_t piece = 1; off < len; piece = piece * 3 + 1) {
                size_t m = len - off < piece ? len - off : piece;
                assert_int_equal(XXH3_128bits_update(xs, p + off, m), XXH_OK);
                off += m;
            }
            XXH128_canonicalFromHash((XXH128_canonical_t *)(dig + 16 * j), XXH3_128bits_digest(xs));
        }
        uint8_t want[32], got[32];
        unsigned int l = 32;
        assert_int_equal(EVP_Digest(dig, 16 * (size_t)n_leaves, want, &l, EVP_sha256(), NULL), 1);
        sampler_row_hash(row, Vk, got);
        assert_memory_equal(got, want, 32);
    }
    XXH3_freeState(xs);
    free(dig);
    free(row);
}

static void test_argmax_ties_lowest(void **st)
{
    (void)st;
    for (int v = 0; v < V; v++)
        z[v] = -1.0f;
    z[1500] = 2.0f;
    z[2900] = 2.0f;
    z[700] = 1.9f;
    float H;
    int32_t a, y;
    sampler_position(z, V, NULL, 0.5f, e, cs, &H, &a, &y);
    assert_int_equal(a, 1500);
    uint8_t allowed[V];
    memset(allowed, 1, sizeof allowed);
    allowed[1500] = 0;
    sampler_position(z, V, allowed, 0.5f, e, cs, &H, &a, &y);
    assert_int_equal(a, 2900);
    assert_true(e[1500] == 0.0f);
}

static void test_entropy(void **st)
{
    (void)st;
    for (int v = 0; v < V; v++)
        z[v] = 0.25f;
    float H;
    int32_t a, y;
    float S = sampler_position(z, V, NULL, 0.0f, e, cs, &H, &a, &y);
    assert_true(S == (float)V);
    assert_true(fabsf(H - logf((float)V)) < 1e-4f);
    assert_int_equal(a, 0);
    assert_int_equal(y, 0); /* u = 0: the first id with e > 0 */
    /* One dominant id: entropy near zero, every draw is that id. */
    for (int v = 0; v < V; v++)
        z[v] = -100.0f;
    z[2049] = 30.0f;
    S = sampler_position(z, V, NULL, 0.999f, e, cs, &H, &a, &y);
    assert_true(H >= 0.0f && H < 1e-6f);
    assert_int_equal(y, 2049);
    /* Only two allowed ids, equal logits: entropy log 2. */
    uint8_t allowed[V] = {0};
    allowed[5] = allowed[2999] = 1;
    for (int v = 0; v < V; v++)
        z[v] = (float)v / 100.0f;
    z[5] = z[2999] = 1.0f;
    sampler_position(z, V, allowed, 0.75f, e, cs, &H, &a, &y);
    assert_true(fabsf(H - logf(2.0f)) < 1e-5f);
    assert_int_equal(a, 5);
    assert_int_equal(y, 2999);
    sampler_position(z, V, allowed, 0.25f, e, cs, &H, &a, &y);
    assert_int_equal(y, 5);
}

static void test_draw_frequencies(void **st)
{
    (void)st;
    /* p proportional to exp(z): four ids carry almost all mass at 0.1/0.2/0.3/0.4. */
    for (int v = 0; v < V; v++)
        z[v] = -60.0f;
    z[10] = logf(0.1f), z[1030] = logf(0.2f), z[2047] = logf(0.3f), z[2999] = logf(0.4f);
    int count[4] = {0};
    const int n = 5000;
    for (int i = 0; i < n; i++) {
        float u = philox_uniform(42, 0, 0, (uint32_t)i, PHILOX_PURPOSE_CATEGORICAL), H;
        int32_t a, y;
        sampler_position(z, V, NULL, u, e, cs, &H, &a, &y);
        switch (y) {
        case 10:
            count[0]++;
            break;
        case 1030:
            count[1]++;
            break;
        case 2047:
            count[2]++;
            break;
        case 2999:
            count[3]++;
            break;
        default:
            fail_msg("drew id %d of negligible probability", y);
        }
    }
    for (int k = 0; k < 4; k++) {
        double f = (double)count[k] / n, want = 0.1 * (k + 1);
        assert_true(fabs(f - want) < 0.025);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_logits_hash),        cmocka_unit_test(test_row_hash_definition),
        cmocka_unit_test(test_argmax_ties_lowest), cmocka_unit_test(test_entropy),
        cmocka_unit_test(test_draw_frequencies),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
