#include "renkei/forms.h"

#include <utility>

#include "renkei/normalize.h"

namespace renkei {
namespace {

void add(FormResult& form, Field f, FieldResult r) {
  form.values.emplace_back(f, std::move(r.value));
  for (const auto& e : r.errors) form.errors.push_back(e);
}

// A birth-date part's shown-back value when the date as a whole did not parse:
// half width, spaces trimmed ("" if undecodable).
std::string birth_part_value(std::string_view input) {
  Normalized n = to_halfwidth_ascii(input);
  if (n.error) return {};
  const auto first = n.text.find_first_not_of(' ');
  if (first == std::string::npos) return {};
  const auto last = n.text.find_last_not_of(' ');
  return n.text.substr(first, last - first + 1);
}

}  // namespace

bool FormResult::show_required_dialog() const {
  for (const auto& e : errors) {
    if (e.code == ErrorCode::required) return true;
  }
  return false;
}

std::optional<ErrorCode> FormResult::summary_code() const {
  if (errors.empty()) return std::nullopt;
  return show_required_dialog() ? ErrorCode::required : ErrorCode::invalid_input;
}

std::string FormResult::value(Field f) const {
  for (const auto& [field, v] : values) {
    if (field == f) return v;
  }
  return {};
}

FormResult validate_account_form(const AccountForm& form) {
  FormResult r;
  add(r, Field::branch, check_branch(form.branch));
  add(r, Field::account_type, check_account_type(form.account_type));
  add(r, Field::account_number, check_account_number(form.account_number));
  return r;
}

FormResult validate_customer_form(const CustomerForm& form, const CivilDate& today) {
  FormResult r;
  add(r, Field::name_kana, check_name_kana(form.name_kana));

  FieldResult date = check_birth_date(form.birth_year, form.birth_month, form.birth_day, today);
  if (date.value.size() == 10) {  // "YYYY-MM-DD": the parts, normalized
    r.values.emplace_back(Field::birth_year, date.value.substr(0, 4));
    r.values.emplace_back(Field::birth_month, date.value.substr(5, 2));
    r.values.emplace_back(Field::birth_day, date.value.substr(8, 2));
  } else {
    r.values.emplace_back(Field::birth_year, birth_part_value(form.birth_year));
    r.values.emplace_back(Field::birth_month, birth_part_value(form.birth_month));
    r.values.emplace_back(Field::birth_day, birth_part_value(form.birth_day));
  }
  add(r, Field::birth_date, std::move(date));

  add(r, Field::phone, check_phone(form.phone));
  add(r, Field::email, check_email(form.email));
  add(r, Field::email_confirm, check_email_confirm(form.email, form.email_confirm));
  return r;
}

FormResult validate_pin_form(const PinForm& form) {
  FormResult r;
  add(r, Field::pin, check_pin(form.pin));
  return r;
}

FormResult validate_consent_form(const ConsentForm& form) {
  FormResult r;
  add(r, Field::consent, check_consent(form.consent));
  return r;
}

AccountRef account_ref_from(const FormResult& valid_account_form) {
  AccountRef ref;
  ref.branch = valid_account_form.value(Field::branch);
  ref.type = account_type_from_wire(valid_account_form.value(Field::account_type))
                 .value_or(AccountType::ordinary);
  ref.number = valid_account_form.value(Field::account_number);
  return ref;
}

CustomerInfo customer_info_from(const FormResult& valid_customer_form) {
  CustomerInfo info;
  info.name_kana = valid_customer_form.value(Field::name_kana);
  info.birth_date = valid_customer_form.value(Field::birth_date);
  info.phone = valid_customer_form.value(Field::phone);
  info.email = valid_customer_form.value(Field::email);
  return info;
}

std::string mask_phone(std::string_view phone) {
  constexpr std::string_view kStars = "*****";
  if (phone.empty()) return {};
  if (count_code_points(phone) <= 4) return std::string(kStars);
  // Keep the bytes of the last 4 code points; everything before becomes "*****".
  std::size_t keep_from = phone.size();
  for (std::size_t seen = 0; seen < 4 && keep_from > 0;) {
    --keep_from;
    if ((static_cast<unsigned char>(phone[keep_from]) & 0xC0) != 0x80) ++seen;
  }
  return std::string(kStars) + std::string(phone.substr(keep_from));
}

std::string group_tollfree(std::string_view number) {
  const auto digits = [](std::string_view s) {
    for (char c : s) {
      if (c < '0' || c > '9') return false;
    }
    return true;
  };
  if (!digits(number)) return std::string(number);
  if (number.size() == 10 && number.substr(0, 4) == "0120") {
    return std::string(number.substr(0, 4)) + "-" + std::string(number.substr(4, 3)) + "-" +
           std::string(number.substr(7));
  }
  if (number.size() == 11 && number.substr(0, 4) == "0800") {
    return std::string(number.substr(0, 4)) + "-" + std::string(number.substr(4, 3)) + "-" +
           std::string(number.substr(7));
  }
  return std::string(number);
}

}  // namespace renkei
