#include "berth/labels.h"

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace berth {

absl::StatusOr<std::vector<LabelRequirement>> ParseLabelSelector(const std::string& text) {
  std::vector<LabelRequirement> out;
  for (absl::string_view raw : absl::StrSplit(text, ',', absl::SkipWhitespace())) {
    std::string term(absl::StripAsciiWhitespace(raw));
    LabelRequirement r;
    size_t pos;
    if ((pos = term.find("!=")) != std::string::npos) {
      r.op = LabelRequirement::Op::kNotEquals;
      r.key = term.substr(0, pos);
      r.value = term.substr(pos + 2);
    } else if ((pos = term.find("==")) != std::string::npos) {
      r.op = LabelRequirement::Op::kEquals;
      r.key = term.substr(0, pos);
      r.value = term.substr(pos + 2);
    } else if ((pos = term.find('=')) != std::string::npos) {
      r.op = LabelRequirement::Op::kEquals;
      r.key = term.substr(0, pos);
      r.value = term.substr(pos + 1);
    } else if (term[0] == '!') {
      r.op = LabelRequirement::Op::kNotExists;
      r.key = term.substr(1);
    } else {
      r.key = term;
    }
    r.key = std::string(absl::StripAsciiWhitespace(r.key));
    r.value = std::string(absl::StripAsciiWhitespace(r.value));
    if (r.key.empty() || r.key.find_first_of("=! ") != std::string::npos) {
      return absl::InvalidArgumentError(absl::StrCat("label selector: bad term \"", term, "\""));
    }
    out.push_back(std::move(r));
  }
  return out;
}

bool MatchesLabels(const Json& obj, const std::vector<LabelRequirement>& selector) {
  Json labels = JsonAt(obj, "/metadata/labels");
  for (const LabelRequirement& r : selector) {
    bool has = labels.is_object() && labels.contains(r.key);
    std::string v = has && labels[r.key].is_string() ? labels[r.key].get<std::string>() : "";
    switch (r.op) {
      case LabelRequirement::Op::kEquals:
        if (!has || v != r.value) return false;
        break;
      case LabelRequirement::Op::kNotEquals:
        if (has && v == r.value) return false;
        break;
      case LabelRequirement::Op::kExists:
        if (!has) return false;
        break;
      case LabelRequirement::Op::kNotExists:
        if (has) return false;
        break;
    }
  }
  return true;
}

}  // namespace berth
