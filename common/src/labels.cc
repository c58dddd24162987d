#include "berth/labels.h"

#include <algorithm>
#include <cstdint>
#include <set>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"

namespace berth {
namespace {

// ---- Validation, worded as k8s.io/apimachinery/pkg/util/validation words it (kube 1.32). ----

constexpr char kQualifiedNameFmt[] = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]";
constexpr char kQualifiedNameErrMsg[] =
    "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an "
    "alphanumeric character";
constexpr char kLabelValueFmt[] = "(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?";
constexpr char kLabelValueErrMsg[] =
    "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or "
    "'.', and must start and end with an alphanumeric character";
constexpr char kDns1123SubdomainFmt[] =
    "[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*";
constexpr char kDns1123SubdomainErrMsg[] =
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or "
    "'.', and must start and end with an alphanumeric character";

// validation.RegexError, including its doubled spaces between examples.
std::string RegexError(const std::string& msg, const std::string& fmt,
                       const std::vector<std::string>& examples) {
  std::string out = msg + " (e.g. ";
  for (size_t i = 0; i < examples.size(); ++i) {
    if (i > 0) out += " or ";
    absl::StrAppend(&out, "'", examples[i], "', ");
  }
  return absl::StrCat(out, "regex used for validation is '", fmt, "')");
}

std::string MaxLenError(int n) { return absl::StrCat("must be no more than ", n, " characters"); }

// Matches ([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9] in full.
bool IsQualifiedNamePart(const std::string& s) {
  if (s.empty() || !absl::ascii_isalnum(s.front()) || !absl::ascii_isalnum(s.back())) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return absl::ascii_isalnum(c) || c == '-' || c == '_' || c == '.';
  });
}

// Matches the RFC 1123 subdomain regex: dot-joined lowercase labels.
bool IsDns1123Subdomain(const std::string& s) {
  for (absl::string_view label : absl::StrSplit(s, '.')) {
    if (label.empty() || !absl::ascii_isalnum(label.front()) || !absl::ascii_isalnum(label.back()))
      return false;
    for (char c : label) {
      if (!(absl::ascii_islower(c) || absl::ascii_isdigit(c) || c == '-')) return false;
    }
  }
  return true;
}

std::vector<std::string> QualifiedNameErrors(const std::string& value) {
  std::vector<std::string> errs;
  std::vector<std::string> parts = absl::StrSplit(value, '/');
  if (parts.size() > 2) {
    return {absl::StrCat(
        "a qualified name ",
        RegexError(kQualifiedNameErrMsg, kQualifiedNameFmt, {"MyName", "my.name", "123-abc"}),
        " with an optional DNS subdomain prefix and '/' (e.g. "
        "'example.com/MyName')")};
  }
  const std::string& name = parts.back();
  if (parts.size() == 2) {
    const std::string& prefix = parts[0];
    if (prefix.empty()) {
      errs.push_back("prefix part must be non-empty");
    } else {
      if (prefix.size() > 253) errs.push_back("prefix part " + MaxLenError(253));
      if (!IsDns1123Subdomain(prefix)) {
        errs.push_back("prefix part " +
                       RegexError(kDns1123SubdomainErrMsg, kDns1123SubdomainFmt, {"example.com"}));
      }
    }
  }
  if (name.empty()) {
    errs.push_back("name part must be non-empty");
  } else if (name.size() > 63) {
    errs.push_back("name part " + MaxLenError(63));
  }
  if (!IsQualifiedNamePart(name)) {
    errs.push_back("name part " + RegexError(kQualifiedNameErrMsg, kQualifiedNameFmt,
                                             {"MyName", "my.name", "123-abc"}));
  }
  return errs;
}

std::vector<std::string> LabelValueErrors(const std::string& value) {
  std::vector<std::string> errs;
  if (value.size() > 63) errs.push_back(MaxLenError(63));
  if (!value.empty() && !IsQualifiedNamePart(value)) {
    errs.push_back(RegexError(kLabelValueErrMsg, kLabelValueFmt, {"MyValue", "my_value", "12345"}));
  }
  return errs;
}

// Go's %q for the ASCII range; other bytes pass through (printable UTF-8 is kept by %q too).
std::string GoQuote(const std::string& s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\r':
        out += "\\r";
        break;
      default:
        if (c < 0x20 || c == 0x7f) {
          out += absl::StrFormat("\\x%02x", c);
        } else {
          out.push_back(static_cast<char>(c));
        }
    }
  }
  return out + "\"";
}

