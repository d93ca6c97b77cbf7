// Admin API (/admin/api/...) for the credit union's staff and for developers
// (docs/admin-api.md): live status, the funnel, accounts and their locks,
// grants, clients, the operation log, the service calendar, the outbox and,
// in development mode, a simulated call and the movable clock.
//
// Every request needs `Authorization: Bearer <admin token>`; the token's
// SHA-256 is compared in constant time with config.admin_token_digest (an
// empty digest switches the API off). Development mode relaxes nothing here.
// Every action names its staff member (X-Renkei-Staff) and writes one audit
// row with actor "staff:<name>" and step "admin.<action>".
#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstring>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "oauth/jose.h"
#include "ops/crypto.h"
#include "ops/uri.h"
#include "http/http_util.h"
#include "records/records.h"
#include "records/records_source.h"
#include "renkei/json.h"
#include "http/routes.h"
#include "flow/flow_service.h"

namespace renkei::server {
namespace {

using httplib::Request;
using httplib::Response;
using nlohmann::json;

constexpr const char* kStaffHeader = "X-Renkei-Staff";
constexpr const char* kAuthChallenge = "Bearer realm=\"renkei-admin\"";
constexpr std::size_t kMaxStaffNameChars = 64;
constexpr std::size_t kMaxReasonBytes = 512;
constexpr std::size_t kMaxLabelBytes = 200;
constexpr std::size_t kMaxIdBytes = 128;
constexpr std::size_t kMaxQueryValueBytes = 256;
constexpr int kDefaultListLimit = 100;
constexpr int kMaxListLimit = 1000;
constexpr UnixSeconds kStatusHorizonSeconds = 7 * kSecondsPerDay;
constexpr UnixSeconds kFunnelDefaultSeconds = kSecondsPerDay;
constexpr UnixSeconds kFunnelMaxSeconds = 92 * kSecondsPerDay;
constexpr int kFunnelPageRows = 1000;
constexpr std::size_t kFunnelMaxRows = 200000;
constexpr UnixSeconds kMaxWindowSeconds = 366 * kSecondsPerDay;
constexpr std::size_t kMaxAnnouncedWindows = 500;
constexpr std::int64_t kMaxClockAdvanceSeconds = 3650 * kSecondsPerDay;

// The instants an administrator may name: 2000-01-01 .. 2100-01-01 (JST).
UnixSeconds earliest_instant() {
  return from_jst({2000, 1, 1});
}
UnixSeconds latest_instant() {
  return from_jst({2100, 1, 1});
}

// ---------- the request's context ----------

struct Ctx {
  App& app;
  const Request& req;
  Response& res;
  std::string staff;  // set for actions
};

using Handler = std::function<void(Ctx&)>;

// A bad request naming what was wrong (a parameter, a member or a header).
void send_bad(Response& res, std::string_view field) {
  json body = error_envelope(ErrorCode::bad_request);
  body["error"]["field"] = std::string(field);
  send_json(res, http_status(ErrorCode::bad_request), body);
}

// An error with a machine-readable detail beside the catalog's code (e.g.
// invalid_step + "clock_not_movable"): the console shows the detail to staff.
void send_error_detail(Response& res, ErrorCode code, std::string_view detail) {
  json body = error_envelope(code);
  body["error"]["detail"] = std::string(detail);
  send_json(res, http_status(code), body);
}

// The admin token, compared as digests in constant time. An empty configured
// digest means the API is switched off: nothing matches it.
bool authorized(const App& app, const Request& req) {
  return bearer_matches_any(req, {app.config().admin_token_digest});
}

void refuse(App& app, Response& res) {
  app.metrics().count("renkei_admin_refused_total");
  send_error(res, ErrorCode::unauthorized);
  res.set_header("WWW-Authenticate", kAuthChallenge);
}

// X-Renkei-Staff: 1–64 printable ASCII characters, no leading/trailing space.
std::optional<std::string> staff_name(const Request& req) {
  if (req.get_header_value_count(kStaffHeader) != 1) return std::nullopt;
  std::string name = req.get_header_value(kStaffHeader);
  if (name.empty() || name.size() > kMaxStaffNameChars) return std::nullopt;
  if (name.front() == ' ' || name.back() == ' ') return std::nullopt;
  for (char c : name) {
    if (c < 0x20 || c > 0x7E) return std::nullopt;
  }
  return name;
}

// Free text from staff (reason, label): UTF-8 (checked by json_body), no
// control characters (C0, DEL, C1), at most `max` bytes.
bool is_clean_text(std::string_view s, std::size_t max) {
  if (s.size() > max) return false;
  for (std::size_t i = 0; i < s.size(); ++i) {
    auto b = static_cast<unsigned char>(s[i]);
    if (b < 0x20 || b == 0x7F) return false;
    if (b == 0xC2 && i + 1 < s.size()) {
      auto next = static_cast<unsigned char>(s[i + 1]);
      if (next >= 0x80 && next <= 0x9F) return false;  // U+0080–U+009F
    }
  }
  return true;
}

// Wraps a handler: security headers, the token, the staff name for actions,
// and no exception out (storage failures answer system_error: 503 with
// Retry-After for an outage of the store, send_failure).
httplib::Server::Handler admin_route(App& app, bool action, Handler h) {
  return [&app, action, h = std::move(h)](const Request& req, Response& res) {
    add_security_headers(res, true);
    if (!authorized(app, req)) {
      refuse(app, res);
      return;
    }
    Ctx ctx{app, req, res, ""};
    if (action) {
      std::optional<std::string> staff = staff_name(req);
      if (!staff) {
        send_bad(res, kStaffHeader);
        return;
      }
      ctx.staff = std::move(*staff);
    }
    try {
      h(ctx);
    } catch (const std::exception& e) {
      log_caught_exception(req, e.what());  // never unexplained (nothing secret: path, type)
      res.headers.clear();
      res.body.clear();
      send_failure(res, e);
    }
  };
}

// ---------- reading requests ----------

// One query parameter: absent → "", repeated or too long → nullopt.
std::optional<std::string> query_value(const Request& req, const char* key) {
  const std::size_t n = req.get_param_value_count(key);
  if (n == 0) return std::string();
  if (n > 1) return std::nullopt;
  std::string v = req.get_param_value(key);
  if (v.size() > kMaxQueryValueBytes) return std::nullopt;
  return v;
}

// A positive decimal integer of at most 18 digits.
std::optional<std::int64_t> parse_positive(std::string_view s) {
  if (s.empty() || s.size() > 18) return std::nullopt;
  std::int64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
    v = v * 10 + (c - '0');
  }
  if (v <= 0) return std::nullopt;
  return v;
}

// ?limit=: 1..kMaxListLimit, default kDefaultListLimit; nullopt for anything else.
std::optional<int> limit_param(const Request& req) {
  std::optional<std::string> v = query_value(req, "limit");
  if (!v) return std::nullopt;
  if (v->empty()) return kDefaultListLimit;
  std::optional<std::int64_t> n = parse_positive(*v);
  if (!n || *n > kMaxListLimit) return std::nullopt;
  return static_cast<int>(*n);
}

// An ISO instant parameter: absent → nullopt inside, malformed → outer nullopt.
std::optional<std::optional<UnixSeconds>> instant_param(const Request& req, const char* key) {
  std::optional<std::string> v = query_value(req, key);
  if (!v) return std::nullopt;
  if (v->empty()) return std::optional<UnixSeconds>{};
  std::optional<UnixSeconds> t = parse_iso_instant(*v);
  if (!t || *t < earliest_instant() || *t > latest_instant()) return std::nullopt;
  return t;
}

// Path ids: printable ASCII without '/', at most kMaxIdBytes.
bool is_valid_text_id(std::string_view id) {
  if (id.empty() || id.size() > kMaxIdBytes) return false;
  return std::all_of(id.begin(), id.end(), [](char c) { return c > 0x20 && c < 0x7F && c != '/'; });
}

// The body of an action: a JSON object, or {} when the body is empty.
std::optional<json> action_body(const Request& req, Response& res) {
  if (req.body.empty()) return json::object();
  return json_body(req, res);
}

// The optional "reason" member; false (bad_request sent) when malformed.
bool read_reason(const json& body, Response& res, std::string* reason) {
  auto it = body.find("reason");
  if (it == body.end() || it->is_null()) return true;
  if (!it->is_string() || !is_clean_text(it->get_ref<const std::string&>(), kMaxReasonBytes)) {
    send_bad(res, "reason");
    return false;
  }
  *reason = it->get<std::string>();
  return true;
}

// branch / type / number, normalized by the core's field rules. The first
// bad one is named in *bad_field.
std::optional<AccountRef> account_ref_of(const std::string& branch, const std::string& type,
                                         const std::string& number, std::string* bad_field) {
  FieldResult b = check_branch(branch);
  FieldResult t = check_account_type(type);
  FieldResult n = check_account_number(number);
  if (!b.ok())
    *bad_field = "branch";
  else if (!t.ok())
    *bad_field = "type";
  else if (!n.ok())
    *bad_field = "number";
  if (!b.ok() || !t.ok() || !n.ok()) return std::nullopt;
  std::optional<AccountType> at = account_type_from_wire(t.value);
  if (!at) {
    *bad_field = "type";
    return std::nullopt;
  }
  return AccountRef{b.value, *at, n.value};
}

// The account named by branch, type and number (from the query or the body);
// nullopt with the error written when one is missing or wrong.
std::optional<AccountRef> account_ref_named(const std::optional<std::string>& branch,
                                            const std::optional<std::string>& type,
                                            const std::optional<std::string>& number,
                                            Response& res) {
  if (!branch || !type || !number) {
    send_bad(res, !branch ? "branch" : !type ? "type" : "number");
    return std::nullopt;
  }
  std::string bad;
  std::optional<AccountRef> ref = account_ref_of(*branch, *type, *number, &bad);
  if (!ref) send_bad(res, bad);
  return ref;
}

std::optional<AccountRef> account_ref_from_query(const Request& req, Response& res) {
  return account_ref_named(query_value(req, "branch"), query_value(req, "type"),
                           query_value(req, "number"), res);
}

std::optional<AccountRef> account_ref_from_body(const json& body, Response& res) {
  return account_ref_named(json_string(body, "branch"), json_string(body, "type"),
                           json_string(body, "number"), res);
}

// ---------- writing answers ----------

json instant(UnixSeconds t) {
  return format_jst(t);
}
json optional_instant(const std::optional<UnixSeconds>& t) {
  return t ? json(format_jst(*t)) : json(nullptr);
}

// The audit row of one staff action.
AuditRecord staff_audit(const Ctx& ctx, std::string_view action, UnixSeconds now,
                        const std::string& reason) {
  AuditRecord a;
  a.at = now;
  a.step = "admin." + std::string(action);
  a.outcome = "ok";
  a.ip = client_ip(ctx.req);
  a.user_agent = header_for_log(ctx.req, "User-Agent");
  a.actor = "staff:" + ctx.staff;
  if (!reason.empty()) a.detail = "reason: " + reason;
  return a;
}

void add_detail(AuditRecord& a, const std::string& note) {
  a.detail = a.detail.empty() ? note : note + "; " + a.detail;
}

json account_summary(const AccountRef& ref) {
  return json{{"branch", ref.branch},
              {"type", std::string(account_type_wire_name(ref.type))},
              {"type_label", std::string(account_type_label_ja(ref.type))},
              {"number", ref.number},
              {"key", account_key(ref)}};
}

json lock_json(const LockoutPolicy& policy, const LockState& stored, UnixSeconds now) {
  const LockState eff = policy.effective(stored, now);
  const bool locked = policy.is_locked(stored, now);
  return json{{"failures", eff.failures},
              {"limit", policy.limit()},
              {"locked", locked},
              {"locked_until", optional_instant(eff.locked_until)},
              {"lifts_at", locked ? optional_instant(eff.locked_until) : json(nullptr)}};
}

std::string grant_status(const GrantRecord& g, UnixSeconds now) {
  if (g.revoked_at) return "revoked";
  if (now >= g.expires_at) return "expired";
  return "active";
}

json grant_json(StoreTx& tx, const GrantRecord& g, UnixSeconds now) {
  std::optional<ClientRecord> client = tx.find_client(g.client_id);
  return json{{"id", g.id},
              {"client_id", g.client_id},
              {"client_name", client ? client->display_name : g.client_id},
              {"scope", g.scope},
              {"flow_id", g.flow_id},
              {"created_at", instant(g.created_at)},
              {"expires_at", instant(g.expires_at)},
              {"last_used_at", optional_instant(g.last_used_at)},
              {"revoked_at", optional_instant(g.revoked_at)},
              {"revoked_by", g.revoked_by},
              {"status", grant_status(g, now)}};
}

json client_json(const ClientRecord& c) {
  json keys = c.jwks.empty() ? json(nullptr) : json::parse(c.jwks, nullptr, false);
  if (keys.is_discarded()) keys = nullptr;
  return json{{"id", c.id},
              {"display_name", c.display_name},
              {"redirect_uris", c.redirect_uris},
              {"confidential", !c.secret_digest.empty() || !c.jwks.empty()},
              {"profile", c.profile},
              {"jwks", keys},
              {"enabled", c.enabled}};
}

json audit_json(const AuditRecord& r) {
  return json{{"id", r.id},
              {"at", instant(r.at)},
              {"flow_id", r.flow_id},
              {"step", r.step},
              {"outcome", r.outcome},
              {"account", r.account},
              {"name_kana", r.name_kana},
              {"masked_phone", r.masked_phone},
              {"client_id", r.client_id},
              {"ip", r.ip},
              {"user_agent", r.user_agent},
              {"actor", r.actor},
              {"detail", r.detail}};
}

std::string_view mail_state_name(MailState s) {
  switch (s) {
    case MailState::pending:
      return "pending";
    case MailState::sent:
      return "sent";
    case MailState::failed:
      return "failed";
  }
  return "pending";
}

// "s*****@example.jp": the outbox is shown to staff, the address is the
// customer's; the first character and the domain are enough to tell mails apart.
std::string mask_email(const std::string& addr) {
  const std::size_t at = addr.rfind('@');
  if (at == std::string::npos || at == 0) return std::string(addr.size(), '*');
  return addr.substr(0, 1) + std::string(at - 1, '*') + addr.substr(at);
}

json mail_json(const MailRecord& m) {
  return json{{"id", m.id},
              {"to", mask_email(m.to)},
              {"subject", m.subject},
              {"flow_id", m.flow_id},
              {"created_at", instant(m.created_at)},
              {"next_attempt_at", instant(m.next_attempt_at)},
              {"attempts", m.attempts},
              {"state", std::string(mail_state_name(m.state))},
              {"last_error", m.last_error},
              {"sent_at", optional_instant(m.sent_at)}};
}

json window_json(std::optional<std::int64_t> id, const MaintenanceWindow& w, const char* source) {
  return json{{"id", id ? json(*id) : json(nullptr)},
              {"start", instant(w.start)},
              {"end", instant(w.end)},
              {"label", w.label},
              {"source", source}};
}

json clock_json(const App& app) {
  const UnixSeconds now = app.now();
  const MovableClock* movable = app.movable_clock();
  return json{{"now", instant(now)},
              {"now_unix", now},
              {"open", app.calendar().is_open(now)},
              {"movable_clock", movable != nullptr},
              {"clock_offset_seconds", movable ? json(movable->offset()) : json(nullptr)}};
}

// The store work of every admin request, read or action, runs in
// with_transaction (storage.h): a deadlock or serialization failure, or a
// pooled PostgreSQL connection lost before anything reached the database,
// reruns it; any other failure (a failed commit included) throws
// StorageError, which the admin API answers with system_error. The unit only
// reads and writes the store and returns what the answer needs; the answer is
// written after it, never inside it.

// ---------- GET /admin/api/status ----------

void get_status(Ctx& ctx) {
  const UnixSeconds now = ctx.app.now();
  const ServiceCalendar calendar = ctx.app.calendar();
  json closures = json::array();
  for (const Closure& c : calendar.closures_between(now, now + kStatusHorizonSeconds)) {
    closures.push_back(to_json(c));
  }
  std::optional<Closure> current = calendar.closure_at(now);
  json body = clock_json(ctx.app);
  body["open"] = calendar.is_open(now);
  body["closure"] = current ? to_json(*current) : json(nullptr);
  body["next_open"] = instant(calendar.next_open(now));
  body["closures"] = std::move(closures);
  body["dev_mode"] = ctx.app.config().dev_mode;
  send_json(ctx.res, 200, body);
}

// ---------- GET /admin/api/funnel ----------

// The screen a logged step belongs to, and where an accepted one leads: from
// the core's screens table (screen_flow), plus the inbound call, which stays
// on ④.
struct StepPlace {
  Screen on;
  Screen next;
};
std::optional<StepPlace> step_place(const std::string& step) {
  if (step == "incoming_call") return StepPlace{Screen::call_wait, Screen::call_wait};
  for (int i = 0; i < kScreenCount; ++i) {
    const auto s = static_cast<Screen>(i);
    const ScreenFlow& flow = screen_flow(s);
    if (!flow.event.empty() && flow.event == step && flow.next) return StepPlace{s, *flow.next};
  }
  return std::nullopt;
}

// The screens that ask something of the customer, in order (the non-terminal
// ones of the core's table); their index is the funnel's position.
std::vector<Screen> funnel_screens() {
  std::vector<Screen> out;
  for (int i = 0; i < kScreenCount; ++i) {
    if (!is_terminal(static_cast<Screen>(i))) out.push_back(static_cast<Screen>(i));
  }
  return out;
}
int funnel_index(Screen s) {
  static const std::vector<Screen> screens = funnel_screens();
  for (std::size_t i = 0; i < screens.size(); ++i) {
    if (screens[i] == s) return static_cast<int>(i);
  }
  return -1;
}

// One flow as the log tells it (replayed oldest first).
struct FlowTrace {
  int furthest = 0;  // index into funnel_screens()
  bool completed = false;
  bool cancelled = false;
  bool expired = false;
  std::string last_error;  // the last refusal, cleared by an accepted step
};

struct Funnel {
  int started = 0;
  std::map<std::string, int> authorize_refused;
  std::unordered_map<std::string, FlowTrace> flows;
  std::vector<std::map<std::string, int>> errors =
      std::vector<std::map<std::string, int>>(funnel_screens().size());
};

// Applies one row. Rows arrive newest first; per flow they are collected and
// replayed in order by the caller.
void replay(Funnel& f, FlowTrace& t, const std::string& step, const std::string& outcome) {
  const bool ok = outcome == "ok";
  if (step == "cancel") {
    if (ok) t.cancelled = true;
    return;
  }
  // /authorize while closed or switched off starts the flow all the same (so
  // that the customer can leave for the app): that is why it stopped.
  if (step == "authorize") {
    if (!ok) t.last_error = outcome;
    return;
  }
  // 連携元画面へ (SPEC §8a): the flow ends for the refusal shown before it.
  if (step == "leave") {
    if (ok && t.last_error.empty()) t.last_error = "left";
    return;
  }
  if (step == "view") {
    if (outcome == wire_name(ErrorCode::session_expired)) t.expired = true;
    return;
  }
  std::optional<StepPlace> place = step_place(step);
  if (!place) return;
  const int on = funnel_index(place->on);
  t.furthest = std::max(t.furthest, on);
  if (ok) {
    t.last_error.clear();
    if (place->next == Screen::completed) {
      t.completed = true;
    } else {
      t.furthest = std::max(t.furthest, funnel_index(place->next));
    }
  } else {
    f.errors[on][outcome] += 1;
    t.last_error = outcome;
  }
}

void get_funnel(Ctx& ctx) {
  const UnixSeconds now = ctx.app.now();
  auto from_p = instant_param(ctx.req, "from");
  auto to_p = instant_param(ctx.req, "to");
  if (!from_p || !to_p) {
    send_bad(ctx.res, !from_p ? "from" : "to");
    return;
  }
  const UnixSeconds to = to_p->value_or(now);
  const UnixSeconds from = from_p->value_or(to - kFunnelDefaultSeconds);
  if (from >= to || to - from > kFunnelMaxSeconds) {
    send_bad(ctx.res, "from");
    return;
  }

  // Newest first, a page per transaction so customers' writes interleave.
  struct Row {
    std::string step;
    std::string outcome;
  };
  Funnel funnel;
  std::unordered_map<std::string, std::vector<Row>> rows_of;  // flow id → rows, newest first
  std::size_t rows = 0;
  bool truncated = false;
  AuditQuery q;
  q.from = from;
  q.to = to;
  q.limit = kFunnelPageRows;
  for (;;) {
    const std::vector<AuditRecord> page = with_transaction(
        ctx.app.store(), TxMode::read_only, [&](StoreTx& tx) { return tx.query_audit(q); });
    for (const AuditRecord& r : page) {
      ++rows;
      if (r.step == "authorize") {
        if (r.outcome == "ok") {
          funnel.started += 1;
        } else {
          funnel.authorize_refused[r.outcome] += 1;
        }
      }
      if (r.flow_id.empty() || r.actor.rfind("staff:", 0) == 0) continue;
      rows_of[r.flow_id].push_back(Row{r.step, r.outcome});
    }
    if (static_cast<int>(page.size()) < q.limit) break;
    if (rows >= kFunnelMaxRows) {
      truncated = true;
      break;
    }
    q.before_id = page.back().id;
  }

  const std::vector<Screen> order = funnel_screens();
  const int screen_count = static_cast<int>(order.size());
  std::vector<int> reached(order.size(), 0);
  std::vector<int> left(order.size(), 0);
  std::vector<std::map<std::string, int>> stopped_by(order.size());
  int completed = 0, cancelled = 0, expired = 0;
  for (auto& [flow_id, list] : rows_of) {
    FlowTrace& t = funnel.flows[flow_id];
    for (auto it = list.rbegin(); it != list.rend(); ++it) replay(funnel, t, it->step, it->outcome);
    for (int i = 0; i <= t.furthest; ++i) reached[i] += 1;
    if (t.completed) {
      ++completed;
      continue;
    }
    left[t.furthest] += 1;
    std::string why = t.cancelled             ? "cancelled"
                      : !t.last_error.empty() ? t.last_error
                      : t.expired             ? "session_expired"
                                              : "none";
    stopped_by[t.furthest][why] += 1;
    if (t.cancelled) ++cancelled;
    if (t.expired) ++expired;
  }

  json screens = json::array();
  for (int i = 0; i < screen_count; ++i) {
    const Screen s = order[static_cast<std::size_t>(i)];
    screens.push_back(json{{"screen", std::string(screen_wire_name(s))},
                           {"screen_id", std::string(screen_id(s))},
                           {"title", std::string(screen_title_ja(s))},
                           {"reached", reached[i]},
                           {"left", left[i]},
                           {"errors", funnel.errors[i]},
                           {"stopped_by", stopped_by[i]}});
  }
  send_json(ctx.res, 200,
            json{{"from", instant(from)},
                 {"to", instant(to)},
                 {"started", funnel.started},
                 {"authorize_refused", funnel.authorize_refused},
                 {"flows", rows_of.size()},
                 {"screens", std::move(screens)},
                 {"completed", completed},
                 {"cancelled", cancelled},
                 {"expired", expired},
                 {"rows", rows},
                 {"truncated", truncated}});
}

// ---------- accounts and locks ----------

// The grants of an account as the admin API shows them.
json grants_json(StoreTx& tx, std::int64_t account_id, UnixSeconds now) {
  json grants = json::array();
  for (const GrantRecord& g : tx.grants_for_account(account_id)) {
    grants.push_back(grant_json(tx, g, now));
  }
  return grants;
}

void get_account(Ctx& ctx) {
  std::optional<AccountRef> ref = account_ref_from_query(ctx.req, ctx.res);
  if (!ref) return;
  const UnixSeconds now = ctx.app.now();
  const LockoutPolicy policy(ctx.app.config().lockout_limit);
  // The answer's body, or nullopt when there is no such account.
  std::optional<json> answer =
      with_transaction(ctx.app.store(), TxMode::read_only, [&](StoreTx& tx) -> std::optional<json> {
        std::optional<AccountRecord> account = tx.find_account(*ref);
        if (!account) return std::nullopt;
        std::optional<CustomerRecord> customer = tx.find_customer(account->customer_id);
        json phones = json::array();
        if (customer) {
          for (const std::string& p : customer->phones) phones.push_back(mask_phone(p));
        }
        json summary = account_summary(account->ref);
        summary["status"] = std::string(account_status_wire_name(account->status));
        summary["cash_card_issued"] = account->cash_card_issued;
        summary["customer_id"] = account->customer_id;
        summary["name_kana"] = customer ? customer->name_kana : std::string();
        summary["masked_phones"] = std::move(phones);
        json grants = grants_json(tx, account->id, now);
        return json{{"account", std::move(summary)},
                    {"lock", lock_json(policy, tx.load_lock(account->id), now)},
                    {"grants", std::move(grants)},
                    {"now", instant(now)}};
      });
  if (!answer) return send_error(ctx.res, ErrorCode::not_found);
  send_json(ctx.res, 200, *answer);
}

void post_lift_lock(Ctx& ctx) {
  std::optional<json> body = action_body(ctx.req, ctx.res);
  if (!body) return;
  std::optional<AccountRef> ref = account_ref_from_body(*body, ctx.res);
  if (!ref) return;
  std::string reason;
  if (!read_reason(*body, ctx.res, &reason)) return;
  const UnixSeconds now = ctx.app.now();
  const LockoutPolicy policy(ctx.app.config().lockout_limit);
  std::optional<AccountRecord> account;
  LockState before;
  with_transaction(ctx.app.store(), TxMode::read_write, [&](StoreTx& tx) {
    account = tx.find_account(*ref);
    if (!account) return;
    before = policy.effective(tx.load_lock(account->id), now);
    tx.save_lock(account->id, LockoutPolicy::lifted());
    AuditRecord a = staff_audit(ctx, "lift_lock", now, reason);
    a.account = account_key(account->ref);
    add_detail(a, "failures=" + std::to_string(before.failures) +
                      (before.locked_until ? " locked_until=" + format_jst(*before.locked_until)
                                           : std::string(" not locked")));
    tx.append_audit(a);
  });
  if (!account) return send_error(ctx.res, ErrorCode::not_found);
  send_json(ctx.res, 200,
            json{{"account", account_summary(account->ref)},
                 {"before", lock_json(policy, before, now)},
                 {"lock", lock_json(policy, LockoutPolicy::lifted(), now)}});
}

// PUT /admin/api/accounts/pin {branch, type, number, pin, reason?}: staff
// set a cash card's PIN one account at a time (issue 14), instead of a file
// of PINs travelling. Local records only (with the remote source the PINs
// are the core system's). The PIN is kept only as its keyed digest and never
// appears in the answer, the operation log or any log; the request body is
// wiped once read.
void put_account_pin(Ctx& ctx) {
  if (ctx.app.records().kind() != "local") {
    json body = error_envelope(ErrorCode::bad_request);
    body["error"]["field"] = "records";
    send_json(ctx.res, http_status(ErrorCode::bad_request), body);
    return;
  }
  std::optional<json> body = json_body(ctx.req, ctx.res);
  if (!body) return;
  std::optional<AccountRef> ref = account_ref_from_body(*body, ctx.res);
  if (!ref) return;
  std::string reason;
  if (!read_reason(*body, ctx.res, &reason)) return;
  auto it = body->find("pin");
  if (it == body->end() || !it->is_string()) {
    send_bad(ctx.res, "pin");
    return;
  }
  std::string pin = it->get<std::string>();
  wipe(it->get_ref<std::string&>());
  FieldResult field = renkei::check_pin(pin);
  wipe(pin);
  FieldResult& f = field;
  if (!field.ok()) {
    wipe(f.value);
    json e = error_envelope(ErrorCode::bad_request);
    e["error"]["field"] = "pin";
    e["error"]["reason"] = std::string(wire_name(field.errors.front().code));
    send_json(ctx.res, http_status(ErrorCode::bad_request), e);
    return;
  }
  std::string digest = pin_digest(ctx.app.config().pin_hmac_key, account_key(*ref), field.value);
  const UnixSeconds now = ctx.app.now();
  std::optional<AccountRecord> account;
  bool had_pin = false;
  with_transaction(ctx.app.store(), TxMode::read_write, [&](StoreTx& tx) {
    account = tx.find_account(*ref);
    if (!account) return;
    had_pin = !account->pin_digest.empty();
    account->pin_digest = digest;
    tx.upsert_account(*account);
    AuditRecord a = staff_audit(ctx, "set_pin", now, reason);
    a.account = account_key(account->ref);
    add_detail(a, had_pin ? "PIN replaced" : "PIN set");
    tx.append_audit(a);
  });
  wipe(digest);
  if (!account) return send_error(ctx.res, ErrorCode::not_found);
  send_json(ctx.res, 200,
            json{{"account", account_summary(account->ref)}, {"pin_set", true},
                 {"replaced", had_pin}});
}

// ---------- grants ----------

void get_grants(Ctx& ctx) {
  std::optional<AccountRef> ref = account_ref_from_query(ctx.req, ctx.res);
  if (!ref) return;
  const UnixSeconds now = ctx.app.now();
  std::optional<json> answer =
      with_transaction(ctx.app.store(), TxMode::read_only, [&](StoreTx& tx) -> std::optional<json> {
        std::optional<AccountRecord> account = tx.find_account(*ref);
        if (!account) return std::nullopt;
        return json{{"account", account_summary(account->ref)},
                    {"grants", grants_json(tx, account->id, now)}};
      });
  if (!answer) return send_error(ctx.res, ErrorCode::not_found);
  send_json(ctx.res, 200, *answer);
}

// The path's id and the body's reason of an action on one record (grant,
// client); false when either is bad (the error is already written).
bool read_id_and_reason(Ctx& ctx, std::string* id, std::string* reason) {
  *id = ctx.req.matches[1];
  if (!is_valid_text_id(*id)) {
    send_bad(ctx.res, "id");
    return false;
  }
  std::optional<json> body = action_body(ctx.req, ctx.res);
  return body && read_reason(*body, ctx.res, reason);
}

void post_revoke_grant(Ctx& ctx) {
  std::string id, reason;
  if (!read_id_and_reason(ctx, &id, &reason)) return;
  const UnixSeconds now = ctx.app.now();
  std::optional<json> answer = with_transaction(
      ctx.app.store(), TxMode::read_write, [&](StoreTx& tx) -> std::optional<json> {
        std::optional<GrantRecord> grant = tx.find_grant(id);
        if (!grant) return std::nullopt;
        AuditRecord a = staff_audit(ctx, "revoke_grant", now, reason);
        a.client_id = grant->client_id;
        a.flow_id = grant->flow_id;
        if (std::optional<AccountRecord> acc = tx.account_by_id(grant->account_id)) {
          a.account = account_key(acc->ref);
        }
        if (grant->revoked_at) {
          // Already ended: the first revocation stands; the request is still logged.
          add_detail(a, "grant " + grant->id + " already revoked by " + grant->revoked_by);
        } else {
          grant->revoked_at = now;
          grant->revoked_by = "staff:" + ctx.staff;
          tx.update_grant(*grant);
          add_detail(a, "grant " + grant->id);
        }
        tx.revoke_tokens_of_grant(grant->id);
        tx.append_audit(a);
        return json{{"grant", grant_json(tx, *grant, now)}};
      });
  if (!answer) return send_error(ctx.res, ErrorCode::not_found);
  send_json(ctx.res, 200, *answer);
}

// ---------- clients ----------

void get_clients(Ctx& ctx) {
  const std::vector<ClientRecord> stored = with_transaction(
      ctx.app.store(), TxMode::read_only, [](StoreTx& tx) { return tx.list_clients(); });
  json clients = json::array();
  for (const ClientRecord& c : stored) clients.push_back(client_json(c));
  send_json(ctx.res, 200, json{{"clients", std::move(clients)}});
}

void post_client_switch(Ctx& ctx, bool enable) {
  std::string id, reason;
  if (!read_id_and_reason(ctx, &id, &reason)) return;
  const UnixSeconds now = ctx.app.now();
  std::optional<ClientRecord> client;
  with_transaction(ctx.app.store(), TxMode::read_write, [&](StoreTx& tx) {
    client = tx.find_client(id);
    if (!client) return;
    const bool was = client->enabled;
    client->enabled = enable;
    tx.upsert_client(*client);
    AuditRecord a = staff_audit(ctx, enable ? "enable_client" : "disable_client", now, reason);
    a.client_id = client->id;
    add_detail(a, std::string("was ") + (was ? "enabled" : "disabled"));
    tx.append_audit(a);
  });
  if (!client) return send_error(ctx.res, ErrorCode::not_found);
  send_json(ctx.res, 200, json{{"client", client_json(*client)}});
}

// Registration and changes at runtime (issue 13): the client is in the
// store, so every instance uses it at once. A client id is 1–64 characters
// of [A-Za-z0-9._-]; redirect URIs follow the configuration's rule
// (redirect_uri_problem, ops/uri.h: absolute https, http only on a true
// loopback host, no userinfo or fragment, a valid host and port), at most
// 10; the JWK Set is checked by
// jose::PublicKeySet (public asymmetric keys only) and required for FAPI 2.0.

bool is_client_id(std::string_view id) {
  if (id.empty() || id.size() > 64) return false;
  return std::all_of(id.begin(), id.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-';
  });
}

