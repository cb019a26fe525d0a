// simd.h: one SIMD vector type per (instruction set, dtype), chosen by the compile
// flags of the translation unit that includes it.
//
// Every kernel family is written once, as templates over Vec<T>, and compiled once per
// instruction set (CMakeLists.txt builds the per-ISA object libraries with
// -march=x86-64-v4 / x86-64-v3 / the baseline and -DFASTNN_ISA_NS=avx512|avx2|generic).
// Everything here lives in namespace fastnn::FASTNN_ISA_NS so the three copies never
// collide at link time (an AVX-512 body picked by the linker for an AVX2 machine would
// be SIGILL). For the same reason ISA sources use no std:: templates.
//
//   Vec<T>::W        lanes
//   Vec<T>::Mask     result of comparisons, consumed by select()
//   load/store (aligned not required), load_n/store_n (first n <= W lanes, rest untouched
//   on store and zero on load), set1, zero, arithmetic, fmadd(a,b,c) = a*b + c,
//   min/max (NaN handling: see below), comparisons, select(m, a, b) = m ? a : b.
//   widen/widen_n: float (or double) values loaded into Vec<double> lanes.
//
// min/max follow the x86 instruction: max(a, b) returns b when either is NaN. Kernels
// that must propagate NaN put the data operand second: max(zero, x) keeps NaN x.
#pragma once

#include <stdint.h>
#include <string.h>
#if defined(__x86_64__) || defined(_M_X64)
#include <immintrin.h>
#endif
// FASTNN_AVX512: the AVX-512 branches are compiled, for real (-march=x86-64-v4) or, in a
// developer check build only, over an emulation on AVX2 (avx512_emulation.h).
#if defined(FASTNN_AVX512_EMULATION)
#include "avx512_emulation.h"
#endif
#if defined(__AVX512F__) || defined(FASTNN_AVX512_EMULATION)
#define FASTNN_AVX512 1
#endif

#ifndef FASTNN_ISA_NS
#error "simd.h is compiled per instruction set: define FASTNN_ISA_NS"
#endif

#define FASTNN_INLINE inline __attribute__((always_inline))
// For lambdas: [&]() FASTNN_INLINE_LAMBDA { ... }
#define FASTNN_INLINE_LAMBDA __attribute__((always_inline))

