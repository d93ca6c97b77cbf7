// The flow service without HTTP (server/src/flow/flow_service.h): StepRequest
// in, StepResult out, on the store the server suite runs on (SQLite in
// memory, or a new PostgreSQL database under server.suite_postgres.*), a
// manual clock and a seeded Randomness. No server is started.
#include <gtest/gtest.h>

#include <memory>
#include <chrono>
#include <functional>
#include <future>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "flow/flow_records.h"
#include "flow/flow_service.h"
#include "oauth/oauth.h"
#include "ops/app.h"
#include "ops/clock.h"
#include "ops/crypto.h"
#include "ops/random.h"
#include "postgres_test_database.h"
#include "records/records.h"
#include "records/records_source.h"
#include "test_server.h"  // test_config() and the backend switch only

namespace renkei::server::testing {
namespace {

// C0001 ﾃﾞｰﾀ ｻﾄﾙ (records.h): 115 普通 1100026, PIN 1234, phone 09011113333.
const AccountRef kAccount{"115", AccountType::ordinary, "1100026"};
constexpr const char* kOwnPhone = "09011113333";

CustomerForm right_customer() {
  return CustomerForm{"ﾃﾞｰﾀ ｻﾄﾙ",         "1985", "04", "12", kOwnPhone,
                      "satoru@example.jp", "satoru@example.jp"};
}

CustomerForm wrong_birth_day() {
  CustomerForm f = right_customer();
  f.birth_day = "13";
  return f;
}

// The records as a test wants them: the App's configured ones (local here),
// counted, or a failure forced (a records source that cannot answer). Each
// question checks that no store transaction is open while it is asked: with
// SQLite in memory a read-write transaction then would wait for itself.
class ScriptedRecords final : public FlowRecords {
 public:
  explicit ScriptedRecords(App& app) : app_(app), source_(make_flow_records(app)) {}
  RecordsResult<IdentityAnswer> check_identity(const AccountRef& account,
                                               const CustomerInfo& typed) override {
    ++identity_questions;
    expect_no_transaction_open();
    if (failure) return *failure;
    return source_->check_identity(account, typed);
  }
  RecordsResult<PinAnswer> check_pin(const AccountRef& account, const std::string& pin) override {
    ++pin_questions;
    pins_seen.push_back(pin);
    expect_no_transaction_open();
    if (failure) return *failure;
    return source_->check_pin(account, pin);
  }
  int identity_questions = 0;
  int pin_questions = 0;
  std::vector<std::string> pins_seen;
  std::optional<RecordsFailure> failure;
  // Called while a question is asked (a test's hook into that moment).
  std::function<void()> while_asked;

 private:
  void expect_no_transaction_open() {
    // A read-write transaction begins at once only when the step holds none
    // (SQLite: the one writer; PostgreSQL: no row of the flow is locked).
    auto probe = std::async(std::launch::async, [this] {
      auto tx = app_.store().begin(TxMode::read_write);
      std::optional<FlowRecord> any = tx->flow_by_id(flow_id);
      return tx->commit();
    });
    if (probe.wait_for(std::chrono::seconds(3)) != std::future_status::ready) {
      ADD_FAILURE() << "the records were asked while a store transaction was open";
      stuck_.push_back(std::move(probe));  // ends once the step's transaction does
    } else {
      EXPECT_TRUE(probe.get());
    }
    if (while_asked) {
      auto hook = std::move(while_asked);
      while_asked = nullptr;
      hook();
    }
  }
  App& app_;
  std::shared_ptr<FlowRecords> source_;
  std::vector<std::future<bool>> stuck_;

 public:
  std::string flow_id;  // the flow whose row the probe reads (and would lock)
};

// One customer's session as a browser holds it: the cookie's digest and the
// CSRF token, replaced when ② rotates them.
struct Session {
  std::string digest;
  std::string csrf;
  std::string flow_id;
};

class FlowServiceTest : public ::testing::Test {
 protected:
  void SetUp() override { open(test_config(), 20261125); }

  void open(ServerConfig config, std::uint64_t seed) {
    service_.reset();
    app_.reset();
    postgres_.reset();
    if (test_backend() == "postgres") {
      const auto uri = postgres_server_uri();
      ASSERT_TRUE(uri) << "RENKEI_TEST_BACKEND=postgres needs RENKEI_TEST_POSTGRES_URI";
      postgres_ = std::make_unique<PostgresTestDatabase>(*uri);
      config.database = postgres_uri_with_database(*uri, postgres_->name());
    }
    clock_ = std::make_shared<ManualClock>(open_instant());
    std::string error;
    app_ = make_app(std::move(config), clock_, &error, std::make_shared<SeededRandomness>(seed));
    ASSERT_TRUE(app_) << error;
    records_ = std::make_shared<ScriptedRecords>(*app_);
    service_ = std::make_unique<FlowService>(*app_, records_);
  }

