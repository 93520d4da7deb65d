/*
 * adapter: turns a request's (input, params) into an engine job and the engine's tokens into
 * the output bytes the consumer contract expects, or refuses the request with a reason code.
 *
 * An adapter is named by the request's `adapter` field (bytes32, ASCII left-aligned, e.g.
 * "text"). Each adapter documents its input, params and output encodings in its source file
 * and in docs/operating.md. New kinds (number, choice, ...) are one more adapter_def in the
 * table of adapters/adapter.c: nothing else in the node changes.
 *
 * Reason codes go into Attestation.rejectCode of an attested `reject` (docs/operating.md).
 */
#ifndef SIBYL_ADAPTERS_ADAPTER_H
#define SIBYL_ADAPTERS_ADAPTER_H

#include <stddef.h>
#include <stdint.h>

#include "inference/engine.h"

/* Reason codes of a reject (docs/protocol.md; never 0: 0 means an answer). */
enum {
    REJECT_UNKNOWN_MODEL = 1,   /* this node does not serve the request's modelId */
    REJECT_INPUT_TOO_LONG = 2,  /* over max_input_bytes, or the prompt does not fit the context */
    REJECT_PARAMS_INVALID = 3,  /* params not in the adapter's encoding, or out of range */
    REJECT_ADAPTER_PARSE = 4,   /* the adapter cannot parse the input (e.g. not UTF-8) */
    REJECT_UNKNOWN_ADAPTER = 5, /* no adapter of that name */
    REJECT_ENGINE_FAILURE = 6   /* the engine failed on a valid job */
};
const char *reject_code_name(int code);

/* What an adapter gets for one request. */
typedef struct {
    engine *eng;
    uint64_t seed; /* the event's seed, low 64 bits */
    const uint8_t *input;
    size_t input_len;
    const uint8_t *params;
    size_t params_len;
    engine_step_fn on_step; /* passed to engine_generate (cancellation) */
    void *step_user;
} adapter_job;

/* What it gives back: output bytes (malloc'd) or a reject code, and engine statistics. */
typedef struct {
    uint8_t *output;
    size_t output_len;
    int reject_code; /* 0 = output is the answer */
    int cancelled;   /* the step callback stopped the engine: no answer at all */
    double engine_seconds;
    uint32_t n_tokens;
} adapter_result;

typedef struct {
    const char *name; /* at most 32 ASCII characters */
    /* Returns 0 (result filled: an answer or a reject code) or negative on a node-side failure
     * that must not be attested (e.g. out of memory), with a message in err. */
    int (*run)(const adapter_job *job, adapter_result *res, char *err, size_t errlen);
} adapter_def;

/* The adapter named by a bytes32 field (ASCII, zero-padded), or NULL. */
const adapter_def *adapter_find(const uint8_t name[32]);
void adapter_result_free(adapter_result *r);

/* The request kinds (one file each in adapters/; encodings in docs/operating.md). */
extern const adapter_def adapter_text;   /* text.c */
extern const adapter_def adapter_chat;   /* chat.c */
extern const adapter_def adapter_choice; /* choice.c */
extern const adapter_def adapter_number; /* number.c */
extern const adapter_def adapter_bool;   /* bool.c */
extern const adapter_def adapter_json;   /* json.c */

#endif
