// activation.h: activation codes and parameters shared by the activation family and the
// GEMM epilogue. ISA-independent (no code, only types).
//
// Parameters per activation (p0, p1); unused entries are 0:
//   leaky_relu (negative_slope), elu/celu (alpha), softplus (beta, threshold),
//   hardtanh (min_val, max_val). Codes must match fastnn/_kernels.py ACT_CODES.
#pragma once

namespace fastnn {

enum Act : int {
    ACT_IDENTITY = 0,
    ACT_RELU,
    ACT_LEAKY_RELU,
    ACT_SIGMOID,
    ACT_TANH,
    ACT_GELU,
    ACT_GELU_TANH,
    ACT_ELU,
    ACT_SELU,
    ACT_CELU,
    ACT_SOFTPLUS,
    ACT_SOFTSIGN,
    ACT_HARDTANH,
    ACT_HARDSIGMOID,
    ACT_HARDSIGMOID_LINEAR,
    ACT_SILU,
    ACT_MISH,
    ACT_MAXEXP,
    ACT_COUNT
};

struct ActParams {
    double p0;
    double p1;
};

}  // namespace fastnn