// The members a registration or a change may carry; false (bad_request
// naming the member) when one is malformed. Absent members stay nullopt.
struct ClientChanges {
  std::optional<std::string> display_name;
  std::optional<std::vector<std::string>> redirect_uris;
  std::optional<std::string> jwks;  // the set as stored ("" = remove)
};
bool read_client_changes(const json& body, Response& res, ClientChanges* out) {
  if (auto it = body.find("display_name"); it != body.end()) {
    if (!it->is_string() || it->get_ref<const std::string&>().empty() ||
        !is_clean_text(it->get_ref<const std::string&>(), 200)) {
      send_bad(res, "display_name");
      return false;
    }
    out->display_name = it->get<std::string>();
  }
  if (auto it = body.find("redirect_uris"); it != body.end()) {
    if (!it->is_array() || it->empty() || it->size() > 10) {
      send_bad(res, "redirect_uris");
      return false;
    }
    std::vector<std::string> uris;
    for (const auto& u : *it) {
      if (!u.is_string() || !redirect_uri_problem(u.get_ref<const std::string&>()).empty()) {
        send_bad(res, "redirect_uris");
        return false;
      }
      uris.push_back(u.get<std::string>());
    }
    out->redirect_uris = std::move(uris);
  }
  if (auto it = body.find("jwks"); it != body.end()) {
    if (it->is_null()) {
      out->jwks = "";
    } else {
      std::string why;
      auto keys = it->is_object() ? jose::PublicKeySet::parse(it->dump(), &why) : std::nullopt;
      if (!keys) {
        send_error_detail(res, ErrorCode::bad_request, "jwks: " + why);
        return false;
      }
      out->jwks = keys->json();
    }
  }
  return true;
}

