/*
 * sibyl mkmodel's writer: the tiny preset read back with the GGUF reader (every metadata key
 * and tensor name/shape of diffusiongemma.md §6), determinism (same seed and any thread count
 * give the same bytes), the weight statistics of the init recipe, the f32/f16/bf16 outputs
 * holding the same values as Q8_0, and the parameter counts documented in docs/models.md.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "inference/gguf.h"
#include "inference/mkmodel.h"
#include "inference/tokenizer.h"

static void tmp_name(char *buf, size_t n, const char *tag)
{
    snprintf(buf, n, "/tmp/sibyl_test_mk_%d_%s.gguf", (int)getpid(), tag);
}

static void write_tiny(const char *path, ggml_type type, uint64_t seed, int threads)
{
    mk_options o = {0};
    assert_int_equal(mk_preset_find("tiny", &o.preset), 0);
    o.path = path;
    o.type = type;
    o.seed = seed;
    o.n_threads = threads;
    mk_result r;
    char err[256];
    if (mk_write_model(&o, &r, err, sizeof err))
        fail_msg("%s", err);
    assert_int_equal(r.n_params, mk_count_params(&o.preset));
}

static uint8_t *slurp(const char *path, size_t *n)
{
    FILE *fp = fopen(path, "rb");
    assert_non_null(fp);
    fseek(fp, 0, SEEK_END);
    long sz = ftell(fp);
    fseek(fp, 0, SEEK_SET);
    uint8_t *b = malloc((size_t)sz);
    assert_int_equal(fread(b, 1, (size_t)sz, fp), (size_t)sz);
    fclose(fp);
    *n = (size_t)sz;
    return b;
}

static void test_deterministic(void **state)
{
    (void)state;
    char a[128], b[128], c[128];
    tmp_name(a, sizeof a, "a");
    tmp_name(b, sizeof b, "b");
    tmp_name(c, sizeof c, "c");
    write_tiny(a, GGML_TYPE_Q8_0, 7, 1);
    write_tiny(b, GGML_TYPE_Q8_0, 7, 3);
    write_tiny(c, GGML_TYPE_Q8_0, 8, 2);
    size_t na, nb, nc;
    uint8_t *fa = slurp(a, &na), *fb = slurp(b, &nb), *fc = slurp(c, &nc);
    assert_int_equal(na, nb);
    assert_memory_equal(fa, fb, na);
    /* another seed: same layout, other weights and name */
    assert_int_equal(na, nc);
    assert_memory_not_equal(fa, fc, na);
    free(fa);
    free(fb);
    free(fc);
    unlink(a);
    unlink(b);
    unlink(c);
}

static uint32_t get_u32(const gguf_file *f, const char *k)
{
    uint32_t v = 0;
    if (gguf_get_u32(f, k, &v))
        fail_msg("%s", gguf_last_error(f));
    return v;
}

static float get_f32(const gguf_file *f, const char *k)
{
    float v = 0;
    if (gguf_get_f32(f, k, &v))
        fail_msg("%s", gguf_last_error(f));
    return v;
}

static void expect_tensor(const gguf_file *f, const char *name, ggml_type type, uint32_t nd,
                          int64_t ne0, int64_t ne1, int64_t ne2)
{
    const gguf_tensor *t = gguf_find_tensor(f, name);
    if (!t)
        fail_msg("tensor %s missing", name);
    assert_int_equal(t->type, type);
    assert_int_equal(t->n_dims, nd);
    assert_int_equal(t->ne[0], ne0);
    assert_int_equal(t->ne[1], ne1);
    assert_int_equal(t->ne[2], ne2);
}

static float half(uint16_t h)
{
    int e = (h >> 10) & 0x1f, m = h & 0x3ff;
    float v = e == 0 ? ldexpf((float)m, -24) : ldexpf((float)(m | 0x400), e - 25);
    return (h & 0x8000) ? -v : v;
}

