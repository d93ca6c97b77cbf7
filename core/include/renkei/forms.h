// Whole-screen validation: what 次へ does on screens ①, ②, ⑤ and ⑥ before
// anything is sent to the credit union's records.
#pragma once

#include <string>
#include <vector>

#include "renkei/fields.h"

namespace renkei {

// ① ご利用口座情報入力
struct AccountForm {
  std::string branch;
  std::string account_type;    // "ordinary" / "savings"
  std::string account_number;
};
// ② お客様情報入力
struct CustomerForm {
  std::string name_kana;
  std::string birth_year;
  std::string birth_month;
  std::string birth_day;
  std::string phone;
  std::string email;
  std::string email_confirm;
};
// ⑤ キャッシュカード暗証番号認証
struct PinForm {
  std::string pin;
};
// ⑥ 情報連携認可
struct ConsentForm {
  bool consent = false;
};

// Normalized values of the account form (valid only when ok()).
struct AccountRef {
  std::string branch;          // "115"
  AccountType type = AccountType::ordinary;
  std::string number;          // "1100026"
  friend bool operator==(const AccountRef&, const AccountRef&) = default;
};

// Normalized values of the customer form.
struct CustomerInfo {
  std::string name_kana;   // half-width katakana
  std::string birth_date;  // "YYYY-MM-DD"
  std::string phone;       // digits only
  std::string email;
};

// Result of validating a screen's form. `values` holds the normalized value of
// every field in the form (by field, in the form's order), errors every problem
// found (all fields are checked, not just the first).
struct FormResult {
  std::vector<std::pair<Field, std::string>> values;
  std::vector<FieldError> errors;
  bool ok() const { return errors.empty(); }
  // True when any required field is empty: 次へ shows the dialog
  // エラー / 入力されていない項目があります。
  bool show_required_dialog() const;
  // The form-level code: required if any field is empty, else invalid_input,
  // or nullopt when ok.
  std::optional<ErrorCode> summary_code() const;
  // The normalized value of a field ("" when absent).
  std::string value(Field f) const;
};

FormResult validate_account_form(const AccountForm& form);
FormResult validate_customer_form(const CustomerForm& form, const CivilDate& today);
FormResult validate_pin_form(const PinForm& form);
FormResult validate_consent_form(const ConsentForm& form);

// Extractors for a valid form's values.
AccountRef account_ref_from(const FormResult& valid_account_form);
CustomerInfo customer_info_from(const FormResult& valid_customer_form);

// "*****3333": exactly five '*' and the last 4 characters, whatever the
// value's length, so that the mask reveals neither the number nor its length
// (SPEC ③, amended 2026-11-30). A value of 4 characters or fewer becomes
// "*****" (nothing of it is shown); an empty value stays empty.
std::string mask_phone(std::string_view phone);

// A toll-free number as Japanese customers read it (画面④ 認証先電話番号):
// 0120 and six digits → "0120-XXX-XXX", 0800 and seven digits →
// "0800-XXX-XXXX". Anything else is returned unchanged. The tel: link keeps
// the plain digits; this is for the text only.
std::string group_tollfree(std::string_view number);

}  // namespace renkei
