// The storage contract, run unchanged on every backend (StoreTest is
// parameterized: "sqlite" in memory, "postgres" on a fresh database of the
// server RENKEI_TEST_POSTGRES_URI names; scripts/with-postgres.sh starts one):
// every StoreTx method round-trips, transactions roll back unless committed,
// codes are single use, call events are idempotent, the lockout count is exact
// under parallel transactions, concurrent mail claimers get disjoint mails,
// read-only transactions read and cannot write, with_transaction retries
// conflicts and nothing else. ReadOnlyTest runs on a SQLite file and on
// PostgreSQL: readers and the writer do not wait for each other. Then what
// only one backend has: SQLite files (FileStore) and PostgreSQL (PostgresStore:
// schema creation by several instances at once, a real deadlock retried).
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <libpq-fe.h>
#include <netinet/in.h>
#include <sqlite3.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "postgres_test_database.h"
#include "records/records.h"
#include "renkei/flow.h"
#include "store/storage.h"
#include "store/store_schema.h"

namespace renkei::server {
namespace {

using testing::postgres_exec;
using testing::postgres_server_uri;
using testing::PostgresTestDatabase;

constexpr UnixSeconds kT0 = 1'795'000'000;  // 2026-11-18, an arbitrary instant

CustomerRecord sample_customer(const std::string& id = "C9001") {
  return {id, "ﾃｽﾄ ﾀﾛｳ", "1980-01-02", {"09000000001", "0300000002"}};
}

AccountRecord sample_account(const std::string& customer_id = "C9001",
                             const std::string& number = "7654321") {
  AccountRecord a;
  a.customer_id = customer_id;
  a.ref = AccountRef{"115", AccountType::ordinary, number};
  a.status = AccountStatus::active;
  a.cash_card_issued = true;
  a.balance_yen = 123'456;
  a.pin_digest = "digest";
  return a;
}

FlowRecord sample_flow(const std::string& id) {
  FlowRecord f;
  f.flow_id = id;
  f.session_digest = "session-" + id;
  f.csrf_token = "csrf-" + id;
  f.client_id = "demo-app";
  f.redirect_uri = "http://127.0.0.1:9/callback";
  f.oauth_state = "xyz";
  f.code_challenge = "E9Melhoa2OwvFrEMQJ7hWc7lpx2zdjVzL7lbZQ7Afxs";
  f.scope = "accounts.read";
  f.state = start_flow(kT0);
  f.client_ip = "127.0.0.1";
  f.user_agent = "test";
  f.created_at = kT0;
  f.updated_at = kT0;
  return f;
}

// sample_flow(id), committed.
void store_flow(Store& store, const std::string& id) {
  auto tx = store.begin();
  tx->insert_flow(sample_flow(id));
  ASSERT_TRUE(tx->commit());
}

GrantRecord sample_grant(const std::string& id, std::int64_t account_id, UnixSeconds created) {
  GrantRecord g;
  g.id = id;
  g.client_id = "demo-app";
  g.account_id = account_id;
  g.scope = "accounts.read";
  g.flow_id = "flow-" + id;
  g.created_at = created;
  g.expires_at = created + 30 * 86400;
  return g;
}

// ---------- PostgreSQL test databases ----------

// postgres_server_uri, postgres_exec and PostgresTestDatabase: postgres_test_database.h.
constexpr const char* kNoPostgres =
    "RENKEI_TEST_POSTGRES_URI is not set: the PostgreSQL instances of the storage tests are "
    "skipped. Run them with scripts/with-postgres.sh "
    "build/native/tests/server/renkei_storage_tests "
    "(ctest: server.storage_postgres).";

constexpr int kTestPoolSize = 8;

// Starts `n` threads running `body(i)` at the same moment, each after one
// empty transaction (so that a pool has all its connections open and no
// thread is held back by a connection still being opened); joins them.
template <class Body>
void run_together(Store& store, int n, Body body) {
  std::atomic<int> warm{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < n; ++i) {
    threads.emplace_back([&, i] {
      {
        auto tx = store.begin();
        tx->count_accounts();
        // rolled back
      }
      warm.fetch_add(1);
      while (warm.load() < n) std::this_thread::yield();
      body(i);
    });
  }
  for (auto& t : threads) t.join();
}

// A new database of the test cluster, or null (the caller skips) without one.
std::unique_ptr<PostgresTestDatabase> new_test_database() {
  const auto uri = postgres_server_uri();
  if (!uri) return nullptr;
  return std::make_unique<PostgresTestDatabase>(*uri);
}

// A store on the backend the test's parameter names: "postgres" is a new
// database of the test cluster (the test skips without one), any other name
// the SQLite store the suite opens for it (open_sqlite).
class BackendTest : public ::testing::TestWithParam<std::string> {
 protected:
  virtual std::unique_ptr<Store> open_sqlite() = 0;
  void SetUp() override {
    if (GetParam() != "postgres") {
      store_ = open_sqlite();
      return;
    }
    database_ = new_test_database();
    if (!database_) GTEST_SKIP() << kNoPostgres;
    store_ = open_postgres_store(database_->conninfo(), kTestPoolSize);
  }
  void TearDown() override {
    store_.reset();
    database_.reset();
  }
  std::unique_ptr<PostgresTestDatabase> database_;
  std::unique_ptr<Store> store_;
};

// The backend as the name of the instantiation.
std::string backend_name(const ::testing::TestParamInfo<std::string>& info) {
  return info.param;
}

// ---------- the contract: every test runs on every backend ----------

class StoreTest : public BackendTest {
 protected:
  std::unique_ptr<Store> open_sqlite() override { return open_sqlite_store(":memory:"); }

  // A committed customer and account; returns the account id.
  std::int64_t add_account(const std::string& customer = "C9001",
                           const std::string& number = "7654321") {
    auto tx = store_->begin();
    tx->upsert_customer(sample_customer(customer));
    const auto id = tx->upsert_account(sample_account(customer, number));
    EXPECT_TRUE(tx->commit());
    return id;
  }

  // Two flows of one phone, "first" and "second", committed.
  void add_two_flows() {
    auto tx = store_->begin();
    tx->insert_flow(sample_flow("first"));
    tx->insert_flow(sample_flow("second"));
    ASSERT_TRUE(tx->commit());
  }

