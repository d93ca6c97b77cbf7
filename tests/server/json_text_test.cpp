// The flat JSON string writer of the access log (server/src/http/json_text.h):
// every input, however hostile, gives a JSON string that parses back to the
// input (well-formed UTF-8) or to the input with U+FFFD for each bad byte.
#include "http/json_text.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>

namespace renkei::server {
namespace {

std::string json_quoted(std::string_view s) {
  std::string out;
  append_json_string(out, s);
  return out;
}

std::string parsed(std::string_view s) { return nlohmann::json::parse(json_quoted(s)).get<std::string>(); }

TEST(JsonText, PlainAsciiIsQuotedAsIs) {
  EXPECT_EQ(json_quoted("/api/flow"), "\"/api/flow\"");
  EXPECT_EQ(json_quoted(""), "\"\"");
}

TEST(JsonText, QuotesBackslashesAndControlsAreEscaped) {
  EXPECT_EQ(json_quoted("a\"b\\c"), R"("a\"b\\c")");
  EXPECT_EQ(json_quoted("\n\r\t"), R"("\n\r\t")");
  EXPECT_EQ(json_quoted(std::string("\x01\x1f", 2)), R"("\u0001\u001f")");
  EXPECT_EQ(json_quoted(std::string("a\0b", 3)), R"("a\u0000b")");
  const std::string all_controls = [] {
    std::string s;
    for (int c = 0; c < 0x20; ++c) s.push_back(static_cast<char>(c));
    return s + "\"\\\x7f";
  }();
  EXPECT_EQ(parsed(all_controls), all_controls);
}

TEST(JsonText, WellFormedUtf8IsKept) {
  const std::string kana = "\xe3\x81\x82\xef\xbd\xb1";           // あ ｱ
  const std::string four = "\xf0\x9f\x98\x80";                    // U+1F600
  EXPECT_EQ(json_quoted(kana), "\"" + kana + "\"");
  EXPECT_EQ(parsed(kana + four), kana + four);
}

TEST(JsonText, MalformedUtf8BecomesReplacementCharacters) {
  const std::string fffd = "\xef\xbf\xbd";
  EXPECT_EQ(parsed("\xff"), fffd);                      // never a UTF-8 byte
  EXPECT_EQ(parsed("\xc0\xaf"), fffd + fffd);           // overlong '/'
  EXPECT_EQ(parsed("\xed\xa0\x80"), fffd + fffd + fffd);  // a surrogate
  EXPECT_EQ(parsed("\xf4\x90\x80\x80"), fffd + fffd + fffd + fffd);  // above U+10FFFF
  EXPECT_EQ(parsed("a\xe3\x81"), "a" + fffd + fffd);    // cut short at the end
  EXPECT_EQ(parsed("\xe3\x81z"), fffd + fffd + "z");    // cut short in the middle
}

TEST(JsonText, EveryByteStringParses) {
  // All two-byte strings: the output is always valid JSON.
  for (int a = 0; a < 256; ++a) {
    for (int b = 0; b < 256; ++b) {
      const std::string s{static_cast<char>(a), static_cast<char>(b)};
      ASSERT_TRUE(nlohmann::json::accept(json_quoted(s))) << a << " " << b;
    }
  }
}

}  // namespace
}  // namespace renkei::server
