// Parsing --store and opening the store it names.
#include "berth/controller/store_spec.h"

#include <sys/stat.h>

#include <filesystem>
#include <system_error>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "berth/status_macros.h"
#include "store/etcd_store.h"

namespace berth::controller {
namespace {

constexpr char kUsage[] = "want sqlite:PATH or etcd:https://HOST:PORT[,https://HOST:PORT...]";

}  // namespace

std::string StoreSpec::ToString() const {
  if (!is_etcd()) return "sqlite:" + path;
  std::string out = "etcd:" + absl::StrJoin(endpoints, ",");
  if (prefix != "/berth/") absl::StrAppend(&out, prefix);
  return out;
}

absl::StatusOr<StoreSpec> ParseStoreSpec(absl::string_view text) {
  StoreSpec spec;
  if (absl::ConsumePrefix(&text, "sqlite:")) {
    if (text.empty())
      return absl::InvalidArgumentError(absl::StrCat("store \"sqlite:\": ", kUsage));
    spec.path = std::string(text);
    return spec;
  }
  if (!absl::ConsumePrefix(&text, "etcd:")) {
    return absl::InvalidArgumentError(absl::StrCat("store \"", text, "\": ", kUsage));
  }
  spec.type = StoreSpec::Type::kEtcd;
  for (absl::string_view url : absl::StrSplit(text, ',')) {
    absl::string_view rest = url;
    if (!absl::ConsumePrefix(&rest, "https://") && !absl::ConsumePrefix(&rest, "http://")) {
      return absl::InvalidArgumentError(
          absl::StrCat("store etcd member \"", url, "\": want https://HOST:PORT (or http://)"));
    }
    // The last URL may carry the key prefix: https://h3:2379/berth-prod/
    if (size_t slash = rest.find('/'); slash != absl::string_view::npos) {
      std::string prefix(rest.substr(slash));
      if (prefix != "/") {
        if (prefix.back() != '/') prefix += '/';
        spec.prefix = prefix;
      }
      url = url.substr(0, url.size() - (rest.size() - slash));
      rest = rest.substr(0, slash);
    }
    if (rest.empty() || rest.find(':') == absl::string_view::npos) {
      return absl::InvalidArgumentError(
          absl::StrCat("store etcd member \"", url, "\": want HOST:PORT after the scheme"));
    }
    spec.endpoints.emplace_back(url);
  }
  if (spec.endpoints.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("store \"etcd:\": ", kUsage));
  }
  return spec;
}

absl::StatusOr<std::unique_ptr<ObjectStore>> OpenStore(const StoreSpec& spec,
                                                       const StoreOpenOptions& options,
                                                       const Clock& clock) {
  if (spec.is_etcd()) {
    EtcdStoreOptions etcd;
    etcd.endpoints = spec.endpoints;
    etcd.tls = options.etcd_tls;
    etcd.prefix = spec.prefix;
    etcd.call_timeout = options.call_timeout;
    absl::StatusOr<std::unique_ptr<ObjectStore>> store = OpenEtcdStore(etcd, clock);
    // gRPC words a TLS mismatch as a closed or reset socket (a plaintext member answering a
    // ClientHello closes or resets, depending on timing) or a failed handshake: say what to check.
    if (!store.ok() && absl::StartsWith(spec.endpoints[0], "https://") &&
        (absl::StrContains(store.status().message(), "Socket closed") ||
         absl::StrContains(store.status().message(), "reset by peer") ||
         absl::StrContains(store.status().message(), "andshake") ||
         absl::StrContains(store.status().message(), "certificate"))) {
      return absl::Status(
          store.status().code(),
          absl::StrCat(store.status().message(),
                       " (the TLS handshake failed: is the member serving https, does --store_ca "
                       "hold the CA of its certificate, is the client certificate accepted?)"));
    }
    return store;
  }
  std::error_code ec;
  if (std::filesystem::exists(spec.path, ec) && !std::filesystem::is_directory(spec.path, ec)) {
    return absl::FailedPreconditionError(absl::StrCat(spec.path, " is not a directory"));
  }
  if (std::filesystem::is_directory(spec.path, ec) &&
      !std::filesystem::exists(std::filesystem::path(spec.path) / "berth.db", ec) &&
      !std::filesystem::is_empty(spec.path, ec)) {
    return absl::FailedPreconditionError(
        absl::StrCat(spec.path,
                     " is not empty and holds no Berth store (no berth.db); choose an empty or "
                     "new directory"));
  }
  return OpenSqliteStore(spec.path, clock, options.history);
}

}  // namespace berth::controller
