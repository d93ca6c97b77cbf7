// Static files compressed once per version (issue 10, server/src/http/static_routes.cpp):
// for each static type and Accept-Encoding the right Content-Encoding, a body
// that decodes to exactly the file's bytes, Vary; the same cached bytes on the
// next request; 304 per representation; a changed file compressed anew; HEAD;
// at most one compression per file version and encoding however many
// requests (the renkei_static_compressions_total counter); API JSON answered
// uncompressed. A real server on a thread, raw bytes (no client decompression).
#include <arpa/inet.h>
#include <brotli/decode.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>
#include <zlib.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include "http/http_util.h"
#include "test_server.h"

namespace renkei::server::testing {
namespace {

namespace fs = std::filesystem;

std::string brotli_decode(const std::string& in, std::size_t expected_size) {
  std::string out(expected_size + 4096, '\0');
  std::size_t size = out.size();
  if (BrotliDecoderDecompress(in.size(), reinterpret_cast<const std::uint8_t*>(in.data()), &size,
                              reinterpret_cast<std::uint8_t*>(out.data())) !=
      BROTLI_DECODER_RESULT_SUCCESS) {
    return "<brotli decoding failed>";
  }
  out.resize(size);
  return out;
}

std::string gzip_decode(const std::string& in, std::size_t expected_size) {
  z_stream zs{};
  if (inflateInit2(&zs, 15 + 16) != Z_OK) return "<inflateInit2 failed>";
  std::string out(expected_size + 4096, '\0');
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  zs.avail_in = static_cast<uInt>(in.size());
  zs.next_out = reinterpret_cast<Bytef*>(out.data());
  zs.avail_out = static_cast<uInt>(out.size());
  const int rc = inflate(&zs, Z_FINISH);
  const std::size_t written = zs.total_out;
  inflateEnd(&zs);
  if (rc != Z_STREAM_END) return "<gzip decoding failed>";
  out.resize(written);
  return out;
}

// Text that compresses well, `lines` lines of it.
std::string script_text(const std::string& tag, int lines) {
  std::string s;
  for (int i = 0; i < lines; ++i) {
    s += "function " + tag + std::to_string(i) + "(x) { return x * " + std::to_string(i % 7) +
         " + document.title.length; }\n";
  }
  return s;
}

// Bytes that look like a binary format (a few repeated patterns and counters).
std::string binary_bytes(std::size_t n, unsigned seed) {
  std::string s(n, '\0');
  for (std::size_t i = 0; i < n; ++i) {
    s[i] = static_cast<char>((i % 64 < 32) ? (i * seed) & 0xFF : (i / 64 + seed) & 0x3F);
  }
  return s;
}

void write_file(const fs::path& p, const std::string& bytes) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

std::string read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// The value of one counter series in the /metrics text (0 when absent).
double counter(App& app, const std::string& series) {
  const std::string text = app.metrics().render();
  std::size_t pos = text.find("\n" + series + " ");
  if (pos == std::string::npos) return 0;
  return std::stod(text.substr(pos + series.size() + 2));
}
double compressions(App& app, const std::string& encoding) {
  return counter(app, "renkei_static_compressions_total{encoding=\"" + encoding + "\"}");
}

class StaticCompression : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/renkei-static-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    root_ = tmpl;
    site_ = root_ / "site";
    wasm_ = root_ / "wasm";
    for (const char* d : {"flow", "static", "demo"}) fs::create_directories(site_ / d);
    fs::create_directories(wasm_);
    write_file(site_ / "static" / "app.js", script_text("f", 120));
    write_file(
        site_ / "static" / "app.css", std::string(60, '\n') + [] {
          std::string css;
          for (int i = 0; i < 80; ++i) {
            css += ".c" + std::to_string(i) + " { margin: " + std::to_string(i % 5) +
                   "px; color: #123456; }\n";
          }
          return css;
        }());
    std::string json = "{\"items\": [";
    for (int i = 0; i < 100; ++i)
      json += (i ? "," : "") + std::string("{\"n\":") + std::to_string(i) + ",\"name\":\"item\"}";
    write_file(site_ / "static" / "data.json", json + "]}");
    write_file(site_ / "static" / "tiny.js", "console.log('tiny');\n");
    write_file(site_ / "static" / "pixel.png", binary_bytes(2000, 7));
    write_file(site_ / "flow" / "index.html",
               "<!doctype html><html lang=\"ja\"><head><meta charset=\"utf-8\">\n"
               "<link rel=\"stylesheet\" href=\"/static/app.css?v=dev\">\n"
               "<script src=\"/static/wasm/renkei_core.js?v=dev\" defer></script>\n"
               "<script src=\"/static/app.js?v=dev\" defer></script>\n</head><body>\n" +
                   std::string(40, ' ') + "<p>flow page</p>\n" + script_text("<!-- c", 10) +
                   "</body></html>\n");
    write_file(wasm_ / "renkei_core.wasm",
               std::string("\0asm\1\0\0\0", 8) + binary_bytes(20000, 3));
    write_file(wasm_ / "renkei_core.js", script_text("glue", 80));
    write_file(wasm_ / "renkei_console_font.ttf", binary_bytes(30000, 11));

