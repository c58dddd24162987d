// Access control: who may do what per namespace, tokens (hash only, expiry, revocation), and the
// certificate subject parser the identity comes from.
#include "berth/controller/access.h"

#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>

#include "absl/strings/str_cat.h"
#include "berth/controller/object_store.h"
#include "berth/tls.h"

namespace berth::controller {
namespace {

struct Fixture {
  Fixture()
      : dir(std::filesystem::temp_directory_path() /
            absl::StrCat("berth-access-", getpid(), "-", counter++)),
        clock(absl::FromUnixSeconds(1700000000)) {
    std::filesystem::create_directories(dir);
    store = *OpenSqliteStore(dir.string(), clock);
  }
  ~Fixture() { std::filesystem::remove_all(dir); }
  static inline int counter = 0;
  std::filesystem::path dir;
  SimulatedClock clock;
  std::unique_ptr<ObjectStore> store;
};

const KindInfo& K(const char* name) { return *ResolveKind(name); }

Caller User(const std::string& name) { return Caller{name, {}, false, false, "certificate"}; }

}  // namespace

TEST_CASE("a namespace user reaches only granted namespaces") {
  Fixture f;
  AccessControl access(*f.store, f.clock, /*insecure=*/false);
  Caller alice = User("alice");
  auto denied = access.Authorize(alice, Verb::kGet, K("vd"), "team-a");
  REQUIRE(absl::IsPermissionDenied(denied));
  CHECK_THAT(std::string(denied.message()),
             Catch::Contains("user \"alice\" cannot get virtualdisks in namespace \"team-a\"") &&
                 Catch::Contains("no namespace is granted"));

  REQUIRE(access.Grant("alice", "team-a", false).ok());
  for (Verb v : {Verb::kGet, Verb::kList, Verb::kWatch, Verb::kApply, Verb::kDelete}) {
    CHECK(access.Authorize(alice, v, K("vd"), "team-a").ok());
    CHECK(absl::IsPermissionDenied(access.Authorize(alice, v, K("vmop"), "team-b")));
  }
  // Every namespace at once is the admin's view only.
  CHECK(absl::IsPermissionDenied(access.Authorize(alice, Verb::kList, K("vd"), "")));
  // Cluster-scoped kinds: read yes, write no.
  CHECK(access.Authorize(alice, Verb::kList, K("cvi"), "").ok());
  CHECK(absl::IsPermissionDenied(access.Authorize(alice, Verb::kApply, K("cvi"), "")));
  CHECK(absl::IsPermissionDenied(access.Authorize(alice, Verb::kApply, K("nodeusbdevice"), "")));
  CHECK(absl::IsPermissionDenied(access.RequireAdmin(alice, "issue tokens")));

  // Grants are idempotent, sorted, and revocable.
  REQUIRE(access.Grant("alice", "team-c", false).ok());
  REQUIRE(access.Grant("alice", "team-a", false).ok());
  CHECK(access.Namespaces("alice") == std::vector<std::string>{"team-a", "team-c"});
  REQUIRE(access.Grant("alice", "team-a", true).ok());
  CHECK(absl::IsPermissionDenied(access.Authorize(alice, Verb::kGet, K("vd"), "team-a")));
  CHECK(absl::IsNotFound(access.Grant("alice", "team-a", true).status()));
  CHECK(absl::IsInvalidArgument(access.Grant("alice", "Bad_NS", false).status()));
  CHECK(absl::IsInvalidArgument(access.Grant("Alice!", "ok", false).status()));
}

TEST_CASE("admins may do anything, agents nothing in the resource API") {
  Fixture f;
  AccessControl access(*f.store, f.clock, false);
  Caller admin{"root", {kGroupClusterAdmins}, true, false, "certificate"};
  CHECK(access.Authorize(admin, Verb::kList, K("vd"), "").ok());
  CHECK(access.Authorize(admin, Verb::kApply, K("nodeusbdevice"), "").ok());
  CHECK(access.RequireAdmin(admin, "x").ok());
  Caller agent{"node-1", {kGroupAgents}, false, true, "certificate"};
  auto s = access.Authorize(agent, Verb::kGet, K("cvi"), "");
  CHECK(absl::IsPermissionDenied(s));
  CHECK_THAT(std::string(s.message()), Catch::Contains("node agents only register"));
}

TEST_CASE("tokens: shown once, stored hashed, expire and can be revoked") {
  Fixture f;
  AccessControl access(*f.store, f.clock, false);
  auto issued = access.IssueToken("bob", false, absl::Hours(1));
  REQUIRE(issued.ok());
  std::string token = (*issued)["token"];
  std::string id = (*issued)["id"];
  // Only the hash is stored: the secret appears nowhere in the store.
  auto rec = f.store->Get(ObjectKey{kAccessTokenKind, "", id});
  REQUIRE(rec.ok());
  CHECK(rec->dump().find(token.substr(token.rfind('_') + 1)) == std::string::npos);
  auto listed = access.ListTokens();
  REQUIRE(listed.ok());
  REQUIRE(listed->size() == 1);
  CHECK_FALSE((*listed)[0]["spec"].contains("sha256"));

  auto caller = access.FromToken(token);
  REQUIRE(caller.ok());
  CHECK(caller->user == "bob");
  CHECK_FALSE(caller->admin);
  CHECK(caller->via == "token");

  // A wrong secret with the right id, a malformed token, an unknown id.
  std::string wrong = token;
  wrong.back() = wrong.back() == '0' ? '1' : '0';
  CHECK(absl::IsUnauthenticated(access.FromToken(wrong).status()));
  CHECK(absl::IsUnauthenticated(access.FromToken("not-a-token").status()));
  CHECK(absl::IsUnauthenticated(access.FromToken("berth_ffff_00").status()));

  f.clock.Advance(absl::Hours(1));
  auto expired = access.FromToken(token);
  REQUIRE(absl::IsUnauthenticated(expired.status()));
  CHECK_THAT(std::string(expired.status().message()), Catch::Contains("expired"));

  auto admin_token = access.IssueToken("ops", true, absl::ZeroDuration());
  REQUIRE(admin_token.ok());
  f.clock.Advance(absl::Hours(24 * 365));
  auto ops = access.FromToken((*admin_token)["token"]);
  REQUIRE(ops.ok());
  CHECK(ops->admin);
  REQUIRE(access.RevokeToken((*admin_token)["id"]).ok());
  CHECK(absl::IsUnauthenticated(access.FromToken((*admin_token)["token"]).status()));
  CHECK(absl::IsNotFound(access.RevokeToken((*admin_token)["id"])));
}

TEST_CASE("certificate subjects map to user and groups") {
  PeerIdentity id = ParseSubject("CN=alice,O=team\\,one,O=berth:cluster-admins");
  CHECK(id.name == "alice");
  CHECK(id.groups == std::vector<std::string>{"team,one", "berth:cluster-admins"});
  CHECK(id.InGroup(kGroupClusterAdmins));
  CHECK_FALSE(ParseSubject("CN=node-1,O=berth:agents").InGroup(kGroupClusterAdmins));
  CHECK(ParseSubject("").name.empty());
}

}  // namespace berth::controller
