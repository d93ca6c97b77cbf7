// The authorization server's side of a flow without HTTP (oauth.h): a new
// flow for /authorize, and the grant, code or error redirect its end gives.
#include <algorithm>
#include <string>
#include <string_view>

#include "oauth/oauth.h"
#include "ops/crypto.h"
#include "ops/uri.h"

namespace renkei::server {

namespace {

// A new code for `grant`, bound as the flow's request asked (PKCE challenge,
// redirect URI, DPoP key), and the redirect that carries it.
std::string issue_code(StoreTx& tx, const App& app, const FlowRecord& flow,
                       const GrantRecord& grant, UnixSeconds now) {
  const std::string code = app.random().token();
  AuthorizationCodeRecord record;
  record.code_digest = secret_digest(code);
  record.client_id = flow.client_id;
  record.redirect_uri = flow.redirect_uri;
  record.code_challenge = flow.code_challenge;
  record.grant_id = grant.id;
  // FAPI 2.0 §5.3.2.1: a code lives at most 60 s, whatever code_ttl_seconds says.
  record.expires_at = now + std::min<UnixSeconds>(app.config().code_ttl_seconds, 60);
  record.dpop_jkt = flow.dpop_jkt;  // RFC 9449 §10: bound to the pushed dpop_jkt, or ""
  tx.insert_code(record);
  return with_query(flow.redirect_uri,
                    {{"code", code}, {"state", flow.oauth_state}, {"iss", app.config().issuer}});
}

}  // namespace

std::string issue_authorization(StoreTx& tx, const App& app, const FlowRecord& flow,
                                std::int64_t account_id, UnixSeconds now) {
  GrantRecord grant;
  grant.id = app.random().token(16);
  grant.client_id = flow.client_id;
  grant.account_id = account_id;
  grant.scope = flow.scope.empty() ? std::string(kScope) : flow.scope;
  grant.flow_id = flow.flow_id;
  grant.created_at = now;
  grant.expires_at =
      now + static_cast<UnixSeconds>(app.config().authorization_days) * kSecondsPerDay;
  tx.insert_grant(grant);
  return issue_code(tx, app, flow, grant, now);
}

namespace {

// Why `grant`'s code cannot be issued again now, or "" when it can.
std::string reissue_refusal(StoreTx& tx, const App& app, const GrantRecord& grant,
                            UnixSeconds now) {
  // A reload between 許可する and the redirect happens within moments; the
  // page of a flow left longer than a flow may stay idle gets no code (and
  // withdraws none), so that a session cookie found later in a webview's
  // storage cannot take the app's pending code or mint new ones.
  if (now - grant.created_at >= app.config().flow_idle_seconds) {
    return "the completed page was reloaded after flow_idle_seconds";
  }
  if (tx.grant_code_used(grant.id)) return "the code was presented at /token already";
  if (grant.revoked_at) return "the grant was revoked (" + grant.revoked_by + ")";
  if (now >= grant.expires_at) return "the grant expired";
  return "";
}

}  // namespace

bool code_reissuable(StoreTx& tx, const App& app, const FlowRecord& flow, UnixSeconds now) {
  if (flow.state.screen != Screen::completed) return false;
  std::optional<GrantRecord> grant = tx.grant_of_flow(flow.flow_id);
  return grant && reissue_refusal(tx, app, *grant, now).empty();
}

CodeReissue reissue_authorization(StoreTx& tx, const App& app, const FlowRecord& flow,
                                  UnixSeconds now) {
  CodeReissue out;
  if (flow.state.screen != Screen::completed) return out;
  std::optional<GrantRecord> found = tx.grant_of_flow(flow.flow_id);
  if (!found) {
    out.refusal = "no grant for the flow";
    return out;
  }
  // Nothing is withdrawn once no code can be issued.
  if (out.refusal = reissue_refusal(tx, app, *found, now); !out.refusal.empty()) return out;
  // Locks in /token's order (the code, then its grant), so that neither waits
  // for the other in a cycle: an exchange running now either finishes first
  // (its code is then used, seen below) or finds its code deleted (unknown
  // code: the old one no longer works).
  out.replaced = tx.delete_unused_codes(found->id);
  std::optional<GrantRecord> grant = tx.find_grant(found->id);
  if (!grant) {
    out.refusal = "no grant for the flow";
  } else if (out.refusal = reissue_refusal(tx, app, *grant, now); out.refusal.empty()) {
    out.redirect_to = issue_code(tx, app, flow, *grant, now);
  }
  return out;
}

std::string error_redirect(const App& app, const FlowRecord& flow, std::string_view error) {
  // Only ever the flow's own redirect URI: /authorize stored it after an exact
  // match with the client's registered ones, together with the app's state.
  return with_query(flow.redirect_uri, {{"error", std::string(error)},
                                        {"state", flow.oauth_state},
                                        {"iss", app.config().issuer}});
}

std::string ended_flow_error(const FlowRecord& flow) {
  switch (flow.state.screen) {
    case Screen::cancelled:
      return flow.app_error.empty() ? std::string("access_denied") : flow.app_error;
    case Screen::expired:
      return "access_denied";
    default:
      return "";
  }
}

std::string outcome_redirect(const App& app, const FlowRecord& flow) {
  const std::string error = ended_flow_error(flow);
  return error.empty() ? std::string() : error_redirect(app, flow, error);
}

std::string start_flow_record(StoreTx& tx, const App& app, FlowRecord flow, std::string* flow_id) {
  const UnixSeconds now = app.now();
  const std::string session = app.random().token();
  flow.flow_id = app.random().token(16);
  flow.session_digest = secret_digest(session);
  flow.csrf_token = app.random().token();
  flow.state = start_flow(now);
  flow.created_at = now;
  flow.updated_at = now;
  tx.insert_flow(flow);
  if (flow_id) *flow_id = flow.flow_id;
  return session;
}

}  // namespace renkei::server
