#ifndef BERTH_AGENT_GUEST_QGA_PARSE_H_
#define BERTH_AGENT_GUEST_QGA_PARSE_H_

// Pure parsers for qemu-guest-agent replies (QGA JSON). Each takes the reply text as libvirt
// returns it ({"return": ...} or {"error": {"class": ..., "desc": ...}}) and never throws.

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "berth/json.h"

namespace berth::agent {

// Deepest JSON nesting accepted in a reply. Real replies nest at most four levels; the guest is
// untrusted and copies/dumps of parsed JSON recurse, so deeper replies are rejected up front.
inline constexpr int kMaxQgaReplyDepth = 64;

// Returns the command text {"execute":"<name>"}.
std::string QgaCommand(absl::string_view execute);

// Returns the "return" member. A QGA error reply becomes Internal carrying the agent's desc
// (and class); text that is not a QGA reply becomes Internal "malformed ..."; a reply nested
// deeper than kMaxQgaReplyDepth becomes Internal naming the limit.
absl::StatusOr<Json> QgaReturn(absl::string_view reply);

// guest-ping: {"return": {}}.
absl::Status ParsePing(absl::string_view reply);
// guest-fsfreeze-status: "thawed" or "frozen".
absl::StatusOr<std::string> ParseFsFreezeStatus(absl::string_view reply);
// guest-fsfreeze-freeze / guest-fsfreeze-thaw: the number of filesystems.
absl::StatusOr<int> ParseFsCount(absl::string_view reply);
// guest-network-get-interfaces: IPv4/IPv6 addresses in reply order, without the loopback
// interface and loopback or link-local addresses.
absl::StatusOr<std::vector<std::string>> ParseAddresses(absl::string_view reply);

}  // namespace berth::agent

#endif  // BERTH_AGENT_GUEST_QGA_PARSE_H_
