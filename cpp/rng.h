// rng.h: the counter-based generator shared bit for bit with fastnn/reference/dropout.py
// (its docstring is the definition). ISA-independent, header-only.
//
//   mix(z)                      SplitMix64's finaliser (xor-shift-multiply, twice)
//   random_u64(seed, stream, i) mix(mix(seed·G + stream·H + i)), uint64 wraparound
//   keep element i              (u >> 11) < keep53, keep53 = ⌊(1 − p)·2^53⌋ (from Python)
//   uniform                     (u >> 11)·2^−53 ∈ [0, 1), exact in double
//
// The value depends only on (seed, stream, index): masks are the same for any thread
// count or blocking, and backward regenerates the forward mask instead of storing it.
// Included by per-ISA sources only, so it lives in the ISA namespace (no inline function
// compiled with different flags may be shared across ISAs, see simd.h). rng_keep<T> is
// the vectorised form: the keep mask of W consecutive elements, same bits as rng_u64.
#pragma once
#include <stdint.h>

#include "simd.h"

namespace fastnn {
namespace FASTNN_ISA_NS {

constexpr uint64_t kRngGolden = 0x9E3779B97F4A7C15ULL;  // seed multiplier
constexpr uint64_t kRngStream = 0xD1B54A32D192ED03ULL;  // stream multiplier

inline uint64_t rng_mix(uint64_t z) {
    z ^= z >> 30;
    z *= 0xBF58476D1CE4E5B9ULL;
    z ^= z >> 27;
    z *= 0x94D049BB133111EBULL;
    z ^= z >> 31;
    return z;
}

// seed·G + stream·H: add the element index to get the counter.
inline uint64_t rng_base(uint64_t seed, uint64_t stream) { return seed * kRngGolden + stream * kRngStream; }

inline uint64_t rng_u64(uint64_t base, int64_t index) { return rng_mix(rng_mix(base + (uint64_t)index)); }

#if defined(__AVX512F__)
// 8 lanes of uint64; AVX-512DQ multiplies 64-bit lanes natively.
FASTNN_INLINE __m512i rng_mix8(__m512i z) {
    z = _mm512_xor_si512(z, _mm512_srli_epi64(z, 30));
    z = _mm512_mullo_epi64(z, _mm512_set1_epi64((long long)0xBF58476D1CE4E5B9ULL));
    z = _mm512_xor_si512(z, _mm512_srli_epi64(z, 27));
    z = _mm512_mullo_epi64(z, _mm512_set1_epi64((long long)0x94D049BB133111EBULL));
    return _mm512_xor_si512(z, _mm512_srli_epi64(z, 31));
}
FASTNN_INLINE __mmask8 rng_keep8(uint64_t base, int64_t i0, uint64_t keep53) {
    __m512i z = _mm512_add_epi64(_mm512_set1_epi64((long long)(base + (uint64_t)i0)),
                                 _mm512_setr_epi64(0, 1, 2, 3, 4, 5, 6, 7));
    z = _mm512_srli_epi64(rng_mix8(rng_mix8(z)), 11);
    return _mm512_cmplt_epu64_mask(z, _mm512_set1_epi64((long long)keep53));
}
template <class T> FASTNN_INLINE typename Vec<T>::Mask rng_keep(uint64_t base, int64_t i0, uint64_t keep53);
template <> FASTNN_INLINE __mmask8 rng_keep<double>(uint64_t base, int64_t i0, uint64_t keep53) {
    return rng_keep8(base, i0, keep53);
}
template <> FASTNN_INLINE __mmask16 rng_keep<float>(uint64_t base, int64_t i0, uint64_t keep53) {
    return (__mmask16)(rng_keep8(base, i0, keep53) | ((unsigned)rng_keep8(base, i0 + 8, keep53) << 8));
}
#define FASTNN_HAVE_RNG_KEEP 1
#elif defined(__AVX2__)
// 4 lanes of uint64; a·c mod 2^64 from three 32×32→64 multiplies (AVX2 has no 64-bit mullo).
FASTNN_INLINE __m256i rng_mul64(__m256i a, uint64_t c) {
    const __m256i clo = _mm256_set1_epi64x((long long)(c & 0xFFFFFFFFu)), chi = _mm256_set1_epi64x((long long)(c >> 32));
    const __m256i lo = _mm256_mul_epu32(a, clo);
    const __m256i cross = _mm256_add_epi64(_mm256_mul_epu32(_mm256_srli_epi64(a, 32), clo), _mm256_mul_epu32(a, chi));
    return _mm256_add_epi64(lo, _mm256_slli_epi64(cross, 32));
}
FASTNN_INLINE __m256i rng_mix4(__m256i z) {
    z = _mm256_xor_si256(z, _mm256_srli_epi64(z, 30));
    z = rng_mul64(z, 0xBF58476D1CE4E5B9ULL);
    z = _mm256_xor_si256(z, _mm256_srli_epi64(z, 27));
    z = rng_mul64(z, 0x94D049BB133111EBULL);
    return _mm256_xor_si256(z, _mm256_srli_epi64(z, 31));
}
// All-ones 64-bit lanes where kept. (u >> 11) and keep53 are < 2^63: the signed compare is exact.
FASTNN_INLINE __m256i rng_keep4(uint64_t base, int64_t i0, uint64_t keep53) {
    __m256i z = _mm256_add_epi64(_mm256_set1_epi64x((long long)(base + (uint64_t)i0)), _mm256_setr_epi64x(0, 1, 2, 3));
    z = _mm256_srli_epi64(rng_mix4(rng_mix4(z)), 11);
    return _mm256_cmpgt_epi64(_mm256_set1_epi64x((long long)keep53), z);
}
template <class T> FASTNN_INLINE typename Vec<T>::Mask rng_keep(uint64_t base, int64_t i0, uint64_t keep53);
template <> FASTNN_INLINE __m256d rng_keep<double>(uint64_t base, int64_t i0, uint64_t keep53) {
    return _mm256_castsi256_pd(rng_keep4(base, i0, keep53));
}
template <> FASTNN_INLINE __m256 rng_keep<float>(uint64_t base, int64_t i0, uint64_t keep53) {
    // Low dword of each 64-bit lane mask, lanes 0-3 from the first hash vector, 4-7 from the second.
    const __m256i idx = _mm256_setr_epi32(0, 2, 4, 6, 0, 2, 4, 6);
    const __m256i a = _mm256_permutevar8x32_epi32(rng_keep4(base, i0, keep53), idx);
    const __m256i b = _mm256_permutevar8x32_epi32(rng_keep4(base, i0 + 4, keep53), idx);
    return _mm256_castsi256_ps(_mm256_blend_epi32(a, b, 0xF0));
}
#define FASTNN_HAVE_RNG_KEEP 1
#endif

}  // namespace FASTNN_ISA_NS
}  // namespace fastnn
