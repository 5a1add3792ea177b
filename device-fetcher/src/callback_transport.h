// The app's HTTP stack behind the C API's mc_transport_cb. Private to the library.
#pragma once

#include <memory>

#include "modelcast/http_transport.h"
#include "modelcast/modelcast_fetch.h"

namespace modelcast {

// Every GET becomes one call of `callback`; the answer it streams through the sink is
// checked like any server's (headers parsed strictly, a refused chunk stops it).
std::unique_ptr<HttpTransport> make_callback_transport(mc_transport_cb callback, void* payload);

}  // namespace modelcast
