// Tests of normalize.h: the strict UTF-8 decoder, full width → half width, and
// kana → half-width katakana (SPEC §3).
#include "renkei/normalize.h"

#include <gtest/gtest.h>

#include <optional>
#include <string>
#include <vector>

namespace renkei {
namespace {

using namespace std::string_literals;

std::string utf8(char32_t cp) {
  std::string out;
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
  return out;
}

std::string hex(std::string_view s) {
  static constexpr char kDigits[] = "0123456789ABCDEF";
  std::string out;
  for (char c : s) {
    const auto b = static_cast<unsigned char>(c);
    out += "\\x";
    out += kDigits[b >> 4];
    out += kDigits[b & 0xF];
  }
  return out;
}

// ---------------------------------------------------------------- encoding --

struct EncodingCase {
  std::string input;
  std::optional<ErrorCode> expected;
};

TEST(CheckEncoding, Table) {
  const std::vector<EncodingCase> cases = {
      // well-formed
      {"", std::nullopt},
      {"abc 123", std::nullopt},
      {"ﾃﾞｰﾀ ｻﾄﾙ", std::nullopt},
      {"データ　さとる", std::nullopt},
      {"\xC2\xA0", std::nullopt},          // U+00A0, first code point after C1
      {"\xDF\xBF", std::nullopt},          // U+07FF
      {"\xE0\xA0\x80", std::nullopt},      // U+0800, smallest 3-byte
      {"\xED\x9F\xBF", std::nullopt},      // U+D7FF, just below the surrogates
      {"\xEE\x80\x80", std::nullopt},      // U+E000, just above them
      {"\xEF\xBF\xBF", std::nullopt},      // U+FFFF
      {"\xF0\x90\x80\x80", std::nullopt},  // U+10000, smallest 4-byte
      {"\xF0\x9F\x98\x80", std::nullopt},  // U+1F600
      {"\xF4\x8F\xBF\xBF", std::nullopt},  // U+10FFFF, the largest
      {"~ \x7E", std::nullopt},
      // overlong forms
      {"\xC0\xAF", ErrorCode::invalid_utf8},
      {"\xC0\x80", ErrorCode::invalid_utf8},  // "modified UTF-8" NUL
      {"\xC1\xBF", ErrorCode::invalid_utf8},
      {"\xE0\x80\xAF", ErrorCode::invalid_utf8},
      {"\xE0\x9F\xBF", ErrorCode::invalid_utf8},
      {"\xF0\x80\x80\xAF", ErrorCode::invalid_utf8},
      {"\xF0\x8F\xBF\xBF", ErrorCode::invalid_utf8},
      // surrogates (CESU-8 style)
      {"\xED\xA0\x80", ErrorCode::invalid_utf8},
      {"\xED\xAD\xBF", ErrorCode::invalid_utf8},
      {"\xED\xBF\xBF", ErrorCode::invalid_utf8},
      {"\xED\xA0\xBD\xED\xB8\x80", ErrorCode::invalid_utf8},
      // beyond U+10FFFF and bytes that never occur
      {"\xF4\x90\x80\x80", ErrorCode::invalid_utf8},
      {"\xF5\x80\x80\x80", ErrorCode::invalid_utf8},
      {"\xF7\xBF\xBF\xBF", ErrorCode::invalid_utf8},
      {"\xF8\x88\x80\x80\x80", ErrorCode::invalid_utf8},
      {"\xFC\x84\x80\x80\x80\x80", ErrorCode::invalid_utf8},
      {"\xFE", ErrorCode::invalid_utf8},
      {"\xFF", ErrorCode::invalid_utf8},
      // lone continuation bytes, truncated and broken sequences
      {"\x80", ErrorCode::invalid_utf8},
      {"a\xBF", ErrorCode::invalid_utf8},
      {"\xC3", ErrorCode::invalid_utf8},
      {"\xE3\x81", ErrorCode::invalid_utf8},
      {"\xE3", ErrorCode::invalid_utf8},
      {"\xF0\x9F\x98", ErrorCode::invalid_utf8},
      {"ﾃﾞｰﾀ\xE3\x81", ErrorCode::invalid_utf8},
      {"\xC3\x28", ErrorCode::invalid_utf8},
      {"\xE3\x41\x81", ErrorCode::invalid_utf8},
      {"\xE3\x81\x41", ErrorCode::invalid_utf8},
      {"\xF0\x9F\x41\x80", ErrorCode::invalid_utf8},
      {"\xE3\x81\x82\x82", ErrorCode::invalid_utf8},  // あ + stray continuation
      // NUL, C0, DEL, C1
      {"\0"s, ErrorCode::control_character},
      {"123\0"s
       "4"s,
       ErrorCode::control_character},
      {"\x01", ErrorCode::control_character},
      {"\t", ErrorCode::control_character},
      {"a\nb", ErrorCode::control_character},
      {"\r", ErrorCode::control_character},
      {"\x1B[0m", ErrorCode::control_character},
      {"\x1F", ErrorCode::control_character},
      {"\x7F", ErrorCode::control_character},
      {"\xC2\x80", ErrorCode::control_character},  // U+0080
      {"\xC2\x85", ErrorCode::control_character},  // U+0085 NEL
      {"\xC2\x9F", ErrorCode::control_character},  // U+009F
      // the first problem is reported
      {"\x01\xC0", ErrorCode::control_character},
      {"\xC0\x01", ErrorCode::invalid_utf8},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(check_encoding(c.input), c.expected) << hex(c.input);
    // Every conversion reports the same problem and returns no text with it.
    const Normalized a = to_halfwidth_ascii(c.input);
    const Normalized k = to_halfwidth_kana(c.input);
    EXPECT_EQ(a.error, c.expected) << hex(c.input);
    EXPECT_EQ(k.error, c.expected) << hex(c.input);
    if (c.expected) {
      EXPECT_EQ(a.text, "") << hex(c.input);
      EXPECT_EQ(k.text, "") << hex(c.input);
    }
  }
}

// An independent, bit-pattern-based reference: decode greedily by the lead
// byte's pattern, then reject what Unicode forbids. Used to check the decoder
// exhaustively on every 1-, 2- and 3-byte string and on the 4-byte leads.
std::optional<ErrorCode> reference_check(std::string_view s) {
  std::size_t i = 0;
  while (i < s.size()) {
    const auto b = static_cast<unsigned char>(s[i]);
    std::size_t n = 0;
    char32_t cp = 0;
    char32_t min = 0;
    if ((b & 0x80) == 0) {
      n = 1, cp = b, min = 0;
    } else if ((b & 0xE0) == 0xC0) {
      n = 2, cp = b & 0x1F, min = 0x80;
    } else if ((b & 0xF0) == 0xE0) {
      n = 3, cp = b & 0x0F, min = 0x800;
    } else if ((b & 0xF8) == 0xF0) {
      n = 4, cp = b & 0x07, min = 0x10000;
    } else {
      return ErrorCode::invalid_utf8;
    }
    if (i + n > s.size()) return ErrorCode::invalid_utf8;
    for (std::size_t k = 1; k < n; ++k) {
      const auto c = static_cast<unsigned char>(s[i + k]);
      if ((c & 0xC0) != 0x80) return ErrorCode::invalid_utf8;
      cp = (cp << 6) | (c & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
      return ErrorCode::invalid_utf8;
    }
    if (cp <= 0x1F || (cp >= 0x7F && cp <= 0x9F)) return ErrorCode::control_character;
    i += n;
  }
  return std::nullopt;
}

TEST(CheckEncoding, AgreesWithReferenceOnAllShortStrings) {
  std::string s;
  int mismatches = 0;
  for (int a = 0; a < 256; ++a) {
    s.assign(1, static_cast<char>(a));
    if (check_encoding(s) != reference_check(s) && ++mismatches < 10) ADD_FAILURE() << hex(s);
    for (int b = 0; b < 256; ++b) {
      s.assign({static_cast<char>(a), static_cast<char>(b)});
      if (check_encoding(s) != reference_check(s) && ++mismatches < 10) ADD_FAILURE() << hex(s);
    }
  }
  for (int a = 0xC0; a < 256; ++a) {
    for (int b = 0; b < 256; ++b) {
      for (int c = 0; c < 256; ++c) {
        s.assign({static_cast<char>(a), static_cast<char>(b), static_cast<char>(c)});
        if (check_encoding(s) != reference_check(s) && ++mismatches < 10) ADD_FAILURE() << hex(s);
      }
    }
  }
  for (int a = 0xF0; a < 256; ++a) {
    for (int b = 0; b < 256; ++b) {
      for (int c : {0x00, 0x41, 0x80, 0x9F, 0xBF, 0xC0}) {
        for (int d : {0x41, 0x80, 0xBF, 0xC0}) {
          s.assign({static_cast<char>(a), static_cast<char>(b), static_cast<char>(c),
                    static_cast<char>(d)});
          if (check_encoding(s) != reference_check(s) && ++mismatches < 10) {
            ADD_FAILURE() << hex(s);
          }
        }
      }
    }
  }
  EXPECT_EQ(mismatches, 0);
}

TEST(CheckEncoding, EveryScalarValueRoundTrips) {
  for (char32_t cp = 0; cp <= 0x10FFFF; ++cp) {
    if (cp >= 0xD800 && cp <= 0xDFFF) continue;
    const std::string s = utf8(cp);
    const bool control = cp <= 0x1F || (cp >= 0x7F && cp <= 0x9F);
    const auto expected = control ? std::optional(ErrorCode::control_character) : std::nullopt;
    ASSERT_EQ(check_encoding(s), expected) << std::hex << static_cast<unsigned>(cp);
    if (control) continue;
    // Nothing is ever dropped: every code point comes out as at least one.
    const Normalized a = to_halfwidth_ascii(s);
    ASSERT_FALSE(a.error);
    ASSERT_EQ(count_code_points(a.text), 1u) << std::hex << static_cast<unsigned>(cp);
    const Normalized k = to_halfwidth_kana(s);
    ASSERT_FALSE(k.error);
    ASSERT_GE(count_code_points(k.text), 1u) << std::hex << static_cast<unsigned>(cp);
    ASSERT_LE(count_code_points(k.text), 2u) << std::hex << static_cast<unsigned>(cp);
  }
}

// ------------------------------------------------------ to_halfwidth_ascii --

struct ConversionCase {
  std::string input;
  std::string expected;
};

TEST(ToHalfwidthAscii, Table) {
  const std::vector<ConversionCase> cases = {
      {"", ""},
      {"abc123", "abc123"},
      {"０１２３４５６７８９", "0123456789"},
      {"ＡＢＣＸＹＺａｂｃｘｙｚ", "ABCXYZabcxyz"},
      {"！＂＃＄％＆＇（）＊＋，－．／", "!\"#$%&'()*+,-./"},
      {"：；＜＝＞？＠［＼］＾＿｀｛｜｝～", ":;<=>?@[\\]^_`{|}~"},
      {"ｔａｒｏ＠ｅｘａｍｐｌｅ．ｊｐ", "taro@example.jp"},
      {"　", " "},
      {"１　２", "1 2"},
      {"￥", "\\"},
      {"００６", "006"},
      {"0０1１", "0011"},
      // kept as they are
      {"ｱｲｳ", "ｱｲｳ"},
      {"あいう", "あいう"},
      {"ー‐−", "ー‐−"},
      {"知", "知"},
      {"\xEF\xBC\x80", "\xEF\xBC\x80"},  // U+FF00, just below the block
      {"｟", "｟"},                      // U+FF5F, just above it
      {"\xE2\x80\x8B", "\xE2\x80\x8B"},  // zero width space: kept, never dropped
      {"😀", "😀"},
  };
  for (const auto& c : cases) {
    const Normalized n = to_halfwidth_ascii(c.input);
    EXPECT_FALSE(n.error) << c.input;
    EXPECT_EQ(n.text, c.expected) << c.input;
  }
}

TEST(ToHalfwidthAscii, WholeFullwidthBlockMapsToAscii) {
  for (char32_t cp = 0xFF01; cp <= 0xFF5E; ++cp) {
    const Normalized n = to_halfwidth_ascii(utf8(cp));
    ASSERT_FALSE(n.error);
    EXPECT_EQ(n.text, std::string(1, static_cast<char>(cp - 0xFEE0)));
  }
}

// ------------------------------------------------------- to_halfwidth_kana --

TEST(ToHalfwidthKana, Table) {
  const std::vector<ConversionCase> cases = {
      // the manual's example, from katakana and from hiragana with a full-width space
      {"データ サトル", "ﾃﾞｰﾀ ｻﾄﾙ"},
      {"でーた　さとる", "ﾃﾞｰﾀ ｻﾄﾙ"},
      {"ﾃﾞｰﾀ ｻﾄﾙ", "ﾃﾞｰﾀ ｻﾄﾙ"},  // already half width: unchanged
      // voiced and semi-voiced split
      {"ガ", "ｶﾞ"},
      {"パ", "ﾊﾟ"},
      {"ヴ", "ｳﾞ"},
      {"ゔ", "ｳﾞ"},
      {"ヷ", "ﾜﾞ"},
      {"ヺ", "ｦﾞ"},
      {"ぎゅうにゅう", "ｷﾞｭｳﾆｭｳ"},
      {"ポップ", "ﾎﾟｯﾌﾟ"},
      // combining marks and the spacing marks
      {"か\u3099", "ｶﾞ"},
      {"カ\u3099", "ｶﾞ"},
      {"ｶ\u3099", "ｶﾞ"},
      {"は\u309A", "ﾊﾟ"},
      {"ハ\u309A", "ﾊﾟ"},
      {"か゛", "ｶﾞ"},
      {"は゜", "ﾊﾟ"},
      {"\u3099", "ﾞ"},  // a lone mark is kept (the name rule rejects it)
      {"゛゜", "ﾞﾟ"},
      {"ガ\u3099", "ｶﾞﾞ"},  // never merged or dropped
      // prolonged sound mark, old and small kana
      {"ー", "ｰ"},
      {"ヰヱゐゑ", "ｲｴｲｴ"},
      {"ヵヶゕゖ", "ｶｹｶｹ"},
      {"ヮゎ", "ﾜﾜ"},
      {"ァィゥェォャュョッ", "ｧｨｩｪｫｬｭｮｯ"},
      {"ぁぃぅぇぉゃゅょっ", "ｧｨｩｪｫｬｭｮｯ"},
      {"ヲを", "ｦｦ"},
      {"ン", "ﾝ"},
      // punctuation
      {"・", "･"},
      {"「」", "｢｣"},
      {"。", "｡"},
      {"、", "､"},
      // full-width ASCII and the ideographic space
      {"ＡＢＣ　１２３", "ABC 123"},
      {"ヤマダ　タロウ", "ﾔﾏﾀﾞ ﾀﾛｳ"},
      // kept as they are (the field rules report them)
      {"知", "知"},
      {"ヸヹ", "ヸヹ"},
      {"ゝゞヽヾ", "ゝゞヽヾ"},
      {"ㇰ", "ㇰ"},  // U+31F0, small katakana extension
      {"😀", "😀"},
      {"", ""},
  };
  for (const auto& c : cases) {
    const Normalized n = to_halfwidth_kana(c.input);
    EXPECT_FALSE(n.error) << c.input;
    EXPECT_EQ(n.text, c.expected) << c.input;
  }
}

// The expected half-width spelling of every hiragana (U+3041–U+3096) and
// katakana (U+30A1–U+30FA). Generated with the npm package encoding-japanese
// 2.5.0 (toHankanaCase after toKatakanaCase) as an oracle, then overridden where
// SPEC §3 goes further than it: ヮゎ→ﾜ, ヰゐ→ｲ, ヱゑ→ｴ, ヵゕ→ｶ, ヶゖ→ｹ.
// ヸ and ヹ are kept by both.
struct KanaRow {
  char32_t cp;
  const char* expected;
};
constexpr KanaRow kKanaOracle[] = {
    {0x3041, "ｧ"},  {0x3042, "ｱ"},  {0x3043, "ｨ"},  {0x3044, "ｲ"},  {0x3045, "ｩ"},  {0x3046, "ｳ"},
    {0x3047, "ｪ"},  {0x3048, "ｴ"},  {0x3049, "ｫ"},  {0x304A, "ｵ"},  {0x304B, "ｶ"},  {0x304C, "ｶﾞ"},
    {0x304D, "ｷ"},  {0x304E, "ｷﾞ"}, {0x304F, "ｸ"},  {0x3050, "ｸﾞ"}, {0x3051, "ｹ"},  {0x3052, "ｹﾞ"},
    {0x3053, "ｺ"},  {0x3054, "ｺﾞ"}, {0x3055, "ｻ"},  {0x3056, "ｻﾞ"}, {0x3057, "ｼ"},  {0x3058, "ｼﾞ"},
    {0x3059, "ｽ"},  {0x305A, "ｽﾞ"}, {0x305B, "ｾ"},  {0x305C, "ｾﾞ"}, {0x305D, "ｿ"},  {0x305E, "ｿﾞ"},
    {0x305F, "ﾀ"},  {0x3060, "ﾀﾞ"}, {0x3061, "ﾁ"},  {0x3062, "ﾁﾞ"}, {0x3063, "ｯ"},  {0x3064, "ﾂ"},
    {0x3065, "ﾂﾞ"}, {0x3066, "ﾃ"},  {0x3067, "ﾃﾞ"}, {0x3068, "ﾄ"},  {0x3069, "ﾄﾞ"}, {0x306A, "ﾅ"},
    {0x306B, "ﾆ"},  {0x306C, "ﾇ"},  {0x306D, "ﾈ"},  {0x306E, "ﾉ"},  {0x306F, "ﾊ"},  {0x3070, "ﾊﾞ"},
    {0x3071, "ﾊﾟ"}, {0x3072, "ﾋ"},  {0x3073, "ﾋﾞ"}, {0x3074, "ﾋﾟ"}, {0x3075, "ﾌ"},  {0x3076, "ﾌﾞ"},
    {0x3077, "ﾌﾟ"}, {0x3078, "ﾍ"},  {0x3079, "ﾍﾞ"}, {0x307A, "ﾍﾟ"}, {0x307B, "ﾎ"},  {0x307C, "ﾎﾞ"},
    {0x307D, "ﾎﾟ"}, {0x307E, "ﾏ"},  {0x307F, "ﾐ"},  {0x3080, "ﾑ"},  {0x3081, "ﾒ"},  {0x3082, "ﾓ"},
    {0x3083, "ｬ"},  {0x3084, "ﾔ"},  {0x3085, "ｭ"},  {0x3086, "ﾕ"},  {0x3087, "ｮ"},  {0x3088, "ﾖ"},
    {0x3089, "ﾗ"},  {0x308A, "ﾘ"},  {0x308B, "ﾙ"},  {0x308C, "ﾚ"},  {0x308D, "ﾛ"},  {0x308E, "ﾜ"},
    {0x308F, "ﾜ"},  {0x3090, "ｲ"},  {0x3091, "ｴ"},  {0x3092, "ｦ"},  {0x3093, "ﾝ"},  {0x3094, "ｳﾞ"},
    {0x3095, "ｶ"},  {0x3096, "ｹ"},  {0x30A1, "ｧ"},  {0x30A2, "ｱ"},  {0x30A3, "ｨ"},  {0x30A4, "ｲ"},
    {0x30A5, "ｩ"},  {0x30A6, "ｳ"},  {0x30A7, "ｪ"},  {0x30A8, "ｴ"},  {0x30A9, "ｫ"},  {0x30AA, "ｵ"},
    {0x30AB, "ｶ"},  {0x30AC, "ｶﾞ"}, {0x30AD, "ｷ"},  {0x30AE, "ｷﾞ"}, {0x30AF, "ｸ"},  {0x30B0, "ｸﾞ"},
    {0x30B1, "ｹ"},  {0x30B2, "ｹﾞ"}, {0x30B3, "ｺ"},  {0x30B4, "ｺﾞ"}, {0x30B5, "ｻ"},  {0x30B6, "ｻﾞ"},
    {0x30B7, "ｼ"},  {0x30B8, "ｼﾞ"}, {0x30B9, "ｽ"},  {0x30BA, "ｽﾞ"}, {0x30BB, "ｾ"},  {0x30BC, "ｾﾞ"},
    {0x30BD, "ｿ"},  {0x30BE, "ｿﾞ"}, {0x30BF, "ﾀ"},  {0x30C0, "ﾀﾞ"}, {0x30C1, "ﾁ"},  {0x30C2, "ﾁﾞ"},
    {0x30C3, "ｯ"},  {0x30C4, "ﾂ"},  {0x30C5, "ﾂﾞ"}, {0x30C6, "ﾃ"},  {0x30C7, "ﾃﾞ"}, {0x30C8, "ﾄ"},
    {0x30C9, "ﾄﾞ"}, {0x30CA, "ﾅ"},  {0x30CB, "ﾆ"},  {0x30CC, "ﾇ"},  {0x30CD, "ﾈ"},  {0x30CE, "ﾉ"},
    {0x30CF, "ﾊ"},  {0x30D0, "ﾊﾞ"}, {0x30D1, "ﾊﾟ"}, {0x30D2, "ﾋ"},  {0x30D3, "ﾋﾞ"}, {0x30D4, "ﾋﾟ"},
    {0x30D5, "ﾌ"},  {0x30D6, "ﾌﾞ"}, {0x30D7, "ﾌﾟ"}, {0x30D8, "ﾍ"},  {0x30D9, "ﾍﾞ"}, {0x30DA, "ﾍﾟ"},
    {0x30DB, "ﾎ"},  {0x30DC, "ﾎﾞ"}, {0x30DD, "ﾎﾟ"}, {0x30DE, "ﾏ"},  {0x30DF, "ﾐ"},  {0x30E0, "ﾑ"},
    {0x30E1, "ﾒ"},  {0x30E2, "ﾓ"},  {0x30E3, "ｬ"},  {0x30E4, "ﾔ"},  {0x30E5, "ｭ"},  {0x30E6, "ﾕ"},
    {0x30E7, "ｮ"},  {0x30E8, "ﾖ"},  {0x30E9, "ﾗ"},  {0x30EA, "ﾘ"},  {0x30EB, "ﾙ"},  {0x30EC, "ﾚ"},
    {0x30ED, "ﾛ"},  {0x30EE, "ﾜ"},  {0x30EF, "ﾜ"},  {0x30F0, "ｲ"},  {0x30F1, "ｴ"},  {0x30F2, "ｦ"},
    {0x30F3, "ﾝ"},  {0x30F4, "ｳﾞ"}, {0x30F5, "ｶ"},  {0x30F6, "ｹ"},  {0x30F7, "ﾜﾞ"}, {0x30F8, "ヸ"},
    {0x30F9, "ヹ"}, {0x30FA, "ｦﾞ"},
};

TEST(ToHalfwidthKana, AgreesWithOracleOnEveryKana) {
  int rows = 0;
  for (const auto& row : kKanaOracle) {
    const Normalized n = to_halfwidth_kana(utf8(row.cp));
    EXPECT_FALSE(n.error);
    EXPECT_EQ(n.text, row.expected) << std::hex << static_cast<unsigned>(row.cp);
    ++rows;
  }
  EXPECT_EQ(rows, (0x3096 - 0x3041 + 1) + (0x30FA - 0x30A1 + 1));
}

TEST(ToHalfwidthKana, HiraganaAndKatakanaAgree) {
  for (char32_t cp = 0x3041; cp <= 0x3096; ++cp) {
    EXPECT_EQ(to_halfwidth_kana(utf8(cp)).text, to_halfwidth_kana(utf8(cp + 0x60)).text)
        << std::hex << static_cast<unsigned>(cp);
  }
}

TEST(ToHalfwidthKana, HalfwidthKanaPassThroughUnchanged) {
  // The whole half-width katakana block, including ･ and the marks: no NFKC.
  for (char32_t cp = 0xFF61; cp <= 0xFF9F; ++cp) {
    const Normalized n = to_halfwidth_kana(utf8(cp));
    EXPECT_EQ(n.text, utf8(cp)) << std::hex << static_cast<unsigned>(cp);
  }
  EXPECT_EQ(to_halfwidth_kana("ｶﾞｷﾞﾊﾟ").text, "ｶﾞｷﾞﾊﾟ");
}

TEST(ToHalfwidthKana, IsIdempotent) {
  for (const char* s : {"データ サトル", "ガ\u3099パ", "ＡＢＣ　あ", "ヸ"}) {
    const std::string once = to_halfwidth_kana(s).text;
    EXPECT_EQ(to_halfwidth_kana(once).text, once) << s;
  }
}

// ---------------------------------------------------------------- spacing --

TEST(CollapseSpaces, Table) {
  const std::vector<ConversionCase> cases = {
      {"", ""},
      {" ", ""},
      {"     ", ""},
      {"a", "a"},
      {" a ", "a"},
      {"a b", "a b"},
      {"a  b", "a b"},
      {"  ﾃﾞｰﾀ   ｻﾄﾙ  ", "ﾃﾞｰﾀ ｻﾄﾙ"},
      {"a b  c   d", "a b c d"},
      {"\xE3\x80\x80", "\xE3\x80\x80"},  // only ASCII spaces: U+3000 is converted earlier
  };
  for (const auto& c : cases) EXPECT_EQ(collapse_spaces(c.input), c.expected) << c.input;
}

TEST(TrimAsciiWhitespace, Table) {
  const std::vector<ConversionCase> cases = {
      {"", ""},       {" \t\n\f\r", ""},    {" a@b ", "a@b"},   {"\ta@b\r\n", "a@b"},
      {"a b", "a b"}, {"  a  b  ", "a  b"}, {"\va\v", "\va\v"},  // VT is not WHATWG whitespace
  };
  for (const auto& c : cases) EXPECT_EQ(trim_ascii_whitespace(c.input), c.expected) << c.input;
}

TEST(CountCodePoints, Table) {
  EXPECT_EQ(count_code_points(""), 0u);
  EXPECT_EQ(count_code_points("abc"), 3u);
  EXPECT_EQ(count_code_points("ｱｲｳ"), 3u);
  EXPECT_EQ(count_code_points("ｶﾞ"), 2u);
  EXPECT_EQ(count_code_points("ガ"), 1u);
  EXPECT_EQ(count_code_points("é"), 1u);
  EXPECT_EQ(count_code_points("😀a"), 2u);
  EXPECT_EQ(count_code_points("ﾃﾞｰﾀ ｻﾄﾙ"), 8u);
}

}  // namespace
}  // namespace renkei
