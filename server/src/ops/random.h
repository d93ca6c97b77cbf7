// Where the server's randomness comes from, injected like the clock (clock.h):
// the pool pick of screen ③ and the ids and secrets a flow makes (flow ids,
// session cookie values, CSRF tokens, grant ids, authorization codes). The
// server runs on the OS CSPRNG; tests may run on a seeded source so that a
// pick can be reproduced.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <random>
#include <string>

namespace renkei::server {

class Randomness {
 public:
  virtual ~Randomness() = default;
  // `bytes` random bytes as base64url without padding (32 bytes = 256 bits:
  // session ids, codes, tokens, CSRF tokens).
  virtual std::string token(std::size_t bytes = 32) = 0;
  // A uniformly random integer in [0, bound); 0 when bound <= 1.
  virtual std::uint64_t below(std::uint64_t bound) = 0;
};

// The OS CSPRNG through OpenSSL (crypto.h random_token, random_below). The
// server's source. Thread-safe.
class SystemRandomness final : public Randomness {
 public:
  std::string token(std::size_t bytes = 32) override;
  std::uint64_t below(std::uint64_t bound) override;
};

// A deterministic source (tests only: its output is predictable from the
// seed, so it must never give a real session or code). The same seed gives
// the same sequence. Thread-safe.
class SeededRandomness final : public Randomness {
 public:
  explicit SeededRandomness(std::uint64_t seed) : engine_(seed) {}
  std::string token(std::size_t bytes = 32) override;
  std::uint64_t below(std::uint64_t bound) override;

 private:
  std::mutex mutex_;
  std::mt19937_64 engine_;
};

}  // namespace renkei::server
