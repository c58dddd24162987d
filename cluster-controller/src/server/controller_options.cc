// Every berth-controller flag, read in one place (ControllerOptionsFromFlags). Defaults come
// from ControllerOptions so the struct and the command line agree.
#include "server/controller_options.h"

#include <unistd.h>

#include <cstdlib>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

using berth::controller::ControllerOptions;

namespace {

std::vector<std::string> StorageClassEntries(const std::map<std::string, std::string>& classes) {
  std::vector<std::string> out;
  for (const auto& [name, pool] : classes) out.push_back(absl::StrCat(name, "=", pool));
  return out;
}

}  // namespace

ABSL_FLAG(std::string, listen, ControllerOptions().listen, "address:port the API listens on");
ABSL_FLAG(std::string, tls_dir, "",
          "directory with ca.crt, tls.crt, tls.key (the controller certificate, "
          "O=berth:controllers) for mutual TLS with clients and agents; `scripts/certs init` "
          "creates it");
ABSL_FLAG(bool, insecure, false,
          "plaintext, unauthenticated API where every caller is an admin (tests only; excludes "
          "--tls_dir)");
ABSL_FLAG(std::string, data_dir, ControllerOptions().data_dir,
          "directory of the embedded store (when --store is not given)");
ABSL_FLAG(std::string, store, "",
          "the object store: sqlite:PATH (embedded, one controller; default sqlite:--data_dir) or "
          "etcd:https://H1:2379,https://H2:2379,https://H3:2379 (shared by several controllers, "
          "one of which leads; docs/install.md)");
ABSL_FLAG(std::string, store_ca, "",
          "etcd: CA of the members' certificates (default: --tls_dir's ca.crt)");
ABSL_FLAG(std::string, store_cert, "",
          "etcd: client certificate for --client-cert-auth (default: --tls_dir's tls.crt)");
ABSL_FLAG(std::string, store_key, "", "etcd: key of --store_cert (default: --tls_dir's tls.key)");
ABSL_FLAG(std::string, id, "",
          "this controller's name in the leader election and in logs (default: the host name)");
ABSL_FLAG(int, lease_ttl_seconds, ControllerOptions().lease_ttl_seconds,
          "etcd store: the leader's lease; a dead leader is replaced within about TTL + 1 s");
ABSL_FLAG(int, compaction_interval_seconds, ControllerOptions().compaction_interval_seconds,
          "etcd store: the leader compacts etcd's history this often (0: never)");
ABSL_FLAG(int, compaction_keep_revisions, ControllerOptions().compaction_keep_revisions,
          "etcd store: revisions of history kept for watches to resume from");
ABSL_FLAG(std::vector<std::string>, storage_classes,
          StorageClassEntries(ControllerOptions().config.storage_classes),
          "storage classes as NAME=POOL, comma-separated; POOL is a pool name agents serve");
ABSL_FLAG(std::string, default_storage_class, ControllerOptions().config.default_storage_class,
          "storage class for disks that name none");
ABSL_FLAG(int, workers, ControllerOptions().workers, "reconcile workers per kind");
ABSL_FLAG(int, vm_stop_grace_seconds,
          static_cast<int>(absl::ToInt64Seconds(ControllerOptions().config.vm_stop_grace)),
          "ACPI shutdown time before a VM's power is cut");
ABSL_FLAG(std::string, ip_cidr, ControllerOptions().config.ip_cidr,
          "pool for VirtualMachineIPAddress of type Auto");
ABSL_FLAG(int, heartbeat_grace_seconds,
          static_cast<int>(absl::ToInt64Seconds(ControllerOptions().config.heartbeat_grace)),
          "a node is NotReady after this long without heartbeat");
ABSL_FLAG(std::string, metrics_listen, "",
          "HOST:PORT serving Prometheus /metrics, /healthz and /readyz over HTTP (empty: off)");
ABSL_FLAG(std::string, log_format, "text", "log records as text, logfmt or json");
ABSL_FLAG(std::string, listener_limits, "",
          "per-listener connection limits over the defaults, NAME.KEY=VALUE,... with NAME one of "
          "controller-grpc, kube-api, metrics (docs/security.md)");
ABSL_FLAG(std::string, kube_api_listen, "",
          "HOST:PORT serving the Kubernetes REST API (kubectl, client libraries) over HTTPS with "
          "the --tls_dir certificate; empty: off (docs/api.md)");
ABSL_FLAG(std::string, requestheader_client_ca_file, "",
          "kube-apiserver front-proxy CA: a client certificate from it may name the user in "
          "X-Remote-User/X-Remote-Group (aggregated API; docs/install.md)");
ABSL_FLAG(std::vector<std::string>, requestheader_allowed_names, {},
          "front-proxy certificate CNs allowed to name users (empty: any from the CA)");
ABSL_FLAG(std::string, authorization, ControllerOptions().authorization,
          "who authorizes Kubernetes API requests forwarded by kube-apiserver's front proxy: berth "
          "(Berth's grants) or kubernetes (a SubjectAccessReview to kube-apiserver)");
ABSL_FLAG(std::string, authorization_server, "",
          "kube-apiserver URL for --authorization=kubernetes (default: "
          "https://$KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT, the in-pod address)");
