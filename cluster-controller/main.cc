// berth-controller: holds every resource's state machine; asks node agents to act.
#include <signal.h>
#include <unistd.h>

#include <iostream>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "berth/controller/api.h"
#include "berth/controller/controllers.h"
#include "berth/controller/data_export.h"
#include "berth/controller/kube_api.h"
#include "berth/controller/leader.h"
#include "berth/controller/store_spec.h"
#include "berth/controller/usb.h"
#include "berth/daemon.h"
#include "berth/log.h"
#include "berth/metrics_server.h"
#include "berth/net/grpc_listener.h"
#include "berth/sd_notify.h"
#include "berth/tls.h"
#include "grpcpp/grpcpp.h"
#include "grpcpp/health_check_service_interface.h"

ABSL_FLAG(std::string, listen, "127.0.0.1:7443", "address:port the API listens on");
ABSL_FLAG(std::string, tls_dir, "",
          "directory with ca.crt, tls.crt, tls.key (the controller certificate, "
          "O=berth:controllers) for mutual TLS with clients and agents; `scripts/certs init` "
          "creates it");
ABSL_FLAG(bool, insecure, false,
          "plaintext, unauthenticated API where every caller is an admin (tests only; excludes "
          "--tls_dir)");
ABSL_FLAG(std::string, data_dir, "/var/lib/berth/controller",
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
ABSL_FLAG(int, lease_ttl_seconds, 5,
          "etcd store: the leader's lease; a dead leader is replaced within about TTL + 1 s");
ABSL_FLAG(int, compaction_interval_seconds, 300,
          "etcd store: the leader compacts etcd's history this often (0: never)");
ABSL_FLAG(int, compaction_keep_revisions, 100000,
          "etcd store: revisions of history kept for watches to resume from");
ABSL_FLAG(std::vector<std::string>, storage_classes,
          std::vector<std::string>({"local-reflink=reflink", "local-btrfs=btrfs",
                                    "local-copy=copy"}),
          "storage classes as NAME=POOL, comma-separated; POOL is a pool name agents serve");
ABSL_FLAG(std::string, default_storage_class, "local-reflink",
          "storage class for disks that name none");
ABSL_FLAG(int, workers, 4, "reconcile workers per kind");
ABSL_FLAG(int, vm_stop_grace_seconds, 30, "ACPI shutdown time before a VM's power is cut");
ABSL_FLAG(std::string, ip_cidr, "10.66.0.0/16", "pool for VirtualMachineIPAddress of type Auto");
ABSL_FLAG(int, heartbeat_grace_seconds, 8, "a node is NotReady after this long without heartbeat");
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
ABSL_FLAG(std::string, authorization, "berth",
          "who authorizes Kubernetes API requests forwarded by kube-apiserver's front proxy: berth "
          "(Berth's grants) or kubernetes (a SubjectAccessReview to kube-apiserver)");
ABSL_FLAG(std::string, authorization_server, "",
          "kube-apiserver URL for --authorization=kubernetes (default: "
          "https://$KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT, the in-pod address)");
ABSL_FLAG(int, watch_history, 100000,
          "store events kept for watches to resume from; an older resourceVersion gets 410 Gone");
ABSL_FLAG(int, v, 0, "log verbosity: 2 logs every successful reconcile pass");

namespace bc = berth::controller;

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage("berth-controller --listen=HOST:PORT --data_dir=DIR");
  absl::ParseCommandLine(argc, argv);
  berth::ConfigureDaemonProcess();
  auto log_format = berth::log::ParseFormat(absl::GetFlag(FLAGS_log_format));
  if (!log_format.ok()) {
    std::cerr << "berth-controller: " << log_format.status().message() << "\n";
    return 2;
  }
  berth::log::Init(*log_format, absl::GetFlag(FLAGS_v), "controller");
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  auto transport = berth::TransportFromFlags("berth-controller", absl::GetFlag(FLAGS_tls_dir),
                                             absl::GetFlag(FLAGS_insecure));
  if (!transport.ok()) {
    berth::log::Error(berth::log::Str(transport.status().message()));
    return 2;
  }
  bc::ControllerConfig config;
  for (const std::string& entry : absl::GetFlag(FLAGS_storage_classes)) {
    std::vector<std::string> kv = absl::StrSplit(entry, absl::MaxSplits('=', 1));
    if (kv.size() != 2 || kv[0].empty() || kv[1].empty()) {
      berth::log::Error(
          berth::log::Str("--storage_classes: bad entry \"", entry, "\" (want NAME=POOL)"));
      return 2;
    }
    config.storage_classes[kv[0]] = kv[1];
  }
  config.default_storage_class = absl::GetFlag(FLAGS_default_storage_class);
  config.heartbeat_grace = absl::Seconds(absl::GetFlag(FLAGS_heartbeat_grace_seconds));
  config.vm_stop_grace = absl::Seconds(absl::GetFlag(FLAGS_vm_stop_grace_seconds));
  config.ip_cidr = absl::GetFlag(FLAGS_ip_cidr);

  berth::RealClock clock;
  std::string store_flag = absl::GetFlag(FLAGS_store);
  if (store_flag.empty()) store_flag = "sqlite:" + absl::GetFlag(FLAGS_data_dir);
  absl::StatusOr<bc::StoreSpec> store_spec = bc::ParseStoreSpec(store_flag);
  if (!store_spec.ok()) {
    berth::log::Error(berth::log::Str("--store: ", store_spec.status().message()));
    return 2;
  }
  bc::StoreOpenOptions store_options;
  store_options.history = std::max(1, absl::GetFlag(FLAGS_watch_history));
  {
    berth::TlsFiles from_dir = berth::TlsFiles::FromDir(absl::GetFlag(FLAGS_tls_dir));
    const bool have_dir = !absl::GetFlag(FLAGS_tls_dir).empty();
    auto pick = [&](const std::string& flag, const std::string& dir_file) {
      return !flag.empty() ? flag : have_dir ? dir_file : std::string();
    };
    store_options.etcd_tls.ca = pick(absl::GetFlag(FLAGS_store_ca), from_dir.ca);
    store_options.etcd_tls.cert = pick(absl::GetFlag(FLAGS_store_cert), from_dir.cert);
    store_options.etcd_tls.key = pick(absl::GetFlag(FLAGS_store_key), from_dir.key);
  }
  std::string id = absl::GetFlag(FLAGS_id);
  if (id.empty()) {
    char host[256] = {};
    gethostname(host, sizeof(host) - 1);
    id = host;
  }
  auto store = bc::OpenStore(*store_spec, store_options, clock);
  if (!store.ok()) {
    berth::log::Error(
        berth::log::Str("store ", store_spec->ToString(), ": ", store.status().message()));
    return 1;
  }
  bc::ObjectStore* etcd_backend = store_spec->is_etcd() ? store->get() : nullptr;
  std::unique_ptr<bc::LeaderElection> election;
  if (store_spec->is_etcd()) {
    // Every controller reads from its own watch cache; writes go to etcd.
    auto cached = bc::NewCachedStore(*std::move(store), store_options.history);
    if (!cached.ok()) {
      berth::log::Error(
          berth::log::Str("store ", store_spec->ToString(), ": ", cached.status().message()));
      return 1;
    }
    store = *std::move(cached);
    bc::ElectionOptions election_options;
    election_options.id = id;
    election_options.lease_ttl = absl::Seconds(absl::GetFlag(FLAGS_lease_ttl_seconds));
    auto elected = bc::NewEtcdElection(*store_spec, store_options, election_options);
    if (!elected.ok()) {
      berth::log::Error(berth::log::Str("--store: ", elected.status().message()));
      return 2;
    }
    election = *std::move(elected);
  } else {
    election = bc::NewSoleLeader(id);
  }
  bc::AgentChannels channels(**store, transport->ChannelCredentials());
  bc::GrpcAgentDirectory agents(channels);
  std::unique_ptr<bc::ExportAgents> export_agents = bc::NewGrpcExportAgents(channels);
  std::unique_ptr<bc::UsbAgents> usb_agents = bc::NewGrpcUsbAgents(channels);
  bc::NodeTracker tracker(clock);
  bc::Manager manager(**store, clock, absl::GetFlag(FLAGS_workers));
  const bc::ReconcilerDeps deps{
      **store, agents, clock, config, tracker, export_agents.get(), usb_agents.get()};
  for (auto& reconciler : bc::NewReconcilers(deps)) manager.Add(std::move(reconciler));

  berth::metrics::Registry metrics;
  berth::metrics::AddProcessMetrics(metrics);
  manager.ExportMetrics(metrics);
  election->ExportMetrics(metrics);
  if (store_spec->is_etcd()) bc::ExportCacheMetrics(**store, metrics);
  metrics.AddGaugeCallback({"berth_agent_heartbeats_total",
                            "Heartbeats received per node.",
                            {"node"},
                            [&tracker] {
                              std::vector<std::pair<berth::metrics::LabelValues, double>> out;
                              for (const auto& [node, n] : tracker.BeatCounts()) {
                                out.push_back({{node}, static_cast<double>(n)});
                              }
                              return out;
                            },
                            /*is_counter=*/true});

  bc::AccessControl access(**store, clock, transport->insecure);
  auto resources = bc::NewResourcesService(**store, access);
  auto admin = bc::NewAdminService(**store, tracker, manager, config, access);
  grpc::EnableDefaultHealthCheckService(true);  // grpc.health.v1.Health
  grpc::ServerBuilder builder;
  berth::KeepServerThreads(builder, 32);
  const std::vector<std::string> listeners = {"controller-grpc", "kube-api", "metrics"};
  berth::net::ListenerConfig grpc_config;
  grpc_config.name = "controller-grpc";
  grpc_config.listen = absl::GetFlag(FLAGS_listen);
  grpc_config.limits = berth::net::GrpcListener::DefaultLimits();
  grpc_config.metrics = &metrics;
  berth::net::ListenerLimits metrics_limits = berth::metrics::MetricsServer::DefaultLimits();
  bc::KubeApiOptions kube_options;
  kube_options.listen = absl::GetFlag(FLAGS_kube_api_listen);
  if (!transport->insecure) kube_options.tls = transport->files;
  kube_options.front_proxy_ca_file = absl::GetFlag(FLAGS_requestheader_client_ca_file);
  kube_options.front_proxy_allowed_names = absl::GetFlag(FLAGS_requestheader_allowed_names);
  kube_options.metrics = &metrics;
  kube_options.authorization = absl::GetFlag(FLAGS_authorization);
  kube_options.review_server = absl::GetFlag(FLAGS_authorization_server);
  if (kube_options.review_server.empty() && std::getenv("KUBERNETES_SERVICE_HOST")) {
    kube_options.review_server = std::string("https://") + std::getenv("KUBERNETES_SERVICE_HOST") +
                                 ":" + (std::getenv("KUBERNETES_SERVICE_PORT") ?: "443");
  }
  if (kube_options.authorization != "berth" && kube_options.authorization != "kubernetes") {
    berth::log::Error(berth::log::Str("--authorization: want berth or kubernetes, got \"",
                                      kube_options.authorization, "\""));
    return 2;
  }
  if (kube_options.authorization == "kubernetes" && kube_options.review_server.empty()) {
    berth::log::Error(
        "--authorization=kubernetes needs --authorization_server (or KUBERNETES_SERVICE_HOST in a "
        "pod)");
    return 2;
  }
  if (!kube_options.listen.empty()) {
    config.kube_api_url =
        std::string(transport->insecure ? "http://" : "https://") + kube_options.listen;
  }
  for (auto [name, limits] :
       {std::pair{"controller-grpc", &grpc_config.limits},
        std::pair{"kube-api", &kube_options.limits}, std::pair{"metrics", &metrics_limits}}) {
    if (absl::Status s = berth::net::ApplyLimitOverrides(absl::GetFlag(FLAGS_listener_limits), name,
                                                         listeners, limits);
        !s.ok()) {
      berth::log::Error(berth::log::Str(s.message()));
      return 2;
    }
  }
  auto grpc_port =
      berth::net::GrpcListener::Add(builder, transport->ServerCredentials(), grpc_config);
  builder.RegisterService(resources.get());
  builder.RegisterService(admin.get());
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  absl::Status listening = server ? grpc_port->Start() : absl::InternalError("gRPC did not start");
  if (!listening.ok()) {
    berth::log::Error(berth::log::Str("cannot listen on ", absl::GetFlag(FLAGS_listen), ": ",
                                      listening.message()));
    return 1;
  }
  // Only the leader reconciles; every controller serves the APIs. A controller that loses the
  // leadership stops its reconcilers (passes in flight finish; their writes are fenced) and
  // campaigns again.
  election->Start(
      [&manager](std::shared_ptr<bc::WriteFence> fence) {
        if (absl::Status s = manager.Start(std::move(fence)); !s.ok()) {
          // The store could not be listed (etcd unreachable): exit, and let the supervisor
          // restart a follower rather than hold the lease without reconciling.
          berth::log::Error(berth::log::Str("cannot start the reconcilers: ", s));
          std::_Exit(1);
        }
      },
      [&manager] { manager.Stop(); });
  std::thread compactor;
  absl::Notification stop_compactor;
  if (int every = absl::GetFlag(FLAGS_compaction_interval_seconds);
      etcd_backend != nullptr && every > 0) {
    compactor = std::thread([&, every] {
      const uint64_t keep = std::max(1, absl::GetFlag(FLAGS_compaction_keep_revisions));
      while (!stop_compactor.WaitForNotificationWithTimeout(absl::Seconds(every))) {
        if (!election->leading()) continue;
        uint64_t now = etcd_backend->CurrentVersion();
        if (now <= keep) continue;
        if (absl::Status s = bc::CompactEtcdStore(*etcd_backend, now - keep); !s.ok()) {
          berth::log::Warning("etcd compaction failed", {{"error", std::string(s.message())}});
        } else {
          berth::log::Info("etcd history compacted",
                           {{"before_revision", absl::StrCat(now - keep)}});
        }
      }
    });
  }
  std::unique_ptr<berth::metrics::MetricsServer> metrics_server;
  if (std::string l = absl::GetFlag(FLAGS_metrics_listen); !l.empty()) {
    auto started = berth::metrics::MetricsServer::Start(
        l, metrics, nullptr, metrics_limits, &metrics, [&election, &id]() -> std::string {
          if (election->leading()) return "leader " + id;
          std::string leader = election->leader();
          return "follower, leader " + (leader.empty() ? std::string("unknown") : leader);
        });
    if (!started.ok()) {
      berth::log::Error(berth::log::Str(started.status()));
      return 1;
    }
    metrics_server = *std::move(started);
    berth::log::Info("metrics", {{"url", "http://" + metrics_server->address() + "/metrics"}});
  }
  std::unique_ptr<bc::KubeApiServer> kube_api;
  if (!kube_options.listen.empty()) {
    auto started = bc::KubeApiServer::Start(kube_options, **store, access, clock);
    if (!started.ok()) {
      berth::log::Error(berth::log::Str("Kubernetes API on ", kube_options.listen, ": ",
                                        started.status().message()));
      return 1;
    }
    kube_api = *std::move(started);
    berth::log::Info("kubernetes api",
                     {{"url", std::string(transport->insecure ? "http" : "https") + "://" +
                                  kube_api->address()}});
  }
  berth::log::Info(berth::log::Str("listening on ", absl::GetFlag(FLAGS_listen), ", store ",
                                   store_spec->ToString()),
                   {{"controller", id}});
  berth::NotifyReady("listening on " + absl::GetFlag(FLAGS_listen));
  // CurrentVersion takes the store's lock: a wedged store blocks the pings and systemd
  // restarts the unit.
  berth::WatchdogPinger watchdog([&store] {
    (*store)->CurrentVersion();
    return true;
  });
  int sig = 0;
  sigwait(&signals, &sig);
  berth::NotifyStopping();
  berth::log::Info(berth::log::Str("signal ", sig, ", shutting down"));
  kube_api.reset();
  server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(2));
  stop_compactor.Notify();
  if (compactor.joinable()) compactor.join();
  election->Stop();  // resigns: a successor leads without waiting for the lease to expire
  manager.Stop();
  return 0;
}