  // Two choosers at once: `first` has made its choice; a second transaction
  // runs `choose` on a thread of its own and commits, while `first` commits
  // 200 ms later (time for the second to try now). `first` committed.
  void second_chooser_meets(std::unique_ptr<StoreTx> first,
                            const std::function<void(StoreTx&)>& choose) {
    std::thread second([&] {
      auto tx = store_->begin();
      choose(*tx);
      EXPECT_TRUE(tx->commit());
    });
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    const bool committed = first->commit();
    first.reset();
    second.join();
    ASSERT_TRUE(committed);
  }
};

INSTANTIATE_TEST_SUITE_P(Backends, StoreTest, ::testing::Values("sqlite", "postgres"),
                         backend_name);

TEST_P(StoreTest, CustomersRoundTripWithTheirPhonesInOrder) {
  auto tx = store_->begin();
  EXPECT_FALSE(tx->find_customer("C9001"));
  tx->upsert_customer(sample_customer());
  auto c = tx->find_customer("C9001");
  ASSERT_TRUE(c);
  EXPECT_EQ(c->id, "C9001");
  EXPECT_EQ(c->name_kana, "ﾃｽﾄ ﾀﾛｳ");
  EXPECT_EQ(c->birth_date, "1980-01-02");
  EXPECT_EQ(c->phones, (std::vector<std::string>{"09000000001", "0300000002"}));
  // Replacing replaces the phones too.
  CustomerRecord changed = sample_customer();
  changed.phones = {"08011112222"};
  changed.name_kana = "ﾍﾝｺｳ";
  tx->upsert_customer(changed);
  c = tx->find_customer("C9001");
  ASSERT_TRUE(c);
  EXPECT_EQ(c->name_kana, "ﾍﾝｺｳ");
  EXPECT_EQ(c->phones, std::vector<std::string>{"08011112222"});
}

TEST_P(StoreTest, AccountsRoundTripAndUpsertKeepsTheId) {
  auto tx = store_->begin();
  tx->upsert_customer(sample_customer());
  EXPECT_EQ(tx->count_accounts(), 0);
  AccountRecord a = sample_account();
  const auto id = tx->upsert_account(a);
  EXPECT_GT(id, 0);
  EXPECT_EQ(tx->count_accounts(), 1);

  auto found = tx->find_account(a.ref);
  ASSERT_TRUE(found);
  EXPECT_EQ(found->id, id);
  EXPECT_EQ(found->customer_id, "C9001");
  EXPECT_EQ(found->ref, a.ref);
  EXPECT_EQ(found->status, AccountStatus::active);
  EXPECT_TRUE(found->cash_card_issued);
  EXPECT_EQ(found->balance_yen, 123'456);
  EXPECT_EQ(found->pin_digest, "digest");

  a.status = AccountStatus::moved;
  a.cash_card_issued = false;
  a.balance_yen = 0;
  a.pin_digest = "";
  EXPECT_EQ(tx->upsert_account(a), id);
  EXPECT_EQ(tx->count_accounts(), 1);
  auto by_id = tx->account_by_id(id);
  ASSERT_TRUE(by_id);
  EXPECT_EQ(by_id->status, AccountStatus::moved);
  EXPECT_FALSE(by_id->cash_card_issued);
  EXPECT_EQ(by_id->pin_digest, "");

  // The type is part of the key.
  AccountRef savings = a.ref;
  savings.type = AccountType::savings;
  EXPECT_FALSE(tx->find_account(savings));
  EXPECT_FALSE(tx->account_by_id(id + 100));
}

TEST_P(StoreTest, AnAccountNeedsItsCustomer) {
  auto tx = store_->begin();
  EXPECT_THROW(tx->upsert_account(sample_account("nobody")), StorageError);
}

TEST_P(StoreTest, AccountStatusWireNames) {
  for (auto s : {AccountStatus::active, AccountStatus::closed, AccountStatus::moved}) {
    EXPECT_EQ(account_status_from_wire(account_status_wire_name(s)), s);
  }
  EXPECT_EQ(account_status_wire_name(AccountStatus::moved), "moved");
  EXPECT_FALSE(account_status_from_wire("Active"));
}

TEST_P(StoreTest, LedgerIsNewestFirstWithinTheRangeAndPages) {
  const auto id = add_account();
  const auto other = add_account("C9002", "1111111");
  auto tx = store_->begin();
  const char* dates[] = {"2026-08-01", "2026-08-15", "2026-08-15", "2026-09-01", "2026-10-01"};
  std::int64_t balance = 1000;
  for (const char* d : dates) {
    balance += 100;
    tx->add_ledger_entry({0, id, d, "ATM", 100, balance});
  }
  tx->add_ledger_entry({0, other, "2026-08-20", "ｷﾕｳﾖ", 5, 5});

  auto all = tx->ledger(id, "2026-01-01", "2026-12-31", 50, 0);
  ASSERT_EQ(all.size(), 5u);
  EXPECT_EQ(all[0].date, "2026-10-01");
  EXPECT_EQ(all[0].balance_after_yen, 1500);
  EXPECT_EQ(all[0].description, "ATM");
  EXPECT_EQ(all[0].amount_yen, 100);
  EXPECT_EQ(all[0].account_id, id);
  EXPECT_EQ(all[4].date, "2026-08-01");
  EXPECT_GT(all[1].id, all[2].id);
  EXPECT_GT(all[2].id, all[3].id);  // same day: later entry first

  auto range = tx->ledger(id, "2026-08-15", "2026-09-01", 50, 0);
  ASSERT_EQ(range.size(), 3u);  // both ends inclusive
  EXPECT_EQ(range.front().date, "2026-09-01");
  EXPECT_EQ(range.back().date, "2026-08-15");

  auto page1 = tx->ledger(id, "2026-01-01", "2026-12-31", 2, 0);
  ASSERT_EQ(page1.size(), 2u);
  auto page2 = tx->ledger(id, "2026-01-01", "2026-12-31", 2, page1.back().id);
  ASSERT_EQ(page2.size(), 2u);
  auto page3 = tx->ledger(id, "2026-01-01", "2026-12-31", 2, page2.back().id);
  ASSERT_EQ(page3.size(), 1u);
  EXPECT_EQ(page1[0].id, all[0].id);
  EXPECT_EQ(page2[0].id, all[2].id);
  EXPECT_EQ(page3[0].id, all[4].id);
  EXPECT_TRUE(tx->ledger(id, "2026-01-01", "2026-12-31", 0, 0).empty());
  EXPECT_EQ(tx->ledger(other, "2026-01-01", "2026-12-31", 50, 0).size(), 1u);
}

TEST_P(StoreTest, LocksRoundTripAndList) {
  const auto a = add_account();
  const auto b = add_account("C9002", "1111111");
  auto tx = store_->begin();
  EXPECT_EQ(tx->load_lock(a), LockState{});
  EXPECT_TRUE(tx->list_locks().empty());
  tx->save_lock(a, LockState{3, std::nullopt});
  tx->save_lock(b, LockState{5, kT0 + 3600});
  EXPECT_EQ(tx->load_lock(a), (LockState{3, std::nullopt}));
  EXPECT_EQ(tx->load_lock(b), (LockState{5, kT0 + 3600}));
  auto locks = tx->list_locks();
  ASSERT_EQ(locks.size(), 2u);
  EXPECT_EQ(locks[0].first, a);
  EXPECT_EQ(locks[1].second.locked_until, kT0 + 3600);
  tx->save_lock(a, LockState{});  // reset: no longer listed
  locks = tx->list_locks();
  ASSERT_EQ(locks.size(), 1u);
  EXPECT_EQ(locks[0].first, b);
}

TEST_P(StoreTest, RollsBackUnlessCommitted) {
  {
    auto tx = store_->begin();
    tx->upsert_customer(sample_customer());
    tx->upsert_account(sample_account());
    AuditRecord r;
    r.at = kT0;
    r.flow_id = "f";
    r.step = "step";
    r.outcome = "ok";
    tx->append_audit(r);
    // no commit
  }
  auto tx = store_->begin();
  EXPECT_EQ(tx->count_accounts(), 0);
  EXPECT_FALSE(tx->find_customer("C9001"));
  EXPECT_TRUE(tx->query_audit({}).empty());
}

TEST_P(StoreTest, CommitMakesChangesVisibleAndEndsTheTransaction) {
  {
    auto tx = store_->begin();
    tx->upsert_customer(sample_customer());
    EXPECT_TRUE(tx->commit());
    EXPECT_FALSE(tx->commit());  // already finished
    EXPECT_THROW(tx->count_accounts(), StorageError);
  }
  auto tx = store_->begin();
  EXPECT_TRUE(tx->find_customer("C9001"));
}

TEST_P(StoreTest, NestedBeginOnOneThreadThrowsInsteadOfDeadlocking) {
  auto tx = store_->begin();
  EXPECT_THROW(store_->begin(), StorageError);
}

TEST_P(StoreTest, FlowsRoundTripWithTheCoreState) {
  const auto account_id = add_account();
  auto tx = store_->begin();
  FlowRecord f = sample_flow("flow-1");
  tx->insert_flow(f);
  auto got = tx->flow_by_session("session-flow-1");
  ASSERT_TRUE(got);
  EXPECT_EQ(got->flow_id, "flow-1");
  EXPECT_EQ(got->csrf_token, "csrf-flow-1");
  EXPECT_EQ(got->client_id, "demo-app");
  EXPECT_EQ(got->redirect_uri, f.redirect_uri);
  EXPECT_EQ(got->oauth_state, "xyz");
  EXPECT_EQ(got->code_challenge, f.code_challenge);
  EXPECT_EQ(got->scope, "accounts.read");
  EXPECT_EQ(got->state, f.state);
  EXPECT_FALSE(got->account_id);
  EXPECT_EQ(got->client_ip, "127.0.0.1");
  EXPECT_EQ(got->user_agent, "test");
  EXPECT_EQ(got->created_at, kT0);
  EXPECT_EQ(got->updated_at, kT0);
  EXPECT_EQ(got->app_error, "");

  // Rotation of the session and a state deep in the flow.
  f.session_digest = "rotated";
  f.account_id = account_id;
  f.state.screen = Screen::call_wait;
  f.state.account = AccountRef{"115", AccountType::ordinary, "7654321"};
  f.state.identity_verified = true;
  f.state.name_kana = "ﾃｽﾄ ﾀﾛｳ";
  f.state.email = "a@example.jp";
  f.state.phone = "09000000001";
  f.state.call = CallWindow{"0120000001", kT0 + 10, kT0 + 130, std::nullopt};
  f.updated_at = kT0 + 10;
  tx->update_flow(f);
  EXPECT_FALSE(tx->flow_by_session("session-flow-1"));
  got = tx->flow_by_session("rotated");
  ASSERT_TRUE(got);
  EXPECT_EQ(got->state, f.state);
  EXPECT_EQ(got->account_id, account_id);
  got = tx->flow_by_id("flow-1");
  ASSERT_TRUE(got);
  EXPECT_EQ(got->session_digest, "rotated");
  // An ended flow keeps the error it gave the app (SPEC §8a, migration 6).
  f.state.screen = Screen::cancelled;
  f.app_error = "temporarily_unavailable";
  tx->update_flow(f);
  got = tx->flow_by_id("flow-1");
  ASSERT_TRUE(got);
  EXPECT_EQ(got->app_error, "temporarily_unavailable");
  EXPECT_FALSE(tx->flow_by_id("nope"));

  EXPECT_THROW(tx->insert_flow(sample_flow("flow-1")), StorageError);  // duplicate id
}

TEST_P(StoreTest, UpdatingAFlowThatIsNotThereFailsTheTransaction) {
  ASSERT_NO_FATAL_FAILURE(store_flow(*store_, "flow-1"));
  // SQLite throws at the call; PostgreSQL sends the update with the next
  // statement or the COMMIT (deferred writes), which then fails: either way
  // nothing of the transaction is kept.
  FlowRecord changed = sample_flow("flow-1");
  changed.updated_at = kT0 + 99;
  bool failed = false;
  try {
    auto tx = store_->begin();
    tx->update_flow(changed);
    tx->update_flow(sample_flow("unknown"));
    failed = !tx->commit();
  } catch (const StorageError&) {
    failed = true;
  }
  EXPECT_TRUE(failed);
  auto tx = store_->begin(TxMode::read_only);
  auto got = tx->flow_by_id("flow-1");
  ASSERT_TRUE(got);
  EXPECT_EQ(got->updated_at, sample_flow("flow-1").updated_at);  // the first update rolled back too
  // And a statement after the failed deferred update throws (PostgreSQL).
  bool next_failed = false;
  try {
    auto w = store_->begin();
    w->update_flow(sample_flow("unknown"));
    (void)w->flow_by_id("flow-1");
    next_failed = !w->commit();
  } catch (const StorageError&) {
    next_failed = true;
  }
  EXPECT_TRUE(next_failed);
}

// A unit of work that fails says where and why (on PostgreSQL at the COMMIT
// the deferred update went with: "storage: commit failed: update_flow: …
// (22012 …)"), and never quotes a value of the record.
TEST_P(StoreTest, AFailedUnitSaysWhereWithoutAValue) {
  FlowRecord missing = sample_flow("missing");
  missing.session_digest = "secret-session";
  missing.csrf_token = "secret-csrf";
  try {
    with_transaction(*store_, TxMode::read_write, [&](StoreTx& tx) { tx.update_flow(missing); });
    ADD_FAILURE() << "updating a flow that is not there succeeded";
  } catch (const StorageError& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("update_flow"), std::string::npos) << what;
    EXPECT_EQ(what.find("secret"), std::string::npos) << what;
    if (GetParam() == "postgres") EXPECT_NE(what.find("22012"), std::string::npos) << what;
  }
}

// A text value with a NUL byte (a percent-decoded %00 in a query or form)
// is a different value: a lookup by it finds nothing on either backend.
// libpq sends text parameters NUL-terminated, so PostgreSQL would compare
// only the bytes before the NUL (and find "flow-1" for "flow-1\0…").
TEST_P(StoreTest, ATextWithANulByteIsNotCutAtTheNul) {
  ASSERT_NO_FATAL_FAILURE(store_flow(*store_, "flow-1"));
  const std::string with_nul("flow-1\0xyz", 10);
  const std::string session_with_nul("session-flow-1\0xyz", 18);
  auto tx = store_->begin(TxMode::read_only);
  EXPECT_FALSE(tx->flow_by_id(with_nul));
  EXPECT_FALSE(tx->flow_by_session(session_with_nul));
  EXPECT_TRUE(tx->flow_by_id("flow-1"));
}

TEST_P(StoreTest, DeferredWritesAreSeenByTheTransactionsNextReads) {
  ASSERT_NO_FATAL_FAILURE(store_flow(*store_, "flow-1"));
  auto tx = store_->begin();
  FlowRecord changed = sample_flow("flow-1");
  changed.session_digest = "rotated";
  tx->update_flow(changed);
  AuditRecord a;
  a.at = kT0;
  a.flow_id = "flow-1";
  a.step = "submit_account";
  a.outcome = "ok";
  tx->append_audit(a);
  EXPECT_TRUE(tx->flow_by_session("rotated"));  // read after the deferred update
  AuditQuery q;
  q.flow_id = "flow-1";
  q.from = 0;
  q.to = kT0 + 1;
  EXPECT_EQ(tx->query_audit(q).size(), 1u);
  ASSERT_TRUE(tx->commit());
}

TEST_P(StoreTest, FlowsWaitingForACallByDialledNumberAndWindow) {
  auto tx = store_->begin();
  auto waiting = [&](const std::string& id, const std::string& dialled, UnixSeconds opened) {
    FlowRecord f = sample_flow(id);
    f.state.screen = Screen::call_wait;
    f.state.call = CallWindow{dialled, opened, opened + 120, std::nullopt};
    tx->insert_flow(f);
  };
  waiting("a", "0120000001", kT0);
  waiting("b", "0120000002", kT0);
  waiting("c", "0120000001", kT0 + 60);
  // On ③ with a stale window from an earlier attempt: not waiting.
  FlowRecord d = sample_flow("d");
  d.state.screen = Screen::pin_entry;
  d.state.call = CallWindow{"0120000001", kT0, kT0 + 120, kT0 + 5};
  tx->insert_flow(d);

  auto ids = [&](UnixSeconds now) {
    std::vector<std::string> out;
    for (const auto& f : tx->flows_waiting_for_call("0120000001", now)) out.push_back(f.flow_id);
    return out;
  };
  EXPECT_EQ(ids(kT0 - 1), std::vector<std::string>{});
  EXPECT_EQ(ids(kT0), std::vector<std::string>{"a"});
  EXPECT_EQ(ids(kT0 + 60), (std::vector<std::string>{"c", "a"}));   // newest window first
  EXPECT_EQ(ids(kT0 + 120), (std::vector<std::string>{"c", "a"}));  // the end still counts
  EXPECT_EQ(ids(kT0 + 121), std::vector<std::string>{"c"});
  EXPECT_EQ(ids(kT0 + 181), std::vector<std::string>{});
  EXPECT_TRUE(tx->flows_waiting_for_call("0120000009", kT0).empty());
}

TEST_P(StoreTest, IdleFlowsAreDeletedAndRecentOnesListed) {
  auto tx = store_->begin();
  for (int i = 0; i < 5; ++i) {
    FlowRecord f = sample_flow("f" + std::to_string(i));
    f.updated_at = kT0 + i * 100;
    tx->insert_flow(f);
  }
  auto recent = tx->recent_flows(kT0 + 200, 10);
  ASSERT_EQ(recent.size(), 3u);
  EXPECT_EQ(recent[0].flow_id, "f4");
  EXPECT_EQ(tx->recent_flows(kT0, 2).size(), 2u);
  EXPECT_EQ(tx->delete_flows_idle_since(kT0 + 200, 1), 1);   // a batch of one: f0 or f1
  EXPECT_EQ(tx->delete_flows_idle_since(kT0 + 200, 10), 1);  // the other
  EXPECT_FALSE(tx->flow_by_id("f0"));
  EXPECT_FALSE(tx->flow_by_id("f1"));
  EXPECT_TRUE(tx->flow_by_id("f2"));
  EXPECT_EQ(tx->delete_flows_idle_since(kT0 + 200, 10), 0);
}

TEST_P(StoreTest, ClientsRoundTrip) {
  auto tx = store_->begin();
  EXPECT_FALSE(tx->find_client("demo-app"));
  ClientRecord c{"demo-app", "家計簿アプリ", {"http://a/cb", "http://b/cb"}, "", true};
  tx->upsert_client(c);
  tx->upsert_client({"conf-app", "Conf", {"https://c/cb"}, "abc123", false});
  auto got = tx->find_client("demo-app");
  ASSERT_TRUE(got);
  EXPECT_EQ(got->display_name, "家計簿アプリ");
  EXPECT_EQ(got->redirect_uris, (std::vector<std::string>{"http://a/cb", "http://b/cb"}));
  EXPECT_EQ(got->secret_digest, "");
  EXPECT_TRUE(got->enabled);
  c.redirect_uris = {"http://z/cb"};
  c.enabled = false;
  tx->upsert_client(c);
  auto all = tx->list_clients();
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[0].id, "conf-app");
  EXPECT_EQ(all[0].secret_digest, "abc123");
  EXPECT_FALSE(all[0].enabled);
  EXPECT_EQ(all[1].redirect_uris, std::vector<std::string>{"http://z/cb"});
  EXPECT_FALSE(all[1].enabled);
}

TEST_P(StoreTest, CodesAreSingleUse) {
  {
    auto tx = store_->begin();
    tx->insert_code({"code-digest", "demo-app", "http://a/cb", "challenge", "grant-1", kT0 + 60});
    EXPECT_FALSE(tx->consume_code("other"));
    auto first = tx->consume_code("code-digest");
    ASSERT_TRUE(first);
    EXPECT_FALSE(first->used);
    EXPECT_EQ(first->client_id, "demo-app");
    EXPECT_EQ(first->redirect_uri, "http://a/cb");
    EXPECT_EQ(first->code_challenge, "challenge");
    EXPECT_EQ(first->grant_id, "grant-1");
    EXPECT_EQ(first->expires_at, kT0 + 60);
    auto second = tx->consume_code("code-digest");
    ASSERT_TRUE(second);
    EXPECT_TRUE(second->used);  // a replay
    EXPECT_TRUE(tx->commit());
  }
  auto tx2 = store_->begin();
  EXPECT_TRUE(tx2->consume_code("code-digest")->used);
}

TEST_P(StoreTest, GrantsRoundTrip) {
  const auto account = add_account();
  auto tx = store_->begin();
  GrantRecord g = sample_grant("grant-1", account, kT0);
  tx->insert_grant(g);
  tx->insert_grant(sample_grant("grant-2", account, kT0 + 5));
  auto got = tx->find_grant("grant-1");
  ASSERT_TRUE(got);
  EXPECT_EQ(got->client_id, "demo-app");
  EXPECT_EQ(got->account_id, account);
  EXPECT_EQ(got->scope, "accounts.read");
  EXPECT_EQ(got->flow_id, "flow-grant-1");
  EXPECT_EQ(got->created_at, kT0);
  EXPECT_EQ(got->expires_at, kT0 + 30 * 86400);
  EXPECT_FALSE(got->revoked_at);
  EXPECT_FALSE(got->last_used_at);
  EXPECT_EQ(got->revoked_by, "");
  g.revoked_at = kT0 + 100;
  g.last_used_at = kT0 + 50;
  g.revoked_by = "staff:tanaka";
  tx->update_grant(g);
  got = tx->find_grant("grant-1");
  ASSERT_TRUE(got);
  EXPECT_EQ(got->revoked_at, kT0 + 100);
  EXPECT_EQ(got->last_used_at, kT0 + 50);
  EXPECT_EQ(got->revoked_by, "staff:tanaka");
  auto list = tx->grants_for_account(account);
  ASSERT_EQ(list.size(), 2u);
  EXPECT_EQ(list[0].id, "grant-2");  // newest first
  EXPECT_FALSE(tx->find_grant("none"));
  EXPECT_THROW(tx->update_grant(sample_grant("none", account, kT0)), StorageError);
}

TEST_P(StoreTest, TokensRoundTripAndRevoke) {
  auto tx = store_->begin();
  tx->insert_token({"t-access", TokenKind::access, "g1", "demo-app", kT0 + 900, false});
  tx->insert_token({"t-refresh", TokenKind::refresh, "g1", "demo-app", kT0 + 86400, false});
  tx->insert_token({"t-other", TokenKind::access, "g2", "demo-app", kT0 + 900, false});
  auto t = tx->find_token("t-refresh");
  ASSERT_TRUE(t);
  EXPECT_EQ(t->kind, TokenKind::refresh);
  EXPECT_EQ(t->grant_id, "g1");
  EXPECT_EQ(t->client_id, "demo-app");
  EXPECT_EQ(t->expires_at, kT0 + 86400);
  EXPECT_FALSE(t->revoked);
  EXPECT_EQ(tx->find_token("t-access")->kind, TokenKind::access);

  tx->revoke_token("t-other");
  EXPECT_TRUE(tx->find_token("t-other")->revoked);
  EXPECT_FALSE(tx->find_token("t-access")->revoked);
  tx->revoke_tokens_of_grant("g1");
  EXPECT_TRUE(tx->find_token("t-access")->revoked);
  EXPECT_TRUE(tx->find_token("t-refresh")->revoked);
  tx->revoke_token("unknown");  // no-op
  EXPECT_FALSE(tx->find_token("unknown"));
}

// ---- FAPI 2.0 (issue 13) ----

TEST_P(StoreTest, ClientProfileAndKeysRoundTrip) {
  auto tx = store_->begin();
  ClientRecord c{"fapi-app", "FAPI", {"https://f/cb"}, "", true};
  EXPECT_EQ(c.profile, "oauth");  // the default
  c.profile = kProfileFapi2;
  c.jwks = R"({"keys":[]})";
  tx->upsert_client(c);
  auto got = tx->find_client("fapi-app");
  ASSERT_TRUE(got);
  EXPECT_EQ(got->profile, "fapi2");
  EXPECT_EQ(got->jwks, R"({"keys":[]})");
  c.jwks = R"({"keys":[{"kty":"EC"}]})";
  tx->upsert_client(c);
  EXPECT_EQ(tx->list_clients().at(0).jwks, R"({"keys":[{"kty":"EC"}]})");
}

TEST_P(StoreTest, CodesAndTokensKeepTheirDpopKey) {
  auto tx = store_->begin();
  AuthorizationCodeRecord code{"c-dpop", "fapi-app", "https://f/cb", "ch", "g1", kT0 + 60};
  code.dpop_jkt = "jkt-1";
  tx->insert_code(code);
  tx->insert_code({"c-plain", "demo-app", "http://a/cb", "ch", "g2", kT0 + 60});
  EXPECT_EQ(tx->consume_code("c-dpop")->dpop_jkt, "jkt-1");
  EXPECT_EQ(tx->consume_code("c-plain")->dpop_jkt, "");
  TokenRecord t{"t-dpop", TokenKind::access, "g1", "fapi-app", kT0 + 900, false};
  t.dpop_jkt = "jkt-1";
  tx->insert_token(t);
  tx->insert_token({"t-bearer", TokenKind::access, "g2", "demo-app", kT0 + 900, false});
  EXPECT_EQ(tx->find_token("t-dpop")->dpop_jkt, "jkt-1");
  EXPECT_EQ(tx->find_token("t-bearer")->dpop_jkt, "");
  FlowRecord f = sample_flow("f-dpop");
  f.dpop_jkt = "jkt-2";
  tx->insert_flow(f);
  EXPECT_EQ(tx->flow_by_id("f-dpop")->dpop_jkt, "jkt-2");
  f.state.screen = Screen::completed;
  tx->update_flow(f);
  EXPECT_EQ(tx->flow_by_id("f-dpop")->dpop_jkt, "jkt-2");
}

TEST_P(StoreTest, PushedRequestsAreSingleUse) {
  {
    auto tx = store_->begin();
    tx->insert_pushed_request({"uri-digest", "fapi-app", R"({"state":"s"})", kT0 + 60, false});
    EXPECT_FALSE(tx->consume_pushed_request("other"));
    auto first = tx->consume_pushed_request("uri-digest");
    ASSERT_TRUE(first);
    EXPECT_FALSE(first->used);
    EXPECT_EQ(first->client_id, "fapi-app");
    EXPECT_EQ(first->params_json, R"({"state":"s"})");
    EXPECT_EQ(first->expires_at, kT0 + 60);
    ASSERT_TRUE(tx->commit());
  }
  auto tx = store_->begin();
  EXPECT_TRUE(tx->consume_pushed_request("uri-digest")->used);
}

TEST_P(StoreTest, APushedRequestIsConsumedOnceUnderConcurrency) {
  {
    auto tx = store_->begin();
    tx->insert_pushed_request({"uri", "fapi-app", "{}", kT0 + 60, false});
    ASSERT_TRUE(tx->commit());
  }
  constexpr int kThreads = 6;
  std::atomic<int> fresh{0};
  run_together(*store_, kThreads, [&](int) {
    auto tx = store_->begin();
    auto r = tx->consume_pushed_request("uri");
    ASSERT_TRUE(r);
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
    ASSERT_TRUE(tx->commit());
    if (!r->used) fresh.fetch_add(1);
  });
  EXPECT_EQ(fresh.load(), 1);
}

TEST_P(StoreTest, AJwtIdIsRememberedOncePerKindAndOwner) {
  {
    auto tx = store_->begin();
    EXPECT_TRUE(tx->remember_jti("client_assertion", "fapi-app", "j1", kT0 + 60));
    EXPECT_FALSE(tx->remember_jti("client_assertion", "fapi-app", "j1", kT0 + 90));  // replay
    EXPECT_TRUE(tx->remember_jti("client_assertion", "other-app", "j1", kT0 + 60));
    EXPECT_TRUE(tx->remember_jti("dpop", "fapi-app", "j1", kT0 + 60));
    ASSERT_TRUE(tx->commit());
  }
  {
    auto tx = store_->begin();  // seen by a later transaction (any instance)
    EXPECT_FALSE(tx->remember_jti("client_assertion", "fapi-app", "j1", kT0 + 60));
  }
  // Concurrent first uses: exactly one wins.
  constexpr int kThreads = 6;
  std::atomic<int> accepted{0};
  run_together(*store_, kThreads, [&](int) {
    auto tx = store_->begin();
    const bool fresh = tx->remember_jti("dpop", "jkt", "same", kT0 + 60);
    ASSERT_TRUE(tx->commit());
    if (fresh) accepted.fetch_add(1);
  });
  EXPECT_EQ(accepted.load(), 1);
}

TEST_P(StoreTest, ExpiredPushedRequestsAndJwtIdsArePurged) {
  auto tx = store_->begin();
  tx->insert_pushed_request({"old", "a", "{}", kT0 - 10, false});
  tx->insert_pushed_request({"new", "a", "{}", kT0 + 10, false});
  EXPECT_TRUE(tx->remember_jti("dpop", "k", "old", kT0 - 10));
  EXPECT_TRUE(tx->remember_jti("dpop", "k", "new", kT0 + 10));
  EXPECT_EQ(tx->delete_expired_fapi_rows(kT0, 100), 2);
  EXPECT_FALSE(tx->consume_pushed_request("old"));
  EXPECT_TRUE(tx->consume_pushed_request("new"));
  EXPECT_TRUE(tx->remember_jti("dpop", "k", "old", kT0 + 10));
  EXPECT_FALSE(tx->remember_jti("dpop", "k", "new", kT0 + 10));
}

TEST_P(StoreTest, MailOutbox) {
  auto tx = store_->begin();
  MailRecord m;
  m.to = "a@example.jp";
  m.subject = "API連携認証のお知らせ";
  m.body = "本文\n二行目";
  m.flow_id = "flow-1";
  m.created_at = kT0;
  m.next_attempt_at = kT0;
  const auto id1 = tx->enqueue_mail(m);
  m.next_attempt_at = kT0 + 100;
  const auto id2 = tx->enqueue_mail(m);
  EXPECT_NE(id1, id2);

  auto due = tx->due_mails(kT0, 10);
  ASSERT_EQ(due.size(), 1u);
  EXPECT_EQ(due[0].id, id1);
  EXPECT_EQ(due[0].to, "a@example.jp");
  EXPECT_EQ(due[0].subject, m.subject);
  EXPECT_EQ(due[0].body, m.body);
  EXPECT_EQ(due[0].state, MailState::pending);
  EXPECT_EQ(tx->due_mails(kT0 + 100, 10).size(), 2u);
  EXPECT_EQ(tx->due_mails(kT0 + 100, 1).size(), 1u);

  MailRecord sent = due[0];
  sent.state = MailState::sent;
  sent.attempts = 1;
  sent.sent_at = kT0 + 1;
  tx->update_mail(sent);
  MailRecord failed = *tx->mail_by_id(id2);
  failed.state = MailState::failed;
  failed.attempts = 10;
  failed.last_error = "550 mailbox unavailable";
  tx->update_mail(failed);
  EXPECT_TRUE(tx->due_mails(kT0 + 1000, 10).empty());  // neither is pending

  auto got = tx->mail_by_id(id1);
  ASSERT_TRUE(got);
  EXPECT_EQ(got->state, MailState::sent);
  EXPECT_EQ(got->attempts, 1);
  EXPECT_EQ(got->sent_at, kT0 + 1);
  EXPECT_EQ(tx->mail_by_id(id2)->last_error, "550 mailbox unavailable");
  auto list = tx->list_mails(10);
  ASSERT_EQ(list.size(), 2u);
  EXPECT_EQ(list[0].id, id2);  // newest first
  EXPECT_FALSE(tx->mail_by_id(id2 + 100));
}

TEST_P(StoreTest, AuditQueryFilters) {
  auto tx = store_->begin();
  auto add = [&](UnixSeconds at, const char* flow, const char* outcome, const char* account) {
    AuditRecord r;
    r.at = at;
    r.flow_id = flow;
    r.step = "submit_customer";
    r.outcome = outcome;
    r.account = account;
    r.name_kana = "ﾃﾞｰﾀ ｻﾄﾙ";
    r.masked_phone = "*******3333";
    r.client_id = "demo-app";
    r.ip = "127.0.0.1";
    r.user_agent = "ua";
    r.actor = "customer";
    r.detail = "d";
    tx->append_audit(r);
  };
  add(kT0 + 0, "f1", "ok", "115-ordinary-1100026");
  add(kT0 + 10, "f1", "auth_mismatch", "115-ordinary-1100026");
  add(kT0 + 20, "f2", "auth_mismatch", "001-savings-0000123");
  add(kT0 + 30, "f2", "ok", "001-savings-0000123");
  add(kT0 + 40, "f3", "locked", "115-ordinary-1100026");

  auto all = tx->query_audit({});
  ASSERT_EQ(all.size(), 5u);
  EXPECT_EQ(all[0].at, kT0 + 40);  // newest first
  EXPECT_EQ(all[0].flow_id, "f3");
  EXPECT_EQ(all[0].step, "submit_customer");
  EXPECT_EQ(all[0].name_kana, "ﾃﾞｰﾀ ｻﾄﾙ");
  EXPECT_EQ(all[0].masked_phone, "*******3333");
  EXPECT_EQ(all[0].client_id, "demo-app");
  EXPECT_EQ(all[0].ip, "127.0.0.1");
  EXPECT_EQ(all[0].user_agent, "ua");
  EXPECT_EQ(all[0].actor, "customer");
  EXPECT_EQ(all[0].detail, "d");

  AuditQuery q;
  q.account = "115-ordinary-1100026";
  EXPECT_EQ(tx->query_audit(q).size(), 3u);
  q.outcome = "auth_mismatch";
  ASSERT_EQ(tx->query_audit(q).size(), 1u);
  EXPECT_EQ(tx->query_audit(q)[0].flow_id, "f1");

  AuditQuery by_flow;
  by_flow.flow_id = "f2";
  EXPECT_EQ(tx->query_audit(by_flow).size(), 2u);
  by_flow.outcome = "ok";
  EXPECT_EQ(tx->query_audit(by_flow).size(), 1u);

  AuditQuery by_outcome;
  by_outcome.outcome = "auth_mismatch";
  EXPECT_EQ(tx->query_audit(by_outcome).size(), 2u);

  AuditQuery by_time;
  by_time.from = kT0 + 10;
  by_time.to = kT0 + 30;  // both inclusive
  EXPECT_EQ(tx->query_audit(by_time).size(), 3u);
  by_time.from.reset();
  EXPECT_EQ(tx->query_audit(by_time).size(), 4u);

  AuditQuery page;
  page.limit = 2;
  auto p1 = tx->query_audit(page);
  ASSERT_EQ(p1.size(), 2u);
  page.before_id = p1.back().id;
  auto p2 = tx->query_audit(page);
  ASSERT_EQ(p2.size(), 2u);
  EXPECT_LT(p2[0].id, p1[1].id);
  page.before_id = p2.back().id;
  EXPECT_EQ(tx->query_audit(page).size(), 1u);

  AuditQuery none;
  none.account = "999-ordinary-0000000";
  EXPECT_TRUE(tx->query_audit(none).empty());
  AuditQuery zero;
  zero.limit = 0;
  EXPECT_TRUE(tx->query_audit(zero).empty());
}

TEST_P(StoreTest, CallEventsAreIdempotent) {
  auto tx = store_->begin();
  CallEventRecord e{"call-1", std::string("*****3333"), "0120000001", kT0, "flow-1", "ok"};
  EXPECT_TRUE(tx->insert_call_event(e));
  CallEventRecord again = e;
  again.outcome = "call_not_matched";
  EXPECT_FALSE(tx->insert_call_event(again));
  auto got = tx->find_call_event("call-1");
  ASSERT_TRUE(got);
  EXPECT_EQ(got->caller_masked, "*****3333");
  EXPECT_EQ(got->dialled, "0120000001");
  EXPECT_EQ(got->received_at, kT0);
  EXPECT_EQ(got->flow_id, "flow-1");
  EXPECT_EQ(got->outcome, "ok");  // the first one stays

  // Withheld caller ID is stored as absent, not as "".
  EXPECT_TRUE(
      tx->insert_call_event({"call-2", std::nullopt, "0120000001", kT0, "", "call_withheld"}));
  got = tx->find_call_event("call-2");
  ASSERT_TRUE(got);
  EXPECT_FALSE(got->caller_masked);
  EXPECT_FALSE(tx->find_call_event("call-3"));
}

// Found by running the server suite on PostgreSQL (issue 9): request bytes
// that are not UTF-8 reach the store (/authorize?client_id=%ff%fe is looked
// up; a User-Agent is written to the operation log). SQLite takes any bytes;
// PostgreSQL's text refused them and the request answered 500. On both
// backends a lookup finds nothing and a write commits.
TEST_P(StoreTest, TextThatIsNotUtf8IsLookedUpAndStoredWithoutFailing) {
  {
    auto tx = store_->begin();
    tx->upsert_client({"demo-app", "Demo", {"http://a/cb"}, "", true});
    EXPECT_FALSE(tx->find_client("\xff\xfe"));
    EXPECT_FALSE(tx->find_client("demo-app\xc0\xaf"));
    AuditRecord a;
    a.at = kT0;
    a.step = "authorize";
    a.outcome = "bad_request";
    a.client_id = "\xff\xfe";
    a.user_agent = "agent \xed\xa0\x80 \xf4\x90\x80\x80 end";
    tx->append_audit(a);
    EXPECT_TRUE(tx->find_client("demo-app"));  // the transaction is still usable
    EXPECT_TRUE(tx->commit());
  }
  auto read = store_->begin();
  EXPECT_TRUE(read->find_client("demo-app"));
}

// An operation-log row with a once_key is written at most once, however often
// its unit runs (with_idempotent_transaction); rows without one are all kept.
TEST_P(StoreTest, AnAuditRowWithAOnceKeyIsWrittenAtMostOnce) {
  AuditRecord keyed;
  keyed.at = kT0;
  keyed.step = "purge";
  keyed.outcome = "ok";
  keyed.actor = "system";
  keyed.once_key = "key-1";
  AuditRecord plain = keyed;
  plain.once_key.clear();
  plain.step = "plain";
  for (int run = 0; run < 2; ++run) {
    auto tx = store_->begin();
    tx->append_audit(keyed);
    tx->append_audit(keyed);  // twice in one transaction too
    tx->append_audit(plain);
    ASSERT_TRUE(tx->commit());
  }
  AuditRecord other = keyed;
  other.once_key = "key-2";
  with_idempotent_transaction(*store_, [&](StoreTx& tx) { tx.append_audit(other); });
  auto tx = store_->begin(TxMode::read_only);
  AuditQuery q;
  q.limit = 10;
  const std::vector<AuditRecord> rows = tx->query_audit(q);
  EXPECT_EQ(std::count_if(rows.begin(), rows.end(),
                          [](const AuditRecord& r) { return r.step == "purge"; }),
            2);
  EXPECT_EQ(std::count_if(rows.begin(), rows.end(),
                          [](const AuditRecord& r) { return r.step == "plain"; }),
            2);
}

// Retention (issue 12): the purge job's deletions take exactly the older rows.
TEST_P(StoreTest, RetentionDeletesOnlyOlderCallEventsAuditRowsFlowsAndFinishedMails) {
  auto tx = store_->begin();
  ASSERT_TRUE(tx->insert_call_event(
      {"old", std::string("*****3333"), "0120000001", kT0 - 10, "", "call_not_matched"}));
  ASSERT_TRUE(tx->insert_call_event({"new", std::nullopt, "0120000001", kT0, "", "call_withheld"}));
  AuditRecord a;
  a.at = kT0 - 10;
  a.step = "old";
  a.outcome = "ok";
  tx->append_audit(a);
  a.at = kT0;
  a.step = "new";
  tx->append_audit(a);
  FlowRecord old_flow = sample_flow("old-flow");
  old_flow.updated_at = kT0 - 10;
  tx->insert_flow(old_flow);
  FlowRecord new_flow = sample_flow("new-flow");
  new_flow.updated_at = kT0;
  tx->insert_flow(new_flow);

  MailRecord mail;
  mail.to = "taro@example.jp";
  mail.subject = "s";
  mail.body = "b";
  mail.flow_id = "old-flow";
  mail.created_at = kT0 - 10;
  mail.next_attempt_at = kT0 - 10;
  const std::int64_t pending_id = tx->enqueue_mail(mail);  // never delivered yet: kept
  const std::int64_t sent_id = tx->enqueue_mail(mail);
  MailRecord sent = *tx->mail_by_id(sent_id);
  sent.state = MailState::sent;
  sent.sent_at = kT0 - 5;
  tx->update_mail(sent);
  mail.created_at = kT0;
  const std::int64_t young_id = tx->enqueue_mail(mail);
  MailRecord young = *tx->mail_by_id(young_id);
  young.state = MailState::failed;
  tx->update_mail(young);

  EXPECT_EQ(tx->delete_call_events_before(kT0, 10), 1);
  EXPECT_EQ(tx->delete_audit_before(kT0, 10), 1);
  EXPECT_EQ(tx->delete_flows_idle_since(kT0, 10), 1);
  EXPECT_EQ(tx->delete_finished_mails_before(kT0, 10), 1);
  EXPECT_TRUE(tx->mail_by_id(pending_id));
  EXPECT_FALSE(tx->mail_by_id(sent_id));
  EXPECT_TRUE(tx->mail_by_id(young_id));
  EXPECT_FALSE(tx->find_call_event("old"));
  EXPECT_TRUE(tx->find_call_event("new"));
  std::vector<AuditRecord> rows = tx->query_audit(AuditQuery{});
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].step, "new");
  EXPECT_FALSE(tx->flow_by_id("old-flow"));
  EXPECT_TRUE(tx->flow_by_id("new-flow"));
}

