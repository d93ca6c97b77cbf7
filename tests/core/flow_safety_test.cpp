// Exhaustive check of the flow's safety properties: every sequence of events
// and clock moves from a small alphabet, up to kDepth steps, is run through
// step(), and after each step the properties below are asserted. Identical
// (state, clock, stored lock, order) nodes are explored once (breadth first, so
// at their shallowest depth): step() is a pure function of them, so every
// sequence that reaches such a node continues exactly as the explored one.
//
// Properties:
//  P1 consent and completed are reached only after identity, call and PIN were
//     established, in that order (the test tracks the order itself), and no
//     screen is reached without the facts of the screens before it;
//  P2 each fact is established only by its own event, on its own screen, with
//     its prerequisites (the call with verified_at = now inside the window);
//  P3 a locked lock never lets ② or ⑤ advance;
//  P4 after call_expired on 確定する the flow is on ① with every fact cleared;
//  P5 terminal states accept nothing and stay unchanged;
//  P6 a refused event changes nothing (except the idle expiry and P4);
//  P7 facts are never lost except by P4, and the lock count follows the rule.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <iostream>
#include <sstream>
#include <string>
#include <unordered_set>
#include <vector>

#include "renkei/flow.h"

namespace renkei {
namespace {

// 8 covers the 7 events of the happy path plus one more move anywhere (about
// 4 s in Debug). RENKEI_SAFETY_DEPTH=9 or more explores deeper (9: ~10 s).
constexpr int kDefaultDepth = 8;
int depth_limit() {
  const char* env = std::getenv("RENKEI_SAFETY_DEPTH");
  if (!env) return kDefaultDepth;
  const int d = std::atoi(env);
  return d >= 1 && d <= 12 ? d : kDefaultDepth;
}

// Wednesday 2026-11-25 03:50 JST: the daily 04:00–04:05 closure is 10 minutes
// away, close enough to jump into without the flow going idle.
const UnixSeconds kStart = from_jst({2026, 11, 25}, 3, 50, 0);
const std::string kPhone = "09011112222";
const std::string kTollFree = "0120111111";

enum Action : std::uint8_t {
  kAccountValid,
  kAccountInvalid,
  kCustomerMatch,
  kCustomerMatchLocked,
  kCustomerNotEligible,
  kCustomerNotEligibleLocked,
  kCustomerMismatch,
  kCustomerMismatchLocked,
  kConfirmPhone,
  kCallMatching,
  kCallWithheld,
  kCallWrongNumber,
  kConfirmCall,
  kPinMatch,
  kPinMatchLocked,
  kPinMismatch,
  kPinMismatchLocked,
  kConsentYes,
  kConsentNo,
  kCancel,
  // clock moves
  kPlus1,
  kPlus119,
  kPlus121,
  kPlusDay,
  kMinus200,
  kIntoClosure,
  kActionCount
};

const char* const kActionNames[kActionCount] = {"account(valid)",
                                                "account(invalid)",
                                                "customer(match)",
                                                "customer(match,locked)",
                                                "customer(not_eligible)",
                                                "customer(not_eligible,locked)",
                                                "customer(mismatch)",
                                                "customer(mismatch,locked)",
                                                "confirm_phone",
                                                "call(matching)",
                                                "call(withheld)",
                                                "call(wrong number)",
                                                "confirm_call",
                                                "pin(match)",
                                                "pin(match,locked)",
                                                "pin(mismatch)",
                                                "pin(mismatch,locked)",
                                                "consent(yes)",
                                                "consent(no)",
                                                "cancel",
                                                "+1s",
                                                "+119s",
                                                "+121s",
                                                "+1day",
                                                "-200s",
                                                "into closure"};

bool is_clock(int a) {
  return a >= kPlus1;
}
bool uses_forced_lock(int a) {
  return a == kCustomerMatchLocked || a == kCustomerNotEligibleLocked ||
         a == kCustomerMismatchLocked || a == kPinMatchLocked || a == kPinMismatchLocked;
}

struct Node {
  FlowState s;
  UnixSeconds now = kStart;
  LockState lock;     // what the server stores for the account
  std::string order;  // facts in the order they were established: "I", "IC", "ICP", "ICPK"
  std::vector<std::uint8_t> path;
};

// A compact identity of a node (the path is not part of it).
std::string key(const Node& n) {
  const FlowState& s = n.s;
  std::string k;
  k.reserve(160);
  auto num = [&k](std::int64_t v) {
    k += std::to_string(v);
    k += ',';
  };
  num(static_cast<int>(s.screen));
  num(s.started_at);
  num(s.last_activity);
  k += s.account ? s.account->branch + s.account->number : "-";
  k += s.identity_verified ? 'I' : '.';
  k += s.call_verified ? 'C' : '.';
  k += s.pin_verified ? 'P' : '.';
  k += s.consent_given ? 'K' : '.';
  k += s.phone + '|' + s.email + '|' + s.name_kana + '|';
  if (s.call) {
    k += s.call->dialled_number + '|';
    num(s.call->opened_at);
    num(s.call->expires_at);
    num(s.call->verified_at ? *s.call->verified_at : -1);
  }
  k += '|';
  num(n.now);
  num(n.lock.failures);
  num(n.lock.locked_until ? *n.lock.locked_until : -1);
  k += n.order;
  return k;
}

LockState forced_lock(UnixSeconds now) {
  return {5, next_jst_midnight(now)};
}

FlowEvent event_for(int a, const Node& n) {
  const LockState lock = uses_forced_lock(a) ? forced_lock(n.now) : n.lock;
  const CustomerForm customer{"ﾃﾞｰﾀ ｻﾄﾙ", "1980",         "01",          "15",
                              kPhone,     "a@example.jp", "a@example.jp"};
  switch (a) {
    case kAccountValid:
      return SubmitAccount{{"115", "ordinary", "1100026"}};
    case kAccountInvalid:
      return SubmitAccount{{"11", "", "12345678"}};
    case kCustomerMatch:
    case kCustomerMatchLocked:
      return SubmitCustomer{customer, IdentityCheck::match, lock};
    case kCustomerNotEligible:
    case kCustomerNotEligibleLocked:
      return SubmitCustomer{customer, IdentityCheck::account_not_eligible, lock};
    case kCustomerMismatch:
    case kCustomerMismatchLocked:
      return SubmitCustomer{customer, IdentityCheck::mismatch, lock};
    case kConfirmPhone:
      return ConfirmPhone{kTollFree};
    case kCallMatching:
      return IncomingCall{kPhone, kTollFree};
    case kCallWithheld:
      return IncomingCall{std::nullopt, kTollFree};
    case kCallWrongNumber:
      return IncomingCall{kPhone, "0120999999"};
    case kConfirmCall:
      return ConfirmCall{};
    case kPinMatch:
    case kPinMatchLocked:
      return SubmitPin{{"1234"}, PinCheck::match, lock};
    case kPinMismatch:
    case kPinMismatchLocked:
      return SubmitPin{{"9999"}, PinCheck::mismatch, lock};
    case kConsentYes:
      return SubmitConsent{{true}};
    case kConsentNo:
      return SubmitConsent{{false}};
    default:
      return Cancel{};
  }
}

UnixSeconds clock_after(int a, UnixSeconds now) {
  switch (a) {
    case kPlus1:
      return now + 1;
    case kPlus119:
      return now + 119;
    case kPlus121:
      return now + 121;
    case kPlusDay:
      return now + kSecondsPerDay;
    case kMinus200:
      return now - 200;
    default: {
      // 04:02 JST, today's if still ahead, else tomorrow's: inside 04:00–04:05.
      const UnixSeconds today = from_jst(jst_date(now), 4, 2, 0);
      return today > now ? today : today + kSecondsPerDay;
    }
  }
}

class Checker {
 public:
  explicit Checker(const FlowConfig& cfg) : cfg_(cfg) {}

