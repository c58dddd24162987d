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
  env.connect = [](const berth::cli::Connection& c) {
    return berth::cli::CreateGrpcResourceClient(c);
  };
  if (const char* server = std::getenv("BERTH_SERVER"); server != nullptr && *server != '\0') {
    env.default_server = server;
  }
  if (const char* dir = std::getenv("BERTH_TLS_DIR"); dir != nullptr) env.default_tls_dir = dir;
  if (const char* token = std::getenv("BERTH_TOKEN"); token != nullptr) env.default_token = token;
  std::vector<std::string> args(argv + 1, argv + argc);
  return berth::cli::RunCli(args, std::move(env));
}
