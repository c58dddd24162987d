// The `berth` command: kubectl-style access to Berth's controller.
#include <cstdlib>
#include <iostream>
#include <thread>

#include "absl/time/clock.h"
#include "cli.h"
#include "grpc_resource_client.h"

int main(int argc, char** argv) {
  berth::RealClock clock;
  berth::cli::CliEnv env;
  env.in = &std::cin;
  env.out = &std::cout;
  env.err = &std::cerr;
  env.clock = &clock;
  env.sleep = [](absl::Duration d) { absl::SleepFor(d); };
  env.connect = [](const std::string& server) {
    return berth::cli::CreateGrpcResourceClient(server);
  };
  if (const char* server = std::getenv("BERTH_SERVER"); server != nullptr && *server != '\0') {
    env.default_server = server;
  }
  std::vector<std::string> args(argv + 1, argv + argc);
  return berth::cli::RunCli(args, std::move(env));
}
