// Whole-screen validation with every field taken from the input
// (FuzzedDataProvider strings: a backslash followed by another character ends
// a field, "\\" is one backslash; scripts/make_fuzz_corpus.py writes them).
// Properties: ok() exactly when there is no summary code; a valid form's
// values extract; every error names a field of its form.
#include <fuzzer/FuzzedDataProvider.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>

#include "fuzz_check.h"
#include "renkei/forms.h"
#include "renkei/normalize.h"

namespace {

void check_form(const renkei::FormResult& r) {
  FUZZ_CHECK(r.ok() == !r.summary_code().has_value());
  if (r.show_required_dialog()) FUZZ_CHECK(!r.ok());
  for (const renkei::FieldError& e : r.errors) {
    bool known = std::any_of(r.values.begin(), r.values.end(),
                             [&](const auto& v) { return v.first == e.field; });
    FUZZ_CHECK(known || e.field == renkei::Field::birth_date);
  }
  if (r.ok()) {
    for (const auto& v : r.values) FUZZ_CHECK(!renkei::check_encoding(v.second).has_value());
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  FuzzedDataProvider in(data, size);
  constexpr std::size_t kMax = 256;

  renkei::AccountForm account;
  account.branch = in.ConsumeRandomLengthString(kMax);
  account.account_type = in.ConsumeRandomLengthString(kMax);
  account.account_number = in.ConsumeRandomLengthString(kMax);
  renkei::FormResult a = renkei::validate_account_form(account);
  check_form(a);
  if (a.ok()) {
    renkei::AccountRef ref = renkei::account_ref_from(a);
    FUZZ_CHECK(ref.branch.size() == 3 && ref.number.size() == 7);
  }

  renkei::CustomerForm customer;
  customer.name_kana = in.ConsumeRandomLengthString(kMax);
  customer.birth_year = in.ConsumeRandomLengthString(kMax);
  customer.birth_month = in.ConsumeRandomLengthString(kMax);
  customer.birth_day = in.ConsumeRandomLengthString(kMax);
  customer.phone = in.ConsumeRandomLengthString(kMax);
  customer.email = in.ConsumeRandomLengthString(kMax);
  customer.email_confirm = in.ConsumeBool() ? customer.email : in.ConsumeRandomLengthString(kMax);
  renkei::PinForm pin{in.ConsumeRandomLengthString(kMax)};
  renkei::ConsentForm consent{in.ConsumeBool()};
  renkei::CivilDate today{in.ConsumeIntegralInRange(1900, 2200), in.ConsumeIntegralInRange(1, 12),
                          in.ConsumeIntegralInRange(1, 28)};

  renkei::FormResult c = renkei::validate_customer_form(customer, today);
  check_form(c);
  if (c.ok()) {
    renkei::CustomerInfo info = renkei::customer_info_from(c);
    FUZZ_CHECK(info.birth_date.size() == 10);
    (void)renkei::mask_phone(info.phone);
  }
  check_form(renkei::validate_pin_form(pin));
  renkei::FormResult k = renkei::validate_consent_form(consent);
  check_form(k);
  FUZZ_CHECK(k.ok() == consent.consent);
  return 0;
}
