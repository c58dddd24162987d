// The OpenAPI documents of the Kubernetes REST API, built from the kinds' schemas (the CRDs) the
// way kube-apiserver builds them for CustomResourceDefinitions
// (apiextensions-apiserver/pkg/controller/openapi/builder): one definition per kind and per
// list kind, named by reversed group (io.deckhouse.virtualization.v1alpha2.VirtualDisk), with
// the CRD's descriptions and x-kubernetes-group-version-kind; the meta/v1 definitions they refer
// to; and the paths of every resource with their operations and query parameters. kubectl reads
// them for `explain` (v3 from 1.27, v2 protobuf before), for the patch type of `apply` and for
// whether the server takes `fieldValidation` (server-side field validation).
#ifndef BERTH_KUBEAPI_OPENAPI_H_
#define BERTH_KUBEAPI_OPENAPI_H_

#include <map>
#include <string>
#include <vector>

#include "berth/json.h"
#include "berth/schema.h"

namespace berth::kubeapi {

// What the server answers on /openapi/v2 and /openapi/v3. Immutable once built: build once at
// start and share.
struct OpenApiDocs {
  // GET /openapi/v2 with Accept: application/json (or none).
  std::string v2_json;
  // GET /openapi/v2 with Accept: application/com.github.proto-openapi.spec.v2@v1.0+protobuf:
  // the same document as a serialized gnostic openapi.v2.Document (kubectl before 1.27).
  std::string v2_protobuf;
  // The ETag of /openapi/v2, whichever the representation (kube-apiserver varies on Accept):
  // upper-case hex SHA-512 of v2_json, without quotes.
  std::string v2_etag;

  // GET /openapi/v3: {"paths": {"apis/G/V": {"serverRelativeURL":
  // "/openapi/v3/apis/G/V?hash=ETAG"}, "api/v1": {...}}}.
  std::string v3_index_json;
  // GET /openapi/v3/<key>, keyed like the index without the leading "/openapi/v3/", e.g.
  // "apis/virtualization.deckhouse.io/v1alpha2" or "api/v1"; the value is the JSON document.
  std::map<std::string, std::string> v3_json;
  // The ETag of each v3 document (same keys), the `hash` of its serverRelativeURL. A request
  // whose ?hash= differs should get a 301 to the current URL, as kube-apiserver does; one that
  // matches may be cached for long (Cache-Control: public, immutable).
  std::map<std::string, std::string> v3_etag;
};

// Builds every document for `kinds` (any mix of groups and versions; group "" is the core group,
// served under /api/v1 with definitions named io.k8s.api.core.v1.KIND). Deterministic: the same
// kinds give byte-identical documents. Pass schema::Kinds() plus CoreV1Kinds() when the server
// serves those.
OpenApiDocs BuildOpenApi(const std::vector<schema::KindSchema>& kinds);

// The core/v1 kinds the server serves itself when standalone: Secret, Event and Namespace (the
// latter cluster-scoped, with a status subresource), with small structural schemas in the
// shape of a CRD's openAPIV3Schema. `crd` is left null.
std::vector<schema::KindSchema> CoreV1Kinds();

// Internal to the builder (openapi_meta.cc, openapi_v2_proto.cc):
// the meta/v1 definitions as kube publishes them (JSON text);
extern const char* const kMetaDefinitions;
// the v2 document compiled to gnostic's protobuf.
std::string ToProtoBinary(const Json& doc);

}  // namespace berth::kubeapi

#endif  // BERTH_KUBEAPI_OPENAPI_H_
