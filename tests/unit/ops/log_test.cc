#include "berth/log.h"

#include <catch2/catch.hpp>

#include "nlohmann/json.hpp"

namespace berth::log {
namespace {

const absl::Time kT = absl::FromUnixMillis(1728027905123);

TEST_CASE("log formats parse by name, bad names are rejected") {
  CHECK(*ParseFormat("json") == Format::kJson);
  CHECK(*ParseFormat("LOGFMT") == Format::kLogfmt);
  CHECK(*ParseFormat("text") == Format::kText);
  auto bad = ParseFormat("xml");
  REQUIRE_FALSE(bad.ok());
  CHECK(std::string(bad.status().message()).find("text, logfmt, json") != std::string::npos);
}

TEST_CASE("logfmt records carry the object key and quote what needs it") {
  Fields f = ObjectFields("VirtualDiskSnapshot/ns1/snap-1");
  f.push_back({"error", "UNAVAILABLE: node \"n1\" down"});
  std::string line =
      FormatRecord(Format::kLogfmt, kT, Level::kWarning, "controller", "reconcile failed", f);
  CHECK(line ==
        "time=2024-10-04T07:45:05.123Z level=warning component=controller "
        "msg=\"reconcile failed\" kind=VirtualDiskSnapshot namespace=ns1 name=snap-1 "
        "error=\"UNAVAILABLE: node \\\"n1\\\" down\"");
}

TEST_CASE("cluster-scoped keys have no namespace field") {
  Fields f = ObjectFields("Node//node-1");
  REQUIRE(f.size() == 2);
  CHECK(f[0] == std::make_pair(std::string("kind"), std::string("Node")));
  CHECK(f[1] == std::make_pair(std::string("name"), std::string("node-1")));
}

TEST_CASE("json records are one parseable object per line") {
  std::string line = FormatRecord(Format::kJson, kT, Level::kError, "agent", "line1\nline2",
                                  {{"pool", "reflink"}, {"bytes", "42"}});
  CHECK(line.find('\n') == std::string::npos);
  auto j = nlohmann::json::parse(line);
  CHECK(j["time"] == "2024-10-04T07:45:05.123Z");
  CHECK(j["level"] == "error");
  CHECK(j["component"] == "agent");
  CHECK(j["msg"] == "line1\nline2");
  CHECK(j["pool"] == "reflink");
  // Invalid UTF-8 does not make the record unparseable.
  std::string bad = FormatRecord(Format::kJson, kT, Level::kInfo, "", "\xff\xfe", {});
  CHECK_NOTHROW(nlohmann::json::parse(bad));
}

TEST_CASE("text records are human-first") {
  CHECK(FormatRecord(Format::kText, kT, Level::kInfo, "controller", "listening", {{"port", "1"}}) ==
        "2024-10-04T07:45:05.123Z I controller: listening port=1");
}

}  // namespace
}  // namespace berth::log
