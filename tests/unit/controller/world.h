// A test world for reconcilers: a real SQLite store in a temporary directory, a simulated clock,
// a fake agent per node and every reconciler, driven by the store's events as the Manager
// drives them, until nothing changes — deterministic, no threads.
#ifndef BERTH_TESTS_UNIT_CONTROLLER_WORLD_H_
#define BERTH_TESTS_UNIT_CONTROLLER_WORLD_H_

#include <algorithm>
#include <catch2/catch.hpp>
#include <deque>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "berth/controller/controllers.h"
#include "berth/controller/status_util.h"
#include "berth/kinds.h"
#include "fake_agent.h"

namespace berth::controller {

// How World::Settle runs.
struct SettleOptions {
  // Settle stops once nothing is queued and the earliest requeue is due more than `quiet`
  // after the last store change (or the start of Settle): what is left is polling that changes
  // nothing. Zero: only what is queued or already due runs; the clock does not move.
  absl::Duration quiet = absl::Seconds(30);
  // Bounds, so a flow that never settles fails the test instead of looping: simulated time
  // Settle may advance, and reconcile passes it may run.
  absl::Duration max_time = absl::Hours(1);
  int max_passes = 100000;
  // Non-retryable reconcile errors do not fail the test (they are in World::Errors()).
  bool allow_errors = false;

  static SettleOptions AllowingErrors() {
    SettleOptions o;
    o.allow_errors = true;
    return o;
  }
};

// A reconcile pass that failed.
struct ReconcileError {
  ObjectKey key;
  absl::Status status;
  absl::Time at;  // simulated time
};

class World {
 public:
  World() : dir_(MakeDir()), clock_(absl::FromUnixSeconds(1700000000)), tracker_(clock_) {
    config_.storage_classes = {{"local-reflink", "reflink"}, {"local-copy", "copy"}};
    config_.default_storage_class = "local-reflink";
    store_ = *OpenSqliteStore(dir_, clock_);
    const ReconcilerDeps deps{*store_, agents_, clock_, config_, tracker_};
    for (ReconcilerFactory f :
         {NewVirtualDiskReconciler, NewVirtualDiskSnapshotReconciler, NewVirtualMachineReconciler,
          NewVirtualMachineOperationReconciler, NewVirtualMachineSnapshotReconciler,
          NewVirtualMachineSnapshotOperationReconciler, NewIPAddressReconciler,
          NewMACAddressReconciler}) {
      recs_.push_back(f(deps));
    }
    queues_.resize(recs_.size());
    // Every change from here on is routed by Settle (Manager::Start watches from 0 too).
    auto id = store_->Watch(0, [this](const StoreEvent& e) {
      absl::MutexLock l(&events_mu_);
      events_.push_back(e);
    });
    REQUIRE(id.ok());
    watch_id_ = *id;
    Json node = {{"apiVersion", kApiVersion}, {"kind", "Node"}, {"metadata", {{"name", "n1"}}}};
    node["status"] = {{"address", "fake"},
                      {"pools", Json::array({{{"name", "reflink"}}, {{"name", "copy"}}})},
                      {"conditions", Json::array({{{"type", "Ready"}, {"status", "True"}}})}};
    REQUIRE(store_->Create(node).ok());
  }
  ~World() {
    store_->Unwatch(watch_id_);
    std::filesystem::remove_all(dir_);
  }

