// The customer's pages and the demo app as static files (issue 4):
//   /flow/…            <web_root>/flow      (screens ①–⑥, cancel, errors)
//   /static/wasm/…     renkei_core.js/.wasm from RENKEI_WASM_DIR, else
//                      <web_root>/../build/wasm (the wasm preset's output)
//   /static/…          <web_root>/static
//   /static/flow-bundle.js  renkei_core.js and flow.js in one script
//                      (StaticFiles::flow_bundle)
//   /demo/…            <web_root>/demo, development mode only
//   /console/…         <web_root>/console, the operator console's page (issue 5);
//                      its module and font (renkei_console.js/.wasm,
//                      renkei_console_font.ttf) come from the wasm folder. Served
//                      in every mode: the page holds nothing; the admin API it
//                      calls is what asks for the token.
//
// Caching: HTML is "no-cache" (always revalidated with its ETag). An HTML page
// names its assets as "/static/<file>?v=dev"; the server writes the asset's
// content-hashed name instead ("/static/flow.<hash>.js"), so a changed file
// gets a new URL, and such a name (or a version query ?v=<hash>) is immutable
// for a year: a second flow in the same browser downloads nothing again. A
// <script> gets its Subresource Integrity (sha384) beside it, a <meta> that
// names a script for flow.js to load a data-integrity.
// Compression (issue 10): every body is compressed once per version — brotli
// at quality 11 and gzip at level 9, each on the first request that wants it —
// and kept beside the file (an HTML page: beside its rewritten text). The
// answer is br, gzip or identity by the request's Accept-Encoding (q values,
// q=0 refuses; ties go br > gzip > identity), always with "Vary:
// Accept-Encoding"; the ETag names the encoding (W/"<hash>", W/"<hash>-br",
// W/"<hash>-gz"), so a 304 answers for the representation it would send.
// Bodies under kMinCompressBytes, already compressed types (PNG, ICO) and
// encodings that would not be smaller go out as identity.
// httplib 0.11.4 (Debian's build has CPPHTTPLIB_BROTLI_SUPPORT) would brotli
// every text/* body again on every request, at the library's default quality
// 11 — it looks at the Content-Type and Accept-Encoding only, not at a
// Content-Encoding already set — so the bytes go out through a content
// provider of known length, which it never compresses (and which spares a copy).
// Range requests apply to the representation sent (206 from httplib); one
// that reaches past the end is ignored (200, the whole body).
// Paths: httplib decodes %xx before routing, so ".." and NUL arrive decoded;
// any "..", ".", empty or hidden segment, backslash or control character is
// refused (400), and the resolved file must stay under its folder (symlinks).
#include <brotli/encode.h>
#include <openssl/evp.h>
#include <sys/stat.h>
#include <zlib.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "http/http_util.h"
#include "http/routes.h"

