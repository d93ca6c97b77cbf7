// Counters and latency histograms for /metrics in Prometheus text format.
// Thread-safe; cheap enough to call on every request.
#pragma once

#include <map>
#include <mutex>
#include <string>

namespace renkei::server {

class Metrics {
 public:
  // counter{labels} += by. `labels` is the Prometheus label text without
  // braces, e.g. `step="submit_customer",outcome="auth_mismatch"`.
  void count(const std::string& name, const std::string& labels = "", double by = 1);
  // A request's latency in seconds into histogram `name{labels}`.
  void observe(const std::string& name, const std::string& labels, double seconds);
  void set_gauge(const std::string& name, const std::string& labels, double value);
  // The exposition text (# TYPE lines, sorted series).
  std::string render() const;

 private:
  struct Histogram {
    std::map<double, std::uint64_t> buckets;  // upper bound → cumulative count
    double sum = 0;
    std::uint64_t count = 0;
  };
  mutable std::mutex mutex_;
  std::map<std::string, std::map<std::string, double>> counters_;
  std::map<std::string, std::map<std::string, double>> gauges_;
  std::map<std::string, std::map<std::string, Histogram>> histograms_;
};

}  // namespace renkei::server
