/*
 * kind: what the request kinds of adapters/ share (internal to adapters/).
 *
 *   - input checks: UTF-8, the common params encoding, ABI decoding into a reject;
 *   - the chat prompt of a conversation (Gemma 4 template) or of one user turn;
 *   - token classes of the model's vocabulary (digits, labels, yes/no, string-safe pieces),
 *     found by reading every vocabulary entry once, never by hard-coded ids;
 *   - a builder for the sampler's per-position restriction (gen_restriction, engine.h);
 *   - running the engine and turning its failures into reject codes.
 *
 * Functions that can reject return KIND_OK (0), KIND_REJECTED (1: res->reject_code is set,
 * err says why) or KIND_FAIL (-1: a node-side failure such as out of memory, err says what).
 */
#ifndef SIBYL_ADAPTERS_KIND_H
#define SIBYL_ADAPTERS_KIND_H

#include <stddef.h>
#include <stdint.h>

#include "adapters/adapter.h"
#include "inference/engine.h"

enum { KIND_OK = 0, KIND_REJECTED = 1, KIND_FAIL = -1 };

/* 1 when p[0..n) is well-formed UTF-8 (no overlongs, no surrogates, <= U+10FFFF). */
int kind_utf8_valid(const uint8_t *p, size_t n);

/* Sets the reject code and the message; returns KIND_REJECTED. */
int kind_reject(adapter_result *res, int code, char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

/* The model's defaults with the job's seed and its params (empty, or abi.encode(uint32
 * maxNewTokens, uint32 steps); 0 keeps the default). *max_new_req gets the requested
 * maxNewTokens (0 = none requested). Bad params -> REJECT_PARAMS_INVALID. */
int kind_params(const adapter_job *job, gen_params *gp, uint32_t *max_new_req, adapter_result *res,
                char *err, size_t errlen);

/* Prompt ids of a conversation: optional system text, then turns alternating user/model
 * ending with a user turn (roles[i] "user" or "model"), rendered with the Gemma 4 template
 * (thinking off) and tokenized as one string like tok_chat_prompt. texts are NUL-terminated.
 * A vocabulary without the template's special tokens -> REJECT_ADAPTER_PARSE. */
int kind_chat_ids(const tokenizer *tok, const char *system, const char *const *roles,
                  const char *const *texts, size_t n, int32_t **ids, size_t *n_ids,
                  adapter_result *res, char *err, size_t errlen);

/* Runs the engine and maps its status: KIND_OK with *gr filled (free with gen_result_free),
 * KIND_REJECTED (too long, bad params, engine failure; or res->cancelled), KIND_FAIL. */
int kind_generate(const adapter_job *job, const int32_t *ids, size_t n_ids, const gen_params *gp,
                  gen_result *gr, adapter_result *res, char *err, size_t errlen);

/* ---- token classes ---- */

/* The text a token renders as (U+2581 read as a space) for normal tokens; NULL for control,
 * byte, unused, unknown and user-defined tokens (those never belong to a class). buf holds at
 * least cap bytes; texts longer than cap - 1 are NULL too. */
const char *kind_token_text(const tokenizer *tok, int32_t id, char *buf, size_t cap, size_t *len);

/* Fills mask[0..V) with 1 for the ids whose tok_is_eog is true; returns their count. */
uint32_t kind_mark_end(const tokenizer *tok, uint8_t *mask);

/* The yes / no tokens (bool answers): a normal token whose text, leading spaces removed and
 * lowercased, is "yes" or "true" (yes) / "no" or "false" (no). When the vocabulary lacks a
 * yes or a no token of that kind (tiny test vocabularies), the single letters "y"/"t" and
 * "n"/"f" (either case, leading spaces allowed) are used instead. cls[v] = 1 (yes), 2 (no),
 * 0 (neither). Returns 0, or -1 when even the letters are missing. */
int kind_bool_classes(const tokenizer *tok, uint8_t *cls);

/* ---- restriction builder ---- */

typedef struct {
    uint32_t vocab;
    uint32_t n, cap; /* positions */
    int32_t *forced;
    uint16_t *mask;
    uint32_t n_masks;
    uint8_t **masks;
    gen_restriction r; /* filled by rb_finish */
} rbuild;

int rb_init(rbuild *b, uint32_t vocab);
void rb_free(rbuild *b);
/* A new all-zero mask; returns its index or -1 (out of memory, or 65535 masks). */
int rb_new_mask(rbuild *b);
uint8_t *rb_mask(rbuild *b, int k);
/* Appends a position forced to id, or restricted to mask k. 0 or -1 (out of memory). */
int rb_force(rbuild *b, int32_t id);
int rb_masked(rbuild *b, int k);
/* Appends the tokens of text (tokenized alone) as forced positions. */
int rb_force_text(rbuild *b, const tokenizer *tok, const char *text, char *err, size_t errlen);
/* Points b->r at the arrays and returns it, with free_noise set: masked positions get their
 * initial and renoise ids from the whole vocabulary, the noise the model was trained on (with
 * noise drawn from the mask the demo model answered "12+34" right for 90 of 100 seeds instead
 * of 99; docs/arithmetic.md A9c). The answer is restricted either way. */
const gen_restriction *rb_finish(rbuild *b);

/* Sets gp->max_new_tokens to the restricted answer's length n (its last position ends the
 * answer); a requested maxNewTokens below n -> REJECT_PARAMS_INVALID, n beyond the model's
 * context -> REJECT_INPUT_TOO_LONG. */
int kind_fixed_length(const engine *eng, gen_params *gp, uint32_t n, uint32_t max_new_req,
                      adapter_result *res, char *err, size_t errlen);

/* The output tokens up to (not including) the first end-of-generation token. */
size_t kind_answer_len(const tokenizer *tok, const gen_result *gr);

/* ABI words: abi.encode(uint256 x), abi.encode(int256 x), abi.encode(bool b) into a malloc'd
 * 32-byte output. KIND_OK or KIND_FAIL. */
int kind_output_word(adapter_result *res, int64_t x, char *err, size_t errlen);

#endif
