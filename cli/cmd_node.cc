// `berth node cordon|uncordon|drain NAME`, as kubectl's: cordon marks the node unschedulable
// (spec.unschedulable: no VM is placed or migrated there), drain cordons it and then moves
// every running VM away with an Evict operation (live migration), waits, and reports what
// could not move.
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "berth/kinds.h"
#include "berth/status_macros.h"
#include "command_context.h"
#include "printers.h"

namespace berth::cli {
namespace {

struct NodeOptions {
  std::string name;
  std::string timeout = "30m";
};

absl::Status SetUnschedulable(ResourceClient& client, const std::string& node, bool value,
                              CommandContext& ctx) {
  BERTH_ASSIGN_OR_RETURN(Json obj, client.Get("Node", "", node));
  bool now =
      obj.contains("spec") && obj["spec"].is_object() && obj["spec"].value("unschedulable", false);
  std::string done = value ? "cordoned" : "uncordoned";
  if (now == value) {
    ctx.out() << "node/" << node << " already " << done << "\n";
    return absl::OkStatus();
  }
  obj.erase("status");  // the Get's resourceVersion travels along: a concurrent edit conflicts
  if (value) {
    obj["spec"]["unschedulable"] = true;
  } else if (obj.contains("spec") && obj["spec"].is_object()) {
    obj["spec"].erase("unschedulable");
  }
  BERTH_RETURN_IF_ERROR(client.Apply(obj, false).status());
  ctx.out() << "node/" << node << " " << done << "\n";
  return absl::OkStatus();
}

std::string Str(const Json& obj, const char* pointer) {
  const Json& v = obj.value(Json::json_pointer(pointer), Json());
  return v.is_string() ? v.get<std::string>() : "";
}

absl::Status Drain(ResourceClient& client, const NodeOptions& o, CommandContext& ctx) {
  absl::Duration timeout;
  if (!absl::ParseDuration(o.timeout, &timeout)) {
    return absl::InvalidArgumentError(
        absl::StrCat("--timeout: \"", o.timeout, "\" is no duration"));
  }
  BERTH_RETURN_IF_ERROR(SetUnschedulable(client, o.name, true, ctx));
  ListQuery q;
  q.kind = "VirtualMachine";
  q.all_namespaces = true;
  BERTH_ASSIGN_OR_RETURN(ListResult vms, client.List(q));
  // One Evict per VM running on the node; VMs stopped there keep their disks there.
  std::map<std::string, std::pair<std::string, std::string>> ops;  // op -> (ns, vm)
  std::vector<std::string> stay;
  const std::string stamp = absl::StrCat(absl::ToUnixSeconds(absl::Now()));
  for (const Json& vm : vms.items) {
    if (Str(vm, "/status/node") != o.name) continue;
    std::string ns = Str(vm, "/metadata/namespace"), name = Str(vm, "/metadata/name");
    std::string phase = Str(vm, "/status/phase");
    if (phase != "Running" && phase != "Migrating") {
      stay.push_back(absl::StrCat(ns, "/", name, " (", phase.empty() ? "not placed" : phase,
                                  ": only running VMs migrate; its disks stay on ", o.name, ")"));
      continue;
    }
    std::string op_name = absl::StrCat("drain-", o.name, "-", name, "-", stamp);
    if (op_name.size() > 63) op_name = op_name.substr(op_name.size() - 63);
    Json op = {{"apiVersion", "virtualization.deckhouse.io/v1alpha2"},
               {"kind", "VirtualMachineOperation"},
               {"metadata", {{"name", op_name}, {"namespace", ns}}},
               {"spec", {{"type", "Evict"}, {"virtualMachineName", name}}}};
    BERTH_RETURN_IF_ERROR(client.Apply(op, false).status());
    ctx.out() << "evicting virtualmachine/" << name << " (" << ns << "): virtualmachineoperation/"
              << op_name << "\n";
    ops[op_name] = {ns, name};
  }
  // Wait for every operation to end.
  absl::Time deadline = ctx.clock().Now() + timeout;
  std::vector<std::string> failed;
  while (!ops.empty()) {
    for (auto it = ops.begin(); it != ops.end();) {
      auto got = client.Get("VirtualMachineOperation", it->second.first, it->first);
      std::string phase = got.ok() ? Str(*got, "/status/phase") : "";
      if (phase == "Completed") {
        ctx.out() << "virtualmachine/" << it->second.second << " moved to "
                  << Str(*got, "/status/migration/targetNode") << "\n";
        it = ops.erase(it);
      } else if (phase == "Failed" || absl::IsNotFound(got.status())) {
        std::string why = "operation deleted";
        if (got.ok()) {
          for (const Json& c :
               got->value(Json::json_pointer("/status/conditions"), Json::array())) {
            if (c.value("type", "") == "Completed") {
              why = absl::StrCat(c.value("reason", ""), ": ", c.value("message", ""));
            }
          }
        }
        failed.push_back(absl::StrCat(it->second.first, "/", it->second.second, " (", why, ")"));
        it = ops.erase(it);
      } else {
        ++it;
      }
    }
    if (ops.empty()) break;
    if (ctx.clock().Now() >= deadline) {
      for (const auto& [op, vm] : ops) {
        failed.push_back(absl::StrCat(vm.first, "/", vm.second, " (still migrating after ",
                                      o.timeout, ": virtualmachineoperation/", op, ")"));
      }
      break;
    }
    ctx.timing().sleep(absl::Seconds(1));
  }
  for (const std::string& s : stay) ctx.out() << "stays: virtualmachine " << s << "\n";
  if (!failed.empty()) {
    for (const std::string& f : failed) ctx.err() << "could not move virtualmachine " << f << "\n";
    return absl::FailedPreconditionError(absl::StrCat(
        "node/", o.name, " drained partially: ", failed.size(), " VM(s) could not move"));
  }
  ctx.out() << "node/" << o.name << " drained\n";
  return absl::OkStatus();
}

}  // namespace

void AddNodeCommand(CLI::App& app, CommandContext& ctx) {
  CLI::App* node = app.add_subcommand("node", "Cordon, uncordon or drain a node");
  node->require_subcommand(1);
  auto add = [&](const std::string& verb, const std::string& help) {
    auto o = std::make_shared<NodeOptions>();
    CLI::App* cmd = node->add_subcommand(verb, help);
    cmd->add_option("name", o->name, "NODE")->required();
    if (verb == "drain") {
      cmd->add_option("--timeout", o->timeout, "How long to wait for the VMs to move (e.g. 30m)");
    }
    cmd->callback([o, verb, &ctx] {
      RunGuarded(ctx, [&]() -> absl::Status {
        BERTH_ASSIGN_OR_RETURN(auto* client, ctx.Client());
        if (verb == "drain") return Drain(*client, *o, ctx);
        return SetUnschedulable(*client, o->name, verb == "cordon", ctx);
      });
    });
  };
  add("cordon", "Mark the node unschedulable: no VM is placed or migrated there");
  add("uncordon", "Mark the node schedulable again");
  add("drain", "Cordon the node, then live-migrate every running VM away (Evict)");
  node->footer(
      "Examples:\n"
      "  berth node cordon node-2\n"
      "  berth node drain node-2 --timeout=20m\n"
      "  berth node uncordon node-2");
}

}  // namespace berth::cli
