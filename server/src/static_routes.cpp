// The customer's pages and the demo app as static files (issue 4):
//   /flow/…            <web_root>/flow      (screens ①–⑥, cancel, errors)
//   /static/wasm/…     renkei_core.js/.wasm from RENKEI_WASM_DIR, else
//                      <web_root>/../build/wasm (the wasm preset's output)
//   /static/…          <web_root>/static
//   /demo/…            <web_root>/demo, development mode only
//   /console/…         <web_root>/console, the operator console's page (issue 5);
//                      its module and font (renkei_console.js/.wasm,
//                      renkei_console_font.ttf) come from the wasm folder. Served
//                      in every mode: the page holds nothing; the admin API it
//                      calls is what asks for the token.
//
// Caching: HTML is "no-cache" (always revalidated with its ETag); an asset
// asked for with a version query (?v=…) is immutable for a year. An HTML page
// names its assets as "/static/<file>?v=dev"; the server replaces "dev" with
// the asset's content hash, so a changed file gets a new URL.
// Compression: httplib itself gzips (or brotlis) text types; the WASM module,
// which it does not, is gzipped here once per file version and kept.
// Paths: httplib decodes %xx before routing, so ".." and NUL arrive decoded;
// any "..", ".", empty or hidden segment, backslash or control character is
// refused (400), and the resolved file must stay under its folder (symlinks).
#include <sys/stat.h>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>

#include "http_util.h"
#include "routes.h"

namespace renkei::server {
namespace {

namespace fs = std::filesystem;

constexpr std::size_t kMaxStaticFileBytes = 8 * 1024 * 1024;
constexpr const char* kVersionPlaceholder = "?v=dev";

// One file as read from disk, with what the answers need.
struct CachedFile {
  std::int64_t mtime_ns = 0;
  std::uintmax_t size = 0;
  std::string body;
  std::string hash;                  // 16 hex digits of FNV-1a 64 over the bytes
  std::optional<std::string> gzip;   // made on first request that accepts it
};

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

std::optional<std::string> gzip_bytes(const std::string& body) {
  httplib::detail::gzip_compressor gz;
  std::string out;
  bool ok = gz.compress(body.data(), body.size(), true, [&out](const char* d, std::size_t n) {
    out.append(d, n);
    return true;
  });
  if (!ok) return std::nullopt;
  return out;
}

class StaticFiles {
 public:
  StaticFiles(fs::path web_root, fs::path wasm_dir, bool dev_mode)
      : web_root_(std::move(web_root)), wasm_dir_(std::move(wasm_dir)), dev_mode_(dev_mode) {}

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
    std::string_view type = mime_type(file);
    if (type.empty() || !fs::is_regular_file(file, ec) || !is_below(dir, file)) {
      send_error(res, ErrorCode::not_found);
      return;
    }
    std::shared_ptr<CachedFile> cached = load(file);
    if (!cached) {
      send_error(res, ErrorCode::not_found);
      return;
    }
    const bool html = file.extension() == ".html";
    std::string body = cached->body;
    std::string tag = cached->hash;
    if (html) {
      body = with_asset_versions(body);
      tag = fnv1a_hex(body);
    }
    const std::string etag = "W/\"" + tag + "\"";
    res.set_header("ETag", etag);
    if (html) {
      res.set_header("Cache-Control", "no-cache");
    } else if (req.has_param("v") && req.get_param_value("v") != "dev") {
      // "dev" is the placeholder of a page that was not rewritten: no version.
      res.set_header("Cache-Control", "public, max-age=31536000, immutable");
    } else {
      res.set_header("Cache-Control", "no-cache");
    }
    res.set_header("Vary", "Accept-Encoding");
    if (etag_matches(req.get_header_value("If-None-Match"), tag)) {
      res.status = 304;
      return;
    }
    res.status = 200;
    res.set_header("Content-Type", std::string(type));
    // httplib compresses the text types itself when the client accepts it;
    // the module and the console's font are gzipped here.
    if (httplib::detail::encoding_type(req, res) != httplib::detail::EncodingType::None ||
        !accepts_gzip(req) || (type != "application/wasm" && type != "font/ttf")) {
      res.body = std::move(body);
      return;
    }
    std::optional<std::string> gz = gzipped(file, cached);
    if (!gz) {
      res.body = std::move(body);
      return;
    }
    res.set_header("Content-Encoding", "gzip");
    res.body = std::move(*gz);
  }