namespace renkei::server {
namespace {

namespace fs = std::filesystem;

constexpr std::size_t kMaxStaticFileBytes = 8 * 1024 * 1024;
constexpr const char* kVersionPlaceholder = "?v=dev";
constexpr const char* kFlowBundle = "flow-bundle.js";  // see StaticFiles::flow_bundle
// Below this a compressed body saves too little to be worth a decoder's start
// (the HTTP headers alone are larger); such bodies go out as identity.
constexpr std::size_t kMinCompressBytes = 256;

std::string fnv1a_hex(std::string_view bytes) {
  std::uint64_t h = 1469598103934665603ULL;
  for (unsigned char c : bytes) {
    h ^= c;
    h *= 1099511628211ULL;
  }
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out(16, '0');
  for (int i = 15; i >= 0; --i) {
    out[static_cast<std::size_t>(i)] = kHex[h & 0xF];
    h >>= 4;
  }
  return out;
}

std::string_view mime_type(const fs::path& p) {
  const std::string ext = p.extension().string();
  if (ext == ".html") return "text/html; charset=utf-8";
  if (ext == ".css") return "text/css; charset=utf-8";
  if (ext == ".js" || ext == ".mjs") return "text/javascript; charset=utf-8";
  if (ext == ".wasm") return "application/wasm";
  if (ext == ".json") return "application/json; charset=utf-8";
  if (ext == ".svg") return "image/svg+xml";
  if (ext == ".png") return "image/png";
  if (ext == ".ico") return "image/x-icon";
  if (ext == ".ttf") return "font/ttf";
  if (ext == ".txt") return "text/plain; charset=utf-8";
  return "";
}

enum class Encoding { identity, br, gzip };

// ---------------------------------------------------------------- compression

std::optional<std::string> brotli_bytes(const std::string& in, BrotliEncoderMode mode) {
  std::size_t size = BrotliEncoderMaxCompressedSize(in.size());
  if (size == 0) return std::nullopt;
  std::string out(size, '\0');
  if (!BrotliEncoderCompress(BROTLI_MAX_QUALITY, BROTLI_DEFAULT_WINDOW, mode, in.size(),
                             reinterpret_cast<const std::uint8_t*>(in.data()), &size,
                             reinterpret_cast<std::uint8_t*>(out.data()))) {
    return std::nullopt;
  }
  out.resize(size);
  return out;
}

std::optional<std::string> gzip_bytes(const std::string& in) {
  z_stream zs{};
  // windowBits 15 + 16: a gzip header and trailer; memLevel 9: the most memory.
  if (deflateInit2(&zs, Z_BEST_COMPRESSION, Z_DEFLATED, 15 + 16, 9, Z_DEFAULT_STRATEGY) != Z_OK) {
    return std::nullopt;
  }
  std::string out(deflateBound(&zs, static_cast<uLong>(in.size())), '\0');
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  zs.avail_in = static_cast<uInt>(in.size());
  zs.next_out = reinterpret_cast<Bytef*>(out.data());
  zs.avail_out = static_cast<uInt>(out.size());
  const int rc = deflate(&zs, Z_FINISH);
  const std::size_t written = zs.total_out;
  deflateEnd(&zs);
  if (rc != Z_STREAM_END) return std::nullopt;
  out.resize(written);
  return out;
}

// "<prefix><base64 of the digest>" of `bytes`; empty when the digest fails
// (no integrity or hash rather than a wrong one).
std::string digest_b64(const std::string& bytes, const EVP_MD* md_type, std::string_view prefix) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (EVP_Digest(bytes.data(), bytes.size(), md, &len, md_type, nullptr) != 1) return {};
  std::string b64(4 * ((len + 2) / 3) + 1, '\0');
  const int n =
      EVP_EncodeBlock(reinterpret_cast<unsigned char*>(b64.data()), md, static_cast<int>(len));
  b64.resize(static_cast<std::size_t>(n));
  return std::string(prefix) + b64;
}

// One version of what a URL answers (a file's bytes, or an HTML page after
// the rewriting of its asset versions), with its encodings made on demand,
// each at most once (std::call_once: a second request waits for the first).
class Body {
 public:
  Body(std::string bytes, std::string_view type, Metrics* metrics,
       std::string inline_style_hashes = {})
      : identity_(std::make_shared<const std::string>(std::move(bytes))),
        hash_(fnv1a_hex(*identity_)),
        type_(type),
        metrics_(metrics),
        inline_style_hashes_(std::move(inline_style_hashes)) {}

  const std::string& hash() const { return hash_; }
  std::string_view type() const { return type_; }
  // Subresource Integrity of the bytes: "sha384-<base64>", made once.
  const std::string& integrity() const {
    std::call_once(integrity_once_,
                   [this] { integrity_ = digest_b64(*identity_, EVP_sha384(), "sha384-"); });
    return integrity_;
  }
  // The CSP source of these bytes as an inline <style>'s text:
  // "'sha256-<base64>'", made once; empty if the digest failed.
  const std::string& style_source() const {
    std::call_once(style_once_, [this] {
      const std::string hash = digest_b64(*identity_, EVP_sha256(), "sha256-");
      if (!hash.empty()) style_source_ = "'" + hash + "'";
    });
    return style_source_;
  }
  // For a page with inline <style> elements: their CSP sources, separated by
  // spaces (kInlineStyleHashesHeader); empty otherwise.
  const std::string& inline_style_hashes() const { return inline_style_hashes_; }
  const std::shared_ptr<const std::string>& identity() const { return identity_; }

  // The bytes in `e`, or null when that encoding is not kept (not smaller,
  // not worth it, or the type is compressed already).
  std::shared_ptr<const std::string> encoded(Encoding e) {
    if (e == Encoding::identity || !compressible()) return nullptr;
    Slot& slot = e == Encoding::br ? br_ : gzip_;
    std::call_once(slot.once, [&] {
      std::optional<std::string> out;
      if (e == Encoding::br) {
        out = brotli_bytes(*identity_, mode());
      } else {
        out = gzip_bytes(*identity_);
      }
      if (metrics_) {
        metrics_->count("renkei_static_compressions_total",
                        e == Encoding::br ? "encoding=\"br\"" : "encoding=\"gzip\"");
      }
      if (out && out->size() < identity_->size()) {
        slot.bytes = std::make_shared<const std::string>(std::move(*out));
      }
    });
    return slot.bytes;
  }

 private:
  struct Slot {
    std::once_flag once;
    std::shared_ptr<const std::string> bytes;
  };
  bool compressible() const {
    return identity_->size() >= kMinCompressBytes && type_ != "image/png" &&
           type_ != "image/x-icon";
  }
  BrotliEncoderMode mode() const {
    if (type_ == "font/ttf") return BROTLI_MODE_FONT;
    if (type_ == "application/wasm") return BROTLI_MODE_GENERIC;
    return BROTLI_MODE_TEXT;
  }

