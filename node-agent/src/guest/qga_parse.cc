#include "guest/qga_parse.h"

#include <algorithm>
#include <cstdint>
#include <limits>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace berth::agent {
namespace {

bool IsLocalAddress(const std::string& ip) {
  return absl::StartsWith(ip, "127.") || ip == "::1" || absl::StartsWithIgnoreCase(ip, "fe80:") ||
         absl::StartsWith(ip, "169.254.");
}

std::string Shorten(absl::string_view text) {
  return text.size() <= 200 ? std::string(text) : absl::StrCat(text.substr(0, 200), "...");
}

}  // namespace

std::string QgaCommand(absl::string_view execute) {
  return Json{{"execute", std::string(execute)}}.dump();
}

absl::StatusOr<Json> QgaReturn(absl::string_view reply) {
  // Replies to guest-sync-delimited start with 0xFF; libvirt strips it, a raw channel may not.
  while (!reply.empty() && static_cast<unsigned char>(reply.front()) == 0xFF) {
    reply.remove_prefix(1);
  }
  if (int depth = JsonNestingDepth(reply.data(), reply.size(), kMaxQgaReplyDepth);
      depth > kMaxQgaReplyDepth) {
    return absl::InternalError(absl::StrCat("guest agent reply nests ", depth,
                                            " levels deep, over the limit of ", kMaxQgaReplyDepth,
                                            " (kMaxQgaReplyDepth)"));
  }
  Json j = Json::parse(reply.begin(), reply.end(), nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) {
    return absl::InternalError(absl::StrCat("malformed guest agent reply: ", Shorten(reply)));
  }
  auto err = j.find("error");
  if (err != j.end()) {
    std::string desc = err->is_object() ? JsonString(*err, "/desc") : "";
    std::string cls = err->is_object() ? JsonString(*err, "/class") : "";
    if (desc.empty()) desc = Shorten(err->dump());
    return absl::InternalError(cls.empty() ? absl::StrCat("guest agent error: ", desc)
                                           : absl::StrCat("guest agent error (", cls, "): ", desc));
  }
  auto ret = j.find("return");
  if (ret == j.end()) {
    return absl::InternalError(absl::StrCat("malformed guest agent reply: ", Shorten(reply)));
  }
  return *ret;
}

absl::Status ParsePing(absl::string_view reply) { return QgaReturn(reply).status(); }

absl::StatusOr<std::string> ParseFsFreezeStatus(absl::string_view reply) {
  absl::StatusOr<Json> ret = QgaReturn(reply);
  if (!ret.ok()) return ret.status();
  if (ret->is_string()) {
    std::string s = ret->get<std::string>();
    if (s == "thawed" || s == "frozen") return s;
  }
  return absl::InternalError(
      absl::StrCat("unexpected guest-fsfreeze-status reply: ", Shorten(reply)));
}

absl::StatusOr<int> ParseFsCount(absl::string_view reply) {
  absl::StatusOr<Json> ret = QgaReturn(reply);
  if (!ret.ok()) return ret.status();
  if (!ret->is_number_integer() || ret->get<int64_t>() < 0 ||
      ret->get<int64_t>() > std::numeric_limits<int>::max()) {
    return absl::InternalError(
        absl::StrCat("unexpected filesystem count in guest agent reply: ", Shorten(reply)));
  }
  return static_cast<int>(ret->get<int64_t>());
}

absl::StatusOr<std::vector<std::string>> ParseAddresses(absl::string_view reply) {
  absl::StatusOr<Json> ret = QgaReturn(reply);
  if (!ret.ok()) return ret.status();
  if (!ret->is_array()) {
    return absl::InternalError(
        absl::StrCat("unexpected guest-network-get-interfaces reply: ", Shorten(reply)));
  }
  std::vector<std::string> out;
  for (const Json& iface : *ret) {
    if (!iface.is_object() || JsonString(iface, "/name") == "lo") continue;
    auto addrs = iface.find("ip-addresses");
    if (addrs == iface.end() || !addrs->is_array()) continue;
    for (const Json& a : *addrs) {
      if (!a.is_object()) continue;
      std::string ip = JsonString(a, "/ip-address");
      if (!ip.empty() && !IsLocalAddress(ip)) out.push_back(ip);
    }
  }
  return out;
}

}  // namespace berth::agent
