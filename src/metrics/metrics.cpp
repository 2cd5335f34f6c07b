// errand::Metrics: the registry of series (metrics/series.hpp) and its snapshot.
#include <errand/metrics.hpp>

#include "metrics/series.hpp"

#include <algorithm>
#include <chrono>
#include <map>
#include <mutex>

namespace errand {

namespace detail {

namespace {

// kHistogramBounds in microseconds, for comparing a Duration without floating point.
constexpr auto kBoundsUs = [] {
  std::array<std::int64_t, kHistogramBounds.size()> us{};
  for (std::size_t i = 0; i < us.size(); ++i)
    us[i] = static_cast<std::int64_t>(kHistogramBounds[i] * 1e6 + 0.5);
  return us;
}();

}  // namespace

void AtomicHistogram::observe(Duration value) {
  const std::int64_t us = std::max<std::int64_t>(value.count(), 0);
  const auto bucket = static_cast<std::size_t>(
      std::lower_bound(kBoundsUs.begin(), kBoundsUs.end(), us) - kBoundsUs.begin());
  buckets[bucket].fetch_add(1, std::memory_order_relaxed);
  sum_us.fetch_add(static_cast<std::uint64_t>(us), std::memory_order_relaxed);
}

HistogramValues AtomicHistogram::load() const {
  HistogramValues values;
  for (std::size_t i = 0; i < buckets.size(); ++i) {
    values.buckets[i] = buckets[i].load(std::memory_order_relaxed);
    values.count += values.buckets[i];
  }
  values.sum = static_cast<double>(sum_us.load(std::memory_order_relaxed)) / 1e6;
  return values;
}

}  // namespace detail

std::uint64_t MetricsSnapshot::total(JobCounter which) const {
  std::uint64_t sum = 0;
  for (const JobSeriesValues& series : jobs)
    sum += series.counter(which);
  return sum;
}

struct Metrics::Impl {
  struct Ticks {
    std::uint64_t fired = 0;
    std::uint64_t skipped = 0;
  };
  mutable std::mutex mutex;
  // queue -> job type -> series; the series never move (unique_ptr), so references stay valid.
  std::map<std::string, std::map<std::string, std::unique_ptr<detail::JobSeries>, std::less<>>,
           std::less<>>
      jobs;
  std::map<std::string, Ticks, std::less<>> ticks;
};

Metrics::Metrics() : impl_(std::make_unique<Impl>()) {}
Metrics::~Metrics() = default;

detail::JobSeries& Metrics::series(std::string_view queue, std::string_view job_type) {
  std::lock_guard lock(impl_->mutex);
  auto by_queue = impl_->jobs.find(queue);
  if (by_queue == impl_->jobs.end()) by_queue = impl_->jobs.try_emplace(std::string(queue)).first;
  auto& types = by_queue->second;
  auto found = types.find(job_type);
  if (found == types.end())
    found = types.emplace(std::string(job_type), std::make_unique<detail::JobSeries>()).first;
  return *found->second;
}

void Metrics::add(JobCounter which, std::string_view queue, std::string_view job_type,
                  std::uint64_t n) {
  series(queue, job_type).add(which, n);
}

void Metrics::observe(JobHistogram which, std::string_view queue, std::string_view job_type,
                      Duration value) {
  series(queue, job_type).observe(which, value);
}

void Metrics::add_ticks(std::string_view schedule, std::uint64_t fired, std::uint64_t skipped) {
  std::lock_guard lock(impl_->mutex);
  auto found = impl_->ticks.find(schedule);
  if (found == impl_->ticks.end())
    found = impl_->ticks.emplace(std::string(schedule), Impl::Ticks{}).first;
  found->second.fired += fired;
  found->second.skipped += skipped;
}

MetricsSnapshot Metrics::snapshot() const {
  MetricsSnapshot snapshot;
  std::lock_guard lock(impl_->mutex);
  for (const auto& [queue, types] : impl_->jobs) {
    for (const auto& [type, series] : types) {
      JobSeriesValues& values = snapshot.jobs.emplace_back();
      values.queue = queue;
      values.job_type = type;
      for (std::size_t i = 0; i < kJobCounters; ++i)
        values.counters[i] = series->counters[i].load(std::memory_order_relaxed);
      for (std::size_t i = 0; i < kJobHistograms; ++i)
        values.histograms[i] = series->histograms[i].load();
    }
  }
  for (const auto& [schedule, ticks] : impl_->ticks)
    snapshot.ticks.push_back({schedule, ticks.fired, ticks.skipped});
  return snapshot;
}

Metrics& default_metrics() {
  // Never destroyed: workers and enqueues on other threads may count during static destruction.
  static Metrics* const metrics = new Metrics();
  return *metrics;
}

}  // namespace errand
