// Running the app's health check inside an update (see modelcast/health_check.h).
// Private to the library.
#pragma once

#include <string>

#include "modelcast/fetcher.h"

namespace modelcast {

// OK when no check is configured or it passes; kHealthCheck naming the version otherwise.
Status check_version_health(const FetcherOptions& options, const std::string& version_dir, uint64_t version);

}  // namespace modelcast
