#include "renkei/case_runner.h"

#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "renkei/error.h"
#include "renkei/fields.h"
#include "renkei/flow.h"
#include "renkei/forms.h"
#include "renkei/json.h"
#include "renkei/lockout_policy.h"
#include "renkei/normalize.h"
#include "renkei/service_calendar.h"
#include "renkei/time.h"
#include "renkei/ui_text.h"

// Like json.cpp, nothing here may throw (the WASM build has no exceptions):
// every member is looked up with find() and type-checked before get<>().

namespace renkei {
namespace {

using nlohmann::json;

constexpr std::int64_t kMaxCalendarSpan = 400 * kSecondsPerDay;
constexpr std::size_t kMaxExtraWindows = 64;

// A failed case: why, for whoever wrote the case (the code is bad_request).
struct Failure {
  std::string detail;
};

// The result of one handler: the output object, or why the case is malformed.
template <typename T>
class Result {
 public:
  Result(T value) : value_(std::move(value)) {}  // NOLINT: implicit by design
  Result(Failure f) : failure_(std::move(f)) {}  // NOLINT
  bool ok() const { return value_.has_value(); }
  T& value() { return *value_; }
  const std::string& detail() const { return failure_.detail; }

 private:
  std::optional<T> value_;
  Failure failure_;
};

Failure fail(std::string detail) {
  return Failure{std::move(detail)};
}

const json* member(const json& j, const char* key) {
  if (!j.is_object()) return nullptr;
  auto it = j.find(key);
  if (it == j.end()) return nullptr;
  return &*it;
}

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// "e3 81 82" → the raw bytes; spaces are ignored.
std::optional<std::string> decode_hex(std::string_view hex) {
  std::string out;
  int high = -1;
  for (char c : hex) {
    if (c == ' ') continue;
    int d = hex_digit(c);
    if (d < 0) return std::nullopt;
    if (high < 0) {
      high = d;
    } else {
      out.push_back(static_cast<char>(high * 16 + d));
      high = -1;
    }
  }
  if (high >= 0) return std::nullopt;
  return out;
}

// A text input given as `key` (a string) or `key_hex` (raw bytes in hex).
// Missing → `fallback` when given, otherwise a failure.
Result<std::string> text_input(const json& c, const std::string& key,
                               std::optional<std::string> fallback = std::nullopt) {
  if (const json* m = member(c, key.c_str())) {
    if (!m->is_string()) return fail("\"" + key + "\" must be a string");
    return m->get<std::string>();
  }
  const std::string hex_key = key + "_hex";
  if (const json* m = member(c, hex_key.c_str())) {
    if (!m->is_string()) return fail("\"" + hex_key + "\" must be a string");
    auto bytes = decode_hex(m->get_ref<const std::string&>());
    if (!bytes) return fail("\"" + hex_key + "\" must be pairs of hex digits");
    return std::move(*bytes);
  }
  if (fallback) return std::move(*fallback);
  return fail("missing \"" + key + "\"");
}

Result<UnixSeconds> instant_input(const json& c, const char* key) {
  const json* m = member(c, key);
  if (!m) return fail(std::string("missing \"") + key + "\"");
  auto t = instant_from_json(*m);
  if (!t) return fail(std::string("\"") + key + "\" must be an ISO 8601 instant or Unix seconds");
  return *t;
}

Result<CivilDate> date_input(const json& c, const char* key) {
  const json* m = member(c, key);
  if (!m || !m->is_string()) return fail(std::string("\"") + key + "\" must be \"YYYY-MM-DD\"");
  auto d = parse_date(m->get_ref<const std::string&>());
  if (!d) return fail(std::string("\"") + key + "\" must be \"YYYY-MM-DD\"");
  return *d;
}

// An optional integer member within [lo, hi]; missing → fallback.
Result<int> int_input(const json& c, const char* key, int fallback, int lo, int hi) {
  const json* m = member(c, key);
  if (!m) return fallback;
  bool in_range = false;
  std::int64_t v = 0;
  if (m->is_number_unsigned()) {
    auto u = m->get<std::uint64_t>();
    in_range = u <= static_cast<std::uint64_t>(hi);
    v = in_range ? static_cast<std::int64_t>(u) : 0;
  } else if (m->is_number_integer()) {
    v = m->get<std::int64_t>();
    in_range = true;
  }
  if (!in_range || v < lo || v > hi) {
    return fail(std::string("\"") + key + "\" must be an integer from " + std::to_string(lo) +
                " to " + std::to_string(hi));
  }
  return static_cast<int>(v);
}

// A copy of a form object with every "x_hex" member decoded into "x".
Result<json> decode_form(const json* form) {
  if (!form || form->is_null()) return json::object();
  if (!form->is_object()) return fail("\"form\" must be an object");
  json out = json::object();
  for (const auto& [key, value] : form->items()) {
    constexpr std::string_view kHex = "_hex";
    if (key.size() > kHex.size() && key.compare(key.size() - kHex.size(), kHex.size(), kHex) == 0) {
      const std::string base = key.substr(0, key.size() - kHex.size());
      auto text = text_input(*form, base);
      if (!text.ok()) return fail(text.detail());
      out[base] = std::move(text.value());
    } else {
      out[key] = value;
    }
  }
  return out;
}

Result<std::vector<MaintenanceWindow>> windows_input(const json& c, const char* key) {
  std::vector<MaintenanceWindow> windows;
  const json* m = member(c, key);
  if (!m || m->is_null()) return windows;
  if (!m->is_array()) return fail(std::string("\"") + key + "\" must be an array");
  if (m->size() > kMaxExtraWindows) {
    return fail(std::string("\"") + key + "\" holds at most " + std::to_string(kMaxExtraWindows) +
                " windows");
  }
  for (const json& w : *m) {
    if (!w.is_object()) return fail(std::string("each of \"") + key + "\" must be an object");
    auto start = instant_input(w, "start");
    auto end = instant_input(w, "end");
    if (!start.ok()) return fail(start.detail());
    if (!end.ok()) return fail(end.detail());
    if (!(start.value() < end.value())) return fail("a window's start must be before its end");
    auto label = text_input(w, "label", std::string());
    if (!label.ok()) return fail(label.detail());
    windows.push_back({start.value(), end.value(), std::move(label.value())});
  }
  return windows;
}

// ----- kind: field -----
Result<json> run_field(const json& c) {
  const json* name = member(c, "field");
  if (!name || !name->is_string()) return fail("\"field\" must be a field's wire name");
  auto field = field_from_wire(name->get_ref<const std::string&>());
  if (!field) return fail("unknown field");

  FieldResult r;
  json extra = json::object();
  switch (*field) {
    case Field::birth_date:
    case Field::birth_year:
    case Field::birth_month:
    case Field::birth_day: {
      auto year = text_input(c, "year", std::string());
      auto month = text_input(c, "month", std::string());
      auto day = text_input(c, "day", std::string());
      auto today = date_input(c, "today");
      if (!year.ok()) return fail(year.detail());
      if (!month.ok()) return fail(month.detail());
      if (!day.ok()) return fail(day.detail());
      if (!today.ok()) return fail(today.detail());
      r = check_birth_date(year.value(), month.value(), day.value(), today.value());
      if (*field != Field::birth_date) {
        // One select's errors only: what the screen shows under that select.
        std::vector<FieldError> mine;
        for (const auto& e : r.errors) {
          if (e.field == *field) mine.push_back(e);
        }
        r.errors = std::move(mine);
      }
      extra = json{{"year", year.value()},
                   {"month", month.value()},
                   {"day", day.value()},
                   {"today", format_date(today.value())}};
      break;
    }
    case Field::consent: {
      const json* v = member(c, "value");
      if (!v || !v->is_boolean()) return fail("\"value\" must be true or false for consent");
      r = check_consent(v->get<bool>());
      break;
    }
    case Field::email_confirm: {
      auto email = text_input(c, "email");
      auto value = text_input(c, "value");
      if (!email.ok()) return fail(email.detail());
      if (!value.ok()) return fail(value.detail());
      r = check_email_confirm(email.value(), value.value());
      extra = json{{"email", email.value()}};
      break;
    }
    default: {
      auto value = text_input(c, "value");
      if (!value.ok()) return fail(value.detail());
      switch (*field) {
        case Field::branch:
          r = check_branch(value.value());
          break;
        case Field::account_type:
          r = check_account_type(value.value());
          break;
        case Field::account_number:
          r = check_account_number(value.value());
          break;
        case Field::name_kana:
          r = check_name_kana(value.value());
          break;
        case Field::phone:
          r = check_phone(value.value());
          break;
        case Field::email:
          r = check_email(value.value());
          break;
        default:  // Field::pin; the others are handled above
          r = check_pin(value.value());
          break;
      }
      break;
    }
  }
  json out = to_json(r);
  out["field"] = field_wire_name(*field);
  for (auto& [k, v] : extra.items()) out[k] = v;
  return out;
}

// ----- kind: form -----
Result<json> run_form(const json& c) {
  const json* screen = member(c, "screen");
  if (!screen || !screen->is_string()) {
    return fail("\"screen\" must be account, customer, pin or consent");
  }
  const std::string& which = screen->get_ref<const std::string&>();
  auto form = decode_form(member(c, "form"));
  if (!form.ok()) return fail(form.detail());
  const json& f = form.value();

  FormResult r;
  if (which == "account") {
    auto af = account_form_from_json(f);
    if (!af) return fail("the account form's members must be strings");
    r = validate_account_form(*af);
  } else if (which == "customer") {
    auto cf = customer_form_from_json(f);
    if (!cf) return fail("the customer form's members must be strings");
    auto today = date_input(c, "today");
    if (!today.ok()) return fail(today.detail());
    r = validate_customer_form(*cf, today.value());
  } else if (which == "pin") {
    const json* pin = member(f, "pin");
    if (pin && !pin->is_string()) return fail("\"pin\" must be a string");
    r = validate_pin_form(PinForm{pin ? pin->get<std::string>() : std::string()});
  } else if (which == "consent") {
    const json* consent = member(f, "consent");
    if (consent && !consent->is_boolean()) return fail("\"consent\" must be true or false");
    r = validate_consent_form(ConsentForm{consent && consent->get<bool>()});
  } else {
    return fail("\"screen\" must be account, customer, pin or consent");
  }
  json out = to_json(r);
  out["screen"] = which;
  auto summary = r.summary_code();
  out["summary"] =
      summary ? error_envelope(*summary, r.errors, r.show_required_dialog()) : json(nullptr);
  return out;
}

// ----- kind: normalize -----
Result<json> run_normalize(const json& c) {
  const json* mode = member(c, "mode");
  if (!mode || !mode->is_string()) return fail("\"mode\" must be ascii or kana");
  auto value = text_input(c, "value");
  if (!value.ok()) return fail(value.detail());
  Normalized n;
  if (mode->get_ref<const std::string&>() == "ascii") {
    n = to_halfwidth_ascii(value.value());
  } else if (mode->get_ref<const std::string&>() == "kana") {
    n = to_halfwidth_kana(value.value());
  } else {
    return fail("\"mode\" must be ascii or kana");
  }
  return json{{"mode", *mode},
              {"text", n.text},
              {"error", n.error ? json(wire_name(*n.error)) : json(nullptr)}};
}

// ----- kind: calendar -----
Result<json> run_calendar(const json& c) {
  auto at = instant_input(c, "at");
  if (!at.ok()) return fail(at.detail());
  auto extra = windows_input(c, "extra");
  if (!extra.ok()) return fail(extra.detail());
  ServiceCalendar calendar(std::move(extra.value()));
  const UnixSeconds t = at.value();
  auto closure = calendar.closure_at(t);
  json out{{"at", format_jst(t)},
           {"open", calendar.is_open(t)},
           {"closure", closure ? to_json(*closure) : json(nullptr)},
           {"next_open", format_jst(calendar.next_open(t))}};
  if (member(c, "until")) {
    auto until = instant_input(c, "until");
    if (!until.ok()) return fail(until.detail());
    if (until.value() < t || until.value() - t > kMaxCalendarSpan) {
      return fail("\"until\" must be from \"at\" to 400 days after it");
    }
    json list = json::array();
    for (const auto& cl : calendar.closures_between(t, until.value())) list.push_back(to_json(cl));
    out["until"] = format_jst(until.value());
    out["closures"] = std::move(list);
  }
  return out;
}

// ----- kind: lockout -----
Result<json> run_lockout(const json& c) {
  LockState state;
  if (const json* s = member(c, "state"); s && !s->is_null()) {
    auto parsed = lock_state_from_json(*s);
    if (!parsed) return fail("\"state\" must be {\"failures\":n,\"locked_until\":instant|null}");
    state = *parsed;
  }
  auto now = instant_input(c, "now");
  if (!now.ok()) return fail(now.detail());
  auto limit = int_input(c, "limit", LockoutPolicy::kDefaultLimit, 1, 1000);
  if (!limit.ok()) return fail(limit.detail());
  const json* action = member(c, "action");
  if (!action || !action->is_string()) return fail("\"action\" must be failure, success or check");
  const std::string& act = action->get_ref<const std::string&>();

  LockoutPolicy policy(limit.value());
  const UnixSeconds t = now.value();
  LockState next;
  std::optional<ErrorCode> code;
  if (act == "failure") {
    auto f = policy.on_failure(state, t);
    next = f.next;
    code = f.code;
  } else if (act == "success") {
    next = policy.on_success(state, t);
  } else if (act == "check") {
    next = policy.effective(state, t);
    if (policy.is_locked(state, t)) code = ErrorCode::locked;
  } else {
    return fail("\"action\" must be failure, success or check");
  }
  const bool locked = policy.is_locked(next, t);
  json out{{"action", act}, {"locked", locked}, {"next", to_json(next)}};
  if (code) out["code"] = wire_name(*code);
  if (locked && next.locked_until) out["lifts_at"] = format_jst(*next.locked_until);
  return out;
}

// ----- kind: flow -----
Result<FlowConfig> config_input(const json* c) {
  FlowConfig config;
  if (!c || c->is_null()) return config;
  if (!c->is_object()) return fail("\"config\" must be an object");
  auto window = int_input(*c, "call_window_seconds", config.call_window_seconds, 1, 86400);
  auto idle = int_input(*c, "idle_timeout_seconds", config.idle_timeout_seconds, 1,
                        30 * static_cast<int>(kSecondsPerDay));
  auto limit = int_input(*c, "lockout_limit", LockoutPolicy::kDefaultLimit, 1, 1000);
  auto extra = windows_input(*c, "extra_windows");
  if (!window.ok()) return fail(window.detail());
  if (!idle.ok()) return fail(idle.detail());
  if (!limit.ok()) return fail(limit.detail());
  if (!extra.ok()) return fail(extra.detail());
  config.call_window_seconds = window.value();
  config.idle_timeout_seconds = idle.value();
  config.lockout = LockoutPolicy(limit.value());
  config.calendar = ServiceCalendar(std::move(extra.value()));
  return config;
}

Result<json> run_flow(const json& c) {
  auto now = instant_input(c, "now");
  if (!now.ok()) return fail(now.detail());
  auto config = config_input(member(c, "config"));
  if (!config.ok()) return fail(config.detail());

  FlowState state = start_flow(now.value());
  if (const json* s = member(c, "state"); s && !s->is_null()) {
    auto parsed = flow_state_from_json(*s);
    if (!parsed) return fail("\"state\" is not a flow state");
    state = std::move(*parsed);
  }
  json outcome = nullptr;
  if (const json* e = member(c, "event"); e && !e->is_null()) {
    auto event = flow_event_from_json(*e);
    if (!event) return fail("\"event\" is not a flow event");
    FlowTransition t = step(state, *event, now.value(), config.value());
    state = std::move(t.state);
    outcome = to_json(t.outcome);
  }
  return json{{"state", to_json(state)},
              {"outcome", std::move(outcome)},
              {"view", public_view_json(state, now.value())}};
}

// ----- kind: mask, message, catalog -----
Result<json> run_mask(const json& c) {
  auto phone = text_input(c, "phone");
  if (!phone.ok()) return fail(phone.detail());
  return json{{"masked", mask_phone(phone.value())}};
}

Result<json> run_tollfree(const json& c) {
  auto number = text_input(c, "number");
  if (!number.ok()) return fail(number.detail());
  return json{{"number", number.value()}, {"display", group_tollfree(number.value())}};
}

Result<json> run_reopening(const json& c) {
  auto at = instant_input(c, "at");
  if (!at.ok()) return fail(at.detail());
  auto reopens = instant_input(c, "reopens_at");
  if (!reopens.ok()) return fail(reopens.detail());
  return json{{"at", format_jst(at.value())},
              {"reopens_at", format_jst(reopens.value())},
              {"text", reopening_message_ja(at.value(), reopens.value())}};
}

Result<json> run_message(const json& c) {
  const json* name = member(c, "code");
  if (!name || !name->is_string()) return fail("\"code\" must be an error code's wire name");
  auto code = error_code_from_wire(name->get_ref<const std::string&>());
  if (!code) return fail("unknown error code");
  return json{{"code", wire_name(*code)},
              {"message", message_ja(*code)},
              {"reason", reason_code(*code)},
              {"http_status", http_status(*code)}};
}

json catalog() {
  json codes = json::array();
  for (int i = 0; i < kErrorCodeCount; ++i) {
    auto code = static_cast<ErrorCode>(i);
    codes.push_back(json{{"code", wire_name(code)},
                         {"message", message_ja(code)},
                         {"reason", reason_code(code)},
                         {"http_status", http_status(code)},
                         {"field_error", is_field_error(code)}});
  }
  json fields = json::array();
  for (int i = 0; i < kFieldCount; ++i) {
    auto f = static_cast<Field>(i);
    fields.push_back(json{{"field", field_wire_name(f)}, {"label", field_label_ja(f)}});
  }
  json screens = json::array();
  for (int i = 0; i < kScreenCount; ++i) {
    auto s = static_cast<Screen>(i);
    const ScreenFlow& flow = screen_flow(s);
    json fields = json::array();
    for (Field f : flow.fields) fields.push_back(field_wire_name(f));
    screens.push_back(json{{"screen", screen_wire_name(s)},
                           {"id", screen_id(s)},
                           {"title", screen_title_ja(s)},
                           {"terminal", is_terminal(s)},
                           {"form", flow.form},
                           {"endpoint", flow.endpoint},
                           {"event", flow.event},
                           {"next", flow.next ? json(screen_wire_name(*flow.next)) : json()},
                           {"fields", std::move(fields)}});
  }
  json types = json::array();
  for (AccountType t : kAccountTypes) {
    types.push_back(json{{"type", account_type_wire_name(t)}, {"label", account_type_label_ja(t)}});
  }
  json labels = json::object();
  for (int i = 0; i < kUiLabelCount; ++i) {
    auto l = static_cast<UiLabel>(i);
    labels[std::string(ui_label_wire_name(l))] = ui_label_ja(l);
  }
  return json{{"codes", std::move(codes)},
              {"labels", std::move(labels)},
              {"fields", std::move(fields)},
              {"screens", std::move(screens)},
              {"account_types", std::move(types)},
              {"required_dialog", json{{"title", kRequiredDialogTitle},
                                       {"message", kRequiredDialogMessage},
                                       {"ok", kDialogOk}}},
              {"limits", json{{"account_number_max_digits", kAccountNumberMaxDigits},
                              {"name_max_chars", kNameMaxChars},
                              {"email_max_chars", kEmailMaxChars},
                              {"min_birth_year", kMinBirthYear},
                              // the default; a server's own is in GET /api/flow
                              {"call_window_seconds", FlowConfig{}.call_window_seconds}}}};
}

Result<json> dispatch(const std::string& kind, const json& c) {
  if (kind == "field") return run_field(c);
  if (kind == "form") return run_form(c);
  if (kind == "normalize") return run_normalize(c);
  if (kind == "calendar") return run_calendar(c);
  if (kind == "lockout") return run_lockout(c);
  if (kind == "flow") return run_flow(c);
  if (kind == "mask") return run_mask(c);
  if (kind == "tollfree") return run_tollfree(c);
  if (kind == "reopening") return run_reopening(c);
  if (kind == "message") return run_message(c);
  if (kind == "catalog") return catalog();
  return fail("unknown \"kind\"");
}

json bad_request(std::string detail) {
  json out = error_envelope(ErrorCode::bad_request);
  out["error"]["detail"] = std::move(detail);
  return out;
}

}  // namespace

std::string run_case(std::string_view json_line) {
  auto parsed = parse_json(json_line);
  if (!parsed)
    return dump_json(bad_request("not valid JSON, larger than 1 MiB, or nested deeper than 32"));
  const json& c = *parsed;
  if (!c.is_object()) return dump_json(bad_request("a case must be a JSON object"));

  json out;
  const json* kind = member(c, "kind");
  if (!kind || !kind->is_string()) {
    out = bad_request("\"kind\" must be a string");
  } else {
    Result<json> r = dispatch(kind->get<std::string>(), c);
    if (r.ok()) {
      out = std::move(r.value());
      out["kind"] = *kind;
    } else {
      out = bad_request(r.detail());
      out["kind"] = *kind;
    }
  }
  if (const json* id = member(c, "id")) out["id"] = *id;
  return dump_json(out);
}

}  // namespace renkei
