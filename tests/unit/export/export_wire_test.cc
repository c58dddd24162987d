#include "berth/exportwire/export_wire.h"

#include <fcntl.h>
#include <openssl/sha.h>
#include <unistd.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <map>
#include <random>
#include <string>
#include <vector>

namespace ew = berth::exportwire;

TEST_CASE("Range header") {
  CHECK(ew::ParseRangeHeader("bytes=0-99", 1000)->length() == 100);
  CHECK(ew::ParseRangeHeader("bytes=900-", 1000)->last == 999);
  CHECK(ew::ParseRangeHeader("bytes=-10", 1000)->first == 990);
  CHECK(ew::ParseRangeHeader("bytes=0-5000", 1000)->last == 999);
  CHECK(absl::IsOutOfRange(ew::ParseRangeHeader("bytes=1000-", 1000).status()));
  CHECK(absl::IsInvalidArgument(ew::ParseRangeHeader("bytes=0-1,5-6", 1000).status()));
  CHECK(absl::IsInvalidArgument(ew::ParseRangeHeader("items=0-1", 1000).status()));
  CHECK(absl::IsInvalidArgument(ew::ParseRangeHeader("bytes=5-1", 1000).status()));
  CHECK(absl::IsInvalidArgument(ew::ParseRangeHeader("bytes=x-1", 1000).status()));
}

TEST_CASE("Content-Range header") {
  auto cr = ew::ParseContentRange("bytes 10-19/100");
  REQUIRE(cr.ok());
  CHECK(cr->range.first == 10);
  CHECK(*cr->total == 100);
  CHECK(!ew::ParseContentRange("bytes 10-19/*")->total.has_value());
  CHECK(!ew::ParseContentRange("bytes 10-19/15").ok());
  CHECK(!ew::ParseContentRange("bytes 19-10/100").ok());
}

TEST_CASE("HTTP head") {
  auto h = ew::ParseHead("GET /exports/a/data HTTP/1.1\r\nRange:  bytes=0-1 \r\nX-Y: z");
  REQUIRE(h.ok());
  CHECK(h->first_line_a == "GET");
  CHECK(h->first_line_b == "/exports/a/data");
  CHECK(h->Header("range") == "bytes=0-1");
  CHECK(!ew::ParseHead("").ok());
  CHECK(!ew::ParseHead("GET / HTTP/1.1\r\nbroken").ok());
}

TEST_CASE("extents JSON and chunks") {
  std::vector<ew::Extent> e = {{0, 10}, {ew::kChunkSize - 5, 10}, {3 * ew::kChunkSize, 1}};
  uint64_t size = 4 * ew::kChunkSize;
  auto back = ew::ExtentsFromJson(ew::ExtentsToJson(size, e));
  REQUIRE(back.ok());
  CHECK(back->second == e);
  CHECK(ew::DataChunks(e, size) == std::vector<uint64_t>{0, 1, 3});
  CHECK(ew::ExtentsInChunk(e, 1, size) == std::vector<ew::Extent>{{ew::kChunkSize, 5}});
  CHECK(!ew::ExtentsFromJson("{\"size\":10,\"extents\":[[5,10]]}").ok());
  CHECK(!ew::ExtentsFromJson("not json").ok());
}

