#include "cmd_data_incremental.h"

#include <fcntl.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <set>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "berth/json.h"
#include "berth/status_macros.h"
#include "cmd_data_http.h"
#include "cmd_data_io.h"

namespace berth::cli {
namespace {

namespace ew = exportwire;

constexpr char kMethodExtentMapName[] = "extent-map";

// What the agent said changed: ranges to fetch and ranges that are zeros in the image.
struct ChangeList {
  std::string method;
  uint64_t size = 0;
  uint64_t base_size = 0;
  std::string base_digest;
  std::vector<ew::Extent> data;
  std::vector<ew::Extent> zeros;
  uint64_t DataBytes() const {
    uint64_t n = 0;
    for (const ew::Extent& e : data) n += e.length;
    return n;
  }
};

absl::StatusOr<std::vector<ew::Extent>> RangesFrom(const Json& j, const char* key, uint64_t size) {
  auto parsed = ew::ExtentsFromJson(
      Json{{"size", size}, {"extents", j.contains(key) ? j[key] : Json::array()}}.dump());
  if (!parsed.ok()) return absl::DataLossError(absl::StrCat("the agent's ", key, " list is bad"));
  return parsed->second;
}

absl::StatusOr<ChangeList> ParseChanges(const HttpResponse& r, const std::string& what) {
  if (r.code != 200) return ExportSession::HttpError(r, what);
  Json j = Json::parse(r.body, nullptr, false);
  if (j.is_discarded() || !j.is_object() || !j.contains("size") ||
      !j["size"].is_number_unsigned()) {
    return absl::DataLossError(absl::StrCat(what, ": the agent's answer is not a change list"));
  }
  ChangeList c;
  c.method = j.value("method", "");
  c.size = j["size"].get<uint64_t>();
  if (j.contains("baseSize") && j["baseSize"].is_number_unsigned()) {
    c.base_size = j["baseSize"].get<uint64_t>();
  }
  c.base_digest = j.value("baseDigest", "");
  BERTH_ASSIGN_OR_RETURN(c.data, RangesFrom(j, "data", c.size));
  BERTH_ASSIGN_OR_RETURN(c.zeros, RangesFrom(j, "zeros", c.size));
  return c;
}

// POST changes with the leaf digests of `tree` (the local copy at the image's size).
absl::StatusOr<ChangeList> CompareByDigest(ExportSession::Connection& conn,
                                           const ew::LeafTree& tree) {
  std::string body(reinterpret_cast<const char*>(tree.leaves.data()),
                   tree.leaves.size() * sizeof(ew::Sha256Bytes));
  BERTH_ASSIGN_OR_RETURN(
      HttpResponse r,
      conn.Call("POST", "changes", "Content-Type: application/octet-stream\r\n", body));
  return ParseChanges(r, "POST changes");
}

absl::StatusOr<ew::LeafTree> LocalTree(int fd, uint64_t size) {
  BERTH_ASSIGN_OR_RETURN(std::vector<ew::Extent> extents, ew::DataExtents(fd, size));
  return ew::FileLeafTree(fd, size, extents, 2);
}

// Makes `out` a copy of `base`: a reflink clone where the filesystem allows (no data copied),
// else a sparse in-kernel copy of the data extents.
absl::Status CopyBase(const std::string& base, const std::string& out) {
  ew::UniqueFd in(open(base.c_str(), O_RDONLY | O_CLOEXEC));
  if (!in.valid()) return absl::NotFoundError(absl::StrCat(base, ": ", strerror(errno)));
  std::string tmp = out + ".berth-copy";
  ew::UniqueFd dst(open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
  if (!dst.valid()) return absl::PermissionDeniedError(absl::StrCat(tmp, ": ", strerror(errno)));
  struct stat st {};
  fstat(in.get(), &st);
  absl::Status status = absl::OkStatus();
  if (ioctl(dst.get(), FICLONE, in.get()) != 0) {
    auto extents = ew::DataExtents(in.get(), st.st_size);
    status = extents.status();
    for (size_t k = 0; status.ok() && k < (extents.ok() ? extents->size() : 0); ++k) {
      loff_t from = (*extents)[k].offset, to = from;
      uint64_t left = (*extents)[k].length;
      while (left > 0) {
        ssize_t n = copy_file_range(in.get(), &from, dst.get(), &to, left, 0);
        if (n <= 0) {
          status = absl::InternalError(absl::StrCat("copying ", base, ": ", strerror(errno)));
          break;
        }
        left -= n;
      }
    }
    if (status.ok() && ftruncate(dst.get(), st.st_size) != 0) {
      status = absl::InternalError(absl::StrCat("sizing ", tmp, ": ", strerror(errno)));
    }
  }
  if (status.ok() && rename(tmp.c_str(), out.c_str()) != 0) {
    status = absl::InternalError(absl::StrCat("renaming ", tmp, ": ", strerror(errno)));
  }
  if (!status.ok()) unlink(tmp.c_str());
  return status;
}

// Up to 4 MiB of changed ranges moved together (one worker, one buffer).
using Batch = std::vector<ew::Extent>;

std::vector<Batch> Batches(const std::vector<ew::Extent>& data) {
  std::vector<Batch> out;
  uint64_t filled = ew::kChunkSize;
  for (ew::Extent e : data) {
    while (e.length > 0) {
      if (filled == ew::kChunkSize) out.emplace_back(), filled = 0;
      uint64_t n = std::min(e.length, ew::kChunkSize - filled);
      out.back().push_back({e.offset, n});
      filled += n;
      e.offset += n;
      e.length -= n;
    }
  }
  return out;
}

// The progress sidecar of an incremental run: its header, then finished batch numbers; beside
// it FILE.berth-progress-tree, the base's leaf tree (the base may be the file itself).
struct Progress {
  std::string path;
  std::string tree_path;
  std::set<uint64_t> done;
  ew::UniqueFd fd;
  absl::Mutex mu;

  static std::string Header(const std::string& export_name, const std::string& method,
                            uint64_t size, const std::string& identity) {
    return absl::StrCat("berth-progress v1 size=", size, " export=", export_name,
                        " incremental method=", method, " ", identity);
  }
  absl::Status Start(const std::string& header, const ew::LeafTree* base_tree) {
    if (base_tree != nullptr) {
      BERTH_RETURN_IF_ERROR(ew::WriteLeafTreeFile(tree_path, *base_tree));
    }
    std::string tmp = path + ".tmp";
    {
      std::ofstream out(tmp, std::ios::trunc);
      out << header << "\n";
      if (!out) return absl::PermissionDeniedError(absl::StrCat("cannot write ", tmp));
    }
    ew::UniqueFd sync(open(tmp.c_str(), O_RDONLY | O_CLOEXEC));
    if (sync.valid()) fsync(sync.get());
    if (rename(tmp.c_str(), path.c_str()) != 0) {
      return absl::PermissionDeniedError(absl::StrCat("cannot write ", path));
    }
    return Open();
  }
  absl::Status Open() {
    fd.reset(open(path.c_str(), O_WRONLY | O_APPEND | O_CLOEXEC));
    if (!fd.valid()) return absl::PermissionDeniedError(absl::StrCat("cannot open ", path));
    return absl::OkStatus();
  }
  // What identifies a run regardless of its export (a new export replaces an expired one)
  // and method: the header without its export= and method= words.
  static std::string Identity(const std::string& header) {
    std::string out;
    for (absl::string_view w : absl::StrSplit(header, ' ')) {
      if (absl::StartsWith(w, "export=") || absl::StartsWith(w, "method=")) continue;
      absl::StrAppend(&out, out.empty() ? "" : " ", w);
    }
    return out;
  }
  // Reads an earlier run's record when it is of the same run as `header`; returns its method.
  std::optional<std::string> Load(const std::string& header) {
    std::ifstream in(path);
    std::string line;
    if (!std::getline(in, line) || Identity(line) != Identity(header)) return std::nullopt;
    size_t at = line.find(" method=");
    if (at == std::string::npos) return std::nullopt;
    std::string method = line.substr(at + 8, line.find(' ', at + 8) - at - 8);
    uint64_t i;
    while (in >> i) done.insert(i);
    return method;
  }
  void Record(uint64_t batch) {
    std::string line = absl::StrCat(batch, "\n");
    absl::MutexLock l(&mu);
    if (write(fd.get(), line.data(), line.size()) < 0) {
      // The record is only an optimization for --resume; the digest check guards the result.
    }
  }
  void Remove() {
    unlink(path.c_str());
    unlink(tree_path.c_str());
  }
};

// Fetches `batches` (except those in progress->done) into `fd` over `connections`.
absl::Status FetchBatches(const ExportSession& session, int fd, const std::vector<Batch>& batches,
                          Progress* progress, int connections, std::ostream* bar_out,
                          uint64_t* transferred) {
  std::atomic<size_t> next{0};
  std::atomic<uint64_t> moved{0};
  absl::Mutex mu;
  absl::Status error;
  uint64_t total = 0;
  for (size_t k = 0; k < batches.size(); ++k) {
    if (progress != nullptr && progress->done.count(k) > 0) continue;
    for (const ew::Extent& e : batches[k]) total += e.length;
  }
  auto work = [&] {
    ExportSession::Connection conn(session);
    std::vector<char> buf(ew::kChunkSize);
    for (size_t k = next++; k < batches.size(); k = next++) {
      if (progress != nullptr && progress->done.count(k) > 0) continue;
      absl::Status st = absl::OkStatus();
      uint64_t at = 0;
      for (const ew::Extent& e : batches[k]) {
        if (st.ok()) st = conn.GetRange(e.offset, e.length, buf.data() + at);
        at += e.length;
      }
      at = 0;
      for (const ew::Extent& e : batches[k]) {
        if (st.ok()) st = PwriteAll(fd, buf.data() + at, e.length, e.offset);
        at += e.length;
        if (st.ok()) moved += e.length;
      }
      if (st.ok() && progress != nullptr) progress->Record(k);
      if (!st.ok()) {
        absl::MutexLock l(&mu);
        if (error.ok()) error = st;
        next = batches.size();
        return;
      }
    }
  };
  {
    ProgressBar bar(bar_out, total, moved);
    std::vector<std::thread> workers;
    for (int t = 0; t < std::max(1, connections); ++t) workers.emplace_back(work);
    for (std::thread& t : workers) t.join();
  }
  *transferred += moved.load();
  return error;
}

std::string Describe(const ChangeList& c) {
  uint64_t zeroed = 0;
  for (const ew::Extent& e : c.zeros) zeroed += e.length;
  return absl::StrCat(c.method, ", ", c.DataBytes(), " bytes in ", c.data.size(),
                      " ranges to fetch, ", zeroed, " bytes to zero");
}

}  // namespace

absl::StatusOr<IncrementalStats> IncrementalDownload(const ExportEndpoint& ep,
                                                     const IncrementalOptions& o,
                                                     const std::string& export_name) {
  ew::ScopedSigpipeBlock no_sigpipe;
  BERTH_ASSIGN_OR_RETURN(std::unique_ptr<ExportSession> session, ExportSession::Create(ep));
  ExportSession::Connection control(*session);
  BERTH_ASSIGN_OR_RETURN(HttpResponse offered_r, control.Call("GET", "changes", "", ""));
  BERTH_ASSIGN_OR_RETURN(ChangeList offered, ParseChanges(offered_r, "GET changes"));
  const uint64_t size = offered.size;
  IncrementalStats stats;
  stats.transfer.size = size;

  Progress progress;
  progress.path = ProgressFile(o.file);
  progress.tree_path = progress.path + "-tree";
  bool in_place = o.file == o.base;
  BERTH_ASSIGN_OR_RETURN(uint64_t base_size, LocalFileSize(o.base));

  // The base's leaf tree: an earlier run's (resume), the base's trusted sidecar, or none.
  std::optional<ew::LeafTree> base_tree;
  // A resumed run keeps the file as the earlier run left it: an extent-map run continues with
  // the batches it did not record; a digest run compares the half-updated file's leaves again,
  // which finds exactly what is still missing.
  bool resumed = false;
  if (o.resume) {
    std::optional<std::string> method =
        progress.Load(Progress::Header(export_name, "", size, o.identity));
    if (method == kMethodExtentMapName) {
      auto saved = ew::ReadLeafTreeFile(progress.tree_path);
      if (saved.ok()) base_tree = *std::move(saved), resumed = true;
    } else if (method == "digest") {
      resumed = true;
    }
    if (!resumed || !base_tree) progress.done.clear();
  }
  if (!resumed) base_tree = TrustedTree(o.base);
  bool extent = offered.method == kMethodExtentMapName && base_tree.has_value();
  if (offered.method == kMethodExtentMapName && !extent && !resumed) {
    stats.fell_back =
        "the base is not known to be the since snapshot (no " + TreeFile(o.base) + " matching it)";
  } else if (extent &&
             (base_tree->Digest() != offered.base_digest || base_tree->size != offered.base_size)) {
    extent = false;
    stats.fell_back = "the base's digest is not the since snapshot's";
  }
  if (!resumed && extent && base_size != base_tree->size) extent = false;

  // Prepare the result: a copy of the base (or the base itself), sized as the image.
  if (!resumed) {
    if (!in_place) {
      ForgetTree(o.file);
      BERTH_RETURN_IF_ERROR(CopyBase(o.base, o.file));
    }
    std::string method = extent ? kMethodExtentMapName : "digest";
    BERTH_RETURN_IF_ERROR(progress.Start(Progress::Header(export_name, method, size, o.identity),
                                         extent ? &*base_tree : nullptr));
    ForgetTree(o.file);  // from here on the file is being changed
  } else {
    BERTH_RETURN_IF_ERROR(progress.Open());
  }
  ew::UniqueFd fd(open(o.file.c_str(), O_RDWR | O_CLOEXEC));
  if (!fd.valid()) return absl::PermissionDeniedError(absl::StrCat(o.file, ": ", strerror(errno)));
  if (ftruncate(fd.get(), size) != 0) {
    return absl::InternalError(absl::StrCat("sizing ", o.file, ": ", strerror(errno)));
  }

  // The leaves of the file as it is now, when known without reading it: a fresh copy of a
  // trusted base that the extent map will not be used for.
  std::optional<ew::LeafTree> fresh_copy_tree;
  if (!resumed && !extent && base_tree) fresh_copy_tree = base_tree;
  // One pass: find the changes, apply them, recompute the leaves they touched.
  auto pass = [&](bool by_extent, ew::LeafTree& tree) -> absl::Status {
    ChangeList changes;
    if (by_extent) {
      changes = offered;
      BERTH_RETURN_IF_ERROR(ew::ResizeLeafTree(fd.get(), size, tree));
    } else {
      if (fresh_copy_tree) {
        // The file is still an unchanged copy of a base whose leaves are known: no need to
        // read it.
        tree = *std::move(fresh_copy_tree);
        fresh_copy_tree.reset();
        BERTH_RETURN_IF_ERROR(ew::ResizeLeafTree(fd.get(), size, tree));
      } else {
        BERTH_ASSIGN_OR_RETURN(tree, LocalTree(fd.get(), size));
      }
      BERTH_ASSIGN_OR_RETURN(changes, CompareByDigest(control, tree));
    }
    stats.method = changes.method;
    stats.changed = changes.DataBytes();
    for (const ew::Extent& e : changes.zeros) stats.changed += e.length;
    if (o.log != nullptr) *o.log << "incremental: " << Describe(changes) << "\n" << std::flush;
    for (const ew::Extent& z : changes.zeros) {
      BERTH_RETURN_IF_ERROR(ew::ZeroRange(fd.get(), z));
    }
    std::vector<Batch> batches = Batches(changes.data);
    uint64_t skipped = 0;
    for (uint64_t k : progress.done) {
      for (const ew::Extent& e : k < batches.size() ? batches[k] : std::vector<ew::Extent>{})
        skipped += e.length;
    }
    stats.transfer.reused += by_extent ? skipped : 0;
    BERTH_RETURN_IF_ERROR(FetchBatches(*session, fd.get(), batches, by_extent ? &progress : nullptr,
                                       o.connections, o.progress, &stats.transfer.transferred));
    std::vector<ew::Extent> touched = changes.data;
    touched.insert(touched.end(), changes.zeros.begin(), changes.zeros.end());
    return ew::RehashLeaves(fd.get(), ew::LeavesTouching(touched, size), tree);
  };

  ew::LeafTree tree = extent ? *base_tree : ew::LeafTree{};
  BERTH_RETURN_IF_ERROR(pass(extent, tree));
  BERTH_ASSIGN_OR_RETURN(std::string remote, FetchDigest(control));
  stats.transfer.digest = tree.Digest();
  if (stats.transfer.digest != remote && extent) {
    // The extent map missed something (or the base changed under us): the digest method
    // compares every leaf and fetches what still differs.
    stats.fell_back = "the result did not match after the extent-map pass";
    BERTH_RETURN_IF_ERROR(pass(false, tree));
    stats.transfer.digest = tree.Digest();
  }
  if (stats.transfer.digest != remote) {
    progress.Remove();
    return absl::DataLossError(absl::StrCat("SHA-256 mismatch: ", o.file, " has ",
                                            stats.transfer.digest, ", the agent has ", remote,
                                            "; download it again without --resume"));
  }
  fsync(fd.get());
  fd.reset();
  progress.Remove();
  RecordTree(o.file, tree).IgnoreError();
  return stats;
}

absl::StatusOr<TransferStats> IncrementalUpload(const ExportEndpoint& ep,
                                                const TransferOptions& o) {
  ew::ScopedSigpipeBlock no_sigpipe;
  BERTH_ASSIGN_OR_RETURN(std::unique_ptr<ExportSession> session, ExportSession::Create(ep));
  ew::UniqueFd fd(open(o.file.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) return absl::NotFoundError(absl::StrCat(o.file, ": ", strerror(errno)));
  BERTH_ASSIGN_OR_RETURN(uint64_t size, LocalFileSize(o.file));
  std::optional<ew::LeafTree> trusted = TrustedTree(o.file);
  BERTH_ASSIGN_OR_RETURN(ew::LeafTree tree, trusted ? absl::StatusOr<ew::LeafTree>(*trusted)
                                                    : LocalTree(fd.get(), size));
  // The volume may be larger than the file (--size): compare the file as padded with zeros.
  ExportSession::Connection conn(*session);
  BERTH_ASSIGN_OR_RETURN(HttpResponse offered_r, conn.Call("GET", "changes", "", ""));
  BERTH_ASSIGN_OR_RETURN(ChangeList offered, ParseChanges(offered_r, "GET changes"));
  const uint64_t volume_size = offered.size;
  if (volume_size < size) {
    return absl::InvalidArgumentError(
        absl::StrCat(o.file, " has ", size, " bytes, more than the volume's ", volume_size));
  }
  BERTH_RETURN_IF_ERROR(ew::ResizeLeafTree(fd.get(), volume_size, tree));
  BERTH_ASSIGN_OR_RETURN(ChangeList changes, CompareByDigest(conn, tree));
  // The agent lists the leaves where the volume differs; what to send depends on this side's
  // leaves: a zero leaf becomes a hole, any other is sent.
  std::vector<ew::Extent> differ = changes.data;
  differ.insert(differ.end(), changes.zeros.begin(), changes.zeros.end());
  std::vector<ew::Extent> send, zeros;
  for (uint64_t i : ew::LeavesTouching(differ, volume_size)) {
    uint64_t start = i * ew::kDigestLeaf, len = ew::LeafLength(i, volume_size);
    if (tree.leaves[i] == ew::ZeroLeafDigest(len)) {
      zeros.push_back({start, len});
    } else {  // past the file's end the volume reads zeros already (it is at least A's size)
      send.push_back({start, std::min(len, size - start)});
    }
  }
  send = ew::MergeRanges(send);
  zeros = ew::MergeRanges(zeros);
  if (!zeros.empty()) {
    Json list = Json::array();
    for (const ew::Extent& z : zeros) list.push_back(Json::array({z.offset, z.length}));
    BERTH_ASSIGN_OR_RETURN(HttpResponse r,
                           conn.Call("POST", "zero", "Content-Type: application/json\r\n",
                                     Json{{"ranges", list}}.dump()));
    if (r.code != 204) return ExportSession::HttpError(r, "zeroing ranges");
  }
  BERTH_ASSIGN_OR_RETURN(uint64_t sent, PutBatches(*session, fd.get(), volume_size, Batches(send),
                                                   o.connections, o.progress));
  std::string digest = tree.Digest();
  BERTH_RETURN_IF_ERROR(CompleteUpload(conn, volume_size, digest));
  return TransferStats{volume_size, sent, 0, digest};
}

}  // namespace berth::cli