  const std::shared_ptr<const std::string> identity_;
  const std::string hash_;
  mutable std::once_flag integrity_once_;
  mutable std::string integrity_;
  mutable std::once_flag style_once_;
  mutable std::string style_source_;
  const std::string_view type_;  // one of mime_type()'s literals
  Metrics* const metrics_;
  const std::string inline_style_hashes_;
  Slot br_;
  Slot gzip_;
};

// ---------------------------------------------------------------- negotiation

// Accept-Encoding → the encoding to send (RFC 9110 §12.5.3): a coding's q is
// its own, else that of "*", else 0; the higher q of br and gzip wins, a tie
// goes to br; identity when neither is acceptable (identity itself is never
// refused: a page is better than a 406). No header: identity.
Encoding choose_encoding(const std::string& header, bool have_br, bool have_gzip) {
  if (header.empty() || (!have_br && !have_gzip)) return Encoding::identity;
  double q_br = -1, q_gzip = -1, q_star = -1;
  std::size_t pos = 0;
  while (pos <= header.size()) {
    std::size_t end = header.find(',', pos);
    if (end == std::string::npos) end = header.size();
    std::string_view item = std::string_view(header).substr(pos, end - pos);
    pos = end + 1;
    std::string_view coding = item.substr(0, item.find(';'));
    auto trim = [](std::string_view v) {
      while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
      while (!v.empty() && (v.back() == ' ' || v.back() == '\t')) v.remove_suffix(1);
      return v;
    };
    coding = trim(coding);
    if (coding.empty()) continue;
    double q = 1;
    if (std::size_t semi = item.find(';'); semi != std::string_view::npos) {
      std::string_view params = item.substr(semi + 1);
      std::size_t qpos = params.find("q=");
      if (qpos == std::string_view::npos) qpos = params.find("Q=");
      if (qpos != std::string_view::npos) {
        std::string value(trim(params.substr(qpos + 2)));
        char* stop = nullptr;
        q = std::strtod(value.c_str(), &stop);
        if (stop == value.c_str() || q < 0 || q > 1) q = 0;
      }
    }
    std::string lower;
    for (char c : coding) lower += static_cast<char>(c >= 'A' && c <= 'Z' ? c + 32 : c);
    if (lower == "br") {
      q_br = q;
    } else if (lower == "gzip" || lower == "x-gzip") {
      q_gzip = q;
    } else if (lower == "*") {
      q_star = q;
    }
  }
  if (q_br < 0) q_br = q_star < 0 ? 0 : q_star;
  if (q_gzip < 0) q_gzip = q_star < 0 ? 0 : q_star;
  if (!have_br) q_br = 0;
  if (!have_gzip) q_gzip = 0;
  if (q_br > 0 && q_br >= q_gzip) return Encoding::br;
  if (q_gzip > 0) return Encoding::gzip;
  return Encoding::identity;
}

// Every range of a Range header (as httplib parsed it: {first, last}, -1
// for a missing end) lies inside a body of `size` bytes; true without ranges.
bool satisfiable(const httplib::Ranges& ranges, std::size_t size) {
  for (const auto& [first, last] : ranges) {
    if (first < 0 ? last <= 0 : static_cast<std::size_t>(first) >= size) return false;
  }
  return true;
}

// If-None-Match against one entity tag, by the weak comparison (RFC 9110 §8.8.3.2).
bool etag_matches(const std::string& header, const std::string& etag) {
  if (header.empty()) return false;
  auto opaque = [](std::string_view t) {
    if (t.substr(0, 2) == "W/") t.remove_prefix(2);
    return t;
  };
  const std::string_view want = opaque(etag);
  std::size_t pos = 0;
  while (pos <= header.size()) {
    std::size_t end = header.find(',', pos);
    if (end == std::string::npos) end = header.size();
    std::string_view item = std::string_view(header).substr(pos, end - pos);
    pos = end + 1;
    while (!item.empty() && (item.front() == ' ' || item.front() == '\t')) item.remove_prefix(1);
    while (!item.empty() && (item.back() == ' ' || item.back() == '\t')) item.remove_suffix(1);
    if (item == "*" || opaque(item) == want) return true;
  }
  return false;
}

// ---------------------------------------------------------------- files

// One file as read from disk: its bytes (with their encodings), and for an
// HTML page the last rewritten version, kept while its assets' versions hold.
// Content-hashed file names (issue 11): a page names "/static/flow.js?v=dev";
// the server writes "/static/flow.<16 hex of its hash>.js", and a request for
// that name is served from flow.js, immutable for a year, while the hash still
// matches (a stale hash is not_found: the file it named is gone).
constexpr std::size_t kHashDigits = 16;

// "dir/flow.0123456789abcdef.js" → {"dir/flow.js", "0123456789abcdef"};
// nullopt for a name without a hash.
std::optional<std::pair<std::string, std::string>> split_hashed_name(std::string_view rel) {
  const std::size_t slash = rel.rfind('/');
  const std::size_t segment = slash == std::string_view::npos ? 0 : slash + 1;
  const std::size_t ext = rel.rfind('.');
  if (ext == std::string_view::npos || ext < segment + kHashDigits + 2) return std::nullopt;
  const std::size_t hash_at = ext - kHashDigits;
  if (rel[hash_at - 1] != '.') return std::nullopt;
  const std::string_view hash = rel.substr(hash_at, kHashDigits);
  if (hash.find_first_not_of("0123456789abcdef") != std::string_view::npos) return std::nullopt;
  return std::make_pair(std::string(rel.substr(0, hash_at - 1)) + std::string(rel.substr(ext)),
                        std::string(hash));
}

// "/static/flow.js" and a hash → "/static/flow.<hash>.js".
std::string hashed_name(std::string_view path, std::string_view hash) {
  const std::size_t slash = path.rfind('/');
  const std::size_t ext = path.rfind('.');
  if (ext == std::string_view::npos || (slash != std::string_view::npos && ext < slash)) {
    return std::string(path) + "." + std::string(hash);
  }
  return std::string(path.substr(0, ext)) + "." + std::string(hash) + std::string(path.substr(ext));
}

struct CachedFile {
  std::int64_t mtime_ns = 0;
  std::uintmax_t size = 0;
  dev_t device = 0;
  ino_t inode = 0;
  // This version (this inode under this path) was found inside its served
  // folder once (is_below: two canonical paths, a readlink per component);
  // a changed path gives another inode, so another version, checked again.
  std::atomic<bool> below{false};
  std::shared_ptr<Body> body;
  std::mutex page_mutex;
  std::string page_versions;  // the asset versions `page` was written with
  std::shared_ptr<Body> page;
};

// A relative path below a served folder: segments of printable characters,
// none empty, none starting with '.', no backslash. Anything else is refused.
bool is_safe_relative(std::string_view rel) {
  if (rel.empty() || rel.size() > 512) return false;
  std::size_t start = 0;
  while (start <= rel.size()) {
    std::size_t end = rel.find('/', start);
    if (end == std::string_view::npos) end = rel.size();
    std::string_view seg = rel.substr(start, end - start);
    if (seg.empty() || seg.front() == '.') return false;
    for (char c : seg) {
      const auto u = static_cast<unsigned char>(c);
      if (u < 0x20 || u == 0x7F || c == '\\' || c == '%' || c == ':') return false;
    }
    start = end + 1;
  }
  return true;
}

// Reads a whole (small) file; nullopt on any failure.
std::optional<std::string> read_file(const fs::path& p, std::uintmax_t size) {
  if (size > kMaxStaticFileBytes) return std::nullopt;
  std::ifstream in(p, std::ios::binary);
  if (!in) return std::nullopt;
  std::string data(static_cast<std::size_t>(size), '\0');
  in.read(data.data(), static_cast<std::streamsize>(size));
  if (static_cast<std::uintmax_t>(in.gcount()) != size) return std::nullopt;
  return data;
}

}  // namespace

