// A catalog of hostile requests against a real server (TestServer on a
// loopback port), sent as raw bytes over a plain POSIX socket so nothing in a
// client library tidies them up. Each row names the request, the status it
// must get (4xx, or the redirect the API documents) and the error code in the
// answer. After the whole catalog the server must still be healthy and a
// normal flow step must still work. Separate tests cover what a table row
// cannot: a slow client beside a normal one, raw reflection of CR/LF.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "ops/crypto.h"
#include "flow_client.h"
#include "oauth_test_support.h"
#include "test_server.h"

namespace renkei::server::testing {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;

// ---------------------------------------------------------------------------
// Raw HTTP over a socket.

struct RawReply {
  int status = 0;  // 0: the connection closed without a status line
  std::string head;
  std::string body;
  bool timed_out = false;
  bool closed = false;  // the server closed the connection after its answer
};

// Parses what the server sent: the status line, the head, the body (by
// Content-Length when present).
RawReply parse_reply(const std::string& in) {
  RawReply r;
  if (in.rfind("HTTP/1.", 0) == 0 && in.size() >= 12) r.status = std::atoi(in.c_str() + 9);
  std::size_t split = in.find("\r\n\r\n");
  r.head = in.substr(0, split);
  if (split != std::string::npos) r.body = in.substr(split + 4);
  return r;
}

// True once `in` holds a complete response (head and Content-Length body).
bool complete(const std::string& in) {
  std::size_t split = in.find("\r\n\r\n");
  if (split == std::string::npos) return false;
  std::string head = in.substr(0, split);
  for (char& c : head) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  std::size_t at = head.find("\r\ncontent-length:");
  if (at == std::string::npos) return true;
  std::size_t length = std::strtoul(head.c_str() + at + 17, nullptr, 10);
  return in.size() - split - 4 >= length;
}

// Sends `bytes` (in `pieces` with `gap` between them, for slow clients),
// optionally half-closes, and reads one response. Sending runs beside the
// reading, so a server that answers early (and closes) is still heard.
// cpp-httplib 0.11.4 writes no answer to a client that half-closed (its
// is_writable() peeks, sees EOF and gives up), so requests are not
// half-closed by default: they carry "Connection: close" instead.
RawReply exchange(int port, const std::string& bytes, bool half_close = false,
                  std::chrono::milliseconds timeout = 15000ms, std::size_t piece = 0,
                  std::chrono::milliseconds gap = 0ms) {
  int fd = connect_to(port);
  if (fd < 0) return {};
  std::thread writer([&] {
    std::size_t step = piece ? piece : bytes.size();
    for (std::size_t off = 0; off < bytes.size(); off += step) {
      std::size_t n = std::min(step, bytes.size() - off);
      const char* p = bytes.data() + off;
      while (n > 0) {
        ssize_t w = ::send(fd, p, n, MSG_NOSIGNAL);
        if (w <= 0) return;
        p += w;
        n -= static_cast<std::size_t>(w);
      }
      if (gap.count() > 0) std::this_thread::sleep_for(gap);
    }
    if (half_close) ::shutdown(fd, SHUT_WR);
  });
  std::string in;
  auto deadline = std::chrono::steady_clock::now() + timeout;
  bool timed_out = false;
  char buf[65536];
  while (!complete(in)) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      timed_out = true;
      break;
    }
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) break;
    in.append(buf, static_cast<std::size_t>(n));
  }
  // Closed after the answer: the next read finds the end (within 3 s).
  bool closed = false;
  if (!timed_out) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 3000) > 0) {
      const ssize_t n = ::recv(fd, buf, sizeof buf, MSG_DONTWAIT);
      closed = n == 0 || (n < 0 && errno == ECONNRESET);
    }
  }
  ::shutdown(fd, SHUT_RDWR);
  writer.join();
  ::close(fd);
  RawReply r = parse_reply(in);
  r.timed_out = timed_out;
  r.closed = closed;
  return r;
}

// The error code in an answer: the envelope's error.code, or the OAuth
// error string (RFC 6749 §5.2).
std::string error_code(const RawReply& r) {
  json j = json::parse(r.body, nullptr, false);
  if (!j.is_object() || !j.contains("error")) return "";
  const json& e = j["error"];
  if (e.is_object() && e.contains("code") && e["code"].is_string()) return e["code"];
  if (e.is_string()) return e;
  return "";
}

std::string header_value(const RawReply& r, const std::string& name) {
  std::string head = r.head;
  std::string lower_head = head;
  std::string key = "\r\n" + name + ":";
  for (char& c : lower_head) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  for (char& c : key) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  std::size_t at = lower_head.find(key);
  if (at == std::string::npos) return "";
  at += key.size();
  std::size_t end = head.find("\r\n", at);
  std::string v = head.substr(at, end == std::string::npos ? std::string::npos : end - at);
  while (!v.empty() && v.front() == ' ') v.erase(v.begin());
  return v;
}

// ---------------------------------------------------------------------------
// Building requests.

struct Ctx {
  std::string cookie;
  std::string csrf;
  std::string access_token;
};

std::string request(const std::string& method, const std::string& target,
                    const std::vector<std::string>& headers = {}, const std::string& body = "",
                    bool content_length = true) {
  std::string out = method + " " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\n";
  for (const std::string& h : headers) out += h + "\r\n";
  if (content_length && (method == "POST" || !body.empty())) {
    out += "Content-Length: " + std::to_string(body.size()) + "\r\n";
  }
  return out + "Connection: close\r\n\r\n" + body;
}

// A POST of the flow API as the page sends it (cookie, CSRF token, JSON).
std::string flow_post(const Ctx& c, const std::string& path, const std::string& body,
                      const std::string& content_type = "application/json") {
  return request("POST", path,
                 {"Cookie: renkei_session=" + c.cookie, "X-CSRF-Token: " + c.csrf,
                  "Content-Type: " + content_type},
                 body);
}

std::string form_post(const std::string& path, const std::string& body,
                      std::vector<std::string> extra = {}) {
  extra.push_back("Content-Type: application/x-www-form-urlencoded");
  return request("POST", path, extra, body);
}

std::string account_get(const Ctx& c, const std::string& target) {
  return request("GET", target, {"Authorization: Bearer " + c.access_token});
}

// A signed telephony webhook call (docs/http-api.md) at the server's time.
std::string webhook(const std::string& body, UnixSeconds at) {
  std::string ts = std::to_string(at);
  return request(
      "POST", "/telephony/calls",
      {"Content-Type: application/json", "X-Renkei-Timestamp: " + ts,
       "X-Renkei-Signature: sha256=" + hmac_sha256_hex(kTestWebhookSecret, ts + "." + body)},
      body);
}
std::string webhook_with(
    const std::string& ts, const std::string& signature,
    const std::string& body = R"({"call_id":"h1","caller":null,"dialled":"0120000001"})") {
  std::vector<std::string> h = {"Content-Type: application/json"};
  if (!ts.empty()) h.push_back("X-Renkei-Timestamp: " + ts);
  if (!signature.empty()) h.push_back("X-Renkei-Signature: " + signature);
  return request("POST", "/telephony/calls", h, body);
}

std::string authorize_query(const std::string& extra_or_override) {
  return "/authorize?" + extra_or_override;
}
const std::string kGoodAuthorize =
    "response_type=code&client_id=demo-app&redirect_uri=http%3A%2F%2F127.0.0.1%3A9%2Fcallback"
    "&code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM&code_challenge_method=S256";

std::string nested(std::size_t depth, const std::string& open, const std::string& close,
                   const std::string& inner) {
  std::string s;
  s.reserve(depth * (open.size() + close.size()) + inner.size());
  for (std::size_t i = 0; i < depth; ++i) s += open;
  s += inner;
  for (std::size_t i = 0; i < depth; ++i) s += close;
  return s;
}

// ---------------------------------------------------------------------------
// The catalog.

// Where a row's flow must be before its request (a fresh flow per row).
enum class Setup { none, account_entry, customer_entry, pin_entry, consent };

struct Row {
  const char* name;
  Setup setup;
  std::function<std::string(const Ctx&, TestServer&)> make;
  int status;
  const char* code;  // "" = no JSON error code expected (a redirect)
  std::function<void(const RawReply&)> check = {};
};

const json kAccount = {
    {"branch", "115"}, {"account_type", "ordinary"}, {"account_number", "1100026"}};

std::string account_with(const std::string& key, const json& value) {
  json j = kAccount;
  j[key] = value;
  return j.dump();
}
std::string customer_field(const std::string& key, const json& value) {
  json j = demo_customer();
  j[key] = value;
  return j.dump();
}

