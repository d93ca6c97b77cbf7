#include "renkei/time.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <optional>
#include <string>

namespace renkei {
namespace {

constexpr std::int64_t kInt64Max = std::numeric_limits<std::int64_t>::max();
constexpr std::int64_t kInt64Min = std::numeric_limits<std::int64_t>::min();

// Reference values computed independently (Python's datetime).
struct DayCase {
  CivilDate date;
  std::int64_t days;
  int weekday;  // 0 = Sunday
};
const DayCase kDayCases[] = {
    {{1970, 1, 1}, 0, 4},        {{1969, 12, 31}, -1, 3},      {{2000, 2, 29}, 11016, 2},
    {{2000, 3, 1}, 11017, 3},    {{1900, 1, 1}, -25567, 1},    {{1900, 3, 1}, -25508, 4},
    {{1600, 2, 29}, -135081, 2}, {{9999, 12, 31}, 2932896, 5}, {{2026, 11, 25}, 20782, 3},
    {{2026, 1, 5}, 20458, 1},    {{1, 1, 1}, -719162, 1},      {{2100, 3, 1}, 47541, 1},
};

TEST(Time, DaysFromCivilAndBack) {
  for (const auto& c : kDayCases) {
    SCOPED_TRACE(format_date(c.date));
    EXPECT_EQ(days_from_civil(c.date), c.days);
    EXPECT_EQ(civil_from_days(c.days), c.date);
    EXPECT_EQ(weekday_from_days(c.days), c.weekday);
  }
}

TEST(Time, KnownWeekdays) {
  // 2026-11-25 is a Wednesday, 2026-01-05 a Monday.
  EXPECT_EQ(weekday_from_days(days_from_civil({2026, 11, 25})), 3);
  EXPECT_EQ(weekday_from_days(days_from_civil({2026, 1, 5})), 1);
  EXPECT_EQ(to_jst(from_jst({2026, 11, 25}, 12)).weekday, 3);
  EXPECT_EQ(to_jst(from_jst({2026, 1, 5}, 0)).weekday, 1);
  // Negative day numbers keep the cycle.
  for (std::int64_t d = -30; d <= 30; ++d) {
    EXPECT_EQ(weekday_from_days(d + 1), (weekday_from_days(d) + 1) % 7) << d;
  }
  EXPECT_GE(weekday_from_days(kInt64Min), 0);
  EXPECT_LE(weekday_from_days(kInt64Max), 6);
}

TEST(Time, EveryDayFrom1900To9999RoundTrips) {
  const std::int64_t first = days_from_civil({1900, 1, 1});
  const std::int64_t last = days_from_civil({9999, 12, 31});
  CivilDate expected{1900, 1, 1};
  int weekday = 1;  // 1900-01-01 was a Monday
  for (std::int64_t d = first; d <= last; ++d) {
    const CivilDate got = civil_from_days(d);
    ASSERT_EQ(got, expected) << d;
    ASSERT_EQ(days_from_civil(got), d);
    ASSERT_EQ(weekday_from_days(d), weekday) << d;
    weekday = (weekday + 1) % 7;
    if (++expected.day > days_in_month(expected.year, expected.month)) {
      expected.day = 1;
      if (++expected.month > 12) {
        expected.month = 1;
        ++expected.year;
      }
    }
  }
}

TEST(Time, LeapYearsAndMonthLengths) {
  struct Case {
    int year;
    bool leap;
  };
  for (const auto& c :
       {Case{1900, false}, Case{2000, true}, Case{2024, true}, Case{2026, false}, Case{2100, false},
        Case{2400, true}, Case{0, true}, Case{-4, true}, Case{-100, false}}) {
    EXPECT_EQ(is_leap_year(c.year), c.leap) << c.year;
  }
  EXPECT_EQ(days_in_month(2024, 2), 29);
  EXPECT_EQ(days_in_month(2026, 2), 28);
  EXPECT_EQ(days_in_month(2026, 4), 30);
  EXPECT_EQ(days_in_month(2026, 12), 31);
  EXPECT_EQ(days_in_month(2026, 0), 0);
  EXPECT_EQ(days_in_month(2026, 13), 0);
}

TEST(Time, ValidCivilDates) {
  struct Case {
    CivilDate d;
    bool valid;
  };
  const Case cases[] = {
      {{2024, 2, 29}, true},  {{2026, 2, 29}, false}, {{1900, 2, 29}, false},
      {{2000, 2, 29}, true},  {{2026, 2, 30}, false}, {{2026, 4, 31}, false},
      {{2026, 12, 31}, true}, {{2026, 0, 1}, false},  {{2026, 13, 1}, false},
      {{2026, 1, 0}, false},  {{2026, 1, -1}, false}, {{2026, 1, 32}, false},
  };
  for (const auto& c : cases) EXPECT_EQ(is_valid_civil_date(c.d), c.valid) << format_date(c.d);
}

TEST(Time, ExtremeInputsDoNotOverflow) {
  // Any int year converts without overflow; the far range clamps instead of UB.
  const std::int64_t big = days_from_civil({std::numeric_limits<int>::max(), 12, 31});
  const std::int64_t small = days_from_civil({std::numeric_limits<int>::min(), 1, 1});
  EXPECT_GT(big, 0);
  EXPECT_LT(small, 0);
  (void)from_jst({std::numeric_limits<int>::max(), 12, 31}, std::numeric_limits<int>::max(),
                 std::numeric_limits<int>::max(), std::numeric_limits<int>::max());
  EXPECT_GT(civil_from_days(kInt64Max).year, 1'000'000'000);
  EXPECT_LT(civil_from_days(kInt64Min).year, -1'000'000'000);
  (void)to_jst(kInt64Max);
  (void)to_jst(kInt64Min);
  (void)format_jst(kInt64Max);
  (void)format_jst(kInt64Min);
  EXPECT_EQ(next_jst_midnight(kInt64Max), kInt64Max);
  EXPECT_GT(next_jst_midnight(kInt64Min), kInt64Min);
}

struct JstCase {
  UnixSeconds t;
  const char* text;
};
const JstCase kJstCases[] = {
    {0, "1970-01-01T09:00:00+09:00"},
    {-1, "1970-01-01T08:59:59+09:00"},
    {-32400, "1970-01-01T00:00:00+09:00"},
    {-32401, "1969-12-31T23:59:59+09:00"},
    {-86400 - 32400, "1969-12-31T00:00:00+09:00"},
    {1795566600, "2026-11-25T09:30:00+09:00"},
    {-2209021200, "1900-01-01T00:00:00+09:00"},
    {-2209021201, "1899-12-31T23:59:59+09:00"},
    {253402268399, "9999-12-31T23:59:59+09:00"},
    {253402268400, "+10000-01-01T00:00:00+09:00"},
    {1709210096, "2024-02-29T21:34:56+09:00"},
    {1767193200, "2026-01-01T00:00:00+09:00"},
    {1767193199, "2025-12-31T23:59:59+09:00"},
};

TEST(Time, FormatJst) {
  for (const auto& c : kJstCases) EXPECT_EQ(format_jst(c.t), c.text) << c.t;
}

TEST(Time, FormatJstRoundTripsThroughParse) {
  for (const auto& c : kJstCases) {
    if (c.text[0] == '+') continue;  // expanded years are emitted but never parsed
    EXPECT_EQ(parse_iso_instant(c.text), std::optional<UnixSeconds>(c.t)) << c.text;
  }
}

TEST(Time, ToJstFieldsAndFromJst) {
  const JstDateTime j = to_jst(1795566600);  // 2026-11-25T09:30:00+09:00, Wednesday
  EXPECT_EQ(j.date, (CivilDate{2026, 11, 25}));
  EXPECT_EQ(j.hour, 9);
  EXPECT_EQ(j.minute, 30);
  EXPECT_EQ(j.second, 0);
  EXPECT_EQ(j.weekday, 3);
  EXPECT_EQ(from_jst({2026, 11, 25}, 9, 30), 1795566600);
  // Hour 24 is the next midnight.
  EXPECT_EQ(from_jst({2026, 11, 25}, 24), from_jst({2026, 11, 26}));
  // JST midnight is 15:00 UTC of the previous UTC day.
  EXPECT_EQ(format_jst(from_jst({2026, 1, 1})), "2026-01-01T00:00:00+09:00");
  EXPECT_EQ(from_jst({2026, 1, 1}), *parse_iso_instant("2025-12-31T15:00:00Z"));
  // Before the epoch.
  const JstDateTime old = to_jst(from_jst({1900, 3, 1}, 23, 59, 59));
  EXPECT_EQ(old.date, (CivilDate{1900, 3, 1}));
  EXPECT_EQ(old.hour, 23);
  EXPECT_EQ(old.minute, 59);
  EXPECT_EQ(old.second, 59);
  EXPECT_EQ(old.weekday, 4);
}

TEST(Time, JstDateAndNextMidnight) {
  struct Case {
    UnixSeconds t;
    CivilDate date;
    UnixSeconds next_midnight;
  };
  const UnixSeconds m25 = from_jst({2026, 11, 25});
  const UnixSeconds m26 = from_jst({2026, 11, 26});
  const Case cases[] = {
      {m25, {2026, 11, 25}, m26},
      {m25 - 1, {2026, 11, 24}, m25},
      {m26 - 1, {2026, 11, 25}, m26},
      {m26, {2026, 11, 26}, from_jst({2026, 11, 27})},
      {from_jst({2025, 12, 31}, 23, 59, 59), {2025, 12, 31}, from_jst({2026, 1, 1})},
      {from_jst({2024, 2, 28}, 12), {2024, 2, 28}, from_jst({2024, 2, 29})},
      {from_jst({2024, 2, 29}, 12), {2024, 2, 29}, from_jst({2024, 3, 1})},
      {-1, {1970, 1, 1}, 86400 - 32400},
      {-32401, {1969, 12, 31}, -32400},
      {from_jst({1900, 1, 1}), {1900, 1, 1}, from_jst({1900, 1, 2})},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(format_jst(c.t));
    EXPECT_EQ(jst_date(c.t), c.date);
    EXPECT_EQ(next_jst_midnight(c.t), c.next_midnight);
  }
}

TEST(Time, FormatDate) {
  EXPECT_EQ(format_date({2026, 11, 25}), "2026-11-25");
  EXPECT_EQ(format_date({1900, 1, 1}), "1900-01-01");
  EXPECT_EQ(format_date({987, 6, 5}), "0987-06-05");
  EXPECT_EQ(format_date({-1, 1, 1}), "-0001-01-01");
}

TEST(Time, ParseIsoInstantAccepts) {
  struct Case {
    const char* text;
    UnixSeconds t;
  };
  const Case cases[] = {
      {"2026-11-25T09:30:00+09:00", 1795566600},
      {"2026-11-25T00:30:00Z", 1795566600},
      {"2026-11-25T00:30:00+00:00", 1795566600},
      {"2026-11-25T00:30:00-00:00", 1795566600},
      {"2026-11-24T19:30:00-05:00", 1795566600},
      {"2026-11-25T06:00:00+05:30", 1795566600},
      {"2024-02-29T12:34:56Z", 1709210096},
      {"1969-12-31T23:59:59-05:30", 19799},
      {"1970-01-01T00:00:00Z", 0},
      {"1969-12-31T23:59:59Z", -1},
      {"2026-01-01T00:00:00+14:00", 1767175200},
      {"1900-01-01T00:00:00+09:00", -2209021200},
      {"9999-12-31T23:59:59+09:00", 253402268399},
      {"9999-12-31T23:59:59-23:59", 253402268399 + 9 * 3600 + 23 * 3600 + 59 * 60},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(parse_iso_instant(c.text), std::optional<UnixSeconds>(c.t)) << c.text;
  }
}

TEST(Time, ParseIsoInstantRejects) {
  const char* cases[] = {
      "",
      "2026-11-25",
      "2026-11-25T09:30:00",            // no offset
      "2026-11-25T09:30+09:00",         // no seconds
      "2026-11-25T09:30:00.123+09:00",  // fractions are not accepted
      "2026-11-25 09:30:00+09:00",      // space instead of T
      "2026-11-25t09:30:00+09:00",
      "2026-11-25T09:30:00z",
      "2026-11-25T09:30:00+0900",
      "2026-11-25T09:30:00+9:00",
      "2026-11-25T09:30:00+09:0",
      "2026-11-25T09:30:00+24:00",
      "2026-11-25T09:30:00+09:60",
      "2026-11-25T09:30:00 09:00",
      "2026-11-25T09:30:00+09:00 ",  // trailing garbage
      "2026-11-25T09:30:00+09:00x",
      "2026-11-25T09:30:00Zx",
      "2026-11-25T09:30:00ZZ",
      " 2026-11-25T09:30:00+09:00",
      "2026-11-25T24:00:00+09:00",  // hour 24
      "2026-11-25T23:60:00+09:00",
      "2026-11-25T23:59:60+09:00",  // leap second
      "2026-02-29T00:00:00Z",       // not a leap year
      "2026-02-30T00:00:00Z",
      "2026-04-31T00:00:00Z",
      "2026-13-01T00:00:00Z",
      "2026-00-01T00:00:00Z",
      "2026-01-00T00:00:00Z",
      "99999-01-01T00:00:00Z",  // absurd year
      "99999999999999999999-01-01T00:00:00Z",
      "+2026-01-01T00:00:00Z",
      "-2026-01-01T00:00:00Z",
      "２０２６-11-25T09:30:00+09:00",  // full-width digits
      "2026-1-25T09:30:00+09:00xx",
      "2026/11/25T09:30:00+09:00",
      "2026-11-25T09-30-00+09:00",
      "2026-11-25T0a:30:00+09:00",
      "2026-11-25T09:30:00+0a:00",
  };
  for (const char* c : cases) EXPECT_EQ(parse_iso_instant(c), std::nullopt) << c;
  // An embedded NUL within the string_view is garbage too.
  EXPECT_EQ(parse_iso_instant(std::string_view("2026-11-25T09:30:00Z\0", 21)), std::nullopt);
  EXPECT_EQ(parse_iso_instant(std::string_view("2026-11-25T09:30:00\0Z", 21)), std::nullopt);
}

TEST(Time, ParseDate) {
  struct Case {
    const char* text;
    std::optional<CivilDate> date;
  };
  const Case cases[] = {
      {"2026-11-25", CivilDate{2026, 11, 25}},
      {"2024-02-29", CivilDate{2024, 2, 29}},
      {"2000-02-29", CivilDate{2000, 2, 29}},
      {"1900-01-01", CivilDate{1900, 1, 1}},
      {"9999-12-31", CivilDate{9999, 12, 31}},
      {"1900-02-29", std::nullopt},
      {"2026-02-29", std::nullopt},
      {"2026-02-30", std::nullopt},
      {"2026-04-31", std::nullopt},
      {"2026-13-01", std::nullopt},
      {"2026-00-10", std::nullopt},
      {"2026-01-00", std::nullopt},
      {"2026-1-5", std::nullopt},
      {"2026-01-5", std::nullopt},
      {"26-01-05", std::nullopt},
      {"99999-01-01", std::nullopt},
      {"2026-01-05T00:00:00Z", std::nullopt},
      {"2026-01-05 ", std::nullopt},
      {" 2026-01-05", std::nullopt},
      {"2026/01/05", std::nullopt},
      {"20260105", std::nullopt},
      {"+026-01-05", std::nullopt},
      {"-026-01-05", std::nullopt},
      {"2026-+1-05", std::nullopt},
      {"２０２６-01-05", std::nullopt},
      {"", std::nullopt},
  };
  for (const auto& c : cases) EXPECT_EQ(parse_date(c.text), c.date) << c.text;
}

}  // namespace
}  // namespace renkei
