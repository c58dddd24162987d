// Leader election over etcd (a lease and one key), and the write fence (leader.h).
#include <algorithm>
#include <thread>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "berth/controller/leader.h"
#include "berth/log.h"
#include "berth/status_macros.h"
#include "store/etcd_client.h"
#include "store/etcd_ops.h"

namespace berth::controller {
namespace {

thread_local WriteFence* current_fence = nullptr;

// How often the lease is renewed: a fifth of its TTL, at most every second.
absl::Duration RenewEvery(absl::Duration ttl) { return std::min(ttl / 5, absl::Seconds(1)); }
// How often a follower looks for a vacant key (one etcd read): a dead leader's key goes with
// its lease at most TTL after its last renewal, and a successor takes it within this.
constexpr absl::Duration kPoll = absl::Milliseconds(200);

// berth_leader: 1 while `election` leads.
void AddLeaderGauge(metrics::Registry& registry, const LeaderElection* election) {
  registry.AddGaugeCallback({"berth_leader",
                             "1 while this controller is the leader (runs the reconcilers).",
                             {},
                             [election] {
                               return std::vector<std::pair<metrics::LabelValues, double>>{
                                   {{}, election->leading() ? 1.0 : 0.0}};
                             }});
}

class EtcdElection : public LeaderElection {
 public:
  EtcdElection(std::unique_ptr<store::EtcdClient> client, std::string key, ElectionOptions options)
      : client_(std::move(client)), key_(std::move(key)), options_(std::move(options)) {}
  ~EtcdElection() override { Stop(); }

  void Start(Elected on_elected, Lost on_lost) override {
    thread_ = std::thread([this, on_elected = std::move(on_elected), on_lost = std::move(on_lost)] {
      Run(on_elected, on_lost);
    });
  }

  void Stop() override {
    if (!thread_.joinable()) return;
    stop_.Notify();
    thread_.join();
  }

  bool leading() const override {
    absl::MutexLock l(&mu_);
    return fence_ != nullptr;
  }
  std::string leader() const override {
    absl::MutexLock l(&mu_);
    return leader_;
  }

  void ExportMetrics(metrics::Registry& registry) override {
    AddLeaderGauge(registry, this);
    registry.AddGaugeCallback({"berth_leader_transitions_total",
                               "Times this controller became or stopped being the leader.",
                               {},
                               [this] {
                                 absl::MutexLock l(&mu_);
                                 return std::vector<std::pair<metrics::LabelValues, double>>{
                                     {{}, static_cast<double>(transitions_)}};
                               },
                               /*is_counter=*/true});
    registry.AddGaugeCallback({"berth_leader_fenced_writes_total",
                               "Reconciler writes of this controller's terms, by result "
                               "(committed, refused: the term had ended).",
                               {"result"},
                               [this] {
                                 // Counted terms, plus the one not counted yet (under way, or
                                 // ended while its reconcilers stop).
                                 absl::MutexLock l(&mu_);
                                 uint64_t committed = committed_, refused = refused_;
                                 if (uncounted_ != nullptr) {
                                   committed += uncounted_->committed.load();
                                   refused += uncounted_->refused.load();
                                 }
                                 return std::vector<std::pair<metrics::LabelValues, double>>{
                                     {{"committed"}, static_cast<double>(committed)},
                                     {{"refused"}, static_cast<double>(refused)}};
                               },
                               /*is_counter=*/true});
  }