  Json Apply(Json obj) {
    obj["apiVersion"] = obj["kind"] == "Secret" ? "v1" : kApiVersion;
    if (!obj["metadata"].contains("namespace")) obj["metadata"]["namespace"] = "default";
    auto created = store_->Create(obj);
    REQUIRE(created.ok());
    return *created;
  }
  Json Get(const std::string& kind, const std::string& name) {
    auto obj = store_->Get(ObjectKey{kind, "default", name});
    REQUIRE(obj.ok());
    return *obj;
  }
  bool Exists(const std::string& kind, const std::string& name) {
    return store_->Get(ObjectKey{kind, "default", name}).ok();
  }
  void Delete(const std::string& kind, const std::string& name) {
    REQUIRE(store_->Delete(ObjectKey{kind, "default", name}).ok());
  }
  // Drives the reconcilers the way Manager (cluster-controller/src/runtime/manager.cc) does, on
  // one thread and in a deterministic order: every store event queues its own key for its kind's
  // reconciler and the keys each reconciler's Related returns; each kind has a de-duplicated FIFO
  // queue, run round-robin by kind. A pass's result is handled as Manager::Work does: an ok
  // result's requeue_after queues the key again later, a retryable error retries it with the
  // work queue's backoff (counted in Retries()), any other error is recorded (Errors()). When
  // nothing is queued, the clock jumps to the earliest requeue, until only polling that changes
  // nothing is left (see SettleOptions::quiet). The first Settle queues every stored object,
  // as Manager::Start does. Fails the test on a recorded non-retryable error unless the options
  // or ExpectErrors() allow errors, and when the bounds are reached (a flow that never settles).
  void Settle(const SettleOptions& opts = SettleOptions()) {
    Start();
    const absl::Time start = clock_.Now();
    absl::Time last_change = start;
    uint64_t version = store_->CurrentVersion();
    int passes = 0;
    while (true) {
      Route();
      bool ran = false;
      for (size_t i = 0; i < recs_.size(); ++i) {
        // The keys ready when this kind's turn starts; those queued meanwhile wait a round.
        for (size_t n = queues_[i].ready.size(); n > 0 && !queues_[i].ready.empty(); --n) {
          ObjectKey key = queues_[i].ready.front();
          queues_[i].ready.pop_front();
          queues_[i].queued.erase(key.ToString());
          RunPass(i, key);
          ran = true;
          if (++passes > opts.max_passes) {
            FAIL("Settle: more than " << opts.max_passes << " reconcile passes (last "
                                      << key.ToString() << "): the reconcilers do not settle");
          }
        }
      }
      if (store_->CurrentVersion() != version) {
        version = store_->CurrentVersion();
        last_change = clock_.Now();
      }
      if (ran) continue;
      // Nothing ready: wait for the earliest requeue, unless it only polls (nothing changed
      // for `quiet`).
      std::optional<absl::Time> due = EarliestDue();
      if (!due || *due > last_change + opts.quiet) break;
      if (*due - start > opts.max_time) {
        FAIL("Settle: still busy after " << absl::FormatDuration(opts.max_time)
                                         << " of simulated time: the reconcilers do not settle");
      }
      if (*due > clock_.Now()) clock_.Advance(*due - clock_.Now());
      PromoteDue();
    }
    CheckErrors(opts.allow_errors || expect_errors_);
  }
  // Runs only the reconciler of `kind` once over all its objects (to stop a flow mid-way);
  // results are handled as in Settle (errors recorded, retries and requeues queued for the next
  // Settle, which also reports the errors). Then advances the clock by a second.
  void Pass(const std::string& kind) {
    for (size_t i = 0; i < recs_.size(); ++i) {
      if (recs_[i]->Kind() != kind) continue;
      auto objs = store_->List(kind, "");
      REQUIRE(objs.ok());
      for (const Json& o : *objs) RunPass(i, ObjectKey::Of(o));
    }
    clock_.Advance(absl::Seconds(1));
  }
  // Settle no longer fails the test on non-retryable reconcile errors (they stay in Errors()).
  void ExpectErrors() { expect_errors_ = true; }
  // The non-retryable reconcile errors recorded so far, oldest first.
  const std::vector<ReconcileError>& Errors() const { return errors_; }
  // The retryable reconcile errors so far, each one retried with backoff, oldest first.
  const std::vector<ReconcileError>& Retried() const { return retried_; }
  int Retries() const { return static_cast<int>(retried_.size()); }
  // Reconcile passes run so far for `kind`/default/`name` (by Settle and Pass).
  int Passes(const std::string& kind, const std::string& name) const {
    auto it = passes_.find(ObjectKey{kind, "default", name}.ToString());
    return it == passes_.end() ? 0 : it->second;
  }
  // Adds a reconciler (e.g. a test double) after the standard ones. Its objects are queued at
  // the next Settle.
  void AddReconciler(std::unique_ptr<Reconciler> r) {
    recs_.push_back(std::move(r));
    queues_.emplace_back();
    if (started_) {
      auto objs = store_->List(recs_.back()->Kind(), "");
      REQUIRE(objs.ok());
      for (const Json& o : *objs) Add(recs_.size() - 1, ObjectKey::Of(o));
    }
  }
  void Advance(absl::Duration d) { clock_.Advance(d); }
  absl::Time Now() const { return clock_.Now(); }
  std::shared_ptr<FakeAgentClient> Agent() { return agents_.Node("n1"); }
  // The reconciler of `kind` (e.g. to ask it for Related keys).
  Reconciler& Rec(const std::string& kind) {
    for (auto& r : recs_) {
      if (r->Kind() == kind) return *r;
    }
    FAIL("no reconciler for " << kind);
    return *recs_.front();
  }
  ObjectStore& Store() { return *store_; }

