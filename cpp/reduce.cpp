// reduce.cpp: deterministic reductions (compiled once per ISA).
//
// bias_grad: db[f] += Σ_b dy[b, f] over the batch, rows added in order 0..B-1 for every
// column, so the result is the same for any thread count. Columns are split across
// threads in vector-width blocks; each thread owns its columns (no atomics).
#include "kernels.h"
#include "parallel.h"
#include "simd.h"
#include "threading.h"

namespace fastnn {
namespace FASTNN_ISA_NS {

namespace {

template <class T> void column_sum_acc(T* db, const T* dy, int64_t rows, int64_t cols, int64_t c0, int64_t c1) {
    using V = Vec<T>;
    constexpr int U = 4 * V::W;  // columns per register block
    int64_t c = c0;
    for (; c + U <= c1; c += U) {
        V acc[4] = {V::zero(), V::zero(), V::zero(), V::zero()};
        for (int64_t r = 0; r < rows; ++r)
#pragma GCC unroll 4
            for (int u = 0; u < 4; ++u) acc[u] = acc[u] + V::load(dy + r * cols + c + u * V::W);
#pragma GCC unroll 4
        for (int u = 0; u < 4; ++u) (V::load(db + c + u * V::W) + acc[u]).store(db + c + u * V::W);
    }
    for (; c < c1; c += V::W) {
        int lanes = (int)imin(V::W, c1 - c);
        V acc = V::zero();
        for (int64_t r = 0; r < rows; ++r) acc = acc + V::load_n(dy + r * cols + c, lanes);
        (V::load_n(db + c, lanes) + acc).store_n(db + c, lanes);
    }
}

template <class T> void bias_grad_impl(T* db, const T* dy, int64_t rows, int64_t cols) {
    constexpr int64_t kBlock = 64;  // columns per parallel block
    const int64_t blocks = (cols + kBlock - 1) / kBlock;
    const int nt = blocks > 1 ? threads_for(rows * cols, int64_t(1) << 16) : 1;
    parallel_for(blocks, nt,
                 [=](int64_t b) { column_sum_acc(db, dy, rows, cols, b * kBlock, imin(cols, (b + 1) * kBlock)); });
}

}  // namespace

void bias_grad_f32(float* db, const float* dy, int64_t rows, int64_t cols) { bias_grad_impl(db, dy, rows, cols); }
void bias_grad_f64(double* db, const double* dy, int64_t rows, int64_t cols) { bias_grad_impl(db, dy, rows, cols); }

}  // namespace FASTNN_ISA_NS
}  // namespace fastnn
