#include "berth/quantity.h"

#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace berth {

absl::StatusOr<uint64_t> ParseQuantity(std::string_view text) {
  static const std::pair<const char*, uint64_t> kSuffixes[] = {
      {"Ki", 1ull << 10},      {"Mi", 1ull << 20},        {"Gi", 1ull << 30},
      {"Ti", 1ull << 40},      {"Pi", 1ull << 50},        {"k", 1000ull},
      {"K", 1000ull},          {"M", 1000000ull},         {"G", 1000000000ull},
      {"T", 1000000000000ull}, {"P", 1000000000000000ull}};
  auto bad = [&](const char* why) {
    return absl::InvalidArgumentError(absl::StrCat("quantity \"", std::string(text), "\": ", why));
  };
  if (text.empty()) return bad("empty");
  uint64_t mult = 1;
  std::string_view num = text;
  for (const auto& [suffix, m] : kSuffixes) {
    std::string_view s(suffix);
    if (num.size() > s.size() && num.substr(num.size() - s.size()) == s) {
      mult = m;
      num.remove_suffix(s.size());
      break;
    }
  }
  if (num.empty() || num[0] == '-' || num[0] == '+') return bad("must be a positive number");
  size_t dot = num.find('.');
  std::string_view whole = num.substr(0, dot);
  std::string_view frac = dot == std::string_view::npos ? "" : num.substr(dot + 1);
  uint64_t w = 0;
  if (whole.empty() && frac.empty()) return bad("not a number");
  if (!whole.empty() && !absl::SimpleAtoi(std::string(whole), &w)) return bad("not a number");
  for (char c : frac) {
    if (c < '0' || c > '9') return bad("not a number");
  }
  if (w > UINT64_MAX / mult) return bad("too large");
  uint64_t bytes = w * mult;
  if (!frac.empty()) {
    if (frac.size() > 9) return bad("too many decimal places");
    uint64_t f = 0, scale = 1;
    for (char c : frac) {
      f = f * 10 + static_cast<uint64_t>(c - '0');
      scale *= 10;
    }
    if ((f * mult) % scale != 0) return bad("is not a whole number of bytes");
    bytes += f * mult / scale;
  }
  return bytes;
}

std::string FormatQuantity(uint64_t bytes) {
  static const char* kUnits[] = {"Ki", "Mi", "Gi", "Ti", "Pi"};
  if (bytes == 0) return "0";
  int unit = -1;
  while (unit < 4 && bytes % 1024 == 0) {
    bytes /= 1024;
    ++unit;
  }
  return unit < 0 ? absl::StrCat(bytes) : absl::StrCat(bytes, kUnits[unit]);
}

}  // namespace berth
