// The credit union's records: the demo data set exactly as records.h
// documents it, the checks of screens ② and ⑤, and the CSV import.
#include "records/records.h"

#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <string>

#include "ops/crypto.h"
#include "renkei/time.h"

namespace renkei::server {
namespace {

constexpr const char* kPinKey = "test-pin-key";
const CivilDate kToday{2026, 11, 25};

AccountRef ref(const char* branch, AccountType type, const char* number) {
  return AccountRef{branch, type, number};
}
const AccountRef kDemo1 = ref("115", AccountType::ordinary, "1100026");
const AccountRef kDemo2 = ref("001", AccountType::savings, "0000123");
const AccountRef kMoved = ref("011", AccountType::ordinary, "1111111");
const AccountRef kNewBranch = ref("022", AccountType::ordinary, "2222222");
const AccountRef kClosed = ref("006", AccountType::ordinary, "1234567");
const AccountRef kNoCard = ref("115", AccountType::ordinary, "3000001");
const AccountRef kDemo6 = ref("115", AccountType::savings, "5000005");

CustomerInfo info(const char* birth, const char* phone, const char* name = "ﾃﾞｰﾀ ｻﾄﾙ") {
  return CustomerInfo{name, birth, phone, "someone@example.jp"};
}

class DemoDataTest : public ::testing::Test {
 protected:
  void SetUp() override {
    store_ = open_sqlite_store(":memory:");
    ASSERT_TRUE(seed_demo_data(*store_, kPinKey, kToday));
  }
  IdentityCheck identity(const AccountRef& r, const CustomerInfo& i,
                         std::optional<AccountRecord>* found = nullptr) {
    auto tx = store_->begin();
    return check_identity(*tx, r, i, found);
  }
  AccountRecord account(const AccountRef& r) {
    auto tx = store_->begin();
    auto a = tx->find_account(r);
    EXPECT_TRUE(a) << account_key(r);
    return a.value_or(AccountRecord{});
  }
  std::unique_ptr<Store> store_;
};

TEST(Records, AccountKey) {
  EXPECT_EQ(account_key(kDemo1), "115-ordinary-1100026");
  EXPECT_EQ(account_key(kDemo2), "001-savings-0000123");
}

TEST_F(DemoDataTest, SeedsOnlyAnEmptyStoreAndIsDeterministic) {
  EXPECT_FALSE(seed_demo_data(*store_, kPinKey, kToday));
  auto other = open_sqlite_store(":memory:");
  ASSERT_TRUE(seed_demo_data(*other, kPinKey, kToday));
  auto a = store_->begin();
  auto b = other->begin();
  EXPECT_EQ(a->count_accounts(), 7);
  EXPECT_EQ(b->count_accounts(), 7);
  const auto la = a->ledger(a->find_account(kDemo1)->id, "2000-01-01", "2100-01-01", 1000, 0);
  const auto lb = b->ledger(b->find_account(kDemo1)->id, "2000-01-01", "2100-01-01", 1000, 0);
  ASSERT_EQ(la.size(), lb.size());
  for (std::size_t i = 0; i < la.size(); ++i) {
    EXPECT_EQ(la[i].date, lb[i].date);
    EXPECT_EQ(la[i].description, lb[i].description);
    EXPECT_EQ(la[i].amount_yen, lb[i].amount_yen);
  }
}

TEST_F(DemoDataTest, EveryDocumentedPersonAndAccount) {
  auto tx = store_->begin();
  struct Person {
    const char* id;
    const char* name;
    const char* birth;
    std::vector<std::string> phones;
  };
  const Person people[] = {
      {"C0001", "ﾃﾞｰﾀ ｻﾄﾙ", "1985-04-12", {"09011113333", "0612345678"}},
      {"C0002", "ﾔﾏﾀﾞ ﾊﾅｺ", "1990-12-01", {"08022224444"}},
      {"C0003", "ｽｽﾞｷ ｲﾁﾛｳ", "1972-07-07", {"07033335555"}},
      {"C0004", "ﾀﾅｶ ｼﾞﾛｳ", "1960-02-29", {"0312345678"}},
      {"C0005", "ｻﾄｳ ﾐｷ", "2000-01-01", {"06012345678"}},
      {"C0006", "ｺﾊﾞﾔｼ ｹﾝ", "1995-05-05", {"09055556666"}},
  };
  for (const auto& p : people) {
    auto c = tx->find_customer(p.id);
    ASSERT_TRUE(c) << p.id;
    EXPECT_EQ(c->name_kana, p.name);
    EXPECT_EQ(c->birth_date, p.birth);
    EXPECT_EQ(c->phones, p.phones);
  }
  struct Acct {
    AccountRef ref;
    const char* customer;
    AccountStatus status;
    bool card;
  };
  const Acct accounts[] = {
      {kDemo1, "C0001", AccountStatus::active, true},
      {kDemo2, "C0002", AccountStatus::active, true},
      {kMoved, "C0003", AccountStatus::moved, true},
      {kNewBranch, "C0003", AccountStatus::active, true},
      {kClosed, "C0004", AccountStatus::closed, true},
      {kNoCard, "C0005", AccountStatus::active, false},
      {kDemo6, "C0006", AccountStatus::active, true},
  };
  for (const auto& a : accounts) {
    auto got = tx->find_account(a.ref);
    ASSERT_TRUE(got) << account_key(a.ref);
    EXPECT_EQ(got->customer_id, a.customer) << account_key(a.ref);
    EXPECT_EQ(got->status, a.status) << account_key(a.ref);
    EXPECT_EQ(got->cash_card_issued, a.card) << account_key(a.ref);
  }
  EXPECT_EQ(tx->count_accounts(), 7);
  EXPECT_TRUE(tx->find_account(kNoCard)->pin_digest.empty());
}

TEST_F(DemoDataTest, DocumentedPinsVerifyAndOthersDoNot) {
  const std::map<std::string, std::string> pins = {{"115-ordinary-1100026", "1234"},
                                                   {"001-savings-0000123", "4321"},
                                                   {"022-ordinary-2222222", "5555"},
                                                   {"115-savings-5000005", "0000"}};
  for (const auto& r : {kDemo1, kDemo2, kNewBranch, kDemo6}) {
    const AccountRecord a = account(r);
    const std::string& pin = pins.at(account_key(r));
    EXPECT_EQ(check_pin(a, kPinKey, pin), PinCheck::match) << account_key(r);
    EXPECT_EQ(check_pin(a, kPinKey, "9999"), PinCheck::mismatch) << account_key(r);
    EXPECT_EQ(check_pin(a, "another-key", pin), PinCheck::mismatch) << account_key(r);
    // Stored as a keyed digest, never in the clear.
    EXPECT_NE(a.pin_digest, pin);
    EXPECT_EQ(a.pin_digest, pin_digest(kPinKey, account_key(r), pin));
  }
  // The PIN of one account does not open another (salted by the account).
  EXPECT_EQ(check_pin(account(kDemo1), kPinKey, "4321"), PinCheck::mismatch);
}

TEST_F(DemoDataTest, EmptyStoredPinNeverMatches) {
  const AccountRecord a = account(kNoCard);
  EXPECT_EQ(check_pin(a, kPinKey, ""), PinCheck::mismatch);
  EXPECT_EQ(check_pin(a, kPinKey, "1234"), PinCheck::mismatch);
  EXPECT_EQ(check_pin(account(kClosed), kPinKey, ""), PinCheck::mismatch);
}

TEST_F(DemoDataTest, IdentityMatchesWithEitherRegisteredPhone) {
  std::optional<AccountRecord> found;
  EXPECT_EQ(identity(kDemo1, info("1985-04-12", "09011113333"), &found), IdentityCheck::match);
  ASSERT_TRUE(found);
  EXPECT_EQ(found->ref, kDemo1);
  EXPECT_EQ(identity(kDemo1, info("1985-04-12", "0612345678")), IdentityCheck::match);
  EXPECT_EQ(identity(kDemo2, info("1990-12-01", "08022224444")), IdentityCheck::match);
  EXPECT_EQ(identity(kNewBranch, info("1972-07-07", "07033335555")), IdentityCheck::match);
  EXPECT_EQ(identity(kDemo6, info("1995-05-05", "09055556666")), IdentityCheck::match);
}

TEST_F(DemoDataTest, TheNameIsNotMatched) {
  EXPECT_EQ(identity(kDemo1, info("1985-04-12", "09011113333", "ﾍﾞﾂ ﾅﾏｴ")), IdentityCheck::match);
  EXPECT_EQ(identity(kDemo1, info("1985-04-12", "09011113333", "")), IdentityCheck::match);
}

TEST_F(DemoDataTest, WrongBirthDateOrPhoneIsAMismatch) {
  std::optional<AccountRecord> found;
  EXPECT_EQ(identity(kDemo1, info("1985-04-13", "09011113333"), &found), IdentityCheck::mismatch);
  ASSERT_TRUE(found);  // the caller needs the account to count the failure
  EXPECT_EQ(found->ref, kDemo1);
  EXPECT_EQ(identity(kDemo1, info("1985-04-12", "09011113334")), IdentityCheck::mismatch);
  // Another customer's registered phone is not this one's.
  EXPECT_EQ(identity(kDemo1, info("1985-04-12", "08022224444")), IdentityCheck::mismatch);
  EXPECT_EQ(identity(kDemo1, info("1985-04-12", "")), IdentityCheck::mismatch);
}

TEST_F(DemoDataTest, IneligibleAccounts) {
  std::optional<AccountRecord> found = AccountRecord{};
  // Moved to another branch (FAQ 3-Q4), even with the right identity data.
  EXPECT_EQ(identity(kMoved, info("1972-07-07", "07033335555"), &found),
            IdentityCheck::account_not_eligible);
  EXPECT_FALSE(found);  // nothing to count a failure against
  // Closed.
  EXPECT_EQ(identity(kClosed, info("1960-02-29", "0312345678")),
            IdentityCheck::account_not_eligible);
  // No cash card issued.
  EXPECT_EQ(identity(kNoCard, info("2000-01-01", "06012345678")),
            IdentityCheck::account_not_eligible);
  // Unknown number, and a known number under the other type.
  EXPECT_EQ(
      identity(ref("115", AccountType::ordinary, "9999999"), info("1985-04-12", "09011113333")),
      IdentityCheck::account_not_eligible);
  EXPECT_EQ(
      identity(ref("115", AccountType::savings, "1100026"), info("1985-04-12", "09011113333")),
      IdentityCheck::account_not_eligible);
  // Not eligible wins over wrong identity data.
  EXPECT_EQ(identity(kClosed, info("1900-01-01", "0000000000")),
            IdentityCheck::account_not_eligible);
}

TEST_F(DemoDataTest, LedgerCoversThreeMonthsWithConsistentBalances) {
  auto tx = store_->begin();
  const std::string today = format_date(kToday);
  const std::string earliest = format_date(civil_from_days(days_from_civil(kToday) - 95));
  for (const auto& r : {kDemo1, kDemo2, kNewBranch, kNoCard, kDemo6}) {
    const auto a = tx->find_account(r);
    ASSERT_TRUE(a);
    auto entries = tx->ledger(a->id, "1900-01-01", "2999-12-31", 10000, 0);  // newest first
    SCOPED_TRACE(account_key(r));
    ASSERT_GE(entries.size(), 20u);
    EXPECT_EQ(entries.front().date, today);
    EXPECT_LE(entries.back().date, earliest);
    EXPECT_EQ(entries.front().balance_after_yen, a->balance_yen);
    for (std::size_t i = 0; i + 1 < entries.size(); ++i) {
      EXPECT_EQ(entries[i].balance_after_yen,
                entries[i + 1].balance_after_yen + entries[i].amount_yen)
          << entries[i].date;
      EXPECT_GE(entries[i].date, entries[i + 1].date);
    }
    for (const auto& e : entries) {
      EXPECT_NE(e.amount_yen, 0);
      EXPECT_GE(e.balance_after_yen, 0);
      EXPECT_FALSE(e.description.empty());
    }
  }
  // Salaried customers are paid, and the ATM is used by those with a card.
  const auto l1 = tx->ledger(tx->find_account(kDemo1)->id, "1900-01-01", "2999-12-31", 1000, 0);
  int salary = 0, atm = 0;
  for (const auto& e : l1) {
    salary += e.description == "ｷﾕｳﾖ" && e.amount_yen > 0;
    atm += e.description == "ATM" && e.amount_yen < 0;
  }
  EXPECT_GE(salary, 3);
  EXPECT_GE(atm, 8);
  const auto l5 = tx->ledger(tx->find_account(kNoCard)->id, "1900-01-01", "2999-12-31", 1000, 0);
  for (const auto& e : l5) EXPECT_NE(e.description, "ATM");
  // No history for the moved and closed accounts.
  EXPECT_TRUE(tx->ledger(tx->find_account(kMoved)->id, "1900-01-01", "2999-12-31", 10, 0).empty());
  EXPECT_TRUE(tx->ledger(tx->find_account(kClosed)->id, "1900-01-01", "2999-12-31", 10, 0).empty());
}

// ---------- CSV import ----------

constexpr const char* kHeader =
    "customer_id,name_kana,birth_date,phones,branch,type,number,status,cash_card,balance,pin\r\n";

TEST(CsvImport, ImportsRowsWithNormalizedValues) {
  auto store = open_sqlite_store(":memory:");
  const std::string csv =
      std::string(kHeader) +
      "K001,ﾔﾏﾓﾄ ｲﾁﾛｳ,1970-03-03,09012345678|0311112222,201,ordinary,42,"
      "active,true,1000,1234\r\n"
      // full-width kana and digits are normalized like on the screens
      "K002,\"ヤマモト　ジロウ\",1975-05-05,０８０－１２３４－５６７８,201,savings,"
      "7654321,closed,false,0,\r\n"
      "K001,ﾔﾏﾓﾄ ｲﾁﾛｳ,1970-03-03,09012345678|0311112222,202,ordinary,"
      "1000001,moved,1,5,\r\n";
  std::string error = "stale";
  EXPECT_EQ(import_accounts_csv(*store, csv, kPinKey, &error), 3);
  EXPECT_EQ(error, "");

  auto tx = store->begin();
  EXPECT_EQ(tx->count_accounts(), 3);
  auto a = tx->find_account(ref("201", AccountType::ordinary, "0000042"));
  ASSERT_TRUE(a);
  EXPECT_EQ(a->customer_id, "K001");
  EXPECT_EQ(a->status, AccountStatus::active);
  EXPECT_TRUE(a->cash_card_issued);
  EXPECT_EQ(a->balance_yen, 1000);
  EXPECT_EQ(check_pin(*a, kPinKey, "1234"), PinCheck::match);
  auto c1 = tx->find_customer("K001");
  ASSERT_TRUE(c1);
  EXPECT_EQ(c1->phones, (std::vector<std::string>{"09012345678", "0311112222"}));
  auto c2 = tx->find_customer("K002");
  ASSERT_TRUE(c2);
  EXPECT_EQ(c2->name_kana, "ﾔﾏﾓﾄ ｼﾞﾛｳ");
  EXPECT_EQ(c2->phones, std::vector<std::string>{"08012345678"});
  auto closed = tx->find_account(ref("201", AccountType::savings, "7654321"));
  ASSERT_TRUE(closed);
  EXPECT_EQ(closed->status, AccountStatus::closed);
  EXPECT_TRUE(closed->pin_digest.empty());
  auto moved = tx->find_account(ref("202", AccountType::ordinary, "1000001"));
  ASSERT_TRUE(moved);
  EXPECT_EQ(moved->status, AccountStatus::moved);
}

TEST(CsvImport, QuotedFieldsLfEndingsBomAndBlankLines) {
  auto store = open_sqlite_store(":memory:");
  const std::string csv =
      "\xEF\xBB\xBF"
      "customer_id,name_kana,birth_date,phones,branch,type,number,status,cash_card,balance,pin\n"
      "\n"
      "\"K1\",\"ﾀﾅｶ\",\"1980-01-01\",\"0311112222\",\"001\",\"ordinary\",\"1\",\"active\","
      "\"true\",\"0\",\"0000\"\n";
  std::string error;
  EXPECT_EQ(import_accounts_csv(*store, csv, kPinKey, &error), 1) << error;
}

TEST(CsvImport, ReplacesAnExistingAccountKeepingItsId) {
  auto store = open_sqlite_store(":memory:");
  ASSERT_TRUE(seed_demo_data(*store, kPinKey, kToday));
  std::int64_t id = 0;
  {
    auto tx = store->begin();
    id = tx->find_account(kDemo1)->id;
  }
  const std::string csv = std::string(kHeader) +
                          "C0001,ﾃﾞｰﾀ ｻﾄﾙ,1985-04-12,09011113333,115,ordinary,1100026,moved,"
                          "true,0,1234\r\n";
  std::string error;
  ASSERT_EQ(import_accounts_csv(*store, csv, kPinKey, &error), 1) << error;
  auto tx = store->begin();
  auto a = tx->find_account(kDemo1);
  ASSERT_TRUE(a);
  EXPECT_EQ(a->id, id);
  EXPECT_EQ(a->status, AccountStatus::moved);
  EXPECT_EQ(tx->count_accounts(), 7);
}

TEST(CsvImport, ABadRowImportsNothing) {
  auto store = open_sqlite_store(":memory:");
  const std::string csv =
      std::string(kHeader) +
      "K001,ﾔﾏﾓﾄ,1970-03-03,09012345678,201,ordinary,42,active,true,10,1234\r\n"
      "K002,ﾔﾏﾓﾄ,1970-02-30,09012345678,201,ordinary,43,active,true,10,1234\r\n";
  std::string error;
  EXPECT_EQ(import_accounts_csv(*store, csv, kPinKey, &error), 0);
  EXPECT_EQ(error, "line 3: birth_date: invalid_date");
  auto tx = store->begin();
  EXPECT_EQ(tx->count_accounts(), 0);
  EXPECT_FALSE(tx->find_customer("K001"));
}

TEST(CsvImport, ReportsTheLineAndTheReason) {
  const std::string good = "K1,ﾀﾅｶ,1980-01-01,0311112222,001,ordinary,1,active,true,0,1234";
  struct Case {
    std::string row;
    std::string error;
  };
  const Case cases[] = {
      {"K1,ﾀﾅｶ,1980-01-01,0311112222,001,ordinary,1,active,true,0", "expected 11 fields"},
      {"K 1,ﾀﾅｶ,1980-01-01,0311112222,001,ordinary,1,active,true,0,1234", "customer_id"},
      {"K1,Tanaka,1980-01-01,0311112222,001,ordinary,1,active,true,0,1234", "name_kana"},
      {"K1,ﾀﾅｶ,1899-12-31,0311112222,001,ordinary,1,active,true,0,1234", "birth_date"},
      {"K1,ﾀﾅｶ,80-01-01,0311112222,001,ordinary,1,active,true,0,1234", "birth_date"},
      {"K1,ﾀﾅｶ,1980-01-01,,001,ordinary,1,active,true,0,1234", "phones: required"},
      {"K1,ﾀﾅｶ,1980-01-01,0311112222|12345,001,ordinary,1,active,true,0,1234", "phones"},
      {"K1,ﾀﾅｶ,1980-01-01,0311112222,01,ordinary,1,active,true,0,1234", "branch"},
      {"K1,ﾀﾅｶ,1980-01-01,0311112222,001,current,1,active,true,0,1234", "type"},
      {"K1,ﾀﾅｶ,1980-01-01,0311112222,001,ordinary,12345678,active,true,0,1234", "number"},
      {"K1,ﾀﾅｶ,1980-01-01,0311112222,001,ordinary,1,frozen,true,0,1234", "status"},
      {"K1,ﾀﾅｶ,1980-01-01,0311112222,001,ordinary,1,active,yes,0,1234", "cash_card"},
      {"K1,ﾀﾅｶ,1980-01-01,0311112222,001,ordinary,1,active,true,-5,1234", "balance"},
      {"K1,ﾀﾅｶ,1980-01-01,0311112222,001,ordinary,1,active,true,0,12345", "pin"},
      {"K1,ﾀﾅｶ,1980-01-01,0311112222,001,ordinary,1,active,true,0,12a4", "pin"},
      // the same account twice
      {good + "\r\n" + good, "line 3: account 001-ordinary-0000001 already on line 2"},
      // the same customer with different data
      {good + "\r\nK1,ﾀﾅｶ,1980-01-02,0311112222,001,ordinary,2,active,true,0,1234",
       "line 3: customer K1 differs from line 2"},
      {"\"K1,ﾀﾅｶ", "unterminated quoted field"},
      {"K\"1,ﾀﾅｶ,1980-01-01,0311112222,001,ordinary,1,active,true,0,1234", "quote"},
  };
  for (const auto& c : cases) {
    auto store = open_sqlite_store(":memory:");
    std::string error;
    EXPECT_EQ(import_accounts_csv(*store, std::string(kHeader) + c.row + "\r\n", kPinKey, &error),
              0)
        << c.row;
    EXPECT_NE(error.find(c.error), std::string::npos) << c.row << " → " << error;
    EXPECT_EQ(error.rfind("line ", 0), 0u) << error;
    auto tx = store->begin();
    EXPECT_EQ(tx->count_accounts(), 0);
  }
}

TEST(CsvImport, LineNumbersCountPhysicalLinesOfQuotedFields) {
  auto store = open_sqlite_store(":memory:");
  // A quoted field spanning two lines (RFC 4180) is fine for the parser; the
  // row after it is reported with its physical line number.
  const std::string csv = std::string(kHeader) +
                          "K1,\"ﾀﾅｶ\",1980-01-01,0311112222,001,ordinary,1,active,true,0,\"\"\r\n"
                          "\"K2\r\n\",ﾀﾅｶ,1980-01-01,0311112222,001,ordinary,2,active,true,0,\r\n"
                          "K3,ﾀﾅｶ,1980-01-01,0311112222,001,ordinary,3,active,true,x,\r\n";
  std::string error;
  EXPECT_EQ(import_accounts_csv(*store, csv, kPinKey, &error), 0);
  EXPECT_EQ(error, "line 3: customer_id: invalid_format");
}

TEST(CsvImport, HeaderIsRequired) {
  auto store = open_sqlite_store(":memory:");
  std::string error;
  EXPECT_EQ(import_accounts_csv(*store, "", kPinKey, &error), 0);
  EXPECT_EQ(error, "line 1: missing header");
  EXPECT_EQ(import_accounts_csv(*store,
                                "K1,ﾀﾅｶ,1980-01-01,0311112222,001,ordinary,1,active,true,0,1234\n",
                                kPinKey, &error),
            0);
  EXPECT_EQ(error.rfind("line 1: header must be", 0), 0u) << error;
  // Only a header: nothing to import, no error.
  EXPECT_EQ(import_accounts_csv(*store, kHeader, kPinKey, &error), 0);
  EXPECT_EQ(error, "");
  // A null error pointer is allowed.
  EXPECT_EQ(import_accounts_csv(*store, "", kPinKey, nullptr), 0);
}

// Issue 14: the file that travels holds keyed digests made by hash_pins_csv
// (renkei-server hash-pins), never PINs; clear PINs only in development.
TEST(CsvImport, HashedPinsImportAndClearPinsOnlyInDevelopment) {
  const std::string clear =
      std::string(kHeader) +
      "K001,ﾔﾏﾓﾄ ｲﾁﾛｳ,1970-03-03,09012345678,201,ordinary,42,active,true,1000,1234\r\n"
      "K002,\"ﾔﾏﾓﾄ ｼﾞﾛｳ\",1975-05-05,08012345678,201,savings,7654321,closed,false,0,\r\n";
  std::string error = "stale";
  const std::string hashed = hash_pins_csv(clear, kPinKey, &error);
  ASSERT_EQ(error, "");
  EXPECT_EQ(hashed.find("1234\r"), std::string::npos) << hashed;
  EXPECT_EQ(hashed.rfind("customer_id,name_kana,birth_date,phones,branch,type,number,status,"
                         "cash_card,balance,pin_digest\r\n",
                         0),
            0u);

  auto store = open_sqlite_store(":memory:");
  EXPECT_EQ(import_accounts_csv(*store, hashed, kPinKey, &error, /*allow_clear_pins=*/false), 2)
      << error;
  {
    auto tx = store->begin();
    auto a = tx->find_account(ref("201", AccountType::ordinary, "0000042"));
    ASSERT_TRUE(a);
    EXPECT_EQ(check_pin(*a, kPinKey, "1234"), PinCheck::match);
    EXPECT_EQ(check_pin(*a, kPinKey, "1235"), PinCheck::mismatch);
    auto b = tx->find_account(ref("201", AccountType::savings, "7654321"));
    ASSERT_TRUE(b);
    EXPECT_TRUE(b->pin_digest.empty());
  }
  // Outside development a clear pin column is refused, nothing imported.
  auto prod = open_sqlite_store(":memory:");
  EXPECT_EQ(import_accounts_csv(*prod, clear, kPinKey, &error, false), 0);
  EXPECT_NE(error.find("hash-pins"), std::string::npos) << error;
  EXPECT_EQ(prod->begin()->count_accounts(), 0);
  // A digest column that is not a digest.
  const std::string bad = "customer_id,name_kana,birth_date,phones,branch,type,number,status,"
                          "cash_card,balance,pin_digest\r\n"
                          "K001,ﾔﾏﾓﾄ ｲﾁﾛｳ,1970-03-03,09012345678,201,ordinary,42,active,true,1000,1234\r\n";
  EXPECT_EQ(import_accounts_csv(*prod, bad, kPinKey, &error, false), 0);
  EXPECT_EQ(error.rfind("line 2: pin_digest:", 0), 0u) << error;
  // hash-pins validates as the import does, and refuses a file already hashed.
  EXPECT_EQ(hash_pins_csv(std::string(kHeader) +
                              "K001,ﾔﾏﾓﾄ ｲﾁﾛｳ,1970-03-03,09012345678,201,ordinary,42,active,"
                              "true,1000,12345\r\n",
                          kPinKey, &error),
            "");
  EXPECT_EQ(error.rfind("line 2: pin:", 0), 0u) << error;
  EXPECT_EQ(hash_pins_csv(hashed, kPinKey, &error), "");
  EXPECT_NE(error.find("already"), std::string::npos) << error;
}

}  // namespace
}  // namespace renkei::server
