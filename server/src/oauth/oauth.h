// The authorization server's side of a completed or cancelled flow, without
// HTTP (oauth_service.cpp): called by the flow service inside the transaction
// that completes the flow, and by /authorize to start one. Ids and secrets
// come from the App's Randomness.
#pragma once

#include <string>
#include <string_view>

#include "ops/app.h"
#include "store/storage.h"

namespace renkei::server {

// The one scope this server grants (RFC 6749 §3.3).
inline constexpr const char* kScope = "accounts.read";

// Creates the grant (authorization period from config), a single-use code
// (code_ttl_seconds) bound to client, redirect URI and PKCE challenge, and
// returns the redirect URL: redirect_uri?code=…&state=…&iss=… (RFC 9207).
std::string issue_authorization(StoreTx& tx, const App& app, const FlowRecord& flow,
                                std::int64_t account_id, UnixSeconds now);
// redirect_uri?error=access_denied&state=…&iss=… for 中止する / 拒否する.
std::string denial_redirect(const App& app, const FlowRecord& flow);
// redirect_uri?error=<error>&state=…&iss=… (RFC 6749 §4.1.2.1, RFC 9207) to
// the flow's own redirect URI, e.g. temporarily_unavailable when the customer
// leaves a closed service for the app (SPEC §8a).
std::string error_redirect(const App& app, const FlowRecord& flow, std::string_view error);

// Creates a new flow for a validated authorization request and returns the
// session cookie value (the caller sets the cookie). Used by /authorize.
// Fills the new flow's id, session digest, CSRF token and state (start_flow at
// app.now()); *flow_id, when given, receives the new flow's id.
std::string start_flow_record(StoreTx& tx, const App& app, FlowRecord flow,
                              std::string* flow_id = nullptr);

}  // namespace renkei::server
