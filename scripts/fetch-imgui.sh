#!/usr/bin/env bash
# Gets Dear ImGui's sources for the console's WASM build from Debian's source
# package (TOOLCHAIN.md: libimgui-dev ships headers and a native library only)
# and unpacks them into a build folder. Never into the repository: the sources
# are third-party code and are not committed.
#
#   bash scripts/fetch-imgui.sh <dest-folder>
#
# Leaves <dest-folder>/imgui/{imgui.h,imgui.cpp,…,backends/} and prints that
# path. Does nothing when it is already there. Needs a deb-src entry for
# Debian's suites (scripts/setup.sh writes one) and dpkg-dev to unpack (falls
# back to tar on the .orig tarball). Exits non-zero, saying why, when the
# sources cannot be had; the console's CMake then skips the console.
set -euo pipefail

dest="${1:?usage: fetch-imgui.sh <dest-folder>}"
mkdir -p "$dest"
dest="$(cd "$dest" && pwd)"
out="$dest/imgui"

if [[ -f "$out/imgui.h" && -f "$out/backends/imgui_impl_glfw.cpp" ]]; then
  echo "$out"
  exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
  echo "fetch-imgui.sh: apt-get not found (Debian's source package is the only source used)" >&2
  exit 1
fi

download="$dest/imgui-download"
rm -rf "$download"
mkdir -p "$download"
# apt-get source needs no root: it downloads into the current folder. Only the
# files of the source package are fetched; nothing is built or installed.
if ! (cd "$download" && apt-get source --download-only imgui >"$download/apt.log" 2>&1); then
  echo "fetch-imgui.sh: 'apt-get source --download-only imgui' failed:" >&2
  tail -n 5 "$download/apt.log" >&2
  echo "fetch-imgui.sh: is there a deb-src entry (bash scripts/setup.sh writes one) and has 'apt-get update' run since?" >&2
  exit 1
fi

dsc="$(ls "$download"/imgui_*.dsc 2>/dev/null | head -n 1 || true)"
orig="$(ls "$download"/imgui_*.orig.tar.* 2>/dev/null | head -n 1 || true)"
tmp="$dest/imgui.tmp"
rm -rf "$tmp"
if [[ -n "$dsc" ]] && command -v dpkg-source >/dev/null 2>&1; then
  # Applies Debian's patches too (1.86+ds-1: only a Makefile is added).
  (cd "$download" && dpkg-source --no-check -x "$dsc" "$tmp" >/dev/null)
elif [[ -n "$orig" ]]; then
  mkdir -p "$tmp"
  tar -xf "$orig" -C "$tmp" --strip-components=1
else
  echo "fetch-imgui.sh: the download holds no .dsc or .orig tarball" >&2
  exit 1
fi

for f in imgui.h imgui.cpp imgui_draw.cpp imgui_tables.cpp imgui_widgets.cpp \
         backends/imgui_impl_glfw.cpp backends/imgui_impl_opengl3.cpp; do
  if [[ ! -f "$tmp/$f" ]]; then
    echo "fetch-imgui.sh: $f is missing from Debian's imgui source package" >&2
    exit 1
  fi
done
rm -rf "$out"
mv "$tmp" "$out"
echo "$out"
