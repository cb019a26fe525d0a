// norm.cpp: BatchNorm and LayerNorm kernels (compiled once per ISA).
//
// Shapes: x, y, dy, dx are (B, F) row-major; BatchNorm statistics and γ, β are (F,)
// (over the batch: column reductions), LayerNorm statistics are (B,) (over the features:
// row reductions) and its γ, β are (F,). invstd = 1/√(σ²_biased + eps).
//
//   batchnorm_forward   y = (x − μ)·invstd·γ + β with the batch statistics; writes μ, invstd;
//                       running_mean/var (may be null) ← (1 − m)·running + m·(μ, unbiased σ²)
//                       in double, m = momentum (running_var untouched when B = 1)
//   batchnorm_inference y = (x − μ)·γ/√(var + eps) + β with given (running) statistics
//   batchnorm_backward  dx = γ·invstd·(dy − (Σdy + x̂·Σdy·x̂)/B), x̂ = (x − μ)·invstd
//   layernorm_forward   per row; writes μ (B,), invstd (B,)
//   layernorm_backward  ĝ = dy·γ; dx = invstd·(ĝ − mean_F ĝ − x̂·mean_F(ĝ·x̂))
// γ, β may be null (no affine). Gradient convention: dx is overwritten; dγ, dβ (may be
// null) are accumulated (+=). y may alias x and dx may alias dy.
//
// Statistics are two-pass (mean, then mean of squared deviations: no cancellation) with
// double accumulators for both dtypes. Determinism: every sum is computed by one thread
// in a fixed order whatever the thread count: BatchNorm and the LayerNorm parameter
// gradients split the F columns into fixed 64-column blocks (rows added in order
// 0..B−1); LayerNorm rows are split across threads, each row summed in 8 fixed lanes.
//
// Huge finite values. The fast path forms Σx and Σ(x − μ)² in double and x − μ, invstd
// and x̂ in T. Near the top of T's range that breaks: Σ or Σ(x − μ)² overflows in double
// (float64 beyond ~1e154), x − μ overflows in T, invstd = 1/σ turns subnormal in float
// (σ > 2^126). A row (LayerNorm) or column (BatchNorm) whose Σ(x − μ)² exceeds
// Range<T>::sumsq_max is redone by scaled_stats on x·c, c = 2^−⌊log2 max|x|⌋ (exact).
// Normalising is scale-invariant but for eps, (xc − μc)/√(σ²c² + eps·c²) = (x − μ)/√(σ² + eps),
// so eps is scaled too; where eps·c² underflows in double (float64 values above ~2^530)
// σ² is either 0 (equal values: invstd = 1/√eps, x̂ = 0) or at least an ulp² of the values,
// ≫ eps, so losing eps there changes nothing. Rows or columns holding inf or NaN keep the
// fast path (NaN out). The backward and BatchNorm inference form x − μ as x/2 − μ/2 where
// it could overflow.
#include "kernels.h"
#include "parallel.h"
#include "rng.h"
#include "simd.h"
#include "threading.h"

