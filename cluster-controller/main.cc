// berth-controller: holds every resource's state machine; asks node agents to act.
#include <signal.h>

#include <iostream>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "berth/controller/api.h"
#include "berth/controller/controllers.h"
#include "berth/controller/data_export.h"
#include "berth/controller/kube_api.h"
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
ABSL_FLAG(std::string, data_dir, "/var/lib/berth/controller", "directory of the embedded store");
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
  auto store = bc::OpenSqliteStore(absl::GetFlag(FLAGS_data_dir), clock,
                                   std::max(1, absl::GetFlag(FLAGS_watch_history)));
  if (!store.ok()) {
    berth::log::Error(berth::log::Str(store.status()));
    return 1;
  }
  bc::AgentChannels channels(**store, transport->ChannelCredentials());
  bc::GrpcAgentDirectory agents(channels);
  std::unique_ptr<bc::ExportAgents> export_agents = bc::NewGrpcExportAgents(channels);
  config.export_agents = export_agents.get();
  std::unique_ptr<bc::UsbAgents> usb_agents = bc::NewGrpcUsbAgents(channels);
  config.usb_agents = usb_agents.get();
  bc::NodeTracker tracker(clock);
  bc::Manager manager(**store, clock, absl::GetFlag(FLAGS_workers));
  manager.Add(bc::NewNodeReconciler(**store, agents, tracker, clock, config));
  manager.Add(bc::NewVirtualDiskReconciler(**store, agents, clock, config));
  manager.Add(bc::NewVirtualDiskSnapshotReconciler(**store, agents, clock, config));
  manager.Add(bc::NewVirtualMachineReconciler(**store, agents, clock, config));
  manager.Add(bc::NewVirtualMachineOperationReconciler(**store, clock));
  manager.Add(bc::NewVirtualMachineSnapshotReconciler(**store, agents, clock));
  manager.Add(bc::NewVirtualMachineSnapshotOperationReconciler(**store, clock));
  manager.Add(bc::NewIPAddressReconciler(**store, clock, config));
  manager.Add(bc::NewMACAddressReconciler(**store, clock));
  manager.Add(bc::NewDataExportReconciler(**store, *export_agents, clock));
  manager.Add(bc::NewVirtualImageReconciler(**store, agents, clock, config));
  manager.Add(bc::NewClusterVirtualImageReconciler(**store, agents, clock, config));
  manager.Add(bc::NewNodeUSBDeviceReconciler(**store, *usb_agents, clock));

  berth::metrics::Registry metrics;
  berth::metrics::AddProcessMetrics(metrics);
  manager.ExportMetrics(metrics);
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
  if (absl::Status s = manager.Start(); !s.ok()) {
    berth::log::Error(berth::log::Str(s));
    return 1;
  }
  std::unique_ptr<berth::metrics::MetricsServer> metrics_server;
  if (std::string l = absl::GetFlag(FLAGS_metrics_listen); !l.empty()) {
    auto started =
        berth::metrics::MetricsServer::Start(l, metrics, nullptr, metrics_limits, &metrics);
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
                                   absl::GetFlag(FLAGS_data_dir)));
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
  manager.Stop();
  return 0;
}