// The redirect's query must name `error` and hold no raw CR or LF anywhere.
std::function<void(const RawReply&)> redirect_error(const std::string& error) {
  return [error](const RawReply& r) {
    std::string location = header_value(r, "Location");
    EXPECT_NE(location.find("error=" + error), std::string::npos) << location;
    EXPECT_EQ(r.head.find("Injected"), std::string::npos) << r.head;
  };
}

// Nothing from outside the served folders.
void not_leaked(const RawReply& r) {
  EXPECT_EQ(r.body.find("cmake_minimum_required"), std::string::npos);
  EXPECT_EQ(r.body.find("root:"), std::string::npos);
  EXPECT_EQ(r.body.find("#include"), std::string::npos);
}

std::vector<Row> catalog() {
  using S = Setup;
  std::vector<Row> rows = {
      // ---- sizes and truncation ----
      {"declared_body_over_limit", S::account_entry,
       [](const Ctx& c, TestServer&) {
         return request("POST", "/api/flow/account",
                        {"Cookie: renkei_session=" + c.cookie, "X-CSRF-Token: " + c.csrf,
                         "Content-Type: application/json", "Content-Length: 1000000000"},
                        "{}", false);
       },
       413, "bad_request"},
      {"body_over_limit", S::account_entry,
       [](const Ctx& c, TestServer&) {
         return flow_post(c, "/api/flow/account", account_with("branch", std::string(20000, '1')));
       },
       413, "bad_request"},
      {"content_length_larger_than_body_then_close", S::account_entry,
       [](const Ctx& c, TestServer&) {
         return request("POST", "/api/flow/account",
                        {"Cookie: renkei_session=" + c.cookie, "X-CSRF-Token: " + c.csrf,
                         "Content-Type: application/json", "Content-Length: 500"},
                        R"({"branch":"115")", false);
       },
       400, "bad_request"},
      {"chunked_body_truncated_then_close", S::account_entry,
       [](const Ctx& c, TestServer&) {
         return request("POST", "/api/flow/account",
                        {"Cookie: renkei_session=" + c.cookie, "X-CSRF-Token: " + c.csrf,
                         "Content-Type: application/json", "Transfer-Encoding: chunked"},
                        "40\r\n{\"branch\":", false);
       },
       400, "bad_request"},
      {"chunk_size_not_hex", S::account_entry,
       [](const Ctx& c, TestServer&) {
         return request("POST", "/api/flow/account",
                        {"Cookie: renkei_session=" + c.cookie, "X-CSRF-Token: " + c.csrf,
                         "Content-Type: application/json", "Transfer-Encoding: chunked"},
                        "zz\r\n{}\r\n0\r\n\r\n", false);
       },
       400, "bad_request"},
      {"content_length_negative", S::none,
       [](const Ctx&, TestServer&) {
         return request("POST", "/token", {"Content-Length: -5"}, "", false);
       },
       400, "invalid_request"},
      {"content_length_not_a_number", S::none,
       [](const Ctx&, TestServer&) {
         return request("POST", "/token", {"Content-Length: 12abc"}, "grant_type=x", false);
       },
       400, "invalid_request"},
      // ---- encodings, NUL bytes ----
      {"invalid_utf8_in_json_string", S::account_entry,
       [](const Ctx& c, TestServer&) {
         return flow_post(
             c, "/api/flow/account",
             "{\"branch\":\"\xff\xfe\",\"account_type\":\"ordinary\",\"account_number\":\"1\"}");
       },
       400, "bad_request"},
      {"overlong_utf8_in_json_string", S::account_entry,
       [](const Ctx& c, TestServer&) {
         return flow_post(
             c, "/api/flow/account",
             "{\"branch\":\"\xc0\xaf\",\"account_type\":\"ordinary\",\"account_number\":\"1\"}");
       },
       400, "bad_request"},
      {"lone_surrogate_escape_in_json", S::account_entry,
       [](const Ctx& c, TestServer&) {
         return flow_post(c, "/api/flow/account",
                          R"({"branch":"\ud800","account_type":"ordinary","account_number":"1"})");
       },
       400, "bad_request"},
      {"escaped_nul_in_json_string", S::account_entry,
       [](const Ctx& c, TestServer&) {
         return flow_post(
             c, "/api/flow/account",
             R"({"branch":"1\u00005","account_type":"ordinary","account_number":"1"})");
       },
       400, "invalid_input"},
      {"raw_nul_in_json_body", S::account_entry,
       [](const Ctx& c, TestServer&) {
         return flow_post(c, "/api/flow/account", std::string("{\"branch\":\"1\0\",", 14) + "}");
       },
       400, "bad_request"},
      {"invalid_utf8_in_path", S::none,
       [](const Ctx&, TestServer&) { return request("GET", "/api/flow%ff%fe"); }, 404, "not_found"},
      {"invalid_utf8_in_query", S::none,
       [](const Ctx&, TestServer&) {
         return request("GET", "/authorize?client_id=%ff%fe&redirect_uri=%c0%af");
       },
       400, "bad_request"},
      {"nul_in_path", S::none,
       [](const Ctx&, TestServer&) {
         return std::string(
             "GET /api/flow\0/x HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
             65);
       },
       400, "bad_request"},
      // Found by review (issue 12): a DNS-rebinding page names its own domain in
      // Host; with the published development admin token it could drive the
      // admin API of a developer's server.
      {"foreign_host_dns_rebinding", S::none,
       [](const Ctx&, TestServer&) {
         return std::string(
             "GET /admin/api/status HTTP/1.1\r\nHost: rebind.example:8080\r\n"
             "Authorization: Bearer test-admin-token\r\nConnection: close\r\n\r\n");
       },
       403, "forbidden"},
      {"nul_in_header_value", S::account_entry,
       [](const Ctx& c, TestServer&) {
         return request("POST", "/api/flow/account",
                        {"Cookie: renkei_session=" + c.cookie,
                         std::string("X-CSRF-Token: ") + std::string("a\0b", 3) + c.csrf,
                         "Content-Type: application/json"},
                        kAccount.dump());
       },
       400, "bad_request"},
      // ---- JSON shape ----
      {"json_nested_100000_deep", S::account_entry,
       [](const Ctx& c, TestServer&) {
         return flow_post(c, "/api/flow/account", nested(100000, "[", "]", ""));
       },
       413, "bad_request"},
      {"json_nested_5000_deep_under_size_limit", S::account_entry,
       [](const Ctx& c, TestServer&) {
         return flow_post(c, "/api/flow/account",
                          "{\"branch\":" + nested(5000, "[", "]", "1") + "}");
       },
       400, "bad_request"},
      {"json_objects_nested_2000_deep", S::account_entry,
       [](const Ctx& c, TestServer&) {
         return flow_post(c, "/api/flow/account", nested(2000, "{\"a\":", "}", "1"));
       },
       400, "bad_request"},
      {"json_body_is_array", S::account_entry,
       [](const Ctx& c, TestServer&) { return flow_post(c, "/api/flow/account", "[]"); }, 400,
       "bad_request"},
      {"json_trailing_garbage", S::account_entry,
       [](const Ctx& c, TestServer&) {
         return flow_post(c, "/api/flow/account", kAccount.dump() + "x");
       },
       400, "bad_request"},
      {"json_duplicate_keys", S::account_entry,
       [](const Ctx& c, TestServer&) {
         return flow_post(
             c, "/api/flow/account",
             R"({"branch":"115","branch":"999","account_type":"ordinary","account_number":"1100026"})");
       },
       400, "bad_request"},
      {"json_huge_number", S::account_entry,
       [](const Ctx& c, TestServer&) {
         return flow_post(
             c, "/api/flow/account",
             "{\"branch\":1e999999,\"account_type\":\"ordinary\",\"account_number\":\"1\"}");
       },
       400, "bad_request"},
      {"json_huge_integer", S::account_entry,
       [](const Ctx& c, TestServer&) {
         return flow_post(c, "/api/flow/account",
                          "{\"branch\":" + std::string(400, '9') +
                              ",\"account_type\":\"ordinary\",\"account_number\":\"1\"}");
       },
       400, "bad_request"},
      {"content_type_text_plain", S::account_entry,
       [](const Ctx& c, TestServer&) {
         return flow_post(c, "/api/flow/account", kAccount.dump(), "text/plain");
       },
       400, "bad_request"},
      {"content_type_charset_shift_jis", S::account_entry,
       [](const Ctx& c, TestServer&) {
         return flow_post(c, "/api/flow/account", kAccount.dump(),
                          "application/json; charset=shift_jis");
       },
       400, "bad_request"},
      // ---- wrong types, every field of every flow endpoint ----
      {"account_branch_number", S::account_entry,
       [](const Ctx& c, TestServer&) {
         return flow_post(c, "/api/flow/account", account_with("branch", 115));
       },
       400, "bad_request"},
      {"account_type_null", S::account_entry,
       [](const Ctx& c, TestServer&) {
         return flow_post(c, "/api/flow/account", account_with("account_type", nullptr));
       },
       400, "bad_request"},
      {"account_number_array", S::account_entry,
       [](const Ctx& c, TestServer&) {
         return flow_post(c, "/api/flow/account", account_with("account_number", json::array({1})));
       },
       400, "bad_request"},
      {"customer_name_object", S::customer_entry,
       [](const Ctx& c, TestServer&) {
         return flow_post(c, "/api/flow/customer", customer_field("name_kana", json::object()));
       },
       400, "bad_request"},
      {"customer_birth_year_number", S::customer_entry,
       [](const Ctx& c, TestServer&) {
         return flow_post(c, "/api/flow/customer", customer_field("birth_year", 1980));
       },
       400, "bad_request"},
      {"customer_birth_month_bool", S::customer_entry,
       [](const Ctx& c, TestServer&) {
         return flow_post(c, "/api/flow/customer", customer_field("birth_month", true));
       },
       400, "bad_request"},
      {"customer_birth_day_float", S::customer_entry,
       [](const Ctx& c, TestServer&) {
         return flow_post(c, "/api/flow/customer", customer_field("birth_day", 1.5));
       },
       400, "bad_request"},
      {"customer_phone_number", S::customer_entry,
       [](const Ctx& c, TestServer&) {
         return flow_post(c, "/api/flow/customer", customer_field("phone", 9011113333LL));
       },
       400, "bad_request"},
      {"customer_email_array", S::customer_entry,
       [](const Ctx& c, TestServer&) {
         return flow_post(c, "/api/flow/customer", customer_field("email", json::array()));
       },
       400, "bad_request"},
      {"customer_email_confirm_null", S::customer_entry,
       [](const Ctx& c, TestServer&) {
         return flow_post(c, "/api/flow/customer", customer_field("email_confirm", nullptr));
       },
       400, "bad_request"},
      {"pin_number", S::pin_entry,
       [](const Ctx& c, TestServer&) { return flow_post(c, "/api/flow/pin", R"({"pin":1234})"); },
       400, "bad_request"},
      {"consent_string", S::consent,
       [](const Ctx& c, TestServer&) {
         return flow_post(c, "/api/flow/consent", R"({"consent":"true"})");
       },
       400, "bad_request"},
      {"consent_number", S::consent,
       [](const Ctx& c, TestServer&) {
         return flow_post(c, "/api/flow/consent", R"({"consent":1})");
       },
       400, "bad_request"},
      {"phone_body_array", S::customer_entry,
       [](const Ctx& c, TestServer&) { return flow_post(c, "/api/flow/phone", "[1]"); }, 400,
       "bad_request"},
      {"cancel_body_string", S::account_entry,
       [](const Ctx& c, TestServer&) { return flow_post(c, "/api/flow/cancel", "\"x\""); }, 400,
       "bad_request"},
      {"leave_without_reason", S::account_entry,
       [](const Ctx& c, TestServer&) { return flow_post(c, "/api/flow/leave", "{}"); }, 400,
       "bad_request"},
      {"leave_unknown_reason", S::account_entry,
       [](const Ctx& c, TestServer&) {
         return flow_post(c, "/api/flow/leave", R"({"reason":"access_denied"})");
       },
       400, "bad_request"},
      {"leave_reason_array", S::account_entry,
       [](const Ctx& c, TestServer&) {
         return flow_post(c, "/api/flow/leave", R"({"reason":["busy"]})");
       },
       400, "bad_request"},
      {"leave_redirect_uri_injected_is_ignored", S::account_entry,
       [](const Ctx& c, TestServer&) {
         return flow_post(c, "/api/flow/leave",
                          R"({"reason":"busy","redirect_uri":"https://attacker.example/"})");
       },
       200, "",
       [](const RawReply& r) {
         EXPECT_EQ(r.body.find("attacker"), std::string::npos) << r.body;
         EXPECT_NE(r.body.find("error=temporarily_unavailable"), std::string::npos) << r.body;
       }},
      // ---- session, CSRF, origin ----
      {"flow_post_without_csrf", S::account_entry,
       [](const Ctx& c, TestServer&) {
         return request("POST", "/api/flow/account",
                        {"Cookie: renkei_session=" + c.cookie, "Content-Type: application/json"},
                        kAccount.dump());
       },
       403, "forbidden"},
      {"flow_post_foreign_origin", S::account_entry,
       [](const Ctx& c, TestServer&) {
         return request("POST", "/api/flow/account",
                        {"Cookie: renkei_session=" + c.cookie, "X-CSRF-Token: " + c.csrf,
                         "Origin: https://evil.example", "Content-Type: application/json"},
                        kAccount.dump());
       },
       403, "forbidden"},
      {"unknown_session_cookie", S::none,
       [](const Ctx&, TestServer&) {
         return request("GET", "/api/flow", {"Cookie: renkei_session=" + std::string(43, 'A')});
       },
       410, "session_expired"},
      // A head over 64 KiB (kMaxHeadBytes): 431 (RFC 6585 §5), at once.
      {"ten_thousand_cookie_headers", S::none,
       [](const Ctx&, TestServer&) {
         std::vector<std::string> h;
         for (int i = 0; i < 10000; ++i) h.push_back("Cookie: c" + std::to_string(i) + "=v");
         return request("GET", "/api/flow", h);
       },
       431, "bad_request"},
      {"ten_thousand_cookies_in_one_header", S::none,
       [](const Ctx&, TestServer&) {
         std::string v;
         for (int i = 0; i < 10000; ++i) v += "c" + std::to_string(i) + "=v; ";
         return request("GET", "/api/flow", {"Cookie: " + v});
       },
       431, "bad_request"},
      {"cookie_header_100_kb", S::none,
       [](const Ctx&, TestServer&) {
         return request("GET", "/api/flow",
                        {"Cookie: renkei_session=" + std::string(100 * 1024, 'x')});
       },
       431, "bad_request"},
      {"header_1_mb", S::none,
       [](const Ctx&, TestServer&) {
         return request("GET", "/healthz", {"X-Big: " + std::string(1024 * 1024, 'x')});
       },
       431, "bad_request"},
      // ---- request lines and methods ----
      {"unknown_method", S::none,
       [](const Ctx&, TestServer&) { return request("BREW", "/api/flow"); }, 400, "bad_request"},
      {"lowercase_method", S::none,
       [](const Ctx&, TestServer&) { return request("get", "/api/flow"); }, 400, "bad_request"},
      {"http_0_9_request_line", S::none,
       [](const Ctx&, TestServer&) { return std::string("GET /healthz\r\n\r\n"); }, 400,
       "bad_request"},
      {"http_2_version", S::none,
       [](const Ctx&, TestServer&) { return std::string("GET /healthz HTTP/2.0\r\n\r\n"); }, 400,
       "bad_request"},
      {"garbage_request_line", S::none,
       [](const Ctx&, TestServer&) {
         return std::string("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n", 15);
       },
       400, "bad_request"},
      {"uri_longer_than_limit", S::none,
       [](const Ctx&, TestServer&) {
         return request("GET", "/api/flow?" + std::string(20000, 'a'));
       },
       414, "bad_request"},
      {"header_line_over_8_kb", S::none,
       [](const Ctx&, TestServer&) {
         return request("GET", "/api/flow", {"X-Long: " + std::string(9000, 'a')});
       },
       431, "bad_request"},
      {"bare_cr_in_header_value", S::none,
       [](const Ctx&, TestServer&) {
         return request("GET", "/api/flow", {"Cookie: renkei_session=a\rInjected: yes"});
       },
       400, "bad_request"},
      {"trace_method", S::none,
       [](const Ctx&, TestServer&) { return request("TRACE", "/api/flow"); }, 400, "bad_request"},
      {"delete_on_flow", S::none,
       [](const Ctx&, TestServer&) { return request("DELETE", "/api/flow"); }, 405,
       "method_not_allowed"},
      // ---- static files: path traversal ----
      {"static_dot_dot", S::none,
       [](const Ctx&, TestServer&) { return request("GET", "/static/../../CMakeLists.txt"); }, 400,
       "bad_request", not_leaked},
      {"static_encoded_dot_dot", S::none,
       [](const Ctx&, TestServer&) {
         return request("GET", "/static/%2e%2e/%2e%2e/CMakeLists.txt");
       },
       400, "bad_request", not_leaked},
      {"static_double_encoded_dot_dot", S::none,
       [](const Ctx&, TestServer&) {
         return request("GET", "/static/%252e%252e/%252e%252e/CMakeLists.txt");
       },
       400, "bad_request", not_leaked},
      {"static_encoded_backslashes", S::none,
       [](const Ctx&, TestServer&) { return request("GET", "/static/..%5c..%5cCMakeLists.txt"); },
       400, "bad_request", not_leaked},
      {"static_raw_backslashes", S::none,
       [](const Ctx&, TestServer&) { return request("GET", "/flow/..\\..\\CMakeLists.txt"); }, 400,
       "bad_request", not_leaked},
      {"static_encoded_nul", S::none,
       [](const Ctx&, TestServer&) { return request("GET", "/static/flow.js%00.png"); }, 400,
       "bad_request", not_leaked},
      {"static_overlong_slash", S::none,
       [](const Ctx&, TestServer&) {
         return request("GET", "/static/..%c0%af..%c0%afCMakeLists.txt");
       },
       400, "bad_request", not_leaked},
      {"static_absolute_path", S::none,
       [](const Ctx&, TestServer&) { return request("GET", "/static//etc/passwd"); }, 400,
       "bad_request", not_leaked},
      {"flow_dot_dot_into_sources", S::none,
       [](const Ctx&, TestServer&) { return request("GET", "/flow/../../server/src/main.cpp"); },
       400, "bad_request", not_leaked},
      {"wasm_dot_dot", S::none,
       [](const Ctx&, TestServer&) {
         return request("GET", "/static/wasm/%2e%2e/%2e%2e/CMakeLists.txt");
       },
       400, "bad_request", not_leaked},
      {"demo_encoded_dot_dot", S::none,
       [](const Ctx&, TestServer&) { return request("GET", "/demo/%2e%2e/%2e%2e/CMakeLists.txt"); },
       400, "bad_request", not_leaked},
      // ---- /authorize ----
      {"authorize_no_params", S::none,
       [](const Ctx&, TestServer&) { return request("GET", "/authorize"); }, 400, "bad_request"},
      {"authorize_unknown_client", S::none,
       [](const Ctx&, TestServer&) {
         return request("GET",
                        authorize_query(
                            "client_id=nobody&redirect_uri=http%3A%2F%2F127.0.0.1%3A9%2Fcallback"));
       },
       400, "bad_request"},
      {"authorize_unregistered_redirect", S::none,
       [](const Ctx&, TestServer&) {
         return request(
             "GET", authorize_query(
                        "client_id=demo-app&redirect_uri=https%3A%2F%2Fevil.example%2F&state=s"));
       },
       400, "bad_request", [](const RawReply& r) { EXPECT_EQ(header_value(r, "Location"), ""); }},
      {"authorize_duplicate_client_id", S::none,
       [](const Ctx&, TestServer&) {
         return request("GET", authorize_query(kGoodAuthorize + "&state=s&client_id=conf-app"));
       },
       400, "bad_request"},
      {"authorize_duplicate_redirect_uri", S::none,
       [](const Ctx&, TestServer&) {
         return request("GET",
                        authorize_query(kGoodAuthorize +
                                        "&state=s&redirect_uri=https%3A%2F%2Fevil.example%2F"));
       },
       400, "bad_request", [](const RawReply& r) { EXPECT_EQ(header_value(r, "Location"), ""); }},
      {"authorize_duplicate_state", S::none,
       [](const Ctx&, TestServer&) {
         return request("GET", authorize_query(kGoodAuthorize + "&state=a&state=b"));
       },
       302, "", redirect_error("invalid_request")},
      {"authorize_missing_state", S::none,
       [](const Ctx&, TestServer&) { return request("GET", authorize_query(kGoodAuthorize)); }, 302,
       "", redirect_error("invalid_request")},
      {"authorize_missing_challenge", S::none,
       [](const Ctx&, TestServer&) {
         return request(
             "GET",
             authorize_query("response_type=code&client_id=demo-app&redirect_uri=http%3A%2F%2F127."
                             "0.0.1%3A9%2Fcallback&state=s&code_challenge_method=S256"));
       },
       302, "", redirect_error("invalid_request")},
      {"authorize_plain_challenge_method", S::none,
       [](const Ctx&, TestServer&) {
         return request(
             "GET", authorize_query(
                        "response_type=code&client_id=demo-app&redirect_uri=http%3A%2F%2F127.0.0.1%"
                        "3A9%2Fcallback&state=s&code_challenge=abc&code_challenge_method=plain"));
       },
       302, "", redirect_error("invalid_request")},
      {"authorize_response_type_token", S::none,
       [](const Ctx&, TestServer&) {
         std::string q = kGoodAuthorize;
         q.replace(q.find("response_type=code"), 18, "response_type=token");
         return request("GET", authorize_query(q + "&state=s"));
       },
       302, "", redirect_error("unsupported_response_type")},
      {"authorize_state_with_crlf_not_reflected", S::none,
       [](const Ctx&, TestServer&) {
         return request(
             "GET", authorize_query(
                        "response_type=code&client_id=demo-app&redirect_uri=http%3A%2F%2F127.0.0.1%"
                        "3A9%2Fcallback&code_challenge_method=S256&state=a%0d%0aInjected:%20yes"));
       },
       302, "", redirect_error("invalid_request")},
      {"flow_redirect_with_crlf_query_not_reflected", S::none,
       [](const Ctx&, TestServer&) { return request("GET", "/flow?error=x%0d%0aInjected:%20yes"); },
       301, "",
       [](const RawReply& r) {
         EXPECT_EQ(r.head.find("\r\nInjected"), std::string::npos) << r.head;
         EXPECT_EQ(header_value(r, "Location").find('\r'), std::string::npos);
       }},
      // ---- /token ----
      {"token_no_grant_type", S::none,
       [](const Ctx&, TestServer&) { return form_post("/token", "client_id=demo-app"); }, 400,
       "invalid_request"},
      {"token_grant_password", S::none,
       [](const Ctx&, TestServer&) {
         return form_post("/token", "grant_type=password&username=a&password=b&client_id=demo-app");
       },
       400, "unsupported_grant_type"},
      {"token_grant_client_credentials", S::none,
       [](const Ctx&, TestServer&) {
         return form_post(
             "/token",
             "grant_type=client_credentials&client_id=conf-app&client_secret=conf-app-secret");
       },
       400, "unsupported_grant_type"},
      {"token_duplicate_grant_type", S::none,
       [](const Ctx&, TestServer&) {
         return form_post(
             "/token", "grant_type=authorization_code&grant_type=refresh_token&client_id=demo-app");
       },
       400, "invalid_request"},
      {"token_code_missing", S::none,
       [](const Ctx&, TestServer&) {
         return form_post(
             "/token",
             "grant_type=authorization_code&client_id=demo-app&redirect_uri=x&code_verifier=" +
                 std::string(43, 'a'));
       },
       400, "invalid_request"},
      {"token_unknown_code", S::none,
       [](const Ctx&, TestServer&) {
         return form_post("/token",
                          "grant_type=authorization_code&client_id=demo-app&code=nope&redirect_uri="
                          "http%3A%2F%2F127.0.0.1%3A9%2Fcallback&code_verifier=" +
                              std::string(43, 'a'));
       },
       400, "invalid_grant"},
      {"token_verifier_too_short", S::none,
       [](const Ctx&, TestServer&) {
         return form_post("/token",
                          "grant_type=authorization_code&client_id=demo-app&code=nope&redirect_uri="
                          "x&code_verifier=abc");
       },
       400, "invalid_request"},
      {"token_unknown_refresh_token", S::none,
       [](const Ctx&, TestServer&) {
         return form_post("/token",
                          "grant_type=refresh_token&client_id=demo-app&refresh_token=nope");
       },
       400, "invalid_grant"},
      {"token_json_body", S::none,
       [](const Ctx&, TestServer&) {
         return request("POST", "/token", {"Content-Type: application/json"},
                        R"({"grant_type":"authorization_code"})");
       },
       400, "invalid_request"},
      {"token_malformed_basic", S::none,
       [](const Ctx&, TestServer&) {
         return form_post("/token", "grant_type=refresh_token&refresh_token=x",
                          {"Authorization: Basic !!!"});
       },
       401, "invalid_client"},
      {"token_unknown_client", S::none,
       [](const Ctx&, TestServer&) {
         return form_post("/token", "grant_type=refresh_token&refresh_token=x&client_id=nobody");
       },
       401, "invalid_client"},
      {"token_two_authorization_headers", S::none,
       [](const Ctx&, TestServer&) {
         return form_post(
             "/token", "grant_type=refresh_token&refresh_token=x",
             {"Authorization: Basic Y29uZi1hcHA6eA==", "Authorization: Basic Y29uZi1hcHA6eQ=="});
       },
       400, "invalid_request"},
      {"token_bad_percent_encoding", S::none,
       [](const Ctx&, TestServer&) {
         return form_post("/token", "grant_type=refresh_%zz&client_id=demo-app%");
       },
       401, "invalid_client"},
      // ---- telephony webhook signatures ----
      {"webhook_no_signature", S::none,
       [](const Ctx&, TestServer& ts) {
         return webhook_with(std::to_string(ts.clock().now()), "");
       },
       401, "unauthorized"},
      {"webhook_no_timestamp", S::none,
       [](const Ctx&, TestServer&) { return webhook_with("", "sha256=00"); }, 401, "unauthorized"},
      {"webhook_empty_signature", S::none,
       [](const Ctx&, TestServer& ts) {
         return webhook_with(std::to_string(ts.clock().now()), "sha256=");
       },
       401, "unauthorized"},
      {"webhook_wrong_scheme", S::none,
       [](const Ctx&, TestServer& ts) {
         return webhook_with(std::to_string(ts.clock().now()),
                             "md5=d41d8cd98f00b204e9800998ecf8427e");
       },
       401, "unauthorized"},
      {"webhook_signature_not_hex", S::none,
       [](const Ctx&, TestServer& ts) {
         return webhook_with(std::to_string(ts.clock().now()), "sha256=" + std::string(64, 'z'));
       },
       401, "unauthorized"},
      {"webhook_timestamp_not_a_number", S::none,
       [](const Ctx&, TestServer&) {
         return webhook_with("12abc", "sha256=" + std::string(64, '0'));
       },
       401, "unauthorized"},
      {"webhook_timestamp_overflows", S::none,
       [](const Ctx&, TestServer&) {
         std::string ts(40, '9');
         return webhook_with(ts, "sha256=" + hmac_sha256_hex(kTestWebhookSecret, ts + ".{}"), "{}");
       },
       401, "unauthorized"},
      {"webhook_timestamp_negative", S::none,
       [](const Ctx&, TestServer&) {
         std::string ts = "-9223372036854775808";
         return webhook_with(ts, "sha256=" + hmac_sha256_hex(kTestWebhookSecret, ts + ".{}"), "{}");
       },
       401, "unauthorized"},
      {"webhook_stale_timestamp", S::none,
       [](const Ctx&, TestServer& ts) { return webhook("{}", ts.clock().now() - 3600); }, 401,
       "unauthorized"},
      {"webhook_signed_body_not_json", S::none,
       [](const Ctx&, TestServer& ts) { return webhook("not json", ts.clock().now()); }, 400,
       "bad_request"},
      {"webhook_signed_wrong_types", S::none,
       [](const Ctx&, TestServer& ts) {
         return webhook(R"({"call_id":5,"caller":[],"dialled":{}})", ts.clock().now());
       },
       400, "bad_request"},
      // ---- account API ----
      {"account_api_garbage_bearer", S::none,
       [](const Ctx&, TestServer&) {
         return request("GET", "/api/v1/account", {"Authorization: Bearer \x01\x02garbage"});
       },
       401, "unauthorized"},
      {"account_api_empty_bearer", S::none,
       [](const Ctx&, TestServer&) {
         return request("GET", "/api/v1/account", {"Authorization: Bearer "});
       },
       401, "unauthorized"},
      {"transactions_huge_limit", S::none,
       [](const Ctx& c, TestServer&) {
         return account_get(c, "/api/v1/account/transactions?limit=" + std::string(30, '9'));
       },
       400, "bad_request"},
      {"transactions_no_such_day", S::none,
       [](const Ctx& c, TestServer&) {
         return account_get(c, "/api/v1/account/transactions?from=2026-02-30&to=2026-11-25");
       },
       400, "bad_request"},
      {"transactions_garbage_cursor", S::none,
       [](const Ctx& c, TestServer&) {
         return account_get(c, "/api/v1/account/transactions?cursor=%ff%00' OR 1=1--");
       },
       400, "bad_request"},
      {"admin_wrong_token", S::none,
       [](const Ctx&, TestServer&) {
         return request("GET", "/admin/api/status", {"Authorization: Bearer wrong"});
       },
       401, "unauthorized"},
  };
  return rows;
}

class HostileRequests : public ::testing::Test {
 protected:
  TestServer server_;
};

TEST_F(HostileRequests, CatalogAnsweredWith4xxAndServerStaysHealthy) {
  std::vector<Row> rows = catalog();
  ASSERT_GE(rows.size(), 50u);
  std::printf("hostile catalog: %zu requests\n", rows.size());
  Ctx base;
  base.access_token = demo_tokens(server_).access;
  for (const Row& row : rows) {
    SCOPED_TRACE(row.name);
    Ctx ctx = base;
    std::optional<FlowClient> flow;
    if (row.setup != Setup::none) {
      flow.emplace(server_);
      switch (row.setup) {
        case Setup::customer_entry:
          ASSERT_NO_FATAL_FAILURE(flow->to_customer_entry());
          break;
        case Setup::pin_entry:
          ASSERT_NO_FATAL_FAILURE(flow->to_pin_entry());
          break;
        case Setup::consent:
          ASSERT_NO_FATAL_FAILURE(flow->to_consent());
          break;
        default:
          break;
      }
      ctx.cookie = flow->cookie();
      ctx.csrf = flow->csrf();
    }
    RawReply r = exchange(server_.port(), row.make(ctx, server_));
    EXPECT_FALSE(r.timed_out);
    EXPECT_EQ(r.status, row.status) << r.head << "\n" << r.body.substr(0, 300);
    EXPECT_EQ(error_code(r), row.code) << r.body.substr(0, 300);
    EXPECT_LT(r.status, 500);
    if (row.check) row.check(r);
  }

  // Afterwards: healthy, and a normal flow still works step by step.
  RawReply health = exchange(server_.port(), request("GET", "/healthz"));
  EXPECT_EQ(health.status, 200);
  EXPECT_NE(health.body.find("\"ok\""), std::string::npos);
  FlowClient flow(server_);
  ASSERT_NO_FATAL_FAILURE(flow.to_consent());
  Answer done = flow.post("/api/flow/consent", {{"consent", true}});
  EXPECT_EQ(done.status, 200) << done.body.dump();
  EXPECT_EQ(done.screen(), "completed");
}

// A client that sends one byte every 100 ms holds a worker, never the server:
// a normal request made meanwhile completes at once.
TEST_F(HostileRequests, SlowClientDoesNotBlockOthers) {
  const std::string slow_request = request("GET", "/healthz", {"X-Slow: 1"});
  std::atomic<bool> slow_done{false};
  RawReply slow;
  std::thread slow_client([&] {
    slow = exchange(server_.port(), slow_request, false, 20000ms, 1, 100ms);
    slow_done = true;
  });
  std::this_thread::sleep_for(300ms);
  for (int i = 0; i < 5; ++i) {
    auto start = std::chrono::steady_clock::now();
    RawReply fast = exchange(server_.port(), request("GET", "/healthz"));
    auto took = std::chrono::steady_clock::now() - start;
    EXPECT_EQ(fast.status, 200);
    EXPECT_LT(took, 1s);
  }
  EXPECT_FALSE(slow_done.load()) << "the slow client should still be sending";
  slow_client.join();
  EXPECT_EQ(slow.status, 200);
}

// Found by the hostile-input sweep: a client trickling its request (each
// byte within the 10 s read timeout) held its worker for as long as it kept
// trickling; 66 of them froze the server. A request now has 10 s from its
// first byte to arrive whole; then its connection is closed.
// The request does not ask to close: the server closes the connection after
// its answer by itself (what was left of the request would otherwise be read
// as the next one, with another 10 s).
TEST_F(HostileRequests, ATrickledRequestIsCutOffAtItsDeadline) {
  const std::string padding(150, 'a');
  const std::string slow_request =
      "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: " + padding + "\r\n\r\n";
  ASSERT_GT(slow_request.size(), 150u);  // at 1 byte per 100 ms: over 15 s
  const auto start = std::chrono::steady_clock::now();
  RawReply slow = exchange(server_.port(), slow_request, false, 30000ms, 1, 100ms);
  const auto took = std::chrono::steady_clock::now() - start;
  EXPECT_FALSE(slow.timed_out);
  EXPECT_NE(slow.status, 200) << "the request must not be served";
  EXPECT_TRUE(slow.closed) << "the connection must be closed after the answer";
  EXPECT_EQ(header_value(slow, "Connection"), "close") << slow.head;
  EXPECT_LT(took, 14s) << "the connection is closed at the deadline, not at the request's end";
  EXPECT_EQ(exchange(server_.port(), request("GET", "/healthz")).status, 200);
}

// Found by the hostile-input sweep: an HTTP/1.1 request without Host, or one
// with two, was served. RFC 9112 §3.2 says 400; HTTP/1.0 may leave it out.
TEST_F(HostileRequests, AHostHeaderIsRequiredOnceInHttp11) {
  const RawReply none =
      exchange(server_.port(), "GET /healthz HTTP/1.1\r\nConnection: close\r\n\r\n");
  EXPECT_EQ(none.status, 400) << none.head;
  EXPECT_EQ(error_code(none), "bad_request") << none.body;
  const RawReply two = exchange(server_.port(), request("GET", "/healthz", {"Host: 127.0.0.1"}));
  EXPECT_EQ(two.status, 400) << two.head;
  EXPECT_EQ(error_code(two), "bad_request") << two.body;
  EXPECT_EQ(exchange(server_.port(), "GET /healthz HTTP/1.0\r\n\r\n").status, 200);
  EXPECT_EQ(exchange(server_.port(), request("GET", "/healthz")).status, 200);
}

// ---------------------------------------------------------------------------
// Request framing (RFC 9112 §6; server/src/http/framing.h). Found by the
// hostile-input sweep: each of these was answered only after the 10 s read
// deadline, or served with a body httplib made up.

// Sends `bytes` on one connection and reads until the server closes it (or
// `timeout`): everything it answered, and whether it closed.
struct Conversation {
  std::string in;
  bool closed = false;
  std::chrono::milliseconds took{0};
  int answers() const {
    int n = 0;
    for (std::size_t at = in.find("HTTP/1.1 "); at != std::string::npos;
         at = in.find("HTTP/1.1 ", at + 1)) {
      ++n;
    }
    return n;
  }
};
Conversation converse(int port, const std::string& bytes,
                      std::chrono::milliseconds timeout = 5000ms) {
  Conversation c;
  const auto start = std::chrono::steady_clock::now();
  int fd = connect_to(port);
  if (fd < 0) return c;
  (void)::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
  const auto deadline = start + timeout;
  char buf[65536];
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) break;
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) {
      c.closed = true;
      break;
    }
    c.in.append(buf, static_cast<std::size_t>(n));
  }
  ::close(fd);
  c.took = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() -
                                                                 start);
  return c;
}

