// rng.h: the counter-based generator shared bit for bit with fastnn/reference/dropout.py
// (its docstring is the definition). ISA-independent, header-only.
//
//   mix(z)                      SplitMix64's finaliser (xor-shift-multiply, twice)
//   random_u64(seed, stream, i) mix(mix(seed·G + stream·H + i)), uint64 wraparound
//   keep element i              (u >> 11) < keep53, keep53 = ⌊(1 − p)·2^53⌋ (from Python)
//   uniform                     (u >> 11)·2^−53 ∈ [0, 1), exact in double
//
// The value depends only on (seed, stream, index): masks are the same for any thread
// count or blocking, and backward regenerates the forward mask instead of storing it.
#pragma once
#include <stdint.h>

namespace fastnn {

constexpr uint64_t kRngGolden = 0x9E3779B97F4A7C15ULL;  // seed multiplier
constexpr uint64_t kRngStream = 0xD1B54A32D192ED03ULL;  // stream multiplier

inline uint64_t rng_mix(uint64_t z) {
    z ^= z >> 30;
    z *= 0xBF58476D1CE4E5B9ULL;
    z ^= z >> 27;
    z *= 0x94D049BB133111EBULL;
    z ^= z >> 31;
    return z;
}

// seed·G + stream·H: add the element index to get the counter.
inline uint64_t rng_base(uint64_t seed, uint64_t stream) { return seed * kRngGolden + stream * kRngStream; }

inline uint64_t rng_u64(uint64_t base, int64_t index) { return rng_mix(rng_mix(base + (uint64_t)index)); }

}  // namespace fastnn
