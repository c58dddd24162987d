// The controller's settings: one plain struct holding the value of every berth-controller flag.
// Read from the command line once, by ControllerOptionsFromFlags(), and checked there, so that
// main() only wires parts together; nothing else reads flags. The defaults here are the flags'
// defaults.
#ifndef BERTH_CONTROLLER_SERVER_CONTROLLER_OPTIONS_H_
#define BERTH_CONTROLLER_SERVER_CONTROLLER_OPTIONS_H_

#include <functional>
#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "berth/controller/controllers.h"
#include "berth/log.h"

namespace berth::controller {

struct ControllerOptions {
  // The gRPC API (--listen, --tls_dir, --insecure); exactly one of the last two.
  std::string listen = "127.0.0.1:7443";
  std::string tls_dir;
  bool insecure = false;

  // The store (--store, --data_dir, --store_ca/cert/key, --watch_history).
  std::string store;  // as given; empty: "sqlite:" + data_dir (see StoreFlag())
  std::string data_dir = "/var/lib/berth/controller";
  std::string store_ca;  // empty: tls_dir's ca.crt (when tls_dir is set)
  std::string store_cert;
  std::string store_key;
  int watch_history = 100000;

  // Leader election and etcd housekeeping (--id, --lease_ttl_seconds, --compaction_*).
  std::string id;  // empty: the host name (filled by ControllerOptionsFromFlags)
  int lease_ttl_seconds = 5;
  int compaction_interval_seconds = 300;
  int compaction_keep_revisions = 100000;

  // What the reconcilers are told: --storage_classes, --default_storage_class,
  // --heartbeat_grace_seconds, --vm_stop_grace_seconds, --ip_cidr, and kube_api_url from
  // --kube_api_listen. Their defaults are ControllerConfig's, but for the storage classes.
  ControllerConfig config = DefaultConfig();
  int workers = 4;  // --workers

  // The Kubernetes API (--kube_api_listen, --requestheader_*, --authorization*).
  std::string kube_api_listen;  // empty: off
  std::string requestheader_client_ca_file;
  std::vector<std::string> requestheader_allowed_names;
  std::string authorization = "berth";  // berth or kubernetes
  std::string authorization_server;     // for kubernetes; see ControllerOptionsFromFlags

  // Metrics, listeners, logging.
  std::string metrics_listen;   // empty: no metrics server
  std::string listener_limits;  // NAME.KEY=VALUE,... (--listener_limits)
  log::Format log_format = log::Format::kText;
  int verbosity = 0;  // --v

  // The store flag in force: --store, or the embedded SQLite store under --data_dir.
  std::string StoreFlag() const { return store.empty() ? "sqlite:" + data_dir : store; }

  // ControllerConfig's defaults with the three local storage classes, local-reflink the default.
  static ControllerConfig DefaultConfig() {
    ControllerConfig c;
    c.storage_classes = {
        {"local-reflink", "reflink"}, {"local-btrfs", "btrfs"}, {"local-copy", "copy"}};
    c.default_storage_class = "local-reflink";
    return c;
  }
};

// NAME=POOL entries (--storage_classes) as a map; InvalidArgument naming the bad entry.
absl::StatusOr<std::map<std::string, std::string>> ParseStorageClasses(
    const std::vector<std::string>& entries);

// Fills what the flags leave to the environment or imply and checks what can be checked before
// anything starts: the host name for an empty id; config.kube_api_url from --kube_api_listen; for
// --authorization=kubernetes without a server, the in-pod address from KUBERNETES_SERVICE_HOST/PORT
// (read through `getenv`). InvalidArgument, naming the flag, for an --authorization that is neither
// berth nor kubernetes or one that has no server to ask.
absl::Status CompleteControllerOptions(ControllerOptions& o,
                                       const std::function<const char*(const char*)>& getenv);

// Reads every berth-controller flag (call after absl::ParseCommandLine) and completes the
// result with the process environment. InvalidArgument names the flag at fault.
absl::StatusOr<ControllerOptions> ControllerOptionsFromFlags();

}  // namespace berth::controller

#endif  // BERTH_CONTROLLER_SERVER_CONTROLLER_OPTIONS_H_
