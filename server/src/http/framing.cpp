// Request framing (RFC 9112 §6): see framing.h.
#include "http/framing.h"

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <optional>

#include "http/ascii.h"

namespace renkei::server {
namespace {

constexpr std::size_t kNpos = std::string::npos;

// memchr, not find_first_of (which looks each character up in the set): with
// find_first_of frame_request took 7,800 instructions a request; with memchr
// read_and_frame takes 2,500, the recv of the request included (callgrind,
// renkei_load_bench --flows 100 --clients 1).
bool contains(std::string_view s, char c) {
  return !s.empty() && std::memchr(s.data(), c, s.size()) != nullptr;
}
bool has_nul_or_cr(std::string_view s) {
  return contains(s, '\0') || contains(s, '\r');
}

// 1*DIGIT (RFC 9110 §8.6), at most 2^64-1; nullopt otherwise.
std::optional<std::uint64_t> parse_length(std::string_view s) {
  if (s.empty()) return std::nullopt;
  std::uint64_t n = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
    const auto d = static_cast<std::uint64_t>(c - '0');
    if (n > (UINT64_MAX - d) / 10) return std::nullopt;
    n = n * 10 + d;
  }
  return n;
}

// tchar (RFC 9110 §5.6.2).
bool is_tchar(char c) {
  if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) return true;
  return c != '\0' && std::memchr("!#$%&'*+-.^_`|~", c, 15) != nullptr;
}

// RFC 9112 §3: method SP request-target SP HTTP-version, exactly (`line`
// without its CRLF), of HTTP/1.0 or HTTP/1.1 (the versions httplib parses). httplib 0.11.4 splits
// the line on runs of spaces and trims spaces and tabs around each part: " POST / HTTP/1.1" was its
// POST and not ours (no Content-Length: 0 added; it then read a body until the peer closed). One
// rule here, strict, so both read the same request.
bool request_line_well_formed(std::string_view line) {
  std::size_t i = 0;
  while (i < line.size() && is_tchar(line[i])) ++i;
  if (i == 0 || i >= line.size() || line[i] != ' ') return false;
  const std::size_t target = ++i;
  while (i < line.size() && static_cast<unsigned char>(line[i]) > 0x20 && line[i] != 0x7f) ++i;
  if (i == target || i >= line.size() || line[i] != ' ') return false;
  const std::string_view version = line.substr(i + 1);
  return version == "HTTP/1.1" || version == "HTTP/1.0";
}

// The methods httplib 0.11.4 parses (its parse_request_line); any other is
// refused here, 400 as httplib did, but answered by the middleware and with
// its connection closed (httplib answered without reading the head's
// fields, and kept the connection).
bool method_known(std::string_view m) {
  switch (m.size()) {
    case 3:
      return m == "GET" || m == "PUT" || m == "PRI";
    case 4:
      return m == "POST" || m == "HEAD";
    case 5:
      return m == "PATCH" || m == "TRACE";
    case 6:
      return m == "DELETE";
    case 7:
      return m == "CONNECT" || m == "OPTIONS";
    default:
      return false;
  }
}

bool expects_content(std::string_view method) {
  // httplib 0.11.4's expect_content(): the methods whose body it reads.
  return method == "POST" || method == "PUT" || method == "PATCH" || method == "DELETE" ||
         method == "PRI";
}

// The request handed on in place of a refused one: its request line (or,
// when httplib would not parse that, one it does, so that the middleware
// answers) with "Connection: close" and no body.
Framing refuse(std::string& bytes, int status, const char* reason) {
  const std::size_t lf = bytes.find('\n');
  if (lf != kNpos && lf > 0 && bytes[lf - 1] == '\r' &&
      request_line_well_formed(std::string_view(bytes.data(), lf - 1)) &&
      method_known(std::string_view(bytes.data(), bytes.find(' ')))) {
    bytes.resize(lf - 1);
  } else {
    bytes = "GET / HTTP/1.1";
  }
  bytes += "\r\nConnection: close\r\nContent-Length: 0\r\n\r\n";
  return {status, reason};
}

