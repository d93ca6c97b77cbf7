// Load benchmark (not a test): complete authorization-code flows over real
// HTTP, as the customer's browser and the app drive them:
//   GET /authorize (PKCE S256) → GET /api/flow → ① account → ② customer →
//   ③ phone → /dev/simulate-call → ④ call/confirm → ⑤ pin → ⑥ consent →
//   POST /token → GET /api/v1/account/balance
// with N client threads, each with its own keep-alive httplib::Client and
// cookie jar, for a fixed number of flows or seconds. Reports flows/s, the
// latency of every step (p50/p90/p99/max), failures by step/status/code, and
// in-process the resident memory before and after.
//
//   renkei_load_bench [--clients 16] [--flows 2000 | --seconds S] [--database PATH]
//   renkei_load_bench --url http://127.0.0.1:8080 [...]     a running dev-mode server
//   renkei_load_bench --trivial [...]   bare cpp-httplib, one trivial route (same client code)
//   renkei_load_bench --healthz [...]   our server's GET /healthz (middleware + one read tx)
//   renkei_load_bench --bare-post [...]   bare cpp-httplib, one JSON POST route (body parsed
//       with nlohmann, a small JSON answer): the library's cost of a request like a flow step
//   renkei_load_bench --versus-bare --seconds S [...]   in one run, the bare JSON POST server
//       and then complete flows, the same clients and seconds each; prints both request
//       rates and flow requests/s ÷ bare JSON POST requests/s (issue 10: at least 0.5)
//   renkei_load_bench --browser-like [...]   also as a browser: every request with
//       "Accept-Encoding: gzip, deflate, br", and after /authorize (which
//       answers with the flow page) each asset the page names (/static/…: the
//       script with the WASM glue, the WASM module) fetched once per flow, as
//       a cold browser would
//   renkei_load_bench --hold-flows 10000 [--url URL --server-pid PID]
//       starts that many flows, drives each to screen ④ (call_wait) and leaves
//       it open, then reports the server's VmRSS (docs/performance.md, memory)
//
// In process the server is the real one (make_app + build_server, so the same
// socket tuning as renkei-server), on a SQLite file in a fresh temporary
// folder (fsync costs are real), with a manual clock at an open instant (no
// maintenance window), the mail worker on a maildir, and its JSON log lines
// going to a file in that folder. The demo accounts are used many times each;
// all data is correct, so the lockout (which counts failures only) never
// engages; a 423/locked in the error table would be a defect.
#include <httplib.h>
#include <openssl/sha.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "ops/crypto.h"
#include "http/http_util.h"
#include "ops/mail.h"
#include "test_server.h"

namespace {

using nlohmann::json;
using SteadyClock = std::chrono::steady_clock;
namespace fs = std::filesystem;
namespace rs = renkei::server;

// ---------------------------------------------------------------- options

enum class Mode { flows, trivial, healthz, hold, bare_post, versus };

struct Options {
  Mode mode = Mode::flows;
  std::string url;  // empty: in process
  int clients = 16;
  long flows = 2000;         // flows (or requests in --trivial/--healthz)
  double seconds = 0;        // > 0: run for this long instead of a count
  double max_seconds = 110;  // hard bound on any run
  std::string database;      // in process; default: a fresh temporary folder
  int server_threads = 0;    // 0: ServerConfig's default, as renkei-server
  int call_pool = 64;        // numbers in the in-process server's call pool
  bool mail_worker = true;
  bool keep = false;  // keep the temporary folder
  std::string client_id = "demo-app";
  std::string redirect_uri;        // default: the test harness's, or <url>/demo/callback
  int server_pid = 0;              // --url: read this process's VmRSS (/proc/PID/status)
  double settle_seconds = 3;       // --hold-flows: wait this long before the last RSS reading
  bool honor_retry_after = false;  // after a busy answer, wait Retry-After before the next flow
  bool browser_like = false;       // Accept-Encoding as a browser; the page and its assets per flow
};

[[noreturn]] void usage(const char* why) {
  std::fprintf(
      stderr,
      "renkei_load_bench: %s\n"
      "usage: renkei_load_bench [--clients N] [--flows M | --seconds S]\n"
      "         [--database PATH] [--server-threads T] [--call-pool K] [--no-mail] [--keep]\n"
      "         [--url http://127.0.0.1:PORT [--client-id ID] [--redirect-uri URI]]\n"
      "         [--trivial | --healthz | --bare-post | --versus-bare] [--max-seconds S]\n"
      "         [--honor-retry-after]\n"
      "         [--browser-like]\n"
      "       renkei_load_bench --hold-flows N [--clients C] [--url URL --server-pid PID]\n",
      why);
  std::exit(2);
}

Options parse_options(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) usage(("missing value for " + a).c_str());
      return argv[++i];
    };
    auto number = [&](double min) {
      std::string v = value();
      char* end = nullptr;
      double d = std::strtod(v.c_str(), &end);
      if (end == v.c_str() || *end != '\0' || d < min) usage(("bad value for " + a).c_str());
      return d;
    };
    if (a == "--clients") {
      o.clients = static_cast<int>(number(1));
    } else if (a == "--flows" || a == "--requests") {
      o.flows = static_cast<long>(number(1));
    } else if (a == "--seconds") {
      o.seconds = number(0.1);
    } else if (a == "--max-seconds") {
      o.max_seconds = number(1);
    } else if (a == "--database") {
      o.database = value();
    } else if (a == "--server-threads") {
      o.server_threads = static_cast<int>(number(1));
    } else if (a == "--url") {
      o.url = value();
    } else if (a == "--client-id") {
      o.client_id = value();
    } else if (a == "--redirect-uri") {
      o.redirect_uri = value();
    } else if (a == "--trivial") {
      o.mode = Mode::trivial;
    } else if (a == "--healthz") {
      o.mode = Mode::healthz;
    } else if (a == "--bare-post") {
      o.mode = Mode::bare_post;
    } else if (a == "--versus-bare") {
      o.mode = Mode::versus;
    } else if (a == "--hold-flows") {
      o.mode = Mode::hold;
      o.flows = static_cast<long>(number(1));
    } else if (a == "--server-pid") {
      o.server_pid = static_cast<int>(number(1));
    } else if (a == "--honor-retry-after") {
      o.honor_retry_after = true;
    } else if (a == "--browser-like") {
      o.browser_like = true;
    } else if (a == "--settle-seconds") {
      o.settle_seconds = number(0);
    } else if (a == "--call-pool") {
      o.call_pool = static_cast<int>(number(1));
    } else if (a == "--no-mail") {
      o.mail_worker = false;
    } else if (a == "--keep") {
      o.keep = true;
    } else if (a == "-h" || a == "--help") {
      usage("help");
    } else {
      usage(("unknown option " + a).c_str());
    }
  }
  if (o.clients > 512) usage("--clients at most 512");
  if (o.mode == Mode::trivial && !o.url.empty()) usage("--trivial runs its own server");
  if ((o.mode == Mode::bare_post || o.mode == Mode::versus) && !o.url.empty()) {
    usage("--bare-post and --versus-bare run their own servers");
  }
  if (o.seconds > o.max_seconds) o.max_seconds = o.seconds;
  if (o.mode == Mode::hold && o.seconds > 0) usage("--hold-flows takes a count, not --seconds");
  if (o.browser_like && o.mode != Mode::flows) usage("--browser-like goes with complete flows");
  if (o.server_pid > 0 && o.url.empty()) usage("--server-pid goes with --url");
  return o;
}

