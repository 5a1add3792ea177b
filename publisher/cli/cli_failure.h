// How `modelcast` fails, in one place (publisher/README.md): exit 2 for usage, 1 for
// anything else, one "error: ..." line on stderr, and with --json the same error as one
// JSON object on stdout ({"error": {"message", "kind", "exit_code"}}, as modelcast-fetch).
#pragma once

#include <string>

#include "modelcast/status.h"

namespace modelcast {

constexpr int kExitOk = 0;
constexpr int kExitFailure = 1;
constexpr int kExitUsage = 2;

// Set once from argv before parsing, so even a parse error is reported as JSON.
void set_json_errors(bool json);

// A usage error (a bad or missing argument): exit 2.
int fail_usage(const std::string& message);
// A status from checking the arguments: kInvalidArgument is a usage error, the rest exit 1.
int fail(const Status& s);
// A status from doing the work: never a usage error, whatever its code.
int fail_runtime(const Status& s);

}  // namespace modelcast
