// ukr.h: the GEMM micro-kernel, one template for every ISA and dtype, and its reference.
//
// Computes an MR×NR tile  acc = Σ_p a[p·MR + i] · b[p·NR + j]  over p < kc from packed
// panels (A: kc×MR, column by column; B: kc×NR, row by row), then the epilogue on the
// m×n (≤ MR×NR) valid part of C:
//     C = alpha·acc + beta·C + bias[j]   (beta == 0: C not read; bias optional)
//     then max(0, ·) when relu (in registers; other activations run after, on the tile).
// Edge tiles: the packed panels are zero-padded, so the kernel always computes the full
// tile and only the stores are masked (rows < m, lanes < n).
#pragma once
#include <type_traits>

#include "../simd.h"

namespace fastnn {
namespace FASTNN_ISA_NS {

template <class T> struct Epilogue {
    T alpha;
    T beta;          // applied to C; 0 means C is not read
    const T* bias;   // NR values for this tile (already offset), or null
    bool relu;
};

// Epilogue of an edge tile from a scratch copy of the accumulators (row stride NR):
// rows < m, lanes < n; same arithmetic as the full-tile path in gemm_ukr.
template <class T, int NR>
static void gemm_epilogue_partial(const T* tmp, T* c, int64_t ldc, int m, int n, const Epilogue<T>& ep) {
    using V = Vec<T>;
    constexpr int W = V::W;
    const V alpha = V::set1(ep.alpha), beta = V::set1(ep.beta), zero = V::zero();
    for (int i = 0; i < m; ++i) {
        T* crow = c + i * ldc;
        for (int j = 0; j < n; j += W) {
            const int lanes = (int)imin(W, n - j);
            V r = V::load(tmp + i * NR + j) * alpha;
            if (ep.beta != T(0)) r = fmadd(beta, V::load_n(crow + j, lanes), r);
            if (ep.bias) r = r + V::load_n(ep.bias + j, lanes);
            if (ep.relu) r = vmax(zero, r);
            r.store_n(crow + j, lanes);
        }
    }
}

// A access: packed (kDirectA = false: a[p·MR + i]) or straight from the caller's array
// (kDirectA = true: a[i·rsa + p·csa], rsa/csa = (lda, 1) or (1, lda)), used for narrow
// products where packing A would cost as much as the multiply (gemm.cpp decides).
// B likewise: packed (b[p·NR + j]) or, kDirectB, NR columns of an untransposed B read in
// place (b[p·rsb + j], rsb = ldb). The kernel reads all NR columns, so the driver uses this
// for full-width panels only.
// gemm_ukr_body is the kernel itself, always inlined: into gemm_ukr (one tile per call)
// and into gemm_ukr_row (a row of tiles in one call).
template <class T, int MR, int NRV, bool kDirectA, bool kDirectB>
FASTNN_INLINE void gemm_ukr_body(int64_t kc, const T* __restrict a, const T* __restrict b, T* __restrict c,
                                 int64_t ldc, int m, int n, const Epilogue<T>& ep, int64_t rsa, int64_t csa,
                                 int64_t rsb) {
    using V = Vec<T>;
    constexpr int W = V::W, NR = NRV * W;
    const int64_t bstep = kDirectB ? rsb : NR;
    const int64_t rs = kDirectA ? rsa : 1, cs = kDirectA ? csa : MR;
    V acc[MR][NRV];
#pragma GCC unroll 16
    for (int i = 0; i < MR; ++i)
#pragma GCC unroll 4
        for (int v = 0; v < NRV; ++v) acc[i][v] = V::zero();

    // The C tile is written at the end: start pulling its lines in now (write intent).
    for (int i = 0; i < m; ++i) {
        __builtin_prefetch(c + i * ldc, 1);
        __builtin_prefetch(c + i * ldc + NR - 1, 1);
    }
#pragma GCC unroll 4
    for (int64_t p = 0; p < kc; ++p) {
        V bv[NRV];
#pragma GCC unroll 4
        for (int v = 0; v < NRV; ++v) bv[v] = V::load(b + v * W);
        // B's kc×NR micro-panel stays in L1 across the MC block; A streams from L2.
        if (!kDirectA) __builtin_prefetch(a + 16 * MR);
        // In place, B's rows are a strided walk the hardware prefetcher picks up late: fetch
        // 8 rows ahead (both lines, the panel need not be aligned). 16x256x256 -15% with it.
        if (kDirectB) { __builtin_prefetch(b + 8 * rsb); __builtin_prefetch(b + 8 * rsb + NR - 1); }
#pragma GCC unroll 16
        for (int i = 0; i < MR; ++i) {
            V ai = V::set1(a[i * rs]);
#pragma GCC unroll 4
            for (int v = 0; v < NRV; ++v) acc[i][v] = fmadd(ai, bv[v], acc[i][v]);
        }
        a += cs;
        b += bstep;
    }

    if (m == MR && n == NR) {
        // Full tile: compile-time indices only, so the accumulators stay in registers. The
        // epilogue's options are tested once per tile, not per store: each combination is
        // its own straight-line store sequence (same operations in the same order).
        const T* const bias = ep.bias;
        const V alpha = V::set1(ep.alpha), beta = V::set1(ep.beta), zero = V::zero();
        // Each flag is std::true_type / std::false_type (a compile-time branch) or a bool.
        auto store_tile = [&](auto scale, auto accumulate, auto add_bias, auto relu) FASTNN_INLINE_LAMBDA {
            V bv[NRV];
#pragma GCC unroll 4
            for (int v = 0; v < NRV; ++v) bv[v] = add_bias ? V::load(bias + v * W) : zero;
#pragma GCC unroll 16
            for (int i = 0; i < MR; ++i) {
                T* crow = c + i * ldc;
#pragma GCC unroll 4
                for (int v = 0; v < NRV; ++v) {
                    V r = scale ? acc[i][v] * alpha : acc[i][v];
                    if (accumulate) r = fmadd(beta, V::load(crow + v * W), r);
                    if (add_bias) r = r + bv[v];
                    if (relu) r = vmax(zero, r);
                    r.store(crow + v * W);
                }
            }
        };
        using F = std::false_type;
        using Tr = std::true_type;
        const int mode = (ep.alpha != T(1)) | (ep.beta != T(0)) << 1 | (bias != nullptr) << 2 | ep.relu << 3;
        switch (mode) {
            case 0: store_tile(F{}, F{}, F{}, F{}); break;
            case 2: store_tile(F{}, Tr{}, F{}, F{}); break;
            case 4: store_tile(F{}, F{}, Tr{}, F{}); break;
            case 6: store_tile(F{}, Tr{}, Tr{}, F{}); break;
            case 12: store_tile(F{}, F{}, Tr{}, Tr{}); break;
            case 14: store_tile(F{}, Tr{}, Tr{}, Tr{}); break;
            case 8: store_tile(F{}, F{}, F{}, Tr{}); break;
            case 10: store_tile(F{}, Tr{}, F{}, Tr{}); break;
            default:  // alpha != 1: rare (the layers never scale), tested per store
                store_tile(Tr{}, ep.beta != T(0), bias != nullptr, ep.relu);
        }
        return;
    }
    // Partial tile: spill the accumulators with constant indices (so the full-tile path
    // above keeps them in registers), then finish the valid m×n part from the scratch.
    alignas(64) T tmp[MR][NR];
#pragma GCC unroll 16
    for (int i = 0; i < MR; ++i)
#pragma GCC unroll 4
        for (int v = 0; v < NRV; ++v) acc[i][v].store(&tmp[i][v * W]);
    gemm_epilogue_partial<T, NR>(&tmp[0][0], c, ldc, m, n, ep);
}

template <class T, int MR, int NRV, bool kDirectA = false, bool kDirectB = false>
static inline void gemm_ukr(int64_t kc, const T* __restrict a, const T* __restrict b, T* __restrict c,
                            int64_t ldc, int m, int n, const Epilogue<T>& ep, int64_t rsa = 1, int64_t csa = MR,
                            int64_t rsb = NRV * Vec<T>::W) {
    gemm_ukr_body<T, MR, NRV, kDirectA, kDirectB>(kc, a, b, c, ldc, m, n, ep, rsa, csa, rsb);
}

// npanels full MR×NR tiles side by side: B panel s starts at b + s·bpanel, C tile s at
// c + s·NR, bias (when given) at ep.bias + s·NR. For shallow K, where a tile's multiply is
// only a few dozen cycles and the call, frame and setup of one gemm_ukr per tile cost
// about as much again; the tiles and their arithmetic are those of gemm_ukr.
template <class T, int MR, int NRV, bool kDirectA, bool kDirectB>
static void gemm_ukr_row(int64_t kc, const T* a, int64_t rsa, int64_t csa, const T* b, int64_t bpanel, int64_t rsb,
                         T* c, int64_t ldc, int64_t npanels, Epilogue<T> ep) {
    constexpr int NR = NRV * Vec<T>::W;
    for (int64_t s = 0; s < npanels; ++s) {
        gemm_ukr_body<T, MR, NRV, kDirectA, kDirectB>(kc, a, b + s * bpanel, c + s * NR, ldc, MR, NR, ep, rsa, csa,
                                                      rsb);
        if (ep.bias) ep.bias += NR;
    }
}

// Reference micro-kernel: the same contract as plain loops. tests/test_gemm.py runs both
// on the same packed panels through the gemm_ukr_check entry point.
template <class T, int MR, int NRV>
static void gemm_ukr_ref(int64_t kc, const T* a, const T* b, T* c, int64_t ldc, int m, int n, const Epilogue<T>& ep) {
    constexpr int NR = NRV * Vec<T>::W;
    T acc[MR][NR] = {};
    for (int64_t p = 0; p < kc; ++p)
        for (int i = 0; i < MR; ++i)
            for (int j = 0; j < NR; ++j) acc[i][j] += a[p * MR + i] * b[p * NR + j];
    for (int i = 0; i < m; ++i)
        for (int j = 0; j < n; ++j) {
            T r = ep.alpha * acc[i][j];
            if (ep.beta != T(0)) r += ep.beta * c[i * ldc + j];
            if (ep.bias) r += ep.bias[j];
            if (ep.relu) r = (r > T(0) || r != r) ? r : T(0);
            c[i * ldc + j] = r;
        }
}

}  // namespace FASTNN_ISA_NS
}  // namespace fastnn
