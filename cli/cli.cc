#include "cli.h"

#include <algorithm>
#include <exception>

#include "CLI/CLI.hpp"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "cmd_data.h"

namespace berth::cli {
namespace {

void BuildApp(CLI::App& app, CommandContext& ctx) {
  app.require_subcommand(1);
  app.fallthrough();
  app.add_option("--server", ctx.server(),
                 "Controller address host:port, or several IP:PORT,IP:PORT for an HA control plane "
                 "(env BERTH_SERVER, default 127.0.0.1:7443)");
  app.add_option("--tls-dir", ctx.tls_dir(),
                 "Directory with ca.crt, tls.crt, tls.key for mutual TLS (env BERTH_TLS_DIR)");
  app.add_option("--token", ctx.token(),
                 "Bearer token from `berth admin token create` (env BERTH_TOKEN)");
  app.add_option("-n,--namespace", ctx.namespace_flag(), "Namespace (default \"default\")");
  app.footer(
      "Examples:\n"
      "  berth apply -f snapshot.yaml\n"
      "  berth get vdsnapshot\n"
      "  berth wait vds/linux-vm-root-snap --for=jsonpath='{.status.phase}'=Ready\n\n"
      "Use \"berth <command> --help\" for more about a command.");
  AddApplyCommand(app, ctx);
  AddGetCommand(app, ctx);
  AddDescribeCommand(app, ctx);
  AddDeleteCommand(app, ctx);
  AddWaitCommand(app, ctx);
  AddLabelCommands(app, ctx);
  AddVersionCommand(app, ctx);
  AddCompletionCommand(app, ctx);
  AddAdminCommands(app, ctx);
  AddKubeconfigCommand(app, ctx);
  AddDataCommands(app, ctx);
  AddNodeCommand(app, ctx);
}

// Fails with kubectl's "unknown command" error when the first word that is neither a flag nor
// a flag's value names no verb.
absl::Status CheckVerb(const CLI::App& app, const std::vector<std::string>& args) {
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a == "--server" || a == "-n" || a == "--namespace" || a == "--tls-dir" || a == "--token") {
      ++i;
      continue;
    }
    if (!a.empty() && a[0] == '-') continue;
    auto named = [&a](const CLI::App* sub) { return sub->get_name() == a; };
    if (app.get_subcommands(std::function<bool(const CLI::App*)>(named)).empty()) {
      return absl::InvalidArgumentError(absl::StrCat("unknown command \"", a, "\" for \"berth\""));
    }
    return absl::OkStatus();
  }
  return absl::OkStatus();
}

std::string OneLine(std::string s) {
  std::replace(s.begin(), s.end(), '\n', ' ');
  while (!s.empty() && s.back() == ' ') s.pop_back();
  return s;
}

}  // namespace

int RunCli(const std::vector<std::string>& args, CliEnv env) {
  CommandContext ctx(std::move(env));
  CLI::App app("berth: manage Berth virtualization resources (kubectl-style)", "berth");
  try {
    BuildApp(app, ctx);
    std::vector<std::string> reversed(args.rbegin(), args.rend());
    app.parse(reversed);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == static_cast<int>(CLI::ExitCodes::Success)) {
      return app.exit(e, ctx.out(), ctx.err());
    }
    absl::Status verb = CheckVerb(app, args);
    ctx.err() << "error: " << (verb.ok() ? OneLine(e.what()) : std::string(verb.message())) << "\n";
    return 1;
  } catch (const std::exception& e) {
    ctx.err() << "error: " << OneLine(e.what()) << "\n";
    return 1;
  }
  ctx.out().flush();
  return ctx.exit_code();
}

}  // namespace berth::cli
