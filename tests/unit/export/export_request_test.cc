// The export server's request parsing (fixtures and the seed corpus of
// tests/fuzz/export_request_fuzz, replayed with any compiler) and its per-agent export limit.
#include "export/export_request.h"

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <iterator>

#include "berth/time_util.h"
#include "export/export_registry.h"

namespace berth::agent {
namespace {

namespace ew = exportwire;

TEST_CASE("a request head parses into method, export id, operation and credentials") {
  auto r = ParseExportRequest(
      "PUT /exports/up-1/data?x=1 HTTP/1.1\r\nAuthorization: Bearer  t0k \r\n"
      "Content-Length: 4096\r\nConnection: close");
  REQUIRE(r.ok());
  CHECK(r->method == "PUT");
  CHECK(r->id == "up-1");
  CHECK(r->op == "data");
  CHECK(r->bearer_token == "t0k");
  CHECK(r->content_length == 4096);
  CHECK(r->close);
  auto lower = ParseExportRequest("GET /exports/a/digest HTTP/1.1\r\nauthorization: bearer x");
  REQUIRE(lower.ok());
  CHECK(lower->bearer_token == "x");
  CHECK_FALSE(lower->close);
}

TEST_CASE("targets other than /exports/ID/OP leave the id empty (404)") {
  for (const char* target : {"/metrics", "/exports/a", "/exports//data", "/exports/a/data/b",
                             "/exports/../data", "/exports/A/data", "/exports/a/DATA"}) {
    auto r = ParseExportRequest(std::string("GET ") + target + " HTTP/1.1");
    REQUIRE(r.ok());
    CHECK(r->id.empty());
  }
  auto id_ok = ParseExportRequest("GET /exports/" + std::string(128, 'a') + "/data HTTP/1.1");
  CHECK(id_ok->id.size() == 128);
  auto too_long = ParseExportRequest("GET /exports/" + std::string(129, 'a') + "/data HTTP/1.1");
  CHECK(too_long->id.empty());
  // A bare LF is not a line end for ParseHead: it must not reach the log through the id.
  CHECK(ParseExportRequest("GET /exports/a\nx/data HTTP/1.1")->id.empty());
}

TEST_CASE("malformed heads, methods and lengths are InvalidArgument") {
  for (const char* head :
       {"", "GET", "GET /exports/a/data HTTP/1.1\r\nno colon",
        "GET /exports/a/data HTTP/1.1\r\nContent-Length: -1",
        "GET /exports/a/data HTTP/1.1\r\nContent-Length: +1",
        "GET /exports/a/data HTTP/1.1\r\nContent-Length: 1 2",
        "GET /exports/a/data HTTP/1.1\r\nContent-Length: 99999999999999999999999",
        "G\x01T /exports/a/data HTTP/1.1"}) {
    CAPTURE(head);
    CHECK(absl::IsInvalidArgument(ParseExportRequest(head).status()));
  }
  auto max = ParseExportRequest(
      "PUT /exports/a/data HTTP/1.1\r\nContent-Length: "
      "18446744073709551615");
  REQUIRE(max.ok());
  CHECK(max->content_length == UINT64_MAX);
}

// Whether the server would go on to serve the request: a routed, authenticated head with good
// Range / Content-Range headers (against a 1 GiB export).
bool Accepts(const ExportRequest& r) {
  std::string range = r.head.Header("range"), content_range = r.head.Header("content-range");
  return !r.id.empty() && !r.bearer_token.empty() &&
         (range.empty() || ew::ParseRangeHeader(range, 1ull << 30).ok()) &&
         (content_range.empty() || ew::ParseContentRange(content_range).ok());
}

TEST_CASE("seed corpus replays and each seed means what its name says") {
  int files = 0;
  for (const auto& e : std::filesystem::directory_iterator(BERTH_EXPORT_REQUEST_CORPUS)) {
    std::ifstream in(e.path(), std::ios::binary);
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    std::string name = e.path().filename().string();
    CAPTURE(name);
    ++files;
    auto r = ParseExportRequest(text);
    if (name.rfind("valid-", 0) == 0) {
      REQUIRE(r.ok());
      CHECK(Accepts(*r));
    } else if (name.rfind("route-", 0) == 0) {
      REQUIRE(r.ok());
      CHECK(r->id.empty());
    } else if (name.rfind("noauth-", 0) == 0) {
      REQUIRE(r.ok());
      CHECK(r->bearer_token.empty());
    } else if (name.rfind("hdr-", 0) == 0) {
      CHECK((ew::ParseRangeHeader(text, 1ull << 30).ok() || ew::ParseContentRange(text).ok()));
    } else {
      REQUIRE(name.rfind("bad-", 0) == 0);
      CHECK((!r.ok() || !Accepts(*r)));
    }
  }
  CHECK(files >= 20);
}

std::shared_ptr<ExportEntry> Entry(const std::string& id, const Clock& clock) {
  auto e = std::make_shared<ExportEntry>();
  e->id = id;
  e->token = "t";
  e->source.ttl = absl::Minutes(2);
  e->expires_at = clock.Now() + e->source.ttl;
  return e;
}

TEST_CASE("the registry refuses exports beyond max_exports with ResourceExhausted") {
  SimulatedClock clock{absl::FromUnixSeconds(1000)};
  ExportRegistry reg(clock, 2);
  REQUIRE(reg.Add(Entry("a", clock)).ok());
  REQUIRE(reg.Add(Entry("b", clock)).ok());
  auto again = reg.Add(Entry("a", clock));  // idempotent: the registered one, no new slot
  REQUIRE(again.ok());
  auto third = reg.Add(Entry("c", clock));
  REQUIRE(absl::IsResourceExhausted(third.status()));
  std::string msg(third.status().message());
  CHECK(msg.find("max_exports") != std::string::npos);
  CHECK(msg.find("is 2") != std::string::npos);
  CHECK(msg.find("serves 2") != std::string::npos);
  // Stopping one frees its slot.
  CHECK(reg.Remove("a"));
  CHECK(reg.Add(Entry("c", clock)).ok());
  // Expired exports do not count.
  clock.Advance(absl::Minutes(3));
  CHECK(reg.Add(Entry("d", clock)).ok());
  CHECK(reg.Add(Entry("e", clock)).ok());
  CHECK(absl::IsResourceExhausted(reg.Add(Entry("f", clock)).status()));
}

TEST_CASE("the default limit is kDefaultMaxExports") {
  SimulatedClock clock{absl::FromUnixSeconds(1000)};
  ExportRegistry reg(clock);
  for (int i = 0; i < kDefaultMaxExports; ++i)
    REQUIRE(reg.Add(Entry(std::to_string(i), clock)).ok());
  CHECK(absl::IsResourceExhausted(reg.Add(Entry("one-more", clock)).status()));
}

}  // namespace
}  // namespace berth::agent
