// Whether the app's download conditions let an update download what it needs.
// Private to the library.
#pragma once

#include <cstdint>
#include <string>

#include "modelcast/fetcher.h"

namespace modelcast {

// Empty when the download may go ahead; otherwise why it is deferred (one line).
std::string deferral_message(const DownloadConditions& conditions, bool network_metered, uint64_t bytes_needed);

}  // namespace modelcast
