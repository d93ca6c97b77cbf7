#include "renkei/ui_text.h"

#include <array>

namespace renkei {
namespace {

struct LabelEntry {
  UiLabel label;
  std::string_view wire;
  std::string_view text;
};

// "manual" marks the manual's wording, verbatim; the others are ours.
constexpr std::array<LabelEntry, kUiLabelCount> kLabels{{
    {UiLabel::back_to_app, "back_to_app", "連携元画面へ"},  // manual
    {UiLabel::cancel, "cancel", "中止する"},                // manual
    {UiLabel::retry, "retry", "再試行する"},
    {UiLabel::restart, "restart", "最初に戻る"},
}};

constexpr bool labels_in_enum_order() {
  for (std::size_t i = 0; i < kLabels.size(); ++i) {
    if (static_cast<std::size_t>(kLabels[i].label) != i) return false;
  }
  return true;
}
static_assert(labels_in_enum_order(), "kLabels must list every UiLabel in enum order");
static_assert(static_cast<int>(UiLabel::restart) + 1 == kUiLabelCount,
              "kUiLabelCount must equal the number of UiLabel values");

const LabelEntry& entry(UiLabel l) {
  auto i = static_cast<std::size_t>(l);
  return kLabels[i < kLabels.size() ? i : 0];
}

std::string two_digits(int v) {
  return std::string{static_cast<char>('0' + v / 10 % 10), static_cast<char>('0' + v % 10)};
}

}  // namespace

std::string_view ui_label_wire_name(UiLabel l) { return entry(l).wire; }
std::string_view ui_label_ja(UiLabel l) { return entry(l).text; }

std::string reopening_message_ja(UnixSeconds at, UnixSeconds reopens_at) {
  if (reopens_at <= at) return {};
  const JstDateTime open = to_jst(reopens_at);
  std::string out;
  if (open.date != jst_date(at)) {
    out += std::to_string(open.date.month) + "月" + std::to_string(open.date.day) + "日";
  }
  out += std::to_string(open.hour) + "時" + two_digits(open.minute) + "分から再開します。";
  return out;
}

}  // namespace renkei
