#include "cmd_data_transfer.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <fstream>
#include <ostream>
#include <set>
#include <sstream>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/synchronization/mutex.h"
#include "berth/json.h"
#include "berth/status_macros.h"
#include "cmd_data_http.h"
#include "cmd_data_io.h"

namespace berth::cli {
namespace {

namespace ew = exportwire;

// The resumable record of finished chunks: a header line, then one chunk index per line.
class Sidecar {
 public:
  static std::string Header(const std::string& identity, uint64_t size,
                            const std::string& export_name) {
    return absl::StrCat("berth-progress v1 size=", size, " export=", export_name, " ", identity);
  }
  // Reads the chunks an earlier run finished, when its header matches.
  static std::set<uint64_t> Load(const std::string& path, const std::string& header_prefix,
                                 const std::string& identity) {
    std::set<uint64_t> done;
    std::ifstream in(path);
    std::string header;
    if (!std::getline(in, header) || header.rfind(header_prefix, 0) != 0 ||
        header.size() < identity.size() ||
        header.compare(header.size() - identity.size(), identity.size(), identity) != 0) {
      return done;
    }
    uint64_t i;
    while (in >> i) done.insert(i);
    return done;
  }
  absl::Status Open(const std::string& path, const std::string& header, bool keep) {
    if (!keep) {
      std::ofstream out(path, std::ios::trunc);
      out << header << "\n";
      if (!out) return absl::PermissionDeniedError(absl::StrCat("cannot write ", path));
    }
    fd_.reset(open(path.c_str(), O_WRONLY | O_APPEND | O_CLOEXEC));
    if (!fd_.valid()) return absl::PermissionDeniedError(absl::StrCat("cannot open ", path));
    return absl::OkStatus();
  }
  // Appends a finished chunk (after its data was written to the file).
  void Record(uint64_t chunk) {
    std::string line = absl::StrCat(chunk, "\n");
    absl::MutexLock l(&mu_);
    if (write(fd_.get(), line.data(), line.size()) < 0) failed_ = true;
  }

