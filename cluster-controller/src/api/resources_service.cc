// berth.api.v1.Resources: every write goes through admission, then the store's optimistic
// concurrency. Objects travel as JSON text.
#include <deque>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "berth/controller/access.h"
#include "berth/controller/admission.h"
#include "berth/controller/api.h"
#include "berth/grpc_status.h"
#include "berth/kinds.h"
#include "berth/labels.h"
#include "berth/status_macros.h"

namespace berth::controller {
namespace {

namespace apipb = ::berth::api::v1;

absl::StatusOr<const KindInfo*> Kind(const std::string& name) {
  const KindInfo* k = ResolveKind(name);
  if (!k) {
    return absl::NotFoundError(
        absl::StrCat("the server doesn't have a resource type \"", name, "\""));
  }
  return k;
}

// One object's JSON; manifests are split into objects by the client.
constexpr size_t kMaxObjectBytes = 1 << 20;

std::string Namespace(const KindInfo* k, const std::string& ns) {
  if (!k->namespaced) return "";
  return ns.empty() ? "default" : ns;
}

// Carries what a client may change from `admitted` onto the stored object: everything but
// status and the server-owned metadata.
Json MergeForUpdate(const Json& existing, const Json& admitted) {
  Json merged = existing;
  for (auto it = admitted.begin(); it != admitted.end(); ++it) {
    if (it.key() == "metadata" || it.key() == "status") continue;
    merged[it.key()] = it.value();
  }
  for (auto it = existing.begin(); it != existing.end(); ++it) {
    const std::string& f = it.key();
    bool server_owned = f == "metadata" || f == "status" || f == "apiVersion" || f == "kind";
    if (!server_owned && !admitted.contains(f)) merged.erase(f);
  }
  for (const char* field : {"labels", "annotations", "ownerReferences"}) {
    if (admitted["metadata"].contains(field)) {
      merged["metadata"][field] = admitted["metadata"][field];
    }
  }
  std::string rv = JsonString(admitted, "/metadata/resourceVersion");
  if (!rv.empty()) merged["metadata"]["resourceVersion"] = rv;
  return merged;
}

class ResourcesService : public apipb::Resources::Service {
 public:
  ResourcesService(ObjectStore& store, const AccessControl& access)
      : store_(store), access_(access) {}

  grpc::Status Apply(grpc::ServerContext* ctx, const apipb::ApplyRequest* req,
                     apipb::ObjectResponse* resp) override {
    auto caller = access_.Authenticate(*ctx);
    if (!caller.ok()) return ToGrpcStatus(caller.status());
    return ToGrpcStatus(DoApply(*caller, *req, resp));
  }

  grpc::Status Get(grpc::ServerContext* ctx, const apipb::GetRequest* req,
                   apipb::ObjectResponse* resp) override {
    auto k = Kind(req->kind());
    if (!k.ok()) return ToGrpcStatus(k.status());
    if (absl::Status s = Allowed(*ctx, Verb::kGet, **k, Namespace(*k, req->namespace_()));
        !s.ok()) {
      return ToGrpcStatus(s);
    }
    auto obj = store_.Get(ObjectKey{(*k)->kind, Namespace(*k, req->namespace_()), req->name()});
    if (!obj.ok()) return ToGrpcStatus(obj.status());
    resp->set_object_json(obj->dump());
    return grpc::Status::OK;
  }

  grpc::Status List(grpc::ServerContext* ctx, const apipb::ListRequest* req,
                    apipb::ListResponse* resp) override {
    auto k = Kind(req->kind());
    if (!k.ok()) return ToGrpcStatus(k.status());
    auto selector = ParseLabelSelector(req->label_selector());
    if (!selector.ok()) return ToGrpcStatus(selector.status());
    std::string ns = req->all_namespaces() ? "" : Namespace(*k, req->namespace_());
    if (absl::Status s = Allowed(*ctx, Verb::kList, **k, ns); !s.ok()) return ToGrpcStatus(s);
    uint64_t rv = 0;
    auto items = store_.ListShared((*k)->kind, ns, &rv);
    if (!items.ok()) return ToGrpcStatus(items.status());
    for (const auto& obj : *items) {
      if (MatchesLabels(*obj, *selector)) resp->add_items_json(obj->dump());
    }
    resp->set_resource_version(absl::StrCat(rv));
    return grpc::Status::OK;
  }

  grpc::Status Delete(grpc::ServerContext* ctx, const apipb::DeleteRequest* req,
                      apipb::ObjectResponse* resp) override {
    auto k = Kind(req->kind());
    if (!k.ok()) return ToGrpcStatus(k.status());
    if (absl::Status s = Allowed(*ctx, Verb::kDelete, **k, Namespace(*k, req->namespace_()));
        !s.ok()) {
      return ToGrpcStatus(s);
    }
    auto obj = store_.Delete(ObjectKey{(*k)->kind, Namespace(*k, req->namespace_()), req->name()});
    if (!obj.ok()) return ToGrpcStatus(obj.status());
    resp->set_object_json(obj->dump());
    resp->set_action("deleted");
    return grpc::Status::OK;
  }

  grpc::Status Watch(grpc::ServerContext* ctx, const apipb::WatchRequest* req,
                     grpc::ServerWriter<apipb::WatchEvent>* writer) override;

 private:
  absl::Status Allowed(const grpc::ServerContext& ctx, Verb verb, const KindInfo& kind,
                       const std::string& ns) {
    auto caller = access_.Authenticate(ctx);
    if (!caller.ok()) return caller.status();
    return access_.Authorize(*caller, verb, kind, ns);
  }

