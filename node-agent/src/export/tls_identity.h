// The export server's TLS identity: a configured certificate or a generated self-signed one.
#ifndef BERTH_AGENT_SRC_EXPORT_TLS_IDENTITY_H_
#define BERTH_AGENT_SRC_EXPORT_TLS_IDENTITY_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "berth/exportwire/export_wire.h"

namespace berth::agent {

struct TlsIdentity {
  std::string cert_pem;  // what clients pin (the CA for a configured chain)
  std::string key_pem;
};

// Generates an ECDSA P-256 self-signed certificate valid for 10 years whose subjectAltName
// lists `names` (IP literals become IP entries, the rest DNS entries).
absl::StatusOr<TlsIdentity> GenerateSelfSigned(const std::vector<std::string>& names);
// Reads PEM files.
absl::StatusOr<TlsIdentity> LoadIdentity(const std::string& cert_file, const std::string& key_file);
// Returns a server context for `id` (TLS 1.2+, AES-GCM first, no renegotiation).
absl::StatusOr<exportwire::UniqueSslCtx> NewServerContext(const TlsIdentity& id);

}  // namespace berth::agent

#endif  // BERTH_AGENT_SRC_EXPORT_TLS_IDENTITY_H_
