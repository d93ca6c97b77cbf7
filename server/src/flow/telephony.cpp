// Screen ④'s inbound call (SPEC §7): the telephony provider reports each call
// to the toll-free numbers as a signed webhook; a call from the registered
// number to the assigned number inside the window verifies the flow. The call
// is never answered: the provider rejects it after 2–3 rings.
#include <algorithm>
#include <cstdlib>
#include <optional>
#include <string>
#include <vector>

#include "ops/crypto.h"
#include "flow/flow_session.h"
#include "http/http_util.h"
#include "records/records.h"
#include "renkei/json.h"
#include "http/routes.h"
#include "flow/telephony.h"

namespace renkei::server {
namespace {

using nlohmann::json;

constexpr std::int64_t kReplayWindowSeconds = 300;
constexpr std::size_t kMaxCallIdBytes = 128;
constexpr std::size_t kMaxPhoneDigits = 20;

struct CallAnswer {
  bool matched = false;
  std::string outcome;  // "ok" or an ErrorCode wire name
};

json answer_json(const CallAnswer& a) {
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

// Matches one call against the flows waiting on ④ and records it, all in one
// transaction. Idempotent on call_id: a call seen before gets its first answer.
// `preferred_flow_id` (simulated calls only) is tried before any other flow.
CallAnswer process_call(App& app, const std::string& call_id,
                        const std::optional<std::string>& caller, const std::string& dialled,
                        const httplib::Request& req, std::string_view note,
                        const std::string& preferred_flow_id = "") {
  const UnixSeconds now = app.now();
  const FlowConfig config = app.flow_config();
  std::unique_ptr<StoreTx> tx = app.store().begin();

  if (std::optional<CallEventRecord> seen = tx->find_call_event(call_id)) {
    app.metrics().count("renkei_telephony_calls_total", "outcome=\"duplicate\"");
    return CallAnswer{!seen->flow_id.empty(), seen->outcome};
  }

  const IncomingCall call{caller, dialled};
  // Every flow this call would verify. pick_call_number gives one phone's flows
  // different numbers, so there is at most one; should there still be more
  // (the pool was shrunk under waiting flows), a real call cannot say which of
  // them it is for: it verifies none, and the operation log says why. Only the
  // simulator, which stands in for one session's own call, names its flow.
  std::vector<std::pair<FlowRecord, FlowTransition>> accepting;
  for (FlowRecord& flow : tx->flows_waiting_for_call(dialled, now)) {
    FlowTransition t = step(flow.state, call, now, config);
    if (t.outcome.accepted) accepting.emplace_back(std::move(flow), std::move(t));
  }
  if (!preferred_flow_id.empty()) {
    auto own = std::find_if(accepting.begin(), accepting.end(),
                            [&](const auto& a) { return a.first.flow_id == preferred_flow_id; });
    if (own != accepting.end()) {
      auto chosen = std::move(*own);
      accepting.clear();
      accepting.push_back(std::move(chosen));
    }
  }
  const bool ambiguous = accepting.size() > 1;
  std::optional<FlowRecord> matched;
  if (accepting.size() == 1) {
    auto& [flow, t] = accepting.front();
    flow.state = t.state;
    flow.updated_at = now;
    tx->update_flow(flow);
    matched = std::move(flow);
  }
  CallAnswer answer;
  answer.matched = matched.has_value();
  answer.outcome = matched  ? std::string("ok")
                   : caller ? std::string(wire_name(ErrorCode::call_not_matched))
                            : std::string(wire_name(ErrorCode::call_withheld));

  CallEventRecord event;
  event.provider_call_id = call_id;
  // Only what the operation log needs: the caller masked, never the number.
  event.caller_masked = caller ? std::optional<std::string>(mask_phone(*caller)) : std::nullopt;
  event.dialled = dialled;
  event.received_at = now;
  event.flow_id = matched ? matched->flow_id : std::string();
  event.outcome = answer.outcome;
  if (!tx->insert_call_event(event)) {
    // Cannot happen inside one serializable transaction after find_call_event;
    // answer like a duplicate rather than verify twice.
    return CallAnswer{false, std::string(wire_name(ErrorCode::call_not_matched))};
  }

  // Operation log: masked numbers only.
  AuditRecord a;
  a.at = now;
  a.step = "incoming_call";
  a.outcome = answer.outcome;
  a.masked_phone = caller ? mask_phone(*caller) : std::string();
  a.ip = client_ip(req);
  a.user_agent = header_for_log(req, "User-Agent");
  a.actor = "telephony";
  a.detail = "call_id=" + call_id + " dialled=" + mask_phone(dialled) +
             (caller ? "" : " withheld") + std::string(note);
  if (ambiguous) {
    a.detail += " ambiguous: " + std::to_string(accepting.size()) +
                " flows for this phone wait on this number; none verified (flows";
    for (const auto& [flow, t] : accepting) a.detail += " " + flow.flow_id;
    a.detail += ")";
    app.metrics().count("renkei_telephony_ambiguous_calls_total");
  }
  if (matched) {
    a.flow_id = matched->flow_id;
    a.account = matched->state.account ? account_key(*matched->state.account) : std::string();
    a.name_kana = matched->state.name_kana;
    a.client_id = matched->client_id;
  }
  tx->append_audit(a);
  if (!tx->commit()) throw StorageError("commit failed");

  app.metrics().count("renkei_telephony_calls_total", "outcome=\"" + answer.outcome + "\"");
  return answer;
}

void refuse_webhook(App& app, httplib::Response& res, const char* reason) {
  app.metrics().count("renkei_telephony_rejected_total", std::string("reason=\"") + reason + "\"");
  send_error(res, ErrorCode::unauthorized);
}

// POST /telephony/calls
void handle_webhook(App& app, const httplib::Request& req, httplib::Response& res) {
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
  try {
    send_json(res, 200, answer_json(process_call(app, *call_id, caller, *dialled, req, "")));
  } catch (const std::exception&) {
    send_error(res, ErrorCode::system_error);
  }
}

// POST /dev/simulate-call (dev mode only): a call from the flow's registered
// number to its assigned number, through the same matching as the webhook
// (this session's flow tried first: place_simulated_call).
void handle_simulate(App& app, const httplib::Request& req, httplib::Response& res) {
  add_security_headers(res, true);
  if (!origin_allowed(app, req)) {
    send_error(res, ErrorCode::forbidden);
    return;
  }
  if (!json_body(req, res)) return;
  try {
    std::optional<FlowRecord> waiting;
    {
      std::unique_ptr<StoreTx> tx = app.store().begin();
      std::optional<FlowRecord> flow = load_session_flow(app, *tx, req);
      if (!flow) {
        send_error(res, ErrorCode::session_expired);
        return;
      }
      if (!csrf_valid(req, *flow)) {
        send_error(res, ErrorCode::forbidden);
        return;
      }
      waiting = std::move(*flow);
    }  // the read transaction ends before the call's own transaction starts
    std::optional<CallMatch> match = place_simulated_call(app, *waiting, req, " simulated");
    if (!match) {
      json body = error_envelope(ErrorCode::invalid_step);
      body["flow"] = flow_view_json(waiting->state, app.now());
      send_json(res, http_status(ErrorCode::invalid_step), body);
      return;
    }
    send_json(res, 200, answer_json(CallAnswer{match->matched, match->outcome}));
  } catch (const std::exception&) {
    send_error(res, ErrorCode::system_error);
  }
}

}  // namespace

std::optional<std::string> pick_call_number(StoreTx& tx, const std::vector<std::string>& pool,
                                            const FlowRecord& flow, UnixSeconds now) {
  std::vector<const std::string*> free;
  for (const std::string& number : pool) {
    bool taken = false;
    for (const FlowRecord& other : tx.flows_waiting_for_call(number, now)) {
      taken |= other.flow_id != flow.flow_id && other.state.phone == flow.state.phone;
    }
    if (!taken) free.push_back(&number);
  }
  if (free.empty()) return std::nullopt;
  return *free[static_cast<std::size_t>(random_below(free.size()))];
}

std::optional<CallMatch> place_simulated_call(App& app, const FlowRecord& flow,
                                              const httplib::Request& req, std::string_view note) {
  if (flow.state.screen != Screen::call_wait || !flow.state.call || flow.state.phone.empty()) {
    return std::nullopt;
  }
  CallAnswer answer = process_call(app, "sim-" + random_token(12), flow.state.phone,
                                   flow.state.call->dialled_number, req, note, flow.flow_id);
  return CallMatch{answer.matched, answer.outcome};
}

void register_telephony_routes(httplib::Server& server, App& app) {
  server.Post("/telephony/calls", [&app](const httplib::Request& req, httplib::Response& res) {
    handle_webhook(app, req, res);
  });
  if (app.config().dev_mode) {
    server.Post("/dev/simulate-call", [&app](const httplib::Request& req, httplib::Response& res) {
      handle_simulate(app, req, res);
    });
  }
}

}  // namespace renkei::server
