// Who the caller is (SelfSubjectReview) and which namespaces they see.
#include <catch2/catch.hpp>

#include "api_fixture.h"

namespace berth::kubeapi {
namespace {

using testing::Anonymous;
using testing::ApiFixture;
using testing::As;
using testing::AsAdmin;

constexpr char kReviews[] = "/apis/authentication.k8s.io/v1/selfsubjectreviews";

HttpRequest Review(HttpRequest r) {
  r.headers.emplace("content-type", "application/json");
  r.body = R"({"apiVersion":"authentication.k8s.io/v1","kind":"SelfSubjectReview"})";
  return r;
}

std::vector<std::string> Names(const HttpResponse& list) {
  std::vector<std::string> out;
  Json j = Json::parse(list.body);
  for (const Json& ns : j["items"]) {
    out.push_back(ns["metadata"]["name"].get<std::string>());
  }
  return out;
}

Json Disk(const std::string& ns, const std::string& name) {
  return {{"apiVersion", "virtualization.deckhouse.io/v1alpha2"},
          {"kind", "VirtualDisk"},
          {"metadata", {{"name", name}, {"namespace", ns}}},
          {"spec", Json::object()}};
}

TEST_CASE("SelfSubjectReview: a cluster admin") {
  ApiFixture f;
  REQUIRE(f.access().Grant("admin", "ops", false).ok());
  HttpResponse r = f.Send(Review(AsAdmin("POST", kReviews)));
  REQUIRE(r.code == 201);
  Json j = Json::parse(r.body);
  CHECK(j["apiVersion"] == "authentication.k8s.io/v1");
  CHECK(j["kind"] == "SelfSubjectReview");
  CHECK(j["metadata"]["creationTimestamp"] == "2025-12-02T12:00:00Z");
  const Json& u = j["status"]["userInfo"];
  CHECK(u["username"] == "admin");
  CHECK(u["groups"] == Json({"berth:cluster-admins", "system:authenticated"}));
  CHECK(u["extra"]["berth.deckhouse.io/admin"] == Json({"true"}));
  CHECK(u["extra"]["berth.deckhouse.io/namespaces"] == Json({"ops"}));
}

TEST_CASE("SelfSubjectReview: a user with grants, by token and without a body") {
  ApiFixture f;
  REQUIRE(f.access().Grant("alice", "team-b", false).ok());
  REQUIRE(f.access().Grant("alice", "team-a", false).ok());
  auto token = f.access().IssueToken("alice", false, absl::ZeroDuration());
  REQUIRE(token.ok());
  HttpRequest req = Anonymous("POST", kReviews);
  req.headers.emplace("authorization", "Bearer " + (*token)["token"].get<std::string>());
  HttpResponse r = f.Send(req);
  REQUIRE(r.code == 201);
  const Json u = Json::parse(r.body)["status"]["userInfo"];
  CHECK(u["username"] == "alice");
  CHECK(u["groups"] == Json({"system:authenticated"}));
  CHECK(u["extra"]["berth.deckhouse.io/admin"] == Json({"false"}));
  CHECK(u["extra"]["berth.deckhouse.io/namespaces"] == Json({"team-a", "team-b"}));
}

TEST_CASE("SelfSubjectReview: nobody is 401; only create; listed by discovery") {
  ApiFixture f;
  HttpResponse r = f.Send(Review(Anonymous("POST", kReviews)));
  CHECK(r.code == 401);
  CHECK(Json::parse(r.body)["reason"] == "Unauthorized");
  CHECK(f.Send(AsAdmin("GET", kReviews)).code == 405);
  CHECK(f.Send(AsAdmin("DELETE", std::string(kReviews) + "/x")).code == 405);
  HttpRequest proto = AsAdmin("POST", kReviews);  // kubectl's: protobuf, not read
  proto.headers.emplace("content-type", "application/vnd.kubernetes.protobuf");
  proto.body = std::string("k8s\0\n", 5);
  CHECK(f.Send(proto).code == 201);

  HttpResponse list = f.Send(AsAdmin("GET", "/apis/authentication.k8s.io/v1"));
  REQUIRE(list.code == 200);
  Json res = Json::parse(list.body)["resources"];
  REQUIRE(res.size() == 1);
  CHECK(res[0]["name"] == "selfsubjectreviews");
  CHECK(res[0]["kind"] == "SelfSubjectReview");
  CHECK(res[0]["namespaced"] == false);
  CHECK(res[0]["verbs"] == Json({"create"}));
  CHECK(f.Send(AsAdmin("GET", "/apis")).body.find("authentication.k8s.io/v1") != std::string::npos);
}

TEST_CASE("namespaces: a user sees the granted ones, an admin every named one") {
  ApiFixture f;
  REQUIRE(f.store().Create(Disk("team-a", "d1")).ok());
  REQUIRE(f.store().Create(Disk("other", "d2")).ok());
  REQUIRE(f.access().Grant("alice", "team-a", false).ok());
  REQUIRE(f.access().Grant("alice", "fresh", false).ok());  // no object names it yet

  HttpResponse admin = f.Send(AsAdmin("GET", "/api/v1/namespaces"));
  REQUIRE(admin.code == 200);
  CHECK(Names(admin) == std::vector<std::string>{"default", "other", "team-a"});

  HttpResponse alice = f.Send(As("alice", {}, "GET", "/api/v1/namespaces"));
  REQUIRE(alice.code == 200);
  CHECK(Names(alice) == std::vector<std::string>{"fresh", "team-a"});
  HttpResponse bob = f.Send(As("bob", {}, "GET", "/api/v1/namespaces"));
  REQUIRE(bob.code == 200);
  CHECK(Names(bob).empty());

  HttpRequest watch = As("alice", {}, "GET", "/api/v1/namespaces");
  watch.query["watch"] = "true";
  HttpResponse watched = f.Send(watch);
  CHECK(Names(watched) == std::vector<std::string>{"fresh", "team-a"});
}

TEST_CASE("namespaces: get of one not granted is 403 for a user, not for an admin") {
  ApiFixture f;
  REQUIRE(f.access().Grant("alice", "team-a", false).ok());
  CHECK(f.Send(As("alice", {}, "GET", "/api/v1/namespaces/team-a")).code == 200);
  HttpResponse r = f.Send(As("alice", {}, "GET", "/api/v1/namespaces/other"));
  CHECK(r.code == 403);
  Json j = Json::parse(r.body);
  CHECK(j["reason"] == "Forbidden");
  CHECK(j["message"] ==
        "namespaces \"other\" is forbidden: User \"alice\" cannot get resource \"namespaces\" in "
        "API group \"\" in the namespace \"other\"");
  CHECK(j["details"]["kind"] == "namespaces");
  CHECK(f.Send(AsAdmin("GET", "/api/v1/namespaces/other")).code == 200);
}

}  // namespace
}  // namespace berth::kubeapi
