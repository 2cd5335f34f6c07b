// A (queue, job type) series of errand::Metrics as atomics: incremented from any thread without
// a lock; read by Metrics::snapshot.
#pragma once

#include <errand/metrics.hpp>

#include <atomic>
#include <cstdint>

namespace errand::detail {

struct AtomicHistogram {
  std::array<std::atomic<std::uint64_t>, kHistogramBounds.size() + 1> buckets{};
  std::atomic<std::uint64_t> sum_us{0};  // microseconds

  // Counts `value` (a negative one as 0).
  void observe(Duration value);
  HistogramValues load() const;
};

struct JobSeries {
  std::array<std::atomic<std::uint64_t>, kJobCounters> counters{};
  std::array<AtomicHistogram, kJobHistograms> histograms{};

  void add(JobCounter which, std::uint64_t n = 1) {
    counters[static_cast<std::size_t>(which)].fetch_add(n, std::memory_order_relaxed);
  }
  void observe(JobHistogram which, Duration value) {
    histograms[static_cast<std::size_t>(which)].observe(value);
  }
};

}  // namespace errand::detail