void post_register_client(Ctx& ctx) {
  std::optional<json> body = action_body(ctx.req, ctx.res);
  if (!body) return;
  std::string reason;
  if (!read_reason(*body, ctx.res, &reason)) return;
  auto id = body->find("id");
  if (id == body->end() || !id->is_string() || !is_client_id(id->get<std::string>())) {
    return send_bad(ctx.res, "id");
  }
  std::string profile = kProfileOAuth;
  if (auto it = body->find("profile"); it != body->end()) {
    if (!it->is_string() || (*it != kProfileOAuth && *it != kProfileFapi2)) {
      return send_bad(ctx.res, "profile");
    }
    profile = it->get<std::string>();
  }
  bool confidential = false;
  if (auto it = body->find("confidential"); it != body->end()) {
    if (!it->is_boolean()) return send_bad(ctx.res, "confidential");
    confidential = it->get<bool>();
  }
  ClientChanges changes;
  if (!read_client_changes(*body, ctx.res, &changes)) return;
  if (!changes.display_name) return send_bad(ctx.res, "display_name");
  if (!changes.redirect_uris) return send_bad(ctx.res, "redirect_uris");
  // FAPI 2.0 clients authenticate with their keys only (private_key_jwt).
  if (profile == kProfileFapi2 && (!changes.jwks || changes.jwks->empty())) {
    return send_bad(ctx.res, "jwks");
  }
  if (profile == kProfileFapi2 && confidential) return send_bad(ctx.res, "confidential");
  ClientRecord c;
  c.id = id->get<std::string>();
  c.display_name = *changes.display_name;
  c.redirect_uris = *changes.redirect_uris;
  c.profile = profile;
  c.jwks = changes.jwks.value_or("");
  c.enabled = true;
  std::string secret;
  if (confidential) {
    secret = ctx.app.random().token();  // shown once; only its digest is kept
    c.secret_digest = secret_digest(secret);
  }
  const UnixSeconds now = ctx.app.now();
  const auto& configured = ctx.app.config().clients;
  const bool registered = with_transaction(ctx.app.store(), TxMode::read_write, [&](StoreTx& tx) {
    if (tx.find_client(c.id) ||
        std::any_of(configured.begin(), configured.end(),
                    [&](const ClientConfig& k) { return k.id == c.id; })) {
      return false;
    }
    tx.upsert_client(c);
    AuditRecord a = staff_audit(ctx, "register_client", now, reason);
    a.client_id = c.id;
    add_detail(a, "profile " + c.profile + (confidential ? ", secret" : "") +
                      (c.jwks.empty() ? "" : ", keys"));
    tx.append_audit(a);
    return true;
  });
  if (!registered) return send_error_detail(ctx.res, ErrorCode::bad_request, "client_exists");
  json out{{"client", client_json(c)}};
  if (!secret.empty()) out["client_secret"] = secret;
  send_json(ctx.res, 201, out);
  ctx.res.set_header("Cache-Control", "no-store");
}

