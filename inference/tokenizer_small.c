/*
 * A small Gemma 4 style vocabulary for test models (tok_build_small_vocab in tokenizer.h).
 *
 * Ids 0..107 follow Gemma 4 (specials at their real ids, the rest "<unusedN>"), 108..363 are
 * the byte-fallback tokens, 364..458 the single characters (U+2581 and printable ASCII), then
 * merge chains that spell common English words (with and without the leading U+2581), then
 * "▁x" and letter pairs, then "<unusedN>" filler up to n_tokens. Every merge joins two
 * existing pieces into a new one, so the list is a valid BPE vocabulary by construction.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "inference/tokenizer.h"

#define SPACE_MARK "\xe2\x96\x81"
#define SMALL_VOCAB_MIN 459u

/* Common English words, most frequent first (written for this file). */
static const char *const small_words[] = {
    "the",      "of",       "and",      "to",       "a",       "in",       "is",       "it",
    "you",      "that",     "he",       "was",      "for",     "on",       "are",      "with",
    "as",       "I",        "his",      "they",     "be",      "at",       "one",      "have",
    "this",     "from",     "or",       "had",      "by",      "not",      "word",     "but",
    "what",     "some",     "we",       "can",      "out",     "other",    "were",     "all",
    "there",    "when",     "up",       "use",      "your",    "how",      "said",     "an",
    "each",     "she",      "which",    "do",       "their",   "time",     "if",       "will",
    "way",      "about",    "many",     "then",     "them",    "write",    "would",    "like",
    "so",       "these",    "her",      "long",     "make",    "thing",    "see",      "him",
    "two",      "has",      "look",     "more",     "day",     "could",    "go",       "come",
    "did",      "number",   "sound",    "no",       "most",    "people",   "my",       "over",
    "know",     "water",    "than",     "call",     "first",   "who",      "may",      "down",
    "side",     "been",     "now",      "find",     "any",     "new",      "work",     "part",
    "take",     "get",      "place",    "made",     "live",    "where",    "after",    "back",
    "little",   "only",     "round",    "man",      "year",    "came",     "show",     "every",
    "good",     "me",       "give",     "our",      "under",   "name",     "very",     "through",
    "just",     "form",     "sentence", "great",    "think",   "say",      "help",     "low",
    "line",     "differ",   "turn",     "cause",    "much",    "mean",     "before",   "move",
    "right",    "boy",      "old",      "too",      "same",    "tell",     "does",     "set",
    "three",    "want",     "air",      "well",     "also",    "play",     "small",    "end",
    "put",      "home",     "read",     "hand",     "port",    "large",    "spell",    "add",
    "even",     "land",     "here",     "must",     "big",     "high",     "such",     "follow",
    "act",      "why",      "ask",      "men",      "change",  "went",     "light",    "kind",
    "off",      "need",     "house",    "picture",  "try",     "us",       "again",    "animal",
    "point",    "mother",   "world",    "near",     "build",   "self",     "earth",    "father",
    "head",     "stand",    "own",      "page",     "should",  "country",  "found",    "answer",
    "school",   "grow",     "study",    "still",    "learn",   "plant",    "cover",    "food",
    "sun",      "four",     "between",  "state",    "keep",    "eye",      "never",    "last",
    "let",      "thought",  "city",     "tree",     "cross",   "farm",     "hard",     "start",
    "might",    "story",    "saw",      "far",      "sea",     "draw",     "left",     "late",
    "run",      "while",    "press",    "close",    "night",   "real",     "life",     "few",
    "north",    "open",     "seem",     "together", "next",    "white",    "children", "begin",
    "got",      "walk",     "example",  "ease",     "paper",   "group",    "always",   "music",
    "those",    "both",     "mark",     "often",    "letter",  "until",    "mile",     "river",
    "car",      "feet",     "care",     "second",   "book",    "carry",    "took",     "science",
    "eat",      "room",     "friend",   "began",    "idea",    "fish",     "mountain", "stop",
    "once",     "base",     "hear",     "horse",    "cut",     "sure",     "watch",    "color",
    "face",     "wood",     "main",     "enough",   "plain",   "girl",     "usual",    "young",
    "ready",    "above",    "ever",     "red",      "list",    "though",   "feel",     "talk",
    "bird",     "soon",     "body",     "dog",      "family",  "direct",   "pose",     "leave",
    "song",     "measure",  "door",     "product",  "black",   "short",    "numeral",  "class",
    "wind",     "question", "happen",   "complete", "ship",    "area",     "half",     "rock",
    "order",    "fire",     "south",    "problem",  "piece",   "told",     "knew",     "pass",
    "since",    "top",      "whole",    "king",     "space",   "heard",    "best",     "hour",
    "better",   "true",     "during",   "hundred",  "five",    "remember", "step",     "early",
    "hold",     "west",     "ground",   "interest", "reach",   "fast",     "verb",     "sing",
    "listen",   "six",      "table",    "travel",   "less",    "morning",  "ten",      "simple",
    "several",  "vowel",    "toward",   "war",      "lay",     "against",  "pattern",  "slow",
    "center",   "love",     "person",   "money",    "serve",   "appear",   "road",     "map",
    "rain",     "rule",     "govern",   "pull",     "cold",    "notice",   "voice",    "unit",
    "power",    "town",     "fine",     "certain",  "fly",     "fall",     "lead",     "cry",
    "dark",     "machine",  "note",     "wait",     "plan",    "figure",   "star",     "box",
    "noun",     "field",    "rest",     "correct",  "able",    "pound",    "done",     "beauty",
    "drive",    "stood",    "contain",  "front",    "teach",   "week",     "final",    "gave",
    "green",    "oh",       "quick",    "develop",  "ocean",   "warm",     "free",     "minute",
    "strong",   "special",  "mind",     "behind",   "clear",   "tail",     "produce",  "fact",
    "street",   "inch",     "multiply", "nothing",  "course",  "stay",     "wheel",    "full",
    "force",    "blue",     "object",   "decide",   "surface", "deep",     "moon",     "island",
    "foot",     "system",   "busy",     "test",     "record",  "boat",     "common",   "gold",
    "possible", "plane",    "stead",    "dry",      "wonder",  "laugh",    "thousand", "ago",
    "ran",      "check",    "game",     "shape",    "equate",  "hot",      "miss",     "brought",
    "heat",     "snow",     "tire",     "bring",    "yes",     "distant",  "fill",     "east",
    "paint",    "language", "among",    "sky",      "user",    "model",    "oracle",   "contract",
    "price",    "token",    "block",    "chain",    "value",   "Why",      "What",     "How",
    "The",      "This",     "It",       "In",       "A",       "We",       "You",      "Is",
    "ing",      "ed",       "er",       "ly",       "tion",    "es",       "s",        "'s",
    "n't",      "0",        "1",        "2",        "10",      "100",      "2024",     "2025",
    "2026",     ". ",       ", ",       "?",        "!",       "...",      "\n\n",
};