ABSL_FLAG(int, watch_history, ControllerOptions().watch_history,
          "store events kept for watches to resume from; an older resourceVersion gets 410 Gone");
ABSL_FLAG(int, v, 0, "log verbosity: 2 logs every successful reconcile pass");

namespace berth::controller {

absl::StatusOr<std::map<std::string, std::string>> ParseStorageClasses(
    const std::vector<std::string>& entries) {
  std::map<std::string, std::string> out;
  for (const std::string& entry : entries) {
    std::vector<std::string> kv = absl::StrSplit(entry, absl::MaxSplits('=', 1));
    if (kv.size() != 2 || kv[0].empty() || kv[1].empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("--storage_classes: bad entry \"", entry, "\" (want NAME=POOL)"));
    }
    out[kv[0]] = kv[1];
  }
  return out;
}

absl::Status CompleteControllerOptions(ControllerOptions& o,
                                       const std::function<const char*(const char*)>& getenv) {
  if (o.id.empty()) {
    char host[256] = {};
    gethostname(host, sizeof(host) - 1);
    o.id = host;
  }
  if (!o.kube_api_listen.empty()) {
    o.config.kube_api_url = absl::StrCat(o.insecure ? "http://" : "https://", o.kube_api_listen);
  }
  if (o.authorization != "berth" && o.authorization != "kubernetes") {
    return absl::InvalidArgumentError(
        absl::StrCat("--authorization: want berth or kubernetes, got \"", o.authorization, "\""));
  }
  if (o.authorization_server.empty()) {
    if (const char* host = getenv("KUBERNETES_SERVICE_HOST"); host != nullptr && *host) {
      const char* port = getenv("KUBERNETES_SERVICE_PORT");
      o.authorization_server =
          absl::StrCat("https://", host, ":", port != nullptr && *port ? port : "443");
    }
  }
  if (o.authorization == "kubernetes" && o.authorization_server.empty()) {
    return absl::InvalidArgumentError(
        "--authorization=kubernetes needs --authorization_server (or KUBERNETES_SERVICE_HOST in "
        "a pod)");
  }
  return absl::OkStatus();
}

absl::StatusOr<ControllerOptions> ControllerOptionsFromFlags() {
  ControllerOptions o;
  o.listen = absl::GetFlag(FLAGS_listen);
  o.tls_dir = absl::GetFlag(FLAGS_tls_dir);
  o.insecure = absl::GetFlag(FLAGS_insecure);

  o.store = absl::GetFlag(FLAGS_store);
  o.data_dir = absl::GetFlag(FLAGS_data_dir);
  o.store_ca = absl::GetFlag(FLAGS_store_ca);
  o.store_cert = absl::GetFlag(FLAGS_store_cert);
  o.store_key = absl::GetFlag(FLAGS_store_key);
  o.watch_history = absl::GetFlag(FLAGS_watch_history);

  o.id = absl::GetFlag(FLAGS_id);
  o.lease_ttl_seconds = absl::GetFlag(FLAGS_lease_ttl_seconds);
  o.compaction_interval_seconds = absl::GetFlag(FLAGS_compaction_interval_seconds);
  o.compaction_keep_revisions = absl::GetFlag(FLAGS_compaction_keep_revisions);

  absl::StatusOr<std::map<std::string, std::string>> classes =
      ParseStorageClasses(absl::GetFlag(FLAGS_storage_classes));
  if (!classes.ok()) return classes.status();
  o.config.storage_classes = *std::move(classes);
  o.config.default_storage_class = absl::GetFlag(FLAGS_default_storage_class);
  o.workers = absl::GetFlag(FLAGS_workers);
  o.config.vm_stop_grace = absl::Seconds(absl::GetFlag(FLAGS_vm_stop_grace_seconds));
  o.config.ip_cidr = absl::GetFlag(FLAGS_ip_cidr);
  o.config.heartbeat_grace = absl::Seconds(absl::GetFlag(FLAGS_heartbeat_grace_seconds));

  o.kube_api_listen = absl::GetFlag(FLAGS_kube_api_listen);
  o.requestheader_client_ca_file = absl::GetFlag(FLAGS_requestheader_client_ca_file);
  o.requestheader_allowed_names = absl::GetFlag(FLAGS_requestheader_allowed_names);
  o.authorization = absl::GetFlag(FLAGS_authorization);
  o.authorization_server = absl::GetFlag(FLAGS_authorization_server);

  o.metrics_listen = absl::GetFlag(FLAGS_metrics_listen);
  o.listener_limits = absl::GetFlag(FLAGS_listener_limits);
  absl::StatusOr<log::Format> format = log::ParseFormat(absl::GetFlag(FLAGS_log_format));
  if (!format.ok()) return format.status();
  o.log_format = *format;
  o.verbosity = absl::GetFlag(FLAGS_v);

  if (absl::Status s = CompleteControllerOptions(
          o, [](const char* name) { return static_cast<const char*>(std::getenv(name)); });
      !s.ok()) {
    return s;
  }
  return o;
}

}  // namespace berth::controller
