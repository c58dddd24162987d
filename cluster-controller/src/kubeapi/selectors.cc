#include "kubeapi/selectors.h"

#include <algorithm>
#include <cstdint>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "berth/schema.h"

namespace berth::kubeapi {
namespace {

// fields.splitTerms: commas split terms unless escaped; escapes stay in the terms.
std::vector<std::string> SplitTerms(const std::string& s) {
  std::vector<std::string> terms;
  if (s.empty()) return terms;
  size_t start = 0;
  bool in_slash = false;
  for (size_t i = 0; i < s.size(); ++i) {
    if (in_slash) {
      in_slash = false;
    } else if (s[i] == '\\') {
      in_slash = true;
    } else if (s[i] == ',') {
      terms.push_back(s.substr(start, i - start));
      start = i + 1;
    }
  }
  terms.push_back(s.substr(start));
  return terms;
}

// fields.splitTerm: the first operator wins, "!=" and "==" before "="; the field itself has no
// escaping.
bool SplitTerm(const std::string& term, FieldRequirement* r, std::string* rhs) {
  for (size_t i = 0; i < term.size(); ++i) {
    for (const char* op : {"!=", "==", "="}) {
      size_t n = std::char_traits<char>::length(op);
      if (term.compare(i, n, op) == 0) {
        r->field = term.substr(0, i);
        r->equals = op[0] == '=';
        *rhs = term.substr(i + n);
        return true;
      }
    }
  }
  return false;
}

// The length of the UTF-8 sequence `lead` starts, so messages quote whole characters.
size_t RuneLength(unsigned char lead) {
  if (lead < 0xc0) return 1;
  if (lead < 0xe0) return 2;
  return lead < 0xf0 ? 3 : 4;
}

// Decodes the code point at s[i] (Go prints an unescaped rune as its number).
uint32_t DecodeRune(const std::string& s, size_t i) {
  auto lead = static_cast<unsigned char>(s[i]);
  size_t n = std::min(RuneLength(lead), s.size() - i);
  if (n == 1) return lead;
  uint32_t cp = lead & (0xff >> (n + 1));
  for (size_t k = 1; k < n; ++k) cp = (cp << 6) | (static_cast<unsigned char>(s[i + k]) & 0x3f);
  return cp;
}

// fields.UnescapeValue, with its messages.
absl::StatusOr<std::string> UnescapeValue(const std::string& s) {
  if (s.find_first_of("\\,=") == std::string::npos) return s;
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (c == ',' || c == '=') {
      return absl::InvalidArgumentError(
          absl::StrCat("invalid field selector: unescaped character in value: ", DecodeRune(s, i)));
    }
    if (c != '\\') {
      out.push_back(c);
      continue;
    }
    if (i + 1 == s.size()) {
      return absl::InvalidArgumentError("invalid field selector: invalid escape sequence: \\");
    }
    char next = s[++i];
    if (next != '\\' && next != ',' && next != '=') {
      std::string seq = s.substr(i, RuneLength(static_cast<unsigned char>(next)));
      return absl::InvalidArgumentError(
          absl::StrCat("invalid field selector: invalid escape sequence: \\", seq));
    }
    out.push_back(next);
  }
  return out;
}

bool OneOf(const std::string& field, std::initializer_list<const char*> allowed) {
  return std::any_of(allowed.begin(), allowed.end(), [&](const char* a) { return field == a; });
}

// The field label conversion kube registers for `kind` (pkg/apis/core/v1/conversion.go,
// apiextensions crConverter, runtime.DefaultMetaV1FieldSelectorConversion).
absl::Status CheckField(const std::string& field, const std::string& kind) {
  bool ok;
  if (kind == "Event") {
    ok = OneOf(field,
               {"involvedObject.kind", "involvedObject.namespace", "involvedObject.name",
                "involvedObject.uid", "involvedObject.apiVersion", "involvedObject.resourceVersion",
                "involvedObject.fieldPath", "reason", "reportingComponent", "source", "type",
                "metadata.namespace", "metadata.name"});
  } else if (kind == "Secret") {
    ok = OneOf(field, {"type", "metadata.namespace", "metadata.name"});
  } else if (kind == "Namespace") {
    ok = OneOf(field, {"status.phase", "metadata.name"});
  } else if (const schema::KindSchema* k = schema::Find(kind)) {
    ok = field == "metadata.name" || (k->namespaced && field == "metadata.namespace");
  } else {
    if (OneOf(field, {"metadata.name", "metadata.namespace"})) return absl::OkStatus();
    return absl::InvalidArgumentError(
        absl::StrCat(Json(field).dump(),
                     " is not a known field selector: only \"metadata.name\", "
                     "\"metadata.namespace\""));
  }
  if (ok) return absl::OkStatus();
  return absl::InvalidArgumentError("field label not supported: " + field);
}

}  // namespace

absl::StatusOr<std::vector<FieldRequirement>> ParseFieldSelector(const std::string& text,
                                                                 const std::string& kind) {
  std::vector<std::string> terms = SplitTerms(text);
  std::sort(terms.begin(), terms.end());
  std::vector<FieldRequirement> out;
  for (const std::string& term : terms) {
    if (term.empty()) continue;
    FieldRequirement r;
    std::string rhs;
    if (!SplitTerm(term, &r, &rhs)) {
      return absl::InvalidArgumentError(
          absl::StrCat("invalid selector: '", text, "'; can't understand '", term, "'"));
    }
    absl::StatusOr<std::string> value = UnescapeValue(rhs);
    if (!value.ok()) return value.status();
    r.value = *std::move(value);
    out.push_back(std::move(r));
  }
  // kube converts field labels only after the whole selector parsed.
  for (const FieldRequirement& r : out) {
    if (absl::Status s = CheckField(r.field, kind); !s.ok()) return s;
  }
  return out;
}

std::string FieldValue(const Json& obj, const std::string& field) {
  const Json* cur = &obj;
  for (absl::string_view part : absl::StrSplit(field, '.')) {
    if (!cur->is_object()) return "";
    auto it = cur->find(std::string(part));
    if (it == cur->end()) {
      cur = nullptr;
      break;
    }
    cur = &*it;
  }
  if (field == "source" && (cur == nullptr || !cur->is_string())) {
    // Event: the legacy source.component, else the events.k8s.io reportingController.
    std::string component = JsonString(obj, "/source/component");
    return component.empty() ? JsonString(obj, "/reportingComponent") : component;
  }
  if (cur == nullptr || cur->is_null()) return "";
  return cur->is_string() ? cur->get<std::string>() : cur->dump();
}

bool MatchesFields(const Json& obj, const std::vector<FieldRequirement>& reqs) {
  return std::all_of(reqs.begin(), reqs.end(), [&](const FieldRequirement& r) {
    return (FieldValue(obj, r.field) == r.value) == r.equals;
  });
}

}  // namespace berth::kubeapi
