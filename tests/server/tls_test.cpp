// The server over HTTPS (config tls_cert_file/tls_key_file → httplib::SSLServer):
// a throwaway self-signed certificate for 127.0.0.1 made at test time with the
// OpenSSL C API, an SSLClient that verifies it, the session cookie marked
// Secure (at /authorize and after the rotation at ②), HSTS over TLS only.
#include <gtest/gtest.h>
#include <httplib.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <thread>

#include "flow_client.h"
#include "oauth_test_support.h"
#include "test_server.h"

namespace renkei::server::testing {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

// ---------- a self-signed certificate ----------

struct PemFiles {
  fs::path dir;
  std::string cert;
  std::string key;
};

template <typename T, void (*Free)(T*)>
struct Deleter {
  void operator()(T* p) const { Free(p); }
};
using PkeyPtr = std::unique_ptr<EVP_PKEY, Deleter<EVP_PKEY, EVP_PKEY_free>>;
using X509Ptr = std::unique_ptr<X509, Deleter<X509, X509_free>>;
using ExtPtr = std::unique_ptr<X509_EXTENSION, Deleter<X509_EXTENSION, X509_EXTENSION_free>>;

bool add_extension(X509* cert, int nid, const char* value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, cert, cert, nullptr, nullptr, 0);
  ExtPtr ext(X509V3_EXT_conf_nid(nullptr, &ctx, nid, value));
  return ext && X509_add_ext(cert, ext.get(), -1) == 1;
}

bool write_pem(const fs::path& path, bool (*write)(FILE*, EVP_PKEY*, X509*), EVP_PKEY* key,
               X509* cert) {
  FILE* f = std::fopen(path.c_str(), "w");
  if (!f) return false;
  bool ok = write(f, key, cert);
  return std::fclose(f) == 0 && ok;
}

// An EC P-256 key and a certificate for CN=127.0.0.1 with subjectAltName
// IP:127.0.0.1, valid from an hour ago for a day, written as PEM into a fresh
// temporary folder. nullopt (with a test failure) when OpenSSL refuses.
std::optional<PemFiles> make_self_signed() {
  std::string tmpl = (fs::temp_directory_path() / "renkei-tls-XXXXXX").string();
  if (!mkdtemp(tmpl.data())) {
    ADD_FAILURE() << "mkdtemp failed";
    return std::nullopt;
  }
  PemFiles files{tmpl, tmpl + "/cert.pem", tmpl + "/key.pem"};

  PkeyPtr key(EVP_EC_gen("P-256"));
  X509Ptr cert(X509_new());
  if (!key || !cert) {
    ADD_FAILURE() << "key or certificate allocation failed";
    return std::nullopt;
  }
  X509_NAME* name = X509_get_subject_name(cert.get());
  bool ok = X509_set_version(cert.get(), 2) == 1 &&
            ASN1_INTEGER_set(X509_get_serialNumber(cert.get()), 1) == 1 &&
            X509_gmtime_adj(X509_getm_notBefore(cert.get()), -3600) != nullptr &&
            X509_gmtime_adj(X509_getm_notAfter(cert.get()), 24 * 3600) != nullptr &&
            X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                                       reinterpret_cast<const unsigned char*>("127.0.0.1"), -1, -1,
                                       0) == 1 &&
            X509_set_issuer_name(cert.get(), name) == 1 &&
            X509_set_pubkey(cert.get(), key.get()) == 1 &&
            add_extension(cert.get(), NID_basic_constraints, "critical,CA:TRUE") &&
            add_extension(cert.get(), NID_subject_key_identifier, "hash") &&
            add_extension(cert.get(), NID_subject_alt_name, "IP:127.0.0.1") &&
            X509_sign(cert.get(), key.get(), EVP_sha256()) > 0;
  ok = ok &&
       write_pem(
           files.key,
           [](FILE* f, EVP_PKEY* k, X509*) {
             return PEM_write_PrivateKey(f, k, nullptr, nullptr, 0, nullptr, nullptr) == 1;
           },
           key.get(), cert.get()) &&
       write_pem(
           files.cert, [](FILE* f, EVP_PKEY*, X509* c) { return PEM_write_X509(f, c) == 1; },
           key.get(), cert.get());
  if (!ok) {
    ADD_FAILURE() << "self-signed certificate could not be made";
    std::error_code ec;
    fs::remove_all(files.dir, ec);
    return std::nullopt;
  }
  return files;
}

// ---------- the fixture ----------

class TlsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    pem_ = make_self_signed();
    ASSERT_TRUE(pem_.has_value());
    ServerConfig c = test_config();
    c.tls_cert_file = pem_->cert;
    c.tls_key_file = pem_->key;
    server_ = std::make_unique<TestServer>(std::move(c));
  }
  void TearDown() override {
    server_.reset();
    if (pem_) {
      std::error_code ec;
      fs::remove_all(pem_->dir, ec);
    }
  }

  // A client that trusts only the generated certificate and verifies it
  // (chain and the IP address in subjectAltName).
  // (httplib's clients are neither copyable nor movable.)
  std::unique_ptr<httplib::SSLClient> https() const {
    auto c = std::make_unique<httplib::SSLClient>("127.0.0.1", server_->port());
    c->set_ca_cert_path(pem_->cert.c_str());
    c->enable_server_certificate_verification(true);
    c->set_connection_timeout(5, 0);
    c->set_read_timeout(10, 0);
    return c;
  }

  std::optional<PemFiles> pem_;
  std::unique_ptr<TestServer> server_;
};

// The customer's browser of oauth_test_support.h (FlowBrowser), over HTTPS.
class TlsBrowser {
 public:
  explicit TlsBrowser(std::unique_ptr<httplib::SSLClient> http) : http_(std::move(http)) {}

  httplib::Result get(const std::string& path) {
    auto r = http_->Get(path.c_str(), headers(false));
    if (r) take(*r);
    return r;
  }
  httplib::Result post(const std::string& path, const json& body) {
    auto r = http_->Post(path.c_str(), headers(true), body.dump(), "application/json");
    if (r) take(*r);
    return r;
  }
  const std::string& session() const { return session_; }

 private:
  httplib::Headers headers(bool with_csrf) const {
    httplib::Headers h;
    if (!session_.empty()) h.emplace("Cookie", "__Host-renkei_session=" + session_);
    if (with_csrf && !csrf_.empty()) h.emplace("X-CSRF-Token", csrf_);
    return h;
  }
  void take(const httplib::Response& r) {
    std::string v = cookie_value_of(r, "__Host-renkei_session");
    if (!v.empty()) session_ = v;
    json j = json::parse(r.body, nullptr, false);
    if (j.is_object() && j.contains("csrf_token") && j["csrf_token"].is_string()) {
      csrf_ = j["csrf_token"].get<std::string>();
    }
  }
  std::unique_ptr<httplib::SSLClient> http_;
  std::string session_;
  std::string csrf_;
};

std::string screen_of(const httplib::Result& r) {
  json j = json::parse(r->body, nullptr, false);
  if (j.is_object() && j.contains("flow") && j["flow"].is_object()) {
    return j["flow"].value("screen", "");
  }
  return "";
}

std::string demo_authorize_path() {
  AuthorizeRequest a;
  a.challenge = make_pkce().challenge;
  return authorize_path(a);
}

// ---------- the tests ----------

TEST_F(TlsTest, HealthzAnswersOverVerifiedHttps) {
  auto http = https();
  auto r = http->Get("/healthz");
  ASSERT_TRUE(r) << httplib::to_string(r.error());
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(json::parse(r->body, nullptr, false).value("status", ""), "ok") << r->body;
  EXPECT_EQ(http->get_openssl_verify_result(), X509_V_OK);
}

TEST_F(TlsTest, ClientTrustingAnotherCertificateIsRefused) {
  auto other = make_self_signed();
  ASSERT_TRUE(other.has_value());
  httplib::SSLClient http("127.0.0.1", server_->port());
  http.set_ca_cert_path(other->cert.c_str());
  http.enable_server_certificate_verification(true);
  http.set_connection_timeout(5, 0);
  auto r = http.Get("/healthz");
  EXPECT_FALSE(r);
  if (!r) EXPECT_EQ(r.error(), httplib::Error::SSLServerVerification);
  std::error_code ec;
  fs::remove_all(other->dir, ec);
}

TEST_F(TlsTest, PlainHttpOnTheTlsPortGetsNoAnswer) {
  httplib::Client plain("127.0.0.1", server_->port());
  plain.set_connection_timeout(5, 0);
  plain.set_read_timeout(5, 0);
  auto r = plain.Get("/healthz");
  EXPECT_FALSE(r) << "answered " << r->status << ": " << r->body;
  // The server keeps serving HTTPS afterwards.
  auto again = https()->Get("/healthz");
  ASSERT_TRUE(again) << httplib::to_string(again.error());
  EXPECT_EQ(again->status, 200);
}

