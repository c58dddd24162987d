#ifndef BERTH_CLI_RESOURCE_CLIENT_H_
#define BERTH_CLI_RESOURCE_CLIENT_H_

#include <functional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "berth/json.h"

namespace berth::cli {

// What Apply or Delete did, and the object the server stored (or removed).
struct ObjectResult {
  Json object;
  std::string action;  // created, configured, unchanged, deleted
};

struct ListQuery {
  std::string kind;
  std::string ns;
  bool all_namespaces = false;
  std::string label_selector;
};

struct ListResult {
  std::vector<Json> items;
  std::string resource_version;
};

struct WatchQuery {
  std::string kind;
  std::string ns;
  bool all_namespaces = false;
  std::string name;              // empty: every object of the kind
  std::string resource_version;  // empty: the current state first, as ADDED events
};

struct WatchEvent {
  std::string type;  // ADDED, MODIFIED, DELETED
  Json object;
};

// Returns false to stop watching.
using WatchHandler = std::function<bool(const WatchEvent&)>;

// Talks to the controller's resource API. Errors that the server returned carry the
// MarkFromServer payload so the CLI can print them kubectl-style. Not thread-safe.
class ResourceClient {
 public:
  virtual ~ResourceClient() = default;

  virtual absl::StatusOr<ObjectResult> Apply(const Json& object, bool dry_run) = 0;
  virtual absl::StatusOr<Json> Get(const std::string& kind, const std::string& ns,
                                   const std::string& name) = 0;
  virtual absl::StatusOr<ListResult> List(const ListQuery& query) = 0;
  virtual absl::StatusOr<ObjectResult> Delete(const std::string& kind, const std::string& ns,
                                              const std::string& name) = 0;
  // Calls `handler` for each event until it returns false (returns OK), `deadline` passes
  // (DeadlineExceeded) or the stream ends or fails (that status; OK-ended streams return
  // Unavailable so callers can tell "stopped" from "gone").
  virtual absl::Status Watch(const WatchQuery& query, absl::Time deadline,
                             const WatchHandler& handler) = 0;
  // Returns the server's version string (Admin.Health).
  virtual absl::StatusOr<std::string> ServerVersion() = 0;

  // Access control (Admin service). WhoAmI: {user, groups, admin, via, namespaces}.
  virtual absl::StatusOr<Json> WhoAmI() { return Unsupported(); }
  virtual absl::StatusOr<Json> Grant(const std::string& user, const std::string& ns, bool revoke) {
    return Unsupported();
  }
  virtual absl::StatusOr<std::vector<Json>> ListGrants() { return Unsupported(); }
  // {id, token, user, admin, expiresAt}; ttl 0: never expires.
  virtual absl::StatusOr<Json> IssueToken(const std::string& user, bool admin, absl::Duration ttl) {
    return Unsupported();
  }
  virtual absl::StatusOr<Json> RevokeToken(const std::string& id) { return Unsupported(); }
  virtual absl::StatusOr<std::vector<Json>> ListTokens() { return Unsupported(); }

 private:
  static absl::Status Unsupported() {
    return absl::UnimplementedError("this client does not support access control");
  }
};

// Tags `status` as an error the server returned (as opposed to a local one).
absl::Status MarkFromServer(absl::Status status);
bool IsFromServer(const absl::Status& status);

}  // namespace berth::cli

#endif  // BERTH_CLI_RESOURCE_CLIENT_H_