  const fs::path& web_root() const { return web_root_; }
  const fs::path& wasm_dir() const { return wasm_dir_; }
  bool dev_mode() const { return dev_mode_; }

 private:
  static bool accepts_gzip(const httplib::Request& req) {
    const std::string ae = req.get_header_value("Accept-Encoding");
    return ae.find("gzip") != std::string::npos;
  }

  static bool etag_matches(const std::string& header, const std::string& tag) {
    if (header.empty()) return false;
    if (header == "*") return true;
    return header.find("\"" + tag + "\"") != std::string::npos;
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

  // The file's bytes, reread when its size or modification time changed.
  std::shared_ptr<CachedFile> load(const fs::path& file) const {
    struct stat st {};
    if (::stat(file.c_str(), &st) != 0) return nullptr;
    const std::int64_t mtime =
        static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1000000000LL + st.st_mtim.tv_nsec;
    const auto size = static_cast<std::uintmax_t>(st.st_size);
    {
      std::lock_guard<std::mutex> lock(mutex_);
      auto it = cache_.find(file.string());
      if (it != cache_.end() && it->second->mtime_ns == mtime && it->second->size == size) {
        return it->second;
      }
    }
    std::optional<std::string> data = read_file(file, size);
    if (!data) return nullptr;
    auto entry = std::make_shared<CachedFile>();
    entry->mtime_ns = mtime;
    entry->size = size;
    entry->hash = fnv1a_hex(*data);
    entry->body = std::move(*data);
    std::lock_guard<std::mutex> lock(mutex_);
    cache_[file.string()] = entry;
    return entry;
  }

  std::optional<std::string> gzipped(const fs::path& file,
                                     const std::shared_ptr<CachedFile>& entry) const {
    std::lock_guard<std::mutex> lock(mutex_);
    if (!entry->gzip) {
      entry->gzip = gzip_bytes(entry->body);
      if (!entry->gzip) return std::nullopt;
      (void)file;
    }
    return entry->gzip;
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

  // Replaces each "/static/<file>?v=dev" with "/static/<file>?v=<hash>".
  std::string with_asset_versions(const std::string& html) const {
    std::string out;
    out.reserve(html.size());
    std::size_t pos = 0;
    const std::string_view placeholder = kVersionPlaceholder;
    while (true) {
      std::size_t hit = html.find(placeholder, pos);
      if (hit == std::string::npos) break;
      std::size_t start = html.rfind("/static/", hit);
      std::size_t quote = html.find_last_of("\"'", hit);
      std::string version = "dev";
      if (start != std::string::npos && (quote == std::string::npos || quote < start)) {
        auto target = static_target(std::string_view(html).substr(start, hit - start));
        if (target && is_safe_relative(target->second)) {
          if (auto f = load(target->first / target->second)) version = f->hash;
        }
      }
      out.append(html, pos, hit - pos);
      out += "?v=" + version;
      pos = hit + placeholder.size();
    }
    out.append(html, pos, std::string::npos);
    return out;
  }

  const fs::path web_root_;
  const fs::path wasm_dir_;
  const bool dev_mode_;
  mutable std::mutex mutex_;
  mutable std::map<std::string, std::shared_ptr<CachedFile>> cache_;
};

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

void register_static_routes(httplib::Server& server, App& app) {
  auto files = std::make_shared<StaticFiles>(fs::path(app.config().web_root),
                                             wasm_folder(app.config().web_root),
                                             app.config().dev_mode);

  server.Get("/flow", redirect_to_folder);
  server.Get(R"(/flow/(.*))", [files](const httplib::Request& req, httplib::Response& res) {
    files->serve(req, res, files->web_root() / "flow", req.matches[1], false);
  });
  // Only the products of the wasm preset are served from its folder: the
  // core module and the console's module and font.
  server.Get(R"(/static/wasm/(.*))", [files](const httplib::Request& req, httplib::Response& res) {
    const std::string name = req.matches[1];
    if (name != "renkei_core.js" && name != "renkei_core.wasm" && name != "renkei_console.js" &&
        name != "renkei_console.wasm" && name != "renkei_console_font.ttf") {
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
