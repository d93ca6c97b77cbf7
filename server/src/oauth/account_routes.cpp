// The account API the app reads with its access token (SPEC §8): the linked
// account, its balance, and about three months of transactions. Bearer tokens
// per RFC 6750 §2.1 (Authorization header only; query and form tokens are not
// accepted); a DPoP-bound token (FAPI 2.0, RFC 9449 §7) only with the DPoP
// scheme and a proof of its key for this request (htm, htu, ath, a jti not
// seen before by any instance). Every read checks the token, its grant and the client (a
// read-only transaction, unless a DPoP proof's jti is remembered), asks the records, then
// touches the grant's last_used_at and writes an audit record in a second transaction.
#include <algorithm>
#include <cctype>
#include <charconv>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "http/http_util.h"
#include "http/routes.h"
#include "oauth/jose.h"
#include "ops/crypto.h"
#include "records/records.h"
#include "records/records_source.h"
#include "renkei/error.h"
#include "renkei/json.h"
#include "renkei/time.h"
#include "store/storage.h"

namespace renkei::server {
namespace {

constexpr int kDefaultLimit = 50;
constexpr int kMaxLimit = 100;
constexpr int kServedMonths = 3;

// What a valid token gives access to.
struct Caller {
  GrantRecord grant;
  ClientRecord client;
  AccountRecord account;
};

// A refusal: the envelope's code, and for 401 the RFC 6750 challenge.
struct Refusal {
  ErrorCode code;
  std::string challenge;  // WWW-Authenticate value for 401, else empty
};

Refusal invalid_token(const char* description) {
  return {ErrorCode::unauthorized,
          std::string("Bearer realm=\"renkei\", error=\"invalid_token\", error_description=\"") +
              description + "\""};
}

Refusal dpop_refusal(const char* error, std::string description) {
  for (char& c : description) {  // a quoted-string (RFC 9110 §5.6.4) of plain ASCII
    if (c < 0x20 || c > 0x7e || c == '"' || c == '\\') c = '?';
  }
  std::string algs;
  for (const auto& a : jose::accepted_algs()) algs += (algs.empty() ? "" : " ") + a;
  return {ErrorCode::unauthorized, std::string("DPoP realm=\"renkei\", error=\"") + error +
                                       "\", error_description=\"" + description + "\", algs=\"" +
                                       algs + "\""};
}

// The token in "Authorization: Bearer <token>" or "Authorization: DPoP
// <token>" (*dpop tells which), "" when there is no Authorization header,
// nullopt when the header is there but is not one of these with a token of
// the RFC 6750 §2.1 b64token syntax.
std::optional<std::string> access_token(const httplib::Request& req, bool* dpop) {
  *dpop = false;
  if (!req.has_header("Authorization")) return std::string();
  if (req.get_header_value_count("Authorization") > 1) return std::nullopt;
  std::string h = req.get_header_value("Authorization");
  const std::size_t space = h.find(' ');
  if (space == std::string::npos || space + 1 >= h.size()) return std::nullopt;
  std::string scheme = h.substr(0, space);
  for (char& c : scheme) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (scheme != "bearer" && scheme != "dpop") return std::nullopt;
  *dpop = scheme == "dpop";
  std::string token = h.substr(space + 1);
  if (token.empty()) return std::nullopt;
  for (char c : token) {
    const bool ok = std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.' ||
                    c == '_' || c == '~' || c == '+' || c == '/' || c == '=';
    if (!ok) return std::nullopt;
  }
  return token;
}

// Checks token → grant → client → account. RFC 6750 §3.1: a request without
// any credentials gets the bare challenge, without an error code.
std::optional<Refusal> authenticate(StoreTx& tx, const App& app, const httplib::Request& req,
                                    UnixSeconds now, Caller* out) {
  bool dpop_scheme = false;
  auto presented = access_token(req, &dpop_scheme);
  if (!presented) return invalid_token("malformed Authorization header");
  if (presented->empty()) return Refusal{ErrorCode::unauthorized, "Bearer realm=\"renkei\""};
  auto token = tx.find_token(secret_digest(*presented));
  if (!token || token->kind != TokenKind::access) return invalid_token("unknown access token");
  if (!token->dpop_jkt.empty()) {
    // RFC 9449 §7.1: the DPoP scheme and a proof by the token's key, for
    // this method and URL, carrying the token's hash (ath).
    if (!dpop_scheme) return dpop_refusal("invalid_token", "the access token is DPoP-bound");
    if (req.get_header_value_count("DPoP") != 1) {
      return dpop_refusal("invalid_dpop_proof", "exactly one DPoP proof is required");
    }
    jose::DpopRules rules;
    rules.method = req.method;
    rules.url = app.config().issuer + req.path;
    rules.now = now;
    rules.access_token = *presented;
    std::string why;
    auto proof = jose::verify_dpop_proof(req.get_header_value("DPoP"), rules, &why);
    if (!proof) return dpop_refusal("invalid_dpop_proof", why);
    if (proof->jkt != token->dpop_jkt) {
      return dpop_refusal("invalid_dpop_proof", "the proof is not by the token's key");
    }
    if (!tx.remember_jti("dpop", proof->jkt, secret_digest(proof->jti),
                         proof->iat + rules.max_age + 1)) {
      return dpop_refusal("invalid_dpop_proof", "DPoP proof jti was already used");
    }
  } else if (dpop_scheme) {
    return invalid_token("the access token is not DPoP-bound");
  }
  if (token->revoked) return invalid_token("access token revoked");
  if (now >= token->expires_at) return invalid_token("access token expired");
  auto grant = tx.find_grant(token->grant_id);
  if (!grant || grant->revoked_at) return invalid_token("authorization revoked");
  if (now >= grant->expires_at) return invalid_token("authorization expired");
  auto client = tx.find_client(grant->client_id);
  if (!client || client->id != token->client_id) return invalid_token("unknown client");
  if (!client->enabled) return Refusal{ErrorCode::service_unavailable, ""};
  // Renkei's row of the account (the record itself with the local source, the
  // mapping with the remote one); its standing now is the records' (serve).
  auto account = tx.account_by_id(grant->account_id);
  if (!account) return Refusal{ErrorCode::account_not_eligible, ""};
  *out = Caller{*grant, *client, *account};
  return std::nullopt;
}

nlohmann::json account_json(const AccountRecord& a) {
  return {{"branch", a.ref.branch},
          {"account_type", std::string(account_type_wire_name(a.ref.type))},
          {"account_type_label", std::string(account_type_label_ja(a.ref.type))},
          {"account_number", a.ref.number}};
}

// The envelope for a bad query parameter: bad_request naming the parameter.
void send_bad_param(httplib::Response& res, const char* param) {
  nlohmann::json body = error_envelope(ErrorCode::bad_request);
  body["error"]["field"] = param;
  send_json(res, http_status(ErrorCode::bad_request), body);
}

// The first day served: the same day three months before today (JST), or the
// month's last day when that month is shorter (05-31 → 02-28).
CivilDate earliest_served(const CivilDate& today) {
  int months = today.year * 12 + (today.month - 1) - kServedMonths;
  CivilDate d{months / 12, months % 12 + 1, 1};
  d.day = std::min(today.day, days_in_month(d.year, d.month));
  return d;
}

// The API's cursor: the records' cursor (letters, digits, '-', '_'; the
// local source's is an entry id) in base64url, so that an app treats it as
// opaque.
std::string encode_cursor(const std::string& records_cursor) {
  return base64url_encode(records_cursor);
}

std::optional<std::string> decode_cursor(std::string_view cursor) {
  // base64url without padding: 4 characters carry 3 bytes.
  if (cursor.empty() || cursor.size() > 88) return std::nullopt;
  std::string bytes;
  std::uint32_t acc = 0;
  int bits = 0;
  for (char c : cursor) {
    int v = -1;
    if (c >= 'A' && c <= 'Z') v = c - 'A';
    if (c >= 'a' && c <= 'z') v = c - 'a' + 26;
    if (c >= '0' && c <= '9') v = c - '0' + 52;
    if (c == '-') v = 62;
    if (c == '_') v = 63;
    if (v < 0) return std::nullopt;
    acc = (acc << 6) | static_cast<std::uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      bytes.push_back(static_cast<char>((acc >> bits) & 0xff));
    }
  }
  if (bytes.empty() || bytes.size() > 64) return std::nullopt;
  for (char c : bytes) {
    const bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                    c == '-' || c == '_';
    if (!ok) return std::nullopt;
  }
  // The local source's cursors are entry ids: a positive number, no sign or zeros in front.
  const bool digits_only =
      std::all_of(bytes.begin(), bytes.end(), [](char c) { return c >= '0' && c <= '9'; });
  if (bytes == "0" || (bytes[0] == '0' && digits_only)) {
    return std::nullopt;
  }
  if (encode_cursor(bytes) != cursor) return std::nullopt;  // one spelling per cursor
  return bytes;
}

// A query parameter given at most once: nullopt when absent; sets *repeated.
std::optional<std::string> single_param(const httplib::Request& req, const char* key,
                                        bool* repeated) {
  std::size_t n = req.get_param_value_count(key);
  if (n > 1) *repeated = true;
  if (n != 1) return std::nullopt;
  return req.get_param_value(key);
}

// One read of the account API: authenticate (one short transaction, which
// also remembers a DPoP proof's jti), ask
// the records for the account's standing and let `read` build the body from
// them (or refuse with an error it has already written, setting *refused),
// then record the use in a second transaction. No store transaction is open
// while the records (perhaps a remote gateway) are asked.
template <typename Read>
void serve(App& app, const httplib::Request& req, httplib::Response& res, const char* what,
           Read read) {
  const UnixSeconds now = app.now();
  Caller caller;
  {
    // Only a DPoP proof writes here (its jti, remembered against replay); a
    // bearer token is checked in a read-only transaction, which on SQLite
    // never waits for the one writer (the use is recorded below).
    bool dpop_scheme = false;
    (void)access_token(req, &dpop_scheme);
    // with_transaction: a pooled PostgreSQL connection lost before anything
    // reached the database (or a conflict) runs the check again; a refusal
    // leaves the unit by an exception, so that nothing of it is committed
    // (a proof refused after its jti was remembered is not remembered), as
    // before. The answer is written after the unit.
    struct Refused {
      Refusal refusal;
    };
    std::optional<Refusal> refusal;
    try {
      with_transaction(app.store(), dpop_scheme ? TxMode::read_write : TxMode::read_only,
                       [&](StoreTx& tx) {
                         if (auto r = authenticate(tx, app, req, now, &caller)) throw Refused{*r};
                       });
    } catch (const Refused& r) {
      refusal = r.refusal;
    }
    if (refusal) {
      send_error(res, refusal->code);
      if (!refusal->challenge.empty()) res.set_header("WWW-Authenticate", refusal->challenge);
      res.set_header("Cache-Control", "no-store");
      app.metrics().count("renkei_api_requests_total",
                          std::string("outcome=\"") + std::string(wire_name(refusal->code)) + "\"");
      return;
    }
    // A DPoP proof's jti is in the replay cache now (with_transaction
    // committed it, or threw): durable before any answer.
  }
  ErrorCode refused = ErrorCode::bad_request;
  std::string detail = what;
  std::optional<nlohmann::json> body;
  RecordsResult<std::optional<AccountInfo>> standing =
      app.records().find_account(caller.account.ref);
  if (!standing.ok()) {
    refused = error_code_of(standing.failure());
    detail += " records " + std::string(records_failure_wire_name(standing.failure().kind));
    send_error(res, refused);
  } else if (!standing.value() || !serves_account_data(standing.value()->standing())) {
    // SPEC §8: a closed or moved account is no longer served under its old number.
    refused = ErrorCode::account_not_eligible;
    send_error(res, refused);
  } else {
    body = read(app.records(), caller, now, &refused);
  }
  AuditRecord audit;
  audit.at = now;
  audit.flow_id = caller.grant.flow_id;
  audit.step = "api.read";
  audit.outcome = body ? "ok" : std::string(wire_name(refused));
  audit.account = account_key(caller.account.ref);
  audit.client_id = caller.client.id;
  audit.ip = client_ip(req);
  audit.user_agent = header_for_log(req, "User-Agent");
  audit.actor = "app:" + caller.client.id;
  audit.detail = detail;
  // with_transaction: a conflict, or a pooled PostgreSQL connection dropped
  // before anything went out, runs the unit again; a failed commit throws
  // (the server's handler answers system_error).
  with_transaction(app.store(), TxMode::read_write, [&](StoreTx& tx) {
    // Read again: a refresh or a revocation may have happened meanwhile.
    // Read after a refusal too, although only a served read records the use:
    // on PostgreSQL the audit row alone would be a deferred write sent with
    // the COMMIT, and a connection lost in that round trip is never run again
    // (the COMMIT may have happened); lost in this read's, the unit is.
    std::optional<GrantRecord> grant = tx.find_grant(caller.grant.id);
    if (body && grant && !grant->revoked_at) {
      grant->last_used_at = now;
      tx.update_grant(*grant);
    }
    tx.append_audit(audit);
  });
  app.metrics().count("renkei_api_requests_total",
                      std::string("outcome=\"") + (body ? "ok" : audit.outcome) + "\"");
  if (body) send_json(res, 200, *body);
  res.set_header("Cache-Control", "no-store");
}

std::optional<nlohmann::json> read_transactions(const httplib::Request& req, httplib::Response& res,
                                                RecordsSource& records, const Caller& caller,
                                                UnixSeconds now, ErrorCode* refused) {
  const CivilDate today = jst_date(now);
  const CivilDate earliest = earliest_served(today);
  auto bad = [&res](const char* param) {
    send_bad_param(res, param);
    return std::optional<nlohmann::json>();
  };
  bool repeated = false;
  auto from_text = single_param(req, "from", &repeated);
  if (repeated) return bad("from");
  auto to_text = single_param(req, "to", &repeated);
  if (repeated) return bad("to");
  auto limit_text = single_param(req, "limit", &repeated);
  if (repeated) return bad("limit");
  auto cursor_text = single_param(req, "cursor", &repeated);
  if (repeated) return bad("cursor");

  CivilDate from = earliest;
  CivilDate to = today;
  if (from_text) {
    auto d = parse_date(*from_text);
    if (!d) return bad("from");
    from = *d;
  }
  if (to_text) {
    auto d = parse_date(*to_text);
    if (!d) return bad("to");
    to = std::min(*d, today);  // nothing is booked in the future
  }
  if (from < earliest) {
    *refused = ErrorCode::range_not_served;
    send_error(res, ErrorCode::range_not_served);
    return std::nullopt;
  }
  if (to_text && from > to) return bad("to");
  int limit = kDefaultLimit;
  if (limit_text) {
    const std::string& s = *limit_text;
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), limit);
    if (s.empty() || s.size() > 3 || ec != std::errc() || end != s.data() + s.size() || limit < 1 ||
        limit > kMaxLimit) {
      return bad("limit");
    }
  }
  std::string records_cursor;
  if (cursor_text) {
    auto c = decode_cursor(*cursor_text);
    if (!c) return bad("cursor");
    records_cursor = std::move(*c);
  }

  nlohmann::json items = nlohmann::json::array();
  TransactionPage page;
  if (from <= to) {
    RecordsResult<TransactionPage> got = records.transactions(
        caller.account.ref, format_date(from), format_date(to), limit, records_cursor);
    if (!got.ok()) {
      *refused = error_code_of(got.failure());
      // A well-formed cursor the source cannot read (the local source's are
      // entry ids) is the app's error, answered like any other bad parameter.
      if (got.failure().kind == RecordsFailureKind::bad_cursor) return bad("cursor");
      send_error(res, *refused);
      return std::nullopt;
    }
    page = std::move(got.value());
  }
  for (const Transaction& e : page.items) {
    items.push_back({{"id", e.id},
                     {"date", e.date},
                     {"description", e.description},
                     {"amount_yen", e.amount_yen},
                     {"balance_after_yen", e.balance_after_yen}});
  }
  const bool more = !page.next_cursor.empty();
  return nlohmann::json{
      {"account", account_json(caller.account)},
      {"from", format_date(from)},
      {"to", format_date(to)},
      {"transactions", std::move(items)},
      {"next_cursor", more ? nlohmann::json(encode_cursor(page.next_cursor)) : nlohmann::json()}};
}

}  // namespace

