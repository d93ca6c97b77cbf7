// Civil-time arithmetic for JST without <chrono> calendars or the C library's
// time functions, so the native and the WASM builds give identical answers.
// Date conversions are Howard Hinnant's days_from_civil / civil_from_days
// (http://howardhinnant.github.io/date_algorithms.html), done in 64-bit
// arithmetic so that no int input can overflow.
#include "renkei/time.h"

#include <limits>

namespace renkei {
namespace {

// civil_from_days clamps its input to this many days either side of the epoch
// (about ±1.9 billion years) so that the resulting year always fits in an int.
constexpr std::int64_t kMaxCivilDays = 700'000'000'000;

// Floor division and the matching non-negative remainder (b > 0).
constexpr std::int64_t floor_div(std::int64_t a, std::int64_t b) {
  std::int64_t q = a / b;
  if (a % b < 0) --q;
  return q;
}
constexpr std::int64_t floor_mod(std::int64_t a, std::int64_t b) {
  std::int64_t r = a % b;
  return r < 0 ? r + b : r;
}

// A JST instant split into its JST day number (days since 1970-01-01 in JST)
// and the second of that day, without ever computing t + offset (which could
// overflow for t near the int64 maximum).
struct JstSplit {
  std::int64_t day;
  std::int64_t second_of_day;  // 0..86399
};
JstSplit split_jst(UnixSeconds t) {
  std::int64_t day = floor_div(t, kSecondsPerDay);
  std::int64_t sec = floor_mod(t, kSecondsPerDay) + kJstOffsetSeconds;
  if (sec >= kSecondsPerDay) {
    sec -= kSecondsPerDay;
    ++day;
  }
  return {day, sec};
}

void append_padded(std::string& out, std::int64_t value, int width) {
  char buf[24];
  int n = 0;
  bool negative = value < 0;
  // Work with the negative magnitude so that INT64_MIN cannot overflow.
  std::int64_t v = negative ? value : -value;
  do {
    buf[n++] = static_cast<char>('0' - (v % 10));
    v /= 10;
  } while (v != 0);
  while (n < width) buf[n++] = '0';
  if (negative) out.push_back('-');
  while (n > 0) out.push_back(buf[--n]);
}

// Year in ISO 8601 form: four digits for 0000–9999, otherwise signed and
// expanded ("+10000", "-0001"); such years never come back through the parsers.
void append_year(std::string& out, int year) {
  if (year > 9999) out.push_back('+');
  append_padded(out, year, 4);
}

// Reads exactly `width` ASCII digits at s[pos] (never locale-dependent).
std::optional<int> read_digits(std::string_view s, std::size_t pos, std::size_t width) {
  if (pos > s.size() || s.size() - pos < width) return std::nullopt;
  int value = 0;
  for (std::size_t i = 0; i < width; ++i) {
    char c = s[pos + i];
    if (c < '0' || c > '9') return std::nullopt;
    value = value * 10 + (c - '0');
  }
  return value;
}

// "YYYY-MM-DD" at the start of s, naming a real date.
std::optional<CivilDate> read_date(std::string_view s) {
  if (s.size() < 10 || s[4] != '-' || s[7] != '-') return std::nullopt;
  auto y = read_digits(s, 0, 4);
  auto m = read_digits(s, 5, 2);
  auto d = read_digits(s, 8, 2);
  if (!y || !m || !d) return std::nullopt;
  CivilDate date{*y, *m, *d};
  if (!is_valid_civil_date(date)) return std::nullopt;
  return date;
}

}  // namespace

bool is_leap_year(int year) {
  return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
}

int days_in_month(int year, int month) {
  switch (month) {
    case 1:
    case 3:
    case 5:
    case 7:
    case 8:
    case 10:
    case 12:
      return 31;
    case 4:
    case 6:
    case 9:
    case 11:
      return 30;
    case 2:
      return is_leap_year(year) ? 29 : 28;
    default:
      return 0;
  }
}

bool is_valid_civil_date(const CivilDate& d) {
  return d.month >= 1 && d.month <= 12 && d.day >= 1 && d.day <= days_in_month(d.year, d.month);
}

std::int64_t days_from_civil(const CivilDate& d) {
  // Hinnant: shift the year to start on 1 March so the leap day is last.
  const std::int64_t m = d.month;
  const std::int64_t y = static_cast<std::int64_t>(d.year) - (m <= 2 ? 1 : 0);
  const std::int64_t era = floor_div(y, 400);
  const std::int64_t yoe = y - era * 400;                                        // [0, 399]
  const std::int64_t doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d.day - 1;  // [0, 365]
  const std::int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;                // [0, 146096]
  return era * 146097 + doe - 719468;
}

CivilDate civil_from_days(std::int64_t days) {
  if (days > kMaxCivilDays) days = kMaxCivilDays;
  if (days < -kMaxCivilDays) days = -kMaxCivilDays;
  const std::int64_t z = days + 719468;
  const std::int64_t era = floor_div(z, 146097);
  const std::int64_t doe = z - era * 146097;                                       // [0, 146096]
  const std::int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;  // [0, 399]
  const std::int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);                // [0, 365]
  const std::int64_t mp = (5 * doy + 2) / 153;                                     // [0, 11]
  const std::int64_t day = doy - (153 * mp + 2) / 5 + 1;                           // [1, 31]
  const std::int64_t month = mp < 10 ? mp + 3 : mp - 9;                            // [1, 12]
  const std::int64_t year = yoe + era * 400 + (month <= 2 ? 1 : 0);
  return CivilDate{static_cast<int>(year), static_cast<int>(month), static_cast<int>(day)};
}

