// FreezerImpl: reference-counted guest filesystem freezes with an auto-thaw deadline and a crash
// journal. See berth/agent/guest.h for the contract; decisions beyond it:
// - A guest that reports "frozen" when we hold no freeze is adopted: journaled, held and thawed
//   like our own freeze. QGA freezes do not nest (a second freeze is an error), so two freezers
//   cannot share a guest safely anyway, and the likeliest author of such a freeze is a crashed
//   freeze whose journal was lost; leaving it frozen is the one outcome we never allow.
// - Each Acquire that joins a freeze pushes the deadline to auto_thaw after the join.
// - When the deadline fires with holders left, their holds become orphans: their Release
//   returns DeadlineExceeded (the cut may postdate the thaw), and new Acquires of that domain
//   get Unavailable until every orphan is released, so a hold is never confused with one of
//   a later freeze.
// - A failed thaw keeps the domain marked frozen and journaled; the timer retries every second.
#include <atomic>
#include <chrono>
#include <iostream>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "berth/agent/guest.h"
#include "berth/log.h"
#include "berth/status_macros.h"
#include "guest/freeze_journal.h"

namespace berth::agent {
namespace {

// The auto-thaw timer looks at frozen domains this often; with none frozen it sleeps until a
// freeze wakes it, or kIdleTick at most (a clock it cannot watch, as a test's, may move).
constexpr absl::Duration kTick = absl::Milliseconds(20);
constexpr absl::Duration kIdleTick = absl::Seconds(1);
constexpr absl::Duration kThawRetry = absl::Seconds(1);

// Measures how long a guest-agent command took, for the log only (deadlines use the Clock).
class Stopwatch {
 public:
  int64_t Micros() const {
    return std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() -
                                                                 start_)
        .count();
  }

 private:
  std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now();
};

bool DomainGone(const absl::Status& s) {
  // Not found, or not running: either way nothing in it can be frozen any more.
  return absl::IsNotFound(s) || absl::IsFailedPrecondition(s);
}

class FreezerImpl : public Freezer {
 public:
  FreezerImpl(GuestAgent& agent, const Clock& clock, Options options)
      : agent_(agent), clock_(clock), options_(options), journal_(options.journal_dir) {
    timer_ = std::thread([this] { TimerLoop(); });
  }
  ~FreezerImpl() override {
    {
      absl::MutexLock l(&timer_mu_);
      stopping_ = true;
    }
    timer_.join();
  }

  absl::StatusOr<int> Acquire(const std::string& domain) override {
    Slot& s = SlotFor(domain);
    absl::MutexLock l(&s.op);
    if (s.frozen && s.holders > 0) {
      ++s.holders;
      s.deadline = std::max(s.deadline, clock_.Now() + options_.auto_thaw);
      return s.filesystems;
    }
    if (s.orphans > 0) {
      return absl::UnavailableError(
          absl::StrCat("the last freeze of domain ", domain, " was auto-thawed while ", s.orphans,
                       " snapshot(s) still held it; retry when they finish"));
    }
    if (s.frozen) {  // a thaw failed earlier: it must succeed before we freeze again
      absl::Status thaw = ThawLocked(domain, s);
      if (!thaw.ok()) {
        return absl::UnavailableError(
            absl::StrCat("domain ", domain,
                         " is still frozen from an earlier freeze and does "
                         "not thaw: ",
                         thaw.message()));
      }
    }
    return FreezeLocked(domain, s);
  }

  absl::Status Release(const std::string& domain) override {
    Slot& s = SlotFor(domain);
    absl::MutexLock l(&s.op);
    if (s.holders > 0) {
      if (--s.holders > 0) return absl::OkStatus();
      return ThawLocked(domain, s);
    }
    if (s.orphans > 0) {
      --s.orphans;
      return absl::DeadlineExceededError(absl::StrCat(
          "the filesystems of domain ", domain, " were auto-thawed after ",
          absl::FormatDuration(options_.auto_thaw), " before this snapshot finished its cut"));
    }
    return absl::FailedPreconditionError(absl::StrCat("no freeze of domain ", domain, " is held"));
  }

  absl::Status Recover() override {
    auto domains = journal_.List();
    if (absl::IsNotFound(domains.status())) return absl::OkStatus();
    if (!domains.ok()) return domains.status();
    absl::Status first;
    for (const std::string& domain : *domains) {
      Slot& s = SlotFor(domain);
      absl::MutexLock l(&s.op);
      s.frozen = true;  // maybe: the journal says a freeze was (about to be) sent
      WakeTimer();
      s.holders = 0;
      absl::Status st = ThawLocked(domain, s);
      Log(absl::StrCat("recover: domain ", domain, ": ", st.ok() ? "thawed" : st.ToString()));
      if (!st.ok() && first.ok()) first = st;  // the timer keeps retrying
    }
    return first;
  }

  int FreezesSent() const override { return freezes_sent_.load(); }
  int ThawsSent() const override { return thaws_sent_.load(); }

 private:
  struct Slot {
    absl::Mutex op;                           // serializes this domain's commands
    bool frozen ABSL_GUARDED_BY(op) = false;  // journaled and not yet thawed by us
    int holders ABSL_GUARDED_BY(op) = 0;      // Acquires without their Release
    int orphans ABSL_GUARDED_BY(op) = 0;      // holds whose freeze was auto-thawed
    int filesystems ABSL_GUARDED_BY(op) = 0;  // as the freeze reported
    absl::Time deadline ABSL_GUARDED_BY(op);  // auto-thaw (or thaw retry) time
  };

