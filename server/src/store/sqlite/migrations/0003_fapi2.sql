-- Schema 3: FAPI 2.0 (issue 13). The client's profile ("oauth" or "fapi2")
-- and public JWK Set; the DPoP key (RFC 9449 thumbprint) a flow's code, a
-- code and a token are bound to ("" = none).
ALTER TABLE clients ADD COLUMN profile TEXT NOT NULL DEFAULT 'oauth';
ALTER TABLE clients ADD COLUMN jwks TEXT NOT NULL DEFAULT '';
ALTER TABLE authorization_codes ADD COLUMN dpop_jkt TEXT NOT NULL DEFAULT '';
ALTER TABLE tokens ADD COLUMN dpop_jkt TEXT NOT NULL DEFAULT '';
ALTER TABLE flows ADD COLUMN dpop_jkt TEXT NOT NULL DEFAULT '';

-- Pushed authorization requests (RFC 9126): only the digest of a request_uri
-- is kept; params_json is the pushed parameters as a JSON object of strings.
CREATE TABLE pushed_requests (
  request_uri_digest TEXT PRIMARY KEY,
  client_id TEXT NOT NULL,
  params_json TEXT NOT NULL,
  expires_at BIGINT NOT NULL,
  used BIGINT NOT NULL
);
CREATE INDEX pushed_requests_by_expiry ON pushed_requests (expires_at);

-- The replay cache of JWT ids (client assertions, DPoP proofs), shared by
-- every instance: the digest of each jti of a kind and owner until it expires.
CREATE TABLE seen_jtis (
  kind TEXT NOT NULL,
  owner TEXT NOT NULL,
  jti_digest TEXT NOT NULL,
  expires_at BIGINT NOT NULL,
  PRIMARY KEY (kind, owner, jti_digest)
);
CREATE INDEX seen_jtis_by_expiry ON seen_jtis (expires_at);
