// Mutual TLS for the OpenSSL-side servers and clients (disk exports, USB/IP between agents): an
// SSL_CTX built from a TLS directory (berth::TlsFiles: ca.crt, tls.crt, tls.key) that is rebuilt
// when the files change, so rotating certificates needs no restart, and the verified identity of
// the peer of a connection. Part of berth_export_wire (linked by the agent and the CLI).
#ifndef BERTH_AGENT_TLS_CONTEXT_H_
#define BERTH_AGENT_TLS_CONTEXT_H_

#include <openssl/ssl.h>
#include <sys/types.h>

#include <array>
#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "berth/exportwire/export_wire.h"
#include "berth/tls.h"

namespace berth::exportwire {

// An SSL_CTX built from TlsFiles, rebuilt on change. Thread-safe.
//
// Server: presents files.cert/key and requires a client certificate that verifies against
// files.ca (SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT): a peer without one fails the
// handshake, before any request byte is read. Client: presents files.cert/key and verifies the
// server against files.ca; net::ConfigureClient adds the host name / IP check per connection.
class ReloadingTlsContext {
 public:
  enum class Role { kServer, kClient };

  // Builds the first context; an error names the file that is wrong. `own_chain_from_ca`: the
  // certificate must chain to files.ca (false for a server certificate from another CA that
  // still verifies its clients against files.ca).
  static absl::StatusOr<std::shared_ptr<ReloadingTlsContext>> Create(Role role,
                                                                     const TlsFiles& files,
                                                                     bool own_chain_from_ca = true);

  // The current context. At most every files.reload_seconds (0: every call) it compares the
  // three files' inode, size and mtime with those it was built from and rebuilds on a change.
  // A rebuild that fails (e.g. a half-rotated pair: new key, old certificate) keeps the previous
  // context and is retried at the next check. SSL_new takes its own reference, so connections
  // outlive a rotation.
  std::shared_ptr<SSL_CTX> Get();
  // The PEM text of files.ca the current context trusts (what clients pin).
  std::string CaPem();
  // How many times the context was built (1 after Create).
  int generation();
  const TlsFiles& files() const { return files_; }
  Role role() const { return role_; }

 private:
  struct Stamp {
    std::array<ino_t, 3> ino{};
    std::array<off_t, 3> size{};
    std::array<int64_t, 3> mtime_ns{};
    bool operator==(const Stamp& o) const {
      return ino == o.ino && size == o.size && mtime_ns == o.mtime_ns;
    }
  };
  ReloadingTlsContext(Role role, TlsFiles files, bool check_chain)
      : role_(role), files_(std::move(files)), check_chain_(check_chain) {}
  absl::StatusOr<Stamp> Stat() const;
  absl::StatusOr<std::shared_ptr<SSL_CTX>> Build(std::string* ca_pem) const;

  const Role role_;
  const TlsFiles files_;
  const bool check_chain_;
  absl::Mutex mu_;
  std::shared_ptr<SSL_CTX> ctx_ ABSL_GUARDED_BY(mu_);
  std::string ca_pem_ ABSL_GUARDED_BY(mu_);
  Stamp stamp_ ABSL_GUARDED_BY(mu_);
  Stamp failed_ ABSL_GUARDED_BY(mu_);  // last stamp a rebuild failed for (logged once)
  absl::Time checked_ ABSL_GUARDED_BY(mu_);
  int generation_ ABSL_GUARDED_BY(mu_) = 0;
};

// Presents `cert_file` (chain) and `key_file` on a client context (e.g. one from
// NewClientContext that pins an export's CA).
absl::Status UseCertificate(SSL_CTX* ctx, const std::string& cert_file,
                            const std::string& key_file);

// The per-connection helpers (ConfigureClient, VerifiedPeer, HandshakeError) are in
// berth/net/stream.h.

}  // namespace berth::exportwire

#endif  // BERTH_AGENT_TLS_CONTEXT_H_
