// The store conformance suite's fixtures. Every TEST_P in tests/conformance/ runs once per store
// factory; an instantiation file (sqlite_conformance_test.cpp, postgres_conformance_pgtest.cpp)
// picks the factories with ERRAND_INSTANTIATE_CONFORMANCE.
#pragma once

#include "support/text.hpp"

#include "support/forwarding_store.hpp"
#include "support/jobs.hpp"
#include "support/manual_time.hpp"
#include "support/store_factory.hpp"
#include "support/wait.hpp"

#include <errand/errand.hpp>

#include <gtest/gtest.h>

#include <atomic>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace errand_test {

// The lock timeout the conformance tests claim with: longer than any test, so that no lock
// expires unless a test moves the clock past it on purpose.
inline constexpr errand::Duration kLockTimeout = std::chrono::hours{2};

// A worker registration with fixed host, pid and concurrency.
inline errand::WorkerRegistration registration(std::string id) {
  return errand::WorkerRegistration{
      .id = std::move(id), .host = "test-host", .pid = 4242, .concurrency = 3};
}

class ConformanceTest : public ::testing::TestWithParam<StoreFactory> {
 protected:
  void SetUp() override;

  // Every row of the jobs / dead-letter table, through the Store API.
  std::vector<errand::JobInfo> all_jobs();
  // Rows of the jobs table locked by any worker, through the Store API.
  std::size_t locked_rows();
  // A HookJob hook that raises `most` to locked_rows() as each run starts.
  std::function<void(const std::string&, std::stop_token)> track_most_locked(
      std::atomic<std::size_t>& most);
  std::vector<errand::DeadJob> all_dead();
  std::optional<errand::JobInfo> find_job(errand::JobId id);
  std::optional<errand::DeadJob> find_dead(errand::JobId id);

  errand::JobId enqueue_raw(errand::NewJob job);
  // Registers a worker `worker_id` (as one in another process would) and lets it claim a new
  // RecordJob{.tag = 1}; returns the job's id.
  errand::JobId held_by(const std::string& worker_id);
  // Raw column of one row of the logical table ("jobs", "finished_jobs"), read through the test's
  // own connection.
  std::optional<std::string> column(std::string_view table, std::string_view column,
                                    errand::JobId id);
  std::optional<errand::TimePoint> time_column(std::string_view table, std::string_view column,
                                               errand::JobId id);
  std::int64_t rows_in(std::string_view table) { return storage->count(table); }

  // Worker options for deterministic tests: fixed worker id, events and logs captured.
  errand::WorkerOptions worker_options(std::size_t concurrency = 1);

  // The store's clock, so every worker on `store` runs on it too: advance it, never sleep.
  std::shared_ptr<errand::ManualClock> clock;
  std::unique_ptr<TestStorage> storage;
  std::shared_ptr<errand::Store> store;
  TestState state;
  errand::Registry<TestState> registry;
  EventLog events;
  LogCapture logs;
};

// A HookJob hook that opens `started`, waits for the run's stop token (its cancel), then throws
// "stopped".
inline std::function<void(const std::string&, std::stop_token)> wait_for_cancel(Gate& started) {
  return [&started](const std::string&, std::stop_token token) {
    started.open();
    Gate never;
    never.wait(token);
    throw std::runtime_error("stopped");
  };
}

// Microseconds since the epoch: compare times as integers for readable failure messages.
inline std::int64_t us(errand::TimePoint t) {
  return t.time_since_epoch().count();
}
inline std::int64_t us(errand::Duration d) {
  return d.count();
}

inline errand::TimePoint at_seconds(std::int64_t s) {
  return errand::TimePoint{std::chrono::seconds{s}};
}

// Runs the worker until job `id` has left the jobs table (completed or dead-lettered), setting
// the clock to each retry's run_at; returns the number of runs (at most 100 rounds).
std::size_t runs_until_gone(errand::Worker<TestState>& worker, errand::Store& store,
                            errand::ManualClock& clock, errand::JobId id);

class EnqueueConformance : public ConformanceTest {};
class StoreConformance : public ConformanceTest {};
class WorkerConformance : public ConformanceTest {};
class ShutdownConformance : public ConformanceTest {};
class LivenessConformance : public ConformanceTest {};
class ClockConformance : public ConformanceTest {};

// lifecycle_conformance.cpp: its SetUp adds the lifecycle's job types.
class LifecycleConformance : public ConformanceTest {
 protected:
  void SetUp() override;
  errand::JobId enqueue_one(errand::NewJob job);
  // Job `id` in any state; throws when there is none.
  errand::JobInfo job(errand::JobId id);
  // Registers worker `worker` and claims the one due job for it.
  errand::ClaimedJob claim_one(const std::string& worker = "w");
  static errand::Outcome outcome(const errand::ClaimedJob& claimed, errand::Outcome::Kind kind);
};

// queue_conformance.cpp: its SetUp adds the queue tests' job types.
class QueueConformance : public ConformanceTest {
 protected:
  void SetUp() override;
};

// unique_conformance.cpp: unique jobs.
class UniqueConformance : public ConformanceTest {};
// schedule_conformance.cpp: recurring jobs.
class ScheduleConformance : public ConformanceTest {};

// web_conformance.cpp: the web API over HTTP.
class WebConformance : public ConformanceTest {};
class ListingConformance : public ConformanceTest {};

// metrics_conformance.cpp: its SetUp adds the metrics tests' job types; workers built with
// counted_options count into `metrics`.
class MetricsConformance : public ConformanceTest {
 protected:
  void SetUp() override;
  errand::WorkerOptions counted_options(std::size_t concurrency = 1);
  // The series of (queue, type) in a snapshot of `metrics`; fails the test when there is none.
  errand::JobSeriesValues series(std::string_view queue, std::string_view type);

  std::shared_ptr<errand::Metrics> metrics = std::make_shared<errand::Metrics>();
};

}  // namespace errand_test

#define ERRAND_INSTANTIATE_CONFORMANCE(prefix, factories)                                         \
  INSTANTIATE_TEST_SUITE_P(prefix, EnqueueConformance, factories, ::errand_test::factory_name);   \
  INSTANTIATE_TEST_SUITE_P(prefix, StoreConformance, factories, ::errand_test::factory_name);     \
  INSTANTIATE_TEST_SUITE_P(prefix, WorkerConformance, factories, ::errand_test::factory_name);    \
  INSTANTIATE_TEST_SUITE_P(prefix, ShutdownConformance, factories, ::errand_test::factory_name);  \
  INSTANTIATE_TEST_SUITE_P(prefix, LivenessConformance, factories, ::errand_test::factory_name);  \
  INSTANTIATE_TEST_SUITE_P(prefix, ClockConformance, factories, ::errand_test::factory_name);     \
  INSTANTIATE_TEST_SUITE_P(prefix, LifecycleConformance, factories, ::errand_test::factory_name); \
  INSTANTIATE_TEST_SUITE_P(prefix, QueueConformance, factories, ::errand_test::factory_name);     \
  INSTANTIATE_TEST_SUITE_P(prefix, UniqueConformance, factories, ::errand_test::factory_name);    \
  INSTANTIATE_TEST_SUITE_P(prefix, ScheduleConformance, factories, ::errand_test::factory_name);  \
  INSTANTIATE_TEST_SUITE_P(prefix, MetricsConformance, factories, ::errand_test::factory_name);   \
  INSTANTIATE_TEST_SUITE_P(prefix, WebConformance, factories, ::errand_test::factory_name);       \
  INSTANTIATE_TEST_SUITE_P(prefix, ListingConformance, factories, ::errand_test::factory_name)
