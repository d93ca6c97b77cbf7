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
// A reload of a completed flow (SPEC §8a: the app always learns the
// outcome): while its grant is active and no code of it was presented at
// /token, a NEW code for the same grant, bound as the first one (PKCE
// challenge, redirect URI, dpop_jkt; 60 s, single use, kept only as a digest)
// with the same state and iss, replacing every unexchanged code (the old one
// no longer works: at most one unexchanged code exists). Once a code was
// presented (exchanged, or burnt by a failed attempt), or the grant was
// revoked or expired, no code: `refusal` says why (for the operation log).
// A write: every code of the grant not yet presented is deleted either way.
struct CodeReissue {
  std::string redirect_to;  // redirect_uri?code&state&iss, or ""
  int replaced = 0;         // the unexchanged codes withdrawn
  std::string refusal;      // why no code, or "" (not a completed flow: both "")
};
CodeReissue reissue_authorization(StoreTx& tx, const App& app, const FlowRecord& flow,
                                  UnixSeconds now);
// Whether reissue_authorization would issue a code now (read only: no lock
// taken, nothing withdrawn), so that a reload that gets none writes nothing.
bool code_reissuable(StoreTx& tx, const App& app, const FlowRecord& flow, UnixSeconds now);
// redirect_uri?error=<error>&state=…&iss=… (RFC 6749 §4.1.2.1, RFC 9207) to
// the flow's own redirect URI, e.g. temporarily_unavailable when the customer
// leaves a closed service for the app (SPEC §8a).
std::string error_redirect(const App& app, const FlowRecord& flow, std::string_view error);
// The error an ended flow gives the app (SPEC §8a, no dead ends): a cancelled
// flow its stored app_error (access_denied when none was stored), an
// idle-expired one access_denied (the customer did not finish: not the
// server's overload or maintenance that temporarily_unavailable would tell
// the app, nor its failure, server_error); "" for a flow that runs or
// completed. A completed flow has no outcome to repeat: its code went out once
// in the consent answer, is kept only as a digest, is single use, and is
// never issued twice for one consent.
std::string ended_flow_error(const FlowRecord& flow);
// error_redirect with ended_flow_error, or "" when that is "": what a reloaded
// page of an ended flow offers as 連携元画面へ, as often as it is asked.
std::string outcome_redirect(const App& app, const FlowRecord& flow);

// Creates a new flow for a validated authorization request and returns the
// session cookie value (the caller sets the cookie). Used by /authorize.
// Fills the new flow's id, session digest, CSRF token and state (start_flow at
// app.now()); *flow_id, when given, receives the new flow's id.
std::string start_flow_record(StoreTx& tx, const App& app, FlowRecord flow,
                              std::string* flow_id = nullptr);

}  // namespace renkei::server
