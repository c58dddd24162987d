// libFuzzer target for the export server's request parsing: the request head (method, target,
// Authorization, Content-Length, Connection) and the Range / Content-Range headers, all sent by
// any client that can reach the export port. Any bytes must be accepted or rejected without
// crashing, and what parses must be in bounds.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "berth/exportwire/export_wire.h"
#include "export/export_request.h"

namespace ba = berth::agent;
namespace ew = berth::exportwire;

namespace {

void CheckRange(const std::string& value, uint64_t size) {
  auto r = ew::ParseRangeHeader(value, size);
  if (r.ok() && (r->first > r->last || r->last >= size)) abort();
}

void CheckContentRange(const std::string& value) {
  auto cr = ew::ParseContentRange(value);
  if (cr.ok() && (cr->range.first > cr->range.last || (cr->total && *cr->total <= cr->range.last)))
    abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
  // The first byte picks the exported size the Range header is checked against.
  const uint64_t sizes[] = {0, 1, 4096, 1ull << 40, UINT64_MAX};
  uint64_t export_size = sizes[(size == 0 ? 0 : data[0]) % 5];
  auto req = ba::ParseExportRequest(text);
  if (req.ok()) {
    if (!req->id.empty()) {
      if (req->id.size() > ba::kMaxExportIdLength || req->op.empty()) abort();
      if (req->id.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789-") != std::string::npos)
        abort();
    }
    if (req->method.empty() || req->method.find_first_of(" \r\n") != std::string::npos) abort();
    CheckRange(req->head.Header("range"), export_size);
    CheckContentRange(req->head.Header("content-range"));
  }
  // The header parsers directly, on the whole input.
  CheckRange(text, export_size);
  CheckContentRange(text);
  return 0;
}
