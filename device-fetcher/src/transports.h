// The transports behind make_default_transport(). Private to the library.
#pragma once

#include <memory>

#include "modelcast/http_transport.h"

namespace modelcast {

#ifdef MODELCAST_WITH_CURL
// The only code that includes curl/curl.h lives behind this.
std::unique_ptr<HttpTransport> make_curl_transport();
#endif
// file:// URLs: reads the local file; no ETag; honours range_start.
std::unique_ptr<HttpTransport> make_file_transport();
// file:// from the local disk, every other URL through `network`.
std::unique_ptr<HttpTransport> make_dispatching_transport(std::unique_ptr<HttpTransport> network);

}  // namespace modelcast
