#ifndef BERTH_CONTROLLER_STORE_ETCD_OPS_H_
#define BERTH_CONTROLLER_STORE_ETCD_OPS_H_

// Builders of the etcd requests the etcd store and the leader election put in their
// transactions, and the key rules they share. Internal to the store.

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "berth/controller/object_store.h"
#include "etcd/etcdserver/etcdserverpb/rpc.pb.h"

namespace berth::controller::store {

// The first key after every key starting with `prefix` (etcd's range_end for a prefix).
std::string PrefixEnd(std::string prefix);

// A put of `value` at `key`, attached to `lease` (0: none).
etcdserverpb::RequestOp PutOp(const std::string& key, const std::string& value, int64_t lease = 0);
etcdserverpb::RequestOp DeleteOp(const std::string& key);

// Compares `key`'s create_revision (target CREATE; 0: the key does not exist) or mod_revision
// (MOD) with `revision`.
etcdserverpb::Compare Revision(etcdserverpb::Compare::CompareTarget target, const std::string& key,
                               int64_t revision);

// '/' separates the parts of a key: a part containing one would alias another object.
absl::Status CheckKeyParts(const ObjectKey& key);

}  // namespace berth::controller::store

#endif  // BERTH_CONTROLLER_STORE_ETCD_OPS_H_
