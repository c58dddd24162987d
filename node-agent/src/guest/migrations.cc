// Outgoing live migrations: a worker thread blocks in Hypervisor::Migrate while a watchdog
// samples the job's figures once a second and aborts it at its deadline.
#include "guest/migrations.h"

#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "berth/log.h"

namespace berth::agent {

namespace {
// The deadline is checked this often; libvirt's job stats (a QEMU query) every kStatsEvery-th
// time only, so the sampling costs the migrating guest little.
constexpr absl::Duration kSample = absl::Milliseconds(200);
constexpr int kStatsEvery = 5;
// An abort is repeated this often until the migration has ended.
constexpr absl::Duration kAbortAgain = absl::Seconds(1);
}  // namespace

const char* MigrationPhaseName(MigrationState::Phase p) {
  switch (p) {
    case MigrationState::Phase::kRunning:
      return "Running";
    case MigrationState::Phase::kCompleted:
      return "Completed";
    case MigrationState::Phase::kFailed:
      return "Failed";
    default:
      return "None";
  }
}

Migrations::~Migrations() {
  std::vector<std::string> running;
  {
    absl::MutexLock l(&mu_);
    for (auto& [name, e] : entries_) {
      if (e->state.phase == MigrationState::Phase::kRunning) running.push_back(name);
    }
  }
  for (const std::string& name : running) Abort(name);
  // Joined without the lock: a watchdog takes it once more before it sees its migration ended.
  std::map<std::string, std::unique_ptr<Entry>> entries;
  {
    absl::MutexLock l(&mu_);
    entries.swap(entries_);
  }
  for (auto& [name, e] : entries) Join(*e);
}

void Migrations::Join(Entry& e) {
  if (e.worker.joinable()) e.worker.join();
  if (e.watchdog.joinable()) e.watchdog.join();
}

MigrationState Migrations::Start(const std::string& name, const MigrationParams& params,
                                 absl::Duration timeout) {
  std::unique_ptr<Entry> old;
  Entry* e = nullptr;
  {
    absl::MutexLock l(&mu_);
    auto it = entries_.find(name);
    if (it != entries_.end() && it->second->state.phase == MigrationState::Phase::kRunning) {
      return it->second->state;
    }
    if (it != entries_.end()) old = std::move(it->second);
    auto fresh = std::make_unique<Entry>();
    e = fresh.get();
    e->state.phase = MigrationState::Phase::kRunning;
    e->state.progress.active = true;
    if (timeout > absl::ZeroDuration()) e->deadline = clock_.Now() + timeout;
    entries_[name] = std::move(fresh);
    log::Info("migration", {{"domain", name}, {"to", params.dest_uri}});
    e->worker = std::thread([this, name, params, e] {
      absl::StatusOr<MigrationProgress> done = hv_.Migrate(name, params);
      absl::Status s = done.status();
      absl::MutexLock l(&mu_);
      e->state.phase = s.ok() ? MigrationState::Phase::kCompleted : MigrationState::Phase::kFailed;
      if (done.ok()) e->state.progress = *done;  // libvirt's figures of the finished job
      e->state.progress.active = false;
      if (!s.ok()) {
        e->state.error = e->state.timed_out ? absl::StrCat(
                                                  "the migration did not finish in time and was "
                                                  "aborted (",
                                                  s.message(), ")")
                                            : std::string(s.message());
      }
      log::Info("migration ended", {{"domain", name},
                                    {"result", MigrationPhaseName(e->state.phase)},
                                    {"error", e->state.error}});
    });
    e->watchdog = std::thread([this, name, e] { Watch(name, e); });
  }
  if (old) Join(*old);  // an ended migration's threads are done or about to be
  return Get(name);
}

void Migrations::Watch(const std::string& name, Entry* e) {
  for (int tick = 1;; ++tick) {
    absl::SleepFor(kSample);
    absl::StatusOr<MigrationProgress> p = absl::UnavailableError("not sampled");
    if (tick % kStatsEvery == 0) p = hv_.Progress(name, false);
    bool abort = false;
    {
      absl::MutexLock l(&mu_);
      if (e->state.phase != MigrationState::Phase::kRunning) return;
      if (p.ok() && p->active) e->state.progress = *p;
      const absl::Time now = clock_.Now();
      if (!e->aborting && now >= e->deadline) {
        e->aborting = true;
        e->state.timed_out = true;
        log::Warning("migration deadline passed: aborting", {{"domain", name}});
      }
      if (e->aborting && now >= e->next_abort) {
        e->next_abort = now + kAbortAgain;
        abort = true;
      }
    }
    if (abort) AskToAbort(name);
  }
}

void Migrations::AskToAbort(const std::string& name) {
  absl::Status s = hv_.AbortMigration(name);
  if (s.ok()) {
    log::Info("migration abort asked", {{"domain", name}});
  } else if (absl::IsFailedPrecondition(s)) {  // no job yet, or one that cannot be aborted now
    log::Info("migration abort not taken yet", {{"domain", name}, {"error", s.ToString()}});
  } else {
    log::Warning("migration abort failed", {{"domain", name}, {"error", s.ToString()}});
  }
}

MigrationState Migrations::Get(const std::string& name) {
  absl::MutexLock l(&mu_);
  auto it = entries_.find(name);
  if (it == entries_.end()) return MigrationState{};
  return it->second->state;
}

bool Migrations::Forget(const std::string& name) {
  std::unique_ptr<Entry> ended;
  {
    absl::MutexLock l(&mu_);
    auto it = entries_.find(name);
    if (it == entries_.end()) return true;
    if (it->second->state.phase == MigrationState::Phase::kRunning) return false;
    ended = std::move(it->second);
    entries_.erase(it);
  }
  Join(*ended);  // without the lock, as in the destructor
  return true;
}

MigrationState Migrations::Abort(const std::string& name) {
  {
    absl::MutexLock l(&mu_);
    auto it = entries_.find(name);
    if (it == entries_.end() || it->second->state.phase != MigrationState::Phase::kRunning) {
      return it == entries_.end() ? MigrationState{} : it->second->state;
    }
    it->second->aborting = true;
    it->second->next_abort = clock_.Now() + kAbortAgain;  // the watchdog repeats it from then
  }
  AskToAbort(name);
  absl::MutexLock l(&mu_);
  auto ended = [this, &name]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return entries_[name]->state.phase != MigrationState::Phase::kRunning;
  };
  mu_.AwaitWithTimeout(absl::Condition(&ended), absl::Seconds(30));
  return entries_[name]->state;
}

}  // namespace berth::agent
