#include "cli_failure.h"

#include <cstdio>

#include "modelcast/canonical_json.h"
#include "modelcast/utf8.h"

namespace modelcast {
namespace {

bool g_json_errors = false;

int report(int exit_code, const std::string& message) {
  std::fprintf(stderr, "error: %s\n", printable_text(message).c_str());
  if (g_json_errors) {
    Json out = {{"error", {{"message", message}, {"kind", exit_code == kExitUsage ? "usage" : "failure"},
                           {"exit_code", exit_code}}}};
    std::printf("%s\n", out.dump(-1, ' ', false, Json::error_handler_t::replace).c_str());
  }
  return exit_code;
}

}  // namespace

void set_json_errors(bool json) { g_json_errors = json; }

int fail_usage(const std::string& message) { return report(kExitUsage, message); }

int fail(const Status& s) {
  return report(s.code() == StatusCode::kInvalidArgument ? kExitUsage : kExitFailure, s.message());
}

int fail_runtime(const Status& s) { return report(kExitFailure, s.message()); }

}  // namespace modelcast
