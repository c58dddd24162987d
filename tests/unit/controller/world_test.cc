// Tests of the test harness itself (world.h): World::Settle routes store events the way the
// Manager does, honours requeue_after, retries retryable errors and reports the others.
#include "world.h"

#include <catch2/catch.hpp>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>

namespace berth::controller {
namespace {

// A reconciler of kind "Widget" whose behaviour each object's spec picks:
//   spec.fail: "InvalidArgument" or "Unavailable", returned for the first spec.times passes
//     (every pass when absent);
//   spec.poll: seconds of requeue_after; a pass at least that long after the last write (or
//     the first pass) writes status.count, up to spec.writes times; other passes only poll.
class WidgetReconciler : public Reconciler {
 public:
  WidgetReconciler(ObjectStore& store, std::function<absl::Time()> now)
      : store_(store), now_(std::move(now)) {}
  std::string Kind() const override { return "Widget"; }
  absl::StatusOr<ReconcileResult> Reconcile(const ObjectKey& key) override {
    auto got = store_.Get(key);
    if (absl::IsNotFound(got.status())) return ReconcileResult{};
    if (!got.ok()) return got.status();
    Json obj = *got;
    int pass = ++passes_[key.ToString()];
    Json spec = obj.value("spec", Json::object());
    std::string fail = spec.value("fail", "");
    if (!fail.empty() && pass <= spec.value("times", 1 << 30)) {
      if (fail == "Unavailable") return absl::UnavailableError("agent unreachable");
      return absl::InvalidArgumentError("widget \"" + key.name + "\" is malformed");
    }
    int poll = spec.value("poll", 0);
    if (poll == 0) return ReconcileResult{};
    int count =
        JsonAt(obj, "/status/count").is_number() ? JsonAt(obj, "/status/count").get<int>() : 0;
    absl::Time last = absl::FromUnixSeconds(
        JsonAt(obj, "/status/at").is_number() ? JsonAt(obj, "/status/at").get<int64_t>() : 0);
    if (count < spec.value("writes", 0) && (count == 0 || now_() - last >= absl::Seconds(poll))) {
      obj["status"]["count"] = count + 1;
      obj["status"]["at"] = absl::ToUnixSeconds(now_());
      auto written = store_.Update(obj);
      if (!written.ok()) return written.status();
    }
    return ReconcileResult{absl::Seconds(poll)};
  }