    const char* old = std::getenv("RENKEI_WASM_DIR");
    if (old) old_wasm_dir_ = old;
    had_wasm_dir_ = old != nullptr;
    setenv("RENKEI_WASM_DIR", wasm_.c_str(), 1);
    ServerConfig cfg = test_config();
    cfg.web_root = site_.string();
    server_ = std::make_unique<TestServer>(cfg);
  }
  void TearDown() override {
    server_.reset();
    if (had_wasm_dir_) {
      setenv("RENKEI_WASM_DIR", old_wasm_dir_.c_str(), 1);
    } else {
      unsetenv("RENKEI_WASM_DIR");
    }
    fs::remove_all(root_);
  }

  httplib::Client client() {
    httplib::Client c = server_->client();
    c.set_decompress(false);  // the bytes on the wire
    return c;
  }
  httplib::Result get(const std::string& path, const std::string& accept_encoding,
                      httplib::Headers extra = {}) {
    if (!accept_encoding.empty()) extra.emplace("Accept-Encoding", accept_encoding);
    return client().Get(path, extra);
  }

  fs::path root_, site_, wasm_;
  std::string old_wasm_dir_;
  bool had_wasm_dir_ = false;
  std::unique_ptr<TestServer> server_;
};

// Every static type, every way of asking.
TEST_F(StaticCompression, EachTypeInEachEncodingDecodesToTheFile) {
  struct Case {
    std::string path;
    fs::path file;  // empty for the HTML page (its bytes are rewritten)
    std::string type_prefix;
  };
  const std::vector<Case> cases = {
      {"/flow/", {}, "text/html"},
      {"/static/app.css", site_ / "static" / "app.css", "text/css"},
      {"/static/app.js?v=abc", site_ / "static" / "app.js", "text/javascript"},
      {"/static/data.json", site_ / "static" / "data.json", "application/json"},
      {"/static/wasm/renkei_core.js", wasm_ / "renkei_core.js", "text/javascript"},
      {"/static/wasm/renkei_core.wasm", wasm_ / "renkei_core.wasm", "application/wasm"},
      {"/static/wasm/renkei_console_font.ttf", wasm_ / "renkei_console_font.ttf", "font/ttf"},
  };
  struct Ask {
    std::string accept;
    std::string encoding;  // expected Content-Encoding, "" for identity
  };
  const std::vector<Ask> asks = {
      {"br", "br"},
      {"gzip", "gzip"},
      {"gzip;q=0, br", "br"},
      {"br;q=0, gzip", "gzip"},
      {"gzip, deflate, br", "br"},
      {"br;q=0.5, gzip;q=0.8", "gzip"},
      {"*", "br"},
      {"deflate", ""},
      {"", ""},
  };
  for (const Case& c : cases) {
    // The identity answer first: for the page it is the expected text.
    auto plain = get(c.path, "");
    ASSERT_TRUE(plain) << c.path;
    ASSERT_EQ(plain->status, 200) << c.path;
    const std::string expected = c.file.empty() ? plain->body : read_file(c.file);
    if (c.file.empty()) {
      EXPECT_EQ(expected.find("?v=dev"), std::string::npos) << "the page's versions are filled in";
      EXPECT_NE(expected.find("flow page"), std::string::npos);
    }
    for (const Ask& a : asks) {
      SCOPED_TRACE(c.path + " with Accept-Encoding: " + a.accept);
      auto r = get(c.path, a.accept);
      ASSERT_TRUE(r);
      EXPECT_EQ(r->status, 200);
      EXPECT_EQ(r->get_header_value("Content-Type").rfind(c.type_prefix, 0), 0u);
      EXPECT_EQ(r->get_header_value("Content-Encoding"), a.encoding);
      EXPECT_EQ(r->get_header_value_count("Content-Encoding"), a.encoding.empty() ? 0u : 1u);
      EXPECT_NE(r->get_header_value("Vary").find("Accept-Encoding"), std::string::npos);
      EXPECT_EQ(r->get_header_value("Content-Length"), std::to_string(r->body.size()));
      std::string decoded = r->body;
      if (a.encoding == "br") decoded = brotli_decode(r->body, expected.size());
      if (a.encoding == "gzip") decoded = gzip_decode(r->body, expected.size());
      EXPECT_EQ(decoded, expected);
      if (!a.encoding.empty()) EXPECT_LT(r->body.size(), expected.size());
      // The same cached bytes again, under the same ETag.
      auto again = get(c.path, a.accept);
      ASSERT_TRUE(again);
      EXPECT_EQ(again->body, r->body);
      EXPECT_EQ(again->get_header_value("ETag"), r->get_header_value("ETag"));
    }
  }
}

