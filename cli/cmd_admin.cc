// `berth auth whoami` and the access-control admin verbs: namespace grants and tokens.
#include <iomanip>
#include <memory>

#include "CLI/CLI.hpp"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "args.h"
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
      auto client = ctx.Client();
      if (!client.ok()) return client.status();
      auto me = (*client)->WhoAmI();
      if (!me.ok()) return me.status();
      return PrintJsonOr(ctx, who->output, *me, [&] {
        ctx.out() << "USER\tGROUPS\tADMIN\tVIA\tNAMESPACES\n"
                  << me->value("user", "") << "\t" << Joined(me->value("groups", Json())) << "\t"
                  << (me->value("admin", false) ? "true" : "false") << "\t" << me->value("via", "")
                  << "\t" << Joined(me->value("namespaces", Json())) << "\n";
      });
    });
  });

  CLI::App* admin = app.add_subcommand("admin", "Cluster admin verbs: namespace grants, tokens");
  admin->require_subcommand(1);
  admin->footer(
      "Examples:\n"
      "  berth admin grant alice team-a\n"
      "  berth admin revoke alice team-a\n"
      "  berth admin grants\n"
      "  berth admin token create alice --ttl 8h\n"
      "  berth admin token list\n"
      "  berth admin token revoke 3f2a9c0d1b7e4a55");

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
        auto client = ctx.Client();
        if (!client.ok()) return client.status();
        for (size_t i = 1; i < o->args.size(); ++i) {
          auto g = (*client)->Grant(o->args[0], o->args[i], revoke);
          if (!g.ok()) return g.status();
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
      auto client = ctx.Client();
      if (!client.ok()) return client.status();
      auto list = (*client)->ListGrants();
      if (!list.ok()) return list.status();
      return PrintJsonOr(ctx, lg->output, Json(*list), [&] {
        ctx.out() << "USER\tNAMESPACES\n";
        for (const Json& g : *list) {
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
      auto ttl = ParseTimeout(tc->ttl);
      if (!ttl.ok()) return ttl.status();
      auto client = ctx.Client();
      if (!client.ok()) return client.status();
      auto t = (*client)->IssueToken(tc->args[0], tc->admin, *ttl);
      if (!t.ok()) return t.status();
      return PrintJsonOr(ctx, tc->output, *t, [&] { ctx.out() << t->value("token", "") << "\n"; });
    });
  });
  auto tl = std::make_shared<AdminOptions>();
  CLI::App* list = token->add_subcommand("list", "List issued tokens (never their secrets)");
  list->add_option("-o,--output", tl->output, "Output format: json");
  list->footer("Examples:\n  berth admin token list");
  list->callback([tl, &ctx] {
    RunGuarded(ctx, [&]() -> absl::Status {
      auto client = ctx.Client();
      if (!client.ok()) return client.status();
      auto items = (*client)->ListTokens();
      if (!items.ok()) return items.status();
      return PrintJsonOr(ctx, tl->output, Json(*items), [&] {
        ctx.out() << "ID\tUSER\tADMIN\tEXPIRES\n";
        for (const Json& t : *items) {
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
      auto client = ctx.Client();
      if (!client.ok()) return client.status();
      auto r = (*client)->RevokeToken(tr->args[0]);
      if (!r.ok()) return r.status();
      ctx.out() << "token/" << tr->args[0] << " revoked\n";
      return absl::OkStatus();
    });
  });
}

}  // namespace berth::cli
