// renkei-cases: reads one JSON case per line on stdin and writes one JSON result
// per line on stdout (see renkei/case_runner.h). Empty lines are skipped. The
// WASM module's node twin reads the same lines, so the outputs can be compared.
#include <cstdio>
#include <iostream>
#include <string>

#include "renkei/case_runner.h"

int main() {
  std::ios::sync_with_stdio(false);
  std::string line;
  std::string out;
  while (std::getline(std::cin, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty()) continue;
    out = renkei::run_case(line);
    out.push_back('\n');
    std::cout.write(out.data(), static_cast<std::streamsize>(out.size()));
  }
  std::cout.flush();
  return 0;
}
