#include "berth/controller/access.h"

#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include <algorithm>
#include <regex>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "berth/tls.h"

namespace berth::controller {
namespace {

constexpr char kTokenPrefix[] = "berth_";

std::string Sha256Hex(const std::string& s) {
  unsigned char md[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(s.data()), s.size(), md);
  return absl::BytesToHexString(absl::string_view(reinterpret_cast<const char*>(md), sizeof md));
}

absl::StatusOr<std::string> RandomHex(size_t bytes) {
  std::string buf(bytes, '\0');
  if (RAND_bytes(reinterpret_cast<unsigned char*>(buf.data()), static_cast<int>(bytes)) != 1) {
    return absl::InternalError("no randomness for a token");
  }
  return absl::BytesToHexString(buf);
}

// Users are certificate CNs: DNS-1123-like names, plus '@' so e-mail style names work.
absl::Status CheckUserName(const std::string& user) {
  static const std::regex re("^[a-z0-9]([-a-z0-9.@_]{0,251}[a-z0-9])?$");
  if (!std::regex_match(user, re)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "invalid user name \"", user,
        "\": lower-case letters, digits, '-', '.', '_', '@', starting and ending alphanumeric"));
  }
  return absl::OkStatus();
}

absl::Status CheckNamespaceName(const std::string& ns) {
  static const std::regex re("^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$");
  if (!std::regex_match(ns, re)) {
    return absl::InvalidArgumentError(
        absl::StrCat("invalid namespace \"", ns, "\": must be a DNS-1123 label"));
  }
  return absl::OkStatus();
}

bool IsRead(Verb v) { return v == Verb::kGet || v == Verb::kList || v == Verb::kWatch; }

}  // namespace

const char* VerbName(Verb v) {
  switch (v) {
    case Verb::kGet:
      return "get";
    case Verb::kList:
      return "list";
    case Verb::kWatch:
      return "watch";
    case Verb::kApply:
      return "apply";
    case Verb::kDelete:
      return "delete";
  }
  return "?";
}

std::string Caller::Describe() const {
  return absl::StrCat("user \"", user, "\"", admin ? " (cluster admin)" : "");
}

AccessControl::AccessControl(ObjectStore& store, const Clock& clock, bool insecure)
    : store_(store), clock_(clock), insecure_(insecure) {}

absl::StatusOr<Caller> AccessControl::Authenticate(const grpc::ServerContext& context) const {
  const auto& md = context.client_metadata();
  auto it = md.find("authorization");
  if (it != md.end()) {
    std::string value(it->second.data(), it->second.size());
    if (!absl::StartsWith(value, "Bearer ")) {
      return absl::UnauthenticatedError("the authorization header is not \"Bearer TOKEN\"");
    }
    return FromToken(value.substr(7));
  }
  if (insecure_) return Caller{"anonymous", {}, true, false, "insecure"};
  PeerIdentity id = PeerOf(context);
  if (id.name.empty()) {
    return absl::UnauthenticatedError("no client certificate name (CN) and no bearer token");
  }
  return FromCertificate(id);
}

Caller AccessControl::FromCertificate(const PeerIdentity& id) const {
  Caller c;
  c.user = id.name;
  c.groups = id.groups;
  c.admin = id.InGroup(kGroupClusterAdmins);
  c.agent = id.InGroup(kGroupAgents);
  c.via = "certificate";
  return c;
}

absl::StatusOr<Caller> AccessControl::FromToken(const std::string& token) const {
  // berth_<id>_<secret>: the id finds the record, the secret's hash is compared in constant
  // time.
  std::vector<std::string> parts = absl::StrSplit(token, '_');
  if (parts.size() != 3 || parts[0] + "_" != kTokenPrefix || parts[1].empty() || parts[2].empty()) {
    return absl::UnauthenticatedError("the bearer token is malformed");
  }
  auto rec = store_.Get(ObjectKey{kAccessTokenKind, "", parts[1]});
  if (!rec.ok()) return absl::UnauthenticatedError("the bearer token is unknown or revoked");
  std::string want = JsonString(*rec, "/spec/sha256");
  std::string got = Sha256Hex(parts[2]);
  if (want.size() != got.size() || CRYPTO_memcmp(want.data(), got.data(), got.size()) != 0) {
    return absl::UnauthenticatedError("the bearer token is unknown or revoked");
  }
  std::string expires = JsonString(*rec, "/spec/expiresAt");
  if (!expires.empty() && ParseRfc3339(expires) <= clock_.Now()) {
    return absl::UnauthenticatedError(absl::StrCat("the bearer token expired at ", expires));
  }
  Caller c;
  c.user = JsonString(*rec, "/spec/user");
  c.admin = rec->value("spec", Json::object()).value("admin", false);
  c.via = "token";
  return c;
}

absl::Status AccessControl::RequireAdmin(const Caller& caller, const std::string& what) const {
  if (caller.admin) return absl::OkStatus();
  return absl::PermissionDeniedError(
      absl::StrCat(caller.Describe(), " cannot ", what, ": it needs the cluster admin role"));
}

