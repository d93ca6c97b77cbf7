// The credit union's records: the checks of screens ② and ⑤, the demo data
// set and the CSV import (records.h).
#include "records/records.h"

#include <algorithm>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "ops/crypto.h"
#include "records/records_source.h"
#include "renkei/fields.h"
#include "renkei/time.h"

namespace renkei::server {

// ---------- screens ② and ⑤ ----------

AccountStanding standing_of(const AccountRecord& a) {
  return AccountStanding{a.status == AccountStatus::active, a.cash_card_issued};
}

IdentityCheck check_identity(StoreTx& tx, const AccountRef& account, const CustomerInfo& info,
                             std::optional<AccountRecord>* found) {
  if (found) found->reset();
  std::optional<AccountRecord> a = tx.find_account(account);
  // Only 普通/貯蓄 exist in AccountType, so "type not handled" cannot reach here.
  if (!a || !eligible_for_linking(standing_of(*a))) return IdentityCheck::account_not_eligible;
  const std::optional<CustomerRecord> c = tx.find_customer(a->customer_id);
  if (!c) return IdentityCheck::account_not_eligible;
  // The account is eligible: from here on a wrong answer counts towards the
  // lock, so the caller gets the record (for its id).
  if (found) *found = a;
  // The name is not matched (manual FAQ 2-Q4). Both facts are evaluated
  // whatever the first one says.
  const bool birth_ok = c->birth_date == info.birth_date;
  bool phone_ok = false;
  for (const auto& p : c->phones) phone_ok |= (!p.empty() && p == info.phone);
  return birth_ok && phone_ok ? IdentityCheck::match : IdentityCheck::mismatch;
}

PinCheck check_pin(const AccountRecord& account, const std::string& pin_key,
                   const std::string& pin) {
  if (account.pin_digest.empty()) return PinCheck::mismatch;
  const std::string digest = pin_digest(pin_key, account_key(account.ref), pin);
  return constant_time_equal(digest, account.pin_digest) ? PinCheck::match : PinCheck::mismatch;
}

std::string account_key(const AccountRef& ref) {
  std::string key = ref.branch;
  key += '-';
  key += account_type_wire_name(ref.type);
  key += '-';
  key += ref.number;
  return key;
}

// ---------- the demo data set ----------

namespace {

// SplitMix64: a fixed, fully specified generator, so the demo data is the
// same on every machine and standard library (std::uniform_int_distribution
// is not specified bit for bit).
class DemoRandom {
 public:
  explicit DemoRandom(std::uint64_t seed) : state_(seed) {}
  std::uint64_t next() {
    std::uint64_t z = (state_ += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  // Uniform enough for demo data in [lo, hi].
  std::int64_t between(std::int64_t lo, std::int64_t hi) {
    return lo + static_cast<std::int64_t>(next() % static_cast<std::uint64_t>(hi - lo + 1));
  }

 private:
  std::uint64_t state_;
};

constexpr std::uint64_t kDemoSeed = 0x52454E4B4549ull;  // "RENKEI"
// The first entry is this many days before `today` (≥ 95: about 3 months).
constexpr int kHistoryDays = 97;
// The running balance never goes below this.
constexpr std::int64_t kMinRunningBalance = 3000;

// Something that happens on one day of every month.
struct MonthlyItem {
  const char* description;
  int day;                        // day of the month (clamped to its length)
  std::int64_t min_yen, max_yen;  // sign gives deposit (+) or withdrawal (−)
  bool earlier_on_weekend;        // salary: previous business day; debits: next one
  int every_months = 1;           // 2 = odd months only (bi-monthly water bill)
};

// Something that happens every few days.
struct RandomItem {
  const char* description;
  int min_gap, max_gap;  // days between occurrences
  std::int64_t min_yen, max_yen;
  std::int64_t step_yen;  // amounts are multiples of this (ATM: 1,000)
};

struct DemoAccountPlan {
  const char* customer_id;
  const char* branch;
  AccountType type;
  const char* number;
  AccountStatus status;
  bool cash_card;
  const char* pin;              // "" = no PIN
  std::int64_t target_balance;  // the balance aimed at (raised if the history would dip)
  std::vector<MonthlyItem> monthly;
  std::vector<RandomItem> random;
};

struct PlannedEntry {
  std::int64_t day;  // days since epoch
  int order;         // within a day: deposits before withdrawals, then insertion
  std::string description;
  std::int64_t amount;
};

std::int64_t move_off_weekend(std::int64_t day, bool earlier) {
  for (;;) {
    const int wd = weekday_from_days(day);
    if (wd != 0 && wd != 6) return day;
    day += earlier ? -1 : 1;
  }
}

std::int64_t pick_amount(DemoRandom& rng, std::int64_t lo, std::int64_t hi, std::int64_t step) {
  const bool negative = lo < 0;
  std::int64_t a = negative ? -hi : lo;
  std::int64_t b = negative ? -lo : hi;
  if (a > b) std::swap(a, b);
  std::int64_t v = rng.between(a / step, b / step) * step;
  return negative ? -v : v;
}

std::vector<PlannedEntry> plan_history(const DemoAccountPlan& plan, std::int64_t today,
                                       DemoRandom& rng) {
  const std::int64_t first = today - kHistoryDays;
  std::vector<PlannedEntry> out;
  int seq = 0;
  auto add = [&](std::int64_t day, const char* desc, std::int64_t amount) {
    out.push_back({day, (amount >= 0 ? 0 : 1'000'000) + seq++, desc, amount});
  };

  // Monthly items, month by month from the month before `first`.
  const CivilDate start = civil_from_days(first);
  int y = start.year, m = start.month;
  for (int i = 0; i < 6; ++i) {
    for (const auto& item : plan.monthly) {
      if (item.every_months == 2 && m % 2 == 0) continue;
      const int d = std::min(item.day, days_in_month(y, m));
      const std::int64_t day =
          move_off_weekend(days_from_civil({y, m, d}), item.earlier_on_weekend);
      if (day < first || day > today) continue;
      add(day, item.description, pick_amount(rng, item.min_yen, item.max_yen, 1));
    }
    if (++m == 13) {
      m = 1;
      ++y;
    }
  }
  // Random items.
  for (const auto& item : plan.random) {
    for (std::int64_t day = first + rng.between(0, item.min_gap); day <= today;
         day += rng.between(item.min_gap, item.max_gap)) {
      add(day, item.description, pick_amount(rng, item.min_yen, item.max_yen, item.step_yen));
    }
  }
  // The history spans the whole period: an entry on its first day and one today.
  const RandomItem& r = plan.random.front();
  auto has_day = [&](std::int64_t day) {
    return std::any_of(out.begin(), out.end(), [&](const PlannedEntry& e) { return e.day == day; });
  };
  if (!has_day(first))
    add(first, r.description, pick_amount(rng, r.min_yen, r.max_yen, r.step_yen));
  if (!has_day(today))
    add(today, r.description, pick_amount(rng, r.min_yen, r.max_yen, r.step_yen));

  std::sort(out.begin(), out.end(), [](const PlannedEntry& a, const PlannedEntry& b) {
    return a.day != b.day ? a.day < b.day : a.order < b.order;
  });
  return out;
}

std::vector<DemoAccountPlan> demo_plans() {
  const MonthlyItem salary_c0001{"ｷﾕｳﾖ", 25, 277'000, 289'000, true};
  return {
      {"C0001",
       "115",
       AccountType::ordinary,
       "1100026",
       AccountStatus::active,
       true,
       "1234",
       1'286'430,
       {salary_c0001,
        {"ﾃﾞﾝｷﾀﾞｲ", 26, -12'400, -7'800, false},
        {"ﾔﾁﾝ", 27, -78'000, -78'000, false},
        {"ｹｲﾀｲﾃﾞﾝﾜ", 27, -8'900, -6'500, false},
        {"ｶﾞｽﾀﾞｲ", 28, -6'200, -3'900, false},
        {"ｶｰﾄﾞ", 10, -92'000, -38'000, false}},
       {{"ATM", 5, 9, -50'000, -10'000, 10'000}}},
      {"C0002",
       "001",
       AccountType::savings,
       "0000123",
       AccountStatus::active,
       true,
       "4321",
       3'520'000,
       // 貯蓄預金 takes no salary or automatic debits: transfers and ATM only.
       {{"ﾌﾘｶｴ", 26, 50'000, 50'000, false}},
       {{"ATM", 6, 10, -50'000, -10'000, 10'000}, {"ATMﾆﾕｳｷﾝ", 9, 14, 10'000, 100'000, 10'000}}},
      {"C0003",
       "022",
       AccountType::ordinary,
       "2222222",
       AccountStatus::active,
       true,
       "5555",
       2'154'300,
       {{"ｷﾕｳﾖ", 25, 403'000, 421'000, true},
        {"ﾃﾞﾝｷﾀﾞｲ", 26, -16'300, -11'200, false},
        {"ﾎｹﾝﾘﾖｳ", 27, -18'450, -18'450, false},
        {"ｶﾞｽﾀﾞｲ", 28, -9'100, -5'200, false},
        {"ｽｲﾄﾞｳﾀﾞｲ", 20, -8'200, -6'100, false, 2},
        {"ｶｰﾄﾞ", 10, -140'000, -60'000, false}},
       {{"ATM", 5, 8, -60'000, -20'000, 10'000}}},
      {"C0005",
       "115",
       AccountType::ordinary,
       "3000001",
       AccountStatus::active,
       false,
       "",
       98'760,
       // No cash card: no ATM; part-time pay, rent, bills and transfers.
       {{"ｷﾕｳﾖ", 15, 118'000, 146'000, true},
        {"ﾃﾞﾝｷﾀﾞｲ", 26, -5'200, -2'900, false},
        {"ﾔﾁﾝ", 27, -52'000, -52'000, false},
        {"ｹｲﾀｲﾃﾞﾝﾜ", 27, -4'100, -2'500, false},
        {"ｶｰﾄﾞ", 10, -45'000, -20'000, false}},
       {{"ﾌﾘｺﾐ", 6, 10, -12'000, -2'000, 100}}},
      {"C0006",
       "115",
       AccountType::savings,
       "5000005",
       AccountStatus::active,
       true,
       "0000",
       2'000'000,
       {{"ﾌﾘｶｴ", 25, 30'000, 30'000, false}},
       {{"ATMﾆﾕｳｷﾝ", 6, 10, 10'000, 60'000, 10'000}, {"ATM", 7, 12, -80'000, -10'000, 10'000}}},
  };
}

void add_history(StoreTx& tx, std::int64_t account_id, const DemoAccountPlan& plan,
                 std::int64_t today, DemoRandom& rng, std::int64_t* final_balance) {
  const std::vector<PlannedEntry> entries = plan_history(plan, today, rng);
  std::int64_t total = 0, lowest = 0;
  for (const auto& e : entries) {
    total += e.amount;
    lowest = std::min(lowest, total);
  }
  std::int64_t opening = plan.target_balance - total;
  if (opening + lowest < kMinRunningBalance) opening = kMinRunningBalance - lowest;
  std::int64_t balance = opening;
  for (const auto& e : entries) {
    balance += e.amount;
    LedgerEntry le;
    le.account_id = account_id;
    le.date = format_date(civil_from_days(e.day));
    le.description = e.description;
    le.amount_yen = e.amount;
    le.balance_after_yen = balance;
    tx.add_ledger_entry(le);
  }
  *final_balance = balance;
}

}  // namespace

std::vector<CustomerRecord> demo_customers() {
  return {
      {"C0001", "ﾃﾞｰﾀ ｻﾄﾙ", "1985-04-12", {"09011113333", "0612345678"}},
      {"C0002", "ﾔﾏﾀﾞ ﾊﾅｺ", "1990-12-01", {"08022224444"}},
      {"C0003", "ｽｽﾞｷ ｲﾁﾛｳ", "1972-07-07", {"07033335555"}},
      {"C0004", "ﾀﾅｶ ｼﾞﾛｳ", "1960-02-29", {"0312345678"}},
      {"C0005", "ｻﾄｳ ﾐｷ", "2000-01-01", {"06012345678"}},
      {"C0006", "ｺﾊﾞﾔｼ ｹﾝ", "1995-05-05", {"09055556666"}},
  };
}

bool holds_demo_data(AccountRepository& tx) {
  for (const CustomerRecord& demo : demo_customers()) {
    std::optional<CustomerRecord> stored = tx.find_customer(demo.id);
    if (stored && stored->name_kana == demo.name_kana && stored->birth_date == demo.birth_date) {
      return true;
    }
  }
  return false;
}

bool seed_demo_data(Store& store, const std::string& pin_key, const CivilDate& today) {
  // One unit (with_transaction): a pooled PostgreSQL connection lost before
  // anything reached the database, or a conflict, runs it again from the
  // start; it only writes to the store.
  return with_transaction(store, TxMode::read_write, [&](StoreTx& tx) {
    tx.lock_for_seeding();  // instances starting at once: only the first seeds
    if (tx.count_accounts() > 0) return false;

    for (const auto& c : demo_customers()) tx.upsert_customer(c);

    auto make = [&](const char* customer, const char* branch, AccountType type, const char* number,
                    AccountStatus status, bool card, std::string_view pin) {
      AccountRecord a;
      a.customer_id = customer;
      a.ref = AccountRef{branch, type, number};
      a.status = status;
      a.cash_card_issued = card;
      a.pin_digest = pin.empty() ? std::string() : pin_digest(pin_key, account_key(a.ref), pin);
      return a;
    };

    const std::int64_t today_days = days_from_civil(today);
    DemoRandom rng(kDemoSeed);
    for (const auto& plan : demo_plans()) {
      AccountRecord a = make(plan.customer_id, plan.branch, plan.type, plan.number, plan.status,
                             plan.cash_card, plan.pin);
      const std::int64_t id = tx.upsert_account(a);
      add_history(tx, id, plan, today_days, rng, &a.balance_yen);
      tx.upsert_account(a);  // the balance the history ends at
    }
    // The moved account (manual FAQ 3-Q4: the customer now uses 022-2222222)
    // and the closed one: no balance, no history; the card they had is kept on
    // record so that it is the status alone that makes them ineligible.
    tx.upsert_account(
        make("C0003", "011", AccountType::ordinary, "1111111", AccountStatus::moved, true, "5555"));
    tx.upsert_account(
        make("C0004", "006", AccountType::ordinary, "1234567", AccountStatus::closed, true, ""));
    return true;
  });
}

// ---------- CSV import ----------

namespace {

constexpr std::string_view kCsvHeaderStart =
    "customer_id,name_kana,birth_date,phones,branch,type,number,status,cash_card,balance,";
// The last column: the PIN in clear (development only) or its keyed digest.
constexpr std::string_view kClearPinColumn = "pin";
constexpr std::string_view kPinDigestColumn = "pin_digest";
constexpr std::size_t kCsvColumns = 11;

struct CsvRecord {
  int line = 0;  // physical line the record starts on (1 = header)
  std::vector<std::string> fields;
};

// RFC 4180: fields separated by ',', records by CRLF (LF accepted), fields
// optionally in double quotes, "" inside quotes for one quote; quoted fields
// may hold commas and line breaks. Blank lines are skipped; a UTF-8 BOM at the
// start is ignored (spreadsheet exports).
bool parse_csv(std::string_view text, std::vector<CsvRecord>* out, std::string* error) {
  if (text.substr(0, 3) == "\xEF\xBB\xBF") text.remove_prefix(3);
  std::size_t i = 0;
  int line = 1;
  while (i < text.size()) {
    CsvRecord rec;
    rec.line = line;
    std::string field;
    bool record_done = false;
    while (!record_done) {
      field.clear();
      if (i < text.size() && text[i] == '"') {
        ++i;
        for (;;) {
          if (i >= text.size()) {
            *error = "line " + std::to_string(rec.line) + ": unterminated quoted field";
            return false;
          }
          const char c = text[i++];
          if (c == '"') {
            if (i < text.size() && text[i] == '"') {
              field += '"';
              ++i;
            } else {
              break;
            }
          } else {
            if (c == '\n') ++line;
            field += c;
          }
        }
        if (i < text.size() && text[i] != ',' && text[i] != '\n' && text[i] != '\r') {
          *error = "line " + std::to_string(line) + ": text after a closing quote";
          return false;
        }
      } else {
        while (i < text.size() && text[i] != ',' && text[i] != '\n' && text[i] != '\r') {
          if (text[i] == '"') {
            *error = "line " + std::to_string(line) + ": quote inside an unquoted field";
            return false;
          }
          field += text[i++];
        }
      }
      rec.fields.push_back(field);
      if (i < text.size() && text[i] == ',') {
        ++i;
        continue;
      }
      // End of record: CRLF, LF, a lone CR, or the end of the text.
      if (i < text.size() && text[i] == '\r') ++i;
      if (i < text.size() && text[i] == '\n') ++i;
      ++line;
      record_done = true;
    }
    const bool blank = rec.fields.size() == 1 && rec.fields[0].empty();
    if (!blank) out->push_back(std::move(rec));
  }
  return true;
}

bool is_customer_id(std::string_view s) {
  if (s.empty() || s.size() > 32) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_';
  });
}

std::string field_problem(const char* column, const FieldResult& r) {
  return std::string(column) + ": " + std::string(wire_name(r.errors.front().code));
}

std::vector<std::string> split_phones(const std::string& s) {
  std::vector<std::string> out;
  std::size_t start = 0;
  for (;;) {
    const std::size_t bar = s.find('|', start);
    out.push_back(s.substr(start, bar == std::string::npos ? std::string::npos : bar - start));
    if (bar == std::string::npos) return out;
    start = bar + 1;
  }
}

struct ImportRow {
  CustomerRecord customer;
  AccountRecord account;
};

// Validates one data row; "" when fine, else the reason (without "line N: ").
bool is_pin_digest(std::string_view s) {
  return s.size() == 64 && std::all_of(s.begin(), s.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
         });
}

std::string parse_row(const std::vector<std::string>& f, const std::string& pin_key,
                      bool hashed, ImportRow* row) {
  if (f.size() != kCsvColumns) {
    return "expected " + std::to_string(kCsvColumns) + " fields, found " + std::to_string(f.size());
  }
  CustomerRecord& c = row->customer;
  AccountRecord& a = row->account;

  if (!is_customer_id(f[0])) return "customer_id: invalid_format";
  c.id = f[0];

  const FieldResult name = check_name_kana(f[1]);
  if (!name.ok()) return field_problem("name_kana", name);
  c.name_kana = name.value;

  const auto birth = parse_date(f[2]);
  if (!birth) return "birth_date: invalid_date";
  if (birth->year < kMinBirthYear) return "birth_date: date_out_of_range";
  c.birth_date = format_date(*birth);

  if (f[3].empty()) return "phones: required";
  for (const auto& p : split_phones(f[3])) {
    const FieldResult phone = check_phone(p);
    if (!phone.ok()) return field_problem("phones", phone);
    if (std::find(c.phones.begin(), c.phones.end(), phone.value) != c.phones.end()) {
      return "phones: duplicate number";
    }
    c.phones.push_back(phone.value);
  }

  const FieldResult branch = check_branch(f[4]);
  if (!branch.ok()) return field_problem("branch", branch);
  a.ref.branch = branch.value;

  const auto type = account_type_from_wire(f[5]);
  if (!type) return "type: not handled (ordinary or savings)";
  a.ref.type = *type;

  const FieldResult number = check_account_number(f[6]);
  if (!number.ok()) return field_problem("number", number);
  a.ref.number = number.value;

  const auto status = account_status_from_wire(f[7]);
  if (!status) return "status: unknown (active, closed or moved)";
  a.status = *status;

  if (f[8] == "true" || f[8] == "1") {
    a.cash_card_issued = true;
  } else if (f[8] == "false" || f[8] == "0") {
    a.cash_card_issued = false;
  } else {
    return "cash_card: expected true or false";
  }

  const std::string& bal = f[9];
  if (bal.empty() || bal.size() > 15 ||
      !std::all_of(bal.begin(), bal.end(), [](char ch) { return ch >= '0' && ch <= '9'; })) {
    return "balance: expected a whole number of yen (0 or more)";
  }
  a.balance_yen = std::stoll(bal);

  if (hashed) {
    if (!f[10].empty() && !is_pin_digest(f[10])) {
      return "pin_digest: expected 64 lower-case hex digits (renkei-server hash-pins)";
    }
    a.pin_digest = f[10];
  } else if (!f[10].empty()) {
    // renkei::check_pin is the field rule; records.h's check_pin is the record check.
    const FieldResult pin = renkei::check_pin(f[10]);
    if (!pin.ok()) return "pin: " + std::string(wire_name(pin.errors.front().code));
    a.pin_digest = pin_digest(pin_key, account_key(a.ref), pin.value);
  }
  a.customer_id = c.id;
  return "";
}

}  // namespace

namespace {

// The file's header: "" when fine (and *hashed set), else the reason.
std::string check_header(const CsvRecord& first, bool* hashed) {
  std::string header;
  for (std::size_t k = 0; k < first.fields.size(); ++k) {
    if (k) header += ',';
    header += first.fields[k];
  }
  const std::string start(kCsvHeaderStart);
  if (header == start + std::string(kPinDigestColumn)) {
    *hashed = true;
    return "";
  }
  if (header == start + std::string(kClearPinColumn)) {
    *hashed = false;
    return "";
  }
  return "line 1: header must be " + start + std::string(kPinDigestColumn) + " (or " +
         std::string(kClearPinColumn) + " in development)";
}

// One CSV field, quoted when it needs to be (RFC 4180).
std::string csv_field(const std::string& v) {
  if (v.find_first_of(",\"\r\n") == std::string::npos) return v;
  std::string out = "\"";
  for (char c : v) {
    if (c == '"') out += '"';
    out += c;
  }
  return out + "\"";
}

}  // namespace

std::string hash_pins_csv(const std::string& csv_text, const std::string& pin_key,
                          std::string* error) {
  std::string local_error;
  std::string& err = error ? *error : local_error;
  err.clear();
  std::vector<CsvRecord> records;
  if (!parse_csv(csv_text, &records, &err)) return "";
  if (records.empty() || records.front().line != 1) {
    err = "line 1: missing header";
    return "";
  }
  bool hashed = false;
  if (std::string why = check_header(records.front(), &hashed); !why.empty() || hashed) {
    err = hashed ? "line 1: the pin column is already pin_digest" : why;
    return "";
  }
  std::string out = std::string(kCsvHeaderStart) + std::string(kPinDigestColumn) + "\r\n";
  for (std::size_t r = 1; r < records.size(); ++r) {
    CsvRecord& rec = records[r];
    ImportRow row;
    // Validated as the import will validate it, so that a bad row is found
    // here, where the clear PINs are, rather than at import.
    const std::string problem = parse_row(rec.fields, pin_key, false, &row);
    if (!problem.empty()) {
      err = "line " + std::to_string(rec.line) + ": " + problem;
      for (auto& rr : records) wipe(rr.fields.back());
      return "";
    }
    wipe(rec.fields[10]);
    rec.fields[10] = row.account.pin_digest;
    for (std::size_t k = 0; k < rec.fields.size(); ++k) {
      if (k) out += ',';
      out += csv_field(rec.fields[k]);
    }
    out += "\r\n";
  }
  return out;
}

int import_accounts_csv(Store& store, const std::string& csv_text, const std::string& pin_key,
                        std::string* error, bool allow_clear_pins) {
  std::string local_error;
  std::string& err = error ? *error : local_error;
  err.clear();

  std::vector<CsvRecord> records;
  if (!parse_csv(csv_text, &records, &err)) return 0;
  if (records.empty() || records.front().line != 1) {
    err = "line 1: missing header";
    return 0;
  }
  bool hashed = false;
  if (std::string why = check_header(records.front(), &hashed); !why.empty()) {
    err = why;
    return 0;
  }
  if (!hashed && !allow_clear_pins) {
    err = "line 1: the pin column holds PINs in clear, accepted only in development; hash them "
          "with `renkei-server hash-pins` (same RENKEI_PIN_KEY) and import the pin_digest column";
    return 0;
  }

  // Validate every row before writing anything.
  std::vector<ImportRow> rows;
  std::map<std::string, std::size_t> customer_row;  // customer id → first row index
  std::map<std::string, int> account_line;          // account key → line
  for (std::size_t r = 1; r < records.size(); ++r) {
    const CsvRecord& rec = records[r];
    ImportRow row;
    const std::string problem = parse_row(rec.fields, pin_key, hashed, &row);
    if (!problem.empty()) {
      err = "line " + std::to_string(rec.line) + ": " + problem;
      return 0;
    }
    const std::string key = account_key(row.account.ref);
    if (auto it = account_line.find(key); it != account_line.end()) {
      err = "line " + std::to_string(rec.line) + ": account " + key + " already on line " +
            std::to_string(it->second);
      return 0;
    }
    account_line[key] = rec.line;
    if (auto it = customer_row.find(row.customer.id); it != customer_row.end()) {
      const CustomerRecord& first = rows[it->second].customer;
      if (first.name_kana != row.customer.name_kana ||
          first.birth_date != row.customer.birth_date || first.phones != row.customer.phones) {
        err = "line " + std::to_string(rec.line) + ": customer " + row.customer.id +
              " differs from line " + std::to_string(records[it->second + 1].line);
        return 0;
      }
    } else {
      customer_row[row.customer.id] = rows.size();
    }
    rows.push_back(std::move(row));
  }

  // All or nothing: one transaction, rolled back on any error (and run again
  // as a whole after a conflict).
  std::size_t current = 0;
  try {
    with_transaction(store, TxMode::read_write, [&](AccountRepository& records) {
      for (current = 0; current < rows.size(); ++current) {
        records.upsert_customer(rows[current].customer);
        records.upsert_account(rows[current].account);
      }
    });
  } catch (const StorageError& e) {
    const int line = current < rows.size() ? records[current + 1].line : 1;
    err = "line " + std::to_string(line) + ": " + e.what();
    return 0;
  }
  return static_cast<int>(rows.size());
}

}  // namespace renkei::server