// A request with the given header lines (no Connection: close, so that the
// server's closing is seen) and raw bytes after the head.
std::string framed(const std::string& method, const std::string& target,
                   const std::vector<std::string>& headers, const std::string& after_head = "") {
  std::string out = method + " " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\n";
  for (const std::string& h : headers) out += h + "\r\n";
  return out + "\r\n" + after_head;
}

struct FramingCase {
  const char* name;
  std::string bytes;
  int status;
  const char* code;
};

TEST_F(HostileRequests, BadFramingIsRefusedAtOnceAndTheConnectionClosed) {
  const std::string json = "Content-Type: application/json";
  const std::vector<FramingCase> cases = {
      {"content_length_negative",
       framed("POST", "/api/flow/account", {json, "Content-Length: -1"}, "{}"), 400, "bad_request"},
      {"content_length_plus",
       framed("POST", "/api/flow/account", {json, "Content-Length: +2"}, "{}"), 400, "bad_request"},
      {"content_length_exponent",
       framed("POST", "/api/flow/account", {json, "Content-Length: 1e3"}, "{}"), 400,
       "bad_request"},
      {"content_length_empty", framed("POST", "/api/flow/account", {json, "Content-Length:"}, "{}"),
       400, "bad_request"},
      {"content_length_two_numbers",
       framed("POST", "/api/flow/account", {json, "Content-Length:  2 2"}, "{}"), 400,
       "bad_request"},
      {"content_length_overflows",
       framed("POST", "/api/flow/account", {json, "Content-Length: 99999999999999999999999"}, "{}"),
       400, "bad_request"},
      {"content_lengths_differ",
       framed("POST", "/api/flow/account", {json, "Content-Length: 2", "Content-Length: 3"}, "{}x"),
       400, "bad_request"},
      {"content_length_and_chunked",
       framed("POST", "/api/flow/account",
              {json, "Content-Length: 7", "Transfer-Encoding: chunked"}, "2\r\n{}\r\n0\r\n\r\n"),
       400, "bad_request"},
      {"transfer_encoding_gzip",
       framed("POST", "/api/flow/account", {json, "Transfer-Encoding: gzip"}, "{}"), 501,
       "bad_request"},
      // httplib would inflate it into memory, past the payload limit.
      {"content_encoding_gzip",
       framed("POST", "/api/flow/account", {json, "Content-Encoding: gzip", "Content-Length: 2"},
              "{}"),
       415, "bad_request"},
      {"content_encoding_br_token",
       framed("POST", "/token",
              {"Content-Type: application/x-www-form-urlencoded", "Content-Encoding: br",
               "Content-Length: 1"},
              "x"),
       415, "invalid_request"},
      {"transfer_encoding_chunked_not_last",
       framed("POST", "/api/flow/account", {json, "Transfer-Encoding: chunked, gzip"},
              "2\r\n{}\r\n0\r\n\r\n"),
       501, "bad_request"},
      {"chunk_size_negative",
       framed("POST", "/api/flow/account", {json, "Transfer-Encoding: chunked"},
              "-2\r\n{}\r\n0\r\n\r\n"),
       400, "bad_request"},
      {"chunk_size_overflows",
       framed("POST", "/api/flow/account", {json, "Transfer-Encoding: chunked"},
              "fffffffffffffffffffff\r\n{}\r\n0\r\n\r\n"),
       400, "bad_request"},
      {"chunk_size_hex_prefix",
       framed("POST", "/api/flow/account", {json, "Transfer-Encoding: chunked"},
              "0x2\r\n{}\r\n0\r\n\r\n"),
       400, "bad_request"},
      {"chunk_longer_than_its_size",
       framed("POST", "/api/flow/account", {json, "Transfer-Encoding: chunked"},
              "1\r\n{}\r\n0\r\n\r\n"),
       400, "bad_request"},
      {"nul_in_header_value", framed("GET", "/healthz", {std::string("X-Note: a\0b", 11)}), 400,
       "bad_request"},
      {"bare_cr_in_header_value", framed("GET", "/healthz", {"X-Note: a\rb"}), 400, "bad_request"},
      {"space_before_colon",
       framed("POST", "/api/flow/account", {json, "Content-Length : 2"}, "{}"), 400, "bad_request"},
      {"obs_fold", framed("GET", "/healthz", {"X-Note: a", " folded"}), 400, "bad_request"},
      // httplib splits the request line on runs of spaces and trims each
      // part: " POST" was its POST but not framing's, so no body was
      // assumed and httplib read one until the 10 s deadline.
      {"request_line_leading_space", " " + framed("POST", "/api/flow/account", {json}), 400,
       "bad_request"},
      {"request_line_leading_tab", "\t" + framed("POST", "/api/flow/account", {json}), 400,
       "bad_request"},
      {"request_line_two_spaces", framed("POST", " /api/flow/account", {json}), 400, "bad_request"},
      {"request_line_trailing_space",
       "POST /api/flow/account HTTP/1.1 \r\nHost: 127.0.0.1\r\n" + json + "\r\n\r\n", 400,
       "bad_request"},
      {"request_line_bare_lf",
       "POST /api/flow/account HTTP/1.1\nHost: 127.0.0.1\r\n" + json + "\r\n\r\n", 400,
       "bad_request"},
      {"unknown_method", framed("BREW", "/healthz", {}), 400, "bad_request"},
      // RFC 9112 §6.1: an HTTP/1.0 message with Transfer-Encoding is faulty
      // framing (it was decoded, and kept its connection with Keep-Alive).
      {"chunked_in_http_1_0",
       "POST /healthz HTTP/1.0\r\nConnection: Keep-Alive\r\nTransfer-Encoding: chunked\r\n\r\n"
       "0\r\n\r\n",
       400, "bad_request"},
      // httplib answered a header line over 8 KiB 400 itself, and kept the
      // connection, the rest of the head unread.
      {"header_line_over_8_kb", framed("GET", "/healthz", {"X-Long: " + std::string(9000, 'a')}),
       431, "bad_request"},
      // A body declared over the limit where no route refuses it first:
      // httplib read (and dropped) it all, and answered 413 at the deadline.
      {"content_length_over_limit_on_healthz",
       framed("POST", "/healthz", {"Content-Length: 18446744073709551615"}), 413, "bad_request"},
      // Lines ending in bare LFs only: the head never ended for framing (no
      // CRLF CRLF), so it was answered at the read deadline.
      {"lines_ending_in_lf_only", "GET /healthz HTTP/1.1\nHost: 127.0.0.1\n\n", 400, "bad_request"},
      {"blank_line_bare_lf", "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\n", 400, "bad_request"},
      {"http_2_version", "GET /healthz HTTP/2.0\r\nHost: 127.0.0.1\r\n\r\n", 400, "bad_request"},
      // The OAuth endpoints answer in their own error form (RFC 6749 §5.2).
      {"token_content_length_exponent",
       framed("POST", "/token",
              {"Content-Type: application/x-www-form-urlencoded", "Content-Length: 1e1"},
              "grant_type=x"),
       400, "invalid_request"},
      {"par_transfer_encoding_gzip",
       framed("POST", "/par",
              {"Content-Type: application/x-www-form-urlencoded", "Transfer-Encoding: gzip"}, "x"),
       501, "invalid_request"},
  };
  for (const FramingCase& c : cases) {
    SCOPED_TRACE(c.name);
    // A second request after the first: never answered, the connection is
    // closed after the refusal (what follows a badly framed request cannot
    // be told from a next request).
    Conversation talk = converse(server_.port(), c.bytes + request("GET", "/healthz"));
    EXPECT_TRUE(talk.closed) << "the connection must be closed";
    EXPECT_LT(talk.took, 3s) << "answered at once, not at the read deadline";
    EXPECT_EQ(talk.answers(), 1) << talk.in.substr(0, 400);
    RawReply r = parse_reply(talk.in);
    EXPECT_EQ(r.status, c.status) << r.head;
    EXPECT_EQ(error_code(r), c.code) << r.body.substr(0, 300);
    EXPECT_NE(header_value(r, "X-Request-Id"), "") << "answered by the middleware";
    EXPECT_EQ(header_value(r, "Connection"), "close");
    EXPECT_EQ(r.head.find("Connection:"), r.head.rfind("Connection:")) << "said once";
  }
  // Alone, without the request after it (whose CRLF CRLF ended the head for
  // framing above): a head of lines ending in bare LFs only was answered at
  // the read deadline.
  for (const std::string lf_only : {"GET /healthz HTTP/1.1\nHost: 127.0.0.1\n\n",
                                    "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\n"}) {
    const Conversation talk = converse(server_.port(), lf_only);
    EXPECT_LT(talk.took, 3s) << "answered at once, not at the read deadline";
    EXPECT_TRUE(talk.closed);
    EXPECT_EQ(parse_reply(talk.in).status, 400) << talk.in.substr(0, 200);
  }
  EXPECT_EQ(exchange(server_.port(), request("GET", "/healthz")).status, 200);
}

