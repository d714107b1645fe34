// See include/dqss_dnnl.h. oneDNN 2.x C API (dnnl_*_desc_init + dnnl_primitive_desc_create).
#include "dqss_dnnl.h"
#include <oneapi/dnnl/dnnl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

// From libgomp (oneDNN's Debian build uses the OpenMP runtime). Per calling thread: every call below
// sets it to 1 so a plan never starts an OpenMP team (the caller parallelises over chunks).
extern void omp_set_num_threads(int);

static dnnl_engine_t shared_engine;
static dnnl_status_t engine_status = dnnl_runtime_error;
static pthread_once_t engine_once = PTHREAD_ONCE_INIT;
static void make_engine(void) { engine_status = dnnl_engine_create(&shared_engine, dnnl_cpu, 0); }

enum { N_REORDERS = 9 };
enum { R_SRC_F, R_DST_F, R_W_F, R_DDST_B, R_DSRC_B, R_W_B, R_SRC_W, R_DDST_W, R_DW_W };

struct dqss_dnnl_conv {
    int has_bias;
    dnnl_memory_desc_t user_src, user_dst, user_w, bias;
    // Layouts the primitives chose.
    dnnl_memory_desc_t f_src, f_w, f_dst, f_pad, b_dsrc, b_w, b_ddst, b_pad, w_src, w_dw, w_ddst, w_pad;
    dnnl_primitive_desc_t fpd, bpd, wpd;
    dnnl_primitive_t fwd, bwd, bww;
    dnnl_primitive_t reorder[N_REORDERS];   // NULL where the primitive takes the plain layout as is
    size_t scratch_floats;
};

static size_t floats(const dnnl_memory_desc_t *md) { return (dnnl_memory_desc_get_size(md) + 63) / 64 * 16; }

static dnnl_primitive_t make_reorder(const dnnl_memory_desc_t *from, const dnnl_memory_desc_t *to, dnnl_status_t *st) {
    if (dnnl_memory_desc_equal(from, to)) return NULL;
    dnnl_primitive_desc_t pd; dnnl_primitive_t p = NULL;
    *st = dnnl_reorder_primitive_desc_create(&pd, from, shared_engine, to, shared_engine, NULL);
    if (*st != dnnl_success) return NULL;
    *st = dnnl_primitive_create(&p, pd);
    dnnl_primitive_desc_destroy(pd);
    return p;
}

static dnnl_primitive_attr_t user_scratchpad_attr(void) {
    dnnl_primitive_attr_t a = NULL;
    if (dnnl_primitive_attr_create(&a) != dnnl_success) return NULL;
    dnnl_primitive_attr_set_scratchpad_mode(a, dnnl_scratchpad_mode_user);
    return a;
}

static void copy_md(dnnl_memory_desc_t *dst, dnnl_primitive_desc_t pd, dnnl_query_t q) {
    const dnnl_memory_desc_t *m = dnnl_primitive_desc_query_md(pd, q, 0);
    if (m) *dst = *m; else memset(dst, 0, sizeof *dst);
}

#define TRY(call, what) do { dnnl_status_t s_ = (call); if (s_ != dnnl_success) { \
    snprintf(err, err_len, "oneDNN: %s failed (status %d)", what, (int)s_); goto fail; } } while (0)

