// loss.cpp: fused loss kernels returning the reduced loss and (optionally) its gradient;
// compiled once per ISA.
//
//   softmax_cross_entropy_labels_<dt>(grad, logits (B,C), labels int64 (B,), B, C, ε, mean)
//   softmax_cross_entropy_probs_<dt>(grad, logits (B,C), probs (B,C), B, C, ε, mean)
//       per row: −Σ_c t_c·log softmax(x)_c, t = (1−ε)·onehot | (1−ε)·probs, + ε/C;
//       log softmax = x − max − log Σ e^(x − max) (ATen's form: a row with +inf or only
//       −inf gives NaN, −inf elsewhere is fine); grad = p − t (labels), p·Σt − t (probs)
//   mse_loss_<dt>(grad, pred, target, n, mean)          Σ d², grad 2d, d = pred − target
//   bce_with_logits_<dt>(grad, pred, target, n, mean)   Σ max(x,0) − xy + log1p(e^−|x|),
//                                                        grad σ(x) − y
//   huber_loss_<dt>(grad, pred, target, n, δ, mean)     ½d² for |d| < δ else δ(|d| − ½δ),
//                                                        grad clip(d, −δ, δ)
// mean != 0: the loss and grad are divided by B (cross-entropy) or n (the others), as in
// PyTorch. grad (the input gradient) is overwritten, or not computed when null; it may
// alias pred for the element-wise losses, not logits (it holds e^(x − max) mid-row).
// Semantics match fastnn/reference/loss.py.
//
// Determinism: rows (or elements) are cut into blocks whose size depends only on the
// problem size (at most kMaxBlocks blocks); each block's loss is summed in a fixed order
// in double, stored by block index, and the blocks are added in index order. The thread
// count only decides which thread computes which block.
#include <math.h>

#include "kernels.h"
#include "parallel.h"
#include "simd.h"
#include "threading.h"
#include "vmath.h"

