// SPEC §6: when API連携認証 is closed, in JST. Everything is computed from the
// instant given and the configured windows: no clock, no state, no I/O.
//
// Recurring closures are generated per JST day (never per second): each day
// contributes the closures that *start* on it. The longest recurring closure
// (the Sunday maintenance, 23:50 → 07:00) starts the day before the day it
// mostly covers, so a range needs the JST days from the day before `from` up to
// the day of `to - 1`.
#include "renkei/service_calendar.h"

#include <algorithm>
#include <cstdint>
#include <limits>
#include <tuple>
#include <utility>

namespace renkei {
namespace {

constexpr std::int64_t kHour = 3600;
constexpr std::int64_t kMinute = 60;

// closures_between() looks at most this far past `from` (a longer request is
// cut to [from, from + 400 days)), so one call costs O(days + announced windows).
constexpr std::int64_t kMaxRangeSeconds = 400 * kSecondsPerDay;

// Recurring closures exist only within ±2^55 s (about ±1.1 billion years) of the
// epoch, where every day and instant computation below is far from overflow.
// Announced windows apply anywhere.
constexpr UnixSeconds kRecurringLimit = std::int64_t{1} << 55;

// The JST day number (days since 1970-01-01 JST) containing t, for |t| <= kRecurringLimit.
std::int64_t jst_day_of(UnixSeconds t) {
  return days_from_civil(jst_date(t));
}

UnixSeconds jst_day_start(std::int64_t day) {
  return day * kSecondsPerDay - kJstOffsetSeconds;
}

// 1 for the 1st such weekday of the month (days 1–7), 2 for the 2nd (8–14), …
int nth_weekday_of_month(int day_of_month) {
  return (day_of_month - 1) / 7 + 1;
}

// Appends the recurring closures that start on JST day `day`.
void append_recurring_starting_on(std::int64_t day, std::vector<Closure>& out) {
  const UnixSeconds base = jst_day_start(day);
  const CivilDate date = civil_from_days(day);
  const int weekday = weekday_from_days(day);

  // (1) every day 00:00–00:01, (2) every day 04:00–04:05.
  out.push_back({ClosureKind::daily_midnight, base, base + 1 * kMinute, {}});
  out.push_back(
      {ClosureKind::daily_early_morning, base + 4 * kHour, base + 4 * kHour + 5 * kMinute, {}});

  // (3) the 1st and 3rd Monday of the month, 02:00–06:00.
  if (weekday == 1) {
    const int nth = nth_weekday_of_month(date.day);
    if (nth == 1 || nth == 3) {
      out.push_back({ClosureKind::monday_batch, base + 2 * kHour, base + 6 * kHour, {}});
    }
  }

  // (4) 23:50 on the day before the 2nd/4th Sunday until 07:00 on that Sunday.
  // The Sunday is judged on its own date (the day after this one), so the rule
  // holds whichever month the day before falls in.
  const std::int64_t next_day = day + 1;
  if (weekday_from_days(next_day) == 0) {
    const int nth = nth_weekday_of_month(civil_from_days(next_day).day);
    if (nth == 2 || nth == 4) {
      const UnixSeconds sunday = jst_day_start(next_day);
      out.push_back({ClosureKind::sunday_maintenance,
                     base + 23 * kHour + 50 * kMinute,
                     sunday + 7 * kHour,
                     {}});
    }
  }

  // (5) 1–3 January, 00:00–08:00 and 19:00–24:00.
  if (date.month == 1 && date.day <= 3) {
    out.push_back({ClosureKind::new_year, base, base + 8 * kHour, {}});
    out.push_back({ClosureKind::new_year, base + 19 * kHour, base + kSecondsPerDay, {}});
  }
}

bool by_start_then_kind(const Closure& a, const Closure& b) {
  return std::tie(a.start, a.kind, a.end, a.label) < std::tie(b.start, b.kind, b.end, b.label);
}

}  // namespace

std::string_view closure_kind_wire_name(ClosureKind k) {
  switch (k) {
    case ClosureKind::daily_midnight:
      return "daily_midnight";
    case ClosureKind::daily_early_morning:
      return "daily_early_morning";
    case ClosureKind::monday_batch:
      return "monday_batch";
    case ClosureKind::sunday_maintenance:
      return "sunday_maintenance";
    case ClosureKind::new_year:
      return "new_year";
    case ClosureKind::announced:
      return "announced";
  }
  return "";
}

ServiceCalendar::ServiceCalendar(std::vector<MaintenanceWindow> extra) : extra_(std::move(extra)) {}

std::vector<Closure> ServiceCalendar::closures_between(UnixSeconds from, UnixSeconds to) const {
  std::vector<Closure> out;
  if (from >= to) return out;
  // to > from, so the unsigned difference is exact; from + cap < to cannot overflow.
  if (static_cast<std::uint64_t>(to) - static_cast<std::uint64_t>(from) >
      static_cast<std::uint64_t>(kMaxRangeSeconds)) {
    to = from + kMaxRangeSeconds;
  }
  const auto intersects = [&](UnixSeconds start, UnixSeconds end) {
    return start < end && start < to && end > from;
  };

  const UnixSeconds lo = std::max(from, -kRecurringLimit);
  const UnixSeconds hi = std::min(to, kRecurringLimit);
  if (lo < hi) {
    const std::int64_t first_day = jst_day_of(lo) - 1;
    const std::int64_t last_day = jst_day_of(hi - 1);
    std::vector<Closure> day_closures;
    for (std::int64_t day = first_day; day <= last_day; ++day) {
      day_closures.clear();
      append_recurring_starting_on(day, day_closures);
      for (auto& c : day_closures) {
        if (intersects(c.start, c.end)) out.push_back(std::move(c));
      }
    }
  }

  for (const auto& w : extra_) {
    if (intersects(w.start, w.end)) {
      out.push_back({ClosureKind::announced, w.start, w.end, w.label});
    }
  }
  std::sort(out.begin(), out.end(), by_start_then_kind);
  return out;
}

std::optional<Closure> ServiceCalendar::closure_at(UnixSeconds t) const {
  // No closure can cover the last representable instant: its end would exceed it.
  if (t == std::numeric_limits<UnixSeconds>::max()) return std::nullopt;
  std::optional<Closure> best;
  // In (start, kind) order, so among closures ending together the earliest wins.
  for (auto& c : closures_between(t, t + 1)) {
    if (!best || c.end > best->end) best = std::move(c);
  }
  return best;
}

bool ServiceCalendar::is_open(UnixSeconds t) const {
  return !closure_at(t).has_value();
}

UnixSeconds ServiceCalendar::next_open(UnixSeconds t) const {
  // Each step jumps to the latest end among the closures covering t, which is
  // strictly later than t, so chains of overlapping or adjoining closures are
  // followed until an instant that nothing covers.
  for (;;) {
    auto c = closure_at(t);
    if (!c) return t;
    t = c->end;
  }
}

}  // namespace renkei