TEST_P(StoreTest, MaintenanceWindows) {
  auto tx = store_->begin();
  EXPECT_TRUE(tx->list_maintenance().empty());
  const auto late = tx->add_maintenance({kT0 + 7200, kT0 + 9000, "システム更新"});
  const auto early = tx->add_maintenance({kT0, kT0 + 600, "臨時"});
  auto list = tx->list_maintenance();
  ASSERT_EQ(list.size(), 2u);
  EXPECT_EQ(list[0], (MaintenanceWindow{kT0, kT0 + 600, "臨時"}));  // by start
  EXPECT_EQ(list[1], (MaintenanceWindow{kT0 + 7200, kT0 + 9000, "システム更新"}));
  auto with_ids = tx->list_maintenance_with_ids();
  ASSERT_EQ(with_ids.size(), 2u);
  EXPECT_EQ(with_ids[0].first, early);
  EXPECT_EQ(with_ids[1].first, late);
  EXPECT_TRUE(tx->remove_maintenance(early));
  EXPECT_FALSE(tx->remove_maintenance(early));
  EXPECT_EQ(tx->list_maintenance().size(), 1u);
}

TEST_P(StoreTest, LockCountIsExactUnderParallelTransactions) {
  const auto account = add_account();
  constexpr int kThreads = 16;
  constexpr int kRounds = 10;
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; ++i) {
    threads.emplace_back([&] {
      for (int r = 0; r < kRounds; ++r) {
        auto tx = store_->begin();
        LockState s = tx->load_lock(account);
        std::this_thread::yield();  // invite an interleaving, should there be one
        s.failures += 1;
        tx->save_lock(account, s);
        ASSERT_TRUE(tx->commit());
      }
    });
  }
  for (auto& t : threads) t.join();
  auto tx = store_->begin();
  EXPECT_EQ(tx->load_lock(account).failures, kThreads * kRounds);
}

