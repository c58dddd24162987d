#include "grpc_resource_client.h"

#include <chrono>
#include <utility>

#include "absl/strings/str_cat.h"
#include "api.grpc.pb.h"
#include "berth/grpc_status.h"
#include "berth/kinds.h"
#include "berth/status_macros.h"
#include "berth/tls.h"
#include "grpcpp/grpcpp.h"

namespace berth::cli {
namespace {

constexpr absl::Duration kUnaryTimeout = absl::Seconds(30);

namespace v1 = ::berth::api::v1;

absl::Status FromRpc(const grpc::Status& status) { return MarkFromServer(FromGrpcStatus(status)); }

absl::StatusOr<Json> ParseObject(const std::string& text) {
  Json j = Json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return absl::InternalError("the server sent an object that is not JSON");
  return j;
}

void SetDeadline(grpc::ClientContext& ctx, absl::Time deadline) {
  if (deadline == absl::InfiniteFuture()) return;
  ctx.set_deadline(absl::ToChronoTime(deadline));
}

class GrpcResourceClient : public ResourceClient {
 public:
  explicit GrpcResourceClient(std::shared_ptr<grpc::Channel> channel)
      : resources_(v1::Resources::NewStub(channel)), admin_(v1::Admin::NewStub(channel)) {}

  absl::StatusOr<ObjectResult> Apply(const Json& object, bool dry_run) override {
    v1::ApplyRequest req;
    req.set_object_json(object.dump(-1, ' ', false, Json::error_handler_t::replace));
    req.set_dry_run(dry_run);
    return CallObject(&v1::Resources::Stub::Apply, req);
  }

  absl::StatusOr<Json> Get(const std::string& kind, const std::string& ns,
                           const std::string& name) override {
    v1::GetRequest req;
    req.set_kind(kind);
    req.set_namespace_(ns);
    req.set_name(name);
    BERTH_ASSIGN_OR_RETURN(ObjectResult res, CallObject(&v1::Resources::Stub::Get, req));
    return std::move(res.object);
  }

  absl::StatusOr<ListResult> List(const ListQuery& query) override {
    v1::ListRequest req;
    req.set_kind(query.kind);
    req.set_namespace_(query.ns);
    req.set_all_namespaces(query.all_namespaces);
    req.set_label_selector(query.label_selector);
    v1::ListResponse resp;
    grpc::ClientContext ctx;
    SetDeadline(ctx, absl::Now() + kUnaryTimeout);
    grpc::Status st = resources_->List(&ctx, req, &resp);
    const KindInfo* info = ResolveKind(query.kind);
    if (!st.ok() && info != nullptr && info->kind == "Node" &&
        (st.error_code() == grpc::StatusCode::UNIMPLEMENTED ||
         st.error_code() == grpc::StatusCode::INVALID_ARGUMENT)) {
      return ListNodes();  // Nodes may be served by Admin only.
    }
    if (!st.ok()) return FromRpc(st);
    return ToListResult(resp);
  }

  absl::StatusOr<ObjectResult> Delete(const std::string& kind, const std::string& ns,
                                      const std::string& name) override {
    v1::DeleteRequest req;
    req.set_kind(kind);
    req.set_namespace_(ns);
    req.set_name(name);
    return CallObject(&v1::Resources::Stub::Delete, req);
  }

  absl::Status Watch(const WatchQuery& query, absl::Time deadline,
                     const WatchHandler& handler) override {
    v1::WatchRequest req;
    req.set_kind(query.kind);
    req.set_namespace_(query.ns);
    req.set_all_namespaces(query.all_namespaces);
    req.set_name(query.name);
    req.set_resource_version(query.resource_version);
    grpc::ClientContext ctx;
    SetDeadline(ctx, deadline);
    std::unique_ptr<grpc::ClientReader<v1::WatchEvent>> reader = resources_->Watch(&ctx, req);
    v1::WatchEvent ev;
    while (reader->Read(&ev)) {
      auto obj = ParseObject(ev.object_json());
      if (!obj.ok()) continue;
      if (!handler(WatchEvent{ev.type(), *std::move(obj)})) {
        ctx.TryCancel();
        reader->Finish();
        return absl::OkStatus();
      }
    }
    grpc::Status st = reader->Finish();
    if (st.ok()) return absl::UnavailableError("the server closed the watch");
    return FromRpc(st);
  }

  absl::StatusOr<std::string> ServerVersion() override {
    v1::HealthRequest req;
    v1::HealthResponse resp;
    grpc::ClientContext ctx;
    SetDeadline(ctx, absl::Now() + kUnaryTimeout);
    grpc::Status st = admin_->Health(&ctx, req, &resp);
    if (!st.ok()) return FromRpc(st);
    return resp.version();
  }

  absl::StatusOr<Json> WhoAmI() override {
    return AdminJson(&v1::Admin::Stub::WhoAmI, v1::WhoAmIRequest());
  }
  absl::StatusOr<Json> Grant(const std::string& user, const std::string& ns, bool revoke) override {
    v1::GrantRequest req;
    req.set_user(user);
    req.set_namespace_(ns);
    req.set_revoke(revoke);
    return AdminJson(&v1::Admin::Stub::Grant, req);
  }
  absl::StatusOr<std::vector<Json>> ListGrants() override {
    return AdminList(&v1::Admin::Stub::ListGrants, v1::ListGrantsRequest());
  }
  absl::StatusOr<Json> IssueToken(const std::string& user, bool admin,
                                  absl::Duration ttl) override {
    v1::IssueTokenRequest req;
    req.set_user(user);
    req.set_admin(admin);
    req.set_ttl_seconds(absl::ToInt64Seconds(ttl));
    return AdminJson(&v1::Admin::Stub::IssueToken, req);
  }
  absl::StatusOr<Json> RevokeToken(const std::string& id) override {
    v1::RevokeTokenRequest req;
    req.set_id(id);
    return AdminJson(&v1::Admin::Stub::RevokeToken, req);
  }
  absl::StatusOr<std::vector<Json>> ListTokens() override {
    return AdminList(&v1::Admin::Stub::ListTokens, v1::ListTokensRequest());
  }