// A line's [begin, end) in the head, end past its LF.
struct Span {
  std::size_t begin = kNpos;
  std::size_t end = kNpos;
};

// Reads and decodes a chunked body starting at bytes[at]; on success `body`
// holds it and `*after` is the index just past the chunked body (its trailer
// section included).
Framing dechunk(std::string& bytes, std::size_t at, std::size_t max_body, ByteSource& source,
                std::string& body, std::size_t* after) {
  const std::size_t start = at;
  // Chunk lines and trailer fields beside the data: bounded as a head is.
  const std::size_t max_framed = max_body + kMaxHeadBytes;
  // The LF ending the line at `from` in *lf, reading more as needed; the
  // refusal when the body ends first or grows too large.
  auto line_at = [&](std::size_t from, std::size_t* lf) -> Framing {
    std::size_t searched = from;
    for (;;) {
      *lf = bytes.find('\n', searched);
      if (*lf != kNpos) return {};
      searched = bytes.size();
      if (bytes.size() - start > max_framed) return {413, "the chunked body is too large"};
      if (!source.read_more(bytes)) return {400, "the chunked body ended early"};
    }
  };
  auto have = [&](std::size_t n) {
    while (bytes.size() < n) {
      if (!source.read_more(bytes)) return false;
    }
    return true;
  };
  for (;;) {
    std::size_t lf = 0;
    if (Framing f = line_at(at, &lf); f.status != 0) return f;
    std::string_view line(bytes.data() + at, lf - at);
    if (line.empty() || line.back() != '\r') return {400, "a chunk line ends with a bare LF"};
    line.remove_suffix(1);
    std::size_t i = 0;
    std::uint64_t size = 0;
    for (; i < line.size() && hex_value(line[i]) >= 0; ++i) {
      if (i >= 15) return {400, "a chunk size is too large"};
      size = size * 16 + static_cast<std::uint64_t>(hex_value(line[i]));
    }
    if (i == 0) return {400, "a chunk size is not hexadecimal"};
    // chunk-ext (RFC 9112 §7.1.1), ignored: BWS ";" ...
    std::string_view ext = line.substr(i);
    while (!ext.empty() && (ext.front() == ' ' || ext.front() == '\t')) ext.remove_prefix(1);
    if (!ext.empty() && ext.front() != ';') return {400, "a chunk size is not hexadecimal"};
    if (has_nul_or_cr(ext)) {
      return {400, "a chunk extension holds a NUL or a bare CR"};
    }
    at = lf + 1;
    if (at - start > max_framed) return {413, "the chunked body is too large"};
    if (size == 0) break;
    if (size > max_body - std::min<std::uint64_t>(max_body, body.size())) {
      return {413, "the chunked body is too large"};
    }
    const auto n = static_cast<std::size_t>(size);
    if (!have(at + n + 2)) return {400, "the chunked body ended early"};
    if (bytes[at + n] != '\r' || bytes[at + n + 1] != '\n') {
      return {400, "a chunk is longer than its size"};
    }
    body.append(bytes, at, n);
    at += n + 2;
  }
  // The trailer section (RFC 9112 §7.1.2): fields up to an empty line,
  // dropped.
  for (;;) {
    std::size_t lf = 0;
    if (Framing f = line_at(at, &lf); f.status != 0) return f;
    std::string_view line(bytes.data() + at, lf - at);
    at = lf + 1;
    if (line == "\r") break;
    if (line.empty() || line.back() != '\r') return {400, "a trailer line ends with a bare LF"};
    if (at - start > max_framed) return {413, "the chunked body is too large"};
  }
  *after = at;
  return {};
}

