// optim.h: scalar hyper-parameters of the fused optimizer updates (cpp/optim.cpp).
// ISA-independent plain structs, shared by kernels.h and cython/kernels.pxd.
//
// Every update works in place over flat buffers of N elements: the parameter θ, its
// gradient g (read only) and the rule's state, each read once and written once. The
// formulas are PyTorch's (torch/optim/*.py, PEERS.md B3); src/fastnn/reference/optim.py
// spells each one out in NumPy. Scalars arrive in double; every derived coefficient
// (1−β, lr/(1−β₁ᵗ), ...) is formed in double, rounded once to the buffer dtype, and the
// element arithmetic runs in that dtype, as PyTorch's CPU single-tensor path does.
// A state pointer that may be null selects the variant: no momentum buffer, not centred,
// no AMSGrad maximum. g' below is g + λθ when weight_decay λ ≠ 0 (coupled L2), else g.
#pragma once
#include <stdint.h>

namespace fastnn {

// Elements per thread below which an update stays serial: an f32 Adam step over 2^15
// elements moves ~0.9 MB (tens of µs), well above a warm OpenMP region (KERNELS.md §6).
constexpr int64_t kOptimGrain = int64_t(1) << 15;

// b ← g' (init_buffer: the buffer's first step) or μb + (1−τ)g';
// d = g' + μb (nesterov) or b (momentum) or g' (no buffer); θ −= γ·d.
struct SgdHyper {
    double lr, momentum, dampening, weight_decay;
    bool nesterov, init_buffer;
};

// s += g'²; θ −= clr·g'/(√s + ε), clr = lr/(1 + (t−1)·lr_decay) formed by the caller.
struct AdagradHyper {
    double clr, weight_decay, eps;
};

// v = ρv + (1−ρ)g'²; δ = √(u+ε)/√(v+ε)·g'; u = ρu + (1−ρ)δ²; θ −= γδ.
struct AdadeltaHyper {
    double lr, rho, eps, weight_decay;
};

// v = αv + (1−α)g'²; centred: ḡ = ḡ + (1−α)(g'−ḡ), r = √(v − ḡ²) + ε, else r = √v + ε;
// momentum buffer: b = μb + g'/r, θ −= γb; without: θ −= γ·g'/r.
struct RmspropHyper {
    double lr, alpha, eps, weight_decay, momentum;
};

// decoupled (AdamW): θ *= 1 − γλ first and g' = g; m = m + (1−β₁)(g'−m);
// v = β₂v + (1−β₂)g'²; AMSGrad: v̂ = max(v̂, v) is used for v;
// θ −= (γ/bc1)·m/(√v·(1/√bc2) + ε), bc1 = 1−β₁ᵗ and bc2 = 1−β₂ᵗ computed in double by the
// caller. PyTorch divides by √bc2; multiplying by the reciprocal (formed in double) moves the
// result by at most an ulp and saves a divide per element (~25 % of an in-cache f32 step,
// /tmp A/B harness, 1 thread, AVX2 EPYC dev box).
struct AdamHyper {
    double lr, beta1, beta2, eps, weight_decay;
    bool decoupled;
    double bias_correction1, bias_correction2;
};

}  // namespace fastnn
