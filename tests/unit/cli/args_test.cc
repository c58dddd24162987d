#include "args.h"

#include <catch2/catch.hpp>

#include "resource_client.h"
#include "waiter.h"

namespace berth::cli {
namespace {

TEST_CASE("ParseResourceArgs accepts KIND NAME... and KIND/NAME...", "[args]") {
  auto a = ParseResourceArgs({"vds", "s1", "s2"}, "get");
  REQUIRE(a.ok());
  CHECK(a->kind->kind == "VirtualDiskSnapshot");
  REQUIRE(a->refs.size() == 2);
  CHECK(a->refs[1].name == "s2");
  auto b = ParseResourceArgs({"vd/root", "vm/linux"}, "get");
  REQUIRE(b.ok());
  CHECK(b->refs[0].kind->kind == "VirtualDisk");
  CHECK(b->refs[1].kind->kind == "VirtualMachine");
  auto c = ParseResourceArgs({"virtualdisks.virtualization.deckhouse.io"}, "get");
  REQUIRE(c.ok());
  CHECK(c->refs.empty());
  auto bad = ParseResourceArgs({"foo"}, "get");
  CHECK(bad.status().message() == "the server doesn't have a resource type \"foo\"");
  CHECK_FALSE(ParseResourceArgs({}, "get").ok());
  CHECK_FALSE(ParseResourceArgs({"vd", "vd/x"}, "get").ok());
  CHECK_FALSE(ParseResourceArgs({"vd/"}, "get").ok());
}

TEST_CASE("Metadata changes: split, parse, apply", "[args]") {
  std::vector<std::string> res, changes;
  SplitMetadataArgs({"vm", "linux", "app=web", "old-"}, &res, &changes);
  CHECK(res == std::vector<std::string>{"vm", "linux"});
  CHECK(changes == std::vector<std::string>{"app=web", "old-"});
  auto parsed = ParseMetadataChanges(changes);
  REQUIRE(parsed.ok());
  CHECK((*parsed)[0].value == std::optional<std::string>("web"));
  CHECK_FALSE((*parsed)[1].value.has_value());

  Json labels = {{"app", "db"}, {"old", "x"}};
  std::vector<std::string> warnings;
  auto refused = ApplyMetadataChanges(labels, *parsed, false, "label", &warnings);
  CHECK(refused.status().message() == "'app' already has a value (db), and --overwrite is false");
  auto ok = ApplyMetadataChanges(labels, *parsed, true, "label", &warnings);
  REQUIRE(ok.ok());
  CHECK(*ok);
  CHECK(labels == Json{{"app", "web"}});
  auto again = ApplyMetadataChanges(labels, *parsed, true, "label", &warnings);
  CHECK_FALSE(*again);
  CHECK(warnings == std::vector<std::string>{"label \"old\" not found."});
  Json none;  // null: created on demand
  CHECK(*ApplyMetadataChanges(none, {{"k", std::string("v")}}, false, "label", &warnings));
  CHECK(none == Json{{"k", "v"}});
}

TEST_CASE("ParseTimeout", "[args]") {
  CHECK(*ParseTimeout("60s") == absl::Seconds(60));
  CHECK(*ParseTimeout("1h30m") == absl::Minutes(90));
  CHECK(*ParseTimeout("45") == absl::Seconds(45));
  CHECK(*ParseTimeout("0") == absl::ZeroDuration());
  CHECK_FALSE(ParseTimeout("soon").ok());
  CHECK_FALSE(ParseTimeout("-5s").ok());
}

TEST_CASE("FormatError distinguishes server and local errors", "[args]") {
  CHECK(FormatError(MarkFromServer(absl::NotFoundError("vd \"x\" not found")), "h:1") ==
        "Error from server (NotFound): vd \"x\" not found");
  CHECK(FormatError(MarkFromServer(absl::InvalidArgumentError("bad\nfield")), "h:1") ==
        "Error from server (Invalid): bad field");
  CHECK(FormatError(MarkFromServer(absl::AbortedError("conflict")), "h:1") ==
        "Error from server (Conflict): conflict");
  CHECK(FormatError(MarkFromServer(absl::UnavailableError("refused")), "h:1") ==
        "error: unable to connect to the server at h:1: refused");
  CHECK(FormatError(absl::InvalidArgumentError("oops"), "h:1") == "error: oops");
}

TEST_CASE("ParseWaitFor and ConditionMet", "[wait]") {
  auto del = ParseWaitFor("delete");
  REQUIRE(del.ok());
  CHECK(del->type == WaitCondition::Type::kDelete);

  Json obj = Json::parse(R"({"metadata": {"name": "x", "generation": 2},
    "status": {"phase": "Ready", "conditions": [
      {"type": "Ready", "status": "True", "observedGeneration": 2},
      {"type": "Stale", "status": "True", "observedGeneration": 1}]}})");
  auto ready = ParseWaitFor("condition=Ready");
  REQUIRE(ready.ok());
  CHECK(ConditionMet(*ready, obj));
  CHECK(ConditionMet(*ParseWaitFor("condition=ready=true"), obj));
  CHECK_FALSE(ConditionMet(*ParseWaitFor("condition=Ready=False"), obj));
  CHECK_FALSE(ConditionMet(*ParseWaitFor("condition=Stale"), obj));  // older generation
  CHECK_FALSE(ConditionMet(*ParseWaitFor("condition=Missing"), obj));

  auto phase = ParseWaitFor("jsonpath={.status.phase}=Ready");
  REQUIRE(phase.ok());
  CHECK(phase->target == "{.status.phase}");
  CHECK(phase->value == "Ready");
  CHECK(ConditionMet(*phase, obj));
  CHECK_FALSE(ConditionMet(*ParseWaitFor("jsonpath={.status.phase}=Failed"), obj));
  CHECK(ConditionMet(*ParseWaitFor("jsonpath=.status.phase=Ready"), obj));
  CHECK(ConditionMet(*ParseWaitFor("jsonpath={.status.phase}"), obj));
  CHECK_FALSE(ConditionMet(*ParseWaitFor("jsonpath={.status.nothing}"), obj));
  CHECK_FALSE(ParseWaitFor("jsonpath={.status.phase").ok());
  CHECK_FALSE(ParseWaitFor("ready").ok());
  CHECK_FALSE(ParseWaitFor("condition=").ok());
}

}  // namespace
}  // namespace berth::cli