// "http://127.0.0.1:8080" → host, port. Loopback only: this is a load tool.
bool parse_loopback_url(const std::string& url, std::string* host, int* port) {
  const std::string scheme = "http://";
  if (url.rfind(scheme, 0) != 0) return false;
  std::string rest = url.substr(scheme.size());
  while (!rest.empty() && rest.back() == '/') rest.pop_back();
  auto colon = rest.rfind(':');
  if (colon == std::string::npos) return false;
  *host = rest.substr(0, colon);
  if (*host != "127.0.0.1" && *host != "localhost") return false;
  try {
    *port = std::stoi(rest.substr(colon + 1));
  } catch (const std::exception&) {
    return false;
  }
  return *port > 0 && *port < 65536;
}

// ---------------------------------------------------------------- memory

// A field of /proc/<pid>/status in kB (pid 0: this process); -1 if absent.
long proc_status_kb(const char* key, int pid = 0) {
  std::ifstream in(pid > 0 ? "/proc/" + std::to_string(pid) + "/status"
                           : std::string("/proc/self/status"));
  std::string line;
  const std::string prefix = std::string(key) + ":";
  while (std::getline(in, line)) {
    if (line.rfind(prefix, 0) == 0) return std::atol(line.c_str() + prefix.size());
  }
  return -1;
}

std::string mib(long kb) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f MiB", static_cast<double>(kb) / 1024.0);
  return buf;
}

// ---------------------------------------------------------------- statistics

enum Step {
  kAuthorize,
  kAsset,
  kFlowView,
  kAccount,
  kCustomer,
  kPhone,
  kSimulateCall,
  kCallConfirm,
  kPin,
  kConsent,
  kToken,
  kBalance,
  kWholeFlow,
  kTrivial,
  kHealthz,
  kHeldFlow,
  kBarePost,
  kStepCount
};
constexpr const char* kStepNames[kStepCount] = {
    "GET /authorize (page)", "GET /static/… asset", "GET /api/flow",
    "POST account ①",  "POST customer ②",   "POST phone ③",        "POST simulate-call",
    "POST confirm ④",  "POST pin ⑤",        "POST consent ⑥",      "POST /token",
    "GET balance",     "whole flow",        "GET /trivial",        "GET /healthz",
    "flow to ④ (held)", "POST /bare-json"};
constexpr const char* kStepKeys[kStepCount] = {
    "authorize", "asset",   "flow",    "account",  "customer",
    "phone",     "simulate",   "confirm", "pin",     "consent",  "token",
    "balance",   "whole_flow", "trivial", "healthz", "held_flow", "bare_post"};

struct Stats {
  std::vector<std::int64_t> micros[kStepCount];  // latency of every attempt
  std::map<std::string, long> errors;            // "step status code" → count
  long flows_ok = 0;
  long flows_failed = 0;
  long requests = 0;
  long call_rematches = 0;  // our confirm found the flow still waiting (see run_flow)

  void merge(Stats&& o) {
    for (int s = 0; s < kStepCount; ++s) {
      micros[s].insert(micros[s].end(), o.micros[s].begin(), o.micros[s].end());
    }
    for (auto& [k, v] : o.errors) errors[k] += v;
    flows_ok += o.flows_ok;
    flows_failed += o.flows_failed;
    requests += o.requests;
    call_rematches += o.call_rematches;
  }
};

double percentile_ms(const std::vector<std::int64_t>& sorted, double p) {
  if (sorted.empty()) return 0;
  auto rank = static_cast<std::size_t>(p / 100.0 * static_cast<double>(sorted.size() - 1) + 0.5);
  return static_cast<double>(sorted[std::min(rank, sorted.size() - 1)]) / 1000.0;
}

