// OAuth 2.0: the registered clients, authorization codes, grants and tokens.
// One of the repositories a StoreTx gives access to (storage.h).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "renkei/time.h"

namespace renkei::server {

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

class OAuthRepository {
 public:
  // clients
  virtual std::optional<ClientRecord> find_client(const std::string& id) = 0;
  virtual void upsert_client(const ClientRecord& c) = 0;
  virtual std::vector<ClientRecord> list_clients() = 0;
  // codes
  virtual void insert_code(const AuthorizationCodeRecord& c) = 0;
  // Marks the code used and returns it as it was before (used == true means a
  // replay). A write: never in a read-only transaction.
  virtual std::optional<AuthorizationCodeRecord> consume_code(const std::string& digest) = 0;
  // A completed flow's reload (oauth.h reissue_authorization): deletes the
  // grant's codes never presented at /token and returns how many (a write;
  // on PostgreSQL it waits for an exchange holding one of them), and whether
  // any code of the grant was presented (used) already.
  virtual int delete_unused_codes(const std::string& grant_id) = 0;
  virtual bool grant_code_used(const std::string& grant_id) = 0;
  // grants (read-write: find_grant locks the grant until the transaction ends)
  virtual void insert_grant(const GrantRecord& g) = 0;
  virtual std::optional<GrantRecord> find_grant(const std::string& id) = 0;
  // The grant a flow's consent created (grants.flow_id); a plain read (not
  // held: find_grant holds it).
  virtual std::optional<GrantRecord> grant_of_flow(const std::string& flow_id) = 0;
  virtual void update_grant(const GrantRecord& g) = 0;
  virtual std::vector<GrantRecord> grants_for_account(std::int64_t account_id) = 0;
  // tokens (read-write: find_token holds the token's grant, see postgres_store.cpp)
  virtual void insert_token(const TokenRecord& t) = 0;
  virtual std::optional<TokenRecord> find_token(const std::string& digest) = 0;
  virtual void revoke_token(const std::string& digest) = 0;
  virtual void revoke_tokens_of_grant(const std::string& grant_id) = 0;

 protected:
  ~OAuthRepository() = default;
};

}  // namespace renkei::server