// field.Invalid(path, value, detail).Error().
std::string InvalidValue(const std::string& path, const std::string& value,
                         const std::string& detail) {
  return absl::StrCat(path, ": Invalid value: ", GoQuote(value), ": ", detail);
}

// ---- The lexer of labels.Parse. ----

enum class Tok {
  kEnd,
  kClosedPar,
  kComma,
  kDoesNotExist,
  kDoubleEquals,
  kEquals,
  kGreaterThan,
  kIdentifier,
  kIn,
  kLessThan,
  kNotEquals,
  kNotIn,
  kOpenPar,
};

struct Token {
  Tok tok;
  std::string lit;
};

bool IsWhitespace(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

bool IsSpecialSymbol(char c) {
  return c == '=' || c == '!' || c == '(' || c == ')' || c == ',' || c == '>' || c == '<';
}

// string2token of labels/selector.go.
bool Keyword(const std::string& s, Tok* tok) {
  static const auto* kMap = new std::vector<std::pair<std::string, Tok>>{
      {")", Tok::kClosedPar},     {",", Tok::kComma},    {"!", Tok::kDoesNotExist},
      {"==", Tok::kDoubleEquals}, {"=", Tok::kEquals},   {">", Tok::kGreaterThan},
      {"in", Tok::kIn},           {"<", Tok::kLessThan}, {"!=", Tok::kNotEquals},
      {"notin", Tok::kNotIn},     {"(", Tok::kOpenPar}};
  for (const auto& [lit, t] : *kMap) {
    if (lit == s) {
      *tok = t;
      return true;
    }
  }
  return false;
}

// Scans the longest run of special symbols that still forms a token ("!=", "==", "=", "(").
Token ScanSpecial(const std::string& s, size_t& pos) {
  std::string buf;
  Token last{Tok::kEnd, ""};
  bool found = false;
  while (pos < s.size() && IsSpecialSymbol(s[pos])) {
    buf.push_back(s[pos]);
    Tok t;
    if (Keyword(buf, &t)) {
      last = Token{t, buf};
      found = true;
    } else if (found) {
      break;
    }
    ++pos;
  }
  return last;  // every single special symbol is a token, so `found` always holds
}

std::vector<Token> Lex(const std::string& s) {
  std::vector<Token> out;
  size_t pos = 0;
  while (true) {
    while (pos < s.size() && IsWhitespace(s[pos])) ++pos;
    if (pos >= s.size() || s[pos] == '\0') {
      out.push_back(Token{Tok::kEnd, ""});
      return out;
    }
    if (IsSpecialSymbol(s[pos])) {
      out.push_back(ScanSpecial(s, pos));
      continue;
    }
    size_t start = pos;
    while (pos < s.size() && s[pos] != '\0' && !IsSpecialSymbol(s[pos]) && !IsWhitespace(s[pos]))
      ++pos;
    Token t{Tok::kIdentifier, s.substr(start, pos - start)};
    Keyword(t.lit, &t.tok);
    out.push_back(std::move(t));
  }
}

// ---- The recursive-descent parser of labels.Parse, with its messages. ----

using Op = LabelRequirement::Op;

class Parser {
 public:
  explicit Parser(const std::string& text) : items_(Lex(text)) {}

  absl::StatusOr<std::vector<LabelRequirement>> Parse();

 private:
  // In value position "in" and "notin" are plain identifiers ("k in (in)").
  Token Lookahead(bool values) const { return Relabel(items_[pos_], values); }
  Token Consume(bool values) { return Relabel(items_[pos_++], values); }
  static Token Relabel(Token t, bool values) {
    if (values && (t.tok == Tok::kIn || t.tok == Tok::kNotIn)) t.tok = Tok::kIdentifier;
    return t;
  }
  static absl::Status Error(const std::string& msg) { return absl::InvalidArgumentError(msg); }

  absl::StatusOr<LabelRequirement> ParseRequirement();
  absl::Status ParseKeyAndInferOperator(LabelRequirement& r, bool& has_op);
  absl::Status ParseOperator(LabelRequirement& r);
  absl::Status ParseValues(std::set<std::string>& out);
  absl::Status ParseIdentifiersList(std::set<std::string>& out);
  absl::Status ParseExactValue(std::set<std::string>& out);

  std::vector<Token> items_;
  size_t pos_ = 0;
};

absl::StatusOr<std::vector<LabelRequirement>> Parser::Parse() {
  std::vector<LabelRequirement> out;
  while (true) {
    Token t = Lookahead(true);
    if (t.tok == Tok::kEnd) return out;
    if (t.tok != Tok::kIdentifier && t.tok != Tok::kDoesNotExist) {
      return Error(
          absl::StrCat("found '", t.lit, "', expected: !, identifier, or 'end of string'"));
    }
    auto r = ParseRequirement();
    if (!r.ok()) {
      return Error(absl::StrCat("unable to parse requirement: ", r.status().message()));
    }
    out.push_back(*std::move(r));
    Token next = Consume(true);
    if (next.tok == Tok::kEnd) return out;
    if (next.tok != Tok::kComma) {
      return Error(absl::StrCat("found '", next.lit, "', expected: ',' or 'end of string'"));
    }
    Token after = Lookahead(true);
    if (after.tok != Tok::kIdentifier && after.tok != Tok::kDoesNotExist) {
      return Error(absl::StrCat("found '", after.lit, "', expected: identifier after ','"));
    }
  }
}

// NewRequirement's checks: integer operands of gt/lt and valid label values, aggregated the way
// field.ErrorList.ToAggregate prints them.
absl::Status ValidateValues(const LabelRequirement& r) {
  std::vector<std::string> errs;
  auto add = [&errs](std::string e) {
    if (std::find(errs.begin(), errs.end(), e) == errs.end()) errs.push_back(std::move(e));
  };
  bool numeric = r.op == Op::kGreaterThan || r.op == Op::kLessThan;
  for (size_t i = 0; numeric && i < r.values.size(); ++i) {
    int64_t unused;
    if (!absl::SimpleAtoi(r.values[i], &unused)) {
      add(InvalidValue(absl::StrCat("values[", i, "]"), r.values[i],
                       "for 'Gt', 'Lt' operators, the value must be an integer"));
    }
  }
  for (size_t i = 0; i < r.values.size(); ++i) {
    std::vector<std::string> v = LabelValueErrors(r.values[i]);
    if (!v.empty()) {
      add(InvalidValue(absl::StrCat("values[", i, "][", r.key, "]"), r.values[i],
                       absl::StrJoin(v, "; ")));
    }
  }
  if (errs.empty()) return absl::OkStatus();
  if (errs.size() == 1) return absl::InvalidArgumentError(errs[0]);
  return absl::InvalidArgumentError(absl::StrCat("[", absl::StrJoin(errs, ", "), "]"));
}

absl::StatusOr<LabelRequirement> Parser::ParseRequirement() {
  LabelRequirement r;
  bool has_op = false;
  if (absl::Status s = ParseKeyAndInferOperator(r, has_op); !s.ok()) return s;
  if (has_op) return r;  // k or !k
  if (absl::Status s = ParseOperator(r); !s.ok()) return s;
  std::set<std::string> values;
  absl::Status s =
      (r.op == Op::kIn || r.op == Op::kNotIn) ? ParseValues(values) : ParseExactValue(values);
  if (!s.ok()) return s;
  r.values.assign(values.begin(), values.end());
  if (r.op != Op::kIn && r.op != Op::kNotIn) r.value = r.values[0];
  if (absl::Status v = ValidateValues(r); !v.ok()) return v;
  return r;
}

absl::Status Parser::ParseKeyAndInferOperator(LabelRequirement& r, bool& has_op) {
  Token t = Consume(true);
  bool negated = t.tok == Tok::kDoesNotExist;
  if (negated) t = Consume(true);
  if (t.tok != Tok::kIdentifier) {
    return Error(absl::StrCat("found '", t.lit, "', expected: identifier"));
  }
  std::vector<std::string> errs = QualifiedNameErrors(t.lit);
  if (!errs.empty()) return Error(InvalidValue("<nil>", t.lit, absl::StrJoin(errs, "; ")));
  r.key = t.lit;
  Tok next = Lookahead(true).tok;
  // "!k=v" parses as !k; the caller then trips over the "=".
  has_op = negated || next == Tok::kEnd || next == Tok::kComma;
  r.op = negated ? Op::kNotExists : Op::kExists;
  return absl::OkStatus();
}

absl::Status Parser::ParseOperator(LabelRequirement& r) {
  Token t = Consume(false);
  switch (t.tok) {
    case Tok::kIn:
      r.op = Op::kIn;
      break;
    case Tok::kNotIn:
      r.op = Op::kNotIn;
      break;
    case Tok::kEquals:
    case Tok::kDoubleEquals:
      r.op = Op::kEquals;
      break;
    case Tok::kNotEquals:
      r.op = Op::kNotEquals;
      break;
    case Tok::kGreaterThan:
      r.op = Op::kGreaterThan;
      break;
    case Tok::kLessThan:
      r.op = Op::kLessThan;
      break;
    default:
      return Error(absl::StrCat("found '", t.lit, "', expected: in, notin, =, ==, !=, gt, lt"));
  }
  return absl::OkStatus();
}

absl::Status Parser::ParseValues(std::set<std::string>& out) {
  Token t = Consume(true);
  if (t.tok != Tok::kOpenPar) return Error(absl::StrCat("found '", t.lit, "' expected: '('"));
  Token first = Lookahead(true);
  if (first.tok == Tok::kClosedPar) {  // "()" is the set of the empty value
    Consume(true);
    out.insert("");
    return absl::OkStatus();
  }
  if (first.tok != Tok::kIdentifier && first.tok != Tok::kComma) {
    return Error(absl::StrCat("found '", first.lit, "', expected: ',', ')' or identifier"));
  }
  if (absl::Status s = ParseIdentifiersList(out); !s.ok()) return s;
  if (Consume(true).tok != Tok::kClosedPar) {
    return Error(absl::StrCat("found '", first.lit, "', expected: ')'"));
  }
  return absl::OkStatus();
}

// A comma-separated list whose empty items are the empty value: "(,a)", "(a,,b)", "(a,)".
absl::Status Parser::ParseIdentifiersList(std::set<std::string>& out) {
  while (true) {
    Token t = Consume(true);
    if (t.tok == Tok::kIdentifier) {
      out.insert(t.lit);
      Token next = Lookahead(true);
      if (next.tok == Tok::kComma) continue;
      if (next.tok == Tok::kClosedPar) return absl::OkStatus();
      return Error(absl::StrCat("found '", next.lit, "', expected: ',' or ')'"));
    }
    if (t.tok != Tok::kComma) {
      return Error(absl::StrCat("found '", t.lit, "', expected: ',', or identifier"));
    }
    if (out.empty()) out.insert("");
    Tok next = Lookahead(true).tok;
    if (next == Tok::kClosedPar || next == Tok::kComma) out.insert("");
    if (next == Tok::kClosedPar) return absl::OkStatus();
  }
}

absl::Status Parser::ParseExactValue(std::set<std::string>& out) {
  Tok next = Lookahead(true).tok;
  if (next == Tok::kEnd || next == Tok::kComma) {  // "k=" selects the empty value
    out.insert("");
    return absl::OkStatus();
  }
  Token t = Consume(true);
  if (t.tok != Tok::kIdentifier)
    return Error(absl::StrCat("found '", t.lit, "', expected: identifier"));
  out.insert(t.lit);
  return absl::OkStatus();
}

bool Contains(const std::vector<std::string>& values, const std::string& v) {
  return std::find(values.begin(), values.end(), v) != values.end();
}

// gt/lt: the label's value and the operand both parse as int64 and compare.
bool CompareInts(const std::string& label, Op op, const std::string& operand) {
  int64_t have, want;
  if (!absl::SimpleAtoi(label, &have) || !absl::SimpleAtoi(operand, &want)) return false;
  return op == Op::kGreaterThan ? have > want : have < want;
}

bool Matches(const LabelRequirement& r, bool has, const std::string& v) {
  switch (r.op) {
    case Op::kEquals:
    case Op::kIn:  // requirements built by hand may set only `value`
      return has && (r.values.empty() ? v == r.value : Contains(r.values, v));
    case Op::kNotEquals:
    case Op::kNotIn:
      return !has || (r.values.empty() ? v != r.value : !Contains(r.values, v));
    case Op::kExists:
      return has;
    case Op::kNotExists:
      return !has;
    case Op::kGreaterThan:
    case Op::kLessThan:
      return has && CompareInts(v, r.op, r.value);
  }
  return false;
}

}  // namespace

absl::StatusOr<std::vector<LabelRequirement>> ParseLabelSelector(const std::string& text) {
  return Parser(text).Parse();
}

bool MatchesLabels(const Json& obj, const std::vector<LabelRequirement>& selector) {
  Json labels = JsonAt(obj, "/metadata/labels");
  for (const LabelRequirement& r : selector) {
    bool has = labels.is_object() && labels.contains(r.key);
    std::string v = has && labels[r.key].is_string() ? labels[r.key].get<std::string>() : "";
    if (!Matches(r, has, v)) return false;
  }
  return true;
}

}  // namespace berth