// The statuses of the answers in `in`, in order.
std::vector<int> statuses(const std::string& in) {
  std::vector<int> out;
  for (std::size_t at = in.find("HTTP/1.1 "); at != std::string::npos;
       at = in.find("HTTP/1.1 ", at + 1)) {
    out.push_back(std::atoi(in.c_str() + at + 9));
  }
  return out;
}

// RFC 9112 §9.3.2: pipelined requests are answered in order. The bytes read
// beyond a request went with it, so a second request sent with the first was
// never answered and its client waited for it until the keep-alive timeout.
// Now framing says where each request ends; what follows is the next one,
// including after a body httplib does not read (a GET's, skipped), a body
// read by framing (chunked) and one read by httplib (Content-Length).
TEST_F(HostileRequests, PipelinedRequestsAreAnsweredInOrder) {
  const int port = server_.port();
  const Conversation two =
      converse(port, framed("GET", "/healthz", {}) + request("GET", "/no-such-page"));
  EXPECT_EQ(statuses(two.in), (std::vector<int>{200, 404})) << two.in.substr(0, 400);
  EXPECT_TRUE(two.closed);
  EXPECT_LT(two.took, 3s) << "answered at once, not at a timeout";

  // Empty lines before a request line are ignored (RFC 9112 §2.2).
  const Conversation blank_lines =
      converse(port, "\r\n\r\n" + framed("GET", "/healthz", {}) + request("GET", "/healthz"));
  EXPECT_EQ(statuses(blank_lines.in), (std::vector<int>{200, 200}))
      << blank_lines.in.substr(0, 400);

  const Conversation three = converse(
      port, framed("GET", "/healthz", {"Content-Length: 5"}, "hello") +
                framed("POST", "/healthz", {"Transfer-Encoding: chunked"}, "2\r\nab\r\n0\r\n\r\n") +
                framed("POST", "/healthz", {"Content-Length: 3"}, "abc") + "\r\n" +
                request("GET", "/healthz"));
  EXPECT_EQ(statuses(three.in), (std::vector<int>{200, 405, 405, 200})) << three.in.substr(0, 400);
  EXPECT_TRUE(three.closed);
  EXPECT_LT(three.took, 3s);

  // A GET's body is never read as a request: smuggling one in it fails.
  const std::string hidden = request("GET", "/no-such-page");
  const Conversation smuggled = converse(
      port,
      framed("GET", "/healthz", {"Content-Length: " + std::to_string(hidden.size())}, hidden) +
          request("GET", "/healthz"));
  EXPECT_EQ(statuses(smuggled.in), (std::vector<int>{200, 200})) << smuggled.in.substr(0, 400);
}