void post_update_client(Ctx& ctx) {
  std::string id = ctx.req.matches[1];
  if (!is_valid_text_id(id)) return send_bad(ctx.res, "id");
  std::optional<json> body = action_body(ctx.req, ctx.res);
  if (!body) return;
  std::string reason;
  if (!read_reason(*body, ctx.res, &reason)) return;
  ClientChanges changes;
  if (!read_client_changes(*body, ctx.res, &changes)) return;
  const UnixSeconds now = ctx.app.now();
  // A client the configuration file lists has its name and redirect URIs
  // from the file (rewritten at every start): they are changed there.
  const auto& configured = ctx.app.config().clients;
  const bool in_file = std::any_of(configured.begin(), configured.end(),
                                   [&](const ClientConfig& c) { return c.id == id; });
  enum class Refusal { none, not_found, in_config, fapi_keys, nothing };
  std::optional<ClientRecord> client;
  const Refusal refusal = with_transaction(ctx.app.store(), TxMode::read_write, [&](StoreTx& tx) {
    client = tx.find_client(id);
    if (!client) return Refusal::not_found;
    if (in_file && (changes.display_name || changes.redirect_uris)) return Refusal::in_config;
    if (client->profile == kProfileFapi2 && changes.jwks && changes.jwks->empty()) {
      return Refusal::fapi_keys;  // a FAPI 2.0 client cannot lose its keys
    }
    std::string what;
    if (changes.display_name) {
      client->display_name = *changes.display_name;
      what += " display_name";
    }
    if (changes.redirect_uris) {
      client->redirect_uris = *changes.redirect_uris;
      what += " redirect_uris";
    }
    if (changes.jwks) {
      client->jwks = *changes.jwks;
      what += " jwks";
    }
    if (what.empty()) return Refusal::nothing;
    tx.upsert_client(*client);
    AuditRecord a = staff_audit(ctx, "update_client", now, reason);
    a.client_id = client->id;
    add_detail(a, "changed:" + what);
    tx.append_audit(a);
    return Refusal::none;
  });
  switch (refusal) {
    case Refusal::none:
      break;
    case Refusal::not_found:
      return send_error(ctx.res, ErrorCode::not_found);
    case Refusal::in_config:
      return send_error_detail(ctx.res, ErrorCode::bad_request, "client_in_config");
    case Refusal::fapi_keys:
      return send_bad(ctx.res, "jwks");
    case Refusal::nothing:
      return send_bad(ctx.res, "body");
  }
  send_json(ctx.res, 200, json{{"client", client_json(*client)}});
}

