#include "guest/freeze_journal.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/strip.h"
#include "berth/status_macros.h"
#include "platform/files.h"

namespace berth::agent {
namespace {

constexpr char kSuffix[] = ".frozen";

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

std::string FreezeJournal::EncodeName(absl::string_view domain) {
  std::string out;
  for (char c : domain) {
    unsigned char u = static_cast<unsigned char>(c);
    bool plain = absl::ascii_isalnum(u) || c == '-' || c == '_' || (c == '.' && !out.empty());
    out += plain ? std::string(1, c) : absl::StrFormat("%%%02X", u);
  }
  return absl::StrCat(out, kSuffix);
}

std::string FreezeJournal::DecodeName(absl::string_view file) {
  if (!absl::ConsumeSuffix(&file, kSuffix) || file.empty()) return "";
  std::string out;
  for (size_t i = 0; i < file.size(); ++i) {
    if (file[i] != '%') {
      out += file[i];
      continue;
    }
    if (i + 2 >= file.size()) return "";
    int hi = HexValue(file[i + 1]), lo = HexValue(file[i + 2]);
    if (hi < 0 || lo < 0) return "";
    out += static_cast<char>(hi * 16 + lo);
    i += 2;
  }
  return out;
}

std::string FreezeJournal::PathOf(const std::string& domain) const {
  return absl::StrCat(dir_, "/", EncodeName(domain));
}

absl::Status FreezeJournal::Init() { return platform::MakeDirs(dir_, 0700); }

absl::Status FreezeJournal::Add(const std::string& domain) {
  BERTH_RETURN_IF_ERROR(Init());
  std::string path = PathOf(domain);
  BERTH_ASSIGN_OR_RETURN(platform::UniqueFd fd,
                         platform::OpenPath(path, O_WRONLY | O_CREAT | O_TRUNC, 0600));
  std::string line = absl::StrCat(domain, "\n");
  size_t done = 0;
  while (done < line.size()) {
    ssize_t n = ::write(fd.get(), line.data() + done, line.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return platform::OsError(errno, absl::StrCat("write ", path));
    done += static_cast<size_t>(n);
  }
  BERTH_RETURN_IF_ERROR(platform::SyncFd(fd.get(), path));
  return platform::SyncDir(dir_);
}

absl::Status FreezeJournal::Remove(const std::string& domain) {
  absl::Status s = platform::RemoveFile(PathOf(domain));
  if (absl::IsNotFound(s)) return absl::OkStatus();
  BERTH_RETURN_IF_ERROR(s);
  return platform::SyncDir(dir_);
}

absl::StatusOr<std::vector<std::string>> FreezeJournal::List() const {
  BERTH_ASSIGN_OR_RETURN(std::vector<std::string> names, platform::ListDir(dir_));
  std::vector<std::string> out;
  for (const std::string& name : names) {
    std::string domain = DecodeName(name);
    if (!domain.empty()) out.push_back(domain);
  }
  return out;
}

}  // namespace berth::agent