  Json Disk(const std::string& name, const std::string& size, const std::string& from = "") {
    Json d = {{"kind", "VirtualDisk"},
              {"metadata", {{"name", name}}},
              {"spec", {{"persistentVolumeClaim", {{"size", size}}}}}};
    if (!from.empty()) {
      d["spec"]["dataSource"] = {{"type", "ObjectRef"},
                                 {"objectRef", {{"kind", "VirtualDiskSnapshot"}, {"name", from}}}};
    }
    return Apply(d);
  }
  Json Snapshot(const std::string& name, const std::string& disk, bool required = true) {
    return Apply({{"kind", "VirtualDiskSnapshot"},
                  {"metadata", {{"name", name}}},
                  {"spec", {{"virtualDiskName", disk}, {"requiredConsistency", required}}}});
  }
  Json Vm(const std::string& name, std::vector<std::string> disks) {
    Json refs = Json::array();
    for (const auto& d : disks) refs.push_back({{"kind", "VirtualDisk"}, {"name", d}});
    return Apply(
        {{"kind", "VirtualMachine"},
         {"metadata", {{"name", name}}},
         {"spec", {{"blockDeviceRefs", refs}, {"runPolicy", "AlwaysOnUnlessStoppedManually"}}}});
  }

  std::string Phase(const std::string& kind, const std::string& name) {
    return JsonString(Get(kind, name), "/status/phase");
  }
  std::string Reason(const std::string& kind, const std::string& name, const std::string& type) {
    return GetCondition(Get(kind, name), type).value("reason", "");
  }
  std::string Message(const std::string& kind, const std::string& name, const std::string& type) {
    return GetCondition(Get(kind, name), type).value("message", "");
  }

 private:
  static std::string MakeDir() {
    char tmpl[] = "/tmp/berth-reconcilers-XXXXXX";
    return mkdtemp(tmpl);
  }
  // One kind's work queue, as WorkQueue (cluster-controller/src/runtime/work_queue.cc) keeps
  // it, without threads: ready keys in FIFO order, de-duplicated; delayed keys with their due
  // time (an earlier time wins; queueing a key now drops its delay); failures per key.
  struct KindQueue {
    std::deque<ObjectKey> ready;
    std::set<std::string> queued;
    std::map<std::string, std::pair<absl::Time, ObjectKey>> delayed;
    std::map<std::string, int> failures;
  };
  // WorkQueue's defaults, which Manager uses.
  static constexpr absl::Duration kBaseBackoff = absl::Milliseconds(20);
  static constexpr absl::Duration kMaxBackoff = absl::Seconds(30);