// ---------- operation log ----------

void get_audit(Ctx& ctx) {
  AuditQuery q;
  std::optional<std::string> account = query_value(ctx.req, "account");
  std::optional<std::string> flow = query_value(ctx.req, "flow");
  std::optional<std::string> outcome = query_value(ctx.req, "outcome");
  std::optional<std::string> before = query_value(ctx.req, "before");
  auto from = instant_param(ctx.req, "from");
  auto to = instant_param(ctx.req, "to");
  std::optional<int> limit = limit_param(ctx.req);
  const std::pair<bool, const char*> checks[] = {
      {account && (account->empty() || is_valid_text_id(*account)), "account"},
      {flow && (flow->empty() || is_valid_text_id(*flow)), "flow"},
      {outcome && (outcome->empty() || is_valid_text_id(*outcome)), "outcome"},
      {before && (before->empty() || parse_positive(*before)), "before"},
      {from.has_value(), "from"},
      {to.has_value(), "to"},
      {limit.has_value(), "limit"},
  };
  for (const auto& [ok, name] : checks) {
    if (!ok) {
      send_bad(ctx.res, name);
      return;
    }
  }
  q.account = *account;
  q.flow_id = *flow;
  q.outcome = *outcome;
  q.from = *from;
  q.to = *to;
  q.limit = *limit;
  q.before_id = before->empty() ? 0 : *parse_positive(*before);
  if (q.from && q.to && *q.from > *q.to) {
    send_bad(ctx.res, "from");
    return;
  }
  const std::vector<AuditRecord> records = with_transaction(
      ctx.app.store(), TxMode::read_only, [&](StoreTx& tx) { return tx.query_audit(q); });
  json list = json::array();
  for (const AuditRecord& r : records) list.push_back(audit_json(r));
  json body{{"records", std::move(list)}};
  body["next_before"] = static_cast<int>(records.size()) == q.limit && !records.empty()
                            ? json(records.back().id)
                            : json(nullptr);
  send_json(ctx.res, 200, body);
}