static int add_piece(tok_vocab_owned *o, uint32_t id, const char *s, size_t len, int32_t type,
                     float score)
{
    char *p = malloc(len + 1);
    if (!p)
        return -1;
    memcpy(p, s, len);
    p[len] = 0;
    o->tokens[id] = p;
    o->token_lens[id] = (uint32_t)len;
    o->token_types[id] = type;
    o->scores[id] = score;
    return 0;
}

static int add_merge(tok_vocab_owned *o, const char *l, size_t ll, const char *r, size_t rl)
{
    uint32_t m = o->v.n_merges;
    char *p = malloc(ll + rl + 2);
    if (!p)
        return -1;
    memcpy(p, l, ll);
    p[ll] = ' ';
    memcpy(p + ll + 1, r, rl);
    p[ll + rl + 1] = 0;
    o->merges[m] = p;
    o->merge_lens[m] = (uint32_t)(ll + rl + 1);
    o->v.n_merges = m + 1;
    return 0;
}

/* Adds the merges that join text into one piece. The text is first tokenized with the merges
 * made so far (cur, a tokenizer over the vocabulary built until the last rebuild); then its
 * pieces are joined left to right by new merges, which rank after every existing one. So the
 * list stays a valid BPE vocabulary in which most listed words become single tokens. */
