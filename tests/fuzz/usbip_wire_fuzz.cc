// libFuzzer target for the USB/IP codec: every parser must reject or accept any byte string
// without crashing, and what parses must re-encode to the same bytes.
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "berth/agent/usbip_wire.h"

namespace wire = berth::agent::usbip;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  absl::Span<const uint8_t> b(data, size);
  (void)wire::ParseCommandStream(b);
  (void)wire::ParseDevlistReply(b);
  (void)wire::ParseOpHeader(b);
  (void)wire::ParseBusId(b);
  auto rec = wire::ParseDeviceRecord(b);
  if (rec.ok()) {
    std::vector<uint8_t> again;
    wire::AppendDeviceRecord(*rec, false, again);
    auto twice = wire::ParseDeviceRecord(again);
    if (!twice.ok() || twice->busid != rec->busid || twice->path != rec->path) abort();
  }
  auto h = wire::ParseUrbHeader(b);
  if (h.ok() && h->command == wire::kCmdSubmit) {
    auto n = wire::UrbPayloadSize(*h);
    if (n.ok() && b.size() >= wire::kUrbHeaderSize + *n) {
      auto urb = wire::ParseCmdSubmit(*h, b.subspan(wire::kUrbHeaderSize, *n));
      if (urb.ok()) {
        std::vector<uint8_t> enc = wire::EncodeCmdSubmit(*urb, h->devid);
        auto h2 = wire::ParseUrbHeader(enc);
        if (!h2.ok() || h2->seqnum != h->seqnum) abort();
      }
    }
  }
  if (h.ok() && h->command == wire::kRetSubmit) {
    for (bool in : {false, true}) {
      auto n = wire::UrbPayloadSize(*h, in);
      if (n.ok() && b.size() >= wire::kUrbHeaderSize + *n) {
        (void)wire::ParseRetSubmit(*h, in, b.subspan(wire::kUrbHeaderSize, *n));
      }
    }
  }
  return 0;
}
