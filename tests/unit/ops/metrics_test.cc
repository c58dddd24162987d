#include "berth/metrics.h"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdlib>
#include <thread>

#include "absl/strings/match.h"
#include "berth/metrics_server.h"
#include "berth/sd_notify.h"

namespace berth::metrics {
namespace {

bool Contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

TEST_CASE("counters render with labels, help and type, sorted by name") {
  Registry r;
  auto& rec = r.AddCounter("berth_reconcile_total", "Reconcile passes.", {"kind", "result"});
  rec.With({"VirtualDisk", "ok"}).Inc();
  rec.With({"VirtualDisk", "ok"}).Inc(2);
  rec.With({"VirtualDisk", "error"}).Inc();
  rec.With({"VirtualDisk", "error"}).Inc(-5);  // counters never go down
  r.AddGauge("berth_a_gauge", "A gauge.").With({}).Set(-1.5);
  std::string text = r.Render();
  CHECK(Contains(text,
                 "# HELP berth_reconcile_total Reconcile passes.\n"
                 "# TYPE berth_reconcile_total counter\n"
                 "berth_reconcile_total{kind=\"VirtualDisk\",result=\"error\"} 1\n"
                 "berth_reconcile_total{kind=\"VirtualDisk\",result=\"ok\"} 3\n"));
  CHECK(Contains(text, "berth_a_gauge -1.5\n"));
  CHECK(text.find("berth_a_gauge") < text.find("berth_reconcile_total"));
}

TEST_CASE("asking twice for a family returns the same one") {
  Registry r;
  r.AddCounter("c", "help", {"k"}).With({"x"}).Inc();
  r.AddCounter("c", "other help", {"k"}).With({"x"}).Inc();
  CHECK(r.AddCounter("c", "", {"k"}).With({"x"}).Value() == 2);
}

TEST_CASE("histograms are cumulative with +Inf, sum and count") {
  Registry r;
  auto& h = r.AddHistogram("berth_freeze_seconds", "Freeze windows.", {"node"}, {0.1, 1, 10});
  auto& n1 = h.With({"n1"});
  n1.Observe(0.05);
  n1.Observe(0.1);  // le is inclusive
  n1.Observe(0.5);
  n1.Observe(50);
  CHECK(n1.CumulativeCount(0) == 2);
  CHECK(n1.CumulativeCount(1) == 3);
  CHECK(n1.CumulativeCount(2) == 3);
  CHECK(n1.CumulativeCount(3) == 4);
  std::string text = r.Render();
  CHECK(Contains(text, "# TYPE berth_freeze_seconds histogram\n"));
  CHECK(Contains(text, "berth_freeze_seconds_bucket{node=\"n1\",le=\"0.1\"} 2\n"));
  CHECK(Contains(text, "berth_freeze_seconds_bucket{node=\"n1\",le=\"1\"} 3\n"));
  CHECK(Contains(text, "berth_freeze_seconds_bucket{node=\"n1\",le=\"10\"} 3\n"));
  CHECK(Contains(text, "berth_freeze_seconds_bucket{node=\"n1\",le=\"+Inf\"} 4\n"));
  CHECK(Contains(text, "berth_freeze_seconds_sum{node=\"n1\"} 50.65\n"));
  CHECK(Contains(text, "berth_freeze_seconds_count{node=\"n1\"} 4\n"));
}

TEST_CASE("label values are escaped, values formatted as Prometheus reads them") {
  CHECK(EscapeLabelValue("a\"b\\c\nd") == "a\\\"b\\\\c\\nd");
  CHECK(FormatValue(3) == "3");
  CHECK(FormatValue(0.25) == "0.25");
  CHECK(FormatValue(1.0 / 0.0) == "+Inf");
  CHECK(FormatValue(-1.0 / 0.0) == "-Inf");
  CHECK(FormatValue(0.0 / 0.0) == "NaN");
  Registry r;
  r.AddGauge("g", "x").With({}).Set(0);
  r.AddCounter("c", "x", {"path"}).With({"/a\"b"}).Inc();
  CHECK(Contains(r.Render(), "c{path=\"/a\\\"b\"} 1\n"));
}

TEST_CASE("gauge callbacks are read at render time") {
  Registry r;
  int depth = 3;
  r.AddGaugeCallback({"berth_workqueue_depth", "Keys waiting.", {"kind"}, [&depth] {
                        return std::vector<std::pair<LabelValues, double>>{
                            {{"VirtualDisk"}, static_cast<double>(depth)}};
                      }});
  CHECK(Contains(r.Render(), "berth_workqueue_depth{kind=\"VirtualDisk\"} 3\n"));
  depth = 7;
  CHECK(Contains(r.Render(), "berth_workqueue_depth{kind=\"VirtualDisk\"} 7\n"));
}

TEST_CASE("concurrent increments are not lost") {
  Registry r;
  auto& fam = r.AddCounter("c", "x", {"t"});
  auto& hist = r.AddHistogram("h", "x", {}, {1});
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 10000; ++i) {
        fam.With({"same"}).Inc();
        hist.With({}).Observe(0.5);
      }
    });
  }
  for (auto& t : threads) t.join();
  CHECK(fam.With({"same"}).Value() == 40000);
  CHECK(hist.With({}).Count() == 40000);
  CHECK(hist.With({}).Sum() == 20000);
}

