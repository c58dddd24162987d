#include "platform/accel_probe.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <sstream>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"

namespace berth::agent {

bool KernelReachedInit(const std::string& console) {
  // Printed by every Linux kernel once its core init is done and it looks for a root / init.
  for (const char* marker :
       {"Kernel panic - not syncing: VFS", "Run /init as init process", "Freeing unused kernel",
        "No working init found", "Unable to mount root fs"}) {
    if (absl::StrContains(console, marker)) return true;
  }
  return false;
}

std::string DefaultProbeKernel() {
  DIR* d = ::opendir("/boot");
  if (d == nullptr) return "";
  std::vector<std::string> kernels;
  while (dirent* e = ::readdir(d)) {
    std::string name = e->d_name;
    if (absl::StartsWith(name, "vmlinuz-")) kernels.push_back("/boot/" + name);
  }
  ::closedir(d);
  std::sort(kernels.begin(), kernels.end());
  for (auto it = kernels.rbegin(); it != kernels.rend(); ++it) {
    if (::access(it->c_str(), R_OK) == 0) return *it;
  }
  return "";
}

namespace {

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace

AccelProbe ProbeAccelerator(const std::string& accel, const std::string& kernel,
                            absl::Duration timeout, const std::string& qemu) {
  AccelProbe out;
  absl::Time start = absl::Now();
  if (kernel.empty() || ::access(kernel.c_str(), R_OK) != 0) {
    out.detail = absl::StrCat("no readable kernel to boot (\"", kernel, "\")");
    return out;
  }
  char tmpl[] = "/tmp/berth-accel-probe.XXXXXX";
  int fd = ::mkstemp(tmpl);
  if (fd < 0) {
    out.detail = "cannot create a temporary file for the probe's console";
    return out;
  }
  ::close(fd);
  std::string console = tmpl;
  std::vector<std::string> args = {qemu,
                                   "-accel",
                                   accel,
                                   "-m",
                                   "128",
                                   "-nodefaults",
                                   "-display",
                                   "none",
                                   "-no-reboot",
                                   "-kernel",
                                   kernel,
                                   "-append",
                                   "console=ttyS0 panic=-1 loglevel=7",
                                   "-serial",
                                   "file:" + console};
  pid_t pid = ::fork();
  if (pid == 0) {
    int devnull = ::open("/dev/null", O_RDWR);
    ::dup2(devnull, 0);
    ::dup2(devnull, 1);
    ::dup2(devnull, 2);
    std::vector<char*> argv;
    for (std::string& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    ::execvp(argv[0], argv.data());
    ::_exit(127);
  }
  if (pid < 0) {
    ::unlink(console.c_str());
    out.detail = "fork failed";
    return out;
  }
  int status = 0;
  bool exited = false;
  while (absl::Now() - start < timeout) {
    if (::waitpid(pid, &status, WNOHANG) == pid) {
      exited = true;
      break;
    }
    if (KernelReachedInit(ReadAll(console))) break;
    ::usleep(100 * 1000);
  }
  if (!exited) {
    ::kill(pid, SIGKILL);
    ::waitpid(pid, &status, 0);
  }
  std::string seen = ReadAll(console);
  ::unlink(console.c_str());
  out.took = absl::Now() - start;
  out.works = KernelReachedInit(seen);
  if (out.works) {
    out.detail = absl::StrCat("a kernel booted to init under ", accel, " in ",
                              absl::FormatDuration(absl::Trunc(out.took, absl::Milliseconds(1))));
  } else if (exited && WIFEXITED(status) && WEXITSTATUS(status) == 127) {
    out.detail = absl::StrCat(qemu, " could not be run");
  } else if (exited) {
    out.detail = absl::StrCat("QEMU with -accel ", accel, " exited (status ", status,
                              ") before the kernel reached init; console: ",
                              seen.substr(seen.size() > 200 ? seen.size() - 200 : 0));
  } else {
    out.detail = absl::StrCat("the kernel did not reach init under ", accel, " within ",
                              absl::FormatDuration(timeout), " (", seen.size(),
                              " bytes of console output): it hangs");
  }
  return out;
}

}  // namespace berth::agent
