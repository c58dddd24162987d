// `berth version` and `berth completion`.
#include <memory>
#include <set>

#include "CLI/CLI.hpp"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "berth/status_macros.h"
#include "cli.h"
#include "command_context.h"

namespace berth::cli {
namespace {

struct VersionOptions {
  bool client_only = false;
};

absl::Status RunVersion(const VersionOptions& o, CommandContext& ctx) {
  ctx.out() << "Client Version: v" << kClientVersion << "\n";
  if (o.client_only) return absl::OkStatus();
  BERTH_ASSIGN_OR_RETURN(auto* client, ctx.Client());
  BERTH_ASSIGN_OR_RETURN(std::string v, client->ServerVersion());
  ctx.out() << "Server Version: " << (v.empty() || v[0] == 'v' ? "" : "v") << v << "\n";
  return absl::OkStatus();
}

constexpr char kBashTemplate[] =
    R"(# bash completion for berth; load with: source <(berth completion bash)
_berth() {
  local cur prev verb="" kind="" ns="" i w
  cur="${COMP_WORDS[COMP_CWORD]}"
  prev="${COMP_WORDS[COMP_CWORD-1]}"
  for ((i = 1; i < COMP_CWORD; i++)); do
    w="${COMP_WORDS[i]}"
    case "${COMP_WORDS[i-1]}" in
      -n|--namespace) ns="$w"; continue ;;
      --server|-o|--output|-l|--selector|-f|--filename|--for|--timeout|--dry-run) continue ;;
    esac
    case "$w" in -*) continue ;; esac
    if [[ -z "$verb" ]]; then verb="$w"; elif [[ -z "$kind" ]]; then kind="$w"; fi
  done
  case "$prev" in
    -f|--filename) COMPREPLY=($(compgen -f -- "$cur")); return ;;
    -o|--output) COMPREPLY=($(compgen -W "json yaml wide name jsonpath=" -- "$cur")); return ;;
    --for) COMPREPLY=($(compgen -W "delete condition= jsonpath=" -- "$cur")); return ;;
    --dry-run) COMPREPLY=($(compgen -W "none server client" -- "$cur")); return ;;
    -n|--namespace|--server|-l|--selector|--timeout) return ;;
  esac
  if [[ "$cur" == -* ]]; then
    COMPREPLY=($(compgen -W "@FLAGS@" -- "$cur"))
    return
  fi
  if [[ -z "$verb" ]]; then
    COMPREPLY=($(compgen -W "@VERBS@" -- "$cur"))
    return
  fi
  case "$verb" in
    completion) COMPREPLY=($(compgen -W "bash" -- "$cur")) ;;
    get|describe|delete|wait|label|annotate)
      if [[ -z "$kind" ]]; then
        COMPREPLY=($(compgen -W "@KINDS@" -- "$cur"))
      else
        local names
        names=$(berth get "$kind" ${ns:+-n "$ns"} -o name 2>/dev/null | sed 's|.*/||')
        COMPREPLY=($(compgen -W "$names" -- "$cur"))
      fi ;;
  esac
}
complete -F _berth berth
)";

std::string BashCompletion() {
  std::set<std::string> kinds;
  for (const KindInfo& k : AllKinds()) {
    kinds.insert(k.plural);
    kinds.insert(k.singular);
    kinds.insert(k.short_names.begin(), k.short_names.end());
  }
  return absl::StrReplaceAll(
      kBashTemplate,
      {{"@VERBS@", "apply get describe delete wait label annotate version completion"},
       {"@KINDS@", absl::StrJoin(kinds, " ")},
       {"@FLAGS@",
        "--help --server --namespace --output --selector --all-namespaces --watch --filename "
        "--dry-run --wait --timeout --ignore-not-found --all --for --overwrite --no-headers "
        "--show-labels"}});
}

}  // namespace

void AddVersionCommand(CLI::App& app, CommandContext& ctx) {
  auto o = std::make_shared<VersionOptions>();
  CLI::App* cmd = app.add_subcommand("version", "Print the client and server versions");
  cmd->add_flag("--client", o->client_only, "Print the client version only");
  cmd->footer("Examples:\n  berth version\n  berth version --client");
  cmd->callback([o, &ctx] { RunGuarded(ctx, [&] { return RunVersion(*o, ctx); }); });
}

void AddCompletionCommand(CLI::App& app, CommandContext& ctx) {
  auto shell = std::make_shared<std::string>();
  CLI::App* cmd = app.add_subcommand("completion", "Print a shell completion script");
  cmd->add_option("shell", *shell, "Shell: bash")->required();
  cmd->footer(
      "Examples:\n  source <(berth completion bash)\n"
      "  berth completion bash > /etc/bash_completion.d/berth");
  cmd->callback([shell, &ctx] {
    RunGuarded(ctx, [&]() -> absl::Status {
      if (*shell != "bash") {
        return absl::InvalidArgumentError(
            absl::StrCat("unsupported shell type \"", *shell, "\" (supported: bash)"));
      }
      ctx.out() << BashCompletion();
      return absl::OkStatus();
    });
  });
}

}  // namespace berth::cli