 private:
  void Run(const Elected& on_elected, const Lost& on_lost) {
    const absl::Duration renew_every = RenewEvery(options_.lease_ttl);
    const absl::Duration tick = std::min(kPoll, renew_every);
    int64_t lease = 0;
    absl::Time renewed;    // when the last successful renewal was sent
    absl::Time renew_due;  // when to renew next
    while (!stop_.HasBeenNotified()) {
      if (lease == 0) {
        absl::Time sent = absl::Now();
        absl::StatusOr<etcdserverpb::LeaseGrantResponse> granted =
            client_->LeaseGrant(std::max<int64_t>(1, absl::ToInt64Seconds(options_.lease_ttl)));
        if (!granted.ok()) {
          Note(granted.status());
          stop_.WaitForNotificationWithTimeout(tick);
          continue;
        }
        lease = granted->id();
        renewed = sent;
        renew_due = sent + renew_every;
      } else if (absl::Now() >= renew_due) {
        absl::Time sent = absl::Now();
        renew_due = sent + renew_every;
        absl::StatusOr<int64_t> ttl = client_->LeaseKeepAliveOnce(lease);
        if (ttl.ok() && *ttl > 0) {
          renewed = sent;
          noted_ = false;
        } else if (ttl.ok()) {
          Expired(on_lost, "the lease expired before it was renewed");
          lease = 0;
          continue;
        } else {
          Note(ttl.status());
        }
      }
      if (absl::Now() - renewed >= options_.lease_ttl) {
        // Not renewed within the TTL (paused, cut off from etcd): the key may be gone and
        // another controller may lead. Stop first; etcd's fence refuses stragglers anyway.
        Expired(on_lost, "the lease was not renewed within its TTL");
        client_->LeaseRevoke(lease).IgnoreError();
        lease = 0;
        continue;
      }
      Campaign(lease, on_elected, on_lost);
      stop_.WaitForNotificationWithTimeout(tick);
    }
    Resign(lease, on_lost);
  }

  // Takes the key when it is vacant; while leading, checks it is still ours.
  void Campaign(int64_t lease, const Elected& on_elected, const Lost& on_lost) {
    etcdserverpb::TxnRequest txn;
    *txn.add_compare() = store::Revision(etcdserverpb::Compare::CREATE, key_, 0);  // vacant
    *txn.add_success() = store::PutOp(key_, options_.id, lease);
    txn.add_failure()->mutable_request_range()->set_key(key_);
    absl::StatusOr<etcdserverpb::TxnResponse> resp = client_->Txn(txn);
    if (!resp.ok()) {
      Note(resp.status());
      return;
    }
    if (resp->succeeded()) {
      auto fence = std::make_shared<WriteFence>();
      fence->key = key_;
      fence->term = resp->header().revision();
      fence->holder = options_.id;
      {
        absl::MutexLock l(&mu_);
        fence_ = fence;
        uncounted_ = fence;
        leader_ = options_.id;
        ++transitions_;
      }
      log::Info("became the leader", {{"controller", options_.id},
                                      {"term", absl::StrCat(fence->term)},
                                      {"lease_ttl", absl::FormatDuration(options_.lease_ttl)}});
      on_elected(fence);
      return;
    }
    const auto& range = resp->responses(0).response_range();
    std::string holder = range.kvs_size() > 0 ? range.kvs(0).value() : "";
    int64_t term = range.kvs_size() > 0 ? range.kvs(0).create_revision() : 0;
    std::shared_ptr<WriteFence> mine;
    {
      absl::MutexLock l(&mu_);
      if (holder != leader_ && !holder.empty()) {
        log::Info("leader", {{"leader", holder}, {"term", absl::StrCat(term)}});
      }
      leader_ = holder;
      mine = fence_;
    }
    if (mine != nullptr && mine->term != term) Expired(on_lost, "the election key changed hands");
  }

  void Expired(const Lost& on_lost, const std::string& why) {
    std::shared_ptr<WriteFence> fence;
    {
      absl::MutexLock l(&mu_);
      fence = std::move(fence_);
      fence_ = nullptr;
      if (fence != nullptr) ++transitions_;
    }
    if (fence == nullptr) return;
    on_lost();  // reconcilers stopped: the fence counts are final
    Count(*fence);
    log::Warning("lost the leadership",
                 {{"controller", options_.id},
                  {"term", absl::StrCat(fence->term)},
                  {"reason", why},
                  {"writes_committed", absl::StrCat(fence->committed.load())},
                  {"writes_refused", absl::StrCat(fence->refused.load())},
                  {"last_committed_revision", absl::StrCat(fence->last_committed.load())}});
  }

