// Mutual TLS for every gRPC connection: credentials built from a TLS directory, and the
// identity of the peer that presented a client certificate.
//
// A TLS directory holds ca.crt (the cluster CA), tls.crt (this process's certificate chain) and
// tls.key (its private key), as `scripts/certs` writes them. The files are watched: replacing
// them rotates the certificate without a restart (gRPC re-reads them every reload_seconds).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "grpcpp/security/credentials.h"
#include "grpcpp/security/server_credentials.h"
#include "grpcpp/server_context.h"

namespace berth {

// Certificate groups (the subject's O= values) that carry a role.
inline constexpr char kGroupClusterAdmins[] = "berth:cluster-admins";
inline constexpr char kGroupAgents[] = "berth:agents";
inline constexpr char kGroupControllers[] = "berth:controllers";

struct TlsFiles {
  std::string ca;    // PEM CA bundle peers are verified against
  std::string cert;  // PEM certificate (chain) presented to peers
  std::string key;   // PEM private key of cert
  int reload_seconds = 5;

  // ca.crt, tls.crt and tls.key inside dir.
  static TlsFiles FromDir(const std::string& dir);
  // Each file exists and is readable, the key matches the certificate and the certificate
  // chains to the CA; the error names the file that is wrong.
  absl::Status Check() const;
};

// Server credentials that require and verify a client certificate signed by files.ca: a peer
// without one is refused during the handshake, before any request is read.
std::shared_ptr<grpc::ServerCredentials> MutualTlsServerCredentials(const TlsFiles& files);
// Channel credentials presenting files.cert and verifying the server against files.ca
// (including its name: the server certificate must carry the dialled host as a SAN).
std::shared_ptr<grpc::ChannelCredentials> MutualTlsChannelCredentials(const TlsFiles& files);

// How a daemon or the CLI talks: mTLS from a directory, or plaintext when explicitly insecure.
struct Transport {
  bool insecure = true;
  TlsFiles files;

  static Transport Insecure() { return Transport{}; }
  static Transport Tls(TlsFiles f) { return Transport{false, std::move(f)}; }
  std::shared_ptr<grpc::ServerCredentials> ServerCredentials() const;
  // Server credentials refusing (UNAUTHENTICATED) every call whose client certificate carries
  // none of `groups`, before the call reaches a service. Plaintext when insecure.
  std::shared_ptr<grpc::ServerCredentials> ServerCredentialsFor(
      std::vector<std::string> groups) const;
  std::shared_ptr<grpc::ChannelCredentials> ChannelCredentials() const;
};

// Resolves a daemon's --tls_dir/--insecure pair: exactly one must be given. The error says what
// to pass.
absl::StatusOr<Transport> TransportFromFlags(const std::string& program, const std::string& tls_dir,
                                             bool insecure);

// The authenticated peer of a call: the client certificate's CN and O= values. Empty name when
// the connection is not TLS.
struct PeerIdentity {
  std::string name;
  std::vector<std::string> groups;
  bool InGroup(const std::string& group) const;
};
PeerIdentity PeerOf(const grpc::ServerContext& context);
// Parses an RFC 2253 subject string ("CN=admin,O=berth:cluster-admins") into an identity.
PeerIdentity ParseSubject(const std::string& subject);

}  // namespace berth
