// vmath.h: vectorised exp, expm1, log1p, tanh, sigmoid, erf/erfc and the normal CDF over
// Vec<T> (float and double), for the activation family, the losses and the GEMM epilogue.
//
// Method (KERNELS.md §4): argument reduction to a small interval, a polynomial there,
// reconstruction with exact power-of-two scaling. Coefficients are near-minimax fits
// made for this file with mpmath (Chebyshev fits; a Loeb/Lawson rational fit for erfc),
// float32 and float64 each with their own degrees:
//   exp    e^x = 2^n·e^r, |r| ≤ ln2/2, e^r = 1 + r + r²·P(r)        P: degree 4 / 10
//   expm1  2^n·(e^r − 1) + (2^n − 1): exact near 0, no e^x − 1 cancellation
//   log1p  1 + x = 2^k·m, m ∈ [√½, √2); f = m − 1 = x·2^−k + (2^−k − 1) in one FMA, so
//          the rounding of 1 + x never enters; log(1+f) = f − (f²/2 − s(f²/2 + R(s²))),
//          s = f/(2+f)                                                 R: degree 3 / 7
//   erf    |x| < 1: x·P(x²) (degree 6 / 12); else 1 − erfc(|x|) with
//          erfc(z) = e^(−z²)·(1 − h(z))/(√π·z), h = P(y)/Q(y), y = z − 0.5 (exact),
//          rational (5,5) / (10,10) fitted on [0.5, 10.1] / [0.5, 27.5] (erfc underflows
//          past either end). h ≤ 0.46 and shrinks like 1/(2z²), so the rounding errors of
//          P/Q are damped where erfc is small. e^(−z²) is corrected for the rounding of
//          z² (and of z = x/√2 itself, for Φ), which otherwise costs up to 2z² ULP.
// Accuracy (tests/test_vmath.py measures it through act_forward): ≤ 2 ULP for exp,
// expm1, log1p, sigmoid; ≤ 3 ULP for tanh, erf, Φ in both dtypes.
//
// Special values: exp(−inf) = 0, exp(+inf) = +inf, overflow → +inf, results below the
// subnormal range → 0 (p·2^n is applied in two exact steps when n leaves pow2i's range),
// NaN → NaN, tanh(±large) = ±1, erf(±large) = ±1, log1p(−1) = −inf, log1p(x < −1) = NaN.
// Arguments are clamped before pow2i so it never sees an out-of-range or NaN-derived
// exponent that could leak into a result. No fast-math: this header relies on NaN/inf.
//
// Helpers simd.h does not provide are written here once per instruction set: and/or/xor on
// the float bits, vgetexp = ⌊log2 x⌋, and vmul_err = the exact error of a product.
#pragma once

#include "simd.h"

