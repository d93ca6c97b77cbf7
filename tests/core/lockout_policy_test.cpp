#include "renkei/lockout_policy.h"

#include <gtest/gtest.h>

#include <limits>

namespace renkei {
namespace {

// 2026-11-25 14:00 JST (a Wednesday); the next JST midnight is 2026-11-26 00:00
// JST = 2026-11-25T15:00:00Z, i.e. 15:00 UTC of the *previous* UTC day.
const UnixSeconds kNow = from_jst({2026, 11, 25}, 14);
const UnixSeconds kMidnight = from_jst({2026, 11, 26});

TEST(LockoutPolicy, MidnightIsFifteenHundredUtcOfThePreviousUtcDay) {
  EXPECT_EQ(kMidnight, *parse_iso_instant("2026-11-25T15:00:00Z"));
  EXPECT_EQ(LockoutPolicy::lift_time(kNow), kMidnight);
}

TEST(LockoutPolicy, DefaultLimitIsFive) {
  EXPECT_EQ(LockoutPolicy().limit(), 5);
  EXPECT_EQ(LockoutPolicy::kDefaultLimit, 5);
}

TEST(LockoutPolicy, LimitBelowOneIsOne) {
  for (int limit : {1, 0, -1, std::numeric_limits<int>::min()}) {
    const LockoutPolicy p(limit);
    EXPECT_EQ(p.limit(), 1) << limit;
    const auto out = p.on_failure(LockState{}, kNow);
    EXPECT_EQ(out.code, ErrorCode::locked_now) << limit;
    EXPECT_EQ(out.next.locked_until, kMidnight);
  }
}

TEST(LockoutPolicy, FourFailuresThenTheFifthLocks) {
  const LockoutPolicy p;
  LockState s;
  for (int i = 1; i <= 4; ++i) {
    const auto out = p.on_failure(s, kNow + i);
    EXPECT_EQ(out.code, ErrorCode::auth_mismatch) << i;
    EXPECT_EQ(out.next.failures, i);
    EXPECT_FALSE(out.next.locked_until.has_value());
    EXPECT_FALSE(p.is_locked(out.next, kNow + i));
    s = out.next;
  }
  const auto fifth = p.on_failure(s, kNow + 5);
  EXPECT_EQ(fifth.code, ErrorCode::locked_now);
  EXPECT_EQ(fifth.next.failures, 5);
  EXPECT_EQ(fifth.next.locked_until, kMidnight);
  EXPECT_TRUE(p.is_locked(fifth.next, kNow + 5));
}

TEST(LockoutPolicy, AttemptsWhileLockedAreLockedAndChangeNothing) {
  const LockoutPolicy p;
  const LockState locked{5, kMidnight};
  for (UnixSeconds t : {kNow, kNow + 3600, kMidnight - 1}) {
    const auto out = p.on_failure(locked, t);
    EXPECT_EQ(out.code, ErrorCode::locked) << format_jst(t);
    EXPECT_EQ(out.next, locked);
    EXPECT_TRUE(p.is_locked(locked, t));
    // A success while locked resets the count but the lock stays in force.
    const LockState after_success = p.on_success(locked, t);
    EXPECT_EQ(after_success.failures, 0);
    EXPECT_EQ(after_success.locked_until, kMidnight);
    EXPECT_TRUE(p.is_locked(after_success, t));
  }
}

TEST(LockoutPolicy, LockLiftsExactlyAtMidnightAndClearsTheCount) {
  const LockoutPolicy p;
  const LockState locked{5, kMidnight};
  EXPECT_TRUE(p.is_locked(locked, kMidnight - 1));
  EXPECT_EQ(p.effective(locked, kMidnight - 1), locked);
  EXPECT_FALSE(p.is_locked(locked, kMidnight));
  EXPECT_EQ(p.effective(locked, kMidnight), LockState{});
  EXPECT_EQ(p.effective(locked, kMidnight + 86400), LockState{});
  // The first failure after the lift counts from one again.
  const auto out = p.on_failure(locked, kMidnight);
  EXPECT_EQ(out.code, ErrorCode::auth_mismatch);
  EXPECT_EQ(out.next, (LockState{1, std::nullopt}));
}

TEST(LockoutPolicy, SuccessResetsTheCount) {
  const LockoutPolicy p;
  LockState s;
  for (int i = 0; i < 4; ++i) s = p.on_failure(s, kNow).next;
  EXPECT_EQ(s.failures, 4);
  s = p.on_success(s, kNow);
  EXPECT_EQ(s, LockState{});
  // Four more failures are again below the limit: the count is consecutive.
  for (int i = 0; i < 4; ++i) {
    const auto out = p.on_failure(s, kNow);
    EXPECT_EQ(out.code, ErrorCode::auth_mismatch);
    s = out.next;
  }
  EXPECT_EQ(p.on_failure(s, kNow).code, ErrorCode::locked_now);
}

TEST(LockoutPolicy, ConfigurableLimit) {
  struct Case {
    int limit;
  };
  for (const auto& c : {Case{1}, Case{2}, Case{3}, Case{10}}) {
    const LockoutPolicy p(c.limit);
    EXPECT_EQ(p.limit(), c.limit);
    LockState s;
    for (int i = 1; i < c.limit; ++i) {
      const auto out = p.on_failure(s, kNow);
      EXPECT_EQ(out.code, ErrorCode::auth_mismatch) << c.limit << " #" << i;
      s = out.next;
    }
    const auto out = p.on_failure(s, kNow);
    EXPECT_EQ(out.code, ErrorCode::locked_now) << c.limit;
    EXPECT_EQ(out.next.failures, c.limit);
    EXPECT_EQ(out.next.locked_until, kMidnight);
  }
}

TEST(LockoutPolicy, StoredCountAtOrAboveALoweredLimitLocksOnTheNextFailure) {
  const LockoutPolicy p(3);
  for (int stored : {3, 4, std::numeric_limits<int>::max()}) {
    const auto out = p.on_failure(LockState{stored, std::nullopt}, kNow);
    EXPECT_EQ(out.code, ErrorCode::locked_now) << stored;
    EXPECT_EQ(out.next.failures, 3);
    EXPECT_EQ(out.next.locked_until, kMidnight);
  }
}

TEST(LockoutPolicy, LockTimes) {
  // When a lock taken at a JST wall time lifts.
  struct Case {
    UnixSeconds taken;
    UnixSeconds lifts;
  };
  const Case cases[] = {
      {from_jst({2026, 11, 25}, 0, 0, 0), from_jst({2026, 11, 26})},
      {from_jst({2026, 11, 25}, 8, 59, 59),
       from_jst({2026, 11, 26})},                                     // 23:59:59 UTC the day before
      {from_jst({2026, 11, 25}, 9, 0, 0), from_jst({2026, 11, 26})},  // 00:00 UTC
      {from_jst({2026, 11, 25}, 23, 59, 59), from_jst({2026, 11, 26})},
      {from_jst({2025, 12, 31}, 12), from_jst({2026, 1, 1})},
      {from_jst({2028, 2, 28}, 12), from_jst({2028, 2, 29})},
      {from_jst({1969, 12, 31}, 12), from_jst({1970, 1, 1})},  // negative Unix time
  };
  const LockoutPolicy p(1);
  for (const auto& c : cases) {
    const auto out = p.on_failure(LockState{}, c.taken);
    EXPECT_EQ(out.next.locked_until, c.lifts) << format_jst(c.taken);
  }
}

TEST(LockoutPolicy, LockTakenAt235959LiftsOneSecondLater) {
  const LockoutPolicy p;
  const UnixSeconds taken = from_jst({2026, 11, 25}, 23, 59, 59);
  const auto out = p.on_failure(LockState{4, std::nullopt}, taken);
  EXPECT_EQ(out.code, ErrorCode::locked_now);
  EXPECT_EQ(out.next.locked_until, taken + 1);
  EXPECT_TRUE(p.is_locked(out.next, taken));
  EXPECT_FALSE(p.is_locked(out.next, taken + 1));
  EXPECT_EQ(p.on_failure(out.next, taken).code, ErrorCode::locked);
  EXPECT_EQ(p.on_failure(out.next, taken + 1).code, ErrorCode::auth_mismatch);
}

TEST(LockoutPolicy, LockTakenAtMidnightLastsTheWholeDay) {
  const LockoutPolicy p;
  const UnixSeconds taken = from_jst({2026, 11, 25});
  const auto out = p.on_failure(LockState{4, std::nullopt}, taken);
  EXPECT_EQ(out.next.locked_until, taken + 86400);
}

TEST(LockoutPolicy, StaffLiftClearsEverything) {
  EXPECT_EQ(LockoutPolicy::lifted(), LockState{});
  EXPECT_FALSE(LockoutPolicy().is_locked(LockoutPolicy::lifted(), kNow));
}

TEST(LockoutPolicy, NegativeStoredCountIsTreatedAsZero) {
  const LockoutPolicy p;
  const auto out = p.on_failure(LockState{-7, std::nullopt}, kNow);
  EXPECT_EQ(out.code, ErrorCode::auth_mismatch);
  EXPECT_EQ(out.next.failures, 1);
}

}  // namespace
}  // namespace renkei
