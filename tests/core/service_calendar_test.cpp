#include "renkei/service_calendar.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <limits>
#include <optional>
#include <ostream>
#include <set>
#include <tuple>
#include <vector>

namespace renkei {

// Readable failure messages for closure kinds.
void PrintTo(ClosureKind k, std::ostream* os) {
  *os << closure_kind_wire_name(k);
}

namespace {

using K = ClosureKind;
constexpr std::int64_t kMin = 60;
constexpr std::int64_t kHour = 3600;
constexpr std::int64_t kDay = kSecondsPerDay;

UnixSeconds J(int y, int mo, int d, int h = 0, int mi = 0, int s = 0) {
  return from_jst({y, mo, d}, h, mi, s);
}

// One instant and what closure_at must say about it.
struct AtCase {
  UnixSeconds t;
  std::optional<K> kind;  // nullopt: open
  UnixSeconds start = 0;  // of the closure returned (when closed)
  UnixSeconds end = 0;
};

void check_at(const ServiceCalendar& cal, const std::vector<AtCase>& cases) {
  for (const auto& c : cases) {
    SCOPED_TRACE(format_jst(c.t));
    const auto got = cal.closure_at(c.t);
    EXPECT_EQ(cal.is_open(c.t), !c.kind.has_value());
    ASSERT_EQ(got.has_value(), c.kind.has_value());
    if (!got) {
      EXPECT_EQ(cal.next_open(c.t), c.t);
      continue;
    }
    EXPECT_EQ(got->kind, *c.kind) << closure_kind_wire_name(got->kind);
    EXPECT_EQ(format_jst(got->start), format_jst(c.start));
    EXPECT_EQ(format_jst(got->end), format_jst(c.end));
  }
}

TEST(ServiceCalendar, WireNames) {
  EXPECT_EQ(closure_kind_wire_name(K::daily_midnight), "daily_midnight");
  EXPECT_EQ(closure_kind_wire_name(K::daily_early_morning), "daily_early_morning");
  EXPECT_EQ(closure_kind_wire_name(K::monday_batch), "monday_batch");
  EXPECT_EQ(closure_kind_wire_name(K::sunday_maintenance), "sunday_maintenance");
  EXPECT_EQ(closure_kind_wire_name(K::new_year), "new_year");
  EXPECT_EQ(closure_kind_wire_name(K::announced), "announced");
}

TEST(ServiceCalendar, WeekdaysUsedBelow) {
  EXPECT_EQ(to_jst(J(2026, 11, 25)).weekday, 3);  // Wednesday
  EXPECT_EQ(to_jst(J(2026, 1, 5)).weekday, 1);    // Monday
  EXPECT_EQ(to_jst(J(2026, 11, 1)).weekday, 0);   // November 2026 starts on a Sunday
  EXPECT_EQ(to_jst(J(2026, 6, 1)).weekday, 1);    // June 2026 starts on a Monday
  EXPECT_EQ(to_jst(J(2027, 2, 28)).weekday, 0);   // 4th Sunday = last day of February 2027
  EXPECT_EQ(to_jst(J(2027, 3, 1)).weekday, 1);
}

TEST(ServiceCalendar, DailyWindowsAtTheirEdges) {
  const ServiceCalendar cal;
  // Wednesday 2026-11-25: only the daily windows.
  const UnixSeconds m0 = J(2026, 11, 25), m1 = m0 + kMin;
  const UnixSeconds e0 = J(2026, 11, 25, 4), e1 = e0 + 5 * kMin;
  check_at(cal, {
                    {m0 - 1, std::nullopt},
                    {m0, K::daily_midnight, m0, m1},
                    {m0 + 59, K::daily_midnight, m0, m1},
                    {m1, std::nullopt},
                    {m1 + 1, std::nullopt},
                    {e0 - 1, std::nullopt},
                    {e0, K::daily_early_morning, e0, e1},
                    {e1 - 1, K::daily_early_morning, e0, e1},
                    {e1, std::nullopt},
                    {J(2026, 11, 25, 12), std::nullopt},
                    {J(2026, 11, 25, 23, 50), std::nullopt},  // not before a 2nd/4th Sunday
                    {J(2026, 11, 25, 2), std::nullopt},       // not a Monday
                });
  EXPECT_EQ(cal.next_open(m0), m1);
  EXPECT_EQ(cal.next_open(e0 + 1), e1);
}

TEST(ServiceCalendar, FirstAndThirdMondayBatch) {
  const ServiceCalendar cal;
  struct Monday {
    int y, m, d;
  };
  // November 2026 starts on a Sunday (Mondays 2, 9, 16, 23, 30); June 2026 on a
  // Monday (1, 8, 15, 22, 29); March 2027 on a Monday, right after a 4th-Sunday window.
  for (const auto& mon :
       {Monday{2026, 11, 2}, Monday{2026, 11, 16}, Monday{2026, 6, 1}, Monday{2026, 6, 15},
        Monday{2027, 3, 1}, Monday{2027, 3, 15}, Monday{2026, 1, 5}, Monday{2026, 1, 19}}) {
    SCOPED_TRACE(format_date({mon.y, mon.m, mon.d}));
    const UnixSeconds s = J(mon.y, mon.m, mon.d, 2), e = J(mon.y, mon.m, mon.d, 6);
    check_at(cal, {
                      {s - 1, std::nullopt},
                      {s, K::monday_batch, s, e},
                      {J(mon.y, mon.m, mon.d, 3, 59, 59), K::monday_batch, s, e},
                      // 04:00–04:05 overlaps; the batch ends later, so it is reported.
                      {J(mon.y, mon.m, mon.d, 4), K::monday_batch, s, e},
                      {J(mon.y, mon.m, mon.d, 4, 4, 59), K::monday_batch, s, e},
                      {e - 1, K::monday_batch, s, e},
                      {e, std::nullopt},
                  });
    EXPECT_EQ(cal.next_open(s), e);
    EXPECT_EQ(cal.next_open(J(mon.y, mon.m, mon.d, 4, 2)), e);
  }
  // 2nd, 4th and 5th Mondays are ordinary days.
  for (const auto& mon :
       {Monday{2026, 11, 9}, Monday{2026, 11, 23}, Monday{2026, 11, 30}, Monday{2026, 6, 8},
        Monday{2026, 6, 22}, Monday{2026, 6, 29}, Monday{2026, 1, 12}, Monday{2026, 1, 26}}) {
    SCOPED_TRACE(format_date({mon.y, mon.m, mon.d}));
    EXPECT_TRUE(cal.is_open(J(mon.y, mon.m, mon.d, 2)));
    EXPECT_TRUE(cal.is_open(J(mon.y, mon.m, mon.d, 5, 59, 59)));
    const UnixSeconds e0 = J(mon.y, mon.m, mon.d, 4);
    check_at(cal, {{e0, K::daily_early_morning, e0, e0 + 5 * kMin}});
  }
}

TEST(ServiceCalendar, SecondAndFourthSundayMaintenance) {
  const ServiceCalendar cal;
  struct Sunday {
    int y, m, d;
  };
  // The window always starts in the Sunday's own month: the 2nd Sunday is day
  // 8–14, so the day before is 7–13; the 4th Sunday is day 22–28, the day before
  // 21–27. Only a 1st Sunday (no window) can have its Saturday in the previous
  // month, so "the day before a 2nd Sunday in another month" cannot happen.
  // 2027-02-28 is a 4th Sunday on the last day of its month and is followed by
  // the 1st Monday of March.
  for (const auto& sun :
       {Sunday{2026, 11, 8}, Sunday{2026, 11, 22}, Sunday{2026, 2, 8}, Sunday{2026, 2, 22},
        Sunday{2026, 6, 14}, Sunday{2026, 6, 28}, Sunday{2026, 8, 9}, Sunday{2026, 8, 23},
        Sunday{2027, 2, 14}, Sunday{2027, 2, 28}, Sunday{2026, 1, 11}, Sunday{2026, 1, 25}}) {
    SCOPED_TRACE(format_date({sun.y, sun.m, sun.d}));
    const UnixSeconds sunday = J(sun.y, sun.m, sun.d);
    const UnixSeconds s = sunday - 10 * kMin, e = sunday + 7 * kHour;
    EXPECT_EQ(to_jst(s).weekday, 6);
    EXPECT_EQ(jst_date(s).month, sun.m);
    check_at(cal, {
                      {s - 1, std::nullopt},
                      {s, K::sunday_maintenance, s, e},
                      {sunday - 1, K::sunday_maintenance, s, e},
                      // 00:00–00:01 and 04:00–04:05 overlap; the maintenance ends last.
                      {sunday, K::sunday_maintenance, s, e},
                      {sunday + 30, K::sunday_maintenance, s, e},
                      {sunday + 4 * kHour + 1, K::sunday_maintenance, s, e},
                      {e - 1, K::sunday_maintenance, s, e},
                      {e, std::nullopt},
                      {e + 1, std::nullopt},
                  });
    EXPECT_EQ(cal.next_open(s), e);
    EXPECT_EQ(cal.next_open(sunday), e);
  }
  // The day before a 1st, 3rd or 5th Sunday is open at 23:50 (the 1st Sunday's
  // Saturday may be in the previous month: 2026-10-31 before 2026-11-01).
  for (const auto& sun : {Sunday{2026, 11, 1}, Sunday{2026, 11, 15}, Sunday{2026, 11, 29},
                          Sunday{2026, 2, 1}, Sunday{2026, 3, 1}, Sunday{2026, 3, 29},
                          Sunday{2026, 8, 2}, Sunday{2026, 8, 30}, Sunday{2027, 1, 31}}) {
    SCOPED_TRACE(format_date({sun.y, sun.m, sun.d}));
    const UnixSeconds sunday = J(sun.y, sun.m, sun.d);
    EXPECT_TRUE(cal.is_open(sunday - 10 * kMin));
    EXPECT_TRUE(cal.is_open(sunday - 1));
    check_at(cal, {{sunday, K::daily_midnight, sunday, sunday + kMin}});
    EXPECT_TRUE(cal.is_open(sunday + kMin));
    EXPECT_TRUE(cal.is_open(sunday + 6 * kHour));
  }
}

TEST(ServiceCalendar, MonthEndFourthSundayThenFirstMonday) {
  const ServiceCalendar cal;
  // Sat 2027-02-27 23:50 → Sun 02-28 07:00, then Mon 03-01 (1st Monday) 02:00–06:00.
  const auto between = cal.closures_between(J(2027, 2, 27, 12), J(2027, 3, 1, 12));
  std::vector<std::tuple<K, UnixSeconds, UnixSeconds>> got;
  for (const auto& c : between) got.emplace_back(c.kind, c.start, c.end);
  const std::vector<std::tuple<K, UnixSeconds, UnixSeconds>> want = {
      {K::sunday_maintenance, J(2027, 2, 27, 23, 50), J(2027, 2, 28, 7)},
      {K::daily_midnight, J(2027, 2, 28), J(2027, 2, 28, 0, 1)},
      {K::daily_early_morning, J(2027, 2, 28, 4), J(2027, 2, 28, 4, 5)},
      {K::daily_midnight, J(2027, 3, 1), J(2027, 3, 1, 0, 1)},
      {K::monday_batch, J(2027, 3, 1, 2), J(2027, 3, 1, 6)},
      {K::daily_early_morning, J(2027, 3, 1, 4), J(2027, 3, 1, 4, 5)},
  };
  EXPECT_EQ(got, want);
}

// Independently computed (Python's calendar) for 2026–2027.
struct MonthRules {
  int y, m;
  int monday1, monday3;  // 1st and 3rd Mondays
  int sunday2, sunday4;  // 2nd and 4th Sundays
};
const MonthRules kMonths[] = {
    {2026, 1, 5, 19, 11, 25},  {2026, 2, 2, 16, 8, 22},   {2026, 3, 2, 16, 8, 22},
    {2026, 4, 6, 20, 12, 26},  {2026, 5, 4, 18, 10, 24},  {2026, 6, 1, 15, 14, 28},
    {2026, 7, 6, 20, 12, 26},  {2026, 8, 3, 17, 9, 23},   {2026, 9, 7, 21, 13, 27},
    {2026, 10, 5, 19, 11, 25}, {2026, 11, 2, 16, 8, 22},  {2026, 12, 7, 21, 13, 27},
    {2027, 1, 4, 18, 10, 24},  {2027, 2, 1, 15, 14, 28},  {2027, 3, 1, 15, 14, 28},
    {2027, 4, 5, 19, 11, 25},  {2027, 5, 3, 17, 9, 23},   {2027, 6, 7, 21, 13, 27},
    {2027, 7, 5, 19, 11, 25},  {2027, 8, 2, 16, 8, 22},   {2027, 9, 6, 20, 12, 26},
    {2027, 10, 4, 18, 10, 24}, {2027, 11, 1, 15, 14, 28}, {2027, 12, 6, 20, 12, 26},
};

TEST(ServiceCalendar, EveryMonthOf2026And2027) {
  const ServiceCalendar cal;
  std::set<CivilDate> batch_days, sundays, sunday_eves;
  for (const auto& r : kMonths) {
    SCOPED_TRACE(format_date({r.y, r.m, 1}));
    batch_days.insert({r.y, r.m, r.monday1});
    batch_days.insert({r.y, r.m, r.monday3});
    sundays.insert({r.y, r.m, r.sunday2});
    sundays.insert({r.y, r.m, r.sunday4});
    sunday_eves.insert({r.y, r.m, r.sunday2 - 1});
    sunday_eves.insert({r.y, r.m, r.sunday4 - 1});
    // Exactly these windows start in the month (closures_between over a month).
    const UnixSeconds first = J(r.y, r.m, 1);
    const UnixSeconds next = r.m == 12 ? J(r.y + 1, 1, 1) : J(r.y, r.m + 1, 1);
    std::vector<UnixSeconds> batches, sundays;
    int midnights = 0;
    for (const auto& c : cal.closures_between(first, next)) {
      if (c.start < first) continue;
      if (c.kind == K::monday_batch) batches.push_back(c.start);
      if (c.kind == K::sunday_maintenance) sundays.push_back(c.start);
      if (c.kind == K::daily_midnight) ++midnights;
    }
    EXPECT_EQ(batches,
              (std::vector<UnixSeconds>{J(r.y, r.m, r.monday1, 2), J(r.y, r.m, r.monday3, 2)}));
    EXPECT_EQ(sundays, (std::vector<UnixSeconds>{J(r.y, r.m, r.sunday2 - 1, 23, 50),
                                                 J(r.y, r.m, r.sunday4 - 1, 23, 50)}));
    EXPECT_EQ(midnights, days_in_month(r.y, r.m));
  }
  // Day by day.
  for (std::int64_t day = days_from_civil({2026, 1, 1}); day <= days_from_civil({2027, 12, 31});
       ++day) {
    const CivilDate d = civil_from_days(day);
    SCOPED_TRACE(format_date(d));
    const bool new_year = d.month == 1 && d.day <= 3;
    if (new_year) continue;
    // Monday 02:00 and the 23:50 eves are closed exactly on those days, and
    // 01:00–07:00 on the Sundays themselves.
    std::optional<K> want2, want1, want2350;
    if (batch_days.count(d)) want2 = K::monday_batch;
    if (sundays.count(d)) want1 = want2 = K::sunday_maintenance;
    if (sunday_eves.count(d)) want2350 = K::sunday_maintenance;
    const auto kind_at = [&](int h, int mi) -> std::optional<K> {
      const auto c = cal.closure_at(J(d.year, d.month, d.day, h, mi));
      return c ? std::optional<K>(c->kind) : std::nullopt;
    };
    EXPECT_EQ(kind_at(1, 0), want1);
    EXPECT_EQ(kind_at(2, 0), want2);
    EXPECT_EQ(kind_at(23, 50), want2350);
    EXPECT_TRUE(cal.is_open(J(d.year, d.month, d.day, 12)));
  }
}

TEST(ServiceCalendar, NewYear) {
  const ServiceCalendar cal;
  for (int d = 1; d <= 3; ++d) {
    SCOPED_TRACE(d);
    const UnixSeconds m = J(2026, 1, d), m8 = J(2026, 1, d, 8);
    const UnixSeconds e19 = J(2026, 1, d, 19), e24 = J(2026, 1, d + 1);
    check_at(cal, {
                      // 00:00–00:01 and 04:00–04:05 overlap; the new-year window ends last.
                      {m, K::new_year, m, m8},
                      {m + 30, K::new_year, m, m8},
                      {J(2026, 1, d, 4, 1), K::new_year, m, m8},
                      {m8 - 1, K::new_year, m, m8},
                      {m8, std::nullopt},
                      {e19 - 1, std::nullopt},
                      {e19, K::new_year, e19, e24},
                      {e24 - 1, K::new_year, e19, e24},
                  });
  }
  check_at(cal, {
                    {J(2025, 12, 31, 8), std::nullopt},
                    {J(2025, 12, 31, 19), std::nullopt},
                    {J(2025, 12, 31, 23, 59, 59), std::nullopt},
                    // Jan 4 2026 (a 1st Sunday): only the daily windows.
                    {J(2026, 1, 4), K::daily_midnight, J(2026, 1, 4), J(2026, 1, 4, 0, 1)},
                    {J(2026, 1, 4, 0, 1), std::nullopt},
                    {J(2026, 1, 4, 2), std::nullopt},
                    {J(2026, 1, 4, 7, 59, 59), std::nullopt},
                    {J(2026, 1, 4, 8), std::nullopt},
                    {J(2026, 1, 4, 19), std::nullopt},
                    // Jan 4 2027 is the 1st Monday of 2027.
                    {J(2027, 1, 4, 2), K::monday_batch, J(2027, 1, 4, 2), J(2027, 1, 4, 6)},
                    // 1900-01-01 was a Monday: new year and 1st-Monday batch overlap.
                    {J(1900, 1, 1, 2), K::new_year, J(1900, 1, 1), J(1900, 1, 1, 8)},
                });
}

TEST(ServiceCalendar, NextOpenFollowsChains) {
  const std::vector<MaintenanceWindow> extra = {
      {J(2026, 11, 8, 7), J(2026, 11, 8, 9), "adjoins the Sunday window"},
      {J(2026, 11, 8, 9), J(2026, 11, 8, 10), "adjoins the previous one"},
      {J(2026, 11, 25, 23), J(2026, 11, 26, 0, 0, 30), "overlaps 00:00-00:01"},
  };
  const ServiceCalendar cal(extra);
  struct Case {
    UnixSeconds t;
    UnixSeconds open;
  };
  const Case cases[] = {
      {J(2026, 1, 2, 19), J(2026, 1, 3, 8)},  // 19:00–24:00 + Jan 3 00:00–08:00
      {J(2026, 1, 2, 23, 59, 59), J(2026, 1, 3, 8)},
      {J(2026, 1, 1), J(2026, 1, 1, 8)},
      {J(2026, 1, 3, 19), J(2026, 1, 4, 0, 1)},  // then only 00:00–00:01 on Jan 4
      {J(2027, 1, 3, 19), J(2027, 1, 4, 0, 1)},  // Jan 4 2027's batch starts at 02:00
      {J(2026, 1, 3, 8), J(2026, 1, 3, 8)},      // open: itself
      {J(2026, 11, 7, 23, 50), J(2026, 11, 8, 10)},
      {J(2026, 11, 8, 4), J(2026, 11, 8, 10)},
      {J(2026, 11, 8, 8), J(2026, 11, 8, 10)},
      {J(2026, 11, 25, 23), J(2026, 11, 26, 0, 1)},
      {J(2026, 11, 26, 0, 0, 45), J(2026, 11, 26, 0, 1)},
      {J(2026, 11, 2, 2), J(2026, 11, 2, 6)},
      {J(2026, 11, 2, 4, 4), J(2026, 11, 2, 6)},
      {J(2026, 11, 25, 12), J(2026, 11, 25, 12)},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(format_jst(cal.next_open(c.t)), format_jst(c.open)) << format_jst(c.t);
  }
}

TEST(ServiceCalendar, AnnouncedWindows) {
  const UnixSeconds a0 = J(2026, 11, 25, 10), a1 = J(2026, 11, 25, 12);
  const UnixSeconds b0 = J(2026, 11, 25, 11), b1 = J(2026, 11, 25, 13);
  const UnixSeconds c1 = J(2026, 11, 25, 14);
  const ServiceCalendar cal({
      {a0, a1, "A"},
      {b0, b1, "B overlaps A"},
      {b1, c1, "C adjoins B"},
      {J(2026, 11, 25, 15), J(2026, 11, 25, 15), "empty: covers nothing"},
      {J(2026, 11, 25, 17), J(2026, 11, 25, 16), "inverted: covers nothing"},
      {J(2026, 11, 26, 3, 30), J(2026, 11, 26, 4, 2), "ends inside 04:00-04:05"},
  });
  EXPECT_EQ(cal.extra_windows().size(), 6u);
  check_at(
      cal,
      {
          {a0 - 1, std::nullopt},
          {a0, K::announced, a0, a1},
          {b0 - 1, K::announced, a0, a1},
          {b0, K::announced, b0, b1},  // B ends later than A
          {a1, K::announced, b0, b1},
          {b1 - 1, K::announced, b0, b1},
          {b1, K::announced, b1, c1},
          {c1 - 1, K::announced, b1, c1},
          {c1, std::nullopt},
          {J(2026, 11, 25, 15), std::nullopt},
          {J(2026, 11, 25, 16, 30), std::nullopt},
          {J(2026, 11, 26, 3, 30), K::announced, J(2026, 11, 26, 3, 30), J(2026, 11, 26, 4, 2)},
          // 04:00–04:05 ends after the announced window, so it is reported.
          {J(2026, 11, 26, 4), K::daily_early_morning, J(2026, 11, 26, 4), J(2026, 11, 26, 4, 5)},
      });
  EXPECT_EQ(cal.closure_at(a0)->label, "A");
  EXPECT_EQ(cal.closure_at(b0)->label, "B overlaps A");
  // Several windows end last together: the one that started first is reported.
  const ServiceCalendar tie({{b0 + 30 * kMin, b1, "D ends with B"}, {b0, b1, "B"}, {a0, a1, "A"}});
  EXPECT_EQ(tie.closure_at(b0 + 45 * kMin)->label, "B");
  EXPECT_EQ(cal.next_open(a0), c1);
  EXPECT_EQ(cal.next_open(J(2026, 11, 26, 3, 30)), J(2026, 11, 26, 4, 5));
  // Recurring closures carry no label.
  EXPECT_EQ(cal.closure_at(J(2026, 11, 25))->label, "");
}

TEST(ServiceCalendar, ClosuresBetweenOrderAndBounds) {
  const UnixSeconds sun = J(2026, 11, 8);  // a 2nd Sunday
  const ServiceCalendar cal({{sun, sun + 30 * kMin, "same start as 00:00-00:01"},
                             {sun - 2 * kHour, sun - kHour, "ends before from"}});
  const auto got = cal.closures_between(sun - kHour, J(2026, 11, 9, 4));
  const std::vector<Closure> want = {
      {K::sunday_maintenance, sun - 10 * kMin, sun + 7 * kHour, ""},
      {K::daily_midnight, sun, sun + kMin, ""},
      {K::announced, sun, sun + 30 * kMin, "same start as 00:00-00:01"},
      {K::daily_early_morning, sun + 4 * kHour, sun + 4 * kHour + 5 * kMin, ""},
      {K::daily_midnight, sun + kDay, sun + kDay + kMin, ""},
      // Mon 2026-11-09 04:00 starts exactly at `to`: excluded; 11-09 is a 2nd Monday.
  };
  EXPECT_EQ(got, want);

  // A closure that started before `from` is included; one that ends at `from` is not.
  const auto mid = cal.closures_between(sun + 6 * kHour, sun + 6 * kHour + 1);
  ASSERT_EQ(mid.size(), 1u);
  EXPECT_EQ(mid[0].kind, K::sunday_maintenance);
  EXPECT_TRUE(cal.closures_between(sun + 7 * kHour, sun + 8 * kHour).empty());
  EXPECT_TRUE(cal.closures_between(sun + kMin, sun + kMin).empty());
  EXPECT_TRUE(cal.closures_between(sun + kHour, sun).empty());
}

TEST(ServiceCalendar, ClosuresBetweenFourWeeks) {
  const ServiceCalendar cal;
  // November 2026, 28 days from Sunday 11-01: 28 + 28 daily windows, batches on
  // 11-02 and 11-16, Sunday windows before 11-08 and 11-22.
  const auto got = cal.closures_between(J(2026, 11, 1), J(2026, 11, 29));
  int counts[6] = {};
  for (const auto& c : got) ++counts[static_cast<int>(c.kind)];
  EXPECT_EQ(counts[static_cast<int>(K::daily_midnight)], 28);
  EXPECT_EQ(counts[static_cast<int>(K::daily_early_morning)], 28);
  EXPECT_EQ(counts[static_cast<int>(K::monday_batch)], 2);
  EXPECT_EQ(counts[static_cast<int>(K::sunday_maintenance)], 2);
  EXPECT_EQ(counts[static_cast<int>(K::new_year)], 0);
  EXPECT_TRUE(std::is_sorted(got.begin(), got.end(), [](const Closure& a, const Closure& b) {
    return std::tie(a.start, a.kind) < std::tie(b.start, b.kind);
  }));
}

TEST(ServiceCalendar, ClosuresBetweenIsCappedAt400Days) {
  const ServiceCalendar cal({{J(2028, 6, 1), J(2028, 6, 2), "beyond the cap"}});
  const UnixSeconds from = J(2026, 1, 1);
  const auto got = cal.closures_between(from, from + 1000 * kDay);
  int midnights = 0;
  for (const auto& c : got) {
    EXPECT_LT(c.start, from + 400 * kDay);
    EXPECT_NE(c.kind, K::announced);
    if (c.kind == K::daily_midnight) ++midnights;
  }
  EXPECT_EQ(midnights, 400);
}

TEST(ServiceCalendar, BeforeTheEpoch) {
  const ServiceCalendar cal;
  // December 1969 started on a Monday: Sundays 7, 14, 21, 28.
  const UnixSeconds sun = J(1969, 12, 14);
  check_at(cal, {
                    {sun - 10 * kMin - 1, std::nullopt},
                    {sun - 10 * kMin, K::sunday_maintenance, sun - 10 * kMin, sun + 7 * kHour},
                    {J(1969, 12, 1, 2), K::monday_batch, J(1969, 12, 1, 2), J(1969, 12, 1, 6)},
                    {J(1969, 12, 8, 2), std::nullopt},
                });
  EXPECT_EQ(cal.next_open(J(1970, 1, 1, 5)), J(1970, 1, 1, 8));
}

TEST(ServiceCalendar, ExtremeInstantsAreSafe) {
  constexpr UnixSeconds kMax = std::numeric_limits<UnixSeconds>::max();
  constexpr UnixSeconds kMinT = std::numeric_limits<UnixSeconds>::min();
  const ServiceCalendar cal({{J(2026, 11, 25, 12), kMax, "until further notice"}});
  EXPECT_FALSE(cal.closure_at(kMax).has_value());
  EXPECT_EQ(cal.next_open(J(2026, 11, 25, 12)), kMax);
  EXPECT_TRUE(cal.is_open(kMinT));
  EXPECT_EQ(cal.next_open(kMinT), kMinT);
  EXPECT_TRUE(cal.closures_between(kMinT, kMinT + 10 * kDay).empty());
  const auto all = cal.closures_between(kMinT, kMax);  // capped: nothing that far back
  EXPECT_TRUE(all.empty());
  const auto tail = cal.closures_between(kMax - kDay, kMax);
  ASSERT_EQ(tail.size(), 1u);
  EXPECT_EQ(tail[0].kind, K::announced);
}

}  // namespace
}  // namespace renkei
