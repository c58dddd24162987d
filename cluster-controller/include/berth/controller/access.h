// Who may do what: callers are authenticated by their client certificate (CN = user,
// O = groups) or by a bearer token an admin issued, and authorized per namespace.
//
// Roles:
//   cluster admin   O=berth:cluster-admins, or a token issued with --admin: everything.
//   agent           O=berth:agents: registers and heartbeats as the node named by its CN only.
//   namespace user  anyone else: get/list/watch/apply/delete objects in the namespaces an admin
//                   granted them; read (never write) cluster-scoped kinds.
// Grants and token hashes live in the store under kinds the resource API does not serve
// (AccessGrant, AccessToken), so they survive restarts and no user can read them.
#ifndef BERTH_CONTROLLER_ACCESS_H_
#define BERTH_CONTROLLER_ACCESS_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "berth/controller/object_store.h"
#include "berth/json.h"
#include "berth/kinds.h"
#include "berth/time_util.h"
#include "berth/tls.h"
#include "grpcpp/server_context.h"

namespace berth::controller {

inline constexpr char kAccessGrantKind[] = "AccessGrant";
inline constexpr char kAccessTokenKind[] = "AccessToken";

struct Caller {
  std::string user;
  std::vector<std::string> groups;
  bool admin = false;
  bool agent = false;
  std::string via;  // certificate, token, insecure
  std::string Describe() const;
};

enum class Verb { kGet, kList, kWatch, kApply, kDelete };
const char* VerbName(Verb v);

class AccessControl {
 public:
  // insecure: the transport has no client certificates; every caller is an admin.
  AccessControl(ObjectStore& store, const Clock& clock, bool insecure);

  // The caller of a call: a bearer token ("authorization: Bearer ...") when sent, else the
  // client certificate. UNAUTHENTICATED for a bad or expired token or no certificate.
  absl::StatusOr<Caller> Authenticate(const grpc::ServerContext& context) const;

  // PERMISSION_DENIED naming the user, verb, kind and namespace when not allowed.
  // ns is "" for cluster-scoped kinds and for list/watch across every namespace.
  absl::Status Authorize(const Caller& caller, Verb verb, const KindInfo& kind,
                         const std::string& ns) const;
  absl::Status RequireAdmin(const Caller& caller, const std::string& what) const;

  // Namespaces granted to user (sorted).
  std::vector<std::string> Namespaces(const std::string& user) const;
  // Adds (or with revoke removes) a namespace grant; returns the user's grant object.
  absl::StatusOr<Json> Grant(const std::string& user, const std::string& ns, bool revoke);
  absl::StatusOr<std::vector<Json>> ListGrants() const;
  // Issues a token for user; the secret is returned once ({"id","token","user","admin",
  // "expiresAt"}) and only its SHA-256 is stored. ttl 0: never expires.
  absl::StatusOr<Json> IssueToken(const std::string& user, bool admin, absl::Duration ttl);
  absl::Status RevokeToken(const std::string& id);
  absl::StatusOr<std::vector<Json>> ListTokens() const;  // without hashes

  // The caller a verified client certificate names: CN the user, O the groups.
  Caller FromCertificate(const PeerIdentity& id) const;

  // The caller a bearer token stands for; UNAUTHENTICATED when malformed, unknown, revoked
  // or expired.
  absl::StatusOr<Caller> FromToken(const std::string& token) const;

  bool insecure() const { return insecure_; }

 private:
  ObjectStore& store_;
  const Clock& clock_;
  const bool insecure_;
};

}  // namespace berth::controller

#endif  // BERTH_CONTROLLER_ACCESS_H_
