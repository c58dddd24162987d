// GuestAgentImpl: qemu-guest-agent commands through Hypervisor::AgentCommand; replies are
// parsed by the pure functions in qga_parse.
#include "absl/strings/str_cat.h"
#include "berth/agent/guest.h"
#include "berth/status_macros.h"
#include "guest/qga_parse.h"

namespace berth::agent {
namespace {

// A ping must answer fast: GetDomain reports "agent not ready" rather than stalling.
constexpr absl::Duration kPingTimeout = absl::Seconds(2);
constexpr absl::Duration kQueryTimeout = absl::Seconds(5);
// Freezing flushes the guest's dirty data first, which can take a while on a busy guest.
constexpr absl::Duration kFreezeTimeout = absl::Seconds(30);
constexpr absl::Duration kThawTimeout = absl::Seconds(10);

absl::Status WithContext(const absl::Status& s, absl::string_view command,
                         const std::string& domain) {
  return absl::Status(s.code(), absl::StrCat(command, " in domain ", domain, ": ", s.message()));
}

class GuestAgentImpl : public GuestAgent {
 public:
  explicit GuestAgentImpl(Hypervisor& hypervisor) : hypervisor_(hypervisor) {}

  absl::Status Ping(const std::string& domain) override {
    auto reply = Run(domain, "guest-ping", kPingTimeout);
    if (!reply.ok()) return reply.status();
    absl::Status s = ParsePing(*reply);
    return s.ok() ? s : WithContext(s, "guest-ping", domain);
  }

  absl::StatusOr<std::string> FsFreezeStatus(const std::string& domain) override {
    BERTH_ASSIGN_OR_RETURN(std::string reply, Run(domain, "guest-fsfreeze-status", kQueryTimeout));
    return Checked(ParseFsFreezeStatus(reply), "guest-fsfreeze-status", domain);
  }

  absl::StatusOr<int> FsFreeze(const std::string& domain) override {
    BERTH_ASSIGN_OR_RETURN(std::string reply, Run(domain, "guest-fsfreeze-freeze", kFreezeTimeout));
    return Checked(ParseFsCount(reply), "guest-fsfreeze-freeze", domain);
  }

  absl::StatusOr<int> FsThaw(const std::string& domain) override {
    BERTH_ASSIGN_OR_RETURN(std::string reply, Run(domain, "guest-fsfreeze-thaw", kThawTimeout));
    return Checked(ParseFsCount(reply), "guest-fsfreeze-thaw", domain);
  }

  absl::StatusOr<std::vector<std::string>> Addresses(const std::string& domain) override {
    BERTH_ASSIGN_OR_RETURN(std::string reply,
                           Run(domain, "guest-network-get-interfaces", kQueryTimeout));
    return Checked(ParseAddresses(reply), "guest-network-get-interfaces", domain);
  }

 private:
  absl::StatusOr<std::string> Run(const std::string& domain, absl::string_view command,
                                  absl::Duration timeout) {
    return hypervisor_.AgentCommand(domain, QgaCommand(command), timeout);
  }

  template <typename T>
  static absl::StatusOr<T> Checked(absl::StatusOr<T> v, absl::string_view command,
                                   const std::string& domain) {
    if (v.ok()) return v;
    return WithContext(v.status(), command, domain);
  }

  Hypervisor& hypervisor_;
};

}  // namespace

std::unique_ptr<GuestAgent> NewGuestAgent(Hypervisor& hypervisor) {
  return std::make_unique<GuestAgentImpl>(hypervisor);
}

}  // namespace berth::agent
