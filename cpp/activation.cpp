// activation.cpp: the activation family's kernels (compiled once per ISA).
//
//   act_forward_<dt>(y, x, n, act, p)            y = act(x), n elements (y may be x)
//   act_backward_<dt>(dx, dy, x, y, n, act, p)   dx = dy·act'(x); dx is overwritten
//                                                 (input-gradient convention)
//
// The bodies live in activation_impl.h (shared with the GEMM epilogue). Here: threads.
// Element-wise, so any split gives the same bits; the array is cut into one contiguous,
// 64-element-aligned chunk per thread. Regions only above a size where they pay
// (KERNELS.md §6: ~1 µs per region when hot): cheap activations run at memory speed
// and need ~2^16 elements per thread; transcendental ones ~2^13.
#include "activation_impl.h"
#include "kernels.h"
#include "parallel.h"
#include "threading.h"

namespace fastnn {
namespace FASTNN_ISA_NS {

namespace {

int64_t act_grain(int act) {
    switch (act) {
        case ACT_IDENTITY: case ACT_RELU: case ACT_LEAKY_RELU: case ACT_SOFTSIGN:
        case ACT_HARDTANH: case ACT_HARDSIGMOID: case ACT_HARDSIGMOID_LINEAR:
            return int64_t(1) << 16;
        default:
            return int64_t(1) << 13;
    }
}

template <class T> void act_forward_impl(T* y, const T* x, int64_t n, int act, const ActParams& p) {
    split_range(n, threads_for(n, act_grain(act)),
                [&](int64_t i0, int64_t i1) { act_forward_n<T>(y + i0, x + i0, i1 - i0, act, p); });
}

template <class T>
void act_backward_impl(T* dx, const T* dy, const T* x, const T* y, int64_t n, int act, const ActParams& p) {
    split_range(n, threads_for(n, act_grain(act)), [&](int64_t i0, int64_t i1) {
        act_backward_n<T>(dx + i0, dy + i0, x + i0, y + i0, i1 - i0, act, p);
    });
}

}  // namespace

void act_forward_f32(float* y, const float* x, int64_t n, int act, const ActParams& p) { act_forward_impl(y, x, n, act, p); }
void act_forward_f64(double* y, const double* x, int64_t n, int act, const ActParams& p) { act_forward_impl(y, x, n, act, p); }
void act_backward_f32(float* dx, const float* dy, const float* x, const float* y, int64_t n, int act, const ActParams& p) {
    act_backward_impl(dx, dy, x, y, n, act, p);
}
void act_backward_f64(double* dx, const double* dy, const double* x, const double* y, int64_t n, int act,
                      const ActParams& p) {
    act_backward_impl(dx, dy, x, y, n, act, p);
}

}  // namespace FASTNN_ISA_NS
}  // namespace fastnn