// One past the blank line ending the head in `bytes`, or npos while it is
// incomplete; the head ends as httplib reads it: the request line up to its
// LF, then lines up to one that is "\r\n" — so at the first "\n\r\n", whose
// LF is at or after the request line's. `*scanned` (0 at first) lets the next
// call resume where this one stopped.
// A head whose lines end in bare LFs ends, for a lenient reader, at the
// first "\n\n": `*bare_lf` says one came and no "\n\r\n" yet (the head is
// then refused at once, where it was answered at the read deadline). One
// before a "\n\r\n" is a bare LF line that frame_request refuses.
std::size_t find_head_end(std::string_view bytes, std::size_t* scanned, bool* bare_lf) {
  const std::size_t from = *scanned >= 2 ? *scanned - 2 : 0;
  const std::size_t at = bytes.find("\n\r\n", from);
  *bare_lf = at == kNpos && bytes.find("\n\n", *scanned >= 1 ? *scanned - 1 : 0) != kNpos;
  *scanned = bytes.size();
  return at == kNpos ? kNpos : at + 3;
}

// Checks the head bytes[0, head_end) and rewrites `bytes` (framing.h).
Framing frame_request(std::string& bytes, std::size_t head_end, std::size_t max_body,
                      ByteSource& source) {
  const std::string_view head(bytes.data(), head_end);
  const std::size_t first_lf = head.find('\n');
  if (first_lf == 0 || head[first_lf - 1] != '\r' ||
      !request_line_well_formed(head.substr(0, first_lf - 1))) {
    return refuse(bytes, 400, "the request line is malformed");
  }
  const std::string_view method = head.substr(0, head.find(' '));
  if (!method_known(method)) {
    return refuse(bytes, 400, "the method is not one served");
  }
  const std::size_t fields_end = head_end - 2;  // the blank line

  int lengths = 0;
  std::optional<std::uint64_t> length;
  bool length_bad = false;
  int codings = 0;
  std::string_view coding;
  Span coding_line;
  Span expect_line;
  for (std::size_t pos = first_lf + 1; pos < fields_end;) {
    const std::size_t lf = head.find('\n', pos);
    const Span span{pos, lf + 1};
    std::string_view line = head.substr(pos, lf - pos);
    pos = lf + 1;
    if (line.empty() || line.back() != '\r') {
      return refuse(bytes, 400, "a header line ends with a bare LF");
    }
    // httplib 0.11.4 answers a longer line (CPPHTTPLIB_HEADER_MAX_LENGTH,
    // CRLF included) 400 without reading the rest of the head, and kept the
    // connection: refused here, answered by the middleware, closed.
    if (line.size() + 1 > kMaxFieldLineBytes) {
      return refuse(bytes, 431, "a header line is too large");
    }
    line.remove_suffix(1);
    // RFC 9110 §5.5: NUL, CR and LF are never part of a field value.
    if (has_nul_or_cr(line)) {
      return refuse(bytes, 400, "a header field holds a NUL or a bare CR");
    }
    const std::size_t colon = line.find(':');
    if (colon == kNpos || colon == 0) return refuse(bytes, 400, "a header line is not a field");
    const std::string_view name = line.substr(0, colon);
    // RFC 9112 §5.1 (and obs-fold, §5.2: a line starting with whitespace).
    if (contains(name, ' ') || contains(name, '\t')) {
      return refuse(bytes, 400, "whitespace in a header field name");
    }
    switch (name.size()) {
      case 14:
        if (iequals_lower(name, "content-length")) {
          auto n = parse_length(trim_ows(line.substr(colon + 1)));
          if (!n || (length && *length != *n)) length_bad = true;
          if (n) length = n;
          ++lengths;
        }
        break;
      case 17:
        if (iequals_lower(name, "transfer-encoding")) {
          coding = trim_ows(line.substr(colon + 1));
          coding_line = span;
          ++codings;
        }
        break;
      case 16:
        // httplib 0.11.4 (built with zlib and brotli) inflates a gzip,
        // deflate or br request body into memory, and its payload limit
        // bounds only the compressed bytes: a small body could become
        // gigabytes. No client of ours compresses a request body.
        if (iequals_lower(name, "content-encoding") &&
            !iequals_lower(trim_ows(line.substr(colon + 1)), "identity")) {
          return refuse(bytes, 415, "a request body with a content coding is not accepted");
        }
        break;
      case 6:
        if (iequals_lower(name, "expect") &&
            iequals_lower(trim_ows(line.substr(colon + 1)), "100-continue")) {
          expect_line = span;
        }
        break;
      default:
        break;
    }
  }
  if (length_bad) {
    return refuse(bytes, 400, "Content-Length is not a number, or two differ");
  }
  if (codings > 0 && lengths > 0) {
    return refuse(bytes, 400, "Content-Length and Transfer-Encoding together");
  }
  // RFC 9112 §6.1: Transfer-Encoding in an HTTP/1.0 request is faulty
  // framing (an HTTP/1.0 intermediary before us would not have read it so).
  if (codings > 0 && head[first_lf - 2] == '0') {
    return refuse(bytes, 400, "Transfer-Encoding in an HTTP/1.0 request");
  }
  if (codings == 0) {
    // A declared body over the limit: httplib read and dropped all of it
    // before answering 413 (at the read deadline for a large one) where no
    // route refused it first (/healthz, /metrics).
    if (length && *length > max_body) {
      return refuse(bytes, 413, "the request body is too large");
    }
    Framing served;
    served.head = head_end;
    if (lengths == 0 && expects_content(method)) {
      // RFC 9112 §6.3 rule 7: no body.
      static constexpr std::string_view kNoBody = "Content-Length: 0\r\n";
      bytes.insert(fields_end, kNoBody);
      served.head += kNoBody.size();
    }
    served.length = served.head + (lengths > 0 ? *length : 0);
    return served;
  }
  if (codings > 1 || !iequals_lower(coding, "chunked")) {
    return refuse(bytes, 501, "the only transfer coding served is chunked");
  }

  if (expect_line.begin != kNpos) source.send_continue();
  std::string body;
  std::size_t after = 0;
  if (Framing f = dechunk(bytes, head_end, max_body, source, body, &after); f.status != 0) {
    return refuse(bytes, f.status, f.reason);
  }
  // The head without Transfer-Encoding (and Expect, answered above), with the
  // decoded body's Content-Length; then the body and whatever followed it.
  Span drop[2] = {coding_line, expect_line};
  if (drop[1].begin < drop[0].begin) std::swap(drop[0], drop[1]);
  std::string out;
  out.reserve(head_end + 32 + body.size() + (bytes.size() - after));
  std::size_t copied = 0;
  for (const Span& s : drop) {
    if (s.begin == kNpos) continue;
    out.append(bytes, copied, s.begin - copied);
    copied = s.end;
  }
  out.append(bytes, copied, fields_end - copied);
  out += "Content-Length: ";
  out += std::to_string(body.size());
  out += "\r\n\r\n";
  Framing served;
  served.head = out.size();
  served.length = out.size() + body.size();
  out += body;
  out.append(bytes, after, kNpos);
  bytes.swap(out);
  return served;
}

}  // namespace

