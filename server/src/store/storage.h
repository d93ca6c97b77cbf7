// Storage behind one interface, with SQLite as the built-in backend. The
// interface speaks the domain (accounts, flows, locks, grants, mails), never
// SQL: a PostgreSQL backend for several server instances implements the same
// classes (a transaction there is BEGIN … SELECT … FOR UPDATE … COMMIT).
//
// Every read and write happens inside a StoreTx. A transaction is atomic and
// serializable with respect to every other transaction: that is what makes
// the lockout count exact under parallel attempts (read the LockState, let the
// core decide, write it back — all in one StoreTx).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "renkei/flow.h"
#include "renkei/forms.h"
#include "renkei/lockout_policy.h"
#include "renkei/service_calendar.h"
#include "renkei/time.h"

namespace renkei::server {

// ---------- records of the credit union (the "core banking" side) ----------

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

// ---------- the flow of one customer through the six screens ----------

struct FlowRecord {
  std::string flow_id;         // public random id (logs, admin); not a credential
  std::string session_digest;  // secret_digest(session cookie value); the cookie is the credential
  std::string csrf_token;      // echoed by the page in X-CSRF-Token
  // the OAuth request that started it
  std::string client_id;
  std::string redirect_uri;
  std::string oauth_state;
  std::string code_challenge;  // PKCE S256
  std::string scope;
  std::string dpop_jkt;        // FAPI 2.0: the DPoP key the code will be bound to, or ""
  FlowState state;             // the core's state
  std::optional<std::int64_t> account_id;  // once ② matched
  std::string client_ip;
  std::string user_agent;
  UnixSeconds created_at = 0;
  UnixSeconds updated_at = 0;
};

// ---------- OAuth 2.0 ----------

struct ClientRecord {
  std::string id;
  std::string display_name;
  std::vector<std::string> redirect_uris;
  std::string secret_digest;   // empty = public client (PKCE only)
  bool enabled = true;
  // FAPI 2.0 (issue 13): "oauth" (plain OAuth 2.0) or "fapi2" (PAR,
  // private_key_jwt, DPoP); jwks = the client's public JWK Set (JSON), "" if none.
  std::string profile = "oauth";
  std::string jwks;
};
inline constexpr const char* kProfileOAuth = "oauth";
inline constexpr const char* kProfileFapi2 = "fapi2";

struct GrantRecord {
  std::string id;              // random
  std::string client_id;
  std::int64_t account_id = 0;
  std::string scope;
  std::string flow_id;
  UnixSeconds created_at = 0;
  UnixSeconds expires_at = 0;  // created_at + authorization period
  std::optional<UnixSeconds> revoked_at;
  std::optional<UnixSeconds> last_used_at;
  std::string revoked_by;      // "app", "staff:<name>", "code_replay"
};

struct AuthorizationCodeRecord {
  std::string code_digest;
  std::string client_id;
  std::string redirect_uri;
  std::string code_challenge;
  std::string grant_id;
  UnixSeconds expires_at = 0;
  bool used = false;
  std::string dpop_jkt;        // RFC 9449 §10: the key the code is bound to, or ""
};

enum class TokenKind { access, refresh };
struct TokenRecord {
  std::string token_digest;
  TokenKind kind = TokenKind::access;
  std::string grant_id;
  std::string client_id;
  UnixSeconds expires_at = 0;
  bool revoked = false;
  std::string dpop_jkt;        // cnf.jkt: DPoP-bound (RFC 9449 §6), "" = bearer
};

// ---------- FAPI 2.0: pushed authorization requests, seen JWT ids ----------

// RFC 9126: the request behind one request_uri (only its digest is stored).
struct PushedRequestRecord {
  std::string request_uri_digest;
  std::string client_id;
  std::string params_json;     // the pushed parameters: a JSON object of strings
  UnixSeconds expires_at = 0;
  bool used = false;
};

// ---------- result mail, operation log, telephony ----------

enum class MailState { pending, sent, failed };
struct MailRecord {
  std::int64_t id = 0;
  std::string to;
  std::string subject;
  std::string body;            // UTF-8 text
  std::string flow_id;
  UnixSeconds created_at = 0;
  UnixSeconds next_attempt_at = 0;
  int attempts = 0;
  MailState state = MailState::pending;
  std::string last_error;
  std::optional<UnixSeconds> sent_at;
};

// SPEC §9: one per step. Never the PIN, never the full phone number.
struct AuditRecord {
  std::int64_t id = 0;
  UnixSeconds at = 0;
  std::string flow_id;
  std::string step;            // event wire name, or "authorize", "token", "admin.lift_lock", …
  std::string outcome;         // "ok" or an ErrorCode wire name
  std::string account;         // "115-ordinary-1100026" or ""
  std::string name_kana;
  std::string masked_phone;
  std::string client_id;
  std::string ip;
  std::string user_agent;
  std::string actor;           // "customer", "app:<id>", "telephony", "staff:<name>", "system"
  std::string detail;          // short, non-secret note
};

struct AuditQuery {
  std::string account;         // exact, or empty
  std::string flow_id;         // exact, or empty
  std::string outcome;         // exact, or empty
  std::optional<UnixSeconds> from, to;
  int limit = 100;
  std::int64_t before_id = 0;  // paging: only ids < before_id (0 = newest)
};

// An incoming call as the telephony provider reported it (idempotency key:
// provider_call_id). The caller's number itself is never kept: matching is
// done before the call is recorded, and the log needs only the masked form.
struct CallEventRecord {
  std::string provider_call_id;
  std::optional<std::string> caller_masked;  // "*****3333"; nullopt = withheld
  std::string dialled;
  UnixSeconds received_at = 0;
  std::string flow_id;         // the flow it was matched to, or ""
  std::string outcome;
};

// ---------- the transaction ----------

class StoreTx {
 public:
  virtual ~StoreTx() = default;  // rolls back unless committed
  // Makes every change of this transaction durable. False on failure, and then
  // nothing of the transaction happened: a caller must never answer as if it
  // had (hence [[nodiscard]]; the HTTP layer throws StorageError → system_error).
  [[nodiscard]] virtual bool commit() = 0;
  // Serializes the one-time seeding of an empty database between processes
  // that share it (several instances starting at once): held until this
  // transaction ends, and taken before it reads whether the database is empty.
  // SQLite's transactions already exclude each other (BEGIN IMMEDIATE).
  virtual void lock_for_seeding() {}

