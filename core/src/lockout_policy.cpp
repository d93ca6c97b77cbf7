// SPEC §5. Consecutive failures lock API連携認証 for the account until 0:00 JST
// of the next day. The policy is a pure function of the stored state and `now`;
// the server persists the result atomically so that concurrent wrong attempts
// cannot both slip under the limit.
#include "renkei/lockout_policy.h"

namespace renkei {

LockoutPolicy::LockoutPolicy(int limit) : limit_(limit < 1 ? 1 : limit) {}

LockState LockoutPolicy::effective(const LockState& stored, UnixSeconds now) const {
  // A lock lifts at the instant locked_until (half-open: locked while now < until),
  // and with it the failure count that caused it.
  if (stored.locked_until && *stored.locked_until <= now) return LockState{};
  LockState out = stored;
  if (out.failures < 0) out.failures = 0;  // a corrupt count never helps an attacker
  return out;
}

bool LockoutPolicy::is_locked(const LockState& stored, UnixSeconds now) const {
  return effective(stored, now).locked_until.has_value();
}

LockoutPolicy::FailureOutcome LockoutPolicy::on_failure(const LockState& stored,
                                                        UnixSeconds now) const {
  LockState state = effective(stored, now);
  if (state.locked_until) return {state, ErrorCode::locked};
  // Saturate at the limit: a stored count at or above it (e.g. after the limit
  // was lowered in configuration) locks on the next failure, and never overflows.
  state.failures = state.failures >= limit_ ? limit_ : state.failures + 1;
  if (state.failures >= limit_) {
    state.locked_until = lift_time(now);
    return {state, ErrorCode::locked_now};
  }
  return {state, ErrorCode::auth_mismatch};
}

LockState LockoutPolicy::on_success(const LockState& stored, UnixSeconds now) const {
  LockState state = effective(stored, now);
  state.failures = 0;
  return state;
}

}  // namespace renkei