  // A flow as /authorize starts it.
  Session start() {
    FlowRecord f;
    f.client_id = "demo-app";
    f.redirect_uri = kDemoRedirect;
    f.oauth_state = "st-1";
    f.code_challenge = base64url_encode(std::string(32, 'x'));
    f.scope = "accounts.read";
    auto tx = app_->store().begin();
    Session s;
    const std::string cookie = start_flow_record(*tx, *app_, f, &s.flow_id);
    EXPECT_TRUE(tx->commit());
    records_->flow_id = s.flow_id;
    tx.reset();
    s.digest = secret_digest(cookie);
    tx = app_->store().begin();
    s.csrf = tx->flow_by_session(s.digest)->csrf_token;
    return s;
  }

  StepRequest request(const Session& s, FlowStep step) {
    StepRequest r;
    r.step = step;
    r.session_digest = s.digest;
    r.csrf_token = s.csrf;
    r.origin = RequestOrigin{"192.0.2.1", "flow-service-test"};
    r.now = clock_->now();
    return r;
  }

  // Runs `r` and follows a rotation as the browser does.
  StepResult run(Session& s, const StepRequest& r) {
    StepResult out = service_->run(r);
    if (!out.new_session.empty()) {
      s.digest = secret_digest(out.new_session);
      s.csrf = out.csrf_token;
    }
    return out;
  }

  StepResult account(Session& s) {
    StepRequest r = request(s, FlowStep::account);
    r.account = AccountForm{kAccount.branch, "ordinary", kAccount.number};
    return run(s, r);
  }
  StepResult customer(Session& s, const CustomerForm& form) {
    StepRequest r = request(s, FlowStep::customer);
    r.customer = form;
    return run(s, r);
  }
  StepResult pin(Session& s, const std::string& digits) {
    StepRequest r = request(s, FlowStep::pin);
    r.pin.pin = digits;
    return run(s, r);
  }
  StepResult simple(Session& s, FlowStep step) { return run(s, request(s, step)); }

  // ① and ② with the right data (those not done yet): the flow waits on ③.
  void to_phone_confirm(Session& s) {
    if (flow_of(s).state.screen == Screen::account_entry) {
      StepResult r = account(s);
      ASSERT_FALSE(r.error) << wire_name(*r.error);
    }
    if (flow_of(s).state.screen == Screen::customer_entry) {
      StepResult r = customer(s, right_customer());
      ASSERT_FALSE(r.error) << wire_name(*r.error);
    }
    ASSERT_EQ(flow_of(s).state.screen, Screen::phone_confirm);
  }
  // … and ③: the flow waits on ④; the number it was given.
  std::string to_call_wait(Session& s) {
    to_phone_confirm(s);
    StepResult r = simple(s, FlowStep::phone);
    EXPECT_FALSE(r.error) << r.view.dump();
    return r.view["call"]["dialled_number"].get<std::string>();
  }
  // … and ④ (a call from the registered phone) and 確定する: the flow waits on ⑤.
  void to_pin_entry(Session& s) {
    to_call_wait(s);
    std::optional<CallMatch> call = service_->simulate_call(flow_of(s), {}, "");
    ASSERT_TRUE(call && call->matched);
    ASSERT_FALSE(simple(s, FlowStep::confirm_call).error);
  }

  FlowRecord flow_of(const Session& s) {
    auto tx = app_->store().begin();
    std::optional<FlowRecord> f = tx->flow_by_id(s.flow_id);
    EXPECT_TRUE(f);
    return f ? *f : FlowRecord{};
  }
  LockState lock() {
    auto tx = app_->store().begin();
    std::optional<AccountRecord> a = tx->find_account(kAccount);
    EXPECT_TRUE(a);
    return a ? tx->load_lock(a->id) : LockState{};
  }
  std::vector<AuditRecord> audit_of(const Session& s) {
    AuditQuery q;
    q.flow_id = s.flow_id;
    auto tx = app_->store().begin();
    return tx->query_audit(q);
  }

