// `berth kubeconfig`: a kubeconfig for kubectl and Kubernetes client libraries against the
// controller's Kubernetes REST API, for the current identity or (admins) a new token's user.
#include <filesystem>
#include <memory>

#include "CLI/CLI.hpp"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "args.h"
#include "berth/manifest.h"
#include "berth/status_macros.h"
#include "command_context.h"

namespace berth::cli {
namespace {

struct KubeconfigOptions {
  std::string user;
  std::string server;
  std::string ttl = "24h";
};

std::string Absolute(const std::string& path) {
  std::error_code ec;
  std::filesystem::path p = std::filesystem::absolute(path, ec);
  return ec ? path : p.lexically_normal().string();
}

// The kubeconfig's user entry: a bearer token, else the client certificate of --tls-dir.
absl::StatusOr<Json> UserEntry(CommandContext& ctx, ResourceClient& client,
                               const KubeconfigOptions& o) {
  if (!o.user.empty()) {
    BERTH_ASSIGN_OR_RETURN(absl::Duration ttl, ParseTimeout(o.ttl));
    BERTH_ASSIGN_OR_RETURN(Json t, client.IssueToken(o.user, /*admin=*/false, ttl));
    return Json{{"token", t.value("token", "")}};
  }
  if (!ctx.token().empty()) return Json{{"token", ctx.token()}};
  if (ctx.tls_dir().empty()) return Json::object();
  std::string dir = Absolute(ctx.tls_dir());
  return Json{{"client-certificate", dir + "/tls.crt"}, {"client-key", dir + "/tls.key"}};
}

absl::Status Run(CommandContext& ctx, const KubeconfigOptions& o) {
  BERTH_ASSIGN_OR_RETURN(auto* client, ctx.Client());
  BERTH_ASSIGN_OR_RETURN(Json me, client->WhoAmI());
  std::string server = o.server.empty() ? me.value("kubeApiServer", "") : o.server;
  if (server.empty()) {
    return absl::FailedPreconditionError(
        "the controller serves no Kubernetes API (start it with --kube_api_listen) and no "
        "--server was given");
  }
  BERTH_ASSIGN_OR_RETURN(Json user, UserEntry(ctx, *client, o));
  std::string user_name = o.user.empty() ? me.value("user", "berth-user") : o.user;
  Json cluster = {{"server", server}};
  if (!ctx.tls_dir().empty() && absl::StartsWith(server, "https://")) {
    cluster["certificate-authority"] = Absolute(ctx.tls_dir()) + "/ca.crt";
  }
  Json config = {
      {"apiVersion", "v1"},
      {"kind", "Config"},
      {"clusters", {{{"name", "berth"}, {"cluster", cluster}}}},
      {"users", {{{"name", user_name}, {"user", user}}}},
      {"contexts",
       {{{"name", "berth"},
         {"context",
          {{"cluster", "berth"},
           {"user", user_name},
           {"namespace", ctx.namespace_flag().empty() ? "default" : ctx.namespace_flag()}}}}}},
      {"current-context", "berth"}};
  ctx.out() << ToYaml(config);
  return absl::OkStatus();
}

}  // namespace

void AddKubeconfigCommand(CLI::App& app, CommandContext& ctx) {
  auto o = std::make_shared<KubeconfigOptions>();
  CLI::App* cmd = app.add_subcommand(
      "kubeconfig", "Print a kubeconfig for kubectl against the controller's Kubernetes API");
  cmd->add_option("--user", o->user,
                  "Issue a bearer token for USER (cluster admins) and write it instead of your own "
                  "identity");
  cmd->add_option("--ttl", o->ttl, "Lifetime of the --user token (default 24h; 0: no expiry)");
  cmd->add_option("--server", o->server,
                  "The API's URL (default: what the controller reports, https://HOST:PORT)");
  cmd->footer(
      "Examples:\n  berth kubeconfig > ~/.kube/berth && KUBECONFIG=~/.kube/berth kubectl get vd\n"
      "  berth kubeconfig --user alice --ttl 8h > alice.kubeconfig");
  cmd->callback([o, &ctx] { RunGuarded(ctx, [&] { return Run(ctx, *o); }); });
}

}  // namespace berth::cli
