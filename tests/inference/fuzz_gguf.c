/*
 * libFuzzer target for the GGUF reader: any input must give an error or a valid load, and
 * every accessor must stay inside the buffer on whatever loads.
 *
 * Built only when the C compiler is clang (configure with CC=clang-14):
 *   CC=clang-14 cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=Debug -DSIBYL_WITH_CUDA=OFF
 *   cmake --build build-fuzz --target fuzz_gguf
 *   mkdir -p /tmp/gguf-corpus && ./build-fuzz/tests/inference/fuzz_gguf -max_total_time=60 \
 *       /tmp/gguf-corpus tests/inference/data
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "inference/gguf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    gguf_file *f;
    char err[256];
    if (gguf_open_memory(data, size, &f, err, sizeof err) != 0)
        return 0;
    volatile uint8_t sink = 0;
    for (int64_t i = 0; i < gguf_n_kv(f); i++) {
        uint64_t klen, n;
        const char *k = gguf_kv_key(f, i, &klen);
        char key[512];
        size_t kl = klen < sizeof key - 1 ? (size_t)klen : sizeof key - 1;
        memcpy(key, k, kl);
        key[kl] = 0;
        uint32_t u;
        int32_t s;
        float fl;
        int b;
        const char *p;
        uint64_t len;
        gguf_type et;
        const void *d;
        gguf_get_u32(f, key, &u);
        gguf_get_i32(f, key, &s);
        gguf_get_f32(f, key, &fl);
        gguf_get_bool(f, key, &b);
        if (gguf_get_str(f, key, &p, &len) == 0 && len)
            sink ^= (uint8_t)p[len - 1];
        if (gguf_get_arr(f, key, &et, &n, &d) == 0 && n > 0) {
            gguf_get_arr_u32(f, key, n - 1, &u);
            gguf_get_arr_f32(f, key, n - 1, &fl);
            gguf_get_arr_bool(f, key, n - 1, &b);
        }
        if (gguf_kv_arr(f, i, &et, &n) == 0 && et == GGUF_TYPE_STRING)
            for (uint64_t j = 0; j < n; j++)
                if (gguf_kv_arr_str(f, i, j, &p, &len) == 0 && len)
                    sink ^= (uint8_t)p[len - 1];
    }
    for (int64_t i = 0; i < gguf_n_tensors(f); i++) {
        const gguf_tensor *t = gguf_tensor_at(f, i);
        if (gguf_find_tensor(f, t->name) != t)
            __builtin_trap();
        if (t->nbytes)
            sink ^= ((const uint8_t *)t->data)[0] ^ ((const uint8_t *)t->data)[t->nbytes - 1];
    }
    (void)sink;
    gguf_close(f);
    return 0;
}
