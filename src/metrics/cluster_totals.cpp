// The store's metric totals as errand::Metrics values (metrics/cluster_totals.hpp) and
// errand::read_cluster_totals.
#include "metrics/cluster_totals.hpp"

#include <fmt/format.h>

#include <cmath>
#include <limits>
#include <map>
#include <string>
#include <tuple>
#include <utility>

namespace errand {

namespace detail {

namespace {

struct CounterName {
  JobCounter which;
  std::string_view name;
};
// The counters workers publish (not the enqueue counters: applications enqueue outside workers).
constexpr CounterName kPublishedCounters[] = {
    {JobCounter::started, "started"},
    {JobCounter::completed, "completed"},
    {JobCounter::failed, "failed"},
    {JobCounter::retried, "retried"},
    {JobCounter::dead_lettered, "dead_lettered"},
    {JobCounter::cancelled, "cancelled"},
    {JobCounter::snoozed, "snoozed"},
};

constexpr std::string_view kHistogramNames[kJobHistograms] = {"run_duration", "queue_latency"};
constexpr std::size_t kBuckets = kHistogramBounds.size() + 1;

std::string bucket_name(std::size_t histogram, std::size_t bucket) {
  return fmt::format("{}_bucket_{}", kHistogramNames[histogram], bucket);
}
std::string sum_name(std::size_t histogram) {
  return fmt::format("{}_sum_us", kHistogramNames[histogram]);
}

std::int64_t micros_of_seconds(double seconds) {
  return std::llround(seconds * 1e6);
}

// A stored value as a count (values are checked to be >= 0 when read).
std::uint64_t count_of(std::int64_t value) {
  return static_cast<std::uint64_t>(std::max<std::int64_t>(value, 0));
}

// `now - before` as a row value (0 when the registry did not grow, or past int64's range).
std::int64_t growth(std::uint64_t now, std::uint64_t before) {
  if (now <= before) return 0;
  const std::uint64_t d = now - before;
  return d > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())
             ? 0
             : static_cast<std::int64_t>(d);
}

// Where a stored name goes in a snapshot.
struct Slot {
  enum class Kind { counter, bucket, sum, ticks_fired, ticks_skipped } kind;
  std::size_t index = 0;   // counter: JobCounter; bucket, sum: the histogram
  std::size_t bucket = 0;  // bucket: its index
};

const std::map<std::string, Slot, std::less<>>& slots() {
  static const auto* const table = [] {
    auto* t = new std::map<std::string, Slot, std::less<>>;
    for (const CounterName& c : kPublishedCounters)
      t->emplace(std::string(c.name),
                 Slot{Slot::Kind::counter, static_cast<std::size_t>(c.which), 0});
    for (std::size_t h = 0; h < kJobHistograms; ++h) {
      for (std::size_t b = 0; b < kBuckets; ++b)
        t->emplace(bucket_name(h, b), Slot{Slot::Kind::bucket, h, b});
      t->emplace(sum_name(h), Slot{Slot::Kind::sum, h, 0});
    }
    t->emplace("ticks_fired", Slot{Slot::Kind::ticks_fired});
    t->emplace("ticks_skipped", Slot{Slot::Kind::ticks_skipped});
    return t;
  }();
  return *table;
}

}  // namespace

std::vector<MetricTotal> metric_totals_growth(const MetricsSnapshot& now,
                                              const MetricsSnapshot& before) {
  std::map<std::pair<std::string_view, std::string_view>, const JobSeriesValues*> earlier;
  for (const JobSeriesValues& s : before.jobs)
    earlier.emplace(std::pair<std::string_view, std::string_view>{s.queue, s.job_type}, &s);
  std::vector<MetricTotal> rows;
  const auto add = [&](std::string name, const std::string& queue, const std::string& job_type,
                       const std::string& schedule, std::int64_t value) {
    if (value > 0) rows.push_back({std::move(name), queue, job_type, schedule, value});
  };
  const JobSeriesValues none{};
  for (const JobSeriesValues& s : now.jobs) {
    const auto found = earlier.find({s.queue, s.job_type});
    const JobSeriesValues& was = found == earlier.end() ? none : *found->second;
    for (const CounterName& c : kPublishedCounters)
      add(std::string(c.name), s.queue, s.job_type, {},
          growth(s.counter(c.which), was.counter(c.which)));
    for (std::size_t h = 0; h < kJobHistograms; ++h) {
      const HistogramValues& a = s.histograms[h];
      const HistogramValues& b = was.histograms[h];
      for (std::size_t i = 0; i < kBuckets; ++i)
        add(bucket_name(h, i), s.queue, s.job_type, {}, growth(a.buckets[i], b.buckets[i]));
      const std::int64_t sum = micros_of_seconds(a.sum) - micros_of_seconds(b.sum);
      add(sum_name(h), s.queue, s.job_type, {}, sum);
    }
  }
  std::map<std::string_view, const TickSeriesValues*> earlier_ticks;
  for (const TickSeriesValues& t : before.ticks)
    earlier_ticks.emplace(t.schedule, &t);
  const TickSeriesValues no_ticks{};
  for (const TickSeriesValues& t : now.ticks) {
    const auto found = earlier_ticks.find(t.schedule);
    const TickSeriesValues& was = found == earlier_ticks.end() ? no_ticks : *found->second;
    add("ticks_fired", {}, {}, t.schedule, growth(t.fired, was.fired));
    add("ticks_skipped", {}, {}, t.schedule, growth(t.skipped, was.skipped));
  }
  return rows;
}

MetricsSnapshot snapshot_of_totals(std::span<const MetricTotal> totals) {
  std::map<std::pair<std::string, std::string>, JobSeriesValues> jobs;
  std::map<std::string, TickSeriesValues> ticks;
  for (const MetricTotal& t : totals) {
    const auto found = slots().find(t.name);
    if (found == slots().end()) continue;  // a newer build's series
    const Slot& slot = found->second;
    const std::uint64_t value = count_of(t.value);
    if (slot.kind == Slot::Kind::ticks_fired || slot.kind == Slot::Kind::ticks_skipped) {
      TickSeriesValues& tick = ticks[t.schedule];
      tick.schedule = t.schedule;
      (slot.kind == Slot::Kind::ticks_fired ? tick.fired : tick.skipped) += value;
      continue;
    }
    JobSeriesValues& s = jobs[{t.queue, t.job_type}];
    s.queue = t.queue;
    s.job_type = t.job_type;
    switch (slot.kind) {
      case Slot::Kind::counter:
        s.counters[slot.index] += value;
        break;
      case Slot::Kind::bucket:
        s.histograms[slot.index].buckets[slot.bucket] += value;
        s.histograms[slot.index].count += value;
        break;
      case Slot::Kind::sum:
        s.histograms[slot.index].sum += static_cast<double>(value) / 1e6;
        break;
      default:
        break;
    }
  }
  MetricsSnapshot snapshot;
  for (auto& [key, s] : jobs)
    snapshot.jobs.push_back(std::move(s));
  for (auto& [schedule, t] : ticks)
    snapshot.ticks.push_back(std::move(t));
  return snapshot;
}

void TotalsPublisher::publish(Store& store) {
  MetricsSnapshot now = counted_.snapshot();
  const std::vector<MetricTotal> rows = metric_totals_growth(now, published_);
  if (!rows.empty()) store.add_metric_totals(rows);
  published_ = std::move(now);
}

}  // namespace detail

MetricsSnapshot read_cluster_totals(Store& store) {
  const std::vector<MetricTotal> totals = store.list_metric_totals();
  return detail::snapshot_of_totals(totals);
}

}  // namespace errand