/* Mean and std of a Q8_0 or f32 tensor's values. */
static void stats(const gguf_tensor *t, double *mean, double *sd)
{
    double s = 0, s2 = 0;
    for (uint64_t i = 0; i < t->n_elements; i++) {
        float v;
        if (t->type == GGML_TYPE_Q8_0) {
            const uint8_t *blk = (const uint8_t *)t->data + (i / 32) * 34;
            uint16_t d;
            memcpy(&d, blk, 2);
            v = half(d) * (float)(int8_t)blk[2 + i % 32];
        } else {
            memcpy(&v, (const uint8_t *)t->data + 4 * i, 4);
        }
        s += v;
        s2 += (double)v * v;
    }
    *mean = s / (double)t->n_elements;
    *sd = sqrt(s2 / (double)t->n_elements - *mean * *mean);
}

static void test_tiny_layout(void **state)
{
    (void)state;
    char path[128];
    tmp_name(path, sizeof path, "layout");
    write_tiny(path, GGML_TYPE_Q8_0, 1, 0);
    gguf_file *f;
    char err[256];
    if (gguf_open(path, &f, err, sizeof err))
        fail_msg("%s", err);
    mk_preset p;
    mk_preset_find("tiny", &p);
    const char *s;
    uint64_t len;
    assert_int_equal(gguf_get_str(f, "general.architecture", &s, &len), 0);
    assert_memory_equal(s, "diffusion-gemma", len);
    assert_int_equal(len, 15);
    assert_int_equal(get_u32(f, "diffusion-gemma.block_count"), 3);
    assert_int_equal(get_u32(f, "diffusion-gemma.context_length"), 4096);
    assert_int_equal(get_u32(f, "diffusion-gemma.embedding_length"), 64);
    assert_int_equal(get_u32(f, "diffusion-gemma.feed_forward_length"), 128);
    assert_int_equal(get_u32(f, "diffusion-gemma.attention.head_count"), 4);
    assert_int_equal(get_u32(f, "diffusion-gemma.attention.key_length"), 32);
    assert_int_equal(get_u32(f, "diffusion-gemma.attention.value_length"), 32);
    assert_int_equal(get_u32(f, "diffusion-gemma.attention.key_length_swa"), 16);
    assert_int_equal(get_u32(f, "diffusion-gemma.attention.value_length_swa"), 16);
    assert_true(get_f32(f, "diffusion-gemma.attention.layer_norm_rms_epsilon") == 1e-6f);
    assert_int_equal(get_u32(f, "diffusion-gemma.attention.sliding_window"), 8);
    assert_int_equal(get_u32(f, "diffusion-gemma.attention.shared_kv_layers"), 0);
    assert_int_equal(get_u32(f, "diffusion-gemma.embedding_length_per_layer_input"), 0);
    assert_true(get_f32(f, "diffusion-gemma.rope.freq_base") == 1e6f);
    assert_true(get_f32(f, "diffusion-gemma.rope.freq_base_swa") == 1e4f);
    assert_int_equal(get_u32(f, "diffusion-gemma.rope.dimension_count"), 32);
    assert_int_equal(get_u32(f, "diffusion-gemma.rope.dimension_count_swa"), 16);
    assert_int_equal(get_u32(f, "diffusion-gemma.expert_count"), 8);
    assert_int_equal(get_u32(f, "diffusion-gemma.expert_used_count"), 2);
    assert_int_equal(get_u32(f, "diffusion-gemma.expert_feed_forward_length"), 32);
    assert_true(get_f32(f, "diffusion-gemma.final_logit_softcapping") == 30.0f);
    int b;
    assert_int_equal(gguf_get_bool(f, "diffusion-gemma.attention.causal", &b), 0);
    assert_int_equal(b, 0);
    gguf_type et;
    uint64_t n;
    const void *data;
    assert_int_equal(gguf_get_arr(f, "diffusion-gemma.attention.head_count_kv", &et, &n, &data), 0);
    assert_int_equal(et, GGUF_TYPE_INT32);
    assert_int_equal(n, 3);
    for (uint32_t il = 0; il < 3; il++) {
        int32_t kv;
        int swa;
        assert_int_equal(gguf_get_arr_i32(f, "diffusion-gemma.attention.head_count_kv", il, &kv),
                         0);
        assert_int_equal(
            gguf_get_arr_bool(f, "diffusion-gemma.attention.sliding_window_pattern", il, &swa), 0);
        assert_int_equal(kv, il == 2 ? 1 : 2);
        assert_int_equal(swa, il != 2);
    }
    assert_int_equal(get_u32(f, "diffusion.canvas_length"), 16);
    assert_int_equal(get_u32(f, "diffusion.eb_max_steps"), 8);
    assert_true(get_f32(f, "diffusion.eb_t_min") == 0.4f);
    assert_true(get_f32(f, "diffusion.eb_t_max") == 0.8f);
    assert_true(get_f32(f, "diffusion.eb_entropy_bound") == 0.1f);
    assert_int_equal(get_u32(f, "diffusion.eb_stability_threshold"), 1);
    assert_true(get_f32(f, "diffusion.eb_confidence_threshold") == 0.005f);
    assert_int_equal(get_u32(f, "general.file_type"), 7);
    /* tensors */
    const ggml_type Q = GGML_TYPE_Q8_0, F = GGML_TYPE_F32;
    expect_tensor(f, "token_embd.weight", Q, 2, 64, 512, 1);
    expect_tensor(f, "output_norm.weight", F, 1, 64, 1, 1);
    expect_tensor(f, "rope_freqs.weight", F, 1, 16, 1, 1);
    expect_tensor(f, "self_cond_pre_norm.weight", F, 1, 64, 1, 1);
    expect_tensor(f, "self_cond_gate.weight", Q, 2, 64, 128, 1);
    expect_tensor(f, "self_cond_up.weight", Q, 2, 64, 128, 1);
    expect_tensor(f, "self_cond_down.weight", Q, 2, 128, 64, 1);
    int64_t count = 7;
    for (int il = 0; il < 3; il++) {
        int g = il == 2;
        int64_t d = g ? 32 : 16, nkv = g ? 1 : 2;
        char nm[64];
#define T(suffix, ty, nd, a, b2, c)                                                                \
    do {                                                                                           \
        snprintf(nm, sizeof nm, "blk.%d." suffix, il);                                             \
        expect_tensor(f, nm, ty, nd, a, b2, c);                                                    \
        count++;                                                                                   \
    } while (0)
        T("attn_norm.weight", F, 1, 64, 1, 1);
        T("attn_q.weight", Q, 2, 64, 4 * d, 1);
        T("attn_k.weight", Q, 2, 64, nkv * d, 1);
        snprintf(nm, sizeof nm, "blk.%d.attn_v.weight", il);
        if (g) {
            assert_null(gguf_find_tensor(f, nm)); /* global layers: V comes from K */
        } else {
            T("attn_v.weight", Q, 2, 64, nkv * d, 1);
        }
        T("attn_output.weight", Q, 2, 4 * d, 64, 1);
        T("attn_q_norm.weight", F, 1, d, 1, 1);
        T("attn_k_norm.weight", F, 1, d, 1, 1);
        T("post_attention_norm.weight", F, 1, 64, 1, 1);
        T("ffn_norm.weight", F, 1, 64, 1, 1);
        T("ffn_gate.weight", Q, 2, 64, 128, 1);
        T("ffn_up.weight", Q, 2, 64, 128, 1);
        T("ffn_down.weight", Q, 2, 128, 64, 1);
        T("post_ffw_norm_1.weight", F, 1, 64, 1, 1);
        T("pre_ffw_norm_2.weight", F, 1, 64, 1, 1);
        T("post_ffw_norm_2.weight", F, 1, 64, 1, 1);
        T("post_ffw_norm.weight", F, 1, 64, 1, 1);
        T("ffn_gate_inp.weight", F, 2, 64, 8, 1);
        T("ffn_gate_inp.scale", F, 1, 64, 1, 1);
        T("ffn_gate_up_exps.weight", Q, 3, 64, 64, 8);
        T("ffn_down_exps.weight", Q, 3, 32, 64, 8);
        T("ffn_down_exps.scale", F, 1, 8, 1, 1);
        T("layer_output_scale.weight", F, 1, 1, 1, 1);
        T("enc_layer_output_scale.weight", F, 1, 1, 1, 1);
#undef T
    }
    assert_int_equal(gguf_n_tensors(f), count);
    uint64_t params = 0;
    for (int64_t i = 0; i < gguf_n_tensors(f); i++)
        params += gguf_tensor_at(f, i)->n_elements;
    assert_int_equal(params, mk_count_params(&p));
    /* rope_freqs: 4 x 1.0 then 12 x 1e30 */
    const gguf_tensor *rf = gguf_find_tensor(f, "rope_freqs.weight");
    for (int i = 0; i < 16; i++) {
        float v;
        memcpy(&v, (const uint8_t *)rf->data + 4 * i, 4);
        assert_true(v == (i < 4 ? 1.0f : 1e30f));
    }
    /* init recipe statistics */
    double mean, sd;
    stats(gguf_find_tensor(f, "token_embd.weight"), &mean, &sd);
    assert_true(fabs(sd - 3.0 / 8.0) < 0.02 && fabs(mean) < 0.01);
    stats(gguf_find_tensor(f, "blk.0.ffn_down.weight"), &mean, &sd);
    assert_true(fabs(sd - 1.0 / sqrt(128.0)) < 0.006);
    stats(gguf_find_tensor(f, "blk.1.ffn_gate_inp.weight"), &mean, &sd);
    assert_true(fabs(sd - 2.0) < 0.1);
    stats(gguf_find_tensor(f, "blk.0.post_ffw_norm.weight"), &mean, &sd);
    assert_true(fabs(mean - 1.0) < 0.03 && sd > 0.07 && sd < 0.13);
    stats(gguf_find_tensor(f, "blk.2.ffn_down_exps.scale"), &mean, &sd);
    assert_true(mean > 0.85 && mean < 1.15);
    float ls, els;
    memcpy(&ls, gguf_find_tensor(f, "blk.1.layer_output_scale.weight")->data, 4);
    memcpy(&els, gguf_find_tensor(f, "blk.1.enc_layer_output_scale.weight")->data, 4);
    assert_true(ls > 0.8f && ls < 1.2f && els > 0.8f && els < 1.2f && ls != els);
    /* tokenizer */
    tokenizer *t;
    if (tokenizer_from_gguf(f, &t, err, sizeof err))
        fail_msg("%s", err);
    assert_int_equal(tok_n_vocab(t), 512);
    int32_t *ids;
    size_t nid;
    assert_int_equal(tok_chat_prompt(t, NULL, "Why is the sky blue?", &ids, &nid, err, sizeof err),
                     0);
    assert_int_equal(ids[0], 2);
    assert_int_equal(ids[1], 105);
    assert_int_equal(ids[nid - 1], 101);
    free(ids);
    tok_free(t);
    gguf_close(f);
    unlink(path);
}