static int add_word(tok_vocab_owned *o, uint32_t *next, uint32_t limit, const tokenizer *cur,
                    const char *text, size_t len)
{
    int32_t *ids;
    size_t n;
    if (tok_encode(cur, text, len, &ids, &n, NULL, 0))
        return -1;
    char acc[96];
    size_t al = 0;
    int rc = 0;
    for (size_t i = 0; i < n; i++) {
        int32_t ty = o->token_types[ids[i]];
        if (ty != TOK_TYPE_NORMAL) {
            rc = 0; /* a character outside the base set: leave this word alone */
            break;
        }
        const char *p = o->tokens[ids[i]];
        size_t pl = o->token_lens[ids[i]];
        if (al + pl > sizeof acc)
            break;
        if (i > 0) {
            if (*next >= limit)
                break;
            memcpy(acc + al, p, pl);
            /* the merged text may already be a piece made since the last rebuild */
            int exists = 0;
            for (uint32_t k = 364; k < *next && !exists; k++)
                exists = o->token_lens[k] == al + pl && memcmp(o->tokens[k], acc, al + pl) == 0;
            if (add_merge(o, acc, al, p, pl)) {
                rc = -1;
                break;
            }
            if (!exists) {
                if (add_piece(o, *next, acc, al + pl, TOK_TYPE_NORMAL, -(float)*next)) {
                    rc = -1;
                    break;
                }
                (*next)++;
            }
        } else {
            memcpy(acc, p, pl);
        }
        al += pl;
    }
    free(ids);
    return rc;
}

/* A tokenizer over the first n pieces and the merges so far. */
static int rebuild(tok_vocab_owned *o, uint32_t n, tokenizer **cur)
{
    tok_free(*cur);
    *cur = NULL;
    tok_vocab v = {.n_tokens = n,
                   .tokens = (const char *const *)o->tokens,
                   .token_lens = o->token_lens,
                   .token_types = o->token_types,
                   .n_merges = o->v.n_merges,
                   .merges = (const char *const *)o->merges,
                   .merge_lens = o->merge_lens,
                   .bos = 2,
                   .eos = 1,
                   .pad = 0,
                   .unk = 3,
                   .model = "gemma4"};
    return tok_create(&v, cur, NULL, 0);
}

void tok_vocab_free(tok_vocab_owned *o)
{
    if (!o)
        return;
    if (o->tokens)
        for (uint32_t i = 0; i < o->v.n_tokens; i++)
            free(o->tokens[i]);
    if (o->merges)
        for (uint32_t i = 0; i < o->v.n_merges; i++)
            free(o->merges[i]);
    free(o->tokens);
    free(o->token_lens);
    free(o->scores);
    free(o->token_types);
    free(o->merges);
    free(o->merge_lens);
    memset(o, 0, sizeof *o);
}

