#include "platform/cloud_init_iso.h"

#include <fcntl.h>
#include <spawn.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <vector>

#include "absl/strings/str_cat.h"
#include "berth/status_macros.h"
#include "platform/files.h"

extern char** environ;

namespace berth::agent::platform {
namespace {

absl::Status WriteWholeFile(const std::string& path, const std::string& data) {
  BERTH_ASSIGN_OR_RETURN(UniqueFd fd, OpenPath(path, O_WRONLY | O_CREAT | O_TRUNC, 0600));
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n = ::write(fd.get(), data.data() + done, data.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return OsError(errno, absl::StrCat("write ", path));
    done += static_cast<size_t>(n);
  }
  return absl::OkStatus();
}

// Runs genisoimage with its output (messages only) going to `log`.
absl::Status RunGenisoimage(const std::vector<std::string>& args, const std::string& log) {
  std::vector<char*> argv;
  for (const std::string& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 1, log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  posix_spawn_file_actions_adddup2(&actions, 1, 2);
  pid_t pid = 0;
  int rc = posix_spawnp(&pid, argv[0], &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("cannot run genisoimage (install the genisoimage package): ", strerror(rc)));
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return absl::OkStatus();
  return absl::InternalError(absl::StrCat("genisoimage failed (status ", status, "); see ", log));
}

}  // namespace

absl::Status WriteNoCloudIso(const std::string& iso_path, const std::string& user_data,
                             const std::string& meta_data) {
  std::string dir = DirName(iso_path);
  BERTH_RETURN_IF_ERROR(MakeDirs(dir, 0700));
  std::string work = absl::StrCat(iso_path, ".d");
  std::string tmp = absl::StrCat(iso_path, ".tmp");
  BERTH_RETURN_IF_ERROR(MakeDirs(work, 0700));
  BERTH_RETURN_IF_ERROR(WriteWholeFile(work + "/user-data", user_data));
  BERTH_RETURN_IF_ERROR(WriteWholeFile(work + "/meta-data", meta_data));
  absl::Status built =
      RunGenisoimage({"genisoimage", "-quiet", "-output", tmp, "-volid", "cidata", "-joliet",
                      "-rock", work + "/user-data", work + "/meta-data"},
                     work + "/genisoimage.log");
  if (built.ok()) {
    RemoveFile(work + "/genisoimage.log").IgnoreError();
    if (::rename(tmp.c_str(), iso_path.c_str()) != 0) {
      built = OsError(errno, absl::StrCat("rename ", tmp, " to ", iso_path));
    }
  }
  RemoveFile(work + "/user-data").IgnoreError();
  RemoveFile(work + "/meta-data").IgnoreError();
  if (built.ok()) RemoveDir(work).IgnoreError();
  return built;
}

}  // namespace berth::agent::platform
