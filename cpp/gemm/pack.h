// pack.h: copy blocks of op(A) and op(B) into the micro-kernel's panel layouts.
//
//   A block rows [i0, i0+mc) × depth [p0, p0+kc) → ceil(mc/MR) panels, panel r holds
//       ap[r·MR·kc + p·MR + i] = op(A)[i0 + r·MR + i, p0 + p]   (zero past row M)
//   B block depth [p0, p0+kc) × cols [j0, j0+nc) → ceil(nc/NR) panels, panel s holds
//       bp[s·NR·kc + p·NR + j] = op(B)[p0 + p, j0 + s·NR + j]   (zero past column N)
// Contiguous sources are copied with vector loads; transposed ones go through W×W
// register transposes where the ISA provides one (AVX2), else scalar gathers.
#pragma once
#include "../simd.h"

namespace fastnn {
namespace FASTNN_ISA_NS {

// Panel of MR (or NR) "lanes" along the contiguous dimension of the source:
// dst[p·L + l] = src[p·ld + l] for l < len, 0 for len <= l < L. (source rows are contiguous)
template <class T, int L>
static inline void pack_rows_contig(T* __restrict dst, const T* __restrict src, int64_t ld, int64_t kc, int len) {
    using V = Vec<T>;
    constexpr int W = V::W;
    if (len == L && L % W == 0) {
        for (int64_t p = 0; p < kc; ++p)
#pragma GCC unroll 4
            for (int l = 0; l < L; l += W) V::load(src + p * ld + l).store(dst + p * L + l);
        return;
    }
    // Partial vectors: masked loads zero-fill lanes past len, masked stores stop at L.
    for (int64_t p = 0; p < kc; ++p)
#pragma GCC unroll 4
        for (int l0 = 0; l0 < L; l0 += W) {
            const int valid = (int)imax(0, imin(W, len - l0)), lanes = (int)imin(W, L - l0);
            V v = valid == W ? V::load(src + p * ld + l0) : V::load_n(src + p * ld + l0, valid);
            if (lanes == W) v.store(dst + p * L + l0); else v.store_n(dst + p * L + l0, lanes);
        }
}

#if defined(__AVX2__) && !defined(FASTNN_AVX512)
// 8×8 f32 transpose: rows r[0..7] ← columns.
static inline void transpose8(Vec<float>* r) {
    __m256 t0 = _mm256_unpacklo_ps(r[0].v, r[1].v), t1 = _mm256_unpackhi_ps(r[0].v, r[1].v);
    __m256 t2 = _mm256_unpacklo_ps(r[2].v, r[3].v), t3 = _mm256_unpackhi_ps(r[2].v, r[3].v);
    __m256 t4 = _mm256_unpacklo_ps(r[4].v, r[5].v), t5 = _mm256_unpackhi_ps(r[4].v, r[5].v);
    __m256 t6 = _mm256_unpacklo_ps(r[6].v, r[7].v), t7 = _mm256_unpackhi_ps(r[6].v, r[7].v);
    __m256 s0 = _mm256_shuffle_ps(t0, t2, 0x44), s1 = _mm256_shuffle_ps(t0, t2, 0xEE);
    __m256 s2 = _mm256_shuffle_ps(t1, t3, 0x44), s3 = _mm256_shuffle_ps(t1, t3, 0xEE);
    __m256 s4 = _mm256_shuffle_ps(t4, t6, 0x44), s5 = _mm256_shuffle_ps(t4, t6, 0xEE);
    __m256 s6 = _mm256_shuffle_ps(t5, t7, 0x44), s7 = _mm256_shuffle_ps(t5, t7, 0xEE);
    r[0] = _mm256_permute2f128_ps(s0, s4, 0x20); r[1] = _mm256_permute2f128_ps(s1, s5, 0x20);
    r[2] = _mm256_permute2f128_ps(s2, s6, 0x20); r[3] = _mm256_permute2f128_ps(s3, s7, 0x20);
    r[4] = _mm256_permute2f128_ps(s0, s4, 0x31); r[5] = _mm256_permute2f128_ps(s1, s5, 0x31);
    r[6] = _mm256_permute2f128_ps(s2, s6, 0x31); r[7] = _mm256_permute2f128_ps(s3, s7, 0x31);
}
// 4×4 f64 transpose.
static inline void transpose4(Vec<double>* r) {
    __m256d t0 = _mm256_unpacklo_pd(r[0].v, r[1].v), t1 = _mm256_unpackhi_pd(r[0].v, r[1].v);
    __m256d t2 = _mm256_unpacklo_pd(r[2].v, r[3].v), t3 = _mm256_unpackhi_pd(r[2].v, r[3].v);
    r[0] = _mm256_permute2f128_pd(t0, t2, 0x20); r[1] = _mm256_permute2f128_pd(t1, t3, 0x20);
    r[2] = _mm256_permute2f128_pd(t0, t2, 0x31); r[3] = _mm256_permute2f128_pd(t1, t3, 0x31);
}
static inline void transpose_block(Vec<float>* r) { transpose8(r); }
static inline void transpose_block(Vec<double>* r) { transpose4(r); }
#define FASTNN_HAVE_TRANSPOSE 1
#endif

// Panel of L lanes taken across rows of the source:
// dst[p·L + l] = src[l·ld + p] for l < len (zero-padded). (source columns are contiguous)
// With a register transpose, W×W blocks are loaded along p from up to W source rows
// (missing rows are zero), transposed, and stored as W consecutive panel rows; L need
// not be a multiple of W (MR = 6: the last group stores only its valid lanes).
template <class T, int L>
static inline void pack_rows_strided(T* __restrict dst, const T* __restrict src, int64_t ld, int64_t kc, int len) {
    int64_t p = 0;
#ifdef FASTNN_HAVE_TRANSPOSE
    using V = Vec<T>;
    constexpr int W = V::W;
    for (; p + W <= kc; p += W) {
#pragma GCC unroll 4
        for (int l0 = 0; l0 < L; l0 += W) {
            const int rows = (int)imax(0, imin(W, len - l0));
            constexpr int lanes_full = W;
            const int lanes = (int)imin(W, L - l0);
            V r[W];
#pragma GCC unroll 8
            for (int q = 0; q < W; ++q) r[q] = q < rows ? V::load(src + (l0 + q) * ld + p) : V::zero();
            transpose_block(r);
            if (lanes == lanes_full) {
#pragma GCC unroll 8
                for (int q = 0; q < W; ++q) r[q].store(dst + (p + q) * L + l0);
            } else {
#pragma GCC unroll 8
                for (int q = 0; q < W; ++q) r[q].store_n(dst + (p + q) * L + l0, lanes);
            }
        }
    }
#endif
    for (int l = 0; l < len; ++l) {
        const T* s = src + l * ld;
        for (int64_t q = p; q < kc; ++q) dst[q * L + l] = s[q];
    }
    for (int l = len; l < L; ++l)
        for (int64_t q = p; q < kc; ++q) dst[q * L + l] = T(0);
}

}  // namespace FASTNN_ISA_NS
}  // namespace fastnn
