// OpenSSL behind the small interface of crypto.h. Every function either
// succeeds or throws std::runtime_error (a CSPRNG or digest failure is an
// internal failure the HTTP layer answers with system_error); none of them
// puts secret material into an error message.
#include "ops/crypto.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include <array>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>

namespace renkei::server {
namespace {

using Digest = std::array<unsigned char, SHA256_DIGEST_LENGTH>;

Digest sha256_raw(std::string_view data) {
  Digest out{};
  unsigned int len = 0;
  if (EVP_Digest(data.data(), data.size(), out.data(), &len, EVP_sha256(), nullptr) != 1 ||
      len != out.size()) {
    throw std::runtime_error("crypto: SHA-256 failed");
  }
  return out;
}

Digest hmac_sha256_raw(std::string_view key, std::string_view message) {
  Digest out{};
  unsigned int len = 0;
  // HMAC() accepts a null key pointer only with length 0; pass a valid pointer.
  static const unsigned char kEmpty = 0;
  const void* key_ptr = key.empty() ? static_cast<const void*>(&kEmpty) : key.data();
  if (HMAC(EVP_sha256(), key_ptr, static_cast<int>(key.size()),
           reinterpret_cast<const unsigned char*>(message.data()), message.size(), out.data(),
           &len) == nullptr ||
      len != out.size()) {
    throw std::runtime_error("crypto: HMAC-SHA256 failed");
  }
  return out;
}

std::string_view as_view(const Digest& d) {
  return {reinterpret_cast<const char*>(d.data()), d.size()};
}

void fill_random(void* buffer, std::size_t n) {
  auto* p = static_cast<unsigned char*>(buffer);
  while (n > 0) {
    const int chunk = n > (1u << 20) ? (1 << 20) : static_cast<int>(n);
    if (RAND_bytes(p, chunk) != 1) throw std::runtime_error("crypto: RAND_bytes failed");
    p += chunk;
    n -= static_cast<std::size_t>(chunk);
  }
}

bool is_unreserved(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '.' || c == '_' || c == '~';
}

}  // namespace

std::string random_token(std::size_t bytes) {
  std::string raw(bytes, '\0');
  if (bytes > 0) fill_random(raw.data(), raw.size());
  std::string out = base64url_encode(raw);
  OPENSSL_cleanse(raw.data(), raw.size());
  return out;
}

std::uint64_t random_below(std::uint64_t bound) {
  if (bound <= 1) return 0;
  // Rejection sampling: accept only values below the largest multiple of
  // `bound`, so every residue is equally likely.
  const std::uint64_t limit = UINT64_MAX - (UINT64_MAX % bound);
  for (;;) {
    std::uint64_t v = 0;
    fill_random(&v, sizeof v);
    if (v < limit) return v % bound;
  }
}

std::string sha256_hex(std::string_view data) {
  return hex_encode(as_view(sha256_raw(data)));
}

std::string hmac_sha256_hex(std::string_view key, std::string_view message) {
  return hex_encode(as_view(hmac_sha256_raw(key, message)));
}

std::optional<std::string> base64url_decode(std::string_view text) {
  auto value = [](char c) -> int {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '-') return 62;
    if (c == '_') return 63;
    return -1;
  };
  if (text.size() % 4 == 1) return std::nullopt;
  std::string out;
  out.reserve(text.size() * 3 / 4);
  std::uint32_t acc = 0;
  int bits = 0;
  for (char c : text) {
    const int v = value(c);
    if (v < 0) return std::nullopt;
    acc = (acc << 6) | static_cast<std::uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((acc >> bits) & 0xFF);
    }
  }
  // The bits left over must be zero (one encoding per byte string).
  if (bits > 0 && (acc & ((1u << bits) - 1)) != 0) return std::nullopt;
  return out;
}

std::string base64url_encode(std::string_view bytes) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string out;
  out.reserve((bytes.size() * 4 + 2) / 3);
  std::size_t i = 0;
  for (; i + 3 <= bytes.size(); i += 3) {
    const std::uint32_t v = (std::uint32_t(std::uint8_t(bytes[i])) << 16) |
                            (std::uint32_t(std::uint8_t(bytes[i + 1])) << 8) |
                            std::uint32_t(std::uint8_t(bytes[i + 2]));
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += kAlphabet[(v >> 6) & 63];
    out += kAlphabet[v & 63];
  }
  const std::size_t rest = bytes.size() - i;
  if (rest == 1) {
    const std::uint32_t v = std::uint32_t(std::uint8_t(bytes[i])) << 16;
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
  } else if (rest == 2) {
    const std::uint32_t v = (std::uint32_t(std::uint8_t(bytes[i])) << 16) |
                            (std::uint32_t(std::uint8_t(bytes[i + 1])) << 8);
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += kAlphabet[(v >> 6) & 63];
  }
  return out;
}

std::string hex_encode(std::string_view bytes) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (char c : bytes) {
    const auto b = static_cast<std::uint8_t>(c);
    out += kHex[b >> 4];
    out += kHex[b & 15];
  }
  return out;
}

bool constant_time_equal(std::string_view a, std::string_view b) {
  // Comparing fixed-size digests makes the comparison itself independent of
  // both the content and the lengths: no early exit on a length difference.
  const Digest da = sha256_raw(a);
  const Digest db = sha256_raw(b);
  const int content_differs = CRYPTO_memcmp(da.data(), db.data(), da.size()) != 0;
  const int length_differs = a.size() != b.size();
  return (content_differs | length_differs) == 0;
}

std::string pin_digest(std::string_view key, std::string_view account_key, std::string_view pin) {
  std::string message;
  message.reserve(account_key.size() + 1 + pin.size());
  message.append(account_key).append(":").append(pin);
  std::string out = hmac_sha256_hex(key, message);
  OPENSSL_cleanse(message.data(), message.size());
  return out;
}

bool is_valid_pkce_verifier(std::string_view verifier) {
  if (verifier.size() < 43 || verifier.size() > 128) return false;
  for (char c : verifier) {
    if (!is_unreserved(c)) return false;
  }
  return true;
}

bool verify_pkce_s256(std::string_view verifier, std::string_view challenge) {
  if (!is_valid_pkce_verifier(verifier)) return false;
  return constant_time_equal(base64url_encode(as_view(sha256_raw(verifier))), challenge);
}

}  // namespace renkei::server
