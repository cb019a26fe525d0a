// threading.h: the library-wide thread count and the work thresholds that decide when an
// OpenMP region pays for itself (KERNELS.md §6: a region costs ~1 µs hot, up to 200 µs
// after idle). ISA-independent; defined in dispatch.cpp.
#pragma once
#include <omp.h>
#include <stdint.h>

namespace fastnn {

int num_threads();              // current setting (>= 1)
void set_num_threads(int n);    // n >= 1

// Threads for a job of `work` units where one thread should get at least `grain` units.
// Inside a parallel region (a piece of a multi-tensor update) a kernel runs on the calling
// thread alone: a nested region would only add its cost.
inline int threads_for(int64_t work, int64_t grain) {
    if (omp_in_parallel()) return 1;
    int64_t t = work / (grain > 0 ? grain : 1);
    int nt = num_threads();
    return t < 1 ? 1 : (t < nt ? (int)t : nt);
}

}  // namespace fastnn