  // records
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

  // lockout (per account id)
  virtual LockState load_lock(std::int64_t account_id) = 0;
  virtual void save_lock(std::int64_t account_id, const LockState& s) = 0;
  // Accounts with failures > 0 or a lock set.
  virtual std::vector<std::pair<std::int64_t, LockState>> list_locks() = 0;

  // flows
  virtual void insert_flow(const FlowRecord& f) = 0;
  virtual std::optional<FlowRecord> flow_by_session(const std::string& session_digest) = 0;
  virtual std::optional<FlowRecord> flow_by_id(const std::string& flow_id) = 0;
  // Replaces the stored flow with the same flow_id (session_digest may change: rotation).
  virtual void update_flow(const FlowRecord& f) = 0;
  // Flows on ④ waiting for a call to `dialled` from `caller` whose window covers `now`.
  virtual std::vector<FlowRecord> flows_waiting_for_call(const std::string& dialled,
                                                         UnixSeconds now) = 0;
  // Deletes at most `limit` flows not updated since `before`; returns how many.
  virtual int delete_flows_idle_since(UnixSeconds before, int limit) = 0;
  virtual std::vector<FlowRecord> recent_flows(UnixSeconds since, int limit) = 0;

  // OAuth
  virtual std::optional<ClientRecord> find_client(const std::string& id) = 0;
  virtual void upsert_client(const ClientRecord& c) = 0;
  virtual std::vector<ClientRecord> list_clients() = 0;
  virtual void insert_code(const AuthorizationCodeRecord& c) = 0;
  // Marks the code used and returns it as it was before (used == true means a replay).
  virtual std::optional<AuthorizationCodeRecord> consume_code(const std::string& digest) = 0;
  virtual void insert_grant(const GrantRecord& g) = 0;
  virtual std::optional<GrantRecord> find_grant(const std::string& id) = 0;
  virtual void update_grant(const GrantRecord& g) = 0;
  virtual std::vector<GrantRecord> grants_for_account(std::int64_t account_id) = 0;
  virtual void insert_token(const TokenRecord& t) = 0;
  virtual std::optional<TokenRecord> find_token(const std::string& digest) = 0;
  virtual void revoke_token(const std::string& digest) = 0;
  virtual void revoke_tokens_of_grant(const std::string& grant_id) = 0;