Framing read_and_frame(std::string& bytes, std::size_t max_body, ByteSource& source) {
  std::size_t scanned = 0;
  for (;;) {
    // RFC 9112 §2.2: empty lines before a request line are ignored (a
    // client may send a CRLF after a request's body); they would not parse
    // as one.
    if (scanned == 0 && !bytes.empty() && (bytes.front() == '\r' || bytes.front() == '\n')) {
      std::size_t n = 0;
      while (n < bytes.size() && (bytes[n] == '\r' || bytes[n] == '\n')) ++n;
      bytes.erase(0, n);
      if (bytes.empty()) {
        if (!source.read_more(bytes)) return {};
        continue;
      }
    }
    bool bare_lf = false;
    const std::size_t end = find_head_end(bytes, &scanned, &bare_lf);
    if (bare_lf) return refuse(bytes, 400, "a header line ends with a bare LF");
    if (end != kNpos) return frame_request(bytes, end, max_body, source);
    if (bytes.size() >= kMaxHeadBytes) return refuse(bytes, 431, "the request head is too large");
    if (!source.read_more(bytes)) return {};
  }
}

namespace {
thread_local Framing t_framing;
}  // namespace

void set_request_framing(Framing f) {
  t_framing = f;
}
Framing request_framing() {
  return t_framing;
}

}  // namespace renkei::server
