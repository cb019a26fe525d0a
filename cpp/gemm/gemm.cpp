// gemm.cpp: the blocked GEMM driver (compiled once per ISA).
//
// Loop nest (Goto/BLIS):  jc (NC columns of B) → pc (KC depth) → pack B block
//   → ic chunks of A (up to MC·kChunk rows) → pack A chunk → tasks (ic block × jr panel)
//   → ir micro-panels → micro-kernel.
// Threads: one parallel region per call. Packing is split over panels; the tasks of a
// chunk are handed out in small dynamic batches, every C tile is written by exactly one
// thread and K is never split: the result does not depend on the thread count. Small
// products (few tasks or < kMinWorkPerThread multiply-adds per thread) run serially.
//
// NT products with few rows (X·Wᵀ at small batch) skip all of this: see gemm_dot.
//
// Epilogue: alpha, beta and bias are folded into the first K block's store (later blocks
// accumulate with beta = 1); relu is applied in registers and any other activation runs
// over each finished tile while it is still in L1, through the activation family.
#include <stdlib.h>
#include <string.h>

#include <numeric>
#include <omp.h>

#include "../activation_impl.h"
#include "../kernels.h"
#include "../threading.h"
#include "config.h"
#include "pack.h"
#include "ukr.h"

namespace fastnn {
namespace FASTNN_ISA_NS {

namespace {

// A thread gets at least this many multiply-adds, else fewer threads are used.
// Chosen with bench/gemm.py on the 2-core Zen 3 VM: 2^18 MACs ≈ 3 µs of one core.
constexpr int64_t kMinWorkPerThread = int64_t(1) << 18;
constexpr int64_t kChunkBlocks = 8;  // MC blocks of A packed per chunk

// Per-calling-thread packing buffers, grown on demand and reused: no allocation per call
// in steady state. (Calls from several Python threads each get their own.)
template <class T> struct PackBuffers {
    T* a = nullptr;
    T* b = nullptr;
    size_t a_size = 0, b_size = 0;
    ~PackBuffers() { free(a); free(b); }
    static T* grow(T*& p, size_t& have, size_t need) {
        if (need > have) {
            free(p);
            size_t bytes = (need * sizeof(T) + 63) / 64 * 64;
            p = static_cast<T*>(aligned_alloc(64, bytes));
            have = p ? need : 0;
        }
        return p;
    }
};
template <class T> PackBuffers<T>& pack_buffers() {
    static thread_local PackBuffers<T> bufs;
    return bufs;
}

// K at or below this: C is swept row-wise (see gemm_blocked). The weight-gradient
// products of batch-32 training (256x32x784) went from 0.69x to ~1x OpenBLAS with it.
constexpr int64_t kRowSweepMaxK = 64;

// One C tile's micro-kernel. A: read in place (adirect, strides rsa/csa; full micro-panels
// only) or packed (ap, column stride MR). The last micro-panel of a ragged M (32 = 5·6 + 2)
// runs a 2- or 4-row instance over its packed panel instead of all MR rows. B: packed or,
// kDirectB, read in place with row stride rsb.
template <class T, int MR, int NRV, bool kDirectB>
inline void ukr_tile(int64_t kc, const T* adirect, int64_t rsa, int64_t csa, const T* ap, const T* b, int64_t rsb,
                     T* c, int64_t ldc, int m, int n, const Epilogue<T>& ep) {
    if (m == MR && adirect) gemm_ukr<T, MR, NRV, true, kDirectB>(kc, adirect, b, c, ldc, m, n, ep, rsa, csa, rsb);
    else if (m <= 2) gemm_ukr<T, 2, NRV, true, kDirectB>(kc, ap, b, c, ldc, m, n, ep, 1, MR, rsb);
    else if (m <= 4) gemm_ukr<T, 4, NRV, true, kDirectB>(kc, ap, b, c, ldc, m, n, ep, 1, MR, rsb);
    else gemm_ukr<T, MR, NRV, false, kDirectB>(kc, ap, b, c, ldc, m, n, ep, 1, MR, rsb);
}

template <class T> constexpr int64_t kDirectMaxN() { return 4 * GemmConfig<T>::NRV * Vec<T>::W; }
// Untransposed A (rows contiguous along K) of an MLP-sized product is also read in place:
// MR row streams prefetch well, and with 2 threads it saves the A-packing pass and its
// barrier per depth block. Interleaved A/B on the 2-core Zen 3 VM, f32, 2 threads:
// 128×784×256 NT +4%, 512×784×256 +5%, 32×256×784 NN +5%, 512×256×784 NN +4%; single
// thread even. Not past these bounds: 1000×1000×1000 lost 4% (the packed A block is reused
// across many B panels), and transposed A (one row per depth step) lost 25%.
constexpr int64_t kDirectRowsMaxM = 512, kDirectRowsMaxN = 1024;
// Untransposed B (rows contiguous along N) is read in place when C has few rows: packing
// reads and writes all of B once per call and is amortised over only M/MR micro-panels.
// Not when B's row stride is a multiple of 2 KB: a micro-panel's column walk then cycles
// through 1 or 2 of L1's 64 sets and thrashes. Interleaved A/B, f32, 1 thread, Zen 3:
// 16x256x256 -23%, 32x256x256 -8%, 32x256x784 -10%, 16x512x784 -22%, 32x1024x1000 -10%;
// at M = 64 reading in place lost (64x256x784 +21%), as did 2 KB strides (32x256x512 +33%).
constexpr int64_t kDirectBMaxM = 48;
inline bool direct_b_stride_ok(int64_t ldb_bytes) { return std::gcd(ldb_bytes, int64_t(4096)) <= 1024; }

// Tasks per grab of a dynamic schedule: 4 (less contention) only when that still leaves
// every thread at least two grabs; else 1. The 4 tasks of a narrow C (512x256x10 NT, 4 M
// blocks x 1 panel) went to one thread whole, and 2 threads ran slower than 1.
inline int dynamic_chunk(int64_t tasks, int nt) { return tasks >= 8 * int64_t(nt) ? 4 : 1; }

template <class T> int64_t balanced_kc(int64_t K) {
    const int64_t KC = GemmConfig<T>::KC, blocks = (K + KC - 1) / KC;
    return (K + blocks - 1) / blocks;
}

template <class T>
void apply_activation_tile(T* c, int64_t ldc, int64_t m, int64_t n, int act, const ActParams& p) {
    for (int64_t i = 0; i < m; ++i) act_forward_n<T>(c + i * ldc, c + i * ldc, n, act, p);
}

// K == 0: C = act(beta·C + bias).
template <class T> void gemm_k0(const GemmArgs<T>& g) {
    for (int64_t i = 0; i < g.M; ++i) {
        T* c = g.C + i * g.ldc;
        for (int64_t j = 0; j < g.N; ++j) {
            T r = g.beta != T(0) ? g.beta * c[j] : T(0);
            c[j] = g.bias ? r + g.bias[j] : r;
        }
        if (g.act != ACT_IDENTITY) act_forward_n<T>(c, c, g.N, g.act, g.act_params);
    }
}

// ---------------------------------------------------------------- NT products, few rows
// C = X·Wᵀ with a small batch, the forward of every Linear layer: both operands have K
// contiguous, so every C element is a dot product. Vectorised along K with a 4×3 tile of
// accumulators (4 rows of X × 3 rows of W) read straight from the caller's arrays, no
// packing: packing Wᵀ reads and writes all of W once per call, which costs as much as
// the multiply when the batch is small. The 3 W rows of a column block stay in L1 while
// the tile sweeps down X (in L2). Each thread owns whole columns of C and every element
// is summed in one fixed order, so the bits do not depend on the thread count.
// Measured on the 2-core Zen 3 (f32, 2 threads, /tmp harness interleaving both paths):
// 32x784x256 80 µs vs 104 packed, 8x784x256 21 vs 42, 32x256x10 2.5 vs 3.7, 32x256x256
// even; packing wins from M = 64 at K = 256 and from M = 128 at K = 784.
template <class T> bool use_dot(const GemmArgs<T>& g) {
    return !g.trans_a && g.trans_b && (g.M <= 48 || (g.M <= 96 && g.K >= 512));
}
constexpr int kDotMA = 4, kDotNB = 3;                    // 12 accumulators + 3 W + 1 X vectors
constexpr int64_t kDotColsPerTask = 12;                  // columns per thread-split unit (4 blocks)

// ReLU here, as the blocked path does in registers (vmax(0, x): NaN and −0 kept); other
// activations go over whole rows once every column is done (gemm_dot): a pass per
// 12-column strip and row cost ~4 µs (ReLU) to ~30 µs (tanh) of a 40 µs 32x256x256 product.
template <class T> FASTNN_INLINE T dot_epilogue(T s, T* c, const GemmArgs<T>& g, int64_t j) {
    T r = g.alpha != T(1) ? g.alpha * s : s;
    if (g.beta != T(0)) r = g.beta * *c + r;
    if (g.bias) r = r + g.bias[j];
    if (g.act == ACT_RELU) r = r < T(0) ? T(0) : r;
    return r;
}

template <class T, int MA, int NB>
void dot_tile(const GemmArgs<T>& g, int64_t i, int64_t j) {
    using V = Vec<T>;
    constexpr int W = V::W;
    const T* a[MA];
    const T* b[NB];
#pragma GCC unroll 4
    for (int ii = 0; ii < MA; ++ii) a[ii] = g.A + (i + ii) * g.lda;
#pragma GCC unroll 4
    for (int jj = 0; jj < NB; ++jj) b[jj] = g.B + (j + jj) * g.ldb;
    V acc[MA][NB];
#pragma GCC unroll 4
    for (int ii = 0; ii < MA; ++ii)
#pragma GCC unroll 4
        for (int jj = 0; jj < NB; ++jj) acc[ii][jj] = V::zero();
    // Per step: NB vectors of W rows, then one X row vector at a time against all of them
    // (12 accumulators + 3 + 1 live vectors on AVX2's 16 registers).
    auto step = [&](int64_t k, int lanes) {
        V bv[NB];
#pragma GCC unroll 4
        for (int jj = 0; jj < NB; ++jj) bv[jj] = lanes == W ? V::load(b[jj] + k) : V::load_n(b[jj] + k, lanes);
#pragma GCC unroll 4
        for (int ii = 0; ii < MA; ++ii) {
            const V av = lanes == W ? V::load(a[ii] + k) : V::load_n(a[ii] + k, lanes);
#pragma GCC unroll 4
            for (int jj = 0; jj < NB; ++jj) acc[ii][jj] = fmadd(av, bv[jj], acc[ii][jj]);
        }
    };
    int64_t k = 0;
#pragma GCC unroll 2
    for (; k + W <= g.K; k += W) step(k, W);
    if (k < g.K) step(k, (int)(g.K - k));   // masked loads zero the lanes past K
    T sum[NB][4];
#pragma GCC unroll 4
    for (int jj = 0; jj < NB; ++jj) {
        if constexpr (MA == 4) {
            hsum4(acc[0][jj], acc[1][jj], acc[2][jj], acc[3][jj], sum[jj]);
        } else {
#pragma GCC unroll 4
            for (int ii = 0; ii < MA; ++ii) sum[jj][ii] = hsum(acc[ii][jj]);
        }
    }
#pragma GCC unroll 4
    for (int ii = 0; ii < MA; ++ii) {
        T* crow = g.C + (i + ii) * g.ldc + j;
#pragma GCC unroll 4
        for (int jj = 0; jj < NB; ++jj) crow[jj] = dot_epilogue(sum[jj][ii], crow + jj, g, j + jj);
    }
}

// Columns [j0, j1) of C, every row: tiles of kDotNB columns (W rows, reused from L1)
// swept down all M rows of X (in L2).
template <class T, int NB> void dot_column_block(const GemmArgs<T>& g, int64_t j) {
    int64_t i = 0;
    for (; i + kDotMA <= g.M; i += kDotMA) dot_tile<T, kDotMA, NB>(g, i, j);
    switch (g.M - i) {
        case 3: dot_tile<T, 3, NB>(g, i, j); break;
        case 2: dot_tile<T, 2, NB>(g, i, j); break;
        case 1: dot_tile<T, 1, NB>(g, i, j); break;
        default: break;
    }
}

template <class T> void dot_columns(const GemmArgs<T>& g, int64_t j0, int64_t j1) {
    int64_t j = j0;
    for (; j + kDotNB <= j1; j += kDotNB) dot_column_block<T, kDotNB>(g, j);
    switch (j1 - j) {
        case 2: dot_column_block<T, 2>(g, j); break;
        case 1: dot_column_block<T, 1>(g, j); break;
        default: break;
    }
}

// The activation (other than ReLU, done in dot_epilogue) over row i of C.
template <class T> void dot_activation_row(const GemmArgs<T>& g, int64_t i) {
    if (g.act != ACT_IDENTITY && g.act != ACT_RELU)
        act_forward_n<T>(g.C + i * g.ldc, g.C + i * g.ldc, g.N, g.act, g.act_params);
}

template <class T> void gemm_dot(const GemmArgs<T>& g) {
    const int64_t tasks = (g.N + kDotColsPerTask - 1) / kDotColsPerTask;
    int nt = threads_for(g.M * g.N * g.K, kMinWorkPerThread);
    if (nt > tasks) nt = (int)tasks;
    if (nt <= 1) {
        dot_columns(g, 0, g.N);
        for (int64_t i = 0; i < g.M; ++i) dot_activation_row(g, i);
        return;
    }
    // Column strips handed out dynamically (the vCPUs differ in speed); which thread
    // computes a column never changes how it is summed. Then the activation by rows.
#pragma omp parallel num_threads(nt)
    {
#pragma omp for schedule(dynamic, 1)
        for (int64_t t = 0; t < tasks; ++t) dot_columns(g, t * kDotColsPerTask, imin(g.N, (t + 1) * kDotColsPerTask));
        if (g.act != ACT_IDENTITY && g.act != ACT_RELU) {
#pragma omp for schedule(static)
            for (int64_t i = 0; i < g.M; ++i) dot_activation_row(g, i);
        }
    }
}

template <class T, bool kRef>
void gemm_blocked(const GemmArgs<T>& g, T* abuf, T* bbuf, int nt) {
    using Cfg = GemmConfig<T>;
    constexpr int MR = Cfg::MR, NR = Cfg::NRV * Vec<T>::W;
    constexpr int64_t MC = Cfg::MC, NC = Cfg::NC, MCHUNK = MC * kChunkBlocks;
    // Balanced depth blocks (784 = 4 × 196, not 3 × 256 + 16): every block amortises the
    // C tile load/store. Depends on K only, so the summation order is thread-independent.
    const int64_t kc_step = balanced_kc<T>(g.K);
    const bool relu_in_regs = g.act == ACT_RELU;
    // Narrow products (few B panels) read A in place instead of packing it: packing costs
    // O(M·K) once per B block and is amortised over only N/NR panels; so do MLP-sized
    // products with untransposed A (kDirectRowsMaxM). Same arithmetic either way, so the
    // choice never changes a result bit.
    const bool direct_a = !kRef && (g.N <= kDirectMaxN<T>() ||
                                    (!g.trans_a && g.M <= kDirectRowsMaxM && g.N <= kDirectRowsMaxN));
    const int64_t rsa = g.trans_a ? 1 : g.lda, csa = g.trans_a ? g.lda : 1;
    const bool direct_b = !kRef && !g.trans_b && g.M <= kDirectBMaxM && direct_b_stride_ok(g.ldb * int64_t(sizeof(T)));
    const bool row_sweep = g.K <= kRowSweepMaxK;
    const bool act_after = g.act != ACT_IDENTITY && g.act != ACT_RELU;

    // The loop nest below uses orphaned `omp for`s: inside the parallel region they split
    // the work, called directly (nt = 1) they run every iteration with no team at all (an
    // if(false) region still costs libgomp ~1 µs: see parallel.h).
    auto nest = [&]() {
        for (int64_t jc = 0; jc < g.N; jc += NC) {
            const int64_t nc = imin(NC, g.N - jc), npanels = (nc + NR - 1) / NR;
            for (int64_t pc = 0; pc < g.K; pc += kc_step) {
                const int64_t kc = imin(kc_step, g.K - pc);
                const bool first = pc == 0, last = pc + kc == g.K;
#pragma omp for schedule(static)
                for (int64_t s = 0; s < npanels; ++s) {
                    const int64_t j0 = jc + s * NR;
                    const int len = (int)imin(NR, g.N - j0);
                    if (direct_b && len == NR) continue;   // read in place (only ragged panels packed)
                    T* dst = bbuf + s * NR * kc;
                    if (g.trans_b) pack_rows_strided<T, NR>(dst, g.B + j0 * g.ldb + pc, g.ldb, kc, len);
                    else pack_rows_contig<T, NR>(dst, g.B + pc * g.ldb + j0, g.ldb, kc, len);
                }
                for (int64_t i0 = 0; i0 < g.M; i0 += MCHUNK) {
                    const int64_t mchunk = imin(MCHUNK, g.M - i0), mpanels = (mchunk + MR - 1) / MR;
                    // Direct A: only the ragged last micro-panel (if any) is packed.
                    const int64_t first_packed = direct_a ? mchunk / MR : 0;
#pragma omp for schedule(static)
                    for (int64_t r = first_packed; r < mpanels; ++r) {
                        const int64_t i = i0 + r * MR;
                        const int len = (int)imin(MR, g.M - i);
                        T* dst = abuf + r * MR * kc;
                        if (g.trans_a) pack_rows_contig<T, MR>(dst, g.A + pc * g.lda + i, g.lda, kc, len);
                        else pack_rows_strided<T, MR>(dst, g.A + i * g.lda + pc, g.lda, kc, len);
                    }
                    // Epilogue of the tiles starting at column j0; A's rows from i, read in place.
                    auto epilogue = [&](int64_t j0) {
                        return Epilogue<T>{g.alpha, first ? g.beta : T(1), (last && g.bias) ? g.bias + j0 : nullptr,
                                           last && relu_in_regs};
                    };
                    auto a_in_place = [&](int64_t i) { return g.trans_a ? g.A + pc * g.lda + i : g.A + i * g.lda + pc; };
                    // One C tile: micro-panel r (MR rows) × B panel s (NR columns).
                    auto tile = [&](int64_t r, int64_t s) {
                        const int64_t i = i0 + r * MR, j0 = jc + s * NR;
                        const int m = (int)imin(MR, g.M - i), n = (int)imin(NR, g.N - j0);
                        const Epilogue<T> ep = epilogue(j0);
                        T* c = g.C + i * g.ldc + j0;
                        const T* ap = abuf + r * MR * kc;
                        const T* bp = bbuf + s * NR * kc;
                        const T* adirect = !direct_a || m < MR ? nullptr : a_in_place(i);
                        if (kRef) gemm_ukr_ref<T, MR, Cfg::NRV>(kc, ap, bp, c, g.ldc, m, n, ep);
                        else if (direct_b && n == NR)
                            ukr_tile<T, MR, Cfg::NRV, true>(kc, adirect, rsa, csa, ap, g.B + pc * g.ldb + j0, g.ldb,
                                                            c, g.ldc, m, n, ep);
                        else ukr_tile<T, MR, Cfg::NRV, false>(kc, adirect, rsa, csa, ap, bp, NR, c, g.ldc, m, n, ep);
                        if (last && act_after) apply_activation_tile(c, g.ldc, m, n, g.act, g.act_params);
                    };
                    // Full tiles s < full_panels of micro-panel r (MR rows) in one kernel call,
                    // as `tile` computes them (same kernels, same order of operations).
                    const int64_t full_panels = (imin(nc, g.N - jc)) / NR;
                    auto row_of_tiles = [&](int64_t r, int64_t s_end) {
                        const int64_t i = i0 + r * MR;
                        T* c = g.C + i * g.ldc + jc;
                        // kDA, kDB: std::true_type / std::false_type (A, B read in place or packed).
                        auto run = [&](auto kDA, auto kDB) {
                            gemm_ukr_row<T, MR, Cfg::NRV, decltype(kDA)::value, decltype(kDB)::value>(
                                kc, kDA ? a_in_place(i) : abuf + r * MR * kc, kDA ? rsa : 1, kDA ? csa : MR,
                                kDB ? g.B + pc * g.ldb + jc : bbuf, kDB ? NR : NR * kc, kDB ? g.ldb : NR, c, g.ldc,
                                s_end, epilogue(jc));
                        };
                        using Tr = std::true_type;
                        using F = std::false_type;
                        if (direct_a) direct_b ? run(Tr{}, Tr{}) : run(Tr{}, F{});
                        else direct_b ? run(F{}, Tr{}) : run(F{}, F{});
                        if (last && act_after)
                            for (int64_t s = 0; s < s_end; ++s)
                                apply_activation_tile(c + s * NR, g.ldc, MR, NR, g.act, g.act_params);
                    };
                    if (row_sweep) {
                        // Shallow K: the packed B block is small (L2), so each task sweeps one
                        // micro-panel's rows of C left to right (contiguous, TLB-friendly)
                        // instead of walking a tall column strip of C.
                        const int chunk = dynamic_chunk(mpanels, nt);
#pragma omp for schedule(dynamic, chunk)
                        for (int64_t r = 0; r < mpanels; ++r) {
                            const int64_t s_end = kRef || g.M - (i0 + r * MR) < MR ? 0 : full_panels;
                            if (s_end > 0) row_of_tiles(r, s_end);
                            for (int64_t s = s_end; s < npanels; ++s) tile(r, s);
                        }
                    } else {
                        // Tasks: (M block, NR panel) pairs, M-block-major so a thread keeps its
                        // A block in L2 while walking B panels. Blocks are balanced (256 rows =
                        // 2 × 128, not 144 + 112). Handed out dynamically (dynamic_chunk): the two
                        // vCPUs of the VM do not run at the same speed (two copies of one
                        // single-thread product: 82 and 67 GFLOP/s side by side), and which
                        // thread computes a tile never changes its bits.
                        const int64_t mblocks = (mchunk + MC - 1) / MC, ntasks = mblocks * npanels;
                        const int64_t panels_per_block = (mpanels + mblocks - 1) / mblocks;
                        const int chunk = dynamic_chunk(ntasks, nt);
#pragma omp for schedule(dynamic, chunk)
                        for (int64_t t = 0; t < ntasks; ++t) {
                            const int64_t blk = t / npanels, s = t % npanels;
                            const int64_t rend = imin(mpanels, (blk + 1) * panels_per_block);
                            for (int64_t r = blk * panels_per_block; r < rend; ++r) tile(r, s);
                        }
                    }
                }
            }
        }
    };
    if (nt > 1 || omp_in_parallel()) {
        // Inside a caller's parallel region the orphaned `omp for`s would bind to the
        // caller's team and split (or skip) iterations: give them a team of their own.
#pragma omp parallel num_threads(nt)
        nest();
    } else {
        nest();
    }
}

template <class T, bool kRef = false> void gemm_impl(const GemmArgs<T>& g) {
    if (g.M <= 0 || g.N <= 0) return;
    if (g.K <= 0) { gemm_k0(g); return; }
    if (!kRef && use_dot(g)) { gemm_dot(g); return; }
    using Cfg = GemmConfig<T>;
    constexpr int MR = Cfg::MR, NR = Cfg::NRV * Vec<T>::W;
    const int64_t kc = balanced_kc<T>(g.K);
    const int64_t nc = imin(Cfg::NC, g.N), mchunk = imin(Cfg::MC * kChunkBlocks, g.M);
    PackBuffers<T>& pb = pack_buffers<T>();
    T* abuf = PackBuffers<T>::grow(pb.a, pb.a_size, size_t((mchunk + MR - 1) / MR * MR * kc));
    T* bbuf = PackBuffers<T>::grow(pb.b, pb.b_size, size_t((nc + NR - 1) / NR * NR * kc));
    if (!abuf || !bbuf) abort();  // out of memory for a few MB of panels
    const int64_t tasks = ((mchunk + Cfg::MC - 1) / Cfg::MC) * ((nc + NR - 1) / NR);
    int nt = threads_for(g.M * g.N * g.K, kMinWorkPerThread);
    if (nt > tasks) nt = (int)tasks;
    gemm_blocked<T, kRef>(g, abuf, bbuf, nt);
}

}  // namespace

void gemm_f32(const GemmArgs<float>& g) { gemm_impl(g); }
void gemm_f64(const GemmArgs<double>& g) { gemm_impl(g); }
void gemm_ref_f32(const GemmArgs<float>& g) { gemm_impl<float, true>(g); }
void gemm_ref_f64(const GemmArgs<double>& g) { gemm_impl<double, true>(g); }

void gemm_tile_f32(int* mr, int* nr) { *mr = GemmConfig<float>::MR; *nr = GemmConfig<float>::NRV * Vec<float>::W; }
void gemm_tile_f64(int* mr, int* nr) { *mr = GemmConfig<double>::MR; *nr = GemmConfig<double>::NRV * Vec<double>::W; }

}  // namespace FASTNN_ISA_NS
}  // namespace fastnn