int tok_build_small_vocab(uint32_t n_tokens, tok_vocab_owned *o, char *err, size_t errlen)
{
    memset(o, 0, sizeof *o);
    if (n_tokens < SMALL_VOCAB_MIN) {
        if (err && errlen)
            snprintf(err, errlen,
                     "small vocabulary: %u tokens is too few (at least %u: Gemma 4 specials, "
                     "256 bytes, 95 characters)",
                     n_tokens, SMALL_VOCAB_MIN);
        return -1;
    }
    o->tokens = calloc(n_tokens, sizeof *o->tokens);
    o->token_lens = calloc(n_tokens, sizeof *o->token_lens);
    o->scores = calloc(n_tokens, sizeof *o->scores);
    o->token_types = calloc(n_tokens, sizeof *o->token_types);
    o->merges = calloc(n_tokens, sizeof *o->merges); /* at most one merge per token */
    o->merge_lens = calloc(n_tokens, sizeof *o->merge_lens);
    o->v.n_tokens = n_tokens;
    if (!o->tokens || !o->token_lens || !o->scores || !o->token_types || !o->merges ||
        !o->merge_lens)
        goto oom;
    static const struct {
        uint32_t id;
        const char *text;
        int32_t type;
    } fixed[] = {
        {0, "<pad>", TOK_TYPE_CONTROL},
        {1, "<eos>", TOK_TYPE_CONTROL},
        {2, "<bos>", TOK_TYPE_CONTROL},
        {3, "<unk>", TOK_TYPE_UNKNOWN},
        {46, "<|tool>", TOK_TYPE_USER_DEFINED},
        {47, "<tool|>", TOK_TYPE_USER_DEFINED},
        {48, "<|tool_call>", TOK_TYPE_USER_DEFINED},
        {49, "<tool_call|>", TOK_TYPE_USER_DEFINED},
        {50, "<|tool_response>", TOK_TYPE_USER_DEFINED},
        {51, "<tool_response|>", TOK_TYPE_USER_DEFINED},
        {52, "<|\"|>", TOK_TYPE_USER_DEFINED},
        {100, "<|channel>", TOK_TYPE_USER_DEFINED},
        {101, "<channel|>", TOK_TYPE_USER_DEFINED},
        {105, "<|turn>", TOK_TYPE_CONTROL},
        {106, "<turn|>", TOK_TYPE_CONTROL},
        {107, "\n", TOK_TYPE_NORMAL},
    };
    char buf[32];
    uint32_t unused_no = 0;
    for (uint32_t id = 0, k = 0; id < 108; id++) {
        if (k < sizeof fixed / sizeof fixed[0] && fixed[k].id == id) {
            if (add_piece(o, id, fixed[k].text, strlen(fixed[k].text), fixed[k].type, 0.0f))
                goto oom;
            k++;
        } else {
            int l = snprintf(buf, sizeof buf, "<unused%u>", unused_no++);
            if (add_piece(o, id, buf, (size_t)l, TOK_TYPE_UNUSED, 0.0f))
                goto oom;
        }
    }
    for (uint32_t b = 0; b < 256; b++) {
        int l = snprintf(buf, sizeof buf, "<0x%02X>", b);
        if (add_piece(o, 108 + b, buf, (size_t)l, TOK_TYPE_BYTE, 0.0f))
            goto oom;
    }
    uint32_t next = 364;
    if (add_piece(o, next, SPACE_MARK, 3, TOK_TYPE_NORMAL, -(float)next))
        goto oom;
    next++;
    for (int c = 0x21; c <= 0x7e; c++) {
        char ch = (char)c;
        if (add_piece(o, next, &ch, 1, TOK_TYPE_NORMAL, -(float)next))
            goto oom;
        next++;
    }
    /* words, each with and without the leading space mark; spaces inside become U+2581.
     * The tokenizer used to segment them is rebuilt every few words (see add_word). */
    tokenizer *cur = NULL;
    const size_t n_words = sizeof small_words / sizeof small_words[0];
    size_t n_items = n_words * 2 + (0x7e - 0x21 + 1) + 26 * 26;
    for (size_t item = 0; item < n_items && next < n_tokens; item++) {
        if (item % 8 == 0 && rebuild(o, next, &cur))
            goto oom;
        char tmp[64];
        size_t tl = 0;
        if (item < n_words * 2) {
            if (item % 2 == 0) {
                memcpy(tmp, SPACE_MARK, 3);
                tl = 3;
            }
            for (const char *p = small_words[item / 2]; *p && tl + 3 < sizeof tmp; p++) {
                if (*p == ' ') {
                    memcpy(tmp + tl, SPACE_MARK, 3);
                    tl += 3;
                } else {
                    tmp[tl++] = *p;
                }
            }
        } else if (item < n_words * 2 + (0x7e - 0x21 + 1)) {
            memcpy(tmp, SPACE_MARK, 3); /* "▁x" for every printable character */
            tmp[3] = (char)(0x21 + (item - n_words * 2));
            tl = 4;
        } else {
            size_t k = item - n_words * 2 - (0x7e - 0x21 + 1); /* lowercase letter pairs */
            tmp[0] = (char)('a' + k / 26);
            tmp[1] = (char)('a' + k % 26);
            tl = 2;
        }
        if (add_word(o, &next, n_tokens, cur, tmp, tl)) {
            tok_free(cur);
            goto oom;
        }
    }
    tok_free(cur);
    while (next < n_tokens) {
        int l = snprintf(buf, sizeof buf, "<unused%u>", unused_no++);
        if (add_piece(o, next, buf, (size_t)l, TOK_TYPE_UNUSED, 0.0f))
            goto oom;
        next++;
    }
    o->v.tokens = (const char *const *)o->tokens;
    o->v.token_lens = o->token_lens;
    o->v.scores = o->scores;
    o->v.token_types = o->token_types;
    o->v.merges = (const char *const *)o->merges;
    o->v.merge_lens = o->merge_lens;
    o->v.bos = 2;
    o->v.eos = 1;
    o->v.pad = 0;
    o->v.unk = 3;
    o->v.add_bos = 1;
    o->v.model = "gemma4";
    return 0;
oom:
    tok_vocab_free(o);
    if (err && errlen)
        snprintf(err, errlen, "small vocabulary: out of memory");
    return -1;
}