dqss_dnnl_conv *dqss_dnnl_conv_create(int n, int ic, int ih, int iw, int oc, int kh, int kw, int stride,
                                      int padding, int groups, int has_bias, char *err, size_t err_len) {
    omp_set_num_threads(1);
    pthread_once(&engine_once, make_engine);
    if (engine_status != dnnl_success) { snprintf(err, err_len, "oneDNN: no CPU engine (status %d)", (int)engine_status); return NULL; }
    if (n < 1 || groups < 1 || ic % groups || oc % groups) { snprintf(err, err_len, "oneDNN: bad geometry"); return NULL; }
    int oh = (ih + 2 * padding - kh) / stride + 1, ow = (iw + 2 * padding - kw) / stride + 1;
    dqss_dnnl_conv *p = calloc(1, sizeof *p);
    if (!p) { snprintf(err, err_len, "out of memory"); return NULL; }
    p->has_bias = has_bias;
    dnnl_primitive_attr_t attr = user_scratchpad_attr();
    dnnl_dims_t src = {n, ic, ih, iw}, dst = {n, oc, oh, ow}, bias = {oc};
    dnnl_dims_t w4 = {oc, ic, kh, kw}, w5 = {groups, oc / groups, ic / groups, kh, kw};
    dnnl_dims_t strides = {stride, stride}, pad = {padding, padding};
    int wnd = groups == 1 ? 4 : 5;
    const int64_t *wd = groups == 1 ? w4 : w5;
    dnnl_memory_desc_t any_src, any_dst, any_w;
    TRY(dnnl_memory_desc_init_by_tag(&p->user_src, 4, src, dnnl_f32, dnnl_nchw), "source descriptor");
    TRY(dnnl_memory_desc_init_by_tag(&p->user_dst, 4, dst, dnnl_f32, dnnl_nchw), "destination descriptor");
    TRY(dnnl_memory_desc_init_by_tag(&p->user_w, wnd, wd, dnnl_f32, groups == 1 ? dnnl_oihw : dnnl_goihw), "weights descriptor");
    TRY(dnnl_memory_desc_init_by_tag(&p->bias, 1, bias, dnnl_f32, dnnl_a), "bias descriptor");
    TRY(dnnl_memory_desc_init_by_tag(&any_src, 4, src, dnnl_f32, dnnl_format_tag_any), "source descriptor");
    TRY(dnnl_memory_desc_init_by_tag(&any_dst, 4, dst, dnnl_f32, dnnl_format_tag_any), "destination descriptor");
    TRY(dnnl_memory_desc_init_by_tag(&any_w, wnd, wd, dnnl_f32, dnnl_format_tag_any), "weights descriptor");

    dnnl_convolution_desc_t fd, bd, wdesc;
    TRY(dnnl_convolution_forward_desc_init(&fd, dnnl_forward_training, dnnl_convolution_direct, &any_src, &any_w,
                                           has_bias ? &p->bias : NULL, &any_dst, strides, pad, pad), "forward descriptor");
    TRY(dnnl_primitive_desc_create(&p->fpd, &fd, attr, shared_engine, NULL), "forward primitive descriptor");
    TRY(dnnl_convolution_backward_data_desc_init(&bd, dnnl_convolution_direct, &any_src, &any_w, &any_dst,
                                                 strides, pad, pad), "backward-data descriptor");
    TRY(dnnl_primitive_desc_create(&p->bpd, &bd, attr, shared_engine, p->fpd), "backward-data primitive descriptor");
    TRY(dnnl_convolution_backward_weights_desc_init(&wdesc, dnnl_convolution_direct, &any_src, &any_w, NULL, &any_dst,
                                                    strides, pad, pad), "backward-weights descriptor");
    TRY(dnnl_primitive_desc_create(&p->wpd, &wdesc, attr, shared_engine, p->fpd), "backward-weights primitive descriptor");
    TRY(dnnl_primitive_create(&p->fwd, p->fpd), "forward primitive");
    TRY(dnnl_primitive_create(&p->bwd, p->bpd), "backward-data primitive");
    TRY(dnnl_primitive_create(&p->bww, p->wpd), "backward-weights primitive");

    copy_md(&p->f_src, p->fpd, dnnl_query_src_md); copy_md(&p->f_w, p->fpd, dnnl_query_weights_md);
    copy_md(&p->f_dst, p->fpd, dnnl_query_dst_md); copy_md(&p->f_pad, p->fpd, dnnl_query_scratchpad_md);
    copy_md(&p->b_dsrc, p->bpd, dnnl_query_diff_src_md); copy_md(&p->b_w, p->bpd, dnnl_query_weights_md);
    copy_md(&p->b_ddst, p->bpd, dnnl_query_diff_dst_md); copy_md(&p->b_pad, p->bpd, dnnl_query_scratchpad_md);
    copy_md(&p->w_src, p->wpd, dnnl_query_src_md); copy_md(&p->w_dw, p->wpd, dnnl_query_diff_weights_md);
    copy_md(&p->w_ddst, p->wpd, dnnl_query_diff_dst_md); copy_md(&p->w_pad, p->wpd, dnnl_query_scratchpad_md);

    dnnl_status_t st = dnnl_success;
    const dnnl_memory_desc_t *from[N_REORDERS] = {&p->user_src, &p->f_dst, &p->user_w, &p->user_dst, &p->b_dsrc,
                                                  &p->user_w, &p->user_src, &p->user_dst, &p->w_dw};
    const dnnl_memory_desc_t *to[N_REORDERS] = {&p->f_src, &p->user_dst, &p->f_w, &p->b_ddst, &p->user_src,
                                                &p->b_w, &p->w_src, &p->w_ddst, &p->user_w};
    for (int i = 0; i < N_REORDERS; i++) {
        p->reorder[i] = make_reorder(from[i], to[i], &st);
        if (st != dnnl_success) { snprintf(err, err_len, "oneDNN: reorder %d failed (status %d)", i, (int)st); goto fail; }
    }
    size_t f = (p->reorder[R_SRC_F] ? floats(&p->f_src) : 0) + (p->reorder[R_DST_F] ? floats(&p->f_dst) : 0) + floats(&p->f_pad);
    size_t b = (p->reorder[R_DDST_B] ? floats(&p->b_ddst) : 0) + (p->reorder[R_DSRC_B] ? floats(&p->b_dsrc) : 0) + floats(&p->b_pad);
    size_t w = (p->reorder[R_SRC_W] ? floats(&p->w_src) : 0) + (p->reorder[R_DDST_W] ? floats(&p->w_ddst) : 0) + floats(&p->w_pad);
    p->scratch_floats = f > b ? (f > w ? f : w) : (b > w ? b : w);
    // dqss_dnnl_conv_backward: dy in the layout both backward passes share, x, dx, and the larger scratchpad.
    size_t both = (p->reorder[R_DDST_W] ? floats(&p->w_ddst) : 0) + (p->reorder[R_SRC_W] ? floats(&p->w_src) : 0)
                + (p->reorder[R_DDST_B] ? floats(&p->b_ddst) : 0) + (p->reorder[R_DSRC_B] ? floats(&p->b_dsrc) : 0)
                + (floats(&p->b_pad) > floats(&p->w_pad) ? floats(&p->b_pad) : floats(&p->w_pad));
    if (both > p->scratch_floats) p->scratch_floats = both;
    if (attr) dnnl_primitive_attr_destroy(attr);
    return p;
fail:
    if (attr) dnnl_primitive_attr_destroy(attr);
    dqss_dnnl_conv_destroy(p);
    return NULL;
}