class StaticFiles {
 public:
  StaticFiles(fs::path web_root, fs::path wasm_dir, bool dev_mode, Metrics* metrics)
      : web_root_(std::move(web_root)),
        wasm_dir_(std::move(wasm_dir)),
        dev_mode_(dev_mode),
        metrics_(metrics) {}

  // Serves `rel` below `dir`; `html_fallback` maps "callback" to "callback.html".
  void serve(const httplib::Request& req, httplib::Response& res, const fs::path& dir,
             std::string rel, bool html_fallback) const {
    if (rel.empty() || rel.back() == '/') rel += "index.html";
    if (!is_safe_relative(rel)) {
      send_error(res, ErrorCode::bad_request);
      return;
    }
    fs::path file = dir / fs::path(rel);
    std::error_code ec;
    if (html_fallback && file.extension().empty() && !fs::is_regular_file(file, ec)) {
      file += ".html";
    }
    // A content-hashed name is served from the file without the hash.
    std::optional<std::string> wanted_hash;
    if (auto split = split_hashed_name(rel)) {
      wanted_hash = std::move(split->second);
      file = dir / fs::path(split->first);
    }
    std::string_view type = mime_type(file);
    std::shared_ptr<CachedFile> cached = type.empty() ? nullptr : find(dir, file, type);
    if (!cached || (wanted_hash && cached->body->hash() != *wanted_hash)) {
      send_error(res, ErrorCode::not_found);
      return;
    }
    const bool html = file.extension() == ".html";
    // "dev" is the placeholder of a page that was not rewritten: no version.
    const bool versioned =
        !html && (wanted_hash || (req.has_param("v") && req.get_param_value("v") != "dev"));
    send(req, res, html ? page(*cached) : cached->body,
         versioned ? "public, max-age=31536000, immutable" : "no-cache");
  }

