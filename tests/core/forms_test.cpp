// Tests of forms.h: what 次へ does on screens ①②⑤⑥ — every field checked,
// every error reported, normalized values in form order.
#include "renkei/forms.h"

#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

namespace renkei {
namespace {

std::vector<std::string> describe(const std::vector<FieldError>& errors) {
  std::vector<std::string> out;
  for (const auto& e : errors) {
    out.push_back(std::string(field_wire_name(e.field)) + ":" + std::string(wire_name(e.code)));
  }
  return out;
}

std::vector<Field> fields_of(const FormResult& r) {
  std::vector<Field> out;
  for (const auto& [f, v] : r.values) out.push_back(f);
  return out;
}

const CivilDate kToday{2026, 11, 25};

CustomerForm good_customer() {
  CustomerForm f;
  f.name_kana = "データ サトル";
  f.birth_year = "1985";
  f.birth_month = "4";
  f.birth_day = "01";
  f.phone = "090-1234-5678";
  f.email = "satoru@example.jp";
  f.email_confirm = "satoru@example.jp";
  return f;
}

// ------------------------------------------------------------ ① account ----

struct AccountCase {
  AccountForm form;
  std::vector<std::string> errors;
  bool dialog;
};

TEST(ValidateAccountForm, Table) {
  const std::vector<AccountCase> cases = {
      {{"001", "ordinary", "0000123"}, {}, false},
      {{"006", "savings", "1234567"}, {}, false},
      {{"", "ordinary", ""}, {"branch:required", "account_number:required"}, true},
      {{"", "", ""}, {"branch:required", "account_type:required", "account_number:required"}, true},
      {{"01", "ordinary", "12345678"}, {"branch:invalid_format", "account_number:too_long"}, false},
      {{"abc", "current", "12-34"},
       {"branch:invalid_character", "account_type:invalid_format",
        "account_number:invalid_character"},
       false},
      // required and other errors together: the dialog is shown, all are listed
      {{"01", "ordinary", ""}, {"branch:invalid_format", "account_number:required"}, true},
      {{"\xC0\xAF", "ordinary", "123"}, {"branch:invalid_utf8"}, false},
  };
  for (const auto& c : cases) {
    const FormResult r = validate_account_form(c.form);
    const std::string where =
        c.form.branch + "/" + c.form.account_type + "/" + c.form.account_number;
    EXPECT_EQ(describe(r.errors), c.errors) << where;
    EXPECT_EQ(r.ok(), c.errors.empty()) << where;
    EXPECT_EQ(r.show_required_dialog(), c.dialog) << where;
    if (c.errors.empty()) {
      EXPECT_EQ(r.summary_code(), std::nullopt) << where;
    } else {
      EXPECT_EQ(r.summary_code(), c.dialog ? ErrorCode::required : ErrorCode::invalid_input)
          << where;
    }
    // Every field has a value, in the form's order, even when wrong.
    EXPECT_EQ(fields_of(r),
              (std::vector<Field>{Field::branch, Field::account_type, Field::account_number}))
        << where;
  }
}

TEST(ValidateAccountForm, NormalizedValuesAndRef) {
  const FormResult r = validate_account_form({"１１５", "ordinary", "１１０００２６"});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.value(Field::branch), "115");
  EXPECT_EQ(r.value(Field::account_type), "ordinary");
  EXPECT_EQ(r.value(Field::account_number), "1100026");
  EXPECT_EQ(r.value(Field::phone), "");  // not in this form
  EXPECT_EQ(account_ref_from(r), (AccountRef{"115", AccountType::ordinary, "1100026"}));

