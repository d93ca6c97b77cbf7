// The credit union's records: the demo data set, CSV import, and the checks
// of screens ② and ⑤ against them (SPEC §4: account_not_eligible vs
// auth_mismatch).
#pragma once

#include <string>

#include "renkei/flow.h"
#include "store/storage.h"

namespace renkei::server {

// What the core's eligibility rules (renkei/flow.h) need of a record.
AccountStanding standing_of(const AccountRecord& a);

// ② : the account must exist and be eligible_for_linking (core) (else
// account_not_eligible); then birth date and phone (one of the registered
// numbers) must match (else mismatch). The name is not matched.
IdentityCheck check_identity(StoreTx& tx, const AccountRef& account, const CustomerInfo& info,
                             std::optional<AccountRecord>* found);
// ⑤ : keyed hash of the PIN compared in constant time.
PinCheck check_pin(const AccountRecord& account, const std::string& pin_key,
                   const std::string& pin);
// The key used in pin_digest for an account ("115-ordinary-1100026").
std::string account_key(const AccountRef& ref);

// The demo data set (fictional people; PINs in the clear only here, stored as digests):
//  C0001 ﾃﾞｰﾀ ｻﾄﾙ  1985-04-12 phones 09011113333, 0612345678
//        115 ordinary 1100026 active, card, PIN 1234
//  C0002 ﾔﾏﾀﾞ ﾊﾅｺ  1990-12-01 phone 08022224444
//        001 savings  0000123 active, card, PIN 4321
//  C0003 ｽｽﾞｷ ｲﾁﾛｳ 1972-07-07 phone 07033335555
//        011 ordinary 1111111 moved (manual FAQ 3-Q4), 022 ordinary 2222222 active, card, PIN 5555
//  C0004 ﾀﾅｶ ｼﾞﾛｳ  1960-02-29 phone 0312345678
//        006 ordinary 1234567 closed
//  C0005 ｻﾄｳ ﾐｷ    2000-01-01 phone 06012345678 (a 060 number)
//        115 ordinary 3000001 active, no cash card
//  C0006 ｺﾊﾞﾔｼ ｹﾝ  1995-05-05 phone 09055556666
//        115 savings  5000005 active, card, PIN 0000
// Creates the deterministic demo data set (fictional people; an active account
// per person, a moved one, a closed one, one without a cash card; ~3 months of
// transactions ending at `today`) if the store has no accounts. Returns true if created.
bool seed_demo_data(Store& store, const std::string& pin_key, const CivilDate& today);
// True when the store holds one of the demo customers (same customer number,
// name and birth date): its published PINs make it unfit for production.
bool holds_demo_data(AccountRepository& tx);

// Imports accounts from CSV (header line required):
// customer_id,name_kana,birth_date,phones,branch,type,number,status,cash_card,balance,pin_digest
// phones separated by '|'; pin_digest is the keyed digest made by
// hash_pins_csv (`renkei-server hash-pins`, same RENKEI_PIN_KEY), or empty
// for no card PIN. A last column named `pin` holding PINs in clear is
// accepted only when allow_clear_pins (development). Returns the number of
// rows imported; on the first bad row stops, imports nothing (one
// transaction) and sets *error to "line N: reason".
int import_accounts_csv(Store& store, const std::string& csv_text, const std::string& pin_key,
                        std::string* error, bool allow_clear_pins = true);

// The same CSV with its clear `pin` column replaced by `pin_digest` (every
// row validated as the import does). "" with *error set on a bad file. The
// clear PINs of the parsed copy are wiped.
std::string hash_pins_csv(const std::string& csv_text, const std::string& pin_key,
                          std::string* error);

}  // namespace renkei::server
