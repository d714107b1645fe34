#ifndef DQSS_DNNL_H
#define DQSS_DNNL_H
// A small C layer over oneDNN (Debian libdnnl-dev, C API of oneDNN 2.x): one 2-D convolution of a fixed
// geometry ("plan") with its forward, backward-data and backward-weights primitives and the reorders
// between the caller's plain NCHW / OIHW (GOIHW when grouped) arrays and the blocked layouts oneDNN's
// JIT kernels want. Every call runs on ONE thread (the caller splits the batch into chunks and runs
// chunks in parallel): results then do not depend on the thread count, and oneDNN's OpenMP team never
// competes with the caller's threads. The caller provides all memory; a plan allocates nothing per call
// except oneDNN's small memory/stream objects.
#include <stddef.h>

typedef struct dqss_dnnl_conv dqss_dnnl_conv;

/// Geometry of one chunk: n images of ic x ih x iw -> oc channels, kh x kw kernel, stride, padding
/// (symmetric), groups. has_bias: the forward adds a bias. Returns NULL and a message in `err` when oneDNN
/// has no implementation or the geometry is invalid.
dqss_dnnl_conv *dqss_dnnl_conv_create(int n, int ic, int ih, int iw, int oc, int kh, int kw, int stride,
                                      int padding, int groups, int has_bias, char *err, size_t err_len);
void dqss_dnnl_conv_destroy(dqss_dnnl_conv *plan);

/// Floats of per-thread scratch one call needs (blocked activations + oneDNN's scratchpad), for the
/// largest of the three passes.
size_t dqss_dnnl_conv_scratch_floats(const dqss_dnnl_conv *plan);
/// Floats of the weights in the forward / backward-data layout, and of the weight gradient in the
/// backward-weights layout (may exceed oc*ic/g*kh*kw: blocked layouts pad channels).
size_t dqss_dnnl_conv_forward_weight_floats(const dqss_dnnl_conv *plan);
size_t dqss_dnnl_conv_backward_weight_floats(const dqss_dnnl_conv *plan);
size_t dqss_dnnl_conv_weight_gradient_floats(const dqss_dnnl_conv *plan);
/// Names of the implementations oneDNN chose (e.g. "jit:avx512_core"), for reports.
const char *dqss_dnnl_conv_impl(const dqss_dnnl_conv *plan, int pass);

/// Weights OIHW -> the forward layout (`fwd`, may be NULL) and the backward-data layout (`bwd`, may be NULL).
int dqss_dnnl_conv_prepare_weights(const dqss_dnnl_conv *plan, const float *oihw, float *fwd, float *bwd);
/// y (NCHW, n images) = conv(x, W) (+ bias). `w` in the forward layout.
int dqss_dnnl_conv_forward(const dqss_dnnl_conv *plan, const float *x, const float *w, const float *bias,
                           float *y, float *scratch);
/// The backward passes of a chunk: dW (backward-weights layout, overwritten) unless `dw` is NULL, dx (NCHW,
/// overwritten; `w` in the backward-data layout) unless `dx` is NULL; dy converted once for both.
int dqss_dnnl_conv_backward(const dqss_dnnl_conv *plan, const float *x, const float *dy, const float *w, float *dx,
                            float *dw, float *scratch);
/// 1 when two plans' weight gradients share a layout (their per-chunk gradients can be summed as they are).
int dqss_dnnl_conv_same_gradient_layout(const dqss_dnnl_conv *a, const dqss_dnnl_conv *b);
/// A weight gradient in the backward-weights layout -> OIHW.
int dqss_dnnl_conv_weight_gradient_to_oihw(const dqss_dnnl_conv *plan, const float *dw, float *oihw);

#endif
