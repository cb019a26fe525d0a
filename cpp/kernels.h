// kernels.h: the registry of every kernel chosen at run time by instruction set, and the
// public C++ entry points (what cython/_native.pxd declares).
//
// Each family source (gemm/gemm.cpp, activation.cpp, ...) is compiled once per ISA into
// namespace fastnn::<isa> and defines the functions named in FASTNN_KERNELS. The per-ISA
// table (kernel_table.cpp) collects their addresses; dispatch.cpp picks one table at
// import (FASTNN_ISA or the best the CPU supports) and the entry points below forward
// through it. To add a kernel: one line here, its definition in its family file.
//
// X(return type, name, (parameters), (argument names))
#pragma once
#include <stdint.h>

#include "activation.h"
#include "gemm/gemm.h"
#include "norm.h"
#include "optim.h"

#define FASTNN_KERNELS(X)                                                                    \
    X(void, gemm_f32, (const GemmArgs<float>& g), (g))                                       \
    X(void, gemm_f64, (const GemmArgs<double>& g), (g))                                      \
    X(void, gemm_ref_f32, (const GemmArgs<float>& g), (g))                                   \
    X(void, gemm_ref_f64, (const GemmArgs<double>& g), (g))                                  \
    X(void, gemm_tile_f32, (int* mr, int* nr), (mr, nr))                                     \
    X(void, gemm_tile_f64, (int* mr, int* nr), (mr, nr))                                     \
    /* activation.cpp: element-wise activations (activation_impl.h) */ \
    X(void, act_forward_f32, (float* y, const float* x, int64_t n, int act, const ActParams& p), (y, x, n, act, p)) \
    X(void, act_forward_f64, (double* y, const double* x, int64_t n, int act, const ActParams& p), (y, x, n, act, p)) \
    X(void, act_backward_f32, (float* dx, const float* dy, const float* x, const float* y, int64_t n, int act, const ActParams& p), (dx, dy, x, y, n, act, p)) \
    X(void, act_backward_f64, (double* dx, const double* dy, const double* x, const double* y, int64_t n, int act, const ActParams& p), (dx, dy, x, y, n, act, p)) \
    /* dropout.cpp: counter-based dropout masks and RReLU slopes (rng.h) */ \
    X(void, dropout_forward_f32, (float* y, const float* x, int64_t n, uint64_t seed, uint64_t stream, uint64_t keep32, double scale), (y, x, n, seed, stream, keep32, scale)) \
    X(void, dropout_backward_f32, (float* dx, const float* dy, int64_t n, uint64_t seed, uint64_t stream, uint64_t keep32, double scale), (dx, dy, n, seed, stream, keep32, scale)) \
    X(void, rrelu_slopes_f32, (float* out, int64_t n, double lower, double upper, uint64_t seed, uint64_t stream), (out, n, lower, upper, seed, stream)) \
    X(void, dropout_forward_f64, (double* y, const double* x, int64_t n, uint64_t seed, uint64_t stream, uint64_t keep32, double scale), (y, x, n, seed, stream, keep32, scale)) \
    X(void, dropout_backward_f64, (double* dx, const double* dy, int64_t n, uint64_t seed, uint64_t stream, uint64_t keep32, double scale), (dx, dy, n, seed, stream, keep32, scale)) \
    X(void, rrelu_slopes_f64, (double* out, int64_t n, double lower, double upper, uint64_t seed, uint64_t stream), (out, n, lower, upper, seed, stream)) \
    /* norm.cpp: BatchNorm / LayerNorm, (B, F) row-major */ \
    X(void, batchnorm_forward_f32, (float* y, float* mean, float* invstd, const float* x, const float* gamma, const float* beta, int64_t B, int64_t F, double eps, float* running_mean, float* running_var, double momentum, const BnPost& post), (y, mean, invstd, x, gamma, beta, B, F, eps, running_mean, running_var, momentum, post)) \
    X(void, batchnorm_inference_f32, (float* y, const float* x, const float* mean, const float* var, const float* gamma, const float* beta, int64_t B, int64_t F, double eps), (y, x, mean, var, gamma, beta, B, F, eps)) \
    X(void, batchnorm_backward_f32, (float* dx, float* dgamma, float* dbeta, const float* dy, const float* x, const float* mean, const float* invstd, const float* gamma, int64_t B, int64_t F, const float* post_y, double post_scale), (dx, dgamma, dbeta, dy, x, mean, invstd, gamma, B, F, post_y, post_scale)) \
    X(void, layernorm_forward_f32, (float* y, float* mean, float* invstd, const float* x, const float* gamma, const float* beta, int64_t B, int64_t F, double eps), (y, mean, invstd, x, gamma, beta, B, F, eps)) \
    X(void, layernorm_backward_f32, (float* dx, float* dgamma, float* dbeta, const float* dy, const float* x, const float* mean, const float* invstd, const float* gamma, int64_t B, int64_t F), (dx, dgamma, dbeta, dy, x, mean, invstd, gamma, B, F)) \
    X(void, batchnorm_forward_f64, (double* y, double* mean, double* invstd, const double* x, const double* gamma, const double* beta, int64_t B, int64_t F, double eps, double* running_mean, double* running_var, double momentum, const BnPost& post), (y, mean, invstd, x, gamma, beta, B, F, eps, running_mean, running_var, momentum, post)) \
    X(void, batchnorm_inference_f64, (double* y, const double* x, const double* mean, const double* var, const double* gamma, const double* beta, int64_t B, int64_t F, double eps), (y, x, mean, var, gamma, beta, B, F, eps)) \
    X(void, batchnorm_backward_f64, (double* dx, double* dgamma, double* dbeta, const double* dy, const double* x, const double* mean, const double* invstd, const double* gamma, int64_t B, int64_t F, const double* post_y, double post_scale), (dx, dgamma, dbeta, dy, x, mean, invstd, gamma, B, F, post_y, post_scale)) \
    X(void, layernorm_forward_f64, (double* y, double* mean, double* invstd, const double* x, const double* gamma, const double* beta, int64_t B, int64_t F, double eps), (y, mean, invstd, x, gamma, beta, B, F, eps)) \
    X(void, layernorm_backward_f64, (double* dx, double* dgamma, double* dbeta, const double* dy, const double* x, const double* mean, const double* invstd, const double* gamma, int64_t B, int64_t F), (dx, dgamma, dbeta, dy, x, mean, invstd, gamma, B, F)) \
    /* loss.cpp: fused losses; return the reduced loss, write grad when not null */ \
    X(double, softmax_cross_entropy_labels_f32, (float* grad, const float* logits, const int64_t* labels, int64_t B, int64_t C, double label_smoothing, int mean), (grad, logits, labels, B, C, label_smoothing, mean)) \
    X(double, softmax_cross_entropy_probs_f32, (float* grad, const float* logits, const float* probs, int64_t B, int64_t C, double label_smoothing, int mean), (grad, logits, probs, B, C, label_smoothing, mean)) \
    X(double, mse_loss_f32, (float* grad, const float* pred, const float* target, int64_t n, int mean), (grad, pred, target, n, mean)) \
    X(double, bce_with_logits_f32, (float* grad, const float* pred, const float* target, int64_t n, int mean), (grad, pred, target, n, mean)) \
    X(double, huber_loss_f32, (float* grad, const float* pred, const float* target, int64_t n, double delta, int mean), (grad, pred, target, n, delta, mean)) \
    X(double, softmax_cross_entropy_labels_f64, (double* grad, const double* logits, const int64_t* labels, int64_t B, int64_t C, double label_smoothing, int mean), (grad, logits, labels, B, C, label_smoothing, mean)) \
    X(double, softmax_cross_entropy_probs_f64, (double* grad, const double* logits, const double* probs, int64_t B, int64_t C, double label_smoothing, int mean), (grad, logits, probs, B, C, label_smoothing, mean)) \
    X(double, mse_loss_f64, (double* grad, const double* pred, const double* target, int64_t n, int mean), (grad, pred, target, n, mean)) \
    X(double, bce_with_logits_f64, (double* grad, const double* pred, const double* target, int64_t n, int mean), (grad, pred, target, n, mean)) \
    X(double, huber_loss_f64, (double* grad, const double* pred, const double* target, int64_t n, double delta, int mean), (grad, pred, target, n, delta, mean)) \
    X(void, bias_grad_f32, (float* db, const float* dy, int64_t rows, int64_t cols), (db, dy, rows, cols)) \
    /* optim.cpp: fused optimizer updates (optim.h) and parameter-buffer utilities */ \
    X(void, sgd_step_f32, (float* p, float* buf, const float* g, int64_t n, const SgdHyper& h), (p, buf, g, n, h)) \
    X(void, adagrad_step_f32, (float* p, float* sum, const float* g, int64_t n, const AdagradHyper& h), (p, sum, g, n, h)) \
    X(void, adadelta_step_f32, (float* p, float* sq, float* acc, const float* g, int64_t n, const AdadeltaHyper& h), (p, sq, acc, g, n, h)) \
    X(void, rmsprop_step_f32, (float* p, float* sq, float* gavg, float* buf, const float* g, int64_t n, const RmspropHyper& h), (p, sq, gavg, buf, g, n, h)) \
    X(void, adam_step_f32, (float* p, float* m1, float* m2, float* m2max, const float* g, int64_t n, const AdamHyper& h), (p, m1, m2, m2max, g, n, h)) \
    X(double, sum_squares_f32, (const float* const* bufs, const int64_t* sizes, int64_t count), (bufs, sizes, count)) \
    X(double, max_abs_f32, (const float* const* bufs, const int64_t* sizes, int64_t count), (bufs, sizes, count)) \
    X(double, nonfinite_probe_f32, (const float* const* bufs, const int64_t* sizes, int64_t count), (bufs, sizes, count)) \
    X(void, scale_inplace_f32, (float* x, int64_t n, double alpha), (x, n, alpha)) \
    X(void, clamp_inplace_f32, (float* x, int64_t n, double lo, double hi), (x, n, lo, hi)) \
    X(void, renorm_rows_f32, (float* w, int64_t rows, int64_t cols, double max_norm), (w, rows, cols, max_norm)) \
    X(double, l1_penalty_grad_f32, (float* grad, const float* w, int64_t n, double strength), (grad, w, n, strength)) \
    X(double, l2_penalty_grad_f32, (float* grad, const float* w, int64_t n, double strength), (grad, w, n, strength)) \
    X(void, sgd_step_f64, (double* p, double* buf, const double* g, int64_t n, const SgdHyper& h), (p, buf, g, n, h)) \
    X(void, adagrad_step_f64, (double* p, double* sum, const double* g, int64_t n, const AdagradHyper& h), (p, sum, g, n, h)) \
    X(void, adadelta_step_f64, (double* p, double* sq, double* acc, const double* g, int64_t n, const AdadeltaHyper& h), (p, sq, acc, g, n, h)) \
    X(void, rmsprop_step_f64, (double* p, double* sq, double* gavg, double* buf, const double* g, int64_t n, const RmspropHyper& h), (p, sq, gavg, buf, g, n, h)) \
    X(void, adam_step_f64, (double* p, double* m1, double* m2, double* m2max, const double* g, int64_t n, const AdamHyper& h), (p, m1, m2, m2max, g, n, h)) \
    X(double, sum_squares_f64, (const double* const* bufs, const int64_t* sizes, int64_t count), (bufs, sizes, count)) \
    X(double, max_abs_f64, (const double* const* bufs, const int64_t* sizes, int64_t count), (bufs, sizes, count)) \
    X(double, nonfinite_probe_f64, (const double* const* bufs, const int64_t* sizes, int64_t count), (bufs, sizes, count)) \
    X(void, scale_inplace_f64, (double* x, int64_t n, double alpha), (x, n, alpha)) \
    X(void, clamp_inplace_f64, (double* x, int64_t n, double lo, double hi), (x, n, lo, hi)) \
    X(void, renorm_rows_f64, (double* w, int64_t rows, int64_t cols, double max_norm), (w, rows, cols, max_norm)) \
    X(double, l1_penalty_grad_f64, (double* grad, const double* w, int64_t n, double strength), (grad, w, n, strength)) \
    X(double, l2_penalty_grad_f64, (double* grad, const double* w, int64_t n, double strength), (grad, w, n, strength)) \
    X(void, bias_grad_f64, (double* db, const double* dy, int64_t rows, int64_t cols), (db, dy, rows, cols)) \
    /* gather.cpp: rows of any element type, as bytes */ \
    X(int64_t, take_rows, (unsigned char* out, const unsigned char* x, int64_t x_rows, int64_t row_bytes, const int64_t* index, int64_t n), (out, x, x_rows, row_bytes, index, n))

