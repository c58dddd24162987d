#include "absl/strings/str_cat.h"
#include "berth/agent/storage_backend.h"
#include "storage/data_layout.h"
#include "storage/pool_backend.h"

namespace berth::agent {

absl::StatusOr<std::unique_ptr<StorageBackend>> OpenStorageBackend(const std::string& type,
                                                                   const std::string& root) {
  std::unique_ptr<DataLayout> layout;
  if (type == "reflink") {
    layout = NewReflinkLayout();
  } else if (type == "btrfs") {
    layout = NewBtrfsLayout();
  } else if (type == "copy") {
    layout = NewCopyLayout();
  } else {
    return absl::InvalidArgumentError(
        absl::StrCat("unknown storage backend type '", type, "': want reflink, btrfs or copy"));
  }
  absl::StatusOr<std::unique_ptr<PoolBackend>> pool = PoolBackend::Open(std::move(layout), root);
  if (!pool.ok()) return pool.status();
  return std::unique_ptr<StorageBackend>(*std::move(pool));
}

}  // namespace berth::agent