namespace fastnn {
namespace FASTNN_ISA_NS {

// ------------------------------------------------------------------ bit-level helpers

#if defined(FASTNN_AVX512)
FASTNN_INLINE Vec<float> vand(Vec<float> a, Vec<float> b) { return _mm512_and_ps(a.v, b.v); }
FASTNN_INLINE Vec<float> vor(Vec<float> a, Vec<float> b) { return _mm512_or_ps(a.v, b.v); }
FASTNN_INLINE Vec<float> vxor(Vec<float> a, Vec<float> b) { return _mm512_xor_ps(a.v, b.v); }
FASTNN_INLINE Vec<double> vand(Vec<double> a, Vec<double> b) { return _mm512_and_pd(a.v, b.v); }
FASTNN_INLINE Vec<double> vor(Vec<double> a, Vec<double> b) { return _mm512_or_pd(a.v, b.v); }
FASTNN_INLINE Vec<double> vxor(Vec<double> a, Vec<double> b) { return _mm512_xor_pd(a.v, b.v); }
// ⌊log2 x⌋ as a float, for finite positive normal x.
FASTNN_INLINE Vec<float> vgetexp(Vec<float> x) { return _mm512_getexp_ps(x.v); }
FASTNN_INLINE Vec<double> vgetexp(Vec<double> x) { return _mm512_getexp_pd(x.v); }
// a·b − p exactly, where p = fl(a·b).
template <class T> FASTNN_INLINE Vec<T> vmul_err(Vec<T> a, Vec<T> b, Vec<T> p) { return fmadd(a, b, Vec<T>::zero() - p); }
#elif defined(__AVX2__) && defined(__FMA__)
FASTNN_INLINE Vec<float> vand(Vec<float> a, Vec<float> b) { return _mm256_and_ps(a.v, b.v); }
FASTNN_INLINE Vec<float> vor(Vec<float> a, Vec<float> b) { return _mm256_or_ps(a.v, b.v); }
FASTNN_INLINE Vec<float> vxor(Vec<float> a, Vec<float> b) { return _mm256_xor_ps(a.v, b.v); }
FASTNN_INLINE Vec<double> vand(Vec<double> a, Vec<double> b) { return _mm256_and_pd(a.v, b.v); }
FASTNN_INLINE Vec<double> vor(Vec<double> a, Vec<double> b) { return _mm256_or_pd(a.v, b.v); }
FASTNN_INLINE Vec<double> vxor(Vec<double> a, Vec<double> b) { return _mm256_xor_pd(a.v, b.v); }
FASTNN_INLINE Vec<float> vgetexp(Vec<float> x) {
    __m256i e = _mm256_srli_epi32(_mm256_castps_si256(x.v), 23);
    return _mm256_sub_ps(_mm256_cvtepi32_ps(e), _mm256_set1_ps(127.0f));
}
// AVX2 has no int64 → double conversion: place the biased exponent in the mantissa of
// 2^52 and subtract 2^52.
FASTNN_INLINE Vec<double> vgetexp(Vec<double> x) {
    __m256i e = _mm256_srli_epi64(_mm256_castpd_si256(x.v), 52);
    __m256d f = _mm256_castsi256_pd(_mm256_or_si256(e, _mm256_set1_epi64x(0x4330000000000000LL)));
    return _mm256_sub_pd(f, _mm256_set1_pd(4503599627370496.0 + 1023.0));
}
template <class T> FASTNN_INLINE Vec<T> vmul_err(Vec<T> a, Vec<T> b, Vec<T> p) { return fmadd(a, b, Vec<T>::zero() - p); }
#else
FASTNN_INLINE Vec<float> vand(Vec<float> a, Vec<float> b) { return (gv_f32)((gv_i32)a.v & (gv_i32)b.v); }
FASTNN_INLINE Vec<float> vor(Vec<float> a, Vec<float> b) { return (gv_f32)((gv_i32)a.v | (gv_i32)b.v); }
FASTNN_INLINE Vec<float> vxor(Vec<float> a, Vec<float> b) { return (gv_f32)((gv_i32)a.v ^ (gv_i32)b.v); }
FASTNN_INLINE Vec<double> vand(Vec<double> a, Vec<double> b) { return (gv_f64)((gv_i64)a.v & (gv_i64)b.v); }
FASTNN_INLINE Vec<double> vor(Vec<double> a, Vec<double> b) { return (gv_f64)((gv_i64)a.v | (gv_i64)b.v); }
FASTNN_INLINE Vec<double> vxor(Vec<double> a, Vec<double> b) { return (gv_f64)((gv_i64)a.v ^ (gv_i64)b.v); }
FASTNN_INLINE Vec<float> vgetexp(Vec<float> x) {
    gv_i32 e = ((gv_i32)x.v >> 23) - 127;
    return __builtin_convertvector(e, gv_f32);
}
FASTNN_INLINE Vec<double> vgetexp(Vec<double> x) {
    gv_i64 e = ((gv_i64)x.v >> 52) - 1023;
    return __builtin_convertvector(e, gv_f64);
}
// The portable fmadd is not fused on the x86-64 baseline, so the exact product error
// comes from the scalar fused multiply-add (a library call there; this is the fallback ISA).
FASTNN_INLINE Vec<float> vmul_err(Vec<float> a, Vec<float> b, Vec<float> p) {
    gv_f32 r = p.v;
    for (int i = 0; i < 4; ++i) r[i] = __builtin_fmaf(a.v[i], b.v[i], -p.v[i]);
    return r;
}
FASTNN_INLINE Vec<double> vmul_err(Vec<double> a, Vec<double> b, Vec<double> p) {
    gv_f64 r = p.v;
    for (int i = 0; i < 2; ++i) r[i] = __builtin_fma(a.v[i], b.v[i], -p.v[i]);
    return r;
}
#endif

// The sign bit alone, as 1.0 ^ −1.0 (the portable set1(−0.0) computes 0 + −0 = +0).
template <class T> FASTNN_INLINE Vec<T> vsignbit() { return vxor(Vec<T>::set1(T(1)), Vec<T>::set1(T(-1))); }

// |a| with the sign of s (NaN payloads untouched).
template <class T> FASTNN_INLINE Vec<T> vcopysign(Vec<T> a, Vec<T> s) { return vor(vabs(a), vand(s, vsignbit<T>())); }

// Polynomial c[0] + c[1]·x + ... + c[N-1]·x^(N-1) (Horner, FMA).
template <class T, int N> FASTNN_INLINE Vec<T> vpoly(Vec<T> x, const T (&c)[N]) {
    Vec<T> r = Vec<T>::set1(c[N - 1]);
#pragma GCC unroll 16
    for (int i = N - 2; i >= 0; --i) r = fmadd(r, x, Vec<T>::set1(c[i]));
    return r;
}

// ------------------------------------------------------------------ constants per dtype

template <class T> struct VMathConst;

template <> struct VMathConst<float> {
    static constexpr float log2e = 1.44269504088896341f;
    static constexpr float ln2_hi = 0.693359375f;  // 9 significant bits: n·ln2_hi is exact
    static constexpr float ln2_lo = -2.12194440e-4f;
    static constexpr float exp_lo = -104.0f;  // e^-104 < 2^-150: rounds to 0
    static constexpr float exp_hi = 89.0f;    // e^89 > FLT_MAX
    static constexpr float pow2_min = -126.0f, pow2_max = 127.0f;  // pow2i's normal range
    static constexpr float expm1_lo = -30.0f;  // e^-30 − 1 rounds to −1; n ≥ −44
    static constexpr float expm1_hi = 88.0f;   // n ≤ 127; above: e^x (expm1 = exp there)
    static constexpr float log1p_big = 0x1p100f, log1p_scale = 0x1p-64f, log1p_scale_log2 = 64.0f;
    static constexpr float tanh_clamp = 10.0f;  // tanh(10) rounds to 1
    static constexpr float erfc_zmax = 10.1f;   // erfc(10.1) < 2^-150
    static constexpr float exp_sq_zmax = 30.0f;
    static constexpr float rsqrt2_hi = 0.707106769f, rsqrt2_lo = 1.21016175e-08f;  // 1/√2
    // (e^r − 1 − r)/r², |r| ≤ ln2/2
    static constexpr float exp_c[] = {0.5f, 0.16666577756404877f, 0.041666556149721146f,
                                      0.008363173343241215f, 0.0013926175888627768f};
    // (log((1+s)/(1−s)) − 2s)/s³ as a polynomial in z = s², z ≤ (3 − 2√2)²
    static constexpr float log_c[] = {0.6666666865348816f, 0.4000012278556824f, 0.2855082154273987f,
                                      0.2333046793937683f};
    // erf(x)/x as a polynomial in x², |x| ≤ 1
    static constexpr float erf_c[] = {1.1283791065216064f, -0.3761262595653534f, 0.11283594369888306f,
                                      -0.02685421146452427f, 0.005189087241888046f, -0.000801686430349946f,
                                      7.875874871388078e-05f};
    // h(z) = 1 − √π·z·e^(z²)·erfc(z) ≈ P(y)/Q(y), y = z − 0.5 (exact), z ∈ [0.5, 10.1]
    static constexpr float erfc_p[] = {0.45435863733291626f, 0.33650729060173035f, 0.11459752172231674f,
                                       0.016196394339203835f, 1.3724937844017404e-06f, -2.985283131806682e-08f};
    static constexpr float erfc_q[] = {1.0f, 2.142430067062378f, 1.956393837928772f, 0.9637345671653748f,
                                       0.26096850633621216f, 0.03244878351688385f};
    static constexpr float sqrtpi_hi = 1.7724539041519165f, sqrtpi_lo = -5.324639928971919e-08f;
};

template <> struct VMathConst<double> {
    static constexpr double log2e = 1.4426950408889634;
    static constexpr double ln2_hi = 6.93147180369123816490e-01;  // 32 trailing zero bits
    static constexpr double ln2_lo = 1.90821492927058770002e-10;
    static constexpr double exp_lo = -746.0;  // e^-746 < 2^-1075
    static constexpr double exp_hi = 710.0;   // e^710 > DBL_MAX
    static constexpr double pow2_min = -1022.0, pow2_max = 1023.0;
    static constexpr double expm1_lo = -40.0;
    static constexpr double expm1_hi = 709.0;
    static constexpr double log1p_big = 0x1p1000, log1p_scale = 0x1p-512, log1p_scale_log2 = 512.0;
    static constexpr double tanh_clamp = 20.0;
    static constexpr double erfc_zmax = 27.5;  // erfc(27.5) < 2^-1075
    static constexpr double exp_sq_zmax = 40.0;
    static constexpr double rsqrt2_hi = 0.70710678118654757, rsqrt2_lo = -4.8336466567264567e-17;
    static constexpr double exp_c[] = {0.5, 0.1666666666666667, 0.04166666666666667, 0.008333333333326141,
                                       0.0013888888888883752, 0.00019841269874800493, 2.4801587325533363e-05,
                                       2.7557255425746435e-06, 2.7557273661348637e-07, 2.510520637395701e-08,
                                       2.0914679376583935e-09};
    static constexpr double log_c[] = {0.6666666666666666, 0.4000000000000088, 0.28571428570803614,
                                       0.22222222391713917, 0.18181795640132906, 0.15386239702814658,
                                       0.13268773138656886, 0.13086626147840102};
    static constexpr double erf_c[] = {1.1283791670955126, -0.3761263890318375, 0.11283791670954879,
                                       -0.026866170645076792, 0.0052239776248180145, -0.000854832698083379,
                                       0.0001205533111164271, -1.4925595266831182e-05, 1.6461000484121368e-06,
                                       -1.6350312701054695e-07, 1.4659775274047436e-08, -1.1372848856791674e-09,
                                       5.957176147748911e-11};
    static constexpr double erfc_p[] = {0.45435863923495295, 0.7692830471374417, 0.6373377619067172,
                                        0.3305587725817716, 0.11635870499755382, 0.028371938605561735,
                                        0.0046840365402685295, 0.00048124444424265197, 2.383962660722028e-05,
                                        -4.3419191006525814e-16, 2.5143427030472274e-18};
    static constexpr double erfc_q[] = {1.0, 3.094927680478007, 4.442121978006986, 3.902706249480467,
                                        2.3306295704049096, 0.9917651652885691, 0.30578385112339396,
                                        0.06779630833966993, 0.010414000557235887, 0.0010101681449198906,
                                        4.7679253145937266e-05};
    static constexpr double sqrtpi_hi = 1.772453850905516, sqrtpi_lo = -7.666586499825799e-17;
};

// ------------------------------------------------------------------ exp family

// p·2^n for integer-valued n: one pow2i when every lane is in its normal range, else two
// exact half steps (the final multiply rounds once, into the subnormals or to 0/inf).
template <class T> FASTNN_INLINE Vec<T> vscale2(Vec<T> p, Vec<T> n) {
    using V = Vec<T>;
    using C = VMathConst<T>;
    if (!mask_any(mask_or(cmp_lt(n, V::set1(C::pow2_min)), cmp_gt(n, V::set1(C::pow2_max)))))
        return p * pow2i(n);
    V n1 = vround(n * V::set1(T(0.5)));
    return (p * pow2i(n1)) * pow2i(n - n1);
}

// Reduction x = n·ln2 + r; returns e^r − 1 and n. x must be clamped (finite or NaN).
template <class T> FASTNN_INLINE Vec<T> vexp_reduced(Vec<T> x, Vec<T>& n) {
    using V = Vec<T>;
    using C = VMathConst<T>;
    n = vround(x * V::set1(C::log2e));
    V r = fnmadd(n, V::set1(C::ln2_hi), x);
    r = fnmadd(n, V::set1(C::ln2_lo), r);
    return fmadd(r * r, vpoly(r, C::exp_c), r);
}

// e^x = p·2^n with p = e^r ∈ [√½, √2] and n integral (x clamped first; NaN stays NaN).
template <class T> FASTNN_INLINE void vexp_parts(Vec<T> x, Vec<T>& p, Vec<T>& n) {
    using V = Vec<T>;
    using C = VMathConst<T>;
    x = vmin(V::set1(C::exp_hi), vmax(V::set1(C::exp_lo), x));
    p = vexp_reduced(x, n) + V::set1(T(1));
}

// e^x.
template <class T> FASTNN_INLINE Vec<T> vexp(Vec<T> x) {
    Vec<T> p, n;
    vexp_parts(x, p, n);
    return vscale2(p, n);
}

// m·e^x from vexp_parts(x, p, n), rounded once: exact also where e^x alone would be
// subnormal but the product is not (x·e^x at x ≈ −90 in float32). 0 where e^x underflows
// for any moderate m (x below the clamp).
template <class T> FASTNN_INLINE Vec<T> vmul_exp(Vec<T> m, Vec<T> x, Vec<T> p, Vec<T> n) {
    using V = Vec<T>;
    return select(cmp_lt(x, V::set1(VMathConst<T>::exp_lo)), V::zero(), vscale2(m * p, n));
}

// e^x − 1, accurate near 0.
template <class T> FASTNN_INLINE Vec<T> vexpm1(Vec<T> x) {
    using V = Vec<T>;
    using C = VMathConst<T>;
    V xc = vmin(V::set1(C::expm1_hi), vmax(V::set1(C::expm1_lo), x));
    V n;
    V q = vexp_reduced(xc, n);
    V s = pow2i(n);  // n ∈ [−58, 1023]: in range
    V y = fmadd(s, q, s - V::set1(T(1)));
    auto big = cmp_gt(x, V::set1(C::expm1_hi));
    if (mask_any(big)) y = select(big, vexp(x), y);
    return y;
}

// e^(−(z + zl)²) for z ≥ 0 (zl: a small low-order part of the argument, or 0). The
// rounding error of z² is recovered with an FMA and applied to first order.
template <class T> FASTNN_INLINE Vec<T> vexp_neg_sq(Vec<T> z, Vec<T> zl) {
    using V = Vec<T>;
    z = vmin(V::set1(VMathConst<T>::exp_sq_zmax), z);  // e^(−z²) = 0 beyond; keeps l finite
    V h = z * z;
    V l = vmul_err(z, z, h);                 // z² − h, exact
    l = fmadd(z + z, zl, l);                 // + 2·z·zl
    V e = vexp(V::zero() - h);
    return fnmadd(e, l, e);                  // e^(−h)·(1 − l)
}

// ------------------------------------------------------------------ log1p

// log(1 + x).
template <class T> FASTNN_INLINE Vec<T> vlog1p(Vec<T> x) {
    using V = Vec<T>;
    using C = VMathConst<T>;
    const V one = V::set1(T(1));
    // Huge x: log1p(x) = log(x) = log(x·2^-s) + s·ln2 (the scaled value is still so large
    // that log1p and log agree); keeps 2^-k inside pow2i's range below.
    auto big = cmp_gt(x, V::set1(C::log1p_big));
    V xs = select(big, x * V::set1(C::log1p_scale), x);
    V kb = select(big, V::set1(C::log1p_scale_log2), V::zero());
    V u = xs + one;
    V k = vgetexp(u * V::set1(T(1.41421356237309504880)));  // 1 + x ∈ [2^k·√½, 2^k·√2)
    V s = pow2i(V::zero() - k);
    V f = fmadd(xs, s, s - one);                                // m − 1, without 1 + x's rounding
    V hf = V::set1(T(0.5)) * f * f;
    V t = f / (V::set1(T(2)) + f);
    V z = t * t;
    V r = z * vpoly(z, C::log_c);
    V lf = f - (hf - t * (hf + r));
    k = k + kb;
    V y = fmadd(k, V::set1(C::ln2_hi), fmadd(k, V::set1(C::ln2_lo), lf));
    // Specials: +inf, −1 → −inf, < −1 → NaN, NaN, ±0 (keeps the sign).
    const V inf = V::set1(__builtin_inf());
    y = select(cmp_eq(x, inf), inf, y);
    y = select(cmp_eq(x, V::zero()), x, y);
    y = select(cmp_eq(x, V::zero() - one), V::zero() - inf, y);
    y = select(mask_or(cmp_lt(x, V::zero() - one), is_nan(x)), V::set1(__builtin_nan("")), y);
    return y;
}

// ------------------------------------------------------------------ tanh, sigmoid

// tanh x = sign(x)·e/(e + 2), e = expm1(2|x|); |x| clamped where tanh rounds to 1.
template <class T> FASTNN_INLINE Vec<T> vtanh(Vec<T> x) {
    using V = Vec<T>;
    V a = vmin(V::set1(VMathConst<T>::tanh_clamp), vabs(x));  // NaN stays NaN
    V e = vexpm1(a + a);
    return vcopysign(e / (e + V::set1(T(2))), x);
}

// σ(x) = 1/(1 + e^−x) and σ(−x), both from e = e^(−|x|) ≤ 1: no overflow, no
// cancellation on either side.
template <class T> FASTNN_INLINE void vsigmoid2(Vec<T> x, Vec<T>& sp, Vec<T>& sm) {
    using V = Vec<T>;
    V e = vexp(V::zero() - vabs(x));
    V r = V::set1(T(1)) / (V::set1(T(1)) + e);
    V er = e * r;
    auto pos = cmp_ge(x, V::zero());
    sp = select(pos, r, er);
    sm = select(pos, er, r);
}

template <class T> FASTNN_INLINE Vec<T> vsigmoid(Vec<T> x) {
    using V = Vec<T>;
    V e = vexp(V::zero() - vabs(x));
    V num = select(cmp_ge(x, V::zero()), V::set1(T(1)), e);  // NaN x: num = e = NaN
    return num / (V::set1(T(1)) + e);
}

// ------------------------------------------------------------------ erf, erfc, Φ

// erfc(z + zl) for z ≥ 0.5 (finite garbage below, +inf → 0), given g = e^(−(z+zl)²).
template <class T> FASTNN_INLINE Vec<T> verfc_from(Vec<T> z, Vec<T> zl, Vec<T> g) {
    using V = Vec<T>;
    using C = VMathConst<T>;
    V y = vmin(V::set1(C::erfc_zmax), z) - V::set1(T(0.5));
    V h = vpoly(y, C::erfc_p) / vpoly(y, C::erfc_q);
    V zc = vmin(V::set1(T(0x1p60)), z);  // z = +inf: finite den, g = 0 → 0
    V den = fmadd(zc, V::set1(C::sqrtpi_hi), fmadd(zc, V::set1(C::sqrtpi_lo), zl * V::set1(C::sqrtpi_hi)));
    return g * (V::set1(T(1)) - h) / den;  // den = √π·(z + zl), rounded once
}

// erf x.
template <class T> FASTNN_INLINE Vec<T> verf(Vec<T> x) {
    using V = Vec<T>;
    const V one = V::set1(T(1));
    V a = vabs(x);
    auto small = cmp_lt(a, one);
    V ys = x * vpoly(x * x, VMathConst<T>::erf_c);
    if (!mask_any(mask_not(small))) return ys;
    V yl = vcopysign(one - verfc_from(a, V::zero(), vexp_neg_sq(a, V::zero())), x);
    return select(small, ys, yl);
}

// Φ(x) = ½·erfc(−x/√2), the standard normal CDF, and optionally e^(−x²/2) (for φ).
// z = x/√2 is carried as z + zl. Middle (−0.5 < z < 1): ½ + ½·erf(z) (no cancellation
// worse than 2×); z ≤ −0.5: ½·erfc(−z) (the left tail keeps full relative accuracy);
// z ≥ 1: 1 − ½·erfc(z).
template <class T> FASTNN_INLINE Vec<T> vnormcdf(Vec<T> x, Vec<T>* gauss = nullptr) {
    using V = Vec<T>;
    using C = VMathConst<T>;
    const V half = V::set1(T(0.5));
    // |x| ≤ 2^60 keeps the low part finite; Φ is exactly 0 or 1 long before.
    V xc = vmin(V::set1(T(0x1p60)), vmax(V::set1(T(-0x1p60)), x));  // NaN stays NaN
    V z = xc * V::set1(C::rsqrt2_hi);
    V zl = vmul_err(xc, V::set1(C::rsqrt2_hi), z);
    zl = fmadd(xc, V::set1(C::rsqrt2_lo), zl);
    auto mid = mask_and(cmp_gt(z, V::set1(T(-0.5))), cmp_lt(z, V::set1(T(1))));
    V ym = fmadd(half * z, vpoly(z * z, C::erf_c), half);
    const bool all_mid = !mask_any(mask_not(mid));
    if (all_mid && !gauss) return ym;
    auto neg = cmp_lt(z, V::zero());
    V a = vabs(z);
    V al = select(neg, V::zero() - zl, zl);
    V g = vexp_neg_sq(a, al);  // e^(−x²/2)
    if (gauss) *gauss = g;
    if (all_mid) return ym;
    V t = half * verfc_from(a, al, g);  // ½·erfc(|z|)
    V yt = select(neg, t, V::set1(T(1)) - t);
    return select(mid, ym, yt);
}

}  // namespace FASTNN_ISA_NS
}  // namespace fastnn
