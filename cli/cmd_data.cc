// `berth data export download` and `berth data import upload`: the object side (create the
// DataExport or the Upload-sourced VirtualDisk/VirtualImage, wait, clean up) around the
// transfer engine in cmd_data_transfer.cc.
#include "cmd_data.h"

#include <unistd.h>

#include <iostream>
#include <memory>
#include <regex>

#include "CLI/CLI.hpp"
#include "absl/strings/str_cat.h"
#include "berth/exportwire/export_wire.h"
#include "berth/kinds.h"
#include "berth/quantity.h"
#include "berth/status_macros.h"
#include "berth/time_util.h"
#include "cmd_data_incremental.h"
#include "cmd_data_transfer.h"

namespace berth::cli {
namespace {

struct DataOptions {
  std::string target;
  std::string file;
  std::string ttl = "2m";
  bool publish = false;
  bool resume = false;
  bool keep = false;
  std::string storage_class;
  std::string size;
  std::string timeout = "5m";
  int connections = 2;
  std::string since;  // download: vds/A; upload: --since-snapshot vds/A
  std::string base;
};

struct Named {
  std::string kind;
  std::string name;
};

// Parses KIND/NAME for the allowed kinds; names must be DNS-1123 (no slashes, no "..").
absl::StatusOr<Named> ParseTarget(const std::string& arg, const std::vector<std::string>& kinds) {
  size_t slash = arg.find('/');
  std::string allowed;
  for (const std::string& k : kinds) absl::StrAppend(&allowed, allowed.empty() ? "" : ", ", k);
  if (slash == std::string::npos) {
    return absl::InvalidArgumentError(
        absl::StrCat("want KIND/NAME (", allowed, "), got \"", arg, "\""));
  }
  const KindInfo* kind = ResolveKind(arg.substr(0, slash));
  Named n{kind ? kind->kind : "", arg.substr(slash + 1)};
  if (std::find(kinds.begin(), kinds.end(), n.kind) == kinds.end()) {
    return absl::InvalidArgumentError(
        absl::StrCat("\"", arg.substr(0, slash), "\" is not one of ", allowed));
  }
  static const std::regex kName("[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?");
  if (!std::regex_match(n.name, kName) || n.name.find("..") != std::string::npos) {
    return absl::InvalidArgumentError(absl::StrCat(
        "invalid name \"", n.name,
        "\": names are lower-case letters, digits, '-' and '.' (no slashes or path tricks)"));
  }
  return n;
}

absl::StatusOr<absl::Duration> ParseDurationFlag(const std::string& flag, const std::string& v) {
  absl::Duration d;
  if (!absl::ParseDuration(v, &d) || d <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError(absl::StrCat(flag, ": not a duration: \"", v, "\""));
  }
  return d;
}

std::ostream* ProgressStream(CommandContext& ctx) {
  return &ctx.err() == &std::cerr && isatty(STDERR_FILENO) ? &std::cerr : nullptr;
}

// Polls the object until `done` says so (returns the object) or `deadline` passes.
absl::StatusOr<Json> PollObject(CommandContext& ctx, ResourceClient& client, const Named& n,
                                const std::string& ns, absl::Time deadline,
                                const std::function<absl::StatusOr<bool>(const Json&)>& done) {
  while (true) {
    BERTH_ASSIGN_OR_RETURN(Json obj, client.Get(n.kind, ns, n.name));
    BERTH_ASSIGN_OR_RETURN(bool finished, done(obj));
    if (finished) return obj;
    if (ctx.clock().Now() > deadline) {
      return absl::DeadlineExceededError(
          absl::StrCat("timed out waiting for ", n.kind, " \"", n.name, "\" (phase ",
                       JsonString(obj, "/status/phase", "none"), ")"));
    }
    ctx.timing().sleep(absl::Milliseconds(200));
  }
}

std::string ReadyMessage(const Json& obj) {
  for (const Json& c : JsonAt(obj, "/status/conditions")) {
    if (c.value("type", "") == "Ready") return c.value("message", "");
  }
  return "";
}

absl::StatusOr<Json> ApplyNew(ResourceClient& client, const Json& obj) {
  BERTH_ASSIGN_OR_RETURN(ObjectResult r, client.Apply(obj, false));
  if (r.action != "created") {
    return absl::AlreadyExistsError(absl::StrCat(obj["kind"].get<std::string>(), " \"",
                                                 JsonString(obj, "/metadata/name"),
                                                 "\" already exists; choose another name"));
  }
  return r.object;
}

absl::Status RunImportUpload(const DataOptions& o, CommandContext& ctx);

absl::Status RunExportDownload(const DataOptions& o, CommandContext& ctx) {
  BERTH_ASSIGN_OR_RETURN(Named target,
                         ParseTarget(o.target, {"VirtualDisk", "VirtualDiskSnapshot"}));
  if (o.file.empty()) return absl::InvalidArgumentError("-o FILE is required");
  BERTH_RETURN_IF_ERROR(ParseDurationFlag("--ttl", o.ttl).status());  // the object carries o.ttl
  BERTH_ASSIGN_OR_RETURN(absl::Duration timeout, ParseDurationFlag("--timeout", o.timeout));
  if (!o.since.empty() && o.base.empty()) {
    return absl::InvalidArgumentError(
        "--since needs --base FILE: a local copy of the since snapshot (from an earlier "
        "download of it)");
  }
  if (o.since.empty() && !o.base.empty()) {
    return absl::InvalidArgumentError(
        "--base needs --since vds/NAME: the snapshot it is a copy of");
  }
  absl::StatusOr<Named> since = Named{};
  absl::StatusOr<uint64_t> base_size = uint64_t{0};
  if (!o.since.empty()) {
    since = ParseTarget(o.since, {"VirtualDiskSnapshot"});
    if (!since.ok())
      return absl::InvalidArgumentError(absl::StrCat("--since: ", since.status().message()));
    base_size = LocalFileSize(o.base);
    if (!base_size.ok())
      return absl::NotFoundError(absl::StrCat("--base ", base_size.status().message()));
  }
  BERTH_ASSIGN_OR_RETURN(auto* client, ctx.Client());
  const KindInfo* kind = ResolveKind(target.kind);
  std::string ns = ctx.NamespaceFor(*kind);
  BERTH_ASSIGN_OR_RETURN(Json source, client->Get(target.kind, ns, target.name));
  std::string identity = absl::StrCat(target.kind, " ", ns, "/", target.name,
                                      " uid=", JsonString(source, "/metadata/uid"));
  if (!o.since.empty()) {
    auto a = client->Get("VirtualDiskSnapshot", ns, since->name);
    if (absl::IsNotFound(a.status())) {
      return absl::NotFoundError(absl::StrCat("--since: VirtualDiskSnapshot \"", since->name,
                                              "\" not found in namespace \"", ns,
                                              "\" (an incremental export compares snapshots of "
                                              "one namespace)"));
    }
    if (!a.ok()) return a.status();
    const Json& a_size = JsonAt(*a, "/status/sizeBytes");
    if (a_size.is_number_unsigned() && a_size.get<uint64_t>() != *base_size) {
      return absl::InvalidArgumentError(absl::StrCat(
          "--base ", o.base, " has ", *base_size, " bytes but VirtualDiskSnapshot \"", since->name,
          "\" has ", a_size.get<uint64_t>(), " bytes: the base must be a download of it"));
    }
    if (target.kind == "VirtualDiskSnapshot" &&
        ParseRfc3339(JsonString(*a, "/metadata/creationTimestamp")) >
            ParseRfc3339(JsonString(source, "/metadata/creationTimestamp"))) {
      return absl::InvalidArgumentError(absl::StrCat(
          "--since: VirtualDiskSnapshot \"", since->name, "\" was taken after \"", target.name,
          "\"; an incremental export goes from an older snapshot to a newer one"));
    }
    absl::StrAppend(&identity, " since ", since->name, " uid=", JsonString(*a, "/metadata/uid"));
  }
  Named ex{"DataExport", o.resume ? PreviousExportName(o.file, identity) : ""};
  absl::StatusOr<Json> existing = absl::NotFoundError("");
  if (!ex.name.empty()) existing = client->Get("DataExport", ns, ex.name);
  if (!existing.ok() || JsonString(*existing, "/status/phase") == "Expired") {
    if (existing.ok()) client->Delete("DataExport", ns, ex.name).status().IgnoreError();
    BERTH_ASSIGN_OR_RETURN(std::string suffix, exportwire::RandomHex(3));
    ex.name = absl::StrCat(target.name.substr(0, 200), "-export-", suffix);
    Json obj{{"apiVersion", kApiVersion},
             {"kind", "DataExport"},
             {"metadata", {{"name", ex.name}, {"namespace", ns}}},
             {"spec",
              {{"targetRef", {{"kind", target.kind}, {"name", target.name}}},
               {"ttl", o.ttl},
               {"publish", o.publish}}}};
    if (!o.since.empty()) {
      obj["spec"]["since"] = Json{{"kind", "VirtualDiskSnapshot"}, {"name", since->name}};
    }
    BERTH_RETURN_IF_ERROR(ApplyNew(*client, obj).status());
  }
  auto cleanup = [&] {
    if (!o.keep) client->Delete("DataExport", ns, ex.name).status().IgnoreError();
  };
  auto ready = PollObject(ctx, *client, ex, ns, ctx.clock().Now() + timeout,
                          [](const Json& obj) -> absl::StatusOr<bool> {
                            std::string phase = JsonString(obj, "/status/phase");
                            if (phase == "Failed" || phase == "Expired") {
                              return absl::FailedPreconditionError(ReadyMessage(obj));
                            }
                            return phase == "Ready";
                          });
  if (!ready.ok()) {
    cleanup();
    return ready.status();
  }
  ExportEndpoint ep{JsonString(*ready, o.publish ? "/status/publicURL" : "/status/url"),
                    JsonString(*ready, "/status/token"), JsonString(*ready, "/status/caCert"),
                    ctx.tls_dir()};
  if (!o.since.empty()) {
    IncrementalOptions io{o.file,     o.base,   o.connections, ProgressStream(ctx),
                          &ctx.err(), o.resume, identity};
    auto inc = IncrementalDownload(ep, io, ex.name);
    cleanup();
    if (!inc.ok()) return inc.status();
    if (!inc->fell_back.empty()) ctx.err() << "note: digest method: " << inc->fell_back << "\n";
    const TransferStats& s = inc->transfer;
    ctx.out() << kind->singular << "/" << target.name << " exported to " << o.file << ": " << s.size
              << " bytes (" << s.transferred << " transferred, " << s.reused
              << " resumed), incremental since virtualdisksnapshot/" << since->name << " by "
              << inc->method << " (" << inc->changed << " bytes changed), "
              << exportwire::kDigestAlgorithm << " " << s.digest << "\n";
    return absl::OkStatus();
  }
  TransferOptions t{o.file, o.connections, ProgressStream(ctx), o.resume, identity};
  auto stats = DownloadExport(ep, t, DownloadHooks{ex.name});
  cleanup();
  if (!stats.ok()) return stats.status();
  ctx.out() << kind->singular << "/" << target.name << " exported to " << o.file << ": "
            << stats->size << " bytes (" << stats->transferred << " transferred, " << stats->reused
            << " resumed), " << exportwire::kDigestAlgorithm << " " << stats->digest << "\n";
  return absl::OkStatus();
}

// Builds the object an upload fills: a VirtualDisk of `size` bytes or a VirtualImage.
Json UploadObject(const Named& n, const std::string& ns, const std::string& storage_class,
                  uint64_t size) {
  Json spec{{"dataSource", {{"type", "Upload"}}}};
  if (n.kind == "VirtualDisk") {
    spec["persistentVolumeClaim"]["size"] = std::to_string(size);  // exact bytes
  } else {
    spec["storage"] = "PersistentVolumeClaim";
  }
  if (!storage_class.empty()) spec["persistentVolumeClaim"]["storageClassName"] = storage_class;
  return Json{{"apiVersion", kApiVersion},
              {"kind", n.kind},
              {"metadata", {{"name", n.name}, {"namespace", ns}}},
              {"spec", spec}};
}

absl::Status RunImportUpload(const DataOptions& o, CommandContext& ctx) {
  BERTH_ASSIGN_OR_RETURN(Named target, ParseTarget(o.target, {"VirtualDisk", "VirtualImage"}));
  if (o.file.empty()) return absl::InvalidArgumentError("-f FILE is required");
  BERTH_ASSIGN_OR_RETURN(uint64_t file_size, LocalFileSize(o.file));
  if (file_size == 0) return absl::InvalidArgumentError(o.file + " is empty");
  uint64_t size = file_size;
  if (!o.size.empty()) {
    if (target.kind != "VirtualDisk") {
      return absl::InvalidArgumentError("--size applies to VirtualDisk only");
    }
    auto parsed = ParseQuantity(o.size);
    if (!parsed.ok())
      return absl::InvalidArgumentError("--size: " + std::string(parsed.status().message()));
    if (*parsed < file_size) {
      return absl::InvalidArgumentError(absl::StrCat(
          "--size ", o.size, " (", *parsed, " bytes) is smaller than ", o.file, " (", file_size,
          " bytes); use at least ", FormatQuantity(file_size), "; nothing was created"));
    }
    size = *parsed;
  }
  BERTH_ASSIGN_OR_RETURN(absl::Duration timeout, ParseDurationFlag("--timeout", o.timeout));
  absl::StatusOr<Named> since = Named{};
  if (!o.since.empty()) {
    if (target.kind != "VirtualDisk") {
      return absl::InvalidArgumentError("--since-snapshot applies to vd/NAME only");
    }
    since = ParseTarget(o.since, {"VirtualDiskSnapshot"});
    if (!since.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("--since-snapshot: ", since.status().message()));
    }
  }
  BERTH_ASSIGN_OR_RETURN(auto* client, ctx.Client());
  std::string ns = ctx.NamespaceFor(*ResolveKind(target.kind));
  Json upload_obj = UploadObject(target, ns, o.storage_class, size);
  if (!o.since.empty()) {
    auto a = client->Get("VirtualDiskSnapshot", ns, since->name);
    if (absl::IsNotFound(a.status())) {
      return absl::NotFoundError(absl::StrCat("--since-snapshot: VirtualDiskSnapshot \"",
                                              since->name, "\" not found in namespace \"", ns,
                                              "\""));
    }
    if (!a.ok()) return a.status();
    const Json& a_size = JsonAt(*a, "/status/sizeBytes");
    if (a_size.is_number_unsigned() && a_size.get<uint64_t>() > size) {
      return absl::InvalidArgumentError(
          absl::StrCat(o.file, " has ", size, " bytes, less than VirtualDiskSnapshot \"",
                       since->name, "\" (", a_size.get<uint64_t>(),
                       " bytes); a disk made from it cannot shrink; nothing was created"));
    }
    upload_obj["spec"]["dataSource"]["upload"] =
        Json{{"since", {{"kind", "VirtualDiskSnapshot"}, {"name", since->name}}}};
    if (!o.storage_class.empty()) {
      return absl::InvalidArgumentError(
          "--storage-class does not apply with --since-snapshot: the disk is made in the "
          "snapshot's pool");
    }
  }
  BERTH_RETURN_IF_ERROR(ApplyNew(*client, upload_obj).status());
  // From here on a failure removes the object again: nothing is left half-made.
  auto fail = [&](absl::Status st) {
    client->Delete(target.kind, ns, target.name).status().IgnoreError();
    return st;
  };
  auto wait_phase = [&](const std::string& want) {
    return PollObject(ctx, *client, target, ns, ctx.clock().Now() + timeout,
                      [want](const Json& obj) -> absl::StatusOr<bool> {
                        std::string phase = JsonString(obj, "/status/phase");
                        if (phase == "Failed") {
                          return absl::FailedPreconditionError(ReadyMessage(obj));
                        }
                        return phase == want;
                      });
  };
  auto waiting = wait_phase("WaitForUserUpload");
  if (!waiting.ok()) return fail(waiting.status());
  ExportEndpoint ep{
      JsonString(*waiting, o.publish ? "/status/upload/publicURL" : "/status/upload/url"),
      JsonString(*waiting, "/status/upload/token"), JsonString(*waiting, "/status/upload/caCert"),
      ctx.tls_dir()};
  TransferOptions t{o.file, o.connections, ProgressStream(ctx), false, ""};
  auto stats = o.since.empty() ? UploadToExport(ep, t) : IncrementalUpload(ep, t);
  if (!stats.ok()) return fail(stats.status());
  auto ready = wait_phase("Ready");
  if (!ready.ok()) return fail(ready.status());
  ctx.out() << ResolveKind(target.kind)->singular << "/" << target.name << " uploaded from "
            << o.file << ": " << stats->size << " bytes (" << stats->transferred << " transferred)"
            << (o.since.empty() ? "" : absl::StrCat(" since virtualdisksnapshot/", since->name))
            << ", " << exportwire::kDigestAlgorithm << " " << stats->digest
            << " verified by the agent\n";
  return absl::OkStatus();
}

}  // namespace

