// dispatch.cpp: baseline code (compiled without ISA flags). Picks one kernel table from
// the CPU's features, owns the thread count, and defines the public entry points.
#include <omp.h>
#include <string.h>

#include "kernels.h"
#include "threading.h"

namespace fastnn {

namespace generic { extern const KernelTable kTable; }
#if FASTNN_HAVE_X86_ISAS
namespace avx2 { extern const KernelTable kTable; }
namespace avx512 { extern const KernelTable kTable; }
#endif

namespace {

bool cpu_has(const char* isa) {
    if (strcmp(isa, "generic") == 0) return true;
#if FASTNN_HAVE_X86_ISAS
    __builtin_cpu_init();
    // x86-64-v3 and v4 feature sets, the ones the ISA sources are compiled with.
    bool v3 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
              __builtin_cpu_supports("bmi2") && __builtin_cpu_supports("f16c") &&
              __builtin_cpu_supports("movbe");
    if (strcmp(isa, "avx2") == 0) return v3;
#if defined(FASTNN_AVX512_EMULATION)
    if (strcmp(isa, "avx512") == 0) return v3;  // developer check build: see avx512_emulation.h
#endif
    if (strcmp(isa, "avx512") == 0)
        return v3 && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
               __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl") &&
               __builtin_cpu_supports("avx512cd");
#endif
    return false;
}

const KernelTable* table_for(const char* isa) {
#if FASTNN_HAVE_X86_ISAS
    if (strcmp(isa, "avx512") == 0) return &avx512::kTable;
    if (strcmp(isa, "avx2") == 0) return &avx2::kTable;
#endif
    if (strcmp(isa, "generic") == 0) return &generic::kTable;
    return nullptr;
}

const char* const kAllIsas[] = {"avx512", "avx2", "generic"};

const KernelTable* g_table = nullptr;
int g_threads = 0;

const KernelTable* table() {
    if (!g_table) select_isa("auto");
    return g_table;
}

}  // namespace

int select_isa(const char* name) {
    if (!name || !*name || strcmp(name, "auto") == 0) {
        for (const char* isa : kAllIsas)
            if (table_for(isa) && cpu_has(isa)) { g_table = table_for(isa); return 0; }
        return -2;
    }
    bool known = false;
    for (const char* isa : kAllIsas) known = known || strcmp(isa, name) == 0;
    if (!known) return -1;
    if (!table_for(name) || !cpu_has(name)) return -2;
    g_table = table_for(name);
    return 0;
}

const char* current_isa() { return table()->isa; }

const char* supported_isas() {
    static char buf[64];
    buf[0] = 0;
    for (const char* isa : kAllIsas) {
        if (!table_for(isa) || !cpu_has(isa)) continue;
        if (buf[0]) strcat(buf, ",");
        strcat(buf, isa);
    }
    return buf;
}

int avx512_emulated() {
#if defined(FASTNN_AVX512_EMULATION)
    return 1;
#else
    return 0;
#endif
}

const char* openmp_runtime() {
#if defined(__GNUC__) && !defined(__clang__)
    return "libgomp";
#else
    return "unknown";
#endif
}

int num_threads() {
    if (g_threads <= 0) g_threads = omp_get_max_threads();  // honours OMP_NUM_THREADS
    return g_threads;
}

void set_num_threads(int n) { g_threads = n < 1 ? 1 : n; }

bool update_rows(void* const* ptrs, int width, const int64_t* sizes, const char* f64, int64_t rows,
                 RowUpdate update, const void* hyper, const double* values, int values_per_row, int check) {
    if (width < 1 || width > kMaxRowWidth) return false;  // (the rules' widths are 3 to 5)
    int64_t total = 0;
    for (int64_t r = 0; r < rows; ++r) total += sizes[r];
    // The rows' parts inside the flat elements [lo, hi): each updated, or (probe) each
    // column `check` tested for a non-finite value.
    auto parts = [&](int64_t lo, int64_t hi, auto&& fn) {
        int64_t start = 0;
        for (int64_t r = 0; r < rows && start < hi; start += sizes[r], ++r) {
            const int64_t a = lo > start ? lo : start, b = hi < start + sizes[r] ? hi : start + sizes[r];
            if (a < b) fn(r, a - start, b - a);
        }
    };
    // Each piece reaches the rule with its row's pointers advanced to the piece (null stays null).
    auto run = [&](int64_t lo, int64_t hi) {
        parts(lo, hi, [&](int64_t r, int64_t a, int64_t n) {
            void* row[kMaxRowWidth];
            const int64_t offset = a * (f64[r] ? 8 : 4);
            for (int c = 0; c < width; ++c) {
                char* q = (char*)ptrs[r * width + c];
                row[c] = q ? q + offset : nullptr;
            }
            update(row, n, f64[r], hyper, values + r * values_per_row);
        });
    };
    auto nonfinite = [&](int64_t lo, int64_t hi) {
        bool bad = false;
        parts(lo, hi, [&](int64_t r, int64_t a, int64_t n) {
            const void* p = ptrs[r * width + check];
            if (bad || !p) return;
            if (f64[r]) {
                const double* q = (const double*)p + a;
                bad = nonfinite_probe_f64(&q, &n, 1) != 0.0;
            } else {
                const float* q = (const float*)p + a;
                bad = nonfinite_probe_f32(&q, &n, 1) != 0.0;
            }
        });
        return bad;
    };
    const int nt = threads_for(total, kOptimGrain);
    if (nt <= 1) {
        if (check >= 0 && nonfinite(0, total)) return false;
        run(0, total);
        return true;
    }
    // One contiguous piece per thread of the team (whole cache lines of f32): probed, then,
    // after the barrier, updated while it is still in that core's cache.
    int bad = 0;
#pragma omp parallel num_threads(nt)
    {
        const int64_t team = omp_get_num_threads(), t = omp_get_thread_num();
        const int64_t chunk = ((total + team - 1) / team + 15) / 16 * 16;
        const int64_t lo = t * chunk < total ? t * chunk : total, hi = lo + chunk < total ? lo + chunk : total;
        if (check >= 0) {
            if (nonfinite(lo, hi)) {
#pragma omp atomic write
                bad = 1;
            }
#pragma omp barrier
        }
        int stop;
#pragma omp atomic read
        stop = bad;
        if (!stop) run(lo, hi);
    }
    return !bad;
}

#define FASTNN_FORWARD(ret, name, params, args) \
    ret name params { return table()->name args; }
FASTNN_KERNELS(FASTNN_FORWARD)
#undef FASTNN_FORWARD

}  // namespace fastnn