TEST_F(StaticCompression, EtagNamesTheEncodingAnd304AnswersForIt) {
  auto br = get("/static/app.js", "br");
  auto gz = get("/static/app.js", "gzip");
  auto plain = get("/static/app.js", "");
  ASSERT_TRUE(br && gz && plain);
  const std::string tag_br = br->get_header_value("ETag");
  const std::string tag_gz = gz->get_header_value("ETag");
  const std::string tag_plain = plain->get_header_value("ETag");
  EXPECT_TRUE(std::regex_match(tag_plain, std::regex(R"(W/"[0-9a-f]{16}")"))) << tag_plain;
  EXPECT_EQ(tag_br, tag_plain.substr(0, tag_plain.size() - 1) + "-br\"");
  EXPECT_EQ(tag_gz, tag_plain.substr(0, tag_plain.size() - 1) + "-gz\"");

  auto not_modified = get("/static/app.js", "br", {{"If-None-Match", tag_br}});
  ASSERT_TRUE(not_modified);
  EXPECT_EQ(not_modified->status, 304);
  EXPECT_TRUE(not_modified->body.empty());
  EXPECT_EQ(not_modified->get_header_value("ETag"), tag_br);
  EXPECT_NE(not_modified->get_header_value("Vary").find("Accept-Encoding"), std::string::npos);
  // A list, and the strong spelling of the same tag, match too (weak comparison).
  auto listed = get("/static/app.js", "gzip", {{"If-None-Match", "\"x\", " + tag_gz}});
  ASSERT_TRUE(listed);
  EXPECT_EQ(listed->status, 304);
  auto strong = get("/static/app.js", "", {{"If-None-Match", tag_plain.substr(2)}});
  ASSERT_TRUE(strong);
  EXPECT_EQ(strong->status, 304);
  // Another representation than the one the tag names: the full answer.
  auto other = get("/static/app.js", "gzip", {{"If-None-Match", tag_br}});
  ASSERT_TRUE(other);
  EXPECT_EQ(other->status, 200);
  EXPECT_EQ(other->get_header_value("Content-Encoding"), "gzip");
  auto page = get("/flow/", "br");
  ASSERT_TRUE(page);
  auto page304 = get("/flow/", "br", {{"If-None-Match", page->get_header_value("ETag")}});
  ASSERT_TRUE(page304);
  EXPECT_EQ(page304->status, 304);
}