// ---------------------------------------------------------------- the customer

// Eligible demo accounts (server/src/records/records.h), correct data only.
struct DemoAccount {
  const char* branch;
  const char* type;
  const char* number;
  const char* name_kana;
  const char* year;
  const char* month;
  const char* day;
  const char* phone;
  const char* pin;
};
constexpr DemoAccount kAccounts[] = {
    {"115", "ordinary", "1100026", "ﾃﾞｰﾀ ｻﾄﾙ", "1985", "04", "12", "09011113333", "1234"},
    {"001", "savings", "0000123", "ﾔﾏﾀﾞ ﾊﾅｺ", "1990", "12", "01", "08022224444", "4321"},
    {"022", "ordinary", "2222222", "ｽｽﾞｷ ｲﾁﾛｳ", "1972", "07", "07", "07033335555", "5555"},
    {"115", "savings", "5000005", "ｺﾊﾞﾔｼ ｹﾝ", "1995", "05", "05", "09055556666", "0000"},
};
constexpr std::size_t kAccountCount = sizeof kAccounts / sizeof kAccounts[0];

// A confirm that still finds the flow waiting is retried this often (see run_flow).
constexpr int kMaxCallAttempts = 50;

std::string form_body(const std::vector<std::pair<std::string, std::string>>& params) {
  std::string out;
  for (const auto& [k, v] : params) {
    if (!out.empty()) out += '&';
    out += rs::url_encode(k) + "=" + rs::url_encode(v);
  }
  return out;
}

std::string decode_component(std::string_view s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '+') {
      out.push_back(' ');
    } else if (s[i] == '%' && i + 2 < s.size()) {
      out.push_back(static_cast<char>(std::stoi(std::string(s.substr(i + 1, 2)), nullptr, 16)));
      i += 2;
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

// One query parameter of a URL ("" when absent).
std::string query_param(const std::string& url, const std::string& name) {
  auto q = url.find('?');
  if (q == std::string::npos) return "";
  std::string_view rest(url);
  rest.remove_prefix(q + 1);
  while (!rest.empty()) {
    auto amp = rest.find('&');
    std::string_view pair = rest.substr(0, amp);
    auto eq = pair.find('=');
    if (eq != std::string_view::npos && decode_component(pair.substr(0, eq)) == name) {
      return decode_component(pair.substr(eq + 1));
    }
    if (amp == std::string_view::npos) break;
    rest.remove_prefix(amp + 1);
  }
  return "";
}

struct Pkce {
  std::string verifier;
  std::string challenge;
};
Pkce make_pkce() {
  Pkce p;
  p.verifier = rs::random_token(32);
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(p.verifier.data()), p.verifier.size(), digest);
  p.challenge =
      rs::base64url_encode(std::string_view(reinterpret_cast<const char*>(digest), sizeof digest));
  return p;
}

// The error code in an answer: the envelope's error.code, or the OAuth form's
// "code"/"error", or "-".
std::string error_code_of(const json& body) {
  if (!body.is_object()) return "-";
  if (auto it = body.find("error"); it != body.end()) {
    if (it->is_object() && it->contains("code") && (*it)["code"].is_string()) {
      return (*it)["code"].get<std::string>();
    }
    if (body.contains("code") && body["code"].is_string()) return body["code"].get<std::string>();
    if (it->is_string()) return it->get<std::string>();
  }
  return "-";
}

struct Target {
  std::string host = "127.0.0.1";
  int port = 0;
  std::string client_id;
  std::string redirect_uri;
  bool browser_like = false;
};

// What --bare-post sends: the size and shape of ⑤'s body.
const std::string kBarePostBody = R"({"pin":"1234","flow":"st-0123456789abcdef"})";

// What chromium sends on every request (navigation, subresources, fetch()).
constexpr const char* kBrowserAcceptEncoding = "gzip, deflate, br";

// The "/static/…" URLs an HTML page names in attributes (href, src, content),
// in order, each once.
std::vector<std::string> page_assets(const std::string& html) {
  std::vector<std::string> out;
  std::size_t pos = 0;
  while ((pos = html.find("\"/static/", pos)) != std::string::npos) {
    std::size_t end = html.find('"', pos + 1);
    if (end == std::string::npos) break;
    std::string url = html.substr(pos + 1, end - pos - 1);
    if (std::find(out.begin(), out.end(), url) == out.end()) out.push_back(url);
    pos = end + 1;
  }
  return out;
}

// One client thread: a browser (cookie jar, CSRF token) and the app (token,
// API), on one keep-alive connection.
class Driver {
 public:
  Driver(const Target& target, Stats& stats)
      : target_(target), stats_(stats), http_(target.host, target.port) {
    http_.set_keep_alive(true);
    http_.set_tcp_nodelay(true);  // else each POST's body waits ~40 ms (TOOLCHAIN.md)
    http_.set_connection_timeout(5, 0);
    http_.set_read_timeout(15, 0);
    http_.set_write_timeout(15, 0);
    if (target.browser_like) {
      // httplib (Debian's build, with brotli and zlib) decodes br and gzip bodies.
      http_.set_default_headers({{"Accept-Encoding", kBrowserAcceptEncoding}});
      http_.set_decompress(true);
    }
  }

  bool get_ok(const std::string& path, Step step) {
    auto r = timed(step, [&] { return http_.Get(path.c_str()); });
    return expect(step, r, 200).has_value();
  }

