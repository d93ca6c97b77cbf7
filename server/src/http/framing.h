// Request framing (RFC 9112 §6), checked once on a request's head before
// httplib 0.11.4 parses it. httplib is lenient where leniency costs: it reads
// a POST without Content-Length until the peer closes (the client waited for
// the 10 s read deadline), takes "Content-Length: -1" or "1e3" for whatever
// strtoull makes of it, reads a body with Transfer-Encoding "gzip" until EOF,
// takes a chunk size of "-2" for 2^64-2 bytes, uses one of two differing
// Content-Lengths, and keeps a header value cut at a NUL (found by the
// hostile-input sweep). Here a request's head is checked as a whole, and the
// request is then either handed on, normalised, or refused:
//   - a POST/PUT/PATCH/DELETE with neither Content-Length nor
//     Transfer-Encoding gets "Content-Length: 0" (§6.3 rule 7: no body);
//   - a chunked body is read and decoded here (chunk sizes checked, the
//     payload limit applied) and handed on with its Content-Length;
//   - anything else wrong is refused: 400 (a Content-Length that is not
//     1*DIGIT, two that differ, Content-Length beside Transfer-Encoding, a bad
//     chunk, a NUL or bare CR or bare LF in a header line, whitespace before a
//     field's colon, a line without one, a request line other than
//     method SP request-target SP HTTP/1.x CRLF, a method httplib does not
//     parse), 501 (a transfer coding other than one final "chunked"), 415
//     (a Content-Encoding other than identity: httplib would inflate the
//     body past the payload limit), 413
//     (a chunked body over the limit), 431 (a head over kMaxHeadBytes, a
//     header line over kMaxFieldLineBytes).
//     The refused request is handed on as its request line alone (or
//     "GET /" when httplib would not parse that) with "Connection: close"
//     and no body; the pre-routing middleware answers it from
//     request_framing() (server.cpp).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace renkei::server {

// The largest request head (request line and header fields) read.
inline constexpr std::size_t kMaxHeadBytes = 64 * 1024;
// The longest header line (CRLF included) httplib 0.11.4 parses.
inline constexpr std::size_t kMaxFieldLineBytes = 8192;

// What framing decided about the request being served on this thread.
struct Framing {
  int status = 0;           // 0: served as usual; else the status to answer
  const char* reason = "";  // why (ASCII; an error description)
  // Where the request ends in the rewritten bytes, when served (status 0):
  // its head is bytes[0, head), its body the `length - head` bytes after it
  // (not necessarily read yet); what follows is the connection's next
  // request. 0 when the head never arrived whole.
  std::size_t head = 0;
  std::uint64_t length = 0;
};

// Where a request's bytes come from while its chunked body is read.
class ByteSource {
 public:
  // Appends the next bytes that arrive to `to`; false at the end of input,
  // on error or at the read deadline.
  virtual bool read_more(std::string& to) = 0;
  // Sends "100 Continue" to a client that asked for it (Expect).
  virtual void send_continue() = 0;

 protected:
  ~ByteSource() = default;
};

// Reads the request's head into `bytes` (with `source`, as far as it is not
// there yet), checks it and rewrites `bytes` (the head and what followed it)
// as described above; `source` also gives the rest of a chunked body. A head
// that never arrives whole (the source ended: the peer closed, or the
// deadline passed) is left as it is, with status 0, for httplib to answer as
// before; a head over kMaxHeadBytes is refused 431.
Framing read_and_frame(std::string& bytes, std::size_t max_body, ByteSource& source);

// The framing of the request this thread serves: set by the connection loop
// before httplib processes the request, read by the pre-routing middleware.
void set_request_framing(Framing f);
Framing request_framing();

}  // namespace renkei::server