absl::Status AccessControl::Authorize(const Caller& caller, Verb verb, const KindInfo& kind,
                                      const std::string& ns) const {
  if (caller.admin) return absl::OkStatus();
  auto denied = [&](const std::string& why) {
    std::string where =
        kind.namespaced ? (ns.empty() ? " across all namespaces" : " in namespace \"" + ns + "\"")
                        : " (cluster-scoped)";
    return absl::PermissionDeniedError(absl::StrCat(caller.Describe(), " cannot ", VerbName(verb),
                                                    " ", kind.plural, where, ": ", why));
  };
  if (caller.agent) return denied("node agents only register and send heartbeats");
  if (!kind.namespaced) {
    if (IsRead(verb)) return absl::OkStatus();
    return denied("cluster-scoped objects are changed by cluster admins only");
  }
  if (ns.empty()) return denied("name a namespace with -n");
  std::vector<std::string> granted = Namespaces(caller.user);
  if (std::find(granted.begin(), granted.end(), ns) != granted.end()) return absl::OkStatus();
  return denied(granted.empty() ? "no namespace is granted to this user"
                                : "granted namespaces are " + absl::StrJoin(granted, ", "));
}

std::vector<std::string> AccessControl::Namespaces(const std::string& user) const {
  std::vector<std::string> out;
  auto rec = store_.Get(ObjectKey{kAccessGrantKind, "", user});
  if (!rec.ok()) return out;
  for (const Json& ns : JsonAt(*rec, "/spec/namespaces")) {
    if (ns.is_string()) out.push_back(ns.get<std::string>());
  }
  std::sort(out.begin(), out.end());
  return out;
}

absl::StatusOr<Json> AccessControl::Grant(const std::string& user, const std::string& ns,
                                          bool revoke) {
  if (absl::Status s = CheckUserName(user); !s.ok()) return s;
  if (absl::Status s = CheckNamespaceName(ns); !s.ok()) return s;
  ObjectKey key{kAccessGrantKind, "", user};
  for (int attempt = 0; attempt < 5; ++attempt) {
    auto rec = store_.Get(key);
    if (!rec.ok() && !absl::IsNotFound(rec.status())) return rec.status();
    if (!rec.ok()) {
      if (revoke) return absl::NotFoundError(absl::StrCat("user \"", user, "\" has no grants"));
      Json obj = {{"apiVersion", "berth.io/v1"},
                  {"kind", kAccessGrantKind},
                  {"metadata", {{"name", user}}},
                  {"spec", {{"namespaces", Json::array({ns})}}}};
      auto created = store_.Create(obj);
      if (absl::IsAlreadyExists(created.status())) continue;
      return created;
    }
    std::vector<std::string> list = Namespaces(user);
    auto at = std::find(list.begin(), list.end(), ns);
    if (revoke) {
      if (at == list.end()) {
        return absl::NotFoundError(
            absl::StrCat("user \"", user, "\" has no grant of namespace \"", ns, "\""));
      }
      list.erase(at);
    } else if (at == list.end()) {
      list.push_back(ns);
      std::sort(list.begin(), list.end());
    } else {
      return *rec;
    }
    Json obj = *rec;
    obj["spec"]["namespaces"] = list;
    auto written = store_.Update(obj);
    if (absl::IsAborted(written.status()) || absl::IsFailedPrecondition(written.status())) continue;
    return written;
  }
  return absl::AbortedError("grant: too many concurrent updates");
}

absl::StatusOr<std::vector<Json>> AccessControl::ListGrants() const {
  uint64_t rv = 0;
  return store_.List(kAccessGrantKind, "", &rv);
}

absl::StatusOr<Json> AccessControl::IssueToken(const std::string& user, bool admin,
                                               absl::Duration ttl) {
  if (absl::Status s = CheckUserName(user); !s.ok()) return s;
  if (ttl < absl::ZeroDuration()) return absl::InvalidArgumentError("--ttl must not be negative");
  auto id = RandomHex(8);
  if (!id.ok()) return id.status();
  auto secret = RandomHex(32);
  if (!secret.ok()) return secret.status();
  std::string expires = ttl == absl::ZeroDuration() ? "" : FormatRfc3339(clock_.Now() + ttl);
  Json obj = {
      {"apiVersion", "berth.io/v1"},
      {"kind", kAccessTokenKind},
      {"metadata", {{"name", *id}}},
      {"spec",
       {{"user", user}, {"admin", admin}, {"sha256", Sha256Hex(*secret)}, {"expiresAt", expires}}}};
  auto created = store_.Create(obj);
  if (!created.ok()) return created.status();
  return Json{{"id", *id},
              {"token", absl::StrCat(kTokenPrefix, *id, "_", *secret)},
              {"user", user},
              {"admin", admin},
              {"expiresAt", expires}};
}

absl::Status AccessControl::RevokeToken(const std::string& id) {
  auto deleted = store_.Delete(ObjectKey{kAccessTokenKind, "", id});
  if (absl::IsNotFound(deleted.status())) {
    return absl::NotFoundError(absl::StrCat("no token with id \"", id, "\""));
  }
  return deleted.status();
}

absl::StatusOr<std::vector<Json>> AccessControl::ListTokens() const {
  uint64_t rv = 0;
  auto list = store_.List(kAccessTokenKind, "", &rv);
  if (!list.ok()) return list.status();
  for (Json& t : *list) t["spec"].erase("sha256");
  return list;
}

}  // namespace berth::controller
