/*
 * Tokenizer: text <-> token ids for Gemma 4 style vocabularies, and the Gemma 4 chat template.
 *
 * Algorithm (tokenizer.ggml.model "gemma4", as llama.cpp treats Gemma 4 GGUFs): BPE over
 * SentencePiece-style pieces. A space is written as U+2581 "▁" inside pieces; no space prefix
 * is added (add_space_prefix false). Text is split into runs that are either special tokens
 * (control and user-defined tokens, matched as whole tokens by their text, longest first) or
 * plain text; in plain text spaces become "▁" and it is cut into runs of newlines and runs of
 * other characters (llama.cpp's gemma4 pre-tokenizer; a run of newlines that is a token stays
 * whole); each run becomes one symbol per UTF-8 character, then the adjacent pair with the best
 * merge rank (lowest; ties: leftmost) is merged repeatedly (rank = position in the merges list,
 * "a b" meaning pieces a and b; merges whose parts or result are not tokens are ignored). A final
 * symbol that is not in the vocabulary is written as its UTF-8 bytes with the byte-fallback tokens
 * "<0xNN>" (or unk if the vocabulary has none). Splitting special tokens follows llama.cpp: special
 * tokens (types control, user-defined, unknown) are taken longest first (ties: lowest id), and each
 * cuts every remaining plain-text fragment at all its occurrences. tok_encode always matches them
 * (llama.cpp's parse_special = true), so "<turn|>" inside user text becomes the control token, as
 * it does when the reference renders its chat template and tokenizes the result. Only
 * tokenizer.ggml.model "gemma4" is supported; other models are refused at creation.
 *
 * Decoding: "▁" becomes a space, "<0xNN>" becomes the raw byte NN, normal and user-defined
 * tokens render as their text, control tokens (type 3: <bos>, <eos>, <|turn>, ...) render as
 * their text too unless TOK_DECODE_SKIP_CONTROL is given, unused/unknown render as their text.
 *
 * Error convention: 0 on success, negative on failure with a message in err (errlen bytes).
 */
#ifndef SIBYL_INFERENCE_TOKENIZER_H
#define SIBYL_INFERENCE_TOKENIZER_H

#include <stddef.h>
#include <stdint.h>

typedef struct tokenizer tokenizer;
struct gguf_file;

/* GGUF token types (tokenizer.ggml.token_type). */
enum {
    TOK_TYPE_UNDEFINED = 0,
    TOK_TYPE_NORMAL = 1,
    TOK_TYPE_UNKNOWN = 2,
    TOK_TYPE_CONTROL = 3,
    TOK_TYPE_USER_DEFINED = 4,
    TOK_TYPE_UNUSED = 5,
    TOK_TYPE_BYTE = 6
};

/* A vocabulary as arrays (what a GGUF holds). Borrowed: tok_create copies what it needs. */
typedef struct {
    uint32_t n_tokens;
    const char *const *tokens;  /* n_tokens pieces (UTF-8, not necessarily NUL-terminated) */
    const uint32_t *token_lens; /* their lengths in bytes */
    const float *scores;        /* may be NULL */
    const int32_t *token_types; /* may be NULL (all normal, "<0xNN>" = byte) */
    uint32_t n_merges;
    const char *const *merges; /* "left right", the space separating the two pieces */
    const uint32_t *merge_lens;
    int32_t bos, eos, pad, unk; /* -1 if absent */
    int add_bos;                /* tokenizer.ggml.add_bos_token */
    const char *model;          /* "gemma4", "llama", ... (NUL-terminated) */
} tok_vocab;

/* A vocabulary that owns its arrays (from tok_build_small_vocab); v points into it. */
typedef struct {
    tok_vocab v;
    char **tokens;
    uint32_t *token_lens;
    float *scores;
    int32_t *token_types;
    char **merges;
    uint32_t *merge_lens;
} tok_vocab_owned;

int tok_create(const tok_vocab *v, tokenizer **out, char *err, size_t errlen);
/* Reads tokenizer.ggml.{model,tokens,scores,token_type,merges,bos_token_id,eos_token_id,
 * padding_token_id,unknown_token_id,add_bos_token}. */
int tokenizer_from_gguf(const struct gguf_file *f, tokenizer **out, char *err, size_t errlen);
void tok_free(tokenizer *t);

uint32_t tok_n_vocab(const tokenizer *t);
int32_t tok_bos(const tokenizer *t);
int32_t tok_eos(const tokenizer *t);
int32_t tok_pad(const tokenizer *t);
int tok_add_bos(const tokenizer *t);
/* The text of token id (not NUL-terminated) and its length; NULL if id is out of range. */
const char *tok_piece(const tokenizer *t, int32_t id, size_t *len);
int32_t tok_type(const tokenizer *t, int32_t id); /* TOK_TYPE_*, or -1 if out of range */
/* The id whose text is exactly text[0..len), or -1. */
int32_t tok_find(const tokenizer *t, const char *text, size_t len);
/* End of generation: eos, "<turn|>" and "<|tool_response>" when present in the vocabulary. */
int tok_is_eog(const tokenizer *t, int32_t id);

/* Encodes text[0..len) (any bytes; invalid UTF-8 goes through byte fallback). No BOS is
 * added. *ids is malloc'd (free() it); *n its count. */
int tok_encode(const tokenizer *t, const char *text, size_t len, int32_t **ids, size_t *n,
               char *err, size_t errlen);

#define TOK_DECODE_SKIP_CONTROL 1 /* control tokens render as nothing */
/* Decodes ids into *text (malloc'd, NUL-terminated for convenience; *len excludes the NUL).
 * An id out of range is an error. */
int tok_decode(const tokenizer *t, const int32_t *ids, size_t n, unsigned flags, char **text,
               size_t *len, char *err, size_t errlen);

/* The Gemma 4 chat prompt (thinking off), diffusiongemma.md §5:
 *   <bos>[<|turn>system\n{system stripped}<turn|>\n]<|turn>user\n{user stripped}<turn|>\n
 *   <|turn>model\n<|channel>thought\n<channel|>
 * "stripped" = leading/trailing ASCII whitespace removed, like Python's str.strip() on ASCII.
 * Special tokens appearing inside system/user text are matched as special tokens (like the
 * reference, which tokenizes the rendered template as one string). Needs <bos>, <|turn>,
 * <turn|>, <|channel>, <channel|> in the vocabulary. *ids malloc'd. */
int tok_chat_prompt(const tokenizer *t, const char *system, const char *user, int32_t **ids,
                    size_t *n, char *err, size_t errlen);

/* A small valid Gemma 4 style vocabulary of n_tokens (>= 459) entries for test models:
 * specials at Gemma 4's ids (0 <pad>, 1 <eos>, 2 <bos>, 3 <unk>, 46..52 tool tokens,
 * 100 <|channel>, 101 <channel|>, 105 <|turn>, 106 <turn|>, 107 "\n", the rest of 4..107
 * "<unusedN>"), the 256 byte tokens <0x00>..<0xFF> at 108..363, "▁" and printable ASCII at
 * 364..458, then BPE pieces for common English words (with and without "▁"), then "<unusedN>"
 * filler up to n_tokens. Any UTF-8 text can be tokenized (byte fallback). Deterministic.
 * Free with tok_vocab_free. */
int tok_build_small_vocab(uint32_t n_tokens, tok_vocab_owned *out, char *err, size_t errlen);
void tok_vocab_free(tok_vocab_owned *v);

#endif
