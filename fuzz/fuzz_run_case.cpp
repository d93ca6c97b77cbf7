// run_case on arbitrary bytes: it must never crash, throw or abort, and its
// answer is always one JSON object (README: "Checking the rules by hand").
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz_check.h"
#include "renkei/case_runner.h"
#include "renkei/json.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string out = renkei::run_case(std::string_view(reinterpret_cast<const char*>(data), size));
  std::optional<nlohmann::json> j = renkei::parse_json(out, 256);
  FUZZ_CHECK(j.has_value() && j->is_object());
  FUZZ_CHECK(out.find('\n') == std::string::npos);
  return 0;
}