  const FormResult s = validate_account_form({"006", "savings", "123"});
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(account_ref_from(s), (AccountRef{"006", AccountType::savings, "0000123"}));
}

TEST(ValidateAccountForm, WrongValuesAreShownBackNormalized) {
  const FormResult r = validate_account_form({"　０１　", "ordinary", "１２３４５６７８"});
  EXPECT_EQ(r.value(Field::branch), "01");
  EXPECT_EQ(r.value(Field::account_number), "12345678");
}

// ----------------------------------------------------------- ② customer ----

TEST(ValidateCustomerForm, ValidFormValuesInOrder) {
  const FormResult r = validate_customer_form(good_customer(), kToday);
  EXPECT_TRUE(r.ok()) << testing::PrintToString(describe(r.errors));
  EXPECT_EQ(r.summary_code(), std::nullopt);
  EXPECT_FALSE(r.show_required_dialog());
  const std::vector<std::pair<Field, std::string>> expected = {
      {Field::name_kana, "ﾃﾞｰﾀ ｻﾄﾙ"},      {Field::birth_year, "1985"},
      {Field::birth_month, "04"},          {Field::birth_day, "01"},
      {Field::birth_date, "1985-04-01"},   {Field::phone, "09012345678"},
      {Field::email, "satoru@example.jp"}, {Field::email_confirm, "satoru@example.jp"},
  };
  EXPECT_EQ(r.values, expected);
  const CustomerInfo info = customer_info_from(r);
  EXPECT_EQ(info.name_kana, "ﾃﾞｰﾀ ｻﾄﾙ");
  EXPECT_EQ(info.birth_date, "1985-04-01");
  EXPECT_EQ(info.phone, "09012345678");
  EXPECT_EQ(info.email, "satoru@example.jp");
}

TEST(ValidateCustomerForm, FullWidthAndHiraganaInput) {
  CustomerForm f;
  f.name_kana = "でーた　さとる";
  f.birth_year = "１９８５";
  f.birth_month = "０４";
  f.birth_day = "１";
  f.phone = "０９０－１２３４－５６７８";
  f.email = "ｓａｔｏｒｕ＠ｅｘａｍｐｌｅ．ｊｐ";
  f.email_confirm = " satoru@example.jp ";
  const FormResult r = validate_customer_form(f, kToday);
  EXPECT_TRUE(r.ok()) << testing::PrintToString(describe(r.errors));
  EXPECT_EQ(r.value(Field::name_kana), "ﾃﾞｰﾀ ｻﾄﾙ");
  EXPECT_EQ(r.value(Field::birth_date), "1985-04-01");
  EXPECT_EQ(r.value(Field::phone), "09012345678");
  EXPECT_EQ(r.value(Field::email), "satoru@example.jp");
}

TEST(ValidateCustomerForm, AllEmptyReportsEveryField) {
  const FormResult r = validate_customer_form(CustomerForm{}, kToday);
  EXPECT_EQ(describe(r.errors), (std::vector<std::string>{
                                    "name_kana:required", "birth_year:required",
                                    "birth_month:required", "birth_day:required", "phone:required",
                                    "email:required", "email_confirm:required"}));
  EXPECT_TRUE(r.show_required_dialog());
  EXPECT_EQ(r.summary_code(), ErrorCode::required);
  EXPECT_EQ(
      fields_of(r),
      (std::vector<Field>{Field::name_kana, Field::birth_year, Field::birth_month, Field::birth_day,
                          Field::birth_date, Field::phone, Field::email, Field::email_confirm}));
}

TEST(ValidateCustomerForm, EveryWrongFieldIsReported) {
  CustomerForm f;
  f.name_kana = "ｱﾞｲ";
  f.birth_year = "2023";
  f.birth_month = "02";
  f.birth_day = "29";
  f.phone = "090-1234-56";
  f.email = "a@-b";
  f.email_confirm = "a@b";
  const FormResult r = validate_customer_form(f, kToday);
  EXPECT_EQ(describe(r.errors),
            (std::vector<std::string>{"name_kana:invalid_mark_position", "birth_date:invalid_date",
                                      "phone:invalid_format", "email:invalid_format",
                                      "email_confirm:email_mismatch"}));
  EXPECT_FALSE(r.show_required_dialog());
  EXPECT_EQ(r.summary_code(), ErrorCode::invalid_input);
  // The wrong values are still shown back, normalized.
  EXPECT_EQ(r.value(Field::name_kana), "ｱﾞｲ");
  EXPECT_EQ(r.value(Field::birth_date), "2023-02-29");
  EXPECT_EQ(r.value(Field::birth_month), "02");
  EXPECT_EQ(r.value(Field::phone), "090123456");
}

TEST(ValidateCustomerForm, SingleProblems) {
  struct Row {
    void (*change)(CustomerForm&);
    std::vector<std::string> errors;
  };
  const std::vector<Row> rows = {
      {[](CustomerForm& f) { f.name_kana = ""; }, {"name_kana:required"}},
      {[](CustomerForm& f) { f.name_kana = "山田"; }, {"name_kana:invalid_character"}},
      {[](CustomerForm& f) { f.name_kana = "ｱｲｳｴｵｶｷｸｹｺｱｲｳｴｵｶｷｸｹｺｱｲｳｴｵｶｷｸｹｺｱ"; },
       {"name_kana:too_long"}},
      {[](CustomerForm& f) { f.birth_year = "1899"; }, {"birth_year:date_out_of_range"}},
      {[](CustomerForm& f) { f.birth_year = "2026", f.birth_month = "12"; },
       {"birth_date:date_in_future"}},
      {[](CustomerForm& f) { f.birth_day = ""; }, {"birth_day:required"}},
      {[](CustomerForm& f) { f.birth_month = "13"; }, {"birth_month:invalid_format"}},
      {[](CustomerForm& f) { f.phone = "060-1234-5678"; }, {}},
      {[](CustomerForm& f) { f.phone = "090123456789"; }, {"phone:invalid_format"}},
      {[](CustomerForm& f) { f.email_confirm = ""; }, {"email_confirm:required"}},
      {[](CustomerForm& f) { f.email_confirm = "Satoru@example.jp"; },
       {"email_confirm:email_mismatch"}},
      {[](CustomerForm& f) { f.email = "", f.email_confirm = ""; },
       {"email:required", "email_confirm:required"}},
      // an empty address is reported once, not also as a mismatch
      {[](CustomerForm& f) { f.email = ""; }, {"email:required"}},
      {[](CustomerForm& f) { f.phone = "090\xE3\x81"; }, {"phone:invalid_utf8"}},
      // an undecodable address is not compared with its confirmation
      {[](CustomerForm& f) { f.email = "satoru@exam\tple.jp"; }, {"email:control_character"}},
      // a trailing line break is cleaned away as <input type=email> does (SPEC §3)
      {[](CustomerForm& f) { f.email = "satoru@example.jp\n"; }, {}},
  };
  for (std::size_t i = 0; i < rows.size(); ++i) {
    CustomerForm f = good_customer();
    rows[i].change(f);
    const FormResult r = validate_customer_form(f, kToday);
    EXPECT_EQ(describe(r.errors), rows[i].errors) << "row " << i;
  }
}

// ---------------------------------------------------------------- ⑤ PIN ----

TEST(ValidatePinForm, Table) {
  struct Row {
    std::string pin;
    std::string value;
    std::vector<std::string> errors;
    std::optional<ErrorCode> summary;
  };
  const std::vector<Row> rows = {
      {"1234", "1234", {}, std::nullopt},
      {"１２３４", "1234", {}, std::nullopt},
      {"", "", {"pin:required"}, ErrorCode::required},
      {"123", "123", {"pin:invalid_format"}, ErrorCode::invalid_input},
      {"12345", "12345", {"pin:invalid_format"}, ErrorCode::invalid_input},
      {"12a4", "12a4", {"pin:invalid_character"}, ErrorCode::invalid_input},
  };
  for (const auto& row : rows) {
    const FormResult r = validate_pin_form({row.pin});
    EXPECT_EQ(describe(r.errors), row.errors) << row.pin;
    EXPECT_EQ(r.summary_code(), row.summary) << row.pin;
    EXPECT_EQ(r.value(Field::pin), row.value) << row.pin;
    EXPECT_EQ(fields_of(r), std::vector<Field>{Field::pin});
  }
}

// ------------------------------------------------------------ ⑥ consent ----

TEST(ValidateConsentForm, Table) {
  const FormResult yes = validate_consent_form({true});
  EXPECT_TRUE(yes.ok());
  EXPECT_EQ(yes.value(Field::consent), "true");
  const FormResult no = validate_consent_form({false});
  EXPECT_EQ(describe(no.errors), std::vector<std::string>{"consent:consent_required"});
  EXPECT_FALSE(no.show_required_dialog());
  EXPECT_EQ(no.summary_code(), ErrorCode::invalid_input);
  EXPECT_EQ(validate_consent_form(ConsentForm{}).ok(), false);  // unchecked by default
}

// --------------------------------------------------------- FormResult API --

TEST(FormResult, SummaryAndDialog) {
  FormResult empty;
  EXPECT_TRUE(empty.ok());
  EXPECT_FALSE(empty.show_required_dialog());
  EXPECT_EQ(empty.summary_code(), std::nullopt);
  EXPECT_EQ(empty.value(Field::branch), "");

  FormResult wrong;
  wrong.errors.push_back({Field::branch, ErrorCode::invalid_format});
  EXPECT_FALSE(wrong.show_required_dialog());
  EXPECT_EQ(wrong.summary_code(), ErrorCode::invalid_input);

  wrong.errors.push_back({Field::account_number, ErrorCode::required});
  EXPECT_TRUE(wrong.show_required_dialog());
  EXPECT_EQ(wrong.summary_code(), ErrorCode::required);
}

// ------------------------------------------------------------ mask_phone ---

TEST(MaskPhone, FiveStarsAndTheLastFourWhateverTheLength) {
  // SPEC ③ (amended 2026-11-30): exactly five '*' and the last 4 digits.
  const std::vector<std::pair<std::string, std::string>> rows = {
      {"000003333", "*****3333"},  // the manual's example
      {"09011113333", "*****3333"},  // 11 digits: still five stars
      {"0312345678", "*****5678"},   // 10 digits
      {"060123456789", "*****6789"},  // longer than any number today
      {"12345", "*****2345"},
      {"1234", "*****"},  // 4 or fewer: nothing shown, not even the length
      {"123", "*****"},
      {"1", "*****"},
      {"", ""},
  };
  for (const auto& [in, out] : rows) EXPECT_EQ(mask_phone(in), out) << in;
  // Never shows more than the last 4 digits, and the length says nothing.
  const std::string masked = mask_phone("09012345678");
  EXPECT_EQ(masked.find("0901234"), std::string::npos);
  EXPECT_EQ(masked.size(), mask_phone("0312345678").size());
}

// -------------------------------------------------------- group_tollfree ---

TEST(GroupTollfree, Table) {
  const std::vector<std::pair<std::string, std::string>> rows = {
      {"0120000001", "0120-000-001"},
      {"0120123456", "0120-123-456"},
      {"08001234567", "0800-123-4567"},
      // not a toll-free number of the two kinds: unchanged
      {"012000001", "012000001"},      // too short for 0120
      {"01200000011", "01200000011"},  // too long for 0120
      {"0800123456", "0800123456"},    // too short for 0800
      {"0312345678", "0312345678"},
      {"0120-000-001", "0120-000-001"},  // already grouped: not digits, unchanged
      {"0120００0001", "0120００0001"},
      {"", ""},
  };
  for (const auto& [in, out] : rows) EXPECT_EQ(group_tollfree(in), out) << in;
}

}  // namespace
}  // namespace renkei