namespace fastnn {
namespace FASTNN_ISA_NS {

template <class T> struct Vec;

// Integer helpers (std::min and friends are avoided on purpose, see above).
FASTNN_INLINE int64_t imin(int64_t a, int64_t b) { return a < b ? a : b; }
FASTNN_INLINE int64_t imax(int64_t a, int64_t b) { return a > b ? a : b; }

#if defined(FASTNN_AVX512)
// ---------------------------------------------------------------- AVX-512 (x86-64-v4)
constexpr const char* kIsaName = "avx512";

template <> struct Vec<float> {
    static constexpr int W = 16;
    using Mask = __mmask16;
    __m512 v;
    FASTNN_INLINE Vec() = default;
    FASTNN_INLINE Vec(__m512 x) : v(x) {}
    static FASTNN_INLINE Vec zero() { return _mm512_setzero_ps(); }
    static FASTNN_INLINE Vec set1(float x) { return _mm512_set1_ps(x); }
    static FASTNN_INLINE Vec load(const float* p) { return _mm512_loadu_ps(p); }
    static FASTNN_INLINE Vec load_n(const float* p, int n) {
        return _mm512_maskz_loadu_ps((__mmask16)((1u << n) - 1u), p);
    }
    FASTNN_INLINE void store(float* p) const { _mm512_storeu_ps(p, v); }
    FASTNN_INLINE void store_n(float* p, int n) const {
        _mm512_mask_storeu_ps(p, (__mmask16)((1u << n) - 1u), v);
    }
};
FASTNN_INLINE Vec<float> operator+(Vec<float> a, Vec<float> b) { return _mm512_add_ps(a.v, b.v); }
FASTNN_INLINE Vec<float> operator-(Vec<float> a, Vec<float> b) { return _mm512_sub_ps(a.v, b.v); }
FASTNN_INLINE Vec<float> operator*(Vec<float> a, Vec<float> b) { return _mm512_mul_ps(a.v, b.v); }
FASTNN_INLINE Vec<float> operator/(Vec<float> a, Vec<float> b) { return _mm512_div_ps(a.v, b.v); }
FASTNN_INLINE Vec<float> fmadd(Vec<float> a, Vec<float> b, Vec<float> c) { return _mm512_fmadd_ps(a.v, b.v, c.v); }
FASTNN_INLINE Vec<float> fnmadd(Vec<float> a, Vec<float> b, Vec<float> c) { return _mm512_fnmadd_ps(a.v, b.v, c.v); }
FASTNN_INLINE Vec<float> vmax(Vec<float> a, Vec<float> b) { return _mm512_max_ps(a.v, b.v); }
FASTNN_INLINE Vec<float> vmin(Vec<float> a, Vec<float> b) { return _mm512_min_ps(a.v, b.v); }
FASTNN_INLINE Vec<float> vsqrt(Vec<float> a) { return _mm512_sqrt_ps(a.v); }
FASTNN_INLINE Vec<float> vabs(Vec<float> a) { return _mm512_abs_ps(a.v); }
FASTNN_INLINE Vec<float> vround(Vec<float> a) { return _mm512_roundscale_ps(a.v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC); }
FASTNN_INLINE __mmask16 cmp_lt(Vec<float> a, Vec<float> b) { return _mm512_cmp_ps_mask(a.v, b.v, _CMP_LT_OQ); }
FASTNN_INLINE __mmask16 cmp_le(Vec<float> a, Vec<float> b) { return _mm512_cmp_ps_mask(a.v, b.v, _CMP_LE_OQ); }
FASTNN_INLINE __mmask16 cmp_gt(Vec<float> a, Vec<float> b) { return _mm512_cmp_ps_mask(a.v, b.v, _CMP_GT_OQ); }
FASTNN_INLINE __mmask16 cmp_ge(Vec<float> a, Vec<float> b) { return _mm512_cmp_ps_mask(a.v, b.v, _CMP_GE_OQ); }
FASTNN_INLINE __mmask16 cmp_eq(Vec<float> a, Vec<float> b) { return _mm512_cmp_ps_mask(a.v, b.v, _CMP_EQ_OQ); }
FASTNN_INLINE __mmask16 is_nan(Vec<float> a) { return _mm512_cmp_ps_mask(a.v, a.v, _CMP_UNORD_Q); }
FASTNN_INLINE __mmask16 mask_and(__mmask16 a, __mmask16 b) { return a & b; }
FASTNN_INLINE __mmask16 mask_or(__mmask16 a, __mmask16 b) { return a | b; }
FASTNN_INLINE __mmask16 mask_not(__mmask16 a) { return (__mmask16)~a; }
FASTNN_INLINE bool mask_any(__mmask16 m) { return m != 0; }
FASTNN_INLINE Vec<float> select(__mmask16 m, Vec<float> a, Vec<float> b) { return _mm512_mask_blend_ps(m, b.v, a.v); }
// 2^n for integer-valued n in [-126, 127].
FASTNN_INLINE Vec<float> pow2i(Vec<float> n) {
    __m512i i = _mm512_cvtps_epi32(n.v);
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_add_epi32(i, _mm512_set1_epi32(127)), 23));
}
FASTNN_INLINE float hsum(Vec<float> a) { return _mm512_reduce_add_ps(a.v); }

