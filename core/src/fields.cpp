#include "renkei/fields.h"

#include <array>

#include "renkei/normalize.h"

namespace renkei {
namespace {

struct FieldNames {
  Field field;
  std::string_view wire;
  std::string_view label_ja;
};

constexpr std::array<FieldNames, kFieldCount> kFields{{
    {Field::branch, "branch", "店舗"},
    {Field::account_type, "account_type", "科目"},
    {Field::account_number, "account_number", "口座番号"},
    {Field::name_kana, "name_kana", "お名前"},
    {Field::birth_year, "birth_year", "生年月日（西暦）"},
    {Field::birth_month, "birth_month", "生年月日（月）"},
    {Field::birth_day, "birth_day", "生年月日（日）"},
    {Field::birth_date, "birth_date", "生年月日"},
    {Field::phone, "phone", "電話番号"},
    {Field::email, "email", "メールアドレス"},
    {Field::email_confirm, "email_confirm", "メールアドレス（確認用）"},
    {Field::pin, "pin", "キャッシュカードの暗証番号"},
    {Field::consent, "consent", "API利用規定への同意"},
}};

constexpr bool fields_in_enum_order() {
  for (std::size_t i = 0; i < kFields.size(); ++i) {
    if (static_cast<std::size_t>(kFields[i].field) != i) return false;
  }
  return true;
}
static_assert(fields_in_enum_order(), "kFields must list every Field in enum order");
static_assert(static_cast<int>(Field::consent) + 1 == kFieldCount,
              "kFieldCount must equal the number of Field values");

const FieldNames& names(Field f) {
  auto i = static_cast<std::size_t>(f);
  return kFields[i < kFields.size() ? i : 0];
}

constexpr bool is_digit(char c) {
  return c >= '0' && c <= '9';
}

bool all_digits(std::string_view s) {
  for (char c : s) {
    if (!is_digit(c)) return false;
  }
  return true;
}

std::string trim_spaces(std::string_view s) {
  const auto first = s.find_first_not_of(' ');
  if (first == std::string_view::npos) return {};
  const auto last = s.find_last_not_of(' ');
  return std::string(s.substr(first, last - first + 1));
}

FieldResult fail(Field f, ErrorCode code, std::string value = {}) {
  FieldResult r;
  r.value = std::move(value);
  r.errors.push_back({f, code});
  return r;
}

// The common front of every typed digit field: full width → half width, spaces
// (incl. U+3000) trimmed at both ends, then encoding, required and character
// checks. Returns the cleaned digits in `value` when no error was found.
FieldResult clean_digits(Field f, std::string_view input) {
  Normalized n = to_halfwidth_ascii(input);
  if (n.error) return fail(f, *n.error);
  std::string value = trim_spaces(n.text);
  if (value.empty()) return fail(f, ErrorCode::required);
  if (!all_digits(value)) return fail(f, ErrorCode::invalid_character, std::move(value));
  FieldResult r;
  r.value = std::move(value);
  return r;
}

// Hyphen look-alikes an IME or a copied number may contain (SPEC §3 電話番号).
constexpr std::array<char32_t, 11> kPhoneHyphens{{
    U'-',
    0x2010,
    0x2011,
    0x2012,
    0x2013,
    0x2014,
    0x2015,
    0x2212,
    0xFF0D,
    0x30FC,
    0xFE63,
}};

// Removes ASCII spaces and hyphen look-alikes from valid UTF-8.
std::string strip_phone_separators(std::string_view s, bool& removed_hyphen) {
  std::string out;
  out.reserve(s.size());
  std::size_t i = 0;
  while (i < s.size()) {
    const auto b = static_cast<unsigned char>(s[i]);
    const std::size_t len = b < 0x80 ? 1 : b < 0xE0 ? 2 : b < 0xF0 ? 3 : 4;
    const std::string_view unit = s.substr(i, len);
    i += len;
    if (unit == " ") continue;
    // Decode the (already validated) unit to compare with the look-alikes.
    char32_t cp = 0;
    if (len == 1) {
      cp = b;
    } else {
      cp = b & (0x7F >> len);
      for (std::size_t k = 1; k < unit.size(); ++k) {
        cp = (cp << 6) | (static_cast<unsigned char>(unit[k]) & 0x3F);
      }
    }
    bool hyphen = cp == 0xFF70;  // ｰ (half-width prolonged sound mark)
    for (char32_t h : kPhoneHyphens) hyphen = hyphen || cp == h;
    if (hyphen) {
      removed_hyphen = true;
      continue;
    }
    out.append(unit);
  }
  return out;
}

// WHATWG "atext" of the valid e-mail address production.
bool is_email_local_char(char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || is_digit(c)) return true;
  constexpr std::string_view kSymbols = ".!#$%&'*+/=?^_`{|}~-";
  return kSymbols.find(c) != std::string_view::npos;
}

bool is_let_dig(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || is_digit(c);
}

// label = let-dig [ [ ldh-str ] let-dig ], at most 63 characters.
bool is_email_label(std::string_view label) {
  if (label.empty() || label.size() > 63) return false;
  if (!is_let_dig(label.front()) || !is_let_dig(label.back())) return false;
  for (char c : label) {
    if (!is_let_dig(c) && c != '-') return false;
  }
  return true;
}

// The e-mail cleaning shared by the address and its confirmation (SPEC §3,
// amended 2026-11-30). First what WHATWG's value sanitization of
// <input type=email> does: line breaks (LF, CR) removed wherever they are,
// then ASCII whitespace (TAB, LF, FF, CR, space) trimmed at both ends. Only
// then the encoding and control-character checks (a TAB inside the address is
// still an error), full width → half width, and the spaces that U+3000 became
// trimmed too. LF and CR bytes never occur inside a UTF-8 sequence, so they
// can be removed before the encoding is checked.
Normalized clean_email(std::string_view input) {
  std::string kept;
  kept.reserve(input.size());
  for (char c : input) {
    if (c != '\n' && c != '\r') kept.push_back(c);
  }
  Normalized n = to_halfwidth_ascii(trim_ascii_whitespace(kept));
  if (!n.error) n.text = trim_ascii_whitespace(n.text);
  return n;
}

// A select's value "1".."12" / "01".."12" (full width accepted): the number, or
// nullopt when it is not 1–2 digits in [1, max].
std::optional<int> parse_select_number(std::string_view s, int max) {
  if (s.empty() || s.size() > 2 || !all_digits(s)) return std::nullopt;
  int v = 0;
  for (char c : s) v = v * 10 + (c - '0');
  if (v < 1 || v > max) return std::nullopt;
  return v;
}

std::string two_digits(int v) {
  return std::string{static_cast<char>('0' + v / 10), static_cast<char>('0' + v % 10)};
}

}  // namespace

