// Metrics (README, "Metrics"): what this process's enqueues and workers did, as counters and
// histograms by queue and job type, plus the store's gauges read on demand, in Prometheus' text
// exposition format for an application that serves its own /metrics:
//
//   auto gauges = errand::read_store_gauges(*store);
//   std::string text = errand::prometheus_text(errand::default_metrics().snapshot(), &gauges);
//
// Counting is cheap: a worker finds a job's series once when it claims the job and then only
// increments atomics; a scrape reads them.
#pragma once

#include <errand/clock.hpp>
#include <errand/queues.hpp>

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace errand {

class Store;

// Counters by queue and job type.
enum class JobCounter : std::uint8_t {
  enqueued,          // jobs an enqueue inserted (not a unique job's duplicate)
  unique_conflicts,  // unique jobs an enqueue found held by another (duplicate or replaced)
  started,           // runs begun
  completed,         // runs recorded as completed
  failed,            // failed attempts recorded (retried or dead-lettered; timeouts included)
  retried,           // failed attempts whose job runs again after its backoff
  dead_lettered,     // jobs moved to the dead-letter queue (spent retries, Discard, invalid row)
  cancelled,         // runs that ended cancelled
  snoozed,           // runs that snoozed
};
inline constexpr std::size_t kJobCounters = 9;

// Histograms by queue and job type, in seconds.
enum class JobHistogram : std::uint8_t {
  run_duration,   // a run, from its start to its end
  queue_latency,  // from the job's run_at (for a job enqueued to run now: its enqueue) to its start
};
inline constexpr std::size_t kJobHistograms = 2;

// The histograms' bucket upper bounds in seconds (+Inf beyond the last).
inline constexpr std::array<double, 15> kHistogramBounds{
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60};

struct HistogramValues {
  std::array<std::uint64_t, kHistogramBounds.size() + 1> buckets{};  // per bucket, not cumulative
  std::uint64_t count = 0;
  double sum = 0;  // seconds

  bool operator==(const HistogramValues&) const = default;
};

// One (queue, job type) pair's values.
struct JobSeriesValues {
  std::string queue{};
  std::string job_type{};
  std::array<std::uint64_t, kJobCounters> counters{};
  std::array<HistogramValues, kJobHistograms> histograms{};

  std::uint64_t counter(JobCounter which) const {
    return counters[static_cast<std::size_t>(which)];
  }
};

// One schedule's ticks handled by this process's workers.
struct TickSeriesValues {
  std::string schedule{};
  std::uint64_t fired = 0;    // ticks whose job was enqueued
  std::uint64_t skipped = 0;  // ticks recorded without a job (missed, overlapping)
};

struct MetricsSnapshot {
  std::vector<JobSeriesValues> jobs{};    // by queue, then job type
  std::vector<TickSeriesValues> ticks{};  // by schedule

  // The counter summed over every queue and job type.
  std::uint64_t total(JobCounter which) const;
};

namespace detail {
struct JobSeries;
class MetricsPart;
}  // namespace detail

// A registry of counters and histograms; thread-safe. Series are created on first use and kept
// for the registry's life (their number grows with the queues and job types, nothing else). A
// worker counts into a registry of its own, which the registry it was given (or
// default_metrics()) includes in its snapshots while the worker lives and adds to its own values
// when the worker is destroyed: nothing counted is lost or shown twice.
class Metrics {
 public:
  Metrics();
  ~Metrics();
  Metrics(const Metrics&) = delete;
  Metrics& operator=(const Metrics&) = delete;

  void add(JobCounter which, std::string_view queue, std::string_view job_type,
           std::uint64_t n = 1);
  void observe(JobHistogram which, std::string_view queue, std::string_view job_type,
               Duration value);
  void add_ticks(std::string_view schedule, std::uint64_t fired, std::uint64_t skipped);
  MetricsSnapshot snapshot() const;

  // The series of (queue, job_type), valid as long as this registry: for counting on a hot path
  // without a lookup each time (errand's worker and enqueue).
  detail::JobSeries& series(std::string_view queue, std::string_view job_type);

 private:
  friend class detail::MetricsPart;
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// The registry enqueues count into, and workers unless WorkerOptions::metrics names another.
Metrics& default_metrics();

// What the store holds now, read when scraped.
struct StoreGauges {
  std::vector<QueueInfo> queues{};  // each queue's jobs by state, oldest ready job's age, pause
  std::int64_t workers_alive = 0;   // registered workers whose heartbeat is recent
  std::int64_t workers_lost = 0;    // registered workers silent longer than `lost_after`
  std::int64_t count_limit = 0;     // the queues' counts stop there (Store::list_queues); 0: exact
};

// Reads the gauges (Store::list_queues with `count_limit`, list_workers). A worker silent longer
// than `lost_after` (the workers' WorkerOptions::rescue_after) counts as lost. Throws StoreError.
StoreGauges read_store_gauges(Store& store, Duration lost_after = std::chrono::seconds{30},
                              std::int64_t count_limit = 0);

// What every worker of the store counted, summed across processes and kept across restarts
// (Store::list_metric_totals): each worker adds its growth with its heartbeats and when it stops,
// so a worker killed at once loses at most one heartbeat's counts. The enqueue counters
// (enqueued, unique_conflicts) stay 0: applications enqueue outside workers. Series the store
// holds under names this build does not know are left out. Throws StoreError.
MetricsSnapshot read_cluster_totals(Store& store);

// `metrics` (and `gauges`, `cluster` when given) in the Prometheus text exposition format 0.0.4;
// label values are escaped and made valid UTF-8. Names start with errand_; `cluster`'s with
// errand_cluster_ and it has no enqueue families (README, "Metrics").
std::string prometheus_text(const MetricsSnapshot& metrics, const StoreGauges* gauges = nullptr,
                            const MetricsSnapshot* cluster = nullptr);

// The content type to serve prometheus_text with.
inline constexpr std::string_view kPrometheusContentType =
    "text/plain; version=0.0.4; charset=utf-8";

}  // namespace errand
