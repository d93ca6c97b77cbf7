// crypto.h against published test vectors (FIPS 180-2, RFC 4231, RFC 4648,
// RFC 7636) and the properties the server relies on.
#include "ops/crypto.h"

#include <gtest/gtest.h>

#include <cctype>
#include <cstdint>
#include <set>
#include <string>

namespace renkei::server {
namespace {

TEST(Crypto, Sha256KnownVectors) {
  EXPECT_EQ(sha256_hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(sha256_hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(sha256_hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  EXPECT_EQ(secret_digest("abc"), sha256_hex("abc"));
}

TEST(Crypto, HmacSha256Rfc4231) {
  // Test case 1.
  EXPECT_EQ(hmac_sha256_hex(std::string(20, '\x0b'), "Hi There"),
            "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
  // Test case 2: a key shorter than the block.
  EXPECT_EQ(hmac_sha256_hex("Jefe", "what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
  // Test case 6: a key longer than the block (hashed first).
  EXPECT_EQ(hmac_sha256_hex(std::string(131, '\xaa'),
                            "Test Using Larger Than Block-Size Key - Hash Key First"),
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
}

TEST(Crypto, HmacWithEmptyKeyWorks) {
  // Well defined (RFC 2104 pads the key with zeros); must not crash.
  EXPECT_EQ(hmac_sha256_hex("", "").size(), 64u);
}

TEST(Crypto, Base64urlRfc4648WithoutPadding) {
  EXPECT_EQ(base64url_encode(""), "");
  EXPECT_EQ(base64url_encode("f"), "Zg");
  EXPECT_EQ(base64url_encode("fo"), "Zm8");
  EXPECT_EQ(base64url_encode("foo"), "Zm9v");
  EXPECT_EQ(base64url_encode("foob"), "Zm9vYg");
  EXPECT_EQ(base64url_encode("fooba"), "Zm9vYmE");
  EXPECT_EQ(base64url_encode("foobar"), "Zm9vYmFy");
  // The URL-safe alphabet: '+' → '-', '/' → '_'.
  EXPECT_EQ(base64url_encode("\xfb\xff\xbf"), "-_-_");
  EXPECT_EQ(base64url_encode("\xfb\xff"), "-_8");
}

TEST(Crypto, HexEncode) {
  EXPECT_EQ(hex_encode(""), "");
  EXPECT_EQ(hex_encode(std::string("\x00\x01\xab\xff", 4)), "0001abff");
}

TEST(Crypto, PkceS256Rfc7636AppendixB) {
  // The pair printed in RFC 7636 Appendix B (checked with
  // `printf %s <verifier> | openssl dgst -sha256 -binary | basenc --base64url`).
  const std::string verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
  const std::string challenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
  EXPECT_EQ(sha256_hex(verifier),
            "13d31e961a1ad8ec2f16b10c4c982e0876a878ad6df144566ee1894acb70f9c3");
  EXPECT_TRUE(is_valid_pkce_verifier(verifier));
  EXPECT_TRUE(verify_pkce_s256(verifier, challenge));
  EXPECT_FALSE(verify_pkce_s256(verifier, "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cN"));
  // A one-character change of the verifier changes the challenge.
  EXPECT_FALSE(verify_pkce_s256("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXl", challenge));
  EXPECT_FALSE(verify_pkce_s256(verifier, ""));
  // "plain" is not accepted: the verifier itself is not a valid challenge.
  EXPECT_FALSE(verify_pkce_s256(verifier, verifier));
}

TEST(Crypto, PkceVerifierSyntax) {
  EXPECT_FALSE(is_valid_pkce_verifier(std::string(42, 'a')));
  EXPECT_TRUE(is_valid_pkce_verifier(std::string(43, 'a')));
  EXPECT_TRUE(is_valid_pkce_verifier(std::string(128, 'a')));
  EXPECT_FALSE(is_valid_pkce_verifier(std::string(129, 'a')));
  EXPECT_TRUE(is_valid_pkce_verifier(std::string(40, 'a') + "-._~"));
  EXPECT_FALSE(is_valid_pkce_verifier(std::string(42, 'a') + "+"));
  EXPECT_FALSE(is_valid_pkce_verifier(std::string(42, 'a') + "="));
  EXPECT_FALSE(is_valid_pkce_verifier(std::string(42, 'a') + " "));
  // An invalid verifier fails even when its digest matches the challenge.
  const std::string bad = std::string(42, 'a') + "+";
  EXPECT_FALSE(verify_pkce_s256(bad, base64url_encode(std::string(32, '\0'))));
}

TEST(Crypto, RandomTokensHaveTheRightLengthAndAlphabet) {
  EXPECT_EQ(random_token().size(), 43u);  // 32 bytes
  EXPECT_EQ(random_token(16).size(), 22u);
  EXPECT_EQ(random_token(1).size(), 2u);
  EXPECT_EQ(random_token(0), "");
  const std::string t = random_token(48);
  EXPECT_EQ(t.size(), 64u);
  for (char c : t) {
    EXPECT_TRUE(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_') << c;
  }
}

TEST(Crypto, RandomTokensAreDistinct) {
  std::set<std::string> seen;
  for (int i = 0; i < 2000; ++i) seen.insert(random_token());
  EXPECT_EQ(seen.size(), 2000u);
}

TEST(Crypto, RandomBelowStaysInRangeAndCoversIt) {
  EXPECT_EQ(random_below(0), 0u);
  EXPECT_EQ(random_below(1), 0u);
  std::set<std::uint64_t> seen;
  for (int i = 0; i < 2000; ++i) {
    const auto v = random_below(7);
    ASSERT_LT(v, 7u);
    seen.insert(v);
  }
  EXPECT_EQ(seen.size(), 7u);
  // A bound that is not a power of two near the top of the range.
  const std::uint64_t big = (std::uint64_t{1} << 63) + 12345;
  for (int i = 0; i < 100; ++i) EXPECT_LT(random_below(big), big);
}

TEST(Crypto, ConstantTimeEqual) {
  EXPECT_TRUE(constant_time_equal("", ""));
  EXPECT_TRUE(constant_time_equal("secret", "secret"));
  EXPECT_FALSE(constant_time_equal("secret", "secreT"));
  EXPECT_FALSE(constant_time_equal("Secret", "secret"));
  EXPECT_FALSE(constant_time_equal("secret", "secret2"));
  EXPECT_FALSE(constant_time_equal("secret", "secre"));
  EXPECT_FALSE(constant_time_equal("", "x"));
  EXPECT_FALSE(constant_time_equal(std::string("a\0b", 3), std::string("a\0c", 3)));
  EXPECT_TRUE(constant_time_equal(std::string("a\0b", 3), std::string("a\0b", 3)));
}

TEST(Crypto, PinDigestIsKeyedAndSaltedByAccount) {
  const std::string d = pin_digest("k", "115-ordinary-1100026", "1234");
  EXPECT_EQ(d, hmac_sha256_hex("k", "115-ordinary-1100026:1234"));
  EXPECT_EQ(d.size(), 64u);
  EXPECT_NE(d, pin_digest("other-key", "115-ordinary-1100026", "1234"));
  EXPECT_NE(d, pin_digest("k", "115-ordinary-1100027", "1234"));
  EXPECT_NE(d, pin_digest("k", "115-ordinary-1100026", "1235"));
}

}  // namespace
}  // namespace renkei::server
