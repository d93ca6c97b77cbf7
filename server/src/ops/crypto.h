// Small, audited wrappers over OpenSSL for what the server needs: unguessable
// ids, digests of secrets (session ids, codes, tokens are stored only as
// digests), the PIN's keyed hash, webhook signatures and PKCE.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace renkei::server {

// `bytes` random bytes from the OS CSPRNG (RAND_bytes), base64url without padding.
// 32 bytes = 256 bits: session ids, codes, tokens, CSRF tokens.
std::string random_token(std::size_t bytes = 32);
// A uniformly random integer in [0, bound) from the CSPRNG (no modulo bias).
std::uint64_t random_below(std::uint64_t bound);

std::string sha256_hex(std::string_view data);
std::string hmac_sha256_hex(std::string_view key, std::string_view message);
std::string base64url_encode(std::string_view bytes);  // no padding
// Strict: the base64url alphabet without padding, no whitespace, and no
// leftover bits (a length of 4k+1 or non-zero trailing bits are refused).
std::optional<std::string> base64url_decode(std::string_view text);
std::string hex_encode(std::string_view bytes);

// Compares in time independent of where the inputs differ (CRYPTO_memcmp);
// different lengths compare unequal without early exit on content.
bool constant_time_equal(std::string_view a, std::string_view b);

// The digest stored for a bearer secret (session id, code, token, admin token).
inline std::string secret_digest(std::string_view secret) { return sha256_hex(secret); }

// The PIN's keyed hash: HMAC-SHA256(key, account-id || ":" || pin), hex. Keyed
// with a server-side secret because a 4-digit PIN space is too small for any
// unkeyed or slow hash to protect; the account id salts it per card.
std::string pin_digest(std::string_view key, std::string_view account_key, std::string_view pin);

// RFC 7636 S256: base64url(SHA256(verifier)) == challenge, with the verifier's
// syntax checked (43–128 chars of [A-Za-z0-9-._~]).
bool verify_pkce_s256(std::string_view verifier, std::string_view challenge);
bool is_valid_pkce_verifier(std::string_view verifier);

}  // namespace renkei::server