TEST_F(TlsTest, SecurityHeadersIncludeHstsOverTls) {
  auto r = https()->Get("/healthz");
  ASSERT_TRUE(r) << httplib::to_string(r.error());
  EXPECT_EQ(r->get_header_value("Strict-Transport-Security"), "max-age=31536000");
  EXPECT_EQ(r->get_header_value("X-Content-Type-Options"), "nosniff");
  EXPECT_EQ(r->get_header_value("X-Frame-Options"), "DENY");
  EXPECT_EQ(r->get_header_value("Referrer-Policy"), "no-referrer");
  EXPECT_FALSE(r->get_header_value("Content-Security-Policy").empty());
  EXPECT_EQ(r->get_header_value("Cache-Control"), "no-store");
}

TEST_F(TlsTest, AuthorizeSetsSecureSessionCookie) {
  auto r = https()->Get(demo_authorize_path().c_str());
  ASSERT_TRUE(r) << httplib::to_string(r.error());
  expect_flow_page(*r);
  const std::string cookie = set_cookie_header(*r, "__Host-renkei_session");
  ASSERT_FALSE(cookie.empty());
  EXPECT_NE(cookie.find("; Secure"), std::string::npos) << cookie;
  EXPECT_NE(cookie.find("; HttpOnly"), std::string::npos) << cookie;
  EXPECT_NE(cookie.find("; SameSite=Lax"), std::string::npos) << cookie;
  // What the __Host- prefix demands of the cookie, or browsers drop it.
  EXPECT_NE(cookie.find("; Path=/"), std::string::npos) << cookie;
  EXPECT_EQ(cookie.find("Domain="), std::string::npos) << cookie;
  EXPECT_EQ(r->get_header_value("Strict-Transport-Security"), "max-age=31536000");
}

// Security finding (issue 12): over TLS the session cookie was plain
// "renkei_session", and the first of two cookies of that name won, so a cookie
// planted from a sibling subdomain (Domain=.bank.example) could take the
// session's place. Now only "__Host-renkei_session" is read.
TEST_F(TlsTest, CookiePlantedFromASiblingSubdomainCannotShadowTheSession) {
  TlsBrowser browser(https());
  auto start = browser.get(demo_authorize_path());
  ASSERT_TRUE(start) << httplib::to_string(start.error());
  const std::string own = browser.session();
  ASSERT_FALSE(own.empty());
  // An attacker's own flow, whose cookie it plants under the plain name.
  TlsBrowser attacker(https());
  ASSERT_TRUE(attacker.get(demo_authorize_path()));
  ASSERT_TRUE(attacker.post("/api/flow/account", {{"branch", "115"},
                                                  {"account_type", "ordinary"},
                                                  {"account_number", "1100026"}}));
  const std::string planted = attacker.session();
  ASSERT_FALSE(planted.empty());
  auto r = https()->Get("/api/flow", {{"Cookie", "renkei_session=" + planted +
                                                     "; __Host-renkei_session=" + own}});
  ASSERT_TRUE(r) << httplib::to_string(r.error());
  ASSERT_EQ(r->status, 200) << r->body;
  EXPECT_EQ(screen_of(r), "account_entry");  // the customer's own flow, not the attacker's
  // The planted cookie alone is no session at all over TLS.
  auto only_planted = https()->Get("/api/flow", {{"Cookie", "renkei_session=" + planted}});
  ASSERT_TRUE(only_planted);
  EXPECT_EQ(only_planted->status, 410) << only_planted->body;  // session_expired
}

TEST_F(TlsTest, RotatedCookieAfterCustomerEntryIsSecure) {
  TlsBrowser browser(https());
  auto start = browser.get(demo_authorize_path());
  ASSERT_TRUE(start) << httplib::to_string(start.error());
  ASSERT_EQ(start->status, 200) << start->body;
  const std::string first = browser.session();
  ASSERT_FALSE(first.empty());

  auto flow = browser.get("/api/flow");
  ASSERT_TRUE(flow) << httplib::to_string(flow.error());
  ASSERT_EQ(flow->status, 200) << flow->body;

  // ① the account.
  auto account = browser.post(
      "/api/flow/account",
      {{"branch", "115"}, {"account_type", "ordinary"}, {"account_number", "1100026"}});
  ASSERT_TRUE(account) << httplib::to_string(account.error());
  ASSERT_EQ(account->status, 200) << account->body;
  ASSERT_EQ(screen_of(account), "customer_entry");

  // ② the customer: the session is rotated, and the new cookie is Secure too.
  auto customer = browser.post("/api/flow/customer", demo_customer());
  ASSERT_TRUE(customer) << httplib::to_string(customer.error());
  ASSERT_EQ(customer->status, 200) << customer->body;
  ASSERT_EQ(screen_of(customer), "phone_confirm");
  const std::string rotated = set_cookie_header(*customer, "__Host-renkei_session");
  ASSERT_FALSE(rotated.empty()) << "no rotated session cookie after ②";
  EXPECT_NE(browser.session(), first);
  EXPECT_NE(rotated.find("; Secure"), std::string::npos) << rotated;
  EXPECT_NE(rotated.find("; HttpOnly"), std::string::npos) << rotated;
  EXPECT_NE(rotated.find("; SameSite=Lax"), std::string::npos) << rotated;

  // The rotated session carries on over HTTPS.
  auto after = browser.get("/api/flow");
  ASSERT_TRUE(after) << httplib::to_string(after.error());
  EXPECT_EQ(after->status, 200) << after->body;
  EXPECT_EQ(screen_of(after), "phone_confirm");
}

