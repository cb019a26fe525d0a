// avx512_emulation.h: a developer check, never part of a release build.
//
// With -DFASTNN_AVX512_EMULATION=ON (CMakeLists.txt) the avx512 kernel copy is compiled
// for x86-64-v3 over SIMDe's portable AVX-512 (header-only, Debian's libsimde-dev), and
// the dispatcher offers it on any AVX2 CPU. The whole test suite then runs the AVX-512
// source paths (16/8-lane vectors, mask loads and stores, the 12×32 GEMM tile, the 8-word
// RNG block) on a machine without AVX-512. It checks the logic of that code, not the
// compiler's AVX-512 instruction selection, and it says nothing about speed.
//
// SIMDe 0.7.4 lacks a few intrinsics the kernels use; they are defined below, lane by
// lane, with the instruction's documented semantics (Intel SDM): masked loads and stores
// touch only the selected lanes, out-of-range or NaN conversions give the integer
// indefinite value, getexp is ⌊log2|x|⌋ (−inf for 0, +inf for inf, NaN for NaN), and the
// reductions add in the order of GCC's avx512fintrin.h.
#pragma once

#include <immintrin.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#define SIMDE_ENABLE_NATIVE_ALIASES
#include <simde/x86/avx512.h>

namespace fastnn_avx512_emulation {

template <class T, int N, class V> inline void lanes(T (&out)[N], V v) { memcpy(out, &v, sizeof(out)); }
template <class V, class T, int N> inline V from_lanes(const T (&in)[N]) {
    V v;
    memcpy(&v, in, sizeof(in));
    return v;
}

template <class U> inline uint32_t cmplt_mask(simde__m512i a, simde__m512i b) {
    U x[64 / sizeof(U)], y[64 / sizeof(U)];
    lanes(x, a);
    lanes(y, b);
    uint32_t m = 0;
    for (int i = 0; i < int(64 / sizeof(U)); ++i) m |= uint32_t(x[i] < y[i]) << i;
    return m;
}

// Lane-wise conversions. Float to integer rounds to nearest even (the default MXCSR mode);
// NaN or out of range gives the integer indefinite value (INT_MIN).
template <class To, class From> inline To convert(From f) {
    if constexpr (To(0.5) == To(0) && From(0.5) != From(0)) {  // floating → integer
        const From lim = From((uint64_t)1 << (8 * sizeof(To) - 1));
        return (f >= -lim && f < lim) ? (To)nearbyint((double)f) : (To)((uint64_t)1 << (8 * sizeof(To) - 1));
    } else {
        return (To)f;
    }
}
template <class To, class From, int N, class VTo, class VFrom> inline VTo convert_lanes(VFrom a) {
    From x[N];
    To r[N];
    lanes(x, a);
    for (int i = 0; i < N; ++i) r[i] = convert<To>(x[i]);
    return from_lanes<VTo>(r);
}

inline simde__m512 getexp_ps(simde__m512 a) {
    float x[16];
    lanes(x, a);
    for (float& v : x) v = logbf(v);
    return from_lanes<simde__m512>(x);
}
inline simde__m512d getexp_pd(simde__m512d a) {
    double x[8];
    lanes(x, a);
    for (double& v : x) v = logb(v);
    return from_lanes<simde__m512d>(x);
}

template <class T, int N, class V> inline V maskz_loadu(uint32_t k, const void* p) {
    T r[N] = {};
    for (int i = 0; i < N; ++i)
        if (k >> i & 1) memcpy(&r[i], (const char*)p + i * sizeof(T), sizeof(T));
    return from_lanes<V>(r);
}
template <class T, int N, class V> inline void mask_storeu(void* p, uint32_t k, V v) {
    T x[N];
    lanes(x, v);
    for (int i = 0; i < N; ++i)
        if (k >> i & 1) memcpy((char*)p + i * sizeof(T), &x[i], sizeof(T));
}

inline float reduce_add_ps(simde__m512 a) {
    float x[16], t3[8], t6[4];
    lanes(x, a);
    for (int i = 0; i < 8; ++i) t3[i] = x[8 + i] + x[i];
    for (int i = 0; i < 4; ++i) t6[i] = t3[4 + i] + t3[i];
    return (t6[0] + t6[2]) + (t6[1] + t6[3]);
}
inline double reduce_add_pd(simde__m512d a) {
    double x[8], t3[4];
    lanes(x, a);
    for (int i = 0; i < 4; ++i) t3[i] = x[4 + i] + x[i];
    return (t3[2] + t3[0]) + (t3[3] + t3[1]);
}

}  // namespace fastnn_avx512_emulation

#define _mm512_cmplt_epu32_mask(a, b) ((__mmask16)fastnn_avx512_emulation::cmplt_mask<uint32_t>(a, b))
#define _mm512_cmplt_epu64_mask(a, b) ((__mmask8)fastnn_avx512_emulation::cmplt_mask<uint64_t>(a, b))
#define _mm512_cvtps_epi32(a) (fastnn_avx512_emulation::convert_lanes<int32_t, float, 16, simde__m512i>(a))
#define _mm512_cvtpd_epi64(a) (fastnn_avx512_emulation::convert_lanes<int64_t, double, 8, simde__m512i>(a))
#define _mm512_cvtps_pd(a) (fastnn_avx512_emulation::convert_lanes<double, float, 8, simde__m512d>(a))
#define _mm512_cvtepu32_epi64(a) (fastnn_avx512_emulation::convert_lanes<uint64_t, uint32_t, 8, simde__m512i>(a))
#define _mm512_getexp_ps(a) fastnn_avx512_emulation::getexp_ps(a)
#define _mm512_getexp_pd(a) fastnn_avx512_emulation::getexp_pd(a)
#define _mm512_maskz_loadu_ps(k, p) (fastnn_avx512_emulation::maskz_loadu<float, 16, simde__m512>(k, p))
#define _mm512_maskz_loadu_pd(k, p) (fastnn_avx512_emulation::maskz_loadu<double, 8, simde__m512d>(k, p))
#define _mm512_mask_storeu_ps(p, k, v) (fastnn_avx512_emulation::mask_storeu<float, 16>(p, k, v))
#define _mm512_mask_storeu_pd(p, k, v) (fastnn_avx512_emulation::mask_storeu<double, 8>(p, k, v))
#define _mm512_reduce_add_ps(a) fastnn_avx512_emulation::reduce_add_ps(a)
#define _mm512_reduce_add_pd(a) fastnn_avx512_emulation::reduce_add_pd(a)
