#ifndef BERTH_CONTROLLER_STORE_SPEC_H_
#define BERTH_CONTROLLER_STORE_SPEC_H_

// Which object store a controller (or `berth admin store`) opens, from one string:
//   sqlite:PATH                         the embedded store in directory PATH (file berth.db)
//   etcd:URL[,URL...][/PREFIX/]         etcd v3 members, https://host:port or http://host:port;
//                                       keys under PREFIX (default /berth/)
// e.g. --store=etcd:https://h1:2379,https://h2:2379,https://h3:2379

#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "berth/controller/object_store.h"
#include "berth/time_util.h"
#include "berth/tls.h"

namespace berth::controller {

struct StoreSpec {
  enum class Type { kSqlite, kEtcd };
  Type type = Type::kSqlite;
  std::string path;                    // kSqlite: the data directory
  std::vector<std::string> endpoints;  // kEtcd: member URLs
  std::string prefix = "/berth/";      // kEtcd: key prefix, ends with '/'

  bool is_etcd() const { return type == Type::kEtcd; }
  // The spec as given back, for messages ("sqlite:/var/lib/berth/controller").
  std::string ToString() const;
};

// Parses "sqlite:PATH" or "etcd:URL,...[/PREFIX/]"; the error names what is wrong.
absl::StatusOr<StoreSpec> ParseStoreSpec(absl::string_view spec);

struct StoreOpenOptions {
  // etcd over https: the CA the members' certificates chain to, and the client certificate
  // etcd's --client-cert-auth asks for.
  TlsFiles etcd_tls;
  // SQLite: events kept for watch replay.
  size_t history = 100000;
  // etcd: deadline of one call.
  absl::Duration call_timeout = absl::Seconds(10);
};

// Opens the store. Refuses, with an error naming the path or prefix, a location that holds
// something other than a Berth store: a non-empty directory without berth.db, or an etcd
// prefix with keys but no Berth format marker. A store opened for the first time is marked.
absl::StatusOr<std::unique_ptr<ObjectStore>> OpenStore(const StoreSpec& spec,
                                                       const StoreOpenOptions& options,
                                                       const Clock& clock);

// Compacts an etcd store's history before `revision` (also declared in store/etcd_store.h);
// InvalidArgument for another store.
absl::Status CompactEtcdStore(ObjectStore& store, uint64_t revision);

}  // namespace berth::controller

#endif  // BERTH_CONTROLLER_STORE_SPEC_H_
