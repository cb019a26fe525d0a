// dropout.cpp: dropout and RReLU slopes from the counter-based generator (rng.h);
// compiled once per ISA.
//
//   dropout_forward_<dt>(y, x, n, seed, stream, keep32, scale)
//       y[i] = x[i]·scale if bits32(i) < keep32 else 0 (keep32 ≥ 2^32 keeps every element)
//   dropout_backward_<dt>(dx, dy, ...)  the same mask regenerated: dx overwritten
//   rrelu_slopes_<dt>(out, n, lower, upper, seed, stream)
//       out[i] = lower + (upper − lower)·(word(i) >> 11)·2^−53 in double, no FMA, rounded once
//
// Arrays are flat (n elements, index = row-major position); y may alias x. Threads take
// contiguous index ranges; the bits depend only on the index, so any split is the same.
// The mask is made kRngBlock elements (one vector of hash words) at a time where rng.h
// has a vector form, from an even index; an odd first element and the tail are scalar
// (rng.h dropout_range).
#include "kernels.h"
#include "parallel.h"
#include "rng.h"
#include "simd.h"
#include "threading.h"

namespace fastnn {
namespace FASTNN_ISA_NS {

namespace {

constexpr int64_t kGrain = int64_t(1) << 15;  // elements per thread, at least

template <class T>
void dropout_impl(T* y, const T* x, int64_t n, uint64_t seed, uint64_t stream, uint64_t keep32, double scale) {
    const uint64_t key = rng_key(seed, stream);
    split_range(n, threads_for(n, kGrain),
                [&](int64_t i0, int64_t i1) { dropout_range(y, x, i0, i1, key, keep32, T(scale)); });
}

// a·b kept as a separate rounding: the reference computes lower + d·u without FMA.
inline double mul_no_contract(double a, double b) {
    double p = a * b;
    __asm__("" : "+m"(p));
    return p;
}

template <class T> void rrelu_slopes_impl(T* out, int64_t n, double lower, double upper, uint64_t seed, uint64_t stream) {
    const uint64_t key = rng_key(seed, stream);
    const double d = upper - lower;
    split_range(n, threads_for(n, kGrain), [&](int64_t i0, int64_t i1) {
        for (int64_t i = i0; i < i1; ++i) {
            const double u = (double)(rng_word(key, (uint64_t)i) >> 11) * 0x1p-53;
            out[i] = T(lower + mul_no_contract(d, u));
        }
    });
}

}  // namespace

void dropout_forward_f32(float* y, const float* x, int64_t n, uint64_t seed, uint64_t stream, uint64_t keep32, double scale) {
    dropout_impl(y, x, n, seed, stream, keep32, scale);
}
void dropout_forward_f64(double* y, const double* x, int64_t n, uint64_t seed, uint64_t stream, uint64_t keep32, double scale) {
    dropout_impl(y, x, n, seed, stream, keep32, scale);
}
void dropout_backward_f32(float* dx, const float* dy, int64_t n, uint64_t seed, uint64_t stream, uint64_t keep32, double scale) {
    dropout_impl(dx, dy, n, seed, stream, keep32, scale);
}
void dropout_backward_f64(double* dx, const double* dy, int64_t n, uint64_t seed, uint64_t stream, uint64_t keep32, double scale) {
    dropout_impl(dx, dy, n, seed, stream, keep32, scale);
}
void rrelu_slopes_f32(float* out, int64_t n, double lower, double upper, uint64_t seed, uint64_t stream) {
    rrelu_slopes_impl(out, n, lower, upper, seed, stream);
}
void rrelu_slopes_f64(double* out, int64_t n, double lower, double upper, uint64_t seed, uint64_t stream) {
    rrelu_slopes_impl(out, n, lower, upper, seed, stream);
}

}  // namespace FASTNN_ISA_NS
}  // namespace fastnn