// A refused request (bad framing, a declared body over the limit) closes its
// connection after its answer: the requests after it are not answered.
TEST_F(HostileRequests, APipelinedRequestAfterARefusedOneIsNotAnswered) {
  const int port = server_.port();
  const Conversation bad_length =
      converse(port, framed("GET", "/healthz", {}) +
                         framed("POST", "/api/flow/account", {"Content-Length: +2"}, "{}") +
                         request("GET", "/healthz"));
  EXPECT_EQ(statuses(bad_length.in), (std::vector<int>{200, 400})) << bad_length.in.substr(0, 400);
  EXPECT_TRUE(bad_length.closed);
  EXPECT_LT(bad_length.took, 3s);

  const Conversation too_large =
      converse(port, framed("GET", "/healthz", {}) +
                         framed("POST", "/api/flow/account", {"Content-Length: 99999999"}, "{}") +
                         request("GET", "/healthz"));
  EXPECT_EQ(statuses(too_large.in), (std::vector<int>{200, 413})) << too_large.in.substr(0, 400);
  EXPECT_TRUE(too_large.closed);
  EXPECT_LT(too_large.took, 3s);
}

// Response::set_header adds: the declared-413 answer (and the busy ones) said
// "Connection: close" twice when the client had asked to close.
TEST_F(HostileRequests, AClosingAnswerSaysConnectionCloseOnce) {
  const RawReply r = exchange(server_.port(), request("POST", "/api/flow/account",
                                                      {"Content-Length: 99999999"}, "", false));
  EXPECT_EQ(r.status, 413) << r.head;
  EXPECT_EQ(header_value(r, "Connection"), "close") << r.head;
  EXPECT_EQ(r.head.find("Connection:"), r.head.rfind("Connection:")) << r.head;
  EXPECT_EQ(r.head.find("Keep-Alive:"), std::string::npos) << r.head;
}

