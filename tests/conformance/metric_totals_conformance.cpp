// The workers' totals across processes (Store::add_metric_totals, list_metric_totals,
// errand::read_cluster_totals) on each store: rows add up per series, nonsense is refused, and
// workers add what they counted exactly once, however many share a registry or run again.
#include "support/conformance.hpp"

#include <limits>

using errand::JobCounter;
using errand::JobHistogram;
using errand::MetricTotal;
using namespace std::chrono_literals;

namespace errand_test {
namespace {

std::string shown(const MetricTotal& t) {
  return t.name + "|" + t.queue + "|" + t.job_type + "|" + t.schedule + "=" +
         std::to_string(t.value);
}

std::vector<std::string> shown(const std::vector<MetricTotal>& totals) {
  std::vector<std::string> out;
  for (const MetricTotal& t : totals)
    out.push_back(shown(t));
  return out;
}

// The series (queue, type) of `snapshot`; a zero series when it has none.
errand::JobSeriesValues series_in(const errand::MetricsSnapshot& snapshot, std::string_view queue,
                                  std::string_view type) {
  for (const errand::JobSeriesValues& s : snapshot.jobs) {
    if (s.queue == queue && s.job_type == type) return s;
  }
  return {};
}

TEST_P(MetricsConformance, MetricTotalsAddUpPerSeriesAcrossCalls) {
  const MetricTotal first[] = {
      {.name = "completed", .queue = "mail", .job_type = "Send", .value = 2},
      {.name = "completed", .queue = "default", .job_type = "Send", .value = 1},
      {.name = "completed", .queue = "mail", .job_type = "Send", .value = 3},  // the same: added
      {.name = "ticks_fired", .schedule = "nightly", .value = 1},
      {.name = "failed", .queue = "mail", .job_type = "Send", .value = 0},  // a row of 0: kept
  };
  store->add_metric_totals(first);
  const MetricTotal second[] = {
      {.name = "completed", .queue = "mail", .job_type = "Send", .value = 10},
      {.name = "ticks_fired", .schedule = "nightly", .value = 4},
      {.name = "ticks_fired", .schedule = "hourly", .value = 1},
  };
  store->add_metric_totals(second);
  store->add_metric_totals({});  // nothing to add: nothing happens

  const std::vector<std::string> expected = {
      "completed|default|Send|=1", "completed|mail|Send|=15", "failed|mail|Send|=0",
      "ticks_fired|||hourly=1",    "ticks_fired|||nightly=5",
  };
  EXPECT_EQ(shown(store->list_metric_totals()), expected);
  // Through a decorator too (StoreWrapper forwards both).
  ForwardingStore forwarding(store);
  forwarding.add_metric_totals(second);
  EXPECT_EQ(shown(forwarding.list_metric_totals()).at(1), "completed|mail|Send|=25");
}

TEST_P(MetricsConformance, MetricTotalRowsThatMakeNoSenseAreRefusedAndNothingIsAdded) {
  const MetricTotal bad[] = {
      {.name = "", .queue = "q", .job_type = "T", .value = 1},
      {.name = "completed", .queue = "q", .job_type = "T", .value = -1},
      // Two rows of one series that together pass the largest 64-bit integer.
      {.name = "good", .value = std::numeric_limits<std::int64_t>::max()},
  };
  for (const MetricTotal& row : bad) {
    const MetricTotal rows[] = {{.name = "good", .value = 1}, row};
    EXPECT_THROW(store->add_metric_totals(rows), errand::ConfigError) << shown(row);
  }
  EXPECT_TRUE(store->list_metric_totals().empty());
}

TEST_P(MetricsConformance, WorkersAddWhatTheyCountedToTheStoresTotalsOnce) {
  for (int i = 0; i < 3; ++i)
    errand::enqueue(*store, RecordJob{.tag = i});
  errand::enqueue(*store, RecordJob{.tag = 10}, errand::EnqueueOptions{.queue = "mail"});
  clock->advance(2s);  // each first run waited 2 s
  // Two workers sharing one registry (as workers of one process do): each publishes its own.
  errand::WorkerOptions a_options = counted_options();
  a_options.worker_id = "worker-a";
  errand::WorkerOptions b_options = counted_options();
  b_options.worker_id = "worker-b";
  errand::Worker a(store, registry, state, a_options);
  std::size_t runs = a.run_until_idle();
  {
    errand::enqueue(*store, RecordJob{.tag = 11}, errand::EnqueueOptions{.queue = "mail"});
    errand::Worker b(store, registry, state, b_options);
    runs += b.run_until_idle();
  }  // b destroyed: its counts stay in the shared registry, once
  errand::enqueue(*store, RecordJob{.tag = 4});
  runs += a.run_until_idle();  // a again: adds only what it ran since it last added
  ASSERT_EQ(runs, 6u);

  const errand::MetricsSnapshot cluster = errand::read_cluster_totals(*store);
  const auto work = series_in(cluster, "default", "Record");
  EXPECT_EQ(work.counter(JobCounter::started), 4u);
  EXPECT_EQ(work.counter(JobCounter::completed), 4u);
  EXPECT_EQ(work.counter(JobCounter::failed), 0u);
  const auto mail = series_in(cluster, "mail", "Record");
  EXPECT_EQ(mail.counter(JobCounter::started), 2u);
  EXPECT_EQ(mail.counter(JobCounter::completed), 2u);
  // Histograms: every run once; the runs took 0 s (first bucket); the waits 2 s (le=2.5) but
  // the last job's (0 s).
  const auto& run = work.histograms[static_cast<std::size_t>(JobHistogram::run_duration)];
  EXPECT_EQ(run.count, 4u);
  EXPECT_EQ(run.buckets[0], 4u);
  const auto& wait = work.histograms[static_cast<std::size_t>(JobHistogram::queue_latency)];
  EXPECT_EQ(wait.count, 4u);
  EXPECT_EQ(wait.buckets[10], 3u) << "le=2.5";
  EXPECT_DOUBLE_EQ(wait.sum, 6.0);
  // Enqueues are not the workers' to publish.
  EXPECT_EQ(cluster.total(JobCounter::enqueued), 0u);

  // The shared registry shows the same runs, once, with b gone and a alive.
  const errand::MetricsSnapshot shared = metrics->snapshot();
  EXPECT_EQ(shared.total(JobCounter::started), 6u);
  EXPECT_EQ(shared.total(JobCounter::completed), 6u);
  EXPECT_EQ(series_in(shared, "default", "Record").histograms, work.histograms);

  // The exposition text: cluster families beside the process's, no cluster enqueue family.
  const std::string text = errand::prometheus_text(shared, nullptr, &cluster);
  EXPECT_TRUE(contains(
      text, "errand_cluster_jobs_completed_total{queue=\"default\",job_type=\"Record\"} 4\n"))
      << text;
  EXPECT_TRUE(contains(
      text,
      "errand_cluster_job_queue_latency_seconds_sum{queue=\"default\",job_type=\"Record\"} "
      "6\n"));
  EXPECT_TRUE(contains(text, "# TYPE errand_cluster_cron_ticks_total counter\n"));
  EXPECT_FALSE(contains(text, "errand_cluster_jobs_enqueued_total"));
  EXPECT_FALSE(contains(text, "errand_cluster_unique_conflicts_total"));
}

TEST_P(MetricsConformance, ClusterTotalsSkipSeriesUnderNamesThisBuildDoesNotKnow) {
  const MetricTotal rows[] = {
      {.name = "completed", .queue = "q", .job_type = "T", .value = 7},
      {.name = "run_duration_bucket_15", .queue = "q", .job_type = "T", .value = 2},
      {.name = "run_duration_bucket_16", .queue = "q", .job_type = "T", .value = 99},  // no such
      {.name = "run_duration_sum_us", .queue = "q", .job_type = "T", .value = 120'500'000},
      {.name = "enqueued", .queue = "q", .job_type = "T", .value = 5},  // not a published name
      {.name = "from_the_future", .queue = "q", .job_type = "T", .value = 1},
      {.name = "ticks_skipped", .schedule = "s", .value = 3},
  };
  store->add_metric_totals(rows);
  const errand::MetricsSnapshot cluster = errand::read_cluster_totals(*store);
  ASSERT_EQ(cluster.jobs.size(), 1u);
  const auto& t = cluster.jobs[0];
  EXPECT_EQ(t.counter(JobCounter::completed), 7u);
  EXPECT_EQ(t.counter(JobCounter::enqueued), 0u);
  const auto& run = t.histograms[static_cast<std::size_t>(JobHistogram::run_duration)];
  EXPECT_EQ(run.count, 2u);
  EXPECT_EQ(run.buckets[15], 2u);
  EXPECT_DOUBLE_EQ(run.sum, 120.5);
  ASSERT_EQ(cluster.ticks.size(), 1u);
  EXPECT_EQ(cluster.ticks[0].schedule, "s");
  EXPECT_EQ(cluster.ticks[0].skipped, 3u);
  EXPECT_EQ(cluster.ticks[0].fired, 0u);
}

}  // namespace
}  // namespace errand_test
