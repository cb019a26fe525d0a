// activation_impl.h: per-ISA element-wise activation bodies (serial), used by the
// activation family (activation.cpp, which adds threading) and by the GEMM epilogue
// (gemm.cpp, on finished tiles while they are in L1).
//
//   act_forward_n<T>(y, x, n, act, p)            y[i] = f(x[i])            (y may be x)
//   act_backward_n<T>(dx, dy, x, y, n, act, p)   dx[i] = dy[i]·f'(x[i])    (dx may alias
//                                                 dy, x or y; dx is overwritten)
//
// One switch on the activation code outside the loop; each activation is a functor with
// fwd(x) and bwd(dy, x, y) over Vec<T>; the loop is a SIMD body plus one masked tail.
// Semantics are docs/kernel_api.md's, written to match fastnn/reference/activation.py:
//   - backward reads y only for identity, relu, sigmoid, tanh, selu, celu, and
//     leaky_relu / elu with p0 ≥ 0 (callers may keep only y and pass it for x); all
//     other activations read x only;
//   - exponentials take clamped arguments (expm1(min(x, 0)) for ELU/SELU/CELU, e^(−|x|)
//     for sigmoid/softplus), so no inf·0 appears in forward or backward;
//   - products x·f(x) whose f vanishes at ±inf use x clamped to the finite range:
//     silu/mish/gelu(−inf) = 0, softsign(±inf) = ±1;
//   - NaN in gives NaN out (piecewise-linear backward: whatever the comparison picks).
#pragma once
#include <string.h>

#include "activation.h"
#include "simd.h"
#include "vmath.h"

