#include "kubeapi/openapi.h"

#include <google/protobuf/descriptor.h>
#include <google/protobuf/message.h>
#include <google/protobuf/text_format.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "berth/json.h"
#include "berth/schema.h"

namespace berth::kubeapi {
namespace {

std::vector<schema::KindSchema> AllKinds() {
  std::vector<schema::KindSchema> kinds = schema::Kinds();
  for (schema::KindSchema& k : CoreV1Kinds()) kinds.push_back(std::move(k));
  return kinds;
}

std::string ModelName(const schema::KindSchema& k, const std::string& kind) {
  if (k.group.empty()) return "io.k8s.api.core.v1." + kind;
  REQUIRE(k.group == "virtualization.deckhouse.io");
  return "io.deckhouse.virtualization." + k.version + "." + kind;
}

std::string Prefix(const schema::KindSchema& k) {
  return k.group.empty() ? "/api/v1" : "/apis/" + k.group + "/" + k.version;
}

// Every path of the kind that has a PATCH operation.
std::vector<std::string> PatchPaths(const schema::KindSchema& k) {
  std::string root = Prefix(k) + (k.namespaced ? "/namespaces/{namespace}/" : "/") + k.plural;
  std::vector<std::string> paths = {root + "/{name}"};
  if (k.status_subresource) paths.push_back(root + "/{name}/status");
  return paths;
}

// All descriptions in a schema, depth first. With `v2`, none below a node that preserves
// unknown fields: kube-apiserver drops its properties and items from OpenAPI v2.
void CollectDescriptions(const Json& s, std::vector<std::string>* out, bool v2 = false) {
  if (s.is_object()) {
    bool preserve = s.value("x-kubernetes-preserve-unknown-fields", false);
    for (const auto& [key, value] : s.items()) {
      if (key == "description" && value.is_string()) {
        out->push_back(value.get<std::string>());
      } else if (!(v2 && preserve && (key == "properties" || key == "items"))) {
        CollectDescriptions(value, out, v2);
      }
    }
  } else if (s.is_array()) {
    for (const Json& item : s) CollectDescriptions(item, out);
  }
}

bool HasQueryParam(const Json& op, const std::string& name) {
  for (const Json& p : op["parameters"]) {
    if (p["name"] == name && p["in"] == "query") return true;
  }
  return false;
}

// A hand-made kind exercising what the v2 conversion must change.
schema::KindSchema Widget() {
  schema::KindSchema k;
  k.group = "example.berth.io";
  k.version = "v1";
  k.kind = "Widget";
  k.list_kind = "WidgetList";
  k.plural = "widgets";
  k.singular = "widget";
  k.namespaced = false;
  k.open_api_v3 = Json::parse(R"({
    "type": "object", "description": "A widget.",
    "properties": {
      "metadata": {"type": "object"},
      "spec": {"type": "object", "required": ["size", "gone"], "properties": {
        "size": {"x-kubernetes-int-or-string": true, "description": "How big."},
        "gone": {"type": "string", "nullable": true},
        "free": {"type": "object", "x-kubernetes-preserve-unknown-fields": true,
                 "properties": {"a": {"type": "string"}}},
        "mode": {"type": "string", "enum": ["True", "Off", "plain"],
                 "x-kubernetes-validations": [{"rule": "self != ''", "message": "x: y"}]},
        "pick": {"oneOf": [{"required": ["a"]}], "type": "object",
                 "properties": {"a": {"type": "string"}}}}}}})");
  return k;
}

TEST_CASE("v2 has a definition with the GVK and the CRD's descriptions for every kind") {
  std::vector<schema::KindSchema> kinds = AllKinds();
  REQUIRE(kinds.size() >= 10);
  OpenApiDocs docs = BuildOpenApi(kinds);
  Json v2 = Json::parse(docs.v2_json);
  CHECK(v2["swagger"] == "2.0");
  const Json& defs = v2["definitions"];
  for (const schema::KindSchema& k : kinds) {
    INFO(k.kind);
    const std::string name = ModelName(k, k.kind);
    REQUIRE(defs.contains(name));
    const Json& def = defs[name];
    CHECK(def["x-kubernetes-group-version-kind"] ==
          Json::array({{{"group", k.group}, {"kind", k.kind}, {"version", k.version}}}));
    CHECK(def["properties"]["metadata"]["$ref"] ==
          "#/definitions/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta");
    CHECK(def["properties"]["apiVersion"]["type"] == "string");
    std::vector<std::string> want, got;
    CollectDescriptions(k.open_api_v3, &want, /*v2=*/true);
    CollectDescriptions(def, &got);
    REQUIRE_FALSE(want.empty());
    for (const std::string& d : want) {
      CHECK(std::find(got.begin(), got.end(), d) != got.end());
    }
    const Json& list = defs[ModelName(k, k.list_kind)];
    CHECK(list["x-kubernetes-group-version-kind"][0]["kind"] == k.list_kind);
    CHECK(list["properties"]["items"]["items"]["$ref"] == "#/definitions/" + name);
  }
  for (const char* meta :
       {"ObjectMeta", "ListMeta", "Status", "DeleteOptions", "Patch", "WatchEvent"}) {
    CHECK(defs.contains(std::string("io.k8s.apimachinery.pkg.apis.meta.v1.") + meta));
  }
  // Every reference resolves (kubectl's v2 model rejects the whole document otherwise).
  std::vector<std::string> refs;
  std::function<void(const Json&)> walk = [&](const Json& j) {
    if (j.is_object()) {
      for (const auto& [key, value] : j.items()) {
        if (key == "$ref") refs.push_back(value.get<std::string>());
        walk(value);
      }
    } else if (j.is_array()) {
      for (const Json& item : j) walk(item);
    }
  };
  walk(v2);
  REQUIRE_FALSE(refs.empty());
  for (const std::string& ref : refs) {
    INFO(ref);
    REQUIRE(ref.rfind("#/definitions/", 0) == 0);
    CHECK(defs.contains(ref.substr(14)));
  }
}

TEST_CASE("every PATCH operation takes fieldValidation, with the GVK and merge patch types") {
  std::vector<schema::KindSchema> kinds = AllKinds();
  OpenApiDocs docs = BuildOpenApi(kinds);
  Json v2 = Json::parse(docs.v2_json);
  for (const schema::KindSchema& k : kinds) {
    const Json gvk = {{"group", k.group}, {"kind", k.kind}, {"version", k.version}};
    for (const std::string& path : PatchPaths(k)) {
      INFO(path);
      REQUIRE(v2["paths"].contains(path));
      const Json& patch = v2["paths"][path]["patch"];
      CHECK(patch["x-kubernetes-group-version-kind"] == gvk);
      CHECK(patch["x-kubernetes-action"] == "patch");
      for (const char* p : {"fieldValidation", "fieldManager", "dryRun", "force"}) {
        CHECK(HasQueryParam(patch, p));
      }
      CHECK(patch["consumes"] ==
            Json::array({"application/json-patch+json", "application/merge-patch+json",
                         "application/apply-patch+yaml"}));
      // kubectl 1.32 looks in the v3 document of the group-version.
      const std::string gv = Prefix(k).substr(1);
      REQUIRE(docs.v3_json.count(gv) == 1);
      Json v3 = Json::parse(docs.v3_json.at(gv));
      const Json& patch3 = v3["paths"][path]["patch"];
      CHECK(patch3["x-kubernetes-group-version-kind"] == gvk);
      CHECK(HasQueryParam(patch3, "fieldValidation"));
      CHECK(patch3["requestBody"]["content"].contains("application/apply-patch+yaml"));
      CHECK_FALSE(
          patch3["requestBody"]["content"].contains("application/strategic-merge-patch+json"));
    }
    const std::string root =
        Prefix(k) + (k.namespaced ? "/namespaces/{namespace}/" : "/") + k.plural;
    const Json& list = v2["paths"][root]["get"];
    CHECK(list["x-kubernetes-action"] == "list");
    for (const char* p : {"labelSelector", "fieldSelector", "limit", "continue", "resourceVersion",
                          "watch", "timeoutSeconds", "allowWatchBookmarks"}) {
      CHECK(HasQueryParam(list, p));
    }
    CHECK(HasQueryParam(v2["paths"][root]["post"], "fieldValidation"));
    CHECK(HasQueryParam(v2["paths"][root + "/{name}"]["put"], "fieldValidation"));
    if (k.namespaced) CHECK(v2["paths"].contains(Prefix(k) + "/" + k.plural));
  }
}

TEST_CASE("the v3 index lists every group-version and each document parses") {
  std::vector<schema::KindSchema> kinds = AllKinds();
  OpenApiDocs docs = BuildOpenApi(kinds);
  Json index = Json::parse(docs.v3_index_json);
  REQUIRE(index["paths"].size() == docs.v3_json.size());
  CHECK(index["paths"].contains("api/v1"));
  CHECK(index["paths"].contains("apis/virtualization.deckhouse.io/v1alpha2"));
  for (const auto& [gv, entry] : index["paths"].items()) {
    INFO(gv);
    REQUIRE(docs.v3_json.count(gv) == 1);
    CHECK(entry["serverRelativeURL"] == "/openapi/v3/" + gv + "?hash=" + docs.v3_etag.at(gv));
    CHECK(docs.v3_etag.at(gv).size() == 128);
    Json doc = Json::parse(docs.v3_json.at(gv));
    CHECK(doc["openapi"] == "3.0.0");
    CHECK(doc["components"]["schemas"].contains("io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"));
    CHECK(doc.dump().find("#/definitions/") == std::string::npos);
  }
  for (const schema::KindSchema& k : kinds) {
    Json doc = Json::parse(docs.v3_json.at(Prefix(k).substr(1)));
    const Json& def = doc["components"]["schemas"][ModelName(k, k.kind)];
    CHECK(def["x-kubernetes-group-version-kind"][0]["kind"] == k.kind);
    std::vector<std::string> want, got;
    CollectDescriptions(k.open_api_v3, &want);
    CollectDescriptions(def, &got);
    for (const std::string& d : want) {
      CHECK(std::find(got.begin(), got.end(), d) != got.end());
    }
    // A reference with a description is wrapped in allOf, as kube-openapi does for v3.
    CHECK(def["properties"]["metadata"]["allOf"][0]["$ref"] ==
          "#/components/schemas/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta");
    // explain (kubectl 1.27+) finds the GVK on an operation of the resource's paths.
    std::string item =
        Prefix(k) + (k.namespaced ? "/namespaces/{namespace}/" : "/") + k.plural + "/{name}";
    CHECK(doc["paths"][item]["get"]["x-kubernetes-group-version-kind"]["kind"] == k.kind);
  }
}

TEST_CASE("the schemas follow kube-apiserver's v2 and v3 conversions") {
  OpenApiDocs docs = BuildOpenApi({Widget()});
  Json v2 = Json::parse(docs.v2_json);
  const Json& spec = v2["definitions"]["io.berth.example.v1.Widget"]["properties"]["spec"];
  CHECK(spec["required"] == Json::array({"size"}));  // a nullable field is not required
  CHECK(spec["properties"]["size"] ==
        Json({{"description", "How big."}, {"x-kubernetes-int-or-string", true}}));
  CHECK_FALSE(spec["properties"]["gone"].contains("type"));
  CHECK_FALSE(spec["properties"]["gone"].contains("nullable"));
  CHECK(spec["properties"]["free"] == Json({{"x-kubernetes-preserve-unknown-fields", true}}));
  CHECK_FALSE(spec["properties"]["pick"].contains("oneOf"));
  CHECK(v2["paths"].contains("/apis/example.berth.io/v1/widgets/{name}"));
  CHECK_FALSE(v2["paths"]["/apis/example.berth.io/v1/widgets/{name}"].contains("namespaces"));
  CHECK(v2["paths"]["/apis/example.berth.io/v1/widgets"]["get"]["operationId"] ==
        "listExampleBerthIoV1Widget");
  CHECK(v2["paths"]["/apis/example.berth.io/v1/widgets/{name}"]["patch"]["description"] ==
        "partially update the specified Widget");

  Json v3 = Json::parse(docs.v3_json.at("apis/example.berth.io/v1"));
  const Json& spec3 =
      v3["components"]["schemas"]["io.berth.example.v1.Widget"]["properties"]["spec"];
  CHECK(spec3["properties"]["size"]["anyOf"] ==
        Json::array({{{"type", "integer"}}, {{"type", "string"}}}));
  CHECK(spec3["properties"]["gone"]["nullable"] == true);
  CHECK(spec3["properties"]["free"]["properties"].contains("a"));
}

// The protobuf as gnostic's generated code (linked into berth_kubeapi) reads it back.
std::string DecodeToText(const std::string& bytes) {
  const google::protobuf::Descriptor* desc =
      google::protobuf::DescriptorPool::generated_pool()->FindMessageTypeByName(
          "openapi.v2.Document");
  REQUIRE(desc != nullptr);
  REQUIRE(desc->FindFieldByName("definitions")->number() == 9);
  std::unique_ptr<google::protobuf::Message> doc(
      google::protobuf::MessageFactory::generated_factory()->GetPrototype(desc)->New());
  REQUIRE(doc->ParseFromString(bytes));
  std::string text;
  REQUIRE(google::protobuf::TextFormat::PrintToString(*doc, &text));
  return text;
}

TEST_CASE("the v2 protobuf parses back as a gnostic Document with the definitions") {
  std::vector<schema::KindSchema> kinds = AllKinds();
  kinds.push_back(Widget());
  OpenApiDocs docs = BuildOpenApi(kinds);
  REQUIRE(docs.v2_protobuf.size() > 1000);
  std::string text = DecodeToText(docs.v2_protobuf);
  CHECK(text.find("swagger: \"2.0\"") != std::string::npos);
  for (const schema::KindSchema& k : kinds) {
    INFO(k.kind);
    std::string name = k.kind == "Widget" ? "io.berth.example.v1.Widget" : ModelName(k, k.kind);
    CHECK(text.find("name: \"" + name + "\"") != std::string::npos);
    // The GVK extension is YAML, as gnostic writes it.
    std::string group = k.group.empty() ? "\\\"\\\"" : k.group;
    CHECK(text.find("yaml: \"- group: " + group + "\\n  kind: " + k.kind +
                    "\\n  version: " + k.version + "\\n\"") != std::string::npos);
    // The PATCH operation's GVK (a map) that kubectl apply and the query param verifier read.
    CHECK(text.find("yaml: \"group: " + group + "\\nkind: " + k.kind + "\\nversion: " + k.version +
                    "\\n\"") != std::string::npos);
  }
  CHECK(text.find("name: \"fieldValidation\"") != std::string::npos);
  CHECK(text.find("yaml: \"\\\"True\\\"\\n\"") != std::string::npos);  // enum "True" quoted
  CHECK(text.find("yaml: \"- message: \\\"x: y\\\"\\n  rule: self != \\'\\'\\n\"") !=
        std::string::npos);
  CHECK(text.find("Disk size; may grow, never shrink.") != std::string::npos);
}

TEST_CASE("building twice gives identical bytes") {
  std::vector<schema::KindSchema> kinds = AllKinds();
  OpenApiDocs a = BuildOpenApi(kinds);
  OpenApiDocs b = BuildOpenApi(kinds);
  CHECK(a.v2_json == b.v2_json);
  CHECK(a.v2_protobuf == b.v2_protobuf);
  CHECK(a.v2_etag == b.v2_etag);
  CHECK(a.v3_index_json == b.v3_index_json);
  CHECK(a.v3_json == b.v3_json);
  CHECK(a.v2_etag.size() == 128);
  CHECK(a.v2_etag.find_first_not_of("0123456789ABCDEF") == std::string::npos);
}

}  // namespace
}  // namespace berth::kubeapi
