// The credit union's records (the "core banking" side): customers, their
// accounts and the passbook. One of the repositories a StoreTx gives access
// to (storage.h).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "renkei/forms.h"

namespace renkei::server {

enum class AccountStatus { active, closed, moved };
std::string_view account_status_wire_name(AccountStatus s);
// The status for a wire name ("active", "closed", "moved"), or nullopt.
std::optional<AccountStatus> account_status_from_wire(std::string_view name);

struct CustomerRecord {
  std::string id;                    // the credit union's customer number
  std::string name_kana;             // half-width katakana (for staff; not matched: FAQ 2-Q4)
  std::string birth_date;            // "YYYY-MM-DD"
  std::vector<std::string> phones;   // registered numbers, digits only (several allowed)
};

struct AccountRecord {
  std::int64_t id = 0;               // storage id
  std::string customer_id;
  AccountRef ref;                    // branch, type, 7-digit number
  AccountStatus status = AccountStatus::active;
  bool cash_card_issued = true;
  std::int64_t balance_yen = 0;
  std::string pin_digest;            // pin_digest(key, account key, pin); empty = no card PIN
};

// One line of the passbook.
struct LedgerEntry {
  std::int64_t id = 0;
  std::int64_t account_id = 0;
  std::string date;                  // "YYYY-MM-DD" (JST)
  std::string description;           // 摘要, e.g. "ｷﾕｳﾖ" or "ATM"
  std::int64_t amount_yen = 0;       // + deposit, − withdrawal
  std::int64_t balance_after_yen = 0;
};

class AccountRepository {
 public:
  virtual std::optional<AccountRecord> find_account(const AccountRef& ref) = 0;
  virtual std::optional<AccountRecord> account_by_id(std::int64_t id) = 0;
  virtual std::optional<CustomerRecord> find_customer(const std::string& customer_id) = 0;
  virtual void upsert_customer(const CustomerRecord& c) = 0;
  // Inserts or replaces by ref; returns the account id.
  virtual std::int64_t upsert_account(const AccountRecord& a) = 0;
  virtual void add_ledger_entry(const LedgerEntry& e) = 0;
  // Entries with from <= date <= to, newest first, ids < before_id when non-zero.
  virtual std::vector<LedgerEntry> ledger(std::int64_t account_id, const std::string& from,
                                          const std::string& to, int limit,
                                          std::int64_t before_id) = 0;
  virtual std::int64_t count_accounts() = 0;

 protected:
  ~AccountRepository() = default;
};

}  // namespace renkei::server