template <> struct Vec<double> {
    static constexpr int W = 8;
    using Mask = __mmask8;
    __m512d v;
    FASTNN_INLINE Vec() = default;
    FASTNN_INLINE Vec(__m512d x) : v(x) {}
    static FASTNN_INLINE Vec zero() { return _mm512_setzero_pd(); }
    static FASTNN_INLINE Vec set1(double x) { return _mm512_set1_pd(x); }
    static FASTNN_INLINE Vec load(const double* p) { return _mm512_loadu_pd(p); }
    static FASTNN_INLINE Vec load_n(const double* p, int n) {
        return _mm512_maskz_loadu_pd((__mmask8)((1u << n) - 1u), p);
    }
    FASTNN_INLINE void store(double* p) const { _mm512_storeu_pd(p, v); }
    FASTNN_INLINE void store_n(double* p, int n) const {
        _mm512_mask_storeu_pd(p, (__mmask8)((1u << n) - 1u), v);
    }
};
FASTNN_INLINE Vec<double> operator+(Vec<double> a, Vec<double> b) { return _mm512_add_pd(a.v, b.v); }
FASTNN_INLINE Vec<double> operator-(Vec<double> a, Vec<double> b) { return _mm512_sub_pd(a.v, b.v); }
FASTNN_INLINE Vec<double> operator*(Vec<double> a, Vec<double> b) { return _mm512_mul_pd(a.v, b.v); }
FASTNN_INLINE Vec<double> operator/(Vec<double> a, Vec<double> b) { return _mm512_div_pd(a.v, b.v); }
FASTNN_INLINE Vec<double> fmadd(Vec<double> a, Vec<double> b, Vec<double> c) { return _mm512_fmadd_pd(a.v, b.v, c.v); }
FASTNN_INLINE Vec<double> fnmadd(Vec<double> a, Vec<double> b, Vec<double> c) { return _mm512_fnmadd_pd(a.v, b.v, c.v); }
FASTNN_INLINE Vec<double> vmax(Vec<double> a, Vec<double> b) { return _mm512_max_pd(a.v, b.v); }
FASTNN_INLINE Vec<double> vmin(Vec<double> a, Vec<double> b) { return _mm512_min_pd(a.v, b.v); }
FASTNN_INLINE Vec<double> vsqrt(Vec<double> a) { return _mm512_sqrt_pd(a.v); }
FASTNN_INLINE Vec<double> vabs(Vec<double> a) { return _mm512_abs_pd(a.v); }
FASTNN_INLINE Vec<double> vround(Vec<double> a) { return _mm512_roundscale_pd(a.v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC); }
FASTNN_INLINE __mmask8 cmp_lt(Vec<double> a, Vec<double> b) { return _mm512_cmp_pd_mask(a.v, b.v, _CMP_LT_OQ); }
FASTNN_INLINE __mmask8 cmp_le(Vec<double> a, Vec<double> b) { return _mm512_cmp_pd_mask(a.v, b.v, _CMP_LE_OQ); }
FASTNN_INLINE __mmask8 cmp_gt(Vec<double> a, Vec<double> b) { return _mm512_cmp_pd_mask(a.v, b.v, _CMP_GT_OQ); }
FASTNN_INLINE __mmask8 cmp_ge(Vec<double> a, Vec<double> b) { return _mm512_cmp_pd_mask(a.v, b.v, _CMP_GE_OQ); }
FASTNN_INLINE __mmask8 cmp_eq(Vec<double> a, Vec<double> b) { return _mm512_cmp_pd_mask(a.v, b.v, _CMP_EQ_OQ); }
FASTNN_INLINE __mmask8 is_nan(Vec<double> a) { return _mm512_cmp_pd_mask(a.v, a.v, _CMP_UNORD_Q); }
FASTNN_INLINE __mmask8 mask_and(__mmask8 a, __mmask8 b) { return a & b; }
FASTNN_INLINE __mmask8 mask_or(__mmask8 a, __mmask8 b) { return a | b; }
FASTNN_INLINE __mmask8 mask_not(__mmask8 a) { return (__mmask8)~a; }
FASTNN_INLINE bool mask_any(__mmask8 m) { return m != 0; }
FASTNN_INLINE Vec<double> select(__mmask8 m, Vec<double> a, Vec<double> b) { return _mm512_mask_blend_pd(m, b.v, a.v); }
// 2^n for integer-valued n in [-1022, 1023].
FASTNN_INLINE Vec<double> pow2i(Vec<double> n) {
    __m512i i = _mm512_cvtpd_epi64(n.v);
    return _mm512_castsi512_pd(_mm512_slli_epi64(_mm512_add_epi64(i, _mm512_set1_epi64(1023)), 52));
}
FASTNN_INLINE double hsum(Vec<double> a) { return _mm512_reduce_add_pd(a.v); }

