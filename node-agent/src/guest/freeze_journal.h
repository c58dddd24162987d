#ifndef BERTH_AGENT_GUEST_FREEZE_JOURNAL_H_
#define BERTH_AGENT_GUEST_FREEZE_JOURNAL_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace berth::agent {

// The freezer's crash journal: one file per domain that may be frozen, named after the domain
// (bytes outside [A-Za-z0-9._-] written as %XX), so the name alone identifies the domain even
// if a crash tore the file's contents. Entries are durable (file and directory fsync'd) before
// Add returns. Thread-compatible: callers serialize calls per domain.
class FreezeJournal {
 public:
  explicit FreezeJournal(std::string dir) : dir_(std::move(dir)) {}

  // Creates the directory if needed.
  absl::Status Init();
  absl::Status Add(const std::string& domain);
  // Removes the entry; absent is fine.
  absl::Status Remove(const std::string& domain);
  // Returns every journaled domain.
  absl::StatusOr<std::vector<std::string>> List() const;
  std::string PathOf(const std::string& domain) const;

  static std::string EncodeName(absl::string_view domain);
  // Returns the domain for a journal file name, or "" when the name is not an entry.
  static std::string DecodeName(absl::string_view file);

 private:
  const std::string dir_;
};

}  // namespace berth::agent

#endif  // BERTH_AGENT_GUEST_FREEZE_JOURNAL_H_
