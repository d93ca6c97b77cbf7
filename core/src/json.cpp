#include "renkei/json.h"

#include <cstdint>
#include <limits>
#include <type_traits>

// Every call below is one that cannot throw: the WASM build compiles with
// -fno-exceptions, where a throw inside nlohmann/json becomes abort(). So:
// parse with allow_exceptions=false, test a value's type before get<>(), never
// at() or const operator[] for a member that may be missing, and dump with the
// `replace` handler so invalid UTF-8 is written as U+FFFD instead of throwing.

namespace renkei {
namespace {

using nlohmann::json;

// Input larger than this is refused before parsing.
constexpr std::size_t kMaxJsonBytes = 1024 * 1024;

// Instants outside 1900-01-01 .. 9999-12-01 (JST) are refused: nothing real
// lives there, every instant stays a four-digit year in format_jst even after
// a call window or an idle timeout is added, and no sum can overflow.
constexpr UnixSeconds kMinInstant = -2209021200;   // 1900-01-01T00:00:00+09:00
constexpr UnixSeconds kMaxInstant = 253399590000;  // 9999-12-01T00:00:00+09:00

// The member `key` of an object, or nullptr (also when j is not an object).
const json* member(const json& j, const char* key) {
  if (!j.is_object()) return nullptr;
  auto it = j.find(key);
  if (it == j.end()) return nullptr;
  return &*it;
}

// A string member; missing → fallback; present but not a string → nullopt.
std::optional<std::string> string_member(const json& j, const char* key,
                                         std::string fallback = {}) {
  const json* m = member(j, key);
  if (!m) return fallback;
  if (!m->is_string()) return std::nullopt;
  return m->get<std::string>();
}

std::optional<bool> bool_member(const json& j, const char* key, bool fallback) {
  const json* m = member(j, key);
  if (!m) return fallback;
  if (!m->is_boolean()) return std::nullopt;
  return m->get<bool>();
}

// An integer that fits in int64 (unsigned values above INT64_MAX are refused).
std::optional<std::int64_t> as_int64(const json& j) {
  if (j.is_number_unsigned()) {
    auto u = j.get<std::uint64_t>();
    if (u > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
      return std::nullopt;
    }
    return static_cast<std::int64_t>(u);
  }
  if (j.is_number_integer()) return j.get<std::int64_t>();
  return std::nullopt;
}

json instant_json(UnixSeconds t) {
  return format_jst(t);
}

json optional_instant_json(const std::optional<UnixSeconds>& t) {
  return t ? instant_json(*t) : json(nullptr);
}

// A member holding an instant or null/missing: outer nullopt = malformed.
std::optional<std::optional<UnixSeconds>> optional_instant_member(const json& j, const char* key) {
  const json* m = member(j, key);
  if (!m || m->is_null()) return std::optional<UnixSeconds>{};
  auto t = instant_from_json(*m);
  if (!t) return std::nullopt;
  return std::optional<UnixSeconds>{*t};
}

std::optional<UnixSeconds> instant_member(const json& j, const char* key, UnixSeconds fallback) {
  const json* m = member(j, key);
  if (!m) return fallback;
  return instant_from_json(*m);
}

json account_form_json(const AccountForm& f) {
  return json{
      {"branch", f.branch}, {"account_type", f.account_type}, {"account_number", f.account_number}};
}

json customer_form_json(const CustomerForm& f) {
  return json{{"name_kana", f.name_kana},
              {"birth_year", f.birth_year},
              {"birth_month", f.birth_month},
              {"birth_day", f.birth_day},
              {"phone", f.phone},
              {"email", f.email},
              {"email_confirm", f.email_confirm}};
}

std::string_view identity_check_wire(IdentityCheck c) {
  switch (c) {
    case IdentityCheck::match:
      return "match";
    case IdentityCheck::account_not_eligible:
      return "account_not_eligible";
    case IdentityCheck::mismatch:
      return "mismatch";
  }
  return "mismatch";
}

std::optional<IdentityCheck> identity_check_from_wire(std::string_view s) {
  if (s == "match") return IdentityCheck::match;
  if (s == "account_not_eligible") return IdentityCheck::account_not_eligible;
  if (s == "mismatch") return IdentityCheck::mismatch;
  return std::nullopt;
}

std::optional<PinCheck> pin_check_from_wire(std::string_view s) {
  if (s == "match") return PinCheck::match;
  if (s == "mismatch") return PinCheck::mismatch;
  return std::nullopt;
}

// The "form" member of an event: missing → empty object.
std::optional<json> form_member(const json& j) {
  const json* m = member(j, "form");
  if (!m) return json::object();
  if (!m->is_object()) return std::nullopt;
  return *m;
}

// The "lock" member of an event: missing or null → {}.
std::optional<LockState> lock_member(const json& j) {
  const json* m = member(j, "lock");
  if (!m || m->is_null()) return LockState{};
  return lock_state_from_json(*m);
}

json account_json(const std::optional<AccountRef>& a) {
  if (!a) return nullptr;
  return json{
      {"branch", a->branch}, {"type", account_type_wire_name(a->type)}, {"number", a->number}};
}

std::optional<std::optional<AccountRef>> account_from_json(const json* j) {
  if (!j || j->is_null()) return std::optional<AccountRef>{};
  if (!j->is_object()) return std::nullopt;
  auto branch = string_member(*j, "branch");
  auto type = string_member(*j, "type");
  auto number = string_member(*j, "number");
  if (!branch || !type || !number) return std::nullopt;
  auto t = account_type_from_wire(*type);
  if (!t) return std::nullopt;
  return std::optional<AccountRef>{AccountRef{*branch, *t, *number}};
}

std::optional<std::optional<CallWindow>> call_from_json(const json* j) {
  if (!j || j->is_null()) return std::optional<CallWindow>{};
  if (!j->is_object()) return std::nullopt;
  auto dialled = string_member(*j, "dialled_number");
  auto opened = instant_member(*j, "opened_at", 0);
  auto expires = instant_member(*j, "expires_at", 0);
  auto verified = optional_instant_member(*j, "verified_at");
  if (!dialled || !opened || !expires || !verified) return std::nullopt;
  return std::optional<CallWindow>{CallWindow{*dialled, *opened, *expires, *verified}};
}

// Nesting depth of JSON text, counting brackets outside strings. Stops early
// once the limit is passed; malformed text is left for the parser to refuse.
bool nesting_within(std::string_view text, int max_depth) {
  int depth = 0;
  bool in_string = false;
  bool escaped = false;
  for (char c : text) {
    if (in_string) {
      if (escaped) {
        escaped = false;
      } else if (c == '\\') {
        escaped = true;
      } else if (c == '"') {
        in_string = false;
      }
      continue;
    }
    if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > max_depth) return false;
    } else if (c == ']' || c == '}') {
      --depth;
    }
  }
  return true;
}

}  // namespace