 private:
  template <typename Req>
  absl::StatusOr<Json> AdminJson(grpc::Status (v1::Admin::Stub::*method)(grpc::ClientContext*,
                                                                         const Req&,
                                                                         v1::AccessResponse*),
                                 const Req& req) {
    v1::AccessResponse resp;
    grpc::ClientContext ctx;
    SetDeadline(ctx, absl::Now() + kUnaryTimeout);
    grpc::Status st = (admin_.get()->*method)(&ctx, req, &resp);
    if (!st.ok()) return FromRpc(st);
    return ParseObject(resp.json());
  }

  template <typename Req>
  absl::StatusOr<std::vector<Json>> AdminList(
      grpc::Status (v1::Admin::Stub::*method)(grpc::ClientContext*, const Req&, v1::ListResponse*),
      const Req& req) {
    v1::ListResponse resp;
    grpc::ClientContext ctx;
    SetDeadline(ctx, absl::Now() + kUnaryTimeout);
    grpc::Status st = (admin_.get()->*method)(&ctx, req, &resp);
    if (!st.ok()) return FromRpc(st);
    BERTH_ASSIGN_OR_RETURN(ListResult list, ToListResult(resp));
    return std::move(list.items);
  }

  template <typename Req>
  using UnaryMethod = grpc::Status (v1::Resources::Stub::*)(grpc::ClientContext*, const Req&,
                                                            v1::ObjectResponse*);

  template <typename Req>
  absl::StatusOr<ObjectResult> CallObject(UnaryMethod<Req> method, const Req& req) {
    v1::ObjectResponse resp;
    grpc::ClientContext ctx;
    SetDeadline(ctx, absl::Now() + kUnaryTimeout);
    grpc::Status st = (resources_.get()->*method)(&ctx, req, &resp);
    if (!st.ok()) return FromRpc(st);
    BERTH_ASSIGN_OR_RETURN(Json obj, ParseObject(resp.object_json()));
    return ObjectResult{std::move(obj), resp.action()};
  }

  absl::StatusOr<ListResult> ListNodes() {
    v1::ListNodesRequest req;
    v1::ListResponse resp;
    grpc::ClientContext ctx;
    SetDeadline(ctx, absl::Now() + kUnaryTimeout);
    grpc::Status st = admin_->ListNodes(&ctx, req, &resp);
    if (!st.ok()) return FromRpc(st);
    return ToListResult(resp);
  }

  static absl::StatusOr<ListResult> ToListResult(const v1::ListResponse& resp) {
    ListResult out;
    out.resource_version = resp.resource_version();
    for (const std::string& text : resp.items_json()) {
      BERTH_ASSIGN_OR_RETURN(Json obj, ParseObject(text));
      out.items.push_back(std::move(obj));
    }
    return out;
  }

  std::unique_ptr<v1::Resources::Stub> resources_;
  std::unique_ptr<v1::Admin::Stub> admin_;
};

}  // namespace

absl::StatusOr<std::shared_ptr<grpc::Channel>> MakeChannel(const Connection& c) {
  BERTH_ASSIGN_OR_RETURN(ServerTarget target, ParseServerAddress(c.server));
  const std::string& address = target.target;
  std::shared_ptr<grpc::ChannelCredentials> creds;
  if (c.tls_dir.empty()) {
    if (!c.token.empty()) {
      return absl::InvalidArgumentError(
          "--token needs --tls-dir (BERTH_TLS_DIR): tokens are only sent over TLS");
    }
    creds = grpc::InsecureChannelCredentials();
  } else {
    TlsFiles files = TlsFiles::FromDir(c.tls_dir);
    if (absl::Status s = files.Check(); !s.ok()) {
      return absl::Status(s.code(), absl::StrCat("--tls-dir: ", s.message()));
    }
    creds = MutualTlsChannelCredentials(files);
    if (!c.token.empty()) {
      creds = grpc::CompositeChannelCredentials(creds, grpc::AccessTokenCredentials(c.token));
    }
  }
  // A list of 10,000 objects is ~9 MB: gRPC's default 4 MiB receive limit made `berth get -A`
  // fail on big clusters. Lists are bounded by the store, not by this.
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(-1);
  if (!target.tls_name.empty()) {
    // Several controllers (HA): pick_first tries them in order and moves on when one fails.
    // They share one certificate, checked against the first host; a paused controller accepts
    // TCP but never finishes the handshake, so give up on it after 2 s, not gRPC's 20 s.
    args.SetSslTargetNameOverride(target.tls_name);
    args.SetString(GRPC_ARG_DEFAULT_AUTHORITY, target.authority);
    args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, 2000);
  }
  std::shared_ptr<grpc::Channel> channel = grpc::CreateCustomChannel(address, creds, args);
  if (channel == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat("cannot create a channel to ", address));
  }
  return channel;
}

absl::StatusOr<std::unique_ptr<ResourceClient>> CreateGrpcResourceClient(const Connection& c) {
  BERTH_ASSIGN_OR_RETURN(std::shared_ptr<grpc::Channel> channel, MakeChannel(c));
  return std::unique_ptr<ResourceClient>(new GrpcResourceClient(std::move(channel)));
}

}  // namespace berth::cli
