// The web console's files (console/src, bundled by build.mjs), embedded in the binary at build
// time by console/cmake/embed_console.cmake: the controller serves them from memory, so a
// controller and its console never disagree about the API.
#ifndef BERTH_CONSOLE_ASSETS_H_
#define BERTH_CONSOLE_ASSETS_H_

#include <string_view>
#include <vector>

namespace berth::console {

struct Asset {
  std::string_view path;          // "/" for index.html, else "/console/main-<hash>.js" etc.
  std::string_view content_type;  // "text/javascript; charset=utf-8"
  std::string_view etag;          // strong, quoted: "\"<sha256 hex of body>\""
  bool immutable;                 // the name carries a content hash: cacheable forever
  std::string_view body;
};

// Returns every embedded file (index.html at "/"). Static storage; thread-safe.
const std::vector<Asset>& Assets();

}  // namespace berth::console

#endif  // BERTH_CONSOLE_ASSETS_H_