/* F32, F16 and BF16 files hold the Q8_0 file's values d*q (rounded to the type). */
static void test_types_same_model(void **state)
{
    (void)state;
    char pq[128], pf[128], ph[128], pb[128];
    tmp_name(pq, sizeof pq, "q");
    tmp_name(pf, sizeof pf, "f");
    tmp_name(ph, sizeof ph, "h");
    tmp_name(pb, sizeof pb, "bf");
    write_tiny(pq, GGML_TYPE_Q8_0, 3, 2);
    write_tiny(pf, GGML_TYPE_F32, 3, 2);
    write_tiny(ph, GGML_TYPE_F16, 3, 2);
    write_tiny(pb, GGML_TYPE_BF16, 3, 2);
    gguf_file *fq, *ff, *fh, *fb;
    char err[256];
    assert_int_equal(gguf_open(pq, &fq, err, sizeof err), 0);
    assert_int_equal(gguf_open(pf, &ff, err, sizeof err), 0);
    assert_int_equal(gguf_open(ph, &fh, err, sizeof err), 0);
    assert_int_equal(gguf_open(pb, &fb, err, sizeof err), 0);
    uint32_t ft;
    assert_int_equal(gguf_get_u32(ff, "general.file_type", &ft), 0);
    assert_int_equal(ft, 0);
    const char *names[] = {"token_embd.weight", "blk.0.attn_q.weight",
                           "blk.2.ffn_gate_up_exps.weight", "self_cond_down.weight"};
    for (size_t k = 0; k < 4; k++) {
        const gguf_tensor *q = gguf_find_tensor(fq, names[k]),
                          *f32 = gguf_find_tensor(ff, names[k]),
                          *f16 = gguf_find_tensor(fh, names[k]),
                          *bf = gguf_find_tensor(fb, names[k]);
        assert_int_equal(f32->type, GGML_TYPE_F32);
        assert_int_equal(f16->type, GGML_TYPE_F16);
        assert_int_equal(bf->type, GGML_TYPE_BF16);
        assert_int_equal(q->n_elements, f32->n_elements);
        for (uint64_t i = 0; i < q->n_elements; i++) {
            const uint8_t *blk = (const uint8_t *)q->data + (i / 32) * 34;
            uint16_t d, h, bh;
            memcpy(&d, blk, 2);
            float want = half(d) * (float)(int8_t)blk[2 + i % 32], got;
            memcpy(&got, (const uint8_t *)f32->data + 4 * i, 4);
            assert_true(got == want);
            memcpy(&h, (const uint8_t *)f16->data + 2 * i, 2);
            assert_true(fabsf(half(h) - want) <= fabsf(want) * 0x1p-11f + 1e-7f);
            memcpy(&bh, (const uint8_t *)bf->data + 2 * i, 2);
            uint32_t bits = (uint32_t)bh << 16;
            float bv;
            memcpy(&bv, &bits, 4);
            assert_true(fabsf(bv - want) <= fabsf(want) * 0x1p-8f);
        }
    }
    gguf_close(fq);
    gguf_close(ff);
    gguf_close(fh);
    gguf_close(fb);
    unlink(pq);
    unlink(pf);
    unlink(ph);
    unlink(pb);
}

