// `berth label` and `berth annotate`.
#include <memory>

#include "CLI/CLI.hpp"
#include "absl/strings/str_cat.h"
#include "berth/status_macros.h"
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
  BERTH_ASSIGN_OR_RETURN(Json obj, client.Get(t.ref.kind->kind, t.ns, t.ref.name));
  Json& map = obj["metadata"][v.field];
  std::vector<std::string> warnings;
  BERTH_ASSIGN_OR_RETURN(bool changed,
                         ApplyMetadataChanges(map, changes, o.overwrite, v.what, &warnings));
  for (const std::string& w : warnings) ctx.err() << w << "\n";
  std::string ref = absl::StrCat(QualifiedSingular(*t.ref.kind), "/", t.ref.name);
  if (!changed) {
    ctx.out() << ref << " not " << v.done << "\n";
    return absl::OkStatus();
  }
  // The Get's metadata.resourceVersion travels along, so a concurrent edit conflicts.
  obj.erase("status");
  BERTH_RETURN_IF_ERROR(client.Apply(obj, false).status());
  ctx.out() << ref << " " << v.done << "\n";
  return absl::OkStatus();
}

absl::Status RunMetadata(const MetadataOptions& o, const MetadataVerb& v, CommandContext& ctx) {
  std::vector<std::string> resources, change_args;
  SplitMetadataArgs(o.args, &resources, &change_args);
  BERTH_ASSIGN_OR_RETURN(ResourceArgs args, ParseResourceArgs(resources, v.verb));
  if (change_args.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("at least one ", v.what, " update is required"));
  }
  BERTH_ASSIGN_OR_RETURN(std::vector<MetadataChange> changes, ParseMetadataChanges(change_args));
  if (args.refs.empty() && !o.all && o.selector.empty()) {
    return absl::InvalidArgumentError("resource(s) were provided, but no name was specified");
  }
  BERTH_ASSIGN_OR_RETURN(std::vector<Target> targets, ResolveTargets(args, o.all, o.selector, ctx));
  BERTH_ASSIGN_OR_RETURN(auto* client, ctx.Client());
  for (const Target& t : targets) {
    absl::Status st = EditOne(t, changes, o, v, *client, ctx);
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
