#include "berth/manifest.h"

#include <catch2/catch.hpp>

using berth::Json;
using berth::ParseManifests;

TEST_CASE("ParseManifests reads multi-document YAML with typed scalars") {
  auto docs = ParseManifests(R"(
apiVersion: virtualization.deckhouse.io/v1alpha2
kind: VirtualDiskSnapshot
metadata:
  name: s1
spec:
  requiredConsistency: true
  virtualDiskName: d1
---
---
kind: VirtualDisk
metadata: {name: d1, labels: {a: "true"}}
spec:
  persistentVolumeClaim: {size: 1Gi}
  count: 3
)");
  REQUIRE(docs.ok());
  REQUIRE(docs->size() == 2);
  CHECK((*docs)[0]["spec"]["requiredConsistency"] == true);
  CHECK((*docs)[1]["metadata"]["labels"]["a"] == "true");
  CHECK((*docs)[1]["spec"]["count"] == 3);
  CHECK((*docs)[1]["spec"]["persistentVolumeClaim"]["size"] == "1Gi");
}

TEST_CASE("ParseManifests reads JSON objects, arrays and Lists") {
  auto one = ParseManifests(R"({"kind":"VirtualDisk","metadata":{"name":"a"}})");
  REQUIRE(one.ok());
  CHECK(one->size() == 1);
  auto list = ParseManifests(R"({"kind":"List","items":[{"kind":"A"},{"kind":"B"}]})");
  REQUIRE(list.ok());
  CHECK(list->size() == 2);
}

TEST_CASE("ParseManifests names the line of bad YAML") {
  auto bad = ParseManifests("kind: A\nmetadata:\n  name: [unclosed\n");
  REQUIRE_FALSE(bad.ok());
  CHECK(std::string(bad.status().message()).find("line") != std::string::npos);
  CHECK_FALSE(ParseManifests("- a\n- b\n").ok());
  CHECK_FALSE(ParseManifests("{\"kind\": ").ok());
}

TEST_CASE("ToYaml round-trips through ParseManifests") {
  Json obj = {{"kind", "VirtualDisk"},
              {"metadata", {{"name", "d"}, {"labels", {{"x", "true"}, {"n", "01"}}}}},
              {"spec", {{"size", 5}, {"empty", ""}, {"list", {1, "two"}}}}};
  auto back = ParseManifests(berth::ToYaml(obj));
  REQUIRE(back.ok());
  CHECK((*back)[0] == obj);
}