static void test_presets(void **state)
{
    (void)state;
    mk_preset p;
    /* docs/models.md quotes these counts */
    const struct {
        const char *name;
        uint64_t params;
    } want[] = {{"tiny", 324910ull},
                {"small", 6088188ull},
                {"bench", 307009368ull},
                {"26b-a4b", 25250987068ull}};
    for (size_t i = 0; i < 4; i++) {
        assert_int_equal(mk_preset_find(want[i].name, &p), 0);
        uint64_t n = mk_count_params(&p);
        if (n != want[i].params)
            fail_msg("%s: %llu parameters", want[i].name, (unsigned long long)n);
    }
    assert_int_not_equal(mk_preset_find("huge", &p), 0);
    assert_int_equal(mk_preset_find("26b-a4b", &p), 0);
    for (uint32_t il = 0; il < 30; il++)
        assert_int_equal(mk_layer_is_global(&p, il), il % 6 == 5);
    /* a dry run of the small preset writes nothing and counts the bytes */
    mk_options o = {0};
    mk_preset_find("small", &o.preset);
    o.type = GGML_TYPE_Q8_0;
    o.dry_run = 1;
    mk_result r;
    char err[256];
    assert_int_equal(mk_write_model(&o, &r, err, sizeof err), 0);
    assert_true(r.file_bytes > r.n_params); /* Q8_0: 34 bytes per 32 values, plus header */
    /* bad type */
    o.type = GGML_TYPE_Q4_K;
    assert_int_not_equal(mk_write_model(&o, &r, err, sizeof err), 0);
    assert_non_null(strstr(err, "type"));
}