TEST_F(StaticCompression, TwentyRequestsCompressAFileAtMostOncePerEncoding) {
  App& app = server_->app();
  const double br0 = compressions(app, "br");
  const double gz0 = compressions(app, "gzip");
  for (int i = 0; i < 20; ++i) {
    for (const char* accept : {"gzip, deflate, br", "gzip", "", "br"}) {
      auto r = get("/static/app.js", accept);
      ASSERT_TRUE(r);
      ASSERT_EQ(r->status, 200);
    }
  }
  EXPECT_EQ(compressions(app, "br") - br0, 1);
  EXPECT_EQ(compressions(app, "gzip") - gz0, 1);

  // Twenty at once on a file nobody asked for yet: still one of each.
  std::vector<std::thread> threads;
  std::atomic<int> ok{0};
  for (int i = 0; i < 20; ++i) {
    threads.emplace_back([&, i] {
      auto r = get("/static/wasm/renkei_core.js", i % 2 ? "br" : "gzip");
      if (r && r->status == 200) ++ok;
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(ok.load(), 20);
  EXPECT_EQ(compressions(app, "br") - br0, 2);
  EXPECT_EQ(compressions(app, "gzip") - gz0, 2);

  // The page: rewritten and compressed once, not per request.
  for (int i = 0; i < 20; ++i) ASSERT_TRUE(get("/flow/", "br"));
  EXPECT_EQ(compressions(app, "br") - br0, 3);
}

TEST_F(StaticCompression, AChangedFileIsCompressedAnewAndThePageNamesItsNewVersion) {
  App& app = server_->app();
  auto page1 = get("/flow/", "");
  auto js1 = get("/static/app.js", "br");
  ASSERT_TRUE(page1 && js1);
  const double br0 = compressions(app, "br");

  const std::string changed = script_text("g", 150);
  write_file(site_ / "static" / "app.js", changed);
  // A second-resolution file system could keep the old mtime; the size
  // changed anyway, and a later mtime makes it certain.
  fs::last_write_time(site_ / "static" / "app.js",
                      fs::last_write_time(site_ / "static" / "app.js") + std::chrono::seconds(2));

  auto js2 = get("/static/app.js", "br");
  ASSERT_TRUE(js2);
  EXPECT_EQ(brotli_decode(js2->body, changed.size()), changed);
  EXPECT_NE(js2->get_header_value("ETag"), js1->get_header_value("ETag"));
  EXPECT_EQ(compressions(app, "br") - br0, 1);
  // The old tag no longer answers 304.
  auto stale = get("/static/app.js", "br", {{"If-None-Match", js1->get_header_value("ETag")}});
  ASSERT_TRUE(stale);
  EXPECT_EQ(stale->status, 200);

  // The page names the asset's new version, and its compressed text follows.
  auto page2 = get("/flow/", "");
  auto page2br = get("/flow/", "br");
  ASSERT_TRUE(page2 && page2br);
  EXPECT_NE(page2->body, page1->body);
  EXPECT_NE(page2->get_header_value("ETag"), page1->get_header_value("ETag"));
  EXPECT_EQ(brotli_decode(page2br->body, page2->body.size()), page2->body);

  // The same size, a new mtime: reread as well.
  std::string same_size = changed;
  same_size[0] = 'F';
  write_file(site_ / "static" / "app.js", same_size);
  fs::last_write_time(site_ / "static" / "app.js",
                      fs::last_write_time(site_ / "static" / "app.js") + std::chrono::seconds(4));
  auto js3 = get("/static/app.js", "gzip");
  ASSERT_TRUE(js3);
  EXPECT_EQ(gzip_decode(js3->body, same_size.size()), same_size);
}

TEST_F(StaticCompression, HeadAnswersTheHeadersOfTheChosenRepresentation) {
  auto br = get("/static/app.js", "br");
  ASSERT_TRUE(br);
  auto head = client().Head("/static/app.js", {{"Accept-Encoding", "br"}});
  ASSERT_TRUE(head);
  EXPECT_EQ(head->status, 200);
  EXPECT_TRUE(head->body.empty());
  EXPECT_EQ(head->get_header_value("Content-Encoding"), "br");
  EXPECT_EQ(head->get_header_value("Content-Length"), std::to_string(br->body.size()));
  EXPECT_EQ(head->get_header_value("ETag"), br->get_header_value("ETag"));
  auto head_page = client().Head("/flow/", {});
  ASSERT_TRUE(head_page);
  EXPECT_EQ(head_page->status, 200);
  EXPECT_TRUE(head_page->get_header_value("Content-Encoding").empty());
}

TEST_F(StaticCompression, SmallAndCompressedTypesGoOutAsIdentity) {
  App& app = server_->app();
  const double before = compressions(app, "br") + compressions(app, "gzip");
  for (const char* path : {"/static/tiny.js", "/static/pixel.png"}) {
    SCOPED_TRACE(path);
    auto r = get(path, "gzip, deflate, br");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);
    EXPECT_TRUE(r->get_header_value("Content-Encoding").empty());
    EXPECT_NE(r->get_header_value("Vary").find("Accept-Encoding"), std::string::npos);
    EXPECT_EQ(r->body, read_file(site_ / std::string(path).substr(1)));
  }
  EXPECT_EQ(compressions(app, "br") + compressions(app, "gzip"), before);
}

TEST_F(StaticCompression, ARangeAppliesToTheRepresentationSent) {
  const std::string file = read_file(site_ / "static" / "app.js");
  auto r = get("/static/app.js", "", {{"Range", "bytes=0-9"}});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 206);
  EXPECT_EQ(r->body, file.substr(0, 10));
  EXPECT_EQ(r->get_header_value("Content-Range"), "bytes 0-9/" + std::to_string(file.size()));
}

// A range past the end, or a suffix of 0 bytes, cannot be served. httplib
// 0.11.4 took it as it came (a 206 with a Content-Length of 2^64 minus
// something and a body that never came, on every static file and on the
// page GET /authorize answers with); the Range is now ignored: 200, whole.
TEST_F(StaticCompression, AnUnsatisfiableRangeIsIgnored) {
  const std::string file = read_file(site_ / "static" / "app.js");
  for (const char* range : {"bytes=999999-", "bytes=-0", "bytes=0-0,999999-1000000"}) {
    SCOPED_TRACE(range);
    auto r = get("/static/app.js", "", {{"Range", range}});
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(r->get_header_value("Content-Length"), std::to_string(file.size()));
    EXPECT_FALSE(r->has_header("Content-Range"));
    EXPECT_EQ(r->body, file);
  }
  // A range inside the body still gets its 206 (the suffix form too).
  auto tail = get("/static/app.js", "", {{"Range", "bytes=-5"}});
  ASSERT_TRUE(tail);
  EXPECT_EQ(tail->status, 206);
  EXPECT_EQ(tail->body, file.substr(file.size() - 5));
}

// httplib applied a Range to every answer: several (overlapping) ranges of a
// static file multiplied it (700 ranges of the WASM module: 168 MB for a
// 7.6 KB request), and API answers and errors came cut (`{"erro` with a
// Content-Range). Only one range of a static file's GET is served now; any
// other Range is ignored.
TEST_F(StaticCompression, ARangeIsServedOnlyAsOneRangeOfAStaticFile) {
  const std::string file = read_file(site_ / "static" / "app.js");
  std::string many = "bytes=0-";
  for (int i = 1; i < 50; ++i) many += ",0-";
  for (const std::string& range : {many, std::string("bytes=0-4,5-9")}) {
    SCOPED_TRACE(range);
    auto r = get("/static/app.js", "", {{"Range", range}});
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);
    EXPECT_FALSE(r->has_header("Content-Range"));
    EXPECT_EQ(r->body, file);
  }
  for (const char* path : {"/api/flow", "/healthz", "/.well-known/oauth-authorization-server",
                           "/no-such-path"}) {
    SCOPED_TRACE(path);
    auto whole = get(path, "");
    auto cut = get(path, "", {{"Range", "bytes=0-5"}});
    ASSERT_TRUE(whole);
    ASSERT_TRUE(cut);
    EXPECT_EQ(cut->status, whole->status);
    EXPECT_FALSE(cut->has_header("Content-Range"));
    EXPECT_GT(cut->body.size(), 6u);
    EXPECT_EQ(cut->get_header_value("Content-Type"), whole->get_header_value("Content-Type"));
  }
}

