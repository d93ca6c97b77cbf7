#!/usr/bin/env bash
# The main job. For now: the core's command-line demo. Each case in
# tests/parity/demo.jsonl goes through the native renkei-cases CLI (the same
# run_case the WASM module exposes) and is shown with its result.
# (A later issue replaces this with the HTTP server.)
#
#   bash scripts/start.sh
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

bash scripts/setup.sh
cmake --preset native >/dev/null
cmake --build --preset native -j2 --target renkei-cases

demo=tests/parity/demo.jsonl
# Prints each case (its "id" as the title) and its result, indented.
read -r -d '' show_results <<'PY' || true
import json, sys
with open(sys.argv[1], encoding="utf-8") as f:
    cases = [line for line in f.read().splitlines() if line.strip()]
results = sys.stdin.read().splitlines()
for i, (case, result) in enumerate(zip(cases, results), 1):
    c, r = json.loads(case), json.loads(result)
    title = c.pop("id", "") if isinstance(c, dict) else ""
    if isinstance(r, dict):
        r.pop("id", None)
    print(f"\n=== {i}. {title}")
    print("case:  ", json.dumps(c, ensure_ascii=False))
    print("result:", json.dumps(r, ensure_ascii=False, indent=2).replace("\n", "\n        "))
if len(cases) != len(results):
    sys.exit(f"{len(cases)} cases but {len(results)} results")
PY

build/native/tools/renkei-cases <"$demo" | python3 -c "$show_results" "$demo"