static void test_split_experts(void **state)
{
    (void)state;
    char path[128];
    tmp_name(path, sizeof path, "split");
    mk_options o = {0};
    assert_int_equal(mk_preset_find("tiny", &o.preset), 0);
    o.path = path;
    o.type = GGML_TYPE_Q8_0;
    o.seed = 1;
    o.split_experts = 1;
    mk_result r;
    char err[256];
    if (mk_write_model(&o, &r, err, sizeof err))
        fail_msg("%s", err);
    gguf_file *f;
    assert_int_equal(gguf_open(path, &f, err, sizeof err), 0);
    for (int il = 0; il < 3; il++) {
        char nm[64];
        snprintf(nm, sizeof nm, "blk.%d.ffn_gate_exps.weight", il);
        expect_tensor(f, nm, GGML_TYPE_Q8_0, 3, 64, 32, 8);
        snprintf(nm, sizeof nm, "blk.%d.ffn_up_exps.weight", il);
        expect_tensor(f, nm, GGML_TYPE_Q8_0, 3, 64, 32, 8);
        snprintf(nm, sizeof nm, "blk.%d.ffn_gate_up_exps.weight", il);
        assert_null(gguf_find_tensor(f, nm));
    }
    assert_int_equal(r.n_params, mk_count_params(&o.preset));
    gguf_close(f);
    unlink(path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_deterministic),    cmocka_unit_test(test_tiny_layout),
        cmocka_unit_test(test_types_same_model), cmocka_unit_test(test_presets),
        cmocka_unit_test(test_split_experts),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
