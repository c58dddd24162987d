#ifndef BERTH_AGENT_PLATFORM_FILES_H_
#define BERTH_AGENT_PLATFORM_FILES_H_

// Thin wrappers over POSIX file calls. Each returns a status whose message names the
// operation, the path and the errno text. All functions are thread-safe.

#include <sys/stat.h>
#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "platform/unique_fd.h"

namespace berth::agent::platform {

// Returns a status for errno value `err` with message "<context>: <strerror(err)>".
// Unsupported-operation errors map to FailedPrecondition (the filesystem must change).
absl::Status OsError(int err, const std::string& context);

absl::StatusOr<UniqueFd> OpenPath(const std::string& path, int flags, mode_t mode = 0);
// Opens `name` relative to the directory `dir_fd`; `what` is the path used in messages.
absl::StatusOr<UniqueFd> OpenAt(int dir_fd, const std::string& name, int flags, mode_t mode,
                                const std::string& what);
absl::StatusOr<struct stat> StatFd(int fd, const std::string& what);
// Returns NotFound when `path` does not exist. Does not follow a final symlink.
absl::StatusOr<struct stat> StatPath(const std::string& path);
absl::Status SyncFd(int fd, const std::string& what);
// Flushes the directory entry table of `dir` (after a rename or create inside it).
absl::Status SyncDir(const std::string& dir);
absl::Status Truncate(int fd, uint64_t size, const std::string& what);
absl::Status ChangeMode(int fd, mode_t mode, const std::string& what);
// Creates one directory; with `exist_ok` an existing directory is not an error.
absl::Status MakeDir(const std::string& path, mode_t mode, bool exist_ok);
// Creates `path` and its missing parents.
absl::Status MakeDirs(const std::string& path, mode_t mode);
// Renames `from` to `to`, failing with AlreadyExists instead of replacing `to`.
absl::Status RenameNoReplace(const std::string& from, const std::string& to);
absl::Status RemoveFile(const std::string& path);
absl::Status RemoveDir(const std::string& path);
// Returns the names in directory `dir` except "." and "..".
absl::StatusOr<std::vector<std::string>> ListDir(const std::string& dir);
absl::StatusOr<std::string> RealPath(const std::string& path);
// Creates the symbolic link `path` holding `target`, and reads one back.
absl::Status MakeSymlink(const std::string& target, const std::string& path);
absl::StatusOr<std::string> ReadSymlink(const std::string& path);
// Takes an exclusive, non-blocking flock(2) on `fd`; FailedPrecondition if held elsewhere.
absl::Status LockExclusive(int fd, const std::string& what);

// Returns the parent directory and final component of an absolute path.
std::string DirName(const std::string& path);
std::string BaseName(const std::string& path);

}  // namespace berth::agent::platform

#endif  // BERTH_AGENT_PLATFORM_FILES_H_
