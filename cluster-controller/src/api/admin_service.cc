// berth.api.v1.Admin: agents register and heartbeat here; operators list nodes.
#include "absl/strings/str_cat.h"
#include "berth/controller/access.h"
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
               const ControllerConfig& config, AccessControl& access)
      : store_(store), tracker_(tracker), manager_(manager), config_(config), access_(access) {}

  grpc::Status RegisterNode(grpc::ServerContext* ctx, const apipb::RegisterNodeRequest* req,
                            apipb::RegisterNodeResponse* resp) override {
    if (req->node_name().empty() || req->address().empty()) {
      return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                          "RegisterNode: node_name and address are required");
    }
    if (absl::Status s = AsNode(*ctx, req->node_name()); !s.ok()) return ToGrpcStatus(s);
    absl::Status s = Register(*req);
    if (!s.ok()) return ToGrpcStatus(s);
    tracker_.Beat(req->node_name());
    manager_.Enqueue(ObjectKey{"Node", "", req->node_name()});
    resp->set_heartbeat_interval_ms(absl::ToInt64Milliseconds(config_.heartbeat_interval));
    return grpc::Status::OK;
  }

  grpc::Status Heartbeat(grpc::ServerContext* ctx, const apipb::HeartbeatRequest* req,
                         apipb::HeartbeatResponse* resp) override {
    if (absl::Status s = AsNode(*ctx, req->node_name()); !s.ok()) return ToGrpcStatus(s);
    bool known = store_.Get(ObjectKey{"Node", "", req->node_name()}).ok();
    resp->set_known(known);
    if (known) tracker_.Beat(req->node_name());
    return grpc::Status::OK;
  }

  grpc::Status ListNodes(grpc::ServerContext* ctx, const apipb::ListNodesRequest*,
                         apipb::ListResponse* resp) override {
    if (absl::Status s = AsAdmin(*ctx, "list nodes through the admin API"); !s.ok()) {
      return ToGrpcStatus(s);
    }
    uint64_t rv = 0;
    auto nodes = store_.List("Node", "", &rv);
    if (!nodes.ok()) return ToGrpcStatus(nodes.status());
    for (const Json& n : *nodes) resp->add_items_json(n.dump());
    resp->set_resource_version(absl::StrCat(rv));
    return grpc::Status::OK;
  }

  // Any authenticated caller: `berth version` and readiness probes use it.
  grpc::Status Health(grpc::ServerContext* ctx, const apipb::HealthRequest*,
                      apipb::HealthResponse* resp) override {
    auto caller = access_.Authenticate(*ctx);
    if (!caller.ok()) return ToGrpcStatus(caller.status());
    resp->set_status("SERVING");
    resp->set_version(kVersion);
    return grpc::Status::OK;
  }

  grpc::Status WhoAmI(grpc::ServerContext* ctx, const apipb::WhoAmIRequest*,
                      apipb::AccessResponse* resp) override {
    auto caller = access_.Authenticate(*ctx);
    if (!caller.ok()) return ToGrpcStatus(caller.status());
    Json out = {{"user", caller->user},
                {"groups", caller->groups},
                {"admin", caller->admin},
                {"via", caller->via},
                {"namespaces", access_.Namespaces(caller->user)}};
    if (!config_.kube_api_url.empty()) out["kubeApiServer"] = config_.kube_api_url;
    resp->set_json(out.dump());
    return grpc::Status::OK;
  }

  grpc::Status Grant(grpc::ServerContext* ctx, const apipb::GrantRequest* req,
                     apipb::AccessResponse* resp) override {
    if (absl::Status s = AsAdmin(*ctx, "grant namespaces"); !s.ok()) return ToGrpcStatus(s);
    auto grant = access_.Grant(req->user(), req->namespace_(), req->revoke());
    if (!grant.ok()) return ToGrpcStatus(grant.status());
    resp->set_json(grant->dump());
    return grpc::Status::OK;
  }

  grpc::Status ListGrants(grpc::ServerContext* ctx, const apipb::ListGrantsRequest*,
                          apipb::ListResponse* resp) override {
    if (absl::Status s = AsAdmin(*ctx, "list grants"); !s.ok()) return ToGrpcStatus(s);
    auto list = access_.ListGrants();
    if (!list.ok()) return ToGrpcStatus(list.status());
    for (const Json& g : *list) resp->add_items_json(g.dump());
    return grpc::Status::OK;
  }

  grpc::Status IssueToken(grpc::ServerContext* ctx, const apipb::IssueTokenRequest* req,
                          apipb::AccessResponse* resp) override {
    if (absl::Status s = AsAdmin(*ctx, "issue tokens"); !s.ok()) return ToGrpcStatus(s);
    auto token = access_.IssueToken(req->user(), req->admin(), absl::Seconds(req->ttl_seconds()));
    if (!token.ok()) return ToGrpcStatus(token.status());
    resp->set_json(token->dump());
    return grpc::Status::OK;
  }

  grpc::Status RevokeToken(grpc::ServerContext* ctx, const apipb::RevokeTokenRequest* req,
                           apipb::AccessResponse* resp) override {
    if (absl::Status s = AsAdmin(*ctx, "revoke tokens"); !s.ok()) return ToGrpcStatus(s);
    if (absl::Status s = access_.RevokeToken(req->id()); !s.ok()) return ToGrpcStatus(s);
    resp->set_json(Json{{"id", req->id()}, {"revoked", true}}.dump());
    return grpc::Status::OK;
  }

  grpc::Status ListTokens(grpc::ServerContext* ctx, const apipb::ListTokensRequest*,
                          apipb::ListResponse* resp) override {
    if (absl::Status s = AsAdmin(*ctx, "list tokens"); !s.ok()) return ToGrpcStatus(s);
    auto list = access_.ListTokens();
    if (!list.ok()) return ToGrpcStatus(list.status());
    for (const Json& t : *list) resp->add_items_json(t.dump());
    return grpc::Status::OK;
  }

 private:
  absl::Status AsAdmin(const grpc::ServerContext& ctx, const std::string& what) {
    auto caller = access_.Authenticate(ctx);
    if (!caller.ok()) return caller.status();
    return access_.RequireAdmin(*caller, what);
  }

  // Agents speak for their own node only: a certificate for node-1 cannot register node-2.
  absl::Status AsNode(const grpc::ServerContext& ctx, const std::string& node) {
    auto caller = access_.Authenticate(ctx);
    if (!caller.ok()) return caller.status();
    if (caller->admin) return absl::OkStatus();
    if (!caller->agent) {
      return absl::PermissionDeniedError(
          absl::StrCat(caller->Describe(), " is not a node agent (O=berth:agents)"));
    }
    if (caller->user != node) {
      return absl::PermissionDeniedError(absl::StrCat("the agent certificate of \"", caller->user,
                                                      "\" cannot speak for node \"", node, "\""));
    }
    return absl::OkStatus();
  }

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
  AccessControl& access_;
};

}  // namespace

std::unique_ptr<apipb::Admin::Service> NewAdminService(ObjectStore& store, NodeTracker& tracker,
                                                       Manager& manager,
                                                       const ControllerConfig& config,
                                                       AccessControl& access) {
  return std::make_unique<AdminService>(store, tracker, manager, config, access);
}

}  // namespace berth::controller