  // FAPI 2.0 (issue 13). A pushed request is single use: consume marks it
  // used and returns it as it was (used == true means a second use).
  virtual void insert_pushed_request(const PushedRequestRecord& r) = 0;
  virtual std::optional<PushedRequestRecord> consume_pushed_request(const std::string& digest) = 0;
  // The replay cache of JWT ids, shared by every instance: records the digest
  // of a jti of `kind` ("client_assertion", "dpop") for `owner` (a client id
  // or a DPoP key thumbprint) until expires_at. False when it was recorded
  // before (a replay); a concurrent second insert waits and then fails.
  virtual bool remember_jti(const std::string& kind, const std::string& owner,
                            const std::string& jti_digest, UnixSeconds expires_at) = 0;
  // Retention: deletes at most `limit` pushed requests and jti rows that
  // expired before `before`; returns how many.
  virtual int delete_expired_fapi_rows(UnixSeconds before, int limit) = 0;

  // mail outbox
  virtual std::int64_t enqueue_mail(const MailRecord& m) = 0;
  virtual std::vector<MailRecord> due_mails(UnixSeconds now, int limit) = 0;
  virtual void update_mail(const MailRecord& m) = 0;
  virtual std::vector<MailRecord> list_mails(int limit) = 0;
  virtual std::optional<MailRecord> mail_by_id(std::int64_t id) = 0;

  // operation log
  virtual void append_audit(const AuditRecord& r) = 0;
  virtual std::vector<AuditRecord> query_audit(const AuditQuery& q) = 0;

  // telephony: false when provider_call_id was seen before (idempotency)
  virtual bool insert_call_event(const CallEventRecord& e) = 0;
  virtual std::optional<CallEventRecord> find_call_event(const std::string& provider_call_id) = 0;

  // retention (the purge job): each deletes at most `limit` rows older than
  // `before` and returns how many (the job deletes in batches, so that one
  // purge never holds the writer for long). Flows count from their last step,
  // mails from when they were written; a mail still pending is never deleted.
  virtual int delete_call_events_before(UnixSeconds before, int limit) = 0;
  virtual int delete_audit_before(UnixSeconds before, int limit) = 0;
  virtual int delete_finished_mails_before(UnixSeconds before, int limit) = 0;

  // announced maintenance windows (staff), on top of the configured ones
  virtual std::vector<MaintenanceWindow> list_maintenance() = 0;
  virtual std::int64_t add_maintenance(const MaintenanceWindow& w) = 0;
  virtual bool remove_maintenance(std::int64_t id) = 0;
  virtual std::vector<std::pair<std::int64_t, MaintenanceWindow>> list_maintenance_with_ids() = 0;
};

class Store {
 public:
  virtual ~Store() = default;
  // Starts a transaction; blocks while another writer holds the database.
  // Never returns null: on a storage failure it throws StorageError, which the
  // HTTP layer answers with system_error.
  virtual std::unique_ptr<StoreTx> begin() = 0;
  // After deletions of personal data: makes the deleted rows leave any
  // write-ahead file as well (SQLite: wal_checkpoint(TRUNCATE)). Outside any
  // transaction. Throws StorageError on failure.
  virtual void checkpoint() = 0;
};

struct StorageError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// SQLite (WAL, synchronous=FULL for acknowledged durability, foreign keys on),
// one connection behind a mutex: a single writer keeps worst-case latency low
// (TOOLCHAIN.md). `path` may be ":memory:". Creates the schema if missing.
std::unique_ptr<Store> open_sqlite_store(const std::string& path);

// PostgreSQL through libpq (postgres_store.cpp): `conninfo` is a libpq
// connection URI ("postgresql://user@host:5432/renkei") or key=value string.
// A pool of at most `pool_size` connections (the server passes its worker
// thread count), READ COMMITTED transactions with row locks where a caller
// reads what it writes back, synchronous_commit=on. Creates or upgrades the
// schema at open, under an advisory lock. Throws StorageError when the server
// cannot be reached; the message never contains the connection string.
std::unique_ptr<Store> open_postgres_store(const std::string& conninfo, int pool_size);

// The store a configuration's "database" names:
//   "postgresql://…" or "postgres://…"  PostgreSQL (pool of `pool_size`);
//   "sqlite:PATH", a plain PATH or ":memory:"  SQLite.
std::unique_ptr<Store> open_store(const std::string& database, int pool_size = 8);

// True when `database` names a PostgreSQL server (the URI forms above).
bool is_postgres_database(const std::string& database);
// The SQLite file of a "sqlite:PATH" or plain PATH ("" for PostgreSQL).
std::string sqlite_path_of(const std::string& database);
// `database` fit for a log line: a PostgreSQL URI's password is replaced by
// "***" (a key=value string is never logged: "(PostgreSQL)").
std::string database_for_log(const std::string& database);

}  // namespace renkei::server
