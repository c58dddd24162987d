// `berth delete`.
#include <memory>

#include "CLI/CLI.hpp"
#include "absl/strings/str_cat.h"
#include "berth/status_macros.h"
#include "command_context.h"
#include "printers.h"

namespace berth::cli {
namespace {

struct DeleteOptions {
  std::vector<std::string> args;
  std::vector<std::string> files;
  std::string selector;
  bool all = false;
  bool wait = true;
  bool ignore_not_found = false;
  std::string timeout = "60s";
};

absl::StatusOr<std::vector<Target>> TargetsFromFiles(const DeleteOptions& o, CommandContext& ctx) {
  std::vector<Target> out;
  for (const FileObject& fo : ReadManifestFiles(o.files, ctx)) {
    std::string kind_name = JsonString(fo.object, "/kind");
    const KindInfo* kind = ResolveKind(kind_name);
    if (kind == nullptr) {
      ctx.Fail(UnknownKindError(kind_name));
      continue;
    }
    std::string ns = JsonString(fo.object, "/metadata/namespace");
    if (!kind->namespaced) {
      ns.clear();
    } else if (ns.empty()) {
      ns = ctx.NamespaceFor(*kind);
    }
    out.push_back({{kind, JsonString(fo.object, "/metadata/name")}, ns});
  }
  return out;
}

absl::StatusOr<std::vector<Target>> Targets(const DeleteOptions& o, CommandContext& ctx) {
  if (!o.files.empty()) {
    if (!o.args.empty()) {
      return absl::InvalidArgumentError("cannot pass both resource arguments and -f");
    }
    return TargetsFromFiles(o, ctx);
  }
  BERTH_ASSIGN_OR_RETURN(ResourceArgs args, ParseResourceArgs(o.args, "delete"));
  if (args.refs.empty() && !o.all && o.selector.empty()) {
    return absl::InvalidArgumentError(
        "resource(s) were provided, but no name was specified (use --all to delete every one)");
  }
  return ResolveTargets(args, o.all, o.selector, ctx);
}

absl::Status RunDelete(const DeleteOptions& o, CommandContext& ctx) {
  BERTH_ASSIGN_OR_RETURN(absl::Duration timeout, ParseTimeout(o.timeout));
  BERTH_ASSIGN_OR_RETURN(std::vector<Target> targets, Targets(o, ctx));
  BERTH_ASSIGN_OR_RETURN(auto* client, ctx.Client());
  std::vector<Target> pending;
  for (const Target& t : targets) {
    auto res = client->Delete(t.ref.kind->kind, t.ns, t.ref.name);
    if (!res.ok()) {
      bool missing = res.status().code() == absl::StatusCode::kNotFound;
      if (!(missing && o.ignore_not_found)) ctx.Fail(res.status());
      continue;
    }
    ctx.out() << QualifiedSingular(*t.ref.kind) << " \"" << t.ref.name << "\" deleted\n";
    if (!JsonString(res->object, "/metadata/deletionTimestamp").empty()) pending.push_back(t);
  }
  if (!o.wait || pending.empty()) return absl::OkStatus();
  ctx.out().flush();
  absl::Time deadline = ctx.clock().Now() + timeout;
  WaitCondition gone;  // kDelete
  for (const Target& t : pending) {
    absl::Status st = WaitForObject(*client, t.ref, t.ns, gone, deadline, ctx.timing());
    if (!st.ok()) ctx.Fail(st);
  }
  return absl::OkStatus();
}

}  // namespace

void AddDeleteCommand(CLI::App& app, CommandContext& ctx) {
  auto o = std::make_shared<DeleteOptions>();
  CLI::App* cmd = app.add_subcommand("delete", "Delete resources by name, selector or manifest");
  cmd->add_option("args", o->args, "KIND NAME... or KIND/NAME...");
  cmd->add_option("-f,--filename", o->files, "Delete the objects in a manifest (- for stdin)");
  cmd->add_option("-l,--selector", o->selector, "Delete the objects matching a label selector");
  cmd->add_flag("--all", o->all, "Delete every object of the kind in the namespace");
  cmd->add_flag("--wait", o->wait,
                "Wait until finalizers are done and the object is gone (default true; "
                "--wait=false to return at once)");
  cmd->add_flag("--ignore-not-found", o->ignore_not_found, "Treat a missing object as deleted");
  cmd->add_option("--timeout", o->timeout, "How long --wait waits (default 60s)");
  cmd->footer(
      "Examples:\n"
      "  berth delete vdsnapshot linux-vm-root-1728027905\n"
      "  berth delete vmop/restore-vm --wait=false\n"
      "  berth delete -f vm.yaml --ignore-not-found --timeout=2m");
  cmd->callback([o, &ctx] { RunGuarded(ctx, [&] { return RunDelete(*o, ctx); }); });
}

}  // namespace berth::cli