// API answers are JSON with "; charset=utf-8", which httplib 0.11.4 never
// compresses (it compresses text/* and the bare "application/json" only), so
// no per-request brotli for them; a flow's answers are a few hundred bytes.
TEST_F(StaticCompression, ApiJsonIsNotCompressedPerRequest) {
  for (const char* path : {"/api/flow", "/healthz", "/.well-known/oauth-authorization-server"}) {
    SCOPED_TRACE(path);
    auto r = get(path, "gzip, deflate, br");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->get_header_value("Content-Type").rfind("application/json", 0), 0u);
    EXPECT_TRUE(r->get_header_value("Content-Encoding").empty());
    EXPECT_FALSE(nlohmann::json::parse(r->body, nullptr, false).is_discarded());
  }
}

// The server's own keep-alive wait (server.cpp, KeepAliveServer): one
// connection carries a page's requests one after another, and the server
// closes it once it has been idle for the keep-alive timeout (2 s).
TEST_F(StaticCompression, OneKeepAliveConnectionCarriesAPageAndClosesWhenIdle) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<std::uint16_t>(server_->port()));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  // Reads one response (headers and a Content-Length body); "" on failure.
  std::string pending;
  auto read_response = [&]() -> std::string {
    for (;;) {
      std::size_t end = pending.find("\r\n\r\n");
      if (end != std::string::npos) {
        std::size_t length = 0;
        std::smatch m;
        std::string head = pending.substr(0, end);
        if (std::regex_search(head, m, std::regex("Content-Length: ([0-9]+)", std::regex::icase))) {
          length = std::stoul(m[1]);
        }
        if (pending.size() >= end + 4 + length) {
          std::string response = pending.substr(0, end + 4 + length);
          pending.erase(0, end + 4 + length);
          return response;
        }
      }
      pollfd p{fd, POLLIN, 0};
      if (::poll(&p, 1, 5000) <= 0) return "";
      char buf[65536];
      ssize_t n = ::recv(fd, buf, sizeof buf, 0);
      if (n <= 0) return "";
      pending.append(buf, static_cast<std::size_t>(n));
    }
  };
  for (const char* path :
       {"/flow/", "/static/app.css", "/static/app.js", "/static/wasm/renkei_core.js",
        "/static/wasm/renkei_core.wasm", "/api/flow"}) {
    SCOPED_TRACE(path);
    const std::string request = std::string("GET ") + path +
                                " HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept-Encoding: gzip, deflate, "
                                "br\r\nConnection: keep-alive\r\n\r\n";
    ASSERT_EQ(::send(fd, request.data(), request.size(), MSG_NOSIGNAL),
              static_cast<ssize_t>(request.size()));
    const std::string response = read_response();
    ASSERT_FALSE(response.empty());
    EXPECT_EQ(response.rfind("HTTP/1.1 ", 0), 0u);
    EXPECT_EQ(response.find("Connection: close"), std::string::npos);
  }
  // Idle now: closed by the server after the keep-alive timeout (2 s).
  pollfd p{fd, POLLIN, 0};
  ASSERT_EQ(::poll(&p, 1, 10000), 1);
  char c;
  EXPECT_EQ(::recv(fd, &c, 1, 0), 0);
  ::close(fd);
}

// The base64 digest of `text` by `md_type` (computed here, not by the
// server's code).
std::string digest_b64(const std::string& text, const EVP_MD* md_type) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EXPECT_EQ(EVP_Digest(text.data(), text.size(), md, &len, md_type, nullptr), 1);
  std::string b64(4 * ((len + 2) / 3) + 1, '\0');
  b64.resize(static_cast<std::size_t>(
      EVP_EncodeBlock(reinterpret_cast<unsigned char*>(b64.data()), md, static_cast<int>(len))));
  return b64;
}

// "'sha256-<base64>'" of `text`, as a CSP hash source.
std::string sha256_source(const std::string& text) {
  return "'sha256-" + digest_b64(text, EVP_sha256()) + "'";
}

void expect_security_headers(const httplib::Response& r) {
  EXPECT_EQ(r.get_header_value("X-Content-Type-Options"), "nosniff");
  EXPECT_EQ(r.get_header_value("X-Frame-Options"), "DENY");
  EXPECT_EQ(r.get_header_value("Referrer-Policy"), "no-referrer");
  EXPECT_EQ(r.get_header_value_count("Content-Security-Policy"), 1u);
  const std::string csp = r.get_header_value("Content-Security-Policy");
  EXPECT_NE(csp.find("default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; style-src 'self'"),
            std::string::npos);
  EXPECT_NE(csp.find("frame-ancestors 'none'"), std::string::npos);
  EXPECT_EQ(csp.find("unsafe-inline"), std::string::npos);
  EXPECT_FALSE(r.has_header(kInlineStyleHashesHeader)) << "the internal header never leaves";
}

