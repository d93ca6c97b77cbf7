#!/usr/bin/env bash
# Subsets Debian's IPAGothic to what the console draws, so that the console's
# bundle stays small (issue 5): ASCII, the kana blocks (a customer's kana name
# as recorded may hold any of them, full- or half-width), CJK punctuation, the
# circled numbers of the screens, and every other character written in the
# given source files (the core's catalog, screen titles and labels, the
# console's own labels, the clients' display names from configuration).
#
#   bash scripts/subset-font.sh <out.ttf> <source-file>...
#
# Needs fonts-ipafont-gothic and pyftsubset (python3-fonttools, run as a module).
set -euo pipefail

out="${1:?usage: subset-font.sh <out.ttf> <source-file>...}"
shift
# Debian's python3, where python3-fonttools lives (a pyenv or venv python
# earlier on PATH would not see it).
py="${RENKEI_PYTHON:-/usr/bin/python3}"
font="${RENKEI_CONSOLE_FONT:-/usr/share/fonts/opentype/ipafont-gothic/ipag.ttf}"
if [[ ! -f "$font" ]]; then
  echo "subset-font.sh: $font not found (apt-get install fonts-ipafont-gothic)" >&2
  exit 1
fi
# pyftsubset is fontTools.subset; the module needs only python3-fonttools
# (Debian's "fonttools" package would add just the command-line wrappers).
if ! "$py" -c 'import fontTools.subset' >/dev/null 2>&1; then
  echo "subset-font.sh: python3 fontTools not found (apt-get install python3-fonttools)" >&2
  exit 1
fi

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

# Every non-ASCII character of the given files, once.
"$py" - "$tmp/chars.txt" "$@" <<'PY'
import sys
chars = set()
for path in sys.argv[2:]:
    with open(path, encoding="utf-8", errors="ignore") as f:
        chars.update(c for c in f.read() if ord(c) > 0x7E)
with open(sys.argv[1], "w", encoding="utf-8") as f:
    f.write("".join(sorted(chars)))
PY

# U+0020-007E ASCII, U+00A0-00FF Latin-1 (©, ×), U+2010-2027 dashes and
# quotes, U+2190-2193 arrows, U+2460-2473 ①-⑳, U+25A0-25CF shapes,
# U+3000-30FF CJK punctuation, hiragana, katakana, U+FF01-FF9F full-width
# ASCII and half-width kana.
"$py" -m fontTools.subset "$font" \
  --output-file="$out" \
  --text-file="$tmp/chars.txt" \
  --unicodes="U+0020-007E,U+00A0-00FF,U+2010-2027,U+2190-2193,U+2460-2473,U+25A0-25CF,U+3000-30FF,U+FF01-FF9F" \
  --no-hinting \
  --desubroutinize \
  --layout-features='' \
  --name-IDs='0,1,2,3,4,5,6' \
  --drop-tables+=vhea,vmtx,VORG,GSUB,GPOS,GDEF \
  --notdef-outline
echo "subset-font.sh: $(wc -c <"$out") bytes, $("$py" -c 'import sys;print(len(open(sys.argv[1],encoding="utf-8").read()))' "$tmp/chars.txt") characters from the sources" >&2