// A TLS connection of the test's own (OpenSSL, no verification: what is
// sent matters here), for requests no client library would send.
class RawTls {
 public:
  explicit RawTls(int port) {
    std::signal(SIGPIPE, SIG_IGN);  // writing to a connection the server closed
    ctx_ = SSL_CTX_new(TLS_client_method());
    fd_ = connect_to(port);
    if (ctx_ == nullptr || fd_ < 0) return;
    timeval tv{5, 0};  // no read waits longer
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    ssl_ = SSL_new(ctx_);
    SSL_set_fd(ssl_, fd_);
    if (SSL_connect(ssl_) != 1) {
      SSL_free(ssl_);
      ssl_ = nullptr;
    }
  }
  ~RawTls() {
    if (ssl_ != nullptr) SSL_free(ssl_);
    if (fd_ >= 0) ::close(fd_);
    if (ctx_ != nullptr) SSL_CTX_free(ctx_);
  }
  bool ok() const { return ssl_ != nullptr; }
  // Sends `bytes`, `piece` bytes a record with `gap` between records; false
  // once the connection is gone.
  bool send(const std::string& bytes, std::size_t piece = 0,
            std::chrono::milliseconds gap = std::chrono::milliseconds(0)) {
    const std::size_t step = piece ? piece : bytes.size();
    for (std::size_t off = 0; off < bytes.size(); off += step) {
      const int n = static_cast<int>(std::min(step, bytes.size() - off));
      if (SSL_write(ssl_, bytes.data() + off, n) != n) return false;
      if (gap.count() > 0) std::this_thread::sleep_for(gap);
    }
    return true;
  }
  // Everything the server sends until it closes or 5 s pass without a byte.
  std::string read_all() {
    std::string in;
    char buf[4096];
    for (;;) {
      const int n = SSL_read(ssl_, buf, sizeof buf);
      if (n <= 0) break;
      in.append(buf, static_cast<std::size_t>(n));
    }
    return in;
  }

 private:
  SSL_CTX* ctx_ = nullptr;
  SSL* ssl_ = nullptr;
  int fd_ = -1;
};

// Found by the hostile-input sweep for plain HTTP, and true of in-server TLS
// until it ran the same connection loop: a request trickled a byte at a time
// held its worker for as long as the client liked. Over TLS too a request
// now has 10 s from its first byte to arrive whole.
TEST_F(TlsTest, ATrickledRequestIsCutOffAtItsDeadline) {
  RawTls tls(server_->port());
  ASSERT_TRUE(tls.ok());
  const std::string slow =
      "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: " + std::string(150, 'a') +
      "\r\nConnection: close\r\n\r\n";
  const auto start = std::chrono::steady_clock::now();
  const bool sent_whole = tls.send(slow, 1, std::chrono::milliseconds(100));  // over 17 s
  const std::string answer = tls.read_all();
  EXPECT_FALSE(sent_whole) << "the connection must be closed at the deadline";
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(14));
  EXPECT_EQ(answer.find("200 OK"), std::string::npos) << answer.substr(0, 200);
  auto again = https()->Get("/healthz");
  ASSERT_TRUE(again) << httplib::to_string(again.error());
  EXPECT_EQ(again->status, 200);
}

