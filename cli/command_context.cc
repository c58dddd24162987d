#include "command_context.h"

#include <arpa/inet.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "berth/manifest.h"
#include "berth/net/socket.h"
#include "berth/status_macros.h"
#include "label_selector.h"

namespace berth::cli {
namespace {

absl::StatusOr<std::string> ReadFile(const std::string& path, CommandContext& ctx) {
  std::stringstream buf;
  if (path == "-") {
    buf << ctx.in().rdbuf();
    return buf.str();
  }
  std::ifstream f(path, std::ios::binary);
  if (!f) return absl::NotFoundError(absl::StrCat("the path \"", path, "\" does not exist"));
  buf << f.rdbuf();
  if (f.bad()) return absl::DataLossError(absl::StrCat("error reading \"", path, "\""));
  return buf.str();
}

// Expands directories to their manifest files, sorted by name.
std::vector<std::string> ExpandPaths(const std::vector<std::string>& files) {
  std::vector<std::string> out;
  for (const std::string& f : files) {
    std::error_code ec;
    if (f == "-" || !std::filesystem::is_directory(f, ec)) {
      out.push_back(f);
      continue;
    }
    std::vector<std::string> found;
    for (const auto& entry : std::filesystem::directory_iterator(f, ec)) {
      std::string ext = entry.path().extension().string();
      if (entry.is_regular_file(ec) && (ext == ".yaml" || ext == ".yml" || ext == ".json")) {
        found.push_back(entry.path().string());
      }
    }
    std::sort(found.begin(), found.end());
    out.insert(out.end(), found.begin(), found.end());
  }
  return out;
}

// One element of a server list: an IP literal and a port.
struct ListedServer {
  bool v6 = false;
  std::string host;     // without brackets
  std::string address;  // as written: 127.0.0.1:7443 or [::1]:7443
};

absl::StatusOr<ListedServer> ParseListedServer(const std::string& text) {
  auto bad = [&](const std::string& why) {
    return absl::InvalidArgumentError(
        absl::StrCat("--server: \"", text, "\" in a list of servers: ", why,
                     " (want IPV4:PORT or [IPV6]:PORT; only a single server may be a host name)"));
  };
  absl::StatusOr<std::pair<std::string, std::string>> host_port = net::SplitHostPort(text);
  if (!host_port.ok()) return bad("no port");
  ListedServer out;
  out.v6 = !text.empty() && text[0] == '[';
  out.host = host_port->first;
  const std::string& port = host_port->second;
  unsigned char buf[sizeof(struct in6_addr)];
  if (inet_pton(out.v6 ? AF_INET6 : AF_INET, out.host.c_str(), buf) != 1) {
    return bad("not an IP address");
  }
  int port_number = 0;
  if (!absl::SimpleAtoi(port, &port_number) || port_number < 1 || port_number > 65535) {
    return bad("bad port");
  }
  out.address = text;
  return out;
}

}  // namespace

absl::StatusOr<ServerTarget> ParseServerAddress(const std::string& server) {
  if (server.empty()) return absl::InvalidArgumentError("the server address is empty");
  if (server.find(',') == std::string::npos) return ServerTarget{server, "", ""};
  std::vector<std::string> parts;
  for (absl::string_view part : absl::StrSplit(server, ',')) {
    part = absl::StripAsciiWhitespace(part);
    if (!part.empty()) parts.emplace_back(part);
  }
  if (parts.empty()) return absl::InvalidArgumentError("the server address is empty");
  if (parts.size() == 1) return ServerTarget{parts[0], "", ""};
  std::vector<ListedServer> listed;
  for (const std::string& part : parts) {
    BERTH_ASSIGN_OR_RETURN(ListedServer one, ParseListedServer(part));
    if (!listed.empty() && one.v6 != listed[0].v6) {
      return absl::InvalidArgumentError(absl::StrCat(
          "--server: \"", server, "\" mixes IPv4 and IPv6 addresses; list one family only"));
    }
    listed.push_back(std::move(one));
  }
  std::vector<std::string> addresses;
  for (const ListedServer& s : listed) addresses.push_back(s.address);
  return ServerTarget{absl::StrCat(listed[0].v6 ? "ipv6:" : "ipv4:", absl::StrJoin(addresses, ",")),
                      listed[0].address, listed[0].host};
}

std::string CommandContext::NamespaceFor(const KindInfo& kind) const {
  if (!kind.namespaced) return "";
  return namespace_.empty() ? "default" : namespace_;
}

absl::StatusOr<ResourceClient*> CommandContext::Client() {
  if (client_ == nullptr) {
    BERTH_ASSIGN_OR_RETURN(client_, env_.connect(connection_));
  }
  return client_.get();
}

void CommandContext::Fail(const absl::Status& status) {
  err() << FormatError(status, connection_.server) << "\n";
  if (absl::IsUnavailable(status) && IsFromServer(status) && connection_.tls_dir.empty()) {
    err() << "hint: no client certificate was given; if the server requires mutual TLS, set "
             "BERTH_TLS_DIR (or --tls-dir) to a directory with ca.crt, tls.crt and tls.key\n";
  }
  exit_code_ = 1;
}

void CommandContext::Warn(const std::string& message) { err() << "Warning: " << message << "\n"; }

void RunGuarded(CommandContext& ctx, const std::function<absl::Status()>& body) {
  try {
    ctx.Finish(body());
  } catch (const nlohmann::json::exception& e) {
    ctx.Fail(absl::InternalError(absl::StrCat("unexpected object shape: ", e.what())));
  }
}

std::vector<FileObject> ReadManifestFiles(const std::vector<std::string>& files,
                                          CommandContext& ctx) {
  std::vector<FileObject> out;
  for (const std::string& path : ExpandPaths(files)) {
    auto text = ReadFile(path, ctx);
    if (!text.ok()) {
      ctx.Fail(text.status());
      continue;
    }
    auto docs = ParseManifests(*text);
    if (!docs.ok()) {
      std::string name = path == "-" ? "STDIN" : path;
      ctx.Fail(absl::InvalidArgumentError(
          absl::StrCat("error parsing ", name, ": ", docs.status().message())));
      continue;
    }
    for (Json& doc : *docs) out.push_back({path, std::move(doc)});
  }
  return out;
}

absl::StatusOr<std::vector<Target>> ResolveTargets(const ResourceArgs& args, bool all,
                                                   const std::string& selector,
                                                   CommandContext& ctx) {
  std::vector<Target> out;
  if (!all && selector.empty()) {
    for (const ResourceRef& ref : args.refs) out.push_back({ref, ctx.NamespaceFor(*ref.kind)});
    return out;
  }
  if (!args.refs.empty()) {
    return absl::InvalidArgumentError("names cannot be provided when a selector or --all is given");
  }
  BERTH_ASSIGN_OR_RETURN(LabelSelector sel, LabelSelector::Parse(selector));
  BERTH_ASSIGN_OR_RETURN(auto* client, ctx.Client());
  ListQuery q{args.kind->kind, ctx.NamespaceFor(*args.kind), false, selector};
  BERTH_ASSIGN_OR_RETURN(ListResult list, client->List(q));
  for (const Json& o : list.items) {
    if (!sel.Matches(o)) continue;
    std::string ns = args.kind->namespaced ? JsonString(o, "/metadata/namespace", q.ns) : "";
    out.push_back({{args.kind, JsonString(o, "/metadata/name")}, ns});
  }
  return out;
}

}  // namespace berth::cli