  absl::Status DoApply(const Caller& caller, const apipb::ApplyRequest& req,
                       apipb::ObjectResponse* resp) {
    if (req.object_json().size() > kMaxObjectBytes) {
      return absl::InvalidArgumentError(absl::StrCat("apply: the object is ",
                                                     req.object_json().size(),
                                                     " bytes; the limit is ", kMaxObjectBytes));
    }
    Json incoming = Json::parse(req.object_json(), nullptr, /*allow_exceptions=*/false);
    if (incoming.is_discarded() || !incoming.is_object()) {
      return absl::InvalidArgumentError("apply: the object is not valid JSON");
    }
    const KindInfo* k = ResolveKind(incoming.value("kind", ""));
    if (k && k->namespaced && JsonString(incoming, "/metadata/namespace").empty() &&
        incoming.contains("metadata") && incoming["metadata"].is_object()) {
      incoming["metadata"]["namespace"] = "default";
    }
    ObjectKey key{k ? k->kind : "",
                  k ? Namespace(k, JsonString(incoming, "/metadata/namespace")) : "",
                  JsonString(incoming, "/metadata/name")};
    // Authorize before reading anything: a denied caller learns nothing about the object.
    if (k) BERTH_RETURN_IF_ERROR(access_.Authorize(caller, Verb::kApply, *k, key.ns));
    auto existing = k ? store_.Get(key) : absl::NotFoundError("");
    if (!existing.ok() && !absl::IsNotFound(existing.status())) return existing.status();
    const Json* prior = existing.ok() ? &*existing : nullptr;
    BERTH_ASSIGN_OR_RETURN(Json admitted, Admit(incoming, prior));
    if (!prior) {
      if (req.dry_run()) {
        resp->set_object_json(admitted.dump());
      } else {
        BERTH_ASSIGN_OR_RETURN(Json stored, store_.Create(admitted));
        resp->set_object_json(stored.dump());
      }
      resp->set_action("created");
      return absl::OkStatus();
    }
    Json merged = MergeForUpdate(*prior, admitted);
    if (merged == *prior) {
      resp->set_object_json(prior->dump());
      resp->set_action("unchanged");
      return absl::OkStatus();
    }
    if (!req.dry_run()) {
      BERTH_ASSIGN_OR_RETURN(merged, store_.Update(merged));
    }
    resp->set_object_json(merged.dump());
    resp->set_action("configured");
    return absl::OkStatus();
  }

  ObjectStore& store_;
  const AccessControl& access_;
};

// Buffers store events for one Watch stream.
struct EventQueue {
  absl::Mutex mu;
  std::deque<StoreEvent> events ABSL_GUARDED_BY(mu);
};

grpc::Status ResourcesService::Watch(grpc::ServerContext* ctx, const apipb::WatchRequest* req,
                                     grpc::ServerWriter<apipb::WatchEvent>* writer) {
  auto k = Kind(req->kind());
  if (!k.ok()) return ToGrpcStatus(k.status());
  std::string kind = (*k)->kind;
  std::string ns = req->all_namespaces() ? "" : Namespace(*k, req->namespace_());
  if (absl::Status s = Allowed(*ctx, Verb::kWatch, **k, ns); !s.ok()) return ToGrpcStatus(s);
  auto matches = [&](const Json& obj) {
    return obj.value("kind", "") == kind &&
           (ns.empty() || JsonString(obj, "/metadata/namespace") == ns) &&
           (req->name().empty() || JsonString(obj, "/metadata/name") == req->name());
  };
  uint64_t from = 0;
  if (req->resource_version().empty()) {
    auto items = store_.List(kind, ns, &from);
    if (!items.ok()) return ToGrpcStatus(items.status());
    for (const Json& obj : *items) {
      if (!matches(obj)) continue;
      apipb::WatchEvent ev;
      ev.set_type("ADDED");
      ev.set_object_json(obj.dump());
      if (!writer->Write(ev)) return grpc::Status::OK;
    }
  } else if (!absl::SimpleAtoi(req->resource_version(), &from)) {
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "watch: bad resource_version");
  }
  auto queue = std::make_shared<EventQueue>();
  auto sub = store_.Watch(from, [queue, matches](const StoreEvent& e) {
    if (!matches(e.object())) return;
    absl::MutexLock l(&queue->mu);
    queue->events.push_back(e);
  });
  if (!sub.ok()) return ToGrpcStatus(sub.status());
  while (!ctx->IsCancelled()) {
    std::deque<StoreEvent> batch;
    {
      absl::MutexLock l(&queue->mu);
      auto ready = [&]()
                       ABSL_EXCLUSIVE_LOCKS_REQUIRED(queue->mu) { return !queue->events.empty(); };
      queue->mu.AwaitWithTimeout(absl::Condition(&ready), absl::Milliseconds(500));
      batch.swap(queue->events);
    }
    bool ok = true;
    for (const StoreEvent& e : batch) {
      apipb::WatchEvent ev;
      ev.set_type(EventTypeName(e.type));
      ev.set_object_json(e.Dump());
      if (!(ok = writer->Write(ev))) break;
    }
    if (!ok) break;
  }
  store_.Unwatch(*sub);
  return grpc::Status::OK;
}

}  // namespace

std::unique_ptr<apipb::Resources::Service> NewResourcesService(ObjectStore& store,
                                                               const AccessControl& access) {
  return std::make_unique<ResourcesService>(store, access);
}

}  // namespace berth::controller
