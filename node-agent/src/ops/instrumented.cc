#include "berth/agent/instrumented.h"

#include <map>

#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"

namespace berth::agent {
namespace {

// Times one call and counts its failure. Wall time on purpose: metrics, not logic.
class OpTimer {
 public:
  OpTimer(metrics::Histogram& latency, metrics::Counter& errors)
      : latency_(latency), errors_(errors), start_(absl::Now()) {}
  template <typename T>
  T Done(T result) {
    latency_.Observe(absl::ToDoubleSeconds(absl::Now() - start_));
    if (!result.ok()) errors_.Inc();
    return result;
  }

 private:
  metrics::Histogram& latency_;
  metrics::Counter& errors_;
  absl::Time start_;
};

class InstrumentedStorage : public StorageBackend {
 public:
  InstrumentedStorage(std::unique_ptr<StorageBackend> inner, std::string pool, metrics::Registry& r)
      : inner_(std::move(inner)),
        pool_(std::move(pool)),
        latency_(r.AddHistogram("berth_agent_storage_op_seconds",
                                "Storage backend calls by pool and operation.",
                                {"pool", "type", "op"})),
        errors_(r.AddCounter("berth_agent_storage_op_errors_total",
                             "Failed storage backend calls by pool and operation.",
                             {"pool", "type", "op"})),
        bytes_(r.AddCounter("berth_agent_storage_bytes_total",
                            "Logical bytes of snapshots and volumes created, by pool and op.",
                            {"pool", "type", "op"})) {}

  std::string Type() const override { return inner_->Type(); }
  std::string Root() const override { return inner_->Root(); }

  absl::StatusOr<VolumeInfo> CreateVolume(const std::string& id, uint64_t size) override {
    return Sized("create_volume", Timer("create_volume").Done(inner_->CreateVolume(id, size)));
  }
  absl::StatusOr<VolumeInfo> CreateVolumeFromSnapshot(const std::string& id,
                                                      const std::string& snapshot_id,
                                                      uint64_t size) override {
    return Sized("restore",
                 Timer("restore").Done(inner_->CreateVolumeFromSnapshot(id, snapshot_id, size)));
  }
  absl::StatusOr<VolumeInfo> ImportVolume(const std::string& id, const std::string& source,
                                          uint64_t size) override {
    return Sized("import", Timer("import").Done(inner_->ImportVolume(id, source, size)));
  }
  absl::StatusOr<VolumeInfo> GetVolume(const std::string& id) override {
    return inner_->GetVolume(id);
  }
  absl::StatusOr<bool> DeleteVolume(const std::string& id) override {
    return Timer("delete_volume").Done(inner_->DeleteVolume(id));
  }
  absl::StatusOr<SnapshotInfo> CreateSnapshot(const std::string& volume_id,
                                              const std::string& snapshot_id) override {
    return Sized("snapshot",
                 Timer("snapshot").Done(inner_->CreateSnapshot(volume_id, snapshot_id)));
  }
  absl::StatusOr<SnapshotInfo> GetSnapshot(const std::string& id) override {
    return inner_->GetSnapshot(id);
  }
  absl::StatusOr<bool> DeleteSnapshot(const std::string& id) override {
    return Timer("delete_snapshot").Done(inner_->DeleteSnapshot(id));
  }
  absl::StatusOr<std::vector<SnapshotInfo>> ListSnapshots() override {
    return inner_->ListSnapshots();
  }
  absl::StatusOr<PoolUsage> Usage() override { return inner_->Usage(); }

 private:
  OpTimer Timer(const std::string& op) {
    metrics::LabelValues labels = {pool_, inner_->Type(), op};
    return OpTimer(latency_.With(labels), errors_.With(labels));
  }
  template <typename T>
  T Sized(const std::string& op, T result) {
    if (result.ok()) bytes_.With({pool_, inner_->Type(), op}).Inc(result->size_bytes);
    return result;
  }

  std::unique_ptr<StorageBackend> inner_;
  const std::string pool_;
  metrics::Family<metrics::Histogram>& latency_;
  metrics::Family<metrics::Counter>& errors_;
  metrics::Family<metrics::Counter>& bytes_;
};

class InstrumentedFreezer : public Freezer {
 public:
  InstrumentedFreezer(Freezer& inner, metrics::Registry& r)
      : inner_(inner),
        window_(r.AddHistogram("berth_agent_freeze_window_seconds",
                               "Time guest filesystems stayed frozen, first hold to thaw.", {},
                               metrics::ExponentialBuckets(0.01, 2, 14))
                    .With({})),
        failures_(r.AddCounter("berth_agent_freeze_failures_total",
                               "Failed guest freezes and thaws.", {"op"})),
        frozen_(r.AddGauge("berth_agent_frozen_domains", "Domains frozen right now.").With({})) {}

  absl::StatusOr<int> Acquire(const std::string& domain) override {
    absl::StatusOr<int> r = inner_.Acquire(domain);
    if (!r.ok()) {
      failures_.With({"freeze"}).Inc();
      return r;
    }
    absl::MutexLock l(&mu_);
    Hold& h = holds_[domain];
    if (h.count++ == 0) {
      h.since = absl::Now();
      frozen_.Inc();
    }
    return r;
  }

  absl::Status Release(const std::string& domain) override {
    absl::Status s = inner_.Release(domain);
    if (!s.ok()) failures_.With({"thaw"}).Inc();
    absl::MutexLock l(&mu_);  // the hold is dropped even on error (Freezer's contract)
    auto it = holds_.find(domain);
    if (it != holds_.end() && --it->second.count <= 0) {
      window_.Observe(absl::ToDoubleSeconds(absl::Now() - it->second.since));
      frozen_.Dec();
      holds_.erase(it);
    }
    return s;
  }

  absl::Status Recover() override { return inner_.Recover(); }
  int FreezesSent() const override { return inner_.FreezesSent(); }
  int ThawsSent() const override { return inner_.ThawsSent(); }

 private:
  struct Hold {
    int count = 0;
    absl::Time since;
  };
  Freezer& inner_;
  metrics::Histogram& window_;
  metrics::Family<metrics::Counter>& failures_;
  metrics::Gauge& frozen_;
  absl::Mutex mu_;
  std::map<std::string, Hold> holds_ ABSL_GUARDED_BY(mu_);
};

}  // namespace

std::unique_ptr<StorageBackend> InstrumentStorage(std::unique_ptr<StorageBackend> backend,
                                                  const std::string& pool,
                                                  metrics::Registry& registry) {
  return std::make_unique<InstrumentedStorage>(std::move(backend), pool, registry);
}

std::unique_ptr<Freezer> InstrumentFreezer(Freezer& inner, metrics::Registry& registry) {
  return std::make_unique<InstrumentedFreezer>(inner, registry);
}

}  // namespace berth::agent
