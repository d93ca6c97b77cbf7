// The WASM module's whole interface, as seen from JS (wasm/run_case.js, the
// glue's --post-js):
//   runCase(line: string | Uint8Array) -> string   one JSON case in, one JSON result out
//   version() -> string                            the project version, e.g. "0.1.0"
// runCase is renkei::run_case unchanged, so the node twin of the native CLI and
// the browser produce byte-identical output to the native build. A Uint8Array
// argument is passed through as raw bytes, which lets tests feed the exact bytes
// a native process would read; a string is encoded as UTF-8 the way a browser
// sends it (TextEncoder: a lone surrogate becomes U+FFFD).
//
// No embind (issue 10): its std::string marshalling encoded and measured the
// line in JS one UTF-16 unit at a time and scanned the answer for NULs byte by
// byte, about a fifth of a call. Here JS writes the line's UTF-8 straight into
// the module's memory (TextEncoder.encodeInto) and reads the answer in place
// (TextDecoder), through four plain exported C functions.
#include <emscripten/emscripten.h>

#include <cstddef>
#include <cstdlib>
#include <new>
#include <string>
#include <string_view>

#include "renkei/case_runner.h"

#ifndef RENKEI_VERSION
#define RENKEI_VERSION "unknown"
#endif

// ----- allocation during runCase: a bump arena (issue 10, "runCase at most 2x
// native"; docs/performance.md, "WASM") -----
// A case builds and drops hundreds of small strings and JSON nodes; malloc and
// free of those cost far more in WASM (dlmalloc compiled to WASM) than glibc's
// natively. While run_case runs, operator new takes memory from a fixed arena
// by moving a pointer, and operator delete of arena memory only counts; when the
// last arena block is deleted (the answer of the call before, dropped when the
// next call starts), the arena starts over. Nothing else changes: the same code
// and the same answers, only where the bytes live.
// - Only inside runCase (g_arena_on): the input buffer and whatever else lives
//   across calls gets its memory from malloc.
// - A block that outlived its call would only stop the reset; a call that
//   needs more than the arena (a case near the 1 MiB limit) gets the rest from
//   malloc. Both are correct, only slower.
namespace {

constexpr std::size_t kArenaBytes = 512 * 1024;
constexpr std::size_t kAlign = alignof(std::max_align_t);
alignas(std::max_align_t) unsigned char g_arena[kArenaBytes];
std::size_t g_arena_top = 0;    // bytes handed out since the last reset
std::size_t g_arena_live = 0;   // arena blocks not yet deleted
bool g_arena_on = false;

bool in_arena(const void* p) {
  auto* b = static_cast<const unsigned char*>(p);
  return b >= g_arena && b < g_arena + kArenaBytes;
}

__attribute__((noinline)) void* allocate(std::size_t n) {
  if (g_arena_on && n <= kArenaBytes) {  // first, so that rounding n up cannot overflow
    const std::size_t need = n == 0 ? kAlign : (n + kAlign - 1) & ~(kAlign - 1);
    if (need <= kArenaBytes - g_arena_top) {
      void* p = g_arena + g_arena_top;
      g_arena_top += need;
      ++g_arena_live;
      return p;
    }
  }
  void* p = std::malloc(n == 0 ? 1 : n);
  if (!p) std::abort();  // no exceptions in this build: as libc++'s operator new does then
  return p;
}

__attribute__((noinline)) void deallocate(void* p) {
  if (!p) return;
  if (in_arena(p)) {
    if (--g_arena_live == 0) g_arena_top = 0;
    return;
  }
  std::free(p);
}

// The line's bytes, written by JS; kept and grown, never shrunk.
unsigned char* g_input = nullptr;
std::size_t g_input_capacity = 0;
// The last answer, read by JS in place; dropped when the next call starts.
std::string g_answer;

}  // namespace

void* operator new(std::size_t n) { return allocate(n); }
void* operator new[](std::size_t n) { return allocate(n); }
void* operator new(std::size_t n, const std::nothrow_t&) noexcept { return allocate(n); }
void* operator new[](std::size_t n, const std::nothrow_t&) noexcept { return allocate(n); }
void operator delete(void* p) noexcept { deallocate(p); }
void operator delete[](void* p) noexcept { deallocate(p); }
void operator delete(void* p, std::size_t) noexcept { deallocate(p); }
void operator delete[](void* p, std::size_t) noexcept { deallocate(p); }
void operator delete(void* p, const std::nothrow_t&) noexcept { deallocate(p); }
void operator delete[](void* p, const std::nothrow_t&) noexcept { deallocate(p); }

extern "C" {

// A buffer of at least n bytes for the next line (valid until the next call).
EMSCRIPTEN_KEEPALIVE unsigned char* renkei_input(std::size_t n) {
  if (n > g_input_capacity || !g_input) {
    std::free(g_input);
    g_input_capacity = n < 1024 ? 1024 : n;
    g_input = static_cast<unsigned char*>(std::malloc(g_input_capacity));
    if (!g_input) std::abort();
  }
  return g_input;
}

// run_case of the first n bytes of the input buffer; the answer's bytes
// (renkei_answer_size() of them, no terminating NUL relied on).
EMSCRIPTEN_KEEPALIVE const char* renkei_run_case(std::size_t n) {
  std::string().swap(g_answer);  // the last answer leaves the arena first
  g_arena_on = true;
  g_answer = renkei::run_case(std::string_view(reinterpret_cast<const char*>(g_input), n));
  g_arena_on = false;
  return g_answer.data();
}

EMSCRIPTEN_KEEPALIVE std::size_t renkei_answer_size() { return g_answer.size(); }

EMSCRIPTEN_KEEPALIVE const char* renkei_version() { return RENKEI_VERSION; }

}  // extern "C"
