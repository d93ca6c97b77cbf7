// The OAuth 2.0 authorization server (RFC 6749 authorization code grant with
// PKCE S256 (RFC 7636), token revocation (RFC 7009), metadata (RFC 8414) and the
// iss response parameter (RFC 9207)). The customer's login is the six-screen
// flow; this file starts it (/authorize) and turns its completion into a code.
//
// Policies beyond the RFCs (docs/http-api.md):
//  - redirect_uri is required and compared as an exact string with the
//    registered ones (no prefix, case or trailing-slash tolerance);
//  - state is required (the app's CSRF defence; OAuth makes it RECOMMENDED);
//  - PKCE with S256 is required for every client, confidential ones too;
//  - an authorization code is burnt by its first exchange attempt, successful
//    or not; presenting it again revokes the grant and every token from it;
//  - refresh tokens rotate; presenting a rotated-out refresh token while the
//    grant is still active revokes the grant (RFC 9700 §4.14.2 reuse detection).
//
// FAPI 2.0 Security Profile for clients registered with profile "fapi2"
// (issue 13, docs/fapi.md): pushed authorization requests only (RFC 9126,
// POST /par), client authentication with private_key_jwt only (RFC 7523),
// DPoP-bound tokens (RFC 9449), refresh tokens not rotated, 303 redirects.
// Plain OAuth clients may use PAR, private_key_jwt (with registered keys) and
// DPoP too, but need not. The JOSE checks are jose.h's; JWT-id replay is
// refused through the store (seen_jtis), shared by every instance.
#include "oauth/oauth.h"

#include <algorithm>
#include <cctype>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "flow/flow_session.h"
#include "http/ascii.h"
#include "http/http_util.h"
#include "http/routes.h"
#include "oauth/jose.h"
#include "ops/crypto.h"
#include "records/records.h"
#include "renkei/error.h"
#include "renkei/flow.h"

namespace renkei::server {
namespace {

constexpr std::size_t kMaxStateLength = 512;
constexpr const char* kBasicChallenge = "Basic realm=\"renkei\"";
constexpr const char* kJwtBearer = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
constexpr const char* kRequestUriPrefix = "urn:ietf:params:oauth:request_uri:";
constexpr UnixSeconds kPushedRequestSeconds = 60;  // RFC 9126 §2.2, FAPI 2.0 §5.3.2.2
constexpr std::int64_t kDpopMaxAge = 60;
constexpr std::int64_t kDpopFutureSkew = 10;

bool is_fapi(const ClientRecord& c) {
  return c.profile == kProfileFapi2;
}

bool is_base64url_char(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '_';
}

// RFC 7636 §4.2: S256 challenges are base64url(SHA-256) without padding: 43 chars.
bool is_valid_s256_challenge(std::string_view s) {
  return s.size() == 43 && std::all_of(s.begin(), s.end(), is_base64url_char);
}

// RFC 6749 Appendix A.5: state is 1*VSCHAR (%x20-7E); we also cap its length.
bool is_valid_state(std::string_view s) {
  if (s.empty() || s.size() > kMaxStateLength) return false;
  return std::all_of(s.begin(), s.end(), [](char c) { return c >= 0x20 && c <= 0x7e; });
}

// Scope is optional; when given, every space-separated token must be ours.
bool is_valid_scope(std::string_view s) {
  std::size_t pos = 0;
  bool any = false;
  while (pos <= s.size()) {
    std::size_t end = s.find(' ', pos);
    if (end == std::string_view::npos) end = s.size();
    if (s.substr(pos, end - pos) != kScope) return false;
    any = true;
    pos = end + 1;
  }
  return any;
}

// Standard base64 with optional padding (HTTP Basic credentials).
std::optional<std::string> base64_decode(std::string_view in) {
  auto value = [](char c) -> int {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
  };
  while (!in.empty() && in.back() == '=') in.remove_suffix(1);
  if (in.size() % 4 == 1) return std::nullopt;
  std::string out;
  std::uint32_t acc = 0;
  int bits = 0;
  for (char c : in) {
    int v = value(c);
    if (v < 0) return std::nullopt;
    acc = (acc << 6) | static_cast<std::uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((acc >> bits) & 0xff));
    }
  }
  return out;
}

// application/x-www-form-urlencoded decoding ('+' is a space), as RFC 6749
// §2.3.1 requires for the parts of HTTP Basic client credentials.
std::optional<std::string> form_decode(std::string_view in) {
  auto hex = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  std::string out;
  for (std::size_t i = 0; i < in.size(); ++i) {
    char c = in[i];
    if (c == '+') {
      out.push_back(' ');
    } else if (c == '%') {
      if (i + 2 >= in.size()) return std::nullopt;
      int hi = hex(in[i + 1]), lo = hex(in[i + 2]);
      if (hi < 0 || lo < 0) return std::nullopt;
      out.push_back(static_cast<char>(hi * 16 + lo));
      i += 2;
    } else {
      out.push_back(c);
    }
  }
  return out;
}

// ---------- audit ----------

struct AuditFacts {
  std::string step;
  std::string outcome = "ok";
  std::string flow_id;
  std::string client_id;
  std::string account;
  std::string actor = "customer";
  std::string detail;
  std::string once_key;  // AuditRecord::once_key
};

// Positional, because GCC's -Wextra flags designated initializers that skip members.
AuditFacts facts(std::string step, std::string outcome, std::string client_id, std::string actor,
                 std::string detail = "") {
  AuditFacts f;
  f.step = std::move(step);
  f.outcome = std::move(outcome);
  f.client_id = std::move(client_id);
  f.actor = std::move(actor);
  f.detail = std::move(detail);
  return f;
}

void write_audit(StoreTx& tx, const httplib::Request& req, UnixSeconds now, AuditFacts f) {
  AuditRecord r;
  r.at = now;
  r.flow_id = std::move(f.flow_id);
  r.step = std::move(f.step);
  r.outcome = std::move(f.outcome);
  r.account = std::move(f.account);
  r.client_id = std::move(f.client_id);
  r.ip = client_ip(req);
  r.user_agent = header_for_log(req, "User-Agent");
  r.actor = std::move(f.actor);
  r.detail = std::move(f.detail);
  r.once_key = std::move(f.once_key);
  tx.append_audit(r);
}

std::string account_label(StoreTx& tx, std::int64_t account_id) {
  auto account = tx.account_by_id(account_id);
  return account ? account_key(account->ref) : std::string();
}

// ---------- /authorize ----------

