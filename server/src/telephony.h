// Screen ④'s incoming call as other parts of the server place it: the admin
// API's development call (POST /admin/api/dev/calls) goes through the same
// matching, recording and audit as the provider's webhook and the browser's
// simulator (telephony.cpp).
#pragma once

#include <httplib.h>

#include <optional>
#include <string>
#include <string_view>

#include "app.h"

namespace renkei::server {

// What one incoming call did.
struct CallMatch {
  bool matched = false;  // it verified a flow waiting on ④
  std::string outcome;   // "ok" or an ErrorCode wire name (call_not_matched, …)
};

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
