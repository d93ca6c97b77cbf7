// The transitions of step() (renkei/flow.h), one by one, including every error
// row of the manual that the flow itself can produce.
#include "renkei/flow.h"

#include <gtest/gtest.h>

#include <set>

#include <iterator>
#include <string>
#include <vector>

namespace renkei {
namespace {

// Wednesday 2026-11-25 10:00 JST: no closure anywhere near.
const UnixSeconds kT0 = from_jst({2026, 11, 25}, 10, 0, 0);
// 2026-11-25 00:00:30 JST: inside the daily midnight closure (00:00–00:01).
const UnixSeconds kClosed = from_jst({2026, 11, 25}, 0, 0, 30);

const std::string kPhone = "09011112222";
const std::string kTollFree = "0120111111";

AccountForm good_account() {
  return {"115", "ordinary", "1100026"};
}
CustomerForm good_customer() {
  return {"ﾃﾞｰﾀ ｻﾄﾙ", "1980", "01", "15", kPhone, "taro@example.jp", "taro@example.jp"};
}
SubmitCustomer customer(IdentityCheck check, LockState lock = {}) {
  return {good_customer(), check, lock};
}
SubmitPin pin(PinCheck check, LockState lock = {}, std::string value = "1234") {
  return {PinForm{std::move(value)}, check, lock};
}
IncomingCall matching_call() {
  return {kPhone, kTollFree};
}

FlowConfig config() {
  return FlowConfig{};
}

// Drives a flow from ① to `target` with valid input, 10 s per step. Reaching
// call_wait stops right after 電話番号の決定 (no call yet).
struct Driver {
  FlowState state = start_flow(kT0);
  UnixSeconds now = kT0;
  FlowConfig cfg = config();

