/*
 * The XXH3-128 of the GPU's logits hash (inference/cuda/cuda_xxh3.cuh), run on the HOST: it is
 * compiled for both, so its algorithm (every length path, the long path's 8 lanes and their
 * merge, the canonical digest bytes) is checked against libxxhash here, on machines without a
 * GPU. What this does not check: the device compilation's own bits (__umul64hi, constant
 * memory) and the kernel's thread layout (cuda_hash.cu); test_cuda_kernels ("logits hash
 * tree") compares the kernel with sampler_row_hash on a GPU.
 *
 * Checks: every length that is a multiple of 4 bytes from 0 to 16384 (every length a leaf can
 * have), random contents, the message at an address that is 4- but not 8-byte aligned (as a
 * leaf of an odd-V row is on the device) and at an 8-byte aligned one; then the whole tree of
 * A9 built from it (and cuda_sha256.cuh) against sampler_row_hash for several V.
 */
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "inference/cuda/cuda_sha256.cuh"
#include "inference/cuda/cuda_xxh3.cuh"
extern "C" {
#include "inference/sampler.h"
}

static int g_fail, g_checks;

static void check(int ok, const char *what, size_t n)
{
    g_checks++;
    if (!ok && g_fail++ < 10)
        fprintf(stderr, "FAIL %s (%zu)\n", what, n);
}

int main(void)
{
    const uint32_t max_words = 4096;
    uint32_t *buf = (uint32_t *)malloc(sizeof(uint32_t) * (max_words + 2));
    uint64_t rng = 0x9e3779b97f4a7c15ull;
    for (uint32_t i = 0; i < max_words + 2; i++) {
        rng = rng * 6364136223846793005ull + 1442695040888963407ull;
        buf[i] = (uint32_t)(rng >> 32);
    }
    for (uint32_t n = 0; n <= max_words; n++) {
        for (int shift = 0; shift < 2; shift++) {
            const uint32_t *m = buf + shift; /* buf is 8-aligned: +1 word is 4 mod 8 */
            uint8_t g[16];
            XXH128_canonical_t c;
            xxh3_128_words(m, n, g);
            XXH128_canonicalFromHash(&c, XXH3_128bits(m, (size_t)n * 4));
            check(memcmp(g, c.digest, 16) == 0, "xxh3_128_words vs libxxhash, words", n);
        }
    }
    /* a row of the tree: 16 KiB leaves' XXH3-128, then sha256 of the digests, as
     * sampler_row_hash; last leaves of every path's length, and one-leaf rows */
    static const uint32_t Vs[] = {9000,      4096, 4097, 4098, 4099,      4100,
                                  4156,      4157, 4160, 4200, 8192 + 33, 8192 + 60,
                                  8192 + 61, 1,    60,   61,   777};
    for (size_t k = 0; k < sizeof Vs / sizeof Vs[0]; k++) {
        uint32_t V = Vs[k], n_leaves = (V + 4095) / 4096;
        float *row = (float *)malloc(sizeof(float) * V);
        for (uint32_t v = 0; v < V; v++)
            row[v] = (float)((int)(v % 777) - 300) * 0.125f + (float)k;
        uint8_t *leaves = (uint8_t *)malloc(16 * n_leaves), g[32], c[32];
        for (uint32_t j = 0; j < n_leaves; j++) {
            uint32_t b0 = j * 4096, n = V - b0 < 4096 ? V - b0 : 4096;
            xxh3_128_words((const uint32_t *)(row + b0), n, leaves + 16 * j);
        }
        sha256_words((const uint32_t *)leaves, n_leaves * 4, g);
        sampler_row_hash(row, V, c);
        check(memcmp(g, c, 32) == 0, "row hash vs sampler_row_hash, V", V);
        free(leaves);
        free(row);
    }
    free(buf);
    printf("%d checks, %d failed\n", g_checks, g_fail);
    return g_fail ? 1 : 0;
}