std::string_view field_wire_name(Field f) {
  return names(f).wire;
}

std::optional<Field> field_from_wire(std::string_view name) {
  for (const auto& e : kFields) {
    if (e.wire == name) return e.field;
  }
  return std::nullopt;
}

std::string_view field_label_ja(Field f) {
  return names(f).label_ja;
}

std::string_view account_type_wire_name(AccountType t) {
  return t == AccountType::savings ? "savings" : "ordinary";
}

std::string_view account_type_label_ja(AccountType t) {
  return t == AccountType::savings ? "貯蓄預金" : "普通預金";
}

std::optional<AccountType> account_type_from_wire(std::string_view name) {
  if (name == "ordinary") return AccountType::ordinary;
  if (name == "savings") return AccountType::savings;
  return std::nullopt;
}

FieldResult check_branch(std::string_view input) {
  FieldResult r = clean_digits(Field::branch, input);
  if (r.ok() && r.value.size() != 3) r.errors.push_back({Field::branch, ErrorCode::invalid_format});
  return r;
}

FieldResult check_account_type(std::string_view input) {
  if (auto e = check_encoding(input)) return fail(Field::account_type, *e);
  if (input.empty()) return fail(Field::account_type, ErrorCode::required);
  FieldResult r;
  r.value = std::string(input);
  if (!account_type_from_wire(input)) {
    r.errors.push_back({Field::account_type, ErrorCode::invalid_format});
  }
  return r;
}

