// The two sources of random.h.
#include "ops/random.h"

#include "ops/crypto.h"

namespace renkei::server {

std::string SystemRandomness::token(std::size_t bytes) { return random_token(bytes); }

std::uint64_t SystemRandomness::below(std::uint64_t bound) { return random_below(bound); }

std::string SeededRandomness::token(std::size_t bytes) {
  std::string raw(bytes, '\0');
  {
    std::lock_guard<std::mutex> lock(mutex_);
    for (char& c : raw) c = static_cast<char>(engine_() & 0xff);
  }
  return base64url_encode(raw);
}

std::uint64_t SeededRandomness::below(std::uint64_t bound) {
  if (bound <= 1) return 0;
  // The same rejection sampling as random_below: no modulo bias.
  const std::uint64_t limit = UINT64_MAX - (UINT64_MAX % bound);
  std::lock_guard<std::mutex> lock(mutex_);
  for (;;) {
    const std::uint64_t v = engine_();
    if (v < limit) return v % bound;
  }
}

}  // namespace renkei::server
