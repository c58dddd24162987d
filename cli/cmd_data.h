// `berth data export download` and `berth data import upload` (docs/export.md).
#ifndef BERTH_CLI_CMD_DATA_H_
#define BERTH_CLI_CMD_DATA_H_

#include "command_context.h"

namespace berth::cli {

void AddDataCommands(CLI::App& app, CommandContext& ctx);

}  // namespace berth::cli

#endif  // BERTH_CLI_CMD_DATA_H_
