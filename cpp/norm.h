// norm.h: what the training BatchNorm kernels do besides normalising (cpp/norm.cpp).
// ISA-independent plain structs, shared by kernels.h and cython/kernels.pxd.
//
// BnPost: the element-wise layers a Sequential fuses after a training BatchNorm1d:
//         relu: y = max(0, y) (the ReLU kernel's expression); dropout: then the dropout
//         kernel's mask and scale for (seed, stream, keep32, scale). Backward takes the
//         fused output y and the dropout scale: g' = g·scale where y > 0, else 0 (a kept
//         element of a ReLU output is > 0 iff its ReLU input was), then the BatchNorm
//         backward; the bits equal the unfused chain's.
#pragma once
#include <stdint.h>

namespace fastnn {

struct BnPost {
    int relu;            // 0 or 1
    int dropout;         // 0 or 1 (only after relu)
    uint64_t seed, stream, keep32;
    double scale;
};

}  // namespace fastnn