// How often each key occurs in the raw query. Counted here because httplib
// silently merges a repeated identical key=value pair, and RFC 6749 §3.1 says
// no parameter may be sent twice.
std::map<std::string, int> raw_query_key_counts(const httplib::Request& req) {
  std::map<std::string, int> counts;
  std::size_t q = req.target.find('?');
  if (q == std::string::npos) return counts;
  std::string_view rest(req.target);
  rest.remove_prefix(q + 1);
  while (!rest.empty()) {
    std::size_t amp = rest.find('&');
    std::string_view pair = rest.substr(0, amp);
    rest = amp == std::string_view::npos ? std::string_view() : rest.substr(amp + 1);
    if (pair.empty()) continue;
    if (auto key = form_decode(pair.substr(0, pair.find('=')))) ++counts[*key];
  }
  return counts;
}

// A query parameter that must appear at most once.
struct QueryParam {
  std::optional<std::string> value;  // nullopt when absent or repeated
  bool repeated = false;
};
QueryParam query_param(const httplib::Request& req, const std::map<std::string, int>& counts,
                       const char* key) {
  QueryParam p;
  std::size_t n = req.get_param_value_count(key);
  if (auto it = counts.find(key); it != counts.end() && it->second > 1) n = 2;
  if (n > 1) {
    p.repeated = true;
  } else if (n == 1) {
    p.value = req.get_param_value(key);
  }
  return p;
}

void no_store(httplib::Response& res) {
  res.set_header("Cache-Control", "no-store");
  res.set_header("Pragma", "no-cache");
}

void audit_authorize(App& app, const httplib::Request& req, UnixSeconds now, std::string outcome,
                     std::string client_id, std::string detail = "") {
  // A failure throws: the server's exception handler answers system_error,
  // so no answer goes out whose operation-log row was lost. The unit only
  // logs (on PostgreSQL: BEGIN, the row and COMMIT in one round trip), so it
  // is made idempotent to be run again after a lost connection: the row's
  // once_key is chosen before it, and a rerun writes at most that one row.
  AuditFacts f =
      facts("authorize", std::move(outcome), std::move(client_id), "customer", std::move(detail));
  f.once_key = app.random().token();
  with_idempotent_transaction(app.store(), [&](StoreTx& tx) { write_audit(tx, req, now, f); });
}

