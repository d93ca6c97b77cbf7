// The remote records source: the credit union's core-banking gateway, JSON
// over HTTPS with client certificates (docs/core-banking.openapi.yaml,
// docs/core-banking.md). This file is HTTP-free: the bytes travel through a
// GatewayTransport, which the http layer implements with httplib's SSLClient
// (http/gateway_transport.h), and tests may replace.
//
// Per-call timeouts; reads are retried (read_retries more times) on
// unavailable/timeout, the PIN check never is; a circuit breaker
// (closed → open after `failure_threshold` consecutive failures → half-open
// after `open_ms`, one probe at a time → closed on its success, open again on
// its failure) answers unavailable at once while open. Maintenance answers
// are the gateway speaking: they neither trip nor count toward the breaker.
// No answer is cached here (the eligibility answer is asked once per step);
// never the PIN result.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <string>

#include "ops/config.h"
#include "ops/metrics.h"
#include "records/records_source.h"

namespace renkei::server {

// One POST to the gateway.
struct GatewayReply {
  enum class Status { ok, connect_failed, timeout, tls_failed, other };
  Status status = Status::other;
  int http_status = 0;
  std::string body;
};

class GatewayTransport {
 public:
  virtual ~GatewayTransport() = default;
  // POSTs `body` (JSON) to `path` within `timeout_ms`. The transport keeps no
  // copy of the body once it returns.
  virtual GatewayReply post(const std::string& path, const std::string& body, int timeout_ms) = 0;
};

enum class BreakerState { closed, open, half_open };
std::string_view breaker_state_wire_name(BreakerState s);

class CircuitBreaker {
 public:
  using Now = std::function<std::chrono::steady_clock::time_point()>;
  CircuitBreaker(BreakerConfig config, Metrics* metrics, Now now = {});
  // May this call go to the gateway? False while open (or half-open with its
  // probe already out).
  bool allow();
  void on_success();
  void on_failure();
  BreakerState state();

 private:
  void set_state(BreakerState s);  // mutex held
  BreakerConfig config_;
  Metrics* metrics_;
  Now now_;
  std::mutex mutex_;
  BreakerState state_ = BreakerState::closed;
  int consecutive_failures_ = 0;
  bool probe_out_ = false;
  std::chrono::steady_clock::time_point opened_at_{};
};

class RemoteRecordsSource final : public RecordsSource {
 public:
  RemoteRecordsSource(RecordsConfig config, std::unique_ptr<GatewayTransport> transport,
                      Metrics* metrics);
  std::string_view kind() const override { return "remote"; }
  RecordsResult<std::optional<AccountInfo>> find_account(const AccountRef& ref) override;
  RecordsResult<bool> identity_matches(const AccountRef& ref, const std::string& birth_date,
                                       const std::string& phone) override;
  RecordsResult<std::vector<std::string>> registered_phones(const AccountRef& ref) override;
  RecordsResult<PinCheck> verify_pin(const AccountRef& ref, std::string_view pin) override;
  RecordsResult<std::int64_t> balance(const AccountRef& ref) override;
  RecordsResult<TransactionPage> transactions(const AccountRef& ref, const std::string& from,
                                              const std::string& to, int limit,
                                              const std::string& cursor) override;
  CircuitBreaker& breaker() { return breaker_; }

 private:
  struct Answer;
  // One operation: breaker, attempts (1 + read_retries for reads), mapping.
  // `body` is wiped before returning when `secret` is set.
  RecordsResult<std::string> call(const char* operation, const std::string& path,
                                  std::string& body, bool read, bool secret);
  RecordsConfig config_;
  std::unique_ptr<GatewayTransport> transport_;
  Metrics* metrics_;
  CircuitBreaker breaker_;
};

// The failure a gateway error answer (HTTP status, {"error":{"code",
// "reopens_at"}}) means for us; exposed for tests.
RecordsFailure failure_of_gateway_error(int http_status, const std::string& body);

}  // namespace renkei::server