  FlowOutcome apply(const FlowEvent& e, UnixSeconds dt = 10) {
    now += dt;
    FlowTransition t = step(state, e, now, cfg);
    state = t.state;
    return t.outcome;
  }
  void reach(Screen target) {
    const std::vector<std::pair<Screen, FlowEvent>> path = {
        {Screen::account_entry, SubmitAccount{good_account()}},
        {Screen::customer_entry, customer(IdentityCheck::match)},
        {Screen::phone_confirm, ConfirmPhone{kTollFree}},
        {Screen::call_wait, matching_call()},
        {Screen::call_wait, ConfirmCall{}},
        {Screen::pin_entry, pin(PinCheck::match)},
        {Screen::consent, SubmitConsent{ConsentForm{true}}},
    };
    for (const auto& [from, event] : path) {
      if (state.screen == target) return;
      ASSERT_EQ(state.screen, from);
      FlowOutcome o = apply(event);
      ASSERT_TRUE(o.accepted) << event_wire_name(event);
    }
    ASSERT_EQ(state.screen, target);
  }
};

Driver at(Screen s) {
  Driver d;
  d.reach(s);
  return d;
}

// ----- the screens table -----

struct ScreenRow {
  Screen screen;
  const char* wire;
  const char* id;
  const char* title;
  bool terminal;
};

TEST(FlowScreens, NamesIdsAndTitles) {
  const ScreenRow rows[] = {
      {Screen::account_entry, "account_entry", "SOA201", "API連携認証（ご利用口座情報入力）",
       false},
      {Screen::customer_entry, "customer_entry", "SOA202", "API連携認証（お客様情報入力）", false},
      {Screen::phone_confirm, "phone_confirm", "SOA208", "API連携認証（電話番号の確認）", false},
      {Screen::call_wait, "call_wait", "SOA209", "API連携認証（電話番号認証）", false},
      {Screen::pin_entry, "pin_entry", "SOA211", "API連携認証（キャッシュカード暗証番号認証）",
       false},
      {Screen::consent, "consent", "SOA206", "API連携認証（情報連携認可）", false},
      {Screen::completed, "completed", "", "API連携認証の完了", true},
      {Screen::cancelled, "cancelled", "", "API連携認証の中止", true},
      {Screen::expired, "expired", "", "API連携認証の有効期限切れ", true},
  };
  ASSERT_EQ(std::size(rows), static_cast<std::size_t>(kScreenCount));
  for (const auto& r : rows) {
    SCOPED_TRACE(r.wire);
    EXPECT_EQ(screen_wire_name(r.screen), r.wire);
    EXPECT_EQ(screen_id(r.screen), r.id);
    EXPECT_EQ(screen_title_ja(r.screen), r.title);
    EXPECT_EQ(is_terminal(r.screen), r.terminal);
    EXPECT_EQ(screen_from_wire(r.wire), r.screen);
  }
  EXPECT_EQ(screen_from_wire("SOA201"), std::nullopt);
  EXPECT_EQ(screen_from_wire(""), std::nullopt);
  EXPECT_EQ(screen_from_wire("Account_entry"), std::nullopt);
}

TEST(FlowEvents, WireNames) {
  const std::vector<std::pair<FlowEvent, const char*>> rows = {
      {SubmitAccount{}, "submit_account"}, {SubmitCustomer{}, "submit_customer"},
      {ConfirmPhone{}, "confirm_phone"},   {IncomingCall{}, "incoming_call"},
      {ConfirmCall{}, "confirm_call"},     {SubmitPin{}, "submit_pin"},
      {SubmitConsent{}, "submit_consent"}, {Cancel{}, "cancel"},
  };
  for (const auto& [e, name] : rows) EXPECT_EQ(event_wire_name(e), name);
}

TEST(FlowStart, StartsOnAccountEntryWithNothingKnown) {
  FlowState s = start_flow(kT0);
  EXPECT_EQ(s.screen, Screen::account_entry);
  EXPECT_EQ(s.started_at, kT0);
  EXPECT_EQ(s.last_activity, kT0);
  EXPECT_FALSE(s.account);
  EXPECT_FALSE(s.identity_verified || s.call_verified || s.pin_verified || s.consent_given);
  EXPECT_FALSE(s.call);
  EXPECT_TRUE(s.phone.empty() && s.email.empty() && s.name_kana.empty());
}

// ----- ① -----

TEST(FlowAccount, ValidFormGoesToCustomerEntry) {
  Driver d;
  FlowOutcome o = d.apply(SubmitAccount{{"１１５", "ordinary", "123"}});
  EXPECT_TRUE(o.accepted);
  EXPECT_FALSE(o.error);
  EXPECT_EQ(d.state.screen, Screen::customer_entry);
  ASSERT_TRUE(d.state.account);
  EXPECT_EQ(d.state.account->branch, "115");  // normalized
  EXPECT_EQ(d.state.account->type, AccountType::ordinary);
  EXPECT_EQ(d.state.account->number, "0000123");  // padded to 7
  EXPECT_EQ(d.state.last_activity, d.now);
}

struct FormErrorRow {
  const char* name;
  AccountForm form;
  ErrorCode summary;
  bool dialog;
  std::vector<Field> fields;
};

TEST(FlowAccount, FormErrorsStayOnAccountEntry) {
  const FormErrorRow rows[] = {
      {"all empty (manual 画面① エラー事例)",
       {"", "", ""},
       ErrorCode::required,
       true,
       {Field::branch, Field::account_type, Field::account_number}},
      {"number empty", {"115", "ordinary", ""}, ErrorCode::required, true, {Field::account_number}},
      {"branch 2 digits",
       {"11", "ordinary", "1100026"},
       ErrorCode::invalid_input,
       false,
       {Field::branch}},
      {"type unknown",
       {"115", "current", "1100026"},
       ErrorCode::invalid_input,
       false,
       {Field::account_type}},
      {"number 8 digits",
       {"115", "savings", "12345678"},
       ErrorCode::invalid_input,
       false,
       {Field::account_number}},
  };
  for (const auto& r : rows) {
    SCOPED_TRACE(r.name);
    Driver d;
    FlowState before = d.state;
    FlowOutcome o = d.apply(SubmitAccount{r.form});
    EXPECT_FALSE(o.accepted);
    EXPECT_EQ(o.error, r.summary);
    EXPECT_EQ(o.show_required_dialog, r.dialog);
    std::vector<Field> got;
    for (const auto& e : o.field_errors) got.push_back(e.field);
    EXPECT_EQ(got, r.fields);
    EXPECT_EQ(d.state, before);  // not even last_activity moves
    EXPECT_FALSE(o.lock_update);
  }
}

// ----- ② -----

// SPEC §5 (amended): a correct ② leaves the failure count alone; only a
// correct PIN resets it (else PIN guesses could be wiped by each new flow).
TEST(FlowCustomer, MatchGoesToPhoneConfirmAndKeepsTheCount) {
  Driver d = at(Screen::customer_entry);
  FlowOutcome o = d.apply(customer(IdentityCheck::match, LockState{3, std::nullopt}));
  EXPECT_TRUE(o.accepted);
  EXPECT_FALSE(o.error);
  EXPECT_EQ(d.state.screen, Screen::phone_confirm);
  EXPECT_TRUE(d.state.identity_verified);
  EXPECT_EQ(d.state.phone, kPhone);
  EXPECT_EQ(d.state.name_kana, "ﾃﾞｰﾀ ｻﾄﾙ");
  EXPECT_EQ(d.state.email, "taro@example.jp");
  EXPECT_FALSE(o.lock_update);
}

struct CustomerErrorRow {
  const char* name;
  IdentityCheck check;
  LockState lock;
  ErrorCode code;
  std::optional<LockState> lock_update;
};

TEST(FlowCustomer, RecordCheckErrorsStayOnCustomerEntry) {
  const UnixSeconds now = kT0 + 20;  // the second step of the driver
  const UnixSeconds midnight = from_jst({2026, 11, 26});
  const CustomerErrorRow rows[] = {
      {"manual No.1 account_not_eligible",
       IdentityCheck::account_not_eligible,
       {},
       ErrorCode::account_not_eligible,
       std::nullopt},
      {"manual No.1 not counted even with failures",
       IdentityCheck::account_not_eligible,
       {4, std::nullopt},
       ErrorCode::account_not_eligible,
       std::nullopt},
      {"manual No.2 auth_mismatch (1st)",
       IdentityCheck::mismatch,
       {},
       ErrorCode::auth_mismatch,
       LockState{1, std::nullopt}},
      {"manual No.2 auth_mismatch (4th)",
       IdentityCheck::mismatch,
       {3, std::nullopt},
       ErrorCode::auth_mismatch,
       LockState{4, std::nullopt}},
      {"manual No.3 locked_now at the 5th",
       IdentityCheck::mismatch,
       {4, std::nullopt},
       ErrorCode::locked_now,
       LockState{5, midnight}},
      {"manual No.4 locked (B84) on mismatch",
       IdentityCheck::mismatch,
       {5, midnight},
       ErrorCode::locked,
       std::nullopt},
      {"manual No.4 locked (B84) even on a match",
       IdentityCheck::match,
       {5, midnight},
       ErrorCode::locked,
       std::nullopt},
  };
  for (const auto& r : rows) {
    SCOPED_TRACE(r.name);
    Driver d = at(Screen::customer_entry);
    ASSERT_EQ(d.now + 10, now);
    FlowState before = d.state;
    FlowOutcome o = d.apply(customer(r.check, r.lock));
    EXPECT_FALSE(o.accepted);
    EXPECT_EQ(o.error, r.code);
    EXPECT_EQ(o.lock_update, r.lock_update);
    EXPECT_TRUE(o.field_errors.empty());
    EXPECT_EQ(d.state, before);
  }
}

TEST(FlowCustomer, LockLiftsAtMidnightJst) {
  Driver d = at(Screen::customer_entry);
  const LockState lock{5, from_jst({2026, 11, 26})};
  FlowOutcome o = d.apply(customer(IdentityCheck::match, lock));
  EXPECT_EQ(o.error, ErrorCode::locked);
  // The next day (a new flow, after the daily closure): the lock is gone.
  Driver next;
  next.state = start_flow(from_jst({2026, 11, 26}, 9, 0, 0));
  next.now = next.state.started_at;
  next.reach(Screen::customer_entry);
  o = next.apply(customer(IdentityCheck::match, lock));
  EXPECT_TRUE(o.accepted);
  EXPECT_EQ(next.state.screen, Screen::phone_confirm);
  EXPECT_EQ(o.lock_update, LockState{});  // the lifted lock is written back as lifted
}

TEST(FlowCustomer, FormErrorsComeBeforeTheRecordCheck) {
  Driver d = at(Screen::customer_entry);
  FlowState before = d.state;
  CustomerForm f = good_customer();
  f.phone = "";
  f.email_confirm = "other@example.jp";
  FlowOutcome o = d.apply(SubmitCustomer{f, IdentityCheck::match, {5, kT0 + 100000}});
  EXPECT_FALSE(o.accepted);
  EXPECT_EQ(o.error, ErrorCode::required);
  EXPECT_TRUE(o.show_required_dialog);
  EXPECT_FALSE(o.lock_update);
  ASSERT_EQ(o.field_errors.size(), 2u);
  EXPECT_EQ(o.field_errors[0], (FieldError{Field::phone, ErrorCode::required}));
  EXPECT_EQ(o.field_errors[1], (FieldError{Field::email_confirm, ErrorCode::email_mismatch}));
  EXPECT_EQ(d.state, before);
}

TEST(FlowCustomer, BirthDateIsCheckedAgainstTodayInJst) {
  // 2026-11-25 00:30 UTC is already 09:30 on the 25th in JST; a birth date of
  // the 25th is today, not the future.
  Driver d;
  d.state = start_flow(from_jst({2026, 11, 25}, 9, 30, 0));
  d.now = d.state.started_at;
  d.reach(Screen::customer_entry);
  CustomerForm f = good_customer();
  f.birth_year = "2026";
  f.birth_month = "11";
  f.birth_day = "26";
  FlowOutcome o = d.apply(SubmitCustomer{f, IdentityCheck::match, {}});
  EXPECT_EQ(o.error, ErrorCode::invalid_input);
  ASSERT_EQ(o.field_errors.size(), 1u);
  EXPECT_EQ(o.field_errors[0].code, ErrorCode::date_in_future);
  f.birth_day = "25";
  o = d.apply(SubmitCustomer{f, IdentityCheck::match, {}});
  EXPECT_TRUE(o.accepted);
}

// ----- the screens table: what each screen submits and where it leads -----

// The table the page, the routes and the funnel are built from must say what
// step() does: walking a flow, each screen's own event leads to its `next`.
TEST(FlowScreens, TheTableSaysWhatStepDoes) {
  const std::vector<std::pair<Screen, FlowEvent>> path = {
      {Screen::account_entry, SubmitAccount{good_account()}},
      {Screen::customer_entry, customer(IdentityCheck::match)},
      {Screen::phone_confirm, ConfirmPhone{kTollFree}},
      {Screen::call_wait, matching_call()},
      {Screen::call_wait, ConfirmCall{}},
      {Screen::pin_entry, pin(PinCheck::match)},
      {Screen::consent, SubmitConsent{ConsentForm{true}}},
  };
  Driver d;
  std::set<Screen> seen;
  for (const auto& [from, event] : path) {
    ASSERT_EQ(d.state.screen, from);
    const ScreenFlow& row = screen_flow(from);
    const bool own = row.event == event_wire_name(event);
    ASSERT_TRUE(d.apply(event).accepted) << event_wire_name(event);
    if (own) {
      ASSERT_TRUE(row.next);
      EXPECT_EQ(d.state.screen, *row.next) << screen_wire_name(from);
      seen.insert(from);
    }
  }
  for (int i = 0; i < kScreenCount; ++i) {
    const auto s = static_cast<Screen>(i);
    EXPECT_EQ(seen.count(s) == 1, !is_terminal(s)) << screen_wire_name(s);
    EXPECT_EQ(screen_flow(s).endpoint.empty(), is_terminal(s)) << screen_wire_name(s);
  }
}

// Every field a form's validation reports is a control of that form in the
// table (birth_date is the three parts as a whole), so the page has it.
TEST(FlowScreens, EachFormsFieldsAreItsScreensControls) {
  auto controls = [](Screen s) {
    std::set<Field> out;
    for (Field f : screen_flow(s).fields) out.insert(f);
    return out;
  };
  auto validated = [](const FormResult& r) {
    std::set<Field> out;
    for (const auto& [f, v] : r.values) out.insert(f);
    for (const auto& e : r.errors) out.insert(e.field);
    out.erase(Field::birth_date);
    return out;
  };
  EXPECT_EQ(controls(Screen::account_entry), validated(validate_account_form({})));
  EXPECT_EQ(controls(Screen::customer_entry), validated(validate_customer_form({}, {2026, 11, 25})));
  EXPECT_EQ(controls(Screen::pin_entry), validated(validate_pin_form({})));
  EXPECT_EQ(controls(Screen::consent), validated(validate_consent_form({})));
  EXPECT_EQ(screen_flow(Screen::account_entry).form, "account");
  EXPECT_TRUE(screen_flow(Screen::phone_confirm).fields.empty());
}

// ----- account standing (SPEC §4, §8) -----

TEST(AccountStanding, EligibilityAndServingAreOneRuleEach) {
  struct Row {
    bool in_use, card, linkable, served;
  };
  const Row rows[] = {
      {true, true, true, true},     // an account in use with a card
      {true, false, false, true},   // no cash card: cannot link, a grant still reads
      {false, true, false, false},  // closed or moved
      {false, false, false, false},
  };
  for (const Row& r : rows) {
    const AccountStanding a{r.in_use, r.card};
    EXPECT_EQ(eligible_for_linking(a), r.linkable) << r.in_use << r.card;
    EXPECT_EQ(serves_account_data(a), r.served) << r.in_use << r.card;
  }
}

TEST(FlowIdle, ExpiresOnlyPastTheTimeoutAndNeverWhenOver) {
  FlowConfig cfg = config();
  FlowState s = start_flow(kT0);
  EXPECT_FALSE(is_idle_expired(s, kT0 + cfg.idle_timeout_seconds, cfg));
  EXPECT_TRUE(is_idle_expired(s, kT0 + cfg.idle_timeout_seconds + 1, cfg));
  s.screen = Screen::completed;  // a flow that is over does not expire again
  EXPECT_FALSE(is_idle_expired(s, kT0 + 100000, cfg));
}

// ----- lockout across ② and ⑤ -----

TEST(FlowLockout, FailuresOfCustomerAndPinCountTogether) {
  LockState lock;  // what the server stores for account 115-1100026
  // Session A reaches ⑤ and gets the PIN wrong 3 times.
  Driver a = at(Screen::pin_entry);
  for (int i = 0; i < 3; ++i) {
    FlowOutcome o = a.apply(pin(PinCheck::mismatch, lock));
    EXPECT_EQ(o.error, ErrorCode::auth_mismatch);
    lock = *o.lock_update;
  }
  EXPECT_EQ(lock.failures, 3);
  // Session B gets ② wrong: the 4th, then the 5th locks.
  Driver b = at(Screen::customer_entry);
  FlowOutcome o = b.apply(customer(IdentityCheck::mismatch, lock));
  EXPECT_EQ(o.error, ErrorCode::auth_mismatch);
  lock = *o.lock_update;
  o = b.apply(customer(IdentityCheck::mismatch, lock));
  EXPECT_EQ(o.error, ErrorCode::locked_now);
  lock = *o.lock_update;
  EXPECT_EQ(lock.failures, 5);
  EXPECT_EQ(lock.locked_until, from_jst({2026, 11, 26}));
  // Afterwards everything is B84, on ② and on ⑤, right answers included.
  o = b.apply(customer(IdentityCheck::match, lock));
  EXPECT_EQ(o.error, ErrorCode::locked);
  EXPECT_EQ(b.state.screen, Screen::customer_entry);
  o = a.apply(pin(PinCheck::match, lock));
  EXPECT_EQ(o.error, ErrorCode::locked);
  EXPECT_EQ(a.state.screen, Screen::pin_entry);
  EXPECT_FALSE(a.state.pin_verified);
}

// Security finding (SPEC §5 amended): PIN failures of one flow are not wiped
// by the next flow's correct ②. Four wrong PINs, a new flow, a correct ②, a
// wrong PIN: the 5th failure locks.
TEST(FlowLockout, AlternatingFlowsWithWrongPinsLockAtTheLimit) {
  LockState lock;
  Driver first = at(Screen::pin_entry);
  for (int i = 0; i < 4; ++i) {
    FlowOutcome o = first.apply(pin(PinCheck::mismatch, lock));
    ASSERT_EQ(o.error, ErrorCode::auth_mismatch);
    lock = *o.lock_update;
  }
  Driver second = at(Screen::customer_entry);
  FlowOutcome o = second.apply(customer(IdentityCheck::match, lock));
  ASSERT_TRUE(o.accepted);
  EXPECT_FALSE(o.lock_update);  // the four failures stand
  ASSERT_TRUE(second.apply(ConfirmPhone{kTollFree}).accepted);
  ASSERT_TRUE(second.apply(matching_call()).accepted);
  ASSERT_TRUE(second.apply(ConfirmCall{}).accepted);
  ASSERT_EQ(second.state.screen, Screen::pin_entry);
  o = second.apply(pin(PinCheck::mismatch, lock));
  EXPECT_EQ(o.error, ErrorCode::locked_now);
  ASSERT_TRUE(o.lock_update);
  EXPECT_EQ(o.lock_update->failures, 5);
  EXPECT_TRUE(o.lock_update->locked_until);
}

// Only the correct PIN resets the count.
TEST(FlowLockout, OnlyACorrectPinResetsTheCount) {
  Driver d = at(Screen::pin_entry);
  FlowOutcome o = d.apply(pin(PinCheck::match, {4, std::nullopt}));
  ASSERT_TRUE(o.accepted);
  EXPECT_EQ(o.lock_update, (LockState{0, std::nullopt}));
}

TEST(FlowLockout, PinFailureReachingTheLimitIsLockedNow) {
  Driver d = at(Screen::pin_entry);
  FlowOutcome o = d.apply(pin(PinCheck::mismatch, {4, std::nullopt}));
  EXPECT_EQ(o.error, ErrorCode::locked_now);
  ASSERT_TRUE(o.lock_update);
  EXPECT_EQ(o.lock_update->locked_until, from_jst({2026, 11, 26}));
  EXPECT_EQ(d.state.screen, Screen::pin_entry);
}

TEST(FlowLockout, LimitComesFromConfig) {
  Driver d = at(Screen::customer_entry);
  d.cfg.lockout = LockoutPolicy(2);
  FlowOutcome o = d.apply(customer(IdentityCheck::mismatch, {1, std::nullopt}));
  EXPECT_EQ(o.error, ErrorCode::locked_now);
}

// ----- ③ and ④ -----

TEST(FlowPhone, ConfirmPhoneOpensTheCallWindow) {
  Driver d = at(Screen::phone_confirm);
  FlowOutcome o = d.apply(ConfirmPhone{kTollFree});
  EXPECT_TRUE(o.accepted);
  EXPECT_EQ(d.state.screen, Screen::call_wait);
  ASSERT_TRUE(d.state.call);
  EXPECT_EQ(d.state.call->dialled_number, kTollFree);
  EXPECT_EQ(d.state.call->opened_at, d.now);
  EXPECT_EQ(d.state.call->expires_at, d.now + 120);
  EXPECT_FALSE(d.state.call->verified_at);
  EXPECT_FALSE(d.state.call_verified);
  EXPECT_EQ(call_seconds_left(d.state, d.now), 120);
  EXPECT_EQ(call_seconds_left(d.state, d.now + 100), 20);
  EXPECT_EQ(call_seconds_left(d.state, d.now + 120), 0);
  EXPECT_EQ(call_seconds_left(d.state, d.now + 500), 0);
  EXPECT_EQ(call_seconds_left(d.state, d.now - 50), 120);  // clock went back
}

TEST(FlowPhone, CallWindowLengthComesFromConfig) {
  Driver d = at(Screen::phone_confirm);
  d.cfg.call_window_seconds = 60;
  d.apply(ConfirmPhone{kTollFree});
  EXPECT_EQ(d.state.call->expires_at - d.state.call->opened_at, 60);
}

struct CallRow {
  const char* name;
  IncomingCall call;
  UnixSeconds offset;  // from opened_at
  std::optional<ErrorCode> error;
};

TEST(FlowCall, IncomingCalls) {
  const CallRow rows[] = {
      {"matching call at once", {kPhone, kTollFree}, 0, std::nullopt},
      {"matching call at 119 s", {kPhone, kTollFree}, 119, std::nullopt},
      {"matching call at exactly 120 s still counts", {kPhone, kTollFree}, 120, std::nullopt},
      {"matching call at 121 s", {kPhone, kTollFree}, 121, ErrorCode::call_expired},
      {"matching call before the window (clock back)",
       {kPhone, kTollFree},
       -1,
       ErrorCode::call_expired},
      {"withheld caller (非通知)", {std::nullopt, kTollFree}, 5, ErrorCode::call_withheld},
      {"withheld caller after the window",
       {std::nullopt, kTollFree},
       500,
       ErrorCode::call_withheld},
      {"other caller", {"09099998888", kTollFree}, 5, ErrorCode::call_not_matched},
      {"empty caller", {"", kTollFree}, 5, ErrorCode::call_not_matched},
      {"wrong dialled number", {kPhone, "0120999999"}, 5, ErrorCode::call_not_matched},
  };
  for (const auto& r : rows) {
    SCOPED_TRACE(r.name);
    Driver d = at(Screen::phone_confirm);
    d.apply(ConfirmPhone{kTollFree});
    const FlowState before = d.state;
    const UnixSeconds at = d.state.call->opened_at + r.offset;
    FlowTransition t = step(d.state, r.call, at, d.cfg);
    EXPECT_EQ(t.outcome.error, r.error);
    EXPECT_EQ(t.outcome.accepted, !r.error);
    EXPECT_EQ(t.state.screen, Screen::call_wait);
    EXPECT_EQ(t.state.last_activity, before.last_activity);  // the webhook is not activity
    if (r.error) {
      EXPECT_EQ(t.state, before);
    } else {
      EXPECT_TRUE(t.state.call_verified);
      EXPECT_EQ(t.state.call->verified_at, at);
    }
  }
}

TEST(FlowCall, SecondMatchingCallKeepsTheFirstTime) {
  Driver d = at(Screen::call_wait);
  d.apply(matching_call());
  const auto first = d.state.call->verified_at;
  ASSERT_TRUE(first);
  FlowTransition t = step(d.state, matching_call(), d.now + 30, d.cfg);
  EXPECT_TRUE(t.outcome.accepted);
  EXPECT_EQ(t.state.call->verified_at, first);
  EXPECT_EQ(t.state, d.state);
}

TEST(FlowCall, ConfirmBeforeTheCallIsPending) {
  Driver d = at(Screen::call_wait);  // no call yet
  const FlowState before = d.state;
  FlowOutcome o = d.apply(ConfirmCall{}, 30);
  EXPECT_FALSE(o.accepted);
  EXPECT_EQ(o.error, ErrorCode::call_pending);
  EXPECT_EQ(d.state, before);
  // The clock went back before the window opened: still pending, never verified.
  FlowTransition t = step(before, ConfirmCall{}, before.call->opened_at - 200, d.cfg);
  EXPECT_EQ(t.outcome.error, ErrorCode::call_pending);
  EXPECT_EQ(t.state, before);
}

TEST(FlowCall, ConfirmAfterTheCallGoesToPin) {
  Driver d = at(Screen::call_wait);
  d.apply(matching_call());
  ASSERT_TRUE(d.state.call_verified);
  FlowOutcome o = d.apply(ConfirmCall{});
  EXPECT_TRUE(o.accepted);
  EXPECT_FALSE(o.error);
  EXPECT_EQ(d.state.screen, Screen::pin_entry);
}

TEST(FlowCall, ConfirmAtExactlyTheEndStillCounts) {
  Driver d = at(Screen::call_wait);
  d.apply(matching_call());
  FlowTransition t = step(d.state, ConfirmCall{}, d.state.call->expires_at, d.cfg);
  EXPECT_TRUE(t.outcome.accepted);
  EXPECT_EQ(t.state.screen, Screen::pin_entry);
}

TEST(FlowCall, ConfirmAfterTheWindowRestartsFromAccountEntry) {
  for (bool called : {false, true}) {
    SCOPED_TRACE(called ? "call arrived in time" : "no call");
    Driver d = at(Screen::phone_confirm);
    d.apply(ConfirmPhone{kTollFree});
    if (called) d.apply(matching_call());
    const UnixSeconds late = d.state.call->expires_at + 1;
    FlowTransition t = step(d.state, ConfirmCall{}, late, d.cfg);
    EXPECT_FALSE(t.outcome.accepted);
    EXPECT_EQ(t.outcome.error, ErrorCode::call_expired);
    FlowState expected = start_flow(kT0);  // started_at kept
    expected.last_activity = late;
    EXPECT_EQ(t.state, expected);
    EXPECT_FALSE(t.state.account);
    EXPECT_TRUE(t.state.phone.empty());
    // And the flow runs again from ①.
    t = step(t.state, SubmitAccount{good_account()}, late + 5, d.cfg);
    EXPECT_TRUE(t.outcome.accepted);
  }
}

// ----- ⑤ and ⑥ -----

TEST(FlowPin, MatchGoesToConsent) {
  Driver d = at(Screen::pin_entry);
  FlowOutcome o = d.apply(pin(PinCheck::match, {2, std::nullopt}));
  EXPECT_TRUE(o.accepted);
  EXPECT_EQ(d.state.screen, Screen::consent);
  EXPECT_TRUE(d.state.pin_verified);
  EXPECT_EQ(o.lock_update, (LockState{0, std::nullopt}));
}

TEST(FlowPin, MismatchStays) {
  Driver d = at(Screen::pin_entry);
  const FlowState before = d.state;
  FlowOutcome o = d.apply(pin(PinCheck::mismatch, {1, std::nullopt}));
  EXPECT_EQ(o.error, ErrorCode::auth_mismatch);
  EXPECT_EQ(o.lock_update, (LockState{2, std::nullopt}));
  EXPECT_EQ(d.state, before);
}

TEST(FlowPin, FormErrors) {
  const std::pair<const char*, ErrorCode> rows[] = {{"", ErrorCode::required},
                                                    {"123", ErrorCode::invalid_input},
                                                    {"12345", ErrorCode::invalid_input},
                                                    {"12a4", ErrorCode::invalid_input}};
  for (const auto& [value, code] : rows) {
    SCOPED_TRACE(value);
    Driver d = at(Screen::pin_entry);
    const FlowState before = d.state;
    // The check result is ignored when the form is invalid.
    FlowOutcome o = d.apply(pin(PinCheck::match, {}, value));
    EXPECT_EQ(o.error, code);
    EXPECT_EQ(o.show_required_dialog, code == ErrorCode::required);
    ASSERT_EQ(o.field_errors.size(), 1u);
    EXPECT_EQ(o.field_errors[0].field, Field::pin);
    EXPECT_FALSE(o.lock_update);
    EXPECT_EQ(d.state, before);
  }
}

TEST(FlowPin, FullWidthPinIsNormalized) {
  Driver d = at(Screen::pin_entry);
  FlowOutcome o = d.apply(pin(PinCheck::match, {}, "１２３４"));
  EXPECT_TRUE(o.accepted);
}

TEST(FlowConsent, UncheckedIsConsentRequired) {
  Driver d = at(Screen::consent);
  const FlowState before = d.state;
  FlowOutcome o = d.apply(SubmitConsent{ConsentForm{false}});
  EXPECT_FALSE(o.accepted);
  EXPECT_EQ(o.error, ErrorCode::consent_required);
  ASSERT_EQ(o.field_errors.size(), 1u);
  EXPECT_EQ(o.field_errors[0], (FieldError{Field::consent, ErrorCode::consent_required}));
  EXPECT_FALSE(o.show_required_dialog);
  EXPECT_EQ(d.state, before);
}

TEST(FlowConsent, CheckedCompletes) {
  Driver d = at(Screen::consent);
  FlowOutcome o = d.apply(SubmitConsent{ConsentForm{true}});
  EXPECT_TRUE(o.accepted);
  EXPECT_EQ(d.state.screen, Screen::completed);
  EXPECT_TRUE(d.state.consent_given);
  EXPECT_TRUE(d.state.identity_verified && d.state.call_verified && d.state.pin_verified);
}

// ----- cancel, idle, hours, wrong events, terminal states -----

const Screen kLiveScreens[] = {Screen::account_entry, Screen::customer_entry, Screen::phone_confirm,
                               Screen::call_wait,     Screen::pin_entry,      Screen::consent};

TEST(FlowCancel, EveryLiveScreenCanBeCancelled) {
  for (Screen s : kLiveScreens) {
    SCOPED_TRACE(screen_wire_name(s));
    Driver d = at(s);
    FlowOutcome o = d.apply(Cancel{});
    EXPECT_TRUE(o.accepted);
    EXPECT_FALSE(o.error);
    EXPECT_EQ(d.state.screen, Screen::cancelled);
    EXPECT_EQ(d.state.last_activity, d.now);
  }
}

TEST(FlowCancel, CancelWorksOutOfHours) {
  Driver d;
  d.state = start_flow(kClosed - 10);
  FlowTransition t = step(d.state, Cancel{}, kClosed, d.cfg);
  EXPECT_TRUE(t.outcome.accepted);
  EXPECT_EQ(t.state.screen, Screen::cancelled);
}

std::vector<FlowEvent> all_events() {
  return {SubmitAccount{good_account()},
          customer(IdentityCheck::match),
          ConfirmPhone{kTollFree},
          matching_call(),
          ConfirmCall{},
          pin(PinCheck::match),
          SubmitConsent{ConsentForm{true}},
          Cancel{}};
}

TEST(FlowIdle, IdleLongerThanTheTimeoutExpires) {
  for (Screen s : kLiveScreens) {
    for (const FlowEvent& e : all_events()) {
      SCOPED_TRACE(std::string(screen_wire_name(s)) + " " + std::string(event_wire_name(e)));
      Driver d = at(s);
      FlowTransition t = step(d.state, e, d.state.last_activity + 901, d.cfg);
      EXPECT_EQ(t.outcome.error, ErrorCode::session_expired);
      EXPECT_FALSE(t.outcome.accepted);
      EXPECT_EQ(t.state.screen, Screen::expired);
      FlowState expected = d.state;
      expected.screen = Screen::expired;
      EXPECT_EQ(t.state, expected);
    }
  }
}

TEST(FlowIdle, ExactlyTheTimeoutIsNotYetIdle) {
  Driver d = at(Screen::customer_entry);
  FlowTransition t =
      step(d.state, customer(IdentityCheck::match), d.state.last_activity + 900, d.cfg);
  EXPECT_TRUE(t.outcome.accepted);
  d.cfg.idle_timeout_seconds = 60;
  t = step(d.state, customer(IdentityCheck::match), d.state.last_activity + 61, d.cfg);
  EXPECT_EQ(t.outcome.error, ErrorCode::session_expired);
}

TEST(FlowHours, CustomerEventsAreRefusedInAServiceWindow) {
  for (Screen s : kLiveScreens) {
    for (const FlowEvent& e : all_events()) {
      if (std::holds_alternative<Cancel>(e) || std::holds_alternative<IncomingCall>(e)) continue;
      SCOPED_TRACE(std::string(screen_wire_name(s)) + " " + std::string(event_wire_name(e)));
      Driver d;
      d.state = start_flow(kClosed - 300);
      d.now = d.state.started_at;
      // Walk to the screen before the closure begins (10 s steps).
      d.reach(s);
      FlowTransition t = step(d.state, e, kClosed, d.cfg);
      EXPECT_EQ(t.outcome.error, ErrorCode::out_of_hours);
      EXPECT_EQ(t.state, d.state);
    }
  }
}

TEST(FlowHours, CallsStillArriveInAServiceWindow) {
  Driver d;
  d.state = start_flow(kClosed - 90);  // the closure began at kClosed - 30
  d.now = d.state.started_at;
  d.reach(Screen::phone_confirm);
  d.apply(ConfirmPhone{kTollFree});  // the window opens at kClosed - 60
  FlowTransition t = step(d.state, matching_call(), kClosed, d.cfg);
  EXPECT_TRUE(t.outcome.accepted);
  EXPECT_TRUE(t.state.call_verified);
}

TEST(FlowHours, AnnouncedWindowsComeFromConfig) {
  Driver d;
  d.cfg.calendar = ServiceCalendar({{kT0 + 15, kT0 + 3600, "臨時メンテナンス"}});
  FlowOutcome o = d.apply(SubmitAccount{good_account()}, 20);
  EXPECT_EQ(o.error, ErrorCode::out_of_hours);
  EXPECT_EQ(d.state.screen, Screen::account_entry);
}

TEST(FlowSteps, EventsTheScreenDoesNotTakeAreInvalidStep) {
  int checked = 0;
  for (Screen s : kLiveScreens) {
    for (const FlowEvent& e : all_events()) {
      const bool takes =
          std::holds_alternative<Cancel>(e) ||
          (s == Screen::account_entry && std::holds_alternative<SubmitAccount>(e)) ||
          (s == Screen::customer_entry && std::holds_alternative<SubmitCustomer>(e)) ||
          (s == Screen::phone_confirm && std::holds_alternative<ConfirmPhone>(e)) ||
          (s == Screen::call_wait &&
           (std::holds_alternative<IncomingCall>(e) || std::holds_alternative<ConfirmCall>(e))) ||
          (s == Screen::pin_entry && std::holds_alternative<SubmitPin>(e)) ||
          (s == Screen::consent && std::holds_alternative<SubmitConsent>(e));
      if (takes) continue;
      SCOPED_TRACE(std::string(screen_wire_name(s)) + " " + std::string(event_wire_name(e)));
      Driver d = at(s);
      FlowTransition t = step(d.state, e, d.now + 5, d.cfg);
      EXPECT_EQ(t.outcome.error, ErrorCode::invalid_step);
      EXPECT_FALSE(t.outcome.accepted);
      EXPECT_EQ(t.state, d.state);
      ++checked;
    }
  }
  EXPECT_EQ(checked, 6 * 8 - 6 - 7);
}

TEST(FlowSteps, TerminalStatesAcceptNothing) {
  std::vector<Driver> terminals;
  terminals.push_back(at(Screen::completed));
  Driver c = at(Screen::call_wait);
  c.apply(Cancel{});
  terminals.push_back(c);
  Driver e = at(Screen::pin_entry);
  e.apply(pin(PinCheck::match), 5000);
  terminals.push_back(e);
  ASSERT_EQ(terminals[0].state.screen, Screen::completed);
  ASSERT_EQ(terminals[1].state.screen, Screen::cancelled);
  ASSERT_EQ(terminals[2].state.screen, Screen::expired);
  for (const Driver& d : terminals) {
    for (const FlowEvent& ev : all_events()) {
      for (UnixSeconds dt : {1, 100000, -5000}) {
        SCOPED_TRACE(std::string(screen_wire_name(d.state.screen)) + " " +
                     std::string(event_wire_name(ev)));
        FlowTransition t = step(d.state, ev, d.now + dt, d.cfg);
        EXPECT_EQ(t.outcome.error, ErrorCode::invalid_step);
        EXPECT_FALSE(t.outcome.accepted);
        EXPECT_FALSE(t.outcome.lock_update);
        EXPECT_EQ(t.state, d.state);
      }
    }
  }
}

TEST(FlowSteps, AStoredStateWhoseFactsDoNotFitItsScreenGoesNowhere) {
  FlowState forged = start_flow(kT0);
  forged.screen = Screen::consent;  // no identity, call or PIN
  FlowTransition t = step(forged, SubmitConsent{ConsentForm{true}}, kT0 + 5, config());
  EXPECT_EQ(t.outcome.error, ErrorCode::invalid_step);
  EXPECT_EQ(t.state, forged);
  forged.screen = Screen::pin_entry;
  forged.account = AccountRef{"115", AccountType::ordinary, "1100026"};
  forged.identity_verified = true;
  t = step(forged, pin(PinCheck::match), kT0 + 5, config());
  EXPECT_EQ(t.outcome.error, ErrorCode::invalid_step);
  // Cancel still ends it.
  t = step(forged, Cancel{}, kT0 + 5, config());
  EXPECT_EQ(t.state.screen, Screen::cancelled);
}

TEST(FlowSteps, HappyPathEndToEnd) {
  Driver d;
  d.reach(Screen::completed);
  EXPECT_EQ(d.state.screen, Screen::completed);
  EXPECT_EQ(d.state.started_at, kT0);
  EXPECT_EQ(d.state.last_activity, d.now);
}

}  // namespace
}  // namespace renkei