void dqss_dnnl_conv_destroy(dqss_dnnl_conv *p) {
    if (!p) return;
    for (int i = 0; i < N_REORDERS; i++) if (p->reorder[i]) dnnl_primitive_destroy(p->reorder[i]);
    if (p->fwd) dnnl_primitive_destroy(p->fwd);
    if (p->bwd) dnnl_primitive_destroy(p->bwd);
    if (p->bww) dnnl_primitive_destroy(p->bww);
    if (p->fpd) dnnl_primitive_desc_destroy(p->fpd);
    if (p->bpd) dnnl_primitive_desc_destroy(p->bpd);
    if (p->wpd) dnnl_primitive_desc_destroy(p->wpd);
    free(p);
}

size_t dqss_dnnl_conv_scratch_floats(const dqss_dnnl_conv *p) { return p->scratch_floats; }
size_t dqss_dnnl_conv_forward_weight_floats(const dqss_dnnl_conv *p) { return floats(&p->f_w); }
size_t dqss_dnnl_conv_backward_weight_floats(const dqss_dnnl_conv *p) { return floats(&p->b_w); }
size_t dqss_dnnl_conv_weight_gradient_floats(const dqss_dnnl_conv *p) { return floats(&p->w_dw); }

const char *dqss_dnnl_conv_impl(const dqss_dnnl_conv *p, int pass) {
    const char *s = "?";
    dnnl_primitive_desc_query(pass == 0 ? p->fpd : pass == 1 ? p->bpd : p->wpd, dnnl_query_impl_info_str, 0, &s);
    return s;
}

// One execution: memory objects over the caller's pointers (created and destroyed here: a few hundred
// bytes each), a stream of this call, run, wait.
typedef struct { int arg; const dnnl_memory_desc_t *md; const void *ptr; } arg_t;

static int run(dnnl_primitive_t prim, int nargs, const arg_t *args) {
    dnnl_memory_t mem[6] = {0};
    dnnl_exec_arg_t ex[6];
    dnnl_stream_t s = NULL;
    dnnl_status_t st = dnnl_stream_create(&s, shared_engine, dnnl_stream_default_flags);
    for (int i = 0; i < nargs && st == dnnl_success; i++) {
        st = dnnl_memory_create(&mem[i], args[i].md, shared_engine, (void *)args[i].ptr);
        ex[i].arg = args[i].arg; ex[i].memory = mem[i];
    }
    if (st == dnnl_success) st = dnnl_primitive_execute(prim, s, nargs, ex);
    if (st == dnnl_success) st = dnnl_stream_wait(s);
    for (int i = 0; i < nargs; i++) if (mem[i]) dnnl_memory_destroy(mem[i]);
    if (s) dnnl_stream_destroy(s);
    return (int)st;
}

static int reorder(dnnl_primitive_t r, const dnnl_memory_desc_t *from, const void *src,
                   const dnnl_memory_desc_t *to, void *dst) {
    arg_t a[2] = {{DNNL_ARG_FROM, from, src}, {DNNL_ARG_TO, to, dst}};
    return run(r, 2, a);
}

