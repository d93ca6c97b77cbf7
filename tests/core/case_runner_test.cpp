// run_case: every case kind once or more, and malformed lines that must come
// back as bad_request without aborting.
#include "renkei/case_runner.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <vector>

#include "renkei/error.h"
#include "renkei/fields.h"
#include "renkei/flow.h"
#include "renkei/json.h"

namespace renkei {
namespace {

using nlohmann::json;

json run(std::string_view line) {
  const std::string out = run_case(line);
  auto j = parse_json(out);
  EXPECT_TRUE(j) << out;
  return j ? *j : json();
}

bool is_bad_request(const json& j) {
  return j.is_object() && j.contains("error") && j["error"].is_object() &&
         j["error"].value("code", "") == "bad_request";
}

TEST(CaseRunner, TollfreeReopeningAndLabelsForThePage) {
  json j = run(R"({"kind":"tollfree","number":"0120000001"})");
  EXPECT_EQ(j["display"], "0120-000-001");
  j = run(R"({"kind":"tollfree","number":"08001234567"})");
  EXPECT_EQ(j["display"], "0800-123-4567");
  EXPECT_TRUE(is_bad_request(run(R"({"kind":"tollfree"})")));
  j = run(R"({"kind":"reopening","at":"2026-11-25T04:02:00+09:00","reopens_at":"2026-11-25T04:05:00+09:00"})");
  EXPECT_EQ(j["text"], "4時05分から再開します。");
  EXPECT_TRUE(is_bad_request(run(R"({"kind":"reopening","at":"2026-11-25T04:02:00+09:00"})")));
  j = run(R"({"kind":"catalog"})");
  EXPECT_EQ(j["labels"]["back_to_app"], "連携元画面へ");
  EXPECT_EQ(j["labels"]["cancel"], "中止する");
  EXPECT_TRUE(j["labels"]["retry"].is_string());
}

TEST(CaseRunner, EchoesIdAndKind) {
  json j = run(R"({"id":"m-1","kind":"mask","phone":"09011113333"})");
  EXPECT_EQ(j["id"], "m-1");
  EXPECT_EQ(j["kind"], "mask");
  EXPECT_EQ(j["masked"], "*****3333");
  j = run(R"({"id":7,"kind":"mask","phone":"3333"})");
  EXPECT_EQ(j["id"], 7);
  EXPECT_EQ(j["masked"], "*****");
  j = run(R"({"kind":"mask","phone":""})");
  EXPECT_FALSE(j.contains("id"));
}

struct FieldCase {
  const char* line;
  const char* value;
  bool ok;
  std::vector<const char*> codes;
};

TEST(CaseRunner, FieldKind) {
  const FieldCase rows[] = {
      {R"({"kind":"field","field":"branch","value":"１１５"})", "115", true, {}},
      {R"({"kind":"field","field":"branch","value":""})", "", false, {"required"}},
      {R"({"kind":"field","field":"account_type","value":"savings"})", "savings", true, {}},
      {R"({"kind":"field","field":"account_number","value":"123"})", "0000123", true, {}},
      {R"({"kind":"field","field":"name_kana","value":"データ サトル"})", "ﾃﾞｰﾀ ｻﾄﾙ", true, {}},
      {R"({"kind":"field","field":"name_kana","value_hex":"e3 81"})", "", false, {"invalid_utf8"}},
      {R"({"kind":"field","field":"phone","value":"090-1111-3333"})", "09011113333", true, {}},
      {R"({"kind":"field","field":"email","value":" a@example.jp "})", "a@example.jp", true, {}},
      {R"({"kind":"field","field":"email_confirm","email":"a@example.jp","value":"b@example.jp"})",
       "b@example.jp",
       false,
       {"email_mismatch"}},
      {R"({"kind":"field","field":"pin","value":"１２３４"})", "1234", true, {}},
      {R"({"kind":"field","field":"consent","value":false})", nullptr, false, {"consent_required"}},
      {R"({"kind":"field","field":"birth_date","year":"1980","month":"02","day":"30","today":"2026-11-25"})",
       nullptr,
       false,
       {"invalid_date"}},
      {R"({"kind":"field","field":"birth_date","year":"2026","month":"11","day":"25","today":"2026-11-25"})",
       "2026-11-25",
       true,
       {}},
      {R"({"kind":"field","field":"birth_year","year":"1899","month":"01","day":"01","today":"2026-11-25"})",
       nullptr,
       false,
       {"date_out_of_range"}},
      {R"({"kind":"field","field":"birth_month","year":"1899","month":"01","day":"01","today":"2026-11-25"})",
       nullptr,
       true,
       {}},
  };
  for (const auto& r : rows) {
    SCOPED_TRACE(r.line);
    json j = run(r.line);
    ASSERT_FALSE(is_bad_request(j)) << j.dump();
    if (r.value) {
      EXPECT_EQ(j["value"], r.value);
    }
    EXPECT_EQ(j["ok"], r.ok);
    std::vector<std::string> codes;
    for (const auto& e : j["errors"]) codes.push_back(e["code"].get<std::string>());
    EXPECT_EQ(codes, std::vector<std::string>(r.codes.begin(), r.codes.end()));
  }
}

TEST(CaseRunner, FormKind) {
  json j = run(R"({"kind":"form","screen":"account","form":{}})");
  EXPECT_EQ(j["ok"], false);
  EXPECT_EQ(j["show_required_dialog"], true);
  EXPECT_EQ(j["summary"]["error"]["code"], "required");
  EXPECT_EQ(j["summary"]["error"]["dialog"]["message"], "入力されていない項目があります。");
  EXPECT_EQ(j["errors"].size(), 3u);

  j = run(
      R"({"kind":"form","screen":"account","form":{"branch":"115","account_type":"ordinary","account_number":"1100026"}})");
  EXPECT_EQ(j["ok"], true);
  EXPECT_TRUE(j["summary"].is_null());
  EXPECT_EQ(j["values"]["account_number"], "1100026");

  j = run(
      R"({"kind":"form","screen":"customer","today":"2026-11-25","form":{"name_kana":"ﾃﾞｰﾀ ｻﾄﾙ","birth_year":"1980","birth_month":"01","birth_day":"15","phone":"09011113333","email":"a@example.jp","email_confirm":"a@example.jp"}})");
  EXPECT_EQ(j["ok"], true) << j.dump();

  j = run(R"({"kind":"form","screen":"pin","form":{"pin_hex":"31 32 33"}})");
  EXPECT_EQ(j["summary"]["error"]["code"], "invalid_input");
  EXPECT_FALSE(j["summary"]["error"].contains("dialog"));
  EXPECT_EQ(j["summary"]["error"]["field"], "pin");

  j = run(R"({"kind":"form","screen":"consent","form":{"consent":true}})");
  EXPECT_EQ(j["ok"], true);

  EXPECT_TRUE(is_bad_request(run(R"({"kind":"form","screen":"customer","form":{}})")));  // no today
  EXPECT_TRUE(is_bad_request(run(R"({"kind":"form","screen":"login","form":{}})")));
  EXPECT_TRUE(is_bad_request(run(R"({"kind":"form","screen":"pin","form":{"pin":1234}})")));
  EXPECT_TRUE(is_bad_request(run(R"({"kind":"form","screen":"pin","form":{"pin_hex":"3"}})")));
}

TEST(CaseRunner, NormalizeKind) {
  json j = run(R"({"kind":"normalize","mode":"kana","value":"がっこう"})");
  EXPECT_EQ(j["text"], "ｶﾞｯｺｳ");
  EXPECT_TRUE(j["error"].is_null());
  j = run(R"({"kind":"normalize","mode":"ascii","value":"ＡＢＣ１２３"})");
  EXPECT_EQ(j["text"], "ABC123");
  j = run(R"({"kind":"normalize","mode":"ascii","value_hex":"41 ff"})");
  EXPECT_EQ(j["error"], "invalid_utf8");
  j = run(R"({"kind":"normalize","mode":"ascii","value_hex":"41 07"})");
  EXPECT_EQ(j["error"], "control_character");
  EXPECT_TRUE(is_bad_request(run(R"({"kind":"normalize","mode":"nfkc","value":"a"})")));
  EXPECT_TRUE(is_bad_request(run(R"({"kind":"normalize","mode":"ascii","value_hex":"zz"})")));
}

TEST(CaseRunner, CalendarKind) {
  json j = run(R"({"kind":"calendar","at":"2026-11-25T00:00:30+09:00"})");
  EXPECT_EQ(j["open"], false);
  EXPECT_EQ(j["closure"]["kind"], "daily_midnight");
  EXPECT_EQ(j["next_open"], "2026-11-25T00:01:00+09:00");
  EXPECT_FALSE(j.contains("closures"));

  j = run(
      R"({"kind":"calendar","at":"2026-11-25T10:00:00+09:00","extra":[{"start":"2026-11-25T09:00:00+09:00","end":"2026-11-25T12:00:00+09:00","label":"臨時"}],"until":"2026-11-26T00:00:00+09:00"})");
  EXPECT_EQ(j["open"], false);
  EXPECT_EQ(j["closure"]["kind"], "announced");
  EXPECT_EQ(j["closure"]["label"], "臨時");
  EXPECT_EQ(j["next_open"], "2026-11-25T12:00:00+09:00");
  ASSERT_TRUE(j["closures"].is_array());
  EXPECT_EQ(j["closures"].size(), 1u);  // the announced window only (04:00 is before "at")

  EXPECT_TRUE(is_bad_request(run(R"({"kind":"calendar"})")));
  EXPECT_TRUE(is_bad_request(run(
      R"({"kind":"calendar","at":"2026-11-25T10:00:00+09:00","until":"2027-12-31T00:00:00+09:00"})")));
  EXPECT_TRUE(is_bad_request(run(
      R"({"kind":"calendar","at":"2026-11-25T10:00:00+09:00","until":"2026-11-24T00:00:00+09:00"})")));
  EXPECT_TRUE(is_bad_request(run(R"({"kind":"calendar","at":0,"extra":[{"start":10,"end":5}]})")));
  EXPECT_TRUE(is_bad_request(run(R"({"kind":"calendar","at":0,"extra":{}})")));
}

TEST(CaseRunner, LockoutKind) {
  json j = run(
      R"({"kind":"lockout","state":{"failures":4},"now":"2026-11-25T10:00:00+09:00","action":"failure"})");
  EXPECT_EQ(j["locked"], true);
  EXPECT_EQ(j["code"], "locked_now");
  EXPECT_EQ(j["lifts_at"], "2026-11-26T00:00:00+09:00");
  EXPECT_EQ(j["next"]["failures"], 5);

  j = run(
      R"({"kind":"lockout","state":{"failures":5,"locked_until":"2026-11-26T00:00:00+09:00"},"now":"2026-11-26T00:00:00+09:00","action":"check"})");
  EXPECT_EQ(j["locked"], false);
  EXPECT_FALSE(j.contains("code"));

  j = run(
      R"({"kind":"lockout","state":{"failures":1},"now":"2026-11-25T10:00:00+09:00","action":"failure","limit":2})");
  EXPECT_EQ(j["code"], "locked_now");

  j = run(R"({"kind":"lockout","state":{"failures":3},"now":0,"action":"success"})");
  EXPECT_EQ(j["next"]["failures"], 0);
  EXPECT_EQ(j["locked"], false);

  EXPECT_TRUE(is_bad_request(run(R"({"kind":"lockout","now":0,"action":"reset"})")));
  EXPECT_TRUE(is_bad_request(run(R"({"kind":"lockout","now":0,"action":"check","limit":0})")));
  EXPECT_TRUE(is_bad_request(run(R"({"kind":"lockout","action":"check"})")));
}

TEST(CaseRunner, FlowKindWalksTheWholeFlow) {
  const char* const events[] = {
      R"({"type":"submit_account","form":{"branch":"115","account_type":"ordinary","account_number":"1100026"}})",
      R"({"type":"submit_customer","form":{"name_kana":"ﾃﾞｰﾀ ｻﾄﾙ","birth_year":"1980","birth_month":"01","birth_day":"15","phone":"09011113333","email":"a@example.jp","email_confirm":"a@example.jp"},"check":"match"})",
      R"({"type":"confirm_phone","dialled_number":"0120111111"})",
      R"({"type":"incoming_call","caller":"09011113333","dialled":"0120111111"})",
      R"({"type":"confirm_call"})",
      R"({"type":"submit_pin","form":{"pin":"1234"},"check":"match"})",
      R"({"type":"submit_consent","form":{"consent":true}})",
  };
  const char* const screens[] = {"customer_entry", "phone_confirm", "call_wait", "call_wait",
                                 "pin_entry",      "consent",       "completed"};
  json start = run(R"({"kind":"flow","now":"2026-11-25T10:00:00+09:00"})");
  ASSERT_FALSE(is_bad_request(start));
  EXPECT_TRUE(start["outcome"].is_null());
  EXPECT_EQ(start["view"]["screen_id"], "SOA201");
  json state = start["state"];
  UnixSeconds now = from_jst({2026, 11, 25}, 10, 0, 0);
  for (int i = 0; i < 7; ++i) {
    now += 10;
    json c = {{"kind", "flow"}, {"state", state}, {"event", *parse_json(events[i])}, {"now", now}};
    json j = run(dump_json(c));
    ASSERT_FALSE(is_bad_request(j)) << j.dump();
    EXPECT_EQ(j["outcome"]["accepted"], true) << events[i];
    EXPECT_EQ(j["state"]["screen"], screens[i]);
    EXPECT_EQ(j["view"]["screen"], screens[i]);
    if (i == 2) {
      EXPECT_EQ(j["view"]["call"]["seconds_left"], 120);
      EXPECT_EQ(j["view"]["masked_phone"], "*****3333");
    }
    state = j["state"];
  }
}

TEST(CaseRunner, FlowKindUsesTheConfig) {
  json j = run(
      R"({"kind":"flow","state":null,"now":"2026-11-25T10:00:00+09:00","event":{"type":"submit_account","form":{"branch":"115","account_type":"ordinary","account_number":"1"}},"config":{"extra_windows":[{"start":"2026-11-25T09:00:00+09:00","end":"2026-11-25T11:00:00+09:00"}]}})");
  EXPECT_EQ(j["outcome"]["error"]["code"], "out_of_hours");
  EXPECT_EQ(j["state"]["screen"], "account_entry");

  j = run(
      R"({"kind":"flow","state":{"screen":"account_entry","started_at":"2026-11-25T10:00:00+09:00"},"now":"2026-11-25T10:01:01+09:00","event":{"type":"cancel"},"config":{"idle_timeout_seconds":60}})");
  EXPECT_EQ(j["outcome"]["error"]["code"], "session_expired");
  EXPECT_EQ(j["view"]["screen"], "expired");

  EXPECT_TRUE(is_bad_request(run(R"({"kind":"flow","now":0,"config":{"call_window_seconds":0}})")));
  EXPECT_TRUE(is_bad_request(run(R"({"kind":"flow","now":0,"config":{"lockout_limit":"5"}})")));
  EXPECT_TRUE(is_bad_request(run(R"({"kind":"flow","now":0,"config":[]})")));
  EXPECT_TRUE(is_bad_request(run(R"({"kind":"flow","now":0,"event":{"type":"jump"}})")));
  EXPECT_TRUE(is_bad_request(run(R"({"kind":"flow","now":0,"state":{"screen":"nowhere"}})")));
  EXPECT_TRUE(is_bad_request(run(R"({"kind":"flow","event":{"type":"cancel"}})")));  // no now
}

TEST(CaseRunner, MessageAndCatalogKinds) {
  json j = run(R"({"kind":"message","code":"locked"})");
  EXPECT_EQ(j["reason"], "B84");
  EXPECT_EQ(j["message"], std::string(message_ja(ErrorCode::locked)));
  EXPECT_TRUE(is_bad_request(run(R"({"kind":"message","code":"oops"})")));

  j = run(R"({"kind":"catalog"})");
  ASSERT_EQ(j["codes"].size(), static_cast<std::size_t>(kErrorCodeCount));
  ASSERT_EQ(j["fields"].size(), static_cast<std::size_t>(kFieldCount));
  ASSERT_EQ(j["screens"].size(), static_cast<std::size_t>(kScreenCount));
  for (int i = 0; i < kErrorCodeCount; ++i) {
    auto code = static_cast<ErrorCode>(i);
    EXPECT_EQ(j["codes"][i]["code"], std::string(wire_name(code)));
    EXPECT_EQ(j["codes"][i]["message"], std::string(message_ja(code)));
    EXPECT_EQ(j["codes"][i]["http_status"], http_status(code));
  }
  EXPECT_EQ(j["fields"][0]["label"], std::string(field_label_ja(Field::branch)));
  EXPECT_EQ(j["screens"][0]["id"], "SOA201");
  EXPECT_EQ(j["screens"][7]["title"], "API連携認証の中止");
  EXPECT_EQ(j["required_dialog"]["title"], "エラー");
}

TEST(CaseRunner, MalformedLinesAreBadRequests) {
  const std::string bad[] = {
      "",
      "not json",
      "[]",
      "null",
      "42",
      "\"field\"",
      "{}",
      R"({"kind":5})",
      R"({"kind":"unknown"})",
      R"({"kind":"field"})",
      R"({"kind":"field","field":"zip","value":"1"})",
      R"({"kind":"field","field":"branch"})",
      R"({"kind":"field","field":"branch","value":115})",
      R"({"kind":"field","field":"consent","value":"yes"})",
      R"({"kind":"field","field":"birth_date","year":"1980"})",
      R"({"kind":"field","field":"birth_date","today":"2026-02-30"})",
      R"({"kind":"mask"})",
      R"({"kind":"mask","phone":null})",
      std::string(10000, '['),
      std::string(10000, '{'),
      "{\"kind\":\"mask\",\"phone\":\"\xff\"}",
      "{\"kind\":\"mask\",\"phone\":\"1\"",
      "{\"kind\":\"mask\",\"phone\":\"" + std::string(2 * 1024 * 1024, '1') + "\"}",
  };
  for (const std::string& line : bad) {
    SCOPED_TRACE(line.substr(0, 80));
    json j = run(line);
    EXPECT_TRUE(is_bad_request(j)) << j.dump();
    EXPECT_EQ(j["error"]["message"], std::string(message_ja(ErrorCode::bad_request)));
  }
  json j = run(R"({"id":"x","kind":"field","field":"zip","value":"1"})");
  EXPECT_EQ(j["id"], "x");
}

TEST(CaseRunner, GarbageNeverAborts) {
  // Deterministic pseudo-random mutations of valid cases.
  const std::string seeds[] = {
      R"({"kind":"flow","now":"2026-11-25T10:00:00+09:00","event":{"type":"submit_account","form":{"branch":"115"}}})",
      R"({"kind":"field","field":"name_kana","value":"ﾃﾞｰﾀ ｻﾄﾙ"})",
      R"({"kind":"calendar","at":"2026-11-25T00:00:30+09:00","until":"2026-12-25T00:00:30+09:00"})",
      R"({"kind":"lockout","state":{"failures":4},"now":0,"action":"failure"})",
      R"({"kind":"form","screen":"customer","today":"2026-11-25","form":{"birth_year":"1980"}})",
  };
  std::uint64_t x = 20261125;
  auto next = [&x] {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return x;
  };
  int outputs = 0;
  for (int round = 0; round < 4000; ++round) {
    std::string s = seeds[round % std::size(seeds)];
    const int edits = 1 + static_cast<int>(next() % 4);
    for (int e = 0; e < edits; ++e) {
      const std::size_t pos = next() % (s.size() + 1);
      switch (next() % 3) {
        case 0:
          s.insert(pos, 1, static_cast<char>(next() & 0xff));
          break;
        case 1:
          if (pos < s.size()) s.erase(pos, 1);
          break;
        default:
          if (pos < s.size()) s[pos] = static_cast<char>(next() & 0xff);
          break;
      }
    }
    const std::string out = run_case(s);
    ASSERT_TRUE(parse_json(out)) << s;
    ++outputs;
  }
  EXPECT_EQ(outputs, 4000);
}

}  // namespace
}  // namespace renkei