void register_account_routes(Router& server, App& app) {
  server.Get("/api/v1/account", [&app](const httplib::Request& req, httplib::Response& res) {
    serve(app, req, res, "account", [](RecordsSource&, const Caller& c, UnixSeconds, ErrorCode*) {
      return std::optional<nlohmann::json>(nlohmann::json{
          {"account", account_json(c.account)},
          {"authorization",
           {{"scope", c.grant.scope}, {"expires_at", format_jst(c.grant.expires_at)}}}});
    });
  });
  server.Get(
      "/api/v1/account/balance", [&app](const httplib::Request& req, httplib::Response& res) {
        serve(app, req, res, "balance",
              [&res](RecordsSource& records, const Caller& c, UnixSeconds now, ErrorCode* refused) {
                RecordsResult<std::int64_t> balance = records.balance(c.account.ref);
                if (!balance.ok()) {
                  *refused = error_code_of(balance.failure());
                  send_error(res, *refused);
                  return std::optional<nlohmann::json>();
                }
                return std::optional<nlohmann::json>(
                    nlohmann::json{{"account", account_json(c.account)},
                                   {"balance_yen", balance.value()},
                                   {"currency", "JPY"},
                                   {"as_of", format_jst(now)}});
              });
      });
  server.Get("/api/v1/account/transactions",
             [&app](const httplib::Request& req, httplib::Response& res) {
               serve(app, req, res, "transactions",
                     [&req, &res](RecordsSource& records, const Caller& c, UnixSeconds now,
                                  ErrorCode* refused) {
                       return read_transactions(req, res, records, c, now, refused);
                     });
             });
}

}  // namespace renkei::server