// A page's <link rel="stylesheet" … data-inline> (issue 10: one request fewer
// per cold load) becomes a <style> with the file's text, and the page's CSP
// allows exactly that text by its SHA-256, on the 200 in every encoding and on
// the 304 (a browser takes a 304's headers over the stored ones). Other
// answers keep the plain policy; every one has the security headers.
TEST_F(StaticCompression, AMarkedStylesheetIsInlinedUnderItsCspHash) {
  write_file(site_ / "flow" / "styled.html",
             "<!doctype html><html><head>\n"
             "<link rel=\"stylesheet\" href=\"/static/app.css?v=dev\" data-inline>\n"
             "<script src=\"/static/app.js?v=dev\" defer></script>\n"
             "</head><body><p>styled</p></body></html>\n");
  const std::string css = read_file(site_ / "static" / "app.css");
  auto plain = get("/flow/styled.html", "");
  ASSERT_TRUE(plain);
  ASSERT_EQ(plain->status, 200);
  EXPECT_NE(plain->body.find("<head>\n<style>" + css + "</style>\n<script src=\"/static/app."),
            std::string::npos)
      << plain->body.substr(0, 300);
  EXPECT_EQ(plain->body.find("app.css"), std::string::npos) << "no link left";
  EXPECT_EQ(plain->body.find("data-inline"), std::string::npos);
  const std::string expected_csp =
      "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; style-src 'self' " +
      sha256_source(css) +
      "; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";
  EXPECT_EQ(plain->get_header_value("Content-Security-Policy"), expected_csp);
  expect_security_headers(*plain);

  auto br = get("/flow/styled.html", "gzip, deflate, br");
  ASSERT_TRUE(br);
  EXPECT_EQ(br->get_header_value("Content-Encoding"), "br");
  EXPECT_EQ(brotli_decode(br->body, plain->body.size()), plain->body);
  EXPECT_EQ(br->get_header_value("Content-Security-Policy"), expected_csp);
  auto not_modified = get("/flow/styled.html", "gzip, deflate, br",
                          {{"If-None-Match", br->get_header_value("ETag")}});
  ASSERT_TRUE(not_modified);
  EXPECT_EQ(not_modified->status, 304);
  EXPECT_EQ(not_modified->get_header_value("Content-Security-Policy"), expected_csp);
  expect_security_headers(*not_modified);

  // Pages without the mark, and the stylesheet itself: the plain policy.
  for (const char* path : {"/flow/", "/static/app.css", "/static/app.js", "/api/flow"}) {
    SCOPED_TRACE(path);
    auto r = get(path, "br");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->get_header_value("Content-Security-Policy").find("sha256"), std::string::npos);
    expect_security_headers(*r);
  }
  auto page = get("/flow/", "");
  ASSERT_TRUE(page);
  EXPECT_NE(page->body.find("<link rel=\"stylesheet\" href=\"/static/app."), std::string::npos);

  // A changed stylesheet: the page carries the new text under the new hash.
  const std::string css2 = css + ".added { color: #654321; }\n";
  write_file(site_ / "static" / "app.css", css2);
  auto changed = get("/flow/styled.html", "br");
  ASSERT_TRUE(changed);
  EXPECT_NE(
      brotli_decode(changed->body, plain->body.size() + 100).find("<style>" + css2 + "</style>"),
      std::string::npos);
  EXPECT_NE(changed->get_header_value("Content-Security-Policy").find(sha256_source(css2)),
            std::string::npos);
  EXPECT_EQ(changed->get_header_value("Content-Security-Policy").find(sha256_source(css)),
            std::string::npos);
}

// Text that would end the <style> element early, or that the HTML parser
// would change before the browser hashes it (CR), keeps its link.
TEST_F(StaticCompression, AStylesheetThatCannotStandInlineStaysALink) {
  write_file(site_ / "static" / "escape.css",
             std::string(300, ' ') + "p { color: red; }\n</STYLE ><script>alert(1)</script>\n");
  write_file(site_ / "static" / "crlf.css", std::string(300, ' ') + "p { color: red; }\r\n");
  for (const char* name : {"escape", "crlf"}) {
    SCOPED_TRACE(name);
    write_file(site_ / "flow" / (std::string(name) + ".html"),
               std::string("<!doctype html><html><head><link rel=\"stylesheet\" href=\"/static/") +
                   name + ".css?v=dev\" data-inline></head><body></body></html>\n");
    auto r = get("/flow/" + std::string(name) + ".html", "");
    ASSERT_TRUE(r);
    ASSERT_EQ(r->status, 200);
    EXPECT_EQ(r->body.find("<style>"), std::string::npos);
    EXPECT_NE(r->body.find("href=\"/static/" + std::string(name) + "."), std::string::npos);
    EXPECT_EQ(r->get_header_value("Content-Security-Policy").find("sha256"), std::string::npos);
    expect_security_headers(*r);
  }
}