  // The flow page as GET /authorize's answer (serve_flow_page); false, with
  // nothing written, when there is none.
  bool serve_flow_page(const httplib::Request& req, httplib::Response& res) const {
    const fs::path dir = web_root_ / "flow";
    const fs::path file = dir / "index.html";
    std::shared_ptr<CachedFile> cached = find(dir, file, mime_type(file));
    if (!cached) return false;
    send(req, res, page(*cached), nullptr);
    return true;
  }

  const fs::path& web_root() const { return web_root_; }
  const fs::path& wasm_dir() const { return wasm_dir_; }
  bool dev_mode() const { return dev_mode_; }

 private:
  // Answers with `body` in the encoding the request accepts. `cache_control`
  // null: the answer carries a session cookie (/authorize), so it is
  // "no-store", without an ETag, and never a 304.
  void send(const httplib::Request& req, httplib::Response& res, const std::shared_ptr<Body>& body,
            const char* cache_control) const {
    res.set_header("Cache-Control", cache_control ? cache_control : "no-store");
    res.set_header("Vary", "Accept-Encoding");
    // A page with inline styles: the middleware adds their hashes to the CSP
    // (add_security_headers). On the 304 too: a browser replaces the stored
    // answer's headers with a 304's, CSP included.
    if (!body->inline_style_hashes().empty()) {
      res.set_header(kInlineStyleHashesHeader, body->inline_style_hashes());
    }

    // The encoding to send, falling back when the chosen one is not kept.
    const std::string accept = req.get_header_value("Accept-Encoding");
    std::shared_ptr<const std::string> bytes;
    Encoding encoding = choose_encoding(accept, true, true);
    if (encoding != Encoding::identity) bytes = body->encoded(encoding);
    if (!bytes && encoding == Encoding::br) {
      encoding = choose_encoding(accept, false, true);
      if (encoding == Encoding::gzip) bytes = body->encoded(encoding);
    }
    if (!bytes) {
      encoding = Encoding::identity;
      bytes = body->identity();
    }
    if (cache_control) {
      const char* suffix = encoding == Encoding::br     ? "-br"
                           : encoding == Encoding::gzip ? "-gz"
                                                        : "";
      const std::string etag = "W/\"" + body->hash() + suffix + "\"";
      res.set_header("ETag", etag);
      if (etag_matches(req.get_header_value("If-None-Match"), etag)) {
        res.status = 304;
        return;
      }
    }
    if (encoding != Encoding::identity) {
      res.set_header("Content-Encoding", encoding == Encoding::br ? "br" : "gzip");
    }
    if (bytes->empty()) {
      res.status = 200;
      res.set_content("", std::string(body->type()));
      return;
    }
    // httplib 0.11.4 takes a range past the end (or a suffix of 0 bytes) as
    // it comes: a Content-Length of 2^64 minus something, and a body that
    // never comes. Such a Range is ignored (RFC 9110 §14.2 allows it): the
    // whole body, 200. Not a 416 of ours: httplib would add its own, wrong,
    // Content-Range to it. The request is httplib's own non-const object,
    // handed to handlers as const.
    if (!satisfiable(req.ranges, bytes->size())) {
      const_cast<httplib::Request&>(req).ranges.clear();
    }
    // httplib sets the status (200, or 206 for a Range request), the
    // Content-Length and, for a range, Content-Range; it never compresses a
    // provider's bytes. The provider keeps the shared bytes alive.
    res.set_content_provider(
        bytes->size(), std::string(body->type()),
        [bytes](std::size_t offset, std::size_t length, httplib::DataSink& sink) {
          // A range beyond the end (httplib 0.11.4 does not check it): stop.
          if (offset >= bytes->size()) return false;
          length = std::min(length, bytes->size() - offset);
          return sink.write(bytes->data() + offset, length);
        });
  }

  // The canonical file lies inside the canonical folder (no symlink escape).
  static bool is_below(const fs::path& dir, const fs::path& file) {
    std::error_code ec;
    fs::path d = fs::canonical(dir, ec);
    if (ec) return false;
    fs::path f = fs::canonical(file, ec);
    if (ec) return false;
    auto [dit, fit] = std::mismatch(d.begin(), d.end(), f.begin(), f.end());
    return dit == d.end();
  }

  static bool same_version(const CachedFile& f, const struct stat& st, std::int64_t mtime) {
    return f.mtime_ns == mtime && f.size == static_cast<std::uintmax_t>(st.st_size) &&
           f.device == st.st_dev && f.inode == st.st_ino;
  }

