// Metrics (errand/metrics.hpp) on each store: a worker counts what it settles by queue and job
// type, enqueues count what they inserted and the unique duplicates, and the store's gauges and
// the exposition text say what the rows say.
#include "support/conformance.hpp"
#include "support/temp_dir.hpp"

#include <cstdlib>
#include <fstream>
#include <sstream>

using errand::JobCounter;
using errand::JobHistogram;
using errand::JobId;
using errand::WorkerEvent;
using namespace std::chrono_literals;

namespace errand_test {
namespace {

// Snoozes for 0 s on its first run, then completes.
struct SnoozeOnceJob {
  static constexpr std::string_view name = "SnoozeOnce";
  int tag = 0;
  errand::RunReturn run(TestState& state, const errand::RunContext& context) {
    if (context.snoozes() == 0) return errand::Snooze{0s};
    state.record("SnoozeOnce:" + std::to_string(tag));
    return {};
  }
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(SnoozeOnceJob, tag)

// Discards itself on its first run.
struct DiscardJob {
  static constexpr std::string_view name = "Discarder";
  int tag = 0;
  errand::RunReturn run(TestState&) { return errand::Discard{"not wanted"}; }
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(DiscardJob, tag)

// A unique job type: one per `key`.
struct UniqueMetricJob {
  static constexpr std::string_view name = "UniqueMetric";
  static inline const errand::UniqueOptions unique{};
  int key = 0;
  void run(TestState&) {}
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(UniqueMetricJob, key)

}  // namespace

void MetricsConformance::SetUp() {
  ConformanceTest::SetUp();
  registry.add<SnoozeOnceJob>().add<DiscardJob>().add<UniqueMetricJob>();
}

errand::WorkerOptions MetricsConformance::counted_options(std::size_t concurrency) {
  errand::WorkerOptions options = worker_options(concurrency);
  options.metrics = metrics;
  return options;
}

errand::JobSeriesValues MetricsConformance::series(std::string_view queue, std::string_view type) {
  for (const errand::JobSeriesValues& s : metrics->snapshot().jobs) {
    if (s.queue == queue && s.job_type == type) return s;
  }
  ADD_FAILURE() << "no series for queue '" << queue << "', type '" << type << "'";
  return {};
}

namespace {

TEST_P(MetricsConformance, AWorkerCountsEachOutcomeByQueueAndJobType) {
  for (int i = 0; i < 3; ++i)
    errand::enqueue(*store, RecordJob{.tag = i});
  for (int i = 0; i < 2; ++i)
    errand::enqueue(*store, RecordJob{.tag = 10 + i}, errand::EnqueueOptions{.queue = "mail"});
  const JobId failing = errand::enqueue(*store, LimitedFailJob{.tag = 1});
  errand::enqueue(*store, SnoozeOnceJob{.tag = 1});
  errand::enqueue(*store, DiscardJob{.tag = 1});
  clock->advance(2s);  // every job has waited 2 s when it starts
  errand::Worker worker(store, registry, state, counted_options());
  runs_until_gone(worker, *store, *clock, failing);
  EXPECT_EQ(worker.run_until_idle(), 0u);

  const auto record = series("default", "Record");
  EXPECT_EQ(record.counter(JobCounter::started), 3u);
  EXPECT_EQ(record.counter(JobCounter::completed), 3u);
  EXPECT_EQ(record.counter(JobCounter::failed), 0u);
  const auto mail = series("mail", "Record");
  EXPECT_EQ(mail.counter(JobCounter::started), 2u);
  EXPECT_EQ(mail.counter(JobCounter::completed), 2u);
  // LimitedFailJob: 3 attempts (max_retries 2), the last dead-lettered.
  const auto fail = series("default", "LimitedFail");
  EXPECT_EQ(fail.counter(JobCounter::started), 3u);
  EXPECT_EQ(fail.counter(JobCounter::failed), 3u);
  EXPECT_EQ(fail.counter(JobCounter::retried), 2u);
  EXPECT_EQ(fail.counter(JobCounter::dead_lettered), 1u);
  EXPECT_EQ(fail.counter(JobCounter::completed), 0u);
  const auto snooze = series("default", "SnoozeOnce");
  EXPECT_EQ(snooze.counter(JobCounter::started), 2u);
  EXPECT_EQ(snooze.counter(JobCounter::snoozed), 1u);
  EXPECT_EQ(snooze.counter(JobCounter::completed), 1u);
  const auto discard = series("default", "Discarder");
  EXPECT_EQ(discard.counter(JobCounter::failed), 1u);
  EXPECT_EQ(discard.counter(JobCounter::dead_lettered), 1u);

  // Every run observed once in each histogram. The clock stood still while the jobs ran: each
  // run took 0 s (the first bucket); the first run of each job had waited exactly 2 s (the
  // 2.5 s bucket).
  for (const auto& s : {record, mail}) {
    const auto& run = s.histograms[static_cast<std::size_t>(JobHistogram::run_duration)];
    const auto& wait = s.histograms[static_cast<std::size_t>(JobHistogram::queue_latency)];
    EXPECT_EQ(run.count, s.counter(JobCounter::started));
    EXPECT_EQ(run.buckets[0], run.count);
    EXPECT_EQ(run.sum, 0.0);
    EXPECT_EQ(wait.count, s.counter(JobCounter::started));
    EXPECT_EQ(wait.buckets[10], wait.count) << "le=2.5";
    EXPECT_DOUBLE_EQ(wait.sum, 2.0 * static_cast<double>(wait.count));
  }
  const auto snapshot = metrics->snapshot();
  EXPECT_EQ(snapshot.total(JobCounter::started), worker.stats().started);
  EXPECT_EQ(snapshot.total(JobCounter::completed), worker.stats().succeeded);
  EXPECT_EQ(snapshot.total(JobCounter::retried), worker.stats().retried);
  EXPECT_EQ(snapshot.total(JobCounter::dead_lettered), worker.stats().dead_lettered);
  EXPECT_EQ(snapshot.total(JobCounter::snoozed), worker.stats().snoozed);
}

TEST_P(MetricsConformance, ACancelledRunIsCountedCancelled) {
  Gate started;
  state.hook = wait_for_cancel(started);
  const JobId id = errand::enqueue(*store, HookJob{.tag = "c"});
  errand::Worker worker(store, registry, state, counted_options());
  {
    BackgroundWorker background(worker);
    ASSERT_TRUE(started.wait());
    errand::cancel(*store, id, "user asked");
    ASSERT_TRUE(events.wait_for(WorkerEvent::Kind::cancelled, 1)) << logs.dump();
  }
  const auto hook = series("default", "Hook");
  EXPECT_EQ(hook.counter(JobCounter::started), 1u);
  EXPECT_EQ(hook.counter(JobCounter::cancelled), 1u);
  EXPECT_EQ(hook.counter(JobCounter::failed), 0u);
}

TEST_P(MetricsConformance, EnqueuesCountInsertedJobsAndUniqueConflicts) {
  const auto before = errand::default_metrics().snapshot();
  const auto count = [](const errand::MetricsSnapshot& s, JobCounter which) {
    for (const auto& series : s.jobs) {
      if (series.queue == "metrics-q" && series.job_type == "UniqueMetric")
        return series.counter(which);
    }
    return std::uint64_t{0};
  };
  const errand::EnqueueOptions options{.queue = "metrics-q"};
  errand::enqueue(*store, UniqueMetricJob{.key = 1}, options);
  errand::enqueue(*store, UniqueMetricJob{.key = 1}, options);  // duplicate
  errand::Batch batch;
  batch.add(UniqueMetricJob{.key = 2}, options).add(UniqueMetricJob{.key = 1}, options);
  errand::enqueue(*store, batch);  // one inserted, one duplicate
  const auto after = errand::default_metrics().snapshot();
  EXPECT_EQ(count(after, JobCounter::enqueued) - count(before, JobCounter::enqueued), 2u);
  EXPECT_EQ(
      count(after, JobCounter::unique_conflicts) - count(before, JobCounter::unique_conflicts), 2u);
  EXPECT_EQ(rows_in("jobs"), 2);
}

TEST_P(MetricsConformance, StoreGaugesAndTheExpositionTextSayWhatTheRowsSay) {
  errand::enqueue(*store, RecordJob{.tag = 1});
  errand::enqueue(*store, RecordJob{.tag = 2}, errand::EnqueueOptions{.run_at = clock->now() + 1h});
  errand::enqueue(*store, RecordJob{.tag = 3}, errand::EnqueueOptions{.queue = "mail"});
  errand::enqueue(*store, DiscardJob{.tag = 1}, errand::EnqueueOptions{.queue = "mail"});
  clock->advance(3s);
  {
    errand::Worker worker(store, registry, state, counted_options());
    // Runs the due three (the Discarder to the dead-letter queue), leaves the scheduled one.
    EXPECT_EQ(worker.run_until_idle(), 3u);
  }
  errand::enqueue(*store, RecordJob{.tag = 4}, errand::EnqueueOptions{.queue = "mail"});
  clock->advance(7s);
  store->register_worker(registration("alive"));
  const errand::StoreGauges gauges = errand::read_store_gauges(*store, 30s);
  EXPECT_EQ(gauges.workers_alive, 1);
  EXPECT_EQ(gauges.workers_lost, 0);
  const auto queue = [&](std::string_view name) {
    for (const auto& q : gauges.queues) {
      if (q.name == name) return q;
    }
    ADD_FAILURE() << "no queue " << name;
    return errand::QueueInfo{};
  };
  EXPECT_EQ(queue("default").scheduled, 1);
  EXPECT_EQ(queue("default").ready, 0);
  EXPECT_EQ(queue("mail").ready, 1);
  EXPECT_EQ(queue("mail").discarded, 1);

  const std::string text = errand::prometheus_text(metrics->snapshot(), &gauges);
  EXPECT_TRUE(
      contains(text, "errand_jobs_completed_total{queue=\"default\",job_type=\"Record\"} 1\n"))
      << text;
  EXPECT_TRUE(
      contains(text, "errand_jobs_completed_total{queue=\"mail\",job_type=\"Record\"} 1\n"));
  EXPECT_TRUE(
      contains(text, "errand_jobs_dead_lettered_total{queue=\"mail\",job_type=\"Discarder\"} 1\n"));
  EXPECT_TRUE(contains(text, "errand_queue_jobs{queue=\"default\",state=\"scheduled\"} 1\n"));
  EXPECT_TRUE(contains(text, "errand_queue_jobs{queue=\"mail\",state=\"ready\"} 1\n"));
  EXPECT_TRUE(contains(text, "errand_queue_jobs{queue=\"mail\",state=\"discarded\"} 1\n"));
  EXPECT_TRUE(contains(text, "errand_queue_oldest_ready_age_seconds{queue=\"mail\"} 7\n"));
  EXPECT_TRUE(contains(text, "errand_workers{state=\"alive\"} 1\n"));
  EXPECT_TRUE(contains(text,
                       "errand_job_queue_latency_seconds_bucket{queue=\"mail\",job_type=\"Record\","
                       "le=\"2.5\"} 0\n"));
  EXPECT_TRUE(contains(
      text,
      "errand_job_queue_latency_seconds_bucket{queue=\"mail\",job_type=\"Record\",le=\"5\"} 1\n"));
  EXPECT_TRUE(contains(
      text, "errand_job_queue_latency_seconds_count{queue=\"mail\",job_type=\"Record\"} 1\n"));
}

// promtool's verdict on `text` (`promtool check metrics`, Debian's prometheus package): its exit
// status and output. Fails the test when promtool is not installed.
std::pair<int, std::string> promtool_check(const std::string& text) {
  if (std::system("command -v promtool >/dev/null 2>&1") != 0) {
    ADD_FAILURE() << "promtool not found: install Debian's prometheus package (scripts/test does)";
    return {-1, ""};
  }
  TempDir dir;
  std::ofstream(dir.file("scrape.txt")) << text;
  const std::string command = "promtool check metrics < '" + dir.file("scrape.txt").string() +
                              "' > '" + dir.file("out.txt").string() + "' 2>&1";
  const int status = std::system(command.c_str());
  std::stringstream out;
  out << std::ifstream(dir.file("out.txt")).rdbuf();
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out.str()};
}

TEST_P(MetricsConformance, PromtoolAcceptsAScrapeTakenDuringADrainAndTheCountersAgree) {
  constexpr int kJobs = 400;
  Gate half_done, scraped;
  std::atomic<int> runs{0};
  state.hook = [&](const std::string&, std::stop_token) {
    if (++runs == kJobs / 2) {
      half_done.open();
      scraped.wait();
    }
  };
  errand::Batch batch;
  for (int i = 0; i < kJobs; ++i)
    batch.add(HookJob{.tag = std::to_string(i)},
              errand::EnqueueOptions{.queue = i % 2 ? "a" : "b"});
  errand::enqueue(*store, batch);
  // A job type no worker knows, with a hostile name: dead-lettered, its label value escaped.
  errand::NewJob evil;
  evil.name = "Evil\"\\\n";
  evil.payload = "{}";
  enqueue_raw(evil);
  errand::WorkerOptions options = counted_options(4);
  options.max_retries = 0;  // the unknown type's first failure dead-letters it
  errand::Worker worker(store, registry, state, options);
  std::string mid_drain;
  {
    BackgroundWorker background(worker);
    ASSERT_TRUE(half_done.wait());
    const errand::StoreGauges gauges = errand::read_store_gauges(*store);
    mid_drain = errand::prometheus_text(metrics->snapshot(), &gauges);
    scraped.open();
    ASSERT_TRUE(events.wait_for(WorkerEvent::Kind::succeeded, kJobs));
    ASSERT_TRUE(events.wait_for(WorkerEvent::Kind::dead_lettered, 1));
  }
  const auto [status, output] = promtool_check(mid_drain);
  EXPECT_EQ(status, 0) << output << "\n" << mid_drain;
  EXPECT_TRUE(contains(mid_drain, "{queue=\"default\",job_type=\"Evil\\\"\\\\\\n\"}")) << mid_drain;

  const auto snapshot = metrics->snapshot();
  EXPECT_EQ(snapshot.total(JobCounter::started), static_cast<std::uint64_t>(kJobs + 1));
  EXPECT_EQ(snapshot.total(JobCounter::completed), static_cast<std::uint64_t>(kJobs));
  EXPECT_EQ(snapshot.total(JobCounter::dead_lettered), 1u);
  EXPECT_EQ(state.total(), static_cast<std::size_t>(kJobs));
  EXPECT_EQ(series("a", "Hook").counter(JobCounter::completed),
            static_cast<std::uint64_t>(kJobs / 2));
  EXPECT_EQ(series("b", "Hook").counter(JobCounter::completed),
            static_cast<std::uint64_t>(kJobs / 2));
  const auto [after_status, after_output] =
      promtool_check(errand::prometheus_text(snapshot, nullptr));
  EXPECT_EQ(after_status, 0) << after_output;
}

}  // namespace
}  // namespace errand_test
