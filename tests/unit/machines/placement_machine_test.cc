// Node constraints (controllers/common/placement.h): nodeSelector, required nodeAffinity terms
// and tolerations against taints, as Kubernetes matches them.
#include <catch2/catch.hpp>

#include "controllers/common/placement.h"

namespace berth::controller {
namespace {

Json Spec(Json extra) {
  Json s = Json::object();
  for (auto& [k, v] : extra.items()) s[k] = v;
  return s;
}

TEST_CASE("placement: nodeSelector, nodeAffinity, tolerations") {
  std::map<std::string, std::string> labels = {{"zone", "b"}, {"cpus", "8"}};
  Json no_taints = Json::array();
  auto unmet = [&](const Json& spec, const Json& taints = Json::array(), bool running = false) {
    return Unmet("n1", labels, taints, NodeConstraints::Of(spec), running);
  };
  CHECK_FALSE(unmet(Json::object()));
  CHECK_FALSE(unmet(Spec({{"nodeSelector", {{"zone", "b"}, {"kubernetes.io/hostname", "n1"}}}})));
  CHECK(*unmet(Spec({{"nodeSelector", {{"zone", "a"}}}})) == "zone=a");

  auto affinity = [](Json terms) {
    return Spec({{"affinity",
                  {{"nodeAffinity",
                    {{"requiredDuringSchedulingIgnoredDuringExecution",
                      {{"nodeSelectorTerms", terms}}}}}}}});
  };
  auto expr = [](const char* key, const char* op, Json values = Json::array()) {
    return Json{{"key", key}, {"operator", op}, {"values", values}};
  };
  auto term = [](Json exprs) { return Json{{"matchExpressions", exprs}}; };
  CHECK_FALSE(unmet(affinity(Json::array({term(Json::array({expr("zone", "In", {"a", "b"})}))}))));
  CHECK(unmet(affinity(Json::array({term(Json::array({expr("zone", "NotIn", {"b"})}))}))));
  CHECK_FALSE(unmet(affinity(Json::array({term(Json::array({expr("zone", "Exists")}))}))));
  CHECK(unmet(affinity(Json::array({term(Json::array({expr("gpu", "Exists")}))}))));
  CHECK_FALSE(unmet(affinity(Json::array({term(Json::array({expr("gpu", "DoesNotExist")}))}))));
  CHECK_FALSE(unmet(affinity(Json::array({term(Json::array({expr("cpus", "Gt", {"4"})}))}))));
  CHECK(unmet(affinity(Json::array({term(Json::array({expr("cpus", "Lt", {"4"})}))}))));
  // Terms are ORed, expressions ANDed; matchFields name the node.
  CHECK_FALSE(unmet(affinity(Json::array({term(Json::array({expr("gpu", "Exists")})),
                                          term(Json::array({expr("zone", "In", {"b"})}))}))));
  CHECK(*unmet(affinity(Json::array(
            {term(Json::array({expr("zone", "In", {"b"}), expr("gpu", "Exists")}))}))) ==
        "no nodeAffinity term matches");
  CHECK_FALSE(unmet(affinity(
      Json::array({Json{{"matchFields", Json::array({expr("metadata.name", "In", {"n1"})})}}}))));
  CHECK(unmet(affinity(Json::array({Json::object()}))));  // an empty term matches nothing

  Json taints = Json::array({{{"key", "dedicated"}, {"value", "gpu"}, {"effect", "NoSchedule"}},
                             {{"key", "soft"}, {"effect", "PreferNoSchedule"}}});
  CHECK(*unmet(Json::object(), taints) == "taint dedicated=gpu:NoSchedule not tolerated");
  CHECK_FALSE(unmet(Json::object(), taints, true));  // NoSchedule does not evict
  auto tolerating = [](Json t) { return Spec({{"tolerations", Json::array({t})}}); };
  CHECK_FALSE(unmet(tolerating({{"key", "dedicated"}, {"value", "gpu"}}), taints));
  CHECK(unmet(tolerating({{"key", "dedicated"}, {"value", "cpu"}}), taints));
  CHECK_FALSE(unmet(tolerating({{"key", "dedicated"}, {"operator", "Exists"}}), taints));
  CHECK(unmet(tolerating({{"key", "dedicated"}, {"operator", "Exists"}, {"effect", "NoExecute"}}),
              taints));
  CHECK_FALSE(unmet(tolerating({{"operator", "Exists"}}), taints));  // tolerates everything
  Json evicting = Json::array({{{"key", "maint"}, {"effect", "NoExecute"}}});
  CHECK(*unmet(Json::object(), evicting, true) == "taint maint:NoExecute not tolerated");

  // A Node object: labels and spec.taints read from it.
  Json node = {{"metadata", {{"name", "n2"}, {"labels", {{"zone", "c"}}}}},
               {"spec", {{"taints", evicting}}}};
  CHECK(*Unmet(node, NodeConstraints::Of(Spec({{"nodeSelector", {{"zone", "b"}}}})), false) ==
        "zone=b");
  CHECK(*Unmet(node, NodeConstraints::Of(Json::object())) == "taint maint:NoExecute not tolerated");
}

}  // namespace
}  // namespace berth::controller
