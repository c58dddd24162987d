// `berth wait`.
#include <memory>

#include "CLI/CLI.hpp"
#include "absl/strings/str_cat.h"
#include "berth/status_macros.h"
#include "command_context.h"
#include "printers.h"

namespace berth::cli {
namespace {

struct WaitOptions {
  std::vector<std::string> args;
  std::string for_condition;
  std::string timeout = "30s";
  std::string selector;
  bool all = false;
};

absl::Status RunWait(const WaitOptions& o, CommandContext& ctx) {
  BERTH_ASSIGN_OR_RETURN(WaitCondition cond, ParseWaitFor(o.for_condition));
  BERTH_ASSIGN_OR_RETURN(absl::Duration timeout, ParseTimeout(o.timeout));
  BERTH_ASSIGN_OR_RETURN(ResourceArgs args, ParseResourceArgs(o.args, "wait"));
  if (args.refs.empty() && !o.all && o.selector.empty()) {
    return absl::InvalidArgumentError(
        "resource(s) were provided, but no name was specified (use --all or -l)");
  }
  absl::Time deadline = ctx.clock().Now() + timeout;
  BERTH_ASSIGN_OR_RETURN(std::vector<Target> targets, ResolveTargets(args, o.all, o.selector, ctx));
  if (targets.empty()) return absl::NotFoundError("no matching resources found");
  BERTH_ASSIGN_OR_RETURN(auto* client, ctx.Client());
  for (const Target& t : targets) {
    absl::Status st = WaitForObject(*client, t.ref, t.ns, cond, deadline, ctx.timing());
    if (!st.ok()) {
      ctx.Fail(st);
      continue;
    }
    ctx.out() << QualifiedSingular(*t.ref.kind) << "/" << t.ref.name << " condition met\n";
    ctx.out().flush();
  }
  return absl::OkStatus();
}

}  // namespace

void AddWaitCommand(CLI::App& app, CommandContext& ctx) {
  auto o = std::make_shared<WaitOptions>();
  CLI::App* cmd = app.add_subcommand("wait", "Wait for a condition on resources");
  cmd->add_option("args", o->args, "KIND/NAME... or KIND NAME... or KIND --all");
  cmd->add_option("--for", o->for_condition,
                  "delete | condition=TYPE[=VALUE] | jsonpath='{PATH}'=VALUE")
      ->required();
  cmd->add_option("--timeout", o->timeout, "Give up after this long (default 30s)");
  cmd->add_option("-l,--selector", o->selector, "Wait for every object matching the selector");
  cmd->add_flag("--all", o->all, "Wait for every object of the kind in the namespace");
  cmd->footer(
      "Examples:\n"
      "  berth wait vdsnapshot/linux-vm-root-snap --for=jsonpath='{.status.phase}'=Ready\n"
      "  berth wait vmop/restore-vm --for=condition=Completed --timeout=5m\n"
      "  berth wait vd --all --for=delete -n my-project");
  cmd->callback([o, &ctx] { RunGuarded(ctx, [&] { return RunWait(*o, ctx); }); });
}

}  // namespace berth::cli
