// berth.api.v1.Admin: agents register and heartbeat here; operators list nodes.
#include "absl/strings/str_cat.h"
#include "berth/controller/api.h"
#include "berth/controller/status_util.h"
#include "berth/grpc_status.h"
#include "berth/kinds.h"
#include "berth/status_macros.h"

namespace berth::controller {
namespace {

namespace apipb = ::berth::api::v1;

constexpr char kVersion[] = "0.1.0";

class AdminService : public apipb::Admin::Service {
 public:
  AdminService(ObjectStore& store, NodeTracker& tracker, Manager& manager,
               const ControllerConfig& config)
      : store_(store), tracker_(tracker), manager_(manager), config_(config) {}

  grpc::Status RegisterNode(grpc::ServerContext*, const apipb::RegisterNodeRequest* req,
                            apipb::RegisterNodeResponse* resp) override {
    if (req->node_name().empty() || req->address().empty()) {
      return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                          "RegisterNode: node_name and address are required");
    }
    absl::Status s = Register(*req);
    if (!s.ok()) return ToGrpcStatus(s);
    tracker_.Beat(req->node_name());
    manager_.Enqueue(ObjectKey{"Node", "", req->node_name()});
    resp->set_heartbeat_interval_ms(absl::ToInt64Milliseconds(config_.heartbeat_interval));
    return grpc::Status::OK;
  }

  grpc::Status Heartbeat(grpc::ServerContext*, const apipb::HeartbeatRequest* req,
                         apipb::HeartbeatResponse* resp) override {
    bool known = store_.Get(ObjectKey{"Node", "", req->node_name()}).ok();
    resp->set_known(known);
    if (known) tracker_.Beat(req->node_name());
    return grpc::Status::OK;
  }

  grpc::Status ListNodes(grpc::ServerContext*, const apipb::ListNodesRequest*,
                         apipb::ListResponse* resp) override {
    uint64_t rv = 0;
    auto nodes = store_.List("Node", "", &rv);
    if (!nodes.ok()) return ToGrpcStatus(nodes.status());
    for (const Json& n : *nodes) resp->add_items_json(n.dump());
    resp->set_resource_version(absl::StrCat(rv));
    return grpc::Status::OK;
  }

  grpc::Status Health(grpc::ServerContext*, const apipb::HealthRequest*,
                      apipb::HealthResponse* resp) override {
    resp->set_status("SERVING");
    resp->set_version(kVersion);
    return grpc::Status::OK;
  }

 private:
  // Creates or updates the Node; clears the recorded pools so the reconciler asks the agent
  // again (it may have restarted with other pools).
  absl::Status Register(const apipb::RegisterNodeRequest& req) {
    ObjectKey key{"Node", "", req.node_name()};
    for (int attempt = 0; attempt < 5; ++attempt) {
      auto existing = store_.Get(key);
      if (absl::IsNotFound(existing.status())) {
        Json node = {{"apiVersion", kApiVersion},
                     {"kind", "Node"},
                     {"metadata", {{"name", req.node_name()}}},
                     {"status", {{"address", req.address()}, {"version", req.version()}}}};
        auto created = store_.Create(node);
        if (absl::IsAlreadyExists(created.status())) continue;
        return created.status();
      }
      if (!existing.ok()) return existing.status();
      Json status = existing->value("status", Json::object());
      status["address"] = req.address();
      status["version"] = req.version();
      status.erase("pools");
      auto written = WriteStatus(store_, *existing, status);
      if (absl::IsAborted(written.status())) continue;
      return written.status();
    }
    return absl::AbortedError("RegisterNode: too many concurrent updates of the Node");
  }

  ObjectStore& store_;
  NodeTracker& tracker_;
  Manager& manager_;
  const ControllerConfig& config_;
};

}  // namespace

std::unique_ptr<apipb::Admin::Service> NewAdminService(ObjectStore& store, NodeTracker& tracker,
                                                       Manager& manager,
                                                       const ControllerConfig& config) {
  return std::make_unique<AdminService>(store, tracker, manager, config);
}

}  // namespace berth::controller
