// gather.cpp: mini-batch gathering (compiled once per ISA).
//
//   take_rows(out, x, x_rows, row_bytes, index, n)
//       out row r = x row index[r] for r < n, rows of row_bytes bytes (any element type);
//       returns −1, or the first r whose index is outside [0, x_rows) (nothing is read
//       for it; rows before it may have been copied).
//
// Gathering a shuffled batch from a large dataset waits on memory: every row starts with
// a cache miss. Prefetching the rows a few places ahead keeps several misses in flight,
// and large batches split their rows over threads (disjoint outputs: the bytes are the
// same for any thread count).
#include <string.h>

#include "kernels.h"
#include "parallel.h"
#include "threading.h"

namespace fastnn {
namespace FASTNN_ISA_NS {

namespace {

constexpr int64_t kGrainBytes = int64_t(1) << 17;  // bytes per thread, at least (batch 128 × 784 f32: 2)
constexpr int64_t kAhead = 4;                      // rows prefetched ahead
constexpr int64_t kLine = 64;

constexpr int64_t kPrefetchBytes = 4096;           // of each row (longer rows stream anyway)

void prefetch_row(const unsigned char* p, int64_t bytes) {
    const int64_t end = bytes < kPrefetchBytes ? bytes : kPrefetchBytes;
    for (int64_t o = 0; o < end; o += kLine) __builtin_prefetch(p + o, 0, 0);
}

}  // namespace

int64_t take_rows(unsigned char* out, const unsigned char* x, int64_t x_rows, int64_t row_bytes, const int64_t* index,
                  int64_t n) {
    for (int64_t r = 0; r < n; ++r)
        if (index[r] < 0 || index[r] >= x_rows) return r;
    // The first kAhead rows are requested together before the copies start.
    for (int64_t r = 0; r < kAhead && r < n; ++r) prefetch_row(x + index[r] * row_bytes, row_bytes);
    const int nt = threads_for(n * row_bytes, kGrainBytes);
    parallel_for(n, nt, [=](int64_t r) {
        if (r + kAhead < n) prefetch_row(x + index[r + kAhead] * row_bytes, row_bytes);
        memcpy(out + r * row_bytes, x + index[r] * row_bytes, (size_t)row_bytes);
    });
    return -1;
}

}  // namespace FASTNN_ISA_NS
}  // namespace fastnn
