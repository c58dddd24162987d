// The etcd request builders and key rules (etcd_ops.h).

#include "store/etcd_ops.h"

#include "absl/strings/str_cat.h"
#include "store/object_meta.h"

namespace berth::controller::store {

std::string PrefixEnd(std::string prefix) {
  while (!prefix.empty()) {
    if (static_cast<unsigned char>(prefix.back()) < 0xff) {
      prefix.back() = static_cast<char>(prefix.back() + 1);
      return prefix;
    }
    prefix.pop_back();
  }
  return std::string(1, '\0');  // every key
}

etcdserverpb::RequestOp PutOp(const std::string& key, const std::string& value, int64_t lease) {
  etcdserverpb::RequestOp op;
  op.mutable_request_put()->set_key(key);
  op.mutable_request_put()->set_value(value);
  if (lease != 0) op.mutable_request_put()->set_lease(lease);
  return op;
}

etcdserverpb::RequestOp DeleteOp(const std::string& key) {
  etcdserverpb::RequestOp op;
  op.mutable_request_delete_range()->set_key(key);
  return op;
}

etcdserverpb::Compare Revision(etcdserverpb::Compare::CompareTarget target, const std::string& key,
                               int64_t revision) {
  etcdserverpb::Compare cmp;
  cmp.set_result(etcdserverpb::Compare::EQUAL);
  cmp.set_target(target);
  cmp.set_key(key);
  if (target == etcdserverpb::Compare::CREATE) {
    cmp.set_create_revision(revision);
  } else {
    cmp.set_mod_revision(revision);
  }
  return cmp;
}

absl::Status CheckKeyParts(const ObjectKey& key) {
  for (const std::string* part : {&key.kind, &key.ns, &key.name}) {
    if (part->find('/') != std::string::npos) {
      return absl::InvalidArgumentError(
          absl::StrCat(Describe(key), ": kind, namespace and name cannot contain '/'"));
    }
  }
  return absl::OkStatus();
}

}  // namespace berth::controller::store
