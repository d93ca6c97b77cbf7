// The whole input is one field value: both conversions and every field rule
// run on it. Properties: nothing crashes; a conversion either fails with an
// encoding error and empty text or gives clean UTF-8; the ASCII conversion
// maps each code point to exactly one; every rule's value is clean UTF-8.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz_check.h"
#include "renkei/fields.h"
#include "renkei/forms.h"
#include "renkei/normalize.h"

namespace {

void check_field_result(const renkei::FieldResult& r) {
  // A field that passed holds text the bank's systems can take.
  if (r.ok()) FUZZ_CHECK(!renkei::check_encoding(r.value).has_value());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  const bool clean = !renkei::check_encoding(in).has_value();

  renkei::Normalized ascii = renkei::to_halfwidth_ascii(in);
  renkei::Normalized kana = renkei::to_halfwidth_kana(in);
  for (const renkei::Normalized* n : {&ascii, &kana}) {
    FUZZ_CHECK(n->error.has_value() != clean);
    if (n->error) {
      FUZZ_CHECK(n->text.empty());
    } else {
      FUZZ_CHECK(!renkei::check_encoding(n->text).has_value());
    }
  }
  if (clean) {
    FUZZ_CHECK(renkei::count_code_points(ascii.text) == renkei::count_code_points(in));
    FUZZ_CHECK(renkei::count_code_points(kana.text) >= renkei::count_code_points(in));
    (void)renkei::collapse_spaces(in);
    (void)renkei::trim_ascii_whitespace(in);
  }

  check_field_result(renkei::check_branch(in));
  check_field_result(renkei::check_account_type(in));
  check_field_result(renkei::check_account_number(in));
  check_field_result(renkei::check_name_kana(in));
  check_field_result(renkei::check_phone(in));
  check_field_result(renkei::check_email(in));
  check_field_result(renkei::check_email_confirm(in, in));
  check_field_result(renkei::check_pin(in));
  check_field_result(renkei::check_birth_date(in, in, in, renkei::CivilDate{2026, 11, 25}));
  (void)renkei::is_whatwg_valid_email(in);
  const std::string masked = renkei::mask_phone(in);
  FUZZ_CHECK(in.empty() ? masked.empty() : masked.rfind("*****", 0) == 0);
  const std::string grouped = renkei::group_tollfree(in);
  FUZZ_CHECK(grouped == in || grouped.size() == in.size() + 2);
  return 0;
}
