// kernels.h: the registry of every kernel chosen at run time by instruction set, and the
// public C++ entry points (what cython/_native.pxd declares).
//
// Each family source (gemm/gemm.cpp, activation.cpp, ...) is compiled once per ISA into
// namespace fastnn::<isa> and defines the functions named in FASTNN_KERNELS. The per-ISA
// table (kernel_table.cpp) collects their addresses; dispatch.cpp picks one table at
// import (FASTNN_ISA or the best the CPU supports) and the entry points below forward
// through it. To add a kernel: one line here, its definition in its family file.
//
// X(return type, name, (parameters), (argument names))
#pragma once
#include <stdint.h>

#include "activation.h"
#include "gemm/gemm.h"

#define FASTNN_KERNELS(X)                                                                    \
    X(void, gemm_f32, (const GemmArgs<float>& g), (g))                                       \
    X(void, gemm_f64, (const GemmArgs<double>& g), (g))                                      \
    X(void, gemm_ref_f32, (const GemmArgs<float>& g), (g))                                   \
    X(void, gemm_ref_f64, (const GemmArgs<double>& g), (g))                                  \
    X(void, gemm_tile_f32, (int* mr, int* nr), (mr, nr))                                     \
    X(void, gemm_tile_f64, (int* mr, int* nr), (mr, nr))                                     \
    X(void, bias_grad_f32, (float* db, const float* dy, int64_t rows, int64_t cols), (db, dy, rows, cols)) \
    X(void, bias_grad_f64, (double* db, const double* dy, int64_t rows, int64_t cols), (db, dy, rows, cols))

namespace fastnn {

#define FASTNN_DECLARE(ret, name, params, args) ret name params;
FASTNN_KERNELS(FASTNN_DECLARE)

struct KernelTable {
    const char* isa;
#define FASTNN_TABLE_FIELD(ret, name, params, args) ret(*name) params;
    FASTNN_KERNELS(FASTNN_TABLE_FIELD)
#undef FASTNN_TABLE_FIELD
};

// Select the kernel set: "" or "auto" = best supported; "avx512", "avx2", "generic".
// Returns 0 on success, -1 for an unknown name, -2 when the CPU lacks the instructions.
int select_isa(const char* name);
const char* current_isa();
// Comma-separated ISAs this CPU can run, best first.
const char* supported_isas();
const char* openmp_runtime();

}  // namespace fastnn
