// HTTP/1.1 head and range parsing: pure functions over text.
#include <cerrno>
#include <cstdlib>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "berth/exportwire/export_wire.h"

namespace berth::exportwire {
namespace {

bool ParseU64(absl::string_view s, uint64_t* out) {
  if (s.empty() || s.size() > 20) return false;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
  }
  return absl::SimpleAtoi(s, out);
}

}  // namespace

absl::StatusOr<HttpHead> ParseHead(const std::string& text) {
  std::vector<absl::string_view> lines = absl::StrSplit(text, "\r\n");
  if (lines.empty() || lines[0].empty()) return absl::InvalidArgumentError("empty HTTP head");
  std::vector<absl::string_view> first = absl::StrSplit(lines[0], absl::MaxSplits(' ', 2));
  if (first.size() < 2) {
    return absl::InvalidArgumentError(absl::StrCat("malformed first line: ", lines[0]));
  }
  HttpHead head;
  head.first_line_a = std::string(first[0]);
  head.first_line_b = std::string(first[1]);
  if (first.size() > 2) head.first_line_c = std::string(first[2]);
  for (size_t i = 1; i < lines.size(); ++i) {
    if (lines[i].empty()) continue;
    size_t colon = lines[i].find(':');
    if (colon == absl::string_view::npos || colon == 0) {
      return absl::InvalidArgumentError(absl::StrCat("malformed header line: ", lines[i]));
    }
    std::string name = absl::AsciiStrToLower(lines[i].substr(0, colon));
    head.headers[name] = std::string(absl::StripAsciiWhitespace(lines[i].substr(colon + 1)));
  }
  return head;
}

absl::StatusOr<ByteRange> ParseRangeHeader(const std::string& value, uint64_t size) {
  absl::string_view v = absl::StripAsciiWhitespace(value);
  if (!absl::ConsumePrefix(&v, "bytes=")) {
    return absl::InvalidArgumentError("Range: only the bytes unit is supported");
  }
  if (absl::StrContains(v, ',')) return absl::InvalidArgumentError("Range: one range only");
  size_t dash = v.find('-');
  if (dash == absl::string_view::npos) return absl::InvalidArgumentError("Range: missing '-'");
  absl::string_view a = v.substr(0, dash), b = v.substr(dash + 1);
  ByteRange r;
  uint64_t n = 0;
  if (a.empty()) {  // suffix: the last N bytes
    if (!ParseU64(b, &n)) return absl::InvalidArgumentError("Range: bad suffix length");
    if (n == 0 || size == 0) return absl::OutOfRangeError("Range: empty suffix");
    r.first = n >= size ? 0 : size - n;
    r.last = size - 1;
    return r;
  }
  if (!ParseU64(a, &r.first)) return absl::InvalidArgumentError("Range: bad first byte");
  if (b.empty()) {
    r.last = size == 0 ? 0 : size - 1;
  } else if (!ParseU64(b, &r.last) || r.last < r.first) {
    return absl::InvalidArgumentError("Range: bad last byte");
  }
  if (r.first >= size) {
    return absl::OutOfRangeError(absl::StrCat("Range starts at ", r.first, ", size is ", size));
  }
  if (r.last >= size) r.last = size - 1;
  return r;
}

absl::StatusOr<ContentRange> ParseContentRange(const std::string& value) {
  absl::string_view v = absl::StripAsciiWhitespace(value);
  if (!absl::ConsumePrefix(&v, "bytes ")) {
    return absl::InvalidArgumentError("Content-Range: want \"bytes FIRST-LAST/TOTAL\"");
  }
  size_t dash = v.find('-'), slash = v.find('/');
  if (dash == absl::string_view::npos || slash == absl::string_view::npos || slash < dash) {
    return absl::InvalidArgumentError("Content-Range: want \"bytes FIRST-LAST/TOTAL\"");
  }
  ContentRange cr;
  if (!ParseU64(v.substr(0, dash), &cr.range.first) ||
      !ParseU64(v.substr(dash + 1, slash - dash - 1), &cr.range.last) ||
      cr.range.last < cr.range.first) {
    return absl::InvalidArgumentError("Content-Range: bad byte positions");
  }
  absl::string_view total = v.substr(slash + 1);
  if (total != "*") {
    uint64_t t = 0;
    if (!ParseU64(total, &t) || t <= cr.range.last) {
      return absl::InvalidArgumentError("Content-Range: bad total");
    }
    cr.total = t;
  }
  return cr;
}

}  // namespace berth::exportwire