 private:
  absl::Mutex mu_;
  ew::UniqueFd fd_;
  bool failed_ = false;
};

absl::StatusOr<std::pair<uint64_t, std::vector<ew::Extent>>> FetchExtents(
    ExportSession::Connection& conn) {
  BERTH_ASSIGN_OR_RETURN(HttpResponse r, conn.Call("GET", "extents", "", ""));
  if (r.code != 200) return ExportSession::HttpError(r, "GET extents");
  return ew::ExtentsFromJson(r.body);
}

// Shared state of one download. Workers take chunk indexes from `next`.
struct DownloadJob {
  const ExportSession* session;
  int fd;
  uint64_t size;
  std::vector<ew::Extent> extents;
  std::vector<uint64_t> chunks;  // data chunks, in order
  std::set<uint64_t> reused;     // finished by an earlier run: hash locally only
  std::vector<ew::Sha256Bytes> hashes;
  ew::LeafTree tree;  // leaf digests, kept as FILE.berth-tree for incremental exports
  Sidecar* sidecar;
  std::atomic<size_t> next{0};
  std::atomic<uint64_t> progress{0};
  std::atomic<uint64_t> transferred{0};
  absl::Mutex mu;
  absl::Status error ABSL_GUARDED_BY(mu);
  absl::Mutex write_mu;  // one pwrite into fd at a time (see FinishChunk)
};

// Fills `buf` with chunk `i`: from the agent, or from the file for a chunk an earlier run
// finished. Holes inside the chunk are zeros and are not requested.
absl::Status FetchChunk(DownloadJob& job, ExportSession::Connection& conn, uint64_t i,
                        std::vector<char>& buf) {
  uint64_t len = ew::ChunkLength(i, job.size), start = i * ew::kChunkSize;
  if (job.reused.count(i) > 0) return PreadAll(job.fd, buf.data(), len, start);
  std::vector<ew::Extent> pieces = ew::ExtentsInChunk(job.extents, i, job.size);
  if (!(pieces.size() == 1 && pieces[0].length == len)) memset(buf.data(), 0, len);
  for (const ew::Extent& p : pieces) {
    BERTH_RETURN_IF_ERROR(conn.GetRange(p.offset, p.length, buf.data() + (p.offset - start)));
    job.transferred += p.length;
    job.progress += p.length;
  }
  return absl::OkStatus();
}

// Hashes chunk `i`, writes its data extents from `buf` to the file and records it as done.
// Hashing comes first and writing holds job.write_mu: writers into one file serialize on its
// inode lock anyway, and the kernel spins a waiting writer for as long as the other one copies
// (milliseconds for 4 MiB), so the connections take turns writing and hash meanwhile instead.
absl::Status FinishChunk(DownloadJob& job, uint64_t i, const std::vector<char>& buf) {
  uint64_t len = ew::ChunkLength(i, job.size), start = i * ew::kChunkSize;
  ew::ChunkLeafDigests(buf.data(), len,
                       job.tree.leaves.data() + i * (ew::kChunkSize / ew::kDigestLeaf));
  job.hashes[i] = job.tree.ChunkDigestAt(i);
  if (job.reused.count(i) > 0) {
    job.progress += len;
    return absl::OkStatus();
  }
  {
    absl::MutexLock l(&job.write_mu);
    for (const ew::Extent& p : ew::ExtentsInChunk(job.extents, i, job.size)) {
      BERTH_RETURN_IF_ERROR(PwriteAll(job.fd, buf.data() + (p.offset - start), p.length, p.offset));
    }
  }
  job.sidecar->Record(i);
  return absl::OkStatus();
}

// One connection. Two buffers: while one chunk is written and hashed on a helper thread, the
// next one is already on the wire, so neither the agent nor this connection waits for the hash.
// The helper lives as long as the connection (a thread per chunk cost a clone, a fresh stack and
// an exit every 4 MiB) and takes one chunk at a time.
void DownloadWorker(DownloadJob& job) {
  ExportSession::Connection conn(*job.session);
  std::vector<char> bufs[2] = {std::vector<char>(ew::kChunkSize),
                               std::vector<char>(ew::kChunkSize)};
  struct Handoff {
    absl::Mutex mu;
    bool busy ABSL_GUARDED_BY(mu) = false;  // `chunk` in `buf` is being finished
    bool closed ABSL_GUARDED_BY(mu) = false;
    uint64_t chunk ABSL_GUARDED_BY(mu) = 0;
    const std::vector<char>* buf ABSL_GUARDED_BY(mu) = nullptr;
    absl::Status finished ABSL_GUARDED_BY(mu);  // the first failure of a finished chunk
  } h;
  std::thread finisher([&job, &h] {
    h.mu.Lock();
    while (true) {
      h.mu.Await(absl::Condition(
          +[](Handoff* x) ABSL_EXCLUSIVE_LOCKS_REQUIRED(x->mu) { return x->busy || x->closed; },
          &h));
      if (!h.busy) break;
      uint64_t i = h.chunk;
      const std::vector<char>& buf = *h.buf;
      h.mu.Unlock();
      absl::Status st = FinishChunk(job, i, buf);
      h.mu.Lock();
      if (h.finished.ok()) h.finished = st;
      h.busy = false;
    }
    h.mu.Unlock();
  });
  // Waits until the helper is idle (the other buffer is free again); its first failure, if any.
  auto idle = [&h] {
    absl::MutexLock l(&h.mu);
    h.mu.Await(absl::Condition(
        +[](Handoff* x) ABSL_EXCLUSIVE_LOCKS_REQUIRED(x->mu) { return !x->busy; }, &h));
    return h.finished;
  };
  auto fail = [&job](const absl::Status& st) {
    absl::MutexLock l(&job.mu);
    if (job.error.ok()) job.error = st;
    job.next = job.chunks.size();
  };
  int turn = 0;
  absl::Status st;
  for (size_t k = job.next++; k < job.chunks.size(); k = job.next++, turn ^= 1) {
    uint64_t i = job.chunks[k];
    st = FetchChunk(job, conn, i, bufs[turn]);
    absl::Status finished = idle();
    if (!finished.ok()) st = finished;
    if (!st.ok()) break;
    absl::MutexLock l(&h.mu);
    h.chunk = i;
    h.buf = &bufs[turn];
    h.busy = true;
  }
  absl::Status finished = idle();
  {
    absl::MutexLock l(&h.mu);
    h.closed = true;
  }
  finisher.join();
  if (st.ok()) st = finished;
  if (!st.ok()) fail(st);
}

}  // namespace

std::string ProgressFile(const std::string& file) { return file + ".berth-progress"; }

std::string PreviousExportName(const std::string& file, const std::string& identity) {
  std::ifstream in(ProgressFile(file));
  std::string header;
  if (!std::getline(in, header) || header.find(identity) == std::string::npos) return "";
  size_t at = header.find(" export=");
  if (at == std::string::npos) return "";
  size_t end = header.find(' ', at + 8);
  return header.substr(at + 8, end - at - 8);
}

absl::StatusOr<uint64_t> LocalFileSize(const std::string& file) {
  struct stat st {};
  if (stat(file.c_str(), &st) != 0) {
    return absl::NotFoundError(absl::StrCat(file, ": ", strerror(errno)));
  }
  if (!S_ISREG(st.st_mode)) return absl::InvalidArgumentError(file + ": not a regular file");
  return static_cast<uint64_t>(st.st_size);
}

absl::StatusOr<TransferStats> DownloadExport(const ExportEndpoint& ep, const TransferOptions& o,
                                             const DownloadHooks& hooks) {
  ew::ScopedSigpipeBlock no_sigpipe;  // inherited by the worker threads
  BERTH_ASSIGN_OR_RETURN(std::unique_ptr<ExportSession> session, ExportSession::Create(ep));
  ExportSession::Connection control(*session);
  BERTH_ASSIGN_OR_RETURN(auto listed, FetchExtents(control));
  DownloadJob job;
  job.session = session.get();
  job.size = listed.first;
  job.extents = std::move(listed.second);
  job.chunks = ew::DataChunks(job.extents, job.size);

  std::string sidecar_path = ProgressFile(o.file);
  std::string prefix = absl::StrCat("berth-progress v1 size=", job.size, " ");
  if (o.resume) job.reused = Sidecar::Load(sidecar_path, prefix, o.identity);
  ew::UniqueFd fd(open(o.file.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644));
  absl::Status st = fd.valid() ? absl::OkStatus()
                               : absl::PermissionDeniedError(
                                     absl::StrCat("cannot open ", o.file, ": ", strerror(errno)));
  if (st.ok() && job.reused.empty() && ftruncate(fd.get(), 0) != 0)
    st = absl::InternalError("truncate");
  if (st.ok() && ftruncate(fd.get(), job.size) != 0) {
    st = absl::InternalError(absl::StrCat("sizing ", o.file, ": ", strerror(errno)));
  }
  Sidecar sidecar;
  if (st.ok()) {
    st = sidecar.Open(sidecar_path, Sidecar::Header(o.identity, job.size, hooks.export_name),
                      !job.reused.empty());
  }
  BERTH_RETURN_IF_ERROR(st);
  job.fd = fd.get();
  job.sidecar = &sidecar;
  job.tree.Resize(job.size);  // zero leaves until chunks arrive
  job.hashes.assign(ew::ChunkCount(job.size), ew::ZeroChunkDigest(ew::kChunkSize));
  for (uint64_t i = 0; i < job.hashes.size(); ++i) {
    if (ew::ChunkLength(i, job.size) != ew::kChunkSize) {
      job.hashes[i] = ew::ZeroChunkDigest(ew::ChunkLength(i, job.size));
    }
  }
  uint64_t data_bytes = 0;
  for (const ew::Extent& e : job.extents) data_bytes += e.length;
  {
    ProgressBar bar(o.progress, data_bytes, job.progress);
    std::vector<std::thread> workers;
    for (int t = 0; t < std::max(1, o.connections); ++t) {
      workers.emplace_back([&job] { DownloadWorker(job); });
    }
    for (std::thread& t : workers) t.join();
  }
  {
    absl::MutexLock l(&job.mu);
    BERTH_RETURN_IF_ERROR(job.error);
  }
  // Asked last: the agent hashed each whole chunk as it sent it, so it reads only the rest.
  BERTH_ASSIGN_OR_RETURN(std::string remote_digest, FetchDigest(control));
  TransferStats stats;
  stats.size = job.size;
  stats.transferred = job.transferred;
  stats.reused = data_bytes - job.transferred;
  stats.digest = ew::CombineChunkDigests(job.size, job.hashes);
  if (stats.digest != remote_digest) {
    unlink(sidecar_path.c_str());  // do not trust the partial record either
    return absl::DataLossError(absl::StrCat("SHA-256 mismatch: ", o.file, " has ", stats.digest,
                                            ", the agent has ", remote_digest,
                                            "; download again without --resume"));
  }
  unlink(sidecar_path.c_str());
  RecordTree(o.file, job.tree).IgnoreError();  // a cache: incremental exports verify anyway
  return stats;
}

absl::StatusOr<TransferStats> UploadToExport(const ExportEndpoint& ep, const TransferOptions& o) {
  ew::ScopedSigpipeBlock no_sigpipe;  // inherited by the worker threads
  BERTH_ASSIGN_OR_RETURN(std::unique_ptr<ExportSession> session, ExportSession::Create(ep));
  ew::UniqueFd fd(open(o.file.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) return absl::NotFoundError(absl::StrCat(o.file, ": ", strerror(errno)));
  BERTH_ASSIGN_OR_RETURN(uint64_t size, LocalFileSize(o.file));
  BERTH_ASSIGN_OR_RETURN(std::vector<ew::Extent> extents, ew::DataExtents(fd.get(), size));
  absl::StatusOr<std::string> digest = absl::UnknownError("not computed");
  std::thread hasher([&] { digest = ew::FileDigest(fd.get(), size, extents, 1); });
  std::vector<std::vector<ew::Extent>> batches;  // a chunk's data extents each
  for (uint64_t i : ew::DataChunks(extents, size)) {
    batches.push_back(ew::ExtentsInChunk(extents, i, size));
  }
  auto sent = PutBatches(*session, fd.get(), size, batches, o.connections, o.progress);
  hasher.join();
  if (!sent.ok()) return sent.status();
  if (!digest.ok()) return digest.status();
  ExportSession::Connection conn(*session);
  BERTH_RETURN_IF_ERROR(CompleteUpload(conn, size, *digest));
  return TransferStats{size, *sent, 0, *digest};
}

}  // namespace berth::cli
