// The daemons' listener code under AddressSanitizer and LeakSanitizer, for the floods of
// tests/fuzz/listener_asan_soak.sh: the metrics server (plain, a thread per served connection),
// a TLS listener (non-blocking handshakes, then a thread answering one HTTP request) and a
// hand-off listener (the gRPC path: the socket goes to another owner, the listener watches a
// duplicate). Writes NAME=PORT lines to --ports_file, serves until SIGTERM, then tears
// everything down and prints each listener's counters; LeakSanitizer checks at exit.
#include <fcntl.h>
#include <signal.h>
#include <sys/socket.h>

#include <cstring>
#include <deque>
#include <fstream>
#include <iostream>
#include <thread>

#include "absl/synchronization/mutex.h"
#include "berth/metrics.h"
#include "berth/metrics_server.h"
#include "berth/net/listener.h"
#include "self_signed_tls.h"

namespace {

using berth::net::Connection;
using berth::net::Listener;
using berth::net::ListenerConfig;

const char kNotFound[] = "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
const char kOk[] = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";

// Reads one request head over TLS and answers 404, as the export server does for an unknown id.
void AnswerTls(Connection c) {
  std::string head;
  char buf[1024];
  while (head.find("\r\n\r\n") == std::string::npos && head.size() < 8192) {
    int n = SSL_read(c.ssl.get(), buf, sizeof(buf));
    if (n <= 0) return;
    head.append(buf, static_cast<size_t>(n));
  }
  SSL_write(c.ssl.get(), kNotFound, sizeof(kNotFound) - 1);
  SSL_shutdown(c.ssl.get());
}

// The hand-off listener's other owner: one thread answers each handed-off socket in turn (one
// request, a 200), then shuts it down and closes it, as gRPC does with a connection it ends.
class Owner {
 public:
  Owner() : thread_([this] { Run(); }) {}
  ~Owner() {
    {
      absl::MutexLock l(&mu_);
      stop_ = true;
    }
    thread_.join();
    for (int fd : queue_) close(fd);
  }
  void Take(int fd) {
    absl::MutexLock l(&mu_);
    queue_.push_back(fd);
  }

 private:
  void Run() {
    for (;;) {
      int fd;
      {
        absl::MutexLock l(&mu_);
        auto ready = [this] { return stop_ || !queue_.empty(); };
        mu_.AwaitWithTimeout(absl::Condition(&ready), absl::Milliseconds(100));
        if (stop_) return;
        if (queue_.empty()) continue;
        fd = queue_.front();
        queue_.pop_front();
      }
      fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
      berth::net::SetIoTimeout(fd, absl::Seconds(2));
      char buf[1024];
      if (recv(fd, buf, sizeof(buf), 0) > 0) {
        send(fd, kOk, sizeof(kOk) - 1, MSG_NOSIGNAL);
      }
      shutdown(fd, SHUT_RDWR);
      close(fd);
    }
  }

  absl::Mutex mu_;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  std::deque<int> queue_ ABSL_GUARDED_BY(mu_);
  std::thread thread_;
};

void Print(const char* name, const berth::net::ListenerCounts& c) {
  std::cout << name << ": accepted=" << c.accepted
            << " refused=" << c.refused_capacity + c.refused_peer + c.refused_not_allowed
            << " dropped="
            << c.dropped_first_byte + c.dropped_handshake + c.dropped_tls_error + c.dropped_idle
            << " abandoned=" << c.abandoned << " served=" << c.served << " open=" << c.open << "\n";
}

}  // namespace

int main(int argc, char** argv) {
  std::string ports_file;
  for (int i = 1; i < argc; ++i) {
    if (strncmp(argv[i], "--ports_file=", 13) == 0) ports_file = argv[i] + 13;
  }
  if (ports_file.empty()) {
    std::cerr << "usage: listener_soak --ports_file=FILE\n";
    return 2;
  }
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  signal(SIGPIPE, SIG_IGN);

  berth::metrics::Registry registry;
  auto metrics = berth::metrics::MetricsServer::Start(
      "127.0.0.1:0", registry, nullptr, berth::metrics::MetricsServer::DefaultLimits(), &registry);
  ListenerConfig tls;
  tls.name = "tls";
  tls.listen = "127.0.0.1:0";
  tls.metrics = &registry;
  std::shared_ptr<SSL_CTX> ctx = berth::testing::SelfSignedServerContext();
  tls.tls = [ctx] { return ctx; };
  auto tls_listener = Listener::Serve(tls, AnswerTls);
  auto owner = std::make_unique<Owner>();
  ListenerConfig hand;
  hand.name = "handoff";
  hand.listen = "127.0.0.1:0";
  hand.metrics = &registry;
  hand.wait_client_hello = true;
  auto handoff = Listener::HandOffTo(hand, [o = owner.get()](int fd) { o->Take(fd); });
  if (!metrics.ok() || !tls_listener.ok() || !handoff.ok()) {
    std::cerr << "listener_soak: cannot listen\n";
    return 1;
  }
  std::ofstream(ports_file) << "metrics=" << (*metrics)->port()
                            << "\ntls=" << (*tls_listener)->port()
                            << "\nhandoff=" << (*handoff)->port() << "\n";
  int sig = 0;
  sigwait(&signals, &sig);
  Print("tls", (*tls_listener)->Counts());
  Print("handoff", (*handoff)->Counts());
  metrics->reset();
  tls_listener->reset();
  handoff->reset();  // before the owner: the listener's hand-off calls into it
  owner.reset();
  std::cout << "listener_soak: stopped cleanly\n";
  return 0;
}