// Text for an HTML page: & < > " ' as character references.
std::string html_text(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

// A refused /authorize that must not redirect (unknown client, redirect URI
// missing or not registered, a bad pushed request: RFC 6749 §4.1.2.1): the
// error envelope for a program, and for a browser (Accept: text/html, the
// customer's webview) a plain page with the catalog's message and the
// institution's name, as 400. No link anywhere: the redirect URI is not known
// to be the app's (docs/http-api.md "OAuth 2.0").
void send_authorize_refusal(const App& app, const httplib::Request& req, httplib::Response& res) {
  if (req.get_header_value("Accept").find("text/html") == std::string::npos) {
    send_error(res, ErrorCode::bad_request);
    return;
  }
  const std::string name = html_text(app.config().profile.name);
  const std::string message = html_text(message_ja(ErrorCode::bad_request));
  std::string page;
  page += "<!doctype html>\n<html lang=\"ja\">\n<head>\n<meta charset=\"utf-8\">\n";
  page += "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n";
  page += "<meta name=\"referrer\" content=\"no-referrer\">\n<link rel=\"icon\" href=\"data:,\">\n";
  page += "<title>" + name + "</title>\n";
  page += "<link rel=\"stylesheet\" href=\"/static/flow.css\">\n</head>\n<body>\n";
  page += "<div class=\"page\">\n<header class=\"brand\">\n";
  page += "<p class=\"brand-name\">" + name + "</p>\n</header>\n";
  page += "<main id=\"main\">\n<h1 class=\"alert\">" + message + "</h1>\n</main>\n";
  page += "</div>\n</body>\n</html>\n";
  res.status = http_status(ErrorCode::bad_request);
  res.set_content(page, "text/html; charset=utf-8");
}

void handle_authorize(App& app, const StaticFiles& files, const httplib::Request& req,
                      httplib::Response& res) {
  const UnixSeconds now = app.now();
  no_store(res);
  const std::string bad = std::string(wire_name(ErrorCode::bad_request));

  // 1. Who is asking and where the answer goes. Until both are known to be
  // registered, nothing is redirected anywhere (RFC 6749 §4.1.2.1).
  const std::map<std::string, int> counts = raw_query_key_counts(req);
  QueryParam client_id = query_param(req, counts, "client_id");
  QueryParam redirect_uri = query_param(req, counts, "redirect_uri");
  std::optional<ClientRecord> client;
  if (client_id.value) {
    // with_transaction: run again where PostgreSQL dropped the pooled
    // connection before the read went out (StorageConnectionLost).
    client = with_transaction(app.store(), TxMode::read_only,
                              [&](StoreTx& tx) { return tx.find_client(*client_id.value); });
  }
  if (!client) {
    audit_authorize(app, req, now, bad, "", "unknown or missing client_id");
    send_authorize_refusal(app, req, res);
    no_store(res);
    return;
  }
  // FAPI 2.0 §5.3.2.2: 303 for redirects (never 307); plain clients keep 302.
  const int redirect_status = is_fapi(*client) ? 303 : 302;
  auto refuse = [&](const std::string& detail) {
    audit_authorize(app, req, now, bad, client->id, detail);
    send_authorize_refusal(app, req, res);
    no_store(res);
  };

  // 1a. A pushed request (RFC 9126 §4): the request is what was pushed, and
  // nothing but client_id and request_uri may come with it. A FAPI 2.0 client
  // has no other way in (FAPI 2.0 §5.3.2.2). The request_uri is burnt by this
  // first use, whatever follows.
  QueryParam request_uri = query_param(req, counts, "request_uri");
  std::string dpop_jkt;
  nlohmann::json pushed_params;  // the pushed request's parameters (strings)
  auto pushed_value = [&](const char* key) {
    QueryParam p;
    if (pushed_params.contains(key) && pushed_params[key].is_string()) {
      p.value = pushed_params[key].get<std::string>();
    }
    return p;
  };
  if (request_uri.value || request_uri.repeated || is_fapi(*client)) {
    if (request_uri.repeated) return refuse("request_uri is repeated");
    if (!request_uri.value) return refuse("a FAPI 2.0 client must push its request (PAR)");
    for (const auto& [key, n] : counts) {
      if (key != "client_id" && key != "request_uri") {
        return refuse("parameter outside the pushed request: " + key.substr(0, 40));
      }
    }
    if (client_id.repeated) return refuse("client_id is repeated");
    std::optional<PushedRequestRecord> pushed;
    if (request_uri.value->rfind(kRequestUriPrefix, 0) == 0) {
      // A failure throws: the server's exception handler answers system_error.
      const std::string digest = secret_digest(*request_uri.value);
      pushed = with_transaction(app.store(), TxMode::read_write,
                                [&](StoreTx& tx) { return tx.consume_pushed_request(digest); });
    }
    if (!pushed || pushed->client_id != client->id) return refuse("unknown request_uri");
    if (pushed->used) return refuse("request_uri was already used");
    if (now >= pushed->expires_at) return refuse("request_uri expired");
    pushed_params = nlohmann::json::parse(pushed->params_json, nullptr, false);
    if (!pushed_params.is_object()) return refuse("pushed request is unreadable");
    redirect_uri = pushed_value("redirect_uri");
    dpop_jkt = pushed_value("dpop_jkt").value.value_or("");
  }
  const bool pushed_request = request_uri.value.has_value();
  auto param = [&](const char* key) {
    return pushed_request ? pushed_value(key) : query_param(req, counts, key);
  };
  const bool uri_registered =
      redirect_uri.value && std::find(client->redirect_uris.begin(), client->redirect_uris.end(),
                                      *redirect_uri.value) != client->redirect_uris.end();
  if (!uri_registered) return refuse("redirect_uri missing or not registered");

  // 2. The rest of the request: errors go back to the app (RFC 6749 §4.1.2.1,
  // RFC 9207 iss). state is echoed only when it is well-formed.
  QueryParam state = param("state");
  QueryParam response_type = param("response_type");
  QueryParam challenge = param("code_challenge");
  QueryParam method = param("code_challenge_method");
  QueryParam scope = param("scope");
  const bool state_ok = state.value && is_valid_state(*state.value);

  std::string error = "invalid_request";
  std::string problem;
  if (state.repeated || response_type.repeated || challenge.repeated || method.repeated ||
      scope.repeated) {
    problem = "a parameter is repeated";
  } else if (!state.value) {
    problem = "state is required";
  } else if (!state_ok) {
    problem = "state must be 1 to 512 printable ASCII characters";
  } else if (!response_type.value || response_type.value->empty()) {
    problem = "response_type is required";
  } else if (*response_type.value != "code") {
    error = "unsupported_response_type";
    problem = "response_type must be code";
  } else if (method.value != "S256") {
    problem = "code_challenge_method must be S256";
  } else if (!challenge.value || !is_valid_s256_challenge(*challenge.value)) {
    problem = "code_challenge must be 43 base64url characters";
  } else if (scope.value && !scope.value->empty() && !is_valid_scope(*scope.value)) {
    error = "invalid_scope";
    problem = "scope must be accounts.read";
  }
  if (!problem.empty()) {
    std::vector<std::pair<std::string, std::string>> q = {{"error", error},
                                                          {"error_description", problem}};
    if (state_ok) q.emplace_back("state", *state.value);
    q.emplace_back("iss", app.config().issuer);
    audit_authorize(app, req, now, bad, client->id, error + ": " + problem);
    res.set_redirect(with_query(*redirect_uri.value, q), redirect_status);
    return;
  }

  // 3. Conditions the customer should see on our own page: the app switched
  // off, or the service closed (SPEC §6). The flow is started all the same, so
  // that the page can offer 連携元画面へ back to this validated redirect URI
  // with state and iss (SPEC §8a, POST /api/flow/leave); while the condition
  // lasts every step of it answers the same error.
  std::optional<ErrorCode> on_our_page;
  if (!client->enabled) {
    on_our_page = ErrorCode::service_unavailable;
  } else if (!app.calendar().is_open(now)) {
    on_our_page = ErrorCode::out_of_hours;
  }

  // 4. Start the customer's flow.
  FlowRecord flow;
  flow.client_id = client->id;
  flow.redirect_uri = *redirect_uri.value;
  flow.oauth_state = *state.value;
  flow.code_challenge = *challenge.value;
  flow.scope = kScope;
  flow.dpop_jkt = dpop_jkt;
  flow.client_ip = client_ip(req);
  flow.user_agent = header_for_log(req, "User-Agent");
  std::string cookie;
  try {
    cookie = with_transaction(app.store(), TxMode::read_write, [&](StoreTx& tx) {
      std::string flow_id;
      std::string c = start_flow_record(tx, app, flow, &flow_id);
      AuditFacts started =
          facts("authorize", on_our_page ? std::string(wire_name(*on_our_page)) : "ok", client->id,
                "customer");
      started.flow_id = flow_id;
      write_audit(tx, req, now, std::move(started));
      return c;
    });
  } catch (const StorageError& e) {
    log_caught_exception(req, e.what());
    if (is_storage_outage(e)) {
      // The flow could not be stored, so no page of ours can lead the
      // customer back: the app learns it at once (SPEC §8a), by the error
      // RFC 6749 §4.1.2.1 has for a 503 that a redirect cannot carry.
      app.metrics().count("renkei_authorize_total", "outcome=\"temporarily_unavailable\"");
      res.set_redirect(with_query(*redirect_uri.value,
                                  {{"error", "temporarily_unavailable"},
                                   {"error_description", "the service is temporarily unavailable"},
                                   {"state", *state.value},
                                   {"iss", app.config().issuer}}),
                       redirect_status);
      return;
    }
    send_error(res, ErrorCode::system_error);
    no_store(res);
    return;
  }
  // Screen ①'s page itself rather than a redirect to /flow/: one request
  // and one round trip fewer (issue 10). flow.js puts /flow/ in the address
  // bar (history.replaceState), so a reload or 戻る does not start a flow again.
  // Without the page (no web root) the redirect remains.
  const bool page_served = !on_our_page && serve_flow_page(files, req, res);
  set_cookie(res, session_cookie_name(app), cookie, session_cookie_options(app));
  if (on_our_page) {
    const std::string code(wire_name(*on_our_page));
    res.set_redirect(with_query("/flow/", {{"error", code}}), redirect_status);
    app.metrics().count("renkei_authorize_total", "outcome=\"" + code + "\"");
    return;
  }
  if (!page_served) res.set_redirect("/flow/", redirect_status);
  app.metrics().count("renkei_authorize_total", "outcome=\"ok\"");
}

// ---------- /token and /revoke ----------

// An error in the form of RFC 6749 §5.2 plus our catalog's code and message.
struct OAuthError {
  const char* error;
  ErrorCode code;
  int status;
  std::string description;  // ASCII only (RFC 6749 §5.2)
};
OAuthError invalid_request(std::string d) {
  return {"invalid_request", ErrorCode::bad_request, 400, std::move(d)};
}
OAuthError invalid_client(std::string d) {
  return {"invalid_client", ErrorCode::unauthorized, 401, std::move(d)};
}
OAuthError invalid_grant(std::string d) {
  return {"invalid_grant", ErrorCode::forbidden, 400, std::move(d)};
}
OAuthError invalid_dpop_proof(std::string d) {  // RFC 9449 §5
  return {"invalid_dpop_proof", ErrorCode::bad_request, 400, std::move(d)};
}

void send_oauth_error(httplib::Response& res, const OAuthError& e) {
  // RFC 6749 §5.2: %x20-21 / %x23-5B / %x5D-7E only (a JOSE library's
  // reason may quote something).
  std::string description = e.description;
  for (char& c : description) {
    if (c < 0x20 || c > 0x7e || c == '"' || c == '\\') c = '?';
  }
  nlohmann::json body = {{"error", e.error},
                         {"error_description", description},
                         {"code", std::string(wire_name(e.code))},
                         {"message", std::string(message_ja(e.code))}};
  send_json(res, e.status, body);
  // RFC 6749 §5.2: a failed client authentication answers 401 with a challenge.
  if (e.status == 401) res.set_header("WWW-Authenticate", kBasicChallenge);
  // An outage of the store (failure_answer): Retry-After with the 503.
  if (e.status == 503) mark_storage_outage(res);
  no_store(res);
}

}  // namespace

