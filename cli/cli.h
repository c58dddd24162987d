#ifndef BERTH_CLI_CLI_H_
#define BERTH_CLI_CLI_H_

#include <string>
#include <vector>

#include "command_context.h"

namespace berth::cli {

#ifdef BERTH_VERSION
inline constexpr char kClientVersion[] = BERTH_VERSION;
#else
inline constexpr char kClientVersion[] = "0.0.0-dev";
#endif

// Runs `berth` with `args` (without the program name) and returns the exit code: 0 on
// success, 1 on any error (printed as one line on env.err). Throws nothing.
int RunCli(const std::vector<std::string>& args, CliEnv env);

}  // namespace berth::cli

#endif  // BERTH_CLI_CLI_H_
