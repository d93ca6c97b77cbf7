// The flow of the six screens (SPEC §2, §7) as a pure state machine:
//   step(state, event, now, config) -> (next state, outcome).
// Events that need the credit union's records carry the result of that check
// as data (the server looked it up); the core never touches storage or clocks.
#pragma once

#include <optional>
#include <span>
#include <string>
#include <variant>
#include <vector>

#include "renkei/error.h"
#include "renkei/fields.h"
#include "renkei/forms.h"
#include "renkei/lockout_policy.h"
#include "renkei/service_calendar.h"
#include "renkei/time.h"

namespace renkei {

// Where the customer is. The numbers are the manual's screen numbers.
enum class Screen {
  account_entry,   // ① SOA201 ご利用口座情報入力
  customer_entry,  // ② SOA202 お客様情報入力
  phone_confirm,   // ③ SOA208 電話番号の確認
  call_wait,       // ④ SOA209 電話番号認証
  pin_entry,       // ⑤ SOA211 キャッシュカード暗証番号認証
  consent,         // ⑥ SOA206 情報連携認可
  completed,       // consent given: the app gets its authorization (terminal)
  cancelled,       // 中止する / 拒否する: API連携認証の中止 (terminal)
  expired,         // idle too long (terminal)
};
inline constexpr int kScreenCount = 9;

std::string_view screen_wire_name(Screen s);
std::optional<Screen> screen_from_wire(std::string_view name);
std::string_view screen_id(Screen s);        // "SOA201"; "" for completed/expired
std::string_view screen_title_ja(Screen s);  // "API連携認証（ご利用口座情報入力）"
bool is_terminal(Screen s);

// What a screen asks of the customer and where it leads: one row of the core's
// screens table, from which the page, the server's routes and the admin
// funnel are built (STYLE.md "One table, many outputs"), and which the
// catalog case publishes.
struct ScreenFlow {
  std::string_view form;        // the form it submits ("account" …), "" when it has none
  std::string_view endpoint;    // the POST of its main button ("/api/flow/account"), or ""
  std::string_view event;       // that POST's event (event_wire_name), or ""
  std::optional<Screen> next;   // where the accepted event leads; nullopt on a terminal screen
  std::span<const Field> fields;  // the form's input controls, in page order
};
const ScreenFlow& screen_flow(Screen s);

// The 120-second window of ④ (SPEC §7).
struct CallWindow {
  std::string dialled_number;    // the toll-free 認証先電話番号 assigned
  UnixSeconds opened_at = 0;
  UnixSeconds expires_at = 0;    // opened_at + window; a call at expires_at still counts
  std::optional<UnixSeconds> verified_at;  // when a matching call arrived
  friend bool operator==(const CallWindow&, const CallWindow&) = default;
};

// Everything the flow knows. Persisted by the server (never sent whole to the
// browser: see public_view_json).
struct FlowState {
  Screen screen = Screen::account_entry;
  UnixSeconds started_at = 0;
  UnixSeconds last_activity = 0;
  std::optional<AccountRef> account;   // after ①
  // Facts established so far, in the only order the machine allows.
  bool identity_verified = false;      // ② matched the records
  bool call_verified = false;          // ④ a matching call arrived in the window
  bool pin_verified = false;           // ⑤ matched
  bool consent_given = false;          // ⑥
  std::string name_kana;               // from ②, for the mail and the log
  std::string email;                   // from ②, for the result mail
  std::string phone;                   // from ②, the registered number matched
  std::optional<CallWindow> call;      // while on ④
  friend bool operator==(const FlowState&, const FlowState&) = default;
};

// Rules the flow is run under (from the server's configuration).
struct FlowConfig {
  int call_window_seconds = 120;
  int idle_timeout_seconds = 900;  // a flow idle this long is expired
  LockoutPolicy lockout{};
  ServiceCalendar calendar{};
};

// What the credit union's records say about an account, as far as the rules
// below need it (the server reads it from its records source).
struct AccountStanding {
  bool in_use = false;            // not closed, not moved to another branch
  bool cash_card_issued = false;  // the card whose PIN ⑤ checks
};

// SPEC §4 account_not_eligible: API連携認証 links only an account in use with a
// cash card issued (⑤ checks that card's PIN). The type (普通/貯蓄) is checked
// on ① by the account form; an unknown account has no standing at all.
constexpr bool eligible_for_linking(const AccountStanding& a) {
  return a.in_use && a.cash_card_issued;
}

// SPEC §8: the account API serves a granted account while it is in use; a
// closed or moved account is no longer served under its old number. (A card
// cancelled after consent does not end the grant: the customer's consent
// stands until it expires or is revoked.)
constexpr bool serves_account_data(const AccountStanding& a) { return a.in_use; }

// What the credit union's records said about ②'s data.
enum class IdentityCheck {
  match,                 // account eligible, birth date and phone match
  account_not_eligible,  // unknown, closed, moved, wrong type, no cash card
  mismatch,              // account right, other identity data wrong
};
// What the records said about ⑤'s PIN.
enum class PinCheck { match, mismatch };

// ----- events -----
struct SubmitAccount { AccountForm form; };                  // ① 次へ
struct SubmitCustomer {                                      // ② 次へ
  CustomerForm form;
  IdentityCheck check = IdentityCheck::mismatch;  // ignored when the form is invalid
  LockState lock;                                  // the account's stored lock state
};
struct ConfirmPhone { std::string dialled_number; };         // ③ 電話番号の決定
struct IncomingCall {                                        // telephony webhook
  std::optional<std::string> caller;  // nullopt = 非通知 (withheld)
  std::string dialled;
};
struct ConfirmCall {};                                       // ④ 確定する
struct SubmitPin {                                           // ⑤ 次へ
  PinForm form;
  PinCheck check = PinCheck::mismatch;
  LockState lock;
};
struct SubmitConsent { ConsentForm form; };                  // ⑥ 許可する
struct Cancel {};                                            // 中止する / 拒否する

using FlowEvent = std::variant<SubmitAccount, SubmitCustomer, ConfirmPhone,
                               IncomingCall, ConfirmCall, SubmitPin, SubmitConsent, Cancel>;
// "submit_account", "submit_customer", "confirm_phone", "incoming_call",
// "confirm_call", "submit_pin", "submit_consent", "cancel".
std::string_view event_wire_name(const FlowEvent& e);

// What happened. `error` is unset when the event was accepted as intended.
struct FlowOutcome {
  bool accepted = false;                 // the state advanced as the event asked
  std::optional<ErrorCode> error;        // why not, or a notice such as call_pending
  std::vector<FieldError> field_errors;  // for form events
  bool show_required_dialog = false;     // エラー / 入力されていない項目があります。
  std::optional<LockState> lock_update;  // the server must store this for the account
  friend bool operator==(const FlowOutcome&, const FlowOutcome&) = default;
};

struct FlowTransition {
  FlowState state;
  FlowOutcome outcome;
};

// The one transition function. Rules, in order:
//  1. terminal states accept nothing (invalid_step);
//  2. a flow idle longer than idle_timeout_seconds becomes expired (session_expired);
//  3. customer events inside a service window answer out_of_hours, state unchanged
//     (Cancel and IncomingCall are exempt);
//  4. an event the screen does not accept answers invalid_step, state unchanged;
//  5. then the screen's own rules (SPEC §2–§7):
//     ① SubmitAccount: form errors stay on ①; valid → ② with the account.
//     ② SubmitCustomer (today = JST date of now): form errors stay; then
//        account_not_eligible; then a lock in force → locked (B84); mismatch →
//        LockoutPolicy::on_failure (auth_mismatch / locked_now, lock_update);
//        match → ③ with identity_verified; the count is not reset (SPEC §5,
//        amended 2026-11-30): lock_update only when a lock has lifted by
//        itself (LockoutPolicy::effective differs from the stored state).
//     ③ ConfirmPhone: opens the CallWindow (now .. now + call_window_seconds) → ④.
//     ④ IncomingCall: withheld → call_withheld; outside [opened_at, expires_at]
//        → call_expired; other caller or dialled number → call_not_matched;
//        match → verified_at = now (idempotent). Does not touch last_activity.
//     ④ ConfirmCall: now > expires_at → call_expired and back to ① with every
//        fact cleared (the manual: 120秒経過後の「確定する」は無効); verified → ⑤;
//        otherwise call_pending, stay.
//     ⑤ SubmitPin: form errors; a lock in force → locked; mismatch → on_failure;
//        match → ⑥, lock_update = on_success (the only reset of the count).
//     ⑥ SubmitConsent: unchecked → consent_required on Field::consent; checked →
//        completed.
//     Cancel on any non-terminal screen → cancelled (accepted, no error).
//  Accepted customer events set last_activity = now.
FlowTransition step(const FlowState& state, const FlowEvent& event, UnixSeconds now,
                    const FlowConfig& config);

// Rule 2 of step(): a flow not yet over whose last customer action lies more
// than idle_timeout_seconds before `now` has expired (session_expired).
bool is_idle_expired(const FlowState& state, UnixSeconds now, const FlowConfig& config);

// A new flow started at `now` (screen ①).
FlowState start_flow(UnixSeconds now);

// Seconds left in the call window at `now` (0 when closed or not on ④).
int call_seconds_left(const FlowState& state, UnixSeconds now);

}  // namespace renkei
