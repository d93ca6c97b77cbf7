#!/usr/bin/env bash
# Builds the libFuzzer targets (preset fuzz: clang, ASan, UBSan) and runs each
# one for a while on its seed corpus (fuzz/corpus/<target>/).
#
#   bash scripts/fuzz.sh                   # 20 s per target (what CI runs)
#   bash scripts/fuzz.sh --seconds 600     # the longer run before a release
#   bash scripts/fuzz.sh --seconds 60 fuzz_http_handlers   # one target
#   bash scripts/fuzz.sh --build-dir build/fuzz --no-build
#
# New inputs that add coverage go to build/fuzz/corpus/<target>/ (not the
# repository); a crash leaves build/fuzz/artifacts/<target>/crash-* and makes
# this script fail. Reproduce one with: build/fuzz/fuzz/<target> <crash file>.
# Keep a fixed crash in fuzz/corpus/<target>/ as a regression input.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

seconds=20
build_dir=build/fuzz
build=1
targets=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --seconds) seconds="$2"; shift 2 ;;
    --build-dir) build_dir="$2"; shift 2 ;;
    --no-build) build=0; shift ;;
    -h|--help) sed -n '2,14p' "$0"; exit 0 ;;
    *) targets+=("$1"); shift ;;
  esac
done
if [[ ${#targets[@]} -eq 0 ]]; then
  targets=(fuzz_normalize fuzz_forms fuzz_flow_json fuzz_run_case fuzz_http_handlers)
fi

if [[ $build -eq 1 ]]; then
  cmake --preset fuzz -B "$build_dir" >/dev/null
  cmake --build "$build_dir" -j2 --target "${targets[@]}"
fi

export RENKEI_SOURCE_DIR="$PWD"  # the HTTP target serves web/ like the tests
failed=0
for t in "${targets[@]}"; do
  work="$build_dir/corpus/$t"
  artifacts="$build_dir/artifacts/$t/"
  mkdir -p "$work" "$artifacts"
  log="$build_dir/$t.log"
  if "$build_dir/fuzz/$t" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=3072 \
      -print_final_stats=1 -artifact_prefix="$artifacts" "$work" "fuzz/corpus/$t" >"$log" 2>&1; then
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log")
    printf 'fuzz %-20s ok     %8s runs in %ss (%s exec/s)\n' "$t" "${runs:-?}" "$seconds" "${rate:-?}"
  else
    failed=1
    printf 'fuzz %-20s FAILED (log %s)\n' "$t" "$log"
    grep -E 'ERROR|FUZZ_CHECK|SUMMARY|Test unit written' "$log" | head -8 || true
  fi
done
exit $failed