  std::unique_ptr<PostgresTestDatabase> postgres_;
  std::shared_ptr<ManualClock> clock_;
  std::unique_ptr<App> app_;
  std::shared_ptr<ScriptedRecords> records_;
  std::unique_ptr<FlowService> service_;
};

// ---------- ② ----------

TEST_F(FlowServiceTest, WrongIdentityCountsAFailureAndStaysOnCustomerEntry) {
  Session s = start();
  ASSERT_FALSE(account(s).error);
  const std::string digest = s.digest;
  StepResult r = customer(s, wrong_birth_day());
  ASSERT_TRUE(r.error);
  EXPECT_EQ(*r.error, ErrorCode::auth_mismatch);
  EXPECT_EQ(r.view["screen"], "customer_entry");
  EXPECT_TRUE(r.new_session.empty());
  EXPECT_EQ(s.digest, digest);
  EXPECT_EQ(lock().failures, 1);
  EXPECT_EQ(records_->identity_questions, 1);
  EXPECT_FALSE(flow_of(s).account_id);
}

TEST_F(FlowServiceTest, RightIdentityRotatesTheSessionAndTheCsrfToken) {
  Session s = start();
  ASSERT_FALSE(account(s).error);
  const Session before = s;
  StepResult r = customer(s, right_customer());
  ASSERT_FALSE(r.error) << r.view.dump();
  EXPECT_EQ(r.view["screen"], "phone_confirm");
  ASSERT_FALSE(r.new_session.empty());
  EXPECT_NE(s.digest, before.digest);
  EXPECT_NE(s.csrf, before.csrf);
  auto tx = app_->store().begin();
  EXPECT_FALSE(tx->flow_by_session(before.digest)) << "the old session still names the flow";
  std::optional<FlowRecord> now_named = tx->flow_by_session(s.digest);
  ASSERT_TRUE(now_named);
  EXPECT_EQ(now_named->flow_id, s.flow_id);
  EXPECT_TRUE(now_named->account_id);
  tx.reset();
  // The old session and token are worthless from here on.
  Session stale = before;
  EXPECT_EQ(simple(stale, FlowStep::phone).error, ErrorCode::session_expired);
}

TEST_F(FlowServiceTest, ARecordsSourceThatCannotAnswerCountsNothing) {
  Session s = start();
  ASSERT_FALSE(account(s).error);
  records_->failure = RecordsFailure{RecordsFailureKind::timeout, std::nullopt, "slow"};
  StepResult r = customer(s, wrong_birth_day());
  EXPECT_EQ(r.error, ErrorCode::busy);
  EXPECT_EQ(r.view["screen"], "customer_entry");
  EXPECT_EQ(lock().failures, 0);
  EXPECT_NE(app_->metrics().render().find("renkei_records_failures_total{kind=\"timeout\"} 1\n"),
            std::string::npos);
  // Once the records answer again the same flow goes on.
  records_->failure.reset();
  EXPECT_FALSE(customer(s, right_customer()).error);
}

// ---------- ⑤ ----------

TEST_F(FlowServiceTest, WrongPinCountsAndTheRightPinResetsTheCount) {
  Session s = start();
  ASSERT_FALSE(account(s).error);
  ASSERT_EQ(customer(s, wrong_birth_day()).error, ErrorCode::auth_mismatch);  // 1
  to_pin_entry(s);  // ② right: the count is not reset (SPEC §5)
  EXPECT_EQ(lock().failures, 1);
  StepResult wrong = pin(s, "9999");
  EXPECT_EQ(wrong.error, ErrorCode::auth_mismatch);
  EXPECT_EQ(wrong.view["screen"], "pin_entry");
  EXPECT_EQ(lock().failures, 2);
  StepResult right = pin(s, "1234");
  ASSERT_FALSE(right.error) << right.view.dump();
  EXPECT_EQ(right.view["screen"], "consent");
  EXPECT_EQ(lock().failures, 0);
  EXPECT_FALSE(lock().locked_until);
  // No audit row carries the PIN.
  for (const AuditRecord& a : audit_of(s)) {
    EXPECT_EQ(a.detail.find("1234"), std::string::npos) << a.detail;
    EXPECT_EQ(a.detail.find("9999"), std::string::npos) << a.detail;
  }
}

TEST_F(FlowServiceTest, ConsentIssuesACodeForTheAppAndEnqueuesTheMail) {
  Session s = start();
  to_pin_entry(s);
  ASSERT_FALSE(pin(s, "1234").error);
  StepRequest r = request(s, FlowStep::consent);
  r.consent.consent = true;
  StepResult done = run(s, r);
  ASSERT_FALSE(done.error) << done.view.dump();
  EXPECT_EQ(done.view["screen"], "completed");
  EXPECT_EQ(done.redirect_to.rfind(std::string(kDemoRedirect) + "?code=", 0), 0u)
      << done.redirect_to;
  const std::int64_t account_id = flow_of(s).account_id.value_or(-1);
  auto tx = app_->store().begin();
  EXPECT_EQ(tx->grants_for_account(account_id).size(), 1u);
  EXPECT_EQ(tx->due_mails(clock_->now(), 10).size(), 1u);
}

TEST_F(FlowServiceTest, ALockedAccountsPinIsNotSentToTheRecords) {
  Session s = start();
  to_pin_entry(s);
  const std::int64_t id = flow_of(s).account_id.value_or(-1);
  {
    auto tx = app_->store().begin();
    tx->save_lock(id, LockState{5, clock_->now() + 3600});
    ASSERT_TRUE(tx->commit());
  }
  StepResult r = pin(s, "1234");
  EXPECT_EQ(r.error, ErrorCode::locked);
  EXPECT_EQ(records_->pin_questions, 0);
  EXPECT_EQ(r.view["screen"], "pin_entry");
}

TEST_F(FlowServiceTest, AStepTakenWhileTheRecordsAreAskedIsNotOverwritten) {
  Session s = start();
  ASSERT_FALSE(account(s).error);
  // While ② is with the records, the same session cancels the flow.
  Session other = s;
  records_->while_asked = [&] { EXPECT_FALSE(simple(other, FlowStep::cancel).error); };
  StepResult r = customer(s, wrong_birth_day());
  EXPECT_TRUE(r.error);
  EXPECT_EQ(records_->identity_questions, 1);
  EXPECT_EQ(flow_of(s).state.screen, Screen::cancelled);
  EXPECT_EQ(lock().failures, 0) << "a mismatch asked for a flow that had moved was counted";
}

// ---------- refusals before the core ----------

TEST_F(FlowServiceTest, ASwitchedOffClientIsServiceUnavailableAndTheRecordsAreNotAsked) {
  Session s = start();
  ASSERT_FALSE(account(s).error);
  ASSERT_TRUE(switch_off_client(app_->store()));
  StepResult r = customer(s, wrong_birth_day());
  EXPECT_EQ(r.error, ErrorCode::service_unavailable);
  EXPECT_EQ(r.view["screen"], "customer_entry");
  EXPECT_EQ(records_->identity_questions, 0);
  EXPECT_EQ(lock().failures, 0);
  // The ways out still work: leave gives the app temporarily_unavailable.
  StepRequest leave = request(s, FlowStep::leave);
  leave.leave_reason = "service_unavailable";
  StepResult left = run(s, leave);
  ASSERT_FALSE(left.error);
  EXPECT_NE(left.redirect_to.find("error=temporarily_unavailable"), std::string::npos);
  EXPECT_EQ(left.view["screen"], "cancelled");
}

TEST_F(FlowServiceTest, OutOfHoursLeavesTheFlowAsItWasAndSaysWhenItOpens) {
  const UnixSeconds closed = from_jst({2026, 11, 26}, 0, 0, 30);  // daily 00:00–00:01
  ASSERT_FALSE(app_->calendar().is_open(closed));
  clock_->set(closed - 60);  // started just before midnight
  Session s = start();
  clock_->set(closed);
  StepResult r = account(s);
  EXPECT_EQ(r.error, ErrorCode::out_of_hours);
  EXPECT_EQ(r.view["screen"], "account_entry");
  ASSERT_TRUE(r.service.is_object());
  EXPECT_EQ(r.service["reopens_at"], format_jst(app_->calendar().next_open(closed)));
}

TEST_F(FlowServiceTest, AWrongCsrfTokenIsForbiddenAndTellsNothingAboutTheFlow) {
  Session s = start();
  StepRequest r = request(s, FlowStep::account);
  r.account = AccountForm{kAccount.branch, "ordinary", kAccount.number};
  r.csrf_token = "not-the-token";
  StepResult out = service_->run(r);
  EXPECT_EQ(out.error, ErrorCode::forbidden);
  EXPECT_TRUE(out.view.is_null());
  EXPECT_EQ(flow_of(s).state.screen, Screen::account_entry);
  r.csrf_token.reset();
  EXPECT_EQ(service_->run(r).error, ErrorCode::forbidden);
  r.session_digest = "";
  EXPECT_EQ(service_->run(r).error, ErrorCode::session_expired);
}

// ---------- ③ and ④: the pool, picked with the injected Randomness ----------

TEST_F(FlowServiceTest, ThePoolPickIsReproducibleFromTheSeed) {
  ServerConfig config = test_config();
  config.call_pool = {"0120000001", "0120000002", "0120000003", "0120000004", "0120000005",
                      "0120000006", "0120000007", "0120000008"};
  // The numbers a seed gives, flow after flow (each flow ends before the next
  // starts, so every number is free each time).
  auto picks = [&](std::uint64_t seed) {
    open(config, seed);
    std::vector<std::string> out;
    for (int i = 0; i < 6; ++i) {
      Session s = start();
      out.push_back(to_call_wait(s));
      EXPECT_FALSE(simple(s, FlowStep::cancel).error);
    }
    return out;
  };
  const std::vector<std::string> first = picks(7);
  EXPECT_EQ(picks(7), first);
  // Not a constant: the seed drives the pick.
  EXPECT_GT(std::set<std::string>(first.begin(), first.end()).size(), 1u);
  EXPECT_NE(picks(8), first);
}

TEST_F(FlowServiceTest, NeverGivesANumberAnotherFlowOfThePhoneWaitsOn) {
  ServerConfig config = test_config();
  config.call_pool = {"0120000001", "0120000002", "0120000003"};
  open(config, 11);
  // Two flows of the same phone wait on ④: each has its own number.
  Session a = start();
  Session b = start();
  const std::string number_a = to_call_wait(a);
  const std::string number_b = to_call_wait(b);
  EXPECT_NE(number_a, number_b);
  // A third flow of the phone: only the one number left, whatever the source draws.
  Session c = start();
  to_phone_confirm(c);
  const FlowRecord third = flow_of(c);
  std::set<std::string> given;
  for (int i = 0; i < 40; ++i) {
    auto tx = app_->store().begin();
    std::optional<std::string> n =
        service_->pick_call_number(*tx, app_->config().call_pool, third, clock_->now());
    ASSERT_TRUE(n);
    given.insert(*n);
  }
  ASSERT_EQ(given.size(), 1u);
  EXPECT_NE(*given.begin(), number_a);
  EXPECT_NE(*given.begin(), number_b);
  const std::string number_c = to_call_wait(c);
  EXPECT_EQ(number_c, *given.begin());
  // A fourth: every number waits for this phone's other flows → busy.
  Session d = start();
  to_phone_confirm(d);
  StepResult full = simple(d, FlowStep::phone);
  EXPECT_EQ(full.error, ErrorCode::busy);
  EXPECT_EQ(full.view["screen"], "phone_confirm");
}

TEST_F(FlowServiceTest, AnIncomingCallVerifiesTheFlowThroughTheSameWrite) {
  Session s = start();
  const std::string number = to_call_wait(s);
  const UnixSeconds before = flow_of(s).updated_at;
  clock_->advance(5);
  CallRequest call;
  call.call_id = "call-1";
  call.caller = kOwnPhone;
  call.dialled = number;
  call.origin = RequestOrigin{"198.51.100.7", "provider"};
  CallMatch m = service_->incoming_call(call);
  EXPECT_TRUE(m.matched);
  EXPECT_EQ(m.outcome, "ok");
  const FlowRecord verified = flow_of(s);
  ASSERT_TRUE(verified.state.call);
  EXPECT_TRUE(verified.state.call->verified_at);
  EXPECT_GT(verified.updated_at, before);
  // The same call again: its first answer, nothing new.
  EXPECT_EQ(service_->incoming_call(call).outcome, "ok");
  // Another phone: not matched.
  call.call_id = "call-2";
  call.caller = "08022224444";
  EXPECT_EQ(service_->incoming_call(call).outcome, "call_not_matched");
  EXPECT_FALSE(simple(s, FlowStep::confirm_call).error);
  EXPECT_EQ(flow_of(s).state.screen, Screen::pin_entry);
}

// ---------- the source itself ----------

TEST(SeededRandomness, TheSameSeedGivesTheSameSequence) {
  SeededRandomness a(42), b(42), c(43);
  std::vector<std::uint64_t> xs, ys, zs;
  for (int i = 0; i < 20; ++i) {
    xs.push_back(a.below(1000));
    ys.push_back(b.below(1000));
    zs.push_back(c.below(1000));
  }
  EXPECT_EQ(xs, ys);
  EXPECT_NE(xs, zs);
  for (std::uint64_t x : xs) EXPECT_LT(x, 1000u);
  EXPECT_EQ(a.token(32), b.token(32));
  EXPECT_EQ(a.token(32).size(), 43u);
  EXPECT_EQ(a.below(1), 0u);
}

}  // namespace
}  // namespace renkei::server::testing