namespace fastnn {
namespace FASTNN_ISA_NS {

// Activation parameters converted to the data type once per call.
template <class T> struct ActArgs {
    T p0, p1;
    explicit ActArgs(const ActParams& p) : p0(T(p.p0)), p1(T(p.p1)) {}
};

namespace act {

template <class T> FASTNN_INLINE Vec<T> c(T v) { return Vec<T>::set1(v); }
template <class T> struct Finite;
template <> struct Finite<float> { static constexpr float max = __FLT_MAX__; };
template <> struct Finite<double> { static constexpr double max = __DBL_MAX__; };
template <class T> FASTNN_INLINE Vec<T> lowest() { return Vec<T>::set1(-Finite<T>::max); }
// x with −inf → lowest finite (NaN kept): so −inf·0 = 0.
template <class T> FASTNN_INLINE Vec<T> low(Vec<T> x) { return vmax(lowest<T>(), x); }
// x clipped to the finite range (NaN kept).
template <class T> FASTNN_INLINE Vec<T> finite(Vec<T> x) { return vmin(Vec<T>::set1(Finite<T>::max), low(x)); }

struct Relu {  // backward from y
    template <class T> static FASTNN_INLINE Vec<T> fwd(Vec<T> x, const ActArgs<T>&) { return vmax(Vec<T>::zero(), x); }
    template <class T> static FASTNN_INLINE Vec<T> bwd(Vec<T> dy, Vec<T>, Vec<T> y, const ActArgs<T>&) {
        return select(cmp_gt(y, Vec<T>::zero()), dy, Vec<T>::zero());
    }
};

// leaky_relu(s = p0); backward from y when s ≥ 0 (sign y = sign x), else from x.
template <bool kFromY> struct LeakyRelu {
    template <class T> static FASTNN_INLINE Vec<T> fwd(Vec<T> x, const ActArgs<T>& a) {
        return select(cmp_gt(x, Vec<T>::zero()), x, x * c(a.p0));
    }
    template <class T> static FASTNN_INLINE Vec<T> bwd(Vec<T> dy, Vec<T> x, Vec<T> y, const ActArgs<T>& a) {
        return select(cmp_gt(kFromY ? y : x, Vec<T>::zero()), dy, dy * c(a.p0));
    }
};

struct Sigmoid {  // σ' = y(1 − y)
    template <class T> static FASTNN_INLINE Vec<T> fwd(Vec<T> x, const ActArgs<T>&) { return vsigmoid(x); }
    template <class T> static FASTNN_INLINE Vec<T> bwd(Vec<T> dy, Vec<T>, Vec<T> y, const ActArgs<T>&) {
        return dy * (y * (c(T(1)) - y));
    }
};

struct Tanh {  // tanh' = 1 − y²
    template <class T> static FASTNN_INLINE Vec<T> fwd(Vec<T> x, const ActArgs<T>&) { return vtanh(x); }
    template <class T> static FASTNN_INLINE Vec<T> bwd(Vec<T> dy, Vec<T>, Vec<T> y, const ActArgs<T>&) {
        return dy * fnmadd(y, y, c(T(1)));
    }
};

struct Gelu {  // x·Φ(x); f' = Φ(x) + x·φ(x), φ = e^(−x²/2)/√(2π)
    template <class T> static FASTNN_INLINE Vec<T> fwd(Vec<T> x, const ActArgs<T>&) { return low(x) * vnormcdf(x); }
    template <class T> static FASTNN_INLINE Vec<T> bwd(Vec<T> dy, Vec<T> x, Vec<T>, const ActArgs<T>&) {
        Vec<T> g;
        Vec<T> cdf = vnormcdf(x, &g);
        return dy * fmadd(finite(x), g * c(T(0.398942280401432677939946059934)), cdf);
    }
};

// 0.5x(1 + tanh u) = x·σ(2u), u = √(2/π)(x + 0.044715x³): the σ form has no
// cancellation for negative x. x is clipped to ±40 inside u (σ(2u) is exactly 0 or 1
// beyond, in both dtypes), so x·σ(2u) is −0 for x < −40, not (−x large)·tiny.
struct GeluTanh {
    template <class T> static FASTNN_INLINE Vec<T> two_u(Vec<T> xc, Vec<T> x2) {
        return xc * fmadd(x2, c(T(2 * 0.7978845608028654 * 0.044715)), c(T(2 * 0.7978845608028654)));
    }
    template <class T> static FASTNN_INLINE Vec<T> fwd(Vec<T> x, const ActArgs<T>&) {
        Vec<T> xc = vmin(c(T(40)), vmax(c(T(-40)), x));
        return low(x) * vsigmoid(two_u(xc, xc * xc));
    }
    // f' = σ(2u) + x·(2u)'·σ(2u)·σ(−2u), (2u)' = 2√(2/π)(1 + 3·0.044715x²)
    template <class T> static FASTNN_INLINE Vec<T> bwd(Vec<T> dy, Vec<T> x, Vec<T>, const ActArgs<T>&) {
        Vec<T> xc = vmin(c(T(40)), vmax(c(T(-40)), x));
        Vec<T> x2 = xc * xc, sp, sm;
        vsigmoid2(two_u(xc, x2), sp, sm);
        Vec<T> du = fmadd(x2, c(T(2 * 0.7978845608028654 * 3 * 0.044715)), c(T(2 * 0.7978845608028654)));
        return dy * fmadd(xc * du, sp * sm, sp);
    }
};

// α·expm1(min(x, 0)) on the negative side (never overflows).
template <class T> FASTNN_INLINE Vec<T> elu_neg(Vec<T> x, Vec<T> alpha) { return alpha * vexpm1(vmin(Vec<T>::zero(), x)); }

// elu(α = p0): f' = y + α = α·e^x for x ≤ 0 (from y when α ≥ 0, else from x).
template <bool kFromY> struct Elu {
    template <class T> static FASTNN_INLINE Vec<T> fwd(Vec<T> x, const ActArgs<T>& a) {
        return select(cmp_gt(x, Vec<T>::zero()), x, elu_neg(x, c(a.p0)));
    }
    template <class T> static FASTNN_INLINE Vec<T> bwd(Vec<T> dy, Vec<T> x, Vec<T> y, const ActArgs<T>& a) {
        if (kFromY) return select(cmp_gt(y, Vec<T>::zero()), dy, dy * (y + c(a.p0)));
        return select(cmp_gt(x, Vec<T>::zero()), dy, dy * c(a.p0) * vexp(vmin(Vec<T>::zero(), x)));
    }
};

// PyTorch's SELU constants.
constexpr double kSeluAlpha = 1.6732632423543772848170429916717;
constexpr double kSeluScale = 1.0507009873554804934193349852946;

struct Selu {  // backward from y: λ for y > 0, y + λα otherwise
    template <class T> static FASTNN_INLINE Vec<T> fwd(Vec<T> x, const ActArgs<T>&) {
        return c(T(kSeluScale)) * select(cmp_gt(x, Vec<T>::zero()), x, elu_neg(x, c(T(kSeluAlpha))));
    }
    template <class T> static FASTNN_INLINE Vec<T> bwd(Vec<T> dy, Vec<T>, Vec<T> y, const ActArgs<T>&) {
        return select(cmp_gt(y, Vec<T>::zero()), dy * c(T(kSeluScale)), dy * (y + c(T(kSeluScale * kSeluAlpha))));
    }
};

struct Celu {  // celu(α = p0) = α·expm1(min(x, 0)/α); backward from y: (y + α)/α for y ≤ 0
    template <class T> static FASTNN_INLINE Vec<T> fwd(Vec<T> x, const ActArgs<T>& a) {
        Vec<T> neg = c(a.p0) * vexpm1(vmin(Vec<T>::zero(), x) / c(a.p0));
        return select(cmp_gt(x, Vec<T>::zero()), x, neg);
    }
    template <class T> static FASTNN_INLINE Vec<T> bwd(Vec<T> dy, Vec<T>, Vec<T> y, const ActArgs<T>& a) {
        return select(cmp_gt(y, Vec<T>::zero()), dy, dy * ((y + c(a.p0)) * c(T(1) / a.p0)));
    }
};

// softplus(β = p0, threshold = p1): x where βx > threshold, else
// (max(βx, 0) + log1p(e^(−|βx|)))/β (no overflow for any threshold); f' = σ(βx).
struct Softplus {
    template <class T> static FASTNN_INLINE Vec<T> fwd(Vec<T> x, const ActArgs<T>& a) {
        Vec<T> z = x * c(a.p0);
        Vec<T> sp = vmax(Vec<T>::zero(), z) + vlog1p(vexp(Vec<T>::zero() - vabs(z)));
        return select(cmp_gt(z, c(a.p1)), x, sp / c(a.p0));
    }
    template <class T> static FASTNN_INLINE Vec<T> bwd(Vec<T> dy, Vec<T> x, Vec<T>, const ActArgs<T>& a) {
        Vec<T> z = x * c(a.p0);
        return select(cmp_gt(z, c(a.p1)), dy, dy * vsigmoid(z));
    }
};

struct Softsign {  // x/(1 + |x|); f' = r², r = 1/(1 + |x|)
    template <class T> static FASTNN_INLINE Vec<T> fwd(Vec<T> x, const ActArgs<T>&) {
        Vec<T> xf = finite(x);
        return xf / (c(T(1)) + vabs(xf));
    }
    template <class T> static FASTNN_INLINE Vec<T> bwd(Vec<T> dy, Vec<T> x, Vec<T>, const ActArgs<T>&) {
        Vec<T> r = c(T(1)) / (c(T(1)) + vabs(x));
        return dy * r * r;
    }
};

struct Hardtanh {  // clamp(x, p0, p1); f' = 1 on (p0, p1)
    template <class T> static FASTNN_INLINE Vec<T> fwd(Vec<T> x, const ActArgs<T>& a) { return vmin(c(a.p1), vmax(c(a.p0), x)); }
    template <class T> static FASTNN_INLINE Vec<T> bwd(Vec<T> dy, Vec<T> x, Vec<T>, const ActArgs<T>& a) {
        return select(mask_and(cmp_gt(x, c(a.p0)), cmp_lt(x, c(a.p1))), dy, Vec<T>::zero());
    }
};

struct Hardsigmoid {  // relu6(x + 3)/6; f' = 1/6 on (−3, 3)
    template <class T> static FASTNN_INLINE Vec<T> fwd(Vec<T> x, const ActArgs<T>&) {
        return vmin(c(T(6)), vmax(Vec<T>::zero(), x + c(T(3)))) / c(T(6));
    }
    template <class T> static FASTNN_INLINE Vec<T> bwd(Vec<T> dy, Vec<T> x, Vec<T>, const ActArgs<T>&) {
        return select(mask_and(cmp_gt(x, c(T(-3))), cmp_lt(x, c(T(3)))), dy * c(T(1) / T(6)), Vec<T>::zero());
    }
};

struct HardsigmoidLinear {  // clamp(0.2x + 0.5, 0, 1); f' = 0.2 on (−2.5, 2.5)
    template <class T> static FASTNN_INLINE Vec<T> fwd(Vec<T> x, const ActArgs<T>&) {
        return vmin(c(T(1)), vmax(Vec<T>::zero(), fmadd(x, c(T(0.2)), c(T(0.5)))));
    }
    template <class T> static FASTNN_INLINE Vec<T> bwd(Vec<T> dy, Vec<T> x, Vec<T>, const ActArgs<T>&) {
        return select(mask_and(cmp_gt(x, c(T(-2.5))), cmp_lt(x, c(T(2.5)))), dy * c(T(0.2)), Vec<T>::zero());
    }
};

// silu = x·σ(x): x/(1 + e^x)·e^x for x < 0, x/(1 + e^−x) otherwise, with e = e^(−|x|)
// applied by vmul_exp (one rounding even where e is subnormal); f' = σ(x)·(1 + x·σ(−x))
// (σ(−x) exact, not 1 − σ(x)).
struct Silu {
    template <class T> static FASTNN_INLINE Vec<T> fwd(Vec<T> x, const ActArgs<T>&) {
        const Vec<T> one = c(T(1)), na = Vec<T>::zero() - vabs(x);
        Vec<T> p, n;
        vexp_parts(na, p, n);
        const Vec<T> xl = low(x), r = xl / (one + vscale2(p, n));
        return select(cmp_ge(x, Vec<T>::zero()), r, vmul_exp(r, na, p, n));
    }
    template <class T> static FASTNN_INLINE Vec<T> bwd(Vec<T> dy, Vec<T> x, Vec<T>, const ActArgs<T>&) {
        Vec<T> sp, sm;
        vsigmoid2(x, sp, sm);
        return dy * (sp * fmadd(finite(x), sm, c(T(1))));
    }
};

// mish = x·tanh(softplus x). With e = e^x and n = e(e + 2): tanh(log(1 + e)) = n/(n + 2),
// 1 − tanh² = 4(n + 1)/(n + 2)², σ(x) = e/(1 + e): one exponential, no log, no
// cancellation. e^x is clamped where tanh(softplus x) and σ(x) round to 1 (1 − tanh is
// below 1e-17 / 1e-34 there), so mish(x) rounds to x above the clamp.
template <class T> struct MishClamp;
template <> struct MishClamp<float> { static constexpr float v = 20.0f; };
template <> struct MishClamp<double> { static constexpr double v = 40.0; };

struct Mish {
    // x·n/(n + 2) = e·[x(e + 2)/(n + 2)]: e applied last by vmul_exp (one rounding). Above
    // the clamp the result is x itself, selected: x(e + 2) overflows there for x beyond
    // max/e^clamp (7e29 in float32, 8e290 in float64).
    template <class T> static FASTNN_INLINE Vec<T> fwd(Vec<T> x, const ActArgs<T>&) {
        const Vec<T> xc = vmin(c(MishClamp<T>::v), x);
        Vec<T> p, k;
        vexp_parts(xc, p, k);
        const Vec<T> e = vscale2(p, k), e2 = e + c(T(2)), n = e * e2;
        return select(cmp_gt(x, c(MishClamp<T>::v)), x, vmul_exp(low(x) * e2 / (n + c(T(2))), xc, p, k));
    }
    template <class T> static FASTNN_INLINE Vec<T> bwd(Vec<T> dy, Vec<T> x, Vec<T>, const ActArgs<T>&) {
        Vec<T> e = vexp(vmin(c(MishClamp<T>::v), x));
        Vec<T> n = e * (e + c(T(2)));
        Vec<T> n2 = n + c(T(2));
        Vec<T> t = n / n2;
        Vec<T> sech2 = (c(T(4)) * (n + c(T(1)))) / (n2 * n2);
        Vec<T> sig = e / (c(T(1)) + e);
        // x clamped like e: beyond the clamp x·σ·sech² is below half an ulp of t = 1.
        return dy * fmadd(vmin(c(MishClamp<T>::v), low(x)) * sig, sech2, t);
    }
};

// max(x, x·e^(−|x|)) = x for x > 0, x·e^x otherwise; f' = (1 + x)·e^x for x ≤ 0.
struct MaxExp {
    template <class T> static FASTNN_INLINE Vec<T> fwd(Vec<T> x, const ActArgs<T>&) {
        Vec<T> t = low(vmin(Vec<T>::zero(), x)), p, n;
        vexp_parts(t, p, n);
        return select(cmp_gt(x, Vec<T>::zero()), x, vmul_exp(t, t, p, n));
    }
    template <class T> static FASTNN_INLINE Vec<T> bwd(Vec<T> dy, Vec<T> x, Vec<T>, const ActArgs<T>&) {
        Vec<T> t = low(vmin(Vec<T>::zero(), x));
        return select(cmp_gt(x, Vec<T>::zero()), dy, dy * ((c(T(1)) + t) * vexp(t)));
    }
};

template <class Op, class T> void forward_loop(T* y, const T* x, int64_t n, const ActArgs<T>& a) {
    using V = Vec<T>;
    int64_t i = 0;
    for (; i + V::W <= n; i += V::W) Op::fwd(V::load(x + i), a).store(y + i);
    if (i < n) {
        const int r = (int)(n - i);
        Op::fwd(V::load_n(x + i, r), a).store_n(y + i, r);
    }
}

template <class Op, class T> void backward_loop(T* dx, const T* dy, const T* x, const T* y, int64_t n, const ActArgs<T>& a) {
    using V = Vec<T>;
    int64_t i = 0;
    for (; i + V::W <= n; i += V::W) Op::bwd(V::load(dy + i), V::load(x + i), V::load(y + i), a).store(dx + i);
    if (i < n) {
        const int r = (int)(n - i);
        Op::bwd(V::load_n(dy + i, r), V::load_n(x + i, r), V::load_n(y + i, r), a).store_n(dx + i, r);
    }
}

}  // namespace act

// The activation list: (code, functor). identity (a copy), and leaky_relu and elu (whose
// backward input depends on p0's sign) are handled in the switches below.
#define FASTNN_ACT_FUNCTORS(X)                          \
    X(ACT_RELU, act::Relu)                              \
    X(ACT_SIGMOID, act::Sigmoid)                        \
    X(ACT_TANH, act::Tanh)                              \
    X(ACT_GELU, act::Gelu)                              \
    X(ACT_GELU_TANH, act::GeluTanh)                     \
    X(ACT_SELU, act::Selu)                              \
    X(ACT_CELU, act::Celu)                              \
    X(ACT_SOFTPLUS, act::Softplus)                      \
    X(ACT_SOFTSIGN, act::Softsign)                      \
    X(ACT_HARDTANH, act::Hardtanh)                      \
    X(ACT_HARDSIGMOID, act::Hardsigmoid)                \
    X(ACT_HARDSIGMOID_LINEAR, act::HardsigmoidLinear)   \
    X(ACT_SILU, act::Silu)                              \
    X(ACT_MISH, act::Mish)                              \
    X(ACT_MAXEXP, act::MaxExp)

// y = act(x) over n elements, serial. Unknown codes leave y untouched.
template <class T>
inline void act_forward_n(T* y, const T* x, int64_t n, int code, const ActParams& p) {
    if (n <= 0) return;
    const ActArgs<T> a(p);
    switch (code) {
        case ACT_IDENTITY:
            if (y != x) memmove(y, x, (size_t)n * sizeof(T));
            return;
        case ACT_LEAKY_RELU: act::forward_loop<act::LeakyRelu<true>>(y, x, n, a); return;
        case ACT_ELU: act::forward_loop<act::Elu<true>>(y, x, n, a); return;
#define FASTNN_ACT_FWD_CASE(code_, Op) \
    case code_: act::forward_loop<Op>(y, x, n, a); return;
        FASTNN_ACT_FUNCTORS(FASTNN_ACT_FWD_CASE)
#undef FASTNN_ACT_FWD_CASE
        default: return;
    }
}

// dx = dy·act'(x) over n elements, serial (dx overwritten; may alias dy, x or y).
template <class T>
inline void act_backward_n(T* dx, const T* dy, const T* x, const T* y, int64_t n, int code, const ActParams& p) {
    if (n <= 0) return;
    const ActArgs<T> a(p);
    const bool from_y = p.p0 >= 0;  // leaky_relu, elu
    switch (code) {
        case ACT_IDENTITY:
            if (dx != dy) memmove(dx, dy, (size_t)n * sizeof(T));
            return;
        case ACT_LEAKY_RELU:
            if (from_y) act::backward_loop<act::LeakyRelu<true>>(dx, dy, x, y, n, a);
            else act::backward_loop<act::LeakyRelu<false>>(dx, dy, x, y, n, a);
            return;
        case ACT_ELU:
            if (from_y) act::backward_loop<act::Elu<true>>(dx, dy, x, y, n, a);
            else act::backward_loop<act::Elu<false>>(dx, dy, x, y, n, a);
            return;
#define FASTNN_ACT_BWD_CASE(code_, Op) \
    case code_: act::backward_loop<Op>(dx, dy, x, y, n, a); return;
        FASTNN_ACT_FUNCTORS(FASTNN_ACT_BWD_CASE)
#undef FASTNN_ACT_BWD_CASE
        default: return;
    }
}

}  // namespace FASTNN_ISA_NS
}  // namespace fastnn
