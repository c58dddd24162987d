#ifndef BERTH_TESTS_UNIT_STORE_ETCD_SERVER_H_
#define BERTH_TESTS_UNIT_STORE_ETCD_SERVER_H_

// A private etcd server for tests: Debian's etcd-server ($BERTH_ETCD, else `etcd` on PATH) on
// free loopback ports, its data in a temporary directory (on tmpfs when there is one: etcd
// fsyncs every commit). Started by the constructor, killed and removed by the destructor;
// killed with the test binary too (PR_SET_PDEATHSIG).

#include <sys/types.h>

#include <string>

namespace berth::controller::testing {

class EtcdServer {
 public:
  // `tls_dir` empty: plaintext (http://). Else a bundle as scripts/certs writes it (ca.crt,
  // tls.crt, tls.key): the server serves https:// with tls.crt and requires client
  // certificates signed by ca.crt.
  explicit EtcdServer(const std::string& tls_dir = "");
  ~EtcdServer();
  EtcdServer(const EtcdServer&) = delete;
  EtcdServer& operator=(const EtcdServer&) = delete;

  // The plaintext server shared by a test binary's test cases, started on first use.
  static EtcdServer& Shared();

  // Kills etcd with SIGKILL (no clean shutdown), then starts it again on the same data and
  // ports; returns once it answers (else error() says why).
  void KillAndRestart();

  // "http://127.0.0.1:PORT" or "https://127.0.0.1:PORT".
  const std::string& endpoint() const { return endpoint_; }
  // Empty once the server answers; else why it did not start.
  const std::string& error() const { return error_; }

 private:
  void Start();
  void WaitReady(const std::string& log);

  std::string dir_;
  std::string tls_dir_;
  std::string endpoint_;
  std::string peer_url_;
  std::string error_;
  pid_t pid_ = -1;
};

}  // namespace berth::controller::testing

#endif  // BERTH_TESTS_UNIT_STORE_ETCD_SERVER_H_
