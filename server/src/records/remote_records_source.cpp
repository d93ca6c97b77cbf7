// The core-banking gateway adapter (remote_records_source.h). The JSON
// contract is docs/core-banking.openapi.yaml.
#include "records/remote_records_source.h"

#include <nlohmann/json.hpp>

#include "renkei/fields.h"

namespace renkei::server {

using nlohmann::json;

std::string_view breaker_state_wire_name(BreakerState s) {
  switch (s) {
    case BreakerState::closed:
      return "closed";
    case BreakerState::open:
      return "open";
    case BreakerState::half_open:
      return "half_open";
  }
  return "closed";
}

// ---------- the circuit breaker ----------

CircuitBreaker::CircuitBreaker(BreakerConfig config, Metrics* metrics, Now now)
    : config_(config), metrics_(metrics), now_(std::move(now)) {
  if (!now_) now_ = [] { return std::chrono::steady_clock::now(); };
  if (metrics_) metrics_->set_gauge("renkei_records_breaker_state", "", 0);
}

void CircuitBreaker::set_state(BreakerState s) {
  if (s == state_) return;
  state_ = s;
  if (metrics_) {
    // 0 closed, 1 open, 2 half-open.
    metrics_->set_gauge("renkei_records_breaker_state", "", static_cast<double>(s));
    metrics_->count("renkei_records_breaker_transitions_total",
                    "to=\"" + std::string(breaker_state_wire_name(s)) + "\"");
  }
}

bool CircuitBreaker::allow() {
  std::lock_guard<std::mutex> lock(mutex_);
  if (state_ == BreakerState::open) {
    if (now_() - opened_at_ < std::chrono::milliseconds(config_.open_ms)) return false;
    set_state(BreakerState::half_open);
    probe_out_ = false;
  }
  if (state_ == BreakerState::half_open) {
    if (probe_out_) return false;
    probe_out_ = true;
  }
  return true;
}

void CircuitBreaker::on_success() {
  std::lock_guard<std::mutex> lock(mutex_);
  consecutive_failures_ = 0;
  probe_out_ = false;
  set_state(BreakerState::closed);
}

void CircuitBreaker::on_failure() {
  std::lock_guard<std::mutex> lock(mutex_);
  probe_out_ = false;
  ++consecutive_failures_;
  if (state_ == BreakerState::half_open ||
      (state_ == BreakerState::closed && consecutive_failures_ >= config_.failure_threshold)) {
    opened_at_ = now_();
    set_state(BreakerState::open);
  }
}

BreakerState CircuitBreaker::state() {
  std::lock_guard<std::mutex> lock(mutex_);
  if (state_ == BreakerState::open &&
      now_() - opened_at_ >= std::chrono::milliseconds(config_.open_ms)) {
    return BreakerState::half_open;  // the next call is the probe
  }
  return state_;
}

// ---------- error mapping ----------

RecordsFailure failure_of_gateway_error(int http_status, const std::string& body) {
  json j = json::parse(body, nullptr, false);
  std::string code;
  std::optional<UnixSeconds> reopens_at;
  if (j.is_object() && j.contains("error") && j["error"].is_object()) {
    const json& e = j["error"];
    if (e.contains("code") && e["code"].is_string()) code = e["code"].get<std::string>();
    if (e.contains("reopens_at") && e["reopens_at"].is_string()) {
      reopens_at = parse_iso_instant(e["reopens_at"].get<std::string>());
    }
  }
  const std::string detail = "gateway " + std::to_string(http_status) + (code.empty() ? "" : " ") + code;
  if (code == "MAINTENANCE") {
    return RecordsFailure{RecordsFailureKind::maintenance, reopens_at, detail};
  }
  // A cursor the gateway did not give (the app's error, passed through).
  if (code == "INVALID_CURSOR") {
    return RecordsFailure{RecordsFailureKind::bad_cursor, std::nullopt, detail};
  }
  if (code == "BUSY" || code == "TIMEOUT" || http_status == 429 || http_status == 504) {
    return RecordsFailure{RecordsFailureKind::timeout, std::nullopt, detail};
  }
  return RecordsFailure{RecordsFailureKind::unavailable, std::nullopt, detail};
}

// ---------- the adapter ----------

namespace {

json account_json(const AccountRef& ref) {
  return json{{"branch", ref.branch},
              {"account_type", std::string(account_type_wire_name(ref.type))},
              {"account_number", ref.number}};
}

RecordsFailure broken(const char* what) {
  return RecordsFailure{RecordsFailureKind::unavailable, std::nullopt,
                        std::string("gateway answer: ") + what};
}

std::optional<json> parse_object(const std::string& text) {
  json j = json::parse(text, nullptr, false);
  if (!j.is_object()) return std::nullopt;
  return j;
}

}  // namespace

RemoteRecordsSource::RemoteRecordsSource(RecordsConfig config,
                                         std::unique_ptr<GatewayTransport> transport,
                                         Metrics* metrics)
    : config_(std::move(config)),
      transport_(std::move(transport)),
      metrics_(metrics),
      breaker_(config_.breaker, metrics) {}

RecordsResult<std::string> RemoteRecordsSource::call(const char* operation,
                                                     const std::string& path, std::string& body,
                                                     bool read, bool secret) {
  const int attempts = read ? 1 + std::max(0, config_.read_retries) : 1;
  RecordsFailure last{RecordsFailureKind::unavailable, std::nullopt, "circuit breaker open"};
  std::string outcome = "breaker_open";
  for (int attempt = 0; attempt < attempts; ++attempt) {
    if (!breaker_.allow()) {
      last = RecordsFailure{RecordsFailureKind::unavailable, std::nullopt, "circuit breaker open"};
      outcome = "breaker_open";
      break;
    }
    GatewayReply reply = transport_->post(path, body, config_.timeout_ms);
    if (reply.status == GatewayReply::Status::ok && reply.http_status == 200) {
      breaker_.on_success();
      if (secret) wipe(body);
      if (metrics_) {
        metrics_->count("renkei_records_calls_total",
                        "operation=\"" + std::string(operation) + "\",outcome=\"ok\"");
      }
      return std::move(reply.body);
    }
    if (reply.status == GatewayReply::Status::ok) {
      last = failure_of_gateway_error(reply.http_status, reply.body);
      if (last.kind == RecordsFailureKind::maintenance) {
        // The gateway answered: healthy, but closed. Not a fault; no retry.
        breaker_.on_success();
        outcome = "maintenance";
        break;
      }
      // A refused cursor is an answer about the request, not a fault.
      if (last.kind == RecordsFailureKind::bad_cursor) {
        breaker_.on_success();
        outcome = "bad_cursor";
        break;
      }
      // A 404 of an account is an answer, not a fault (find_account reads it).
      if (reply.http_status == 404) {
        breaker_.on_success();
        outcome = "not_found";
        last.detail = "not_found";
        break;
      }
      outcome = last.kind == RecordsFailureKind::timeout ? "busy" : "error";
    } else if (reply.status == GatewayReply::Status::timeout) {
      last = RecordsFailure{RecordsFailureKind::timeout, std::nullopt, "gateway timeout"};
      outcome = "timeout";
    } else {
      last = RecordsFailure{RecordsFailureKind::unavailable, std::nullopt,
                            reply.status == GatewayReply::Status::tls_failed
                                ? "gateway TLS handshake failed"
                                : "gateway unreachable"};
      outcome = "unreachable";
    }
    breaker_.on_failure();
  }
  if (secret) wipe(body);
  if (metrics_) {
    metrics_->count("renkei_records_calls_total",
                    "operation=\"" + std::string(operation) + "\",outcome=\"" + outcome + "\"");
  }
  return last;
}

RecordsResult<std::optional<AccountInfo>> RemoteRecordsSource::find_account(
    const AccountRef& ref) {
  std::string body = json{{"account", account_json(ref)}}.dump();
  RecordsResult<std::string> r = call("find_account", "/v1/accounts/lookup", body, true, false);
  if (!r.ok()) {
    if (r.failure().detail == "not_found") return std::optional<AccountInfo>();
    return r.failure();
  }
  std::optional<json> j = parse_object(r.value());
  if (!j || !(*j).contains("found") || !(*j)["found"].is_boolean()) return broken("lookup");
  if (!(*j)["found"].get<bool>()) return std::optional<AccountInfo>();
  const json& a = *j;
  if (!a.contains("customer_ref") || !a["customer_ref"].is_string() || !a.contains("status") ||
      !a["status"].is_string() || !a.contains("cash_card") || !a["cash_card"].is_boolean()) {
    return broken("lookup");
  }
  std::optional<AccountStatus> status = account_status_from_wire(a["status"].get<std::string>());
  const std::string customer = a["customer_ref"].get<std::string>();
  if (!status || customer.empty() || customer.size() > 64) return broken("lookup");
  return std::optional<AccountInfo>(
      AccountInfo{ref, customer, *status, a["cash_card"].get<bool>()});
}

RecordsResult<bool> RemoteRecordsSource::identity_matches(const AccountRef& ref,
                                                          const std::string& birth_date,
                                                          const std::string& phone) {
  std::string body =
      json{{"account", account_json(ref)}, {"birth_date", birth_date}, {"phone", phone}}.dump();
  RecordsResult<std::string> r =
      call("identity", "/v1/identity/verify", body, true, /*secret=*/true);
  if (!r.ok()) return r.failure();
  std::optional<json> j = parse_object(r.value());
  if (!j || !(*j).contains("match") || !(*j)["match"].is_boolean()) return broken("identity");
  return (*j)["match"].get<bool>();
}

RecordsResult<std::vector<std::string>> RemoteRecordsSource::registered_phones(
    const AccountRef& ref) {
  std::string body = json{{"account", account_json(ref)}}.dump();
  RecordsResult<std::string> r = call("phones", "/v1/accounts/phones", body, true, false);
  if (!r.ok()) return r.failure();
  std::optional<json> j = parse_object(r.value());
  if (!j || !(*j).contains("phones") || !(*j)["phones"].is_array()) return broken("phones");
  std::vector<std::string> out;
  for (const json& p : (*j)["phones"]) {
    if (!p.is_string()) return broken("phones");
    out.push_back(p.get<std::string>());
  }
  return out;
}

RecordsResult<PinCheck> RemoteRecordsSource::verify_pin(const AccountRef& ref,
                                                        std::string_view pin) {
  // Built by hand so that the only copy of the PIN is `body`, wiped by call()
  // (a json value would leave copies in its own buffers). The PIN is 4 digits
  // (the core's field rule has been applied), so it needs no escaping.
  std::string body = json{{"account", account_json(ref)}}.dump();
  body.pop_back();  // the closing brace
  body.reserve(body.size() + 16 + pin.size());
  body += ",\"pin\":\"";
  body.append(pin.data(), pin.size());
  body += "\"}";
  RecordsResult<std::string> r =
      call("verify_pin", "/v1/pin/verify", body, /*read=*/false, /*secret=*/true);
  if (!r.ok()) return r.failure();
  std::optional<json> j = parse_object(r.value());
  if (!j || !(*j).contains("match") || !(*j)["match"].is_boolean()) return broken("pin");
  return (*j)["match"].get<bool>() ? PinCheck::match : PinCheck::mismatch;
}

RecordsResult<std::int64_t> RemoteRecordsSource::balance(const AccountRef& ref) {
  std::string body = json{{"account", account_json(ref)}}.dump();
  RecordsResult<std::string> r = call("balance", "/v1/accounts/balance", body, true, false);
  if (!r.ok()) return r.failure();
  std::optional<json> j = parse_object(r.value());
  if (!j || !(*j).contains("balance_yen") || !(*j)["balance_yen"].is_number_integer()) {
    return broken("balance");
  }
  return (*j)["balance_yen"].get<std::int64_t>();
}

RecordsResult<TransactionPage> RemoteRecordsSource::transactions(const AccountRef& ref,
                                                                 const std::string& from,
                                                                 const std::string& to,
                                                                 int limit,
                                                                 const std::string& cursor) {
  json req{{"account", account_json(ref)}, {"from", from}, {"to", to}, {"limit", limit}};
  if (!cursor.empty()) req["cursor"] = cursor;
  std::string body = req.dump();
  RecordsResult<std::string> r =
      call("transactions", "/v1/accounts/transactions", body, true, false);
  if (!r.ok()) return r.failure();
  std::optional<json> j = parse_object(r.value());
  if (!j || !(*j).contains("transactions") || !(*j)["transactions"].is_array()) {
    return broken("transactions");
  }
  TransactionPage page;
  for (const json& e : (*j)["transactions"]) {
    if (!e.is_object() || !e.contains("id") || !e["id"].is_string() || !e.contains("date") ||
        !e["date"].is_string() || !e.contains("description") || !e["description"].is_string() ||
        !e.contains("amount_yen") || !e["amount_yen"].is_number_integer() ||
        !e.contains("balance_after_yen") || !e["balance_after_yen"].is_number_integer()) {
      return broken("transactions");
    }
    page.items.push_back(Transaction{e["id"].get<std::string>(), e["date"].get<std::string>(),
                                     e["description"].get<std::string>(),
                                     e["amount_yen"].get<std::int64_t>(),
                                     e["balance_after_yen"].get<std::int64_t>()});
  }
  if (static_cast<int>(page.items.size()) > limit) return broken("transactions: too many");
  if ((*j).contains("next_cursor") && (*j)["next_cursor"].is_string()) {
    page.next_cursor = (*j)["next_cursor"].get<std::string>();
  }
  return page;
}

}  // namespace renkei::server
