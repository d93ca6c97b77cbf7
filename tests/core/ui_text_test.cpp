// Tests of ui_text.h: the labels of the ways out (SPEC §8a) and the sentence
// that says when the service opens again.
#include "renkei/ui_text.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "renkei/service_calendar.h"

namespace renkei {
namespace {

TEST(UiLabels, WireNamesAreUniqueAndTextsAreTheManuals) {
  std::vector<std::string_view> seen;
  for (int i = 0; i < kUiLabelCount; ++i) {
    const auto l = static_cast<UiLabel>(i);
    EXPECT_FALSE(ui_label_ja(l).empty());
    for (auto other : seen) EXPECT_NE(other, ui_label_wire_name(l));
    seen.push_back(ui_label_wire_name(l));
  }
  EXPECT_EQ(ui_label_ja(UiLabel::back_to_app), "連携元画面へ");
  EXPECT_EQ(ui_label_ja(UiLabel::cancel), "中止する");
  EXPECT_EQ(ui_label_ja(UiLabel::restart), "最初に戻る");
}

TEST(Reopening, Table) {
  struct Row {
    UnixSeconds at;
    UnixSeconds reopens_at;
    std::string text;
  };
  const CivilDate d{2026, 11, 25};
  const std::vector<Row> rows = {
      {from_jst(d, 4, 2), from_jst(d, 4, 5), "4時05分から再開します。"},
      {from_jst(d, 0, 0, 30), from_jst(d, 0, 1), "0時01分から再開します。"},
      {from_jst(d, 2, 0), from_jst(d, 6, 0), "6時00分から再開します。"},
      {from_jst(d, 19, 30), from_jst(d, 23, 59), "23時59分から再開します。"},
      // another JST day: the date too
      {from_jst(d, 23, 55), from_jst({2026, 11, 26}, 7, 0), "11月26日7時00分から再開します。"},
      {from_jst({2026, 12, 31}, 23, 0), from_jst({2027, 1, 1}, 8, 0), "1月1日8時00分から再開します。"},
      // open: nothing to say
      {from_jst(d, 10, 0), from_jst(d, 10, 0), ""},
      {from_jst(d, 10, 0), from_jst(d, 9, 0), ""},
  };
  for (const auto& r : rows) {
    EXPECT_EQ(reopening_message_ja(r.at, r.reopens_at), r.text) << format_jst(r.at);
  }
}

TEST(Reopening, FollowsTheCalendarsNextOpening) {
  const ServiceCalendar calendar;
  // 2026-12-13 is the 2nd Sunday of December: closed from 23:50 on the 12th to 07:00.
  const UnixSeconds at = from_jst({2026, 12, 12}, 23, 55);
  ASSERT_FALSE(calendar.is_open(at));
  EXPECT_EQ(reopening_message_ja(at, calendar.next_open(at)), "12月13日7時00分から再開します。");
  const UnixSeconds early = from_jst({2026, 11, 25}, 4, 0);
  EXPECT_EQ(reopening_message_ja(early, calendar.next_open(early)), "4時05分から再開します。");
}

}  // namespace
}  // namespace renkei
