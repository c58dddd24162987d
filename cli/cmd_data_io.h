// What the transfer engines of `berth data` share: whole-buffer file I/O, the agent's digest
// request and the terminal progress bar (full downloads and uploads in cmd_data_transfer.cc,
// incremental ones in cmd_data_incremental.cc).
#ifndef BERTH_CLI_CMD_DATA_IO_H_
#define BERTH_CLI_CMD_DATA_IO_H_

#include <atomic>
#include <chrono>
#include <cstdint>
#include <optional>
#include <ostream>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/str_format.h"
#include "cmd_data_http.h"

namespace berth::cli {

using exportwire::PreadAll;
using exportwire::PwriteAll;
// GET digest: the agent's sha256-tree digest of the export's image (hex).
absl::StatusOr<std::string> FetchDigest(ExportSession::Connection& conn);

// FILE.berth-tree: the leaf digests of a file the CLI wrote completely and verified, with the
// file's identity (device, inode, size, mtime, ctime) at that moment. An incremental export
// trusts a --base only while its sidecar still matches; any change to the file (which moves its
// ctime) makes it untrusted and the digest method hashes it instead.
std::string TreeFile(const std::string& file);
absl::Status RecordTree(const std::string& file, const exportwire::LeafTree& tree);
std::optional<exportwire::LeafTree> TrustedTree(const std::string& file);
void ForgetTree(const std::string& file);

// PUTs every batch (ranges of `fd`, at most 4 MiB per batch) over `connections` kept-alive
// connections, drawing a progress bar on `bar_out` (may be null); returns the bytes sent.
absl::StatusOr<uint64_t> PutBatches(const ExportSession& session, int fd, uint64_t size,
                                    const std::vector<std::vector<exportwire::Extent>>& batches,
                                    int connections, std::ostream* bar_out);
// POST complete {"size","digest"}: the agent checks the volume's digest.
absl::Status CompleteUpload(ExportSession::Connection& conn, uint64_t size,
                            const std::string& digest);

// Draws "[####....] 42%  1.2 GiB/2.9 GiB  850.1 MiB/s  ETA 0:02" on a terminal while a transfer
// runs; owns its thread (joined by Stop or the destructor).
class ProgressBar {
 public:
  ProgressBar(std::ostream* out, uint64_t total, const std::atomic<uint64_t>& done)
      : out_(out), total_(total), done_(done) {
    if (out_ != nullptr) thread_ = std::thread([this] { Run(); });
  }
  ~ProgressBar() { Stop(); }
  void Stop() {
    if (!thread_.joinable()) return;
    stop_ = true;
    thread_.join();
    Draw();
    *out_ << "\n" << std::flush;
  }

 private:
  static std::string Bytes(double b) {
    const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    int u = 0;
    while (b >= 1024 && u < 4) b /= 1024, ++u;
    return absl::StrFormat("%.1f %s", b, units[u]);
  }
  void Run() {
    while (!stop_) {
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
      Draw();
    }
  }
  void Draw() {
    double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
    uint64_t done = done_.load();
    double frac = total_ == 0 ? 1.0 : static_cast<double>(done) / total_;
    double rate = secs > 0 ? done / secs : 0;
    int eta = rate > 0 ? static_cast<int>((total_ - done) / rate) : 0;
    int filled = static_cast<int>(frac * 30);
    *out_ << "\r[" << std::string(filled, '#') << std::string(30 - filled, '.') << "] "
          << absl::StrFormat("%3d%%  %s/%s  %s/s  ETA %d:%02d ", static_cast<int>(frac * 100),
                             Bytes(done), Bytes(total_), Bytes(rate), eta / 60, eta % 60)
          << std::flush;
  }

  std::ostream* out_;
  const uint64_t total_;
  const std::atomic<uint64_t>& done_;
  std::atomic<bool> stop_{false};
  std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now();
  std::thread thread_;
};

}  // namespace berth::cli

#endif  // BERTH_CLI_CMD_DATA_IO_H_
