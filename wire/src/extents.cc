// Sparse extents (SEEK_DATA/SEEK_HOLE), their JSON form, and the chunked SHA-256 tree digest.
#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <thread>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "berth/exportwire/export_wire.h"
#include "berth/json.h"

namespace berth::exportwire {

absl::StatusOr<std::vector<Extent>> DataExtents(int fd, uint64_t size) {
  std::vector<Extent> out;
  off_t pos = 0;
  while (static_cast<uint64_t>(pos) < size) {
    off_t data = lseek(fd, pos, SEEK_DATA);
    if (data < 0) {
      if (errno == ENXIO) break;  // only a hole up to the end
      if (errno == EINVAL || errno == EOPNOTSUPP) return std::vector<Extent>{{0, size}};
      return absl::InternalError(absl::StrCat("lseek(SEEK_DATA): ", strerror(errno)));
    }
    if (static_cast<uint64_t>(data) >= size) break;
    off_t hole = lseek(fd, data, SEEK_HOLE);
    if (hole < 0) return absl::InternalError(absl::StrCat("lseek(SEEK_HOLE): ", strerror(errno)));
    uint64_t end = std::min<uint64_t>(static_cast<uint64_t>(hole), size);
    out.push_back({static_cast<uint64_t>(data), end - static_cast<uint64_t>(data)});
    pos = static_cast<off_t>(end);
  }
  return out;
}

std::string ExtentsToJson(uint64_t size, const std::vector<Extent>& extents) {
  Json list = Json::array();
  for (const Extent& e : extents) list.push_back(Json::array({e.offset, e.length}));
  return Json{{"size", size}, {"extents", list}}.dump();
}

absl::StatusOr<std::pair<uint64_t, std::vector<Extent>>> ExtentsFromJson(const std::string& text) {
  Json j = Json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object() || !j.contains("size") ||
      !j["size"].is_number_unsigned() || !j.contains("extents") || !j["extents"].is_array()) {
    return absl::DataLossError("extent list: not {\"size\":N,\"extents\":[[offset,length],...]}");
  }
  uint64_t size = j["size"].get<uint64_t>();
  std::vector<Extent> out;
  uint64_t prev_end = 0;
  for (const Json& e : j["extents"]) {
    if (!e.is_array() || e.size() != 2 || !e[0].is_number_unsigned() ||
        !e[1].is_number_unsigned()) {
      return absl::DataLossError("extent list: bad entry");
    }
    Extent x{e[0].get<uint64_t>(), e[1].get<uint64_t>()};
    if (x.offset < prev_end || x.length == 0 || x.offset + x.length > size) {
      return absl::DataLossError("extent list: extents overlap or exceed the size");
    }
    prev_end = x.offset + x.length;
    out.push_back(x);
  }
  return std::make_pair(size, std::move(out));
}

std::vector<Extent> ExtentsInChunk(const std::vector<Extent>& extents, uint64_t index,
                                   uint64_t size) {
  uint64_t start = index * kChunkSize, end = start + ChunkLength(index, size);
  std::vector<Extent> out;
  auto it = std::lower_bound(extents.begin(), extents.end(), start,
                             [](const Extent& e, uint64_t s) { return e.offset + e.length <= s; });
  for (; it != extents.end() && it->offset < end; ++it) {
    uint64_t a = std::max(start, it->offset), b = std::min(end, it->offset + it->length);
    if (a < b) out.push_back({a, b - a});
  }
  return out;
}

std::vector<uint64_t> DataChunks(const std::vector<Extent>& extents, uint64_t size) {
  std::vector<uint64_t> out;
  for (const Extent& e : extents) {
    if (e.length == 0) continue;
    uint64_t first = e.offset / kChunkSize;
    uint64_t last = std::min(e.offset + e.length - 1, size - 1) / kChunkSize;
    for (uint64_t i = first; i <= last; ++i) {
      if (out.empty() || out.back() < i) out.push_back(i);
    }
  }
  return out;
}