TEST_CASE("digest skips holes but equals the digest of the same bytes written densely") {
  char sparse_tmpl[] = "/tmp/berth-wire-a.XXXXXX", dense_tmpl[] = "/tmp/berth-wire-b.XXXXXX";
  int a = mkstemp(sparse_tmpl), b = mkstemp(dense_tmpl);
  uint64_t size = 3 * ew::kChunkSize + 123;
  REQUIRE(ftruncate(a, size) == 0);
  REQUIRE(pwrite(a, "hello", 5, ew::kChunkSize + 7) == 5);
  std::vector<char> zeros(size, 0);
  memcpy(zeros.data() + ew::kChunkSize + 7, "hello", 5);
  REQUIRE(pwrite(b, zeros.data(), size, 0) == static_cast<ssize_t>(size));
  auto ea = ew::DataExtents(a, size);
  REQUIRE(ea.ok());
  auto da = ew::FileDigest(a, size, *ea, 2);
  auto db = ew::FileDigest(b, size, {{0, size}}, 1);
  REQUIRE(da.ok());
  CHECK(*da == *db);
  // Chunks already hashed (as the agent does while sending) are taken as given, not read.
  std::map<uint64_t, ew::Sha256Bytes> known{
      {1, ew::ChunkDigest(zeros.data() + ew::kChunkSize, ew::kChunkSize)}};
  CHECK(*ew::FileDigest(b, size, {{0, size}}, 1, known) == *da);
  known[1][0] ^= 1;
  CHECK(*ew::FileDigest(b, size, {{0, size}}, 1, known) != *da);
  REQUIRE(pwrite(b, "H", 1, ew::kChunkSize + 7) == 1);
  CHECK(*ew::FileDigest(b, size, {{0, size}}, 1) != *da);
  close(a), close(b);
  unlink(sparse_tmpl), unlink(dense_tmpl);
  CHECK(ew::ConstantTimeEquals("abc", "abc"));
  CHECK(!ew::ConstantTimeEquals("abc", "abd"));
  CHECK(!ew::ConstantTimeEquals("abc", "ab"));
}

namespace {
ew::Sha256Bytes OpenSslSha256(const uint8_t* p, size_t n) {
  ew::Sha256Bytes out;
  SHA256(p, n, out.data());
  return out;
}
}  // namespace

TEST_CASE("Multi-lane SHA-256 equals OpenSSL on every kernel this CPU has") {
  std::mt19937 rng(7);
  const char* before = ew::Sha256LanesKernel();
  int kernels = 0;
  for (const char* kernel : {"shani", "avx512", "avx2", "openssl"}) {
    if (!ew::ForceSha256LanesKernel(kernel)) continue;
    ++kernels;
    for (size_t length : {0, 1, 55, 56, 63, 64, 65, 119, 120, 127, 128, 1000, 65536}) {
      for (size_t count : {1, 2, 3, 7, 8, 9, 16, 17, 33}) {
        size_t stride = length + 13;  // odd: unaligned lanes
        std::vector<uint8_t> data(stride * count);
        for (uint8_t& b : data) b = static_cast<uint8_t>(rng());
        std::vector<ew::Sha256Bytes> got(count);
        ew::Sha256Strided(data.data(), stride, count, length, got.data());
        for (size_t i = 0; i < count; ++i) {
          INFO(kernel << " length " << length << " count " << count << " lane " << i);
          CHECK(got[i] == OpenSslSha256(data.data() + i * stride, length));
        }
      }
    }
  }
  CHECK(kernels >= 1);
  REQUIRE(ew::ForceSha256LanesKernel(before));
  CHECK(!ew::ForceSha256LanesKernel("no-such-kernel"));
}

TEST_CASE("Chunk digest is SHA-256 over the SHA-256s of 64 KiB leaves") {
  std::vector<uint8_t> data(2 * ew::kDigestLeaf + 5);
  for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<uint8_t>(i * 31 + 7);
  std::string leaves;
  for (size_t off = 0; off < data.size(); off += ew::kDigestLeaf) {
    ew::Sha256Bytes leaf =
        OpenSslSha256(data.data() + off, std::min<size_t>(ew::kDigestLeaf, data.size() - off));
    leaves.append(reinterpret_cast<const char*>(leaf.data()), leaf.size());
  }
  CHECK(ew::ChunkDigest(data.data(), data.size()) ==
        OpenSslSha256(reinterpret_cast<const uint8_t*>(leaves.data()), leaves.size()));
  std::vector<uint8_t> zeros(ew::kChunkSize, 0);
  CHECK(ew::ZeroChunkDigest(ew::kChunkSize) == ew::ChunkDigest(zeros.data(), zeros.size()));
  CHECK(ew::ZeroChunkDigest(100) == ew::ChunkDigest(zeros.data(), 100));
  data[ew::kDigestLeaf + 3] ^= 1;
  CHECK(ew::ChunkDigest(data.data(), data.size()) !=
        OpenSslSha256(reinterpret_cast<const uint8_t*>(leaves.data()), leaves.size()));
}
