// parallel.h: the one-level OpenMP split used by element-wise kernel families.
// Per ISA (it is a template instantiated in each ISA's objects, so it lives in the ISA
// namespace like everything else; see simd.h).
#pragma once
#include <stdint.h>

#include "simd.h"

namespace fastnn {
namespace FASTNN_ISA_NS {

// body(i) for i in [0, n), split statically over nt threads. nt <= 1 is a plain loop: an
// OpenMP region with if(false) still builds a one-thread team in libgomp (a malloc and
// futex calls, ~1 µs per call, measured with perf on a 2x2 GEMM), which small kernels
// called every training step cannot afford.
template <class Body> void parallel_for(int64_t n, int nt, const Body& body) {
    if (nt <= 1) {
        for (int64_t i = 0; i < n; ++i) body(i);
        return;
    }
#pragma omp parallel for num_threads(nt) schedule(static)
    for (int64_t i = 0; i < n; ++i) body(i);
}

// body(i0, i1) over [0, n) in nt contiguous chunks (multiples of 64 elements, so chunk
// boundaries never split a cache line of float32 data). nt <= 1 runs inline, no region.
// Element-wise results do not depend on the split, so any nt gives the same bits.
template <class Body> void split_range(int64_t n, int nt, const Body& body) {
    if (nt <= 1) { body(0, n); return; }
    const int64_t chunk = ((n + nt - 1) / nt + 63) / 64 * 64;
#pragma omp parallel for num_threads(nt) schedule(static)
    for (int t = 0; t < nt; ++t) {
        const int64_t i0 = imin(n, t * chunk), i1 = imin(n, i0 + chunk);
        if (i1 > i0) body(i0, i1);
    }
}

}  // namespace FASTNN_ISA_NS
}  // namespace fastnn
