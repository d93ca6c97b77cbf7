#include "renkei/flow.h"

#include <algorithm>
#include <array>
#include <type_traits>

namespace renkei {
namespace {

struct ScreenEntry {
  Screen screen;
  std::string_view wire;
  std::string_view id;
  std::string_view title;
  bool terminal;
};

// The one table of screens: wire name, screen ID shown at the bottom, title.
// Titles of ①–⑥ and the cancel page are the manual's; completed and expired
// are this project's wording (the manual has no such pages).
constexpr std::array<ScreenEntry, kScreenCount> kScreens{{
    {Screen::account_entry, "account_entry", "SOA201", "API連携認証（ご利用口座情報入力）", false},
    {Screen::customer_entry, "customer_entry", "SOA202", "API連携認証（お客様情報入力）", false},
    {Screen::phone_confirm, "phone_confirm", "SOA208", "API連携認証（電話番号の確認）", false},
    {Screen::call_wait, "call_wait", "SOA209", "API連携認証（電話番号認証）", false},
    {Screen::pin_entry, "pin_entry", "SOA211", "API連携認証（キャッシュカード暗証番号認証）",
     false},
    {Screen::consent, "consent", "SOA206", "API連携認証（情報連携認可）", false},
    {Screen::completed, "completed", "", "API連携認証の完了", true},
    {Screen::cancelled, "cancelled", "", "API連携認証の中止", true},
    {Screen::expired, "expired", "", "API連携認証の有効期限切れ", true},
}};

// The input controls of each form, in page order (birth_date is the date as
// a whole, checked from the three parts: no control of its own).
constexpr std::array<Field, 3> kAccountFields{Field::branch, Field::account_type,
                                             Field::account_number};
constexpr std::array<Field, 7> kCustomerFields{Field::name_kana, Field::birth_year,
                                              Field::birth_month, Field::birth_day,
                                              Field::phone,     Field::email,
                                              Field::email_confirm};
constexpr std::array<Field, 1> kPinFields{Field::pin};
constexpr std::array<Field, 1> kConsentFields{Field::consent};

// What each screen submits and where it leads, in enum order (step() below
// implements these transitions; FlowScreens tests check both agree).
const std::array<ScreenFlow, kScreenCount> kScreenFlows{{
    {"account", "/api/flow/account", "submit_account", Screen::customer_entry, kAccountFields},
    {"customer", "/api/flow/customer", "submit_customer", Screen::phone_confirm,
     kCustomerFields},
    {"", "/api/flow/phone", "confirm_phone", Screen::call_wait, {}},
    {"", "/api/flow/call/confirm", "confirm_call", Screen::pin_entry, {}},
    {"pin", "/api/flow/pin", "submit_pin", Screen::consent, kPinFields},
    {"consent", "/api/flow/consent", "submit_consent", Screen::completed, kConsentFields},
    {"", "", "", std::nullopt, {}},
    {"", "", "", std::nullopt, {}},
    {"", "", "", std::nullopt, {}},
}};

constexpr bool screens_in_enum_order() {
  for (std::size_t i = 0; i < kScreens.size(); ++i) {
    if (static_cast<std::size_t>(kScreens[i].screen) != i) return false;
  }
  return true;
}
static_assert(screens_in_enum_order(), "kScreens must list every Screen in enum order");

const ScreenEntry& screen_entry(Screen s) {
  auto i = static_cast<std::size_t>(s);
  if (i >= kScreens.size()) return kScreens[static_cast<std::size_t>(Screen::expired)];
  return kScreens[i];
}

// An answer that leaves the state as it was.
FlowTransition refuse(const FlowState& state, ErrorCode code) {
  FlowTransition t{state, {}};
  t.outcome.error = code;
  return t;
}

// Form errors: stay on the screen, report every field and the summary.
FlowTransition form_errors(const FlowState& state, const FormResult& form) {
  FlowTransition t{state, {}};
  t.outcome.error = form.summary_code();
  t.outcome.field_errors = form.errors;
  t.outcome.show_required_dialog = form.show_required_dialog();
  return t;
}

// A customer event that did what it asked: the screen moves on.
FlowTransition advance(FlowState next, Screen to, UnixSeconds now) {
  next.screen = to;
  next.last_activity = now;
  FlowTransition t{std::move(next), {}};
  t.outcome.accepted = true;
  return t;
}

bool call_counts_at(const CallWindow& w, UnixSeconds t) {
  return w.opened_at <= t && t <= w.expires_at;
}

// The facts a screen needs, in the order the machine establishes them. A
// stored state that claims a screen without them was not made by step() (or was
// tampered with), and is not let forward.
bool facts_fit_screen(const FlowState& s) {
  switch (s.screen) {
    case Screen::account_entry:
      return !s.identity_verified && !s.call_verified && !s.pin_verified && !s.consent_given;
    case Screen::customer_entry:
      return s.account.has_value() && !s.identity_verified && !s.call_verified && !s.pin_verified &&
             !s.consent_given;
    case Screen::phone_confirm:
      return s.account.has_value() && s.identity_verified && !s.call_verified && !s.pin_verified &&
             !s.consent_given;
    case Screen::call_wait:
      return s.account.has_value() && s.identity_verified && s.call.has_value() &&
             !s.pin_verified && !s.consent_given &&
             s.call_verified == s.call->verified_at.has_value() &&
             (!s.call->verified_at || call_counts_at(*s.call, *s.call->verified_at));
    case Screen::pin_entry:
      return s.account.has_value() && s.identity_verified && s.call_verified && !s.pin_verified &&
             !s.consent_given;
    case Screen::consent:
      return s.account.has_value() && s.identity_verified && s.call_verified && s.pin_verified &&
             !s.consent_given;
    case Screen::completed:
    case Screen::cancelled:
    case Screen::expired:
      return true;
  }
  return false;
}

bool is_customer_event(const FlowEvent& e) {
  return !std::holds_alternative<Cancel>(e) && !std::holds_alternative<IncomingCall>(e);
}

bool screen_accepts(Screen s, const FlowEvent& e) {
  if (std::holds_alternative<Cancel>(e)) return !is_terminal(s);
  switch (s) {
    case Screen::account_entry:
      return std::holds_alternative<SubmitAccount>(e);
    case Screen::customer_entry:
      return std::holds_alternative<SubmitCustomer>(e);
    case Screen::phone_confirm:
      return std::holds_alternative<ConfirmPhone>(e);
    case Screen::call_wait:
      return std::holds_alternative<IncomingCall>(e) || std::holds_alternative<ConfirmCall>(e);
    case Screen::pin_entry:
      return std::holds_alternative<SubmitPin>(e);
    case Screen::consent:
      return std::holds_alternative<SubmitConsent>(e);
    case Screen::completed:
    case Screen::cancelled:
    case Screen::expired:
      return false;
  }
  return false;
}

// ① 次へ
FlowTransition on_submit_account(const FlowState& s, const SubmitAccount& e, UnixSeconds now) {
  FormResult form = validate_account_form(e.form);
  if (!form.ok()) return form_errors(s, form);
  FlowState next = s;
  next.account = account_ref_from(form);
  return advance(std::move(next), Screen::customer_entry, now);
}

// ② 次へ: the server has looked the data up; the check result comes with it.
FlowTransition on_submit_customer(const FlowState& s, const SubmitCustomer& e, UnixSeconds now,
                                  const FlowConfig& config) {
  FormResult form = validate_customer_form(e.form, jst_date(now));
  if (!form.ok()) return form_errors(s, form);
  if (e.check == IdentityCheck::account_not_eligible) {
    return refuse(s, ErrorCode::account_not_eligible);
  }
  if (config.lockout.is_locked(e.lock, now)) return refuse(s, ErrorCode::locked);
  if (e.check == IdentityCheck::mismatch) {
    auto failure = config.lockout.on_failure(e.lock, now);
    FlowTransition t = refuse(s, failure.code);
    t.outcome.lock_update = failure.next;
    return t;
  }
  CustomerInfo info = customer_info_from(form);
  FlowState next = s;
  next.identity_verified = true;
  next.name_kana = std::move(info.name_kana);
  next.email = std::move(info.email);
  next.phone = std::move(info.phone);
  // The count is not reset: only a correct PIN at ⑤ does that (SPEC §5,
  // amended). A reset here would let someone who passes ② and ④ wipe the PIN
  // failures of ⑤ with each new flow and guess the 4-digit PIN without limit.
  // Only a lock that has lifted by itself is written back as lifted.
  FlowTransition t = advance(std::move(next), Screen::phone_confirm, now);
  const LockState effective = config.lockout.effective(e.lock, now);
  if (!(effective == e.lock)) t.outcome.lock_update = effective;
  return t;
}

// ③ 電話番号の決定: the server picked the toll-free number from its pool.
FlowTransition on_confirm_phone(const FlowState& s, const ConfirmPhone& e, UnixSeconds now,
                                const FlowConfig& config) {
  FlowState next = s;
  next.call = CallWindow{e.dialled_number, now, now + config.call_window_seconds, std::nullopt};
  next.call_verified = false;
  return advance(std::move(next), Screen::call_wait, now);
}

// ④ the telephony webhook. Not a customer action: last_activity stays.
FlowTransition on_incoming_call(const FlowState& s, const IncomingCall& e, UnixSeconds now) {
  const CallWindow& w = *s.call;
  if (!e.caller) return refuse(s, ErrorCode::call_withheld);
  if (!call_counts_at(w, now)) return refuse(s, ErrorCode::call_expired);
  if (*e.caller != s.phone || e.dialled != w.dialled_number) {
    return refuse(s, ErrorCode::call_not_matched);
  }
  FlowTransition t{s, {}};
  t.outcome.accepted = true;
  if (!t.state.call->verified_at) {  // a second matching call changes nothing
    t.state.call->verified_at = now;
    t.state.call_verified = true;
  }
  return t;
}

// ④ 確定する
FlowTransition on_confirm_call(const FlowState& s, UnixSeconds now) {
  const CallWindow& w = *s.call;
  if (now > w.expires_at) {
    // 120秒経過後の「確定する」は無効: back to ① with nothing carried over.
    FlowState next = start_flow(s.started_at);
    next.last_activity = now;
    FlowTransition t{std::move(next), {}};
    t.outcome.error = ErrorCode::call_expired;
    return t;
  }
  if (s.call_verified && w.verified_at && call_counts_at(w, *w.verified_at)) {
    return advance(s, Screen::pin_entry, now);
  }
  return refuse(s, ErrorCode::call_pending);
}

// ⑤ 次へ
FlowTransition on_submit_pin(const FlowState& s, const SubmitPin& e, UnixSeconds now,
                             const FlowConfig& config) {
  FormResult form = validate_pin_form(e.form);
  if (!form.ok()) return form_errors(s, form);
  if (config.lockout.is_locked(e.lock, now)) return refuse(s, ErrorCode::locked);
  if (e.check == PinCheck::mismatch) {
    auto failure = config.lockout.on_failure(e.lock, now);
    FlowTransition t = refuse(s, failure.code);
    t.outcome.lock_update = failure.next;
    return t;
  }
  FlowState next = s;
  next.pin_verified = true;
  FlowTransition t = advance(std::move(next), Screen::consent, now);
  t.outcome.lock_update = config.lockout.on_success(e.lock, now);
  return t;
}

// ⑥ 許可する
FlowTransition on_submit_consent(const FlowState& s, const SubmitConsent& e, UnixSeconds now) {
  if (!e.form.consent) {
    FlowTransition t = refuse(s, ErrorCode::consent_required);
    t.outcome.field_errors.push_back({Field::consent, ErrorCode::consent_required});
    return t;
  }
  FlowState next = s;
  next.consent_given = true;
  return advance(std::move(next), Screen::completed, now);
}

}  // namespace

std::string_view screen_wire_name(Screen s) {
  return screen_entry(s).wire;
}
std::string_view screen_id(Screen s) {
  return screen_entry(s).id;
}
std::string_view screen_title_ja(Screen s) {
  return screen_entry(s).title;
}
bool is_terminal(Screen s) {
  return screen_entry(s).terminal;
}
const ScreenFlow& screen_flow(Screen s) {
  auto i = static_cast<std::size_t>(s);
  return kScreenFlows[i < kScreenFlows.size() ? i : static_cast<std::size_t>(Screen::expired)];
}

std::optional<Screen> screen_from_wire(std::string_view name) {
  for (const auto& e : kScreens) {
    if (e.wire == name) return e.screen;
  }
  return std::nullopt;
}

std::string_view event_wire_name(const FlowEvent& e) {
  return std::visit(
      [](const auto& ev) -> std::string_view {
        using T = std::decay_t<decltype(ev)>;
        if constexpr (std::is_same_v<T, SubmitAccount>) return "submit_account";
        if constexpr (std::is_same_v<T, SubmitCustomer>) return "submit_customer";
        if constexpr (std::is_same_v<T, ConfirmPhone>) return "confirm_phone";
        if constexpr (std::is_same_v<T, IncomingCall>) return "incoming_call";
        if constexpr (std::is_same_v<T, ConfirmCall>) return "confirm_call";
        if constexpr (std::is_same_v<T, SubmitPin>) return "submit_pin";
        if constexpr (std::is_same_v<T, SubmitConsent>) return "submit_consent";
        if constexpr (std::is_same_v<T, Cancel>) return "cancel";
      },
      e);
}

FlowState start_flow(UnixSeconds now) {
  FlowState s;
  s.screen = Screen::account_entry;
  s.started_at = now;
  s.last_activity = now;
  return s;
}

int call_seconds_left(const FlowState& state, UnixSeconds now) {
  if (state.screen != Screen::call_wait || !state.call) return 0;
  const CallWindow& w = *state.call;
  if (now > w.expires_at || w.expires_at < w.opened_at) return 0;
  // A clock that went back before the window opened shows the full window.
  UnixSeconds left = w.expires_at - std::max(now, w.opened_at);
  return static_cast<int>(std::min<UnixSeconds>(left, 365 * kSecondsPerDay));
}

bool is_idle_expired(const FlowState& state, UnixSeconds now, const FlowConfig& config) {
  return !is_terminal(state.screen) && now - state.last_activity > config.idle_timeout_seconds;
}

FlowTransition step(const FlowState& state, const FlowEvent& event, UnixSeconds now,
                    const FlowConfig& config) {
  // 1. terminal states accept nothing.
  if (is_terminal(state.screen)) return refuse(state, ErrorCode::invalid_step);
  // 2. idle too long.
  if (is_idle_expired(state, now, config)) {
    FlowTransition t{state, {}};
    t.state.screen = Screen::expired;
    t.outcome.error = ErrorCode::session_expired;
    return t;
  }
  // 3. service windows (中止する and the telephony webhook still work).
  if (is_customer_event(event) && !config.calendar.is_open(now)) {
    return refuse(state, ErrorCode::out_of_hours);
  }
  // 4. what the screen does not take; a stored state whose facts do not fit
  //    its screen may only be cancelled.
  if (!screen_accepts(state.screen, event) ||
      (!std::holds_alternative<Cancel>(event) && !facts_fit_screen(state))) {
    return refuse(state, ErrorCode::invalid_step);
  }
  // 5. the screen's own rules.
  return std::visit(
      [&](const auto& ev) -> FlowTransition {
        using T = std::decay_t<decltype(ev)>;
        if constexpr (std::is_same_v<T, SubmitAccount>) {
          return on_submit_account(state, ev, now);
        } else if constexpr (std::is_same_v<T, SubmitCustomer>) {
          return on_submit_customer(state, ev, now, config);
        } else if constexpr (std::is_same_v<T, ConfirmPhone>) {
          return on_confirm_phone(state, ev, now, config);
        } else if constexpr (std::is_same_v<T, IncomingCall>) {
          return on_incoming_call(state, ev, now);
        } else if constexpr (std::is_same_v<T, ConfirmCall>) {
          return on_confirm_call(state, now);
        } else if constexpr (std::is_same_v<T, SubmitPin>) {
          return on_submit_pin(state, ev, now, config);
        } else if constexpr (std::is_same_v<T, SubmitConsent>) {
          return on_submit_consent(state, ev, now);
        } else {
          return advance(state, Screen::cancelled, now);
        }
      },
      event);
}

}  // namespace renkei
