#include "renkei/error.h"

#include <array>

namespace renkei {
namespace {

struct CatalogEntry {
  ErrorCode code;
  std::string_view wire;
  std::string_view message;  // customer-visible text
  std::string_view reason;   // reason code shown with it
  int http_status;
};

// Texts marked "manual" are copied verbatim from the credit union's manual
// (including its ASCII spaces); the others are this project's wording for
// cases the manual does not show.
constexpr std::array<CatalogEntry, kErrorCodeCount> kCatalog{{
    // manual (画面①② エラー事例)
    {ErrorCode::required, "required", "必ず入力して下さい。", "", 400},
    // this project's wording: a field that is filled but wrong (SPEC §3)
    {ErrorCode::invalid_utf8, "invalid_utf8",
     "文字を正しく読み取れませんでした。もう一度入力して下さい。", "", 400},
    {ErrorCode::control_character, "control_character", "使用できない制御文字が含まれています。",
     "", 400},
    {ErrorCode::invalid_character, "invalid_character", "使用できない文字が含まれています。", "",
     400},
    {ErrorCode::too_long, "too_long", "入力できる文字数を超えています。", "", 400},
    {ErrorCode::invalid_format, "invalid_format", "入力形式に誤りがあります。", "", 400},
    {ErrorCode::invalid_mark_position, "invalid_mark_position",
     "濁点（ﾞ）・半濁点（ﾟ）の位置に誤りがあります。", "", 400},
    {ErrorCode::invalid_date, "invalid_date", "存在しない日付です。", "", 400},
    {ErrorCode::date_out_of_range, "date_out_of_range", "1900年以降の西暦を入力して下さい。", "",
     400},
    {ErrorCode::date_in_future, "date_in_future", "未来の日付は入力できません。", "", 400},
    {ErrorCode::email_mismatch, "email_mismatch",
     "メールアドレスと確認用のメールアドレスが一致しません。", "", 400},
    {ErrorCode::consent_required, "consent_required", "API利用規定を確認し、同意して下さい。", "",
     400},
    {ErrorCode::invalid_input, "invalid_input",
     "入力内容に誤りがあります。ご確認のうえ、再度入力して下さい。", "", 400},
    // manual (画面② エラー事例 No.1–4)
    {ErrorCode::account_not_eligible, "account_not_eligible",
     "ご指定の口座は、本サービスではお取り扱いできません。", "", 403},
    {ErrorCode::auth_mismatch, "auth_mismatch",
     "本人認証情報が誤っています。本人認証項目をご確認のうえ、再度入力して下さい。", "", 403},
    {ErrorCode::locked_now, "locked_now",
     "お取扱いができなくなりました。詳しくは本サービスのお問合せ窓口へご照会下さい。", "", 403},
    {ErrorCode::locked, "locked",
     "ただ今お取扱いできません。詳しくは本サービスのお問合せ窓口へご照会下さい。 "
     "理由コードはB84です。",
     "B84", 403},
    // manual (画面② エラー事例 その他 No.1–4)
    {ErrorCode::out_of_hours, "out_of_hours",
     "ただ今の時間はサービスを行っていません。 ご了承下さい。", "", 503},
    {ErrorCode::busy, "busy",
     "ただ今受付が混雑しておりますので、しばらくしてからご利用下さい。", "", 503},
    {ErrorCode::system_error, "system_error",
     "調整のため連絡ができなくなりました。 "
     "なお、お急ぎの場合は本サービスのお問合せ窓口へご照会下さい。",
     "", 500},
    {ErrorCode::service_unavailable, "service_unavailable",
     "ご指定のサービスはただ今お取扱できません。 "
     "なお、お急ぎの場合は本サービスのお問合せ窓口へご照会下さい。",
     "", 503},
    // manual (画面④ エラー事例)
    {ErrorCode::call_pending, "call_pending", "認証中（認証着信待ち）", "", 409},
    {ErrorCode::call_expired, "call_expired",
     "120秒経過後の「確定する」ボタン選択は無効となります。 "
     "API連携認証の最初に戻って操作してください。",
     "", 409},
    // manual (API連携認証の中止)
    {ErrorCode::cancelled, "cancelled", "API連携認証を中止しました。", "", 200},
    // this project's wording
    {ErrorCode::invalid_step, "invalid_step",
     "この操作は現在の画面では行えません。API連携認証の最初に戻って操作してください。", "", 409},
    {ErrorCode::session_expired, "session_expired",
     "一定時間操作がなかったため、API連携認証を終了しました。API連携認証の最初に戻って操作してください。",
     "", 410},
    {ErrorCode::call_withheld, "call_withheld",
     "電話番号が非通知設定になっているため認証できません。", "", 422},
    {ErrorCode::call_not_matched, "call_not_matched",
     "お届け電話番号から認証先電話番号への着信を確認できませんでした。", "", 422},
    {ErrorCode::bad_request, "bad_request", "リクエストの形式に誤りがあります。", "", 400},
    {ErrorCode::not_found, "not_found", "ご指定のページは見つかりません。", "", 404},
    {ErrorCode::unauthorized, "unauthorized", "認証が必要です。", "", 401},
    {ErrorCode::forbidden, "forbidden", "この操作は許可されていません。", "", 403},
    {ErrorCode::range_not_served, "range_not_served",
     "約3か月より前の取引明細はご照会いただけません。", "", 400},
    {ErrorCode::method_not_allowed, "method_not_allowed",
     "ご指定のページではこの操作は行えません。", "", 405},
}};

constexpr bool catalog_in_enum_order() {
  for (std::size_t i = 0; i < kCatalog.size(); ++i) {
    if (static_cast<std::size_t>(kCatalog[i].code) != i) return false;
  }
  return true;
}
static_assert(catalog_in_enum_order(), "kCatalog must list every ErrorCode in enum order");
static_assert(static_cast<int>(ErrorCode::method_not_allowed) + 1 == kErrorCodeCount,
              "kErrorCodeCount must equal the number of ErrorCode values");

const CatalogEntry& entry(ErrorCode code) {
  auto i = static_cast<std::size_t>(code);
  if (i >= kCatalog.size()) return kCatalog[static_cast<std::size_t>(ErrorCode::system_error)];
  return kCatalog[i];
}

}  // namespace

std::string_view wire_name(ErrorCode code) { return entry(code).wire; }
std::string_view message_ja(ErrorCode code) { return entry(code).message; }
std::string_view reason_code(ErrorCode code) { return entry(code).reason; }
int http_status(ErrorCode code) { return entry(code).http_status; }

std::optional<ErrorCode> error_code_from_wire(std::string_view name) {
  for (const auto& e : kCatalog) {
    if (e.wire == name) return e.code;
  }
  return std::nullopt;
}

bool is_field_error(ErrorCode code) {
  return static_cast<int>(code) <= static_cast<int>(ErrorCode::consent_required);
}

}  // namespace renkei
