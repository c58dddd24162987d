// `berth get` and `berth describe`.
#include <algorithm>
#include <map>
#include <memory>

#include "CLI/CLI.hpp"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "berth/status_macros.h"
#include "berth/time_util.h"
#include "command_context.h"
#include "describe.h"
#include "label_selector.h"
#include "printers.h"

namespace berth::cli {
namespace {

struct GetOptions {
  std::vector<std::string> args;
  std::string output;
  std::string selector;
  bool all_namespaces = false;
  bool watch = false;
  bool no_headers = false;
  bool show_labels = false;
};

// What `get` read, ready to print.
struct Fetched {
  std::vector<Json> objects;
  std::string resource_version;
  bool listed = false;  // the whole kind was listed (not named objects)
};

absl::StatusOr<Fetched> Fetch(const GetOptions& o, const ResourceArgs& args,
                              const LabelSelector& sel, ResourceClient& client,
                              CommandContext& ctx) {
  Fetched f;
  if (!args.refs.empty()) {
    for (const ResourceRef& ref : args.refs) {
      auto obj = client.Get(ref.kind->kind, ctx.NamespaceFor(*ref.kind), ref.name);
      if (!obj.ok()) {
        ctx.Fail(obj.status());
        continue;
      }
      f.objects.push_back(*std::move(obj));
    }
    return f;
  }
  f.listed = true;
  ListQuery q{args.kind->kind, o.all_namespaces ? "" : ctx.NamespaceFor(*args.kind),
              o.all_namespaces && args.kind->namespaced, o.selector};
  BERTH_ASSIGN_OR_RETURN(ListResult list, client.List(q));
  f.resource_version = list.resource_version;
  for (Json& obj : list.items) {
    if (sel.Matches(obj)) f.objects.push_back(std::move(obj));
  }
  return f;
}

TableOptions MakeTableOptions(const GetOptions& o, const OutputFormat& fmt, const KindInfo& kind,
                              CommandContext& ctx) {
  TableOptions t;
  t.wide = fmt.type == OutputFormat::Type::kWide;
  t.all_namespaces = o.all_namespaces && kind.namespaced;
  t.show_labels = o.show_labels;
  t.now = ctx.clock().Now();
  return t;
}

// Prints one table per kind, in order of first appearance; returns the widths of the last.
std::vector<size_t> PrintTables(const GetOptions& o, const OutputFormat& fmt,
                                const KindInfo& fallback, const std::vector<Json>& objects,
                                CommandContext& ctx) {
  std::vector<std::string> order;
  std::map<std::string, std::vector<Json>> groups;
  for (const Json& obj : objects) {
    const KindInfo* k = ResolveKind(JsonString(obj, "/kind"));
    std::string kind = k ? k->kind : fallback.kind;
    if (!groups.count(kind)) order.push_back(kind);
    groups[kind].push_back(obj);
  }
  std::vector<size_t> widths;
  for (size_t i = 0; i < order.size(); ++i) {
    const KindInfo* k = ResolveKind(order[i]);
    Table t = BuildTable(order[i], groups[order[i]], MakeTableOptions(o, fmt, *k, ctx));
    if (i > 0) ctx.out() << "\n";
    ctx.out() << RenderTable(t, o.no_headers);
    widths = ColumnWidths(t, o.no_headers);
  }
  return widths;
}

void PrintNoResources(const GetOptions& o, const KindInfo& kind, CommandContext& ctx) {
  if (o.all_namespaces || !kind.namespaced) {
    ctx.err() << "No resources found\n";
  } else {
    ctx.err() << "No resources found in " << ctx.NamespaceFor(kind) << " namespace.\n";
  }
}

// Prints objects as they change until the watch ends.
absl::Status WatchAndPrint(const GetOptions& o, const OutputFormat& fmt, const ResourceArgs& args,
                           const LabelSelector& sel, const Fetched& f, std::vector<size_t> widths,
                           ResourceClient& client, CommandContext& ctx) {
  WatchQuery q{args.kind->kind, o.all_namespaces ? "" : ctx.NamespaceFor(*args.kind),
               o.all_namespaces && args.kind->namespaced, "", f.resource_version};
  if (args.refs.size() == 1) q.name = args.refs[0].name;
  bool header_printed = !widths.empty() && !o.no_headers;
  absl::Status st = client.Watch(q, absl::InfiniteFuture(), [&](const WatchEvent& ev) {
    std::string name = JsonString(ev.object, "/metadata/name");
    bool named = args.refs.empty();
    for (const ResourceRef& r : args.refs) named = named || r.name == name;
    if (!named || !sel.Matches(ev.object)) return true;
    if (fmt.type == OutputFormat::Type::kTable || fmt.type == OutputFormat::Type::kWide) {
      Table t = BuildTable(args.kind->kind, std::vector<Json>(1, ev.object),
                           MakeTableOptions(o, fmt, *args.kind, ctx));
      if (widths.empty()) widths = ColumnWidths(t, false);
      if (!header_printed && !o.no_headers) ctx.out() << RenderRow(t.headers, widths);
      header_printed = true;
      ctx.out() << RenderRow(t.rows[0], widths);
    } else {
      auto text = FormatObjects(fmt, *args.kind, std::vector<Json>(1, ev.object), true);
      if (fmt.type == OutputFormat::Type::kYaml) ctx.out() << "---\n";
      ctx.out() << (text.ok() ? *text : "");
    }
    ctx.out().flush();
    return true;
  });
  return st;
}

absl::Status RunGet(const GetOptions& o, CommandContext& ctx) {
  BERTH_ASSIGN_OR_RETURN(ResourceArgs args, ParseResourceArgs(o.args, "get"));
  BERTH_ASSIGN_OR_RETURN(OutputFormat fmt, ParseOutputFormat(o.output));
  BERTH_ASSIGN_OR_RETURN(LabelSelector sel, LabelSelector::Parse(o.selector));
  BERTH_ASSIGN_OR_RETURN(auto* client, ctx.Client());
  BERTH_ASSIGN_OR_RETURN(Fetched f, Fetch(o, args, sel, *client, ctx));
  bool table = fmt.type == OutputFormat::Type::kTable || fmt.type == OutputFormat::Type::kWide;
  std::vector<size_t> widths;
  if (f.objects.empty() && f.listed && (table || fmt.type == OutputFormat::Type::kName)) {
    PrintNoResources(o, *args.kind, ctx);
  } else if (table) {
    widths = PrintTables(o, fmt, *args.kind, f.objects, ctx);
  } else if (!f.objects.empty() || f.listed) {
    bool single = !f.listed && args.refs.size() == 1;
    BERTH_ASSIGN_OR_RETURN(std::string text, FormatObjects(fmt, *args.kind, f.objects, single));
    ctx.out() << text;
  }
  if (!o.watch) return absl::OkStatus();
  ctx.out().flush();
  return WatchAndPrint(o, fmt, args, sel, f, widths, *client, ctx);
}

// The object's recent events (phase changes and the like), oldest first, as kubectl shows them.
std::string DescribeEvents(const Json& obj, ResourceClient& client) {
  if (obj.value("kind", "") == "Event") return "";
  std::string ns = JsonString(obj, "/metadata/namespace");
  ListQuery q;
  q.kind = "Event";
  q.ns = ns.empty() ? "default" : ns;
  auto events = client.List(q);
  if (!events.ok()) return "";
  std::string uid = JsonString(obj, "/metadata/uid");
  std::vector<const Json*> mine;
  for (const Json& e : events->items) {
    if (JsonString(e, "/involvedObject/uid") == uid) mine.push_back(&e);
  }
  std::sort(mine.begin(), mine.end(), [](const Json* a, const Json* b) {
    return JsonString(*a, "/lastTimestamp") < JsonString(*b, "/lastTimestamp");
  });
  constexpr size_t kShown = 15;
  if (mine.size() > kShown) mine.erase(mine.begin(), mine.end() - kShown);
  std::string out = "\nEvents:";
  if (mine.empty()) return out + "  <none>\n";
  out += "\n  Type     Reason                          Age    Message\n";
  absl::Time now = absl::Now();
  for (const Json* e : mine) {
    absl::Time t = ParseRfc3339(JsonString(*e, "/lastTimestamp"));
    std::string age = t == absl::InfinitePast() ? "<unknown>" : FormatAge(now - t);
    out += absl::StrFormat("  %-8s %-31s %-6s %s\n", JsonString(*e, "/type"),
                           JsonString(*e, "/reason"), age, JsonString(*e, "/message"));
  }
  return out;
}

struct DescribeOptions {
  std::vector<std::string> args;
  std::string selector;
  bool all_namespaces = false;
};

absl::Status RunDescribe(const DescribeOptions& o, CommandContext& ctx) {
  BERTH_ASSIGN_OR_RETURN(ResourceArgs args, ParseResourceArgs(o.args, "describe"));
  BERTH_ASSIGN_OR_RETURN(LabelSelector sel, LabelSelector::Parse(o.selector));
  BERTH_ASSIGN_OR_RETURN(auto* client, ctx.Client());
  GetOptions g;
  g.selector = o.selector;
  g.all_namespaces = o.all_namespaces;
  BERTH_ASSIGN_OR_RETURN(Fetched f, Fetch(g, args, sel, *client, ctx));
  if (f.objects.empty() && f.listed) PrintNoResources(g, *args.kind, ctx);
  for (size_t i = 0; i < f.objects.size(); ++i) {
    if (i > 0) ctx.out() << "\n\n";
    ctx.out() << Describe(f.objects[i]);
    ctx.out() << DescribeEvents(f.objects[i], *client);
  }
  return absl::OkStatus();
}

}  // namespace

void AddGetCommand(CLI::App& app, CommandContext& ctx) {
  auto o = std::make_shared<GetOptions>();
  CLI::App* cmd = app.add_subcommand("get", "Display one or many resources");
  cmd->add_option("args", o->args, "KIND [NAME...] or KIND/NAME...");
  cmd->add_option("-o,--output", o->output, "Output format: json|yaml|wide|name|jsonpath=TEMPLATE");
  cmd->add_option("-l,--selector", o->selector, "Label selector (k=v, k!=v, k, !k; comma-joined)");
  cmd->add_flag("-A,--all-namespaces", o->all_namespaces, "List across all namespaces");
  cmd->add_flag("-w,--watch", o->watch, "After listing, watch for changes");
  cmd->add_flag("--no-headers", o->no_headers, "Do not print table headers");
  cmd->add_flag("--show-labels", o->show_labels, "Add a LABELS column");
  cmd->footer(
      "Examples:\n"
      "  berth get vdsnapshot\n"
      "  berth get vd linux-vm-root -o yaml\n"
      "  berth get vmop restore-vm -o json | jq .status.resources\n"
      "  berth get vmsnapshot snap -o jsonpath='{.status.resources}'\n"
      "  berth get usbdevice -n my-project -o wide\n"
      "  berth get vm -A -l app=web --watch");
  cmd->callback([o, &ctx] { RunGuarded(ctx, [&] { return RunGet(*o, ctx); }); });
}

void AddDescribeCommand(CLI::App& app, CommandContext& ctx) {
  auto o = std::make_shared<DescribeOptions>();
  CLI::App* cmd = app.add_subcommand("describe", "Show details of resources");
  cmd->add_option("args", o->args, "KIND [NAME...] or KIND/NAME...");
  cmd->add_option("-l,--selector", o->selector, "Label selector");
  cmd->add_flag("-A,--all-namespaces", o->all_namespaces, "Describe across all namespaces");
  cmd->footer(
      "Examples:\n"
      "  berth describe nodeusbdevice logitech-webcam\n"
      "  berth describe vd/linux-vm-root -n my-project");
  cmd->callback([o, &ctx] { RunGuarded(ctx, [&] { return RunDescribe(*o, ctx); }); });
}

}  // namespace berth::cli
