// Civil time in Japan Standard Time, computed without the C library's clock or
// time-zone database so that the native build and the WASM build agree exactly.
// JST is UTC+9 all year (no daylight saving), so a fixed offset is correct.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace renkei {

// Seconds since 1970-01-01T00:00:00Z. Every "now" in the core is one of these,
// passed in by the caller: the core never reads a clock.
using UnixSeconds = std::int64_t;

inline constexpr std::int64_t kSecondsPerDay = 86400;
inline constexpr std::int64_t kJstOffsetSeconds = 9 * 3600;

// A proleptic-Gregorian calendar date. Not validated on construction; see
// is_valid_civil_date().
struct CivilDate {
  int year = 1970;
  int month = 1;  // 1..12
  int day = 1;    // 1..31
  friend bool operator==(const CivilDate&, const CivilDate&) = default;
  friend auto operator<=>(const CivilDate&, const CivilDate&) = default;
};

// A date and wall-clock time in JST.
struct JstDateTime {
  CivilDate date;
  int hour = 0;    // 0..23
  int minute = 0;  // 0..59
  int second = 0;  // 0..59
  int weekday = 4; // 0 = Sunday … 6 = Saturday
};

bool is_leap_year(int year);
int days_in_month(int year, int month);  // 0 for a month outside 1..12
bool is_valid_civil_date(const CivilDate& d);

// Days since 1970-01-01 for a civil date (negative before it), and back.
std::int64_t days_from_civil(const CivilDate& d);
CivilDate civil_from_days(std::int64_t days);
int weekday_from_days(std::int64_t days);  // 0 = Sunday

JstDateTime to_jst(UnixSeconds t);
// The instant of a JST wall-clock time on a civil date (hour may be 24 = next midnight).
UnixSeconds from_jst(const CivilDate& d, int hour = 0, int minute = 0, int second = 0);
// The JST calendar date that contains instant t.
CivilDate jst_date(UnixSeconds t);
// 0:00 JST of the day after the one containing t.
UnixSeconds next_jst_midnight(UnixSeconds t);

// "2026-11-25T09:30:00+09:00": ISO 8601 in JST, the form used on the wire.
std::string format_jst(UnixSeconds t);
// "2026-11-25"
std::string format_date(const CivilDate& d);
// Accepts "YYYY-MM-DDTHH:MM:SS" followed by "Z", "+09:00" or any "+hh:mm"/"-hh:mm"
// offset; returns nullopt for anything else.
std::optional<UnixSeconds> parse_iso_instant(std::string_view s);
// Accepts exactly "YYYY-MM-DD" naming a real date.
std::optional<CivilDate> parse_date(std::string_view s);

}  // namespace renkei