  void Resign(int64_t lease, const Lost& on_lost) {
    std::shared_ptr<WriteFence> fence;
    {
      absl::MutexLock l(&mu_);
      fence = fence_;
    }
    if (fence != nullptr) {
      on_lost();
      Count(*fence);
      etcdserverpb::TxnRequest txn;
      *txn.add_compare() = store::Revision(etcdserverpb::Compare::CREATE, key_, fence->term);
      *txn.add_success() = store::DeleteOp(key_);  // only while the key is still ours
      client_->Txn(txn).IgnoreError();
      log::Info("resigned the leadership",
                {{"controller", options_.id},
                 {"term", absl::StrCat(fence->term)},
                 {"writes_committed", absl::StrCat(fence->committed.load())}});
      absl::MutexLock l(&mu_);
      fence_ = nullptr;
    }
    if (lease != 0) client_->LeaseRevoke(lease).IgnoreError();
  }

  void Count(const WriteFence& fence) {
    absl::MutexLock l(&mu_);
    committed_ += fence.committed.load();
    refused_ += fence.refused.load();
    if (uncounted_.get() == &fence) uncounted_ = nullptr;
  }

  // Logs an etcd failure once until a renewal succeeds again.
  void Note(const absl::Status& status) {
    if (noted_) return;
    noted_ = true;
    log::Warning("leader election: etcd call failed (retrying)",
                 {{"controller", options_.id}, {"error", std::string(status.message())}});
  }

  const std::unique_ptr<store::EtcdClient> client_;
  const std::string key_;
  const ElectionOptions options_;
  absl::Notification stop_;
  std::thread thread_;
  bool noted_ = false;  // election thread only
  mutable absl::Mutex mu_;
  std::shared_ptr<WriteFence> fence_ ABSL_GUARDED_BY(mu_);
  // The term whose writes are not in committed_/refused_ yet (the metric adds them live).
  std::shared_ptr<WriteFence> uncounted_ ABSL_GUARDED_BY(mu_);
  std::string leader_ ABSL_GUARDED_BY(mu_);
  uint64_t transitions_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t committed_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t refused_ ABSL_GUARDED_BY(mu_) = 0;
};

class SoleLeader : public LeaderElection {
 public:
  explicit SoleLeader(std::string id) : id_(std::move(id)) {}
  void Start(Elected on_elected, Lost) override {
    leading_ = true;
    on_elected(nullptr);
  }
  void Stop() override { leading_ = false; }
  bool leading() const override { return leading_; }
  std::string leader() const override { return id_; }
  void ExportMetrics(metrics::Registry& registry) override { AddLeaderGauge(registry, this); }

 private:
  const std::string id_;
  std::atomic<bool> leading_{false};
};

}  // namespace

FenceScope::FenceScope(std::shared_ptr<WriteFence> fence)
    : fence_(std::move(fence)), outer_(current_fence) {
  current_fence = fence_.get();
}

FenceScope::~FenceScope() { current_fence = outer_; }

WriteFence* FenceScope::Current() { return current_fence; }

absl::StatusOr<std::unique_ptr<LeaderElection>> NewEtcdElection(const StoreSpec& spec,
                                                                const StoreOpenOptions& store,
                                                                const ElectionOptions& options) {
  if (!spec.is_etcd()) return absl::InvalidArgumentError("leader election needs an etcd store");
  if (options.id.empty()) return absl::InvalidArgumentError("leader election: empty id");
  if (options.lease_ttl < absl::Seconds(2)) {
    return absl::InvalidArgumentError("leader election: the lease TTL must be at least 2 s");
  }
  // Calls shorter than the TTL, so a stalled member cannot hold a renewal past it.
  BERTH_ASSIGN_OR_RETURN(
      std::unique_ptr<store::EtcdClient> client,
      store::EtcdClient::Create(spec.endpoints, store.etcd_tls,
                                std::min(store.call_timeout, options.lease_ttl / 3)));
  return std::unique_ptr<LeaderElection>(
      new EtcdElection(std::move(client), spec.prefix + "leader", options));
}

std::unique_ptr<LeaderElection> NewSoleLeader(std::string id) {
  return std::make_unique<SoleLeader>(std::move(id));
}

}  // namespace berth::controller
