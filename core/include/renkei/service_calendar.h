// When the service is closed (SPEC §6), in JST. The recurring windows come from
// the manual; extra windows are announced by staff and come from configuration.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "renkei/time.h"

namespace renkei {

enum class ClosureKind {
  daily_midnight,      // every day 00:00–00:01
  daily_early_morning, // every day 04:00–04:05
  monday_batch,        // 1st and 3rd Monday 02:00–06:00
  sunday_maintenance,  // 23:50 the day before the 2nd/4th Sunday – 07:00 that Sunday
  new_year,            // 1–3 January 00:00–08:00 and 19:00–24:00
  announced,           // an extra window from configuration
};
std::string_view closure_kind_wire_name(ClosureKind k);

// A closed interval of time [start, end).
struct Closure {
  ClosureKind kind;
  UnixSeconds start = 0;
  UnixSeconds end = 0;
  std::string label;  // for announced windows: the staff's label
  friend bool operator==(const Closure&, const Closure&) = default;
};

// An extra maintenance window [start, end) announced by staff.
struct MaintenanceWindow {
  UnixSeconds start = 0;
  UnixSeconds end = 0;
  std::string label;
  friend bool operator==(const MaintenanceWindow&, const MaintenanceWindow&) = default;
};

class ServiceCalendar {
 public:
  ServiceCalendar() = default;
  explicit ServiceCalendar(std::vector<MaintenanceWindow> extra);

  // True when no closure covers t.
  bool is_open(UnixSeconds t) const;
  // The closure covering t; when several overlap, the one that ends last (so
  // that its end is a better guess of when the service reopens).
  std::optional<Closure> closure_at(UnixSeconds t) const;
  // The first instant >= t at which the service is open (t itself when open),
  // following chains of overlapping or adjoining closures.
  UnixSeconds next_open(UnixSeconds t) const;
  // Every closure that intersects [from, to), ordered by start then kind.
  // Looks at most 400 days past `from`: a longer range is cut to [from, from + 400 days).
  std::vector<Closure> closures_between(UnixSeconds from, UnixSeconds to) const;

  const std::vector<MaintenanceWindow>& extra_windows() const { return extra_; }

 private:
  std::vector<MaintenanceWindow> extra_;
};

}  // namespace renkei