// Only SHA-256 hash sources reach the policy; anything else in the internal
// header leaves the plain policy (and the header is removed all the same).
TEST(ContentSecurityPolicy, OnlySha256HashSourcesAreAdded) {
  const std::string hash = "'sha256-" + std::string(43, 'A') + "='";
  EXPECT_NE(content_security_policy(hash).find("style-src 'self' " + hash + ";"),
            std::string::npos);
  EXPECT_NE(content_security_policy(hash + " " + hash).find(hash + " " + hash + ";"),
            std::string::npos);
  for (const std::string& bad :
       {std::string(), std::string("'unsafe-inline'"), hash + " 'unsafe-inline'",
        hash + "; script-src *", "'sha256-" + std::string(42, 'A') + "='",
        "'sha256-" + std::string(42, 'A') + "*='", "'sha384-" + std::string(43, 'A') + "='",
        hash + " ", " " + hash}) {
    SCOPED_TRACE(bad);
    EXPECT_EQ(content_security_policy(bad), "");
    httplib::Response res;
    res.set_header(kInlineStyleHashesHeader, bad);
    add_security_headers(res, false);
    EXPECT_FALSE(res.has_header(kInlineStyleHashesHeader));
    EXPECT_EQ(res.get_header_value("Content-Security-Policy").find("sha256"), std::string::npos);
    EXPECT_EQ(res.get_header_value("Content-Security-Policy").find("unsafe-inline"),
              std::string::npos);
    EXPECT_NE(res.get_header_value("Content-Security-Policy").find("style-src 'self';"),
              std::string::npos);
  }
}


// Everything the server sends within `ms` after the last bytes (or until it
// has `want` bytes).
std::string receive(int fd, std::size_t want, int ms) {
  std::string got;
  while (got.size() < want) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, ms) <= 0) break;
    char buf[65536];
    const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) break;
    got.append(buf, static_cast<std::size_t>(n));
  }
  return got;
}

// The server collects an answer and sends it in one go (server.cpp,
// SocketStream): what it wrote before reading must still go out first — the
// "100 Continue" a client waits for before it sends the body.
TEST_F(StaticCompression, A100ContinueGoesOutBeforeTheBodyIsRead) {
  const int fd = connect_to(server_->port());
  ASSERT_GE(fd, 0);
  const std::string body = "grant_type=authorization_code&code=nothing";
  const std::string head =
      "POST /token HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: "
      "application/x-www-form-urlencoded\r\nExpect: 100-continue\r\n"
      "Content-Length: " +
      std::to_string(body.size()) + "\r\n\r\n";
  ASSERT_EQ(::send(fd, head.data(), head.size(), MSG_NOSIGNAL), static_cast<ssize_t>(head.size()));
  const std::string interim = receive(fd, 25, 3000);
  EXPECT_EQ(interim, "HTTP/1.1 100 Continue\r\n\r\n");
  ASSERT_EQ(::send(fd, body.data(), body.size(), MSG_NOSIGNAL), static_cast<ssize_t>(body.size()));
  const std::string answer = receive(fd, 1, 3000);
  EXPECT_EQ(answer.rfind("HTTP/1.1 4", 0), 0u) << answer.substr(0, 200);
  ::close(fd);
}

// A body larger than what is collected before a send (64 KiB) arrives whole,
// after its headers, and the connection then carries the next request.
TEST_F(StaticCompression, ALargeBodyArrivesWholeAndTheConnectionGoesOn) {
  const std::string big = binary_bytes(300 * 1024 + 17, 5);
  write_file(site_ / "static" / "big.png", big);
  const int fd = connect_to(server_->port());
  ASSERT_GE(fd, 0);
  const std::string tiny = read_file(site_ / "static" / "tiny.js");
  for (const auto& [path, expected] :
       {std::pair<std::string, std::string>{"/static/big.png", big}, {"/static/tiny.js", tiny}}) {
    SCOPED_TRACE(path);
    const std::string request = "GET " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
    ASSERT_EQ(::send(fd, request.data(), request.size(), MSG_NOSIGNAL),
              static_cast<ssize_t>(request.size()));
    std::string got;
    std::size_t end = std::string::npos;
    while (end == std::string::npos || got.size() < end + 4 + expected.size()) {
      const std::string more = receive(fd, 1, 3000);
      if (more.empty()) break;
      got += more;
      end = got.find("\r\n\r\n");
    }
    ASSERT_NE(end, std::string::npos);
    EXPECT_EQ(got.rfind("HTTP/1.1 200 OK\r\n", 0), 0u);
    EXPECT_NE(got.substr(0, end).find("Content-Length: " + std::to_string(expected.size())),
              std::string::npos);
    EXPECT_EQ(got.substr(end + 4), expected);
  }
  ::close(fd);
}

