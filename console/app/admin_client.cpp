#include "admin_client.h"

#include <renkei/error.h>

#include <utility>

namespace renkei::console {

using nlohmann::json;

std::string ApiResult::describe() const {
  if (ok()) return "";
  std::string line;
  if (status == 0) return "サーバーに接続できません (no answer)";
  if (!code.empty()) {
    if (std::optional<ErrorCode> c = error_code_from_wire(code)) {
      line = std::string(message_ja(*c)) + " ";
    }
    line += "[" + code + "]";
  } else {
    line = "HTTP " + std::to_string(status);
  }
  if (!detail.empty()) line += " " + detail;
  return line;
}

void AdminClient::set_credentials(std::string token, std::string staff) {
  token_ = std::move(token);
  staff_ = std::move(staff);
}

void AdminClient::get(const std::string& path, ApiDone done) {
  send("GET", path, "", false, std::move(done));
}

void AdminClient::post(const std::string& path, const json& body, ApiDone done) {
  send("POST", path, body.dump(), true, std::move(done));
}

void AdminClient::del(const std::string& path, const json& body, ApiDone done) {
  send("DELETE", path, body.is_null() ? "" : body.dump(), true, std::move(done));
}

void AdminClient::send(std::string method, const std::string& path, std::string body,
                       bool action, ApiDone done) {
  HttpRequest req;
  req.method = std::move(method);
  req.path = "/admin/api/" + path;
  req.body = std::move(body);
  req.authorization = "Bearer " + token_;
  if (action) req.staff = staff_;
  ++in_flight_;
  transport_.send(req, [this, done = std::move(done)](int status, std::string text) {
    --in_flight_;
    ApiResult r;
    r.status = status;
    r.body = json::parse(text, nullptr, /*allow_exceptions=*/false);
    if (r.body.is_discarded()) r.body = nullptr;
    const json& err = member(r.body, "error");
    if (err.is_object()) {
      r.code = str(err, "code");
      r.detail = str(err, "detail", str(err, "field"));
      if (r.code.empty()) r.code = "error";
    } else if (status < 200 || status >= 300) {
      r.code = status == 0 ? "" : "http_" + std::to_string(status);
    }
    done(r);
  });
}

std::string url_encode(const std::string& s) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
        c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 0xF];
    }
  }
  return out;
}

const json& member(const json& j, const char* key) {
  static const json kNull = nullptr;
  if (!j.is_object()) return kNull;
  auto it = j.find(key);
  return it == j.end() ? kNull : *it;
}

std::string str(const json& j, const char* key, const std::string& fallback) {
  const json& v = member(j, key);
  if (v.is_string()) return v.get<std::string>();
  if (v.is_number_integer()) return std::to_string(v.get<long long>());
  return fallback;
}

long long num(const json& j, const char* key, long long fallback) {
  const json& v = member(j, key);
  if (v.is_number_integer()) return v.get<long long>();
  if (v.is_number()) return static_cast<long long>(v.get<double>());
  return fallback;
}

bool flag(const json& j, const char* key, bool fallback) {
  const json& v = member(j, key);
  return v.is_boolean() ? v.get<bool>() : fallback;
}

}  // namespace renkei::console
