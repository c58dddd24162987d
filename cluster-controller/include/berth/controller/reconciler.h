#ifndef BERTH_CONTROLLER_RECONCILER_H_
#define BERTH_CONTROLLER_RECONCILER_H_

#include <deque>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "berth/controller/leader.h"
#include "berth/controller/object_store.h"
#include "berth/controller/work_queue.h"
#include "berth/metrics.h"

namespace berth::controller {

struct ReconcileResult {
  // Polls again after this long (zero: only when something changes).
  absl::Duration requeue_after = absl::ZeroDuration();
};

// Drives one kind toward its spec. Reconcile re-reads state by key, is idempotent and
// level-triggered; it is never run for the same key on two threads at once.
//
// Error codes say what happens next (Retryable, below): retryable ones retry the key with
// backoff; any other error is logged and the key waits for the next change of the object or of
// something related to it.
class Reconciler {
 public:
  virtual ~Reconciler() = default;
  virtual std::string Kind() const = 0;
  virtual absl::StatusOr<ReconcileResult> Reconcile(const ObjectKey& key) = 0;
  // Returns keys of this kind to reconcile because `event` (of any kind) happened. The event's
  // own key is queued for its kind's reconciler without asking.
  virtual std::vector<ObjectKey> Related(const StoreEvent& event) { return {}; }
  // Worker threads for this kind, given the manager's `workers_per_kind`. A kind whose passes
  // mostly wait (on agent calls and store commits) and that comes in thousands asks for more.
  virtual int Workers(int workers_per_kind) const { return workers_per_kind; }
};

// Whether the Manager retries a key whose pass failed with `code` (with backoff): Unavailable,
// Aborted, Internal, Unknown, DeadlineExceeded and ResourceExhausted. Other errors wait for the
// next change of the object or of something related to it.
bool Retryable(absl::StatusCode code);

// Runs reconcilers: one work queue and Reconciler::Workers(workers_per_kind) threads per kind,
// fed by a store watch.
// Every stored object is queued at start, so work interrupted by a crash resumes.
class Manager {
 public:
  Manager(ObjectStore& store, const Clock& clock, int workers_per_kind = 4);
  ~Manager();  // Stops and joins.

  // Takes ownership. Call before Start.
  void Add(std::unique_ptr<Reconciler> reconciler);
  // Lists every kind, queues every object and starts the workers. Every reconcile pass runs in
  // a FenceScope of `fence` (leader.h; null: unfenced, a sole controller). After Stop, Start
  // may be called again (a controller elected again): queues start empty and are refilled.
  absl::Status Start(std::shared_ptr<WriteFence> fence = nullptr);
  // Stops the watch and joins the workers (waits for passes in flight).
  void Stop();
  // Queues a key for its kind's reconciler (e.g. from a heartbeat).
  void Enqueue(const ObjectKey& key);
  // Records reconcile counts, errors, latency and queue depth per kind in `registry` (which
  // must outlive the manager). Call before Start.
  void ExportMetrics(metrics::Registry& registry);

 private:
  struct Loop {
    std::unique_ptr<Reconciler> reconciler;
    std::unique_ptr<WorkQueue> queue;
    std::vector<std::thread> threads;
    // Set by ExportMetrics; null otherwise.
    metrics::Counter* ok = nullptr;
    metrics::Counter* errors = nullptr;
    metrics::Counter* retries = nullptr;
    metrics::Histogram* latency = nullptr;
  };
  // Runs on the store's writer thread under its lock: only hands the event over.
  void OnEvent(const StoreEvent& event);
  // Maps events to keys on an owned thread, where reconcilers may read the store.
  void Dispatch();
  void Work(Loop* loop);
  Loop* LoopFor(const std::string& kind);

  ObjectStore& store_;
  const Clock& clock_;
  const int workers_;
  std::vector<std::unique_ptr<Loop>> loops_;  // fixed after Start
  metrics::Family<metrics::Counter>* errors_by_code_ = nullptr;
  uint64_t watch_id_ = 0;
  bool started_ = false;
  std::shared_ptr<WriteFence> fence_;  // set by Start, read by workers
  absl::Mutex events_mu_;
  std::deque<StoreEvent> events_ ABSL_GUARDED_BY(events_mu_);
  bool stopping_ ABSL_GUARDED_BY(events_mu_) = false;
  std::thread dispatcher_;
};

}  // namespace berth::controller

#endif  // BERTH_CONTROLLER_RECONCILER_H_
