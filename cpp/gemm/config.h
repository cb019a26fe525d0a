// config.h: register tile and cache blocking per (ISA, dtype). The only place where the
// instruction set changes GEMM parameters; the driver and micro-kernel read this table.
//
//   MR × NR  register tile (NR = NRV vectors); MR·NRV accumulators + NRV B loads + 1
//            broadcast must fit the register file (16 ymm / 32 zmm / 16 xmm).
//   KC       depth of a packed panel: the kc×NR B micro-panel lives in L1.
//   MC       rows of A packed per block (MC×KC in L2).  NC: columns of B per packed block (L3).
// AVX2 values follow BLIS zen3 (KERNELS.md §1): 6×16 f32 / 6×8 f64, MC 144/72, KC 256.
#pragma once
#include "../simd.h"

namespace fastnn {
namespace FASTNN_ISA_NS {

template <class T> struct GemmConfig;

#if defined(FASTNN_AVX512)
template <> struct GemmConfig<float> { static constexpr int MR = 12, NRV = 2; static constexpr int64_t KC = 384, MC = 240, NC = 3072; };
template <> struct GemmConfig<double> { static constexpr int MR = 12, NRV = 2; static constexpr int64_t KC = 384, MC = 120, NC = 3072; };
#elif defined(__AVX2__)
template <> struct GemmConfig<float> { static constexpr int MR = 6, NRV = 2; static constexpr int64_t KC = 256, MC = 144, NC = 3072; };
template <> struct GemmConfig<double> { static constexpr int MR = 6, NRV = 2; static constexpr int64_t KC = 256, MC = 72, NC = 3072; };
#else
template <> struct GemmConfig<float> { static constexpr int MR = 6, NRV = 2; static constexpr int64_t KC = 256, MC = 96, NC = 2048; };
template <> struct GemmConfig<double> { static constexpr int MR = 6, NRV = 2; static constexpr int64_t KC = 256, MC = 48, NC = 2048; };
#endif

}  // namespace FASTNN_ISA_NS
}  // namespace fastnn
