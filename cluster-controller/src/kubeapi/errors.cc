#include "kubeapi/errors.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace berth::kubeapi {

std::string ResourceRef::GroupResource() const {
  return group.empty() ? resource : resource + "." + group;
}

namespace {

std::string Named(const ResourceRef& r) {
  return r.name.empty() ? r.GroupResource() : absl::StrCat(r.GroupResource(), " \"", r.name, "\"");
}

}  // namespace

ApiError& ApiError::WithDetails(const ResourceRef& r) {
  if (!r.name.empty()) details_["name"] = r.name;
  details_["group"] = r.group;
  if (!r.resource.empty()) details_["kind"] = r.resource;
  if (details_["group"].get<std::string>().empty()) details_.erase("group");
  return *this;
}

ApiError& ApiError::WithCauses(std::vector<Cause> causes) {
  Json arr = Json::array();
  for (const Cause& c : causes) {
    Json j = {{"reason", c.reason}, {"message", c.message}};
    if (!c.field.empty()) j["field"] = c.field;
    arr.push_back(std::move(j));
  }
  if (!arr.empty()) details_["causes"] = std::move(arr);
  return *this;
}

ApiError ApiError::NotFound(const ResourceRef& r) {
  return ApiError(404, "NotFound", Named(r) + " not found").WithDetails(r);
}

ApiError ApiError::AlreadyExists(const ResourceRef& r) {
  return ApiError(409, "AlreadyExists", Named(r) + " already exists").WithDetails(r);
}

ApiError ApiError::Conflict(const ResourceRef& r, const std::string& why) {
  return ApiError(409, "Conflict",
                  absl::StrCat("Operation cannot be fulfilled on ", Named(r), ": ", why))
      .WithDetails(r);
}

ApiError ApiError::StaleUpdate(const ResourceRef& r) {
  return Conflict(r,
                  "the object has been modified; please apply your changes to the latest version "
                  "and try again");
}

ApiError ApiError::Invalid(const ResourceRef& r, std::vector<Cause> causes) {
  std::vector<std::string> parts;
  for (const Cause& c : causes) {
    parts.push_back(c.field.empty() ? c.message : absl::StrCat(c.field, ": ", c.message));
  }
  std::string what = parts.size() == 1 ? parts[0] : "[" + absl::StrJoin(parts, ", ") + "]";
  std::string subject = r.group.empty() ? r.kind : r.kind + "." + r.group;
  ApiError e(422, "Invalid", absl::StrCat(subject, " \"", r.name, "\" is invalid: ", what));
  e.WithDetails(r);
  e.details_["kind"] = r.kind;
  return e.WithCauses(std::move(causes));
}

ApiError ApiError::Forbidden(const ResourceRef& r, const std::string& user, const std::string& verb,
                             const std::string& ns) {
  std::string msg = absl::StrCat(Named(r), " is forbidden: User \"", user, "\" cannot ", verb,
                                 " resource \"", r.resource, "\" in API group \"", r.group, "\"");
  absl::StrAppend(&msg, ns.empty() ? " at the cluster scope" : " in the namespace \"" + ns + "\"");
  return ApiError(403, "Forbidden", msg).WithDetails(r);
}

ApiError ApiError::Unauthorized(const std::string& why) {
  return ApiError(401, "Unauthorized", why.empty() ? "Unauthorized" : "Unauthorized: " + why);
}

ApiError ApiError::BadRequest(const std::string& message) {
  return ApiError(400, "BadRequest", message);
}

ApiError ApiError::MethodNotAllowed(const std::string& message) {
  return ApiError(405, "MethodNotAllowed", message);
}

ApiError ApiError::UnsupportedMediaType(const std::string& content_type,
                                        const std::vector<std::string>& accepted) {
  return ApiError(415, "UnsupportedMediaType",
                  absl::StrCat("the body of the request was in an unknown format - accepted media "
                               "types include: ",
                               absl::StrJoin(accepted, ", ")));
}

ApiError ApiError::NotAcceptable(const std::vector<std::string>& accepted) {
  return ApiError(
      406, "NotAcceptable",
      absl::StrCat("only the following media types are accepted: ", absl::StrJoin(accepted, ", ")));
}

ApiError ApiError::TooLarge(size_t limit) {
  return ApiError(413, "RequestEntityTooLarge",
                  absl::StrCat("Request entity too large: limit is ", limit));
}

ApiError ApiError::Gone(const std::string& message) { return ApiError(410, "Expired", message); }

ApiError ApiError::TooManyRequests(const std::string& message, int retry_after_seconds) {
  ApiError e(429, "TooManyRequests", message);
  e.retry_after_ = retry_after_seconds;
  e.details_["retryAfterSeconds"] = retry_after_seconds;
  return e;
}

ApiError ApiError::Internal(const std::string& message) {
  return ApiError(500, "InternalError", absl::StrCat("Internal error occurred: ", message));
}

ApiError ApiError::FromStatus(const absl::Status& s, const ResourceRef& r) {
  std::string msg(s.message());
  switch (s.code()) {
    case absl::StatusCode::kNotFound:
      return NotFound(r);
    case absl::StatusCode::kAlreadyExists:
      return AlreadyExists(r);
    case absl::StatusCode::kAborted:
    case absl::StatusCode::kFailedPrecondition:
      if (absl::StrContains(msg, "conflict") || absl::StrContains(msg, "resourceVersion")) {
        return StaleUpdate(r);
      }
      return Conflict(r, msg);
    case absl::StatusCode::kInvalidArgument: {
      // Admission says `Kind "name": field: detail`; kube says the field and detail apart.
      std::string rest = msg;
      std::string prefix = absl::StrCat(r.kind, " \"", r.name, "\": ");
      if (absl::StartsWith(rest, prefix)) rest = rest.substr(prefix.size());
      size_t colon = rest.find(": ");
      Cause c{"FieldValueInvalid", rest, ""};
      if (colon != std::string::npos && rest.find(' ') > colon) {
        c.field = rest.substr(0, colon);
        c.message = rest.substr(colon + 2);
        if (absl::StartsWith(c.message, "Required value")) c.reason = "FieldValueRequired";
        if (absl::StartsWith(c.message, "Unsupported value")) c.reason = "FieldValueNotSupported";
        if (absl::StartsWith(c.message, "Forbidden")) c.reason = "FieldValueForbidden";
      }
      return Invalid(r, {c});
    }
    case absl::StatusCode::kPermissionDenied:
      return ApiError(403, "Forbidden", msg).WithDetails(r);
    case absl::StatusCode::kUnauthenticated:
      return Unauthorized();
    case absl::StatusCode::kResourceExhausted:
      return TooManyRequests(msg, 1);
    case absl::StatusCode::kOutOfRange:
      return Gone(msg);
    case absl::StatusCode::kUnavailable:
      return ApiError(503, "ServiceUnavailable", msg);
    default:
      return Internal(msg);
  }
}

Json ApiError::ToJson() const {
  Json j = {{"kind", "Status"},    {"apiVersion", "v1"},  {"metadata", Json::object()},
            {"status", "Failure"}, {"message", message_}, {"reason", reason_},
            {"code", code_}};
  if (!details_.empty()) j["details"] = details_;
  return j;
}

Json SuccessStatus(const ResourceRef& r) {
  Json details = {{"name", r.name}, {"kind", r.resource}};
  if (!r.group.empty()) details["group"] = r.group;
  return {{"kind", "Status"},
          {"apiVersion", "v1"},
          {"metadata", Json::object()},
          {"status", "Success"},
          {"details", details}};
}

}  // namespace berth::kubeapi