int dqss_dnnl_conv_prepare_weights(const dqss_dnnl_conv *p, const float *oihw, float *fwd, float *bwd) {
    omp_set_num_threads(1);
    int st = 0;
    if (fwd) st = p->reorder[R_W_F] ? reorder(p->reorder[R_W_F], &p->user_w, oihw, &p->f_w, fwd)
                                    : (memcpy(fwd, oihw, dnnl_memory_desc_get_size(&p->user_w)), 0);
    if (st == 0 && bwd) st = p->reorder[R_W_B] ? reorder(p->reorder[R_W_B], &p->user_w, oihw, &p->b_w, bwd)
                                               : (memcpy(bwd, oihw, dnnl_memory_desc_get_size(&p->user_w)), 0);
    return st;
}

int dqss_dnnl_conv_forward(const dqss_dnnl_conv *p, const float *x, const float *w, const float *bias,
                           float *y, float *scratch) {
    omp_set_num_threads(1);
    float *s = scratch;
    const float *src = x; float *dst = y;
    int st = 0;
    if (p->reorder[R_SRC_F]) { st = reorder(p->reorder[R_SRC_F], &p->user_src, x, &p->f_src, s); src = s; s += floats(&p->f_src); }
    if (p->reorder[R_DST_F]) { dst = s; s += floats(&p->f_dst); }
    if (st) return st;
    arg_t a[5] = {{DNNL_ARG_SRC, &p->f_src, src}, {DNNL_ARG_WEIGHTS, &p->f_w, w}, {DNNL_ARG_DST, &p->f_dst, dst},
                  {DNNL_ARG_SCRATCHPAD, &p->f_pad, s}, {DNNL_ARG_BIAS, &p->bias, bias}};
    st = run(p->fwd, p->has_bias ? 5 : 4, a);
    if (st == 0 && p->reorder[R_DST_F]) st = reorder(p->reorder[R_DST_F], &p->f_dst, dst, &p->user_dst, y);
    return st;
}

int dqss_dnnl_conv_weight_gradient_to_oihw(const dqss_dnnl_conv *p, const float *dw, float *oihw) {
    omp_set_num_threads(1);
    if (!p->reorder[R_DW_W]) { memcpy(oihw, dw, dnnl_memory_desc_get_size(&p->user_w)); return 0; }
    return reorder(p->reorder[R_DW_W], &p->w_dw, dw, &p->user_w, oihw);
}

int dqss_dnnl_conv_backward(const dqss_dnnl_conv *p, const float *x, const float *dy, const float *w, float *dx,
                            float *dw, float *scratch) {
    omp_set_num_threads(1);
    float *s = scratch;
    int st = 0;
    // dy converted once when both passes want it in the same layout (the usual case).
    const float *ddst_w = dy, *ddst_b = dy, *src = x;
    if (dw && p->reorder[R_DDST_W]) {
        st = reorder(p->reorder[R_DDST_W], &p->user_dst, dy, &p->w_ddst, s); ddst_w = s; s += floats(&p->w_ddst);
    }
    if (st == 0 && dx && p->reorder[R_DDST_B]) {
        if (dw && p->reorder[R_DDST_W] && dnnl_memory_desc_equal(&p->w_ddst, &p->b_ddst)) ddst_b = ddst_w;
        else { st = reorder(p->reorder[R_DDST_B], &p->user_dst, dy, &p->b_ddst, s); ddst_b = s; s += floats(&p->b_ddst); }
    }
    if (st == 0 && dw) {
        if (p->reorder[R_SRC_W]) { st = reorder(p->reorder[R_SRC_W], &p->user_src, x, &p->w_src, s); src = s; s += floats(&p->w_src); }
        arg_t a[4] = {{DNNL_ARG_SRC, &p->w_src, src}, {DNNL_ARG_DIFF_DST, &p->w_ddst, ddst_w},
                      {DNNL_ARG_DIFF_WEIGHTS, &p->w_dw, dw}, {DNNL_ARG_SCRATCHPAD, &p->w_pad, s}};
        if (st == 0) st = run(p->bww, 4, a);
    }
    if (st == 0 && dx) {
        float *dsrc = dx;
        if (p->reorder[R_DSRC_B]) { dsrc = s; s += floats(&p->b_dsrc); }
        arg_t b[4] = {{DNNL_ARG_DIFF_DST, &p->b_ddst, ddst_b}, {DNNL_ARG_WEIGHTS, &p->b_w, w},
                      {DNNL_ARG_DIFF_SRC, &p->b_dsrc, dsrc}, {DNNL_ARG_SCRATCHPAD, &p->b_pad, s}};
        st = run(p->bwd, 4, b);
        if (st == 0 && p->reorder[R_DSRC_B]) st = reorder(p->reorder[R_DSRC_B], &p->b_dsrc, dsrc, &p->user_src, dx);
    }
    return st;
}

int dqss_dnnl_conv_same_gradient_layout(const dqss_dnnl_conv *a, const dqss_dnnl_conv *b) {
    return dnnl_memory_desc_equal(&a->w_dw, &b->w_dw);
}