namespace fastnn {
namespace FASTNN_ISA_NS {

namespace {

constexpr int64_t kMaxBlocks = 256;

// Σ over [0, n) of block_sum(i0, i1) for fixed blocks of at least min_block items.
template <class Body> double blocked_sum(int64_t n, int64_t min_block, int64_t work_per_item, const Body& block_sum) {
    if (n <= 0) return 0.0;
    int64_t bs = imax(min_block, (n + kMaxBlocks - 1) / kMaxBlocks);
    const int64_t nb = (n + bs - 1) / bs;
    double part[kMaxBlocks];
    const int nt = (int)imin(nb, threads_for(n * work_per_item, int64_t(1) << 15));
    parallel_for(nb, nt, [&](int64_t b) { part[b] = block_sum(b * bs, imin(n, (b + 1) * bs)); });
    double s = 0.0;
    for (int64_t b = 0; b < nb; ++b) s += part[b];
    return s;
}

template <class T> FASTNN_INLINE T row_max(const T* x, int64_t C) {
    using V = Vec<T>;
    V m = V::set1(-__builtin_inf());
    int64_t c = 0;
    for (; c + V::W <= C; c += V::W) m = vmax(m, V::load(x + c));
    T buf[V::W];
    m.store(buf);
    T r = buf[0];
    for (int l = 1; l < V::W; ++l) r = buf[l] > r ? buf[l] : r;
    for (; c < C; ++c) r = x[c] > r ? x[c] : r;
    return r;
}

// Σ_c e^(x_c − mx); also writes e into out when out is not null.
template <class T> FASTNN_INLINE T row_sumexp(T* out, const T* x, int64_t C, T mx) {
    using V = Vec<T>;
    const V m = V::set1(mx);
    V acc = V::zero();
    int64_t c = 0;
    for (; c + V::W <= C; c += V::W) {
        V e = vexp(V::load(x + c) - m);
        if (out) e.store(out + c);
        acc = acc + e;
    }
    if (c < C) {  // masked tail: padding lanes hold e^(0 − mx), not added
        const int r = (int)(C - c);
        V e = vexp(V::load_n(x + c, r) - m);
        if (out) e.store_n(out + c, r);
        T buf[V::W];
        e.store(buf);
        T t = hsum(acc);
        for (int l = 0; l < r; ++l) t += buf[l];
        return t;
    }
    return hsum(acc);
}

template <class T>
double xent_labels_impl(T* grad, const T* logits, const int64_t* labels, int64_t B, int64_t C, double eps, int mean) {
    const T keep = T(1.0 - eps), spread = T(eps / (double)C), scale = T(mean ? 1.0 / (double)B : 1.0);
    return blocked_sum(B, 16, C, [&](int64_t r0, int64_t r1) {
        double s = 0.0;
        for (int64_t r = r0; r < r1; ++r) {
            const T* x = logits + r * C;
            T* g = grad ? grad + r * C : nullptr;
            const T mx = row_max(x, C);
            const T se = row_sumexp(g, x, C, mx);
            const T shift = mx + T(__builtin_log((double)se));  // logp_c = x_c − shift
            const int64_t lab = labels[r];
            double loss = -(double)((x[lab] - shift) * keep);
            if (eps != 0.0) {
                double sl = 0.0;
                for (int64_t c = 0; c < C; ++c) sl += (double)(x[c] - shift);
                loss -= sl * (double)spread;
            }
            s += loss;
            if (g) {
                const T inv = T(1) / se;
                for (int64_t c = 0; c < C; ++c) g[c] = g[c] * inv - spread;
                g[lab] -= keep;
                if (mean)
                    for (int64_t c = 0; c < C; ++c) g[c] *= scale;
            }
        }
        return s;
    }) * (mean ? 1.0 / (double)B : 1.0);
}

template <class T>
double xent_probs_impl(T* grad, const T* logits, const T* probs, int64_t B, int64_t C, double eps, int mean) {
    const T keep = T(1.0 - eps), spread = T(eps / (double)C), scale = T(mean ? 1.0 / (double)B : 1.0);
    return blocked_sum(B, 16, C, [&](int64_t r0, int64_t r1) {
        double s = 0.0;
        for (int64_t r = r0; r < r1; ++r) {
            const T* x = logits + r * C;
            const T* t = probs + r * C;
            T* g = grad ? grad + r * C : nullptr;
            const T mx = row_max(x, C);
            const T se = row_sumexp(g, x, C, mx);
            const T shift = mx + T(__builtin_log((double)se));
            double loss = 0.0, tsum = 0.0;
            for (int64_t c = 0; c < C; ++c) {
                const T tc = eps != 0.0 ? t[c] * keep + spread : t[c];
                loss -= (double)(tc * (x[c] - shift));
                tsum += (double)tc;
            }
            s += loss;
            if (g) {
                const T ts = T(tsum), inv = T(1) / se;
                for (int64_t c = 0; c < C; ++c) {
                    const T tc = eps != 0.0 ? t[c] * keep + spread : t[c];
                    g[c] = (g[c] * inv * ts - tc) * scale;
                }
            }
        }
        return s;
    }) * (mean ? 1.0 / (double)B : 1.0);
}

// Element-wise losses: Op::loss(d or x, y) and Op::grad over Vec<T>, summed per block.
template <class T, class Op>
double elementwise_loss(T* grad, const T* pred, const T* target, int64_t n, int mean, const Op& op) {
    using V = Vec<T>;
    const T gscale = T(mean ? 1.0 / (double)n : 1.0);
    const double s = blocked_sum(n, 4096, 4, [&](int64_t i0, int64_t i1) {
        const V gs = V::set1(gscale);
        double acc = 0.0;
        int64_t i = i0;
        for (; i + V::W <= i1; i += V::W) {
            V p = V::load(pred + i), t = V::load(target + i);
            acc += (double)hsum(op.loss(p, t));
            if (grad) (op.grad(p, t) * gs).store(grad + i);
        }
        if (i < i1) {
            const int r = (int)(i1 - i);
            V p = V::load_n(pred + i, r), t = V::load_n(target + i, r);
            T buf[V::W];
            op.loss(p, t).store(buf);
            for (int l = 0; l < r; ++l) acc += (double)buf[l];
            if (grad) (op.grad(p, t) * gs).store_n(grad + i, r);
        }
        return acc;
    });
    return mean ? s / (double)n : s;
}

template <class T> struct MseOp {
    FASTNN_INLINE Vec<T> loss(Vec<T> p, Vec<T> t) const { Vec<T> d = p - t; return d * d; }
    FASTNN_INLINE Vec<T> grad(Vec<T> p, Vec<T> t) const { Vec<T> d = p - t; return d + d; }
};

template <class T> struct BceOp {  // x = logit, y = target
    FASTNN_INLINE Vec<T> loss(Vec<T> x, Vec<T> y) const {
        return (vmax(Vec<T>::zero(), x) - x * y) + vlog1p(vexp(Vec<T>::zero() - vabs(x)));
    }
    FASTNN_INLINE Vec<T> grad(Vec<T> x, Vec<T> y) const { return vsigmoid(x) - y; }
};

template <class T> struct HuberOp {
    T delta;
    FASTNN_INLINE Vec<T> loss(Vec<T> p, Vec<T> t) const {
        const Vec<T> d = p - t, ad = vabs(d), dl = Vec<T>::set1(delta);
        return select(cmp_lt(ad, dl), Vec<T>::set1(T(0.5)) * d * d, dl * (ad - Vec<T>::set1(T(0.5)) * dl));
    }
    FASTNN_INLINE Vec<T> grad(Vec<T> p, Vec<T> t) const {
        const Vec<T> dl = Vec<T>::set1(delta);
        return vmin(dl, vmax(Vec<T>::zero() - dl, p - t));
    }
};

}  // namespace

#define FASTNN_LOSS_KERNELS(T, sfx)                                                                                 \
    double softmax_cross_entropy_labels_##sfx(T* grad, const T* logits, const int64_t* labels, int64_t B,         \
                                              int64_t C, double label_smoothing, int mean) {                      \
        return xent_labels_impl(grad, logits, labels, B, C, label_smoothing, mean);                               \
    }                                                                                                             \
    double softmax_cross_entropy_probs_##sfx(T* grad, const T* logits, const T* probs, int64_t B, int64_t C,      \
                                             double label_smoothing, int mean) {                                  \
        return xent_probs_impl(grad, logits, probs, B, C, label_smoothing, mean);                                 \
    }                                                                                                             \
    double mse_loss_##sfx(T* grad, const T* pred, const T* target, int64_t n, int mean) {                         \
        return elementwise_loss(grad, pred, target, n, mean, MseOp<T>{});                                         \
    }                                                                                                             \
    double bce_with_logits_##sfx(T* grad, const T* pred, const T* target, int64_t n, int mean) {                  \
        return elementwise_loss(grad, pred, target, n, mean, BceOp<T>{});                                         \
    }                                                                                                             \
    double huber_loss_##sfx(T* grad, const T* pred, const T* target, int64_t n, double delta, int mean) {         \
        return elementwise_loss(grad, pred, target, n, mean, HuberOp<T>{T(delta)});                               \
    }
FASTNN_LOSS_KERNELS(float, f32)
FASTNN_LOSS_KERNELS(double, f64)
#undef FASTNN_LOSS_KERNELS

}  // namespace FASTNN_ISA_NS
}  // namespace fastnn
