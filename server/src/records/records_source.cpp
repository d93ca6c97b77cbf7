// The records source (records_source.h): the core's eligibility rule applied
// to any source's answers, and the local source over the store.
#include "records/records_source.h"

#include <openssl/crypto.h>

#include <algorithm>
#include <charconv>
#include <exception>

#include "records/records.h"

namespace renkei::server {

std::string_view records_failure_wire_name(RecordsFailureKind k) {
  switch (k) {
    case RecordsFailureKind::unavailable:
      return "unavailable";
    case RecordsFailureKind::timeout:
      return "timeout";
    case RecordsFailureKind::maintenance:
      return "maintenance";
    case RecordsFailureKind::bad_cursor:
      return "bad_cursor";
  }
  return "unavailable";
}

ErrorCode error_code_of(const RecordsFailure& f) {
  switch (f.kind) {
    case RecordsFailureKind::timeout:
      return ErrorCode::busy;
    case RecordsFailureKind::maintenance:
      return ErrorCode::out_of_hours;
    case RecordsFailureKind::bad_cursor:
      return ErrorCode::bad_request;
    case RecordsFailureKind::unavailable:
      break;
  }
  return ErrorCode::system_error;
}

void wipe(std::string& s) {
  if (!s.empty()) OPENSSL_cleanse(s.data(), s.size());
  s.clear();
}

RecordsResult<IdentityAnswer> RecordsSource::check_identity(const AccountRef& ref,
                                                            const CustomerInfo& info) {
  RecordsResult<std::optional<AccountInfo>> found = find_account(ref);
  if (!found.ok()) return found.failure();
  IdentityAnswer answer;
  // The rule is the core's (renkei/flow.h), whatever the source.
  if (!found.value() || !eligible_for_linking(found.value()->standing())) return answer;
  RecordsResult<bool> matches = identity_matches(ref, info.birth_date, info.phone);
  if (!matches.ok()) return matches.failure();
  answer.account = *found.value();
  answer.check = matches.value() ? IdentityCheck::match : IdentityCheck::mismatch;
  return answer;
}

RecordsResult<bool> RecordsSource::still_eligible(const AccountRef& ref) {
  RecordsResult<std::optional<AccountInfo>> found = find_account(ref);
  if (!found.ok()) return found.failure();
  return found.value().has_value() && eligible_for_linking(found.value()->standing());
}

// ---------- the local source ----------

namespace {

RecordsFailure storage_failure(const std::exception& e) {
  return RecordsFailure{RecordsFailureKind::unavailable, std::nullopt,
                        std::string("local records: ") + e.what()};
}

AccountInfo info_of(const AccountRecord& a) {
  return AccountInfo{a.ref, a.customer_id, a.status, a.cash_card_issued};
}

}  // namespace

// Each lookup below is one read-only with_transaction (storage.h): a pooled
// PostgreSQL connection lost before anything reached the database, or a
// conflict, runs it again; any other storage failure is the records'
// `unavailable`. The unit only reads and returns its answer.

RecordsResult<std::optional<AccountInfo>> LocalRecordsSource::find_account(const AccountRef& ref) {
  try {
    return with_transaction(store_, TxMode::read_only,
                            [&](StoreTx& tx) -> RecordsResult<std::optional<AccountInfo>> {
                              std::optional<AccountRecord> a = tx.find_account(ref);
                              // A mapping row of the remote source is not a record.
                              if (!a || a->customer_id.rfind("core:", 0) == 0)
                                return std::optional<AccountInfo>();
                              if (!tx.find_customer(a->customer_id))
                                return std::optional<AccountInfo>();
                              return std::optional<AccountInfo>(info_of(*a));
                            });
  } catch (const std::exception& e) {
    return storage_failure(e);
  }
}

RecordsResult<bool> LocalRecordsSource::identity_matches(const AccountRef& ref,
                                                         const std::string& birth_date,
                                                         const std::string& phone) {
  try {
    CustomerInfo info;
    info.birth_date = birth_date;
    info.phone = phone;
    return with_transaction(store_, TxMode::read_only, [&](StoreTx& tx) -> RecordsResult<bool> {
      // records.cpp's check (eligibility there too; both facts evaluated).
      std::optional<AccountRecord> found;
      const IdentityCheck c = renkei::server::check_identity(tx, ref, info, &found);
      return c == IdentityCheck::match;
    });
  } catch (const std::exception& e) {
    return storage_failure(e);
  }
}

RecordsResult<std::vector<std::string>> LocalRecordsSource::registered_phones(
    const AccountRef& ref) {
  try {
    return with_transaction(store_, TxMode::read_only,
                            [&](StoreTx& tx) -> RecordsResult<std::vector<std::string>> {
                              std::optional<AccountRecord> a = tx.find_account(ref);
                              if (!a) return std::vector<std::string>();
                              std::optional<CustomerRecord> c = tx.find_customer(a->customer_id);
                              return c ? c->phones : std::vector<std::string>();
                            });
  } catch (const std::exception& e) {
    return storage_failure(e);
  }
}

RecordsResult<PinCheck> LocalRecordsSource::verify_pin(const AccountRef& ref,
                                                       std::string_view pin) {
  try {
    // Only the stored account is read in the unit; the PIN is compared after.
    const std::optional<AccountRecord> a = with_transaction(
        store_, TxMode::read_only, [&](StoreTx& tx) { return tx.find_account(ref); });
    if (!a) return PinCheck::mismatch;
    return renkei::server::check_pin(*a, pin_key_, std::string(pin));
  } catch (const std::exception& e) {
    return storage_failure(e);
  }
}

RecordsResult<std::int64_t> LocalRecordsSource::balance(const AccountRef& ref) {
  try {
    const std::optional<AccountRecord> a = with_transaction(
        store_, TxMode::read_only, [&](StoreTx& tx) { return tx.find_account(ref); });
    if (!a) return RecordsFailure{RecordsFailureKind::unavailable, std::nullopt,
                                  "local records: unknown account"};
    return a->balance_yen;
  } catch (const std::exception& e) {
    return storage_failure(e);
  }
}

RecordsResult<TransactionPage> LocalRecordsSource::transactions(const AccountRef& ref,
                                                                const std::string& from,
                                                                const std::string& to, int limit,
                                                                const std::string& cursor) {
  // The local cursor is the id of the last entry of the previous page.
  std::int64_t before_id = 0;
  if (!cursor.empty()) {
    auto [end, ec] = std::from_chars(cursor.data(), cursor.data() + cursor.size(), before_id);
    if (ec != std::errc() || end != cursor.data() + cursor.size() || before_id <= 0) {
      return RecordsFailure{RecordsFailureKind::bad_cursor, std::nullopt,
                            "local records: bad cursor"};
    }
  }
  try {
    // The account's entries, one more than a page (nullopt: no such account).
    std::optional<std::vector<LedgerEntry>> found = with_transaction(
        store_, TxMode::read_only, [&](StoreTx& tx) -> std::optional<std::vector<LedgerEntry>> {
          std::optional<AccountRecord> a = tx.find_account(ref);
          if (!a) return std::nullopt;
          return tx.ledger(a->id, from, to, limit + 1, before_id);
        });
    if (!found)
      return RecordsFailure{RecordsFailureKind::unavailable, std::nullopt,
                            "local records: unknown account"};
    std::vector<LedgerEntry>& entries = *found;
    TransactionPage page;
    const bool more = static_cast<int>(entries.size()) > limit;
    if (more) entries.resize(static_cast<std::size_t>(limit));
    for (const LedgerEntry& e : entries) {
      page.items.push_back(Transaction{std::to_string(e.id), e.date, e.description, e.amount_yen,
                                       e.balance_after_yen});
    }
    if (more) page.next_cursor = page.items.back().id;
    return page;
  } catch (const std::exception& e) {
    return storage_failure(e);
  }
}

std::int64_t local_account_id(StoreTx& tx, const AccountInfo& info) {
  std::optional<AccountRecord> existing = tx.find_account(info.ref);
  const bool mapping = !existing || existing->customer_id.rfind("core:", 0) == 0;
  if (existing && !mapping) return existing->id;  // the local record itself
  if (existing && existing->status == info.status &&
      existing->cash_card_issued == info.cash_card_issued &&
      existing->customer_id == "core:" + info.customer_ref) {
    return existing->id;
  }
  // The mapping row of an account whose records are the core system's: no
  // personal data, no balance, no PIN digest.
  CustomerRecord c;
  c.id = "core:" + info.customer_ref;
  tx.upsert_customer(c);
  AccountRecord a;
  a.customer_id = c.id;
  a.ref = info.ref;
  a.status = info.status;
  a.cash_card_issued = info.cash_card_issued;
  return tx.upsert_account(a);
}

}  // namespace renkei::server