std::string dump_json(const json& j) {
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

std::optional<json> parse_json(std::string_view text, int max_depth) {
  if (text.size() > kMaxJsonBytes) return std::nullopt;
  if (!nesting_within(text, max_depth)) return std::nullopt;
  json j = json::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return std::nullopt;
  return j;
}

json field_error_json(const FieldError& e) {
  return json{{"code", wire_name(e.code)},
              {"field", field_wire_name(e.field)},
              {"message", message_ja(e.code)}};
}

json error_envelope(ErrorCode code, const std::vector<FieldError>& fields,
                    bool show_required_dialog) {
  json err = json::object();
  err["code"] = wire_name(code);
  err["message"] = message_ja(code);
  if (!reason_code(code).empty()) err["reason"] = reason_code(code);
  if (!fields.empty()) {
    json list = json::array();
    for (const auto& f : fields) list.push_back(field_error_json(f));
    err["fields"] = std::move(list);
  }
  if (fields.size() == 1) err["field"] = field_wire_name(fields.front().field);
  if (show_required_dialog) {
    err["dialog"] = json{
        {"title", kRequiredDialogTitle}, {"message", kRequiredDialogMessage}, {"ok", kDialogOk}};
  }
  return json{{"error", std::move(err)}};
}

json to_json(const FieldResult& r) {
  json errors = json::array();
  for (const auto& e : r.errors) errors.push_back(field_error_json(e));
  return json{{"value", r.value}, {"ok", r.ok()}, {"errors", std::move(errors)}};
}

json to_json(const FormResult& r) {
  json values = json::object();
  for (const auto& [field, value] : r.values) values[std::string(field_wire_name(field))] = value;
  json errors = json::array();
  for (const auto& e : r.errors) errors.push_back(field_error_json(e));
  return json{{"ok", r.ok()},
              {"values", std::move(values)},
              {"errors", std::move(errors)},
              {"show_required_dialog", r.show_required_dialog()}};
}

json to_json(const LockState& s) {
  return json{{"failures", s.failures}, {"locked_until", optional_instant_json(s.locked_until)}};
}

json to_json(const Closure& c) {
  return json{{"kind", closure_kind_wire_name(c.kind)},
              {"start", instant_json(c.start)},
              {"end", instant_json(c.end)},
              {"label", c.label}};
}

json to_json(const CallWindow& w) {
  return json{{"dialled_number", w.dialled_number},
              {"opened_at", instant_json(w.opened_at)},
              {"expires_at", instant_json(w.expires_at)},
              {"verified_at", optional_instant_json(w.verified_at)}};
}

json to_json(const FlowState& s) {
  return json{{"screen", screen_wire_name(s.screen)},
              {"started_at", instant_json(s.started_at)},
              {"last_activity", instant_json(s.last_activity)},
              {"account", account_json(s.account)},
              {"identity_verified", s.identity_verified},
              {"call_verified", s.call_verified},
              {"pin_verified", s.pin_verified},
              {"consent_given", s.consent_given},
              {"name_kana", s.name_kana},
              {"email", s.email},
              {"phone", s.phone},
              {"call", s.call ? to_json(*s.call) : json(nullptr)}};
}

json to_json(const FlowOutcome& o) {
  json error = nullptr;
  if (o.error) {
    json env = error_envelope(*o.error, o.field_errors, o.show_required_dialog);
    error = std::move(env["error"]);
  }
  return json{{"accepted", o.accepted},
              {"error", std::move(error)},
              {"lock_update", o.lock_update ? to_json(*o.lock_update) : json(nullptr)}};
}

json to_json(const FlowEvent& e) {
  json j = std::visit(
      [](const auto& ev) -> json {
        using T = std::decay_t<decltype(ev)>;
        if constexpr (std::is_same_v<T, SubmitAccount>) {
          return json{{"form", account_form_json(ev.form)}};
        } else if constexpr (std::is_same_v<T, SubmitCustomer>) {
          return json{{"form", customer_form_json(ev.form)},
                      {"check", identity_check_wire(ev.check)},
                      {"lock", to_json(ev.lock)}};
        } else if constexpr (std::is_same_v<T, ConfirmPhone>) {
          return json{{"dialled_number", ev.dialled_number}};
        } else if constexpr (std::is_same_v<T, IncomingCall>) {
          return json{{"caller", ev.caller ? json(*ev.caller) : json(nullptr)},
                      {"dialled", ev.dialled}};
        } else if constexpr (std::is_same_v<T, SubmitPin>) {
          return json{{"form", json{{"pin", ev.form.pin}}},
                      {"check", ev.check == PinCheck::match ? "match" : "mismatch"},
                      {"lock", to_json(ev.lock)}};
        } else if constexpr (std::is_same_v<T, SubmitConsent>) {
          return json{{"form", json{{"consent", ev.form.consent}}}};
        } else {  // ConfirmCall, Cancel
          return json::object();
        }
      },
      e);
  j["type"] = event_wire_name(e);
  return j;
}

json public_view_json(const FlowState& s, UnixSeconds now) {
  json account = nullptr;
  if (s.account) {
    account = json{{"branch", s.account->branch},
                   {"type", account_type_wire_name(s.account->type)},
                   {"type_label", account_type_label_ja(s.account->type)},
                   {"number", s.account->number}};
  }
  json call = nullptr;
  if (s.screen == Screen::call_wait && s.call) {
    call = json{{"dialled_number", s.call->dialled_number},
                {"seconds_left", call_seconds_left(s, now)},
                {"expires_at", instant_json(s.call->expires_at)},
                {"verified", s.call_verified}};
  }
  return json{{"screen", screen_wire_name(s.screen)},
              {"screen_id", screen_id(s.screen)},
              {"title", screen_title_ja(s.screen)},
              {"account", std::move(account)},
              {"masked_phone", s.phone.empty() ? std::string() : mask_phone(s.phone)},
              {"call", std::move(call)}};
}

std::optional<FlowState> flow_state_from_json(const json& j) {
  if (!j.is_object()) return std::nullopt;
  const json* screen_name = member(j, "screen");
  if (!screen_name || !screen_name->is_string()) return std::nullopt;
  auto screen = screen_from_wire(screen_name->get_ref<const std::string&>());
  if (!screen) return std::nullopt;
  FlowState s;
  s.screen = *screen;
  auto started = instant_member(j, "started_at", 0);
  auto last = instant_member(j, "last_activity", started.value_or(0));
  auto account = account_from_json(member(j, "account"));
  auto identity = bool_member(j, "identity_verified", false);
  auto call_ok = bool_member(j, "call_verified", false);
  auto pin_ok = bool_member(j, "pin_verified", false);
  auto consent = bool_member(j, "consent_given", false);
  auto name = string_member(j, "name_kana");
  auto email = string_member(j, "email");
  auto phone = string_member(j, "phone");
  auto call = call_from_json(member(j, "call"));
  if (!started || !last || !account || !identity || !call_ok || !pin_ok || !consent || !name ||
      !email || !phone || !call) {
    return std::nullopt;
  }
  s.started_at = *started;
  s.last_activity = *last;
  s.account = *account;
  s.identity_verified = *identity;
  s.call_verified = *call_ok;
  s.pin_verified = *pin_ok;
  s.consent_given = *consent;
  s.name_kana = std::move(*name);
  s.email = std::move(*email);
  s.phone = std::move(*phone);
  s.call = std::move(*call);
  return s;
}

std::optional<FlowEvent> flow_event_from_json(const json& j) {
  if (!j.is_object()) return std::nullopt;
  const json* type_member = member(j, "type");
  if (!type_member || !type_member->is_string()) return std::nullopt;
  const std::string type = type_member->get<std::string>();

  if (type == "submit_account") {
    auto form = form_member(j);
    if (!form) return std::nullopt;
    auto f = account_form_from_json(*form);
    if (!f) return std::nullopt;
    return SubmitAccount{std::move(*f)};
  }
  if (type == "submit_customer") {
    auto form = form_member(j);
    if (!form) return std::nullopt;
    auto f = customer_form_from_json(*form);
    auto check_name = string_member(j, "check", "mismatch");
    auto lock = lock_member(j);
    if (!f || !check_name || !lock) return std::nullopt;
    auto check = identity_check_from_wire(*check_name);
    if (!check) return std::nullopt;
    return SubmitCustomer{std::move(*f), *check, *lock};
  }
  if (type == "confirm_phone") {
    auto dialled = string_member(j, "dialled_number");
    if (!dialled) return std::nullopt;
    return ConfirmPhone{std::move(*dialled)};
  }
  if (type == "incoming_call") {
    IncomingCall call;
    const json* caller = member(j, "caller");
    if (caller && !caller->is_null()) {
      if (!caller->is_string()) return std::nullopt;
      call.caller = caller->get<std::string>();
    }
    auto dialled = string_member(j, "dialled");
    if (!dialled) return std::nullopt;
    call.dialled = std::move(*dialled);
    return call;
  }
  if (type == "confirm_call") return ConfirmCall{};
  if (type == "submit_pin") {
    auto form = form_member(j);
    if (!form) return std::nullopt;
    auto pin = string_member(*form, "pin");
    auto check_name = string_member(j, "check", "mismatch");
    auto lock = lock_member(j);
    if (!pin || !check_name || !lock) return std::nullopt;
    auto check = pin_check_from_wire(*check_name);
    if (!check) return std::nullopt;
    return SubmitPin{PinForm{std::move(*pin)}, *check, *lock};
  }
  if (type == "submit_consent") {
    auto form = form_member(j);
    if (!form) return std::nullopt;
    auto consent = bool_member(*form, "consent", false);
    if (!consent) return std::nullopt;
    return SubmitConsent{ConsentForm{*consent}};
  }
  if (type == "cancel") return Cancel{};
  return std::nullopt;
}

std::optional<LockState> lock_state_from_json(const json& j) {
  if (!j.is_object()) return std::nullopt;
  LockState s;
  if (const json* f = member(j, "failures")) {
    auto n = as_int64(*f);
    if (!n || *n < 0 || *n > 1000000) return std::nullopt;
    s.failures = static_cast<int>(*n);
  }
  auto until = optional_instant_member(j, "locked_until");
  if (!until) return std::nullopt;
  s.locked_until = *until;
  return s;
}

std::optional<AccountForm> account_form_from_json(const json& j) {
  if (!j.is_object()) return std::nullopt;
  auto branch = string_member(j, "branch");
  auto type = string_member(j, "account_type");
  auto number = string_member(j, "account_number");
  if (!branch || !type || !number) return std::nullopt;
  return AccountForm{std::move(*branch), std::move(*type), std::move(*number)};
}

std::optional<CustomerForm> customer_form_from_json(const json& j) {
  if (!j.is_object()) return std::nullopt;
  auto name = string_member(j, "name_kana");
  auto year = string_member(j, "birth_year");
  auto month = string_member(j, "birth_month");
  auto day = string_member(j, "birth_day");
  auto phone = string_member(j, "phone");
  auto email = string_member(j, "email");
  auto confirm = string_member(j, "email_confirm");
  if (!name || !year || !month || !day || !phone || !email || !confirm) return std::nullopt;
  return CustomerForm{std::move(*name),  std::move(*year),  std::move(*month),  std::move(*day),
                      std::move(*phone), std::move(*email), std::move(*confirm)};
}

std::optional<UnixSeconds> instant_from_json(const json& j) {
  std::optional<UnixSeconds> t;
  if (j.is_string()) {
    t = parse_iso_instant(j.get_ref<const std::string&>());
  } else {
    t = as_int64(j);
  }
  if (!t || *t < kMinInstant || *t > kMaxInstant) return std::nullopt;
  return t;
}

}  // namespace renkei
