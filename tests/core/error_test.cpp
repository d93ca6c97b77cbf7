// Tests of the error catalog (error.h): stable wire names, the manual's texts
// verbatim, and the codes' classification.
#include "renkei/error.h"

#include <gtest/gtest.h>

#include <set>
#include <string>
#include <vector>

namespace renkei {
namespace {

std::vector<ErrorCode> all_codes() {
  std::vector<ErrorCode> out;
  for (int i = 0; i < kErrorCodeCount; ++i) out.push_back(static_cast<ErrorCode>(i));
  return out;
}

TEST(ErrorCatalog, CountMatchesTheEnum) {
  EXPECT_EQ(static_cast<int>(ErrorCode::method_not_allowed) + 1, kErrorCodeCount);
}

TEST(ErrorCatalog, EveryCodeHasAUniqueWireNameThatRoundTrips) {
  std::set<std::string_view> names;
  for (ErrorCode c : all_codes()) {
    const std::string_view name = wire_name(c);
    EXPECT_FALSE(name.empty()) << static_cast<int>(c);
    EXPECT_TRUE(names.insert(name).second) << "duplicate wire name " << name;
    EXPECT_EQ(error_code_from_wire(name), c) << name;
    // snake_case ASCII: safe as a JSON value and a CSS/JS identifier part
    for (char ch : name) {
      EXPECT_TRUE((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '_') << name;
    }
  }
  EXPECT_EQ(names.size(), static_cast<std::size_t>(kErrorCodeCount));
}

TEST(ErrorCatalog, UnknownWireNames) {
  for (const char* name : {"", "Required", "REQUIRED", "required ", "unknown", "B84", "0"}) {
    EXPECT_EQ(error_code_from_wire(name), std::nullopt) << name;
  }
}

TEST(ErrorCatalog, EveryCodeHasAMessageAndAStatus) {
  std::set<std::string_view> messages;
  for (ErrorCode c : all_codes()) {
    EXPECT_FALSE(message_ja(c).empty()) << wire_name(c);
    EXPECT_TRUE(messages.insert(message_ja(c)).second) << "duplicate text for " << wire_name(c);
    const int status = http_status(c);
    EXPECT_GE(status, 200) << wire_name(c);
    EXPECT_LT(status, 600) << wire_name(c);
  }
}

// Wire names are a released contract: these must never change.
TEST(ErrorCatalog, StableWireNames) {
  const std::vector<std::pair<ErrorCode, std::string_view>> rows = {
      {ErrorCode::required, "required"},
      {ErrorCode::invalid_utf8, "invalid_utf8"},
      {ErrorCode::control_character, "control_character"},
      {ErrorCode::invalid_character, "invalid_character"},
      {ErrorCode::too_long, "too_long"},
      {ErrorCode::invalid_format, "invalid_format"},
      {ErrorCode::invalid_mark_position, "invalid_mark_position"},
      {ErrorCode::invalid_date, "invalid_date"},
      {ErrorCode::date_out_of_range, "date_out_of_range"},
      {ErrorCode::date_in_future, "date_in_future"},
      {ErrorCode::email_mismatch, "email_mismatch"},
      {ErrorCode::consent_required, "consent_required"},
      {ErrorCode::invalid_input, "invalid_input"},
      {ErrorCode::account_not_eligible, "account_not_eligible"},
      {ErrorCode::auth_mismatch, "auth_mismatch"},
      {ErrorCode::locked_now, "locked_now"},
      {ErrorCode::locked, "locked"},
      {ErrorCode::out_of_hours, "out_of_hours"},
      {ErrorCode::busy, "busy"},
      {ErrorCode::system_error, "system_error"},
      {ErrorCode::service_unavailable, "service_unavailable"},
      {ErrorCode::call_pending, "call_pending"},
      {ErrorCode::call_expired, "call_expired"},
      {ErrorCode::cancelled, "cancelled"},
      {ErrorCode::invalid_step, "invalid_step"},
      {ErrorCode::session_expired, "session_expired"},
      {ErrorCode::call_withheld, "call_withheld"},
      {ErrorCode::call_not_matched, "call_not_matched"},
      {ErrorCode::bad_request, "bad_request"},
      {ErrorCode::not_found, "not_found"},
      {ErrorCode::unauthorized, "unauthorized"},
      {ErrorCode::forbidden, "forbidden"},
      {ErrorCode::range_not_served, "range_not_served"},
      {ErrorCode::method_not_allowed, "method_not_allowed"},
  };
  EXPECT_EQ(rows.size(), static_cast<std::size_t>(kErrorCodeCount));
  for (const auto& [code, name] : rows) EXPECT_EQ(wire_name(code), name);
}

// The manual's customer-visible strings, verbatim (SPEC §4).
TEST(ErrorCatalog, ManualTextsVerbatim) {
  const std::vector<std::pair<ErrorCode, std::string_view>> rows = {
      {ErrorCode::required, "必ず入力して下さい。"},
      {ErrorCode::account_not_eligible, "ご指定の口座は、本サービスではお取り扱いできません。"},
      {ErrorCode::auth_mismatch,
       "本人認証情報が誤っています。本人認証項目をご確認のうえ、再度入力して下さい。"},
      {ErrorCode::locked_now,
       "お取扱いができなくなりました。詳しくは本サービスのお問合せ窓口へご照会下さい。"},
      {ErrorCode::locked,
       "ただ今お取扱いできません。詳しくは本サービスのお問合せ窓口へご照会下さい。 "
       "理由コードはB84です。"},
      {ErrorCode::out_of_hours, "ただ今の時間はサービスを行っていません。 ご了承下さい。"},
      {ErrorCode::busy, "ただ今受付が混雑しておりますので、しばらくしてからご利用下さい。"},
      {ErrorCode::system_error,
       "調整のため連絡ができなくなりました。 "
       "なお、お急ぎの場合は本サービスのお問合せ窓口へご照会下さい。"},
      {ErrorCode::service_unavailable,
       "ご指定のサービスはただ今お取扱できません。 "
       "なお、お急ぎの場合は本サービスのお問合せ窓口へご照会下さい。"},
      {ErrorCode::call_pending, "認証中（認証着信待ち）"},
      {ErrorCode::call_expired,
       "120秒経過後の「確定する」ボタン選択は無効となります。 "
       "API連携認証の最初に戻って操作してください。"},
      {ErrorCode::cancelled, "API連携認証を中止しました。"},
  };
  for (const auto& [code, text] : rows) EXPECT_EQ(message_ja(code), text) << wire_name(code);
}

TEST(ErrorCatalog, LockedCarriesReasonB84) {
  EXPECT_EQ(reason_code(ErrorCode::locked), "B84");
  EXPECT_NE(message_ja(ErrorCode::locked).find("理由コードはB84です。"), std::string_view::npos);
  for (ErrorCode c : all_codes()) {
    if (c != ErrorCode::locked) {
      EXPECT_EQ(reason_code(c), "") << wire_name(c);
    }
  }
  // locked_now (the failure that locks) and locked (attempts while locked) differ.
  EXPECT_NE(message_ja(ErrorCode::locked_now), message_ja(ErrorCode::locked));
  EXPECT_EQ(message_ja(ErrorCode::locked_now).find("B84"), std::string_view::npos);
}

TEST(ErrorCatalog, RequiredFieldTextAndDialogAreDistinct) {
  EXPECT_EQ(message_ja(ErrorCode::required), "必ず入力して下さい。");
  EXPECT_EQ(kRequiredDialogTitle, "エラー");
  EXPECT_EQ(kRequiredDialogMessage, "入力されていない項目があります。");
  EXPECT_EQ(kDialogOk, "OK");
  EXPECT_NE(message_ja(ErrorCode::required), kRequiredDialogMessage);
  for (ErrorCode c : all_codes()) EXPECT_NE(message_ja(c), kRequiredDialogMessage);
}

TEST(ErrorCatalog, FieldErrorClassification) {
  const std::set<ErrorCode> field_codes = {
      ErrorCode::required,
      ErrorCode::invalid_utf8,
      ErrorCode::control_character,
      ErrorCode::invalid_character,
      ErrorCode::too_long,
      ErrorCode::invalid_format,
      ErrorCode::invalid_mark_position,
      ErrorCode::invalid_date,
      ErrorCode::date_out_of_range,
      ErrorCode::date_in_future,
      ErrorCode::email_mismatch,
      ErrorCode::consent_required,
  };
  for (ErrorCode c : all_codes()) {
    EXPECT_EQ(is_field_error(c), field_codes.count(c) == 1) << wire_name(c);
  }
}

TEST(ErrorCatalog, HttpStatuses) {
  EXPECT_EQ(http_status(ErrorCode::required), 400);
  EXPECT_EQ(http_status(ErrorCode::invalid_input), 400);
  EXPECT_EQ(http_status(ErrorCode::bad_request), 400);
  EXPECT_EQ(http_status(ErrorCode::unauthorized), 401);
  EXPECT_EQ(http_status(ErrorCode::forbidden), 403);
  EXPECT_EQ(http_status(ErrorCode::not_found), 404);
  EXPECT_EQ(http_status(ErrorCode::system_error), 500);
  EXPECT_EQ(http_status(ErrorCode::busy), 503);
  EXPECT_EQ(http_status(ErrorCode::out_of_hours), 503);
  // Field errors are all client errors.
  for (ErrorCode c : all_codes()) {
    if (is_field_error(c)) {
      EXPECT_EQ(http_status(c), 400) << wire_name(c);
    }
  }
}

TEST(ErrorCatalog, OutOfRangeCodeFallsBackSafely) {
  // A value outside the enum (a programming error) must not read out of bounds.
  const auto bogus = static_cast<ErrorCode>(kErrorCodeCount + 5);
  EXPECT_FALSE(message_ja(bogus).empty());
}

}  // namespace
}  // namespace renkei