void AddDataCommands(CLI::App& app, CommandContext& ctx) {
  CLI::App* data = app.add_subcommand("data", "Export disks to files and import files as disks");
  data->require_subcommand(1);
  CLI::App* ex = data->add_subcommand("export", "Export a disk or disk snapshot");
  ex->require_subcommand(1);
  auto d = std::make_shared<DataOptions>();
  CLI::App* down = ex->add_subcommand("download", "Download vd/NAME or vds/NAME to a file");
  down->add_option("target", d->target,
                   "vd/NAME, vds/NAME, virtualdisk/NAME, "
                   "virtualdisksnapshot/NAME")
      ->required();
  down->add_option("-o,--output", d->file, "File to write (sparse)")->required();
  down->add_option("--ttl", d->ttl, "Idle time after which the export expires (default 2m)");
  down->add_flag("--publish", d->publish, "Use the export's public address");
  down->add_flag("--resume", d->resume, "Continue an interrupted download of the same file");
  down->add_flag("--keep", d->keep, "Keep the DataExport object afterwards");
  down->add_option("--timeout", d->timeout, "How long to wait for the export to be Ready");
  down->add_option("--connections", d->connections, "Parallel HTTPS connections (default 2)");
  down->add_option("--since", d->since,
                   "Incremental: vds/A, an earlier snapshot of which --base is a local copy; "
                   "only what changed since A is transferred");
  down->add_option("--base", d->base,
                   "Incremental: the local copy of the --since snapshot (may equal -o: updated "
                   "in place)");
  down->footer(
      "Examples:\n  berth data export download -n prod vd/root -o root.img\n"
      "  berth data export download vds/root-snap -o root.img --resume\n"
      "  berth data export download vds/tuesday --since vds/monday --base monday.img -o "
      "tuesday.img");
  down->callback([d, &ctx] { RunGuarded(ctx, [&] { return RunExportDownload(*d, ctx); }); });

  CLI::App* im = data->add_subcommand("import", "Import a file as a disk or image");
  im->require_subcommand(1);
  auto u = std::make_shared<DataOptions>();
  CLI::App* up = im->add_subcommand("upload", "Upload a file into a new vd/NAME or vi/NAME");
  up->add_option("target", u->target, "vd/NAME or vi/NAME (created)")->required();
  up->add_option("-f,--file", u->file, "Raw image to upload")->required();
  up->add_option("--storage-class", u->storage_class, "Storage class of the new disk or image");
  up->add_option("--size", u->size, "Disk size (default: the file's size; not smaller)");
  up->add_flag("--publish", u->publish, "Use the upload endpoint's public address");
  up->add_option("--timeout", u->timeout, "How long to wait for each phase (default 5m)");
  up->add_option("--connections", u->connections, "Parallel HTTPS connections (default 2)");
  up->add_option("--since-snapshot", u->since,
                 "Incremental: vds/A; the disk starts as A's data and only the 64 KiB leaves of "
                 "the file that differ are sent");
  up->footer(
      "Examples:\n  berth data import upload vd/restored -f root.img --storage-class "
      "local-reflink\n  berth data import upload vi/base -f root.img");
  up->callback([u, &ctx] { RunGuarded(ctx, [&] { return RunImportUpload(*u, ctx); }); });
}

}  // namespace berth::cli
