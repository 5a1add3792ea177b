#include "modelcast/status.h"

namespace modelcast {

const char* status_code_name(StatusCode code) {
  switch (code) {
    case StatusCode::kOk: return "ok";
    case StatusCode::kInvalidArgument: return "invalid-argument";
    case StatusCode::kNotFound: return "not-found";
    case StatusCode::kCorruption: return "corrupt";
    case StatusCode::kIOError: return "io";
    case StatusCode::kSignature: return "signature";
    case StatusCode::kExpired: return "expired";
    case StatusCode::kRollback: return "rollback";
    case StatusCode::kHashMismatch: return "hash-mismatch";
    case StatusCode::kConfigMismatch: return "config-mismatch";
    case StatusCode::kUnsupportedFeature: return "unsupported-feature";
    case StatusCode::kIncompatible: return "incompatible";
    case StatusCode::kNetwork: return "network";
    case StatusCode::kBusy: return "busy";
    case StatusCode::kCancelled: return "cancelled";
    case StatusCode::kExists: return "exists";
    case StatusCode::kInternal: return "internal";
    case StatusCode::kHealthCheck: return "health-check";
    case StatusCode::kUnsupported: return "unsupported";
    case StatusCode::kOutOfMemory: return "out-of-memory";
  }
  return "unknown";
}

}  // namespace modelcast