// s[0..3] = the sums of a, b, c, d (halves added first, then the AVX2 scheme below).
FASTNN_INLINE __m256 half_sum(Vec<float> a) {
    return _mm256_add_ps(_mm512_castps512_ps256(a.v), _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(a.v), 1)));
}
FASTNN_INLINE void hsum4(Vec<float> a, Vec<float> b, Vec<float> c, Vec<float> d, float* s) {
    const __m256 ab = _mm256_hadd_ps(half_sum(a), half_sum(b)), cd = _mm256_hadd_ps(half_sum(c), half_sum(d));
    const __m256 abcd = _mm256_hadd_ps(ab, cd);
    _mm_storeu_ps(s, _mm_add_ps(_mm256_castps256_ps128(abcd), _mm256_extractf128_ps(abcd, 1)));
}
FASTNN_INLINE __m256d half_sum(Vec<double> a) {
    return _mm256_add_pd(_mm512_castpd512_pd256(a.v), _mm512_extractf64x4_pd(a.v, 1));
}
FASTNN_INLINE void hsum4(Vec<double> a, Vec<double> b, Vec<double> c, Vec<double> d, double* s) {
    const __m256d ab = _mm256_hadd_pd(half_sum(a), half_sum(b)), cd = _mm256_hadd_pd(half_sum(c), half_sum(d));
    _mm256_storeu_pd(s, _mm256_add_pd(_mm256_permute2f128_pd(ab, cd, 0x20), _mm256_permute2f128_pd(ab, cd, 0x31)));
}
FASTNN_INLINE Vec<double> widen(const float* p) { return _mm512_cvtps_pd(_mm256_loadu_ps(p)); }
FASTNN_INLINE Vec<double> widen_n(const float* p, int n) {
    return _mm512_cvtps_pd(_mm512_castps512_ps256(Vec<float>::load_n(p, n).v));
}

#elif defined(__AVX2__) && defined(__FMA__)
// ---------------------------------------------------------------- AVX2 + FMA (x86-64-v3)
constexpr const char* kIsaName = "avx2";

FASTNN_INLINE __m256i tail_mask32(int n) {
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}
FASTNN_INLINE __m256i tail_mask64(int n) {
    return _mm256_cmpgt_epi64(_mm256_set1_epi64x(n), _mm256_setr_epi64x(0, 1, 2, 3));
}

