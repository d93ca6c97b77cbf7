// Field rules of screens ①, ②, ⑤ and ⑥ (SPEC §3). Each check normalizes the
// input and returns the normalized value together with any errors; the value is
// what the screen shows back and what the server stores.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "renkei/error.h"
#include "renkei/time.h"

namespace renkei {

// Every input field of the six screens. Wire names in field_wire_name().
enum class Field {
  branch,          // ① 店舗
  account_type,    // ① 科目
  account_number,  // ① 口座番号
  name_kana,       // ② お名前
  birth_year,      // ② 生年月日 (西暦)
  birth_month,     // ② 生年月日 (月)
  birth_day,       // ② 生年月日 (日)
  birth_date,      // ② the date as a whole (no such day, in the future)
  phone,           // ② 電話番号
  email,           // ② メールアドレス
  email_confirm,   // ② メールアドレス（確認用）
  pin,             // ⑤ キャッシュカードの暗証番号
  consent,         // ⑥ 当信用組合のAPI利用規定を確認し、同意します。
};
inline constexpr int kFieldCount = 13;

std::string_view field_wire_name(Field f);
std::optional<Field> field_from_wire(std::string_view name);
// The field's label on the screen, e.g. "店舗".
std::string_view field_label_ja(Field f);

// 科目. Only these two types are handled by the service.
enum class AccountType { ordinary, savings };
// Every account type this service handles, in the order ① offers them.
inline constexpr AccountType kAccountTypes[] = {AccountType::ordinary, AccountType::savings};
std::string_view account_type_wire_name(AccountType t);  // "ordinary" / "savings"
std::string_view account_type_label_ja(AccountType t);   // "普通預金" / "貯蓄預金"
std::optional<AccountType> account_type_from_wire(std::string_view name);

struct FieldError {
  Field field;
  ErrorCode code;
  friend bool operator==(const FieldError&, const FieldError&) = default;
};

// One field's result: value is the normalized text (best effort even when
// errors is non-empty, empty if the input was not decodable).
struct FieldResult {
  std::string value;
  std::vector<FieldError> errors;
  bool ok() const { return errors.empty(); }
};

// Limits of the rules, named so tests and the UI can refer to them.
inline constexpr int kAccountNumberMaxDigits = 7;
inline constexpr int kNameMaxChars = 30;
inline constexpr int kEmailMaxChars = 64;
inline constexpr int kMinBirthYear = 1900;

// 店舗: exactly 3 half-width digits after normalization.
FieldResult check_branch(std::string_view input);
// 科目: "ordinary" or "savings" (the select's values).
FieldResult check_account_type(std::string_view input);
// 口座番号: 1–7 digits, left-padded with zeros to 7.
FieldResult check_account_number(std::string_view input);
// お名前: half-width katakana and spaces, marks placed right, at most 30.
FieldResult check_name_kana(std::string_view input);
// 電話番号: 10 or 11 digits starting with 0; hyphens and spaces removed first.
FieldResult check_phone(std::string_view input);
// メールアドレス: line breaks removed and ASCII whitespace trimmed at both ends
// first (WHATWG value sanitization of <input type=email>), then a WHATWG valid
// e-mail address, half-width, at most 64; control characters left inside are
// control_character.
FieldResult check_email(std::string_view input);
// メールアドレス（確認用）: cleaned like check_email and equal to it; the errors
// are reported on Field::email_confirm.
FieldResult check_email_confirm(std::string_view email, std::string_view confirm);
// 暗証番号: exactly 4 digits.
FieldResult check_pin(std::string_view input);
// 同意: must be checked.
FieldResult check_consent(bool checked);

// 生年月日: year typed (4 digits, >= 1900), month and day from selects
// ("01".."12", "01".."31"; "1" is accepted too). The value is "YYYY-MM-DD".
// `today` is the JST date of the request: a later date is date_in_future.
FieldResult check_birth_date(std::string_view year, std::string_view month,
                             std::string_view day, const CivilDate& today);

// True for the WHATWG "valid e-mail address" production (no length limit, no
// trimming): 1*( atext / "." ) "@" label *( "." label ).
bool is_whatwg_valid_email(std::string_view s);

}  // namespace renkei
