#include "label_selector.h"

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "berth/status_macros.h"

namespace berth::cli {
namespace {

bool ValidLabelPart(const std::string& s, bool allow_slash) {
  if (s.size() > (allow_slash ? 317u : 63u)) return false;
  for (char c : s) {
    if (absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.' ||
        (allow_slash && c == '/')) {
      continue;
    }
    return false;
  }
  return true;
}

absl::StatusOr<LabelRequirement> ParseRequirement(std::string term) {
  LabelRequirement req;
  size_t pos;
  if (!term.empty() && term[0] == '!') {
    req.op = LabelRequirement::Op::kNotExists;
    req.key = std::string(absl::StripAsciiWhitespace(term.substr(1)));
  } else if ((pos = term.find("!=")) != std::string::npos) {
    req.op = LabelRequirement::Op::kNotEquals;
    req.key = term.substr(0, pos);
    req.value = term.substr(pos + 2);
  } else if ((pos = term.find("==")) != std::string::npos) {
    req.op = LabelRequirement::Op::kEquals;
    req.key = term.substr(0, pos);
    req.value = term.substr(pos + 2);
  } else if ((pos = term.find('=')) != std::string::npos) {
    req.op = LabelRequirement::Op::kEquals;
    req.key = term.substr(0, pos);
    req.value = term.substr(pos + 1);
  } else {
    req.key = term;
  }
  req.key = std::string(absl::StripAsciiWhitespace(req.key));
  req.value = std::string(absl::StripAsciiWhitespace(req.value));
  if (req.key.empty() || !ValidLabelPart(req.key, true) || !ValidLabelPart(req.value, false)) {
    return absl::InvalidArgumentError(absl::StrCat("unable to parse requirement: \"", term, "\""));
  }
  return req;
}

}  // namespace

absl::StatusOr<LabelSelector> LabelSelector::Parse(const std::string& text) {
  LabelSelector sel;
  if (absl::StripAsciiWhitespace(text).empty()) return sel;
  for (absl::string_view part : absl::StrSplit(text, ',')) {
    std::string term(absl::StripAsciiWhitespace(part));
    if (term.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("unable to parse selector \"", text, "\": empty requirement"));
    }
    BERTH_ASSIGN_OR_RETURN(LabelRequirement req, ParseRequirement(term));
    sel.requirements_.push_back(std::move(req));
  }
  return sel;
}

bool LabelSelector::Matches(const Json& object) const {
  Json labels = JsonAt(object, "/metadata/labels");
  for (const LabelRequirement& req : requirements_) {
    bool has = labels.is_object() && labels.contains(req.key);
    std::string value =
        has && labels[req.key].is_string() ? labels[req.key].get<std::string>() : std::string();
    switch (req.op) {
      case LabelRequirement::Op::kExists:
        if (!has) return false;
        break;
      case LabelRequirement::Op::kNotExists:
        if (has) return false;
        break;
      case LabelRequirement::Op::kEquals:
        if (!has || value != req.value) return false;
        break;
      case LabelRequirement::Op::kNotEquals:
        if (has && value == req.value) return false;
        break;
    }
  }
  return true;
}

}  // namespace berth::cli