// ---------- service calendar ----------

void get_windows(Ctx& ctx) {
  json windows = json::array();
  for (const MaintenanceWindow& w : ctx.app.config().maintenance) {
    windows.push_back(window_json(std::nullopt, w, "config"));
  }
  const auto announced = with_transaction(ctx.app.store(), TxMode::read_only, [](StoreTx& tx) {
    return tx.list_maintenance_with_ids();
  });
  for (const auto& [id, w] : announced) {
    windows.push_back(window_json(id, w, "announced"));
  }
  send_json(ctx.res, 200, json{{"windows", std::move(windows)}});
}

void post_window(Ctx& ctx) {
  std::optional<json> body = action_body(ctx.req, ctx.res);
  if (!body) return;
  std::optional<std::string> start_text = json_string(*body, "start");
  std::optional<std::string> end_text = json_string(*body, "end");
  // Unparsable instants become 0, which is before earliest_instant().
  const UnixSeconds start = start_text ? parse_iso_instant(*start_text).value_or(0) : 0;
  const UnixSeconds end = end_text ? parse_iso_instant(*end_text).value_or(0) : 0;
  const UnixSeconds now = ctx.app.now();
  if (start < earliest_instant() || start > latest_instant()) {
    send_bad(ctx.res, "start");
    return;
  }
  // It must end after it starts, in the future, and last at most a year.
  if (end <= start || end > latest_instant() || end <= now || end - start > kMaxWindowSeconds) {
    send_bad(ctx.res, "end");
    return;
  }
  std::string label;
  if (auto it = body->find("label"); it != body->end() && !it->is_null()) {
    if (!it->is_string() || !is_clean_text(it->get_ref<const std::string&>(), kMaxLabelBytes)) {
      send_bad(ctx.res, "label");
      return;
    }
    label = it->get<std::string>();
  }
  std::string reason;
  if (!read_reason(*body, ctx.res, &reason)) return;
  const MaintenanceWindow w{start, end, label};
  const std::int64_t id =
      with_transaction(ctx.app.store(), TxMode::read_write, [&](StoreTx& tx) -> std::int64_t {
        if (tx.list_maintenance_with_ids().size() >= kMaxAnnouncedWindows) return 0;
        const std::int64_t added = tx.add_maintenance(w);
        AuditRecord a = staff_audit(ctx, "add_window", now, reason);
        add_detail(a, "window " + std::to_string(added) + " " + format_jst(w.start) + " – " +
                          format_jst(w.end) + (label.empty() ? "" : " " + label));
        tx.append_audit(a);
        return added;
      });
  if (id == 0) return send_error_detail(ctx.res, ErrorCode::bad_request, "too_many_windows");
  ctx.app.reload_calendar();
  send_json(ctx.res, 201, json{{"window", window_json(id, w, "announced")}});
}