  int failures = 0;
  std::string first_failure;

  void expect(bool ok, const char* property, const Node& from, int action) {
    if (ok) return;
    if (++failures > 1) return;
    std::ostringstream m;
    m << property << " after:";
    for (auto a : from.path) m << ' ' << kActionNames[a];
    m << ' ' << kActionNames[action] << " (at " << format_jst(from.now) << ")";
    first_failure = m.str();
  }

  // Runs one event from `n`; returns the next node.
  Node run(const Node& n, int a) {
    const FlowEvent e = event_for(a, n);
    const FlowTransition t = step(n.s, e, n.now, cfg_);
    const FlowState& p = n.s;
    const FlowState& q = t.state;
    const FlowOutcome& o = t.outcome;
    Node next{q, n.now, n.lock, n.order, n.path};
    next.path.push_back(static_cast<std::uint8_t>(a));
    if (o.lock_update && !uses_forced_lock(a)) next.lock = *o.lock_update;

    // P5
    if (is_terminal(p.screen)) {
      expect(q == p && !o.accepted && o.error == ErrorCode::invalid_step && !o.lock_update,
             "P5 terminal state changed or accepted", n, a);
      return next;
    }
    const bool reset = o.error == ErrorCode::call_expired && std::holds_alternative<ConfirmCall>(e);
    // P4
    if (reset) {
      FlowState fresh = start_flow(p.started_at);
      fresh.last_activity = n.now;
      expect(q == fresh && p.screen == Screen::call_wait, "P4 call_expired did not reset to ①", n,
             a);
      next.order.clear();
    }
    // P6
    if (!o.accepted && !reset) {
      FlowState expected = p;
      if (o.error == ErrorCode::session_expired) expected.screen = Screen::expired;
      expect(q == expected, "P6 refused event changed the state", n, a);
      expect(o.error.has_value(), "P6 refused event without an error", n, a);
    }
    if (o.accepted) {
      expect(!o.error, "accepted with an error", n, a);
      const bool webhook = std::holds_alternative<IncomingCall>(e);
      expect(q.last_activity == (webhook ? p.last_activity : n.now),
             "accepted event and last_activity", n, a);
    }
    // P3
    if ((std::holds_alternative<SubmitCustomer>(e) || std::holds_alternative<SubmitPin>(e))) {
      const LockState& used = std::holds_alternative<SubmitCustomer>(e)
                                  ? std::get<SubmitCustomer>(e).lock
                                  : std::get<SubmitPin>(e).lock;
      if (cfg_.lockout.is_locked(used, n.now)) {
        expect(!o.accepted && (q.screen == p.screen || q.screen == Screen::expired) &&
                   q.identity_verified == p.identity_verified && q.pin_verified == p.pin_verified,
               "P3 locked lock let the flow advance", n, a);
        expect(!o.lock_update, "P3 locked attempt changed the lock", n, a);
      }
    }
    // P2: each fact, by its own event, in order.
    if (!p.identity_verified && q.identity_verified) {
      const auto* c = std::get_if<SubmitCustomer>(&e);
      expect(c && c->check == IdentityCheck::match && p.screen == Screen::customer_entry &&
                 q.screen == Screen::phone_confirm && p.account && n.order.empty() &&
                 !cfg_.lockout.is_locked(c->lock, n.now) && q.phone == kPhone,
             "P2 identity established wrongly", n, a);
      next.order += 'I';
    }
    if (!p.call_verified && q.call_verified) {
      const auto* c = std::get_if<IncomingCall>(&e);
      expect(c && c->caller == kPhone && p.screen == Screen::call_wait &&
                 q.screen == Screen::call_wait && n.order == "I" && q.call &&
                 q.call->verified_at == n.now && q.call->opened_at <= n.now &&
                 n.now <= q.call->expires_at,
             "P2 call established wrongly", n, a);
      next.order += 'C';
    }
    if (!p.pin_verified && q.pin_verified) {
      const auto* c = std::get_if<SubmitPin>(&e);
      expect(c && c->check == PinCheck::match && p.screen == Screen::pin_entry && n.order == "IC" &&
                 !cfg_.lockout.is_locked(c->lock, n.now),
             "P2 PIN established wrongly", n, a);
      next.order += 'P';
    }
    if (!p.consent_given && q.consent_given) {
      const auto* c = std::get_if<SubmitConsent>(&e);
      expect(c && c->form.consent && n.order == "ICP" && q.screen == Screen::completed,
             "P2 consent given wrongly", n, a);
      next.order += 'K';
    }
    // P7
    if (!reset) {
      expect((!p.identity_verified || q.identity_verified) &&
                 (!p.call_verified || q.call_verified) && (!p.pin_verified || q.pin_verified),
             "P7 a fact was lost", n, a);
    }
    if (o.error == ErrorCode::auth_mismatch || o.error == ErrorCode::locked_now) {
      const LockState before = cfg_.lockout.effective(std::holds_alternative<SubmitCustomer>(e)
                                                          ? std::get<SubmitCustomer>(e).lock
                                                          : std::get<SubmitPin>(e).lock,
                                                      n.now);
      expect(o.lock_update && o.lock_update->failures == before.failures + 1,
             "P7 a failure did not count once", n, a);
      expect((o.error == ErrorCode::locked_now) ==
                 (o.lock_update && o.lock_update->failures >= cfg_.lockout.limit()),
             "P7 locked_now not at the limit", n, a);
    }
    // P1 (each screen only with the facts before it)
    const bool fits = [&] {
      switch (q.screen) {
        case Screen::account_entry:
          return !q.identity_verified && !q.call_verified && !q.pin_verified;
        case Screen::customer_entry:
          return q.account && !q.identity_verified;
        case Screen::phone_confirm:
          return q.account && q.identity_verified && !q.call_verified;
        case Screen::call_wait:
          return q.account && q.identity_verified && q.call && !q.pin_verified;
        case Screen::pin_entry:
          return q.account && q.identity_verified && q.call_verified && !q.pin_verified &&
                 next.order == "IC";
        default:
          return true;
      }
    }();
    expect(fits, "P1 a screen was reached without the facts before it", n, a);
    if (q.screen == Screen::consent || q.screen == Screen::completed) {
      expect(q.identity_verified && q.call_verified && q.pin_verified && q.call &&
                 q.call->verified_at && q.call->opened_at <= *q.call->verified_at &&
                 *q.call->verified_at <= q.call->expires_at &&
                 next.order == (q.screen == Screen::completed ? "ICPK" : "ICP"),
             "P1 consent/completed without the three facts in order", n, a);
    }
    return next;
  }