int weekday_from_days(std::int64_t days) {
  // 1970-01-01 was a Thursday (4).
  return static_cast<int>((floor_mod(days, 7) + 4) % 7);
}

JstDateTime to_jst(UnixSeconds t) {
  const JstSplit s = split_jst(t);
  JstDateTime out;
  out.date = civil_from_days(s.day);
  out.hour = static_cast<int>(s.second_of_day / 3600);
  out.minute = static_cast<int>(s.second_of_day / 60 % 60);
  out.second = static_cast<int>(s.second_of_day % 60);
  out.weekday = weekday_from_days(s.day);
  return out;
}

UnixSeconds from_jst(const CivilDate& d, int hour, int minute, int second) {
  // Every term fits easily in int64 for any int inputs (|days| < 8e11).
  return days_from_civil(d) * kSecondsPerDay + static_cast<std::int64_t>(hour) * 3600 +
         static_cast<std::int64_t>(minute) * 60 + second - kJstOffsetSeconds;
}

CivilDate jst_date(UnixSeconds t) {
  return civil_from_days(split_jst(t).day);
}

UnixSeconds next_jst_midnight(UnixSeconds t) {
  const std::int64_t next_day = split_jst(t).day + 1;
  // Saturate instead of overflowing for instants in the last JST day of int64.
  constexpr std::int64_t kLastDay =
      (std::numeric_limits<std::int64_t>::max() - kSecondsPerDay) / kSecondsPerDay;
  if (next_day > kLastDay) return std::numeric_limits<std::int64_t>::max();
  return next_day * kSecondsPerDay - kJstOffsetSeconds;
}

std::string format_jst(UnixSeconds t) {
  const JstDateTime j = to_jst(t);
  std::string out;
  out.reserve(25);
  append_year(out, j.date.year);
  out.push_back('-');
  append_padded(out, j.date.month, 2);
  out.push_back('-');
  append_padded(out, j.date.day, 2);
  out.push_back('T');
  append_padded(out, j.hour, 2);
  out.push_back(':');
  append_padded(out, j.minute, 2);
  out.push_back(':');
  append_padded(out, j.second, 2);
  out += "+09:00";
  return out;
}

std::string format_date(const CivilDate& d) {
  std::string out;
  out.reserve(10);
  append_year(out, d.year);
  out.push_back('-');
  append_padded(out, d.month, 2);
  out.push_back('-');
  append_padded(out, d.day, 2);
  return out;
}

std::optional<UnixSeconds> parse_iso_instant(std::string_view s) {
  // YYYY-MM-DDTHH:MM:SS then Z (20 chars) or ±hh:mm (25 chars); nothing else.
  if (s.size() != 20 && s.size() != 25) return std::nullopt;
  auto date = read_date(s);
  if (!date || s[10] != 'T' || s[13] != ':' || s[16] != ':') return std::nullopt;
  auto hour = read_digits(s, 11, 2);
  auto minute = read_digits(s, 14, 2);
  auto second = read_digits(s, 17, 2);
  // Hour 24 and leap seconds (:60) are rejected: strict, like the wire format we emit.
  if (!hour || !minute || !second || *hour > 23 || *minute > 59 || *second > 59) {
    return std::nullopt;
  }
  std::int64_t offset = 0;
  if (s.size() == 20) {
    if (s[19] != 'Z') return std::nullopt;
  } else {
    const char sign = s[19];
    if ((sign != '+' && sign != '-') || s[22] != ':') return std::nullopt;
    auto oh = read_digits(s, 20, 2);
    auto om = read_digits(s, 23, 2);
    if (!oh || !om || *oh > 23 || *om > 59) return std::nullopt;
    offset = (static_cast<std::int64_t>(*oh) * 60 + *om) * 60;
    if (sign == '-') offset = -offset;
  }
  // Local wall time minus its offset; years are 0000–9999, so nothing overflows.
  const std::int64_t local = days_from_civil(*date) * kSecondsPerDay +
                             static_cast<std::int64_t>(*hour) * 3600 + *minute * 60 + *second;
  return local - offset;
}

std::optional<CivilDate> parse_date(std::string_view s) {
  if (s.size() != 10) return std::nullopt;
  return read_date(s);
}

}  // namespace renkei
