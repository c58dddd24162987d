// The web console on the Kubernetes API port: its embedded files (berth/console_assets.h),
// served without authentication because they are the same for everyone and hold no data; the
// console's scripts then call the API with the user's own credentials. Immutable after
// construction, so thread-safe.
#ifndef BERTH_CONTROLLER_KUBEAPI_CONSOLE_H_
#define BERTH_CONTROLLER_KUBEAPI_CONSOLE_H_

#include <optional>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "berth/console_assets.h"
#include "kubeapi/http_server.h"

namespace berth::kubeapi {

// Headers every console response carries: the page runs only its own scripts and styles, talks
// only to this origin, and is never framed.
inline constexpr char kConsoleCsp[] =
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'";

class Console {
 public:
  // `assets` must outlive the Console (console::Assets() is static).
  explicit Console(const std::vector<console::Asset>& assets);

  // The answer when `req` asks for the console: GET or HEAD of "/" from a browser (Accept
  // names text/html), or any request under /console/. nullopt: the request is the API's.
  std::optional<HttpResponse> Serve(const HttpRequest& req) const;

 private:
  absl::flat_hash_map<std::string_view, const console::Asset*> by_path_;
};

// Whether an If-None-Match header value names `etag` (weak comparison, as RFC 9110 says for
// If-None-Match; "*" matches anything).
bool EtagMatches(std::string_view if_none_match, std::string_view etag);

}  // namespace berth::kubeapi

#endif  // BERTH_CONTROLLER_KUBEAPI_CONSOLE_H_
