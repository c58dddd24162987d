// The watch cache (cached_store.h).

#include "store/cached_store.h"

#include <algorithm>
#include <atomic>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "berth/log.h"
#include "berth/metrics.h"
#include "berth/status_macros.h"
#include "store/object_meta.h"

namespace berth::controller {
namespace store {
namespace {

// How long a write waits for the cache to apply what it wrote: only a backend watch being
// re-established (etcd unreachable, a relist) takes this long.
constexpr absl::Duration kApplyTimeout = absl::Seconds(10);
// Pause before a failed relist is tried again, doubling while it keeps failing.
constexpr absl::Duration kRelistMin = absl::Milliseconds(100);
constexpr absl::Duration kRelistMax = absl::Seconds(5);
// Attempts of the initial load when the backend changes under it (compaction between the list
// and the watch).
constexpr int kLoadAttempts = 3;

uint64_t VersionOf(const Json& obj) {
  uint64_t v = 0;
  auto meta = obj.find("metadata");
  if (meta == obj.end() || !meta->is_object()) return 0;
  auto rv = meta->find("resourceVersion");
  if (rv == meta->end() || !rv->is_string() || !absl::SimpleAtoi(rv->get<std::string>(), &v)) {
    return 0;
  }
  return v;
}

}  // namespace

struct CacheStats {
  std::atomic<uint64_t> applied{0};
  std::atomic<uint64_t> relists{0};
  // Set by ExportMetrics; the registry outlives the cache.
  std::atomic<metrics::Family<metrics::Histogram>*> durations{nullptr};

  absl::Mutex mu;
  ObjectStore* backend ABSL_GUARDED_BY(mu) = nullptr;  // null once the cache is gone
  // Lists timed before ExportMetrics (the initial one), observed when it is called.
  std::vector<double> pending_lists ABSL_GUARDED_BY(mu);

