#include "fetch_transport.h"

#include <emscripten/fetch.h>

#include <cstring>
#include <memory>
#include <string>
#include <vector>

namespace renkei::console {
namespace {

// Owns everything emscripten_fetch points into until the answer comes.
struct PendingFetch {
  HttpRequest request;
  HttpDone done;
  std::vector<const char*> headers;  // name, value, …, nullptr
};

void finish(emscripten_fetch_t* fetch) {
  std::unique_ptr<PendingFetch> pending(static_cast<PendingFetch*>(fetch->userData));
  std::string body;
  if (fetch->data && fetch->numBytes > 0) {
    body.assign(fetch->data, static_cast<std::size_t>(fetch->numBytes));
  }
  const int status = fetch->status;
  emscripten_fetch_close(fetch);
  pending->done(status, std::move(body));
}

}  // namespace

void FetchTransport::send(const HttpRequest& request, HttpDone done) {
  auto pending = std::make_unique<PendingFetch>();
  pending->request = request;
  pending->done = std::move(done);
  const HttpRequest& r = pending->request;
  pending->headers = {"Authorization", r.authorization.c_str(), "Accept", "application/json"};
  if (!r.staff.empty()) {
    pending->headers.push_back("X-Renkei-Staff");
    pending->headers.push_back(r.staff.c_str());
  }
  if (!r.body.empty()) {
    pending->headers.push_back("Content-Type");
    pending->headers.push_back("application/json");
  }
  pending->headers.push_back(nullptr);

  emscripten_fetch_attr_t attr;
  emscripten_fetch_attr_init(&attr);
  std::strncpy(attr.requestMethod, r.method.c_str(), sizeof attr.requestMethod - 1);
  // In memory only: no IndexedDB cache of admin answers in the browser.
  attr.attributes = EMSCRIPTEN_FETCH_LOAD_TO_MEMORY;
  attr.requestHeaders = pending->headers.data();
  if (!r.body.empty()) {
    attr.requestData = r.body.data();
    attr.requestDataSize = r.body.size();
  }
  attr.onsuccess = finish;
  attr.onerror = finish;  // 4xx/5xx arrive here too, with their JSON bodies
  attr.userData = pending.get();
  const std::string url = r.path;
  PendingFetch* raw = pending.release();
  if (!emscripten_fetch(&attr, url.c_str())) {
    std::unique_ptr<PendingFetch> failed(raw);
    failed->done(0, "");
  }
}

}  // namespace renkei::console
