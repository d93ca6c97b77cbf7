// The schema of the SQLite and the PostgreSQL store, side by side (see
// store_schema.h). When a table changes, both spellings change in the same
// commit, and a migration step is added for both.
#include "store/store_schema.h"

namespace renkei::server::store_schema {

const std::vector<std::vector<Statement>>& migrations() {
  static const std::vector<std::vector<Statement>> steps = {
      // 2: call_events keeps the caller masked, never the number (issue 12).
      {
          {"ALTER TABLE call_events RENAME COLUMN caller TO caller_masked",
           "ALTER TABLE call_events RENAME COLUMN caller TO caller_masked"},
          // Five * and the last four, as mask_phone; a number of four digits or
          // fewer (a service number) keeps none of its digits.
          {"UPDATE call_events SET caller_masked = CASE WHEN length(caller_masked) > 4"
           " THEN '*****' || substr(caller_masked, -4) ELSE '*****' END"
           " WHERE caller_masked IS NOT NULL",
           "UPDATE call_events SET caller_masked = CASE WHEN length(caller_masked) > 4"
           " THEN '*****' || right(caller_masked, 4) ELSE '*****' END"
           " WHERE caller_masked IS NOT NULL"},
      },
      // 3: FAPI 2.0 (issue 13): client profile and keys, DPoP binding of flows,
      // codes and tokens; the pushed_requests and seen_jtis tables come from tables().
      {
          {"ALTER TABLE clients ADD COLUMN profile TEXT NOT NULL DEFAULT 'oauth'",
           "ALTER TABLE clients ADD COLUMN profile TEXT NOT NULL DEFAULT 'oauth'"},
          {"ALTER TABLE clients ADD COLUMN jwks TEXT NOT NULL DEFAULT ''",
           "ALTER TABLE clients ADD COLUMN jwks TEXT NOT NULL DEFAULT ''"},
          {"ALTER TABLE authorization_codes ADD COLUMN dpop_jkt TEXT NOT NULL DEFAULT ''",
           "ALTER TABLE authorization_codes ADD COLUMN dpop_jkt TEXT NOT NULL DEFAULT ''"},
          {"ALTER TABLE tokens ADD COLUMN dpop_jkt TEXT NOT NULL DEFAULT ''",
           "ALTER TABLE tokens ADD COLUMN dpop_jkt TEXT NOT NULL DEFAULT ''"},
          {"ALTER TABLE flows ADD COLUMN dpop_jkt TEXT NOT NULL DEFAULT ''",
           "ALTER TABLE flows ADD COLUMN dpop_jkt TEXT NOT NULL DEFAULT ''"},
      },
  };
  return steps;
}

int version() {
  return 1 + static_cast<int>(migrations().size());
}

// A statement spelled the same in both dialects.
#define RENKEI_SAME(sql) \
  { sql, sql }

const std::vector<Statement>& tables() {
  static const std::vector<Statement> statements = {
      RENKEI_SAME("CREATE TABLE IF NOT EXISTS customers ("
                  " id TEXT PRIMARY KEY,"
                  " name_kana TEXT NOT NULL,"
                  " birth_date TEXT NOT NULL)"),

      RENKEI_SAME("CREATE TABLE IF NOT EXISTS customer_phones ("
                  " customer_id TEXT NOT NULL REFERENCES customers(id) ON DELETE CASCADE,"
                  " seq BIGINT NOT NULL,"
                  " phone TEXT NOT NULL,"
                  " PRIMARY KEY (customer_id, seq))"),

      {"CREATE TABLE IF NOT EXISTS accounts ("
       " id INTEGER PRIMARY KEY,"
       " customer_id TEXT NOT NULL REFERENCES customers(id),"
       " branch TEXT NOT NULL,"
       " account_type TEXT NOT NULL,"
       " account_number TEXT NOT NULL,"
       " status TEXT NOT NULL,"
       " cash_card_issued BIGINT NOT NULL,"
       " balance_yen BIGINT NOT NULL,"
       " pin_digest TEXT NOT NULL,"
       " UNIQUE (branch, account_type, account_number))",
       //
       "CREATE TABLE IF NOT EXISTS accounts ("
       " id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,"
       " customer_id TEXT NOT NULL REFERENCES customers(id),"
       " branch TEXT NOT NULL,"
       " account_type TEXT NOT NULL,"
       " account_number TEXT NOT NULL,"
       " status TEXT NOT NULL,"
       " cash_card_issued BOOLEAN NOT NULL,"
       " balance_yen BIGINT NOT NULL,"
       " pin_digest TEXT NOT NULL,"
       " UNIQUE (branch, account_type, account_number))"},

      RENKEI_SAME("CREATE INDEX IF NOT EXISTS accounts_by_customer ON accounts (customer_id)"),

      {"CREATE TABLE IF NOT EXISTS ledger ("
       " id INTEGER PRIMARY KEY,"
       " account_id BIGINT NOT NULL REFERENCES accounts(id),"
       " entry_date TEXT NOT NULL,"
       " description TEXT NOT NULL,"
       " amount_yen BIGINT NOT NULL,"
       " balance_after_yen BIGINT NOT NULL)",
       //
       "CREATE TABLE IF NOT EXISTS ledger ("
       " id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,"
       " account_id BIGINT NOT NULL REFERENCES accounts(id),"
       " entry_date TEXT NOT NULL,"
       " description TEXT NOT NULL,"
       " amount_yen BIGINT NOT NULL,"
       " balance_after_yen BIGINT NOT NULL)"},

      RENKEI_SAME(
          "CREATE INDEX IF NOT EXISTS ledger_by_account ON ledger (account_id, entry_date, id)"),

      RENKEI_SAME("CREATE TABLE IF NOT EXISTS locks ("
                  " account_id BIGINT PRIMARY KEY REFERENCES accounts(id),"
                  " failures BIGINT NOT NULL,"
                  " locked_until BIGINT)"),

      // state_json is the core's complete FlowState (renkei::to_json); screen and
      // the call window's number and times are copied into columns so that the
      // telephony webhook can find waiting flows by index.
      RENKEI_SAME("CREATE TABLE IF NOT EXISTS flows ("
                  " flow_id TEXT PRIMARY KEY,"
                  " session_digest TEXT NOT NULL UNIQUE,"
                  " csrf_token TEXT NOT NULL,"
                  " client_id TEXT NOT NULL,"
                  " redirect_uri TEXT NOT NULL,"
                  " oauth_state TEXT NOT NULL,"
                  " code_challenge TEXT NOT NULL,"
                  " scope TEXT NOT NULL,"
                  " state_json TEXT NOT NULL,"
                  " screen TEXT NOT NULL,"
                  " call_dialled TEXT,"
                  " call_opened_at BIGINT,"
                  " call_expires_at BIGINT,"
                  " account_id BIGINT REFERENCES accounts(id),"
                  " client_ip TEXT NOT NULL,"
                  " user_agent TEXT NOT NULL,"
                  " created_at BIGINT NOT NULL,"
                  " updated_at BIGINT NOT NULL,"
                  " dpop_jkt TEXT NOT NULL DEFAULT '')"),

      RENKEI_SAME("CREATE INDEX IF NOT EXISTS flows_waiting ON flows (call_dialled, screen, "
                  "call_expires_at)"),
      RENKEI_SAME("CREATE INDEX IF NOT EXISTS flows_by_update ON flows (updated_at)"),

      {"CREATE TABLE IF NOT EXISTS clients ("
       " id TEXT PRIMARY KEY,"
       " display_name TEXT NOT NULL,"
       " secret_digest TEXT NOT NULL,"
       " enabled BIGINT NOT NULL,"
       " profile TEXT NOT NULL DEFAULT 'oauth',"
       " jwks TEXT NOT NULL DEFAULT '')",
       //
       "CREATE TABLE IF NOT EXISTS clients ("
       " id TEXT PRIMARY KEY,"
       " display_name TEXT NOT NULL,"
       " secret_digest TEXT NOT NULL,"
       " enabled BOOLEAN NOT NULL,"
       " profile TEXT NOT NULL DEFAULT 'oauth',"
       " jwks TEXT NOT NULL DEFAULT '')"},

      RENKEI_SAME("CREATE TABLE IF NOT EXISTS client_redirect_uris ("
                  " client_id TEXT NOT NULL REFERENCES clients(id) ON DELETE CASCADE,"
                  " seq BIGINT NOT NULL,"
                  " uri TEXT NOT NULL,"
                  " PRIMARY KEY (client_id, seq))"),

      RENKEI_SAME("CREATE TABLE IF NOT EXISTS grants ("
                  " id TEXT PRIMARY KEY,"
                  " client_id TEXT NOT NULL,"
                  " account_id BIGINT NOT NULL REFERENCES accounts(id),"
                  " scope TEXT NOT NULL,"
                  " flow_id TEXT NOT NULL,"
                  " created_at BIGINT NOT NULL,"
                  " expires_at BIGINT NOT NULL,"
                  " revoked_at BIGINT,"
                  " last_used_at BIGINT,"
                  " revoked_by TEXT NOT NULL)"),

      RENKEI_SAME("CREATE INDEX IF NOT EXISTS grants_by_account ON grants (account_id)"),

      {"CREATE TABLE IF NOT EXISTS authorization_codes ("
       " code_digest TEXT PRIMARY KEY,"
       " client_id TEXT NOT NULL,"
       " redirect_uri TEXT NOT NULL,"
       " code_challenge TEXT NOT NULL,"
       " grant_id TEXT NOT NULL,"
       " expires_at BIGINT NOT NULL,"
       " used BIGINT NOT NULL,"
       " dpop_jkt TEXT NOT NULL DEFAULT '')",
       //
       "CREATE TABLE IF NOT EXISTS authorization_codes ("
       " code_digest TEXT PRIMARY KEY,"
       " client_id TEXT NOT NULL,"
       " redirect_uri TEXT NOT NULL,"
       " code_challenge TEXT NOT NULL,"
       " grant_id TEXT NOT NULL,"
       " expires_at BIGINT NOT NULL,"
       " used BOOLEAN NOT NULL,"
       " dpop_jkt TEXT NOT NULL DEFAULT '')"},

      {"CREATE TABLE IF NOT EXISTS tokens ("
       " token_digest TEXT PRIMARY KEY,"
       " kind TEXT NOT NULL,"
       " grant_id TEXT NOT NULL,"
       " client_id TEXT NOT NULL,"
       " expires_at BIGINT NOT NULL,"
       " revoked BIGINT NOT NULL,"
       " dpop_jkt TEXT NOT NULL DEFAULT '')",
       //
       "CREATE TABLE IF NOT EXISTS tokens ("
       " token_digest TEXT PRIMARY KEY,"
       " kind TEXT NOT NULL,"
       " grant_id TEXT NOT NULL,"
       " client_id TEXT NOT NULL,"
       " expires_at BIGINT NOT NULL,"
       " revoked BOOLEAN NOT NULL,"
       " dpop_jkt TEXT NOT NULL DEFAULT '')"},

      RENKEI_SAME("CREATE INDEX IF NOT EXISTS tokens_by_grant ON tokens (grant_id)"),

      // FAPI 2.0 (issue 13): pushed authorization requests (RFC 9126) and the
      // replay cache of JWT ids (client assertions, DPoP proofs).
      {"CREATE TABLE IF NOT EXISTS pushed_requests ("
       " request_uri_digest TEXT PRIMARY KEY,"
       " client_id TEXT NOT NULL,"
       " params_json TEXT NOT NULL,"
       " expires_at BIGINT NOT NULL,"
       " used BIGINT NOT NULL)",
       //
       "CREATE TABLE IF NOT EXISTS pushed_requests ("
       " request_uri_digest TEXT PRIMARY KEY,"
       " client_id TEXT NOT NULL,"
       " params_json TEXT NOT NULL,"
       " expires_at BIGINT NOT NULL,"
       " used BOOLEAN NOT NULL)"},
      RENKEI_SAME(
          "CREATE INDEX IF NOT EXISTS pushed_requests_by_expiry ON pushed_requests (expires_at)"),
      RENKEI_SAME("CREATE TABLE IF NOT EXISTS seen_jtis ("
                  " kind TEXT NOT NULL,"
                  " owner TEXT NOT NULL,"
                  " jti_digest TEXT NOT NULL,"
                  " expires_at BIGINT NOT NULL,"
                  " PRIMARY KEY (kind, owner, jti_digest))"),
      RENKEI_SAME("CREATE INDEX IF NOT EXISTS seen_jtis_by_expiry ON seen_jtis (expires_at)"),

      {"CREATE TABLE IF NOT EXISTS mails ("
       " id INTEGER PRIMARY KEY,"
       " to_addr TEXT NOT NULL,"
       " subject TEXT NOT NULL,"
       " body TEXT NOT NULL,"
       " flow_id TEXT NOT NULL,"
       " created_at BIGINT NOT NULL,"
       " next_attempt_at BIGINT NOT NULL,"
       " attempts BIGINT NOT NULL,"
       " state TEXT NOT NULL,"
       " last_error TEXT NOT NULL,"
       " sent_at BIGINT)",
       //
       "CREATE TABLE IF NOT EXISTS mails ("
       " id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,"
       " to_addr TEXT NOT NULL,"
       " subject TEXT NOT NULL,"
       " body TEXT NOT NULL,"
       " flow_id TEXT NOT NULL,"
       " created_at BIGINT NOT NULL,"
       " next_attempt_at BIGINT NOT NULL,"
       " attempts BIGINT NOT NULL,"
       " state TEXT NOT NULL,"
       " last_error TEXT NOT NULL,"
       " sent_at BIGINT)"},

      RENKEI_SAME("CREATE INDEX IF NOT EXISTS mails_due ON mails (state, next_attempt_at)"),

      {"CREATE TABLE IF NOT EXISTS audit ("
       " id INTEGER PRIMARY KEY,"
       " occurred_at BIGINT NOT NULL,"
       " flow_id TEXT NOT NULL,"
       " step TEXT NOT NULL,"
       " outcome TEXT NOT NULL,"
       " account TEXT NOT NULL,"
       " name_kana TEXT NOT NULL,"
       " masked_phone TEXT NOT NULL,"
       " client_id TEXT NOT NULL,"
       " ip TEXT NOT NULL,"
       " user_agent TEXT NOT NULL,"
       " actor TEXT NOT NULL,"
       " detail TEXT NOT NULL)",
       //
       "CREATE TABLE IF NOT EXISTS audit ("
       " id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,"
       " occurred_at BIGINT NOT NULL,"
       " flow_id TEXT NOT NULL,"
       " step TEXT NOT NULL,"
       " outcome TEXT NOT NULL,"
       " account TEXT NOT NULL,"
       " name_kana TEXT NOT NULL,"
       " masked_phone TEXT NOT NULL,"
       " client_id TEXT NOT NULL,"
       " ip TEXT NOT NULL,"
       " user_agent TEXT NOT NULL,"
       " actor TEXT NOT NULL,"
       " detail TEXT NOT NULL)"},

      RENKEI_SAME("CREATE INDEX IF NOT EXISTS audit_by_account ON audit (account, id)"),
      RENKEI_SAME("CREATE INDEX IF NOT EXISTS audit_by_flow ON audit (flow_id, id)"),
      RENKEI_SAME("CREATE INDEX IF NOT EXISTS audit_by_time ON audit (occurred_at)"),

      RENKEI_SAME("CREATE TABLE IF NOT EXISTS call_events ("
                  " provider_call_id TEXT PRIMARY KEY,"
                  " caller_masked TEXT,"
                  " dialled TEXT NOT NULL,"
                  " received_at BIGINT NOT NULL,"
                  " flow_id TEXT NOT NULL,"
                  " outcome TEXT NOT NULL)"),

      {"CREATE TABLE IF NOT EXISTS maintenance_windows ("
       " id INTEGER PRIMARY KEY,"
       " start_at BIGINT NOT NULL,"
       " end_at BIGINT NOT NULL,"
       " label TEXT NOT NULL)",
       //
       "CREATE TABLE IF NOT EXISTS maintenance_windows ("
       " id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,"
       " start_at BIGINT NOT NULL,"
       " end_at BIGINT NOT NULL,"
       " label TEXT NOT NULL)"},
  };
  return statements;
}

#undef RENKEI_SAME

}  // namespace renkei::server::store_schema
