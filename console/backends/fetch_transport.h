// HttpTransport over the browser's fetch, through emscripten_fetch (-sFETCH=1,
// present in Debian's emscripten 3.1.6). Same origin: the console is served by
// the server whose admin API it calls.
#pragma once

#include "admin_client.h"

namespace renkei::console {

class FetchTransport final : public HttpTransport {
 public:
  void send(const HttpRequest& request, HttpDone done) override;
};

}  // namespace renkei::console
