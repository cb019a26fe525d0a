// rng.h: the counter-based generator shared bit for bit with fastnn/reference/dropout.py
// (its docstring is the definition). ISA-independent, header-only.
//
//   mix(z)                 SplitMix64's finaliser (xor-shift-multiply, twice)
//   key(seed, stream)      mix(seed·H1 + stream·H2)
//   word(key, j)           mix(key + j·G): SplitMix64's output sequence from a hashed start
//   dropout bit of i       32-bit half (i & 1) of word(key, i >> 1) (low half for even i),
//                          kept when < keep32 = ⌊(1 − p)·2^32⌋ (from Python; 2^32 keeps all)
//   uniform of i           (word(key, i) >> 11)·2^−53 ∈ [0, 1), exact in double
//
// The value depends only on (seed, stream, index): masks are the same for any thread
// count or blocking, and backward regenerates the forward mask instead of storing it.
// One 64-bit hash decides two dropout elements and the counter only steps by G, so a
// block of words is one add and one mix per lane.
// Included by per-ISA sources only, so it lives in the ISA namespace (no inline function
// compiled with different flags may be shared across ISAs, see simd.h).
// rng_keep_block<T>(z0, keep32, m) is the vectorised form: the keep masks of kRngBlock
// consecutive elements starting at an even index i, z0 = key + (i/2)·G.
#pragma once
#include <stdint.h>

#include "simd.h"