// RFC 9112 §6.3 rule 7: a POST with neither Content-Length nor
// Transfer-Encoding has no body. httplib read until the peer closed, so the
// client got its answer at the 10 s read deadline (hostile-input sweep); now
// the route answers at once, its usual error for the missing body, and the
// connection is kept.
TEST_F(HostileRequests, APostWithoutLengthHasAnEmptyBodyAndIsAnsweredAtOnce) {
  const std::string admin = "Authorization: Bearer test-admin-token";
  const auto start = std::chrono::steady_clock::now();
  RawReply first = exchange(
      server_.port(), framed("POST", "/admin/api/accounts/lock/lift", {admin}), false, 5000ms);
  EXPECT_FALSE(first.timed_out);
  EXPECT_LT(std::chrono::steady_clock::now() - start, 3s);
  EXPECT_EQ(first.status, 400) << first.head;
  EXPECT_EQ(error_code(first), "bad_request") << first.body;
  EXPECT_EQ(header_value(first, "Connection"), "") << "the connection is kept";

  for (const char* method : {"PUT", "PATCH", "DELETE"}) {
    SCOPED_TRACE(method);
    Conversation other = converse(
        server_.port(), framed(method, "/admin/api/accounts/pin", {"Connection: close"}), 5000ms);
    EXPECT_LT(other.took, 3s);
    EXPECT_EQ(parse_reply(other.in).status, 401) << other.in.substr(0, 300);
  }
}

