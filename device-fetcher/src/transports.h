// The transports behind make_default_transport(). Private to the library.
#pragma once

#include <memory>

#include "modelcast/http_transport.h"

namespace modelcast {

// The only code that includes curl/curl.h lives behind this.
std::unique_ptr<HttpTransport> make_curl_transport();
// file:// URLs: reads the local file; no ETag; honours range_start.
std::unique_ptr<HttpTransport> make_file_transport();

}  // namespace modelcast
