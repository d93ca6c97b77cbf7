// The one place where core values become JSON and back. The server and the
// WASM module both call these, so they emit byte-identical text.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "renkei/error.h"
#include "renkei/fields.h"
#include "renkei/flow.h"
#include "renkei/forms.h"
#include "renkei/lockout_policy.h"
#include "renkei/service_calendar.h"

namespace renkei {

// Serializes compactly with keys sorted and invalid UTF-8 replaced, so the same
// value always gives the same bytes on both builds.
std::string dump_json(const nlohmann::json& j);
// Parses without exceptions; nullopt for malformed text or nesting deeper than
// max_depth.
std::optional<nlohmann::json> parse_json(std::string_view text, int max_depth = 32);

// {"code":"required","field":"branch","message":"必ず入力して下さい。"}
nlohmann::json field_error_json(const FieldError& e);
// The error envelope every endpoint and the browser use:
// {"error":{"code":..,"message":..,"reason":"B84"?,"field":..?,"fields":[..]?,
//           "dialog":{"title":"エラー","message":..}?}}
nlohmann::json error_envelope(ErrorCode code, const std::vector<FieldError>& fields = {},
                              bool show_required_dialog = false);

nlohmann::json to_json(const FieldResult& r);
nlohmann::json to_json(const FormResult& r);
nlohmann::json to_json(const LockState& s);
nlohmann::json to_json(const Closure& c);
nlohmann::json to_json(const CallWindow& w);
nlohmann::json to_json(const FlowState& s);     // complete: for the server's storage
nlohmann::json to_json(const FlowOutcome& o);
nlohmann::json to_json(const FlowEvent& e);

// What the browser may see of a flow at `now`: screen, its ID and title,
// account summary, masked phone, the call window's number and seconds left.
// Never the full phone, the e-mail or the name.
nlohmann::json public_view_json(const FlowState& s, UnixSeconds now);

// Decoders: nullopt for anything malformed (wrong types, unknown names).
std::optional<FlowState> flow_state_from_json(const nlohmann::json& j);
std::optional<FlowEvent> flow_event_from_json(const nlohmann::json& j);
std::optional<LockState> lock_state_from_json(const nlohmann::json& j);
std::optional<AccountForm> account_form_from_json(const nlohmann::json& j);
std::optional<CustomerForm> customer_form_from_json(const nlohmann::json& j);
// An instant as ISO 8601 string or integer Unix seconds.
std::optional<UnixSeconds> instant_from_json(const nlohmann::json& j);

}  // namespace renkei
