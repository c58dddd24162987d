// `berth apply`.
#include <memory>

#include "CLI/CLI.hpp"
#include "absl/strings/str_cat.h"
#include "berth/status_macros.h"
#include "command_context.h"
#include "printers.h"

namespace berth::cli {
namespace {

struct ApplyOptions {
  std::vector<std::string> files;
  std::string dry_run = "none";
};

// Fills in the namespace kubectl-style: -n for objects without one; a conflicting explicit -n
// is an error.
absl::Status SetNamespace(Json& obj, const KindInfo& kind, CommandContext& ctx) {
  if (!kind.namespaced) return absl::OkStatus();
  std::string own = JsonString(obj, "/metadata/namespace");
  const std::string& flag = ctx.namespace_flag();
  if (!own.empty() && !flag.empty() && own != flag) {
    return absl::InvalidArgumentError(absl::StrCat(
        "the namespace from the provided object \"", own, "\" does not match the namespace \"",
        flag, "\". You must pass '--namespace=", own, "' to perform this operation."));
  }
  if (own.empty()) obj["metadata"]["namespace"] = ctx.NamespaceFor(kind);
  return absl::OkStatus();
}

// Decides created/configured for --dry-run=client without writing.
absl::StatusOr<std::string> ClientDryRunAction(ResourceClient& client, const KindInfo& kind,
                                               const Json& obj) {
  auto got = client.Get(kind.kind, JsonString(obj, "/metadata/namespace"),
                        JsonString(obj, "/metadata/name"));
  if (got.ok()) return std::string("configured");
  if (got.status().code() == absl::StatusCode::kNotFound) return std::string("created");
  return got.status();
}

absl::Status ApplyOne(const FileObject& fo, const ApplyOptions& o, ResourceClient& client,
                      CommandContext& ctx) {
  Json obj = fo.object;
  std::string source = fo.file == "-" ? "STDIN" : fo.file;
  const KindInfo* kind = ResolveKind(JsonString(obj, "/kind"));
  if (kind == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat(
        "unable to recognize \"", source, "\": no matches for kind \"", JsonString(obj, "/kind"),
        "\" in version \"", JsonString(obj, "/apiVersion"), "\""));
  }
  std::string name = JsonString(obj, "/metadata/name");
  if (name.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("error validating \"", source, "\": a ", kind->kind, " needs metadata.name"));
  }
  BERTH_RETURN_IF_ERROR(SetNamespace(obj, *kind, ctx));
  std::string action, suffix;
  if (o.dry_run == "client") {
    BERTH_ASSIGN_OR_RETURN(action, ClientDryRunAction(client, *kind, obj));
    suffix = " (dry run)";
  } else {
    BERTH_ASSIGN_OR_RETURN(ObjectResult res, client.Apply(obj, o.dry_run == "server"));
    action = res.action.empty() ? "configured" : res.action;
    if (o.dry_run == "server") suffix = " (server dry run)";
  }
  ctx.out() << QualifiedSingular(*kind) << "/" << name << " " << action << suffix << "\n";
  return absl::OkStatus();
}

// Objects one `berth apply` sends. Each is its own request, so this bounds how long one
// command runs and how much a mistaken glob can create.
constexpr size_t kMaxObjectsPerApply = 5000;

absl::Status RunApply(const ApplyOptions& o, CommandContext& ctx) {
  if (o.files.empty()) return absl::InvalidArgumentError("must specify -f");
  if (o.dry_run != "none" && o.dry_run != "server" && o.dry_run != "client") {
    return absl::InvalidArgumentError(absl::StrCat(
        "invalid dry-run value (", o.dry_run, "). Must be \"none\", \"server\", or \"client\"."));
  }
  std::vector<FileObject> objects = ReadManifestFiles(o.files, ctx);
  if (objects.empty()) {
    if (ctx.exit_code() == 0) return absl::InvalidArgumentError("no objects passed to apply");
    return absl::OkStatus();
  }
  // All or nothing: an oversized apply is refused before the first object is sent.
  if (objects.size() > kMaxObjectsPerApply) {
    return absl::InvalidArgumentError(absl::StrCat("apply: ", objects.size(),
                                                   " objects given; at most ", kMaxObjectsPerApply,
                                                   " per apply (split the manifests)"));
  }
  BERTH_ASSIGN_OR_RETURN(auto* client, ctx.Client());
  for (const FileObject& fo : objects) {
    absl::Status st = ApplyOne(fo, o, *client, ctx);
    if (!st.ok()) ctx.Fail(st);  // keep going like kubectl; the run still exits 1
  }
  return absl::OkStatus();
}

}  // namespace

void AddApplyCommand(CLI::App& app, CommandContext& ctx) {
  auto o = std::make_shared<ApplyOptions>();
  CLI::App* cmd = app.add_subcommand("apply", "Create or update resources from manifests");
  cmd->add_option("-f,--filename", o->files, "Manifest file, directory, or - for stdin")
      ->required();
  cmd->add_option("--dry-run", o->dry_run, "none|server|client: validate without storing");
  cmd->footer(
      "Examples:\n"
      "  berth apply -f snapshot.yaml\n"
      "  berth apply -f disks/ -f vm.yaml -n my-project\n"
      "  cat vd.yaml | berth apply -f - --dry-run=server");
  cmd->callback([o, &ctx] { RunGuarded(ctx, [&] { return RunApply(*o, ctx); }); });
}

}  // namespace berth::cli
