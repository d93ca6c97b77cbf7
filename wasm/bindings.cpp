// The WASM module's whole interface (embind):
//   runCase(line: string | Uint8Array) -> string   one JSON case in, one JSON result out
//   version() -> string                            the project version, e.g. "0.1.0"
// runCase is renkei::run_case unchanged, so the node twin of the native CLI and
// the browser produce byte-identical output to the native build. A Uint8Array
// argument is passed through as raw bytes (embind copies it unchanged), which
// lets tests feed the exact bytes a native process would read.
#include <emscripten/bind.h>

#include <string>

#include "renkei/case_runner.h"

#ifndef RENKEI_VERSION
#define RENKEI_VERSION "unknown"
#endif

namespace {

std::string run_case_binding(const std::string& line) { return renkei::run_case(line); }

std::string version_binding() { return RENKEI_VERSION; }

}  // namespace

EMSCRIPTEN_BINDINGS(renkei_core) {
  emscripten::function("runCase", &run_case_binding);
  emscripten::function("version", &version_binding);
}
