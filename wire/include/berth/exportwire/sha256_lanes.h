// Multi-buffer SHA-256: many equal-length messages hashed side by side, chosen at run time:
// two messages interleaved through the SHA extensions where the CPU has them, else one message
// per SIMD lane (16 lanes with AVX-512, 8 with AVX2), else OpenSSL one at a time. Without SHA
// extensions OpenSSL's SHA-256 runs ~200 MB/s per core and sixteen lanes ~5x that; with them,
// two interleaved messages hash nearly twice what OpenSSL does with one. The export digest
// (export_wire.h) is a tree of 64 KiB leaves so that every chunk can be hashed this way. See
// docs/export.md.
#ifndef BERTH_AGENT_SHA256_LANES_H_
#define BERTH_AGENT_SHA256_LANES_H_

#include <array>
#include <cstddef>
#include <cstdint>

namespace berth::exportwire {

using Sha256Bytes = std::array<uint8_t, 32>;

// Writes to out[i] the SHA-256 of the `length` bytes at `base + i * stride`, for i < `count`.
// `stride` must be below 128 MiB (lane offsets are 32-bit gather indexes).
void Sha256Strided(const uint8_t* base, size_t stride, size_t count, size_t length,
                   Sha256Bytes* out);

// Which kernel Sha256Strided uses on this CPU: "shani", "avx512", "avx2" or
// "openssl".
const char* Sha256LanesKernel();

// Forces a kernel (as named above); false if this CPU cannot run it. For tests and
// benchmarks.
bool ForceSha256LanesKernel(const char* name);

}  // namespace berth::exportwire

#endif  // BERTH_AGENT_SHA256_LANES_H_
