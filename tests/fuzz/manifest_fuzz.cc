// libFuzzer target for the manifest parser (multi-document YAML or JSON): `berth apply` reads
// files and stdin, the controller reads objects sent by any API client. Any text must be
// accepted or rejected without crashing, exhausting memory or the stack, and every parsed
// document is an object that serializes back to JSON.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "berth/manifest.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto docs = berth::ParseManifests(text);
  if (docs.ok()) {
    for (const berth::Json& doc : *docs) {
      if (!doc.is_object()) abort();
      (void)doc.dump();  // throws (and so crashes) on strings that are not UTF-8
    }
  }
  // A small size limit must refuse before parsing.
  if (size > 64 && berth::ParseManifests(text, 64).ok()) abort();
  return 0;
}