Sha256Bytes Sha256(const void* data, size_t length) {
  Sha256Bytes out;
  SHA256(static_cast<const unsigned char*>(data), length, out.data());
  return out;
}

Sha256Bytes ChunkDigest(const void* data, size_t length) {
  const auto* bytes = static_cast<const uint8_t*>(data);
  size_t full = length / kDigestLeaf, rest = length % kDigestLeaf;
  std::array<Sha256Bytes, kChunkSize / kDigestLeaf + 1> leaves;
  Sha256Strided(bytes, kDigestLeaf, full, kDigestLeaf, leaves.data());
  if (rest != 0) leaves[full] = Sha256(bytes + full * kDigestLeaf, rest);
  return Sha256(leaves.data(), (full + (rest != 0 ? 1 : 0)) * sizeof(Sha256Bytes));
}

Sha256Bytes ZeroChunkDigest(uint64_t length) {
  static const Sha256Bytes kFull = [] {
    std::vector<char> zeros(kChunkSize, 0);
    return ChunkDigest(zeros.data(), zeros.size());
  }();
  if (length == kChunkSize) return kFull;
  std::vector<char> zeros(length, 0);
  return ChunkDigest(zeros.data(), zeros.size());
}

std::string CombineChunkDigests(uint64_t size, const std::vector<Sha256Bytes>& chunks) {
  std::string material = absl::StrCat(kDigestAlgorithm, " ", size, "\n");
  for (const Sha256Bytes& c : chunks) material.append(reinterpret_cast<const char*>(c.data()), 32);
  Sha256Bytes d = Sha256(material.data(), material.size());
  return absl::BytesToHexString(
      absl::string_view(reinterpret_cast<const char*>(d.data()), d.size()));
}

absl::StatusOr<std::string> FileDigest(int fd, uint64_t size, const std::vector<Extent>& extents,
                                       int threads, const std::map<uint64_t, Sha256Bytes>& known) {
  uint64_t n = ChunkCount(size);
  std::vector<Sha256Bytes> chunks(n);
  // What each chunk needs: nothing (its digest is known), the zero digest, or reading.
  enum class Need : uint8_t { kZeros, kRead, kKnown };
  std::vector<Need> need(n, Need::kZeros);
  for (uint64_t i : DataChunks(extents, size)) need[i] = Need::kRead;
  for (const auto& [i, digest] : known) {
    if (i < n) chunks[i] = digest, need[i] = Need::kKnown;
  }
  std::atomic<uint64_t> next{0};
  std::atomic<bool> failed{false};
  auto work = [&] {
    std::vector<char> buf(kChunkSize);
    for (uint64_t i = next++; i < n && !failed; i = next++) {
      uint64_t len = ChunkLength(i, size);
      if (need[i] == Need::kKnown) continue;
      if (need[i] == Need::kZeros) {
        chunks[i] = ZeroChunkDigest(len);
        continue;
      }
      size_t got = 0;
      while (got < len) {
        ssize_t r = pread(fd, buf.data() + got, len - got, i * kChunkSize + got);
        if (r <= 0) {
          if (r < 0 && errno == EINTR) continue;
          failed = true;
          break;
        }
        got += r;
      }
      chunks[i] = ChunkDigest(buf.data(), len);
    }
  };
  std::vector<std::thread> pool;
  for (int t = 1; t < std::max(threads, 1); ++t) pool.emplace_back(work);
  work();
  for (std::thread& t : pool) t.join();
  if (failed) return absl::DataLossError("reading the image for its digest failed (short read)");
  return CombineChunkDigests(size, chunks);
}

absl::StatusOr<std::string> RandomHex(size_t n) {
  std::string bytes(n, '\0');
  if (RAND_bytes(reinterpret_cast<unsigned char*>(bytes.data()), static_cast<int>(n)) != 1) {
    return absl::InternalError("RAND_bytes failed");
  }
  return absl::BytesToHexString(bytes);
}

bool ConstantTimeEquals(const std::string& a, const std::string& b) {
  if (a.size() != b.size()) return false;  // token lengths are public
  return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace berth::exportwire
