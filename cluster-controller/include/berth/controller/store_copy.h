#ifndef BERTH_CONTROLLER_STORE_COPY_H_
#define BERTH_CONTROLLER_STORE_COPY_H_

// Moving a cluster from one object store to another (`berth admin store copy`, e.g. from the
// embedded SQLite store to etcd for HA) and checking the result (`berth admin store verify`).
//
// The copy lists the source at one version and imports every object (ObjectStore::Import) in
// the source's resourceVersion order: uids, generations, timestamps, finalizers, owner
// references and status move unchanged; the destination hands out its own resourceVersions,
// in the same order. Nothing else moves: the watch history stays behind (watchers list again),
// and the source must not change meanwhile (stop its controller first: a copy taken while it
// writes is not a consistent one).

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "berth/controller/object_store.h"

namespace berth::controller {

struct CopyOptions {
  // How the stores are named in messages ("sqlite:/var/lib/berth/controller").
  std::string from_name = "source";
  std::string to_name = "destination";
  // Called after each object is imported, with the objects done so far and the total.
  std::function<void(size_t copied, size_t total)> progress;
};

struct CopyResult {
  size_t objects = 0;
  uint64_t source_version = 0;  // the source's version the copy is consistent with
  // The lowest and highest resourceVersion of the objects, in each store (0 when none).
  uint64_t from_first = 0, from_last = 0;
  uint64_t to_first = 0, to_last = 0;
  std::map<std::string, size_t> kinds;  // objects per kind
};

// Copies every object of `from` into `to`, which must be empty (else FailedPrecondition
// "destination store NAME is not empty: N objects", and nothing is written). The objects are
// imported one by one in increasing source resourceVersion, so their destination versions
// increase in the same order (checked: Internal otherwise). An import that fails with
// Unavailable or DeadlineExceeded (etcd switching members) is looked up and retried when it did
// not commit. Any other failure stops the copy and leaves what was imported so far: the
// destination then has to be emptied before copying again.
absl::StatusOr<CopyResult> CopyStore(ObjectStore& from, ObjectStore& to,
                                     const CopyOptions& options = {});

struct VerifyReport {
  size_t from_objects = 0;
  size_t to_objects = 0;
  size_t missing = 0;       // in the source only
  size_t extra = 0;         // in the destination only
  size_t different = 0;     // content differs (metadata.resourceVersion aside)
  size_t out_of_order = 0;  // destination resourceVersion order differs from the source's
  // The first differences, one line each ("missing: VirtualDisk \"ns/d1\" ..."): missing,
  // extra and different ones by kind, namespace and name, then order ones.
  std::vector<std::string> differences;

  bool identical() const { return missing + extra + different + out_of_order == 0; }
  // OK when identical, else FailedPrecondition summing up the counts.
  absl::Status ToStatus() const;
};

// Compares the objects of both stores, each listed at one version: the same keys, the same
// content except metadata.resourceVersion (compared exactly otherwise: uid, generation,
// timestamps, status...), and the objects' resourceVersions in the same relative order. Lists
// at most `max_listed` differences (the counts are complete). An error only when a store
// cannot be read.
absl::StatusOr<VerifyReport> VerifyStores(ObjectStore& from, ObjectStore& to,
                                          size_t max_listed = 20);

}  // namespace berth::controller

#endif  // BERTH_CONTROLLER_STORE_COPY_H_