  // A JSON POST of about a flow step's size (--bare-post).
  bool post_json_ok(const std::string& path, const std::string& body, Step step) {
    auto r = timed(step, [&] { return http_.Post(path.c_str(), body, "application/json"); });
    return expect(step, r, 200).has_value();
  }

  // One complete flow for demo account kAccounts[index % n]. True if every step
  // succeeded. With stop_at_call_wait, stops once the flow waits for the call
  // on ④ and leaves it open on the server (--hold-flows).
  bool run_flow(long index, bool stop_at_call_wait = false) {
    const DemoAccount& acc = kAccounts[static_cast<std::size_t>(index) % kAccountCount];
    session_.clear();
    csrf_.clear();
    const Pkce pkce = make_pkce();
    const std::string state = "st-" + rs::random_token(9);

    // The app sends the customer to /authorize.
    const std::string authorize = "/authorize?" + form_body({{"response_type", "code"},
                                                             {"client_id", target_.client_id},
                                                             {"redirect_uri", target_.redirect_uri},
                                                             {"state", state},
                                                             {"code_challenge", pkce.challenge},
                                                             {"code_challenge_method", "S256"},
                                                             {"scope", "accounts.read"}});
    auto r = timed(kAuthorize, [&] { return http_.Get(authorize.c_str()); });
    if (!r) return transport_error(kAuthorize, r);
    take_cookie(*r);
    // A started flow answers with screen ①'s page itself (no redirect).
    if (r->status != 200 || r->has_header("Location") || session_.empty()) {
      // Out of hours, switched-off client, bad request: the reason is in the Location.
      std::string loc = r->get_header_value("Location");
      std::string why = query_param(loc, "error");
      return fail(kAuthorize, r->status, why.empty() ? error_code_of(parse(r->body)) : why);
    }

    // A cold browser: every asset the page names.
    if (target_.browser_like && !load_assets(r->body)) return false;

    // The page loads the flow.
    r = timed(kFlowView, [&] { return http_.Get("/api/flow", headers(false)); });
    auto view = expect(kFlowView, r, 200);
    if (!view) return false;
    if (!take_csrf(*view)) return fail(kFlowView, 200, "no_csrf_token");

    if (!post(kAccount, "/api/flow/account",
              {{"branch", acc.branch}, {"account_type", acc.type}, {"account_number", acc.number}},
              "customer_entry")) {
      return false;
    }
    const std::string email = "load" + std::to_string(index % 1000) + "@example.jp";
    if (!post(kCustomer, "/api/flow/customer",
              {{"name_kana", acc.name_kana},
               {"birth_year", acc.year},
               {"birth_month", acc.month},
               {"birth_day", acc.day},
               {"phone", acc.phone},
               {"email", email},
               {"email_confirm", email}},
              "phone_confirm")) {
      return false;
    }
    if (!post(kPhone, "/api/flow/phone", json::object(), "call_wait")) return false;
    if (stop_at_call_wait) return true;

    // ④ The simulator calls from the account's phone to the assigned number
    // and verifies this session's own flow (other flows of the same phone
    // never share its number). Should confirm still answer call_pending (409),
    // we call again, as a customer whose call did not register would.
    bool confirmed = false;
    for (int attempt = 0; attempt < kMaxCallAttempts && !confirmed; ++attempt) {
      auto sim = send(kSimulateCall, "/dev/simulate-call", json::object());
      if (!expect(kSimulateCall, sim, 200)) return false;
      auto c = send(kCallConfirm, "/api/flow/call/confirm", json::object());
      if (!c) return transport_error(kCallConfirm, c);
      json body = parse(c->body);
      take_csrf(body);
      if (c->status == 200) {
        if (screen_of(body) != "pin_entry")
          return fail(kCallConfirm, 200, "screen " + screen_of(body));
        confirmed = true;
      } else if (c->status == 409 && error_code_of(body) == "call_pending") {
        ++stats_.call_rematches;
      } else {
        return fail(kCallConfirm, c->status, error_code_of(body));
      }
    }
    if (!confirmed) return fail(kCallConfirm, 409, "call_pending_after_retries");

    if (!post(kPin, "/api/flow/pin", {{"pin", acc.pin}}, "consent")) return false;
    auto consent = send(kConsent, "/api/flow/consent", {{"consent", true}});
    auto done = expect(kConsent, consent, 200);
    if (!done) return false;
    if (!done->contains("redirect_to") || !(*done)["redirect_to"].is_string()) {
      return fail(kConsent, 200, "no_redirect_to");
    }
    const std::string redirect = (*done)["redirect_to"];
    const std::string code = query_param(redirect, "code");
    if (code.empty() || query_param(redirect, "state") != state) {
      return fail(kConsent, 200, "bad_redirect");
    }

    // The app: code → tokens → one account read.
    const std::string token_form = form_body({{"grant_type", "authorization_code"},
                                              {"code", code},
                                              {"redirect_uri", target_.redirect_uri},
                                              {"client_id", target_.client_id},
                                              {"code_verifier", pkce.verifier}});
    r = timed(kToken, [&] {
      return http_.Post("/token", token_form, "application/x-www-form-urlencoded");
    });
    auto tokens = expect(kToken, r, 200);
    if (!tokens) return false;
    if (!tokens->contains("access_token") || !(*tokens)["access_token"].is_string()) {
      return fail(kToken, 200, "no_access_token");
    }
    const std::string access = (*tokens)["access_token"];
    r = timed(kBalance, [&] {
      return http_.Get("/api/v1/account/balance", {{"Authorization", "Bearer " + access}});
    });
    auto balance = expect(kBalance, r, 200);
    if (!balance) return false;
    if (!balance->contains("balance_yen")) return fail(kBalance, 200, "no_balance_yen");
    return true;
  }