// The request framing (server/src/http/framing.h) holds over TLS as over
// plain HTTP: a POST without Content-Length has an empty body and is
// answered at once; a Content-Length that is not a number is refused.
TEST_F(TlsTest, RequestFramingIsCheckedOverTlsToo) {
  {
    RawTls tls(server_->port());
    ASSERT_TRUE(tls.ok());
    const auto start = std::chrono::steady_clock::now();
    ASSERT_TRUE(
        tls.send("POST /admin/api/accounts/lock/lift HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                 "Authorization: Bearer " +
                 std::string(kTestAdminToken) + "\r\nConnection: close\r\n\r\n"));
    const std::string answer = tls.read_all();
    EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(3));
    EXPECT_EQ(answer.rfind("HTTP/1.1 400", 0), 0u) << answer.substr(0, 300);
    EXPECT_NE(answer.find("\"bad_request\""), std::string::npos) << answer;
  }
  {
    RawTls tls(server_->port());
    ASSERT_TRUE(tls.ok());
    ASSERT_TRUE(tls.send("POST /token HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 1e3\r\n\r\n"));
    const std::string answer = tls.read_all();
    EXPECT_EQ(answer.rfind("HTTP/1.1 400", 0), 0u) << answer.substr(0, 300);
    EXPECT_NE(answer.find("\"invalid_request\""), std::string::npos) << answer;
  }
}

// Pipelining over TLS as over plain HTTP (RFC 9112 §9.3.2): requests sent
// together are answered in order (the bytes after the first went with it, and
// the second was never answered); after a refused one the connection closes.
TEST_F(TlsTest, PipelinedRequestsAreAnsweredInOrder) {
  const std::string get = "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
  const std::string last =
      "GET /no-such-page HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
  auto statuses = [](const std::string& in) {
    std::string out;
    for (std::size_t at = in.find("HTTP/1.1 "); at != std::string::npos;
         at = in.find("HTTP/1.1 ", at + 1)) {
      out += in.substr(at + 9, 3) + " ";
    }
    return out;
  };
  {
    RawTls tls(server_->port());
    ASSERT_TRUE(tls.ok());
    const auto start = std::chrono::steady_clock::now();
    ASSERT_TRUE(tls.send(get + get + last));
    const std::string answer = tls.read_all();
    EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(3));
    EXPECT_EQ(statuses(answer), "200 200 404 ") << answer.substr(0, 300);
  }
  {
    RawTls tls(server_->port());
    ASSERT_TRUE(tls.ok());
    const auto start = std::chrono::steady_clock::now();
    ASSERT_TRUE(tls.send(
        get + "POST /token HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 1e3\r\n\r\n" + last));
    const std::string answer = tls.read_all();
    EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(3))
        << "closed after the refusal, not at a timeout";
    EXPECT_EQ(statuses(answer), "200 400 ") << answer.substr(0, 300);
  }
}

// Without TLS configuration: plain HTTP, no Secure flag, no HSTS.
TEST(PlainHttpTest, SessionCookieIsNotSecureAndNoHsts) {
  TestServer server;
  auto http = server.client();
  auto r = http.Get(demo_authorize_path().c_str());
  ASSERT_TRUE(r) << httplib::to_string(r.error());
  ASSERT_EQ(r->status, 200) << r->body;
  const std::string cookie = set_cookie_header(*r, "renkei_session");
  ASSERT_FALSE(cookie.empty());
  EXPECT_EQ(cookie.find("Secure"), std::string::npos) << cookie;
  EXPECT_NE(cookie.find("; HttpOnly"), std::string::npos) << cookie;
  EXPECT_FALSE(r->has_header("Strict-Transport-Security"));
}

// Found by review (issue 12): behind a TLS-terminating proxy (an https issuer,
// no TLS files here) the cookie was plain renkei_session without Secure, and
// no HSTS: the shadowing fix did not apply where most banks would deploy.
TEST(PlainHttpTest, BehindATlsProxyAnHttpsIssuerGetsTheHostCookieAndHsts) {
  ServerConfig c = test_config();
  c.issuer = "https://renkei.example.jp";
  TestServer server(c);
  auto http = server.client();
  auto r = http.Get(demo_authorize_path().c_str());
  ASSERT_TRUE(r) << httplib::to_string(r.error());
  ASSERT_EQ(r->status, 200) << r->body;
  const std::string cookie = set_cookie_header(*r, "__Host-renkei_session");
  ASSERT_FALSE(cookie.empty());
  EXPECT_NE(cookie.find("; Secure"), std::string::npos) << cookie;
  EXPECT_NE(cookie.find("; Path=/"), std::string::npos) << cookie;
  EXPECT_EQ(r->get_header_value("Strict-Transport-Security"), "max-age=31536000");
}

}  // namespace
}  // namespace renkei::server::testing
