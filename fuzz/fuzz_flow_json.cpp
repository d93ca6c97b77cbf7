// The flow's JSON decoding, the way the server reads a stored flow and the
// tools read a case: {"state":…,"event":…,"now":…} (the "flow" cases of
// tests/parity/vectors.jsonl). Properties: a decoded state re-encoded and
// decoded again is equal, also through the text form; the same for events;
// step on decoded values never crashes and its next state round-trips too.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "fuzz_check.h"
#include "renkei/flow.h"
#include "renkei/json.h"

namespace {

void check_state_round_trip(const renkei::FlowState& s) {
  nlohmann::json j = renkei::to_json(s);
  std::optional<renkei::FlowState> again = renkei::flow_state_from_json(j);
  FUZZ_CHECK(again.has_value());
  FUZZ_CHECK(*again == s);
  std::optional<nlohmann::json> text = renkei::parse_json(renkei::dump_json(j));
  FUZZ_CHECK(text.has_value());
  std::optional<renkei::FlowState> from_text = renkei::flow_state_from_json(*text);
  FUZZ_CHECK(from_text.has_value());
  FUZZ_CHECK(*from_text == s);
}

void check_event_round_trip(const renkei::FlowEvent& e) {
  nlohmann::json j = renkei::to_json(e);
  std::optional<renkei::FlowEvent> again = renkei::flow_event_from_json(j);
  FUZZ_CHECK(again.has_value());
  FUZZ_CHECK(again->index() == e.index());
  FUZZ_CHECK(renkei::dump_json(renkei::to_json(*again)) == renkei::dump_json(j));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::optional<nlohmann::json> j =
      renkei::parse_json(std::string_view(reinterpret_cast<const char*>(data), size));
  if (!j) return 0;
  const nlohmann::json null_value;
  auto member = [&](const char* key) -> const nlohmann::json& {
    return j->is_object() && j->contains(key) ? (*j)[key] : null_value;
  };
  // A bare state or event decodes too (the server stores states alone).
  std::optional<renkei::FlowState> state = renkei::flow_state_from_json(member("state"));
  if (!state) state = renkei::flow_state_from_json(*j);
  std::optional<renkei::FlowEvent> event = renkei::flow_event_from_json(member("event"));
  if (!event) event = renkei::flow_event_from_json(*j);
  renkei::UnixSeconds now = renkei::instant_from_json(member("now")).value_or(0);

  if (state) {
    check_state_round_trip(*state);
    (void)renkei::public_view_json(*state, now);
    (void)renkei::call_seconds_left(*state, now);
  }
  if (event) check_event_round_trip(*event);
  if (state && event) {
    renkei::FlowTransition t = renkei::step(*state, *event, now, renkei::FlowConfig{});
    check_state_round_trip(t.state);
    (void)renkei::to_json(t.outcome);
    (void)renkei::public_view_json(t.state, now);
  }
  return 0;
}
