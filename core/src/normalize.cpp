#include "renkei/normalize.h"

#include <array>
#include <cstdint>

namespace renkei {
namespace {

// One decoded code point, or why the bytes at this position are not one.
struct Decoded {
  char32_t cp = 0;
  std::size_t length = 0;          // bytes consumed (1 on error, to move on)
  std::optional<ErrorCode> error;  // invalid_utf8 or control_character
};

constexpr bool is_continuation(unsigned char b) {
  return (b & 0xC0) == 0x80;
}

constexpr bool is_control(char32_t cp) {
  return cp <= 0x1F || cp == 0x7F || (cp >= 0x80 && cp <= 0x9F);
}

// Strict UTF-8 decoding per RFC 3629 / Unicode Table 3-7: the ranges of the
// second byte exclude overlong forms (C0, C1, E0 80–9F, F0 80–8F), surrogates
// (ED A0–BF) and code points above U+10FFFF (F4 90–BF, F5–FF).
Decoded decode_at(std::string_view s, std::size_t i) {
  Decoded d;
  const auto b0 = static_cast<unsigned char>(s[i]);
  if (b0 < 0x80) {
    d.cp = b0;
    d.length = 1;
  } else {
    std::size_t need = 0;
    unsigned char lo = 0x80;
    unsigned char hi = 0xBF;
    char32_t cp = 0;
    if (b0 >= 0xC2 && b0 <= 0xDF) {
      need = 1;
      cp = b0 & 0x1F;
    } else if (b0 >= 0xE0 && b0 <= 0xEF) {
      need = 2;
      cp = b0 & 0x0F;
      if (b0 == 0xE0) lo = 0xA0;
      if (b0 == 0xED) hi = 0x9F;
    } else if (b0 >= 0xF0 && b0 <= 0xF4) {
      need = 3;
      cp = b0 & 0x07;
      if (b0 == 0xF0) lo = 0x90;
      if (b0 == 0xF4) hi = 0x8F;
    } else {
      d.length = 1;
      d.error = ErrorCode::invalid_utf8;
      return d;
    }
    if (s.size() - i - 1 < need) {  // truncated sequence
      d.length = 1;
      d.error = ErrorCode::invalid_utf8;
      return d;
    }
    for (std::size_t k = 1; k <= need; ++k) {
      const auto b = static_cast<unsigned char>(s[i + k]);
      if (k == 1 ? (b < lo || b > hi) : !is_continuation(b)) {
        d.length = 1;
        d.error = ErrorCode::invalid_utf8;
        return d;
      }
      cp = (cp << 6) | (b & 0x3F);
    }
    d.cp = cp;
    d.length = need + 1;
  }
  if (is_control(d.cp)) d.error = ErrorCode::control_character;
  return d;
}

void append_utf8(std::string& out, char32_t cp) {
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
}

constexpr char32_t kHalfVoiced = 0xFF9E;      // ﾞ
constexpr char32_t kHalfSemiVoiced = 0xFF9F;  // ﾟ

// Full-width katakana U+30A1..U+30FA → half-width base and mark (0 = none).
// Hiragana U+3041..U+3096 use the same table shifted by 0x60. ヸ (U+30F8) and
// ヹ (U+30F9) have no half-width spelling a bank accepts and are kept as they
// are (the field rules then report them), like the common JS converters do.
struct KanaMapping {
  char16_t base;
  char16_t mark;
};
constexpr char32_t kKatakanaFirst = 0x30A1;
constexpr char32_t kKatakanaLast = 0x30FA;
constexpr KanaMapping V(char16_t b) {
  return {b, static_cast<char16_t>(kHalfVoiced)};
}
constexpr KanaMapping P(char16_t b) {
  return {b, static_cast<char16_t>(kHalfSemiVoiced)};
}
constexpr KanaMapping N(char16_t b) {
  return {b, 0};
}
constexpr std::array<KanaMapping, kKatakanaLast - kKatakanaFirst + 1> kKatakana{{
    N(0xFF67), N(0xFF71),                                   // ァ ア
    N(0xFF68), N(0xFF72),                                   // ィ イ
    N(0xFF69), N(0xFF73),                                   // ゥ ウ
    N(0xFF6A), N(0xFF74),                                   // ェ エ
    N(0xFF6B), N(0xFF75),                                   // ォ オ
    N(0xFF76), V(0xFF76),                                   // カ ガ
    N(0xFF77), V(0xFF77),                                   // キ ギ
    N(0xFF78), V(0xFF78),                                   // ク グ
    N(0xFF79), V(0xFF79),                                   // ケ ゲ
    N(0xFF7A), V(0xFF7A),                                   // コ ゴ
    N(0xFF7B), V(0xFF7B),                                   // サ ザ
    N(0xFF7C), V(0xFF7C),                                   // シ ジ
    N(0xFF7D), V(0xFF7D),                                   // ス ズ
    N(0xFF7E), V(0xFF7E),                                   // セ ゼ
    N(0xFF7F), V(0xFF7F),                                   // ソ ゾ
    N(0xFF80), V(0xFF80),                                   // タ ダ
    N(0xFF81), V(0xFF81),                                   // チ ヂ
    N(0xFF6F),                                              // ッ
    N(0xFF82), V(0xFF82),                                   // ツ ヅ
    N(0xFF83), V(0xFF83),                                   // テ デ
    N(0xFF84), V(0xFF84),                                   // ト ド
    N(0xFF85), N(0xFF86), N(0xFF87), N(0xFF88), N(0xFF89),  // ナ ニ ヌ ネ ノ
    N(0xFF8A), V(0xFF8A), P(0xFF8A),                        // ハ バ パ
    N(0xFF8B), V(0xFF8B), P(0xFF8B),                        // ヒ ビ ピ
    N(0xFF8C), V(0xFF8C), P(0xFF8C),                        // フ ブ プ
    N(0xFF8D), V(0xFF8D), P(0xFF8D),                        // ヘ ベ ペ
    N(0xFF8E), V(0xFF8E), P(0xFF8E),                        // ホ ボ ポ
    N(0xFF8F), N(0xFF90), N(0xFF91), N(0xFF92), N(0xFF93),  // マ ミ ム メ モ
    N(0xFF6C), N(0xFF94),                                   // ャ ヤ
    N(0xFF6D), N(0xFF95),                                   // ュ ユ
    N(0xFF6E), N(0xFF96),                                   // ョ ヨ
    N(0xFF97), N(0xFF98), N(0xFF99), N(0xFF9A), N(0xFF9B),  // ラ リ ル レ ロ
    N(0xFF9C), N(0xFF9C),                                   // ヮ ワ
    N(0xFF72), N(0xFF74),                                   // ヰ ヱ
    N(0xFF66), N(0xFF9D),                                   // ヲ ン
    V(0xFF73),                                              // ヴ
    N(0xFF76), N(0xFF79),                                   // ヵ ヶ
    V(0xFF9C),                                              // ヷ
    N(0x30F8), N(0x30F9),                                   // ヸ ヹ: kept
    V(0xFF66),                                              // ヺ
}};
constexpr char32_t kHiraganaFirst = 0x3041;
constexpr char32_t kHiraganaLast = 0x3096;
constexpr char32_t kHiraganaToKatakana = 0x60;

// Marks and punctuation outside the kana rows.
constexpr std::array<std::pair<char32_t, char32_t>, 10> kKanaSymbols{{
    {0x3099, kHalfVoiced},      // combining voiced mark
    {0x309A, kHalfSemiVoiced},  // combining semi-voiced mark
    {0x309B, kHalfVoiced},      // ゛
    {0x309C, kHalfSemiVoiced},  // ゜
    {0x30FC, 0xFF70},           // ー
    {0x30FB, 0xFF65},           // ・
    {0x300C, 0xFF62},           // 「
    {0x300D, 0xFF63},           // 」
    {0x3002, 0xFF61},           // 。
    {0x3001, 0xFF64},           // 、
}};

// Decodes all of s, calling emit(cp) for each code point; the first encoding
// problem stops the walk and is returned.
template <typename Emit>
std::optional<ErrorCode> for_each_code_point(std::string_view s, Emit&& emit) {
  std::size_t i = 0;
  while (i < s.size()) {
    const Decoded d = decode_at(s, i);
    if (d.error) return d.error;
    emit(d.cp);
    i += d.length;
  }
  return std::nullopt;
}

char32_t halfwidth_ascii(char32_t cp) {
  if (cp >= 0xFF01 && cp <= 0xFF5E) return cp - 0xFEE0;
  if (cp == 0x3000) return U' ';
  if (cp == 0xFFE5) return U'\\';  // ￥: the JIS keyboard's backslash
  return cp;
}

}  // namespace

std::optional<ErrorCode> check_encoding(std::string_view s) {
  return for_each_code_point(s, [](char32_t) {});
}

Normalized to_halfwidth_ascii(std::string_view s) {
  Normalized n;
  n.text.reserve(s.size());
  n.error = for_each_code_point(s, [&](char32_t cp) { append_utf8(n.text, halfwidth_ascii(cp)); });
  if (n.error) n.text.clear();
  return n;
}

Normalized to_halfwidth_kana(std::string_view s) {
  Normalized n;
  n.text.reserve(s.size());
  n.error = for_each_code_point(s, [&](char32_t cp) {
    cp = halfwidth_ascii(cp);
    if (cp >= kHiraganaFirst && cp <= kHiraganaLast) cp += kHiraganaToKatakana;
    if (cp >= kKatakanaFirst && cp <= kKatakanaLast) {
      const KanaMapping& m = kKatakana[cp - kKatakanaFirst];
      append_utf8(n.text, m.base);
      if (m.mark != 0) append_utf8(n.text, m.mark);
      return;
    }
    for (const auto& [from, to] : kKanaSymbols) {
      if (cp == from) {
        append_utf8(n.text, to);
        return;
      }
    }
    append_utf8(n.text, cp);
  });
  if (n.error) n.text.clear();
  return n;
}

std::string collapse_spaces(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  bool pending_space = false;
  for (char c : s) {
    if (c == ' ') {
      pending_space = !out.empty();
      continue;
    }
    if (pending_space) out.push_back(' ');
    pending_space = false;
    out.push_back(c);
  }
  return out;
}

std::string trim_ascii_whitespace(std::string_view s) {
  constexpr std::string_view kWhitespace = "\t\n\f\r ";
  const auto first = s.find_first_not_of(kWhitespace);
  if (first == std::string_view::npos) return {};
  const auto last = s.find_last_not_of(kWhitespace);
  return std::string(s.substr(first, last - first + 1));
}

std::size_t count_code_points(std::string_view s) {
  std::size_t n = 0;
  for (char c : s) {
    if (!is_continuation(static_cast<unsigned char>(c))) ++n;
  }
  return n;
}

}  // namespace renkei
