// `berth label` and `berth annotate`.
#include <memory>

#include "CLI/CLI.hpp"
#include "absl/strings/str_cat.h"
#include "command_context.h"
#include "printers.h"

namespace berth::cli {
namespace {

struct MetadataOptions {
  std::vector<std::string> args;
  bool overwrite = false;
  bool all = false;
  std::string selector;
};

// Names the two verbs' differences.
struct MetadataVerb {
  std::string verb;   // label
  std::string field;  // labels
  std::string what;   // label
  std::string done;   // labeled
};

absl::Status EditOne(const Target& t, const std::vector<MetadataChange>& changes,
                     const MetadataOptions& o, const MetadataVerb& v, ResourceClient& client,
                     CommandContext& ctx) {
  auto obj = client.Get(t.ref.kind->kind, t.ns, t.ref.name);
  if (!obj.ok()) return obj.status();
  Json& map = (*obj)["metadata"][v.field];
  std::vector<std::string> warnings;
  auto changed = ApplyMetadataChanges(map, changes, o.overwrite, v.what, &warnings);
  if (!changed.ok()) return changed.status();
  for (const std::string& w : warnings) ctx.err() << w << "\n";
  std::string ref = absl::StrCat(QualifiedSingular(*t.ref.kind), "/", t.ref.name);
  if (!*changed) {
    ctx.out() << ref << " not " << v.done << "\n";
    return absl::OkStatus();
  }
  // The Get's metadata.resourceVersion travels along, so a concurrent edit conflicts.
  obj->erase("status");
  auto res = client.Apply(*obj, false);
  if (!res.ok()) return res.status();
  ctx.out() << ref << " " << v.done << "\n";
  return absl::OkStatus();
}

absl::Status RunMetadata(const MetadataOptions& o, const MetadataVerb& v, CommandContext& ctx) {
  std::vector<std::string> resources, change_args;
  SplitMetadataArgs(o.args, &resources, &change_args);
  auto args = ParseResourceArgs(resources, v.verb);
  if (!args.ok()) return args.status();
  if (change_args.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("at least one ", v.what, " update is required"));
  }
  auto changes = ParseMetadataChanges(change_args);
  if (!changes.ok()) return changes.status();
  if (args->refs.empty() && !o.all && o.selector.empty()) {
    return absl::InvalidArgumentError("resource(s) were provided, but no name was specified");
  }
  auto targets = ResolveTargets(*args, o.all, o.selector, ctx);
  if (!targets.ok()) return targets.status();
  auto client = ctx.Client();
  if (!client.ok()) return client.status();
  for (const Target& t : *targets) {
    absl::Status st = EditOne(t, *changes, o, v, **client, ctx);
    if (!st.ok()) ctx.Fail(st);
  }
  return absl::OkStatus();
}

void AddMetadataCommand(CLI::App& app, CommandContext& ctx, const MetadataVerb& v,
                        const std::string& help, const std::string& examples) {
  auto o = std::make_shared<MetadataOptions>();
  CLI::App* cmd = app.add_subcommand(v.verb, help);
  cmd->add_option("args", o->args, "KIND NAME... KEY=VAL... KEY-...");
  cmd->add_flag("--overwrite", o->overwrite, "Allow replacing existing values");
  cmd->add_flag("--all", o->all, "Edit every object of the kind in the namespace");
  cmd->add_option("-l,--selector", o->selector, "Edit the objects matching a label selector");
  cmd->footer(examples);
  cmd->callback([o, v, &ctx] { RunGuarded(ctx, [&] { return RunMetadata(*o, v, ctx); }); });
}

}  // namespace

void AddLabelCommands(CLI::App& app, CommandContext& ctx) {
  AddMetadataCommand(app, ctx, {"label", "labels", "label", "labeled"},
                     "Update the labels of resources",
                     "Examples:\n"
                     "  berth label vm linux-vm app=web\n"
                     "  berth label vm/linux-vm app=db --overwrite\n"
                     "  berth label vm linux-vm app-");
  AddMetadataCommand(app, ctx, {"annotate", "annotations", "annotation", "annotated"},
                     "Update the annotations of resources",
                     "Examples:\n"
                     "  berth annotate vd linux-vm-root owner=team-a\n"
                     "  berth annotate vd/linux-vm-root owner-");
}

}  // namespace berth::cli