TEST_CASE("HTTP responses for /metrics, /healthz, /readyz and errors") {
  Registry r;
  r.AddCounter("berth_x_total", "x").With({}).Inc();
  bool ready = false;
  auto is_ready = [&ready] { return ready; };
  std::string m = HttpResponseFor("GET /metrics HTTP/1.1", r, is_ready);
  CHECK(absl::StartsWith(m, "HTTP/1.1 200 OK\r\n"));
  CHECK(Contains(m, "Content-Type: text/plain; version=0.0.4"));
  CHECK(Contains(m, "\r\n\r\n# HELP berth_x_total x\n"));
  CHECK(absl::StartsWith(HttpResponseFor("GET /readyz HTTP/1.1", r, is_ready), "HTTP/1.1 503"));
  ready = true;
  CHECK(absl::StartsWith(HttpResponseFor("GET /readyz HTTP/1.1", r, is_ready), "HTTP/1.1 200"));
  CHECK(absl::StartsWith(HttpResponseFor("GET /healthz HTTP/1.0", r, is_ready), "HTTP/1.1 200"));
  CHECK(absl::StartsWith(HttpResponseFor("GET /nope HTTP/1.1", r, is_ready), "HTTP/1.1 404"));
  CHECK(absl::StartsWith(HttpResponseFor("POST /metrics HTTP/1.1", r, is_ready), "HTTP/1.1 405"));
  CHECK(absl::StartsWith(HttpResponseFor("garbage", r, is_ready), "HTTP/1.1 400"));
  std::string head = HttpResponseFor("HEAD /metrics HTTP/1.1", r, is_ready);
  CHECK(absl::EndsWith(head, "\r\n\r\n"));
}

// Fetches http://127.0.0.1:PORT/PATH with curl (a real client, as Prometheus would be).
std::string Curl(int port, const std::string& path) {
  std::string cmd =
      "curl -sS --max-time 5 http://127.0.0.1:" + std::to_string(port) + path + " 2>/dev/null";
  FILE* p = popen(cmd.c_str(), "r");
  REQUIRE(p != nullptr);
  std::string out;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), p)) > 0) out.append(buf, n);
  pclose(p);
  return out;
}

TEST_CASE("the server answers curl on a free loopback port and stops cleanly") {
  Registry r;
  auto& c = r.AddCounter("berth_heartbeats_total", "Heartbeats.", {"node"});
  c.With({"node-1"}).Inc(5);
  auto server = MetricsServer::Start("127.0.0.1:0", r);
  REQUIRE(server.ok());
  int port = (*server)->port();
  REQUIRE(port > 0);
  CHECK((*server)->address() == "127.0.0.1:" + std::to_string(port));
  CHECK(Contains(Curl(port, "/metrics"), "berth_heartbeats_total{node=\"node-1\"} 5\n"));
  c.With({"node-1"}).Inc();
  CHECK(Contains(Curl(port, "/metrics"), "berth_heartbeats_total{node=\"node-1\"} 6\n"));
  CHECK(Curl(port, "/healthz") == "ok\n");
  // A second server cannot take the same port.
  auto clash = MetricsServer::Start("127.0.0.1:" + std::to_string(port), r);
  CHECK(absl::IsUnavailable(clash.status()));
  server->reset();
  CHECK(Curl(port, "/healthz").empty());
}

