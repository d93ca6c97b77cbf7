// Screen ④'s incoming call as other parts of the server place it: the admin
// API's development call (POST /admin/api/dev/calls) goes through the same
// matching, recording and audit as the provider's webhook and the browser's
// simulator (telephony.cpp).
#pragma once

#include <httplib.h>

#include <string>
#include <string_view>

#include "app.h"

namespace renkei::server {

// What one incoming call did.
struct CallMatch {
  bool matched = false;  // it verified a flow waiting on ④
  std::string outcome;   // "ok" or an ErrorCode wire name (call_not_matched, …)
};

// A simulated call (development only) from `caller` to `dialled`, with a
// fresh "sim-…" call id, matched against the flows waiting on ④ in one
// transaction; `note` is appended to the audit row's detail. Throws
// StorageError when the store fails.
CallMatch place_simulated_call(App& app, const std::string& caller, const std::string& dialled,
                               const httplib::Request& req, std::string_view note);

}  // namespace renkei::server