FieldResult check_account_number(std::string_view input) {
  FieldResult r = clean_digits(Field::account_number, input);
  if (!r.ok()) return r;
  if (r.value.size() > static_cast<std::size_t>(kAccountNumberMaxDigits)) {
    r.errors.push_back({Field::account_number, ErrorCode::too_long});
    return r;
  }
  r.value.insert(0, kAccountNumberMaxDigits - r.value.size(), '0');
  return r;
}

FieldResult check_name_kana(std::string_view input) {
  constexpr Field f = Field::name_kana;
  Normalized n = to_halfwidth_kana(input);
  if (n.error) return fail(f, *n.error);
  FieldResult r;
  r.value = collapse_spaces(n.text);
  if (r.value.empty()) return fail(f, ErrorCode::required);

  // Walk the code points: the set check first (it wins), then length, then the
  // marks, so that the field reports its most fundamental problem only.
  std::vector<char32_t> cps;
  cps.reserve(r.value.size() / 3 + 1);
  bool bad_char = false;
  for (std::size_t i = 0; i < r.value.size();) {
    const auto b = static_cast<unsigned char>(r.value[i]);
    if (b == ' ') {
      cps.push_back(U' ');
      ++i;
      continue;
    }
    // Half-width katakana are the 3-byte sequences EF BD A6..EF BE 9F.
    const std::size_t len = b < 0x80 ? 1 : b < 0xE0 ? 2 : b < 0xF0 ? 3 : 4;
    char32_t cp = 0;
    if (len == 3) {
      cp = ((b & 0x0F) << 12) | ((static_cast<unsigned char>(r.value[i + 1]) & 0x3F) << 6) |
           (static_cast<unsigned char>(r.value[i + 2]) & 0x3F);
    }
    if (cp < 0xFF66 || cp > 0xFF9F) bad_char = true;
    cps.push_back(cp);
    i += len;
  }
  if (bad_char) {
    r.errors.push_back({f, ErrorCode::invalid_character});
    return r;
  }
  if (cps.size() > static_cast<std::size_t>(kNameMaxChars)) {
    r.errors.push_back({f, ErrorCode::too_long});
    return r;
  }
  const auto takes_voiced = [](char32_t c) {
    return c == 0xFF73 || (c >= 0xFF76 && c <= 0xFF84) || (c >= 0xFF8A && c <= 0xFF8E) ||
           c == 0xFF9C || c == 0xFF66;
  };
  const auto takes_semi_voiced = [](char32_t c) { return c >= 0xFF8A && c <= 0xFF8E; };
  for (std::size_t i = 0; i < cps.size(); ++i) {
    const char32_t prev = i == 0 ? 0 : cps[i - 1];
    const bool misplaced =
        (cps[i] == 0xFF9E && !takes_voiced(prev)) || (cps[i] == 0xFF9F && !takes_semi_voiced(prev));
    if (misplaced) {
      r.errors.push_back({f, ErrorCode::invalid_mark_position});
      break;
    }
  }
  return r;
}

FieldResult check_phone(std::string_view input) {
  constexpr Field f = Field::phone;
  Normalized n = to_halfwidth_ascii(input);
  if (n.error) return fail(f, *n.error);
  bool removed_hyphen = false;
  FieldResult r;
  r.value = strip_phone_separators(n.text, removed_hyphen);
  if (r.value.empty()) {
    // Only spaces is empty; only hyphens is a (badly) filled field.
    r.errors.push_back({f, removed_hyphen ? ErrorCode::invalid_format : ErrorCode::required});
    return r;
  }
  if (!all_digits(r.value)) {
    r.errors.push_back({f, ErrorCode::invalid_character});
  } else if ((r.value.size() != 10 && r.value.size() != 11) || r.value.front() != '0') {
    r.errors.push_back({f, ErrorCode::invalid_format});
  }
  return r;
}

bool is_whatwg_valid_email(std::string_view s) {
  const auto at = s.find('@');
  if (at == std::string_view::npos || at == 0) return false;
  for (char c : s.substr(0, at)) {
    if (!is_email_local_char(c)) return false;
  }
  std::string_view domain = s.substr(at + 1);
  while (true) {
    const auto dot = domain.find('.');
    if (!is_email_label(domain.substr(0, dot))) return false;
    if (dot == std::string_view::npos) return true;
    domain.remove_prefix(dot + 1);
  }
}

