// renkei/json.h: exact bytes of what goes on the wire, round trips of what the
// server stores, and malformed input that must be refused without throwing.
#include "renkei/json.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace renkei {
namespace {

using nlohmann::json;

const UnixSeconds kT0 = from_jst({2026, 11, 25}, 10, 0, 0);

json parse_or_die(std::string_view text) {
  auto j = parse_json(text);
  EXPECT_TRUE(j) << text;
  return j ? *j : json();
}

// A flow at every screen, built by step() itself.
std::vector<FlowState> states_on_every_screen() {
  std::vector<FlowState> out;
  FlowConfig cfg;
  FlowState s = start_flow(kT0);
  out.push_back(s);
  const std::vector<FlowEvent> path = {
      SubmitAccount{{"115", "savings", "1100026"}},
      SubmitCustomer{
          {"ﾃﾞｰﾀ ｻﾄﾙ", "1980", "01", "15", "09011113333", "taro@example.jp", "taro@example.jp"},
          IdentityCheck::match,
          {}},
      ConfirmPhone{"0120111111"},
      IncomingCall{"09011113333", "0120111111"},
      ConfirmCall{},
      SubmitPin{{"1234"}, PinCheck::match, {}},
      SubmitConsent{{true}},
  };
  UnixSeconds now = kT0;
  for (const auto& e : path) {
    now += 7;
    s = step(s, e, now, cfg).state;
    out.push_back(s);
  }
  FlowState cancelled = step(out[2], Cancel{}, now, cfg).state;
  out.push_back(cancelled);
  FlowState expired = step(out[1], Cancel{}, now + 5000, cfg).state;
  out.push_back(expired);
  return out;
}

// ----- exact bytes -----

TEST(JsonWire, FieldErrorAndEnvelopes) {
  EXPECT_EQ(dump_json(field_error_json({Field::branch, ErrorCode::required})),
            R"({"code":"required","field":"branch","message":"必ず入力して下さい。"})");
  EXPECT_EQ(
      dump_json(error_envelope(ErrorCode::locked)),
      R"({"error":{"code":"locked","message":"ただ今お取扱いできません。詳しくは本サービスのお問合せ窓口へご照会下さい。 理由コードはB84です。","reason":"B84"}})");
  EXPECT_EQ(
      dump_json(error_envelope(ErrorCode::required, {{Field::pin, ErrorCode::required}}, true)),
      R"({"error":{"code":"required","dialog":{"message":"入力されていない項目があります。","ok":"OK","title":"エラー"},"field":"pin","fields":[{"code":"required","field":"pin","message":"必ず入力して下さい。"}],"message":"必ず入力して下さい。"}})");
  // Two fields: "fields" only, no single "field"; no dialog unless asked.
  json two = error_envelope(
      ErrorCode::invalid_input,
      {{Field::branch, ErrorCode::invalid_format}, {Field::account_number, ErrorCode::too_long}});
  EXPECT_FALSE(two["error"].contains("field"));
  EXPECT_FALSE(two["error"].contains("dialog"));
  EXPECT_FALSE(two["error"].contains("reason"));
  EXPECT_EQ(two["error"]["fields"].size(), 2u);
}

TEST(JsonWire, LockStateAndOutcome) {
  EXPECT_EQ(dump_json(to_json(LockState{})), R"({"failures":0,"locked_until":null})");
  EXPECT_EQ(dump_json(to_json(LockState{5, from_jst({2026, 11, 26})})),
            R"({"failures":5,"locked_until":"2026-11-26T00:00:00+09:00"})");
  FlowOutcome ok;
  ok.accepted = true;
  EXPECT_EQ(dump_json(to_json(ok)), R"({"accepted":true,"error":null,"lock_update":null})");
  FlowOutcome mismatch;
  mismatch.error = ErrorCode::auth_mismatch;
  mismatch.lock_update = LockState{1, std::nullopt};
  EXPECT_EQ(
      dump_json(to_json(mismatch)),
      R"({"accepted":false,"error":{"code":"auth_mismatch","message":"本人認証情報が誤っています。本人認証項目をご確認のうえ、再度入力して下さい。"},"lock_update":{"failures":1,"locked_until":null}})");
}

TEST(JsonWire, EventsAndCallWindow) {
  EXPECT_EQ(dump_json(to_json(FlowEvent{Cancel{}})), R"({"type":"cancel"})");
  EXPECT_EQ(dump_json(to_json(FlowEvent{IncomingCall{std::nullopt, "0120111111"}})),
            R"({"caller":null,"dialled":"0120111111","type":"incoming_call"})");
  EXPECT_EQ(
      dump_json(to_json(FlowEvent{SubmitPin{{"1234"}, PinCheck::match, {}}})),
      R"({"check":"match","form":{"pin":"1234"},"lock":{"failures":0,"locked_until":null},"type":"submit_pin"})");
  EXPECT_EQ(
      dump_json(to_json(CallWindow{"0120111111", kT0, kT0 + 120, kT0 + 30})),
      R"({"dialled_number":"0120111111","expires_at":"2026-11-25T10:02:00+09:00","opened_at":"2026-11-25T10:00:00+09:00","verified_at":"2026-11-25T10:00:30+09:00"})");
}

TEST(JsonWire, StartedFlowState) {
  EXPECT_EQ(
      dump_json(to_json(start_flow(kT0))),
      R"({"account":null,"call":null,"call_verified":false,"consent_given":false,"email":"","identity_verified":false,"last_activity":"2026-11-25T10:00:00+09:00","name_kana":"","phone":"","pin_verified":false,"screen":"account_entry","started_at":"2026-11-25T10:00:00+09:00"})");
}

// ----- the public view -----

TEST(JsonPublicView, NeverShowsThePhoneTheMailOrTheName) {
  for (const FlowState& s : states_on_every_screen()) {
    SCOPED_TRACE(screen_wire_name(s.screen));
    const std::string text = dump_json(public_view_json(s, kT0 + 40));
    EXPECT_EQ(text.find("09011113333"), std::string::npos);
    EXPECT_EQ(text.find("taro"), std::string::npos);
    EXPECT_EQ(text.find("ﾃﾞｰﾀ"), std::string::npos);
    EXPECT_EQ(text.find("1234"), std::string::npos);
    json v = public_view_json(s, kT0 + 40);
    EXPECT_EQ(v["screen"], screen_wire_name(s.screen));
    EXPECT_EQ(v["screen_id"], screen_id(s.screen));
    EXPECT_EQ(v["title"], screen_title_ja(s.screen));
    EXPECT_EQ(v["masked_phone"], s.phone.empty() ? "" : "*****3333");
    EXPECT_EQ(v["call"].is_null(), s.screen != Screen::call_wait);
  }
}

TEST(JsonPublicView, CallWaitShowsTheNumberAndSecondsLeft) {
  const auto states = states_on_every_screen();
  const FlowState& waiting = states[3];  // after 電話番号の決定 (opened at kT0 + 21)
  ASSERT_EQ(waiting.screen, Screen::call_wait);
  EXPECT_EQ(
      dump_json(public_view_json(waiting, kT0 + 41)),
      R"({"account":{"branch":"115","number":"1100026","type":"savings","type_label":"貯蓄預金"},"call":{"dialled_number":"0120111111","expires_at":"2026-11-25T10:02:21+09:00","seconds_left":100,"verified":false},"masked_phone":"*****3333","screen":"call_wait","screen_id":"SOA209","title":"API連携認証（電話番号認証）"})");
  EXPECT_EQ(public_view_json(states[4], kT0 + 41)["call"]["verified"], true);
}

// ----- round trips -----

TEST(JsonRoundTrip, FlowStateOnEveryScreen) {
  for (const FlowState& s : states_on_every_screen()) {
    SCOPED_TRACE(screen_wire_name(s.screen));
    json j = to_json(s);
    auto back = flow_state_from_json(parse_or_die(dump_json(j)));
    ASSERT_TRUE(back);
    EXPECT_EQ(*back, s);
  }
}

TEST(JsonRoundTrip, Events) {
  const std::vector<FlowEvent> events = {
      SubmitAccount{{"115", "ordinary", "1100026"}},
      SubmitAccount{{"", "", ""}},
      SubmitCustomer{{"ｱ", "1980", "1", "2", "0311112222", "a@b.jp", "a@b.jp"},
                     IdentityCheck::account_not_eligible,
                     {3, std::nullopt}},
      SubmitCustomer{{}, IdentityCheck::mismatch, {5, kT0}},
      SubmitCustomer{{}, IdentityCheck::match, {}},
      ConfirmPhone{"0120111111"},
      IncomingCall{"09011113333", "0120111111"},
      IncomingCall{std::nullopt, ""},
      ConfirmCall{},
      SubmitPin{{"1234"}, PinCheck::match, {1, std::nullopt}},
      SubmitPin{{""}, PinCheck::mismatch, {}},
      SubmitConsent{{true}},
      SubmitConsent{{false}},
      Cancel{},
  };
  for (const FlowEvent& e : events) {
    const std::string text = dump_json(to_json(e));
    SCOPED_TRACE(text);
    auto back = flow_event_from_json(parse_or_die(text));
    ASSERT_TRUE(back);
    EXPECT_EQ(dump_json(to_json(*back)), text);
    EXPECT_EQ(back->index(), e.index());
  }
}

TEST(JsonRoundTrip, LockStates) {
  for (const LockState& s : {LockState{}, LockState{4, std::nullopt}, LockState{5, kT0}}) {
    auto back = lock_state_from_json(parse_or_die(dump_json(to_json(s))));
    ASSERT_TRUE(back);
    EXPECT_EQ(*back, s);
  }
}

// ----- decoders: defaults and refusals -----

TEST(JsonDecode, MissingOptionalMembersDefault) {
  auto e = flow_event_from_json(parse_or_die(R"({"type":"submit_customer","form":{}})"));
  ASSERT_TRUE(e);
  const auto& c = std::get<SubmitCustomer>(*e);
  EXPECT_EQ(c.check, IdentityCheck::mismatch);
  EXPECT_EQ(c.lock, LockState{});
  EXPECT_EQ(c.form.name_kana, "");
  EXPECT_EQ(c.form.email_confirm, "");
  e = flow_event_from_json(parse_or_die(R"({"type":"submit_pin"})"));
  ASSERT_TRUE(e);
  EXPECT_EQ(std::get<SubmitPin>(*e).form.pin, "");
  e = flow_event_from_json(parse_or_die(R"({"type":"incoming_call","dialled":"0120"})"));
  ASSERT_TRUE(e);
  EXPECT_FALSE(std::get<IncomingCall>(*e).caller);  // missing caller = withheld
  e = flow_event_from_json(parse_or_die(R"({"type":"submit_consent","form":{}})"));
  ASSERT_TRUE(e);
  EXPECT_FALSE(std::get<SubmitConsent>(*e).form.consent);
  auto lock = lock_state_from_json(parse_or_die("{}"));
  ASSERT_TRUE(lock);
  EXPECT_EQ(*lock, LockState{});
  auto s = flow_state_from_json(parse_or_die(R"({"screen":"account_entry","started_at":5})"));
  ASSERT_TRUE(s);
  EXPECT_EQ(s->started_at, 5);
  EXPECT_EQ(s->last_activity, 5);
}

TEST(JsonDecode, EventsRefused) {
  const char* const bad[] = {
      R"([])",
      R"("cancel")",
      R"({})",
      R"({"type":1})",
      R"({"type":"Cancel"})",
      R"({"type":"submit_everything"})",
      R"({"type":"submit_account","form":[]})",
      R"({"type":"submit_account","form":{"branch":115}})",
      R"({"type":"submit_account","form":{"account_number":null}})",
      R"({"type":"submit_customer","form":{"birth_year":1980}})",
      R"({"type":"submit_customer","check":"maybe"})",
      R"({"type":"submit_customer","check":true})",
      R"({"type":"submit_customer","lock":{"failures":-1}})",
      R"({"type":"submit_customer","lock":{"failures":1.5}})",
      R"({"type":"submit_customer","lock":{"failures":"1"}})",
      R"({"type":"submit_customer","lock":{"failures":99999999999999999999}})",
      R"({"type":"submit_customer","lock":{"locked_until":"tomorrow"}})",
      R"({"type":"submit_customer","lock":[]})",
      R"({"type":"confirm_phone","dialled_number":120})",
      R"({"type":"incoming_call","caller":9011113333})",
      R"({"type":"incoming_call","dialled":null})",
      R"({"type":"submit_pin","form":{"pin":1234}})",
      R"({"type":"submit_pin","check":"account_not_eligible"})",
      R"({"type":"submit_consent","form":{"consent":"true"}})",
      R"({"type":"submit_consent","form":{"consent":1}})",
  };
  for (const char* text : bad) {
    SCOPED_TRACE(text);
    auto j = parse_json(text);
    if (!j) continue;  // malformed text is refused even earlier
    EXPECT_FALSE(flow_event_from_json(*j));
  }
}

TEST(JsonDecode, StatesRefused) {
  const char* const bad[] = {
      R"(null)",
      R"({})",
      R"({"screen":"SOA201"})",
      R"({"screen":3})",
      R"({"screen":"account_entry","started_at":"yesterday"})",
      R"({"screen":"account_entry","started_at":1.5})",
      R"({"screen":"account_entry","started_at":99999999999999})",
      R"({"screen":"account_entry","account":{"branch":"115","type":"current","number":"1"}})",
      R"({"screen":"account_entry","account":{"branch":115,"type":"ordinary","number":"1"}})",
      R"({"screen":"account_entry","account":"115-1100026"})",
      R"({"screen":"account_entry","identity_verified":"yes"})",
      R"({"screen":"account_entry","phone":9011113333})",
      R"({"screen":"call_wait","call":{"opened_at":"now"}})",
      R"({"screen":"call_wait","call":{"verified_at":true}})",
      R"({"screen":"call_wait","call":[]})",
  };
  for (const char* text : bad) {
    SCOPED_TRACE(text);
    EXPECT_FALSE(flow_state_from_json(parse_or_die(text)));
  }
}

TEST(JsonDecode, Forms) {
  auto a = account_form_from_json(parse_or_die(R"({"branch":"１１５","account_number":"1"})"));
  ASSERT_TRUE(a);
  EXPECT_EQ(a->branch, "１１５");  // decoding does not normalize; the rules do
  EXPECT_EQ(a->account_type, "");
  EXPECT_FALSE(account_form_from_json(parse_or_die(R"({"branch":["115"]})")));
  EXPECT_FALSE(account_form_from_json(parse_or_die(R"("115")")));
  auto c = customer_form_from_json(parse_or_die(R"({"phone":"090-1111-3333"})"));
  ASSERT_TRUE(c);
  EXPECT_EQ(c->phone, "090-1111-3333");
  EXPECT_FALSE(customer_form_from_json(parse_or_die(R"({"email":{}})")));
}

TEST(JsonDecode, Instants) {
  EXPECT_EQ(instant_from_json(json("2026-11-25T10:00:00+09:00")), kT0);
  EXPECT_EQ(instant_from_json(json("2026-11-25T01:00:00Z")), kT0);
  EXPECT_EQ(instant_from_json(json(kT0)), kT0);
  EXPECT_EQ(instant_from_json(json(static_cast<std::uint64_t>(kT0))), kT0);
  EXPECT_EQ(instant_from_json(json(-1)), -1);
  EXPECT_FALSE(instant_from_json(json("2026-11-25")));
  EXPECT_FALSE(instant_from_json(json("")));
  EXPECT_FALSE(instant_from_json(json(1.5)));
  EXPECT_FALSE(instant_from_json(json(true)));
  EXPECT_FALSE(instant_from_json(json(nullptr)));
  EXPECT_FALSE(instant_from_json(json::array()));
  EXPECT_FALSE(instant_from_json(json(INT64_MAX)));
  EXPECT_FALSE(instant_from_json(json(INT64_MIN)));
  EXPECT_FALSE(instant_from_json(json(UINT64_MAX)));
  // The range: 1900-01-01 to 9999-12-01 in JST, so format_jst always gives a
  // four-digit year that parses back, even plus a window or timeout.
  EXPECT_TRUE(instant_from_json(json("1900-01-01T00:00:00+09:00")));
  EXPECT_FALSE(instant_from_json(json("1899-12-31T23:59:59+09:00")));
  EXPECT_TRUE(instant_from_json(json("9999-12-01T00:00:00+09:00")));
  EXPECT_FALSE(instant_from_json(json("9999-12-01T00:00:01+09:00")));
  const UnixSeconds last = *instant_from_json(json("9999-12-01T00:00:00+09:00"));
  EXPECT_EQ(parse_iso_instant(format_jst(last + 30 * kSecondsPerDay)), last + 30 * kSecondsPerDay);
}

// ----- parsing hostile text -----

TEST(JsonParse, NestingIsLimitedBeforeParsing) {
  EXPECT_FALSE(parse_json(std::string(10000, '[')));
  EXPECT_FALSE(parse_json(std::string(10000, '[') + std::string(10000, ']')));
  EXPECT_FALSE(parse_json(std::string(100000, '{')));
  EXPECT_TRUE(parse_json(std::string(32, '[') + std::string(32, ']')));
  EXPECT_FALSE(parse_json(std::string(33, '[') + std::string(33, ']')));
  EXPECT_TRUE(parse_json(std::string(33, '[') + std::string(33, ']'), 33));
  // Brackets inside strings, escaped quotes included, do not count.
  EXPECT_TRUE(parse_json("[\"" + std::string(100, '[') + "\\\"" + std::string(100, '{') + "\"]"));
}

TEST(JsonParse, MalformedTextIsRefused) {
  const std::string bad[] = {
      "",
      " ",
      "{",
      "{\"a\":1",
      "{\"a\":1}}",
      "{\"a\":1} x",
      "{'a':1}",
      "{\"a\":01}",
      "{\"a\":NaN}",
      "[1e400]",
      "[-1e400]",
      "{\"a\":\"\\ud800\"}",                // lone surrogate escape
      "{\"a\":\"\xe3\x81\"}",               // truncated UTF-8
      "{\"a\":\"\xff\"}",                   // never valid in UTF-8
      "{\"a\":\"\xc0\xaf\"}",               // overlong
      std::string("{\"a\":\"x\0y\"}", 11),  // raw NUL in a string
      "{\"a\":\"line\nbreak\"}",            // raw control character
      "/* comment */ {}",
      "\xef\xbb\xbf{}x",
  };
  for (const std::string& text : bad) {
    SCOPED_TRACE(text);
    EXPECT_FALSE(parse_json(text));
  }
}

TEST(JsonParse, OversizeInputIsRefused) {
  std::string big = "\"" + std::string(1024 * 1024, 'a') + "\"";
  EXPECT_FALSE(parse_json(big));
  std::string fits = "\"" + std::string(1024 * 1024 - 2, 'a') + "\"";
  EXPECT_TRUE(parse_json(fits));
}

TEST(JsonParse, HugeNumbersParseButAreNotIntegers) {
  auto j = parse_json("[123456789012345678901234567890, 1e300, -9223372036854775809]");
  ASSERT_TRUE(j);
  for (const auto& v : *j) {
    EXPECT_FALSE(v.is_number_integer());
    EXPECT_FALSE(instant_from_json(v));
  }
}

TEST(JsonDump, InvalidUtf8IsReplacedNotThrown) {
  json j = {{"value", std::string("a\xff\xe3\x81z")}};
  const std::string out = dump_json(j);
  EXPECT_EQ(out.find('\xff'), std::string::npos);
  EXPECT_NE(out.find("\xef\xbf\xbd"), std::string::npos);  // U+FFFD
  EXPECT_TRUE(parse_json(out));
  // And a field result that echoes such bytes stays dumpable.
  FieldResult r{std::string("\xc0\xaf"), {{Field::name_kana, ErrorCode::invalid_utf8}}};
  EXPECT_TRUE(parse_json(dump_json(to_json(r))));
}

TEST(JsonDump, KeysAreSortedAndCompact) {
  json j = {{"b", 1}, {"a", {{"d", true}, {"c", nullptr}}}};
  EXPECT_EQ(dump_json(j), R"({"a":{"c":null,"d":true},"b":1})");
  EXPECT_EQ(dump_json(json("日本語")), "\"日本語\"");  // no \u escapes
}

TEST(JsonForms, FieldAndFormResults) {
  FieldResult r{"0000123", {}};
  EXPECT_EQ(dump_json(to_json(r)), R"({"errors":[],"ok":true,"value":"0000123"})");
  FormResult f = validate_account_form({"", "ordinary", "123"});
  EXPECT_EQ(
      dump_json(to_json(f)),
      R"({"errors":[{"code":"required","field":"branch","message":"必ず入力して下さい。"}],"ok":false,"show_required_dialog":true,"values":{"account_number":"0000123","account_type":"ordinary","branch":""}})");
}

TEST(JsonCalendar, Closure) {
  Closure c{ClosureKind::announced, kT0, kT0 + 3600, "臨時メンテナンス"};
  EXPECT_EQ(
      dump_json(to_json(c)),
      R"({"end":"2026-11-25T11:00:00+09:00","kind":"announced","label":"臨時メンテナンス","start":"2026-11-25T10:00:00+09:00"})");
}

}  // namespace
}  // namespace renkei
