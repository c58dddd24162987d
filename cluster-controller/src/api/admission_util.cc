// Name, format and path helpers for admission (see admission_internal.h).
#include <cctype>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "api/admission_internal.h"

namespace berth::controller::admission_internal {
namespace {

bool IsLowerAlnum(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }
bool IsAlnum(char c) { return std::isalnum(static_cast<unsigned char>(c)) != 0; }
bool IsHex(char c) { return std::isxdigit(static_cast<unsigned char>(c)) != 0; }

constexpr char kLabelRule[] =
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and "
    "must start and end with an alphanumeric character (e.g. 'my-name', or '123-abc')";
constexpr char kSubdomainRule[] =
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or "
    "'.', and must start and end with an alphanumeric character (e.g. 'example.com')";
constexpr char kQualifiedRule[] =
    "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an "
    "alphanumeric character (e.g. 'MyName', or 'my.name', or '123-abc')";

// Checks the label charset and edges, without the length limit.
bool IsDnsLabelChars(const std::string& s) {
  if (s.empty() || !IsLowerAlnum(s.front()) || !IsLowerAlnum(s.back())) return false;
  for (char c : s) {
    if (!IsLowerAlnum(c) && c != '-') return false;
  }
  return true;
}

bool IsDnsLabel(const std::string& s) { return s.size() <= 63 && IsDnsLabelChars(s); }

// Like Kubernetes' IsDNS1123Subdomain: dot-separated labels; only the total length is limited.
bool IsDnsSubdomainChars(const std::string& s) {
  for (const std::string& part : std::vector<std::string>(absl::StrSplit(s, '.'))) {
    if (!IsDnsLabelChars(part)) return false;
  }
  return true;
}

// Checks the name part of a qualified name (no prefix): <= 63, alnum at both ends.
std::string CheckQualifiedPart(const std::string& s) {
  if (s.empty()) return "name part must be non-empty";
  if (s.size() > 63) return "name part must be no more than 63 characters";
  if (!IsAlnum(s.front()) || !IsAlnum(s.back())) return absl::StrCat("name part ", kQualifiedRule);
  for (char c : s) {
    if (!IsAlnum(c) && c != '-' && c != '_' && c != '.') {
      return absl::StrCat("name part ", kQualifiedRule);
    }
  }
  return "";
}

}  // namespace

void Errors::Add(const std::string& path, const std::string& problem) {
  list_.push_back(path.empty() ? problem : absl::StrCat(path, ": ", problem));
}

std::string Quote(const std::string& s) { return absl::StrCat("\"", s, "\""); }

std::string Unsupported(const std::string& value, const Strings& allowed) {
  std::vector<std::string> quoted;
  for (const std::string& a : allowed) quoted.push_back(Quote(a));
  return absl::StrCat("Unsupported value ", Quote(value),
                      ": supported values: ", absl::StrJoin(quoted, ", "));
}

std::string InvalidValue(const std::string& value, const std::string& why) {
  return absl::StrCat("Invalid value ", Quote(value), ": ", why);
}

std::string WrongType(const char* expected, const Json& got) {
  return absl::StrCat("Invalid type: expected ", expected, ", got ", TypeName(got));
}

std::string ForbiddenUnlessType(const std::string& type_value) {
  return absl::StrCat("Forbidden: may only be set when type is ", Quote(type_value));
}

const char* TypeName(const Json& v) {
  switch (v.type()) {
    case Json::value_t::null:
      return "null";
    case Json::value_t::object:
      return "object";
    case Json::value_t::array:
      return "array";
    case Json::value_t::string:
      return "string";
    case Json::value_t::boolean:
      return "boolean";
    case Json::value_t::number_integer:
    case Json::value_t::number_unsigned:
      return "integer";
    case Json::value_t::number_float:
      return "number";
    default:
      return "unknown";
  }
}

std::string JoinPath(const std::string& path, const std::string& key) {
  return path.empty() ? key : absl::StrCat(path, ".", key);
}

std::string IndexPath(const std::string& path, size_t i) { return absl::StrCat(path, "[", i, "]"); }

std::string CheckName(const std::string& s, NameRule rule) {
  if (rule == NameRule::kLabel) {
    if (s.size() > 63) return "must be no more than 63 characters";
    return IsDnsLabel(s) ? "" : kLabelRule;
  }
  if (s.size() > 253) return "must be no more than 253 characters";
  return IsDnsSubdomainChars(s) ? "" : kSubdomainRule;
}

std::string CheckQualifiedName(const std::string& s) {
  size_t slash = s.find('/');
  if (slash == std::string::npos) return CheckQualifiedPart(s);
  std::string prefix = s.substr(0, slash);
  if (prefix.empty()) return "prefix part must be non-empty";
  if (prefix.size() > 253 || !IsDnsSubdomainChars(prefix)) {
    return absl::StrCat("prefix part ", kSubdomainRule);
  }
  return CheckQualifiedPart(s.substr(slash + 1));
}

std::string CheckLabelValue(const std::string& s) {
  if (s.empty()) return "";
  if (s.size() > 63) return "must be no more than 63 characters";
  std::string problem = CheckQualifiedPart(s);
  return problem.empty() ? "" : absl::StrCat("a valid label ", kQualifiedRule);
}

bool IsIPv4(const std::string& s) {
  std::vector<std::string> parts = absl::StrSplit(s, '.');
  if (parts.size() != 4) return false;
  for (const std::string& p : parts) {
    if (p.empty() || p.size() > 3 || (p.size() > 1 && p[0] == '0')) return false;
    int value = 0;
    for (char c : p) {
      if (c < '0' || c > '9') return false;
      value = value * 10 + (c - '0');
    }
    if (value > 255) return false;
  }
  return true;
}

bool IsMacAddress(const std::string& s) {
  if (s.size() != 17) return false;
  for (size_t i = 0; i < s.size(); ++i) {
    bool ok = (i % 3 == 2) ? s[i] == ':' : IsHex(s[i]);
    if (!ok) return false;
  }
  return true;
}

bool IsBase64(const std::string& s) {
  if (s.size() % 4 != 0) return false;
  size_t pad = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (c == '=') {
      ++pad;
      continue;
    }
    if (pad > 0) return false;  // data after padding
    if (!IsAlnum(c) && c != '+' && c != '/') return false;
  }
  return pad <= 2;
}

void PruneNulls(Json& v) {
  if (v.is_object()) {
    for (auto it = v.begin(); it != v.end();) {
      if (it->is_null()) {
        it = v.erase(it);
      } else {
        PruneNulls(*it);
        ++it;
      }
    }
  } else if (v.is_array()) {
    for (Json& item : v) PruneNulls(item);
  }
}

const Json* Member(const Json& obj, const char* key) {
  if (!obj.is_object()) return nullptr;
  auto it = obj.find(key);
  return it == obj.end() ? nullptr : &*it;
}

const Json* AtPath(const Json& obj, const std::string& dotted) {
  const Json* cur = &obj;
  for (const std::string& key : std::vector<std::string>(absl::StrSplit(dotted, '.'))) {
    cur = Member(*cur, key.c_str());
    if (cur == nullptr) return nullptr;
  }
  return cur;
}

bool SameAt(const Json& a, const Json& b, const std::string& dotted) {
  const Json* x = AtPath(a, dotted);
  const Json* y = AtPath(b, dotted);
  if (x == nullptr || y == nullptr) return x == y;
  return *x == *y;
}

}  // namespace berth::controller::admission_internal
