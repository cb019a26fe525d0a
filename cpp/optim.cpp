// optim.cpp: fused optimizer updates and parameter-buffer utilities (compiled once per ISA).
//
// Updates: one pass over flat buffers of N elements, each of θ, g and the state read once
// and written once (Adam f32: 28 bytes per parameter, KERNELS.md §7). Bandwidth-bound, so
// the loop body is the formula of optim.h in Vec<T> arithmetic of the buffer dtype,
// with the loop-invariant variant tests left to the branch predictor. Element-wise: a
// static split over threads (only for buffers of 2 × kGrain elements and more) cannot
// change a bit, and the partial last vector goes through the same code with masked
// loads and stores.
//
// Reductions (sum of squares, max |x|, the L1/L2 penalty sums) cut every buffer into
// fixed blocks of kSumBlock elements, sum each block in f64 over kLanes interleaved
// accumulators, store the partial by block index and add the partials in block order:
// the same bits for any thread count (DESIGN.md, Determinism).
#include <math.h>
#include <stdlib.h>

#include "kernels.h"
#include "parallel.h"
#include "simd.h"
#include "threading.h"

namespace fastnn {
namespace FASTNN_ISA_NS {

namespace {

constexpr int64_t kGrain = kOptimGrain;
constexpr int64_t kSumBlock = int64_t(1) << 13;  // elements per partial sum
constexpr int kLanes = 16;                       // f64 accumulators inside one block

// Loads and stores of a full vector, or of the first n lanes (the tail).
template <class T> struct Full {
    static FASTNN_INLINE Vec<T> ld(const T* p) { return Vec<T>::load(p); }
    static FASTNN_INLINE void st(T* p, Vec<T> x) { x.store(p); }
};
template <class T> struct Part {
    int n;
    FASTNN_INLINE Vec<T> ld(const T* p) const { return Vec<T>::load_n(p, n); }
    FASTNN_INLINE void st(T* p, Vec<T> x) const { x.store_n(p, n); }
};

// op(Full, i) for the vector starts i in [i0, i1). `op` arrives by value: a local copy the
// compiler keeps in registers, where a reference would be re-read after every store (SIMD
// stores may alias anything). Kernels' lambdas capture by value for the same reason.
template <class T, class Op> FASTNN_INLINE void run_vectors(int64_t i0, int64_t i1, Op op) {
    for (int64_t i = i0; i < i1; i += Vec<T>::W) op(Full<T>{}, i);
}

// op(io, i) for i = 0, W, 2W, ... < n; io is Full<T> or, for the last partial vector, Part<T>.
// Large n: one contiguous run of whole vectors per thread.
template <class T, class Op> void for_each_vec(int64_t n, const Op& op) {
    constexpr int W = Vec<T>::W;
    const int64_t nvec = n / W, body = nvec * W;
    const int nt = threads_for(n, kGrain);
    if (nt > 1) {
#pragma omp parallel for num_threads(nt) schedule(static)
        for (int c = 0; c < nt; ++c) run_vectors<T>(nvec * c / nt * W, nvec * (c + 1) / nt * W, op);
    } else {
        run_vectors<T>(0, body, op);
    }
    if (body < n) op(Part<T>{(int)(n - body)}, body);
}

// ---------------------------------------------------------------- updates

template <class T> void sgd_step_impl(T* p, T* buf, const T* g, int64_t n, const SgdHyper& h) {
    using V = Vec<T>;
    const V lr = V::set1((T)h.lr), mu = V::set1((T)h.momentum), keep = V::set1((T)(1.0 - h.dampening));
    const V wd = V::set1((T)h.weight_decay);
    const bool decay = h.weight_decay != 0.0, nesterov = h.nesterov, init = h.init_buffer;
    for_each_vec<T>(n, [=](auto io, int64_t i) {
        V x = io.ld(p + i), d = io.ld(g + i);
        if (decay) d = fmadd(wd, x, d);
        if (buf) {
            V b = init ? d : fmadd(mu, io.ld(buf + i), keep * d);
            io.st(buf + i, b);
            d = nesterov ? fmadd(mu, b, d) : b;
        }
        io.st(p + i, fnmadd(lr, d, x));
    });
}

template <class T> void adagrad_step_impl(T* p, T* sum, const T* g, int64_t n, const AdagradHyper& h) {
    using V = Vec<T>;
    const V clr = V::set1((T)h.clr), eps = V::set1((T)h.eps), wd = V::set1((T)h.weight_decay);
    const bool decay = h.weight_decay != 0.0;
    for_each_vec<T>(n, [=](auto io, int64_t i) {
        V x = io.ld(p + i), d = io.ld(g + i);
        if (decay) d = fmadd(wd, x, d);
        V s = fmadd(d, d, io.ld(sum + i));
        io.st(sum + i, s);
        io.st(p + i, fnmadd(clr, d / (vsqrt(s) + eps), x));
    });
}

template <class T> void adadelta_step_impl(T* p, T* sq, T* acc, const T* g, int64_t n, const AdadeltaHyper& h) {
    using V = Vec<T>;
    const V lr = V::set1((T)h.lr), rho = V::set1((T)h.rho), one_m_rho = V::set1((T)(1.0 - h.rho));
    const V eps = V::set1((T)h.eps), wd = V::set1((T)h.weight_decay);
    const bool decay = h.weight_decay != 0.0;
    for_each_vec<T>(n, [=](auto io, int64_t i) {
        V x = io.ld(p + i), d = io.ld(g + i);
        if (decay) d = fmadd(wd, x, d);
        V v = fmadd(rho, io.ld(sq + i), one_m_rho * d * d);
        V u = io.ld(acc + i);
        V delta = vsqrt(u + eps) / vsqrt(v + eps) * d;
        io.st(sq + i, v);
        io.st(acc + i, fmadd(rho, u, one_m_rho * delta * delta));
        io.st(p + i, fnmadd(lr, delta, x));
    });
}

template <class T>
void rmsprop_step_impl(T* p, T* sq, T* gavg, T* buf, const T* g, int64_t n, const RmspropHyper& h) {
    using V = Vec<T>;
    const V lr = V::set1((T)h.lr), alpha = V::set1((T)h.alpha), one_m_alpha = V::set1((T)(1.0 - h.alpha));
    const V eps = V::set1((T)h.eps), wd = V::set1((T)h.weight_decay), mu = V::set1((T)h.momentum);
    const bool decay = h.weight_decay != 0.0;
    for_each_vec<T>(n, [=](auto io, int64_t i) {
        V x = io.ld(p + i), d = io.ld(g + i);
        if (decay) d = fmadd(wd, x, d);
        V v = fmadd(alpha, io.ld(sq + i), one_m_alpha * d * d);
        io.st(sq + i, v);
        V r;
        if (gavg) {
            V a = io.ld(gavg + i);
            a = fmadd(one_m_alpha, d - a, a);
            io.st(gavg + i, a);
            r = vsqrt(fnmadd(a, a, v)) + eps;
        } else {
            r = vsqrt(v) + eps;
        }
        if (buf) {
            V b = fmadd(mu, io.ld(buf + i), d / r);
            io.st(buf + i, b);
            io.st(p + i, fnmadd(lr, b, x));
        } else {
            io.st(p + i, fnmadd(lr, d / r, x));
        }
    });
}

template <class T>
void adam_step_impl(T* p, T* m1, T* m2, T* m2max, const T* g, int64_t n, const AdamHyper& h) {
    using V = Vec<T>;
    const V one_m_b1 = V::set1((T)(1.0 - h.beta1)), b2 = V::set1((T)h.beta2), one_m_b2 = V::set1((T)(1.0 - h.beta2));
    const V eps = V::set1((T)h.eps), wd = V::set1((T)h.weight_decay);
    const V shrink = V::set1((T)(1.0 - h.lr * h.weight_decay));
    const V step_size = V::set1((T)(h.lr / h.bias_correction1));
    const V inv_bc2_sqrt = V::set1((T)(1.0 / sqrt(h.bias_correction2)));  // one divide per element fewer
    const bool decay = h.weight_decay != 0.0 && !h.decoupled, shrink_first = h.weight_decay != 0.0 && h.decoupled;
    for_each_vec<T>(n, [=](auto io, int64_t i) {
        V x = io.ld(p + i), d = io.ld(g + i);
        if (shrink_first) x = x * shrink;
        if (decay) d = fmadd(wd, x, d);
        V m = io.ld(m1 + i);
        m = fmadd(one_m_b1, d - m, m);
        V v = fmadd(b2, io.ld(m2 + i), one_m_b2 * d * d);
        io.st(m1 + i, m);
        io.st(m2 + i, v);
        if (m2max) {
            v = vmax(io.ld(m2max + i), v);  // a NaN in the new v propagates (second operand)
            io.st(m2max + i, v);
        }
        io.st(p + i, fnmadd(step_size, m / fmadd(vsqrt(v), inv_bc2_sqrt, eps), x));
    });
}

// ---------------------------------------------------------------- element-wise utilities

template <class T> void scale_inplace_impl(T* x, int64_t n, double alpha) {
    using V = Vec<T>;
    const V a = V::set1((T)alpha);
    for_each_vec<T>(n, [=](auto io, int64_t i) { io.st(x + i, io.ld(x + i) * a); });
}

// NaN stays NaN: the data operand goes second in vmax/vmin (simd.h).
template <class T> void clamp_inplace_impl(T* x, int64_t n, double lo, double hi) {
    using V = Vec<T>;
    const V l = V::set1((T)lo), u = V::set1((T)hi);
    for_each_vec<T>(n, [=](auto io, int64_t i) { io.st(x + i, vmin(u, vmax(l, io.ld(x + i)))); });
}

// ---------------------------------------------------------------- deterministic reductions

// Σ term(i) for i in [0, n) in f64: kLanes interleaved accumulators, folded pairwise.
// Plain loops on purpose: the compiler widens f32 → f64 and vectorises them, and the
// order of additions is fixed by the source whatever it emits.
template <class Term> FASTNN_INLINE double lane_sum(int64_t n, Term term) {
    double acc[kLanes] = {};
    int64_t i = 0;
    for (; i + kLanes <= n; i += kLanes)
        for (int j = 0; j < kLanes; ++j) acc[j] += term(i + j);
    for (int j = 0; i + j < n; ++j) acc[j] += term(i + j);
    for (int w = kLanes / 2; w > 0; w /= 2)
        for (int j = 0; j < w; ++j) acc[j] += acc[j + w];
    return acc[0];
}

struct AddOp {
    static double init() { return 0.0; }
    static double combine(double a, double b) { return a + b; }
};
struct MaxOp {  // NaN wins
    static double init() { return 0.0; }
    static double combine(double a, double b) { return (b > a || b != b) ? b : a; }
};

// Reduces block(k, off, len) over fixed blocks of kSumBlock elements of buffers 0..count-1
// with Op, partials combined in block order. Serial when small (or when the partials
// cannot be allocated): the serial loop combines in the same order, so the bits agree.
template <class Op, class Block> double blocked_reduce(const int64_t* sizes, int64_t count, Block block) {
    int64_t nblocks = 0, total = 0;
    for (int64_t k = 0; k < count; ++k) {
        nblocks += (sizes[k] + kSumBlock - 1) / kSumBlock;
        total += sizes[k];
    }
    const int nt = nblocks > 1 ? threads_for(total, kGrain) : 1;
    int64_t* where = nt > 1 ? (int64_t*)malloc(nblocks * 2 * sizeof(int64_t)) : nullptr;
    double* part = where ? (double*)malloc(nblocks * sizeof(double)) : nullptr;
    double r = Op::init();
    if (!part) {
        for (int64_t k = 0; k < count; ++k)
            for (int64_t off = 0; off < sizes[k]; off += kSumBlock)
                r = Op::combine(r, block(k, off, imin(kSumBlock, sizes[k] - off)));
        free(where);
        return r;
    }
    for (int64_t k = 0, b = 0; k < count; ++k)
        for (int64_t off = 0; off < sizes[k]; off += kSumBlock, ++b) {
            where[2 * b] = k;
            where[2 * b + 1] = off;
        }
#pragma omp parallel for num_threads(nt) schedule(static)
    for (int64_t b = 0; b < nblocks; ++b) {
        const int64_t k = where[2 * b], off = where[2 * b + 1];
        part[b] = block(k, off, imin(kSumBlock, sizes[k] - off));
    }
    for (int64_t b = 0; b < nblocks; ++b) r = Op::combine(r, part[b]);
    free(part);
    free(where);
    return r;
}

template <class T> double sum_squares_impl(const T* const* bufs, const int64_t* sizes, int64_t count) {
    return blocked_reduce<AddOp>(sizes, count, [=](int64_t k, int64_t off, int64_t len) {
        const T* x = bufs[k] + off;
        return lane_sum(len, [=](int64_t i) { return (double)x[i] * (double)x[i]; });
    });
}

template <class T> double max_abs_impl(const T* const* bufs, const int64_t* sizes, int64_t count) {
    using V = Vec<T>;
    return blocked_reduce<MaxOp>(sizes, count, [=](int64_t k, int64_t off, int64_t len) {
        const T* x = bufs[k] + off;
        V m = V::zero();
        int64_t i = 0;
        for (; i + V::W <= len; i += V::W) {
            V a = vabs(V::load(x + i));
            m = select(mask_or(cmp_gt(a, m), is_nan(a)), a, m);
        }
        T lanes[V::W];
        m.store(lanes);
        double r = 0.0;
        for (int j = 0; j < V::W; ++j) r = MaxOp::combine(r, (double)lanes[j]);
        for (; i < len; ++i) r = MaxOp::combine(r, fabs((double)x[i]));
        return r;
    });
}

// 0 when every element is finite, NaN otherwise: x − x is 0 for finite x and NaN for ±inf
// and NaN, and NaN sticks in the sums (one subtract and one add per vector, no widening).
template <class T> double nonfinite_probe_impl(const T* const* bufs, const int64_t* sizes, int64_t count) {
    using V = Vec<T>;
    return blocked_reduce<AddOp>(sizes, count, [=](int64_t k, int64_t off, int64_t len) {
        const T* x = bufs[k] + off;
        constexpr int U = 8;  // independent accumulators: the add latency is hidden behind the loads
        V a[U];
        for (int u = 0; u < U; ++u) a[u] = V::zero();
        int64_t i = 0;
        for (; i + U * V::W <= len; i += U * V::W)
#pragma GCC unroll 8
            for (int u = 0; u < U; ++u) {
                const V v = V::load(x + i + u * V::W);
                a[u] = a[u] + (v - v);
            }
        for (; i + V::W <= len; i += V::W) {
            const V v = V::load(x + i);
            a[0] = a[0] + (v - v);
        }
        for (int u = 1; u < U; ++u) a[0] = a[0] + a[u];
        T r = hsum(a[0]);
        for (; i < len; ++i) r += x[i] - x[i];
        return (double)r;
    });
}

// g += s·sign(w) (sign(±0) = ±0 adds nothing, NaN propagates); returns Σ|w|.
template <class T> double l1_penalty_grad_impl(T* grad, const T* w, int64_t n, double strength) {
    const T s = (T)strength;
    return blocked_reduce<AddOp>(&n, 1, [=](int64_t, int64_t off, int64_t len) {
        T* gb = grad + off;
        const T* wb = w + off;
        for (int64_t i = 0; i < len; ++i) {
            const T x = wb[i];
            gb[i] += s * (x > 0 ? T(1) : x < 0 ? T(-1) : x);
        }
        return lane_sum(len, [=](int64_t i) { return fabs((double)wb[i]); });
    });
}

// g += s·w; returns Σw².
template <class T> double l2_penalty_grad_impl(T* grad, const T* w, int64_t n, double strength) {
    const T s = (T)strength;
    return blocked_reduce<AddOp>(&n, 1, [=](int64_t, int64_t off, int64_t len) {
        T* gb = grad + off;
        const T* wb = w + off;
        for (int64_t i = 0; i < len; ++i) gb[i] += s * wb[i];
        return lane_sum(len, [=](int64_t i) { return (double)wb[i] * (double)wb[i]; });
    });
}

// Rows of w (R, C) whose L2 norm exceeds c are scaled by c/(‖row‖ + 1e-7) (torch.renorm).
// One thread per row, so each row's norm has one summation order. A finite float64 row
// whose Σx² overflows (|x| beyond ~1e154) has its norm taken as m·√Σ(x/m)², m = max|x|.
template <class T> void renorm_rows_impl(T* w, int64_t rows, int64_t cols, double max_norm) {
    const int nt = rows > 1 ? threads_for(rows * cols, kGrain) : 1;
    parallel_for(rows, nt, [=](int64_t r) {
        T* x = w + r * cols;
        double norm = sqrt(lane_sum(cols, [=](int64_t i) { return (double)x[i] * (double)x[i]; }));
        if (__builtin_isinf(norm)) {
            double m = 0;
            for (int64_t i = 0; i < cols; ++i) m = fmax(m, fabs((double)x[i]));
            if (__builtin_isfinite(m))
                norm = m * sqrt(lane_sum(cols, [=](int64_t i) { return ((double)x[i] / m) * ((double)x[i] / m); }));
        }
        if (norm > max_norm) {
            const T f = (T)(max_norm / (norm + 1e-7));
            for (int64_t i = 0; i < cols; ++i) x[i] *= f;
        }
    });
}

}  // namespace

#define FASTNN_OPTIM_DTYPE(T, S)                                                                        \
    void sgd_step_##S(T* p, T* buf, const T* g, int64_t n, const SgdHyper& h) {                        \
        sgd_step_impl(p, buf, g, n, h);                                                                 \
    }                                                                                                   \
    void adagrad_step_##S(T* p, T* sum, const T* g, int64_t n, const AdagradHyper& h) {                \
        adagrad_step_impl(p, sum, g, n, h);                                                             \
    }                                                                                                   \
    void adadelta_step_##S(T* p, T* sq, T* acc, const T* g, int64_t n, const AdadeltaHyper& h) {       \
        adadelta_step_impl(p, sq, acc, g, n, h);                                                        \
    }                                                                                                   \
    void rmsprop_step_##S(T* p, T* sq, T* gavg, T* buf, const T* g, int64_t n, const RmspropHyper& h) { \
        rmsprop_step_impl(p, sq, gavg, buf, g, n, h);                                                   \
    }                                                                                                   \
    void adam_step_##S(T* p, T* m1, T* m2, T* m2max, const T* g, int64_t n, const AdamHyper& h) {      \
        adam_step_impl(p, m1, m2, m2max, g, n, h);                                                      \
    }                                                                                                   \
    double sum_squares_##S(const T* const* bufs, const int64_t* sizes, int64_t count) {                \
        return sum_squares_impl(bufs, sizes, count);                                                    \
    }                                                                                                   \
    double nonfinite_probe_##S(const T* const* bufs, const int64_t* sizes, int64_t count) {            \
        return nonfinite_probe_impl(bufs, sizes, count);                                                \
    }                                                                                                   \
    double max_abs_##S(const T* const* bufs, const int64_t* sizes, int64_t count) {                    \
        return max_abs_impl(bufs, sizes, count);                                                        \
    }                                                                                                   \
    void scale_inplace_##S(T* x, int64_t n, double alpha) { scale_inplace_impl(x, n, alpha); }        \
    void clamp_inplace_##S(T* x, int64_t n, double lo, double hi) { clamp_inplace_impl(x, n, lo, hi); } \
    void renorm_rows_##S(T* w, int64_t rows, int64_t cols, double max_norm) {                          \
        renorm_rows_impl(w, rows, cols, max_norm);                                                      \
    }                                                                                                   \
    double l1_penalty_grad_##S(T* grad, const T* w, int64_t n, double strength) {                      \
        return l1_penalty_grad_impl(grad, w, n, strength);                                              \
    }                                                                                                   \
    double l2_penalty_grad_##S(T* grad, const T* w, int64_t n, double strength) {                      \
        return l2_penalty_grad_impl(grad, w, n, strength);                                              \
    }

FASTNN_OPTIM_DTYPE(float, f32)
FASTNN_OPTIM_DTYPE(double, f64)
#undef FASTNN_OPTIM_DTYPE

}  // namespace FASTNN_ISA_NS
}  // namespace fastnn
