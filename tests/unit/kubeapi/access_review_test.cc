// AccessReviewer: the SubjectAccessReview it sends, how it reads the answer, and its cache.
#include "kubeapi/access_review.h"

#include <catch2/catch.hpp>

namespace berth::kubeapi {
namespace {

struct FakeApiserver {
  std::vector<Json> reviews;
  bool allow = true;
  absl::Status fail = absl::OkStatus();
  AccessReviewer::Transport Transport() {
    return [this](const std::string& body) -> absl::StatusOr<std::string> {
      if (!fail.ok()) return fail;
      Json review = Json::parse(body);
      reviews.push_back(review);
      review["status"] = {{"allowed", allow}, {"reason", allow ? "RBAC: allowed" : "no rule"}};
      return review.dump();
    };
  }
};

AccessRequest Alice() {
  return AccessRequest{"alice",
                       {"dev", "system:authenticated"},
                       {{"scopes", {"a", "b"}}},
                       "list",
                       "virtualization.deckhouse.io",
                       "v1alpha2",
                       "virtualdisksnapshots",
                       "",
                       "team-a",
                       ""};
}

TEST_CASE("a review carries the user, groups, extra and resource attributes") {
  Json r = AccessReviewer::ReviewObject(Alice());
  CHECK(r["apiVersion"] == "authorization.k8s.io/v1");
  CHECK(r["kind"] == "SubjectAccessReview");
  CHECK(r["spec"]["user"] == "alice");
  CHECK(r["spec"]["groups"] == Json({"dev", "system:authenticated"}));
  CHECK(r["spec"]["extra"]["scopes"] == Json({"a", "b"}));
  const Json& a = r["spec"]["resourceAttributes"];
  CHECK(a["verb"] == "list");
  CHECK(a["group"] == "virtualization.deckhouse.io");
  CHECK(a["resource"] == "virtualdisksnapshots");
  CHECK(a["namespace"] == "team-a");
  CHECK_FALSE(a.contains("name"));
  CHECK_FALSE(a.contains("subresource"));
}

TEST_CASE("decisions are cached: allowed for 5 minutes, denied for 30 seconds") {
  SimulatedClock clock;
  FakeApiserver api;
  AccessReviewer reviewer(api.Transport(), clock);
  auto d = reviewer.Review(Alice());
  REQUIRE(d.ok());
  CHECK(d->allowed);
  CHECK(d->reason == "RBAC: allowed");
  reviewer.Review(Alice()).IgnoreError();
  CHECK(api.reviews.size() == 1);
  clock.Advance(absl::Minutes(5) + absl::Seconds(1));
  reviewer.Review(Alice()).IgnoreError();
  CHECK(api.reviews.size() == 2);

  AccessRequest bob = Alice();
  bob.user = "bob";
  api.allow = false;
  d = reviewer.Review(bob);
  REQUIRE(d.ok());
  CHECK_FALSE(d->allowed);
  clock.Advance(absl::Seconds(20));
  reviewer.Review(bob).IgnoreError();
  CHECK(api.reviews.size() == 3);
  clock.Advance(absl::Seconds(11));
  reviewer.Review(bob).IgnoreError();
  CHECK(api.reviews.size() == 4);
}

TEST_CASE("an apiserver that cannot be asked, or answers nonsense, allows nothing") {
  SimulatedClock clock;
  FakeApiserver api;
  api.fail = absl::UnavailableError("connection refused");
  AccessReviewer reviewer(api.Transport(), clock);
  auto d = reviewer.Review(Alice());
  REQUIRE_FALSE(d.ok());
  CHECK(absl::IsUnavailable(d.status()));
  AccessReviewer garbage([](const std::string&) { return std::string("{\"kind\":\"Status\"}"); },
                         clock);
  CHECK(absl::IsUnavailable(garbage.Review(Alice()).status()));
}

TEST_CASE("the HTTPS transport refuses a URL that is not https") {
  auto t = AccessReviewer::Https("http://127.0.0.1:1", "/nonexistent", "/nonexistent");
  auto r = t("{}");
  REQUIRE_FALSE(r.ok());
  CHECK(absl::IsInvalidArgument(r.status()));
}

}  // namespace
}  // namespace berth::kubeapi
