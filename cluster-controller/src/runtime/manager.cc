#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "berth/controller/reconciler.h"
#include "berth/log.h"
#include "berth/status_macros.h"

namespace berth::controller {
namespace {

ObjectKey ParseKey(const std::string& s) {
  std::vector<std::string> parts = absl::StrSplit(s, absl::MaxSplits('/', 2));
  parts.resize(3);
  return ObjectKey{parts[0], parts[1], parts[2]};
}

}  // namespace

bool Retryable(absl::StatusCode code) {
  switch (code) {
    case absl::StatusCode::kUnavailable:
    case absl::StatusCode::kAborted:
    case absl::StatusCode::kInternal:
    case absl::StatusCode::kUnknown:
    case absl::StatusCode::kDeadlineExceeded:
    case absl::StatusCode::kResourceExhausted:
      return true;
    default:
      return false;
  }
}

Manager::Manager(ObjectStore& store, const Clock& clock, int workers_per_kind)
    : store_(store), clock_(clock), workers_(workers_per_kind) {}

Manager::~Manager() { Stop(); }

void Manager::Add(std::unique_ptr<Reconciler> reconciler) {
  auto loop = std::make_unique<Loop>();
  loop->reconciler = std::move(reconciler);
  loop->queue = std::make_unique<WorkQueue>(clock_);
  loops_.push_back(std::move(loop));
}

Manager::Loop* Manager::LoopFor(const std::string& kind) {
  for (auto& loop : loops_) {
    if (loop->reconciler->Kind() == kind) return loop.get();
  }
  return nullptr;
}

void Manager::Enqueue(const ObjectKey& key) {
  if (Loop* loop = LoopFor(key.kind)) loop->queue->Add(key.ToString());
}

void Manager::OnEvent(const StoreEvent& event) {
  absl::MutexLock l(&events_mu_);
  events_.push_back(event);
}

void Manager::Dispatch() {
  while (true) {
    std::deque<StoreEvent> batch;
    {
      absl::MutexLock l(&events_mu_);
      auto ready = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(events_mu_) {
        return stopping_ || !events_.empty();
      };
      events_mu_.Await(absl::Condition(&ready));
      if (stopping_) return;
      batch.swap(events_);
    }
    for (const StoreEvent& event : batch) {
      Enqueue(ObjectKey::Of(event.object()));
      for (auto& loop : loops_) {
        for (const ObjectKey& key : loop->reconciler->Related(event)) {
          loop->queue->Add(key.ToString());
        }
      }
    }
  }
}

absl::Status Manager::Start(std::shared_ptr<WriteFence> fence) {
  fence_ = std::move(fence);
  {
    absl::MutexLock l(&events_mu_);
    stopping_ = false;
    events_.clear();
  }
  for (auto& loop : loops_) loop->queue->Restart();
  dispatcher_ = std::thread([this] { Dispatch(); });
  started_ = true;  // from here on Stop() has threads to join
  BERTH_ASSIGN_OR_RETURN(watch_id_, store_.Watch(0, [this](const StoreEvent& e) { OnEvent(e); }));
  for (auto& loop : loops_) {
    BERTH_ASSIGN_OR_RETURN(std::vector<Json> objects, store_.List(loop->reconciler->Kind(), ""));
    for (const Json& obj : objects) loop->queue->Add(ObjectKey::Of(obj).ToString());
    const int workers = std::max(1, loop->reconciler->Workers(workers_));
    for (int i = 0; i < workers; ++i)
      loop->threads.emplace_back([this, l = loop.get()] { Work(l); });
  }
  return absl::OkStatus();
}

void Manager::Stop() {
  if (!started_) return;
  started_ = false;
  if (watch_id_ != 0) store_.Unwatch(watch_id_);
  watch_id_ = 0;
  {
    absl::MutexLock l(&events_mu_);
    stopping_ = true;
  }
  dispatcher_.join();
  for (auto& loop : loops_) loop->queue->ShutDown();
  for (auto& loop : loops_) {
    for (auto& t : loop->threads) t.join();
    loop->threads.clear();
  }
}

void Manager::ExportMetrics(metrics::Registry& registry) {
  auto& passes = registry.AddCounter("berth_reconcile_total",
                                     "Reconcile passes by kind and result (success, error).",
                                     {"kind", "result"});
  auto& retries = registry.AddCounter("berth_reconcile_retries_total",
                                      "Keys queued again with backoff after an error.", {"kind"});
  auto& latency = registry.AddHistogram("berth_reconcile_duration_seconds",
                                        "Time one reconcile pass took.", {"kind"});
  errors_by_code_ =
      &registry.AddCounter("berth_reconcile_errors_total",
                           "Failed reconcile passes by kind and status code.", {"kind", "code"});
  for (auto& loop : loops_) {
    std::string kind = loop->reconciler->Kind();
    loop->ok = &passes.With({kind, "success"});
    loop->errors = &passes.With({kind, "error"});
    loop->retries = &retries.With({kind});
    loop->latency = &latency.With({kind});
  }
  registry.AddGaugeCallback(
      {"berth_workqueue_depth", "Keys ready to reconcile, per kind.", {"kind"}, [this] {
         std::vector<std::pair<metrics::LabelValues, double>> out;
         for (auto& loop : loops_) {
           out.push_back({{loop->reconciler->Kind()}, static_cast<double>(loop->queue->Len())});
         }
         return out;
       }});
}

void Manager::Work(Loop* loop) {
  while (auto key = loop->queue->Get()) {
    absl::Time start = absl::Now();  // wall time on purpose: a metric, not logic
    absl::StatusOr<ReconcileResult> result;
    {
      FenceScope fenced(fence_);
      result = loop->reconciler->Reconcile(ParseKey(*key));
    }
    if (loop->latency) {
      loop->latency->Observe(absl::ToDoubleSeconds(absl::Now() - start));
      (result.ok() ? loop->ok : loop->errors)->Inc();
      if (!result.ok()) {
        errors_by_code_
            ->With({loop->reconciler->Kind(), absl::StatusCodeToString(result.status().code())})
            .Inc();
      }
    }
    if (result.ok()) {
      loop->queue->Forget(*key);
      if (result->requeue_after > absl::ZeroDuration()) {
        loop->queue->AddAfter(*key, result->requeue_after);
      }
    } else if (Retryable(result.status().code())) {
      loop->queue->AddRateLimited(*key);
      if (loop->retries) loop->retries->Inc();
      if (loop->queue->Failures(*key) > 3) {
        log::Fields f = log::ObjectFields(*key);
        f.push_back({"error", result.status().ToString()});
        f.push_back({"failures", absl::StrCat(loop->queue->Failures(*key))});
        log::Warning("reconcile failed, retrying", f);
      }
    } else {
      loop->queue->Forget(*key);
      log::Fields f = log::ObjectFields(*key);
      f.push_back({"error", result.status().ToString()});
      log::Warning("reconcile failed, waiting for a change", f);
    }
    if (result.ok() && log::VEnabled(2)) log::V(2, "reconciled", log::ObjectFields(*key));
    loop->queue->Done(*key);
  }
}

}  // namespace berth::controller