  // Returns the domain's slot; slots live as long as the Freezer.
  Slot& SlotFor(const std::string& domain) {
    absl::MutexLock l(&mu_);
    std::unique_ptr<Slot>& slot = slots_[domain];
    if (!slot) slot = std::make_unique<Slot>();
    return *slot;
  }

  absl::StatusOr<int> FreezeLocked(const std::string& domain, Slot& s)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(s.op) {
    BERTH_ASSIGN_OR_RETURN(std::string status, agent_.FsFreezeStatus(domain));
    absl::Status journaled = journal_.Add(domain);
    if (!journaled.ok()) {
      return absl::Status(journaled.code(),
                          absl::StrCat("cannot journal the freeze: ", journaled.message()));
    }
    s.frozen = true;  // from here on Release, the timer or Recover thaws
    WakeTimer();
    s.deadline = clock_.Now() + options_.auto_thaw;
    if (status == "frozen") {
      Log(absl::StrCat("domain ", domain, " was already frozen by someone else: adopting it"));
      s.holders = 1;
      s.filesystems = 0;
      return 0;
    }
    ++freezes_sent_;
    Stopwatch took;
    absl::StatusOr<int> n = agent_.FsFreeze(domain);
    Log(absl::StrCat("sent guest-fsfreeze-freeze to ", domain, ": ",
                     n.ok() ? absl::StrCat(*n, " filesystem(s)") : n.status().ToString(), " (",
                     took.Micros(), " us)"));
    if (!n.ok()) {
      // oVirt's rule: a freeze that failed or timed out may still have frozen something.
      absl::Status thaw = ThawLocked(domain, s);
      if (thaw.ok()) return n.status();
      return absl::Status(
          n.status().code(),
          absl::StrCat(n.status().message(), "; the thaw after it failed too: ", thaw.message()));
    }
    s.holders = 1;
    s.filesystems = *n;
    return *n;
  }

  absl::Status ThawLocked(const std::string& domain, Slot& s) ABSL_EXCLUSIVE_LOCKS_REQUIRED(s.op) {
    ++thaws_sent_;
    Stopwatch took;
    absl::StatusOr<int> n = agent_.FsThaw(domain);
    Log(absl::StrCat("sent guest-fsfreeze-thaw to ", domain, ": ",
                     n.ok() ? absl::StrCat(*n, " filesystem(s)") : n.status().ToString(), " (",
                     took.Micros(), " us)"));
    if (!n.ok() && !DomainGone(n.status())) {
      s.deadline = clock_.Now() + kThawRetry;
      return n.status();
    }
    s.frozen = false;
    s.filesystems = 0;
    absl::Status removed = journal_.Remove(domain);
    if (!removed.ok()) Log(absl::StrCat("cannot remove journal entry: ", removed.ToString()));
    return absl::OkStatus();
  }

  void WakeTimer() {
    absl::MutexLock l(&timer_mu_);
    woken_ = true;
  }

  void TimerLoop() {
    bool watching = false;  // the last tick saw a frozen (or busy) domain
    for (;;) {
      {
        absl::MutexLock l(&timer_mu_);
        auto woken = [this]()
                         ABSL_EXCLUSIVE_LOCKS_REQUIRED(timer_mu_) { return stopping_ || woken_; };
        timer_mu_.AwaitWithTimeout(absl::Condition(&woken), watching ? kTick : kIdleTick);
        if (stopping_) return;
        woken_ = false;
      }
      watching = Tick();
    }
  }

  // Thaws every frozen domain past its deadline. Skips domains busy with a command. Returns
  // whether a domain is still frozen, or was busy (it may be freezing now).
  bool Tick() {
    bool watching = false;
    std::vector<std::pair<std::string, Slot*>> slots;
    {
      absl::MutexLock l(&mu_);
      for (auto& [name, slot] : slots_) slots.emplace_back(name, slot.get());
    }
    for (auto& [domain, s] : slots) {
      if (!s->op.TryLock()) {
        watching = true;
        continue;
      }
      if (s->frozen && clock_.Now() >= s->deadline) {
        if (s->holders > 0) {
          Log(absl::StrCat("auto-thaw deadline passed for domain ", domain, " with ", s->holders,
                           " holder(s)"));
        }
        s->orphans += s->holders;
        s->holders = 0;
        ThawLocked(domain, *s).IgnoreError();  // logged; retried on the next deadline
      }
      watching = watching || s->frozen;
      s->op.Unlock();
    }
    return watching;
  }

  static void Log(const std::string& line) { log::Warning(absl::StrCat("freezer: ", line)); }

  GuestAgent& agent_;
  const Clock& clock_;
  const Options options_;
  FreezeJournal journal_;
  absl::Mutex mu_;
  std::map<std::string, std::unique_ptr<Slot>> slots_ ABSL_GUARDED_BY(mu_);
  std::atomic<int> freezes_sent_{0};
  std::atomic<int> thaws_sent_{0};
  absl::Mutex timer_mu_;
  bool stopping_ ABSL_GUARDED_BY(timer_mu_) = false;
  bool woken_ ABSL_GUARDED_BY(timer_mu_) = false;  // a domain was frozen since the last tick
  std::thread timer_;  // runs TimerLoop until stopping_; joined by the destructor
};

}  // namespace

std::unique_ptr<Freezer> NewFreezer(GuestAgent& agent, const Clock& clock,
                                    Freezer::Options options) {
  return std::make_unique<FreezerImpl>(agent, clock, std::move(options));
}

}  // namespace berth::agent