 private:
  const FlowConfig& cfg_;
};

TEST(FlowSafety, EverySequenceKeepsTheInvariants) {
  const auto started = std::chrono::steady_clock::now();
  const int kDepth = depth_limit();
  FlowConfig cfg;
  Checker check(cfg);

  Node root;
  root.s = start_flow(kStart);
  std::vector<Node> frontier{root};
  std::unordered_set<std::string> visited{key(root)};
  std::uint64_t transitions = 0;
  std::uint64_t terminal_nodes = 0;
  std::uint64_t completed_nodes = 0;
  std::uint64_t reset_nodes = 0;
  bool screens_seen[kScreenCount] = {};

  for (int depth = 1; depth <= kDepth && !frontier.empty(); ++depth) {
    std::vector<Node> next_frontier;
    for (const Node& n : frontier) {
      for (int a = 0; a < kActionCount; ++a) {
        ++transitions;
        Node m;
        if (is_clock(a)) {
          m = n;
          m.now = clock_after(a, n.now);
          m.path.push_back(static_cast<std::uint8_t>(a));
        } else {
          m = check.run(n, a);
          if (check.failures > 0) break;
        }
        screens_seen[static_cast<int>(m.s.screen)] = true;
        if (!visited.insert(key(m)).second) continue;
        if (m.s.screen == Screen::completed) ++completed_nodes;
        if (m.s.screen == Screen::account_entry && m.s.last_activity != m.s.started_at &&
            !m.s.account) {
          ++reset_nodes;
        }
        if (is_terminal(m.s.screen)) {
          // P5 for every event at this node; nothing can happen after, so
          // the node is not expanded further.
          ++terminal_nodes;
          for (int b = 0; b < kActionCount; ++b) {
            if (!is_clock(b)) {
              check.run(m, b);
              ++transitions;
            }
          }
          continue;
        }
        if (depth < kDepth) next_frontier.push_back(std::move(m));
      }
      if (check.failures > 0) break;
    }
    ASSERT_EQ(check.failures, 0) << check.first_failure;
    frontier = std::move(next_frontier);
  }
  ASSERT_EQ(check.failures, 0) << check.first_failure;

  // The alphabet really drives the flow everywhere.
  for (int s = 0; s < kScreenCount; ++s) {
    EXPECT_TRUE(screens_seen[s]) << screen_wire_name(static_cast<Screen>(s));
  }
  EXPECT_GT(completed_nodes, 0u);
  EXPECT_GT(reset_nodes, 0u);

  std::uint64_t sequences = 0;
  std::uint64_t power = 1;
  for (int d = 1; d <= kDepth; ++d) {
    power *= kActionCount;
    sequences += power;
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  std::cout << "[ safety   ] " << static_cast<int>(kActionCount) << " actions, depth " << kDepth
            << ": " << sequences << " sequences covered by " << transitions << " transitions over "
            << visited.size() << " distinct nodes (" << terminal_nodes << " terminal, "
            << completed_nodes << " completed, " << reset_nodes << " after call_expired) in "
            << seconds << " s\n";
  RecordProperty("sequences", std::to_string(sequences));
  RecordProperty("transitions", std::to_string(transitions));
}

}  // namespace
}  // namespace renkei