// Issue 10: the core's glue and flow.js in one script (one request fewer per
// cold load), named by the hash of both, made anew when either changes.
TEST_F(StaticCompression, FlowBundleIsTheGlueAndFlowJsInOneScript) {
  const std::string flow = "(function () {\n" + script_text("flow", 90) + "})();\n";
  write_file(site_ / "static" / "flow.js", flow);
  write_file(site_ / "flow" / "bundle.html",
             "<!doctype html><html><head>\n"
             "<script src=\"/static/flow-bundle.js?v=dev\" defer></script>\n</head></html>\n");
  const std::regex named(
      R"re(<script src="(/static/flow-bundle\.([0-9a-f]{16})\.js)" integrity="(sha384-[^"]+)")re");
  auto bundle_url = [&] {
    auto page = get("/flow/bundle.html", "");
    std::smatch m;
    if (!page || !std::regex_search(page->body, m, named)) return std::string();
    return m[1].str();
  };
  const std::string glue = read_file(wasm_ / "renkei_core.js");
  const std::string url1 = bundle_url();
  ASSERT_FALSE(url1.empty());
  auto r1 = get(url1, "br");
  ASSERT_TRUE(r1);
  EXPECT_EQ(r1->status, 200);
  EXPECT_EQ(r1->get_header_value("Content-Type"), "text/javascript; charset=utf-8");
  EXPECT_EQ(r1->get_header_value("Cache-Control"), "public, max-age=31536000, immutable");
  // The ";" keeps flow.js's opening parenthesis from calling the glue's last
  // expression.
  const std::string both = glue + "\n;\n" + flow;
  EXPECT_EQ(brotli_decode(r1->body, both.size()), both);
  // The page's integrity is that of the bundle's bytes.
  auto page = get("/flow/bundle.html", "");
  std::smatch m;
  ASSERT_TRUE(page && std::regex_search(page->body, m, named));
  EXPECT_EQ(m[3].str(), "sha384-" + digest_b64(both, EVP_sha384()));

  // A new glue: a new name; the old one is gone (404), the new one follows.
  const std::string glue2 = script_text("glue2", 70);
  write_file(wasm_ / "renkei_core.js", glue2);
  fs::last_write_time(wasm_ / "renkei_core.js",
                      fs::last_write_time(wasm_ / "renkei_core.js") + std::chrono::seconds(2));
  const std::string url2 = bundle_url();
  ASSERT_FALSE(url2.empty());
  EXPECT_NE(url2, url1);
  auto stale = get(url1, "");
  ASSERT_TRUE(stale);
  EXPECT_EQ(stale->status, 404);
  auto r2 = get(url2, "");
  ASSERT_TRUE(r2);
  EXPECT_EQ(r2->body, glue2 + "\n;\n" + flow);

  // Without the WASM build: flow.js alone (the page uses the server's catalog).
  fs::remove(wasm_ / "renkei_core.js");
  const std::string url3 = bundle_url();
  ASSERT_FALSE(url3.empty());
  auto r3 = get(url3, "");
  ASSERT_TRUE(r3);
  EXPECT_EQ(r3->body, flow);

  // flow.js replaced by a link out of the folder: no bundle, nothing leaks.
  write_file(root_ / "secret.js", "const secret = 'outside the site';\n");
  fs::remove(site_ / "static" / "flow.js");
  fs::create_symlink(root_ / "secret.js", site_ / "static" / "flow.js");
  auto escaped = get("/static/flow-bundle.js", "");
  ASSERT_TRUE(escaped);
  EXPECT_EQ(escaped->status, 404);
  EXPECT_EQ(escaped->body.find("outside"), std::string::npos);
}

// The glue is looked up like any file of the WASM folder: a renkei_core.js
// that links out of the folder is left out of the bundle (flow.js alone),
// and what it links to appears nowhere.
TEST_F(StaticCompression, FlowBundleLeavesOutAGlueThatLinksOutOfItsFolder) {
  const std::string flow = "(function () {\n" + script_text("flow", 20) + "})();\n";
  write_file(site_ / "static" / "flow.js", flow);
  write_file(root_ / "secret.js", "const secret = 'outside the wasm folder';\n");
  fs::remove(wasm_ / "renkei_core.js");
  fs::create_symlink(root_ / "secret.js", wasm_ / "renkei_core.js");
  auto r = get("/static/flow-bundle.js", "");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, flow);
}

// A served file must lie inside its folder once symlinks are resolved; the
// check is made once per file version (static_routes.cpp, CachedFile::below),
// so a file that turns into a symlink to the outside is refused from then on.
TEST_F(StaticCompression, ASymlinkOutOfTheFolderIsNotServedEvenAfterTheFileWasServed) {
  write_file(root_ / "secret.js", "const secret = 'outside the site';\n");
  fs::create_symlink(root_ / "secret.js", site_ / "static" / "escape.js");
  fs::create_symlink(site_ / "static" / "app.js", site_ / "static" / "inside.js");
  auto escape = get("/static/escape.js", "");
  ASSERT_TRUE(escape);
  EXPECT_EQ(escape->status, 404);
  EXPECT_EQ(escape->body.find("outside"), std::string::npos);
  auto inside = get("/static/inside.js", "");
  ASSERT_TRUE(inside);
  EXPECT_EQ(inside->status, 200);
  EXPECT_EQ(inside->body, read_file(site_ / "static" / "app.js"));

  // Served as a file, then replaced by a symlink to the outside: refused.
  write_file(site_ / "static" / "later.js", "const later = 1;\n");
  auto before = get("/static/later.js", "");
  ASSERT_TRUE(before);
  EXPECT_EQ(before->status, 200);
  fs::remove(site_ / "static" / "later.js");
  fs::create_symlink(root_ / "secret.js", site_ / "static" / "later.js");
  auto after = get("/static/later.js", "");
  ASSERT_TRUE(after);
  EXPECT_EQ(after->status, 404);
  EXPECT_EQ(after->body.find("outside"), std::string::npos);
}

}  // namespace
}  // namespace renkei::server::testing