  // What `file` below `dir` answers: flow-bundle.js, or the file if it lies
  // inside its folder; null otherwise.
  std::shared_ptr<CachedFile> find(const fs::path& dir, const fs::path& file,
                                   std::string_view type) const {
    if (file == web_root_ / "static" / kFlowBundle) return flow_bundle();
    std::shared_ptr<CachedFile> cached = load(file, type);
    if (cached && !cached->below.load(std::memory_order_acquire)) {
      if (!is_below(dir, file)) return nullptr;
      cached->below.store(true, std::memory_order_release);
    }
    return cached;
  }

  // /static/flow-bundle.js (issue 10): the core's glue (renkei_core.js of
  // the WASM folder) and flow.js in one script. A cold load of screen ① then
  // asks for one script instead of two, and each request costs the server a
  // worker thread's wakeup (about 0.2 ms of CPU, docs/performance.md); flow.js
  // finds createRenkeiCore defined and loads no glue. A browser without
  // WebAssembly downloads the glue too (about 3.7 KB compressed) and never
  // runs it. Without the WASM build the bundle is flow.js alone (the page then
  // uses the server's catalog). The bytes are made anew when either file
  // changes, and so is the content-hashed name: every instance of a cluster
  // names and serves the same bundle without having served the page first.
  // ";" between the two: the glue may end without one, and flow.js begins
  // with a parenthesis.
  std::shared_ptr<CachedFile> flow_bundle() const {
    const std::shared_ptr<CachedFile> flow =
        find(web_root_ / "static", web_root_ / "static" / "flow.js", mime_type(kFlowBundle));
    if (!flow) return nullptr;
    const std::shared_ptr<CachedFile> glue =
        find(wasm_dir_, wasm_dir_ / "renkei_core.js", mime_type(kFlowBundle));
    const std::string key = flow->body->hash() + "," + (glue ? glue->body->hash() : "");
    std::lock_guard<std::mutex> lock(mutex_);
    if (!flow_bundle_ || flow_bundle_key_ != key) {
      std::string bytes;
      if (glue) bytes = *glue->body->identity() + "\n;\n";
      bytes += *flow->body->identity();
      auto entry = std::make_shared<CachedFile>();
      entry->below.store(true, std::memory_order_relaxed);  // made of files found below
      entry->body = std::make_shared<Body>(std::move(bytes), mime_type(kFlowBundle), metrics_);
      flow_bundle_ = std::move(entry);
      flow_bundle_key_ = key;
    }
    return flow_bundle_;
  }

