// errand::Metrics: the registry of series (metrics/series.hpp), the registries it includes
// (metrics/metrics_part.hpp) and its snapshot.
#include <errand/metrics.hpp>

#include "metrics/metrics_part.hpp"
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

void add_snapshot(MetricsSnapshot& into, const MetricsSnapshot& from) {
  if (from.jobs.empty() && from.ticks.empty()) return;
  std::map<std::pair<std::string, std::string>, JobSeriesValues> jobs;
  for (JobSeriesValues& series : into.jobs)
    jobs.emplace(std::pair{series.queue, series.job_type}, std::move(series));
  for (const JobSeriesValues& series : from.jobs) {
    auto [it, added] = jobs.try_emplace(std::pair{series.queue, series.job_type}, series);
    if (added) continue;
    JobSeriesValues& sum = it->second;
    for (std::size_t i = 0; i < kJobCounters; ++i)
      sum.counters[i] += series.counters[i];
    for (std::size_t h = 0; h < kJobHistograms; ++h) {
      for (std::size_t b = 0; b < sum.histograms[h].buckets.size(); ++b)
        sum.histograms[h].buckets[b] += series.histograms[h].buckets[b];
      sum.histograms[h].count += series.histograms[h].count;
      sum.histograms[h].sum += series.histograms[h].sum;
    }
  }
  into.jobs.clear();
  for (auto& [key, series] : jobs)
    into.jobs.push_back(std::move(series));

  std::map<std::string, TickSeriesValues> ticks;
  for (TickSeriesValues& t : into.ticks)
    ticks.emplace(t.schedule, std::move(t));
  for (const TickSeriesValues& t : from.ticks) {
    auto [it, added] = ticks.try_emplace(t.schedule, t);
    if (added) continue;
    it->second.fired += t.fired;
    it->second.skipped += t.skipped;
  }
  into.ticks.clear();
  for (auto& [schedule, t] : ticks)
    into.ticks.push_back(std::move(t));
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
  std::vector<const Metrics*> parts;  // included registries (detail::MetricsPart)
  MetricsSnapshot retired;            // the values of parts no longer included
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
  // Lock order: a registry, then the registries it includes (which never include it).
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
  detail::add_snapshot(snapshot, impl_->retired);
  for (const Metrics* part : impl_->parts)
    detail::add_snapshot(snapshot, part->snapshot());
  return snapshot;
}

namespace detail {

MetricsPart::MetricsPart(Metrics& whole, const Metrics& part) : whole_(whole), part_(part) {
  std::lock_guard lock(whole_.impl_->mutex);
  whole_.impl_->parts.push_back(&part_);
}

MetricsPart::~MetricsPart() {
  std::lock_guard lock(whole_.impl_->mutex);
  auto& parts = whole_.impl_->parts;
  parts.erase(std::find(parts.begin(), parts.end(), &part_));
  add_snapshot(whole_.impl_->retired, part_.snapshot());
}

}  // namespace detail

Metrics& default_metrics() {
  // Never destroyed: workers and enqueues on other threads may count during static destruction.
  static Metrics* const metrics = new Metrics();
  return *metrics;
}

}  // namespace errand
