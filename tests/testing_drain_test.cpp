// errand::testing: TestStore and drain, on real SQLite files.
#include "support/jobs.hpp"
#include "support/temp_dir.hpp"
#include "support/text.hpp"

#include <errand/errand.hpp>
#include <errand/testing.hpp>

#include <gtest/gtest.h>

#include <filesystem>
#include <stdexcept>

using errand_test::contains;
using errand_test::FailJob;
using errand_test::HookJob;
using errand_test::LimitedFailJob;
using errand_test::RecordJob;
using errand_test::TestState;
using namespace std::chrono_literals;
namespace et = errand::testing;

namespace {

class Drain : public ::testing::Test {
 protected:
  Drain() { registry.add<RecordJob>().add<FailJob>().add<LimitedFailJob>().add<HookJob>(); }

  std::int64_t queued() {
    const errand::JobCounts c = store->counts(2h);
    return c.ready + c.scheduled + c.running + c.abandoned;
  }

  et::TestStore store;
  errand::Registry<TestState> registry;
  TestState state;
};

TEST_F(Drain, RunsEveryDueJobInClaimOrderAndReportsEachRun) {
  const errand::JobId first = errand::enqueue(*store, RecordJob{1});
  const errand::JobId second = errand::enqueue(*store, RecordJob{2});
  const errand::JobId urgent = errand::enqueue(*store, RecordJob{3}, "ctx", 5);

  const et::DrainReport report = et::drain(store, registry, state);

  ASSERT_EQ(report.runs.size(), 3u) << report;
  EXPECT_EQ(report.succeeded, 3u);
  EXPECT_EQ(report.retried + report.dead_lettered, 0u);
  EXPECT_FALSE(report.limit_reached);
  EXPECT_EQ(report.runs[0].id, urgent);
  EXPECT_EQ(report.runs[0].context, "ctx");
  EXPECT_EQ(report.runs[1].id, first);
  EXPECT_EQ(report.runs[2].id, second);
  for (const et::JobRun& run : report.runs) {
    EXPECT_EQ(run.name, "Record");
    EXPECT_EQ(run.result, et::RunResult::succeeded);
    EXPECT_EQ(run.attempt, 1);
    EXPECT_FALSE(run.next_run_at);
  }
  EXPECT_EQ(report.runs[1].payload, R"({"tag":1})");
  EXPECT_EQ(state.snapshot(), (std::vector<std::string>{"Record:3", "Record:1", "Record:2"}));
  EXPECT_EQ(queued(), 0);
  EXPECT_EQ(report.summary(),
            "drained 3 run(s): 3 succeeded, 0 retried, 0 dead-lettered\n"
            "  job 3 Record {\"tag\":3} attempt 1: succeeded\n"
            "  job 1 Record {\"tag\":1} attempt 1: succeeded\n"
            "  job 2 Record {\"tag\":2} attempt 1: succeeded");
}

TEST_F(Drain, ARetryComesDueOnlyWhenTheClockIsAdvanced) {
  int failures_left = 1;
  state.hook = [&](const std::string&, std::stop_token) {
    if (failures_left-- > 0) throw std::runtime_error("flaky");
  };
  const errand::JobId id = errand::enqueue(*store, HookJob{"h"});
  const errand::TimePoint start = store.now();

  et::DrainReport report = et::drain(store, registry, state);
  ASSERT_EQ(report.runs.size(), 1u) << report;
  EXPECT_EQ(report.retried, 1u);
  EXPECT_EQ(report.runs[0].result, et::RunResult::retried);
  EXPECT_EQ(report.runs[0].error, "flaky");
  EXPECT_EQ(report.runs[0].next_run_at, start + 2s);
  EXPECT_TRUE(contains(report.summary(),
                       "job 1 Hook {\"tag\":\"h\"} attempt 1: retried, runs again at "
                       "2023-11-14T22:13:22.000000Z: flaky"))
      << report;

  // The clock has not moved: the retry is not due, however often we drain.
  EXPECT_TRUE(et::drain(store, registry, state).runs.empty());
  store.advance(1999ms);
  EXPECT_TRUE(et::drain(store, registry, state).runs.empty());
  EXPECT_EQ(queued(), 1);

  store.advance(1ms);
  report = et::drain(store, registry, state);
  ASSERT_EQ(report.runs.size(), 1u) << report;
  EXPECT_EQ(report.runs[0].id, id);
  EXPECT_EQ(report.runs[0].attempt, 2);
  EXPECT_EQ(report.runs[0].result, et::RunResult::succeeded);
  EXPECT_EQ(state.count("Hook:h"), 2u);
  EXPECT_EQ(queued(), 0);
}

TEST_F(Drain, AdvancingTheClockRunsAFailingJobUntilItIsDeadLettered) {
  const errand::TimePoint start = store.now();
  const errand::JobId id = errand::enqueue(*store, LimitedFailJob{7});  // max_retries 2

  const et::DrainReport report = et::drain(store, registry, state, {.advance_clock = true});

  ASSERT_EQ(report.runs.size(), 3u) << report;
  EXPECT_EQ(report.retried, 2u);
  EXPECT_EQ(report.dead_lettered, 1u);
  EXPECT_EQ(report.runs[0].next_run_at, start + 2s);
  EXPECT_EQ(report.runs[1].next_run_at, start + 2s + 4s);
  EXPECT_EQ(report.runs[2].result, et::RunResult::dead_lettered);
  EXPECT_EQ(report.runs[2].attempt, 3);
  EXPECT_EQ(report.runs[2].error, "limited failure");
  EXPECT_FALSE(report.runs[2].next_run_at);
  EXPECT_EQ(report.runs_of(id).size(), 3u);
  EXPECT_EQ(report.runs_of("LimitedFail").size(), 3u);
  EXPECT_TRUE(report.runs_of("Record").empty());
  // The clock went exactly as far as the last retry.
  EXPECT_EQ(store.now(), start + 6s);
  const auto dead = store->list_dead({});
  ASSERT_EQ(dead.size(), 1u);
  EXPECT_EQ(dead[0].id, id);
  EXPECT_EQ(dead[0].error_count, 3);
  EXPECT_EQ(queued(), 0);
}

TEST_F(Drain, TheWorkerOptionsApplyAndTheirEventCallbackStillRuns) {
  errand::enqueue(*store, FailJob{"no"});
  int events = 0;
  et::DrainOptions options;
  options.worker.max_retries = 0;
  options.worker.on_event = [&](const errand::WorkerEvent&) { ++events; };

  const et::DrainReport report = et::drain(store, registry, state, options);

  ASSERT_EQ(report.runs.size(), 1u) << report;
  EXPECT_EQ(report.dead_lettered, 1u);
  EXPECT_EQ(events, 2);  // started, dead_lettered
}

TEST_F(Drain, AScheduledJobRunsWhenTheClockIsMovedToIt) {
  const errand::TimePoint start = store.now();
  errand::enqueue(*store, RecordJob{1}, {.delay = 1h});

  EXPECT_TRUE(et::drain(store, registry, state).runs.empty());
  const et::DrainReport report = et::drain(store, registry, state, {.advance_clock = true});
  EXPECT_EQ(report.succeeded, 1u) << report;
  EXPECT_EQ(store.now(), start + 1h);
}

TEST_F(Drain, LeavesJobsLockedByOtherWorkersAlone) {
  errand::enqueue(*store, RecordJob{1});
  ASSERT_EQ(store->claim("someone-else", 1, 2h).size(), 1u);
  errand::enqueue(*store, RecordJob{2});

  const et::DrainReport report = et::drain(store, registry, state, {.advance_clock = true});
  ASSERT_EQ(report.runs.size(), 1u) << report;
  EXPECT_EQ(state.snapshot(), std::vector<std::string>{"Record:2"});
  EXPECT_EQ(queued(), 1);
}

// A job that enqueues another like it on every run: without the bound, drain never ends.
TEST_F(Drain, StopsAtMaxRunsAndSaysSo) {
  state.hook = [&](const std::string& tag, std::stop_token) {
    errand::enqueue(*store, HookJob{tag});
  };
  errand::enqueue(*store, HookJob{"again"});

  const et::DrainReport report = et::drain(store, registry, state, {.max_runs = 5});

  EXPECT_EQ(report.runs.size(), 5u) << report;
  EXPECT_EQ(report.succeeded, 5u);
  EXPECT_TRUE(report.limit_reached);
  EXPECT_TRUE(contains(report.summary(), "; stopped at max_runs with jobs still waiting"));
  EXPECT_EQ(queued(), 1);  // the sixth, untouched
}

TEST_F(Drain, StopsAtMaxRunsWhileAdvancingTheClock) {
  errand::enqueue(*store, FailJob{"forever"});  // 21 runs with the default max_retries

  const et::DrainReport report =
      et::drain(store, registry, state, {.advance_clock = true, .max_runs = 3});

  EXPECT_EQ(report.runs.size(), 3u) << report;
  EXPECT_EQ(report.retried, 3u);
  EXPECT_TRUE(report.limit_reached);
  EXPECT_EQ(queued(), 1);
}

TEST_F(Drain, ReachingMaxRunsWithNothingLeftIsNotTheLimit) {
  errand::enqueue(*store, RecordJob{1});
  errand::enqueue(*store, RecordJob{2});

  const et::DrainReport report = et::drain(store, registry, state, {.max_runs = 2});
  EXPECT_EQ(report.succeeded, 2u) << report;
  EXPECT_FALSE(report.limit_reached);
}

TEST_F(Drain, RefusesOptionsItCannotHonour) {
  EXPECT_THROW(et::drain(store, registry, state, {.max_runs = 0}), errand::ConfigError);
  // A plain store: advance_clock needs its clock.
  EXPECT_THROW(et::drain(store.shared(), registry, state, {.advance_clock = true}),
               errand::ConfigError);
  errand::ManualClock other;
  EXPECT_THROW(et::drain(store.shared(), registry, state, {.clock = &other}), errand::ConfigError);
}

TEST(DrainOnAnyStore, AdvancesTheClockTheStoreWasOpenedWith) {
  errand_test::TempDir dir;
  auto clock = std::make_shared<errand::ManualClock>();
  auto store = errand::open_sqlite(dir.file("jobs.db"), {.clock = clock});
  errand::Registry<TestState> registry;
  registry.add<LimitedFailJob>();
  TestState state;
  errand::enqueue(*store, LimitedFailJob{1});

  const et::DrainReport report =
      et::drain(store, registry, state, {.advance_clock = true, .clock = clock.get()});
  EXPECT_EQ(report.dead_lettered, 1u) << report;
  EXPECT_EQ(report.runs.size(), 3u);
}

TEST(TestStore, IsASqliteFileOnAManualClockRemovedWithItsLastReference) {
  std::filesystem::path path;
  std::shared_ptr<errand::Store> kept;
  {
    et::TestStore store(errand::TimePoint{std::chrono::seconds{1'000}});
    path = store.path();
    EXPECT_TRUE(std::filesystem::exists(path));
    EXPECT_EQ(store->describe(), "sqlite:" + path.string());
    EXPECT_EQ(&store->clock(), &store.clock());
    EXPECT_EQ(store.now(), errand::TimePoint{std::chrono::seconds{1'000}});
    const errand::JobId id = errand::enqueue(*store, RecordJob{1}, {.delay = 5s});
    store.advance(5s);
    const auto jobs = store->list_jobs({});
    ASSERT_EQ(jobs.size(), 1u);
    EXPECT_EQ(jobs[0].id, id);
    EXPECT_EQ(jobs[0].run_at, store.now());
    kept = store.shared();
  }
  // A copy of the store outlived the TestStore: the file stays until it goes too.
  EXPECT_TRUE(std::filesystem::exists(path));
  EXPECT_EQ(kept->list_jobs({}).size(), 1u);
  kept.reset();
  EXPECT_FALSE(std::filesystem::exists(path.parent_path()));
}

TEST(TestStore, EachIsFresh) {
  et::TestStore a;
  et::TestStore b;
  EXPECT_NE(a.path(), b.path());
  errand::enqueue(*a, RecordJob{1});
  EXPECT_TRUE(b->list_jobs({}).empty());
  EXPECT_EQ(a.now(), b.now());  // both start at the same fixed time
}

}  // namespace
