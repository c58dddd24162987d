#include "storage/pool_fs.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <random>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "berth/json.h"
#include "platform/files.h"
#include "platform/fs_ioctl.h"

namespace berth::agent {
namespace {

constexpr size_t kMaxIdLength = 128;

bool IsIdChar(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'; }

}  // namespace

absl::Status ValidateId(const std::string& id, const std::string& what) {
  bool ok = !id.empty() && id.size() <= kMaxIdLength && id[0] != '-';
  for (char c : id) ok = ok && IsIdChar(c);
  if (ok) return absl::OkStatus();
  return absl::InvalidArgumentError(
      absl::StrCat("invalid ", what, " '", id, "': must match [a-z0-9][a-z0-9-]{0,127}"));
}

std::string TempPath(const std::string& dir, const std::string& id) {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  return absl::StrCat(dir, "/", kTempPrefix, id, "-", absl::Hex(rng(), absl::kZeroPad16));
}

bool IsTempName(const std::string& name) { return absl::StartsWith(name, kTempPrefix); }

absl::Status RemoveTree(const std::string& path) {
  absl::StatusOr<struct stat> st = platform::StatPath(path);
  if (absl::IsNotFound(st.status())) return absl::OkStatus();
  if (!st.ok()) return st.status();
  if (platform::IsSubvolumeRoot(path, *st)) {
    absl::StatusOr<platform::UniqueFd> parent =
        platform::OpenPath(platform::DirName(path), O_RDONLY | O_DIRECTORY);
    if (!parent.ok()) return parent.status();
    return platform::DestroySubvolume(parent->get(), platform::BaseName(path), path);
  }
  if (!S_ISDIR(st->st_mode)) return platform::RemoveFile(path);
  absl::StatusOr<std::vector<std::string>> names = platform::ListDir(path);
  if (!names.ok()) return names.status();
  for (const std::string& name : *names) {
    absl::Status status = RemoveTree(absl::StrCat(path, "/", name));
    if (!status.ok()) return status;
  }
  return platform::RemoveDir(path);
}

absl::Status RemoveTemporaries(const std::string& dir) {
  absl::StatusOr<std::vector<std::string>> names = platform::ListDir(dir);
  if (!names.ok()) return names.status();
  for (const std::string& name : *names) {
    if (!IsTempName(name)) continue;
    absl::Status status = RemoveTree(absl::StrCat(dir, "/", name));
    if (!status.ok()) {
      return absl::Status(status.code(),
                          absl::StrCat("remove stale temporary: ", status.message()));
    }
  }
  return absl::OkStatus();
}

absl::Status WriteSnapshotMetadata(const std::string& dir, const SnapshotMetadata& metadata) {
  Json json = {{"volume_id", metadata.volume_id},
               {"size_bytes", metadata.size_bytes},
               {"created_unix_nanos", metadata.created_unix_nanos}};
  return platform::MakeSymlink(json.dump(), absl::StrCat(dir, "/", kSnapshotMetadataName));
}

absl::StatusOr<SnapshotMetadata> ReadSnapshotMetadata(const std::string& dir) {
  std::string path = absl::StrCat(dir, "/", kSnapshotMetadataName);
  absl::StatusOr<std::string> text = platform::ReadSymlink(path);
  if (!text.ok()) return text.status();
  Json json = Json::parse(*text, nullptr, /*allow_exceptions=*/false);
  if (json.is_discarded() || !json.is_object() || !json.contains("volume_id") ||
      !json["volume_id"].is_string() || !json.contains("size_bytes") ||
      !json["size_bytes"].is_number_unsigned()) {
    return absl::DataLossError(absl::StrCat("snapshot metadata ", path, " is corrupt"));
  }
  SnapshotMetadata metadata;
  metadata.volume_id = json["volume_id"].get<std::string>();
  metadata.size_bytes = json["size_bytes"].get<uint64_t>();
  if (json.contains("created_unix_nanos") && json["created_unix_nanos"].is_number_integer()) {
    metadata.created_unix_nanos = json["created_unix_nanos"].get<int64_t>();
  }
  return metadata;
}

}  // namespace berth::agent
