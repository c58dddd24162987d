// berth-usb-testbed: runs a command (the agent) inside a umockdev testbed and plugs/unplugs
// mocked USB devices on request, with real uevents, so libudev enumeration and monitoring in
// the command see hardware come and go. Optionally adds a vhci_hcd sysfs (8 hs + 8 ss ports).
//
//   berth-usb-testbed --dir DIR [--vhci] -- COMMAND ARGS...
//
// Control: write lines to the FIFO DIR/ctl:
//   add BUSID VID PID SPEED SERIAL MANUFACTURER PRODUCT   (fields tab-separated; SPEED in Mbit/s)
//   remove BUSID
// Each processed line is echoed to DIR/log as "ok LINE" or "error LINE: WHY". Plugged devices
// are remembered in DIR/plugged and re-added when the testbed restarts (same busid = same port).
#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <umockdev.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "vhci_status_text.h"

namespace {

std::vector<std::string> Split(const std::string& s, char sep) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  for (std::string f; std::getline(ss, f, sep);) out.push_back(f);
  return out;
}

class Testbed {
 public:
  explicit Testbed(std::string dir) : dir_(std::move(dir)), tb_(umockdev_testbed_new()) {
    // Root hub of the mocked bus; devices hang below it like 1-2 below usb1.
    root_ = Take(umockdev_testbed_add_device(tb_, "usb", "usb1", nullptr, "idVendor", "1d6b",
                                             "idProduct", "0002", "bcdDevice", "0601", "busnum",
                                             "1", "devnum", "1", "speed", "480", "bDeviceClass",
                                             "09", nullptr, "DEVTYPE", "usb_device", nullptr));
  }
  ~Testbed() { g_object_unref(tb_); }

  std::string Root() { return Take(umockdev_testbed_get_root_dir(tb_)); }

  void AddVhci() {
    std::string status = berth::agent::testing::VhciStatusText();
    Take(umockdev_testbed_add_device(tb_, "platform", "vhci_hcd.0", nullptr, "status",
                                     status.c_str(), "attach", "", "detach", "", "nports", "16",
                                     nullptr, nullptr));
  }

  // Returns "" or an error.
  std::string Handle(const std::string& line, bool replay) {
    std::vector<std::string> f = Split(line, '\t');
    if (f.size() == 2 && f[0] == "remove") return Remove(f[1]);
    if (f.size() != 8 || f[0] != "add") return "want 'add' with 7 tab-separated fields or 'remove'";
    std::string err = Add(f);
    if (err.empty() && !replay) std::ofstream(dir_ + "/plugged", std::ios::app) << line << "\n";
    return err;
  }

  void Replay() {
    std::ifstream in(dir_ + "/plugged");
    std::map<std::string, std::string> last;  // busid -> last add (removes already applied)
    for (std::string line; std::getline(in, line);) {
      std::vector<std::string> f = Split(line, '\t');
      if (f.size() >= 2) last[f[1]] = line;
    }
    for (const auto& [busid, line] : last) Handle(line, true);
  }

 private:
  static std::string Take(gchar* s) {
    std::string out = s == nullptr ? "" : s;
    g_free(s);
    return out;
  }

  std::string Add(const std::vector<std::string>& f) {
    const std::string& busid = f[1];
    if (devices_.count(busid)) return "busid " + busid + " is already plugged";
    int devnum = next_devnum_++;
    std::string dn = std::to_string(devnum);
    char devname[64];
    snprintf(devname, sizeof(devname), "/dev/bus/usb/001/%03d", devnum);
    std::string minor = std::to_string(devnum - 1);
    std::string syspath = Take(umockdev_testbed_add_device(
        tb_, "usb", busid.c_str(), root_.c_str(), "idVendor", f[2].c_str(), "idProduct",
        f[3].c_str(), "bcdDevice", "0100", "busnum", "1", "devnum", dn.c_str(), "speed",
        f[4].c_str(), "serial", f[5].c_str(), "manufacturer", f[6].c_str(), "product", f[7].c_str(),
        "bDeviceClass", "00", "bDeviceSubClass", "00", "bDeviceProtocol", "00",
        "bConfigurationValue", "1", "bNumConfigurations", "1", "bNumInterfaces", " 1",
        // As if bound to usbip-host: the kernel stub's attributes.
        "usbip_status", "1", "usbip_sockfd", "", nullptr, "DEVTYPE", "usb_device", "DEVNAME",
        devname, "BUSNUM", "001", "MAJOR", "189", "MINOR", minor.c_str(), nullptr));
    if (syspath.empty()) return "umockdev refused the device";
    std::string intf = busid + ":1.0";
    Take(umockdev_testbed_add_device(tb_, "usb", intf.c_str(), syspath.c_str(), "bInterfaceClass",
                                     "03", "bInterfaceSubClass", "00", "bInterfaceProtocol", "00",
                                     "bInterfaceNumber", "00", nullptr, "DEVTYPE", "usb_interface",
                                     nullptr));
    devices_[busid] = syspath;
    umockdev_testbed_uevent(tb_, syspath.c_str(), "add");
    return "";
  }

