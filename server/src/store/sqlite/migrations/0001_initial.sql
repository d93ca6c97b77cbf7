-- Schema 1 of the SQLite store: every table as the first release made it.
-- Migrations are applied in order, each once, in one transaction with the
-- version bump (sqlite_store.cpp); a released file is never edited: a change
-- is a new file with the next number, and the same version under
-- postgres/migrations/. Types are TEXT/BIGINT, booleans 0/1, generated ids
-- INTEGER PRIMARY KEY. No wire name of the domain is spelled here.

-- state_json is the core's complete FlowState (renkei::to_json) in table
-- flows; screen and the call window's number and times are copied into
-- columns so that the telephony webhook can find waiting flows by index.

CREATE TABLE customers (
  id TEXT PRIMARY KEY,
  name_kana TEXT NOT NULL,
  birth_date TEXT NOT NULL
);

CREATE TABLE customer_phones (
  customer_id TEXT NOT NULL REFERENCES customers(id) ON DELETE CASCADE,
  seq BIGINT NOT NULL,
  phone TEXT NOT NULL,
  PRIMARY KEY (customer_id, seq)
);

CREATE TABLE accounts (
  id INTEGER PRIMARY KEY,
  customer_id TEXT NOT NULL REFERENCES customers(id),
  branch TEXT NOT NULL,
  account_type TEXT NOT NULL,
  account_number TEXT NOT NULL,
  status TEXT NOT NULL,
  cash_card_issued BIGINT NOT NULL,
  balance_yen BIGINT NOT NULL,
  pin_digest TEXT NOT NULL,
  UNIQUE (branch, account_type, account_number)
);

CREATE INDEX accounts_by_customer ON accounts (customer_id);

CREATE TABLE ledger (
  id INTEGER PRIMARY KEY,
  account_id BIGINT NOT NULL REFERENCES accounts(id),
  entry_date TEXT NOT NULL,
  description TEXT NOT NULL,
  amount_yen BIGINT NOT NULL,
  balance_after_yen BIGINT NOT NULL
);

CREATE INDEX ledger_by_account ON ledger (account_id, entry_date, id);

CREATE TABLE locks (
  account_id BIGINT PRIMARY KEY REFERENCES accounts(id),
  failures BIGINT NOT NULL,
  locked_until BIGINT
);

CREATE TABLE flows (
  flow_id TEXT PRIMARY KEY,
  session_digest TEXT NOT NULL UNIQUE,
  csrf_token TEXT NOT NULL,
  client_id TEXT NOT NULL,
  redirect_uri TEXT NOT NULL,
  oauth_state TEXT NOT NULL,
  code_challenge TEXT NOT NULL,
  scope TEXT NOT NULL,
  state_json TEXT NOT NULL,
  screen TEXT NOT NULL,
  call_dialled TEXT,
  call_opened_at BIGINT,
  call_expires_at BIGINT,
  account_id BIGINT REFERENCES accounts(id),
  client_ip TEXT NOT NULL,
  user_agent TEXT NOT NULL,
  created_at BIGINT NOT NULL,
  updated_at BIGINT NOT NULL
);

CREATE INDEX flows_waiting ON flows (call_dialled, screen, call_expires_at);

CREATE INDEX flows_by_update ON flows (updated_at);

CREATE TABLE clients (
  id TEXT PRIMARY KEY,
  display_name TEXT NOT NULL,
  secret_digest TEXT NOT NULL,
  enabled BIGINT NOT NULL
);

CREATE TABLE client_redirect_uris (
  client_id TEXT NOT NULL REFERENCES clients(id) ON DELETE CASCADE,
  seq BIGINT NOT NULL,
  uri TEXT NOT NULL,
  PRIMARY KEY (client_id, seq)
);

CREATE TABLE grants (
  id TEXT PRIMARY KEY,
  client_id TEXT NOT NULL,
  account_id BIGINT NOT NULL REFERENCES accounts(id),
  scope TEXT NOT NULL,
  flow_id TEXT NOT NULL,
  created_at BIGINT NOT NULL,
  expires_at BIGINT NOT NULL,
  revoked_at BIGINT,
  last_used_at BIGINT,
  revoked_by TEXT NOT NULL
);

CREATE INDEX grants_by_account ON grants (account_id);

CREATE TABLE authorization_codes (
  code_digest TEXT PRIMARY KEY,
  client_id TEXT NOT NULL,
  redirect_uri TEXT NOT NULL,
  code_challenge TEXT NOT NULL,
  grant_id TEXT NOT NULL,
  expires_at BIGINT NOT NULL,
  used BIGINT NOT NULL
);

CREATE TABLE tokens (
  token_digest TEXT PRIMARY KEY,
  kind TEXT NOT NULL,
  grant_id TEXT NOT NULL,
  client_id TEXT NOT NULL,
  expires_at BIGINT NOT NULL,
  revoked BIGINT NOT NULL
);

CREATE INDEX tokens_by_grant ON tokens (grant_id);

CREATE TABLE mails (
  id INTEGER PRIMARY KEY,
  to_addr TEXT NOT NULL,
  subject TEXT NOT NULL,
  body TEXT NOT NULL,
  flow_id TEXT NOT NULL,
  created_at BIGINT NOT NULL,
  next_attempt_at BIGINT NOT NULL,
  attempts BIGINT NOT NULL,
  state TEXT NOT NULL,
  last_error TEXT NOT NULL,
  sent_at BIGINT
);

CREATE INDEX mails_due ON mails (state, next_attempt_at);

CREATE TABLE audit (
  id INTEGER PRIMARY KEY,
  occurred_at BIGINT NOT NULL,
  flow_id TEXT NOT NULL,
  step TEXT NOT NULL,
  outcome TEXT NOT NULL,
  account TEXT NOT NULL,
  name_kana TEXT NOT NULL,
  masked_phone TEXT NOT NULL,
  client_id TEXT NOT NULL,
  ip TEXT NOT NULL,
  user_agent TEXT NOT NULL,
  actor TEXT NOT NULL,
  detail TEXT NOT NULL
);

CREATE INDEX audit_by_account ON audit (account, id);

CREATE INDEX audit_by_flow ON audit (flow_id, id);

CREATE INDEX audit_by_time ON audit (occurred_at);

CREATE TABLE call_events (
  provider_call_id TEXT PRIMARY KEY,
  caller TEXT,
  dialled TEXT NOT NULL,
  received_at BIGINT NOT NULL,
  flow_id TEXT NOT NULL,
  outcome TEXT NOT NULL
);

CREATE TABLE maintenance_windows (
  id INTEGER PRIMARY KEY,
  start_at BIGINT NOT NULL,
  end_at BIGINT NOT NULL,
  label TEXT NOT NULL
);
