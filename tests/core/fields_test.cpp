// Tests of fields.h: one rule per field of screens ①②⑤⑥ (SPEC §3).
#include "renkei/fields.h"

#include <gtest/gtest.h>

#include <optional>
#include <string>
#include <vector>

namespace renkei {
namespace {

using namespace std::string_literals;

// "field:code" for each error, so that a failure prints readably.
std::vector<std::string> describe(const std::vector<FieldError>& errors) {
  std::vector<std::string> out;
  for (const auto& e : errors) {
    out.push_back(std::string(field_wire_name(e.field)) + ":" + std::string(wire_name(e.code)));
  }
  return out;
}

std::vector<std::string> one(Field f, ErrorCode c) {
  return {std::string(field_wire_name(f)) + ":" + std::string(wire_name(c))};
}

// One table row: input, the expected normalized value, the expected error (if any).
struct Case {
  std::string input;
  std::string value;
  std::optional<ErrorCode> error;
};

void run_table(Field f, FieldResult (*check)(std::string_view), const std::vector<Case>& cases) {
  for (const auto& c : cases) {
    const FieldResult r = check(c.input);
    EXPECT_EQ(r.value, c.value) << "input: " << c.input;
    const std::vector<std::string> expected =
        c.error ? one(f, *c.error) : std::vector<std::string>{};
    EXPECT_EQ(describe(r.errors), expected) << "input: " << c.input;
    EXPECT_EQ(r.ok(), !c.error) << "input: " << c.input;
  }
}

// ------------------------------------------------------------------ names --

TEST(FieldNames, WireNamesAreUniqueAndRoundTrip) {
  std::vector<std::string_view> seen;
  for (int i = 0; i < kFieldCount; ++i) {
    const auto f = static_cast<Field>(i);
    const std::string_view name = field_wire_name(f);
    EXPECT_FALSE(name.empty());
    EXPECT_EQ(field_from_wire(name), f) << name;
    EXPECT_FALSE(field_label_ja(f).empty()) << name;
    for (auto other : seen) EXPECT_NE(other, name);
    seen.push_back(name);
  }
  EXPECT_EQ(field_from_wire(""), std::nullopt);
  EXPECT_EQ(field_from_wire("Branch"), std::nullopt);
  EXPECT_EQ(field_from_wire("unknown"), std::nullopt);
}

TEST(FieldNames, KnownNamesAndLabels) {
  EXPECT_EQ(field_wire_name(Field::branch), "branch");
  EXPECT_EQ(field_wire_name(Field::account_number), "account_number");
  EXPECT_EQ(field_wire_name(Field::email_confirm), "email_confirm");
  EXPECT_EQ(field_label_ja(Field::branch), "店舗");
  EXPECT_EQ(field_label_ja(Field::account_type), "科目");
  EXPECT_EQ(field_label_ja(Field::account_number), "口座番号");
  EXPECT_EQ(field_label_ja(Field::name_kana), "お名前");
  EXPECT_EQ(field_label_ja(Field::phone), "電話番号");
  EXPECT_EQ(field_label_ja(Field::email), "メールアドレス");
  EXPECT_EQ(field_label_ja(Field::email_confirm), "メールアドレス（確認用）");
}

TEST(AccountTypeNames, Table) {
  EXPECT_EQ(account_type_wire_name(AccountType::ordinary), "ordinary");
  EXPECT_EQ(account_type_wire_name(AccountType::savings), "savings");
  EXPECT_EQ(account_type_label_ja(AccountType::ordinary), "普通預金");
  EXPECT_EQ(account_type_label_ja(AccountType::savings), "貯蓄預金");
  EXPECT_EQ(account_type_from_wire("ordinary"), AccountType::ordinary);
  EXPECT_EQ(account_type_from_wire("savings"), AccountType::savings);
  EXPECT_EQ(account_type_from_wire("普通預金"), std::nullopt);
  EXPECT_EQ(account_type_from_wire("Ordinary"), std::nullopt);
  EXPECT_EQ(account_type_from_wire("current"), std::nullopt);
  EXPECT_EQ(account_type_from_wire(""), std::nullopt);
}

// ------------------------------------------------------------- ① 店舗 ------

TEST(CheckBranch, Table) {
  run_table(Field::branch, check_branch,
            {
                // the manual's examples
                {"001", "001", std::nullopt},
                {"006", "006", std::nullopt},
                {"115", "115", std::nullopt},
                {"000", "000", std::nullopt},
                // full width, surrounding spaces
                {"００６", "006", std::nullopt},
                {"0０6", "006", std::nullopt},
                {" 006 ", "006", std::nullopt},
                {"　００６　", "006", std::nullopt},
                // empty
                {"", "", ErrorCode::required},
                {"   ", "", ErrorCode::required},
                {"　", "", ErrorCode::required},
                // wrong count
                {"6", "6", ErrorCode::invalid_format},
                {"06", "06", ErrorCode::invalid_format},
                {"0006", "0006", ErrorCode::invalid_format},
                // non-digits (checked before the count)
                {"0 6", "0 6", ErrorCode::invalid_character},
                {"00a", "00a", ErrorCode::invalid_character},
                {"-01", "-01", ErrorCode::invalid_character},
                {"１２三", "12三", ErrorCode::invalid_character},
                {"12345a", "12345a", ErrorCode::invalid_character},
                // encoding problems win and leave no value
                {"\xC0\xAF", "", ErrorCode::invalid_utf8},
                {"00\xE3\x81", "", ErrorCode::invalid_utf8},
                {"00\t6", "", ErrorCode::control_character},
                {"\0"s, "", ErrorCode::control_character},
                {"006\n", "", ErrorCode::control_character},
            });
}

// ------------------------------------------------------------- ① 科目 ------

TEST(CheckAccountType, Table) {
  run_table(Field::account_type, check_account_type,
            {
                {"ordinary", "ordinary", std::nullopt},
                {"savings", "savings", std::nullopt},
                {"", "", ErrorCode::required},
                {"checking", "checking", ErrorCode::invalid_format},
                {"普通預金", "普通預金", ErrorCode::invalid_format},
                {"ORDINARY", "ORDINARY", ErrorCode::invalid_format},
                {" ordinary", " ordinary", ErrorCode::invalid_format},
                {"\xFF", "", ErrorCode::invalid_utf8},
                {"ordinary\0"s, "", ErrorCode::control_character},
            });
}

// ----------------------------------------------------------- ① 口座番号 -----

TEST(CheckAccountNumber, Table) {
  run_table(Field::account_number, check_account_number,
            {
                // the manual's examples
                {"0000123", "0000123", std::nullopt},
                {"1234567", "1234567", std::nullopt},
                {"1100026", "1100026", std::nullopt},
                // padding
                {"123", "0000123", std::nullopt},
                {"1", "0000001", std::nullopt},
                {"0", "0000000", std::nullopt},
                {"123456", "0123456", std::nullopt},
                {"１２３", "0000123", std::nullopt},
                {" 123 ", "0000123", std::nullopt},
                {"　１２３４５６７　", "1234567", std::nullopt},
                // empty
                {"", "", ErrorCode::required},
                {"  ", "", ErrorCode::required},
                // too long (not silently cut)
                {"12345678", "12345678", ErrorCode::too_long},
                {"00000001", "00000001", ErrorCode::too_long},
                {"１２３４５６７８", "12345678", ErrorCode::too_long},
                // non-digits win over the length
                {"123-4567", "123-4567", ErrorCode::invalid_character},
                {"123 4567", "123 4567", ErrorCode::invalid_character},
                {"12a", "12a", ErrorCode::invalid_character},
                {"123456789x", "123456789x", ErrorCode::invalid_character},
                {"+123", "+123", ErrorCode::invalid_character},
                {"一二三", "一二三", ErrorCode::invalid_character},
                // encoding
                {"\xED\xA0\x80", "", ErrorCode::invalid_utf8},
                {"123\x7F", "", ErrorCode::control_character},
            });
}

// ------------------------------------------------------------ ② お名前 ------

TEST(CheckNameKana, Table) {
  run_table(Field::name_kana, check_name_kana,
            {
                // the manual's example, typed in several ways
                {"ﾃﾞｰﾀ ｻﾄﾙ", "ﾃﾞｰﾀ ｻﾄﾙ", std::nullopt},
                {"データ サトル", "ﾃﾞｰﾀ ｻﾄﾙ", std::nullopt},
                {"でーた　さとる", "ﾃﾞｰﾀ ｻﾄﾙ", std::nullopt},
                {"  データ　　サトル  ", "ﾃﾞｰﾀ ｻﾄﾙ", std::nullopt},
                {"て\u3099ーた さとる", "ﾃﾞｰﾀ ｻﾄﾙ", std::nullopt},
                {"て゛ーた さとる", "ﾃﾞｰﾀ ｻﾄﾙ", std::nullopt},
                // every mark-taking kana
                {"ヴ", "ｳﾞ", std::nullopt},
                {"ガギグゲゴ", "ｶﾞｷﾞｸﾞｹﾞｺﾞ", std::nullopt},
                {"ザジズゼゾダヂヅデド", "ｻﾞｼﾞｽﾞｾﾞｿﾞﾀﾞﾁﾞﾂﾞﾃﾞﾄﾞ", std::nullopt},
                {"バビブベボ", "ﾊﾞﾋﾞﾌﾞﾍﾞﾎﾞ", std::nullopt},
                {"パピプペポ", "ﾊﾟﾋﾟﾌﾟﾍﾟﾎﾟ", std::nullopt},
                {"ヷヺ", "ﾜﾞｦﾞ", std::nullopt},
                // small kana, ｰ and the old kana are allowed
                {"キャッシュ", "ｷｬｯｼｭ", std::nullopt},
                {"ヰヱヵヶヮ", "ｲｴｶｹﾜ", std::nullopt},
                {"ｦﾝ", "ｦﾝ", std::nullopt},
                // empty
                {"", "", ErrorCode::required},
                {"   ", "", ErrorCode::required},
                {"　　", "", ErrorCode::required},
                // outside the set after normalization
                {"山田 太郎", "山田 太郎", ErrorCode::invalid_character},
                {"ﾔﾏﾀﾞ 太郎", "ﾔﾏﾀﾞ 太郎", ErrorCode::invalid_character},
                {"YAMADA", "YAMADA", ErrorCode::invalid_character},
                {"ＹＡＭＡＤＡ", "YAMADA", ErrorCode::invalid_character},
                {"ﾔﾏﾀﾞ.ﾀﾛｳ", "ﾔﾏﾀﾞ.ﾀﾛｳ", ErrorCode::invalid_character},
                {"ヤマダ・タロウ", "ﾔﾏﾀﾞ･ﾀﾛｳ", ErrorCode::invalid_character},  // ･ is U+FF65
                {"ﾔﾏﾀﾞ｡", "ﾔﾏﾀﾞ｡", ErrorCode::invalid_character},
                {"「ﾔﾏﾀﾞ」", "｢ﾔﾏﾀﾞ｣", ErrorCode::invalid_character},
                {"ヸ", "ヸ", ErrorCode::invalid_character},
                {"ﾔﾏﾀﾞ\u200Bﾀﾛｳ", "ﾔﾏﾀﾞ\u200Bﾀﾛｳ", ErrorCode::invalid_character},
                {"ﾔﾏﾀﾞ😀", "ﾔﾏﾀﾞ😀", ErrorCode::invalid_character},
                {"ﾔﾏﾀﾞé", "ﾔﾏﾀﾞé", ErrorCode::invalid_character},
                // mark position
                {"ﾞｱ", "ﾞｱ", ErrorCode::invalid_mark_position},
                {"゛ア", "ﾞｱ", ErrorCode::invalid_mark_position},
                {"\u3099ア", "ﾞｱ", ErrorCode::invalid_mark_position},
                {"ﾟ", "ﾟ", ErrorCode::invalid_mark_position},
                {"ｱﾞ", "ｱﾞ", ErrorCode::invalid_mark_position},
                {"ｲﾞ", "ｲﾞ", ErrorCode::invalid_mark_position},
                {"ﾅﾞ", "ﾅﾞ", ErrorCode::invalid_mark_position},
                {"ﾝﾞ", "ﾝﾞ", ErrorCode::invalid_mark_position},
                {"ｰﾞ", "ｰﾞ", ErrorCode::invalid_mark_position},
                {"ｶﾟ", "ｶﾟ", ErrorCode::invalid_mark_position},
                {"ｳﾟ", "ｳﾟ", ErrorCode::invalid_mark_position},
                {"ﾜﾟ", "ﾜﾟ", ErrorCode::invalid_mark_position},
                {"ｶﾞﾞ", "ｶﾞﾞ", ErrorCode::invalid_mark_position},
                {"ガ\u3099", "ｶﾞﾞ", ErrorCode::invalid_mark_position},
                {"ﾊﾟﾟ", "ﾊﾟﾟ", ErrorCode::invalid_mark_position},
                {"ﾊﾞﾟ", "ﾊﾞﾟ", ErrorCode::invalid_mark_position},
                {"ｻﾄﾙ ﾞ", "ｻﾄﾙ ﾞ", ErrorCode::invalid_mark_position},
                {"ｻﾄﾙ ゛", "ｻﾄﾙ ﾞ", ErrorCode::invalid_mark_position},
                {"ｧﾞ", "ｧﾞ", ErrorCode::invalid_mark_position},
                // encoding wins
                {"ﾃﾞｰﾀ\xE3\x81", "", ErrorCode::invalid_utf8},
                {"\xC0\xAF", "", ErrorCode::invalid_utf8},
                {"ﾃﾞｰﾀ\tｻﾄﾙ", "", ErrorCode::control_character},
                {"ﾃﾞｰﾀ\nｻﾄﾙ", "", ErrorCode::control_character},
                {"ﾃﾞｰﾀ\0ｻﾄﾙ"s, "", ErrorCode::control_character},
                {"\xC2\x85ﾃﾞｰﾀ", "", ErrorCode::control_character},
            });
}

TEST(CheckNameKana, EveryMarkPairing) {
  // ﾞ after ｳ ｶ–ﾄ ﾊ–ﾎ ﾜ ｦ only; ﾟ after ﾊ–ﾎ only; checked for every base.
  auto cp_utf8 = [](char32_t cp) {
    return std::string{static_cast<char>(0xE0 | (cp >> 12)),
                       static_cast<char>(0x80 | ((cp >> 6) & 0x3F)),
                       static_cast<char>(0x80 | (cp & 0x3F))};
  };
  for (char32_t base = 0xFF66; base <= 0xFF9F; ++base) {
    const bool voiced = base == 0xFF73 || (base >= 0xFF76 && base <= 0xFF84) ||
                        (base >= 0xFF8A && base <= 0xFF8E) || base == 0xFF9C || base == 0xFF66;
    const bool semi = base >= 0xFF8A && base <= 0xFF8E;
    const FieldResult v = check_name_kana(cp_utf8(base) + "ﾞ");
    const FieldResult p = check_name_kana(cp_utf8(base) + "ﾟ");
    EXPECT_EQ(v.ok(), voiced) << std::hex << static_cast<unsigned>(base);
    EXPECT_EQ(p.ok(), semi) << std::hex << static_cast<unsigned>(base);
    if (!voiced) {
      EXPECT_EQ(describe(v.errors), one(Field::name_kana, ErrorCode::invalid_mark_position));
    }
    if (!semi) {
      EXPECT_EQ(describe(p.errors), one(Field::name_kana, ErrorCode::invalid_mark_position));
    }
  }
}

TEST(CheckNameKana, LengthLimitCountsMarksAndSpaces) {
  const std::string ten = "ｱｲｳｴｵｶｷｸｹｺ";
  // 30 characters: fine; 31: too long.
  EXPECT_TRUE(check_name_kana(ten + ten + ten).ok());
  EXPECT_EQ(describe(check_name_kana(ten + ten + ten + "ｱ").errors),
            one(Field::name_kana, ErrorCode::too_long));
  // ﾞ counts as one: 15 × ｶﾞ = 30, 15 × ガ typed full width also 30.
  std::string ga_half;
  std::string ga_full;
  for (int i = 0; i < 15; ++i) ga_half += "ｶﾞ", ga_full += "ガ";
  EXPECT_TRUE(check_name_kana(ga_half).ok());
  EXPECT_TRUE(check_name_kana(ga_full).ok());
  EXPECT_EQ(check_name_kana(ga_full).value, ga_half);
  EXPECT_EQ(describe(check_name_kana(ga_full + "ア").errors),
            one(Field::name_kana, ErrorCode::too_long));
  EXPECT_EQ(describe(check_name_kana(ga_full + "ガ").errors),
            one(Field::name_kana, ErrorCode::too_long));
  // Spaces count, but only after trimming and collapsing.
  const std::string spaced = "ｱｲｳｴｵｶｷｸｹｺｱｲｳｴ ｵｶｷｸｹｺｱｲｳｴｵｶｷｸｹ";  // 29 + 1 space
  EXPECT_TRUE(check_name_kana(spaced).ok());
  EXPECT_TRUE(check_name_kana("   " + spaced + "     ").ok());
  EXPECT_TRUE(check_name_kana("ｱｲｳｴｵｶｷｸｹｺｱｲｳｴ      ｵｶｷｸｹｺｱｲｳｴｵｶｷｸｹ").ok());
  EXPECT_EQ(describe(check_name_kana(spaced + " ｱ").errors),
            one(Field::name_kana, ErrorCode::too_long));
  // A 31-character name with a bad character reports the character.
  EXPECT_EQ(describe(check_name_kana(ten + ten + ten + "X").errors),
            one(Field::name_kana, ErrorCode::invalid_character));
  // A 31-character name with a misplaced mark reports the length.
  EXPECT_EQ(describe(check_name_kana("ﾞ" + ten + ten + ten).errors),
            one(Field::name_kana, ErrorCode::too_long));
}

// ------------------------------------------------------------ ② 電話番号 -----

TEST(CheckPhone, Table) {
  run_table(Field::phone, check_phone,
            {
                // 10 and 11 digits starting with 0
                {"0312345678", "0312345678", std::nullopt},
                {"09012345678", "09012345678", std::nullopt},
                {"0120123456", "0120123456", std::nullopt},
                {"05012345678", "05012345678", std::nullopt},
                // new ranges are not rejected (060 mobiles)
                {"06012345678", "06012345678", std::nullopt},
                {"02012345678", "02012345678", std::nullopt},
                // full width and hyphens are normalized away
                {"０９０１２３４５６７８", "09012345678", std::nullopt},
                {"090-1234-5678", "09012345678", std::nullopt},
                {"03-1234-5678", "0312345678", std::nullopt},
                {"０９０－１２３４－５６７８", "09012345678", std::nullopt},
                {"090ー1234ー5678", "09012345678", std::nullopt},  // U+30FC
                {"090ｰ1234ｰ5678", "09012345678", std::nullopt},    // U+FF70
                {"090‐1234‐5678", "09012345678", std::nullopt},    // U+2010
                {"090‑1234‑5678", "09012345678", std::nullopt},    // U+2011
                {"090‒1234‒5678", "09012345678", std::nullopt},    // U+2012
                {"090–1234–5678", "09012345678", std::nullopt},    // U+2013
                {"090—1234—5678", "09012345678", std::nullopt},    // U+2014
                {"090―1234―5678", "09012345678", std::nullopt},    // U+2015
                {"090−1234−5678", "09012345678", std::nullopt},    // U+2212
                {"090﹣1234﹣5678", "09012345678", std::nullopt},  // U+FE63
                {"090 1234 5678", "09012345678", std::nullopt},
                {"　090　1234　5678　", "09012345678", std::nullopt},
                // empty
                {"", "", ErrorCode::required},
                {"   ", "", ErrorCode::required},
                {"　", "", ErrorCode::required},
                // only separators: filled, but not a number
                {"---", "", ErrorCode::invalid_format},
                // wrong length or prefix
                {"031234567", "031234567", ErrorCode::invalid_format},        // 9
                {"090123456789", "090123456789", ErrorCode::invalid_format},  // 12
                {"9012345678", "9012345678", ErrorCode::invalid_format},      // no 0
                {"90123456789", "90123456789", ErrorCode::invalid_format},
                {"0", "0", ErrorCode::invalid_format},
                // other characters
                {"+819012345678", "+819012345678", ErrorCode::invalid_character},
                {"(03)12345678", "(03)12345678", ErrorCode::invalid_character},
                {"090.1234.5678", "090.1234.5678", ErrorCode::invalid_character},
                {"090_1234_5678", "090_1234_5678", ErrorCode::invalid_character},
                {"09O12345678", "09O12345678", ErrorCode::invalid_character},
                {"〇九〇", "〇九〇", ErrorCode::invalid_character},
                {"0901234567８９", "090123456789", ErrorCode::invalid_format},
                // encoding
                {"090\xE3\x81", "", ErrorCode::invalid_utf8},
                {"090\t1234\t5678", "", ErrorCode::control_character},
            });
}

// ------------------------------------------------------- ② メールアドレス ----

TEST(IsWhatwgValidEmail, Table) {
  struct Row {
    std::string s;
    bool valid;
  };
  const std::string label63(63, 'a');
  const std::string label64(64, 'a');
  const std::vector<Row> rows = {
      {"a@b", true},  // no dot needed in the domain
      {"taro@example.jp", true},
      {"taro.yamada@mail.example.co.jp", true},
      {"a..b@c", true},  // WHATWG allows dots anywhere in the local part
      {".a@b", true},
      {"a.@b", true},
      {"...@b", true},
      {"!#$%&'*+/=?^_`{|}~-@example.com", true},
      {"user+tag@example.com", true},
      {"A@B.C", true},
      {"1@2", true},
      {"a@b-c", true},
      {"a@b--c.d", true},
      {"a@" + label63, true},
      {"a@" + label63 + "." + label63, true},
      {"a@xn--80ak6aa92e.com", true},
      // invalid
      {"", false},
      {"a", false},
      {"@", false},
      {"@b", false},
      {"a@", false},
      {"a@@b", false},
      {"a@b@c", false},
      {"a b@c", false},
      {"a@b c", false},
      {" a@b", false},
      {"a@-b", false},
      {"a@b-", false},
      {"a@b.-c", false},
      {"a@b.c-", false},
      {"a@.b", false},
      {"a@b.", false},
      {"a@b..c", false},
      {"a@" + label64, false},
      {"a@b." + label64, false},
      {"\"a\"@b", false},  // quoted local part
      {"\"a b\"@c", false},
      {"a(comment)@b", false},
      {"a@[127.0.0.1]", false},
      {"a@b_c", false},
      {"a,b@c", false},
      {"a;b@c", false},
      {"a\\b@c", false},
      {"a:b@c", false},
      {"a<b@c", false},
      {"ａ@b", false},  // not ASCII
      {"a@例え.jp", false},
  };
  for (const auto& r : rows) EXPECT_EQ(is_whatwg_valid_email(r.s), r.valid) << r.s;
}

TEST(CheckEmail, Table) {
  const std::string local59(59, 'a');
  const std::string at64 = local59 + "@b.jp";   // 59 + 5 = 64
  const std::string at65 = local59 + "a@b.jp";  // 65
  ASSERT_EQ(at64.size(), 64u);
  ASSERT_EQ(at65.size(), 65u);
  run_table(Field::email, check_email,
            {
                {"taro@example.jp", "taro@example.jp", std::nullopt},
                {"a@b", "a@b", std::nullopt},
                {"a..b@c", "a..b@c", std::nullopt},
                // full width and surrounding whitespace cleaned
                {"ｔａｒｏ＠ｅｘａｍｐｌｅ．ｊｐ", "taro@example.jp", std::nullopt},
                {"  taro@example.jp  ", "taro@example.jp", std::nullopt},
                {"　taro@example.jp　", "taro@example.jp", std::nullopt},
                // length: 64 fine, 65 too long
                {at64, at64, std::nullopt},
                {at65, at65, ErrorCode::too_long},
                {"  " + at64 + "  ", at64, std::nullopt},
                {std::string(70, 'a'), std::string(70, 'a'), ErrorCode::too_long},
                // empty
                {"", "", ErrorCode::required},
                {"   ", "", ErrorCode::required},
                {"　", "", ErrorCode::required},
                // non-ASCII left after normalization (checked before the length)
                {"たろう@example.jp", "たろう@example.jp", ErrorCode::invalid_character},
                {"taro@例え.jp", "taro@例え.jp", ErrorCode::invalid_character},
                {"taro@example.jp\u200B", "taro@example.jp\u200B", ErrorCode::invalid_character},
                {at65 + "あ", at65 + "あ", ErrorCode::invalid_character},
                // shape
                {"a b@c", "a b@c", ErrorCode::invalid_format},
                {"a@-b", "a@-b", ErrorCode::invalid_format},
                {"a@b-", "a@b-", ErrorCode::invalid_format},
                {"\"a\"@b", "\"a\"@b", ErrorCode::invalid_format},
                {"taro", "taro", ErrorCode::invalid_format},
                {"taro@", "taro@", ErrorCode::invalid_format},
                {"@example.jp", "@example.jp", ErrorCode::invalid_format},
                {"taro@example..jp", "taro@example..jp", ErrorCode::invalid_format},
                {"taro@" + std::string(59, 'b'), "taro@" + std::string(59, 'b'), std::nullopt},
                {"a@" + std::string(62, 'b'), "a@" + std::string(62, 'b'), std::nullopt},
                {"a@" + std::string(63, 'b'), "a@" + std::string(63, 'b'), ErrorCode::too_long},
                {"a@b.-c", "a@b.-c", ErrorCode::invalid_format},
                {"taro＠example.jp", "taro@example.jp", std::nullopt},
                {"taro￥@b", "taro\\@b", ErrorCode::invalid_format},
                // encoding
                {"taro@\xC0\xAF", "", ErrorCode::invalid_utf8},
            });
}

// SPEC §3 (amended 2026-11-30): what WHATWG's value sanitization of
// <input type=email> does comes first: line breaks removed, ASCII whitespace
// trimmed at both ends; only control characters left inside are errors.
TEST(CheckEmail, WhitespaceAndLineBreaksAreCleanedLikeInputTypeEmail) {
  run_table(Field::email, check_email,
            {
                {"taro@example.com\t", "taro@example.com", std::nullopt},
                {"taro@example.com\n", "taro@example.com", std::nullopt},
                {"taro@example.com\r\n", "taro@example.com", std::nullopt},
                {"taro@example.com\f", "taro@example.com", std::nullopt},
                {"\ttaro@example.com", "taro@example.com", std::nullopt},
                {"\r\n taro@example.com \t\n", "taro@example.com", std::nullopt},
                {" \t\n\f\r", "", ErrorCode::required},
                // line breaks are removed inside too (WHATWG "strip newlines")
                {"taro@exam\nple.com", "taro@example.com", std::nullopt},
                {"ta\r\nro@example.com", "taro@example.com", std::nullopt},
                // full width after the trimming, then its spaces trimmed too
                {"\tｔａｒｏ＠ｅｘａｍｐｌｅ．ｃｏｍ　\n", "taro@example.com", std::nullopt},
                // other control characters stay errors, inside or at the ends
                {"taro@exam\tple.com", "", ErrorCode::control_character},
                {"taro@example.com\v", "", ErrorCode::control_character},
                {"taro@example.com\x01", "", ErrorCode::control_character},
                {std::string("taro@example.com\0", 17), "", ErrorCode::control_character},
                {"taro@example.com\x7F", "", ErrorCode::control_character},
                {"\xC2\x85taro@example.com", "", ErrorCode::control_character},  // NEL is not trimmed
                // still an encoding error when the bytes are broken
                {"taro@example.com\xE3\x81\n", "", ErrorCode::invalid_utf8},
            });
}

TEST(CheckEmailConfirm, Table) {
  struct Row {
    std::string email;
    std::string confirm;
    std::string value;
    std::optional<ErrorCode> error;
  };
  const std::vector<Row> rows = {
      {"taro@example.jp", "taro@example.jp", "taro@example.jp", std::nullopt},
      // cleaned the same way before comparing
      {"taro@example.jp", "ｔａｒｏ＠ｅｘａｍｐｌｅ．ｊｐ", "taro@example.jp", std::nullopt},
      {"ｔａｒｏ＠ｅｘａｍｐｌｅ．ｊｐ ", " taro@example.jp", "taro@example.jp", std::nullopt},
      // exact: case matters
      {"taro@example.jp", "Taro@example.jp", "Taro@example.jp", ErrorCode::email_mismatch},
      {"taro@example.jp", "taro@example.co.jp", "taro@example.co.jp", ErrorCode::email_mismatch},
      // empty confirmation
      {"taro@example.jp", "", "", ErrorCode::required},
      {"taro@example.jp", "  ", "", ErrorCode::required},
      {"", "", "", ErrorCode::required},
      // the address is empty or undecodable: nothing to compare with
      {"", "taro@example.jp", "taro@example.jp", std::nullopt},
      {"\xFF", "taro@example.jp", "taro@example.jp", std::nullopt},
      // an invalid address that is confirmed identically: only the address reports
      {"a b@c", "a b@c", "a b@c", std::nullopt},
      {"a b@c", "a  b@c", "a  b@c", ErrorCode::email_mismatch},
      // the confirmation's own encoding
      {"taro@example.jp", "taro@example.jp\xE3\x81", "", ErrorCode::invalid_utf8},
      {"taro@example.jp", "taro@example.jp\x01", "", ErrorCode::control_character},
      {"taro@example.jp", "taro@exam\tple.jp", "", ErrorCode::control_character},
      // cleaned like the address (SPEC §3, amended): line breaks and edge whitespace
      {"taro@example.jp", "taro@example.jp\n", "taro@example.jp", std::nullopt},
      {"taro@example.jp", "\ttaro@example.jp\r\n", "taro@example.jp", std::nullopt},
      {"taro@example.jp\t", "taro@example.jp", "taro@example.jp", std::nullopt},
      {"taro@example.jp\n", "taro@exa\nmple.jp", "taro@example.jp", std::nullopt},
      {"taro@example.jp", "\t\n", "", ErrorCode::required},
      {"taro@example.jp", "jiro@example.jp\t", "jiro@example.jp", ErrorCode::email_mismatch},
  };
  for (const auto& r : rows) {
    const FieldResult res = check_email_confirm(r.email, r.confirm);
    EXPECT_EQ(res.value, r.value) << r.email << " / " << r.confirm;
    const auto expected =
        r.error ? one(Field::email_confirm, *r.error) : std::vector<std::string>{};
    EXPECT_EQ(describe(res.errors), expected) << r.email << " / " << r.confirm;
  }
}

// ------------------------------------------------------------ ⑤ 暗証番号 -----

TEST(CheckPin, Table) {
  run_table(
      Field::pin, check_pin,
      {
          {"1234", "1234", std::nullopt},
          {"0000", "0000", std::nullopt},
          {"１２３４", "1234", std::nullopt},
          {" 1234 ", "1234", std::nullopt},
          {"", "", ErrorCode::required},
          {"    ", "", ErrorCode::required},
          {"123", "123", ErrorCode::invalid_format},
          {"12345", "12345", ErrorCode::invalid_format},
          {"12a4", "12a4", ErrorCode::invalid_character},
          {"12 34", "12 34", ErrorCode::invalid_character},
          {"12-34", "12-34", ErrorCode::invalid_character},
          {"****", "****", ErrorCode::invalid_character},
          {"\xC0\xB1\xC0\xB2\xC0\xB3\xC0\xB4", "", ErrorCode::invalid_utf8},  // overlong digits
          {"1234\0"s, "", ErrorCode::control_character},
      });
}

// ---------------------------------------------------------------- ⑥ 同意 ----

TEST(CheckConsent, Table) {
  EXPECT_TRUE(check_consent(true).ok());
  EXPECT_EQ(check_consent(true).value, "true");
  const FieldResult no = check_consent(false);
  EXPECT_EQ(no.value, "false");
  EXPECT_EQ(describe(no.errors), one(Field::consent, ErrorCode::consent_required));
}

// ------------------------------------------------------------ ② 生年月日 -----

struct DateCase {
  std::string year, month, day;
  std::string value;
  std::vector<FieldError> errors;
};

TEST(CheckBirthDate, Table) {
  const CivilDate today{2026, 11, 25};
  using E = ErrorCode;
  using F = Field;
  const std::vector<DateCase> cases = {
      {"1990", "01", "15", "1990-01-15", {}},
      {"1990", "1", "5", "1990-01-05", {}},
      {"１９９０", "０１", "１５", "1990-01-15", {}},
      {" 1990 ", "12", "31", "1990-12-31", {}},
      {"1900", "01", "01", "1900-01-01", {}},
      // leap years
      {"2024", "02", "29", "2024-02-29", {}},
      {"2000", "02", "29", "2000-02-29", {}},
      {"2023", "02", "29", "2023-02-29", {{F::birth_date, E::invalid_date}}},
      {"1900", "02", "29", "1900-02-29", {{F::birth_date, E::invalid_date}}},
      {"2100", "02", "29", "2100-02-29", {{F::birth_date, E::invalid_date}}},
      {"1990", "02", "30", "1990-02-30", {{F::birth_date, E::invalid_date}}},
      {"1990", "04", "31", "1990-04-31", {{F::birth_date, E::invalid_date}}},
      {"1990", "11", "31", "1990-11-31", {{F::birth_date, E::invalid_date}}},
      // today and the future (JST date injected)
      {"2026", "11", "25", "2026-11-25", {}},
      {"2026", "11", "26", "2026-11-26", {{F::birth_date, E::date_in_future}}},
      {"2026", "12", "01", "2026-12-01", {{F::birth_date, E::date_in_future}}},
      {"2027", "01", "01", "2027-01-01", {{F::birth_date, E::date_in_future}}},
      {"9999", "12", "31", "9999-12-31", {{F::birth_date, E::date_in_future}}},
      // a date that does not exist is reported as such, even in the future
      {"2027", "02", "30", "2027-02-30", {{F::birth_date, E::invalid_date}}},
      // before 1900
      {"1899", "12", "31", "1899-12-31", {{F::birth_year, E::date_out_of_range}}},
      {"0000", "01", "01", "0000-01-01", {{F::birth_year, E::date_out_of_range}}},
      // the year is reported even when month and day are wrong too
      {"1899", "13", "32", "",
       {{F::birth_year, E::date_out_of_range},
        {F::birth_month, E::invalid_format},
        {F::birth_day, E::invalid_format}}},
      // year shape
      {"90", "01", "01", "", {{F::birth_year, E::invalid_format}}},
      {"19900", "01", "01", "", {{F::birth_year, E::invalid_format}}},
      {"199O", "01", "01", "", {{F::birth_year, E::invalid_character}}},
      {"平成2", "01", "01", "", {{F::birth_year, E::invalid_character}}},
      {"-1990", "01", "01", "", {{F::birth_year, E::invalid_character}}},
      // month and day from selects
      {"1990", "00", "01", "", {{F::birth_month, E::invalid_format}}},
      {"1990", "13", "01", "", {{F::birth_month, E::invalid_format}}},
      {"1990", "001", "01", "", {{F::birth_month, E::invalid_format}}},
      {"1990", "1a", "01", "", {{F::birth_month, E::invalid_format}}},
      {"1990", "-1", "01", "", {{F::birth_month, E::invalid_format}}},
      {"1990", "01", "0", "", {{F::birth_day, E::invalid_format}}},
      {"1990", "01", "32", "", {{F::birth_day, E::invalid_format}}},
      {"1990", "01", "３２", "", {{F::birth_day, E::invalid_format}}},
      // empty parts: required on each part's field, all reported
      {"", "01", "01", "", {{F::birth_year, E::required}}},
      {"1990", "", "01", "", {{F::birth_month, E::required}}},
      {"1990", "01", "", "", {{F::birth_day, E::required}}},
      {"",
       "",
       "",
       "",
       {{F::birth_year, E::required}, {F::birth_month, E::required}, {F::birth_day, E::required}}},
      {"  ", "01", "01", "", {{F::birth_year, E::required}}},
      // several parts wrong at once
      {"90",
       "13",
       "",
       "",
       {{F::birth_year, E::invalid_format},
        {F::birth_month, E::invalid_format},
        {F::birth_day, E::required}}},
      // encoding on a part
      {"19\xE3\x81", "01", "01", "", {{F::birth_year, E::invalid_utf8}}},
      {"1990", "0\x01", "01", "", {{F::birth_month, E::control_character}}},
      {"1990", "01", "\xC0\xB1", "", {{F::birth_day, E::invalid_utf8}}},
  };
  for (const auto& c : cases) {
    const FieldResult r = check_birth_date(c.year, c.month, c.day, today);
    const std::string where = c.year + "/" + c.month + "/" + c.day;
    EXPECT_EQ(r.value, c.value) << where;
    EXPECT_EQ(describe(r.errors), describe(c.errors)) << where;
  }
}

TEST(CheckBirthDate, TodayDecidesTheFuture) {
  EXPECT_TRUE(check_birth_date("2024", "02", "29", CivilDate{2024, 2, 29}).ok());
  EXPECT_FALSE(check_birth_date("2024", "02", "29", CivilDate{2024, 2, 28}).ok());
  EXPECT_FALSE(check_birth_date("2024", "01", "01", CivilDate{2023, 12, 31}).ok());
  EXPECT_TRUE(check_birth_date("2023", "12", "31", CivilDate{2024, 1, 1}).ok());
}

}  // namespace
}  // namespace renkei