namespace fastnn {

#define FASTNN_DECLARE(ret, name, params, args) ret name params;
FASTNN_KERNELS(FASTNN_DECLARE)

struct KernelTable {
    const char* isa;
#define FASTNN_TABLE_FIELD(ret, name, params, args) ret(*name) params;
    FASTNN_KERNELS(FASTNN_TABLE_FIELD)
#undef FASTNN_TABLE_FIELD
};

// Select the kernel set: "" or "auto" = best supported; "avx512", "avx2", "generic".
// Returns 0 on success, -1 for an unknown name, -2 when the CPU lacks the instructions.
int select_isa(const char* name);
const char* current_isa();
// Comma-separated ISAs this CPU can run, best first.
const char* supported_isas();
// 1 in the developer check build whose avx512 kernels run over SIMDe's emulation.
int avx512_emulated();
const char* openmp_runtime();

// A multi-tensor optimizer step: rows of a rule's buffers (param, grad, *state), row r's
// `width` pointers at ptrs[r·width] (null where absent), sizes[r] elements of dtype f64[r].
// update(row, n, f64, hyper, values) runs the rule's kernel on n elements of a row, its
// pointers advanced to the piece (null where absent), with the rows' shared
// hyper-parameters and the row's own values_per_row doubles at values + r·values_per_row.
// width is at most kMaxRowWidth (else nothing is updated and the result is false). The rows
// are cut as one flat range of Σ sizes elements into one contiguous piece per thread
// (threads_for(Σ sizes, kOptimGrain)), so many small tensors are spread over the threads as
// well as one large one; the updates are element-wise, so neither the cut nor the thread
// count changes a bit.
// check >= 0: column `check` (the gradients) is first tested for inf/NaN, each thread its
// own piece; if any is found nothing is updated and the result is false (the trainer's
// divergence guard, without a separate pass over the gradients). Otherwise true.
constexpr int kMaxRowWidth = 8;
typedef void (*RowUpdate)(void* const* row, int64_t n, int f64, const void* hyper, const double* values);
bool update_rows(void* const* ptrs, int width, const int64_t* sizes, const char* f64, int64_t rows,
                 RowUpdate update, const void* hyper, const double* values, int values_per_row, int check);

}  // namespace fastnn