TEST_CASE("a bad listen address is InvalidArgument") {
  Registry r;
  CHECK(absl::IsInvalidArgument(MetricsServer::Start("no-port", r).status()));
  CHECK(absl::IsInvalidArgument(MetricsServer::Start("not-an-ip:80", r).status()));
}

// Receives one datagram on a unix socket bound at `path`.
std::string ReceiveOne(int fd) {
  char buf[512] = {};
  ssize_t n = recv(fd, buf, sizeof(buf) - 1, 0);
  return n > 0 ? std::string(buf, static_cast<size_t>(n)) : "";
}

TEST_CASE("sd_notify speaks to $NOTIFY_SOCKET and is a no-op without it") {
  unsetenv("NOTIFY_SOCKET");
  unsetenv("WATCHDOG_USEC");
  CHECK_FALSE(berth::NotifyReady());
  CHECK(berth::WatchdogInterval() == absl::ZeroDuration());
  CHECK_FALSE(berth::WatchdogPinger().active());

  std::string path = "/tmp/berth-notify-test-" + std::to_string(getpid());
  unlink(path.c_str());
  int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", path.c_str());
  REQUIRE(bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0);
  setenv("NOTIFY_SOCKET", path.c_str(), 1);
  CHECK(berth::NotifyReady("listening on 127.0.0.1:7443"));
  CHECK(ReceiveOne(fd) == "READY=1\nSTATUS=listening on 127.0.0.1:7443");
  CHECK(berth::NotifyStopping());
  CHECK(ReceiveOne(fd) == "STOPPING=1");

  // A watchdog for this pid: pings come every half period while healthy.
  setenv("WATCHDOG_USEC", "200000", 1);
  setenv("WATCHDOG_PID", std::to_string(getpid()).c_str(), 1);
  CHECK(berth::WatchdogInterval() == absl::Milliseconds(200));
  {
    berth::WatchdogPinger pinger;
    CHECK(pinger.active());
    CHECK(ReceiveOne(fd) == "WATCHDOG=1");
    CHECK(ReceiveOne(fd) == "WATCHDOG=1");
  }
  // An unhealthy daemon sends nothing.
  {
    berth::WatchdogPinger pinger([] { return false; });
    timeval tv{0, 300000};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    CHECK(ReceiveOne(fd).empty());
    CHECK(pinger.pings() == 0);
  }
  unsetenv("NOTIFY_SOCKET");
  unsetenv("WATCHDOG_USEC");
  unsetenv("WATCHDOG_PID");
  close(fd);
  unlink(path.c_str());
}

}  // namespace
}  // namespace berth::metrics

namespace berth::metrics {
namespace {

TEST_CASE("process metrics read this process") {
  Registry r;
  AddProcessMetrics(r);
  std::vector<char> ballast(64 << 20, 1);  // 64 MiB touched: RSS must be at least that
  std::string text = r.Render();
  auto value = [&](const std::string& name) {
    size_t at = text.find("\n" + name + " ");
    REQUIRE(at != std::string::npos);
    return std::strtod(text.c_str() + at + name.size() + 2, nullptr);
  };
  CHECK(value("process_resident_memory_bytes") >= 64.0 * (1 << 20));
  CHECK(value("process_threads") >= 1);
  CHECK(value("process_open_fds") >= 3);
  CHECK(value("process_start_time_seconds") > 1.6e9);
  CHECK(text.find("# TYPE process_cpu_seconds_total counter") != std::string::npos);
  CHECK(ballast[12345] == 1);
}

}  // namespace
}  // namespace berth::metrics