FieldResult check_email(std::string_view input) {
  constexpr Field f = Field::email;
  Normalized n = clean_email(input);
  if (n.error) return fail(f, *n.error);
  FieldResult r;
  r.value = std::move(n.text);
  if (r.value.empty()) {
    r.errors.push_back({f, ErrorCode::required});
    return r;
  }
  for (char c : r.value) {
    if (static_cast<unsigned char>(c) >= 0x80) {
      r.errors.push_back({f, ErrorCode::invalid_character});
      return r;
    }
  }
  if (r.value.size() > static_cast<std::size_t>(kEmailMaxChars)) {
    r.errors.push_back({f, ErrorCode::too_long});
  } else if (!is_whatwg_valid_email(r.value)) {
    r.errors.push_back({f, ErrorCode::invalid_format});
  }
  return r;
}

FieldResult check_email_confirm(std::string_view email, std::string_view confirm) {
  constexpr Field f = Field::email_confirm;
  Normalized c = clean_email(confirm);
  if (c.error) return fail(f, *c.error);
  FieldResult r;
  r.value = std::move(c.text);
  if (r.value.empty()) {
    r.errors.push_back({f, ErrorCode::required});
    return r;
  }
  // The address's own problems are reported on Field::email; here only
  // whether the two agree, and only when the address is there to compare.
  Normalized e = clean_email(email);
  if (!e.error && !e.text.empty() && e.text != r.value) {
    r.errors.push_back({f, ErrorCode::email_mismatch});
  }
  return r;
}

FieldResult check_pin(std::string_view input) {
  FieldResult r = clean_digits(Field::pin, input);
  if (r.ok() && r.value.size() != 4) r.errors.push_back({Field::pin, ErrorCode::invalid_format});
  return r;
}

FieldResult check_consent(bool checked) {
  FieldResult r;
  r.value = checked ? "true" : "false";
  if (!checked) r.errors.push_back({Field::consent, ErrorCode::consent_required});
  return r;
}

FieldResult check_birth_date(std::string_view year, std::string_view month, std::string_view day,
                             const CivilDate& today) {
  FieldResult r;

  // 西暦: typed, so it gets the typed-digit-field treatment.
  std::optional<int> y;
  FieldResult yr = clean_digits(Field::birth_year, year);
  if (!yr.ok()) {
    r.errors.push_back(yr.errors.front());
  } else if (yr.value.size() != 4) {
    r.errors.push_back({Field::birth_year, ErrorCode::invalid_format});
  } else {
    y = 0;
    for (char c : yr.value) y = *y * 10 + (c - '0');
    // Checked here, not with the whole date, so that the year is reported even
    // when the month or day is also wrong.
    if (*y < kMinBirthYear) r.errors.push_back({Field::birth_year, ErrorCode::date_out_of_range});
  }

  // 月 and 日 come from selects: anything but a number in range is a bad request
  // in disguise, reported as invalid_format on the part.
  const auto select = [&r](Field f, std::string_view input, int max) -> std::optional<int> {
    Normalized n = to_halfwidth_ascii(input);
    if (n.error) {
      r.errors.push_back({f, *n.error});
      return std::nullopt;
    }
    const std::string v = trim_spaces(n.text);
    if (v.empty()) {
      r.errors.push_back({f, ErrorCode::required});
      return std::nullopt;
    }
    auto number = parse_select_number(v, max);
    if (!number) r.errors.push_back({f, ErrorCode::invalid_format});
    return number;
  };
  const std::optional<int> m = select(Field::birth_month, month, 12);
  const std::optional<int> d = select(Field::birth_day, day, 31);

  if (!y || !m || !d) return r;
  r.value = yr.value + "-" + two_digits(*m) + "-" + two_digits(*d);
  const CivilDate date{*y, *m, *d};
  if (*y < kMinBirthYear) {
    // already reported on the year
  } else if (!is_valid_civil_date(date)) {
    r.errors.push_back({Field::birth_date, ErrorCode::invalid_date});
  } else if (date > today) {
    r.errors.push_back({Field::birth_date, ErrorCode::date_in_future});
  }
  return r;
}

}  // namespace renkei
