#include <iostream>

#include "absl/strings/str_cat.h"
#include "api.grpc.pb.h"
#include "berth/agent/agent_service.h"
#include "berth/log.h"
#include "grpcpp/grpcpp.h"

namespace berth::agent {

namespace apipb = ::berth::api::v1;

Registration::Registration(std::string controller, std::string node_name, std::string advertise,
                           std::shared_ptr<grpc::ChannelCredentials> credentials)
    : controller_(std::move(controller)),
      node_name_(std::move(node_name)),
      advertise_(std::move(advertise)),
      credentials_(std::move(credentials)) {}

Registration::~Registration() { Stop(); }

void Registration::Start() {
  thread_ = std::thread([this] { Run(); });
}

void Registration::Stop() {
  if (!stop_.HasBeenNotified()) stop_.Notify();
  if (thread_.joinable()) thread_.join();
}

void Registration::Run() {
  auto stub = apipb::Admin::NewStub(grpc::CreateChannel(controller_, credentials_));
  absl::Duration interval = absl::Seconds(1);
  bool registered = false;
  bool reported_failure = false;
  int failures = 0;
  while (!stop_.HasBeenNotified()) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
    grpc::Status s;
    if (!registered) {
      apipb::RegisterNodeRequest req;
      req.set_node_name(node_name_);
      req.set_address(advertise_);
      req.set_version(kAgentVersion);
      apipb::RegisterNodeResponse resp;
      s = stub->RegisterNode(&ctx, req, &resp);
      if (s.ok()) {
        registered = true;
        interval = absl::Milliseconds(std::max<uint32_t>(resp.heartbeat_interval_ms(), 100));
        log::Info("registered with the controller",
                  {{"node", node_name_}, {"controller", controller_}});
      }
    } else {
      apipb::HeartbeatRequest req;
      req.set_node_name(node_name_);
      apipb::HeartbeatResponse resp;
      s = stub->Heartbeat(&ctx, req, &resp);
      if (s.ok() && !resp.known()) registered = false;
    }
    if (!s.ok() && !reported_failure) {
      log::Warning(
          absl::StrCat("controller ", controller_, ": ", s.error_message(), " (retrying)"));
    }
    reported_failure = !s.ok();
    // Unregistered: retry soon at first (the controller may be starting), then every second.
    absl::Duration retry =
        std::min(absl::Milliseconds(100) * (1 << std::min(failures, 4)), absl::Seconds(1));
    failures = s.ok() ? 0 : failures + 1;
    stop_.WaitForNotificationWithTimeout(registered ? interval : retry);
  }
}

}  // namespace berth::agent
