// Migrations (the agent's outgoing live migrations) against a fake hypervisor whose migration
// runs until it is aborted: the deadline aborts it, an abort asked for before the job began is
// asked for again, Abort() waits for the end, and Forget() drops only an ended record.
#include "guest/migrations.h"

#include <catch2/catch.hpp>

#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"

namespace berth::agent {
namespace {

// Migrate blocks until an abort lands. The first `ignored_aborts` aborts find "no job yet":
// they succeed and do nothing, as libvirt's virDomainAbortJob does before the job has begun.
class SlowHypervisor : public Hypervisor {
 public:
  explicit SlowHypervisor(int ignored_aborts) : ignored_(ignored_aborts) {}

  absl::Status Define(const DomainSpec&) override { return absl::OkStatus(); }
  absl::Status Start(const std::string&) override { return absl::OkStatus(); }
  absl::Status Shutdown(const std::string&) override { return absl::OkStatus(); }
  absl::Status Destroy(const std::string&) override { return absl::OkStatus(); }
  absl::Status Undefine(const std::string&) override { return absl::OkStatus(); }
  absl::StatusOr<DomainState> State(const std::string&) override { return DomainState::kRunning; }
  absl::StatusOr<std::string> AgentCommand(const std::string&, const std::string&,
                                           absl::Duration) override {
    return absl::UnavailableError("no guest agent");
  }
  std::string Accelerator() const override { return "qemu"; }

  absl::StatusOr<MigrationProgress> Migrate(const std::string& name,
                                            const MigrationParams&) override {
    absl::MutexLock l(&mu_);
    mu_.AwaitWithTimeout(absl::Condition(&cancelled_), absl::Seconds(20));
    if (!cancelled_) return absl::DeadlineExceededError("the test's fake migration never ended");
    return absl::AbortedError("migration of " + name + " canceled by client");
  }
  absl::StatusOr<MigrationProgress> Progress(const std::string&, bool) override {
    MigrationProgress p;
    p.active = true;
    p.data_total = 100;
    p.data_remaining = 60;
    return p;
  }
  absl::Status AbortMigration(const std::string&) override {
    absl::MutexLock l(&mu_);
    ++aborts_;
    if (aborts_ > ignored_) cancelled_ = true;
    return absl::OkStatus();
  }
  int Aborts() {
    absl::MutexLock l(&mu_);
    return aborts_;
  }

 private:
  const int ignored_;
  absl::Mutex mu_;
  bool cancelled_ ABSL_GUARDED_BY(mu_) = false;
  int aborts_ ABSL_GUARDED_BY(mu_) = 0;
};

MigrationState WaitEnded(Migrations& m, const std::string& name) {
  for (int i = 0; i < 200; ++i) {
    MigrationState s = m.Get(name);
    if (s.phase != MigrationState::Phase::kRunning) return s;
    absl::SleepFor(absl::Milliseconds(50));
  }
  return m.Get(name);
}

TEST_CASE("a migration past its deadline is aborted and fails as timed out") {
  SlowHypervisor hv(/*ignored_aborts=*/0);
  RealClock clock;
  Migrations m(hv, clock);
  MigrationState started = m.Start("dom", MigrationParams{}, absl::Milliseconds(300));
  CHECK(started.phase == MigrationState::Phase::kRunning);
  MigrationState ended = WaitEnded(m, "dom");
  CHECK(ended.phase == MigrationState::Phase::kFailed);
  CHECK(ended.timed_out);
  CHECK(ended.error.find("did not finish in time") != std::string::npos);
  CHECK(hv.Aborts() == 1);
}

TEST_CASE("an abort that found no job yet is asked for again until the migration ends") {
  SlowHypervisor hv(/*ignored_aborts=*/2);
  RealClock clock;
  Migrations m(hv, clock);
  m.Start("dom", MigrationParams{}, absl::Milliseconds(100));
  MigrationState ended = WaitEnded(m, "dom");
  CHECK(ended.phase == MigrationState::Phase::kFailed);
  CHECK(ended.timed_out);
  CHECK(hv.Aborts() == 3);
}

TEST_CASE("Abort cancels a migration without a deadline and waits for its end") {
  SlowHypervisor hv(/*ignored_aborts=*/1);
  RealClock clock;
  Migrations m(hv, clock);
  m.Start("dom", MigrationParams{}, absl::ZeroDuration());
  absl::SleepFor(absl::Milliseconds(300));
  CHECK(m.Get("dom").phase == MigrationState::Phase::kRunning);
  MigrationState ended = m.Abort("dom");  // the first abort is ignored; the watchdog repeats it
  CHECK(ended.phase == MigrationState::Phase::kFailed);
  CHECK_FALSE(ended.timed_out);
  CHECK(hv.Aborts() == 2);
}

TEST_CASE("Forget keeps a running migration's record and drops an ended one") {
  SlowHypervisor hv(/*ignored_aborts=*/0);
  RealClock clock;
  Migrations m(hv, clock);
  CHECK(m.Forget("never-migrated"));
  m.Start("dom", MigrationParams{}, absl::ZeroDuration());
  CHECK_FALSE(m.Forget("dom"));
  CHECK(m.Get("dom").phase == MigrationState::Phase::kRunning);
  CHECK(m.Abort("dom").phase == MigrationState::Phase::kFailed);
  CHECK(m.Forget("dom"));  // e.g. the domain migrated back here: its old figures are not its own
  CHECK(m.Get("dom").phase == MigrationState::Phase::kNone);
}

}  // namespace
}  // namespace berth::agent
