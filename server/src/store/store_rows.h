// What the SQLite and the PostgreSQL store share: the wire names they store
// for mail states and token kinds, the column lists of the records, and the
// readers that turn a result row into a record. The SQL around them is
// written once for both too (sql_repositories.h).
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "renkei/json.h"
#include "store/storage.h"

namespace renkei::server::store_rows {

inline std::string_view mail_state_wire_name(MailState s) {
  switch (s) {
    case MailState::pending:
      return "pending";
    case MailState::sent:
      return "sent";
    case MailState::failed:
      return "failed";
  }
  return "pending";
}

inline MailState mail_state_from_wire(std::string_view s) {
  if (s == "sent") return MailState::sent;
  if (s == "failed") return MailState::failed;
  return MailState::pending;
}

inline std::string_view token_kind_wire_name(TokenKind k) {
  return k == TokenKind::refresh ? "refresh" : "access";
}

inline TokenKind token_kind_from_wire(std::string_view s) {
  return s == token_kind_wire_name(TokenKind::refresh) ? TokenKind::refresh : TokenKind::access;
}

// Row readers, for any backend's query type Row with text(), opt_text(),
// int64(), opt_int64() and boolean() by column (column order = the SELECT
// lists that name these columns).

#define RENKEI_ACCOUNT_COLUMNS                                                        \
  "id, customer_id, branch, account_type, account_number, status, cash_card_issued, " \
  "balance_yen, pin_digest"

template <class Row>
AccountRecord read_account(const Row& q) {
  AccountRecord a;
  a.id = q.int64(0);
  a.customer_id = q.text(1);
  a.ref.branch = q.text(2);
  const std::string type = q.text(3);
  const auto t = account_type_from_wire(type);
  if (!t) throw StorageError("storage: account has an unknown type");
  a.ref.type = *t;
  a.ref.number = q.text(4);
  const auto s = account_status_from_wire(q.text(5));
  if (!s) throw StorageError("storage: account has an unknown status");
  a.status = *s;
  a.cash_card_issued = q.boolean(6);
  a.balance_yen = q.int64(7);
  a.pin_digest = q.text(8);
  return a;
}

#define RENKEI_LEDGER_COLUMNS \
  "id, account_id, entry_date, description, amount_yen, balance_after_yen"

template <class Row>
LedgerEntry read_ledger(const Row& q) {
  LedgerEntry e;
  e.id = q.int64(0);
  e.account_id = q.int64(1);
  e.date = q.text(2);
  e.description = q.text(3);
  e.amount_yen = q.int64(4);
  e.balance_after_yen = q.int64(5);
  return e;
}

#define RENKEI_FLOW_COLUMNS                                                                     \
  "flow_id, session_digest, csrf_token, client_id, redirect_uri, oauth_state, code_challenge, " \
  "scope, state_json, account_id, client_ip, user_agent, created_at, updated_at, dpop_jkt, "    \
  "app_error"

template <class Row>
FlowRecord read_flow(const Row& q) {
  FlowRecord f;
  f.flow_id = q.text(0);
  f.session_digest = q.text(1);
  f.csrf_token = q.text(2);
  f.client_id = q.text(3);
  f.redirect_uri = q.text(4);
  f.oauth_state = q.text(5);
  f.code_challenge = q.text(6);
  f.scope = q.text(7);
  const auto parsed = parse_json(q.text(8));
  std::optional<FlowState> state;
  if (parsed) state = flow_state_from_json(*parsed);
  if (!state) throw StorageError("storage: stored flow state is malformed");
  f.state = std::move(*state);
  f.account_id = q.opt_int64(9);
  f.client_ip = q.text(10);
  f.user_agent = q.text(11);
  f.created_at = q.int64(12);
  f.updated_at = q.int64(13);
  f.dpop_jkt = q.text(14);
  f.app_error = q.text(15);
  return f;
}

// The columns derived from the flow's state, bound after the record's own.
struct FlowIndexColumns {
  std::string state_json;
  std::string screen;
  std::optional<std::string> call_dialled;
  std::optional<std::int64_t> call_opened_at;
  std::optional<std::int64_t> call_expires_at;
};

inline FlowIndexColumns flow_index_columns(const FlowRecord& f) {
  FlowIndexColumns c;
  c.state_json = dump_json(to_json(f.state));
  c.screen = std::string(screen_wire_name(f.state.screen));
  if (f.state.call) {
    c.call_dialled = f.state.call->dialled_number;
    c.call_opened_at = f.state.call->opened_at;
    c.call_expires_at = f.state.call->expires_at;
  }
  return c;
}

#define RENKEI_GRANT_COLUMNS                                                        \
  "id, client_id, account_id, scope, flow_id, created_at, expires_at, revoked_at, " \
  "last_used_at, revoked_by"

template <class Row>
GrantRecord read_grant(const Row& q) {
  GrantRecord g;
  g.id = q.text(0);
  g.client_id = q.text(1);
  g.account_id = q.int64(2);
  g.scope = q.text(3);
  g.flow_id = q.text(4);
  g.created_at = q.int64(5);
  g.expires_at = q.int64(6);
  g.revoked_at = q.opt_int64(7);
  g.last_used_at = q.opt_int64(8);
  g.revoked_by = q.text(9);
  return g;
}

#define RENKEI_MAIL_COLUMNS                                                             \
  "id, to_addr, subject, body, flow_id, created_at, next_attempt_at, attempts, state, " \
  "last_error, sent_at"

template <class Row>
MailRecord read_mail(const Row& q) {
  MailRecord m;
  m.id = q.int64(0);
  m.to = q.text(1);
  m.subject = q.text(2);
  m.body = q.text(3);
  m.flow_id = q.text(4);
  m.created_at = q.int64(5);
  m.next_attempt_at = q.int64(6);
  m.attempts = static_cast<int>(q.int64(7));
  m.state = mail_state_from_wire(q.text(8));
  m.last_error = q.text(9);
  m.sent_at = q.opt_int64(10);
  return m;
}

#define RENKEI_CLIENT_COLUMNS "id, display_name, secret_digest, enabled, profile, jwks"

template <class Row>
ClientRecord read_client(const Row& q) {
  ClientRecord c;
  c.id = q.text(0);
  c.display_name = q.text(1);
  c.secret_digest = q.text(2);
  c.enabled = q.boolean(3);
  c.profile = q.text(4);
  c.jwks = q.text(5);
  return c;
}

#define RENKEI_AUDIT_COLUMNS                                                                   \
  "id, occurred_at, flow_id, step, outcome, account, name_kana, masked_phone, client_id, ip, " \
  "user_agent, actor, detail"

template <class Row>
AuditRecord read_audit(const Row& q) {
  AuditRecord r;
  r.id = q.int64(0);
  r.at = q.int64(1);
  r.flow_id = q.text(2);
  r.step = q.text(3);
  r.outcome = q.text(4);
  r.account = q.text(5);
  r.name_kana = q.text(6);
  r.masked_phone = q.text(7);
  r.client_id = q.text(8);
  r.ip = q.text(9);
  r.user_agent = q.text(10);
  r.actor = q.text(11);
  r.detail = q.text(12);
  return r;
}

}  // namespace renkei::server::store_rows
