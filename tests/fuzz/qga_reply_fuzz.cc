// libFuzzer target for the qemu-guest-agent reply parsers: a guest controls every byte of its
// agent's replies, so any text must be accepted or rejected without crashing, and what parses
// must satisfy the parsers' contracts.
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "absl/strings/match.h"
#include "guest/qga_parse.h"

namespace ba = berth::agent;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  absl::string_view reply(reinterpret_cast<const char*>(data), size);
  (void)ba::QgaReturn(reply);
  (void)ba::ParsePing(reply);
  auto status = ba::ParseFsFreezeStatus(reply);
  if (status.ok() && *status != "thawed" && *status != "frozen") abort();
  auto count = ba::ParseFsCount(reply);
  if (count.ok() && *count < 0) abort();
  auto addrs = ba::ParseAddresses(reply);
  if (addrs.ok()) {
    for (const std::string& ip : *addrs) {
      if (ip.empty() || absl::StartsWith(ip, "127.") || ip == "::1") abort();
    }
  }
  return 0;
}
