// Everything Renkei asks of the credit union's records, behind one interface
// (issue 14, docs/core-banking.md). The records are the core banking system's
// (勘定系): accounts, customers' birth dates and phones, balances, transactions
// and the cash-card PINs. Two implementations:
//   LocalRecordsSource   today's store (development, the demo, small
//                        deployments): records.cpp's checks over StoreTx;
//   RemoteRecordsSource  the credit union's core-banking gateway over HTTPS
//                        with client certificates (remote_records_source.h).
//
// No exception crosses this seam: every answer is a RecordsResult holding
// either the value or a RecordsFailure, which the caller maps to the screen's
// code with error_code_of (unavailable → system_error, timeout → busy,
// maintenance → out_of_hours with the gateway's reopening time).
//
// What stays Renkei's own, in its store, keyed by the local account id
// (AccountRecord::id, the `accounts` row of the account's (branch, type,
// number)): the lock counters, grants, flows, the operation log. With the
// local source that row is the record itself; with the remote source it is
// only the mapping (ref, customer reference, standing as last seen; no PIN
// digest, no balance, no personal data) made by local_account_id().
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "renkei/error.h"
#include "renkei/flow.h"
#include "renkei/forms.h"
#include "renkei/time.h"
#include "store/storage.h"

namespace renkei::server {

// Why the records could not answer. Never counted toward the lockout (the
// customer's PIN or identity is not in question).
enum class RecordsFailureKind {
  unavailable,  // down, refused, a broken answer, the breaker open → system_error
  timeout,      // no answer within the call's time, or the gateway says it is busy → busy
  maintenance,  // the core system's maintenance window → out_of_hours
  // transactions() only: a cursor the source cannot read (not one it gave:
  // the caller's error, not the records') → bad_request on `cursor`. The local
  // source's cursors are entry ids; the remote source passes the gateway's
  // opaque cursors through and never answers this itself.
  bad_cursor,
};
std::string_view records_failure_wire_name(RecordsFailureKind k);

struct RecordsFailure {
  RecordsFailureKind kind = RecordsFailureKind::unavailable;
  std::optional<UnixSeconds> reopens_at;  // maintenance: when the gateway says it reopens
  std::string detail;                     // short, non-secret, for the operation log
};

// The screen's code for a failure.
ErrorCode error_code_of(const RecordsFailure& f);

template <typename T>
class RecordsResult {
 public:
  RecordsResult(T value) : v_(std::move(value)) {}  // NOLINT: implicit on purpose
  RecordsResult(RecordsFailure failure) : v_(std::move(failure)) {}  // NOLINT
  bool ok() const { return v_.index() == 0; }
  const T& value() const { return std::get<0>(v_); }
  T& value() { return std::get<0>(v_); }
  const RecordsFailure& failure() const { return std::get<1>(v_); }

 private:
  std::variant<T, RecordsFailure> v_;
};

// What the records say of one account.
struct AccountInfo {
  AccountRef ref;
  std::string customer_ref;  // the core system's customer number (opaque)
  AccountStatus status = AccountStatus::active;
  bool cash_card_issued = false;
  AccountStanding standing() const {
    return AccountStanding{status == AccountStatus::active, cash_card_issued};
  }
};

// ②'s answer: the core's IdentityCheck and, when the account is eligible, the
// account (its mismatch counts toward the lock).
struct IdentityAnswer {
  IdentityCheck check = IdentityCheck::account_not_eligible;
  std::optional<AccountInfo> account;
};

struct Transaction {
  std::string id;  // the records' id of the entry (opaque)
  std::string date;
  std::string description;
  std::int64_t amount_yen = 0;
  std::int64_t balance_after_yen = 0;
};

struct TransactionPage {
  std::vector<Transaction> items;  // newest first
  std::string next_cursor;         // "" = no more
};

class RecordsSource {
 public:
  virtual ~RecordsSource() = default;
  // "local" or "remote".
  virtual std::string_view kind() const = 0;

  // The account (branch, type, number): whose it is and its standing; nullopt
  // when the records do not know it.
  virtual RecordsResult<std::optional<AccountInfo>> find_account(const AccountRef& ref) = 0;
  // Do the birth date and one of the registered phones match the account's
  // customer? (The name is not matched: manual FAQ 2-Q4.) Asked only of an
  // account find_account knows.
  virtual RecordsResult<bool> identity_matches(const AccountRef& ref,
                                               const std::string& birth_date,
                                               const std::string& phone) = 0;
  // The customer's registered phones, digits only.
  virtual RecordsResult<std::vector<std::string>> registered_phones(const AccountRef& ref) = 0;
  // Is this the account's cash-card PIN? The PIN is used for this call only:
  // an implementation keeps no copy and wipes what it built from it.
  virtual RecordsResult<PinCheck> verify_pin(const AccountRef& ref, std::string_view pin) = 0;
  virtual RecordsResult<std::int64_t> balance(const AccountRef& ref) = 0;
  // Entries with from <= date <= to, newest first, at most `limit`, after
  // `cursor` (a previous page's next_cursor; "" = from the newest).
  virtual RecordsResult<TransactionPage> transactions(const AccountRef& ref,
                                                      const std::string& from,
                                                      const std::string& to, int limit,
                                                      const std::string& cursor) = 0;

  // ②, with the eligibility rule of the core (eligible_for_linking): unknown or
  // ineligible → account_not_eligible; else match or mismatch. Not virtual: the
  // rule is applied once, here, to whatever the source answers.
  RecordsResult<IdentityAnswer> check_identity(const AccountRef& ref, const CustomerInfo& info);
  // ⑤'s precondition: the account still eligible (closed or moved since ②?).
  RecordsResult<bool> still_eligible(const AccountRef& ref);
};

// Over today's store: each call is its own short read transaction. The caller
// must not hold a transaction of the same store while calling (SQLite has one
// connection).
class LocalRecordsSource final : public RecordsSource {
 public:
  LocalRecordsSource(Store& store, std::string pin_key)
      : store_(store), pin_key_(std::move(pin_key)) {}
  std::string_view kind() const override { return "local"; }
  RecordsResult<std::optional<AccountInfo>> find_account(const AccountRef& ref) override;
  RecordsResult<bool> identity_matches(const AccountRef& ref, const std::string& birth_date,
                                       const std::string& phone) override;
  RecordsResult<std::vector<std::string>> registered_phones(const AccountRef& ref) override;
  RecordsResult<PinCheck> verify_pin(const AccountRef& ref, std::string_view pin) override;
  RecordsResult<std::int64_t> balance(const AccountRef& ref) override;
  RecordsResult<TransactionPage> transactions(const AccountRef& ref, const std::string& from,
                                              const std::string& to, int limit,
                                              const std::string& cursor) override;

 private:
  Store& store_;
  std::string pin_key_;
};

// Renkei's own id for an account the records know (locks, grants and flows
// are keyed by it). Finds the `accounts` row of info.ref; when there is none
// (remote source: first time this account is seen) creates the mapping row:
// ref, standing, the customer reference under "core:<ref>" with no name, no
// birth date, no phones, no balance, no PIN digest. Inside the caller's tx.
std::int64_t local_account_id(StoreTx& tx, const AccountInfo& info);

// Wipes a buffer that held a secret (OPENSSL_cleanse: not optimized away).
void wipe(std::string& s);

}  // namespace renkei::server
