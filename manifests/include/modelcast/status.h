// Status and Result<T>: how every fallible call in modelcast reports failure.
//
// No exceptions cross a library boundary; a Status carries a kind (what went wrong,
// which the CLIs map to exit codes and the fetcher maps to a fallback `reason`) and a
// one-line message that names the field, file or URL involved. Both are cheap values,
// safe to copy between threads.
#pragma once

#include <string>
#include <utility>
#include <variant>

namespace modelcast {

enum class StatusCode {
  kOk = 0,
  kInvalidArgument,  // the caller asked for something malformed (usage, bad name)
  kNotFound,
  kCorruption,       // bytes do not parse or violate the format
  kIOError,          // the file system refused (includes a full disk)
  kSignature,        // missing, unknown or invalid signatures
  kExpired,          // manifest past its expires_at
  kRollback,         // version not higher than one already seen
  kHashMismatch,     // content does not match its declared SHA-256 or size
  kConfigMismatch,   // config does not fit the model file
  kUnsupportedFeature,
  kIncompatible,     // app version or runtime too old
  kNetwork,          // transport failure, HTTP error, timeout
  kBusy,             // another writer holds the lock
  kCancelled,
  kExists,           // refused to overwrite
  kInternal,         // a defect: an exception caught at an API boundary
  kHealthCheck,      // the app's check of a new version before it goes live failed
  kUnsupported,      // the device's OS is older than the version's minimum
  kOutOfMemory,      // an allocation failed (a zstd context, a buffer): not the file system's fault
};

// Short stable name of a code, e.g. "hash-mismatch"; used as the fetcher's `reason`.
const char* status_code_name(StatusCode code);

class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(StatusCode code, std::string message) : code_(code), message_(std::move(message)) {}

  // The predicate. The OK value is made by OkStatus(); there is no conversion to bool,
  // so `if (status)` does not compile and cannot be misread.
  bool ok() const { return code_ == StatusCode::kOk; }
  StatusCode code() const { return code_; }
  const std::string& message() const { return message_; }
  // "message" with a prefix naming where it happened: "manifest x.json: " + message.
  Status with_context(const std::string& prefix) const {
    if (ok()) return *this;
    return Status(code_, prefix + ": " + message_);
  }

 private:
  StatusCode code_ = StatusCode::kOk;
  std::string message_;
};

inline Status OkStatus() { return Status(); }
inline Status error(StatusCode code, std::string message) { return Status(code, std::move(message)); }

// Value or error. Access value() only after checking ok(). A Result never holds an OK
// Status: constructing one from OkStatus() turns it into a kInvalidArgument error, so a
// caller that forgot to return a value gets a loud error instead of an empty value.
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}  // NOLINT: implicit by design
  Result(Status status)  // NOLINT: implicit by design
      : v_(status.ok() ? Status(StatusCode::kInvalidArgument, "internal: Result made from an OK status")
                       : std::move(status)) {}

  bool ok() const { return std::holds_alternative<T>(v_); }
  const Status& status() const {
    static const Status kOkStatus;
    return ok() ? kOkStatus : std::get<Status>(v_);
  }
  T& value() & { return std::get<T>(v_); }
  const T& value() const& { return std::get<T>(v_); }
  T&& value() && { return std::get<T>(std::move(v_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

 private:
  std::variant<T, Status> v_;
};

}  // namespace modelcast

// Propagate a failing Status from the current function.
#define MC_RETURN_IF_ERROR(expr)                    \
  do {                                              \
    ::modelcast::Status mc_status_ = (expr);        \
    if (!mc_status_.ok()) return mc_status_;     \
  } while (0)

#define MC_CONCAT_INNER(a, b) a##b
#define MC_CONCAT(a, b) MC_CONCAT_INNER(a, b)
// Declare `lhs` from a Result<T>, or return its Status.
#define MC_ASSIGN_OR_RETURN(lhs, expr) MC_ASSIGN_OR_RETURN_IMPL(MC_CONCAT(mc_result_, __LINE__), lhs, expr)
#define MC_ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                             \
  if (!tmp.ok()) return tmp.status();            \
  lhs = std::move(tmp).value()
