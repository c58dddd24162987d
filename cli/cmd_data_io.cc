#include "cmd_data_io.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "berth/json.h"
#include "berth/status_macros.h"

namespace berth::cli {

namespace ew = exportwire;

absl::StatusOr<std::string> FetchDigest(ExportSession::Connection& conn) {
  BERTH_ASSIGN_OR_RETURN(HttpResponse r, conn.Call("GET", "digest", "", ""));
  if (r.code != 200) return ExportSession::HttpError(r, "GET digest");
  Json j = Json::parse(r.body, nullptr, false);
  if (j.is_discarded() || JsonString(j, "/algorithm") != ew::kDigestAlgorithm) {
    return absl::DataLossError("the agent's digest answer is not " +
                               std::string(ew::kDigestAlgorithm));
  }
  return JsonString(j, "/digest");
}

}  // namespace berth::cli

namespace berth::cli {
namespace {

absl::Status FsyncFile(const std::string& file) {
  int fd = open(file.c_str(), O_RDONLY | O_CLOEXEC);
  int rc = fd < 0 ? -1 : fsync(fd);
  if (fd >= 0) close(fd);
  if (rc != 0) return absl::InternalError(absl::StrCat("fsync ", file));
  return absl::OkStatus();
}

// The identity line of a file: what changes when anything writes to it.
absl::StatusOr<std::string> FileIdentity(const std::string& file) {
  struct stat st {};
  if (stat(file.c_str(), &st) != 0) {
    return absl::NotFoundError(absl::StrCat(file, ": ", strerror(errno)));
  }
  return absl::StrCat("berth-file dev=", st.st_dev, " ino=", st.st_ino, " size=", st.st_size,
                      " mtime=", st.st_mtim.tv_sec, ".", st.st_mtim.tv_nsec,
                      " ctime=", st.st_ctim.tv_sec, ".", st.st_ctim.tv_nsec, "\n");
}

}  // namespace

std::string TreeFile(const std::string& file) { return file + ".berth-tree"; }

absl::Status RecordTree(const std::string& file, const ew::LeafTree& tree) {
  BERTH_RETURN_IF_ERROR(FsyncFile(file));
  BERTH_ASSIGN_OR_RETURN(std::string id, FileIdentity(file));
  return ew::WriteLeafTreeFile(TreeFile(file), tree, id);
}

std::optional<ew::LeafTree> TrustedTree(const std::string& file) {
  auto id = FileIdentity(file);
  if (!id.ok()) return std::nullopt;
  auto tree = ew::ReadLeafTreeFile(TreeFile(file), *id);
  struct stat st {};
  if (!tree.ok() || stat(file.c_str(), &st) != 0 ||
      tree->size != static_cast<uint64_t>(st.st_size)) {
    return std::nullopt;
  }
  return *std::move(tree);
}

void ForgetTree(const std::string& file) { unlink(TreeFile(file).c_str()); }

absl::StatusOr<uint64_t> PutBatches(const ExportSession& session, int fd, uint64_t size,
                                    const std::vector<std::vector<ew::Extent>>& batches,
                                    int connections, std::ostream* bar_out) {
  std::atomic<size_t> next{0};
  std::atomic<uint64_t> moved{0};
  absl::Mutex mu;
  absl::Status error;
  uint64_t total = 0;
  for (const auto& b : batches) {
    for (const ew::Extent& e : b) total += e.length;
  }
  auto work = [&] {
    ExportSession::Connection conn(session);
    std::vector<char> buf(ew::kChunkSize);
    for (size_t k = next++; k < batches.size(); k = next++) {
      for (const ew::Extent& p : batches[k]) {
        absl::Status st = PreadAll(fd, buf.data(), p.length, p.offset);
        if (st.ok()) st = conn.PutRange(p.offset, p.length, size, buf.data());
        if (!st.ok()) {
          absl::MutexLock l(&mu);
          if (error.ok()) error = st;
          next = batches.size();
          return;
        }
        moved += p.length;
      }
    }
  };
  {
    ProgressBar bar(bar_out, total, moved);
    std::vector<std::thread> workers;
    for (int t = 0; t < std::max(1, connections); ++t) workers.emplace_back(work);
    for (std::thread& t : workers) t.join();
  }
  BERTH_RETURN_IF_ERROR(error);
  return moved.load();
}

absl::Status CompleteUpload(ExportSession::Connection& conn, uint64_t size,
                            const std::string& digest) {
  BERTH_ASSIGN_OR_RETURN(HttpResponse r,
                         conn.Call("POST", "complete", "Content-Type: application/json\r\n",
                                   Json{{"size", size}, {"digest", digest}}.dump()));
  if (r.code != 200) return ExportSession::HttpError(r, "completing the upload");
  return absl::OkStatus();
}

}  // namespace berth::cli
