#ifndef BERTH_TESTS_UNIT_STORAGE_SCENARIOS_H_
#define BERTH_TESTS_UNIT_STORAGE_SCENARIOS_H_

// Backend-independent checks of the StorageBackend contract, shared by storage_test (copy
// backend on any directory) and storage_fs_test (every backend on real XFS and btrfs). Each
// function uses Catch2 assertions and must run on the test's main thread.

#include <cstdint>
#include <memory>
#include <string>

#include "berth/agent/storage_backend.h"

namespace berth::agent::testing {

inline constexpr uint64_t kMiB = 1024 * 1024;

// Opens a pool and REQUIREs success.
std::unique_ptr<StorageBackend> OpenOrDie(const std::string& type, const std::string& root);

// Writes `size` pseudo-random bytes (seeded) into `path` at `offset`; returns them.
std::string WriteRandom(const std::string& path, uint64_t offset, uint64_t size, uint64_t seed);
// Returns `size` bytes of `path` from `offset` (short if the file is shorter).
std::string ReadBytes(const std::string& path, uint64_t offset, uint64_t size);
// Returns a == b; on a mismatch prints the sizes and the first differing offset (Catch2 would
// otherwise print megabytes of both operands).
bool Same(const std::string& a, const std::string& b);
// Returns st_blocks * 512 of `path`.
uint64_t AllocatedBytes(const std::string& path);

// Create, write, snapshot, overwrite, restore (grown): the restore holds snapshot-time data.
void CheckSnapshotRestoreRoundTrip(StorageBackend& backend);
// Repeated calls with the same ids return the existing objects; conflicting repeats fail.
void CheckIdempotency(StorageBackend& backend);
// Invalid ids are InvalidArgument on every entry point; missing objects are NotFound.
void CheckBadIdsAndMissing(StorageBackend& backend);
// Restore and import with a size smaller than the source are InvalidArgument naming both.
void CheckSmallerSizeRejected(StorageBackend& backend, const std::string& scratch_dir);
// Delete reports whether the object existed; snapshots outlive their volume.
void CheckDeleteFlags(StorageBackend& backend);
// Snapshots, restores and imports keep holes (allocated bytes stay near the data size).
void CheckSparseness(StorageBackend& backend, const std::string& scratch_dir);
// Concurrent calls on different ids all succeed; concurrent calls on one id agree.
void CheckConcurrency(StorageBackend& backend);
// Reopening the pool removes temporaries (including a committed-looking snapshot renamed to a
// temporary name) and keeps committed objects.
void CheckStaleTemporariesCleaned(const std::string& type, const std::string& root);

// Runs every check above against a fresh pool of `type` at `root`.
void RunAllScenarios(const std::string& type, const std::string& root,
                     const std::string& scratch_dir);

}  // namespace berth::agent::testing

#endif  // BERTH_TESTS_UNIT_STORAGE_SCENARIOS_H_
