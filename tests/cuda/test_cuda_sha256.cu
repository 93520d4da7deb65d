/*
 * The SHA-256 of the GPU's logits hash (inference/cuda/cuda_sha256.cuh), run on the HOST: it
 * is compiled for both, so its algorithm (schedule, rounds, padding of every tail length) is
 * checked against OpenSSL here, on machines without a GPU. test_cuda_kernels checks the
 * kernels that use it on a GPU. (The whole tree of A9, XXH3-128 leaves and these row hashes,
 * is checked against sampler_row_hash by test_cuda_xxh3.)
 */
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "inference/cuda/cuda_sha256.cuh"

static int g_fail;

static void fail(const char *what, size_t n)
{
    fprintf(stderr, "FAIL %s (%zu words)\n", what, n);
    g_fail++;
}

int main(void)
{
    uint32_t rng = 12345u;
    uint32_t *buf = (uint32_t *)malloc(sizeof(uint32_t) * 5000);
    for (int i = 0; i < 5000; i++) {
        rng = rng * 1664525u + 1013904223u;
        buf[i] = rng;
    }
    int checks = 0;
    /* every tail length around one and two blocks, and some long messages */
    size_t lens[64];
    int nl = 0;
    for (size_t n = 0; n <= 40; n++)
        lens[nl++] = n;
    lens[nl++] = 4096;
    lens[nl++] = 808;
    lens[nl++] = 4999;
    for (int k = 0; k < nl; k++) {
        uint8_t g[32], c[32];
        unsigned int l = 32;
        sha256_words(buf, (uint32_t)lens[k], g);
        EVP_Digest(buf, lens[k] * 4, c, &l, EVP_sha256(), NULL);
        checks++;
        if (memcmp(g, c, 32))
            fail("sha256_words vs OpenSSL", lens[k]);
    }
    free(buf);
    printf("%d checks, %d failed\n", checks, g_fail);
    return g_fail ? 1 : 0;
}