 private:
  // Each "/static/…" URL the page names; 200 and a body for each.
  bool load_assets(const std::string& page) {
    const std::vector<std::string> assets = page_assets(page);
    if (assets.empty()) return fail(kAuthorize, 200, "no_assets_in_page");
    for (const std::string& url : assets) {
      auto a = timed(kAsset, [&] { return http_.Get(url.c_str()); });
      if (!a) return transport_error(kAsset, a);
      if (a->status != 200 || a->body.empty()) return fail(kAsset, a->status, url);
    }
    return true;
  }

  template <typename F>
  httplib::Result timed(Step step, F&& request) {
    auto t0 = SteadyClock::now();
    httplib::Result r = request();
    auto us = std::chrono::duration_cast<std::chrono::microseconds>(SteadyClock::now() - t0);
    if (r && (r->status == 503 || r->status == 429)) {
      busy_retry_after_ = std::max(1, std::atoi(r->get_header_value("Retry-After").c_str()));
    }
    stats_.micros[step].push_back(us.count());
    ++stats_.requests;
    return r;
  }

  httplib::Result send(Step step, const char* path, const json& body) {
    const std::string text = body.dump();
    return timed(step, [&] { return http_.Post(path, headers(true), text, "application/json"); });
  }

  // POST a screen; expects 200 and the flow on `screen` (or `screen_alt`).
  bool post(Step step, const char* path, const json& body, const char* screen,
            const char* screen_alt = nullptr) {
    auto r = send(step, path, body);
    auto j = expect(step, r, 200);
    if (!j) return false;
    std::string now_on = screen_of(*j);
    if (now_on != screen && (screen_alt == nullptr || now_on != screen_alt)) {
      return fail(step, 200, "screen " + now_on);
    }
    return true;
  }

  // The parsed body if the answer has `status`; otherwise counts the failure.
  std::optional<json> expect(Step step, const httplib::Result& r, int status) {
    if (!r) {
      transport_error(step, r);
      return std::nullopt;
    }
    take_cookie(*r);
    json body = parse(r->body);
    if (r->status != status) {
      fail(step, r->status, error_code_of(body));
      return std::nullopt;
    }
    take_csrf(body);
    return body;
  }

  bool fail(Step step, int status, const std::string& code) {
    ++stats_.errors[std::string(kStepKeys[step]) + " " + std::to_string(status) + " " + code];
    return false;
  }
  bool transport_error(Step step, const httplib::Result& r) {
    ++stats_.errors[std::string(kStepKeys[step]) + " transport " + httplib::to_string(r.error())];
    return false;
  }

  static json parse(const std::string& text) { return json::parse(text, nullptr, false); }
  static std::string screen_of(const json& j) {
    if (j.is_object() && j.contains("flow") && j["flow"].is_object() &&
        j["flow"].contains("screen") && j["flow"]["screen"].is_string()) {
      return j["flow"]["screen"].get<std::string>();
    }
    return "?";
  }

  httplib::Headers headers(bool with_csrf) const {
    httplib::Headers h;
    if (!session_.empty()) h.emplace("Cookie", "renkei_session=" + session_);
    if (with_csrf && !csrf_.empty()) h.emplace("X-CSRF-Token", csrf_);
    return h;
  }
  void take_cookie(const httplib::Response& r) {
    const std::string prefix = "renkei_session=";
    for (auto [it, end] = r.headers.equal_range("Set-Cookie"); it != end; ++it) {
      const std::string& v = it->second;
      if (v.rfind(prefix, 0) == 0) session_ = v.substr(prefix.size(), v.find(';') - prefix.size());
    }
  }
  bool take_csrf(const json& j) {
    if (j.is_object() && j.contains("csrf_token") && j["csrf_token"].is_string()) {
      csrf_ = j["csrf_token"].get<std::string>();
      return true;
    }
    return false;
  }

  int busy_retry_after_ = 0;  // Retry-After of the last busy answer, 0 if none since

 public:
  // Seconds the last busy answer asked to wait (0: none); resets.
  int take_busy() { return std::exchange(busy_retry_after_, 0); }

 private:
  const Target& target_;
  Stats& stats_;
  httplib::Client http_;
  std::string session_;
  std::string csrf_;
};

// ---------------------------------------------------------------- the run

struct RunResult {
  Stats stats;
  double seconds = 0;
};

