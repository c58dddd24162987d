#include "export/export_request.h"

#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace berth::agent {
namespace {

bool AllOf(absl::string_view s, size_t max_len, const char* allowed) {
  return !s.empty() && s.size() <= max_len &&
         s.find_first_not_of(allowed) == absl::string_view::npos;
}

// RFC 9110 token characters.
bool IsToken(absl::string_view s) {
  return AllOf(s, 32,
               "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ");
}

// Splits "/exports/ID/OP[?query]"; leaves id and op empty unless both are well-formed.
void SplitTarget(absl::string_view t, ExportRequest& r) {
  t = t.substr(0, t.find('?'));
  if (!absl::ConsumePrefix(&t, "/exports/")) return;
  std::vector<absl::string_view> parts = absl::StrSplit(t, '/');
  if (parts.size() != 2 ||
      !AllOf(parts[0], kMaxExportIdLength, "abcdefghijklmnopqrstuvwxyz0123456789-") ||
      !AllOf(parts[1], kMaxExportOpLength, "abcdefghijklmnopqrstuvwxyz")) {
    return;
  }
  r.id = std::string(parts[0]);
  r.op = std::string(parts[1]);
}

// "Bearer TOKEN" (the scheme is case-insensitive, RFC 9110 11.1).
std::string BearerToken(const std::string& header) {
  absl::string_view v = absl::StripAsciiWhitespace(header);
  if (v.size() < 7 || !absl::StartsWithIgnoreCase(v, "bearer ")) return "";
  return std::string(absl::StripAsciiWhitespace(v.substr(7)));
}

}  // namespace

absl::StatusOr<ExportRequest> ParseExportRequest(const std::string& text) {
  auto head = exportwire::ParseHead(text);
  if (!head.ok()) return head.status();
  ExportRequest r;
  r.head = *std::move(head);
  r.method = r.head.first_line_a;
  if (!IsToken(r.method)) {
    return absl::InvalidArgumentError("malformed request: the method is not an HTTP token");
  }
  std::string cl = r.head.Header("content-length");
  if (!cl.empty() && (cl.size() > 20 || cl.find_first_not_of("0123456789") != std::string::npos ||
                      !absl::SimpleAtoi(cl, &r.content_length))) {
    return absl::InvalidArgumentError("malformed request: bad Content-Length");
  }
  r.close = absl::EqualsIgnoreCase(r.head.Header("connection"), "close");
  r.bearer_token = BearerToken(r.head.Header("authorization"));
  SplitTarget(r.head.first_line_b, r);
  return r;
}

}  // namespace berth::agent
