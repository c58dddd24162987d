// Parsers for qemu-guest-agent replies, over fixtures taken from qemu-guest-agent 7.2.
#include "guest/qga_parse.h"

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <iterator>

namespace berth::agent {
namespace {

std::string Message(const absl::Status& s) { return std::string(s.message()); }

TEST_CASE("commands") { CHECK(QgaCommand("guest-ping") == R"({"execute":"guest-ping"})"); }

TEST_CASE("ping and status") {
  CHECK(ParsePing(R"({"return": {}})").ok());
  CHECK(ParseFsFreezeStatus(R"({"return": "thawed"})").value() == "thawed");
  CHECK(ParseFsFreezeStatus(R"({"return":"frozen"})").value() == "frozen");
  CHECK(absl::IsInternal(ParseFsFreezeStatus(R"({"return": "melting"})").status()));
  CHECK(absl::IsInternal(ParseFsFreezeStatus(R"({"return": 1})").status()));
}

TEST_CASE("freeze and thaw counts") {
  CHECK(ParseFsCount(R"({"return": 1})").value() == 1);
  CHECK(ParseFsCount(R"({"return": 0})").value() == 0);
  CHECK(absl::IsInternal(ParseFsCount(R"({"return": -1})").status()));
  CHECK(absl::IsInternal(ParseFsCount(R"({"return": "1"})").status()));
}

TEST_CASE("error replies carry the agent's class and desc") {
  auto s = ParseFsCount(
      R"({"error": {"class": "GenericError", "desc": "Command guest-fsfreeze-freeze has been )"
      R"(disabled: the agent is in frozen state"}})");
  REQUIRE(absl::IsInternal(s.status()));
  CHECK(Message(s.status()) ==
        "guest agent error (GenericError): Command guest-fsfreeze-freeze has been disabled: the "
        "agent is in frozen state");
  auto t = ParsePing(R"({"error": {"desc": "no class"}})");
  CHECK(Message(t) == "guest agent error: no class");
  auto u = ParsePing(R"({"error": "weird"})");
  CHECK(Message(u) == R"(guest agent error: "weird")");
}

TEST_CASE("malformed replies") {
  for (const char* bad : {"", "not json", "[1]", R"({"id": 1})", "{\"return\": "}) {
    auto s = ParsePing(bad);
    CHECK(absl::IsInternal(s));
    CHECK(Message(s).rfind("malformed guest agent reply", 0) == 0);
  }
}

TEST_CASE("a guest-sync-delimited 0xFF prefix is skipped") {
  CHECK(ParsePing("\xff{\"return\": {}}").ok());
}

TEST_CASE("addresses skip loopback and link-local") {
  const char* reply = R"({"return": [
    {"name": "lo", "hardware-address": "00:00:00:00:00:00", "ip-addresses": [
      {"ip-address-type": "ipv4", "ip-address": "127.0.0.1", "prefix": 8},
      {"ip-address-type": "ipv6", "ip-address": "::1", "prefix": 128}]},
    {"name": "eth0", "hardware-address": "52:54:00:12:34:56", "ip-addresses": [
      {"ip-address-type": "ipv4", "ip-address": "10.0.2.15", "prefix": 24},
      {"ip-address-type": "ipv6", "ip-address": "fec0::5054:ff:fe12:3456", "prefix": 64},
      {"ip-address-type": "ipv6", "ip-address": "fe80::5054:ff:fe12:3456", "prefix": 64}],
     "statistics": {"rx-bytes": 1}},
    {"name": "eth1", "hardware-address": "52:54:00:00:00:01"}]})";
  auto got = ParseAddresses(reply);
  REQUIRE(got.ok());
  CHECK(*got == std::vector<std::string>{"10.0.2.15", "fec0::5054:ff:fe12:3456"});
  CHECK(ParseAddresses(R"({"return": []})").value().empty());
  CHECK(absl::IsInternal(ParseAddresses(R"({"return": {}})").status()));
  CHECK(ParseAddresses(R"({"return": [1, {"name": 2}, {"ip-addresses": [3]}]})").ok());
}

TEST_CASE("replies nested beyond kMaxQgaReplyDepth are refused before parsing") {
  std::string ok = "{\"return\": " + std::string(62, '[') + std::string(62, ']') + "}";
  CHECK(QgaReturn(ok).ok());
  std::string deep = "{\"return\": " + std::string(100000, '[') + std::string(100000, ']') + "}";
  auto s = QgaReturn(deep);
  REQUIRE(absl::IsInternal(s.status()));
  CHECK(Message(s.status()).find("limit of 64") != std::string::npos);
  // Brackets inside strings do not count.
  CHECK(
      ParseFsFreezeStatus("{\"return\": \"thawed\", \"x\": \"" + std::string(100, '[') + "\\\"\"}")
          .ok());
  CHECK(absl::IsInternal(ParseFsCount(R"({"return": 99999999999})").status()));
}

TEST_CASE("seed corpus replays; valid seeds are QGA replies, bad ones are refused") {
  int files = 0;
  for (const auto& e : std::filesystem::directory_iterator(BERTH_QGA_CORPUS)) {
    std::ifstream in(e.path(), std::ios::binary);
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    std::string name = e.path().filename().string();
    CAPTURE(name);
    ++files;
    absl::StatusOr<Json> ret = QgaReturn(text);
    bool any = ParsePing(text).ok() | ParseFsFreezeStatus(text).ok() | ParseFsCount(text).ok() |
               ParseAddresses(text).ok();
    if (name.rfind("valid-error", 0) == 0) {
      CHECK(Message(ret.status()).find("guest agent error") == 0);
    } else if (name.rfind("valid-", 0) == 0) {
      CHECK(ret.ok());
      CHECK(any);
    } else {
      REQUIRE(name.rfind("bad-", 0) == 0);
      CHECK((!ret.ok() || (!ParseFsFreezeStatus(text).ok() && !ParseFsCount(text).ok())));
    }
  }
  CHECK(files >= 15);
}

}  // namespace
}  // namespace berth::agent
