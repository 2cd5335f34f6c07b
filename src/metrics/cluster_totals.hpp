// The store's metric totals (Store::add_metric_totals) as errand::Metrics values: what a worker
// adds (the growth of its own registry since it last added) and how the stored rows read back.
//
// Names of the stored series: a counter's (started, completed, failed, retried, dead_lettered,
// cancelled, snoozed) by queue and job type; a histogram's buckets, per bucket and not
// cumulative (run_duration_bucket_0 .. _15, queue_latency_bucket_0 .. _15, the last for +Inf)
// and sum in microseconds (run_duration_sum_us, queue_latency_sum_us); ticks_fired and
// ticks_skipped by schedule.
#pragma once

#include <errand/metrics.hpp>
#include <errand/store.hpp>

#include <span>
#include <vector>

namespace errand::detail {

// The rows that add what `now` counted beyond `before` (an earlier snapshot of the same
// registry); series that did not grow are left out. Enqueue counters are not published.
std::vector<MetricTotal> metric_totals_growth(const MetricsSnapshot& now,
                                              const MetricsSnapshot& before);

// The stored rows as a snapshot; rows under unknown names are skipped.
MetricsSnapshot snapshot_of_totals(std::span<const MetricTotal> totals);

// What one worker publishes: the growth of its registry since its last successful publish.
// Used by one thread at a time.
class TotalsPublisher {
 public:
  explicit TotalsPublisher(const Metrics& counted) : counted_(counted) {}
  // Adds the growth to the store's totals (Store::add_metric_totals). On an exception nothing
  // counts as published: the next call adds it (a store that committed but failed to say so
  // makes it count twice).
  void publish(Store& store);

 private:
  const Metrics& counted_;
  MetricsSnapshot published_;
};

}  // namespace errand::detail
