// Prometheus text exposition format 0.0.4. One mutex: an update is a map
// lookup and a few additions, far below the cost of the request it measures.
#include "ops/metrics.h"

#include <cmath>
#include <cstdio>

namespace renkei::server {
namespace {

// Seconds: 1 ms … 10 s (the default Prometheus buckets plus 1 ms).
constexpr double kBuckets[] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                               0.25,  0.5,    1,     2.5,  5,     10};

std::string format_value(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  char buf[32];
  if (v == std::floor(v) && std::fabs(v) < 1e15) {
    std::snprintf(buf, sizeof buf, "%.0f", v);
  } else {
    std::snprintf(buf, sizeof buf, "%.9g", v);
  }
  return buf;
}

std::string series(const std::string& name, const std::string& labels) {
  return labels.empty() ? name : name + "{" + labels + "}";
}

std::string with_le(const std::string& labels, const std::string& le) {
  return labels.empty() ? "le=\"" + le + "\"" : labels + ",le=\"" + le + "\"";
}

}  // namespace

void Metrics::count(const std::string& name, const std::string& labels, double by) {
  std::lock_guard<std::mutex> lock(mutex_);
  counters_[name][labels] += by;
}

void Metrics::observe(const std::string& name, const std::string& labels, double seconds) {
  std::lock_guard<std::mutex> lock(mutex_);
  Histogram& h = histograms_[name][labels];
  if (h.buckets.empty()) {
    for (double b : kBuckets) h.buckets[b] = 0;
  }
  // Cumulative: every bucket whose bound is at least the value counts it.
  for (auto it = h.buckets.lower_bound(seconds); it != h.buckets.end(); ++it) ++it->second;
  h.sum += seconds;
  ++h.count;
}

void Metrics::set_gauge(const std::string& name, const std::string& labels, double value) {
  std::lock_guard<std::mutex> lock(mutex_);
  gauges_[name][labels] = value;
}

std::string Metrics::render() const {
  std::lock_guard<std::mutex> lock(mutex_);
  std::string out;
  for (const auto& [name, by_labels] : counters_) {
    out += "# TYPE " + name + " counter\n";
    for (const auto& [labels, v] : by_labels) {
      out += series(name, labels) + " " + format_value(v) + "\n";
    }
  }
  for (const auto& [name, by_labels] : gauges_) {
    out += "# TYPE " + name + " gauge\n";
    for (const auto& [labels, v] : by_labels) {
      out += series(name, labels) + " " + format_value(v) + "\n";
    }
  }
  for (const auto& [name, by_labels] : histograms_) {
    out += "# TYPE " + name + " histogram\n";
    for (const auto& [labels, h] : by_labels) {
      for (const auto& [bound, n] : h.buckets) {
        out += series(name + "_bucket", with_le(labels, format_value(bound))) + " " +
               format_value(static_cast<double>(n)) + "\n";
      }
      out += series(name + "_bucket", with_le(labels, "+Inf")) + " " +
             format_value(static_cast<double>(h.count)) + "\n";
      out += series(name + "_sum", labels) + " " + format_value(h.sum) + "\n";
      out +=
          series(name + "_count", labels) + " " + format_value(static_cast<double>(h.count)) + "\n";
    }
  }
  return out;
}

}  // namespace renkei::server
