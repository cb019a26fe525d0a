// activation_impl.h: per-ISA element-wise activation bodies (serial), used by the
// activation family and by the GEMM epilogue.
// TEMPORARY minimal version (identity, relu) until the activation family lands.
#pragma once
#include "activation.h"
#include "simd.h"

namespace fastnn {
namespace FASTNN_ISA_NS {

template <class T>
static inline void act_forward_n(T* y, const T* x, int64_t n, int act, const ActParams&) {
    using V = Vec<T>;
    const V zero = V::zero();
    int64_t i = 0;
    if (act == ACT_RELU) {
        for (; i + V::W <= n; i += V::W) vmax(zero, V::load(x + i)).store(y + i);
        if (i < n) vmax(zero, V::load_n(x + i, (int)(n - i))).store_n(y + i, (int)(n - i));
    } else if (y != x) {
        memmove(y, x, (size_t)n * sizeof(T));
    }
}

}  // namespace FASTNN_ISA_NS
}  // namespace fastnn
