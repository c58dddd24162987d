#ifndef BERTH_TESTS_UNIT_GUEST_FAKE_GUEST_AGENT_H_
#define BERTH_TESTS_UNIT_GUEST_FAKE_GUEST_AGENT_H_

#include <functional>
#include <map>
#include <set>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "berth/agent/guest.h"
#include "berth/status_macros.h"

namespace berth::agent {

// A guest agent that behaves like qemu-guest-agent (a second freeze while frozen is an error)
// and counts every command. Failures are injected per command. Thread-safe.
class FakeGuestAgent : public GuestAgent {
 public:
  absl::Status Ping(const std::string& domain) override {
    absl::MutexLock l(&mu_);
    return Check(domain);
  }
  absl::StatusOr<std::string> FsFreezeStatus(const std::string& domain) override {
    absl::MutexLock l(&mu_);
    ++status_calls;
    if (!status_error.ok()) return status_error;
    BERTH_RETURN_IF_ERROR(Check(domain));
    return frozen.count(domain) ? "frozen" : "thawed";
  }
  absl::StatusOr<int> FsFreeze(const std::string& domain) override {
    absl::MutexLock l(&mu_);
    ++freezes;
    if (on_freeze) on_freeze(domain);
    BERTH_RETURN_IF_ERROR(Check(domain));
    if (frozen.count(domain)) return absl::InternalError("the agent is in frozen state");
    // A timed-out freeze may still freeze the guest: model the worst case.
    if (freeze_times_out) {
      frozen.insert(domain);
      return absl::UnavailableError("guest agent timed out");
    }
    if (!freeze_error.ok()) return freeze_error;
    frozen.insert(domain);
    return 2;
  }
  absl::StatusOr<int> FsThaw(const std::string& domain) override {
    absl::MutexLock l(&mu_);
    ++thaws;
    BERTH_RETURN_IF_ERROR(Check(domain));
    if (!thaw_error.ok()) return thaw_error;
    return frozen.erase(domain) ? 2 : 0;
  }
  absl::StatusOr<std::vector<std::string>> Addresses(const std::string& domain) override {
    return std::vector<std::string>{"10.0.2.15"};
  }

  bool IsFrozen(const std::string& domain) {
    absl::MutexLock l(&mu_);
    return frozen.count(domain) > 0;
  }
  template <typename Fn>
  void Set(Fn fn) {
    absl::MutexLock l(&mu_);
    fn(*this);
  }
  template <typename T>
  T Get(T FakeGuestAgent::*field) {
    absl::MutexLock l(&mu_);
    return this->*field;
  }

  // State and knobs: use Set/Get from other threads.
  std::set<std::string> frozen;
  std::set<std::string> missing;  // domains that do not exist (NotFound)
  int freezes = 0, thaws = 0, status_calls = 0;
  absl::Status status_error, freeze_error, thaw_error;
  bool freeze_times_out = false;
  std::function<void(const std::string&)> on_freeze;  // runs before the freeze

 private:
  absl::Status Check(const std::string& domain) {
    if (missing.count(domain)) return absl::NotFoundError(absl::StrCat("no domain ", domain));
    return absl::OkStatus();
  }
  absl::Mutex mu_;
};

}  // namespace berth::agent

#endif  // BERTH_TESTS_UNIT_GUEST_FAKE_GUEST_AGENT_H_
