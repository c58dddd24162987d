// Multi-buffer SHA-256 (FIPS 180-4): one message per SIMD lane. Each 32-bit word of the schedule
// is gathered from all lanes at once (the messages lie at a fixed stride), so the kernels are the
// textbook rounds written on vectors. AVX-512 adds rotates (vprord) and three-input logic
// (vpternlogd) that make a round about ten vector instructions for sixteen messages.
#include "berth/exportwire/sha256_lanes.h"

#include <immintrin.h>
#include <openssl/sha.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>
#include <vector>

namespace berth::exportwire {
namespace {

alignas(64) constexpr uint32_t kK[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2};
constexpr uint32_t kH0[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                             0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};

// A kernel advances `lanes` states (st[word * lanes + lane]) by `blocks` 64-byte blocks; block b
// of lane i starts at base + offsets[i] + 64 * b.
using Kernel = void (*)(uint32_t* st, const uint8_t* base, const int32_t* offsets, size_t blocks);

}  // namespace

// ---- AVX-512: 16 lanes ----
#pragma GCC push_options
#pragma GCC target("avx512f,avx512bw")
// GCC 12's own headers start some AVX-512 intrinsics from _mm512_undefined_epi32().
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
namespace avx512 {
using V = __m512i;
inline V Add(V a, V b) { return _mm512_add_epi32(a, b); }
inline V Xor3(V a, V b, V c) { return _mm512_ternarylogic_epi32(a, b, c, 0x96); }
inline V Ch(V e, V f, V g) { return _mm512_ternarylogic_epi32(e, f, g, 0xca); }
inline V Maj(V a, V b, V c) { return _mm512_ternarylogic_epi32(a, b, c, 0xe8); }
inline V Ror(V x, int n) { return _mm512_ror_epi32(x, n); }
inline V Shr(V x, int n) { return _mm512_srli_epi32(x, n); }
inline V Set1(uint32_t k) { return _mm512_set1_epi32(static_cast<int>(k)); }

void Blocks(uint32_t* st, const uint8_t* base, const int32_t* offsets, size_t blocks) {
  const V index = _mm512_loadu_si512(offsets);
  const V bswap =
      _mm512_set_epi32(0x0c0d0e0f, 0x08090a0b, 0x04050607, 0x00010203, 0x0c0d0e0f, 0x08090a0b,
                       0x04050607, 0x00010203, 0x0c0d0e0f, 0x08090a0b, 0x04050607, 0x00010203,
                       0x0c0d0e0f, 0x08090a0b, 0x04050607, 0x00010203);
  V s[8];
  for (int j = 0; j < 8; ++j) s[j] = _mm512_loadu_si512(st + 16 * j);
  for (size_t b = 0; b < blocks; ++b) {
    const uint8_t* p = base + 64 * b;
    V w[16];
    for (int t = 0; t < 16; ++t) {
      w[t] = _mm512_shuffle_epi8(_mm512_i32gather_epi32(index, p + 4 * t, 1), bswap);
    }
    V a = s[0], bb = s[1], c = s[2], d = s[3], e = s[4], f = s[5], g = s[6], h = s[7];
#pragma GCC unroll 64
    for (int t = 0; t < 64; ++t) {
      if (t >= 16) {
        V w15 = w[(t - 15) & 15], w2 = w[(t - 2) & 15];
        V s0 = Xor3(Ror(w15, 7), Ror(w15, 18), Shr(w15, 3));
        V s1 = Xor3(Ror(w2, 17), Ror(w2, 19), Shr(w2, 10));
        w[t & 15] = Add(Add(w[t & 15], s0), Add(w[(t - 7) & 15], s1));
      }
      V t1 = Add(Add(h, Xor3(Ror(e, 6), Ror(e, 11), Ror(e, 25))),
                 Add(Ch(e, f, g), Add(Set1(kK[t]), w[t & 15])));
      V t2 = Add(Xor3(Ror(a, 2), Ror(a, 13), Ror(a, 22)), Maj(a, bb, c));
      h = g, g = f, f = e, e = Add(d, t1), d = c, c = bb, bb = a, a = Add(t1, t2);
    }
    s[0] = Add(s[0], a), s[1] = Add(s[1], bb), s[2] = Add(s[2], c), s[3] = Add(s[3], d);
    s[4] = Add(s[4], e), s[5] = Add(s[5], f), s[6] = Add(s[6], g), s[7] = Add(s[7], h);
  }
  for (int j = 0; j < 8; ++j) _mm512_storeu_si512(st + 16 * j, s[j]);
}
}  // namespace avx512
#pragma GCC diagnostic pop
#pragma GCC pop_options

// ---- AVX2: 8 lanes ----
#pragma GCC push_options
#pragma GCC target("avx2")
namespace avx2 {
using V = __m256i;
inline V Add(V a, V b) { return _mm256_add_epi32(a, b); }
inline V Xor(V a, V b) { return _mm256_xor_si256(a, b); }
inline V Ror(V x, int n) {
  return _mm256_or_si256(_mm256_srli_epi32(x, n), _mm256_slli_epi32(x, 32 - n));
}
inline V Shr(V x, int n) { return _mm256_srli_epi32(x, n); }
inline V Set1(uint32_t k) { return _mm256_set1_epi32(static_cast<int>(k)); }

void Blocks(uint32_t* st, const uint8_t* base, const int32_t* offsets, size_t blocks) {
  const V index = _mm256_loadu_si256(reinterpret_cast<const V*>(offsets));
  const V bswap = _mm256_set_epi32(0x0c0d0e0f, 0x08090a0b, 0x04050607, 0x00010203, 0x0c0d0e0f,
                                   0x08090a0b, 0x04050607, 0x00010203);
  V s[8];
  for (int j = 0; j < 8; ++j) s[j] = _mm256_loadu_si256(reinterpret_cast<const V*>(st + 8 * j));
  for (size_t b = 0; b < blocks; ++b) {
    const uint8_t* p = base + 64 * b;
    V w[16];
    for (int t = 0; t < 16; ++t) {
      w[t] = _mm256_shuffle_epi8(
          _mm256_i32gather_epi32(reinterpret_cast<const int*>(p + 4 * t), index, 1), bswap);
    }
    V a = s[0], bb = s[1], c = s[2], d = s[3], e = s[4], f = s[5], g = s[6], h = s[7];
#pragma GCC unroll 64
    for (int t = 0; t < 64; ++t) {
      if (t >= 16) {
        V w15 = w[(t - 15) & 15], w2 = w[(t - 2) & 15];
        V s0 = Xor(Xor(Ror(w15, 7), Ror(w15, 18)), Shr(w15, 3));
        V s1 = Xor(Xor(Ror(w2, 17), Ror(w2, 19)), Shr(w2, 10));
        w[t & 15] = Add(Add(w[t & 15], s0), Add(w[(t - 7) & 15], s1));
      }
      V ch = Xor(_mm256_and_si256(e, f), _mm256_andnot_si256(e, g));
      V maj = _mm256_or_si256(_mm256_and_si256(a, bb), _mm256_and_si256(c, _mm256_or_si256(a, bb)));
      V t1 = Add(Add(h, Xor(Xor(Ror(e, 6), Ror(e, 11)), Ror(e, 25))),
                 Add(ch, Add(Set1(kK[t]), w[t & 15])));
      V t2 = Add(Xor(Xor(Ror(a, 2), Ror(a, 13)), Ror(a, 22)), maj);
      h = g, g = f, f = e, e = Add(d, t1), d = c, c = bb, bb = a, a = Add(t1, t2);
    }
    s[0] = Add(s[0], a), s[1] = Add(s[1], bb), s[2] = Add(s[2], c), s[3] = Add(s[3], d);
    s[4] = Add(s[4], e), s[5] = Add(s[5], f), s[6] = Add(s[6], g), s[7] = Add(s[7], h);
  }
  for (int j = 0; j < 8; ++j) _mm256_storeu_si256(reinterpret_cast<V*>(st + 8 * j), s[j]);
}
}  // namespace avx2
#pragma GCC pop_options

// ---- SHA extensions: 2 lanes ----
// One message keeps sha256rnds2 waiting on its own result; two interleaved messages fill the
// gaps, so each core hashes nearly twice what OpenSSL's one-message SHA-NI code does.
#pragma GCC push_options
#pragma GCC target("sha,sse4.1,ssse3")
namespace shani {
using V = __m128i;

// state words a..h <-> the (ABEF, CDGH) pair sha256rnds2 works on.
inline void Load(const uint32_t* st, size_t lane, V& abef, V& cdgh) {
  alignas(16) uint32_t w[8];
  for (int j = 0; j < 8; ++j) w[j] = st[j * 2 + lane];
  V dcba = _mm_load_si128(reinterpret_cast<const V*>(w));
  V hgfe = _mm_load_si128(reinterpret_cast<const V*>(w + 4));
  V cdab = _mm_shuffle_epi32(dcba, 0xB1);
  V efgh = _mm_shuffle_epi32(hgfe, 0x1B);
  abef = _mm_alignr_epi8(cdab, efgh, 8);
  cdgh = _mm_blend_epi16(efgh, cdab, 0xF0);
}

inline void Store(V abef, V cdgh, uint32_t* st, size_t lane) {
  V feba = _mm_shuffle_epi32(abef, 0x1B);
  V dchg = _mm_shuffle_epi32(cdgh, 0xB1);
  alignas(16) uint32_t w[8];
  _mm_store_si128(reinterpret_cast<V*>(w), _mm_blend_epi16(feba, dchg, 0xF0));
  _mm_store_si128(reinterpret_cast<V*>(w + 4), _mm_alignr_epi8(dchg, feba, 8));
  for (int j = 0; j < 8; ++j) st[j * 2 + lane] = w[j];
}

// Four rounds: schedule words w (already plus K) into the state.
inline void Rounds4(V& abef, V& cdgh, V wk) {
  cdgh = _mm_sha256rnds2_epu32(cdgh, abef, wk);
  abef = _mm_sha256rnds2_epu32(abef, cdgh, _mm_shuffle_epi32(wk, 0x0E));
}

// The next four schedule words from the previous sixteen (w[0] oldest).
inline V Next(V w0, V w1, V w2, V w3) {
  V t = _mm_add_epi32(_mm_sha256msg1_epu32(w0, w1), _mm_alignr_epi8(w3, w2, 4));
  return _mm_sha256msg2_epu32(t, w3);
}

void Blocks(uint32_t* st, const uint8_t* base, const int32_t* offsets, size_t blocks) {
  const V bswap = _mm_set_epi64x(0x0c0d0e0f08090a0bULL, 0x0405060700010203ULL);
  V abef0, cdgh0, abef1, cdgh1;
  Load(st, 0, abef0, cdgh0);
  Load(st, 1, abef1, cdgh1);
  const uint8_t* p0 = base + offsets[0];
  const uint8_t* p1 = base + offsets[1];
  for (size_t b = 0; b < blocks; ++b, p0 += 64, p1 += 64) {
    const V save_abef0 = abef0, save_cdgh0 = cdgh0, save_abef1 = abef1, save_cdgh1 = cdgh1;
    V w0[4], w1[4];
    for (int k = 0; k < 4; ++k) {
      w0[k] = _mm_shuffle_epi8(_mm_loadu_si128(reinterpret_cast<const V*>(p0 + 16 * k)), bswap);
      w1[k] = _mm_shuffle_epi8(_mm_loadu_si128(reinterpret_cast<const V*>(p1 + 16 * k)), bswap);
    }
#pragma GCC unroll 16
    for (int g = 0; g < 16; ++g) {
      if (g >= 4) {
        V n0 = Next(w0[g % 4], w0[(g + 1) % 4], w0[(g + 2) % 4], w0[(g + 3) % 4]);
        V n1 = Next(w1[g % 4], w1[(g + 1) % 4], w1[(g + 2) % 4], w1[(g + 3) % 4]);
        w0[g % 4] = n0;
        w1[g % 4] = n1;
      }
      const V k = _mm_load_si128(reinterpret_cast<const V*>(kK + 4 * g));
      Rounds4(abef0, cdgh0, _mm_add_epi32(w0[g % 4], k));
      Rounds4(abef1, cdgh1, _mm_add_epi32(w1[g % 4], k));
    }
    abef0 = _mm_add_epi32(abef0, save_abef0), cdgh0 = _mm_add_epi32(cdgh0, save_cdgh0);
    abef1 = _mm_add_epi32(abef1, save_abef1), cdgh1 = _mm_add_epi32(cdgh1, save_cdgh1);
  }
  Store(abef0, cdgh0, st, 0);
  Store(abef1, cdgh1, st, 1);
}
}  // namespace shani
#pragma GCC pop_options

namespace {

struct Choice {
  const char* name;
  Kernel kernel;  // null: OpenSSL, one message at a time
  size_t lanes;
};

bool Supported(const Choice& c) {
  __builtin_cpu_init();
  if (c.lanes == 16) return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw");
  if (c.lanes == 8) return __builtin_cpu_supports("avx2");
  if (c.lanes == 2) return __builtin_cpu_supports("sha") && __builtin_cpu_supports("sse4.1");
  return true;
}

constexpr Choice kChoices[] = {{"shani", &shani::Blocks, 2},
                               {"avx512", &avx512::Blocks, 16},
                               {"avx2", &avx2::Blocks, 8},
                               {"openssl", nullptr, 1}};

std::atomic<const Choice*> g_choice{nullptr};

const Choice& Pick();

const Choice& Current() {
  const Choice* c = g_choice.load(std::memory_order_acquire);
  if (c != nullptr) return *c;
  const Choice& picked = Pick();
  g_choice.store(&picked, std::memory_order_release);
  return picked;
}

// Hashes up to `c.lanes` messages (count of them) with the vector kernel.
void HashGroup(const Choice& c, const uint8_t* base, size_t stride, size_t count, size_t length,
               Sha256Bytes* out) {
  constexpr size_t kMaxLanes = 16;
  alignas(64) uint32_t st[8 * kMaxLanes] = {};
  alignas(64) int32_t offsets[kMaxLanes] = {};
  const size_t lanes = c.lanes;
  for (size_t j = 0; j < 8; ++j) {
    for (size_t i = 0; i < lanes; ++i) st[j * lanes + i] = kH0[j];
  }
  // Spare lanes re-read lane 0 and are thrown away.
  for (size_t i = 0; i < lanes; ++i) offsets[i] = static_cast<int32_t>(i < count ? i * stride : 0);
  size_t full = length / 64;
  c.kernel(st, base, offsets, full);
  // The last one or two blocks: each lane's tail, 0x80, zeros, and the length in bits.
  size_t tail = length % 64, tail_blocks = tail + 9 <= 64 ? 1 : 2;
  alignas(64) uint8_t pad[kMaxLanes * 128];
  memset(pad, 0, sizeof(pad));
  uint64_t bits = static_cast<uint64_t>(length) * 8;
  for (size_t i = 0; i < lanes; ++i) {
    uint8_t* lane = pad + 128 * i;
    if (i < count) memcpy(lane, base + i * stride + 64 * full, tail);
    lane[tail] = 0x80;
    for (int k = 0; k < 8; ++k)
      lane[64 * tail_blocks - 1 - k] = static_cast<uint8_t>(bits >> (8 * k));
    offsets[i] = static_cast<int32_t>(128 * i);
  }
  c.kernel(st, pad, offsets, tail_blocks);
  for (size_t i = 0; i < count; ++i) {
    for (size_t j = 0; j < 8; ++j) {
      uint32_t v = st[j * lanes + i];
      out[i][4 * j] = static_cast<uint8_t>(v >> 24);
      out[i][4 * j + 1] = static_cast<uint8_t>(v >> 16);
      out[i][4 * j + 2] = static_cast<uint8_t>(v >> 8);
      out[i][4 * j + 3] = static_cast<uint8_t>(v);
    }
  }
}

// Sha256Strided with kernel `c`.
void HashWith(const Choice& c, const uint8_t* base, size_t stride, size_t count, size_t length,
              Sha256Bytes* out) {
  // Below a few messages the lanes would mostly hash padding; OpenSSL is as fast.
  if (c.kernel == nullptr || count < std::min<size_t>(c.lanes, 3)) {
    for (size_t i = 0; i < count; ++i) SHA256(base + i * stride, length, out[i].data());
    return;
  }
  for (size_t done = 0; done < count; done += c.lanes) {
    size_t n = std::min(c.lanes, count - done);
    HashGroup(c, base + done * stride, stride, n, length, out + done);
  }
}

// Which kernel is fastest depends on the CPU more than on its feature flags (16 AVX-512 lanes
// beat two SHA-extension lanes on some Xeons and lose on others), so the first use times each
// supported kernel on one chunk's 64 leaves of 64 KiB, as the digest hashes them (best of
// three, about 2 ms each). Samples of 8 KiB picked AVX-512 on a CPU where, on whole chunks,
// the SHA extensions ran 2.8 GB/s against 2.3-2.6, so they are also preferred within 10 %:
// they do not lower the core's clock, and the 16-lane kernel's margin is within noise.
const Choice& Pick() {
  constexpr size_t kCount = 64, kLength = 65536;
  std::vector<uint8_t> sample(kCount * kLength);
  for (size_t i = 0; i < sample.size(); ++i) sample[i] = static_cast<uint8_t>(i * 167 + 13);
  std::vector<Sha256Bytes> out(kCount);
  const Choice* best = &kChoices[std::size(kChoices) - 1];
  double best_seconds = 0;
  for (const Choice& c : kChoices) {
    if (!Supported(c)) continue;
    double seconds = 0;
    for (int round = 0; round < 3; ++round) {
      auto start = std::chrono::steady_clock::now();
      HashWith(c, sample.data(), kLength, kCount, kLength, out.data());
      double took = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      seconds = round == 0 ? took : std::min(seconds, took);
    }
    if (strcmp(c.name, "shani") == 0) seconds *= 0.9;
    if (best_seconds == 0 || seconds < best_seconds) best = &c, best_seconds = seconds;
  }
  return *best;
}
}  // namespace

void Sha256Strided(const uint8_t* base, size_t stride, size_t count, size_t length,
                   Sha256Bytes* out) {
  HashWith(Current(), base, stride, count, length, out);
}

const char* Sha256LanesKernel() { return Current().name; }

bool ForceSha256LanesKernel(const char* name) {
  for (const Choice& c : kChoices) {
    if (strcmp(c.name, name) == 0 && Supported(c)) {
      g_choice.store(&c, std::memory_order_release);
      return true;
    }
  }
  return false;
}

}  // namespace berth::exportwire
