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

TEST_CASE("EvaluateJsonPath filters arrays as kubectl does") {
  Json obj = Json::parse(R"({"status":{"conditions":[
    {"type":"AgentReady","status":"False","n":1},{"type":"Ready","status":"True","n":2}]}})");
  CHECK(*EvaluateJsonPath(obj, R"({.status.conditions[?(@.type=="AgentReady")].status})") ==
        "False");
  CHECK(*EvaluateJsonPath(obj, "{.status.conditions[?(@.type=='Ready')].status}") == "True");
  CHECK(*EvaluateJsonPath(obj, R"({.status.conditions[?(@.type!="Ready")].type})") == "AgentReady");
  CHECK(*EvaluateJsonPath(obj, "{.status.conditions[?(@.n == 2)].type}") == "Ready");
  CHECK(*EvaluateJsonPath(obj, "{.status.conditions[?(@.n)].n}") == "1 2");
  CHECK(*EvaluateJsonPath(obj, "{.status.conditions[?(@.type=='Nope')].status}") == "");
  CHECK_FALSE(EvaluateJsonPath(obj, "{.status.conditions[?(@.n == x)].n}").ok());
  CHECK_FALSE(EvaluateJsonPath(obj, "{.status.conditions[?(type=='A')].n}").ok());
  CHECK_FALSE(EvaluateJsonPath(obj, "{.status.conditions[?(@.n}").ok());
}

TEST_CASE("EvaluateJsonPath prints quoted literals as kubectl does") {
  Json obj = Json::parse(R"({"status": {"path": "/p/a", "phase": "Ready"}})");
  CHECK(*EvaluateJsonPath(obj, R"({.status.path}{"\n"})") == "/p/a\n");
  CHECK(*EvaluateJsonPath(obj, R"({.status.phase}{"\t}\"x"}{.status.path})") == "Ready\t}\"x/p/a");
  CHECK(!EvaluateJsonPath(obj, R"({"\q"})").ok());
  auto open = EvaluateJsonPath(obj, R"({.status.path}{"\n)");
  REQUIRE(!open.ok());
  CHECK(open.status().message().find("unterminated quoted text") != std::string::npos);
}
