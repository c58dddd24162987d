#include "kubeapi/go_text.h"

#include <cmath>
#include <cstdio>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace berth::kubeapi {

// Decodes the UTF-8 rune at s[i] into *width bytes; an invalid byte is U+FFFD of width 1, as
// Go's range over a string yields it.
char32_t DecodeRune(std::string_view s, size_t i, size_t* width) {
  auto b = [&](size_t k) { return static_cast<unsigned char>(s[i + k]); };
  unsigned char c = b(0);
  *width = 1;
  if (c < 0x80) return c;
  size_t n = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC2 ? 2 : 0;
  if (n == 0 || c > 0xF4 || i + n > s.size()) return 0xFFFD;
  char32_t r = c & (0x7F >> n);
  for (size_t k = 1; k < n; ++k) {
    if ((b(k) & 0xC0) != 0x80) return 0xFFFD;
    r = (r << 6) | (b(k) & 0x3F);
  }
  bool overlong = (n == 3 && r < 0x800) || (n == 4 && r < 0x10000);
  if (overlong || r > 0x10FFFF || (r >= 0xD800 && r <= 0xDFFF)) return 0xFFFD;
  *width = n;
  return r;
}

// Go's unicode.IsPrint for the characters that matter in names: controls, format characters,
// separators other than ' ', private use, surrogates and noncharacters are not printable.
// Unassigned code points count as printable (Go says not): a simplification.
bool IsPrint(char32_t r) {
  if (r < 0x20 || r == 0x7F) return false;
  if (r < 0x7F) return true;
  static constexpr std::pair<char32_t, char32_t> kNotPrint[] = {
      {0x80, 0xA0},       {0xAD, 0xAD},       {0x600, 0x605},     {0x61C, 0x61C},
      {0x6DD, 0x6DD},     {0x70F, 0x70F},     {0x8E2, 0x8E2},     {0x1680, 0x1680},
      {0x180E, 0x180E},   {0x2000, 0x200F},   {0x2028, 0x202F},   {0x205F, 0x206F},
      {0x3000, 0x3000},   {0xD800, 0xF8FF},   {0xFDD0, 0xFDEF},   {0xFEFF, 0xFEFF},
      {0xFFF9, 0xFFFB},   {0x110BD, 0x110BD}, {0x110CD, 0x110CD}, {0x13430, 0x1343F},
      {0x1BCA0, 0x1BCA3}, {0x1D173, 0x1D17A}, {0xE0001, 0xE0001}, {0xE0020, 0xE007F},
      {0xF0000, 0x10FFFF}};
  for (const auto& [lo, hi] : kNotPrint) {
    if (r >= lo && r <= hi) return false;
  }
  return (r & 0xFFFE) != 0xFFFE;
}

namespace {

std::string Hex(uint32_t v, int digits) {
  char buf[16];
  std::snprintf(buf, sizeof(buf), "%0*x", digits, v);
  return buf;
}

}  // namespace

// strconv.Quote, which %q uses.
std::string GoQuote(std::string_view s) {
  std::string out = "\"";
  for (size_t i = 0, w = 0; i < s.size(); i += w) {
    char32_t r = DecodeRune(s, i, &w);
    if (r == 0xFFFD && w == 1) {
      out += "\\x" + Hex(static_cast<unsigned char>(s[i]), 2);
    } else if (r == '"' || r == '\\') {
      out += '\\';
      out += static_cast<char>(r);
    } else if (IsPrint(r)) {
      out.append(s.substr(i, w));
    } else if (r == '\a' || r == '\b' || r == '\f' || r == '\n' || r == '\r' || r == '\t' ||
               r == '\v') {
      static constexpr char kEscapes[] = "abtnvfr";  // \a = 7 ... \r = 13
      out += '\\';
      out += kEscapes[r - '\a'];
    } else if (r < ' ' || r == 0x7F) {
      out += "\\x" + Hex(r, 2);
    } else if (r < 0x10000) {
      out += "\\u" + Hex(r, 4);
    } else {
      out += "\\U" + Hex(r, 8);
    }
  }
  return out + "\"";
}

// A string as Go's encoding/json writes it: HTML characters, U+2028 and U+2029 escaped.
std::string GoJsonString(std::string_view s) {
  std::string out = "\"";
  for (size_t i = 0, w = 0; i < s.size(); i += w) {
    char32_t r = DecodeRune(s, i, &w);
    switch (r) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\b':
        out += "\\b";
        break;
      case '\f':
        out += "\\f";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (r < 0x20 || r == '<' || r == '>' || r == '&' || r == 0x2028 || r == 0x2029 ||
            (r == 0xFFFD && w == 1)) {
          out += "\\u" + Hex(r, 4);
        } else {
          out.append(s.substr(i, w));
        }
    }
  }
  return out + "\"";
}

// A number as Go prints a float64 decoded from JSON: integral values without a fraction.
std::string GoNumber(const Json& v) {
  if (v.is_number_float()) {
    double d = v.get<double>();
    if (std::isfinite(d) && d == std::floor(d) && std::fabs(d) < 1e21) {
      return absl::StrCat(static_cast<int64_t>(d));
    }
  }
  return v.dump();
}

// json.Marshal of an unstructured value: keys sorted, compact.
std::string GoJson(const Json& v) {
  if (v.is_string()) return GoJsonString(v.get_ref<const std::string&>());
  if (v.is_number()) return GoNumber(v);
  if (v.is_array()) {
    std::string out = "[";
    for (size_t i = 0; i < v.size(); ++i) out += (i ? "," : "") + GoJson(v[i]);
    return out + "]";
  }
  if (v.is_object()) {
    std::string out = "{";
    for (auto it = v.begin(); it != v.end(); ++it) {
      out += (it == v.begin() ? "" : ",") + GoJsonString(it.key()) + ":" + GoJson(it.value());
    }
    return out + "}";
  }
  return v.dump();  // null, true, false
}

}  // namespace berth::kubeapi