template <> struct Vec<float> {
    static constexpr int W = 8;
    using Mask = __m256;
    __m256 v;
    FASTNN_INLINE Vec() = default;
    FASTNN_INLINE Vec(__m256 x) : v(x) {}
    static FASTNN_INLINE Vec zero() { return _mm256_setzero_ps(); }
    static FASTNN_INLINE Vec set1(float x) { return _mm256_set1_ps(x); }
    static FASTNN_INLINE Vec load(const float* p) { return _mm256_loadu_ps(p); }
    static FASTNN_INLINE Vec load_n(const float* p, int n) { return _mm256_maskload_ps(p, tail_mask32(n)); }
    FASTNN_INLINE void store(float* p) const { _mm256_storeu_ps(p, v); }
    // Plain 4/2/1-lane stores: vmaskmovps stores are microcoded and slow on AMD Zen.
    FASTNN_INLINE void store_n(float* p, int n) const {
        if (n >= 8) { store(p); return; }
        __m128 x = _mm256_castps256_ps128(v);
        if (n & 4) { _mm_storeu_ps(p, x); x = _mm256_extractf128_ps(v, 1); p += 4; }
        if (n & 2) { _mm_storel_pi((__m64*)p, x); x = _mm_movehl_ps(x, x); p += 2; }
        if (n & 1) _mm_store_ss(p, x);
    }
};
FASTNN_INLINE Vec<float> operator+(Vec<float> a, Vec<float> b) { return _mm256_add_ps(a.v, b.v); }
FASTNN_INLINE Vec<float> operator-(Vec<float> a, Vec<float> b) { return _mm256_sub_ps(a.v, b.v); }
FASTNN_INLINE Vec<float> operator*(Vec<float> a, Vec<float> b) { return _mm256_mul_ps(a.v, b.v); }
FASTNN_INLINE Vec<float> operator/(Vec<float> a, Vec<float> b) { return _mm256_div_ps(a.v, b.v); }
FASTNN_INLINE Vec<float> fmadd(Vec<float> a, Vec<float> b, Vec<float> c) { return _mm256_fmadd_ps(a.v, b.v, c.v); }
FASTNN_INLINE Vec<float> fnmadd(Vec<float> a, Vec<float> b, Vec<float> c) { return _mm256_fnmadd_ps(a.v, b.v, c.v); }
FASTNN_INLINE Vec<float> vmax(Vec<float> a, Vec<float> b) { return _mm256_max_ps(a.v, b.v); }
FASTNN_INLINE Vec<float> vmin(Vec<float> a, Vec<float> b) { return _mm256_min_ps(a.v, b.v); }
FASTNN_INLINE Vec<float> vsqrt(Vec<float> a) { return _mm256_sqrt_ps(a.v); }
FASTNN_INLINE Vec<float> vabs(Vec<float> a) { return _mm256_andnot_ps(_mm256_set1_ps(-0.0f), a.v); }
FASTNN_INLINE Vec<float> vround(Vec<float> a) { return _mm256_round_ps(a.v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC); }
FASTNN_INLINE __m256 cmp_lt(Vec<float> a, Vec<float> b) { return _mm256_cmp_ps(a.v, b.v, _CMP_LT_OQ); }
FASTNN_INLINE __m256 cmp_le(Vec<float> a, Vec<float> b) { return _mm256_cmp_ps(a.v, b.v, _CMP_LE_OQ); }
FASTNN_INLINE __m256 cmp_gt(Vec<float> a, Vec<float> b) { return _mm256_cmp_ps(a.v, b.v, _CMP_GT_OQ); }
FASTNN_INLINE __m256 cmp_ge(Vec<float> a, Vec<float> b) { return _mm256_cmp_ps(a.v, b.v, _CMP_GE_OQ); }
FASTNN_INLINE __m256 cmp_eq(Vec<float> a, Vec<float> b) { return _mm256_cmp_ps(a.v, b.v, _CMP_EQ_OQ); }
FASTNN_INLINE __m256 is_nan(Vec<float> a) { return _mm256_cmp_ps(a.v, a.v, _CMP_UNORD_Q); }
FASTNN_INLINE __m256 mask_and(__m256 a, __m256 b) { return _mm256_and_ps(a, b); }
FASTNN_INLINE __m256 mask_or(__m256 a, __m256 b) { return _mm256_or_ps(a, b); }
FASTNN_INLINE __m256 mask_not(__m256 a) { return _mm256_xor_ps(a, _mm256_castsi256_ps(_mm256_set1_epi32(-1))); }
FASTNN_INLINE bool mask_any(__m256 m) { return _mm256_movemask_ps(m) != 0; }
FASTNN_INLINE Vec<float> select(__m256 m, Vec<float> a, Vec<float> b) { return _mm256_blendv_ps(b.v, a.v, m); }
FASTNN_INLINE Vec<float> pow2i(Vec<float> n) {
    __m256i i = _mm256_cvtps_epi32(n.v);
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(i, _mm256_set1_epi32(127)), 23));
}
FASTNN_INLINE float hsum(Vec<float> a) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(a.v), _mm256_extractf128_ps(a.v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

template <> struct Vec<double> {
    static constexpr int W = 4;
    using Mask = __m256d;
    __m256d v;
    FASTNN_INLINE Vec() = default;
    FASTNN_INLINE Vec(__m256d x) : v(x) {}
    static FASTNN_INLINE Vec zero() { return _mm256_setzero_pd(); }
    static FASTNN_INLINE Vec set1(double x) { return _mm256_set1_pd(x); }
    static FASTNN_INLINE Vec load(const double* p) { return _mm256_loadu_pd(p); }
    static FASTNN_INLINE Vec load_n(const double* p, int n) { return _mm256_maskload_pd(p, tail_mask64(n)); }
    FASTNN_INLINE void store(double* p) const { _mm256_storeu_pd(p, v); }
    FASTNN_INLINE void store_n(double* p, int n) const {
        if (n >= 4) { store(p); return; }
        __m128d x = _mm256_castpd256_pd128(v);
        if (n & 2) { _mm_storeu_pd(p, x); x = _mm256_extractf128_pd(v, 1); p += 2; }
        if (n & 1) _mm_store_sd(p, x);
    }
};
FASTNN_INLINE Vec<double> operator+(Vec<double> a, Vec<double> b) { return _mm256_add_pd(a.v, b.v); }
FASTNN_INLINE Vec<double> operator-(Vec<double> a, Vec<double> b) { return _mm256_sub_pd(a.v, b.v); }
FASTNN_INLINE Vec<double> operator*(Vec<double> a, Vec<double> b) { return _mm256_mul_pd(a.v, b.v); }
FASTNN_INLINE Vec<double> operator/(Vec<double> a, Vec<double> b) { return _mm256_div_pd(a.v, b.v); }
FASTNN_INLINE Vec<double> fmadd(Vec<double> a, Vec<double> b, Vec<double> c) { return _mm256_fmadd_pd(a.v, b.v, c.v); }
FASTNN_INLINE Vec<double> fnmadd(Vec<double> a, Vec<double> b, Vec<double> c) { return _mm256_fnmadd_pd(a.v, b.v, c.v); }
FASTNN_INLINE Vec<double> vmax(Vec<double> a, Vec<double> b) { return _mm256_max_pd(a.v, b.v); }
FASTNN_INLINE Vec<double> vmin(Vec<double> a, Vec<double> b) { return _mm256_min_pd(a.v, b.v); }
FASTNN_INLINE Vec<double> vsqrt(Vec<double> a) { return _mm256_sqrt_pd(a.v); }
FASTNN_INLINE Vec<double> vabs(Vec<double> a) { return _mm256_andnot_pd(_mm256_set1_pd(-0.0), a.v); }
FASTNN_INLINE Vec<double> vround(Vec<double> a) { return _mm256_round_pd(a.v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC); }
FASTNN_INLINE __m256d cmp_lt(Vec<double> a, Vec<double> b) { return _mm256_cmp_pd(a.v, b.v, _CMP_LT_OQ); }
FASTNN_INLINE __m256d cmp_le(Vec<double> a, Vec<double> b) { return _mm256_cmp_pd(a.v, b.v, _CMP_LE_OQ); }
FASTNN_INLINE __m256d cmp_gt(Vec<double> a, Vec<double> b) { return _mm256_cmp_pd(a.v, b.v, _CMP_GT_OQ); }
FASTNN_INLINE __m256d cmp_ge(Vec<double> a, Vec<double> b) { return _mm256_cmp_pd(a.v, b.v, _CMP_GE_OQ); }
FASTNN_INLINE __m256d cmp_eq(Vec<double> a, Vec<double> b) { return _mm256_cmp_pd(a.v, b.v, _CMP_EQ_OQ); }
FASTNN_INLINE __m256d is_nan(Vec<double> a) { return _mm256_cmp_pd(a.v, a.v, _CMP_UNORD_Q); }
FASTNN_INLINE __m256d mask_and(__m256d a, __m256d b) { return _mm256_and_pd(a, b); }
FASTNN_INLINE __m256d mask_or(__m256d a, __m256d b) { return _mm256_or_pd(a, b); }
FASTNN_INLINE __m256d mask_not(__m256d a) { return _mm256_xor_pd(a, _mm256_castsi256_pd(_mm256_set1_epi64x(-1))); }
FASTNN_INLINE bool mask_any(__m256d m) { return _mm256_movemask_pd(m) != 0; }
FASTNN_INLINE Vec<double> select(__m256d m, Vec<double> a, Vec<double> b) { return _mm256_blendv_pd(b.v, a.v, m); }
// 2^n via the 2^52 + 2^51 rounding trick: AVX2 has no double -> int64 conversion.
FASTNN_INLINE Vec<double> pow2i(Vec<double> n) {
    const __m256d magic = _mm256_set1_pd(6755399441055744.0);  // 1.5 * 2^52
    __m256i i = _mm256_castpd_si256(_mm256_add_pd(n.v, magic));
    i = _mm256_sub_epi64(i, _mm256_castpd_si256(magic));
    return _mm256_castsi256_pd(_mm256_slli_epi64(_mm256_add_epi64(i, _mm256_set1_epi64x(1023)), 52));
}
FASTNN_INLINE double hsum(Vec<double> a) {
    __m128d s = _mm_add_pd(_mm256_castpd256_pd128(a.v), _mm256_extractf128_pd(a.v, 1));
    s = _mm_add_sd(s, _mm_unpackhi_pd(s, s));
    return _mm_cvtsd_f64(s);
}

// s[0..3] = the sums of a, b, c, d: three horizontal adds and one 128-bit fold instead of
// four separate reductions.
FASTNN_INLINE void hsum4(Vec<float> a, Vec<float> b, Vec<float> c, Vec<float> d, float* s) {
    const __m256 abcd = _mm256_hadd_ps(_mm256_hadd_ps(a.v, b.v), _mm256_hadd_ps(c.v, d.v));
    _mm_storeu_ps(s, _mm_add_ps(_mm256_castps256_ps128(abcd), _mm256_extractf128_ps(abcd, 1)));
}
FASTNN_INLINE void hsum4(Vec<double> a, Vec<double> b, Vec<double> c, Vec<double> d, double* s) {
    const __m256d ab = _mm256_hadd_pd(a.v, b.v), cd = _mm256_hadd_pd(c.v, d.v);
    _mm256_storeu_pd(s, _mm256_add_pd(_mm256_permute2f128_pd(ab, cd, 0x20), _mm256_permute2f128_pd(ab, cd, 0x31)));
}
FASTNN_INLINE Vec<double> widen(const float* p) { return _mm256_cvtps_pd(_mm_loadu_ps(p)); }
FASTNN_INLINE Vec<double> widen_n(const float* p, int n) {
    return _mm256_cvtps_pd(_mm256_castps256_ps128(Vec<float>::load_n(p, n).v));
}

#else
// ---------------------------------------------------------------- portable (GCC vector extensions)
// 16-byte vectors: SSE2 on any x86-64, NEON on aarch64, plain scalar code elsewhere.
constexpr const char* kIsaName = "generic";

typedef float gv_f32 __attribute__((vector_size(16)));
typedef double gv_f64 __attribute__((vector_size(16)));
typedef int32_t gv_i32 __attribute__((vector_size(16)));
typedef int64_t gv_i64 __attribute__((vector_size(16)));

// Vec<T> is written out by a macro for the two dtypes so every operation returns Vec<T>.
#define FASTNN_GENERIC_VEC(T, V, I)                                                               \
    template <> struct Vec<T> {                                                                   \
        static constexpr int W = 16 / sizeof(T);                                                  \
        using Mask = I;                                                                           \
        V v;                                                                                      \
        FASTNN_INLINE Vec() = default;                                                            \
        FASTNN_INLINE Vec(V x) : v(x) {}                                                          \
        static FASTNN_INLINE Vec zero() { return V{}; }                                           \
        static FASTNN_INLINE Vec set1(T x) { V r; for (int i = 0; i < W; ++i) r[i] = x; return r; } \
        static FASTNN_INLINE Vec load(const T* p) { V x; memcpy(&x, p, sizeof(V)); return x; }    \
        static FASTNN_INLINE Vec load_n(const T* p, int n) {                                      \
            V x = V{};                                                                            \
            for (int i = 0; i < n; ++i) x[i] = p[i];                                              \
            return x;                                                                             \
        }                                                                                         \
        FASTNN_INLINE void store(T* p) const { memcpy(p, &v, sizeof(V)); }                        \
        FASTNN_INLINE void store_n(T* p, int n) const { for (int i = 0; i < n; ++i) p[i] = v[i]; } \
    };
FASTNN_GENERIC_VEC(float, gv_f32, gv_i32)
FASTNN_GENERIC_VEC(double, gv_f64, gv_i64)
#undef FASTNN_GENERIC_VEC

#define FASTNN_GENERIC_OPS(T, V, I)                                                              \
    FASTNN_INLINE Vec<T> operator+(Vec<T> a, Vec<T> b) { return V(a.v + b.v); }                  \
    FASTNN_INLINE Vec<T> operator-(Vec<T> a, Vec<T> b) { return V(a.v - b.v); }                  \
    FASTNN_INLINE Vec<T> operator*(Vec<T> a, Vec<T> b) { return V(a.v * b.v); }                  \
    FASTNN_INLINE Vec<T> operator/(Vec<T> a, Vec<T> b) { return V(a.v / b.v); }                  \
    FASTNN_INLINE Vec<T> fmadd(Vec<T> a, Vec<T> b, Vec<T> c) { return V(a.v * b.v + c.v); }      \
    FASTNN_INLINE Vec<T> fnmadd(Vec<T> a, Vec<T> b, Vec<T> c) { return V(c.v - a.v * b.v); }     \
    FASTNN_INLINE I cmp_lt(Vec<T> a, Vec<T> b) { return (I)(a.v < b.v); }                        \
    FASTNN_INLINE I cmp_le(Vec<T> a, Vec<T> b) { return (I)(a.v <= b.v); }                       \
    FASTNN_INLINE I cmp_gt(Vec<T> a, Vec<T> b) { return (I)(a.v > b.v); }                        \
    FASTNN_INLINE I cmp_ge(Vec<T> a, Vec<T> b) { return (I)(a.v >= b.v); }                       \
    FASTNN_INLINE I cmp_eq(Vec<T> a, Vec<T> b) { return (I)(a.v == b.v); }                       \
    FASTNN_INLINE I is_nan(Vec<T> a) { return (I)(a.v != a.v); }                                 \
    FASTNN_INLINE Vec<T> select(I m, Vec<T> a, Vec<T> b) { return V(m ? a.v : b.v); }            \
    /* x86 semantics: the second operand wins when either is NaN */                              \
    FASTNN_INLINE Vec<T> vmax(Vec<T> a, Vec<T> b) { return V(a.v > b.v ? a.v : b.v); }           \
    FASTNN_INLINE Vec<T> vmin(Vec<T> a, Vec<T> b) { return V(a.v < b.v ? a.v : b.v); }           \
    FASTNN_INLINE Vec<T> vabs(Vec<T> a) { return V(a.v < 0 ? -a.v : a.v + V{}); }                \
    FASTNN_INLINE T hsum(Vec<T> a) { T s = 0; for (int i = 0; i < Vec<T>::W; ++i) s += a.v[i]; return s; } \
    FASTNN_INLINE void hsum4(Vec<T> a, Vec<T> b, Vec<T> c, Vec<T> d, T* s) {                      \
        s[0] = hsum(a); s[1] = hsum(b); s[2] = hsum(c); s[3] = hsum(d);                           \
    }

FASTNN_GENERIC_OPS(float, gv_f32, gv_i32)
FASTNN_GENERIC_OPS(double, gv_f64, gv_i64)
#undef FASTNN_GENERIC_OPS

FASTNN_INLINE gv_i32 mask_and(gv_i32 a, gv_i32 b) { return a & b; }
FASTNN_INLINE gv_i32 mask_or(gv_i32 a, gv_i32 b) { return a | b; }
FASTNN_INLINE gv_i32 mask_not(gv_i32 a) { return ~a; }
FASTNN_INLINE bool mask_any(gv_i32 m) { for (int i = 0; i < 4; ++i) if (m[i]) return true; return false; }
FASTNN_INLINE gv_i64 mask_and(gv_i64 a, gv_i64 b) { return a & b; }
FASTNN_INLINE gv_i64 mask_or(gv_i64 a, gv_i64 b) { return a | b; }
FASTNN_INLINE gv_i64 mask_not(gv_i64 a) { return ~a; }
FASTNN_INLINE bool mask_any(gv_i64 m) { for (int i = 0; i < 2; ++i) if (m[i]) return true; return false; }

FASTNN_INLINE Vec<float> vsqrt(Vec<float> a) { gv_f32 r = a.v; for (int i = 0; i < 4; ++i) r[i] = __builtin_sqrtf(a.v[i]); return r; }
FASTNN_INLINE Vec<double> vsqrt(Vec<double> a) { gv_f64 r = a.v; for (int i = 0; i < 2; ++i) r[i] = __builtin_sqrt(a.v[i]); return r; }
FASTNN_INLINE Vec<float> vround(Vec<float> a) { gv_f32 r = a.v; for (int i = 0; i < 4; ++i) r[i] = __builtin_nearbyintf(a.v[i]); return r; }
FASTNN_INLINE Vec<double> vround(Vec<double> a) { gv_f64 r = a.v; for (int i = 0; i < 2; ++i) r[i] = __builtin_nearbyint(a.v[i]); return r; }
FASTNN_INLINE Vec<float> pow2i(Vec<float> n) {
    gv_i32 i = __builtin_convertvector(n.v, gv_i32);
    i = (i + 127) << 23;
    gv_f32 r; memcpy(&r, &i, sizeof r); return r;
}
FASTNN_INLINE Vec<double> pow2i(Vec<double> n) {
    gv_i64 i = __builtin_convertvector(n.v, gv_i64);
    i = (i + 1023) << 52;
    gv_f64 r; memcpy(&r, &i, sizeof r); return r;
}
FASTNN_INLINE Vec<double> widen(const float* p) { return gv_f64{p[0], p[1]}; }
FASTNN_INLINE Vec<double> widen_n(const float* p, int n) { return gv_f64{p[0], n > 1 ? p[1] : 0.0}; }
#endif

// widen(p) / widen_n(p, n): Vec<double>::W values from p (the first n, rest 0) in double
// lanes; for double sources a plain load.
FASTNN_INLINE Vec<double> widen(const double* p) { return Vec<double>::load(p); }
FASTNN_INLINE Vec<double> widen_n(const double* p, int n) { return Vec<double>::load_n(p, n); }

}  // namespace FASTNN_ISA_NS
}  // namespace fastnn