// A chunked body is decoded before httplib sees it: chunk extensions and
// trailer fields are allowed, the payload limit applies to it as to a
// declared length, and the route gets the body whole.
TEST_F(HostileRequests, AChunkedBodyIsDecodedAndLimited) {
  const std::string form = "Content-Type: application/x-www-form-urlencoded";
  RawReply ok =
      exchange(server_.port(),
               framed("POST", "/token", {form, "Transfer-Encoding: chunked", "Connection: close"},
                      "b;ext=1\r\ngrant_type=\r\n1b\r\npassword&client_id=demo-app\r\n0\r\n"
                      "X-Trailer: t\r\n\r\n"),
               false, 5000ms);
  EXPECT_EQ(ok.status, 400) << ok.head;
  EXPECT_EQ(error_code(ok), "unsupported_grant_type") << ok.body;

  const std::string big(20000, 'a');
  char size[16];
  std::snprintf(size, sizeof size, "%zx", big.size());
  RawReply over = exchange(server_.port(),
                           framed("POST", "/token", {form, "Transfer-Encoding: chunked"},
                                  std::string(size) + "\r\n" + big + "\r\n0\r\n\r\n"),
                           false, 5000ms);
  EXPECT_FALSE(over.timed_out);
  EXPECT_EQ(over.status, 413) << over.head;
  EXPECT_EQ(error_code(over), "invalid_request") << over.body;

  // Expect: 100-continue is answered before the chunked body is read.
  Conversation cont = converse(
      server_.port(),
      framed("POST", "/token",
             {form, "Transfer-Encoding: chunked", "Expect: 100-continue", "Connection: close"},
             "26\r\ngrant_type=password&client_id=demo-app\r\n0\r\n\r\n"));
  EXPECT_EQ(cont.in.rfind("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 400", 0), 0u)
      << cont.in.substr(0, 300);
  EXPECT_NE(cont.in.find("unsupported_grant_type"), std::string::npos);
}

