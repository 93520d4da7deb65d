/*
 * Fuzz target for the request kinds (adapters/): untrusted (input, params) never crash an
 * adapter, every refusal is one of the documented reject codes, and every answer is
 * well-formed for its kind (a choice index < 26, a bool 0/1, an int256 that fits, JSON that
 * parses).
 *
 * Input: byte 0 picks the kind (chat, choice, number, bool, json: byte 0 mod 5); byte 1 bit 0
 * set: the next 64 bytes are the params, else the params are abi.encode(0, 1) (one denoising
 * step, to keep runs fast); the rest is the request's input. The engine runs the tiny test
 * model (tests/inference/testmodel.h), written once per process.
 *
 * ctest replays tests/adapters/fuzz_corpus/adapters with fuzz_replay_main.c (prefixes and
 * single-byte mutations of every file). With clang, a libFuzzer binary can be built by hand:
 *   clang-14 -fsanitize=fuzzer,address,undefined ... (see tests/oracle/CMakeLists.txt)
 */
#include <cJSON.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "adapters/adapter.h"
#include "tests/inference/testmodel.h"

static engine *eng;
static char model_path[128];
static unsigned long n_answers, n_rejects; /* printed at exit: the corpus must reach both */

static void cleanup(void)
{
    fprintf(stderr, "fuzz_adapters: %lu answers, %lu rejects\n", n_answers, n_rejects);
    engine_close(eng);
    unlink(model_path);
}

static void open_engine(void)
{
    char err[512];
    snprintf(model_path, sizeof model_path, "/tmp/sibyl-fuzz-adapters.%d.gguf", (int)getpid());
    testmodel_opts o;
    memset(&o, 0, sizeof o);
    o.type = GGML_TYPE_Q8_0;
    o.seed = 5;
    engine_options eo = {model_path, ENGINE_BACKEND_CPU, 1};
    if (testmodel_write(model_path, &o, err, sizeof err) ||
        engine_open(&eo, &eng, err, sizeof err)) {
        fprintf(stderr, "fuzz_adapters: %s\n", err);
        abort();
    }
    atexit(cleanup);
}

static void check_word(const adapter_result *r, uint64_t max_low)
{
    if (r->output_len != 32)
        abort();
    uint8_t fill = (r->output[24] & 0x80) ? 0xFF : 0x00;
    if (max_low != UINT64_MAX)
        fill = 0;
    for (int i = 0; i < 24; i++)
        if (r->output[i] != fill)
            abort();
    uint64_t u = 0;
    for (int i = 24; i < 32; i++)
        u = u << 8 | r->output[i];
    if (max_low != UINT64_MAX && u > max_low)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *in, size_t len)
{
    if (!eng)
        open_engine();
    if (len < 2)
        return 0;
    static const adapter_def *const kinds[] = {&adapter_chat, &adapter_choice, &adapter_number,
                                               &adapter_bool, &adapter_json};
    const adapter_def *k = kinds[in[0] % 5];
    uint8_t one_step[64] = {[63] = 1};
    const uint8_t *params = one_step, *input = in + 2;
    size_t plen = 64, ilen = len - 2;
    if (in[1] & 1) {
        if (ilen < 64)
            return 0;
        params = input;
        input += 64;
        ilen -= 64;
    }
    adapter_job job = {eng, 1, input, ilen, params, plen, NULL, NULL};
    adapter_result r;
    char err[512];
    if (k->run(&job, &r, err, sizeof err))
        abort(); /* a node-side failure on a tiny model: only out of memory could explain it */
    if (r.reject_code) {
        if (r.output ||
            (r.reject_code != REJECT_INPUT_TOO_LONG && r.reject_code != REJECT_PARAMS_INVALID &&
             r.reject_code != REJECT_ADAPTER_PARSE))
            abort();
        n_rejects++;
        return 0;
    }
    n_answers++;
    if (k == &adapter_choice)
        check_word(&r, 25);
    else if (k == &adapter_bool)
        check_word(&r, 1);
    else if (k == &adapter_number)
        check_word(&r, UINT64_MAX);
    else if (k == &adapter_json) {
        cJSON *j = cJSON_ParseWithLength((const char *)r.output, r.output_len);
        if (!j)
            abort();
        cJSON_Delete(j);
    }
    adapter_result_free(&r);
    return 0;
}