namespace fastnn {
namespace FASTNN_ISA_NS {

namespace {

constexpr int64_t kCols = 64;                   // columns per BatchNorm block
// Elements per thread, at least: a 128×256 batch (32K) already splits over 2 threads
// (fused BatchNorm forward 30 → 23 µs on the 2-core VM; at 8K elements one thread wins).
constexpr int64_t kGrain = int64_t(1) << 13;

// Calls body(c0, c1) for each 64-column block, blocks split over threads.
template <class Body> void for_column_blocks(int64_t B, int64_t F, const Body& body) {
    const int64_t blocks = (F + kCols - 1) / kCols;
    const int nt = blocks > 1 ? (int)imin(blocks, threads_for(B * F, kGrain)) : 1;
    parallel_for(blocks, nt, [&](int64_t b) { body(b * kCols, imin(F, (b + 1) * kCols)); });
}

template <class Body> void for_rows(int64_t B, int64_t F, const Body& body) {
    const int nt = (int)imin(imax(B, 1), threads_for(B * F, kGrain));
    parallel_for(B, nt, body);
}

// Σ_i f(i) over [0, n) in 8 fixed lanes, combined in a fixed order.
template <class F> inline double lane_sum(int64_t n, const F& f) {
    double acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int l = 0; l < 8; ++l) acc[l] += f(i + l);
    for (int l = 0; i < n; ++i, ++l) acc[l] += f(i);
    return ((acc[0] + acc[4]) + (acc[2] + acc[6])) + ((acc[1] + acc[5]) + (acc[3] + acc[7]));
}

// Column sums of a 64-column block in double lanes: acc_k[j] = Σ_r t_k(r, j) over rows
// r = 0..B−1 in order, for j < w. term(r, j, n, t) sets t[k] to the Vec<double> of
// columns j..j+DW (the first n valid, the rest 0). Rows go in tiles of 8: each column
// group adds a tile's rows in registers, then the next group; the sums wait in L1.
// (Walking one column group down all B rows instead strides by the row length, and for
// F = 256 floats, 1 KiB, every row lands in the same few L1 sets.) Each column is summed
// alone in row order, so neither vector width nor tiling changes a bit.
template <int NS, class Term>
FASTNN_INLINE void column_sums(int64_t B, int64_t w, double* const* acc, const Term& term) {
    using D = Vec<double>;
    constexpr int DW = D::W;
    constexpr int64_t kRowTile = 8;
    const int64_t wv = (w + DW - 1) / DW * DW;  // acc arrays hold whole vectors (kCols % DW == 0)
    for (int k = 0; k < NS; ++k)
        for (int64_t j = 0; j < wv; ++j) acc[k][j] = 0;
    constexpr int G = 4 / NS;  // column groups per step: 4 independent add chains
    for (int64_t r0 = 0; r0 < B; r0 += kRowTile) {
        const int64_t r1 = imin(B, r0 + kRowTile);
        int64_t j = 0;
        for (; j + G * DW <= w; j += G * DW) {
            D a[G][NS], t[NS];
            for (int g = 0; g < G; ++g)
                for (int k = 0; k < NS; ++k) a[g][k] = D::load(acc[k] + j + g * DW);
            for (int64_t r = r0; r < r1; ++r)
                for (int g = 0; g < G; ++g) {
                    term(r, j + g * DW, DW, t);
                    for (int k = 0; k < NS; ++k) a[g][k] = a[g][k] + t[k];
                }
            for (int g = 0; g < G; ++g)
                for (int k = 0; k < NS; ++k) a[g][k].store(acc[k] + j + g * DW);
        }
        for (; j < w; j += DW) {
            const int n = (int)imin(DW, w - j);
            D a[NS], t[NS];
            for (int k = 0; k < NS; ++k) a[k] = D::load(acc[k] + j);
            for (int64_t r = r0; r < r1; ++r) {
                term(r, j, n, t);
                for (int k = 0; k < NS; ++k) a[k] = a[k] + t[k];
            }
            for (int k = 0; k < NS; ++k) a[k].store(acc[k] + j);
        }
    }
}

// The n ≤ W columns at p of a block row: whole-vector access when n == W, masked otherwise.
template <class T> FASTNN_INLINE Vec<double> widen_cols(const T* p, int n) {
    return n == Vec<double>::W ? widen(p) : widen_n(p, n);
}
template <class T> FASTNN_INLINE Vec<T> load_cols(const T* p, int n) {
    return n == Vec<T>::W ? Vec<T>::load(p) : Vec<T>::load_n(p, n);
}
template <class T> FASTNN_INLINE void store_cols(Vec<T> v, T* p, int n) {
    if (n == Vec<T>::W) v.store(p); else v.store_n(p, n);
}

// ---------------------------------------------------------------- huge finite values
// (the design paragraph at the top)

template <class T> struct Range;
// Σ(x − μ)² ≤ 2^250 keeps |x − μ| ≤ 2^125 (finite in float) and invstd ≥ 2^−125 (normal).
template <> struct Range<float> { static constexpr double max = __FLT_MAX__, sumsq_max = 0x1p250; };
template <> struct Range<double> { static constexpr double max = __DBL_MAX__, sumsq_max = __DBL_MAX__; };

// Statistics of n values x(i) (as double) formed on x·c, c = 2^−⌊log2 max|x|⌋.
struct Scaled {
    double c, mean, sumsq, invstd_c;  // of x·c: mean, Σ(xc − mean)², 1/√(σ²c² + eps·c²)
    double invstd;                    // of x: 1/√(σ² + eps) = c·invstd_c
    double xhat(double x) const { return (x * c - mean) * invstd_c; }
    // μ of x in T, clamped: the rounded mean may pass max|x|.
    template <class T> T mean_t() const {
        const double m = mean / c;
        return T(m < -Range<T>::max ? -Range<T>::max : m > Range<T>::max ? Range<T>::max : m);
    }
    double var_unbiased(int64_t n) const { return sumsq / (double)(n - 1) / c / c; }  // may be inf
};

// False when some x(i) is inf or NaN (the fast path's NaN then stands). The mean gets one
// correction pass, so equal values give xc − mean = 0 exactly: Σ(xc − mean)² is then 0
// (σ² = 0, invstd = 1/√eps even where eps·c² underflows), and otherwise at least 2^−108
// (max|xc| ∈ [1, 2): a different value lies 2^−53 or more from it), ≫ eps·c² wherever that
// underflows.
template <class Get> bool scaled_stats(int64_t n, double eps, const Get& x, Scaled& st) {
    double s = 0;
    for (int64_t i = 0; i < n; ++i) {
        const double a = __builtin_fabs(x(i));
        if (!(a <= __DBL_MAX__)) return false;
        s = a > s ? a : s;
    }
    if (s == 0) return false;
    const double c = __builtin_ldexp(1.0, -__builtin_ilogb(s)), nd = (double)n;
    const double m0 = lane_sum(n, [&](int64_t i) { return x(i) * c; }) / nd;
    const double m = m0 + lane_sum(n, [&](int64_t i) { return x(i) * c - m0; }) / nd;
    const double q = lane_sum(n, [&](int64_t i) {
        const double d = x(i) * c - m;
        return d * d;
    });
    const double is_c = q > 0 ? 1.0 / __builtin_sqrt(q / nd + eps * c * c) : 0.0;
    st = {c, m, q, is_c, q > 0 ? is_c * c : 1.0 / __builtin_sqrt(eps)};
    return true;
}

FASTNN_INLINE float absv(float v) { return __builtin_fabsf(v); }
FASTNN_INLINE double absv(double v) { return __builtin_fabs(v); }

// x̂ = (x − μ)·invstd; kHalve: as ((x/2 − μ/2)·invstd)·2, which cannot overflow in x − μ
// and gives the same bits wherever x − μ neither overflows nor is subnormal.
template <bool kHalve> struct Xhat {
    template <class T> static FASTNN_INLINE T of(T x, T m, T is) {
        return kHalve ? ((x * T(0.5) - m * T(0.5)) * is) * T(2) : (x - m) * is;
    }
};

// Whether x − μ may overflow in T for n values whose own statistics are μ, invstd:
// |x − μ| ≤ √n·σ ≤ √n/invstd (4×: margin for the rounding of μ and invstd).
template <class T> inline bool needs_halving(T is, int64_t n) {
    return (double)is < 4.0 * __builtin_sqrt((double)n) / Range<T>::max;
}

template <class T>
void batchnorm_forward_impl(T* y, T* mean, T* invstd, const T* x, const T* gamma, const T* beta, int64_t B,
                            int64_t F, double eps, T* running_mean, T* running_var, double momentum,
                            const BnPost& post) {
    using V = Vec<T>;
    const uint64_t key = post.dropout ? rng_key(post.seed, post.stream) : 0;
    for_column_blocks(B, F, [&](int64_t c0, int64_t c1) {
        const int64_t w = c1 - c0;
        using D = Vec<double>;
        double s[kCols], q[kCols], md[kCols] = {};  // md zero past w: whole vectors are loaded
        T m[kCols], a[kCols], sh[kCols];
        const T* xb = x + c0;
        double* ps[1] = {s};
        column_sums<1>(B, w, ps, [&](int64_t r, int64_t j, int n, D* t) { t[0] = widen_cols(xb + r * F + j, n); });
        // Per-column divisions and square roots in double vectors (s and q hold whole
        // vectors): s ← batch mean, q ← invstd, qu ← unbiased variance.
        const D bd = D::set1((double)B), bu = D::set1((double)(B - 1)), epsd = D::set1(eps), one = D::set1(1.0);
        for (int64_t j = 0; j < w; j += D::W) (D::load(s + j) / bd).store(s + j);
        for (int64_t j = 0; j < w; ++j) { m[j] = T(s[j]); md[j] = (double)m[j]; }
        double* pq[1] = {q};
        column_sums<1>(B, w, pq, [&](int64_t r, int64_t j, int n, D* t) {
            const D d = widen_cols(xb + r * F + j, n) - D::load(md + j);
            t[0] = d * d;
        });
        // Columns of huge values (hj[0..nh)): statistics from scaled_stats, y from hs below.
        int64_t hj[kCols];
        Scaled hs[kCols];
        int nh = 0;
        for (int64_t j = 0; j < w; ++j)
            if (!(q[j] <= Range<T>::sumsq_max) &&
                scaled_stats(B, eps, [&](int64_t r) { return (double)xb[r * F + j]; }, hs[nh]))
                hj[nh++] = j;
        double qu[kCols];
        for (int64_t j = 0; j < w; j += D::W) {
            const D qv = D::load(q + j);
            (qv / bu).store(qu + j);
            (one / vsqrt(qv / bd + epsd)).store(q + j);
        }
        for (int k = 0; k < nh; ++k) {
            const int64_t j = hj[k];
            m[j] = hs[k].mean_t<T>();
            s[j] = hs[k].mean / hs[k].c;
            q[j] = hs[k].invstd;
            qu[j] = hs[k].var_unbiased(B);
        }
        for (int64_t j = 0; j < w; ++j) {
            const T is = T(q[j]);
            mean[c0 + j] = m[j];
            invstd[c0 + j] = is;
            a[j] = gamma ? is * gamma[c0 + j] : is;
            sh[j] = beta ? beta[c0 + j] : T(0);
            if (running_mean)
                running_mean[c0 + j] = T((1 - momentum) * (double)running_mean[c0 + j] + momentum * s[j]);
            if (running_var && B > 1)
                running_var[c0 + j] = T((1 - momentum) * (double)running_var[c0 + j] + momentum * qu[j]);
        }
        // y = (x − μ)·a + β as one FMA per element in Vec code for every variant, so the
        // fused ReLU / dropout see exactly the values the unfused kernels would read.
        // Huge columns: their y is kept aside from x before the row is written (y may alias
        // x), then put back before the dropout.
        const bool relu = post.relu;
        for (int64_t r = 0; r < B; ++r) {
            const T* xr = x + r * F + c0;
            T* yr = y + r * F + c0;
            T hy[kCols];
            for (int k = 0; k < nh; ++k) {
                const int64_t j = hj[k];
                T v = T(hs[k].xhat((double)xr[j]));
                if (gamma) v *= gamma[c0 + j];
                v += sh[j];
                hy[k] = relu && v < T(0) ? T(0) : v;  // = vmax(0, v)
            }
            int64_t j = 0;
            for (; j + V::W <= w; j += V::W) {
                V v = fmadd(V::load(xr + j) - V::load(m + j), V::load(a + j), V::load(sh + j));
                if (relu) v = vmax(V::zero(), v);
                v.store(yr + j);
            }
            if (j < w) {
                const int n = (int)(w - j);
                V v = fmadd(V::load_n(xr + j, n) - V::load_n(m + j, n), V::load_n(a + j, n), V::load_n(sh + j, n));
                if (relu) v = vmax(V::zero(), v);
                v.store_n(yr + j, n);
            }
            for (int k = 0; k < nh; ++k) yr[hj[k]] = hy[k];
            if (post.dropout) dropout_range(y, y, r * F + c0, r * F + c1, key, post.keep32, T(post.scale));
        }
    });
}

template <class T>
void batchnorm_inference_impl(T* y, const T* x, const T* mean, const T* var, const T* gamma, const T* beta,
                              int64_t B, int64_t F, double eps) {
    // x·a + sh cannot overflow unless y does while |x| ≤ lim (|x·a| ≤ max/2) and |sh| ≤ max/2
    // (lim = −1 otherwise). A row segment with some |x| beyond lim (huge x or μ: rare) forms
    // those elements as ((x/2 − μ/2)·a)·2 + β instead.
    const T half_max = T(Range<T>::max / 2);
    for_column_blocks(B, F, [&](int64_t c0, int64_t c1) {
        const int64_t w = c1 - c0;
        T a[kCols], sh[kCols], lim[kCols];
        for (int64_t j = 0; j < w; ++j) {
            T s = T(1) / T(__builtin_sqrt((double)(var[c0 + j] + T(eps))));
            if (gamma) s *= gamma[c0 + j];
            a[j] = s;
            sh[j] = (beta ? beta[c0 + j] : T(0)) - mean[c0 + j] * s;
            lim[j] = absv(sh[j]) <= half_max ? half_max / absv(s) : T(-1);
        }
        for (int64_t r = 0; r < B; ++r) {
            const T* xr = x + r * F + c0;
            T* yr = y + r * F + c0;
            int far = 0;
            for (int64_t j = 0; j < w; ++j) far |= !(absv(xr[j]) <= lim[j]);
            if (!far) {
                for (int64_t j = 0; j < w; ++j) yr[j] = xr[j] * a[j] + sh[j];
                continue;
            }
            for (int64_t j = 0; j < w; ++j) {
                const T v = xr[j];
                yr[j] = absv(v) <= lim[j] ? v * a[j] + sh[j]
                                          : ((v * T(0.5) - mean[c0 + j] * T(0.5)) * a[j]) * T(2) +
                                                (beta ? beta[c0 + j] : T(0));
            }
        }
    });
}

template <class T>
void batchnorm_backward_impl(T* dx, T* dgamma, T* dbeta, const T* dy, const T* x, const T* mean, const T* invstd,
                             const T* gamma, int64_t B, int64_t F, const T* post_y, double post_scale) {
    using V = Vec<T>;
    for_column_blocks(B, F, [&](int64_t c0, int64_t c1) {
        const int64_t w = c1 - c0;
        using D = Vec<double>;
        // The fused ReLU / dropout backward first, into this block of dx: g' = g·scale where
        // y > 0, else 0 (the dropout kernel's g·scale and the ReLU kernel's select,
        // composed); the BatchNorm backward then reads g' from dx (dx may alias dy).
        const T* gsrc = dy;
        if (post_y) {
            const V vs = V::set1(T(post_scale)), z = V::zero();
            for (int64_t r = 0; r < B; ++r) {
                const T *py = post_y + r * F + c0, *g = dy + r * F + c0;
                T* d = dx + r * F + c0;
                for (int64_t j = 0; j < w; j += V::W) {
                    const int n = (int)imin(V::W, w - j);
                    store_cols(select(cmp_gt(load_cols(py + j, n), z), load_cols(g + j, n) * vs, z), d + j, n);
                }
            }
            gsrc = dx;
        }
        double sg[kCols], sgx[kCols], md[kCols] = {}, isd[kCols] = {};  // zero past w, as in the forward
        T m[kCols], is[kCols], k1[kCols], k2[kCols], sc[kCols];
        for (int64_t j = 0; j < w; ++j) {
            m[j] = mean[c0 + j];
            is[j] = invstd[c0 + j];
            md[j] = (double)m[j];
            isd[j] = (double)is[j];
        }
        const T *xb = x + c0, *gb = gsrc + c0;
        double* pg[2] = {sg, sgx};
        column_sums<2>(B, w, pg, [&](int64_t r, int64_t j, int n, D* t) {
            const D g = widen_cols(gb + r * F + j, n);
            t[0] = g;
            t[1] = g * ((widen_cols(xb + r * F + j, n) - D::load(md + j)) * D::load(isd + j));
        });
        // Columns of huge values (hj[0..nh)): x̂ by halving, in Σg·x̂ (x − μ overflows in
        // double for float64) and in dx below.
        int64_t hj[kCols];
        int nh = 0;
        for (int64_t j = 0; j < w; ++j)
            if (needs_halving(is[j], B)) hj[nh++] = j;
        for (int k = 0; k < nh; ++k) {
            const int64_t j = hj[k];
            double a = 0;
            for (int64_t r = 0; r < B; ++r)
                a += (double)gb[r * F + j] * Xhat<true>::of((double)xb[r * F + j], md[j], isd[j]);
            sgx[j] = a;
        }
        double q1[kCols], q2[kCols];
        const D bd = D::set1((double)B);
        for (int64_t j = 0; j < w; j += D::W) {  // divisions in double vectors
            (D::load(sg + j) / bd).store(q1 + j);
            (D::load(sgx + j) / bd).store(q2 + j);
        }
        for (int64_t j = 0; j < w; ++j) {
            if (dgamma) dgamma[c0 + j] += T(sgx[j]);
            if (dbeta) dbeta[c0 + j] += T(sg[j]);
            k1[j] = T(q1[j]);
            k2[j] = T(q2[j]);
            sc[j] = gamma ? gamma[c0 + j] * is[j] : is[j];
        }
        for (int64_t r = 0; r < B; ++r) {
            const T *xr = xb + r * F, *gr = gb + r * F;
            T* dr = dx + r * F + c0;
            T hd[kCols];  // huge columns, formed before the row is written (dx may alias g)
            for (int k = 0; k < nh; ++k) {
                const int64_t j = hj[k];
                hd[k] = (gr[j] - (Xhat<true>::of(xr[j], m[j], is[j]) * k2[j] + k1[j])) * sc[j];
            }
            for (int64_t j = 0; j < w; j += V::W) {
                const int n = (int)imin(V::W, w - j);
                const V xh = (load_cols(xr + j, n) - load_cols(m + j, n)) * load_cols(is + j, n);
                const V gp = load_cols(gr + j, n) - fmadd(xh, load_cols(k2 + j, n), load_cols(k1 + j, n));
                store_cols(gp * load_cols(sc + j, n), dr + j, n);
            }
            for (int k = 0; k < nh; ++k) dr[hj[k]] = hd[k];
        }
    });
}

template <class T>
void layernorm_forward_impl(T* y, T* mean, T* invstd, const T* x, const T* gamma, const T* beta, int64_t B,
                            int64_t F, double eps) {
    for_rows(B, F, [&](int64_t r) {
        const T* xr = x + r * F;
        T* yr = y + r * F;
        auto put = [&](int64_t i, T v) {
            if (gamma) v *= gamma[i];
            if (beta) v += beta[i];
            yr[i] = v;
        };
        const T m = T(lane_sum(F, [&](int64_t i) { return (double)xr[i]; }) / (double)F);
        const double q = lane_sum(F, [&](int64_t i) {
            const double d = (double)xr[i] - (double)m;
            return d * d;
        });
        Scaled st;
        if (!(q <= Range<T>::sumsq_max) && scaled_stats(F, eps, [&](int64_t i) { return (double)xr[i]; }, st)) {
            mean[r] = st.mean_t<T>();
            invstd[r] = T(st.invstd);
            for (int64_t i = 0; i < F; ++i) put(i, T(st.xhat((double)xr[i])));
            return;
        }
        const T is = T(1.0 / __builtin_sqrt(q / (double)F + eps));
        mean[r] = m;
        invstd[r] = is;
        for (int64_t i = 0; i < F; ++i) put(i, (xr[i] - m) * is);
    });
}

template <class T>
void layernorm_backward_impl(T* dx, T* dgamma, T* dbeta, const T* dy, const T* x, const T* mean, const T* invstd,
                             const T* gamma, int64_t B, int64_t F) {
    // Parameter gradients first (column sums over the batch): dx may alias dy.
    // Rows of huge values (needs_halving) form x̂ by halving; X is Xhat<true or false>.
    if (dgamma || dbeta)
        for_column_blocks(B, F, [&](int64_t c0, int64_t c1) {
            const int64_t w = c1 - c0;
            double sg[kCols], sgx[kCols];
            for (int64_t j = 0; j < w; ++j) sg[j] = sgx[j] = 0;
            for (int64_t r = 0; r < B; ++r) {
                const T m = mean[r], is = invstd[r];
                auto row = [&](auto X) {
                    for (int64_t j = 0; j < w; ++j) {
                        const double g = (double)dy[r * F + c0 + j];
                        sg[j] += g;
                        sgx[j] += g * (double)X.of(x[r * F + c0 + j], m, is);
                    }
                };
                if (needs_halving(is, F)) row(Xhat<true>()); else row(Xhat<false>());
            }
            for (int64_t j = 0; j < w; ++j) {
                if (dgamma) dgamma[c0 + j] += T(sgx[j]);
                if (dbeta) dbeta[c0 + j] += T(sg[j]);
            }
        });
    for_rows(B, F, [&](int64_t r) {
        const T* gr = dy + r * F;
        const T* xr = x + r * F;
        const T m = mean[r], is = invstd[r];
        auto gh = [&](int64_t i) { return gamma ? gr[i] * gamma[i] : gr[i]; };
        auto row = [&](auto X) {
            const T k1 = T(lane_sum(F, [&](int64_t i) { return (double)gh(i); }) / (double)F);
            const T k2 = T(lane_sum(F, [&](int64_t i) { return (double)gh(i) * (double)X.of(xr[i], m, is); }) / (double)F);
            T* dr = dx + r * F;
            for (int64_t i = 0; i < F; ++i) dr[i] = (gh(i) - k1 - X.of(xr[i], m, is) * k2) * is;
        };
        if (needs_halving(is, F)) row(Xhat<true>()); else row(Xhat<false>());
    });
}

}  // namespace

#define FASTNN_NORM_KERNELS(T, sfx)                                                                                  \
    void batchnorm_forward_##sfx(T* y, T* mean, T* invstd, const T* x, const T* gamma, const T* beta, int64_t B,   \
                                 int64_t F, double eps, T* running_mean, T* running_var, double momentum,          \
                                 const BnPost& post) {                                                             \
        batchnorm_forward_impl(y, mean, invstd, x, gamma, beta, B, F, eps, running_mean, running_var, momentum,    \
                               post);                                                                              \
    }                                                                                                              \
    void batchnorm_inference_##sfx(T* y, const T* x, const T* mean, const T* var, const T* gamma, const T* beta,   \
                                   int64_t B, int64_t F, double eps) {                                             \
        batchnorm_inference_impl(y, x, mean, var, gamma, beta, B, F, eps);                                         \
    }                                                                                                              \
    void batchnorm_backward_##sfx(T* dx, T* dgamma, T* dbeta, const T* dy, const T* x, const T* mean,              \
                                  const T* invstd, const T* gamma, int64_t B, int64_t F, const T* post_y,          \
                                  double post_scale) {                                                             \
        batchnorm_backward_impl(dx, dgamma, dbeta, dy, x, mean, invstd, gamma, B, F, post_y, post_scale);          \
    }                                                                                                              \
    void layernorm_forward_##sfx(T* y, T* mean, T* invstd, const T* x, const T* gamma, const T* beta, int64_t B,   \
                                 int64_t F, double eps) {                                                          \
        layernorm_forward_impl(y, mean, invstd, x, gamma, beta, B, F, eps);                                        \
    }                                                                                                              \
    void layernorm_backward_##sfx(T* dx, T* dgamma, T* dbeta, const T* dy, const T* x, const T* mean,              \
                                  const T* invstd, const T* gamma, int64_t B, int64_t F) {                         \
        layernorm_backward_impl(dx, dgamma, dbeta, dy, x, mean, invstd, gamma, B, F);                              \
    }
FASTNN_NORM_KERNELS(float, f32)
FASTNN_NORM_KERNELS(double, f64)
#undef FASTNN_NORM_KERNELS

}  // namespace FASTNN_ISA_NS
}  // namespace fastnn
