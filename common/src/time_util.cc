#include "berth/time_util.h"

#include "absl/strings/str_cat.h"

namespace berth {

std::string FormatRfc3339(absl::Time t) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", t, absl::UTCTimeZone());
}

absl::Time ParseRfc3339(const std::string& s) {
  absl::Time t;
  std::string err;
  if (!absl::ParseTime(absl::RFC3339_full, s, &t, &err)) return absl::InfinitePast();
  return t;
}

std::string FormatAge(absl::Duration d) {
  int64_t s = absl::ToInt64Seconds(d);
  if (s < 0) s = 0;
  if (s < 120) return absl::StrCat(s, "s");
  int64_t m = s / 60;
  if (m < 10) return s % 60 ? absl::StrCat(m, "m", s % 60, "s") : absl::StrCat(m, "m");
  if (m < 180) return absl::StrCat(m, "m");
  int64_t h = m / 60;
  if (h < 8) return m % 60 ? absl::StrCat(h, "h", m % 60, "m") : absl::StrCat(h, "h");
  if (h < 48) return absl::StrCat(h, "h");
  int64_t days = h / 24;
  if (days < 8) return h % 24 ? absl::StrCat(days, "d", h % 24, "h") : absl::StrCat(days, "d");
  return absl::StrCat(days, "d");
}

}  // namespace berth