  void Observe(const char* operation, absl::Duration d) {
    double seconds = absl::ToDoubleSeconds(d);
    metrics::Family<metrics::Histogram>* f = durations.load();
    if (f == nullptr) {
      absl::MutexLock lock(&mu);  // ExportMetrics sets it under mu
      f = durations.load();
      if (f == nullptr) {
        if (std::string(operation) == "list") pending_lists.push_back(seconds);
        return;
      }
    }
    f->With({operation}).Observe(seconds);
  }
};

CachedStore::CachedStore(std::unique_ptr<ObjectStore> backend, size_t history)
    : backend_(std::move(backend)), history_(history), stats_(std::make_shared<CacheStats>()) {
  absl::MutexLock lock(&stats_->mu);
  stats_->backend = backend_.get();
}

absl::StatusOr<std::unique_ptr<CachedStore>> CachedStore::Create(
    std::unique_ptr<ObjectStore> backend, size_t history) {
  if (backend == nullptr) return absl::InvalidArgumentError("watch cache: no backend store");
  std::unique_ptr<CachedStore> cache(new CachedStore(std::move(backend), history));
  absl::Status st;
  for (int attempt = 1; attempt <= kLoadAttempts; ++attempt) {
    st = cache->Load(/*initial=*/true, absl::OkStatus());
    if (!absl::IsOutOfRange(st) && !absl::IsAborted(st)) break;
  }
  if (!st.ok()) return absl::Status(st.code(), absl::StrCat("watch cache: ", st.message()));
  CachedStore* raw = cache.get();
  cache->resyncer_ = std::thread([raw] { raw->ResyncLoop(); });
  return cache;
}

CachedStore::~CachedStore() {
  {
    absl::MutexLock lock(&resync_mu_);
    stopping_ = true;
  }
  if (resyncer_.joinable()) resyncer_.join();
  uint64_t watch = 0;
  {
    absl::MutexLock lock(&resync_mu_);
    watch = std::exchange(backend_watch_, 0);
  }
  if (watch != 0) backend_->Unwatch(watch);  // no callback runs after it returns
  absl::MutexLock lock(&stats_->mu);
  stats_->backend = nullptr;
}

absl::Status CachedStore::Load(bool initial, const absl::Status& why) {
  absl::Time start = absl::Now();  // wall time on purpose: a metric, not logic
  uint64_t version = 0;
  absl::StatusOr<SharedObjects> all = backend_->ListAll(&version);
  if (!all.ok()) {
    return absl::Status(all.status().code(), absl::StrCat("list: ", all.status().message()));
  }
  stats_->Observe("list", absl::Now() - start);
  ObjectIndex fresh;
  for (std::shared_ptr<const Json>& obj : *all) {
    ObjectKey k = ObjectKey::Of(*obj);
    fresh.Insert(std::move(k), std::move(obj));
  }
  const size_t count = fresh.size();

  uint64_t generation = 0;
  size_t added = 0, modified = 0, deleted = 0;
  {
    absl::MutexLock publish(&publish_mu_);
    std::vector<StoreEvent> changes;
    {
      absl::MutexLock lock(&mu_);
      if (!initial && version < version_) {
        return absl::UnavailableError(absl::StrCat("the backend listed version ", version,
                                                   ", older than the cache's ", version_));
      }
      if (!initial) {
        // Changed and new objects at their own versions, in order; then the gone ones.
        std::vector<StoreEvent> gone;
        for (const auto& [key, obj] : fresh) {
          const uint64_t rv = VersionOf(*obj);
          std::shared_ptr<const Json> had = objects_.Find(key);
          if (had == nullptr) {
            changes.emplace_back(StoreEvent::Type::kAdded, rv, obj);
            ++added;
          } else if (VersionOf(*had) != rv) {
            if (UidOf(*had) != UidOf(*obj)) {  // deleted, then created again
              Json last = *had;
              SetResourceVersion(rv, &last);
              changes.emplace_back(StoreEvent::Type::kDeleted, rv, std::move(last));
              changes.emplace_back(StoreEvent::Type::kAdded, rv, obj);
              ++deleted;
              ++added;
            } else {
              changes.emplace_back(StoreEvent::Type::kModified, rv, obj);
              ++modified;
            }
          }
        }
        for (const auto& [key, obj] : objects_) {
          if (fresh.Find(key) != nullptr) continue;
          Json last = *obj;
          SetResourceVersion(version, &last);
          gone.emplace_back(StoreEvent::Type::kDeleted, version, std::move(last));
          ++deleted;
        }
        std::stable_sort(changes.begin(), changes.end(),
                         [](const StoreEvent& a, const StoreEvent& b) {
                           return a.resource_version < b.resource_version;
                         });
        for (StoreEvent& e : gone) changes.push_back(std::move(e));
      }
      objects_ = std::move(fresh);
      version_ = version;
    }
    if (initial) floor_ = version;
    stats_->applied.store(version);
    generation = ++generation_;  // events still coming from an older backend watch are dropped
    for (const StoreEvent& e : changes) PublishLocked(e);
    if (!initial) stats_->relists.fetch_add(1);
  }

  absl::StatusOr<uint64_t> watch = backend_->Watch(
      version, [this, generation](const StoreEvent& e) { Apply(generation, e); },
      [this](const absl::Status& ended) { BackendEnded(ended); });
  if (!watch.ok()) {
    return absl::Status(watch.status().code(),
                        absl::StrCat("watch from ", version, ": ", watch.status().message()));
  }
  // Watch(0) means "from now": a write between the list and the watch would be missed.
  if (version == 0 && backend_->CurrentVersion() != 0) {
    backend_->Unwatch(*watch);
    return absl::AbortedError("the backend changed while it was loaded");
  }
  {
    absl::MutexLock lock(&resync_mu_);
    backend_watch_ = *watch;
  }
  if (!initial) {
    log::Warning(log::Str("store cache: the backend watch ended (", why.message(),
                          "); listed again at version ", version, ": ", count, " objects, ", added,
                          " added, ", modified, " modified, ", deleted,
                          " deleted; the cache's watchers were sent the differences"));
  }
  return absl::OkStatus();
}

void CachedStore::Apply(uint64_t generation, const StoreEvent& event) {
  absl::MutexLock publish(&publish_mu_);
  if (generation != generation_) return;
  {
    absl::MutexLock lock(&mu_);
    if (event.resource_version < version_) {
      log::Error(log::Str("store cache: skips an event at version ", event.resource_version,
                          ", older than the cache's ", version_));
      return;
    }
    objects_.Apply(event);
    version_ = event.resource_version;
  }
  stats_->applied.store(event.resource_version);
  PublishLocked(event);
}

void CachedStore::PublishLocked(const StoreEvent& event) {
  ring_.push_back(event);
  while (ring_.size() > history_) {
    floor_ = std::max(floor_, ring_.front().resource_version);
    ring_.pop_front();
  }
  for (const auto& [id, sub] : subscriptions_) {
    if (event.resource_version > sub.after) sub.callback(event);
  }
}

void CachedStore::BackendEnded(const absl::Status& why) {
  absl::MutexLock lock(&resync_mu_);
  resync_wanted_ = true;
  ended_because_ = why;
}

void CachedStore::ResyncLoop() {
  absl::Duration backoff = kRelistMin;
  while (true) {
    uint64_t ended = 0;
    absl::Status why;
    {
      absl::MutexLock lock(&resync_mu_);
      auto wake = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(resync_mu_) {
        return stopping_ || resync_wanted_;
      };
      resync_mu_.Await(absl::Condition(&wake));
      if (stopping_) return;
      resync_wanted_ = false;
      ended = std::exchange(backend_watch_, 0);
      why = ended_because_;
    }
    if (ended != 0) backend_->Unwatch(ended);
    absl::Status st = Load(/*initial=*/false, why);
    if (st.ok()) {
      backoff = kRelistMin;
      continue;
    }
    log::Warning(log::Str("store cache: the backend watch ended (", why.message(),
                          "); listing again failed: ", st, "; retrying in ",
                          absl::FormatDuration(backoff)));
    absl::MutexLock lock(&resync_mu_);
    resync_wanted_ = true;
    auto stop = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(resync_mu_) { return stopping_; };
    resync_mu_.AwaitWithTimeout(absl::Condition(&stop), backoff);
    backoff = std::min(backoff * 2, kRelistMax);
  }
}

absl::StatusOr<Json> CachedStore::Write(const char* operation, const ObjectKey& key,
                                        const std::function<absl::StatusOr<Json>()>& write) {
  absl::Time start = absl::Now();  // wall time on purpose: a metric, not logic
  absl::StatusOr<Json> result = write();
  stats_->Observe(operation, absl::Now() - start);
  if (result.ok()) {
    AwaitApplied(VersionOf(*result));
  } else if (absl::IsAborted(result.status()) || absl::IsAlreadyExists(result.status())) {
    // The cache may not have the object that won yet: wait for it, so a re-read sees it.
    absl::StatusOr<std::shared_ptr<const Json>> stored = backend_->Peek(key);
    if (stored.ok()) AwaitApplied(VersionOf(**stored));
  }
  return result;
}

void CachedStore::AwaitApplied(uint64_t version) {
  absl::MutexLock lock(&mu_);
  auto applied = [this, version]()
                     ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return version_ >= version; };
  if (!mu_.AwaitWithTimeout(absl::Condition(&applied), kApplyTimeout)) {
    log::Warning(log::Str("store cache: version ", version, " not applied after ",
                          absl::FormatDuration(kApplyTimeout), " (the cache is at ", version_,
                          "); reads may not show the write yet"));
  }
}

absl::StatusOr<Json> CachedStore::Create(Json obj) {
  ObjectKey key = ObjectKey::Of(obj);
  return Write("create", key, [&] { return backend_->Create(std::move(obj)); });
}

absl::StatusOr<Json> CachedStore::Import(Json obj) {
  ObjectKey key = ObjectKey::Of(obj);
  return Write("import", key, [&] { return backend_->Import(std::move(obj)); });
}

absl::StatusOr<Json> CachedStore::Update(Json obj) {
  ObjectKey key = ObjectKey::Of(obj);
  return Write("update", key, [&] { return backend_->Update(std::move(obj)); });
}

absl::StatusOr<Json> CachedStore::UpdateAndCreate(Json obj, const FollowUp& then) {
  // The follow-up's create is delivered by the backend before it returns, as every write is.
  ObjectKey key = ObjectKey::Of(obj);
  return Write("update_and_create", key,
               [&] { return backend_->UpdateAndCreate(std::move(obj), then); });
}

absl::StatusOr<Json> CachedStore::Delete(const ObjectKey& key, std::optional<std::string> uid) {
  // A cascade's later steps are delivered before the backend returns, as every write is.
  return Write("delete", key, [&] { return backend_->Delete(key, std::move(uid)); });
}

absl::StatusOr<std::shared_ptr<const Json>> CachedStore::Peek(const ObjectKey& key) {
  std::shared_ptr<const Json> obj;
  {
    absl::MutexLock lock(&mu_);
    obj = objects_.Find(key);
  }
  if (!obj) return absl::NotFoundError(absl::StrCat(Describe(key), " not found"));
  return obj;
}

absl::StatusOr<ObjectStore::SharedObjects> CachedStore::ListShared(const std::string& kind,
                                                                   const std::string& ns,
                                                                   uint64_t* resource_version) {
  if (kind.empty()) return absl::InvalidArgumentError("list: kind is required");
  absl::MutexLock lock(&mu_);
  if (resource_version != nullptr) *resource_version = version_;
  return objects_.Range(kind, ns);
}

absl::StatusOr<std::vector<Json>> CachedStore::List(const std::string& kind, const std::string& ns,
                                                    uint64_t* resource_version) {
  BERTH_ASSIGN_OR_RETURN(SharedObjects found, ListShared(kind, ns, resource_version));
  return CopyObjects(found);  // outside the lock: the expensive part of a big list
}

absl::StatusOr<ObjectStore::SharedObjects> CachedStore::ListAll(uint64_t* resource_version) {
  absl::MutexLock lock(&mu_);
  if (resource_version != nullptr) *resource_version = version_;
  return objects_.All();
}

absl::StatusOr<uint64_t> CachedStore::Watch(uint64_t from_version, WatchCallback callback,
                                            WatchEndCallback /*on_end*/) {
  if (!callback) return absl::InvalidArgumentError("watch: callback is required");
  // Replaying and registering under the publishing lock leaves no gap and no duplicate: no
  // event is applied between the last replayed one and the first live one.
  absl::MutexLock publish(&publish_mu_);
  uint64_t version = 0;
  {
    absl::MutexLock lock(&mu_);
    version = version_;
  }
  if (from_version != 0) {
    if (from_version < floor_) {
      return absl::OutOfRangeError(absl::StrCat("watch from resourceVersion ", from_version,
                                                ": too old, the cache's history starts after ",
                                                floor_, "; list again"));
    }
    auto first =
        std::upper_bound(ring_.begin(), ring_.end(), from_version,
                         [](uint64_t v, const StoreEvent& e) { return v < e.resource_version; });
    for (auto it = first; it != ring_.end(); ++it) callback(*it);
  }
  uint64_t id = next_subscription_++;
  subscriptions_.emplace(id, Subscription{std::max(from_version, version), std::move(callback)});
  return id;
}

void CachedStore::Unwatch(uint64_t subscription) {
  absl::MutexLock publish(&publish_mu_);
  subscriptions_.erase(subscription);
}

uint64_t CachedStore::CurrentVersion() {
  absl::MutexLock lock(&mu_);
  return version_;
}

void CachedStore::ExportMetrics(metrics::Registry& registry) {
  metrics::Family<metrics::Histogram>& durations = registry.AddHistogram(
      "berth_store_request_duration_seconds",
      "Latency of the store's backend requests: writes by operation, and the lists that load "
      "the watch cache (operation=list)",
      {"operation"});
  {
    absl::MutexLock lock(&stats_->mu);
    for (double seconds : stats_->pending_lists) durations.With({"list"}).Observe(seconds);
    stats_->pending_lists.clear();
    stats_->durations.store(&durations);
  }
  std::weak_ptr<CacheStats> weak = stats_;
  registry.AddGaugeCallback(metrics::GaugeCallback{
      "berth_store_watch_lag_revisions",
      "The backend's current version minus the watch cache's applied version (revisions that "
      "changed no object count too)",
      {},
      [weak]() -> std::vector<std::pair<metrics::LabelValues, double>> {
        std::shared_ptr<CacheStats> stats = weak.lock();
        if (stats == nullptr) return {};
        absl::MutexLock lock(&stats->mu);
        if (stats->backend == nullptr) return {};
        uint64_t head = stats->backend->CurrentVersion();
        uint64_t applied = stats->applied.load();
        if (head == 0) return {};  // the backend cannot be reached: no figure
        return {{{}, head > applied ? static_cast<double>(head - applied) : 0.0}};
      }});
  registry.AddGaugeCallback(metrics::GaugeCallback{
      "berth_store_relists_total",
      "Times the watch cache listed the backend again after its watch ended (etcd compacted "
      "past it)",
      {},
      [weak]() -> std::vector<std::pair<metrics::LabelValues, double>> {
        std::shared_ptr<CacheStats> stats = weak.lock();
        if (stats == nullptr) return {};
        return {{{}, static_cast<double>(stats->relists.load())}};
      },
      /*is_counter=*/true});
}

}  // namespace store

absl::StatusOr<std::unique_ptr<ObjectStore>> NewCachedStore(std::unique_ptr<ObjectStore> backend,
                                                            size_t history) {
  BERTH_ASSIGN_OR_RETURN(std::unique_ptr<store::CachedStore> cache,
                         store::CachedStore::Create(std::move(backend), history));
  return std::unique_ptr<ObjectStore>(std::move(cache));
}

void ExportCacheMetrics(ObjectStore& cached, metrics::Registry& registry) {
  if (auto* cache = dynamic_cast<store::CachedStore*>(&cached)) cache->ExportMetrics(registry);
}

}  // namespace berth::controller
