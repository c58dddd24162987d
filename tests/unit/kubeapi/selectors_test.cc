#include "kubeapi/selectors.h"

#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "berth/json.h"
#include "berth/labels.h"

namespace berth::kubeapi {
namespace {

std::string FieldError(const std::string& text, const std::string& kind) {
  absl::StatusOr<std::vector<FieldRequirement>> r = ParseFieldSelector(text, kind);
  REQUIRE_FALSE(r.ok());
  CHECK(r.status().code() == absl::StatusCode::kInvalidArgument);
  return std::string(r.status().message());
}

TEST_CASE("ParseFieldSelector parses kube's grammar") {
  auto r = ParseFieldSelector("metadata.name=a,metadata.namespace!=b,metadata.name==c", "Secret");
  REQUIRE(r.ok());
  REQUIRE(r->size() == 3);
  // Sorted by term text, as fields.ParseSelector sorts.
  CHECK((*r)[0].field == "metadata.name");
  CHECK((*r)[0].equals);
  CHECK((*r)[0].value == "c");  // "metadata.name==c" sorts before "metadata.name=a"
  CHECK((*r)[1].value == "a");
  CHECK((*r)[2].field == "metadata.namespace");
  CHECK_FALSE((*r)[2].equals);
  CHECK((*r)[2].value == "b");

  CHECK(ParseFieldSelector("", "Event")->empty());
  CHECK(ParseFieldSelector("type=Warning,", "Event")->size() == 1);
  CHECK(ParseFieldSelector("metadata.name=", "Secret")->at(0).value.empty());
  // The first operator wins; the rest is the value.
  CHECK(FieldError("type=a!=b", "Event") ==
        "invalid field selector: unescaped character in value: 61");
}

TEST_CASE("ParseFieldSelector unescapes values") {
  auto r = ParseFieldSelector(R"(involvedObject.name=a\,b\=c\\d)", "Event");
  REQUIRE(r.ok());
  REQUIRE(r->size() == 1);
  CHECK((*r)[0].value == R"(a,b=c\d)");
  CHECK(FieldError(R"(reason=a\x)", "Event") ==
        R"(invalid field selector: invalid escape sequence: \x)");
  CHECK(FieldError(R"(reason=a\)", "Event") ==
        R"(invalid field selector: invalid escape sequence: \)");
  CHECK(FieldError("reason=a=b", "Event") ==
        "invalid field selector: unescaped character in value: 61");
}

TEST_CASE("ParseFieldSelector reports kube's errors") {
  CHECK(FieldError("metadata.name", "Secret") ==
        "invalid selector: 'metadata.name'; can't understand 'metadata.name'");
  CHECK(FieldError("spec.foo=x", "VirtualDiskSnapshot") == "field label not supported: spec.foo");
  CHECK(FieldError("status.phase=Ready", "VirtualDiskSnapshot") ==
        "field label not supported: status.phase");
  CHECK(FieldError("data.x=1", "Secret") == "field label not supported: data.x");
  CHECK(FieldError("message=x", "Event") == "field label not supported: message");
  CHECK(FieldError("metadata.namespace=x", "Namespace") ==
        "field label not supported: metadata.namespace");
  // Node is a cluster-scoped CRD.
  CHECK(FieldError("metadata.namespace=x", "Node") ==
        "field label not supported: metadata.namespace");
  CHECK(ParseFieldSelector("metadata.name=x", "Node").ok());
  CHECK(FieldError("data.x=1", "ConfigMap") ==
        R"("data.x" is not a known field selector: only "metadata.name", "metadata.namespace")");
  // Grammar errors win over unsupported fields, whatever their order.
  CHECK(FieldError("a=b,zzz", "Secret") == "invalid selector: 'a=b,zzz'; can't understand 'zzz'");
  // Unsupported fields are reported in sorted order.
  CHECK(FieldError("z=1,b=2", "Secret") == "field label not supported: b");
}

TEST_CASE("Supported field labels per kind") {
  for (const char* f :
       {"involvedObject.kind", "involvedObject.namespace", "involvedObject.name",
        "involvedObject.uid", "involvedObject.apiVersion", "involvedObject.resourceVersion",
        "involvedObject.fieldPath", "reason", "reportingComponent", "source", "type",
        "metadata.name", "metadata.namespace"}) {
    INFO(f);
    CHECK(ParseFieldSelector(std::string(f) + "=x", "Event").ok());
  }
  CHECK(ParseFieldSelector("type=Opaque", "Secret").ok());
  CHECK(ParseFieldSelector("status.phase=Active,metadata.name=x", "Namespace").ok());
  CHECK(ParseFieldSelector("metadata.namespace=default", "VirtualDiskSnapshot").ok());
}

TEST_CASE("MatchesFields compares kube's selectable field values") {
  Json ev = Json::parse(R"({"kind":"Event","metadata":{"name":"e","namespace":"default"},
    "involvedObject":{"kind":"VirtualDisk","name":"d,1","uid":"u1"},
    "type":"Warning","reason":"Failed","source":{"component":"berth-controller"}})");
  auto match = [&](const std::string& sel) {
    auto r = ParseFieldSelector(sel, "Event");
    REQUIRE(r.ok());
    return MatchesFields(ev, *r);
  };
  CHECK(match("involvedObject.kind=VirtualDisk,involvedObject.name=d\\,1"));
  CHECK(match("type!=Normal"));
  CHECK_FALSE(match("type!=Warning"));
  CHECK(match("type==Warning,metadata.namespace=default"));
  CHECK_FALSE(match("metadata.name=other"));
  CHECK(match("source=berth-controller"));
  CHECK(match("reportingComponent="));
  CHECK(match("involvedObject.fieldPath="));
  CHECK(match("involvedObject.namespace!=x"));