  // Queues every stored object of every reconciler's kind, once (Manager::Start).
  void Start() {
    if (started_) return;
    started_ = true;
    for (size_t i = 0; i < recs_.size(); ++i) {
      auto objs = store_->List(recs_[i]->Kind(), "");
      REQUIRE(objs.ok());
      for (const Json& o : *objs) Add(i, ObjectKey::Of(o));
    }
  }
  void Add(size_t i, const ObjectKey& key) {
    KindQueue& q = queues_[i];
    std::string k = key.ToString();
    if (!q.queued.insert(k).second) return;
    q.delayed.erase(k);
    q.ready.push_back(key);
  }
  void AddAfter(size_t i, const ObjectKey& key, absl::Duration delay) {
    if (delay <= absl::ZeroDuration()) return Add(i, key);
    KindQueue& q = queues_[i];
    std::string k = key.ToString();
    if (q.queued.count(k)) return;
    absl::Time when = clock_.Now() + delay;
    auto it = q.delayed.find(k);
    if (it == q.delayed.end() || when < it->second.first) q.delayed[k] = {when, key};
  }
  // Hands the events so far to the queues, as Manager::Dispatch does.
  void Route() {
    while (true) {
      std::deque<StoreEvent> batch;
      {
        absl::MutexLock l(&events_mu_);
        batch.swap(events_);
      }
      if (batch.empty()) return;
      for (const StoreEvent& event : batch) {
        ObjectKey own = ObjectKey::Of(event.object());
        for (size_t i = 0; i < recs_.size(); ++i) {
          if (recs_[i]->Kind() == own.kind) Add(i, own);
        }
        for (size_t i = 0; i < recs_.size(); ++i) {
          for (const ObjectKey& key : recs_[i]->Related(event)) Add(i, key);
        }
      }
    }
  }
  // One reconcile pass of `key` by reconciler `i`, its result handled as in Manager::Work,
  // then the events it caused routed.
  void RunPass(size_t i, const ObjectKey& key) {
    const std::string k = key.ToString();
    ++passes_[k];
    absl::StatusOr<ReconcileResult> result = recs_[i]->Reconcile(key);
    KindQueue& q = queues_[i];
    if (result.ok()) {
      q.failures.erase(k);
      if (result->requeue_after > absl::ZeroDuration()) AddAfter(i, key, result->requeue_after);
    } else if (Retryable(result.status().code())) {
      retried_.push_back({key, result.status(), clock_.Now()});
      int n = q.failures[k]++;
      AddAfter(i, key, std::min(kBaseBackoff * (1 << std::min(n, 20)), kMaxBackoff));
    } else {
      q.failures.erase(k);
      errors_.push_back({key, result.status(), clock_.Now()});
    }
    Route();
  }
  std::optional<absl::Time> EarliestDue() const {
    std::optional<absl::Time> due;
    for (const KindQueue& q : queues_) {
      for (const auto& [k, d] : q.delayed) {
        if (!due || d.first < *due) due = d.first;
      }
    }
    return due;
  }
  // Queues the delayed keys now due, earliest first (ties by key).
  void PromoteDue() {
    const absl::Time now = clock_.Now();
    for (size_t i = 0; i < queues_.size(); ++i) {
      std::vector<std::pair<absl::Time, ObjectKey>> due;
      for (const auto& [k, d] : queues_[i].delayed) {
        if (d.first <= now) due.push_back(d);
      }
      std::stable_sort(due.begin(), due.end(),
                       [](const auto& a, const auto& b) { return a.first < b.first; });
      for (const auto& d : due) Add(i, d.second);
    }
  }
  // Fails the test on the non-retryable errors recorded since the last check, unless allowed.
  void CheckErrors(bool allowed) {
    size_t from = checked_errors_;
    checked_errors_ = errors_.size();
    if (allowed || from == errors_.size()) return;
    std::string text;
    for (size_t j = from; j < errors_.size(); ++j) {
      text += "\n  " + errors_[j].key.ToString() + ": " + errors_[j].status.ToString();
    }
    FAIL(
        "reconcile failed (not retryable; use ExpectErrors() or SettleOptions::allow_errors "
        "if expected):"
        << text);
  }

  std::string dir_;
  SimulatedClock clock_;
  NodeTracker tracker_;
  ControllerConfig config_;
  FakeAgentDirectory agents_;
  std::unique_ptr<ObjectStore> store_;
  std::vector<std::unique_ptr<Reconciler>> recs_;
  std::vector<KindQueue> queues_;  // one per recs_ entry
  uint64_t watch_id_ = 0;
  absl::Mutex events_mu_;
  std::deque<StoreEvent> events_ ABSL_GUARDED_BY(events_mu_);
  bool started_ = false;
  bool expect_errors_ = false;
  std::vector<ReconcileError> errors_;
  size_t checked_errors_ = 0;
  std::vector<ReconcileError> retried_;
  std::map<std::string, int> passes_;  // key -> passes run
};

}  // namespace berth::controller

#endif  // BERTH_TESTS_UNIT_CONTROLLER_WORLD_H_
