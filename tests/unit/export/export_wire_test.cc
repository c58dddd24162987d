#include "berth/agent/export_wire.h"

#include <fcntl.h>
#include <unistd.h>

#include <catch2/catch.hpp>

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
  REQUIRE(pwrite(b, "H", 1, ew::kChunkSize + 7) == 1);
  CHECK(*ew::FileDigest(b, size, {{0, size}}, 1) != *da);
  close(a), close(b);
  unlink(sparse_tmpl), unlink(dense_tmpl);
  CHECK(ew::ConstantTimeEquals("abc", "abc"));
  CHECK(!ew::ConstantTimeEquals("abc", "abd"));
  CHECK(!ew::ConstantTimeEquals("abc", "ab"));
}
