#include "berth/jsonpath.h"

#include <catch2/catch.hpp>

using berth::EvaluateJsonPath;
using berth::Json;

TEST_CASE("EvaluateJsonPath follows kubectl templates") {
  Json obj = Json::parse(R"({"status":{"phase":"Ready","consistent":true,
    "conditions":[{"type":"A","status":"True"},{"type":"B","status":"False"}]},
    "metadata":{"labels":{"app.kubernetes.io/name":"x"}}})");
  CHECK(*EvaluateJsonPath(obj, "{.status.phase}") == "Ready");
  CHECK(*EvaluateJsonPath(obj, "{.status.consistent}") == "true");
  CHECK(*EvaluateJsonPath(obj, "{.status.conditions[1].type}") == "B");
  CHECK(*EvaluateJsonPath(obj, "{.status.conditions[*].status}") == "True False");
  CHECK(*EvaluateJsonPath(obj, "{.metadata.labels['app.kubernetes.io/name']}") == "x");
  CHECK(*EvaluateJsonPath(obj, "p={.status.phase}!") == "p=Ready!");
  CHECK(*EvaluateJsonPath(obj, "{.status.missing}") == "");
  CHECK_FALSE(EvaluateJsonPath(obj, "{.status[").ok());
}