 private:
  ObjectStore& store_;
  std::function<absl::Time()> now_;
  std::map<std::string, int> passes_;
};

// Adds a WidgetReconciler to `w`.
void AddWidgets(World& w) {
  w.AddReconciler(std::make_unique<WidgetReconciler>(w.Store(), [&w] { return w.Now(); }));
}

Json Widget(const std::string& name, Json spec) {
  return {{"kind", "Widget"}, {"metadata", {{"name", name}}}, {"spec", std::move(spec)}};
}

// Runs only what is queued (or already due): no future requeue fires, the clock stays put.
SettleOptions EventsOnly() {
  SettleOptions o;
  o.quiet = absl::ZeroDuration();
  return o;
}

TEST_CASE("Settle: a disk's event reaches the snapshot waiting for it through Related") {
  World w;
  w.Snapshot("s1", "later");
  w.Snapshot("other", "elsewhere");
  w.Settle();
  REQUIRE(w.Phase("VirtualDiskSnapshot", "s1") == "Pending");
  REQUIRE(w.Phase("VirtualDiskSnapshot", "other") == "Pending");
  const int s1_passes = w.Passes("VirtualDiskSnapshot", "s1");
  const int other_passes = w.Passes("VirtualDiskSnapshot", "other");
  const absl::Time before = w.Now();
  w.Disk("later", "1Gi");
  w.Settle(EventsOnly());
  CHECK(w.Now() == before);  // no poll of the pending snapshot fired
  CHECK(w.Phase("VirtualDisk", "later") == "Ready");
  CHECK(w.Phase("VirtualDiskSnapshot", "s1") == "Ready");
  CHECK(w.Passes("VirtualDiskSnapshot", "s1") > s1_passes);
  // Not brute force: the snapshot of another disk was not looked at.
  CHECK(w.Passes("VirtualDiskSnapshot", "other") == other_passes);
}

TEST_CASE("Settle: every stored object is queued once at start, then only what events queue") {
  World w;
  AddWidgets(w);
  w.Apply(Widget("a", Json::object()));
  w.Apply(Widget("b", Json::object()));
  w.Settle();
  // Created before the first Settle: its event and the start's listing queue it, once.
  CHECK(w.Passes("Widget", "a") == 1);
  CHECK(w.Passes("Widget", "b") == 1);
  Json b = w.Get("Widget", "b");
  b["spec"]["changed"] = true;
  REQUIRE(w.Store().Update(b).ok());
  w.Settle();
  CHECK(w.Passes("Widget", "a") == 1);
  CHECK(w.Passes("Widget", "b") == 2);
  // Pass runs the kind's reconciler over all its objects regardless.
  w.Pass("Widget");
  CHECK(w.Passes("Widget", "a") == 2);
  CHECK(w.Passes("Widget", "b") == 3);
}

TEST_CASE("Settle: requeue_after moves the clock to the next due pass, until only polls remain") {
  World w;
  AddWidgets(w);
  const absl::Time start = w.Now();
  // Writes at 0s, 10s and 20s (each due poll writes; each write's own event runs one more pass,
  // which finds nothing to do), then only polls every 10s: those at 30s, 40s and 50s are
  // within `quiet` (30s) of the last write, the one at 60s is not.
  w.Apply(Widget("poller", {{"poll", 10}, {"writes", 3}}));
  w.Settle();
  Json poller = w.Get("Widget", "poller");
  CHECK(JsonAt(poller, "/status/count") == 3);
  CHECK(JsonAt(poller, "/status/at") == absl::ToUnixSeconds(start + absl::Seconds(20)));
  CHECK(w.Passes("Widget", "poller") == 9);
  CHECK(w.Now() - start == absl::Seconds(50));
  // A later Settle runs the polls due within `quiet` of its start: 60s, 70s, 80s.
  w.Settle();
  CHECK(w.Passes("Widget", "poller") == 12);
  CHECK(w.Now() - start == absl::Seconds(80));
  w.Settle(EventsOnly());
  CHECK(w.Passes("Widget", "poller") == 12);
}

TEST_CASE("Settle: retryable errors are retried with backoff, others recorded and not retried") {
  World w;
  AddWidgets(w);
  const absl::Time start = w.Now();
  w.Apply(Widget("flaky", {{"fail", "Unavailable"}, {"times", 3}}));
  w.Apply(Widget("bad", {{"fail", "InvalidArgument"}}));
  w.Settle(SettleOptions::AllowingErrors());
  // Three failures, retried after 20, 40 and 80 ms (WorkQueue's backoff), then a success.
  CHECK(w.Passes("Widget", "flaky") == 4);
  CHECK(w.Retries() == 3);
  REQUIRE_FALSE(w.Retried().empty());
  CHECK(w.Retried()[0].key.ToString() == "Widget/default/flaky");
  CHECK(w.Retried()[0].status.code() == absl::StatusCode::kUnavailable);
  CHECK(w.Now() - start == absl::Milliseconds(140));
  // Not retryable: recorded once, the key waits for a change.
  CHECK(w.Passes("Widget", "bad") == 1);
  REQUIRE(w.Errors().size() == 1);
  CHECK(w.Errors()[0].key.ToString() == "Widget/default/bad");
  CHECK(w.Errors()[0].status.code() == absl::StatusCode::kInvalidArgument);
  CHECK(w.Errors()[0].status.message() == "widget \"bad\" is malformed");
  // A change of the object runs it again, and the error is recorded again.
  Json bad = w.Get("Widget", "bad");
  bad["metadata"]["labels"] = {{"touched", "yes"}};
  REQUIRE(w.Store().Update(bad).ok());
  w.ExpectErrors();
  w.Settle();
  CHECK(w.Passes("Widget", "bad") == 2);
  CHECK(w.Errors().size() == 2);
  CHECK(w.Retries() == 3);
}

}  // namespace
}  // namespace berth::controller