namespace fastnn {
namespace FASTNN_ISA_NS {

constexpr uint64_t kRngGolden = 0x9E3779B97F4A7C15ULL;  // counter step (and seed multiplier)
constexpr uint64_t kRngStream = 0xD1B54A32D192ED03ULL;  // stream multiplier

inline uint64_t rng_mix(uint64_t z) {
    z ^= z >> 30;
    z *= 0xBF58476D1CE4E5B9ULL;
    z ^= z >> 27;
    z *= 0x94D049BB133111EBULL;
    z ^= z >> 31;
    return z;
}

inline uint64_t rng_key(uint64_t seed, uint64_t stream) { return rng_mix(seed * kRngGolden + stream * kRngStream); }

inline uint64_t rng_word(uint64_t key, uint64_t j) { return rng_mix(key + j * kRngGolden); }

// The 32 bits that decide dropout element i.
inline uint32_t rng_bits32(uint64_t key, int64_t i) {
    const uint64_t w = rng_word(key, (uint64_t)i >> 1);
    return (uint32_t)((i & 1) ? w >> 32 : w);
}

#if defined(FASTNN_AVX512)
constexpr int64_t kRngBlock = 16;  // elements per block: 8 words
// 8 lanes of uint64; AVX-512DQ multiplies 64-bit lanes natively.
FASTNN_INLINE __m512i rng_mix8(__m512i z) {
    z = _mm512_xor_si512(z, _mm512_srli_epi64(z, 30));
    z = _mm512_mullo_epi64(z, _mm512_set1_epi64((long long)0xBF58476D1CE4E5B9ULL));
    z = _mm512_xor_si512(z, _mm512_srli_epi64(z, 27));
    z = _mm512_mullo_epi64(z, _mm512_set1_epi64((long long)0x94D049BB133111EBULL));
    return _mm512_xor_si512(z, _mm512_srli_epi64(z, 31));
}
// 16 32-bit lanes, lane l = the bits of element i + l (little-endian halves of 8 words).
FASTNN_INLINE __m512i rng_bits_block(uint64_t z0) {
    constexpr uint64_t g = kRngGolden;  // multiples wrap mod 2^64 (unsigned: defined)
    const __m512i steps = _mm512_setr_epi64(0, (long long)g, (long long)(2 * g), (long long)(3 * g), (long long)(4 * g),
                                            (long long)(5 * g), (long long)(6 * g), (long long)(7 * g));
    return rng_mix8(_mm512_add_epi64(_mm512_set1_epi64((long long)z0), steps));
}
template <class T> FASTNN_INLINE void rng_keep_block(uint64_t z0, uint64_t keep32, typename Vec<T>::Mask* m);
template <> FASTNN_INLINE void rng_keep_block<float>(uint64_t z0, uint64_t keep32, __mmask16* m) {
    m[0] = _mm512_cmplt_epu32_mask(rng_bits_block(z0), _mm512_set1_epi32((int)(uint32_t)keep32));
}
template <> FASTNN_INLINE void rng_keep_block<double>(uint64_t z0, uint64_t keep32, __mmask8* m) {
    const __m512i u = rng_bits_block(z0), k = _mm512_set1_epi64((long long)keep32);
    m[0] = _mm512_cmplt_epu64_mask(_mm512_cvtepu32_epi64(_mm512_castsi512_si256(u)), k);
    m[1] = _mm512_cmplt_epu64_mask(_mm512_cvtepu32_epi64(_mm512_extracti64x4_epi64(u, 1)), k);
}
#define FASTNN_HAVE_RNG_BLOCK 1
#elif defined(__AVX2__)
constexpr int64_t kRngBlock = 8;  // elements per block: 4 words
// a·c mod 2^64 from three 32×32→64 multiplies (AVX2 has no 64-bit mullo).
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
// 8 32-bit lanes, lane l = the bits of element i + l (little-endian halves of 4 words).
FASTNN_INLINE __m256i rng_bits_block(uint64_t z0) {
    constexpr uint64_t g = kRngGolden;  // multiples wrap mod 2^64 (unsigned: defined)
    const __m256i steps = _mm256_setr_epi64x(0, (long long)g, (long long)(2 * g), (long long)(3 * g));
    return rng_mix4(_mm256_add_epi64(_mm256_set1_epi64x((long long)z0), steps));
}
template <class T> FASTNN_INLINE void rng_keep_block(uint64_t z0, uint64_t keep32, typename Vec<T>::Mask* m);
template <> FASTNN_INLINE void rng_keep_block<float>(uint64_t z0, uint64_t keep32, __m256* m) {
    // Unsigned u < keep32 as a signed compare after flipping the sign bits (keep32 < 2^32 here).
    const __m256i flip = _mm256_set1_epi32(INT32_MIN);
    const __m256i u = _mm256_xor_si256(rng_bits_block(z0), flip);
    const __m256i k = _mm256_xor_si256(_mm256_set1_epi32((int)(uint32_t)keep32), flip);
    m[0] = _mm256_castsi256_ps(_mm256_cmpgt_epi32(k, u));
}
template <> FASTNN_INLINE void rng_keep_block<double>(uint64_t z0, uint64_t keep32, __m256d* m) {
    // Zero-extended to 64 bits, both sides are in [0, 2^32]: the signed compare is exact.
    const __m256i u = rng_bits_block(z0), k = _mm256_set1_epi64x((long long)keep32);
    m[0] = _mm256_castsi256_pd(_mm256_cmpgt_epi64(k, _mm256_cvtepu32_epi64(_mm256_castsi256_si128(u))));
    m[1] = _mm256_castsi256_pd(_mm256_cmpgt_epi64(k, _mm256_cvtepu32_epi64(_mm256_extracti128_si256(u, 1))));
}
#define FASTNN_HAVE_RNG_BLOCK 1
#endif

// Dropout over the flat indices [i0, i1) of arrays y and x (y may be x): y[i] = x[i]·s if
// element i is kept, else 0; keep32 ≥ 2^32 keeps every element. Blocks of kRngBlock from
// an even index where a vector form exists; an odd first element and the tail are
// scalar. The one definition of the dropout bits, shared by the dropout kernels and the
// fused BatchNorm → ReLU → Dropout pass (norm.cpp), so both give the same bits.
template <class T>
inline void dropout_range(T* y, const T* x, int64_t i0, int64_t i1, uint64_t key, uint64_t keep32, T s) {
    using V = Vec<T>;
    const V vs = V::set1(s);
    int64_t i = i0;
    if (keep32 >= (uint64_t(1) << 32)) {
        for (; i + V::W <= i1; i += V::W) (V::load(x + i) * vs).store(y + i);
        for (; i < i1; ++i) y[i] = x[i] * s;
        return;
    }
    auto scalar = [&](int64_t e) { y[e] = rng_bits32(key, e) < keep32 ? x[e] * s : T(0); };
#ifdef FASTNN_HAVE_RNG_BLOCK
    if ((i & 1) && i < i1) scalar(i++);
    const V zero = V::zero();
    for (; i + kRngBlock <= i1; i += kRngBlock) {
        typename V::Mask m[kRngBlock / V::W];
        rng_keep_block<T>(key + (uint64_t)(i >> 1) * kRngGolden, keep32, m);
        for (int64_t b = 0; b < kRngBlock / V::W; ++b)
            select(m[b], V::load(x + i + b * V::W) * vs, zero).store(y + i + b * V::W);
    }
#endif
    for (; i < i1; ++i) scalar(i);
}

}  // namespace FASTNN_ISA_NS
}  // namespace fastnn
