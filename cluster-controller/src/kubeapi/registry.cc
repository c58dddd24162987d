#include "kubeapi/registry.h"

#include <set>

namespace berth::kubeapi {

std::vector<std::string> Resource::Verbs() const {
  if (implicit) return {"get", "list", "watch"};
  if (review) return {"create"};
  return {"create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"};
}

Registry::Registry() {
  for (const schema::KindSchema& k : schema::Kinds()) {
    Resource r;
    r.group = k.group;
    r.version = k.version;
    r.kind = k.kind;
    r.list_kind = k.list_kind;
    r.plural = k.plural;
    r.singular = k.singular;
    r.short_names = k.short_names;
    r.categories = k.categories;
    r.namespaced = k.namespaced;
    r.status_subresource = k.status_subresource;
    r.info = ResolveKind(k.kind);
    r.schema = &k;
    if (r.info) resources_.push_back(std::move(r));
  }
  for (const char* kind : {"Secret", "Event"}) {
    const KindInfo* info = ResolveKind(kind);
    if (!info) continue;
    Resource r;
    r.version = "v1";
    r.kind = info->kind;
    r.list_kind = info->kind + "List";
    r.plural = info->plural;
    r.singular = info->singular;
    r.short_names = info->short_names;
    r.namespaced = true;
    r.info = info;
    resources_.push_back(std::move(r));
  }
  Resource ns;
  ns.version = "v1";
  ns.kind = "Namespace";
  ns.list_kind = "NamespaceList";
  ns.plural = "namespaces";
  ns.singular = "namespace";
  ns.short_names = {"ns"};
  ns.namespaced = false;
  ns.implicit = true;
  resources_.push_back(std::move(ns));
  Resource whoami;  // kubectl auth whoami
  whoami.group = "authentication.k8s.io";
  whoami.version = "v1";
  whoami.kind = "SelfSubjectReview";
  whoami.list_kind = "SelfSubjectReviewList";
  whoami.plural = "selfsubjectreviews";
  whoami.singular = "selfsubjectreview";
  whoami.namespaced = false;
  whoami.review = true;
  resources_.push_back(std::move(whoami));
}

const Resource* Registry::Find(const std::string& group, const std::string& version,
                               const std::string& plural) const {
  for (const Resource& r : resources_) {
    if (r.group == group && r.version == version && r.plural == plural) return &r;
  }
  return nullptr;
}

Json Registry::RootPaths() const {
  std::set<std::string> paths = {"/api",    "/api/v1",     "/apis",       "/healthz", "/livez",
                                 "/readyz", "/openapi/v2", "/openapi/v3", "/version"};
  for (const Resource& r : resources_) {
    if (r.group.empty()) continue;
    paths.insert("/apis/" + r.group);
    paths.insert("/apis/" + r.group + "/" + r.version);
  }
  return {{"paths", paths}};
}

Json Registry::Versions() const {
  return {
      {"kind", "APIVersions"}, {"versions", {"v1"}}, {"serverAddressByClientCIDRs", Json::array()}};
}

namespace {

Json GroupJson(const std::string& group, const std::string& version) {
  Json gv = {{"groupVersion", group + "/" + version}, {"version", version}};
  return {{"name", group}, {"versions", Json::array({gv})}, {"preferredVersion", gv}};
}

}  // namespace

Json Registry::Groups() const {
  std::set<std::pair<std::string, std::string>> seen;
  Json groups = Json::array();
  for (const Resource& r : resources_) {
    if (r.group.empty() || !seen.insert({r.group, r.version}).second) continue;
    groups.push_back(GroupJson(r.group, r.version));
  }
  return {{"kind", "APIGroupList"}, {"apiVersion", "v1"}, {"groups", groups}};
}

Json Registry::Group(const std::string& group) const {
  for (const Resource& r : resources_) {
    if (r.group == group && !group.empty()) {
      Json g = GroupJson(r.group, r.version);
      g["kind"] = "APIGroup";
      g["apiVersion"] = "v1";
      return g;
    }
  }
  return nullptr;
}

Json Registry::ResourceList(const std::string& group, const std::string& version) const {
  Json list = Json::array();
  for (const Resource& r : resources_) {
    if (r.group != group || r.version != version) continue;
    Json e = {{"name", r.plural},
              {"singularName", r.singular},
              {"namespaced", r.namespaced},
              {"kind", r.kind},
              {"verbs", r.Verbs()}};
    if (!r.short_names.empty()) e["shortNames"] = r.short_names;
    if (!r.categories.empty()) e["categories"] = r.categories;
    list.push_back(std::move(e));
    if (r.status_subresource) {
      list.push_back({{"name", r.plural + "/status"},
                      {"singularName", ""},
                      {"namespaced", r.namespaced},
                      {"kind", r.kind},
                      {"verbs", {"get", "patch", "update"}}});
    }
  }
  if (list.empty()) return nullptr;
  return {{"kind", "APIResourceList"},
          {"apiVersion", "v1"},
          {"groupVersion", group.empty() ? version : group + "/" + version},
          {"resources", list}};
}

Json Registry::Version() {
  return {{"major", "1"},       {"minor", "32"},           {"gitVersion", "v1.32.0-berth"},
          {"gitCommit", ""},    {"gitTreeState", "clean"}, {"buildDate", "2026-12-02T00:00:00Z"},
          {"goVersion", "n/a"}, {"compiler", "gcc"},       {"platform", "linux/amd64"}};
}

}  // namespace berth::kubeapi
