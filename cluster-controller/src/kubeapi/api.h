// Request handling of the Kubernetes REST API: routing, authentication, content negotiation,
// the verbs (objects.cc) and watches (watch.cc) on the store, who-am-I (identity.cc), and the
// web console's files (console.cc). Thread-safe: the HTTP server calls Handle from several
// threads.
#ifndef BERTH_CONTROLLER_KUBEAPI_API_H_
#define BERTH_CONTROLLER_KUBEAPI_API_H_

#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "berth/controller/access.h"
#include "berth/controller/kube_api.h"
#include "berth/controller/object_store.h"
#include "berth/labels.h"
#include "kubeapi/access_review.h"
#include "kubeapi/console.h"
#include "kubeapi/errors.h"
#include "kubeapi/http_server.h"
#include "kubeapi/openapi.h"
#include "kubeapi/registry.h"
#include "kubeapi/selectors.h"
#include "kubeapi/table.h"

namespace berth::kubeapi {

// What a request path names.
struct Target {
  const Resource* resource = nullptr;
  std::string ns;           // "" for cluster-scoped kinds and all-namespace lists
  std::string name;         // "" for collections
  std::string subresource;  // "" or "status"
};

// How a response is to be encoded (the Accept header).
struct Negotiated {
  bool table = false;
  std::string table_version = "v1";  // meta.k8s.io version of a Table
};

class Api {
 public:
  Api(controller::ObjectStore& store, const controller::AccessControl& access, const Clock& clock,
      const controller::KubeApiOptions& options);

  HttpReply Handle(const HttpRequest& req);

 private:
  using Caller = controller::Caller;

  HttpReply Route(const HttpRequest& req, const Caller& caller);
  std::optional<HttpResponse> Discovery(const HttpRequest& req);
  absl::StatusOr<Caller> Authenticate(const HttpRequest& req) const;
  std::optional<ApiError> Authorize(const HttpRequest& req, const Caller& caller,
                                    const std::string& verb, const Target& t);

  // objects.cc
  HttpResponse Get(const HttpRequest& req, const Target& t, const Negotiated& n);
  HttpResponse List(const HttpRequest& req, const Target& t, const Negotiated& n);
  HttpResponse Create(const HttpRequest& req, const Target& t, const Caller& caller);
  HttpResponse Update(const HttpRequest& req, const Target& t, const Caller& caller);
  HttpResponse Patch(const HttpRequest& req, const Target& t, const Caller& caller);
  HttpResponse Delete(const HttpRequest& req, const Target& t);
  HttpResponse DeleteCollection(const HttpRequest& req, const Target& t);
  HttpResponse Namespaces(const HttpRequest& req, const Target& t, const Negotiated& n,
                          const Caller& caller);
  // Admission, schema and field management for an object about to be written; `existing` is
  // null for a create. Returns the object to store.
  absl::StatusOr<Json> Prepare(const HttpRequest& req, const Target& t, Json obj,
                               const Json* existing, const std::string& manager,
                               std::vector<std::string>* warnings, ApiError* error);
  // `applied`: server-side apply already recorded field ownership.
  HttpResponse Write(const HttpRequest& req, const Target& t, const Json* existing, Json obj,
                     int created_code, bool applied = false);

  // GET .../dataexports/NAME/data: the export's bytes relayed from its node (export_proxy.h);
  // by_token: authenticated by the export's own token in the query, not a caller.
  HttpReply ExportData(const HttpRequest& req, const Target& t, bool by_token);
  // PUT/POST .../virtualdisks|virtualimages/NAME/upload: a piece of an upload, or its
  // completion, relayed to the node (export_proxy.h).
  HttpResponse Upload(const HttpRequest& req, const Target& t);

  // watch.cc
  HttpReply Watch(const HttpRequest& req, const Target& t, const Negotiated& n);

  // identity.cc
  // POST authentication.k8s.io/v1 selfsubjectreviews: the caller as the API sees it.
  HttpResponse SelfSubjectReview(const Caller& caller);
  // The namespaces `caller` may see, sorted; nullopt: all of them (cluster admins, and callers
  // kube-apiserver authorizes under --authorization=kubernetes).
  std::optional<std::vector<std::string>> VisibleNamespaces(const Caller& caller) const;

  controller::ObjectStore& store_;
  const controller::AccessControl& access_;
  const Clock& clock_;
  const controller::KubeApiOptions options_;
  const Registry registry_;
  const OpenApiDocs openapi_;
  std::unique_ptr<AccessReviewer> reviewer_;  // --authorization=kubernetes
  const Console console_;
};

// Helpers shared by the files of the API.
HttpResponse JsonResponse(int code, const Json& body);
HttpResponse ErrorResponse(const ApiError& e);
ResourceRef RefOf(const Target& t, const std::string& name);
// Parses a request body as JSON (or YAML for application/yaml and apply-patch+yaml).
absl::StatusOr<Json> ParseBody(const HttpRequest& req);
// A boolean query parameter as kube-apiserver reads it (1, t, T, true, TRUE, True).
bool QueryBool(const HttpRequest& req, const std::string& key);
// The labelSelector and fieldSelector of a list, watch or deletecollection.
struct Selectors {
  std::vector<LabelRequirement> labels;
  std::vector<FieldRequirement> fields;
  bool empty() const { return labels.empty() && fields.empty(); }
  bool Matches(const Json& obj) const {
    return MatchesLabels(obj, labels) && MatchesFields(obj, fields);
  }
};
// InvalidArgument with the parser's message (the caller answers BadRequest).
absl::StatusOr<Selectors> SelectorsOf(const HttpRequest& req, const Target& t);
// includeObject of a Table request; anything but None and Object means Metadata.
IncludeObject IncludeOf(const HttpRequest& req);
// The object's key in the store.
controller::ObjectKey KeyOf(const Target& t, const std::string& name);

}  // namespace berth::kubeapi

#endif  // BERTH_CONTROLLER_KUBEAPI_API_H_
