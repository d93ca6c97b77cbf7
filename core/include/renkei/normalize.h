// Normalization of what customers type (SPEC §3). Japanese input arrives from
// IMEs in full width, as hiragana, with combining marks; the bank's fields want
// half-width digits, ASCII and half-width katakana. Conversions here never drop
// a character: whatever a field cannot hold is reported by the field rules.
//
// NFKC is deliberately not used: it maps half-width katakana back to full width.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "renkei/error.h"

namespace renkei {

// Result of a conversion: the converted text, or the first encoding problem.
struct Normalized {
  std::string text;                 // UTF-8; empty when error is set
  std::optional<ErrorCode> error;   // invalid_utf8 or control_character
};

// Checks that s is well-formed UTF-8 (no overlong forms, no surrogates, nothing
// above U+10FFFF) without NUL or control characters (U+0000–U+001F, U+007F,
// U+0080–U+009F). Returns nullopt when fine.
std::optional<ErrorCode> check_encoding(std::string_view s);

// Full-width ASCII variants (U+FF01–U+FF5E) → ASCII, U+3000 → space, and the
// usual IME look-alikes of ASCII symbols (￥→\, ‐‑–—―−ｰー between digits is NOT
// handled here; see normalize_phone). Everything else is kept as it is.
Normalized to_halfwidth_ascii(std::string_view s);

// For the kana name: to_halfwidth_ascii, then hiragana and full-width katakana
// → half-width katakana with voiced/semi-voiced marks split (ガ→ｶﾞ, パ→ﾊﾟ,
// ヴ→ｳﾞ, ゔ→ｳﾞ), U+3099/U+309B → ﾞ, U+309A/U+309C → ﾟ, ー→ｰ, ヰ→ｲ, ヱ→ｴ,
// ヵ→ｶ, ヶ→ｹ, ヮ→ﾜ (and the hiragana ゐゑゕゖゎ likewise), small kana to their
// half-width small forms (ァ→ｧ …), ・→･, 「」→｢｣, 。→｡, 、→､.
Normalized to_halfwidth_kana(std::string_view s);

// Trims ASCII spaces at both ends and collapses runs of spaces to one.
std::string collapse_spaces(std::string_view s);

// Trims ASCII whitespace (TAB, LF, FF, CR, space) at both ends, as WHATWG does
// for <input type=email>. The e-mail fields apply it before the
// control-character checks (and again after full width → half width).
std::string trim_ascii_whitespace(std::string_view s);

// Number of Unicode code points in valid UTF-8.
std::size_t count_code_points(std::string_view s);

}  // namespace renkei
