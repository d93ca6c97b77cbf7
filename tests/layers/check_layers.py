#!/usr/bin/env python3
"""The server's layer rule, checked on its sources: a dependency points down.

    store/   (SQLite, PostgreSQL)         may include: store/, renkei/ (the core)
    domain   ops/, records/, and the HTTP-free services of flow/, oauth/,
             admin/ (every file of those folders not named *_routes.* and not
             listed in HTTP_FILES)        may include: the above, never httplib
                                          or http/
    http     http/, *_routes.cpp, HTTP_FILES, main.cpp   may include anything

CMake mirrors this with three libraries (server/CMakeLists.txt: renkei_store,
renkei_domain, renkei_http); this check exists because httplib.h and every
header sit on the include path of every library, so only a look at the
sources can tell that a store file reached up into the flow, or a service
into HTTP. Exit status 1 and one line per breach otherwise.
"""
import pathlib
import re
import sys

ROOT = pathlib.Path(__file__).resolve().parents[2] / "server" / "src"
INCLUDE = re.compile(r'^\s*#\s*include\s*[<"]([^>"]+)[>"]', re.M)

# Files of domain folders that still speak HTTP (request parsing, cookies):
# they are part of the http layer even though they live beside their domain.
HTTP_FILES = {
    "flow/flow_session.h",
    "flow/telephony.cpp",
    "oauth/oauth.cpp",
}


def layer_of(rel: str) -> str:
    if rel.startswith("store/"):
        return "store"
    if rel.startswith("http/") or rel == "main.cpp" or rel in HTTP_FILES:
        return "http"
    if pathlib.PurePosixPath(rel).stem.endswith("_routes"):
        return "http"
    return "domain"


def breaches(rel: str, text: str):
    me = layer_of(rel)
    for inc in INCLUDE.findall(text):
        if me == "store":
            if inc.startswith(("ops/", "records/", "flow/", "oauth/", "admin/", "http/")):
                yield f"{rel}: the store layer includes {inc} (a layer above it)"
            if inc == "httplib.h":
                yield f"{rel}: the store layer includes httplib.h"
        elif me == "domain":
            if inc == "httplib.h" or inc.startswith("http/"):
                yield f"{rel}: a domain file includes {inc} (the http layer)"
            elif (ROOT / inc).exists() and layer_of(inc) == "http":
                yield f"{rel}: a domain file includes {inc} (it belongs to the http layer)"


def self_test() -> int:
    """The check can fail: each known breach is reported, each allowed include is not."""
    cases = [
        ("store/sqlite/x.cpp", '#include "flow/flow_session.h"\n', 1),
        ("store/x.cpp", "#include <httplib.h>\n", 1),
        ("records/x.cpp", "#include <httplib.h>\n", 1),
        ("ops/x.cpp", '#include "http/http_util.h"\n', 1),
        ("flow/flow_service.cpp", '#include "flow/flow_session.h"\n', 1),
        ("flow/flow_routes.cpp", '#include <httplib.h>\n#include "store/storage.h"\n', 0),
        ("records/x.cpp", '#include "store/storage.h"\n#include "ops/crypto.h"\n', 0),
        ("store/x.cpp", '#include "store/storage.h"\n#include "renkei/flow.h"\n', 0),
    ]
    bad = 0
    for rel, text, want in cases:
        got = len(list(breaches(rel, text)))
        if got != want:
            print(f"self-test: {rel} with {text.strip()!r}: {got} breaches, expected {want}")
            bad += 1
    print(f"check_layers self-test: {len(cases)} cases, {bad} wrong")
    return 1 if bad else 0


def main() -> int:
    if sys.argv[1:] == ["--self-test"]:
        return self_test()
    found = []
    files = sorted(p for p in ROOT.rglob("*") if p.suffix in (".h", ".cpp"))
    if not files:
        print(f"check_layers: no sources under {ROOT}", file=sys.stderr)
        return 1
    for path in files:
        rel = path.relative_to(ROOT).as_posix()
        found.extend(breaches(rel, path.read_text(encoding="utf-8")))
    for line in found:
        print(line)
    counts = {}
    for path in files:
        layer = layer_of(path.relative_to(ROOT).as_posix())
        counts[layer] = counts.get(layer, 0) + 1
    print(f"check_layers: {len(files)} files ({counts}), {len(found)} breaches")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
