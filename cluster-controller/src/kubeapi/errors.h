// Kubernetes API errors: every failure of the REST API is a meta/v1 Status object with the
// code, reason and message kube-apiserver would send, so kubectl and client libraries print
// their usual messages ("Error from server (NotFound): ...") and retry where kube's would.
#ifndef BERTH_CONTROLLER_KUBEAPI_ERRORS_H_
#define BERTH_CONTROLLER_KUBEAPI_ERRORS_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "berth/json.h"

namespace berth::kubeapi {

// Names the resource an error is about, as kube's StatusDetails do.
struct ResourceRef {
  std::string group;     // "" for core
  std::string resource;  // plural, e.g. virtualdisksnapshots
  std::string kind;      // e.g. VirtualDiskSnapshot (for Invalid)
  std::string name;      // may be empty (list, collection)

  // "virtualdisksnapshots.virtualization.deckhouse.io" or "secrets" for core.
  std::string GroupResource() const;
};

struct Cause {
  std::string reason;  // FieldValueRequired, FieldManagerConflict, ...
  std::string message;
  std::string field;
};

class ApiError {
 public:
  ApiError(int code, std::string reason, std::string message)
      : code_(code), reason_(std::move(reason)), message_(std::move(message)) {}

  static ApiError NotFound(const ResourceRef& r);
  static ApiError AlreadyExists(const ResourceRef& r);
  // A write with a stale metadata.resourceVersion (or a failed precondition).
  static ApiError Conflict(const ResourceRef& r, const std::string& why);
  static ApiError StaleUpdate(const ResourceRef& r);
  static ApiError Invalid(const ResourceRef& r, std::vector<Cause> causes);
  static ApiError Forbidden(const ResourceRef& r, const std::string& user, const std::string& verb,
                            const std::string& ns);
  // why: the authenticator's reason ("the bearer token expired at ..."); the message is
  // "Unauthorized: <why>", so a client can tell an expired token from a wrong one.
  static ApiError Unauthorized(const std::string& why = "");
  static ApiError BadRequest(const std::string& message);
  static ApiError MethodNotAllowed(const std::string& message);
  static ApiError UnsupportedMediaType(const std::string& content_type,
                                       const std::vector<std::string>& accepted);
  static ApiError NotAcceptable(const std::vector<std::string>& accepted);
  static ApiError TooLarge(size_t limit);
  static ApiError Gone(const std::string& message);  // reason Expired: relist
  static ApiError TooManyRequests(const std::string& message, int retry_after_seconds);
  static ApiError Internal(const std::string& message);
  // Maps a store or admission status: NotFound, AlreadyExists, Aborted ("conflict"),
  // InvalidArgument (admission: "Kind \"name\": field: detail"), PermissionDenied, ...
  static ApiError FromStatus(const absl::Status& s, const ResourceRef& r);

  ApiError& WithDetails(const ResourceRef& r);
  ApiError& WithCauses(std::vector<Cause> causes);

  int code() const { return code_; }
  const std::string& reason() const { return reason_; }
  const std::string& message() const { return message_; }
  int retry_after() const { return retry_after_; }

  // The meta/v1 Status object.
  Json ToJson() const;

 private:
  int code_;
  std::string reason_;
  std::string message_;
  Json details_ = Json::object();
  int retry_after_ = 0;
};

// A successful delete of something with no object to return (kube's Status Success).
Json SuccessStatus(const ResourceRef& r);

}  // namespace berth::kubeapi

#endif  // BERTH_CONTROLLER_KUBEAPI_ERRORS_H_