// httplib's own early answers on /token, /par and /revoke (a declared body
// over the limit, a Range it cannot parse) come in the OAuth error form of their
// other errors (RFC 6749 §5.2), not the envelope.
TEST_F(HostileRequests, OAuthEndpointsAnswerEarlyErrorsInTheirOwnForm) {
  const std::string form = "Content-Type: application/x-www-form-urlencoded";
  for (const char* path : {"/token", "/par", "/revoke"}) {
    SCOPED_TRACE(path);
    RawReply declared = exchange(
        server_.port(), request("POST", path, {form, "Content-Length: 1000000"}, "", false));
    EXPECT_EQ(declared.status, 413) << declared.head;
    EXPECT_EQ(error_code(declared), "invalid_request") << declared.body;
    RawReply sent =
        exchange(server_.port(), request("POST", path, {form}, std::string(20000, 'a')));
    EXPECT_EQ(sent.status, 413) << sent.head;
    EXPECT_EQ(error_code(sent), "invalid_request") << sent.body;
    // A Range httplib cannot parse: its 416, before any route.
    RawReply range =
        exchange(server_.port(), request("POST", path, {form, "Range: bytes=x"}, "token=x"));
    EXPECT_EQ(range.status, 416) << range.head;
    EXPECT_EQ(error_code(range), "invalid_request") << range.body;
  }
}

// Found by the hostile-input sweep: a wrong method on an existing path was
// answered 404, as if the path did not exist. RFC 9110 §15.5.6: 405 with the
// methods it has in Allow, in the same envelope. The admin API shows nothing
// before its token: every method on every path under /admin/api is 401
// without it (OPTIONS included), then 405 or 404.
TEST_F(HostileRequests, AWrongMethodOnAnExistingPathIs405WithAllow) {
  struct Case {
    std::string bytes;
    int status;
    const char* code;
    const char* allow;
  };
  const std::string admin = std::string("Authorization: Bearer ") + kTestAdminToken;
  const std::vector<Case> cases = {
      {request("DELETE", "/api/flow"), 405, "method_not_allowed", "GET, HEAD"},
      {request("GET", "/token"), 405, "method_not_allowed", "POST"},
      {request("HEAD", "/token"), 405, "", "POST"},
      {request("PUT", "/api/flow/account", {}, "{}"), 405, "method_not_allowed", "POST"},
      {request("POST", "/healthz", {}, ""), 405, "method_not_allowed", "GET, HEAD"},
      {request("OPTIONS", "/static/app.js"), 405, "method_not_allowed", "GET, HEAD"},
      {request("PATCH", "/api/v1/account", {}, "{}"), 405, "method_not_allowed", "GET, HEAD"},
      {request("GET", "/no/such/path"), 404, "not_found", ""},
      {request("DELETE", "/no/such/path"), 404, "not_found", ""},
      // The admin API: the token first, whatever the method.
      {request("OPTIONS", "/admin/api/status"), 401, "unauthorized", ""},
      {request("DELETE", "/admin/api/status"), 401, "unauthorized", ""},
      {request("PATCH", "/admin/api/no-such-thing", {}, "{}"), 401, "unauthorized", ""},
      {request("DELETE", "/admin/api/status", {admin}), 405, "method_not_allowed", "GET, HEAD"},
      {request("OPTIONS", "/admin/api/clients", {admin}), 405, "method_not_allowed",
       "GET, HEAD, POST"},
      {request("POST", "/admin/api/calendar/windows/w1", {admin}, "{}"), 405, "method_not_allowed",
       "DELETE"},
      {request("GET", "/admin/api/no-such-thing", {admin}), 404, "not_found", ""},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.bytes.substr(0, c.bytes.find('\r')));
    RawReply r = exchange(server_.port(), c.bytes, false, 5000ms);
    EXPECT_EQ(r.status, c.status) << r.head;
    EXPECT_EQ(error_code(r), c.code) << r.body.substr(0, 300);  // HEAD: no body
    EXPECT_EQ(header_value(r, "Allow"), c.allow) << r.head;
  }
}

// A client that stops sending mid-request holds one worker until the read
// timeout (10 s), never the server: another request is answered meanwhile.
TEST_F(HostileRequests, StalledClientDoesNotBlockOthers) {
  int fd = connect_to(server_.port());
  ASSERT_GE(fd, 0);
  std::string partial =
      "POST /api/flow/account HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 100\r\n\r\n{";
  ASSERT_GT(::send(fd, partial.data(), partial.size(), MSG_NOSIGNAL), 0);
  RawReply fast = exchange(server_.port(), request("GET", "/healthz"));
  EXPECT_EQ(fast.status, 200);
  ::close(fd);
}

// Found by this catalog: a flow POST whose JSON named a key twice was
// accepted with one of the two values (nlohmann keeps the last); a proxy or
// log reading the other would disagree with the server. Now bad_request.
TEST(Regression, FlowPostWithDuplicateJsonKeysRefused) {
  TestServer server;
  FlowClient flow(server);
  Answer a = flow.post_raw(
      "/api/flow/account",
      R"({"branch":"999","branch":"115","account_type":"ordinary","account_number":"1100026"})",
      "application/json", {});
  EXPECT_EQ(a.status, 400) << a.body.dump();
  EXPECT_EQ(a.code(), "bad_request");
  Answer nested = flow.post_raw(
      "/api/flow/account",
      R"({"branch":"115","account_type":"ordinary","account_number":"1100026","x":{"a":1,"a":2}})",
      "application/json", {});
  EXPECT_EQ(nested.status, 400) << nested.body.dump();
  EXPECT_EQ(flow.get().screen(), "account_entry");
  // The same key in different objects is fine.
  Answer ok = flow.post_raw(
      "/api/flow/account",
      R"({"branch":"115","account_type":"ordinary","account_number":"1100026","x":{"branch":1}})",
      "application/json", {});
  EXPECT_EQ(ok.status, 200) << ok.body.dump();
}

}  // namespace
}  // namespace renkei::server::testing