void delete_window(Ctx& ctx) {
  std::optional<std::int64_t> id = parse_positive(std::string(ctx.req.matches[1]));
  if (!id) {
    send_bad(ctx.res, "id");
    return;
  }
  std::string reason;
  if (!ctx.req.body.empty()) {
    std::optional<json> body = json_body(ctx.req, ctx.res);
    if (!body || !read_reason(*body, ctx.res, &reason)) return;
  }
  const UnixSeconds now = ctx.app.now();
  const bool found = with_transaction(ctx.app.store(), TxMode::read_write, [&](StoreTx& tx) {
    std::optional<MaintenanceWindow> removed;
    for (const auto& [wid, w] : tx.list_maintenance_with_ids()) {
      if (wid == *id) removed = w;
    }
    if (!removed || !tx.remove_maintenance(*id)) return false;
    AuditRecord a = staff_audit(ctx, "remove_window", now, reason);
    add_detail(a, "window " + std::to_string(*id) + " " + format_jst(removed->start) + " – " +
                      format_jst(removed->end));
    tx.append_audit(a);
    return true;
  });
  if (!found) return send_error(ctx.res, ErrorCode::not_found);
  ctx.app.reload_calendar();
  send_json(ctx.res, 200, json{{"removed", *id}});
}

// ---------- outbox ----------

void get_outbox(Ctx& ctx) {
  std::optional<int> limit = limit_param(ctx.req);
  if (!limit) {
    send_bad(ctx.res, "limit");
    return;
  }
  const std::vector<MailRecord> stored = with_transaction(
      ctx.app.store(), TxMode::read_only, [&](StoreTx& tx) { return tx.list_mails(*limit); });
  json mails = json::array();
  for (const MailRecord& m : stored) mails.push_back(mail_json(m));
  send_json(ctx.res, 200, json{{"mails", std::move(mails)}});
}

void post_retry_mail(Ctx& ctx) {
  std::optional<std::int64_t> id = parse_positive(std::string(ctx.req.matches[1]));
  if (!id) {
    send_bad(ctx.res, "id");
    return;
  }
  std::optional<json> body = action_body(ctx.req, ctx.res);
  if (!body) return;
  std::string reason;
  if (!read_reason(*body, ctx.res, &reason)) return;
  const UnixSeconds now = ctx.app.now();
  std::optional<MailRecord> mail;
  bool already_sent = false;
  with_transaction(ctx.app.store(), TxMode::read_write, [&](StoreTx& tx) {
    already_sent = false;
    mail = tx.mail_by_id(*id);
    if (!mail) return;
    if (mail->state == MailState::sent) {
      already_sent = true;
      return;
    }
    const std::string was = std::string(mail_state_name(mail->state));
    mail->state = MailState::pending;
    mail->next_attempt_at = now;
    tx.update_mail(*mail);
    AuditRecord a = staff_audit(ctx, "retry_mail", now, reason);
    a.flow_id = mail->flow_id;
    add_detail(a, "mail " + std::to_string(mail->id) + " was " + was + " after " +
                      std::to_string(mail->attempts) + " attempts");
    tx.append_audit(a);
  });
  if (!mail) return send_error(ctx.res, ErrorCode::not_found);
  if (already_sent) return send_error_detail(ctx.res, ErrorCode::invalid_step, "mail_already_sent");
  ctx.app.notify_mail();
  send_json(ctx.res, 200, json{{"mail", mail_json(*mail)}});
}

// ---------- development mode ----------

