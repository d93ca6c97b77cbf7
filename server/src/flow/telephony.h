// Screen ④'s incoming call as other parts of the server place it: the admin
// API's development call (POST /admin/api/dev/calls) goes through the same
// matching, recording and audit as the provider's webhook and the browser's
// simulator (telephony.cpp).
#pragma once

#include <httplib.h>

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "ops/app.h"

namespace renkei::server {

// What one incoming call did.
struct CallMatch {
  bool matched = false;  // it verified a flow waiting on ④
  std::string outcome;   // "ok" or an ErrorCode wire name (call_not_matched, …)
};

// Screen ③'s toll-free number (SPEC §7): a random number of `pool` on which
// no other flow for the same registered phone is waiting on ④, so that a call
// from that phone can only ever be for one flow (security finding, issue 12:
// an attacker's flow on the victim's number took the victim's call). nullopt
// when every number of the pool is taken for this phone: the customer is
// told busy and tries again once one of those windows has closed.
std::optional<std::string> pick_call_number(StoreTx& tx, const std::vector<std::string>& pool,
                                            const FlowRecord& flow, UnixSeconds now);

// A simulated call (development only) for `flow`: from its registered phone
// to its assigned number, with a fresh "sim-…" call id, through the same
// matching as a real call, except that `flow` itself is tried first (the
// simulator stands in for this customer's own call; a real call cannot say
// which of two flows on one phone it is for). `note` is appended to the audit
// row's detail. nullopt when the flow is not waiting on ④. Throws
// StorageError when the store fails.
std::optional<CallMatch> place_simulated_call(App& app, const FlowRecord& flow,
                                              const httplib::Request& req, std::string_view note);

}  // namespace renkei::server