TEST_P(StoreTest, ParallelRolledBackTransactionsLeaveNoTrace) {
  const auto account = add_account();
  std::vector<std::thread> threads;
  for (int i = 0; i < 8; ++i) {
    threads.emplace_back([&, i] {
      auto tx = store_->begin();
      tx->save_lock(account, LockState{100 + i, std::nullopt});
      if (i % 2 == 0) {
        ASSERT_TRUE(tx->commit());
      }
      // odd threads roll back
    });
  }
  for (auto& t : threads) t.join();
  auto tx = store_->begin();
  EXPECT_EQ(tx->load_lock(account).failures % 2, 0);  // only even writers committed
}

// The first wrong attempts on an account that never failed before: there is
// no counter row yet, and parallel transactions must still be serialized on
// it (PostgreSQL: load_lock inserts the row if missing, then locks it).
TEST_P(StoreTest, AMissingLockRowIsCreatedAndLockedSoParallelFirstAttemptsAllCount) {
  constexpr int kAccounts = 5;
  constexpr int kThreads = 8;
  for (int a = 0; a < kAccounts; ++a) {
    const auto account = add_account("C95" + std::to_string(a), "800000" + std::to_string(a));
    {
      auto tx = store_->begin();
      ASSERT_EQ(tx->load_lock(account), LockState{});  // never failed: no row, or a zero row
      for (const auto& [id, lock] : tx->list_locks()) ASSERT_NE(id, account);  // not listed
      // rolled back
    }
    run_together(*store_, kThreads, [&](int) {
      auto tx = store_->begin();
      LockState s = tx->load_lock(account);
      std::this_thread::sleep_for(std::chrono::milliseconds(1));  // widen the window
      s.failures += 1;
      tx->save_lock(account, s);
      ASSERT_TRUE(tx->commit());
    });
    auto tx = store_->begin();
    EXPECT_EQ(tx->load_lock(account).failures, kThreads) << "account " << a;
  }
}

// Parallel exchanges of one authorization code: exactly one finds it unused.
TEST_P(StoreTest, ACodeIsConsumedOnceUnderConcurrency) {
  {
    auto tx = store_->begin();
    tx->insert_code({"code", "demo-app", "http://a/cb", "challenge", "grant-1", kT0 + 60});
    ASSERT_TRUE(tx->commit());
  }
  constexpr int kThreads = 8;
  std::atomic<int> fresh{0};
  std::atomic<int> replays{0};
  run_together(*store_, kThreads, [&](int) {
    auto tx = store_->begin();
    auto c = tx->consume_code("code");
    ASSERT_TRUE(c);
    std::this_thread::sleep_for(std::chrono::milliseconds(5));  // widen the window
    ASSERT_TRUE(tx->commit());
    (c->used ? replays : fresh).fetch_add(1);
  });
  EXPECT_EQ(fresh.load(), 1);
  EXPECT_EQ(replays.load(), kThreads - 1);
}

// Parallel refreshes with one refresh token (as oauth.cpp rotates it: read,
// check, revoke, issue): exactly one sees it unrevoked, the others see the
// reuse.
TEST_P(StoreTest, ARefreshTokenIsRotatedOnceUnderConcurrency) {
  const auto account = add_account();
  {
    auto tx = store_->begin();
    tx->insert_grant(sample_grant("g1", account, kT0));
    tx->insert_token({"r0", TokenKind::refresh, "g1", "demo-app", kT0 + 3600});
    ASSERT_TRUE(tx->commit());
  }
  constexpr int kThreads = 8;
  std::atomic<int> rotated{0};
  std::atomic<int> reused{0};
  run_together(*store_, kThreads, [&](int i) {
    auto tx = store_->begin();
    auto t = tx->find_token("r0");
    ASSERT_TRUE(t);
    auto g = tx->find_grant(t->grant_id);
    ASSERT_TRUE(g);
    std::this_thread::sleep_for(std::chrono::milliseconds(5));  // widen the window
    if (t->revoked) {
      reused.fetch_add(1);
    } else {
      tx->revoke_token("r0");
      tx->insert_token(
          {"r" + std::to_string(i + 1), TokenKind::refresh, "g1", "demo-app", kT0 + 3600});
      rotated.fetch_add(1);
    }
    ASSERT_TRUE(tx->commit());
  });
  EXPECT_EQ(rotated.load(), 1);
  EXPECT_EQ(reused.load(), kThreads - 1);
}

// Choosing a free call number reads each number's waiting list and then makes
// the flow wait on one (FlowService::pick_call_number). A second chooser
// must see the first one's choice, so that two flows of one phone never wait
// on the same number: PostgreSQL holds the number read until commit (no row
// lock covers a flow that starts waiting), SQLite has one writer.
TEST_P(StoreTest, AWaitingListReadIsHeldUntilCommitSoChoicesSeeEachOther) {
  ASSERT_NO_FATAL_FAILURE(add_two_flows());
  auto first = store_->begin();
  ASSERT_TRUE(first->flows_waiting_for_call("0120000001", kT0).empty());
  FlowRecord f = *first->flow_by_id("first");
  f.state.screen = Screen::call_wait;
  f.state.call = CallWindow{"0120000001", kT0, kT0 + 120, std::nullopt};
  first->update_flow(f);

  std::vector<std::string> seen;
  ASSERT_NO_FATAL_FAILURE(second_chooser_meets(std::move(first), [&](StoreTx& tx) {
    for (const auto& w : tx.flows_waiting_for_call("0120000001", kT0)) seen.push_back(w.flow_id);
  }));
  EXPECT_EQ(seen, std::vector<std::string>{"first"});
}

// ③'s choice reads every waiting flow under a hold on the customer's phone
// (FlowService::pick_call_number): a second chooser of the same phone waits
// for the first's commit and sees its choice; PostgreSQL holds the phone with
// an advisory lock, SQLite has one writer.
TEST_P(StoreTest, APhoneHeldForTheCallPickMakesChoicesSeeEachOther) {
  ASSERT_NO_FATAL_FAILURE(add_two_flows());
  auto first = store_->begin();
  FlowRecord f = *first->flow_by_id("first");
  first->hold_phone_for_call_pick(f.state.phone);
  ASSERT_TRUE(first->flows_waiting_for_any_call(kT0).empty());
  f.state.screen = Screen::call_wait;
  f.state.call = CallWindow{"0120000002", kT0, kT0 + 120, std::nullopt};
  first->update_flow(f);

  std::vector<std::string> seen;
  ASSERT_NO_FATAL_FAILURE(second_chooser_meets(std::move(first), [&](StoreTx& tx) {
    tx.hold_phone_for_call_pick(f.state.phone);
    for (const auto& w : tx.flows_waiting_for_any_call(kT0)) {
      seen.push_back(w.flow_id + "@" + (w.state.call ? w.state.call->dialled_number : ""));
    }
  }));
  EXPECT_EQ(seen, std::vector<std::string>{"first@0120000002"});
  // Outside the window nothing waits.
  auto tx = store_->begin(TxMode::read_only);
  EXPECT_TRUE(tx->flows_waiting_for_any_call(kT0 + 121).empty());
}