bool is_oauth_form_endpoint(std::string_view path) {
  return path == "/token" || path == "/revoke" || path == "/par";
}

void send_oauth_request_error(httplib::Response& res, int status, std::string description) {
  send_oauth_error(res,
                   {"invalid_request", ErrorCode::bad_request, status, std::move(description)});
}

namespace {

using Form = std::map<std::string, std::string>;

std::optional<std::string> form_value(const Form& form, const char* key) {
  auto it = form.find(key);
  if (it == form.end() || it->second.empty()) return std::nullopt;
  return it->second;
}

// Reads the form body; the content type must be form-urlencoded and no
// parameter may appear twice (RFC 6749 §3.2).
std::optional<OAuthError> read_form(const httplib::Request& req, Form* form) {
  std::string type = ascii_lower(req.get_header_value("Content-Type"));
  const std::string expected = "application/x-www-form-urlencoded";
  if (type.compare(0, expected.size(), expected) != 0 ||
      (type.size() > expected.size() && type[expected.size()] != ';' &&
       type[expected.size()] != ' ')) {
    return invalid_request("content type must be application/x-www-form-urlencoded");
  }
  bool duplicate = false;
  *form = form_params(req, &duplicate);
  if (duplicate) return invalid_request("a parameter is repeated");
  return std::nullopt;
}

struct Credentials {
  std::string client_id;
  std::optional<std::string> secret;
  std::optional<std::string> assertion;  // private_key_jwt (RFC 7523 §2.2)
};

// The `sub` of a JWT's claims, read without verifying anything: only to know
// which client's keys to verify it with (client_id may be left out, RFC 7523).
std::optional<std::string> unverified_subject(std::string_view jwt) {
  const std::size_t a = jwt.find('.');
  const std::size_t b = a == std::string_view::npos ? a : jwt.find('.', a + 1);
  if (b == std::string_view::npos) return std::nullopt;
  std::string part(jwt.substr(a + 1, b - a - 1));
  for (char& c : part) {
    if (c == '-') c = '+';
    if (c == '_') c = '/';
  }
  auto decoded = base64_decode(part);
  if (!decoded) return std::nullopt;
  auto claims = nlohmann::json::parse(*decoded, nullptr, false);
  if (!claims.is_object() || !claims.contains("sub") || !claims["sub"].is_string()) {
    return std::nullopt;
  }
  std::string sub = claims["sub"];
  if (sub.empty()) return std::nullopt;
  return sub;
}

// RFC 6749 §2.3.1: HTTP Basic (client_secret_basic) or client_id and
// client_secret in the body (client_secret_post), never both; public clients
// send client_id alone.
std::optional<OAuthError> read_credentials(const httplib::Request& req, const Form& form,
                                           Credentials* out) {
  auto body_id = form_value(form, "client_id");
  auto body_secret = form_value(form, "client_secret");
  if (req.get_header_value_count("Authorization") > 1) {
    return invalid_request("more than one Authorization header");
  }
  std::string auth = req.get_header_value("Authorization");
  auto assertion_type = form_value(form, "client_assertion_type");
  auto assertion = form_value(form, "client_assertion");
  if (assertion_type || assertion) {
    if (!assertion_type || !assertion) {
      return invalid_request("client_assertion and client_assertion_type go together");
    }
    if (*assertion_type != kJwtBearer) return invalid_client("unsupported client_assertion_type");
    if (!auth.empty() || body_secret) {
      return invalid_request("more than one client authentication method");
    }
    auto sub = unverified_subject(*assertion);
    if (!sub) return invalid_client("malformed client assertion");
    if (body_id && *body_id != *sub) return invalid_client("client_id differs from assertion sub");
    out->client_id = *sub;
    out->assertion = *assertion;
    return std::nullopt;
  }
  if (!auth.empty()) {
    if (auth.size() < 6 || ascii_lower(auth.substr(0, 6)) != "basic ") {
      return invalid_client("unsupported client authentication scheme");
    }
    if (body_secret) return invalid_request("more than one client authentication method");
    auto decoded = base64_decode(std::string_view(auth).substr(6));
    std::size_t colon = decoded ? decoded->find(':') : std::string::npos;
    if (colon == std::string::npos) return invalid_client("malformed Basic credentials");
    auto id = form_decode(std::string_view(*decoded).substr(0, colon));
    auto secret = form_decode(std::string_view(*decoded).substr(colon + 1));
    if (!id || !secret || id->empty()) return invalid_client("malformed Basic credentials");
    if (body_id && *body_id != *id) return invalid_client("client_id differs from Basic user");
    out->client_id = *id;
    out->secret = *secret;
    return std::nullopt;
  }
  if (!body_id) return invalid_client("client authentication is required");
  out->client_id = *body_id;
  out->secret = body_secret;
  return std::nullopt;
}

// private_key_jwt (RFC 7523, FAPI 2.0 §5.3.2.1): the assertion verified
// with the client's registered keys, its jti refused when seen before (on any
// instance: the store keeps it until the assertion expires).
std::optional<OAuthError> authenticate_with_assertion(StoreTx& tx, const App& app,
                                                      const std::string& assertion,
                                                      const std::optional<ClientRecord>& client,
                                                      UnixSeconds now) {
  if (!client || client->jwks.empty()) return invalid_client("client authentication failed");
  std::string why;
  auto keys = jose::PublicKeySet::parse(client->jwks, &why);
  if (!keys) return invalid_client("the client's registered keys are unusable");
  jose::ClientAssertionRules rules;
  rules.client_id = client->id;
  rules.issuer = app.config().issuer;
  rules.now = now;
  auto verified = jose::verify_client_assertion(assertion, *keys, rules, &why);
  if (!verified) return invalid_client("client assertion refused: " + why);
  if (!tx.remember_jti("client_assertion", client->id, secret_digest(verified->jti),
                       verified->expires_at)) {
    return invalid_client("client assertion jti was already used");
  }
  return std::nullopt;
}

std::optional<OAuthError> authenticate_client(StoreTx& tx, const App& app, const Credentials& cred,
                                              UnixSeconds now, ClientRecord* out) {
  auto client = tx.find_client(cred.client_id);
  if (cred.assertion) {
    if (auto e = authenticate_with_assertion(tx, app, *cred.assertion, client, now)) return e;
    if (!client->enabled) {
      return OAuthError{"unauthorized_client", ErrorCode::service_unavailable, 400,
                        "client is disabled"};
    }
    *out = *client;
    return std::nullopt;
  }
  // Digest the presented secret and compare it whatever happens, so that
  // neither the answer nor its timing tells an unknown client id from a known
  // one: an unknown client, a wrong secret and a secret sent by a public
  // client all get the same invalid_client (security finding, issue 12).
  static const std::string kNoClientDigest = secret_digest("renkei: no such client");
  const std::string presented = secret_digest(cred.secret.value_or(""));
  bool authenticated = false;
  if (!client) {
    (void)constant_time_equal(presented, kNoClientDigest);
  } else if (is_fapi(*client)) {
    authenticated = false;  // FAPI 2.0 §5.3.2.1: private_key_jwt (or mTLS) only
  } else if (!client->secret_digest.empty()) {
    authenticated = cred.secret && constant_time_equal(presented, client->secret_digest);
  } else {
    authenticated = !cred.secret || cred.secret->empty();
  }
  if (!authenticated) return invalid_client("client authentication failed");
  if (!client->enabled) {
    return OAuthError{"unauthorized_client", ErrorCode::service_unavailable, 400,
                      "client is disabled"};
  }
  *out = *client;
  return std::nullopt;
}

struct IssuedTokens {
  std::string access;
  std::string refresh;  // "" when none is issued
  std::string dpop_jkt;
  UnixSeconds access_expires_at = 0;
};

// A new access token (never outliving the grant) and a refresh token that
// lives as long as the grant. Only their digests are stored.
// `jkt` non-empty: the access token is DPoP-bound (cnf.jkt, RFC 9449 §6),
// and the refresh token too when `bind_refresh` (public clients, §5).
// Without `with_refresh` no refresh token is issued (FAPI clients keep theirs).
IssuedTokens issue_tokens(StoreTx& tx, const App& app, const GrantRecord& grant, UnixSeconds now,
                          const std::string& jkt = "", bool bind_refresh = false,
                          bool with_refresh = true) {
  IssuedTokens t;
  t.access = app.random().token();
  t.dpop_jkt = jkt;
  t.access_expires_at =
      std::min<UnixSeconds>(now + app.config().access_token_seconds, grant.expires_at);
  TokenRecord access;
  access.token_digest = secret_digest(t.access);
  access.kind = TokenKind::access;
  access.grant_id = grant.id;
  access.client_id = grant.client_id;
  access.expires_at = t.access_expires_at;
  access.dpop_jkt = jkt;
  tx.insert_token(access);
  if (!with_refresh) return t;
  t.refresh = app.random().token();
  TokenRecord refresh = access;
  refresh.dpop_jkt = bind_refresh ? jkt : "";
  refresh.token_digest = secret_digest(t.refresh);
  refresh.kind = TokenKind::refresh;
  refresh.expires_at = grant.expires_at;
  tx.insert_token(refresh);
  return t;
}

nlohmann::json token_response(const IssuedTokens& t, const GrantRecord& grant, UnixSeconds now) {
  nlohmann::json body = {{"access_token", t.access},
                         {"token_type", t.dpop_jkt.empty() ? "Bearer" : "DPoP"},
                         {"expires_in", t.access_expires_at - now},
                         {"scope", grant.scope.empty() ? std::string(kScope) : grant.scope}};
  if (!t.refresh.empty()) body["refresh_token"] = t.refresh;
  return body;
}

bool grant_active(const GrantRecord& g, UnixSeconds now) {
  return !g.revoked_at && now < g.expires_at;
}

void revoke_grant(StoreTx& tx, GrantRecord grant, UnixSeconds now, const std::string& by) {
  if (!grant.revoked_at) {
    grant.revoked_at = now;
    grant.revoked_by = by;
    tx.update_grant(grant);
  }
  tx.revoke_tokens_of_grant(grant.id);
}

// The outcome of one grant: either tokens (body) or an error; the audit is
// written in the same transaction either way.
struct GrantResult {
  std::optional<OAuthError> error;
  nlohmann::json body;
  const char* replay_metric = nullptr;  // counted once the transaction committed
};

// A public client: no secret and no registered keys (its refresh tokens are
// DPoP-bound when it uses DPoP, RFC 9449 §5).
bool is_public(const ClientRecord& c) {
  return c.secret_digest.empty() && c.jwks.empty() && !is_fapi(c);
}

GrantResult exchange_code(App& app, StoreTx& tx, const httplib::Request& req, const Form& form,
                          const ClientRecord& client, const std::string& jkt, UnixSeconds now) {
  auto code = form_value(form, "code");
  auto redirect_uri = form_value(form, "redirect_uri");
  auto verifier = form_value(form, "code_verifier");
  AuditFacts audit = facts("token", "ok", client.id, "app:" + client.id, "authorization_code");
  auto fail = [&](OAuthError e, std::string outcome) {
    audit.outcome = std::move(outcome);
    audit.detail += ": " + e.description;
    write_audit(tx, req, now, audit);
    return GrantResult{std::move(e), {}};
  };
  const std::string forbidden(wire_name(ErrorCode::forbidden));
  if (!code) return fail(invalid_request("code is required"), "bad_request");
  if (!redirect_uri) return fail(invalid_request("redirect_uri is required"), "bad_request");
  if (!verifier) return fail(invalid_request("code_verifier is required"), "bad_request");
  if (!is_valid_pkce_verifier(*verifier)) {
    return fail(invalid_request("code_verifier is malformed"), "bad_request");
  }

  // Burns the code whatever follows: a code is good for one attempt.
  auto stored = tx.consume_code(secret_digest(*code));
  if (!stored) return fail(invalid_grant("unknown authorization code"), forbidden);
  auto grant = tx.find_grant(stored->grant_id);
  if (grant) {
    audit.flow_id = grant->flow_id;
    audit.account = account_label(tx, grant->account_id);
  }
  if (stored->used) {
    // RFC 6749 §4.1.2 / §10.5: a replayed code means it leaked; whatever it
    // bought is withdrawn.
    if (grant) revoke_grant(tx, *grant, now, "code_replay");
    GrantResult r = fail(invalid_grant("authorization code was already used"), "code_replay");
    r.replay_metric = "renkei_code_replay_total";
    return r;
  }
  if (now >= stored->expires_at) {
    return fail(invalid_grant("authorization code expired"), forbidden);
  }
  if (stored->client_id != client.id) {
    return fail(invalid_grant("code was issued to another client"), forbidden);
  }
  if (stored->redirect_uri != *redirect_uri) {
    return fail(invalid_grant("redirect_uri does not match"), forbidden);
  }
  if (!verify_pkce_s256(*verifier, stored->code_challenge)) {
    return fail(invalid_grant("PKCE verification failed"), forbidden);
  }
  // RFC 9449 §10: a code bound through dpop_jkt is exchanged with that key only.
  if (!stored->dpop_jkt.empty() && stored->dpop_jkt != jkt) {
    return fail(invalid_dpop_proof("the DPoP key differs from the pushed dpop_jkt"), forbidden);
  }
  if (!grant || !grant_active(*grant, now)) {
    return fail(invalid_grant("authorization is no longer valid"), forbidden);
  }
  IssuedTokens tokens = issue_tokens(tx, app, *grant, now, jkt, is_public(client));
  write_audit(tx, req, now, audit);
  return GrantResult{std::nullopt, token_response(tokens, *grant, now)};
}

GrantResult refresh(App& app, StoreTx& tx, const httplib::Request& req, const Form& form,
                    const ClientRecord& client, const std::string& jkt, UnixSeconds now) {
  AuditFacts audit = facts("token", "ok", client.id, "app:" + client.id, "refresh_token");
  auto fail = [&](OAuthError e, std::string outcome) {
    audit.outcome = std::move(outcome);
    audit.detail += ": " + e.description;
    write_audit(tx, req, now, audit);
    return GrantResult{std::move(e), {}};
  };
  const std::string forbidden(wire_name(ErrorCode::forbidden));
  auto presented = form_value(form, "refresh_token");
  if (!presented) return fail(invalid_request("refresh_token is required"), "bad_request");
  if (auto scope = form_value(form, "scope"); scope && !is_valid_scope(*scope)) {
    return fail({"invalid_scope", ErrorCode::bad_request, 400, "scope must be accounts.read"},
                "bad_request");
  }
  auto token = tx.find_token(secret_digest(*presented));
  if (!token || token->kind != TokenKind::refresh || token->client_id != client.id) {
    return fail(invalid_grant("unknown refresh token"), forbidden);
  }
  auto grant = tx.find_grant(token->grant_id);
  if (grant) {
    audit.flow_id = grant->flow_id;
    audit.account = account_label(tx, grant->account_id);
  }
  if (!grant || !grant_active(*grant, now)) {
    return fail(invalid_grant("authorization is no longer valid"), forbidden);
  }
  if (token->revoked) {
    // A rotated-out refresh token came back: either the app or a thief holds
    // a copy. The active one is withdrawn with the grant (RFC 9700 §4.14.2).
    revoke_grant(tx, *grant, now, "refresh_reuse");
    GrantResult r = fail(invalid_grant("refresh token was already used"), "refresh_reuse");
    r.replay_metric = "renkei_refresh_reuse_total";
    return r;
  }
  if (now >= token->expires_at) return fail(invalid_grant("refresh token expired"), forbidden);
  if (!token->dpop_jkt.empty() && token->dpop_jkt != jkt) {
    return fail(invalid_dpop_proof("the refresh token is bound to another DPoP key"), forbidden);
  }
  if (is_fapi(client)) {
    // FAPI 2.0 §5.3.2.1: refresh tokens are not rotated (they are bound to
    // the client's authentication); only a new DPoP-bound access token.
    IssuedTokens tokens = issue_tokens(tx, app, *grant, now, jkt, false, false);
    write_audit(tx, req, now, audit);
    return GrantResult{std::nullopt, token_response(tokens, *grant, now)};
  }
  tx.revoke_token(token->token_digest);
  IssuedTokens tokens = issue_tokens(tx, app, *grant, now, jkt, is_public(client));
  write_audit(tx, req, now, audit);
  return GrantResult{std::nullopt, token_response(tokens, *grant, now)};
}

// The DPoP proof sent to `path` of this server (RFC 9449 §4.3), if any: its
// key's thumbprint, or the error. The proof's jti is refused when seen before
// (store-wide), and remembered as long as the proof could pass the iat window.
struct DpopCheck {
  std::optional<OAuthError> error;
  std::string jkt;  // "" when there is no proof
};
DpopCheck check_dpop(StoreTx& tx, const App& app, const httplib::Request& req, const char* path,
                     UnixSeconds now) {
  DpopCheck out;
  const std::size_t n = req.get_header_value_count("DPoP");
  if (n == 0) return out;
  if (n > 1) {
    out.error = invalid_dpop_proof("more than one DPoP header");
    return out;
  }
  jose::DpopRules rules;
  rules.method = "POST";
  rules.url = app.config().issuer + path;
  rules.now = now;
  rules.max_age = kDpopMaxAge;
  rules.future_skew = kDpopFutureSkew;
  std::string why;
  auto proof = jose::verify_dpop_proof(req.get_header_value("DPoP"), rules, &why);
  if (!proof) {
    out.error = invalid_dpop_proof("DPoP proof refused: " + why);
  } else if (!tx.remember_jti("dpop", proof->jkt, secret_digest(proof->jti),
                              proof->iat + kDpopMaxAge + 1)) {
    out.error = invalid_dpop_proof("DPoP proof jti was already used");
  } else {
    out.jkt = proof->jkt;
  }
  return out;
}

// What /token, /revoke and /par start with: the form and the client's
// credentials. On failure the error is answered and nullopt returned.
struct ClientRequest {
  Form form;
  Credentials cred;
};
std::optional<ClientRequest> read_client_request(const httplib::Request& req,
                                                 httplib::Response& res) {
  ClientRequest r;
  if (auto e = read_form(req, &r.form)) {
    send_oauth_error(res, *e);
    return std::nullopt;
  }
  if (auto e = read_credentials(req, r.form, &r.cred)) {
    send_oauth_error(res, *e);
    return std::nullopt;
  }
  return r;
}

// The client authenticated inside the request's transaction `tx`; a failed
// authentication is logged there as `step` and returned.
std::optional<OAuthError> authenticate_in(StoreTx& tx, const App& app, const httplib::Request& req,
                                          const Credentials& cred, const char* step,
                                          UnixSeconds now, ClientRecord* client) {
  auto e = authenticate_client(tx, app, cred, now, client);
  if (e) {
    write_audit(tx, req, now,
                facts(step, std::string(wire_name(e->code)), "", "app", e->description));
  }
  return e;
}

// The answer of /token, /revoke and /par to a failure they could not handle,
// in RFC 6749's error form. RFC 6749 §5.2 names no error for a failure of the
// server at the token endpoint; these endpoints borrow the authorization
// endpoint's two (§4.1.2.1), as many servers do: server_error (500) for an
// internal error, temporarily_unavailable (503, with Retry-After) for an
// outage of the store (is_storage_outage: the database cannot serve now),
// which the client may simply retry later. The catalog's code beside it is
// system_error either way (the same customer-facing message).
OAuthError failure_answer(const std::exception* e, const char* description) {
  if (e && is_storage_outage(*e)) {
    return {"temporarily_unavailable", ErrorCode::system_error, 503,
            "the service is temporarily unavailable; try again later"};
  }
  return {"server_error", ErrorCode::system_error, 500, description};
}

void handle_token(App& app, const httplib::Request& req, httplib::Response& res) {
  const UnixSeconds now = app.now();
  std::optional<ClientRequest> r = read_client_request(req, res);
  if (!r) return;
  const Form& form = r->form;
  auto grant_type = form_value(form, "grant_type");
  // One transaction for the client's authentication, the grant and its
  // audit row, run again as a whole after a conflict (with_transaction).
  std::optional<OAuthError> auth_error;
  GrantResult result;
  try {
    with_transaction(app.store(), TxMode::read_write, [&](StoreTx& tx) {
      ClientRecord client;
      result = GrantResult{};
      auth_error = authenticate_in(tx, app, req, r->cred, "token", now, &client);
      if (auth_error) return;
      DpopCheck dpop = check_dpop(tx, app, req, "/token", now);
      if (!dpop.error && is_fapi(client) && dpop.jkt.empty()) {
        // FAPI 2.0 §5.3.2.1: sender-constrained tokens; Renkei offers DPoP only.
        dpop.error = invalid_dpop_proof("a FAPI 2.0 client must send a DPoP proof");
      }
      if (dpop.error) {
        result.error = dpop.error;
        write_audit(tx, req, now,
                    facts("token", std::string(wire_name(dpop.error->code)), client.id,
                          "app:" + client.id, dpop.error->description));
      } else if (!grant_type) {
        result.error = invalid_request("grant_type is required");
      } else if (*grant_type == "authorization_code") {
        result = exchange_code(app, tx, req, form, client, dpop.jkt, now);
      } else if (*grant_type == "refresh_token") {
        result = refresh(app, tx, req, form, client, dpop.jkt, now);
      } else {
        result.error = OAuthError{"unsupported_grant_type", ErrorCode::bad_request, 400,
                                  "grant_type must be authorization_code or refresh_token"};
      }
    });
  } catch (const StorageError& e) {
    log_caught_exception(req, e.what());
    return send_oauth_error(res, failure_answer(&e, "the request could not be stored"));
  }
  if (auth_error) return send_oauth_error(res, *auth_error);
  if (result.replay_metric) app.metrics().count(result.replay_metric);
  app.metrics().count("renkei_token_total",
                      std::string("grant_type=\"") +
                          (grant_type == "refresh_token" ? "refresh_token" : "authorization_code") +
                          "\",outcome=\"" + (result.error ? result.error->error : "ok") + "\"");
  if (result.error) return send_oauth_error(res, *result.error);
  send_json(res, 200, result.body);
  no_store(res);
}

// RFC 7009: the answer is 200 whether or not the token was known (or belongs
// to another client: nothing is revealed and nothing happens).
void handle_revoke(App& app, const httplib::Request& req, httplib::Response& res) {
  const UnixSeconds now = app.now();
  std::optional<ClientRequest> r = read_client_request(req, res);
  if (!r) return;
  auto presented = form_value(r->form, "token");
  std::optional<OAuthError> error;
  try {
    with_transaction(app.store(), TxMode::read_write, [&](StoreTx& tx) {
      ClientRecord client;
      error = authenticate_in(tx, app, req, r->cred, "revoke", now, &client);
      if (error) return;
      if (!presented) {
        error = invalid_request("token is required");
        return;
      }
      // token_type_hint is only a hint (RFC 7009 §2.1): both kinds are looked up anyway.
      auto token = tx.find_token(secret_digest(*presented));
      if (!token || token->client_id != client.id) return;
      AuditFacts audit = facts("revoke", "ok", client.id, "app:" + client.id);
      auto grant = tx.find_grant(token->grant_id);
      if (grant) {
        audit.flow_id = grant->flow_id;
        audit.account = account_label(tx, grant->account_id);
      }
      if (token->kind == TokenKind::refresh && grant) {
        // RFC 7009 §2.1: revoking a refresh token ends the authorization it came from.
        revoke_grant(tx, *grant, now, "app");
        audit.detail = "refresh_token: grant revoked";
      } else {
        tx.revoke_token(token->token_digest);
        audit.detail = "access_token";
      }
      write_audit(tx, req, now, audit);
    });
  } catch (const StorageError& e) {
    log_caught_exception(req, e.what());
    return send_oauth_error(res, failure_answer(&e, "the request could not be stored"));
  }
  if (error) return send_oauth_error(res, *error);
  res.status = 200;
  no_store(res);
}

// ---------- /par (RFC 9126) ----------

// A client-authenticated POST of the authorization request; the answer is a
// request_uri good for one /authorize within 60 s. Everything /authorize
// would check is checked here, so that a bad request is told to the app
// directly; /authorize checks the redirect URI again (it may have been
// unregistered since).
// The checks and the store work of one push, inside the request's
// transaction: the pushed request stored under *request_uri, or the error.
// *bound says whether the code will be DPoP-bound.
std::optional<OAuthError> push_request(StoreTx& tx, App& app, const httplib::Request& req,
                                       const Form& form, const ClientRecord& client,
                                       UnixSeconds now, std::string* request_uri, bool* bound) {
  if (form.count("request_uri")) return invalid_request("request_uri cannot be pushed");
  if (form.count("request")) {
    return OAuthError{"request_not_supported", ErrorCode::bad_request, 400,
                      "request objects are not supported"};
  }
  auto redirect_uri = form_value(form, "redirect_uri");
  auto state = form_value(form, "state");
  auto response_type = form_value(form, "response_type");
  auto challenge = form_value(form, "code_challenge");
  auto method = form_value(form, "code_challenge_method");
  auto scope = form_value(form, "scope");
  auto dpop_jkt = form_value(form, "dpop_jkt");
  if (!redirect_uri || std::find(client.redirect_uris.begin(), client.redirect_uris.end(),
                                 *redirect_uri) == client.redirect_uris.end()) {
    return invalid_request("redirect_uri missing or not registered");
  }
  if (!response_type) return invalid_request("response_type is required");
  if (*response_type != "code") {
    return OAuthError{"unsupported_response_type", ErrorCode::bad_request, 400,
                      "response_type must be code"};
  }
  if (!state || !is_valid_state(*state)) {
    return invalid_request("state must be 1 to 512 printable ASCII characters");
  }
  if (method != "S256") return invalid_request("code_challenge_method must be S256");
  if (!challenge || !is_valid_s256_challenge(*challenge)) {
    return invalid_request("code_challenge must be 43 base64url characters");
  }
  if (scope && !is_valid_scope(*scope)) {
    return OAuthError{"invalid_scope", ErrorCode::bad_request, 400, "scope must be accounts.read"};
  }
  if (dpop_jkt && !is_valid_s256_challenge(*dpop_jkt)) {  // a SHA-256 thumbprint: 43 chars
    return invalid_request("dpop_jkt must be a JWK SHA-256 thumbprint");
  }
  // RFC 9449 §10.1: a DPoP proof sent with the push binds the code as well.
  DpopCheck dpop = check_dpop(tx, app, req, "/par", now);
  if (dpop.error) return dpop.error;
  if (!dpop.jkt.empty()) {
    if (dpop_jkt && *dpop_jkt != dpop.jkt) {
      return invalid_dpop_proof("dpop_jkt differs from the DPoP proof's key");
    }
    dpop_jkt = dpop.jkt;
  }
  nlohmann::json params = {{"redirect_uri", *redirect_uri},
                           {"state", *state},
                           {"response_type", "code"},
                           {"code_challenge", *challenge},
                           {"code_challenge_method", "S256"}};
  if (scope) params["scope"] = *scope;
  if (dpop_jkt) params["dpop_jkt"] = *dpop_jkt;
  *request_uri = kRequestUriPrefix + app.random().token();
  tx.insert_pushed_request(
      {secret_digest(*request_uri), client.id, params.dump(), now + kPushedRequestSeconds, false});
  *bound = dpop_jkt.has_value();
  return std::nullopt;
}

void handle_par(App& app, const httplib::Request& req, httplib::Response& res) {
  const UnixSeconds now = app.now();
  std::optional<ClientRequest> r = read_client_request(req, res);
  if (!r) return;
  // One transaction for the client's authentication, the pushed request and
  // its audit row, run again as a whole after a conflict (with_transaction).
  std::optional<OAuthError> auth_error;
  std::optional<OAuthError> error;
  std::string request_uri;
  try {
    with_transaction(app.store(), TxMode::read_write, [&](StoreTx& tx) {
      ClientRecord client;
      error.reset();
      auth_error = authenticate_in(tx, app, req, r->cred, "par", now, &client);
      if (auth_error) return;
      bool bound = false;
      error = push_request(tx, app, req, r->form, client, now, &request_uri, &bound);
      write_audit(tx, req, now,
                  error
                      ? facts("par", std::string(wire_name(error->code)), client.id,
                              "app:" + client.id, error->description)
                      : facts("par", "ok", client.id, "app:" + client.id, bound ? "dpop_jkt" : ""));
    });
  } catch (const StorageError& e) {
    log_caught_exception(req, e.what());
    return send_oauth_error(res, failure_answer(&e, "the request could not be stored"));
  }
  if (auth_error) return send_oauth_error(res, *auth_error);
  if (error) return send_oauth_error(res, *error);
  send_json(res, 201,
            nlohmann::json{{"request_uri", request_uri}, {"expires_in", kPushedRequestSeconds}});
  no_store(res);
}

nlohmann::json metadata(const ServerConfig& config) {
  const std::string& iss = config.issuer;
  const nlohmann::json auth_methods = {"client_secret_basic", "client_secret_post",
                                       "private_key_jwt", "none"};
  const nlohmann::json algs = jose::accepted_algs();
  return {{"issuer", iss},
          {"authorization_endpoint", iss + "/authorize"},
          {"token_endpoint", iss + "/token"},
          {"revocation_endpoint", iss + "/revoke"},
          {"response_types_supported", {"code"}},
          {"response_modes_supported", {"query"}},
          {"grant_types_supported", {"authorization_code", "refresh_token"}},
          {"scopes_supported", {kScope}},
          {"token_endpoint_auth_methods_supported", auth_methods},
          {"token_endpoint_auth_signing_alg_values_supported", algs},
          {"revocation_endpoint_auth_methods_supported", auth_methods},
          {"revocation_endpoint_auth_signing_alg_values_supported", algs},
          // RFC 9126 §5: PAR is required per client (every FAPI 2.0 client),
          // not for all, so the server-wide flag is false (docs/fapi.md).
          {"pushed_authorization_request_endpoint", iss + "/par"},
          {"require_pushed_authorization_requests", false},
          {"dpop_signing_alg_values_supported", algs},
          {"code_challenge_methods_supported", {"S256"}},
          {"authorization_response_iss_parameter_supported", true}};
}

// Runs a /token, /revoke or /par handler; a storage failure (or any other
// exception) still answers in the RFC's error form rather than the envelope.
// The exception is caught here, so the server's exception handler never sees
// it: it is logged here (its type's message and the path, no token or
// credential), so that a 500 never goes unexplained.
template <typename Handler>
httplib::Server::Handler oauth_endpoint(App& app, Handler handler) {
  return [&app, handler](const httplib::Request& req, httplib::Response& res) {
    try {
      handler(app, req, res);
    } catch (const std::exception& e) {
      log_caught_exception(req, e.what());
      res.headers.clear();
      res.body.clear();
      send_oauth_error(res, failure_answer(&e, "internal error"));
    } catch (...) {
      log_caught_exception(req, "unknown exception");
      res.headers.clear();
      res.body.clear();
      send_oauth_error(res, failure_answer(nullptr, "internal error"));
    }
  };
}

}  // namespace

void register_oauth_routes(Router& server, App& app, std::shared_ptr<const StaticFiles> files) {
  server.Get("/authorize", [&app, files](const httplib::Request& req, httplib::Response& res) {
    // httplib hands HEAD to this GET handler. HEAD is safe (RFC 9110
    // §9.2.1): a link checker's or prefetcher's HEAD starts no flow and does
    // not use up the single-use request_uri the customer's browser brings.
    if (req.method == "HEAD") {
      no_store(res);
      res.set_header("Allow", "GET");
      res.status = 405;
      return;
    }
    handle_authorize(app, *files, req, res);
  });
  server.Post("/token", oauth_endpoint(app, handle_token));
  server.Post("/revoke", oauth_endpoint(app, handle_revoke));
  server.Post("/par", oauth_endpoint(app, handle_par));
  server.Get("/.well-known/oauth-authorization-server",
             [&app](const httplib::Request&, httplib::Response& res) {
               send_json(res, 200, metadata(app.config()));
               res.set_header("Cache-Control", "public, max-age=3600");
             });
}

}  // namespace renkei::server
