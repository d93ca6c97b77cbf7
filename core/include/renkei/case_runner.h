// One way in for tools and tests: a case is one JSON object (one line of
// input), its result one JSON object (one line of output). The native CLI
// (renkei-cases) and its node twin over the WASM module both call run_case, so
// their outputs can be compared byte for byte. The case format is documented in
// README.md ("Checking the rules by hand").
#pragma once

#include <string>
#include <string_view>

namespace renkei {

// Runs one case. Never throws or aborts on any input: malformed lines give
// {"error":{"code":"bad_request",...}}.
std::string run_case(std::string_view json_line);

}  // namespace renkei
