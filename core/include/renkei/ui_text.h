// Customer-visible texts that are not error messages: the labels of the
// buttons that lead out of a dead end (SPEC §8a) and the sentence that says
// when the service opens again. Like the error catalog (error.h), one table;
// the page asks the WASM core for it (the "catalog" case) and spells none.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "renkei/time.h"

namespace renkei {

enum class UiLabel {
  back_to_app,  // 連携元画面へ (manual, API連携認証の中止): back to the app with an error
  cancel,       // 中止する (manual): end the flow, access_denied
  retry,        // this project's wording: send the refused request again
  restart,      // 最初に戻る (manual, 画面④): back to ① after call_expired
};
inline constexpr int kUiLabelCount = 4;

// The wire name, e.g. "back_to_app".
std::string_view ui_label_wire_name(UiLabel l);
// The Japanese text, e.g. "連携元画面へ".
std::string_view ui_label_ja(UiLabel l);

// When the service opens again (SPEC §8a), this project's wording:
// "4時05分から再開します。" when `reopens_at` falls on the JST date of `at`,
// otherwise with the date: "12月6日7時00分から再開します。". Empty when
// reopens_at <= at (the service is open).
std::string reopening_message_ja(UnixSeconds at, UnixSeconds reopens_at);

}  // namespace renkei