RunResult run_clients(const Options& o, const Target& target) {
  std::atomic<long> next{0};
  const auto start = SteadyClock::now();
  const auto hard_stop = start + std::chrono::duration<double>(o.max_seconds);
  const auto soft_stop = start + std::chrono::duration<double>(o.seconds);
  const bool timed_run = o.seconds > 0;
  std::vector<Stats> per_thread(static_cast<std::size_t>(o.clients));
  std::vector<std::thread> threads;
  for (int c = 0; c < o.clients; ++c) {
    threads.emplace_back([&, c] {
      Stats& stats = per_thread[static_cast<std::size_t>(c)];
      Driver driver(target, stats);
      for (;;) {
        auto now = SteadyClock::now();
        if (now >= hard_stop || (timed_run && now >= soft_stop)) break;
        long i = next.fetch_add(1);
        if (!timed_run && i >= o.flows) break;
        auto t0 = SteadyClock::now();
        bool ok = false;
        switch (o.mode) {
          case Mode::flows:
            ok = driver.run_flow(i);
            break;
          case Mode::trivial:
            ok = driver.get_ok("/trivial", kTrivial);
            break;
          case Mode::healthz:
            ok = driver.get_ok("/healthz", kHealthz);
            break;
          case Mode::hold:
            ok = driver.run_flow(i, /*stop_at_call_wait=*/true);
            break;
          case Mode::bare_post:
            ok = driver.post_json_ok("/bare-json", kBarePostBody, kBarePost);
            break;
          case Mode::versus:
            break;  // split into bare_post and flows by main
        }
        if (ok) {
          ++stats.flows_ok;
          if (o.mode == Mode::flows || o.mode == Mode::hold) {
            stats.micros[o.mode == Mode::hold ? kHeldFlow : kWholeFlow].push_back(
                std::chrono::duration_cast<std::chrono::microseconds>(SteadyClock::now() - t0)
                    .count());
          }
        } else {
          ++stats.flows_failed;
          // A customer told "busy" comes back later, not at once.
          if (int wait = driver.take_busy(); wait > 0 && o.honor_retry_after) {
            const auto stop = timed_run ? soft_stop : hard_stop;
            const auto wake = SteadyClock::now() + std::chrono::seconds(wait);
            if (wake < stop) {
              std::this_thread::sleep_until(wake);
            } else {
              std::this_thread::sleep_until(stop);
            }
          }
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  RunResult out;
  out.seconds = std::chrono::duration<double>(SteadyClock::now() - start).count();
  for (auto& s : per_thread) out.stats.merge(std::move(s));
  return out;
}

// A bare cpp-httplib server with build_server's runtime tuning (nodelay,
// keep-alive, worker threads, listen backlog 1024) and one trivial route:
// what the library itself costs per request on this machine.
class TrivialServer {
 public:
  explicit TrivialServer(int threads) {
    server_.set_tcp_nodelay(true);
    server_.set_keep_alive_max_count(100000);
    server_.set_socket_options([this](int fd) {
      int yes = 1;
      ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
      listen_fd_.store(fd);
    });
    // As build_server: the backlog is raised on the bound socket when
    // listen_after_bind() creates the task queue (httplib listens with 5).
    server_.new_task_queue = [this, threads] {
      if (int fd = listen_fd_.load(); fd >= 0) ::listen(fd, 1024);
      return new httplib::ThreadPool(static_cast<std::size_t>(threads));
    };
    server_.Get("/trivial", [](const httplib::Request&, httplib::Response& res) {
      res.set_content(R"({"status":"ok"})", "application/json");
    });
    // A JSON POST as the library alone serves it: the body parsed (nlohmann),
    // one member read, a small JSON answer.
    server_.Post("/bare-json", [](const httplib::Request& req, httplib::Response& res) {
      json in = json::parse(req.body, nullptr, /*allow_exceptions=*/false);
      if (!in.is_object() || !in.contains("pin")) {
        res.status = 400;
        res.set_content(R"({"error":{"code":"bad_request"}})", "application/json");
        return;
      }
      json out = {{"screen", "consent"}, {"pin_ok", in["pin"] == "1234"}};
      res.set_content(out.dump(), "application/json; charset=utf-8");
    });
    port_ = server_.bind_to_any_port("127.0.0.1");
    if (port_ <= 0) throw std::runtime_error("bind failed");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    while (!server_.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  ~TrivialServer() {
    server_.stop();
    thread_.join();
  }
  int port() const { return port_; }

 private:
  httplib::Server server_;
  std::atomic<int> listen_fd_{-1};
  int port_ = 0;
  std::thread thread_;
};

const char* mode_name(Mode m) {
  switch (m) {
    case Mode::flows:
      return "flows";
    case Mode::trivial:
      return "trivial";
    case Mode::healthz:
      return "healthz";
    case Mode::hold:
      return "hold";
    case Mode::bare_post:
      return "bare_post";
    case Mode::versus:
      return "versus";
  }
  return "?";
}

void print_report(const Options& o, const RunResult& run, const std::string& where, long rss_before,
                  long rss_started, long rss_after) {
  const Stats& s = run.stats;
  const bool flows = o.mode == Mode::flows || o.mode == Mode::hold;
  const double per_s = static_cast<double>(s.flows_ok) / run.seconds;
  const double req_per_s = static_cast<double>(s.requests) / run.seconds;
  std::printf("\n== renkei_load_bench: %s%s, %s, %d clients ==\n", mode_name(o.mode),
              o.browser_like ? " (browser-like: page + assets, Accept-Encoding)" : "",
              where.c_str(), o.clients);
  if (flows) {
    std::printf("%ld flows ok, %ld failed, in %.2f s: %.1f flows/s, %.0f requests/s\n", s.flows_ok,
                s.flows_failed, run.seconds, per_s, req_per_s);
  } else {
    std::printf("%ld requests ok, %ld failed, in %.2f s: %.0f requests/s\n", s.flows_ok,
                s.flows_failed, run.seconds, per_s);
  }
  std::printf("%-22s %8s %9s %9s %9s %9s\n", "step", "count", "p50 ms", "p90 ms", "p99 ms",
              "max ms");
  json steps = json::object();
  for (int st = 0; st < kStepCount; ++st) {
    std::vector<std::int64_t> v = s.micros[st];
    if (v.empty()) continue;
    std::sort(v.begin(), v.end());
    double p50 = percentile_ms(v, 50), p90 = percentile_ms(v, 90), p99 = percentile_ms(v, 99);
    double max = static_cast<double>(v.back()) / 1000.0;
    // Pad by display columns: the step names hold a few multi-byte characters.
    std::string name = kStepNames[st];
    std::size_t cols = 0;
    for (unsigned char ch : name) cols += (ch & 0xC0) != 0x80;
    name.append(cols < 22 ? 22 - cols : 0, ' ');
    std::printf("%s %8zu %9.2f %9.2f %9.2f %9.2f\n", name.c_str(), v.size(), p50, p90, p99, max);
    steps[kStepKeys[st]] = {
        {"n", v.size()}, {"p50", p50}, {"p90", p90}, {"p99", p99}, {"max", max}};
  }
  if (flows) {
    std::printf("call re-matches (another client's flow took the simulated call): %ld\n",
                s.call_rematches);
  }
  if (s.errors.empty()) {
    std::printf("errors: none\n");
  } else {
    std::printf("errors (step status code: count):\n");
    for (const auto& [k, v] : s.errors) std::printf("  %s: %ld\n", k.c_str(), v);
  }
  if (rss_before >= 0 && o.url.empty()) {
    std::printf(
        "memory (whole process: server + client threads): VmRSS before start %s, after start "
        "%s, after run %s; VmHWM %s\n",
        mib(rss_before).c_str(), mib(rss_started).c_str(), mib(rss_after).c_str(),
        mib(proc_status_kb("VmHWM")).c_str());
  } else if (rss_before >= 0) {
    std::printf("memory (server pid %d): VmRSS before the run %s, after the run %s; VmHWM %s\n",
                o.server_pid, mib(rss_before).c_str(), mib(rss_after).c_str(),
                mib(proc_status_kb("VmHWM", o.server_pid)).c_str());
  }
  if (o.mode == Mode::hold && rss_before >= 0 && s.flows_ok > 0) {
    std::printf(
        "held %ld flows open on ④ call_wait: %s memory %+.1f MiB, %.0f bytes per flow\n",
        s.flows_ok, o.url.empty() ? "process (server + finished client threads)" : "server",
        static_cast<double>(rss_after - rss_started) / 1024.0,
        static_cast<double>(rss_after - rss_started) * 1024.0 / static_cast<double>(s.flows_ok));
  }
  long errors = 0;
  for (const auto& [k, v] : s.errors) errors += v;
  json summary = {{"mode", mode_name(o.mode)},
                  {"browser_like", o.browser_like},
                  {"target", o.url.empty() ? "in-process" : o.url},
                  {"clients", o.clients},
                  {"ok", s.flows_ok},
                  {"failed", s.flows_failed},
                  {"errors", errors},
                  {"seconds", run.seconds},
                  {"per_s", per_s},
                  {"req_per_s", req_per_s},
                  {"rematches", s.call_rematches},
                  {"rss_before_kb", rss_before},
                  {"rss_started_kb", rss_started},
                  {"rss_after_kb", rss_after},
                  {"steps", steps}};
  std::printf("SUMMARY %s\n", summary.dump().c_str());
  std::fflush(stdout);
}

// Sends this process's stderr (the server's JSON log lines) to a file while
// it lives, as a service manager would; restores it after.
class StderrToFile {
 public:
  explicit StderrToFile(const std::string& path) {
    std::fflush(stderr);
    saved_ = ::dup(2);
    FILE* f = std::fopen(path.c_str(), "w");
    if (f != nullptr) {
      ::dup2(::fileno(f), 2);
      std::fclose(f);
    }
  }
  ~StderrToFile() {
    std::fflush(stderr);
    if (saved_ >= 0) {
      ::dup2(saved_, 2);
      ::close(saved_);
    }
  }
  StderrToFile(const StderrToFile&) = delete;
  StderrToFile& operator=(const StderrToFile&) = delete;

 private:
  int saved_ = -1;
};

int run_in_process(const Options& o, double* req_per_s = nullptr) {
  const long rss_before = proc_status_kb("VmRSS");
  fs::path dir;
  std::string database = o.database;
  if (database.empty()) {
    std::string tmpl = (fs::temp_directory_path() / "renkei-load-XXXXXX").string();
    if (::mkdtemp(tmpl.data()) == nullptr) {
      std::perror("mkdtemp");
      return 1;
    }
    dir = tmpl;
    database = (dir / "renkei.db").string();
  } else {
    dir = fs::absolute(fs::path(database)).parent_path();
  }
  const std::string log_path = (dir / "server.log").string();
  const std::string maildir = (dir / "mail").string();

  rs::ServerConfig cfg = rs::testing::test_config();
  const rs::ServerConfig production;  // renkei-server's defaults
  cfg.database = database;
  cfg.worker_threads = o.server_threads > 0 ? o.server_threads : production.worker_threads;
  cfg.max_in_flight = production.max_in_flight;
  // The demo data has four eligible phones, so many flows of one phone wait
  // for a call at once, which real customers (one flow each) never do. A flow
  // is never given a number another flow of its phone waits on (③ answers
  // busy when none is left), so the pool must hold more numbers than the
  // flows of one phone in flight: 64 by default (--call-pool).
  cfg.call_pool.clear();
  for (int i = 1; i <= o.call_pool; ++i) {
    char number[16];
    std::snprintf(number, sizeof number, "0120%06d", i);
    cfg.call_pool.push_back(number);
  }
  // All clients share 127.0.0.1: the per-IP limit would shed nearly everything.
  cfg.rate_limit_per_minute = 100'000'000;
  cfg.maildir = maildir;
  cfg.mail_transport = "maildir";

  RunResult run;
  long rss_started = 0, rss_after = 0, log_bytes = 0;
  std::string where;
  {
    StderrToFile log(log_path);
    std::optional<rs::testing::TestServer> full;
    std::optional<TrivialServer> bare;
    std::unique_ptr<rs::MailWorker> mail;
    Target target;
    target.client_id = o.client_id;
    target.browser_like = o.browser_like;
    target.redirect_uri =
        o.redirect_uri.empty() ? std::string(rs::testing::kDemoRedirect) : o.redirect_uri;
    if (o.mode == Mode::trivial || o.mode == Mode::bare_post) {
      bare.emplace(cfg.worker_threads);
      target.port = bare->port();
      where = "bare cpp-httplib in process, " + std::to_string(cfg.worker_threads) + " threads";
    } else {
      full.emplace(cfg, rs::testing::open_instant());
      target.port = full->port();
      if (o.mail_worker) {
        mail = std::make_unique<rs::MailWorker>(full->app(), rs::make_transport(cfg));
        rs::MailWorker* m = mail.get();
        full->app().on_mail_enqueued = [m] { m->wake(); };
        mail->start();
      }
      where = "in process, " + std::to_string(cfg.worker_threads) + " server threads, " +
              std::to_string(cfg.call_pool.size()) + " pool numbers, SQLite " + database +
              (o.mail_worker ? ", mail worker on" : ", mail worker off");
    }
    rss_started = proc_status_kb("VmRSS");
    run = run_clients(o, target);
    if (o.mode == Mode::hold) {
      std::this_thread::sleep_for(std::chrono::duration<double>(o.settle_seconds));
    }
    rss_after = proc_status_kb("VmRSS");
    if (mail) {
      mail->stop();
      full->app().on_mail_enqueued = nullptr;
    }
  }
  std::error_code ec;
  log_bytes = static_cast<long>(fs::file_size(log_path, ec));
  print_report(o, run, where, rss_before, rss_started, rss_after);
  if (req_per_s != nullptr) *req_per_s = static_cast<double>(run.stats.requests) / run.seconds;
  if (o.mode != Mode::trivial && o.mode != Mode::bare_post) {
    std::printf("server log: %ld bytes (%.0f bytes/request) in %s\n", log_bytes,
                run.stats.requests
                    ? static_cast<double>(log_bytes) / static_cast<double>(run.stats.requests)
                    : 0.0,
                log_path.c_str());
    std::uintmax_t db_bytes = 0;
    for (const char* suffix : {"", "-wal", "-shm"}) {
      auto n = fs::file_size(database + suffix, ec);
      if (!ec) db_bytes += n;
    }
    std::printf("database: %.1f MiB (with -wal/-shm)\n", static_cast<double>(db_bytes) / 1048576.0);
  }
  if (o.database.empty() && !o.keep) {
    fs::remove_all(dir, ec);
  } else {
    std::printf("kept: %s\n", dir.c_str());
  }
  return run.stats.flows_failed == 0 ? 0 : 1;
}

int run_against_url(const Options& o) {
  Target target;
  if (!parse_loopback_url(o.url, &target.host, &target.port)) {
    usage("--url must be http://127.0.0.1:PORT (or localhost)");
  }
  target.client_id = o.client_id;
  target.browser_like = o.browser_like;
  target.redirect_uri = o.redirect_uri.empty() ? "http://" + target.host + ":" +
                                                     std::to_string(target.port) + "/demo/callback"
                                               : o.redirect_uri;
  const long rss_before = o.server_pid > 0 ? proc_status_kb("VmRSS", o.server_pid) : -1;
  RunResult run = run_clients(o, target);
  if (o.mode == Mode::hold) {
    std::this_thread::sleep_for(std::chrono::duration<double>(o.settle_seconds));
  }
  const long rss_after = o.server_pid > 0 ? proc_status_kb("VmRSS", o.server_pid) : -1;
  print_report(o, run, o.url, rss_before, rss_before, rss_after);
  for (const auto& [k, v] : run.stats.errors) {
    if (k.find(" 429 ") != std::string::npos) {
      std::printf(
          "hint: 429 = the per-IP rate limit (every client is 127.0.0.1): raise "
          "rate_limit_per_minute in the server's config for a load run\n");
      break;
    }
  }
  for (const auto& [k, v] : run.stats.errors) {
    if (k.find("out_of_hours") != std::string::npos || k.find("simulate 404") == 0) {
      std::printf(
          "hint: the server must be in dev mode (simulator) and inside service hours "
          "(dev config: movable clock)\n");
      break;
    }
  }
  return run.stats.flows_failed == 0 ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  const Options o = parse_options(argc, argv);
  std::signal(SIGPIPE, SIG_IGN);
  try {
    if (o.mode == Mode::versus) {
      // The same clients, seconds and server threads for both, one after the other.
      Options bare = o;
      bare.mode = Mode::bare_post;
      Options flows = o;
      flows.mode = Mode::flows;
      double bare_rate = 0, flow_rate = 0;
      int rc = run_in_process(bare, &bare_rate);
      rc |= run_in_process(flows, &flow_rate);
      std::printf(
          "\nVERSUS bare cpp-httplib JSON POST %.0f requests/s; flow steps %.0f requests/s; "
          "flow ÷ bare = %.3f (issue 10 goal: ≥ 0.5)\n",
          bare_rate, flow_rate, bare_rate > 0 ? flow_rate / bare_rate : 0.0);
      return rc;
    }
    return o.url.empty() ? run_in_process(o) : run_against_url(o);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "renkei_load_bench: %s\n", e.what());
    return 1;
  }
}