void post_dev_call(Ctx& ctx) {
  std::optional<json> body = action_body(ctx.req, ctx.res);
  if (!body) return;
  std::optional<std::string> flow_id = json_string(*body, "flow_id");
  if (!flow_id || !is_valid_text_id(*flow_id)) {
    send_bad(ctx.res, "flow_id");
    return;
  }
  std::string reason;
  if (!read_reason(*body, ctx.res, &reason)) return;
  // The read ends before the call's own transaction.
  const std::optional<FlowRecord> waiting = with_transaction(
      ctx.app.store(), TxMode::read_only, [&](StoreTx& tx) { return tx.flow_by_id(*flow_id); });
  if (!waiting) {
    send_error(ctx.res, ErrorCode::not_found);
    return;
  }
  FlowService service(ctx.app);
  std::optional<CallMatch> placed = service.simulate_call(
      *waiting, RequestOrigin{client_ip(ctx.req), header_for_log(ctx.req, "User-Agent")},
      " simulated by staff:" + ctx.staff);
  if (!placed) {
    json err = error_envelope(ErrorCode::invalid_step);
    err["flow"] = public_view_json(waiting->state, ctx.app.now());
    send_json(ctx.res, http_status(ErrorCode::invalid_step), err);
    return;
  }
  const CallMatch& match = *placed;
  const UnixSeconds now = ctx.app.now();
  const json answer = with_transaction(ctx.app.store(), TxMode::read_write, [&](StoreTx& tx) {
    std::optional<FlowRecord> flow = tx.flow_by_id(*flow_id);
    AuditRecord a = staff_audit(ctx, "simulate_call", now, reason);
    a.outcome = match.outcome;
    a.flow_id = *flow_id;
    if (flow) {
      a.client_id = flow->client_id;
      a.account = flow->state.account ? account_key(*flow->state.account) : std::string();
      a.masked_phone = mask_phone(waiting->state.phone);
    }
    tx.append_audit(a);
    json out{{"matched", match.matched}, {"outcome", match.outcome}};
    if (flow) out["flow"] = public_view_json(flow->state, now);
    return out;
  });
  send_json(ctx.res, 200, answer);
}

void post_dev_clock(Ctx& ctx) {
  MovableClock* clock = ctx.app.movable_clock();
  if (!clock) {
    send_error_detail(ctx.res, ErrorCode::invalid_step, "clock_not_movable");
    return;
  }
  std::optional<json> body = action_body(ctx.req, ctx.res);
  if (!body) return;
  auto set_it = body->find("set");
  auto adv_it = body->find("advance_seconds");
  const bool has_set = set_it != body->end();
  const bool has_adv = adv_it != body->end();
  if (has_set == has_adv) {
    send_bad(ctx.res, "set");
    return;
  }
  std::optional<UnixSeconds> target;
  std::int64_t advance = 0;
  if (has_set) {
    if (set_it->is_string()) target = parse_iso_instant(set_it->get_ref<const std::string&>());
    if (!target || *target < earliest_instant() || *target > latest_instant()) {
      send_bad(ctx.res, "set");
      return;
    }
  } else {
    if (!adv_it->is_number_integer()) {
      send_bad(ctx.res, "advance_seconds");
      return;
    }
    advance = adv_it->get<std::int64_t>();
    const UnixSeconds after = ctx.app.now() + advance;
    if (advance < -kMaxClockAdvanceSeconds || advance > kMaxClockAdvanceSeconds ||
        after < earliest_instant() || after > latest_instant()) {
      send_bad(ctx.res, "advance_seconds");
      return;
    }
  }
  std::string reason;
  if (!read_reason(*body, ctx.res, &reason)) return;
  const UnixSeconds before = ctx.app.now();
  if (target) {
    clock->set(*target);
  } else {
    clock->advance(advance);
  }
  const UnixSeconds now = ctx.app.now();
  AuditRecord a = staff_audit(ctx, target ? "set_clock" : "advance_clock", now, reason);
  add_detail(a, "from " + format_jst(before) + " to " + format_jst(now));
  // The clock has moved: its record must not be lost to a dropped connection.
  // The unit only logs (on PostgreSQL one round trip with its COMMIT), so it
  // is idempotent (a once_key chosen here) and runs again after one.
  a.once_key = ctx.app.random().token();
  with_idempotent_transaction(ctx.app.store(),
                              [&](OperationLogRepository& log) { log.append_audit(a); });
  send_json(ctx.res, 200, clock_json(ctx.app));
}

// ---------- unknown paths and methods ----------

// A path no route of the request's method matches: 405 with Allow when
// routes of other methods match it, 404 otherwise. Only ever after the
// token: without it every method on every path under /admin/api is 401.
void no_such_route(Ctx& ctx, const RouteTable& routes) {
  const std::string allow = routes.allowed(ctx.req.path);
  if (allow.empty()) {
    send_error(ctx.res, ErrorCode::not_found);
    return;
  }
  send_error(ctx.res, ErrorCode::method_not_allowed);
  ctx.res.set_header("Allow", allow);
}

}  // namespace

void register_admin_routes(Router& server, App& app) {
  constexpr bool kRead = false;
  constexpr bool kAction = true;
  server.Get("/admin/api/status", admin_route(app, kRead, get_status));
  server.Get("/admin/api/funnel", admin_route(app, kRead, get_funnel));
  server.Get("/admin/api/accounts", admin_route(app, kRead, get_account));
  server.Post("/admin/api/accounts/lock/lift", admin_route(app, kAction, post_lift_lock));
  server.Put("/admin/api/accounts/pin", admin_route(app, kAction, put_account_pin));
  server.Get("/admin/api/grants", admin_route(app, kRead, get_grants));
  server.Post(R"(/admin/api/grants/([^/]+)/revoke)", admin_route(app, kAction, post_revoke_grant));
  server.Get("/admin/api/clients", admin_route(app, kRead, get_clients));
  server.Post("/admin/api/clients", admin_route(app, kAction, post_register_client));
  server.Post(R"(/admin/api/clients/([^/]+)/update)", admin_route(app, kAction, post_update_client));
  server.Post(R"(/admin/api/clients/([^/]+)/enable)",
              admin_route(app, kAction, [](Ctx& c) { post_client_switch(c, true); }));
  server.Post(R"(/admin/api/clients/([^/]+)/disable)",
              admin_route(app, kAction, [](Ctx& c) { post_client_switch(c, false); }));
  server.Get("/admin/api/audit", admin_route(app, kRead, get_audit));
  server.Get("/admin/api/calendar/windows", admin_route(app, kRead, get_windows));
  server.Post("/admin/api/calendar/windows", admin_route(app, kAction, post_window));
  server.Delete(R"(/admin/api/calendar/windows/([^/]+))", admin_route(app, kAction, delete_window));
  server.Get("/admin/api/outbox", admin_route(app, kRead, get_outbox));
  server.Post(R"(/admin/api/outbox/([^/]+)/retry)", admin_route(app, kAction, post_retry_mail));
  if (app.config().dev_mode) {
    server.Post("/admin/api/dev/calls", admin_route(app, kAction, post_dev_call));
    server.Post("/admin/api/dev/clock", admin_route(app, kAction, post_dev_clock));
  }
  // Anything else under /admin/api, whatever the method (OPTIONS included):
  // still the token first, then 404 or 405, so the API's shape is not
  // visible without it. Registered past the route table: no route of its own.
  const char* const kRest = R"(/admin/api(/.*)?)";
  auto rest = [&app, routes = server.table()] {
    return admin_route(app, kRead, [routes](Ctx& c) { no_such_route(c, *routes); });
  };
  httplib::Server& s = server.server();
  s.Get(kRest, rest());
  s.Post(kRest, rest());
  s.Put(kRest, rest());
  s.Patch(kRest, rest());
  s.Delete(kRest, rest());
  s.Options(kRest, rest());
}

}  // namespace renkei::server
