// The console's side of the admin API (/admin/api/…, docs/admin-api.md).
// Drawing code calls AdminClient; AdminClient hands requests to an
// HttpTransport, which the platform glue implements (backends/
// fetch_transport.cpp: emscripten_fetch in the browser). Answers arrive later,
// on the main loop's thread, through the callback.
#pragma once

#include <functional>
#include <string>

#include <nlohmann/json.hpp>

namespace renkei::console {

struct HttpRequest {
  std::string method;  // "GET", "POST", "DELETE"
  std::string path;    // "/admin/api/status?…", already URL-encoded
  std::string body;    // JSON text, or empty
  std::string authorization;  // "Bearer …"
  std::string staff;          // X-Renkei-Staff, empty for reads
};

// status 0: no answer (network error, aborted).
using HttpDone = std::function<void(int status, std::string body)>;

// The platform's HTTP. Must call `done` exactly once, never from inside send().
class HttpTransport {
 public:
  virtual ~HttpTransport() = default;
  virtual void send(const HttpRequest& request, HttpDone done) = 0;
};

// One answer of the admin API. `code` is the catalog's wire name from the
// error envelope ("locked", "not_found", …); `detail` its optional detail
// ("clock_not_movable") or the field named by a bad_request.
struct ApiResult {
  int status = 0;
  nlohmann::json body;  // the parsed answer; null when it was not JSON
  std::string code;
  std::string detail;
  bool ok() const { return status >= 200 && status < 300 && code.empty(); }
  // A line for staff: the catalog's Japanese text for `code` (the core's
  // message_ja), the code itself and the detail; "" when ok.
  std::string describe() const;
};

using ApiDone = std::function<void(const ApiResult&)>;

class AdminClient {
 public:
  explicit AdminClient(HttpTransport& transport) : transport_(transport) {}

  // The bearer token and the staff member's name (X-Renkei-Staff on actions).
  // Kept in memory only; nothing is stored in the browser.
  void set_credentials(std::string token, std::string staff);
  void clear_credentials() { set_credentials("", ""); }
  const std::string& staff() const { return staff_; }

  // path is below /admin/api/ ("status", "funnel?from=…").
  void get(const std::string& path, ApiDone done);
  void post(const std::string& path, const nlohmann::json& body, ApiDone done);
  void del(const std::string& path, const nlohmann::json& body, ApiDone done);

  // Requests sent and not yet answered.
  int in_flight() const { return in_flight_; }

 private:
  void send(std::string method, const std::string& path, std::string body, bool action,
            ApiDone done);

  HttpTransport& transport_;
  std::string token_;
  std::string staff_;
  int in_flight_ = 0;
};

// Percent-encodes a query value (RFC 3986 unreserved characters stay).
std::string url_encode(const std::string& s);

// Reading answers without exceptions (the WASM build has none): a missing
// member or one of another type gives the fallback.
std::string str(const nlohmann::json& j, const char* key, const std::string& fallback = "");
long long num(const nlohmann::json& j, const char* key, long long fallback = 0);
bool flag(const nlohmann::json& j, const char* key, bool fallback = false);
const nlohmann::json& member(const nlohmann::json& j, const char* key);  // null when absent

}  // namespace renkei::console
