// OpenAPI v2 as gnostic's protobuf (what kubectl before 1.27 asks /openapi/v2 for): the JSON
// document compiled the way gnostic's compiler does it, vendor extensions as YAML.
#include <string>

#include "kubeapi/openapi.h"
#include "openapi_v2.pb.h"

namespace berth::kubeapi {
namespace {

namespace pb = ::openapi::v2;

// ---- OpenAPI v2 protobuf: gnostic's compiler of the JSON document. ----

// A scalar as go-yaml writes it: plain when it reads back as the same string, else quoted.
bool IsPlainYaml(const std::string& s) {
  if (s.empty() || s.front() == ' ' || s.back() == ' ' || s.back() == ':') return false;
  if (std::string_view("-?:,[]{}#&*!|>'\"%@`.+0123456789~").find(s.front()) !=
      std::string_view::npos) {
    return false;
  }
  for (unsigned char c : s) {
    if (c < 0x20 || c == 0x7f) return false;
  }
  if (s.find(": ") != std::string::npos || s.find(" #") != std::string::npos) return false;
  std::string lower;
  for (unsigned char c : s) lower += static_cast<char>(std::tolower(c));
  static const std::set<std::string> kReserved = {"y",   "n",    "yes",   "no",  "on",
                                                  "off", "true", "false", "null"};
  return kReserved.count(lower) == 0;
}

std::string YamlScalar(const Json& v) {
  if (v.is_string()) {
    const std::string& s = v.get_ref<const std::string&>();
    if (IsPlainYaml(s)) return s;
  }
  return v.dump(-1, ' ', false, Json::error_handler_t::replace);
}

bool IsYamlLeaf(const Json& v) { return !v.is_structured() || v.empty(); }

// A block node in go-yaml v3's style (4-space indentation), its first line not indented (the
// caller has written the indentation or "- " already).
void YamlBlock(const Json& v, int indent, std::string* out) {
  if (IsYamlLeaf(v)) {
    *out += YamlScalar(v) + "\n";
    return;
  }
  bool first = true;
  if (v.is_object()) {
    for (const auto& [key, value] : v.items()) {
      if (!first) out->append(indent, ' ');
      first = false;
      *out += YamlScalar(key) + ":";
      if (IsYamlLeaf(value)) {
        *out += " " + YamlScalar(value) + "\n";
      } else {
        *out += "\n";
        out->append(indent + 4, ' ');
        YamlBlock(value, indent + 4, out);
      }
    }
    return;
  }
  for (const Json& item : v) {
    if (!first) out->append(indent, ' ');
    first = false;
    *out += "- ";
    YamlBlock(item, indent + 2, out);
  }
}

std::string Yaml(const Json& v) {
  std::string out;
  YamlBlock(v, 0, &out);
  return out;
}

template <typename Message>
void AddExtensions(const Json& j, Message* m) {
  for (const auto& [key, value] : j.items()) {
    if (key.rfind("x-", 0) != 0) continue;
    pb::NamedAny* named = m->add_vendor_extension();
    named->set_name(key);
    named->mutable_value()->set_yaml(Yaml(value));
  }
}

std::string Str(const Json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : "";
}

int64_t Int(const Json& v) {
  return v.is_number_integer() ? v.get<int64_t>() : static_cast<int64_t>(v.get<double>());
}

void ToProto(const Json& j, pb::Schema* s) {
  for (const auto& [key, v] : j.items()) {
    if (key == "$ref") s->set__ref(v.get<std::string>());
    if (key == "format") s->set_format(v.get<std::string>());
    if (key == "title") s->set_title(v.get<std::string>());
    if (key == "description") s->set_description(v.get<std::string>());
    if (key == "default") s->mutable_default_()->set_yaml(Yaml(v));
    if (key == "multipleOf") s->set_multiple_of(v.get<double>());
    if (key == "maximum") s->set_maximum(v.get<double>());
    if (key == "exclusiveMaximum") s->set_exclusive_maximum(v.get<bool>());
    if (key == "minimum") s->set_minimum(v.get<double>());
    if (key == "exclusiveMinimum") s->set_exclusive_minimum(v.get<bool>());
    if (key == "maxLength") s->set_max_length(Int(v));
    if (key == "minLength") s->set_min_length(Int(v));
    if (key == "pattern") s->set_pattern(v.get<std::string>());
    if (key == "maxItems") s->set_max_items(Int(v));
    if (key == "minItems") s->set_min_items(Int(v));
    if (key == "uniqueItems") s->set_unique_items(v.get<bool>());
    if (key == "maxProperties") s->set_max_properties(Int(v));
    if (key == "minProperties") s->set_min_properties(Int(v));
    if (key == "required") {
      for (const Json& name : v) s->add_required(name.get<std::string>());
    }
    if (key == "enum") {
      for (const Json& value : v) s->add_enum_()->set_yaml(Yaml(value));
    }
    if (key == "additionalProperties") {
      if (v.is_boolean()) {
        s->mutable_additional_properties()->set_boolean(v.get<bool>());
      } else {
        ToProto(v, s->mutable_additional_properties()->mutable_schema());
      }
    }
    if (key == "type") {
      for (const Json& t : v.is_array() ? v : Json::array({v})) {
        s->mutable_type()->add_value(t.get<std::string>());
      }
    }
    if (key == "items") {
      for (const Json& item : v.is_array() ? v : Json::array({v})) {
        ToProto(item, s->mutable_items()->add_schema());
      }
    }
    if (key == "allOf") {
      for (const Json& item : v) ToProto(item, s->add_all_of());
    }
    if (key == "properties") {
      for (const auto& [name, prop] : v.items()) {
        pb::NamedSchema* named = s->mutable_properties()->add_additional_properties();
        named->set_name(name);
        ToProto(prop, named->mutable_value());
      }
    }
    if (key == "discriminator") s->set_discriminator(v.get<std::string>());
    if (key == "readOnly") s->set_read_only(v.get<bool>());
    if (key == "externalDocs") {
      s->mutable_external_docs()->set_description(Str(v, "description"));
      s->mutable_external_docs()->set_url(Str(v, "url"));
    }
    if (key == "example") s->mutable_example()->set_yaml(Yaml(v));
  }
  AddExtensions(j, s);
}

// Query, path and header parameters have the same fields but for allowEmptyValue.
template <typename P>
void ToProtoNonBody(const Json& j, P* p) {
  p->set_required(j.value("required", false));
  p->set_in(Str(j, "in"));
  p->set_description(Str(j, "description"));
  p->set_name(Str(j, "name"));
  p->set_type(Str(j, "type"));
  p->set_format(Str(j, "format"));
  p->set_unique_items(j.value("uniqueItems", false));
  if (j.contains("default")) p->mutable_default_()->set_yaml(Yaml(j["default"]));
  if (j.contains("enum")) {
    for (const Json& value : j["enum"]) p->add_enum_()->set_yaml(Yaml(value));
  }
  AddExtensions(j, p);
}

void ToProto(const Json& j, pb::ParametersItem* item) {
  if (j.contains("$ref")) {
    item->mutable_json_reference()->set__ref(Str(j, "$ref"));
    item->mutable_json_reference()->set_description(Str(j, "description"));
    return;
  }
  pb::Parameter* p = item->mutable_parameter();
  std::string in = Str(j, "in");
  if (in == "body") {
    pb::BodyParameter* body = p->mutable_body_parameter();
    body->set_description(Str(j, "description"));
    body->set_name(Str(j, "name"));
    body->set_in(in);
    body->set_required(j.value("required", false));
    if (j.contains("schema")) ToProto(j["schema"], body->mutable_schema());
    AddExtensions(j, body);
  } else if (in == "path") {
    ToProtoNonBody(j, p->mutable_non_body_parameter()->mutable_path_parameter_sub_schema());
  } else if (in == "header") {
    ToProtoNonBody(j, p->mutable_non_body_parameter()->mutable_header_parameter_sub_schema());
  } else {
    ToProtoNonBody(j, p->mutable_non_body_parameter()->mutable_query_parameter_sub_schema());
  }
}

void ToProto(const Json& j, pb::Operation* op) {
  for (const Json& tag : j.value("tags", Json::array())) op->add_tags(tag.get<std::string>());
  op->set_summary(Str(j, "summary"));
  op->set_description(Str(j, "description"));
  op->set_operation_id(Str(j, "operationId"));
  for (const Json& media : j.value("produces", Json::array())) {
    op->add_produces(media.get<std::string>());
  }
  for (const Json& media : j.value("consumes", Json::array())) {
    op->add_consumes(media.get<std::string>());
  }
  for (const Json& param : j.value("parameters", Json::array())) {
    ToProto(param, op->add_parameters());
  }
  const Json responses = j.value("responses", Json::object());
  for (const auto& [code, response] : responses.items()) {
    if (code.rfind("x-", 0) == 0) continue;
    pb::NamedResponseValue* named = op->mutable_responses()->add_response_code();
    named->set_name(code);
    pb::Response* r = named->mutable_value()->mutable_response();
    r->set_description(Str(response, "description"));
    if (response.contains("schema")) {
      ToProto(response["schema"], r->mutable_schema()->mutable_schema());
    }
  }
  for (const Json& scheme : j.value("schemes", Json::array())) {
    op->add_schemes(scheme.get<std::string>());
  }
  op->set_deprecated(j.value("deprecated", false));
  AddExtensions(j, op);
}

}  // namespace

std::string ToProtoBinary(const Json& doc) {
  pb::Document d;
  d.set_swagger(Str(doc, "swagger"));
  d.mutable_info()->set_title(Str(doc["info"], "title"));
  d.mutable_info()->set_version(Str(doc["info"], "version"));
  for (const auto& [path, item] : doc["paths"].items()) {
    pb::NamedPathItem* named = d.mutable_paths()->add_path();
    named->set_name(path);
    pb::PathItem* p = named->mutable_value();
    for (const auto& [key, value] : item.items()) {
      if (key == "get") ToProto(value, p->mutable_get());
      if (key == "put") ToProto(value, p->mutable_put());
      if (key == "post") ToProto(value, p->mutable_post());
      if (key == "delete") ToProto(value, p->mutable_delete_());
      if (key == "patch") ToProto(value, p->mutable_patch());
      if (key == "parameters") {
        for (const Json& param : value) ToProto(param, p->add_parameters());
      }
    }
    AddExtensions(item, p);
  }
  for (const auto& [name, schema] : doc["definitions"].items()) {
    pb::NamedSchema* named = d.mutable_definitions()->add_additional_properties();
    named->set_name(name);
    ToProto(schema, named->mutable_value());
  }
  return d.SerializeAsString();
}

}  // namespace berth::kubeapi
