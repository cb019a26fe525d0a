// gemm.h: C = act(alpha·op(A)·op(B) + beta·C + bias), row-major, f32 and f64.
//
// op(A) is M×K: A is stored M×K (lda >= K), or K×M (lda >= M) when trans_a.
// op(B) is K×N: B is stored K×N (ldb >= N), or N×K (ldb >= K) when trans_b.
// C is M×N (ldc >= N). beta == 0: C is not read (may hold NaN). bias: N values or null.
// K == 0 gives act(beta·C + bias). Deterministic for any thread count: every C tile is
// computed by one thread with K traversed in the same blocks and order.
#pragma once
#include <stdint.h>

#include "../activation.h"

namespace fastnn {

template <class T> struct GemmArgs {
    int64_t M, N, K;
    const T* A;
    int64_t lda;
    bool trans_a;
    const T* B;
    int64_t ldb;
    bool trans_b;
    T* C;
    int64_t ldc;
    T alpha;
    T beta;
    const T* bias;
    int act;
    ActParams act_params;
};

}  // namespace fastnn
