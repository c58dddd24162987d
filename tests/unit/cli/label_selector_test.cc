#include "label_selector.h"

#include <catch2/catch.hpp>

namespace berth::cli {
namespace {

Json WithLabels(Json labels) { return Json{{"metadata", {{"name", "x"}, {"labels", labels}}}}; }

TEST_CASE("LabelSelector parses every requirement form", "[selector]") {
  auto sel = LabelSelector::Parse("app=web, tier==db,env!=prod,owner,!legacy");
  REQUIRE(sel.ok());
  const auto& reqs = sel->requirements();
  REQUIRE(reqs.size() == 5);
  CHECK(reqs[0].key == "app");
  CHECK(reqs[0].op == LabelRequirement::Op::kEquals);
  CHECK(reqs[0].value == "web");
  CHECK(reqs[1].op == LabelRequirement::Op::kEquals);
  CHECK(reqs[1].value == "db");
  CHECK(reqs[2].op == LabelRequirement::Op::kNotEquals);
  CHECK(reqs[3].op == LabelRequirement::Op::kExists);
  CHECK(reqs[4].op == LabelRequirement::Op::kNotExists);
  CHECK(reqs[4].key == "legacy");
}

TEST_CASE("LabelSelector rejects malformed input", "[selector]") {
  CHECK_FALSE(LabelSelector::Parse("app=web,").ok());
  CHECK_FALSE(LabelSelector::Parse("=web").ok());
  CHECK_FALSE(LabelSelector::Parse("a b=c").ok());
  CHECK_FALSE(LabelSelector::Parse("!").ok());
  auto empty = LabelSelector::Parse("  ");
  REQUIRE(empty.ok());
  CHECK(empty->empty());
}

TEST_CASE("LabelSelector matches labels", "[selector]") {
  Json web = WithLabels({{"app", "web"}, {"env", "dev"}});
  Json bare = Json{{"metadata", {{"name", "y"}}}};
  auto match = [](const std::string& s, const Json& o) {
    auto sel = LabelSelector::Parse(s);
    REQUIRE(sel.ok());
    return sel->Matches(o);
  };
  CHECK(match("", bare));
  CHECK(match("app=web", web));
  CHECK_FALSE(match("app=db", web));
  CHECK(match("env!=prod", web));
  CHECK(match("env!=prod", bare));  // absent key satisfies !=, as in Kubernetes
  CHECK_FALSE(match("env!=dev", web));
  CHECK(match("app", web));
  CHECK_FALSE(match("app", bare));
  CHECK(match("!app", bare));
  CHECK_FALSE(match("!app", web));
  CHECK(match("app=web,env=dev", web));
  CHECK_FALSE(match("app=web,env=prod", web));
  CHECK(match("example.com/team=a", WithLabels({{"example.com/team", "a"}})));
}

}  // namespace
}  // namespace berth::cli
