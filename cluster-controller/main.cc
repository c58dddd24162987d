// berth-controller: holds every resource's state machine; asks node agents to act.
// Flags: src/server/controller_options.cc.
#include <signal.h>

#include <iostream>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/str_cat.h"
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
#include "server/controller_options.h"

namespace bc = berth::controller;

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage("berth-controller --listen=HOST:PORT --data_dir=DIR");
  berth::HelpListsOptionsFlags();
  absl::ParseCommandLine(argc, argv);
  berth::ConfigureDaemonProcess();
  absl::StatusOr<bc::ControllerOptions> options = bc::ControllerOptionsFromFlags();
  if (!options.ok()) {
    std::cerr << "berth-controller: " << options.status().message() << "\n";
    return 2;
  }
  const bc::ControllerOptions& o = *options;
  berth::log::Init(o.log_format, o.verbosity, "controller");
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  auto transport = berth::TransportFromFlags("berth-controller", o.tls_dir, o.insecure);
  if (!transport.ok()) {
    berth::log::Error(berth::log::Str(transport.status().message()));
    return 2;
  }
  const bc::ControllerConfig& config = o.config;

  berth::RealClock clock;
  absl::StatusOr<bc::StoreSpec> store_spec = bc::ParseStoreSpec(o.StoreFlag());
  if (!store_spec.ok()) {
    berth::log::Error(berth::log::Str("--store: ", store_spec.status().message()));
    return 2;
  }
  bc::StoreOpenOptions store_options;
  store_options.history = std::max(1, o.watch_history);
  {
    berth::TlsFiles from_dir = berth::TlsFiles::FromDir(o.tls_dir);
    const bool have_dir = !o.tls_dir.empty();
    auto pick = [&](const std::string& flag, const std::string& dir_file) {
      return !flag.empty() ? flag : have_dir ? dir_file : std::string();
    };
    store_options.etcd_tls.ca = pick(o.store_ca, from_dir.ca);
    store_options.etcd_tls.cert = pick(o.store_cert, from_dir.cert);
    store_options.etcd_tls.key = pick(o.store_key, from_dir.key);
  }
  const std::string& id = o.id;
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
    election_options.lease_ttl = absl::Seconds(o.lease_ttl_seconds);
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
  bc::Manager manager(**store, clock, o.workers);
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
  grpc_config.listen = o.listen;
  grpc_config.limits = berth::net::GrpcListener::DefaultLimits();
  grpc_config.metrics = &metrics;
  berth::net::ListenerLimits metrics_limits = berth::metrics::MetricsServer::DefaultLimits();
  bc::KubeApiOptions kube_options;
  kube_options.listen = o.kube_api_listen;
  if (!transport->insecure) kube_options.tls = transport->files;
  kube_options.front_proxy_ca_file = o.requestheader_client_ca_file;
  kube_options.front_proxy_allowed_names = o.requestheader_allowed_names;
  kube_options.metrics = &metrics;
  kube_options.authorization = o.authorization;
  kube_options.review_server = o.authorization_server;
  for (auto [name, limits] :
       {std::pair{"controller-grpc", &grpc_config.limits},
        std::pair{"kube-api", &kube_options.limits}, std::pair{"metrics", &metrics_limits}}) {
    if (absl::Status s =
            berth::net::ApplyLimitOverrides(o.listener_limits, name, listeners, limits);
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
    berth::log::Error(berth::log::Str("cannot listen on ", o.listen, ": ", listening.message()));
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
  if (int every = o.compaction_interval_seconds; etcd_backend != nullptr && every > 0) {
    compactor = std::thread([&, every] {
      const uint64_t keep = std::max(1, o.compaction_keep_revisions);
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
  if (const std::string& l = o.metrics_listen; !l.empty()) {
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
  berth::log::Info(berth::log::Str("listening on ", o.listen, ", store ", store_spec->ToString()),
                   {{"controller", id}});
  berth::NotifyReady("listening on " + o.listen);
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
