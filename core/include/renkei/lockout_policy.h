// The lockout rule of screens ② and ⑤ (SPEC §5): failures of the identity
// check and of the PIN check count together per account until a correct PIN
// resets them; the failure
// that reaches the limit locks API連携認証 for that account until 0:00 JST of the
// next day. Pure: the server persists LockState atomically.
#pragma once

#include <optional>

#include "renkei/error.h"
#include "renkei/time.h"

namespace renkei {

// What the server stores per account.
struct LockState {
  int failures = 0;                       // consecutive failures so far
  std::optional<UnixSeconds> locked_until;  // set while a lock is in force
  friend bool operator==(const LockState&, const LockState&) = default;
};

class LockoutPolicy {
 public:
  static constexpr int kDefaultLimit = 5;
  explicit LockoutPolicy(int limit = kDefaultLimit);

  int limit() const { return limit_; }

  // The state as it stands at `now`: a lock whose time has come is lifted and
  // its failure count cleared.
  LockState effective(const LockState& stored, UnixSeconds now) const;
  bool is_locked(const LockState& stored, UnixSeconds now) const;

  struct FailureOutcome {
    LockState next;
    ErrorCode code;  // auth_mismatch, locked_now, or locked when already locked
  };
  // One more failed check at `now`.
  FailureOutcome on_failure(const LockState& stored, UnixSeconds now) const;
  // The whole identity proven (a correct PIN at ⑤): the count starts again
  // from zero (a lock in force stays). A correct ② alone never calls this.
  LockState on_success(const LockState& stored, UnixSeconds now) const;
  // Staff lifted the lock early.
  static LockState lifted() { return LockState{}; }

  // When a lock taken at `now` lifts: 0:00 JST of the next day.
  static UnixSeconds lift_time(UnixSeconds now) { return next_jst_midnight(now); }

 private:
  int limit_;
};

}  // namespace renkei
