// The error catalog: every error the customer, the app or an operator can see
// has one code here. The wire name of a code never changes once released; the
// enum's order may. Customer-visible texts are the manual's, verbatim, where the
// manual has one; the others are this project's wording (marked in error.cpp).
#pragma once

#include <optional>
#include <string_view>

namespace renkei {

enum class ErrorCode {
  // --- input errors (field level) ---
  required,             // a required field is empty: 必ず入力して下さい。
  invalid_utf8,         // bytes that are not valid UTF-8 (incl. overlong forms, surrogates)
  control_character,    // NUL, C0/C1 control characters, DEL
  invalid_character,    // a character outside the field's set after normalization
  too_long,             // more characters than the field allows
  invalid_format,       // right characters, wrong shape (e.g. 2 digits for 店舗)
  invalid_mark_position,// ﾞ/ﾟ after a kana that cannot take it, or at the start
  invalid_date,         // no such day (2月30日), month/day out of range
  date_out_of_range,    // year before 1900
  date_in_future,       // a birth date after today (JST)
  email_mismatch,       // メールアドレス and its confirmation differ
  consent_required,     // 許可する without the consent checkbox
  invalid_input,        // form-level summary when fields are wrong but none is empty
  // --- outcomes of the record checks and policies (manual §5 tables) ---
  account_not_eligible, // ご指定の口座は、本サービスではお取り扱いできません。
  auth_mismatch,        // 本人認証情報が誤っています。…
  locked_now,           // the failure that reaches the limit
  locked,               // any attempt while locked (reason code B84)
  out_of_hours,         // inside a service window
  busy,                 // the server sheds load
  system_error,         // an internal failure
  service_unavailable,  // the service or this app's connection is switched off
  call_pending,         // 確定する before the call arrived
  call_expired,         // 確定する or the call after the window
  cancelled,            // 中止する / 拒否する
  // --- flow and protocol errors (this project's wording) ---
  invalid_step,         // an event the current screen does not accept
  session_expired,      // the flow was idle too long or is unknown
  call_withheld,        // an incoming call with the caller ID withheld (not verified)
  call_not_matched,     // an incoming call from another number or to another number
  bad_request,          // malformed request (JSON, content type, size, types)
  not_found,            // no such resource
  unauthorized,         // missing or wrong credentials (admin API, account API)
  forbidden,            // CSRF check failed or not allowed
  range_not_served,     // transactions older than the served period
  method_not_allowed,   // a method the path does not answer (HTTP 405, with Allow)
};

// Number of codes; keep equal to the enum's size (checked by a test).
inline constexpr int kErrorCodeCount = 34;

// The stable name on the wire, e.g. "auth_mismatch".
std::string_view wire_name(ErrorCode code);
// The code for a wire name, or nullopt for an unknown name.
std::optional<ErrorCode> error_code_from_wire(std::string_view name);
// The customer-visible Japanese text.
std::string_view message_ja(ErrorCode code);
// The reason code shown with the message ("B84" for locked), empty if none.
std::string_view reason_code(ErrorCode code);
// True for the codes that concern one input field (required … consent_required).
bool is_field_error(ErrorCode code);
// HTTP status the server answers with for this code.
int http_status(ErrorCode code);

// The dialog shown when 次へ is pressed with required fields empty.
inline constexpr std::string_view kRequiredDialogTitle = "エラー";
inline constexpr std::string_view kRequiredDialogMessage = "入力されていない項目があります。";
inline constexpr std::string_view kDialogOk = "OK";

}  // namespace renkei
