// Screen ④'s inbound call over HTTP (SPEC §7): the telephony provider reports
// each call to the toll-free numbers as a signed webhook; a call from the
// registered number to the assigned number inside the window verifies the
// flow. The call is never answered: the provider rejects it after 2–3 rings.
// This file checks the signature and parses the report; the matching and its
// write are the flow service's (FlowService::incoming_call).
#include <algorithm>
#include <cstdlib>
#include <optional>
#include <string>
#include <vector>

#include "flow/flow_service.h"
#include "flow/flow_session.h"
#include "http/http_util.h"
#include "http/routes.h"
#include "ops/crypto.h"
#include "renkei/json.h"

namespace renkei::server {
namespace {

using nlohmann::json;

constexpr std::int64_t kReplayWindowSeconds = 300;
constexpr std::size_t kMaxCallIdBytes = 128;
constexpr std::size_t kMaxPhoneDigits = 20;

json answer_json(const CallMatch& a) {
  return json{{"matched", a.matched}, {"outcome", a.outcome}, {"action", "reject"}};
}

// The provider's call id: an opaque token of safe characters.
bool is_valid_call_id(std::string_view id) {
  if (id.empty() || id.size() > kMaxCallIdBytes) return false;
  for (char c : id) {
    bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_' || c == '.' || c == ':';
    if (!ok) return false;
  }
  return true;
}

// A number as the provider reports it, as the digits the records hold:
// "09011113333", "090-1111-3333" or E.164 "+819011113333". nullopt otherwise.
std::optional<std::string> phone_digits(std::string_view s) {
  std::string out;
  if (s.starts_with("+81")) {
    out = "0";
    s.remove_prefix(3);
  }
  for (char c : s) {
    if (c >= '0' && c <= '9') {
      out.push_back(c);
    } else if (c != '-' && c != ' ') {
      return std::nullopt;
    }
  }
  if (out.empty() || out == "0" || out.size() > kMaxPhoneDigits) return std::nullopt;
  return out;
}

// Unix seconds as decimal digits (no sign, at most 12 digits).
std::optional<std::int64_t> parse_timestamp(std::string_view s) {
  if (s.empty() || s.size() > 12) return std::nullopt;
  std::int64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
    v = v * 10 + (c - '0');
  }
  return v;
}

std::string lower_ascii(std::string s) {
  for (char& c : s) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return s;
}

void refuse_webhook(App& app, httplib::Response& res, const char* reason) {
  app.metrics().count("renkei_telephony_rejected_total", std::string("reason=\"") + reason + "\"");
  send_error(res, ErrorCode::unauthorized);
}

// POST /telephony/calls
void handle_webhook(App& app, FlowService& service, const httplib::Request& req,
                    httplib::Response& res) {
  add_security_headers(res, true);
  const std::string& secret = app.config().webhook_secret;
  const std::string timestamp = req.get_header_value("X-Renkei-Timestamp");
  const std::string signature = req.get_header_value("X-Renkei-Signature");
  std::optional<std::int64_t> ts = parse_timestamp(timestamp);
  if (secret.empty() || !ts || !signature.starts_with("sha256=")) {
    refuse_webhook(app, res, "missing");
    return;
  }
  const std::string expected = hmac_sha256_hex(secret, timestamp + "." + req.body);
  if (!constant_time_equal(lower_ascii(signature.substr(7)), expected)) {
    refuse_webhook(app, res, "signature");
    return;
  }
  if (std::llabs(app.now() - *ts) > kReplayWindowSeconds) {
    refuse_webhook(app, res, "stale");
    return;
  }

  std::optional<json> body = json_body(req, res);
  if (!body) return;
  std::optional<std::string> call_id = json_string(*body, "call_id");
  std::optional<std::string> dialled_text = json_string(*body, "dialled");
  std::optional<std::string> dialled = dialled_text ? phone_digits(*dialled_text) : std::nullopt;
  std::optional<std::string> caller;  // nullopt = 非通知
  bool caller_ok = true;
  if (auto it = body->find("caller"); it != body->end() && !it->is_null()) {
    if (!it->is_string()) {
      caller_ok = false;
    } else if (it->get_ref<const std::string&>() != "withheld") {
      // "anonymous", "unavailable" and the like never verify: treated as withheld.
      caller = phone_digits(it->get_ref<const std::string&>());
    }
  }
  if (!call_id || !is_valid_call_id(*call_id) || !dialled || !caller_ok) {
    send_error(res, ErrorCode::bad_request);
    return;
  }
  CallRequest call;
  call.call_id = *call_id;
  call.caller = std::move(caller);
  call.dialled = *dialled;
  call.origin = request_origin(req);
  try {
    send_json(res, 200, answer_json(service.incoming_call(call)));
  } catch (const std::exception& e) {
    log_caught_exception(req, e.what());  // a 500 never unexplained
    send_failure(res, e);                 // 503 with Retry-After for an outage of the store
  }
}

// POST /dev/simulate-call (dev mode only): a call from the flow's registered
// number to its assigned number, through the same matching as the webhook
// (this session's flow tried first: place_simulated_call).
void handle_simulate(App& app, FlowService& service, const httplib::Request& req,
                     httplib::Response& res) {
  add_security_headers(res, true);
  if (!origin_allowed(app, req)) {
    send_error(res, ErrorCode::forbidden);
    return;
  }
  if (!json_body(req, res)) return;
  try {
    // The read ends before the call's own transaction starts.
    std::optional<FlowRecord> flow = service.flow_of_session(session_digest_of(app, req));
    if (!flow) {
      send_error(res, ErrorCode::session_expired);
      return;
    }
    if (!FlowService::csrf_matches(*flow, csrf_header(req))) {
      send_error(res, ErrorCode::forbidden);
      return;
    }
    std::optional<CallMatch> match = service.simulate_call(*flow, request_origin(req), " simulated");
    if (!match) {
      json body = error_envelope(ErrorCode::invalid_step);
      body["flow"] = flow_view_json(flow->state, app.now());
      send_json(res, http_status(ErrorCode::invalid_step), body);
      return;
    }
    send_json(res, 200, answer_json(*match));
  } catch (const std::exception& e) {
    log_caught_exception(req, e.what());  // a 500 never unexplained
    send_failure(res, e);                 // 503 with Retry-After for an outage of the store
  }
}

}  // namespace

void register_telephony_routes(Router& server, App& app) {
  auto service = std::make_shared<FlowService>(app);
  server.Post("/telephony/calls",
              [&app, service](const httplib::Request& req, httplib::Response& res) {
                handle_webhook(app, *service, req, res);
              });
  if (app.config().dev_mode) {
    server.Post("/dev/simulate-call",
                [&app, service](const httplib::Request& req, httplib::Response& res) {
                  handle_simulate(app, *service, req, res);
                });
  }
}

}  // namespace renkei::server
