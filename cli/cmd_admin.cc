// `berth auth whoami` and the admin verbs: namespace grants and tokens (through the
// controller), and moving a cluster between object stores (`berth admin store`, run locally on
// the stores themselves).
#include <algorithm>
#include <filesystem>
#include <iomanip>
#include <memory>
#include <system_error>

#include "CLI/CLI.hpp"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "args.h"
#include "berth/controller/store_copy.h"
#include "berth/controller/store_spec.h"
#include "berth/status_macros.h"
#include "command_context.h"

namespace berth::cli {
namespace {

std::string Joined(const Json& array) {
  std::vector<std::string> out;
  if (array.is_array()) {
    for (const Json& v : array) {
      if (v.is_string()) out.push_back(v.get<std::string>());
    }
  }
  return out.empty() ? "<none>" : absl::StrJoin(out, ",");
}

absl::Status PrintJsonOr(CommandContext& ctx, const std::string& output, const Json& value,
                         const std::function<void()>& table) {
  if (output == "json") {
    ctx.out() << value.dump(4) << "\n";
  } else if (output.empty()) {
    table();
  } else {
    return absl::InvalidArgumentError(absl::StrCat("unable to match a printer for output format \"",
                                                   output, "\" (allowed: json)"));
  }
  return absl::OkStatus();
}

struct AdminOptions {
  std::string output;
  std::vector<std::string> args;
  bool admin = false;
  std::string ttl = "24h";
};

struct StoreOptions {
  std::string from;
  std::string to;
  std::string etcd_ca;
  std::string etcd_cert;
  std::string etcd_key;
  size_t max_differences = 20;
};

// The TLS files for an etcd store: --etcd-ca/--etcd-cert/--etcd-key, each defaulting to the
// file of the same role in --tls-dir ($BERTH_TLS_DIR) when the members are https.
TlsFiles EtcdTls(const controller::StoreSpec& spec, const StoreOptions& o, CommandContext& ctx) {
  bool https = std::any_of(spec.endpoints.begin(), spec.endpoints.end(),
                           [](const std::string& e) { return absl::StartsWith(e, "https://"); });
  if (!https) return TlsFiles{};
  TlsFiles dir = ctx.tls_dir().empty() ? TlsFiles{} : TlsFiles::FromDir(ctx.tls_dir());
  TlsFiles files;
  files.ca = o.etcd_ca.empty() ? dir.ca : o.etcd_ca;
  files.cert = o.etcd_cert.empty() ? dir.cert : o.etcd_cert;
  files.key = o.etcd_key.empty() ? dir.key : o.etcd_key;
  return files;
}

// Opens the store `text` names; `role` ("source", "destination") for messages. A source must
// already be a store: opening a missing SQLite store would create an empty one.
absl::StatusOr<std::unique_ptr<controller::ObjectStore>> OpenStoreFor(const std::string& text,
                                                                      const std::string& role,
                                                                      const StoreOptions& o,
                                                                      CommandContext& ctx,
                                                                      std::string* name) {
  absl::StatusOr<controller::StoreSpec> spec = controller::ParseStoreSpec(text);
  if (!spec.ok()) {
    return absl::Status(spec.status().code(),
                        absl::StrCat(role, " store: ", spec.status().message()));
  }
  *name = spec->ToString();
  if (role == "source" && !spec->is_etcd()) {
    std::error_code ec;
    if (!std::filesystem::exists(std::filesystem::path(spec->path) / "berth.db", ec)) {
      return absl::NotFoundError(
          absl::StrCat("source store ", *name, ": ", spec->path, "/berth.db does not exist"));
    }
  }
  controller::StoreOpenOptions options;
  options.etcd_tls = EtcdTls(*spec, o, ctx);
  absl::StatusOr<std::unique_ptr<controller::ObjectStore>> store =
      controller::OpenStore(*spec, options, ctx.clock());
  if (!store.ok()) {
    return absl::Status(store.status().code(), absl::StrCat("open ", role, " store ", *name, ": ",
                                                            store.status().message()));
  }
  return store;
}

void AddStoreOptions(CLI::App* cmd, StoreOptions& o) {
  cmd->add_option("--from", o.from, "Source store: sqlite:DIR or etcd:URL[,URL...][/PREFIX/]")
      ->required();
  cmd->add_option("--to", o.to, "Destination store, the same forms")->required();
  cmd->add_option("--etcd-ca", o.etcd_ca,
                  "CA bundle of the etcd members (https; default: ca.crt in --tls-dir)");
  cmd->add_option("--etcd-cert", o.etcd_cert,
                  "Client certificate for etcd (default: tls.crt in --tls-dir)");
  cmd->add_option("--etcd-key", o.etcd_key,
                  "Key of the client certificate (default: tls.key in --tls-dir)");
}

void AddStoreCommands(CLI::App* admin, CommandContext& ctx) {
  CLI::App* store = admin->add_subcommand(
      "store", "Move a cluster between object stores (SQLite, etcd); runs locally");
  store->require_subcommand(1);
  constexpr char kStores[] =
      "Stores: sqlite:DIR (the controller's --data_dir, file berth.db) or\n"
      "etcd:https://HOST:PORT[,https://HOST:PORT...][/PREFIX/] (keys under /berth/ by default).\n"
      "Both stores are opened directly, not through a controller. For https etcd members the\n"
      "CA and client certificate default to ca.crt, tls.crt and tls.key in --tls-dir\n"
      "($BERTH_TLS_DIR); --etcd-ca, --etcd-cert and --etcd-key override them.\n\n";

  auto co = std::make_shared<StoreOptions>();
  CLI::App* copy = store->add_subcommand(
      "copy", "Copy every object into an empty store, keeping uids and resourceVersion order");
  AddStoreOptions(copy, *co);
  copy->footer(absl::StrCat(
      "Stop the controller first (or copy while it is being migrated): a copy of a store that\n"
      "is being written to is not consistent. The destination must be empty. Objects keep\n"
      "their uids, generations, timestamps, finalizers, owner references and status; the\n"
      "destination numbers their resourceVersions anew, in the same order. Watch history is\n"
      "not copied. Check the result with `berth admin store verify`.\n\n",
      kStores,
      "Examples:\n"
      "  berth admin store copy --from sqlite:/var/lib/berth/controller \\\n"
      "      --to etcd:https://10.0.0.1:2379,https://10.0.0.2:2379,https://10.0.0.3:2379\n"
      "  berth admin store copy --from sqlite:/var/lib/berth/controller "
      "--to etcd:http://127.0.0.1:2379"));
  copy->callback([co, &ctx] {
    RunGuarded(ctx, [&]() -> absl::Status {
      std::string from_name, to_name;
      BERTH_ASSIGN_OR_RETURN(std::unique_ptr<controller::ObjectStore> from,
                             OpenStoreFor(co->from, "source", *co, ctx, &from_name));
      BERTH_ASSIGN_OR_RETURN(std::unique_ptr<controller::ObjectStore> to,
                             OpenStoreFor(co->to, "destination", *co, ctx, &to_name));
      controller::CopyOptions options;
      options.from_name = from_name;
      options.to_name = to_name;
      options.progress = [&](size_t copied, size_t total) {
        // About 20 lines for a big store, none for a small one.
        const size_t step = std::max<size_t>(1000, (total + 19) / 20);
        if (copied == 1) {
          ctx.err() << "copying " << total << " objects from " << from_name << " to " << to_name
                    << "\n";
        }
        if (copied % step == 0 && copied != total) {
          ctx.err() << "  " << copied << "/" << total << " objects\n";
        }
      };
      BERTH_ASSIGN_OR_RETURN(controller::CopyResult result,
                             controller::CopyStore(*from, *to, options));
      ctx.out() << "copied " << result.objects << " objects from " << from_name << " to "
                << to_name;
      if (result.objects > 0) {
        ctx.out() << "; resourceVersions " << result.from_first << ".." << result.from_last
                  << " \u2192 " << result.to_first << ".." << result.to_last << " (order kept)";
      }
      ctx.out() << "\n";
      return absl::OkStatus();
    });
  });

  auto vo = std::make_shared<StoreOptions>();
  CLI::App* verify = store->add_subcommand(
      "verify", "Compare two stores: same objects, same content, same resourceVersion order");
  AddStoreOptions(verify, *vo);
  verify->add_option("--max-differences", vo->max_differences,
                     "Differences to print (default 20; all are counted)");
  verify->footer(absl::StrCat(
      "Objects must match exactly except metadata.resourceVersion, and their resourceVersions\n"
      "must be in the same order in both stores. Prints `identical: N objects`, or the\n"
      "differences and exits 1. Compare stopped stores: a store being written to differs.\n\n",
      kStores,
      "Examples:\n"
      "  berth admin store verify --from sqlite:/var/lib/berth/controller "
      "--to etcd:https://10.0.0.1:2379"));
  verify->callback([vo, &ctx] {
    RunGuarded(ctx, [&]() -> absl::Status {
      std::string from_name, to_name;
      BERTH_ASSIGN_OR_RETURN(std::unique_ptr<controller::ObjectStore> from,
                             OpenStoreFor(vo->from, "source", *vo, ctx, &from_name));
      BERTH_ASSIGN_OR_RETURN(std::unique_ptr<controller::ObjectStore> to,
                             OpenStoreFor(vo->to, "destination", *vo, ctx, &to_name));
      BERTH_ASSIGN_OR_RETURN(controller::VerifyReport report,
                             controller::VerifyStores(*from, *to, vo->max_differences));
      if (report.identical()) {
        ctx.out() << "identical: " << report.from_objects << " objects\n";
        return absl::OkStatus();
      }
      for (const std::string& line : report.differences) ctx.out() << line << "\n";
      size_t total = report.missing + report.extra + report.different + report.out_of_order;
      if (total > report.differences.size()) {
        ctx.out() << "... and " << total - report.differences.size() << " more\n";
      }
      absl::Status st = report.ToStatus();
      return absl::Status(st.code(), absl::StrCat(from_name, " and ", to_name, ": ", st.message()));
    });
  });
}

}  // namespace

void AddAdminCommands(CLI::App& app, CommandContext& ctx) {
  CLI::App* auth = app.add_subcommand("auth", "Inspect your identity");
  auth->require_subcommand(1);
  auto who = std::make_shared<AdminOptions>();
  CLI::App* whoami = auth->add_subcommand("whoami", "Print who the controller thinks you are");
  whoami->add_option("-o,--output", who->output, "Output format: json");
  whoami->footer(
      "Examples:\n  berth auth whoami\n  BERTH_TLS_DIR=~/.berth/alice berth auth whoami");
  whoami->callback([who, &ctx] {
    RunGuarded(ctx, [&]() -> absl::Status {
      BERTH_ASSIGN_OR_RETURN(auto* client, ctx.Client());
      BERTH_ASSIGN_OR_RETURN(Json me, client->WhoAmI());
      return PrintJsonOr(ctx, who->output, me, [&] {
        ctx.out() << "USER\tGROUPS\tADMIN\tVIA\tNAMESPACES\n"
                  << me.value("user", "") << "\t" << Joined(me.value("groups", Json())) << "\t"
                  << (me.value("admin", false) ? "true" : "false") << "\t" << me.value("via", "")
                  << "\t" << Joined(me.value("namespaces", Json())) << "\n";
      });
    });
  });

  CLI::App* admin = app.add_subcommand(
      "admin", "Cluster admin verbs: namespace grants, tokens, moving the object store");
  admin->require_subcommand(1);
  admin->footer(
      "Examples:\n"
      "  berth admin grant alice team-a\n"
      "  berth admin revoke alice team-a\n"
      "  berth admin grants\n"
      "  berth admin token create alice --ttl 8h\n"
      "  berth admin token list\n"
      "  berth admin token revoke 3f2a9c0d1b7e4a55\n"
      "  berth admin store copy --from sqlite:/var/lib/berth/controller "
      "--to etcd:https://10.0.0.1:2379");
  AddStoreCommands(admin, ctx);

  for (bool revoke : {false, true}) {
    auto o = std::make_shared<AdminOptions>();
    CLI::App* cmd = admin->add_subcommand(
        revoke ? "revoke" : "grant",
        revoke ? "Take namespaces away from a user" : "Let a user use namespaces");
    cmd->add_option("user namespaces", o->args, "USER NAMESPACE...")->expected(2, -1)->required();
    cmd->footer(revoke ? "Examples:\n  berth admin revoke alice team-a"
                       : "Examples:\n  berth admin grant alice team-a team-b");
    cmd->callback([o, revoke, &ctx] {
      RunGuarded(ctx, [&]() -> absl::Status {
        BERTH_ASSIGN_OR_RETURN(auto* client, ctx.Client());
        for (size_t i = 1; i < o->args.size(); ++i) {
          BERTH_RETURN_IF_ERROR(client->Grant(o->args[0], o->args[i], revoke).status());
          ctx.out() << "user/" << o->args[0] << (revoke ? " revoked " : " granted ") << "namespace/"
                    << o->args[i] << "\n";
        }
        return absl::OkStatus();
      });
    });
  }

  auto lg = std::make_shared<AdminOptions>();
  CLI::App* grants = admin->add_subcommand("grants", "List users and their namespaces");
  grants->add_option("-o,--output", lg->output, "Output format: json");
  grants->footer("Examples:\n  berth admin grants");
  grants->callback([lg, &ctx] {
    RunGuarded(ctx, [&]() -> absl::Status {
      BERTH_ASSIGN_OR_RETURN(auto* client, ctx.Client());
      BERTH_ASSIGN_OR_RETURN(std::vector<Json> list, client->ListGrants());
      return PrintJsonOr(ctx, lg->output, Json(list), [&] {
        ctx.out() << "USER\tNAMESPACES\n";
        for (const Json& g : list) {
          ctx.out() << JsonString(g, "/metadata/name") << "\t"
                    << Joined(JsonAt(g, "/spec/namespaces")) << "\n";
        }
      });
    });
  });

  CLI::App* token = admin->add_subcommand("token", "Issue, list and revoke bearer tokens");
  token->require_subcommand(1);
  auto tc = std::make_shared<AdminOptions>();
  CLI::App* create = token->add_subcommand("create", "Issue a bearer token for a user");
  create->add_option("user", tc->args, "USER")->expected(1)->required();
  create->add_flag("--admin", tc->admin, "The token carries the cluster admin role");
  create->add_option("--ttl", tc->ttl, "Lifetime, e.g. 30m, 24h; 0 for no expiry (default 24h)");
  create->add_option("-o,--output", tc->output, "Output format: json");
  create->footer(
      "The token is printed once; the controller keeps only its SHA-256.\n"
      "Examples:\n  berth admin token create alice --ttl 8h\n"
      "  BERTH_TOKEN=$(berth admin token create ci --ttl 1h) berth get vd -n ci");
  create->callback([tc, &ctx] {
    RunGuarded(ctx, [&]() -> absl::Status {
      BERTH_ASSIGN_OR_RETURN(absl::Duration ttl, ParseTimeout(tc->ttl));
      BERTH_ASSIGN_OR_RETURN(auto* client, ctx.Client());
      BERTH_ASSIGN_OR_RETURN(Json t, client->IssueToken(tc->args[0], tc->admin, ttl));
      return PrintJsonOr(ctx, tc->output, t, [&] { ctx.out() << t.value("token", "") << "\n"; });
    });
  });
  auto tl = std::make_shared<AdminOptions>();
  CLI::App* list = token->add_subcommand("list", "List issued tokens (never their secrets)");
  list->add_option("-o,--output", tl->output, "Output format: json");
  list->footer("Examples:\n  berth admin token list");
  list->callback([tl, &ctx] {
    RunGuarded(ctx, [&]() -> absl::Status {
      BERTH_ASSIGN_OR_RETURN(auto* client, ctx.Client());
      BERTH_ASSIGN_OR_RETURN(std::vector<Json> items, client->ListTokens());
      return PrintJsonOr(ctx, tl->output, Json(items), [&] {
        ctx.out() << "ID\tUSER\tADMIN\tEXPIRES\n";
        for (const Json& t : items) {
          std::string expires = JsonString(t, "/spec/expiresAt");
          ctx.out() << JsonString(t, "/metadata/name") << "\t" << JsonString(t, "/spec/user")
                    << "\t" << (JsonAt(t, "/spec/admin") == true ? "true" : "false") << "\t"
                    << (expires.empty() ? "never" : expires) << "\n";
        }
      });
    });
  });
  auto tr = std::make_shared<AdminOptions>();
  CLI::App* revoke = token->add_subcommand("revoke", "Revoke a token by id");
  revoke->add_option("id", tr->args, "ID")->expected(1)->required();
  revoke->footer("Examples:\n  berth admin token revoke 3f2a9c0d1b7e4a55");
  revoke->callback([tr, &ctx] {
    RunGuarded(ctx, [&]() -> absl::Status {
      BERTH_ASSIGN_OR_RETURN(auto* client, ctx.Client());
      BERTH_RETURN_IF_ERROR(client->RevokeToken(tr->args[0]).status());
      ctx.out() << "token/" << tr->args[0] << " revoked\n";
      return absl::OkStatus();
    });
  });
}

}  // namespace berth::cli
