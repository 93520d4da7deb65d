/*
 * The per-position sampler arithmetic of A9: argmax ties to the lowest id, the allowed mask,
 * the entropy formula, the chunked categorical draw (edges and a frequency check), and the
 * logits hash (its expected values were computed independently with Python's hashlib).
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

#include "inference/philox.h"
#include "inference/sampler.h"

#define V 3000 /* three chunks: 1024, 1024, 952 */

static float z[V], e[V], cs[3];

static void hex32(const uint8_t *b, char out[65])
{
    for (int i = 0; i < 32; i++)
        snprintf(out + 2 * i, 3, "%02x", b[i]);
}

/* 3 rows of 9000 floats: leaves of 4096, 4096 and 808 floats per row. */
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
    assert_string_equal(hx, "9b1e4fced18d19b54a42598c8b1b5dc89cfc7843d587d391ccf9e65590ef53e5");
    sampler_logits_hash(zz, HC, HV, h);
    hex32(h, hx);
    assert_string_equal(hx, "021fb8ba6aaf78993d347204bd6e725019ce787bf929a4a88e29418f994c6cf7");
    zz[HV + 8999] = -zz[HV + 8999]; /* the last float of the middle row's short leaf */
    sampler_logits_hash(zz, HC, HV, h);
    hex32(h, hx);
    assert_string_not_equal(hx, "021fb8ba6aaf78993d347204bd6e725019ce787bf929a4a88e29418f994c6cf7");
    free(zz);
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
        cmocka_unit_test(test_logits_hash),
        cmocka_unit_test(test_argmax_ties_lowest),
        cmocka_unit_test(test_entropy),
        cmocka_unit_test(test_draw_frequencies),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