  // The file's bytes, reread when its size, modification time or inode
  // changed (a new version: new hash, and its encodings made anew); null when
  // it is not a regular file.
  std::shared_ptr<CachedFile> load(const fs::path& file, std::string_view type) const {
    struct stat st {};
    if (::stat(file.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) return nullptr;
    const std::int64_t mtime =
        static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1000000000LL + st.st_mtim.tv_nsec;
    const auto size = static_cast<std::uintmax_t>(st.st_size);
    {
      std::lock_guard<std::mutex> lock(mutex_);
      auto it = cache_.find(file.string());
      if (it != cache_.end() && same_version(*it->second, st, mtime)) return it->second;
    }
    std::optional<std::string> data = read_file(file, size);
    if (!data) return nullptr;
    auto entry = std::make_shared<CachedFile>();
    entry->mtime_ns = mtime;
    entry->size = size;
    entry->device = st.st_dev;
    entry->inode = st.st_ino;
    entry->body = std::make_shared<Body>(std::move(*data), type, metrics_);
    std::lock_guard<std::mutex> lock(mutex_);
    // Another request may have read the same version meanwhile: keep one
    // entry per version, so that its encodings are made once (found by the
    // concurrent compression test under ASan's timing).
    auto& slot = cache_[file.string()];
    if (slot && same_version(*slot, st, mtime)) return slot;
    slot = entry;
    return entry;
  }

  // The HTML page with its assets' content-hashed names and integrity filled
  // in; rewritten (and so compressed anew) only when an asset changed.
  std::shared_ptr<Body> page(CachedFile& file) const {
    const std::string& html = *file.body->identity();
    std::vector<std::optional<AssetLink>> links = asset_links(html);
    std::string key;
    for (const auto& l : links) key += (l ? l->hashed_path : std::string("dev")) + ",";
    std::lock_guard<std::mutex> lock(file.page_mutex);
    if (!file.page || file.page_versions != key) {
      std::string style_hashes;
      for (const auto& l : links) {
        if (!l || !l->inline_text) continue;
        if (!style_hashes.empty()) style_hashes += ' ';
        style_hashes += l->style_source;
      }
      file.page = std::make_shared<Body>(with_asset_links(html, links), file.body->type(), metrics_,
                                         std::move(style_hashes));
      file.page_versions = std::move(key);
    }
    return file.page;
  }

  // The folder and relative path that a "/static/…" URL path names.
  std::optional<std::pair<fs::path, std::string>> static_target(std::string_view url_path) const {
    constexpr std::string_view kWasm = "/static/wasm/";
    constexpr std::string_view kStatic = "/static/";
    if (url_path.substr(0, kWasm.size()) == kWasm) {
      return std::make_pair(wasm_dir_, std::string(url_path.substr(kWasm.size())));
    }
    if (url_path.substr(0, kStatic.size()) == kStatic) {
      return std::make_pair(web_root_ / "static", std::string(url_path.substr(kStatic.size())));
    }
    return std::nullopt;
  }

  // One "/static/<file>?v=dev" of a page: where its path starts, the name to
  // write instead (content-hashed), and the asset's integrity.
  struct AssetLink {
    std::size_t path_start = 0;
    std::string hashed_path;
    std::string integrity;
    // A stylesheet written into the page: the whole <link …> tag
    // [tag_start, tag_end] becomes <style>text</style>, allowed by the CSP
    // source style_source (the hash of text).
    std::shared_ptr<const std::string> inline_text;
    std::size_t tag_start = 0;
    std::size_t tag_end = 0;
    std::string style_source;
  };

  // A <link rel="stylesheet" … data-inline> whose file can stand as a
  // <style> element's text: nothing that would end the element early
  // ("</style", any case), and no CR or NUL, which the HTML parser would
  // change before the browser hashes the text (the CSP hash would then not
  // match). Anything else stays a link.
  static void inline_if_marked(const std::string& html, std::size_t hit, const Body& css,
                               AssetLink& link) {
    const std::size_t lt = html.rfind('<', link.path_start);
    const std::size_t gt = html.find('>', hit);
    if (lt == std::string::npos || gt == std::string::npos) return;
    const std::string_view tag = std::string_view(html).substr(lt, gt + 1 - lt);
    if (!tag.starts_with("<link ") || tag.find(" data-inline") == std::string_view::npos ||
        tag.find("rel=\"stylesheet\"") == std::string_view::npos ||
        tag.find(kVersionPlaceholder) != tag.rfind(kVersionPlaceholder) ||
        css.type() != mime_type("a.css")) {
      return;
    }
    const std::string& text = *css.identity();
    if (text.find('\r') != std::string::npos || text.find('\0') != std::string::npos) return;
    for (std::size_t at = text.find("</"); at != std::string::npos; at = text.find("</", at + 2)) {
      std::string word = text.substr(at + 2, 5);
      for (char& c : word) c = static_cast<char>(c >= 'A' && c <= 'Z' ? c + 32 : c);
      if (word == "style") return;
    }
    if (css.style_source().empty()) return;
    link.inline_text = css.identity();
    link.tag_start = lt;
    link.tag_end = gt;
    link.style_source = css.style_source();
  }

  // For each "?v=dev" in the page, in order: the link of the asset named by
  // the "/static/<file>" before it, or nullopt when there is none (the
  // placeholder then stays, and the asset is served uncached).
  std::vector<std::optional<AssetLink>> asset_links(const std::string& html) const {
    std::vector<std::optional<AssetLink>> out;
    const std::string_view placeholder = kVersionPlaceholder;
    std::size_t pos = 0;
    while (true) {
      std::size_t hit = html.find(placeholder, pos);
      if (hit == std::string::npos) break;
      std::size_t start = html.rfind("/static/", hit);
      std::size_t quote = html.find_last_of("\"'", hit);
      std::optional<AssetLink> link;
      if (start != std::string::npos && (quote == std::string::npos || quote < start)) {
        const std::string_view path = std::string_view(html).substr(start, hit - start);
        auto target = static_target(path);
        if (target && is_safe_relative(target->second)) {
          const fs::path asset = target->first / target->second;
          if (auto f = find(target->first, asset, mime_type(asset))) {
            link.emplace();
            link->path_start = start;
            link->hashed_path = hashed_name(path, f->body->hash());
            link->integrity = f->body->integrity();
            inline_if_marked(html, hit, *f->body, *link);
          }
        }
      }
      out.push_back(std::move(link));
      pos = hit + placeholder.size();
    }
    return out;
  }

  // The attribute that carries an asset's integrity in the tag around `at`:
  // `integrity` on <script> (the browser checks it), `data-integrity` on
  // <meta> (flow.js passes it on to the script it loads), none elsewhere.
  static std::string_view integrity_attribute(const std::string& html, std::size_t at) {
    const std::size_t lt = html.rfind('<', at);
    if (lt == std::string::npos) return {};
    if (html.compare(lt, 8, "<script ") == 0) return "integrity";
    if (html.compare(lt, 6, "<meta ") == 0) return "data-integrity";
    return {};
  }

  // Writes each asset's content-hashed name over "<path>?v=dev", and its
  // integrity after the attribute's closing quote where the tag takes one.
  static std::string with_asset_links(const std::string& html,
                                      const std::vector<std::optional<AssetLink>>& links) {
    std::string out;
    out.reserve(html.size() + 128 * links.size());
    const std::string_view placeholder = kVersionPlaceholder;
    std::size_t pos = 0;
    for (const auto& link : links) {
      std::size_t hit = html.find(placeholder, pos);
      if (hit == std::string::npos) break;
      if (!link) {
        out.append(html, pos, hit + placeholder.size() - pos);
        pos = hit + placeholder.size();
        continue;
      }
      if (link->inline_text) {
        out.append(html, pos, link->tag_start - pos);
        out += "<style>";
        out += *link->inline_text;
        out += "</style>";
        pos = link->tag_end + 1;
        continue;
      }
      out.append(html, pos, link->path_start - pos);
      out += link->hashed_path;
      pos = hit + placeholder.size();
      const std::string_view attribute = integrity_attribute(html, link->path_start);
      const char quote = link->path_start > 0 ? html[link->path_start - 1] : '"';
      const std::size_t close = html.find(quote, pos);
      if (attribute.empty() || link->integrity.empty() || (quote != '"' && quote != '\'') ||
          close == std::string::npos) {
        continue;
      }
      out.append(html, pos, close + 1 - pos);
      out += " " + std::string(attribute) + "=\"" + link->integrity + "\"";
      pos = close + 1;
    }
    out.append(html, pos, std::string::npos);
    return out;
  }

  const fs::path web_root_;
  const fs::path wasm_dir_;
  const bool dev_mode_;
  Metrics* const metrics_;
  mutable std::mutex mutex_;
  mutable std::map<std::string, std::shared_ptr<CachedFile>> cache_;
  mutable std::shared_ptr<CachedFile> flow_bundle_;  // under mutex_
  mutable std::string flow_bundle_key_;              // the two files' hashes it was made of
};

namespace {

fs::path wasm_folder(const std::string& web_root) {
  if (const char* env = std::getenv("RENKEI_WASM_DIR"); env && *env) return fs::path(env);
  return fs::path(web_root) / ".." / "build" / "wasm";
}

// "/flow" → "/flow/" keeping the query (the error page reads ?error=…).
void redirect_to_folder(const httplib::Request& req, httplib::Response& res) {
  std::string target = req.path + "/";
  std::string query;
  for (const auto& [k, v] : req.params) {
    query += (query.empty() ? "?" : "&") + url_encode(k) + "=" + url_encode(v);
  }
  res.set_redirect(target + query, 301);
}

}  // namespace

std::shared_ptr<StaticFiles> make_static_files(App& app) {
  return std::make_shared<StaticFiles>(fs::path(app.config().web_root),
                                       wasm_folder(app.config().web_root), app.config().dev_mode,
                                       &app.metrics());
}

bool serve_flow_page(const StaticFiles& files, const httplib::Request& req,
                     httplib::Response& res) {
  return files.serve_flow_page(req, res);
}

void register_static_routes(Router& server, std::shared_ptr<StaticFiles> files) {
  server.Get("/flow", redirect_to_folder);
  server.Get(R"(/flow/(.*))", [files](const httplib::Request& req, httplib::Response& res) {
    files->serve(req, res, files->web_root() / "flow", req.matches[1], false);
  });
  // Only the products of the wasm preset are served from its folder: the
  // core module and the console's module and font.
  server.Get(R"(/static/wasm/(.*))", [files](const httplib::Request& req, httplib::Response& res) {
    const std::string name = req.matches[1];
    const auto split = split_hashed_name(name);
    const std::string& base = split ? split->first : name;
    if (base != "renkei_core.js" && base != "renkei_core.wasm" && base != "renkei_console.js" &&
        base != "renkei_console.wasm" && base != "renkei_console_font.ttf") {
      send_error(res, is_safe_relative(name) ? ErrorCode::not_found : ErrorCode::bad_request);
      return;
    }
    files->serve(req, res, files->wasm_dir(), name, false);
  });
  server.Get(R"(/static/(.*))", [files](const httplib::Request& req, httplib::Response& res) {
    files->serve(req, res, files->web_root() / "static", req.matches[1], false);
  });
  server.Get("/console", redirect_to_folder);
  server.Get(R"(/console/(.*))", [files](const httplib::Request& req, httplib::Response& res) {
    files->serve(req, res, files->web_root() / "console", req.matches[1], false);
  });
  if (files->dev_mode()) {
    server.Get("/demo", redirect_to_folder);
    server.Get(R"(/demo/(.*))", [files](const httplib::Request& req, httplib::Response& res) {
      files->serve(req, res, files->web_root() / "demo", req.matches[1], true);
    });
  }
}

}  // namespace renkei::server