  std::string Remove(const std::string& busid) {
    auto it = devices_.find(busid);
    if (it == devices_.end()) return "busid " + busid + " is not plugged";
    umockdev_testbed_uevent(tb_, it->second.c_str(), "remove");
    // Children first: umockdev removes only the named device's own links.
    umockdev_testbed_remove_device(tb_, (it->second + "/" + busid + ":1.0").c_str());
    umockdev_testbed_remove_device(tb_, it->second.c_str());
    devices_.erase(it);
    std::ofstream(dir_ + "/plugged", std::ios::app) << "remove\t" << busid << "\n";
    return "";
  }

  const std::string dir_;
  UMockdevTestbed* tb_;
  std::string root_;
  std::map<std::string, std::string> devices_;
  int next_devnum_ = 2;
};

}  // namespace

int main(int argc, char** argv) {
  // umockdev resolves parent devices through /sys, so the tool itself runs preloaded (and the
  // command inherits it).
  const char* preloaded = getenv("LD_PRELOAD");
  if (preloaded == nullptr || strstr(preloaded, "umockdev-preload") == nullptr) {
    std::string preload = "libumockdev-preload.so.0";
    if (preloaded != nullptr && *preloaded) preload = std::string(preloaded) + ":" + preload;
    setenv("LD_PRELOAD", preload.c_str(), 1);
    execv("/proc/self/exe", argv);
    perror("re-exec under libumockdev-preload");
    return 1;
  }
  std::string dir;
  bool vhci = false;
  int i = 1;
  for (; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--dir" && i + 1 < argc) {
      dir = argv[++i];
    } else if (a == "--vhci") {
      vhci = true;
    } else if (a == "--") {
      ++i;
      break;
    } else {
      std::cerr << "usage: berth-usb-testbed --dir DIR [--vhci] -- COMMAND ARGS...\n";
      return 2;
    }
  }
  if (dir.empty() || i >= argc) {
    std::cerr << "usage: berth-usb-testbed --dir DIR [--vhci] -- COMMAND ARGS...\n";
    return 2;
  }
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  Testbed tb(dir);
  if (vhci) tb.AddVhci();
  tb.Replay();
  std::ofstream(dir + "/root", std::ios::trunc) << tb.Root() << "\n";
  std::string fifo = dir + "/ctl";
  unlink(fifo.c_str());
  if (mkfifo(fifo.c_str(), 0600) != 0) {
    perror("mkfifo");
    return 1;
  }
  // Signals are taken synchronously in the loop below and passed on to the command.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  sigprocmask(SIG_BLOCK, &signals, nullptr);
  pid_t child = fork();
  if (child == 0) {
    sigprocmask(SIG_UNBLOCK, &signals, nullptr);
    prctl(PR_SET_PDEATHSIG, SIGKILL);  // the testbed gone means the "hardware" is gone
    execvp(argv[i], argv + i);
    perror("exec");
    _exit(127);
  }
  // Control loop: the FIFO is opened read-write so it never reports EOF between writers.
  int fd = open(fifo.c_str(), O_RDWR | O_CLOEXEC);
  std::string pending;
  int kill_at = -1;  // loop iterations until SIGKILL after a forwarded signal
  for (;;) {
    int status = 0;
    if (waitpid(child, &status, WNOHANG) == child) {
      return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    }
    timespec zero{0, 0};
    int sig = sigtimedwait(&signals, nullptr, &zero);
    if (sig > 0) {
      kill(child, sig);
      kill_at = 50;  // 5 s
    }
    if (kill_at >= 0 && kill_at-- == 0) kill(child, SIGKILL);
    fd_set set;
    FD_ZERO(&set);
    FD_SET(fd, &set);
    timeval tv{0, 100000};
    if (select(fd + 1, &set, nullptr, nullptr, &tv) <= 0) continue;
    char buf[4096];
    ssize_t n = read(fd, buf, sizeof(buf));
    if (n <= 0) continue;
    pending.append(buf, n);
    for (size_t nl; (nl = pending.find('\n')) != std::string::npos;) {
      std::string line = pending.substr(0, nl);
      pending.erase(0, nl + 1);
      std::string err = tb.Handle(line, false);
      std::ofstream(dir + "/log", std::ios::app)
          << (err.empty() ? "ok " + line : "error " + line + ": " + err) << "\n";
    }
  }
}