// Two mail workers (two server instances) claiming at the same time get
// different mails. PostgreSQL: FOR UPDATE SKIP LOCKED, so the second claimer
// does not even wait for the first; SQLite: the single writer makes it wait,
// and the first's claim (next_attempt_at moved on) hides its mails.
TEST_P(StoreTest, ConcurrentMailClaimersGetDisjointMails) {
  {
    auto tx = store_->begin();
    for (int i = 0; i < 4; ++i) {
      MailRecord m;
      m.to = "m" + std::to_string(i) + "@example.jp";
      m.subject = "s";
      m.body = "b";
      m.flow_id = "f";
      m.created_at = kT0;
      m.next_attempt_at = kT0;
      tx->enqueue_mail(m);
    }
    ASSERT_TRUE(tx->commit());
  }
  auto claim = [](StoreTx& tx, int limit) {
    std::vector<MailRecord> due = tx.due_mails(kT0, limit);
    for (auto m : due) {
      m.next_attempt_at = kT0 + 600;  // as MailWorker::run_once claims
      tx.update_mail(m);
    }
    return due;
  };
  auto first = store_->begin();
  const std::vector<MailRecord> mine = claim(*first, 2);
  ASSERT_EQ(mine.size(), 2u);

  std::vector<MailRecord> theirs;
  std::atomic<bool> first_committing{false};
  std::atomic<bool> second_done{false};
  std::atomic<bool> second_done_before_first_commit{false};
  std::thread second([&] {
    auto tx = store_->begin();
    theirs = claim(*tx, 10);
    EXPECT_TRUE(tx->commit());
    if (!first_committing.load()) second_done_before_first_commit = true;
    second_done = true;
  });
  // Give the second claimer time to finish while the first still holds its
  // mails (it cannot on SQLite, where it waits for the writer).
  for (int i = 0; i < 100 && !second_done.load(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  first_committing = true;
  const bool committed = first->commit();
  first.reset();  // SQLite: the writer is released when the transaction ends
  second.join();
  ASSERT_TRUE(committed);

  ASSERT_EQ(theirs.size(), 2u);
  std::set<std::int64_t> ids;
  for (const auto& m : mine) ids.insert(m.id);
  for (const auto& m : theirs) ids.insert(m.id);
  EXPECT_EQ(ids.size(), 4u);  // disjoint, and together all four
  if (GetParam() == "postgres") {
    EXPECT_TRUE(second_done_before_first_commit) << "the second claimer waited for the first";
  }
  auto tx = store_->begin();
  EXPECT_TRUE(tx->due_mails(kT0 + 599, 10).empty());
}

// ---------- read-only transactions and with_transaction (every backend) ----------

// A read-only transaction sees what was committed, through every read of the
// interface (also those that lock in a read-write transaction), and any write
// in it fails loudly and leaves nothing behind.
TEST_P(StoreTest, AReadOnlyTransactionReadsCommittedDataAndCannotWrite) {
  const auto account = add_account();
  {
    auto tx = store_->begin();
    tx->save_lock(account, LockState{2, std::nullopt});
    FlowRecord f = sample_flow("f1");
    f.state.screen = Screen::call_wait;
    f.state.call = CallWindow{"0120000001", kT0, kT0 + 120, std::nullopt};
    tx->insert_flow(f);
    tx->insert_grant(sample_grant("g1", account, kT0));
    tx->insert_token({"t1", TokenKind::refresh, "g1", "demo-app", kT0 + 3600});
    MailRecord m;
    m.to = "a@example.jp";
    m.created_at = kT0;
    m.next_attempt_at = kT0;
    tx->enqueue_mail(m);
    ASSERT_TRUE(tx->commit());
  }
  const auto other = add_account("C9002", "1111111");  // never failed: no counter row
  {
    auto tx = store_->begin(TxMode::read_only);
    EXPECT_EQ(tx->mode(), TxMode::read_only);
    ASSERT_TRUE(tx->find_customer("C9001"));
    EXPECT_EQ(tx->load_lock(account).failures, 2);
    EXPECT_EQ(tx->load_lock(other), LockState{});
    ASSERT_TRUE(tx->flow_by_id("f1"));
    ASSERT_TRUE(tx->flow_by_session("session-f1"));
    EXPECT_EQ(tx->flows_waiting_for_call("0120000001", kT0 + 1).size(), 1u);
    ASSERT_TRUE(tx->find_grant("g1"));
    ASSERT_TRUE(tx->find_token("t1"));
    ASSERT_EQ(tx->due_mails(kT0, 10).size(), 1u);
    EXPECT_TRUE(tx->mail_by_id(tx->due_mails(kT0, 10)[0].id));
    EXPECT_THROW(tx->upsert_customer(sample_customer("C9003")), StorageError);
    (void)tx->commit();  // ends it (PostgreSQL: the failed write aborted it)
  }
  {
    auto tx = store_->begin(TxMode::read_only);
    EXPECT_THROW(tx->save_lock(account, LockState{9, std::nullopt}), StorageError);
  }
  {
    auto tx = store_->begin(TxMode::read_only);
    EXPECT_THROW(tx->append_audit(AuditRecord{}), StorageError);
  }
  auto tx = store_->begin();
  EXPECT_EQ(tx->mode(), TxMode::read_write);
  EXPECT_FALSE(tx->find_customer("C9003"));
  EXPECT_EQ(tx->load_lock(account).failures, 2);
  // The read-only load_lock created no counter row, and the store still writes.
  for (const auto& [id, lock] : tx->list_locks()) EXPECT_NE(id, other);
  tx->upsert_customer(sample_customer("C9003"));
  EXPECT_TRUE(tx->commit());
}

TEST_P(StoreTest, ANestedReadOnlyBeginOnOneThreadThrowsToo) {
  auto tx = store_->begin(TxMode::read_only);
  EXPECT_THROW(store_->begin(TxMode::read_only), StorageError);
  EXPECT_THROW(store_->begin(), StorageError);
}

// with_transaction runs the whole unit again after a StorageConflict: the
// writes of the failed attempts are rolled back, the last one's committed.
TEST_P(StoreTest, WithTransactionRetriesAConflictAndCommitsTheLastAttempt) {
  const auto account = add_account();
  const std::uint64_t retries_before = storage_conflict_retries();
  int calls = 0;
  const int result = with_transaction(*store_, TxMode::read_write, [&](StoreTx& tx) {
    ++calls;
    LockState s = tx.load_lock(account);
    s.failures += 1;
    tx.save_lock(account, s);
    if (calls < 3) throw StorageConflict("storage: test: deadlock detected");
    return s.failures;
  });
  EXPECT_EQ(calls, 3);
  EXPECT_EQ(result, 1);  // the first two attempts left nothing behind
  EXPECT_EQ(storage_conflict_retries() - retries_before, 2u);
  auto tx = store_->begin(TxMode::read_only);
  EXPECT_EQ(tx->load_lock(account).failures, 1);
}

TEST_P(StoreTest, WithTransactionDoesNotRetryOtherErrorsAndGivesUpOnEndlessConflicts) {
  int calls = 0;
  // A constraint violation (an account without its customer) is not retried.
  EXPECT_THROW(with_transaction(*store_, TxMode::read_write,
                                [&](StoreTx& tx) {
                                  ++calls;
                                  tx.upsert_account(sample_account("nobody"));
                                }),
               StorageError);
  EXPECT_EQ(calls, 1);
  // Nor is any other exception; it comes out as it was thrown.
  calls = 0;
  EXPECT_THROW(with_transaction(*store_, TxMode::read_only,
                                [&](StoreTx&) -> int {
                                  ++calls;
                                  throw std::logic_error("not a storage error");
                                }),
               std::logic_error);
  EXPECT_EQ(calls, 1);
  // A write in a read-only unit is a StorageError, not retried.
  calls = 0;
  EXPECT_THROW(with_transaction(*store_, TxMode::read_only,
                                [&](StoreTx& tx) {
                                  ++calls;
                                  tx.upsert_customer(sample_customer());
                                }),
               StorageError);
  EXPECT_EQ(calls, 1);
  // Conflicts forever: bounded, and the last conflict is thrown.
  calls = 0;
  EXPECT_THROW(with_transaction(*store_, TxMode::read_write,
                                [&](StoreTx&) {
                                  ++calls;
                                  throw StorageConflict("storage: test: conflict");
                                }),
               StorageConflict);
  EXPECT_EQ(calls, kTransactionAttempts);
  // And a unit that works runs once, in the mode asked for.
  calls = 0;
  const auto n = with_transaction(*store_, TxMode::read_only, [&](StoreTx& tx) {
    ++calls;
    EXPECT_EQ(tx.mode(), TxMode::read_only);
    return tx.count_accounts();
  });
  EXPECT_EQ(n, 0);
  EXPECT_EQ(calls, 1);
}

// A function that needs one concern takes that repository (storage.h).
std::int64_t enqueue_one(MailOutboxRepository& outbox) {
  MailRecord m;
  m.to = "r@example.jp";
  m.created_at = kT0;
  m.next_attempt_at = kT0;
  return outbox.enqueue_mail(m);
}

TEST_P(StoreTest, ATransactionIsEachRepository) {
  auto tx = store_->begin();
  const auto id = enqueue_one(*tx);
  EXPECT_TRUE(tx->mail_by_id(id));
  RetentionRepository& retention = *tx;
  EXPECT_EQ(retention.delete_finished_mails_before(kT0 + 1, 10), 0);  // still pending
  EXPECT_TRUE(tx->commit());
}

// ---------- readers and the writer at once: a SQLite file, PostgreSQL ----------

class ReadOnlyTest : public BackendTest {
 protected:
  std::unique_ptr<Store> open_sqlite() override {  // "sqlite_file"
    dir_ = std::filesystem::temp_directory_path() /
           ("renkei-readers-test-" + std::to_string(::getpid()));
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    return open_sqlite_store((dir_ / "renkei.db").string());
  }
  void TearDown() override {
    BackendTest::TearDown();
    if (!dir_.empty()) std::filesystem::remove_all(dir_);
  }
  std::filesystem::path dir_;
};

INSTANTIATE_TEST_SUITE_P(Backends, ReadOnlyTest, ::testing::Values("sqlite_file", "postgres"),
                         backend_name);

// While a writer holds the database (SQLite) or its rows (PostgreSQL), a
// read-only transaction starts, reads the last committed state without
// waiting, and keeps its snapshot; and while that reader is still open, the
// next writer starts and commits without waiting for it.
TEST_P(ReadOnlyTest, ReadersAndTheWriterDoNotWaitForEachOther) {
  {
    auto tx = store_->begin();
    tx->upsert_customer(sample_customer("C1"));
    ASSERT_TRUE(tx->commit());
  }
  auto writer = store_->begin();
  writer->upsert_customer(sample_customer("C2"));  // uncommitted

  std::atomic<bool> reader_read{false};
  std::atomic<bool> writer_committed{false};
  std::atomic<bool> second_writer_done{false};
  bool saw_c1 = false, saw_c2_before = true, saw_c2_after = true;
  std::thread reader([&] {
    auto tx = store_->begin(TxMode::read_only);
    saw_c1 = tx->find_customer("C1").has_value();
    saw_c2_before = tx->find_customer("C2").has_value();
    reader_read = true;
    // Keep the snapshot open across the writer's commit and the next writer.
    for (int i = 0; i < 500 && !second_writer_done.load(); ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    saw_c2_after = tx->find_customer("C2").has_value();
    EXPECT_TRUE(tx->commit());
  });
  for (int i = 0; i < 300 && !reader_read.load(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_TRUE(reader_read.load()) << "the reader waited for the writer";
  ASSERT_TRUE(writer->commit());
  writer.reset();
  writer_committed = true;

  std::thread second([&] {
    auto tx = store_->begin();
    tx->upsert_customer(sample_customer("C3"));
    EXPECT_TRUE(tx->commit());
    second_writer_done = true;
  });
  for (int i = 0; i < 300 && !second_writer_done.load(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_TRUE(second_writer_done.load()) << "the writer waited for the reader";
  second.join();
  reader.join();
  EXPECT_TRUE(saw_c1);
  EXPECT_FALSE(saw_c2_before);  // uncommitted then
  EXPECT_FALSE(saw_c2_after);   // committed later, outside the reader's snapshot
  auto tx = store_->begin(TxMode::read_only);
  EXPECT_TRUE(tx->find_customer("C2"));  // a new reader sees it
  EXPECT_TRUE(tx->find_customer("C3"));
  // A write fails loudly here too (SQLite: a read-only connection).
  EXPECT_THROW(tx->upsert_customer(sample_customer("C4")), StorageError);
}

// Many readers at once, more than the SQLite reader pool holds, beside a writer.
TEST_P(ReadOnlyTest, ManyParallelReadersAllReadWhileWritesGoOn) {
  const std::int64_t account = [&] {
    auto tx = store_->begin();
    tx->upsert_customer(sample_customer());
    const auto id = tx->upsert_account(sample_account());
    EXPECT_TRUE(tx->commit());
    return id;
  }();
  std::atomic<int> reads{0};
  std::thread writer([&] {
    for (int i = 0; i < 20; ++i) {
      with_transaction(*store_, TxMode::read_write, [&](StoreTx& tx) {
        LockState s = tx.load_lock(account);
        s.failures += 1;
        tx.save_lock(account, s);
      });
    }
  });
  std::vector<std::thread> readers;
  for (int r = 0; r < 8; ++r) {
    readers.emplace_back([&] {
      int last = 0;
      for (int i = 0; i < 20; ++i) {
        const int seen = with_transaction(*store_, TxMode::read_only, [&](StoreTx& tx) {
          return tx.load_lock(account).failures;
        });
        EXPECT_GE(seen, last);  // committed counts only grow
        last = seen;
        reads.fetch_add(1);
      }
    });
  }
  writer.join();
  for (auto& t : readers) t.join();
  EXPECT_EQ(reads.load(), 160);
  auto tx = store_->begin(TxMode::read_only);
  EXPECT_EQ(tx->load_lock(account).failures, 20);
}

TEST(FileStore, DataSurvivesReopeningAndTheSchemaIsReused) {
  const auto dir =
      std::filesystem::temp_directory_path() /
      ("renkei-store-test-" + std::to_string(::testing::UnitTest::GetInstance()->random_seed()) +
       "-" + std::to_string(std::hash<std::thread::id>{}(std::this_thread::get_id())));
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  const std::string path = (dir / "renkei.db").string();
  std::int64_t id = 0;
  {
    auto store = open_sqlite_store(path);
    auto tx = store->begin();
    tx->upsert_customer(sample_customer());
    id = tx->upsert_account(sample_account());
    tx->save_lock(id, LockState{2, std::nullopt});
    tx->insert_flow(sample_flow("persisted"));
    ASSERT_TRUE(tx->commit());
  }
  EXPECT_TRUE(std::filesystem::exists(path));
  {
    // WAL is a property of the file: another connection sees it.
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
    sqlite3_stmt* st = nullptr;
    ASSERT_EQ(sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &st, nullptr), SQLITE_OK);
    ASSERT_EQ(sqlite3_step(st), SQLITE_ROW);
    EXPECT_STREQ(reinterpret_cast<const char*>(sqlite3_column_text(st, 0)), "wal");
    sqlite3_finalize(st);
    sqlite3_close(db);
  }
  {
    auto store = open_sqlite_store(path);  // schema exists: opened, not recreated
    auto tx = store->begin();
    EXPECT_EQ(tx->count_accounts(), 1);
    auto a = tx->find_account(sample_account().ref);
    ASSERT_TRUE(a);
    EXPECT_EQ(a->id, id);
    EXPECT_EQ(tx->load_lock(id).failures, 2);
    ASSERT_TRUE(tx->flow_by_id("persisted"));
    EXPECT_EQ(tx->flow_by_id("persisted")->state, sample_flow("persisted").state);
  }
  std::filesystem::remove_all(dir);
}

TEST(FileStore, ANewerSchemaIsRefused) {
  const auto dir =
      std::filesystem::temp_directory_path() / ("renkei-schema-test-" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  const std::string path = (dir / "renkei.db").string();
  open_sqlite_store(path).reset();  // creates schema version 1
  {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
    ASSERT_EQ(sqlite3_exec(db, "UPDATE schema_version SET version = 99", nullptr, nullptr, nullptr),
              SQLITE_OK);
    sqlite3_close(db);
  }
  try {
    open_sqlite_store(path);
    ADD_FAILURE() << "expected StorageError";
  } catch (const StorageError& e) {
    EXPECT_NE(std::string(e.what()).find("schema version 99"), std::string::npos) << e.what();
  }
  std::filesystem::remove_all(dir);
}

// Schema 1 kept the caller's full number in call_events; opening such a
// database upgrades it to schema 2, which keeps it masked (issue 12).
TEST(FileStore, ASchemaOneDatabaseIsUpgradedAndItsCallersMasked) {
  const auto dir = std::filesystem::temp_directory_path() /
                   ("renkei-migration-test-" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  const std::string path = (dir / "renkei.db").string();
  {
    // A database as a version-1 server left it: migration 1 only, with calls
    // whose full numbers schema 1 kept.
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
    const auto& m1 = store_schema::migrations(store_schema::Dialect::sqlite).at(0);
    ASSERT_EQ(m1.version, 1);
    ASSERT_EQ(sqlite3_exec(db, m1.sql, nullptr, nullptr, nullptr), SQLITE_OK) << sqlite3_errmsg(db);
    const char* v1 =
        "CREATE TABLE schema_version (version BIGINT NOT NULL);"
        "INSERT INTO schema_version (version) VALUES (1);"
        "INSERT INTO call_events VALUES ('c-1', '09011113333', '0120000001', 100, 'f', 'ok');"
        "INSERT INTO call_events VALUES ('c-2', NULL, '0120000001', 101, '', 'call_withheld');"
        "INSERT INTO clients VALUES ('old-app', 'Old', '', 1);"
        "INSERT INTO tokens VALUES ('t-old', 'access', 'g', 'old-app', 100, 0);"
        "INSERT INTO call_events VALUES ('c-3', '110', '0120000001', 102, '', 'call_not_matched');";
    ASSERT_EQ(sqlite3_exec(db, v1, nullptr, nullptr, nullptr), SQLITE_OK) << sqlite3_errmsg(db);
    sqlite3_close(db);
  }
  {
    auto store = open_sqlite_store(path);
    auto tx = store->begin();
    auto c1 = tx->find_call_event("c-1");
    ASSERT_TRUE(c1);
    EXPECT_EQ(c1->caller_masked, "*****3333");
    EXPECT_EQ(c1->outcome, "ok");
    auto c2 = tx->find_call_event("c-2");
    ASSERT_TRUE(c2);
    EXPECT_FALSE(c2->caller_masked);
    auto c3 = tx->find_call_event("c-3");  // a short number keeps none of its digits
    ASSERT_TRUE(c3);
    EXPECT_EQ(c3->caller_masked, "*****");
    EXPECT_EQ(tx->count_accounts(), 0);  // the other tables were kept, and work
    tx->upsert_customer(sample_customer());
    tx->upsert_account(sample_account());
    // Schema 3 (FAPI 2.0): existing clients are plain OAuth ones, tokens bearer.
    auto old_app = tx->find_client("old-app");
    ASSERT_TRUE(old_app);
    EXPECT_EQ(old_app->profile, "oauth");
    EXPECT_EQ(old_app->jwks, "");
    EXPECT_EQ(tx->find_token("t-old")->dpop_jkt, "");
    EXPECT_TRUE(tx->remember_jti("dpop", "k", "j", 200));
    EXPECT_TRUE(tx->commit());
  }
  {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
    sqlite3_stmt* st = nullptr;
    ASSERT_EQ(sqlite3_prepare_v2(db, "SELECT version FROM schema_version", -1, &st, nullptr),
              SQLITE_OK);
    ASSERT_EQ(sqlite3_step(st), SQLITE_ROW);
    EXPECT_EQ(sqlite3_column_int(st, 0), store_schema::version());
    EXPECT_NE(sqlite3_step(st), SQLITE_ROW);  // one row
    sqlite3_finalize(st);
    // No full number anywhere in the file's table any more.
    ASSERT_EQ(
        sqlite3_prepare_v2(db, "SELECT COUNT(*) FROM call_events WHERE caller_masked LIKE '090%'",
                           -1, &st, nullptr),
        SQLITE_OK);
    ASSERT_EQ(sqlite3_step(st), SQLITE_ROW);
    EXPECT_EQ(sqlite3_column_int(st, 0), 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
  }
  std::filesystem::remove_all(dir);
}

TEST(FileStore, AnUnopenablePathThrowsStorageError) {
  EXPECT_THROW(open_sqlite_store("/nonexistent-dir/for/sure/renkei.db"), StorageError);
}

// ---------- PostgreSQL only ----------

class PostgresStore : public ::testing::Test {
 protected:
  void SetUp() override {
    database_ = new_test_database();
    if (!database_) GTEST_SKIP() << kNoPostgres;
  }
  std::unique_ptr<PostgresTestDatabase> database_;
};

// Several instances starting at once with the demo data set: one seeds, the
// others wait for its commit (advisory lock) and find the database full. Without
// the lock each saw no accounts under READ COMMITTED and added the history again.
TEST_F(PostgresStore, DemoDataSeededAtOnceByFourInstancesIsSeededOnce) {
  constexpr int kInstances = 4;
  std::vector<std::unique_ptr<Store>> stores;
  for (int i = 0; i < kInstances; ++i)
    stores.push_back(open_postgres_store(database_->conninfo(), 2));
  std::atomic<int> ready{0};
  std::atomic<int> seeded{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < kInstances; ++i) {
    threads.emplace_back([&, i] {
      ready.fetch_add(1);
      while (ready.load() < kInstances) std::this_thread::yield();
      try {
        if (seed_demo_data(*stores[static_cast<std::size_t>(i)], "k", CivilDate{2026, 11, 25})) {
          seeded.fetch_add(1);
        }
      } catch (const std::exception& e) {
        ADD_FAILURE() << "instance " << i << ": " << e.what();
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(seeded.load(), 1);
  // The same ledger as one seed into a fresh database.
  auto count = [](Store& store) {
    auto tx = store.begin();
    std::optional<AccountRecord> a =
        tx->find_account(AccountRef{"115", AccountType::ordinary, "1100026"});
    EXPECT_TRUE(a.has_value());
    return a ? tx->ledger(a->id, "2000-01-01", "2100-01-01", 100000, 0).size() : std::size_t{0};
  };
  const std::size_t after_race = count(*stores[0]);
  auto fresh = open_store(":memory:", 1);
  ASSERT_TRUE(seed_demo_data(*fresh, "k", CivilDate{2026, 11, 25}));
  EXPECT_GT(after_race, 0u);
  EXPECT_EQ(after_race, count(*fresh));
}

// Several instances starting at once on an empty database: the advisory lock
// lets one create the schema while the others wait, then find it.
TEST_F(PostgresStore, SeveralStoresOpenedAtOnceOnAnEmptyDatabaseAllComeUp) {
  constexpr int kInstances = 4;
  std::atomic<int> ready{0};
  std::atomic<int> opened{0};
  std::vector<std::unique_ptr<Store>> stores(kInstances);
  std::vector<std::thread> threads;
  for (int i = 0; i < kInstances; ++i) {
    threads.emplace_back([&, i] {
      ready.fetch_add(1);
      while (ready.load() < kInstances) std::this_thread::yield();
      try {
        stores[static_cast<std::size_t>(i)] = open_postgres_store(database_->conninfo(), 2);
        opened.fetch_add(1);
      } catch (const std::exception& e) {
        ADD_FAILURE() << "instance " << i << ": " << e.what();
      }
    });
  }
  for (auto& t : threads) t.join();
  ASSERT_EQ(opened.load(), kInstances);
  {
    auto tx = stores[0]->begin();
    tx->upsert_customer(sample_customer());
    tx->upsert_account(sample_account());
    ASSERT_TRUE(tx->commit());
  }
  for (auto& s : stores) {
    auto tx = s->begin();
    EXPECT_EQ(tx->count_accounts(), 1);
  }
  // One version row, the current version.
  PGconn* c = PQconnectdb(database_->conninfo().c_str());
  ASSERT_EQ(PQstatus(c), CONNECTION_OK);
  PGresult* r = PQexec(c, "SELECT COUNT(*), MAX(version) FROM schema_version");
  ASSERT_EQ(PQresultStatus(r), PGRES_TUPLES_OK);
  EXPECT_STREQ(PQgetvalue(r, 0, 0), "1");
  EXPECT_EQ(std::string(PQgetvalue(r, 0, 1)), std::to_string(store_schema::version()));
  PQclear(r);
  PQfinish(c);
}

TEST_F(PostgresStore, DataSurvivesReopeningAndANewerSchemaIsRefused) {
  std::int64_t id = 0;
  {
    auto store = open_postgres_store(database_->conninfo(), 2);
    auto tx = store->begin();
    tx->upsert_customer(sample_customer());
    id = tx->upsert_account(sample_account());
    tx->save_lock(id, LockState{2, std::nullopt});
    ASSERT_TRUE(tx->commit());
  }
  {
    auto store = open_postgres_store(database_->conninfo(), 2);  // the schema is reused
    auto tx = store->begin();
    EXPECT_EQ(tx->load_lock(id).failures, 2);
  }
  ASSERT_EQ(postgres_exec(database_->conninfo(), "UPDATE schema_version SET version = 99"), "");
  try {
    open_postgres_store(database_->conninfo(), 2);
    ADD_FAILURE() << "expected StorageError";
  } catch (const StorageError& e) {
    EXPECT_NE(std::string(e.what()).find("schema version 99"), std::string::npos) << e.what();
  }
}

// The PostgreSQL spelling of migration 2, as the SQLite one is tested above.
TEST_F(PostgresStore, ASchemaOneDatabaseIsUpgradedAndItsCallersMasked) {
  const auto& m1 = store_schema::migrations(store_schema::Dialect::postgres).at(0);
  ASSERT_EQ(m1.version, 1);
  ASSERT_EQ(postgres_exec(database_->conninfo(), m1.sql), "");
  ASSERT_EQ(
      postgres_exec(database_->conninfo(),
                    "CREATE TABLE schema_version (version BIGINT NOT NULL);"
                    "INSERT INTO schema_version (version) VALUES (1);"
                    "INSERT INTO call_events VALUES"
                    " ('c-1', '09011113333', '0120000001', 100, 'f', 'ok'),"
                    " ('c-2', NULL, '0120000001', 101, '', 'call_withheld'),"
                    " ('c-3', '110', '0120000001', 102, '', 'call_not_matched');"
                    "INSERT INTO clients VALUES ('old-app', 'Old', '', true);"
                    "INSERT INTO tokens VALUES ('t-old', 'access', 'g', 'old-app', 100, false);"),
      "");
  auto store = open_postgres_store(database_->conninfo(), 2);
  {
    auto tx = store->begin();
    EXPECT_EQ(tx->find_call_event("c-1")->caller_masked, "*****3333");
    EXPECT_FALSE(tx->find_call_event("c-2")->caller_masked);
    EXPECT_EQ(tx->find_call_event("c-3")->caller_masked, "*****");
    tx->upsert_customer(sample_customer());  // the other tables were kept, and work
    tx->upsert_account(sample_account());
    // Schema 3 (FAPI 2.0): existing clients are plain OAuth ones, tokens bearer.
    EXPECT_EQ(tx->find_client("old-app")->profile, "oauth");
    EXPECT_EQ(tx->find_client("old-app")->jwks, "");
    EXPECT_EQ(tx->find_token("t-old")->dpop_jkt, "");
    EXPECT_TRUE(tx->remember_jti("dpop", "k", "j", 200));
    EXPECT_TRUE(tx->commit());
  }
  EXPECT_EQ(postgres_exec(database_->conninfo(),
                          "DO $$ BEGIN IF (SELECT COUNT(*) FROM schema_version) <> 1 OR"
                          " (SELECT MAX(version) FROM schema_version) <> " +
                              std::to_string(store_schema::version()) +
                              " THEN RAISE EXCEPTION 'schema_version is not one row of the"
                              " current version'; END IF; END $$"),
            "");
}

// The deadlock tests' data: one customer with two accounts (their ids in a
// and b), committed.
void add_two_accounts(Store& store, std::int64_t* a, std::int64_t* b) {
  auto tx = store.begin();
  tx->upsert_customer(sample_customer());
  *a = tx->upsert_account(sample_account("C9001", "1000001"));
  *b = tx->upsert_account(sample_account("C9001", "1000002"));
  ASSERT_TRUE(tx->commit());
}

// One of two threads: counts itself in `holding` and waits (5 s at most)
// until the other has too.
void wait_for_both(std::atomic<int>& holding) {
  holding.fetch_add(1);
  for (int i = 0; i < 500 && holding.load() < 2; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

// Two transactions that lock two counters in opposite order: PostgreSQL
// detects the deadlock and aborts one (SQLSTATE 40P01); that one is a
// StorageConflict, with_transaction runs it again, and both units count.
TEST_F(PostgresStore, ARealDeadlockIsRetriedByWithTransaction) {
  auto store = open_postgres_store(database_->conninfo(), 4);
  std::int64_t a = 0, b = 0;
  ASSERT_NO_FATAL_FAILURE(add_two_accounts(*store, &a, &b));
  const std::uint64_t retries_before = storage_conflict_retries();
  std::atomic<int> holding_first{0};
  std::atomic<int> calls{0};
  std::atomic<int> conflicts_seen{0};
  auto unit = [&](std::int64_t first, std::int64_t second) {
    int attempt = 0;
    with_transaction(*store, TxMode::read_write, [&](StoreTx& tx) {
      ++attempt;
      calls.fetch_add(1);
      LockState s1 = tx.load_lock(first);
      if (attempt == 1) {
        // Both hold their first counter before either asks for its second.
        wait_for_both(holding_first);
      }
      LockState s2;
      try {
        s2 = tx.load_lock(second);
      } catch (const StorageConflict&) {
        conflicts_seen.fetch_add(1);
        throw;
      }
      s1.failures += 1;
      s2.failures += 1;
      tx.save_lock(first, s1);
      tx.save_lock(second, s2);
    });
  };
  auto run = [&](std::int64_t first, std::int64_t second) {
    try {
      unit(first, second);
    } catch (const std::exception& e) {
      ADD_FAILURE() << "the unit gave up: " << e.what();
    }
  };
  std::thread one([&] { run(a, b); });
  std::thread two([&] { run(b, a); });
  one.join();
  two.join();
  // PostgreSQL chose a victim at least once (a rerun, still in the opposite
  // order, can meet the other unit again); every conflict cost exactly one
  // rerun, each counted, and no unit gave up.
  const int conflicts = conflicts_seen.load();
  EXPECT_GE(conflicts, 1);
  EXPECT_LT(conflicts, 2 * (kTransactionAttempts - 1));
  EXPECT_EQ(calls.load(), 2 + conflicts);
  EXPECT_GE(storage_conflict_retries() - retries_before, static_cast<std::uint64_t>(conflicts));
  auto tx = store->begin(TxMode::read_only);
  EXPECT_EQ(tx->load_lock(a).failures, 2);  // both units counted on both
  EXPECT_EQ(tx->load_lock(b).failures, 2);
}

// Without the helper, the deadlock victim sees a StorageConflict and its
// commit() fails and says it conflicted.
TEST_F(PostgresStore, ADeadlockVictimSeesAStorageConflict) {
  auto store = open_postgres_store(database_->conninfo(), 4);
  std::int64_t a = 0, b = 0;
  ASSERT_NO_FATAL_FAILURE(add_two_accounts(*store, &a, &b));
  std::atomic<int> holding_first{0};
  std::atomic<int> conflicts{0};
  std::atomic<int> committed{0};
  auto unit = [&](std::int64_t first, std::int64_t second) {
    auto tx = store->begin();
    tx->load_lock(first);
    wait_for_both(holding_first);
    try {
      tx->load_lock(second);
    } catch (const StorageConflict& e) {
      conflicts.fetch_add(1);
      EXPECT_NE(std::string(e.what()).find("deadlock"), std::string::npos) << e.what();
    }
    if (tx->commit()) {
      committed.fetch_add(1);
    } else {
      EXPECT_TRUE(tx->conflicted());
    }
  };
  std::thread one([&] { unit(a, b); });
  std::thread two([&] { unit(b, a); });
  one.join();
  two.join();
  EXPECT_EQ(conflicts.load(), 1);
  EXPECT_EQ(committed.load(), 1);
}

// A failed statement aborts a PostgreSQL transaction: commit() says so.
TEST_F(PostgresStore, AFailedStatementMakesCommitReturnFalse) {
  auto store = open_postgres_store(database_->conninfo(), 2);
  {
    auto tx = store->begin();
    tx->upsert_customer(sample_customer("C1"));
    EXPECT_THROW(tx->upsert_account(sample_account("nobody")), StorageError);
    EXPECT_FALSE(tx->commit());
  }
  auto tx = store->begin();
  EXPECT_FALSE(tx->find_customer("C1"));  // nothing of it happened
}

// A pooled connection the server closed (restart, failover, idle timeout)
// is dropped and replaced: the next transaction works.
TEST_F(PostgresStore, BrokenPooledConnectionsAreReplaced) {
  auto store = open_postgres_store(database_->conninfo(), 3);
  {
    auto tx = store->begin();
    tx->upsert_customer(sample_customer());
    ASSERT_TRUE(tx->commit());
  }
  run_together(*store, 3, [](int) {});  // three connections open, all idle now
  ASSERT_EQ(postgres_exec(database_->conninfo(),
                          "SELECT pg_terminate_backend(pid, 5000) FROM pg_stat_activity"
                          " WHERE datname = current_database() AND pid <> pg_backend_pid()"),
            "");
  auto tx = store->begin();
  EXPECT_TRUE(tx->find_customer("C9001"));
  EXPECT_TRUE(tx->commit());
}

// A transaction whose connection breaks midway fails loudly, commits nothing,
// and leaves a working pool behind.
TEST_F(PostgresStore, AConnectionLostInsideATransactionFailsItCleanly) {
  auto store = open_postgres_store(database_->conninfo(), 1);
  {
    auto tx = store->begin();
    tx->upsert_customer(sample_customer("C1"));
    ASSERT_EQ(postgres_exec(database_->conninfo(),
                            "SELECT pg_terminate_backend(pid, 5000) FROM pg_stat_activity"
                            " WHERE datname = current_database() AND pid <> pg_backend_pid()"),
              "");
    EXPECT_THROW(tx->upsert_customer(sample_customer("C2")), StorageUnavailable);
    EXPECT_FALSE(tx->commit());
    EXPECT_TRUE(tx->lost_connection());
  }
  auto tx = store->begin();  // the pool of one opened a new connection
  EXPECT_FALSE(tx->find_customer("C1"));
}

// A database host that never answers (here: a socket that listens and never
// accepts, so the connection is made and the startup packet waits forever)
// ends in a StorageError after the default connect_timeout, not after the
// system's TCP timeout, when the URI sets none.
TEST(PostgresConnect, AHostThatNeverAnswersFailsAfterTheDefaultTimeout) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  ASSERT_EQ(::listen(fd, 8), 0);
  socklen_t len = sizeof addr;
  ASSERT_EQ(::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len), 0);
  const std::string uri =
      "postgresql://renkei@127.0.0.1:" + std::to_string(ntohs(addr.sin_port)) + "/renkei";
  const auto started = std::chrono::steady_clock::now();
  EXPECT_THROW(open_postgres_store(uri, 1), StorageError);
  // A bound against a hang (the default is 5 s), not a speed measurement.
  EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(60));
  // The URI's own connect_timeout wins over the default (1 s, not 5).
  const auto own = std::chrono::steady_clock::now();
  EXPECT_THROW(open_postgres_store(uri + "?connect_timeout=1", 1), StorageError);
  EXPECT_LT(std::chrono::steady_clock::now() - own, std::chrono::milliseconds(4500));
  ::close(fd);
}

// ---------- deferred writes, the queued BEGIN and the pipeline (review) ----------

namespace {

// The first column of the first row of `sql` run on its own connection, or
// "error: …" (test-side reads of the server's view: pg_stat_activity).
std::string postgres_value(const std::string& conninfo, const std::string& sql) {
  // Named, so that the queries of the pool's backends below leave out the
  // backend of an earlier probe that is still exiting after its PQfinish.
  const std::string probe = conninfo + " application_name=renkei_test_probe";
  PGconn* c = PQconnectdb(probe.c_str());
  std::string out;
  if (PQstatus(c) != CONNECTION_OK) {
    out = std::string("error: ") + PQerrorMessage(c);
  } else {
    PGresult* r = PQexec(c, sql.c_str());
    if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) > 0) {
      out = PQgetvalue(r, 0, 0);
    } else {
      out = std::string("error: ") + PQresultErrorMessage(r);
    }
    PQclear(r);
  }
  PQfinish(c);
  return out;
}

// Every other backend of the test database ends (as a restart would).
void terminate_other_backends(const std::string& conninfo) {
  ASSERT_EQ(postgres_exec(conninfo,
                          "SELECT pg_terminate_backend(pid, 5000) FROM pg_stat_activity"
                          " WHERE datname = current_database() AND pid <> pg_backend_pid()"),
            "");
}

// Backends of the test database (other than the asking one) not idle: a
// pooled connection left inside a transaction or busy.
std::string busy_backends(const std::string& conninfo) {
  return postgres_value(conninfo,
                        "SELECT COUNT(*) FROM pg_stat_activity WHERE datname = current_database()"
                        " AND pid <> pg_backend_pid() AND backend_type = 'client backend'"
                        " AND application_name <> 'renkei_test_probe'"
                        " AND state <> 'idle'");
}

}  // namespace

// Two units each lock their own flow, then update the other's (deferred: sent
// with the COMMIT). The deadlock is found inside the COMMIT's round trip: the
// victim's commit() is false and says it conflicted, with_transaction runs it
// again, and both units' updates are kept.
TEST_F(PostgresStore, ADeadlockInADeferredWriteIsAConflictThatWithTransactionRetries) {
  auto store = open_postgres_store(database_->conninfo(), 4);
  {
    auto tx = store->begin();
    tx->insert_flow(sample_flow("A"));
    tx->insert_flow(sample_flow("B"));
    ASSERT_TRUE(tx->commit());
  }
  const std::uint64_t retries_before = storage_conflict_retries();
  std::atomic<int> holding{0};
  std::atomic<int> calls{0};
  auto unit = [&](const std::string& mine, const std::string& other) {
    int attempt = 0;
    with_transaction(*store, TxMode::read_write, [&](StoreTx& tx) {
      ++attempt;
      calls.fetch_add(1);
      auto own = tx.flow_by_id(mine);  // FOR UPDATE
      ASSERT_TRUE(own);
      if (attempt == 1) wait_for_both(holding);
      FlowRecord theirs = sample_flow(other);
      theirs.csrf_token = "by-" + mine;
      tx.update_flow(theirs);  // deferred: waits for the other's lock at COMMIT
      own->oauth_state = "touched-by-" + mine;
      tx.update_flow(*own);
    });
  };
  auto run = [&](const std::string& mine, const std::string& other) {
    try {
      unit(mine, other);
    } catch (const std::exception& e) {
      ADD_FAILURE() << "the unit gave up: " << e.what();
    }
  };
  std::thread one([&] { run("A", "B"); });
  std::thread two([&] { run("B", "A"); });
  one.join();
  two.join();
  EXPECT_GE(calls.load(), 3);  // one victim at least, run again
  EXPECT_GE(storage_conflict_retries() - retries_before, 1u);
  auto tx = store->begin(TxMode::read_only);
  auto a = tx->flow_by_id("A");
  auto b = tx->flow_by_id("B");
  ASSERT_TRUE(a && b);
  EXPECT_EQ(a->csrf_token, "by-B");
  EXPECT_EQ(b->csrf_token, "by-A");
}

// The connection dies after the transaction's reads, while its flow update
// and log row are still queued: COMMIT cannot be acknowledged, commit() is
// false, nothing of it is kept, and the pool works afterwards.
TEST_F(PostgresStore, AConnectionKilledBetweenDeferredWritesAndCommitKeepsNothing) {
  auto store = open_postgres_store(database_->conninfo(), 1);
  ASSERT_NO_FATAL_FAILURE(store_flow(*store, "flow-1"));
  AuditRecord a;
  a.at = kT0;
  a.flow_id = "flow-1";
  a.step = "submit_account";
  a.outcome = "ok";
  for (const bool read_first : {true, false}) {
    SCOPED_TRACE(read_first ? "after a read" : "nothing sent yet (BEGIN queued)");
    {
      auto tx = store->begin();
      if (read_first) ASSERT_TRUE(tx->flow_by_id("flow-1"));
      FlowRecord changed = sample_flow("flow-1");
      changed.updated_at = kT0 + 99;
      tx->update_flow(changed);
      tx->append_audit(a);
      ASSERT_NO_FATAL_FAILURE(terminate_other_backends(database_->conninfo()));
      EXPECT_FALSE(tx->commit());
      EXPECT_FALSE(tx->conflicted());
    }
    auto tx = store->begin(TxMode::read_only);  // a new connection
    auto got = tx->flow_by_id("flow-1");
    ASSERT_TRUE(got);
    EXPECT_EQ(got->updated_at, kT0);
    AuditQuery q;
    q.flow_id = "flow-1";
    q.from = 0;
    q.to = kT0 + 1;
    EXPECT_TRUE(tx->query_audit(q).empty());
    EXPECT_TRUE(tx->commit());
  }
}

// The connection dies after begin() (after the poll that finds a closed
// pooled connection, with the BEGIN only queued): pg_terminate_backend(…,
// 5000) returns once the backend is gone, so the race the poll cannot see is
// made every time. The transaction's first round trip fails on the broken
// connection, whether it is the PREPARE of a statement new to the connection
// or the pipeline of the BEGIN, queued writes and the first statement: a
// StorageConnectionLost (nothing of it can have run), commit() is false, and
// the next transaction gets a working connection.
TEST_F(PostgresStore, AConnectionKilledBeforeTheFirstRoundTripIsLostBeforeAnythingRan) {
  for (const std::string first : {"prepare", "statement", "queued write then statement"}) {
    SCOPED_TRACE(first);
    const std::string flow_id = "flow-" + first;
    auto store = open_postgres_store(database_->conninfo(), 1);
    {
      auto tx = store->begin();
      tx->insert_flow(sample_flow(flow_id));
      if (first != "prepare") {
        tx->upsert_customer(sample_customer("C0"));  // prepared on this connection now
        tx->update_flow(sample_flow(flow_id));
        ASSERT_TRUE(tx->flow_by_id(flow_id));
      }
      ASSERT_TRUE(tx->commit());
    }
    {
      auto tx = store->begin();
      FlowRecord changed = sample_flow(flow_id);
      changed.updated_at = kT0 + 7;
      if (first == "queued write then statement") tx->update_flow(changed);
      ASSERT_NO_FATAL_FAILURE(terminate_other_backends(database_->conninfo()));
      if (first == "queued write then statement") {
        EXPECT_THROW((void)tx->flow_by_id(flow_id), StorageConnectionLost);
      } else {
        EXPECT_THROW(tx->upsert_customer(sample_customer("C1")), StorageConnectionLost);
      }
      EXPECT_FALSE(tx->commit());
      EXPECT_FALSE(tx->conflicted());
      EXPECT_NE(tx->failure_cause(), "");
    }
    auto tx = store->begin();
    EXPECT_FALSE(tx->find_customer("C1"));
    EXPECT_EQ(tx->flow_by_id(flow_id)->updated_at, kT0);
    tx->upsert_customer(sample_customer("C2"));
    EXPECT_TRUE(tx->commit());
  }
}

// with_transaction runs a unit whose connection was lost before anything of
// it ran once more, at once, on a new connection: the request succeeds, and
// the writes (a mail inserted as the first statement; a flow update and an
// operation-log row sent with the COMMIT) are there exactly once.
TEST_F(PostgresStore, WithTransactionRunsAUnitLostBeforeAnythingRanAgainOnANewConnection) {
  auto store = open_postgres_store(database_->conninfo(), 1);
  ASSERT_NO_FATAL_FAILURE(store_flow(*store, "flow-1"));
  const std::uint64_t conflicts_before = storage_conflict_retries();
  const std::uint64_t retries_before = storage_connection_retries();
  int calls = 0;
  const std::int64_t mail = with_transaction(*store, TxMode::read_write, [&](StoreTx& tx) {
    if (++calls == 1) terminate_other_backends(database_->conninfo());
    const std::int64_t id = enqueue_one(tx);  // the first statement
    auto flow = tx.flow_by_id("flow-1");
    EXPECT_TRUE(flow);
    if (!flow) throw std::logic_error("no flow");
    flow->updated_at = kT0 + 1;
    tx.update_flow(*flow);  // deferred: sent with the COMMIT
    AuditRecord a;
    a.at = kT0;
    a.flow_id = "flow-1";
    a.step = "submit_account";
    a.outcome = "ok";
    tx.append_audit(a);  // deferred too
    return id;
  });
  EXPECT_EQ(calls, 2);
  EXPECT_GT(mail, 0);
  EXPECT_EQ(storage_connection_retries() - retries_before, 1u);
  EXPECT_EQ(storage_conflict_retries() - conflicts_before, 0u);
  EXPECT_EQ(postgres_value(database_->conninfo(), "SELECT COUNT(*) FROM mails"), "1");
  EXPECT_EQ(postgres_value(database_->conninfo(), "SELECT COUNT(*) FROM audit"), "1");
  EXPECT_EQ(postgres_value(database_->conninfo(),
                           "SELECT updated_at FROM flows WHERE flow_id = 'flow-1'"),
            std::to_string(kT0 + 1));
  // A read-only unit too.
  calls = 0;
  const auto flows = with_transaction(*store, TxMode::read_only, [&](StoreTx& tx) {
    if (++calls == 1) terminate_other_backends(database_->conninfo());
    return tx.flow_by_id("flow-1").has_value();
  });
  EXPECT_TRUE(flows);
  EXPECT_EQ(calls, 2);
  EXPECT_EQ(storage_connection_retries() - retries_before, 2u);
  // Lost on every attempt: bounded, and the last loss is thrown.
  calls = 0;
  EXPECT_THROW(with_transaction(*store, TxMode::read_write,
                                [&](StoreTx& tx) {
                                  ++calls;
                                  terminate_other_backends(database_->conninfo());
                                  (void)tx.flow_by_id("flow-1");
                                }),
               StorageConnectionLost);
  EXPECT_EQ(calls, kTransactionAttempts);
}

// A connection lost once the transaction had answers (a statement was
// acknowledged), or in the round trip that held its COMMIT (which
// PostgreSQL may have carried out), is not run again: with_transaction
// throws a plain StorageError, the unit ran once, and nothing of it is kept.
// A unit that only appends an operation-log row sends BEGIN, the row and
// COMMIT in one round trip: a connection lost there may have committed, so
// with_transaction never runs it again (StorageOutcomeUnknown, an outage).
// With a once_key and with_idempotent_transaction it runs again and the log
// holds the row once.
TEST_F(PostgresStore, ALogOnlyUnitLostWithItsCommitRunsAgainOnlyWhenIdempotent) {
  auto store = open_postgres_store(database_->conninfo(), 1);
  AuditRecord a;
  a.at = kT0;
  a.step = "purge";
  a.outcome = "ok";
  a.actor = "system";
  a.once_key = "purge-key";
  int calls = 0;
  try {
    with_transaction(*store, TxMode::read_write, [&](StoreTx& tx) {
      ++calls;
      tx.append_audit(a);
      terminate_other_backends(database_->conninfo());
    });
    ADD_FAILURE() << "the unit succeeded";
  } catch (const StorageOutcomeUnknown& e) {
    EXPECT_EQ(calls, 1) << e.what();
  }
  EXPECT_EQ(postgres_value(database_->conninfo(), "SELECT COUNT(*) FROM audit"), "0");
  const std::uint64_t retries_before = storage_connection_retries();
  calls = 0;
  with_idempotent_transaction(*store, [&](StoreTx& tx) {
    tx.append_audit(a);
    if (++calls == 1) terminate_other_backends(database_->conninfo());
  });
  EXPECT_EQ(calls, 2);
  EXPECT_EQ(storage_connection_retries() - retries_before, 1u);
  EXPECT_EQ(postgres_value(database_->conninfo(), "SELECT COUNT(*) FROM audit"), "1");
  // Had the lost COMMIT happened, the rerun finds the row: still one.
  with_idempotent_transaction(*store, [&](StoreTx& tx) { tx.append_audit(a); });
  EXPECT_EQ(postgres_value(database_->conninfo(), "SELECT COUNT(*) FROM audit"), "1");
}

TEST_F(PostgresStore, AConnectionLostAfterTheFirstRoundTripOrWithTheCommitIsNotRunAgain) {
  auto store = open_postgres_store(database_->conninfo(), 1);
  ASSERT_NO_FATAL_FAILURE(store_flow(*store, "flow-1"));
  const std::uint64_t retries_before = storage_connection_retries();
  auto expect_not_rerun = [&](const std::function<void(StoreTx&)>& unit) {
    int calls = 0;
    try {
      with_transaction(*store, TxMode::read_write, [&](StoreTx& tx) {
        ++calls;
        unit(tx);
      });
      ADD_FAILURE() << "the unit succeeded";
    } catch (const StorageConnectionLost& e) {
      ADD_FAILURE() << "treated as lost before anything ran: " << e.what();
    } catch (const StorageUnavailable& e) {
      EXPECT_EQ(calls, 1) << e.what();  // an outage (HTTP 503), never run again
    } catch (const StorageError& e) {
      ADD_FAILURE() << "a lost connection not told apart from an error: " << e.what();
    }
  };
  {
    SCOPED_TRACE("in the middle: a write was answered, then a prepared statement");
    expect_not_rerun([&](StoreTx& tx) {
      enqueue_one(tx);                // acknowledged
      (void)tx.flow_by_id("flow-1");  // prepared on this connection now
      terminate_other_backends(database_->conninfo());
      (void)tx.flow_by_id("flow-1");  // PQexecPrepared
    });
  }
  {
    SCOPED_TRACE("in the middle: a statement that needs its PREPARE");
    expect_not_rerun([&](StoreTx& tx) {
      enqueue_one(tx);
      terminate_other_backends(database_->conninfo());
      (void)tx.find_customer("C1");
    });
  }
  {
    SCOPED_TRACE("in the middle: a queued write and a statement in one pipeline");
    expect_not_rerun([&](StoreTx& tx) {
      enqueue_one(tx);
      auto flow = tx.flow_by_id("flow-1");
      ASSERT_TRUE(flow);
      flow->updated_at = kT0 + 1;
      tx.update_flow(*flow);  // queued
      terminate_other_backends(database_->conninfo());
      (void)tx.flow_by_id("flow-1");
    });
  }
  {
    SCOPED_TRACE("with the COMMIT: BEGIN, the deferred writes and COMMIT in one round trip");
    expect_not_rerun([&](StoreTx& tx) {
      FlowRecord changed = sample_flow("flow-1");
      changed.updated_at = kT0 + 1;
      tx.update_flow(changed);
      terminate_other_backends(database_->conninfo());
    });
  }
  EXPECT_EQ(storage_connection_retries(), retries_before);
  EXPECT_EQ(postgres_value(database_->conninfo(), "SELECT COUNT(*) FROM mails"), "0");
  EXPECT_EQ(postgres_value(database_->conninfo(),
                           "SELECT updated_at FROM flows WHERE flow_id = 'flow-1'"),
            std::to_string(kT0));
  auto tx = store->begin();  // the pool of one works again
  EXPECT_TRUE(tx->flow_by_id("flow-1"));
  EXPECT_TRUE(tx->commit());
}

// Flows A (whose session digest stands for a secret value that must never
// reach an error) and B, committed.
void store_flows_a_and_b(Store& store) {
  auto tx = store.begin();
  FlowRecord a = sample_flow("A");
  a.session_digest = "secret-digest-of-A";
  tx->insert_flow(a);
  tx->insert_flow(sample_flow("B"));
  ASSERT_TRUE(tx->commit());
}

// A unit whose deferred writes fail only at COMMIT: with_transaction's error
// names the cause (the operation, the SQLSTATE, PostgreSQL's primary message
// or the constraint), never a value (the DETAIL, which quotes the key, is
// left out).
TEST_F(PostgresStore, ACommitThatFailsNamesItsCauseAndNoValue) {
  auto store = open_postgres_store(database_->conninfo(), 1);
  ASSERT_NO_FATAL_FAILURE(store_flows_a_and_b(*store));
  auto commit_error = [&](const FlowRecord& update) {
    try {
      with_transaction(*store, TxMode::read_write, [&](StoreTx& tx) { tx.update_flow(update); });
    } catch (const StorageConflict& e) {
      return std::string("conflict: ") + e.what();
    } catch (const StorageError& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  FlowRecord missing = sample_flow("missing");
  missing.session_digest = "secret-digest-of-missing";
  missing.csrf_token = "secret-csrf";
  const std::string guard = commit_error(missing);
  EXPECT_EQ(guard.rfind("storage: commit failed: ", 0), 0u) << guard;
  EXPECT_NE(guard.find("update_flow"), std::string::npos) << guard;
  EXPECT_NE(guard.find("22012"), std::string::npos) << guard;
  EXPECT_EQ(guard.find("secret"), std::string::npos) << guard;

  FlowRecord clash = sample_flow("B");
  clash.session_digest = "secret-digest-of-A";  // UNIQUE
  const std::string unique = commit_error(clash);
  EXPECT_EQ(unique.rfind("storage: commit failed: ", 0), 0u) << unique;
  EXPECT_NE(unique.find("23505"), std::string::npos) << unique;
  EXPECT_NE(unique.find("flows_session_digest_key"), std::string::npos) << unique;
  EXPECT_EQ(unique.find("secret"), std::string::npos) << unique;

  // The same cause on the transaction itself.
  auto tx = store->begin();
  tx->update_flow(clash);
  EXPECT_FALSE(tx->commit());
  EXPECT_NE(tx->failure_cause().find("23505"), std::string::npos) << tx->failure_cause();
}

// A deferred write that breaks a constraint fails the transaction at the next
// statement or at COMMIT, with PostgreSQL's primary message only: the value
// (a session digest, in the DETAIL) never reaches the error. The connection
// goes back to the pool clean (out of pipeline mode, no transaction open) and
// serves the next transactions.
TEST_F(PostgresStore, AFailedDeferredWriteLeaksNoValueAndLeavesTheConnectionClean) {
  auto store = open_postgres_store(database_->conninfo(), 1);
  ASSERT_NO_FATAL_FAILURE(store_flows_a_and_b(*store));
  FlowRecord clash = sample_flow("B");
  clash.session_digest = "secret-digest-of-A";  // UNIQUE
  {
    auto tx = store->begin();
    ASSERT_TRUE(tx->flow_by_id("B"));
    tx->update_flow(clash);
    try {
      (void)tx->flow_by_id("A");
      ADD_FAILURE() << "the statement after the failed deferred write did not throw";
    } catch (const StorageError& e) {
      const std::string what = e.what();
      EXPECT_EQ(what.find("secret"), std::string::npos) << what;
      EXPECT_NE(what.find("update_flow"), std::string::npos) << what;
    }
    EXPECT_FALSE(tx->commit());
  }
  EXPECT_EQ(busy_backends(database_->conninfo()), "0");
  {
    auto tx = store->begin();
    tx->update_flow(clash);  // fails inside the COMMIT's round trip
    EXPECT_FALSE(tx->commit());
    EXPECT_FALSE(tx->conflicted());
  }
  EXPECT_EQ(busy_backends(database_->conninfo()), "0");
  {
    // The same (single) connection: a statement alone, then a pipeline.
    auto tx = store->begin();
    FlowRecord b = sample_flow("B");
    b.updated_at = kT0 + 5;
    tx->update_flow(b);
    ASSERT_TRUE(tx->flow_by_id("B"));
    tx->update_flow(b);
    EXPECT_TRUE(tx->commit());
  }
  EXPECT_EQ(busy_backends(database_->conninfo()), "0");
  auto tx = store->begin(TxMode::read_only);
  EXPECT_EQ(tx->flow_by_id("B")->updated_at, kT0 + 5);
  EXPECT_EQ(tx->flow_by_id("A")->session_digest, "secret-digest-of-A");
}

// A read-only transaction that ran nothing, and one whose only statement is
// refused, leave the pool usable; a read-write one that ran nothing commits
// without opening a transaction on the server.
TEST_F(PostgresStore, TransactionsThatRanNothingOrFailedAtOnceLeaveNoTransactionOpen) {
  auto store = open_postgres_store(database_->conninfo(), 1);
  {
    auto tx = store->begin(TxMode::read_only);
    EXPECT_TRUE(tx->commit());
  }
  {
    auto tx = store->begin();
    EXPECT_TRUE(tx->commit());
  }
  { auto tx = store->begin(); }  // neither committed nor used
  {
    auto tx = store->begin(TxMode::read_only);
    EXPECT_THROW(tx->append_audit(AuditRecord{}), StorageError);
    EXPECT_FALSE(tx->commit());
  }
  EXPECT_EQ(busy_backends(database_->conninfo()), "0");
  {
    auto tx = store->begin();
    tx->upsert_customer(sample_customer("C1"));
    EXPECT_TRUE(tx->commit());
  }
  auto r = store->begin(TxMode::read_only);
  EXPECT_TRUE(r->find_customer("C1"));
}

// Many deferred writes in one transaction: all sent with the COMMIT in one
// pipeline (libpq reads the answers while it writes: no deadlock), all kept.
TEST_F(PostgresStore, ManyDeferredWritesGoWithOneCommit) {
  auto store = open_postgres_store(database_->conninfo(), 1);
  constexpr int kRows = 20000;
  {
    auto tx = store->begin();
    AuditRecord a;
    a.at = kT0;
    a.flow_id = "flow-many";
    a.step = "submit_account";
    a.outcome = "ok";
    a.detail = std::string(200, 'x');
    for (int i = 0; i < kRows; ++i) tx->append_audit(a);
    ASSERT_TRUE(tx->commit());
  }
  EXPECT_EQ(postgres_value(database_->conninfo(), "SELECT COUNT(*) FROM audit"),
            std::to_string(kRows));
  EXPECT_EQ(busy_backends(database_->conninfo()), "0");
}

// A healthy pooled connection is kept (the poll finds nothing to read on
// it), also after a transaction whose deferred write or statement failed:
// the pool of one serves every transaction below on one backend.
TEST_F(PostgresStore, AHealthyPooledConnectionIsKeptAcrossTransactions) {
  auto store = open_postgres_store(database_->conninfo(), 1);
  const std::string backend_sql =
      "SELECT string_agg(pid::text, ',') FROM pg_stat_activity WHERE datname = current_database()"
      " AND pid <> pg_backend_pid() AND backend_type = 'client backend'"
      " AND application_name <> 'renkei_test_probe'";
  ASSERT_NO_FATAL_FAILURE(store_flow(*store, "flow-1"));
  const std::string first = postgres_value(database_->conninfo(), backend_sql);
  ASSERT_EQ(first.find(','), std::string::npos) << first;
  ASSERT_EQ(first.find("error"), std::string::npos) << first;
  {
    auto tx = store->begin();
    tx->update_flow(sample_flow("unknown"));
    EXPECT_FALSE(tx->commit());
  }
  EXPECT_EQ(postgres_value(database_->conninfo(), backend_sql), first);
  {
    auto tx = store->begin();
    EXPECT_THROW(tx->insert_flow(sample_flow("flow-1")), StorageError);
    EXPECT_FALSE(tx->commit());
  }
  EXPECT_EQ(postgres_value(database_->conninfo(), backend_sql), first);
  {
    auto tx = store->begin(TxMode::read_only);
    EXPECT_TRUE(tx->flow_by_id("flow-1"));
    EXPECT_TRUE(tx->commit());
  }
  { auto tx = store->begin(); }
  {
    auto tx = store->begin();
    FlowRecord f = sample_flow("flow-1");
    f.updated_at = kT0 + 1;
    tx->update_flow(f);
    EXPECT_TRUE(tx->commit());
  }
  EXPECT_EQ(postgres_value(database_->conninfo(), backend_sql), first);
}

TEST_F(PostgresStore, AnUnreachableServerThrowsStorageErrorWithoutThePassword) {
  try {
    open_postgres_store("postgresql://renkei:s3cret-pw@127.0.0.1:1/renkei?connect_timeout=2", 1);
    ADD_FAILURE() << "expected StorageError";
  } catch (const StorageUnavailable& e) {  // an outage: HTTP 503, not 500
    EXPECT_EQ(std::string(e.what()).find("s3cret-pw"), std::string::npos) << e.what();
  } catch (const StorageError& e) {
    ADD_FAILURE() << "not a StorageUnavailable: " << e.what();
  }
}

// A database that stops taking connections (as a PostgreSQL server that is
// down): the pool's connections, ended, are dropped, no new one can be made,
// and begin() throws StorageUnavailable (an outage, is_storage_outage), which
// with_transaction does not rerun; the same store works again once the
// database takes connections.
TEST_F(PostgresStore, ADatabaseRefusingConnectionsIsAnOutageAndTheStoreRecovers) {
  auto store = open_postgres_store(database_->conninfo(), 2);
  const auto server = postgres_server_uri();
  ASSERT_TRUE(server);
  ASSERT_EQ(
      postgres_exec(*server, "ALTER DATABASE " + database_->name() + " ALLOW_CONNECTIONS false"),
      "");
  ASSERT_EQ(postgres_exec(*server,
                          "SELECT pg_terminate_backend(pid, 5000) FROM pg_stat_activity"
                          " WHERE datname = '" +
                              database_->name() + "'"),
            "");
  int calls = 0;
  try {
    with_transaction(*store, TxMode::read_only, [&](StoreTx& tx) {
      ++calls;
      return tx.count_accounts();
    });
    ADD_FAILURE() << "the unit ran on a database that takes no connection";
  } catch (const StorageUnavailable& e) {
    EXPECT_TRUE(is_storage_outage(e));
    EXPECT_EQ(calls, 0) << e.what();
  }
  ASSERT_EQ(
      postgres_exec(*server, "ALTER DATABASE " + database_->name() + " ALLOW_CONNECTIONS true"),
      "");
  auto tx = store->begin(TxMode::read_only);
  EXPECT_EQ(tx->count_accounts(), 0);
  EXPECT_TRUE(tx->commit());
}

// What the HTTP layer answers 503 for (is_storage_outage) and what stays 500.
TEST(StorageErrors, OutagesAreToldApartFromInternalErrors) {
  EXPECT_TRUE(is_storage_outage(StorageUnavailable("down")));
  EXPECT_TRUE(is_storage_outage(StorageConnectionLost("lost before anything ran")));
  EXPECT_TRUE(is_storage_outage(StorageConflict("busy beyond every rerun")));
  EXPECT_FALSE(is_storage_outage(StorageError("no such table")));
  EXPECT_FALSE(is_storage_outage(std::runtime_error("other")));
}

// The migration files of the two backends, as the build embedded them: the
// same versions 1, 2, … in order, each non-empty.
TEST(Schema, BothBackendsHaveTheSameVersionedMigrations) {
  const auto& lite = store_schema::migrations(store_schema::Dialect::sqlite);
  const auto& pg = store_schema::migrations(store_schema::Dialect::postgres);
  ASSERT_EQ(lite.size(), pg.size());
  ASSERT_EQ(static_cast<int>(lite.size()), store_schema::version());
  EXPECT_GE(store_schema::version(), 2);
  for (std::size_t i = 0; i < lite.size(); ++i) {
    EXPECT_EQ(lite[i].version, static_cast<int>(i) + 1);
    EXPECT_EQ(pg[i].version, static_cast<int>(i) + 1);
    EXPECT_STREQ(lite[i].name, pg[i].name);
    EXPECT_NE(std::string(lite[i].sql).find(';'), std::string::npos) << lite[i].name;
    EXPECT_NE(std::string(pg[i].sql).find(';'), std::string::npos) << pg[i].name;
  }
  EXPECT_STREQ(lite[0].name, "0001_initial.sql");
}

TEST(OpenStore, PicksTheBackendFromTheDatabaseString) {
  EXPECT_TRUE(is_postgres_database("postgresql://u@h/db"));
  EXPECT_TRUE(is_postgres_database("postgres://u@h/db"));
  EXPECT_FALSE(is_postgres_database("var/renkei.db"));
  EXPECT_FALSE(is_postgres_database("sqlite:postgres://x"));
  EXPECT_EQ(sqlite_path_of("sqlite:var/renkei.db"), "var/renkei.db");
  EXPECT_EQ(sqlite_path_of("var/renkei.db"), "var/renkei.db");
  EXPECT_EQ(sqlite_path_of(":memory:"), ":memory:");
  EXPECT_EQ(sqlite_path_of("postgresql://h/db"), "");
  EXPECT_EQ(database_for_log("postgresql://renkei:pw@db.internal:5432/renkei"),
            "postgresql://renkei:***@db.internal:5432/renkei");
  EXPECT_EQ(database_for_log("postgres://renkei@h/db?password=pw&sslmode=require"),
            "postgres://renkei@h/db");
  EXPECT_EQ(database_for_log("var/renkei.db"), "var/renkei.db");
  auto mem = open_store("sqlite::memory:");
  auto tx = mem->begin();
  EXPECT_EQ(tx->count_accounts(), 0);
}

// ---------- group commit (SQLite, issue 10) ----------

// A SQLite file in a fresh folder, removed at the end of the test.
class GroupCommit : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("renkei-group-commit-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    path_ = (dir_ / "renkei.db").string();
    store_ = open_sqlite_store(path_);
    auto tx = store_->begin();
    tx->upsert_customer(sample_customer());
    account_ = tx->upsert_account(sample_account());
    ASSERT_TRUE(tx->commit());
  }
  void TearDown() override {
    store_.reset();
    std::filesystem::remove_all(dir_);
  }
  // What another process sees: a new store on the same file.
  int durable_failures() {
    auto other = open_sqlite_store(path_);
    auto tx = other->begin(TxMode::read_only);
    return tx->load_lock(account_).failures;
  }

  std::filesystem::path dir_;
  std::string path_;
  std::unique_ptr<Store> store_;
  std::int64_t account_ = 0;
};

TEST_F(GroupCommit, ALoneWriterCommitsAtOnceWithoutWaiting) {
  const auto before = sqlite_commit_stats(*store_);
  {
    auto tx = store_->begin();
    tx->save_lock(account_, LockState{1, std::nullopt});
    ASSERT_TRUE(tx->commit());
  }
  const auto after = sqlite_commit_stats(*store_);
  EXPECT_EQ(after.commits, before.commits + 1);
  EXPECT_EQ(after.members_waited, before.members_waited);
  EXPECT_EQ(durable_failures(), 1);
}

// Read-modify-write increments from many threads: every commit() that says
// true is durable and none is lost (the count is exact), and the writers met
// at the writer, so there were fewer COMMITs (fsyncs) than transactions.
TEST_F(GroupCommit, ConcurrentWritersShareCommitsAndLoseNothing) {
  constexpr int kThreads = 12;
  constexpr int kEach = 40;
  const auto before = sqlite_commit_stats(*store_);
  std::atomic<int> committed{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < kEach; ++i) {
        auto tx = store_->begin();
        LockState s = tx->load_lock(account_);
        ++s.failures;
        tx->save_lock(account_, s);
        if (tx->commit()) ++committed;
      }
    });
  }
  for (auto& th : threads) th.join();
  const auto after = sqlite_commit_stats(*store_);
  EXPECT_EQ(committed.load(), kThreads * kEach);
  EXPECT_EQ(durable_failures(), kThreads * kEach);
  EXPECT_GT(after.members_waited, before.members_waited);
  EXPECT_LT(after.commits - before.commits, static_cast<std::uint64_t>(kThreads * kEach));
}

// A waits for the group's COMMIT because B is queued; B rolls back. A's
// change is durable, B's is not, and A's commit() returned only after B had
// ended the group.
TEST_F(GroupCommit, AMemberThatRollsBackLeavesTheOthersChangesDurable) {
  std::atomic<bool> a_wrote{false};
  std::atomic<bool> b_may_go{false};
  std::atomic<int> a_result{-1};
  std::atomic<bool> b_ended{false};
  const auto before = sqlite_commit_stats(*store_);
  std::thread a([&] {
    auto tx = store_->begin();
    tx->save_lock(account_, LockState{7, std::nullopt});
    a_wrote = true;
    while (!b_may_go) std::this_thread::yield();
    // B is queued for the writer now: A hands it on and waits.
    a_result = tx->commit() ? 1 : 0;
  });
  while (!a_wrote) std::this_thread::yield();
  std::thread b([&] {
    auto tx = store_->begin();                       // queued until A commits
    EXPECT_EQ(tx->load_lock(account_).failures, 7);  // A's change, not yet durable
    tx->save_lock(account_, LockState{99, std::nullopt});
    EXPECT_EQ(a_result.load(), -1) << "A answered before its COMMIT";
    b_ended = true;
    // no commit: rolled back to B's savepoint, and A's group COMMITted
  });
  while (sqlite_commit_stats(*store_).queued_writers < 1) std::this_thread::yield();
  b_may_go = true;
  a.join();
  b.join();
  EXPECT_TRUE(b_ended.load());
  EXPECT_EQ(a_result.load(), 1);
  const auto after = sqlite_commit_stats(*store_);
  EXPECT_EQ(after.members_waited, before.members_waited + 1);
  EXPECT_EQ(after.commits, before.commits + 1);
  EXPECT_EQ(durable_failures(), 7);
}

}  // namespace
}  // namespace renkei::server
