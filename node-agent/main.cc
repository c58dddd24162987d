// berth-agent: the privileged per-node daemon. Serves storage pools to the controller.
// Flags: server/agent_options.cc; what runs: server/agent_server.h.
#include <signal.h>

#include <iostream>

#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "berth/daemon.h"
#include "berth/log.h"
#include "berth/sd_notify.h"
#include "server/agent_options.h"
#include "server/agent_server.h"

namespace ba = berth::agent;

namespace {

// Blocks SIGINT and SIGTERM in this thread and every thread it starts after this, so only the
// sigwait in main() receives them.
sigset_t BlockStopSignals() {
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  return signals;
}

}  // namespace

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage("berth-agent --node_name=NAME --pools=NAME:TYPE:PATH,...");
  berth::HelpListsOptionsFlags();
  absl::ParseCommandLine(argc, argv);
  berth::ConfigureDaemonProcess();
  absl::StatusOr<ba::AgentOptions> options = ba::AgentOptionsFromFlags();
  if (!options.ok()) {
    std::cerr << "berth-agent: " << options.status().message() << "\n";
    return 2;
  }
  berth::log::Init(options->log_format, options->verbosity, "agent");
  sigset_t signals = BlockStopSignals();  // before any thread starts
  // A peer that goes away mid-write (libvirtd restarted under a running guest, a client closing
  // an export) is an error on that write, never a reason to die.
  signal(SIGPIPE, SIG_IGN);
  berth::RealClock clock;
  auto agent = ba::AgentServer::Create(*options, ba::ProductionAgentPlatform(), clock);
  absl::Status started = agent.ok() ? (*agent)->Start() : agent.status();
  if (!started.ok()) {
    berth::log::Error(std::string(started.message()));
    return ba::IsAgentOptionsError(started) ? 2 : 1;
  }
  berth::NotifyReady((*agent)->ReadyStatus());
  berth::WatchdogPinger watchdog;
  int sig = 0;
  sigwait(&signals, &sig);
  berth::NotifyStopping();
  berth::log::Info(berth::log::Str("signal ", sig, ", shutting down"));
  (*agent)->Shutdown();
  return 0;
}