  Json modern = Json::parse(R"({"metadata":{"name":"m"},"reportingComponent":"berth-agent"})");
  CHECK(FieldValue(modern, "source") == "berth-agent");
  CHECK(FieldValue(modern, "reportingComponent") == "berth-agent");
  CHECK(FieldValue(modern, "involvedObject.kind") == "");
  Json secret = Json::parse(R"({"metadata":{"name":"s"},"type":"Opaque"})");
  CHECK(MatchesFields(secret, *ParseFieldSelector("type=Opaque", "Secret")));
  CHECK_FALSE(MatchesFields(secret, *ParseFieldSelector("type=kubernetes.io/tls", "Secret")));
}

// berth/labels.h: kube's label selector grammar.

std::vector<LabelRequirement> Labels(const std::string& text) {
  absl::StatusOr<std::vector<LabelRequirement>> r = ParseLabelSelector(text);
  INFO(text);
  REQUIRE(r.ok());
  return *r;
}

std::string LabelError(const std::string& text) {
  absl::StatusOr<std::vector<LabelRequirement>> r = ParseLabelSelector(text);
  INFO(text);
  REQUIRE_FALSE(r.ok());
  CHECK(r.status().code() == absl::StatusCode::kInvalidArgument);
  return std::string(r.status().message());
}

bool LabelsMatch(const std::string& selector, const Json& labels) {
  Json obj = {{"metadata", {{"labels", labels}}}};
  return MatchesLabels(obj, Labels(selector));
}

TEST_CASE("ParseLabelSelector keeps the equality grammar") {
  std::vector<LabelRequirement> r = Labels("a=b, c==d ,e!=f,g,!h");
  REQUIRE(r.size() == 5);
  CHECK(r[0].key == "a");
  CHECK(r[0].op == LabelRequirement::Op::kEquals);
  CHECK(r[0].value == "b");
  CHECK(r[1].op == LabelRequirement::Op::kEquals);
  CHECK(r[1].value == "d");
  CHECK(r[2].op == LabelRequirement::Op::kNotEquals);
  CHECK(r[2].value == "f");
  CHECK(r[3].op == LabelRequirement::Op::kExists);
  CHECK(r[3].key == "g");
  CHECK(r[4].op == LabelRequirement::Op::kNotExists);
  CHECK(r[4].key == "h");
  CHECK(Labels("").empty());
  CHECK(Labels("  ").empty());
  CHECK(Labels("app.kubernetes.io/name=berth")[0].key == "app.kubernetes.io/name");
  CHECK(Labels("a=")[0].value.empty());
}

TEST_CASE("ParseLabelSelector parses set-based requirements") {
  std::vector<LabelRequirement> r = Labels("env in (prod, dev,prod),tier notin (cache),x>3");
  REQUIRE(r.size() == 3);
  CHECK(r[0].op == LabelRequirement::Op::kIn);
  CHECK(r[0].values == std::vector<std::string>{"dev", "prod"});
  CHECK(r[1].op == LabelRequirement::Op::kNotIn);
  CHECK(r[1].values == std::vector<std::string>{"cache"});
  CHECK(r[2].op == LabelRequirement::Op::kGreaterThan);
  CHECK(r[2].value == "3");
  CHECK(Labels("x in ()")[0].values == std::vector<std::string>{""});
  CHECK(Labels("x in (,a)")[0].values == std::vector<std::string>{"", "a"});
  CHECK(Labels("x in (a,)")[0].values == std::vector<std::string>{"", "a"});
  CHECK(Labels("x in (a,,b)")[0].values == std::vector<std::string>{"", "a", "b"});
  // "in" and "notin" are values where a value is expected, keys at the start.
  CHECK(Labels("x in (in,notin)")[0].values == std::vector<std::string>{"in", "notin"});
  CHECK(Labels("x=in")[0].value == "in");
  CHECK(Labels("in")[0].op == LabelRequirement::Op::kExists);
}

TEST_CASE("MatchesLabels evaluates every operator as kube does") {
  Json labels = {{"env", "prod"}, {"tier", "web"}, {"n", "5"}};
  CHECK(LabelsMatch("env=prod", labels));
  CHECK_FALSE(LabelsMatch("env=dev", labels));
  CHECK(LabelsMatch("env!=dev,missing!=x", labels));
  CHECK(LabelsMatch("env in (dev,prod)", labels));
  CHECK_FALSE(LabelsMatch("missing in (a)", labels));
  CHECK(LabelsMatch("tier notin (cache),missing notin (a)", labels));
  CHECK_FALSE(LabelsMatch("tier notin (web)", labels));
  CHECK(LabelsMatch("env,!missing", labels));
  CHECK_FALSE(LabelsMatch("!env", labels));
  CHECK(LabelsMatch("n>4,n<6", labels));
  CHECK_FALSE(LabelsMatch("n>5", labels));
  CHECK_FALSE(LabelsMatch("env>1", labels));
  CHECK_FALSE(LabelsMatch("missing<9", labels));
  CHECK(LabelsMatch("", labels));
  CHECK(MatchesLabels(Json::object(), Labels("!a,b notin (c)")));
  CHECK_FALSE(MatchesLabels(Json::object(), Labels("a")));
}

TEST_CASE("ParseLabelSelector reports kube's messages") {
  // "gt" and "lt" name the operators in messages; the grammar spells them ">" and "<".
  CHECK(LabelError("a b") ==
        "unable to parse requirement: found 'b', expected: in, notin, =, ==, !=, gt, lt");
  CHECK(LabelError("a gt 1") ==
        "unable to parse requirement: found 'gt', expected: in, notin, =, ==, !=, gt, lt");
  CHECK(LabelError("a in b") == "unable to parse requirement: found 'b' expected: '('");
  CHECK(LabelError("a in (b") == "unable to parse requirement: found '', expected: ',' or ')'");
  CHECK(LabelError("a <> b") == "unable to parse requirement: found '>', expected: identifier");
  CHECK(LabelError("a,") == "found '', expected: identifier after ','");
  CHECK(LabelError(",a") == "found ',', expected: !, identifier, or 'end of string'");
  CHECK(LabelError("!a=b") == "found '=', expected: ',' or 'end of string'");
  CHECK(LabelError("a=(b)") == "unable to parse requirement: found '(', expected: identifier");
  CHECK(LabelError("a=b c") == "found 'c', expected: ',' or 'end of string'");
  CHECK(LabelError("a (b)") ==
        "unable to parse requirement: found '(', expected: in, notin, =, ==, !=, gt, lt");
  CHECK(LabelError("a>x") ==
        "unable to parse requirement: values[0]: Invalid value: \"x\": for 'Gt', 'Lt' "
        "operators, the value must be an integer");
  CHECK(LabelError("-a=b") ==
        "unable to parse requirement: <nil>: Invalid value: \"-a\": name part must consist of "
        "alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric "
        "character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is "
        "'([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')");
  CHECK(LabelError("Example.com/a=b") ==
        "unable to parse requirement: <nil>: Invalid value: \"Example.com/a\": prefix part a "
        "lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' "
        "or '.', and must start and end with an alphanumeric character (e.g. 'example.com', "
        "regex used for validation is "
        "'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')");
  CHECK(LabelError("a=b_") ==
        "unable to parse requirement: values[0][a]: Invalid value: \"b_\": a valid label must "
        "be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must "
        "start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or "
        "'12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')");
  CHECK(LabelError("a>b_").rfind("unable to parse requirement: [values[0]: Invalid value: "
                                 "\"b_\": for 'Gt', 'Lt' operators, the value must be an "
                                 "integer, values[0][a]: Invalid value: \"b_\": ",
                                 0) == 0);
  CHECK(LabelError("/a").find("prefix part must be non-empty") != std::string::npos);
  CHECK(LabelError("a/b/c").find("<nil>: Invalid value: \"a/b/c\": a qualified name must") !=
        std::string::npos);
}

}  // namespace
}  // namespace berth::kubeapi
