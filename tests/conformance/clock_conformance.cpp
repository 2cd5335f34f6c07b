// The worker's intervals run on its store's clock (errand/clock.hpp): heartbeats, per-run
// timeouts and their grace, retries coming due, store-retry backoff and rescue each end when the
// test's ManualClock reaches them, not a microsecond before, however much real time passes; and a
// step of the wall clock (set) ends none of them. Each interval is long (minutes to hours) so that
// a worker waiting on real time instead fails the test.
#include "support/conformance.hpp"

using errand::WorkerEvent;
using namespace std::chrono_literals;

namespace errand_test {
namespace {

// Options that keep the worker from waking by itself: only what a test does moves it.
errand::WorkerOptions quiet(errand::WorkerOptions options) {
  options.poll_interval = std::chrono::hours{1000};
  options.heartbeat_interval = std::chrono::hours{1000};
  options.rescue_after = std::chrono::hours{2000};
  return options;
}

TEST_P(ClockConformance, HeartbeatsAreDueByTheClockAndNotByAStepOfTheWallClock) {
  auto counted = std::make_shared<ForwardingStore>(store);
  auto options = worker_options();
  options.heartbeat_interval = 5s;
  options.rescue_after = 30s;
  options.poll_interval = std::chrono::hours{1000};
  errand::Worker worker(counted, registry, state, options);
  BackgroundWorker background(worker);
  ASSERT_TRUE(wait_for_sleepers(*clock)) << "the worker never waited";  // registered

  // After each move, once the worker sleeps again it has done whatever the move made due.
  clock->advance(5s - 1us);
  ASSERT_TRUE(wait_for_sleepers(*clock));
  clock->set(clock->now() + 1h);  // the wall clock steps forward ...
  ASSERT_TRUE(wait_for_sleepers(*clock));
  clock->set(clock->now() - 2h);  // ... and back
  ASSERT_TRUE(wait_for_sleepers(*clock));
  EXPECT_EQ(counted->heartbeats.load(), 0) << "a heartbeat before heartbeat_interval passed";

  clock->advance(1us);
  ASSERT_TRUE(wait_for_sleepers(*clock));
  EXPECT_EQ(counted->heartbeats.load(), 1)
      << "no heartbeat once heartbeat_interval passed on the store's clock";
  clock->advance(5s - 1us);
  ASSERT_TRUE(wait_for_sleepers(*clock));
  EXPECT_EQ(counted->heartbeats.load(), 1);
  clock->advance(1us);
  ASSERT_TRUE(wait_for_sleepers(*clock));
  EXPECT_EQ(counted->heartbeats.load(), 2);
}

TEST_P(ClockConformance, ATimeoutAndItsGraceEndByTheClockAndNotByAStepOfTheWallClock) {
  const auto id = errand::enqueue(*store, HookJob{.tag = "stubborn"});
  Gate started;
  Gate unstick;
  std::stop_token run_token;
  state.hook = [&](const std::string&, std::stop_token token) {
    run_token = token;
    started.open();
    unstick.wait();  // ignores the stop token: failed after the grace
  };
  auto options = quiet(worker_options());
  options.job_timeout = std::chrono::minutes{10};
  options.timeout_grace = std::chrono::minutes{5};
  errand::Worker worker(store, registry, state, options);
  BackgroundWorker background(worker);
  ASSERT_TRUE(started.wait()) << "the job never started";  // its deadline is set
  ASSERT_TRUE(wait_for_sleepers(*clock));

  clock->advance(std::chrono::minutes{10} - 1us);
  ASSERT_TRUE(wait_for_sleepers(*clock));
  clock->set(clock->now() + 1h);  // a step of the wall clock (shorter than the lock timeout)
  ASSERT_TRUE(wait_for_sleepers(*clock));
  EXPECT_FALSE(run_token.stop_requested()) << "the stop token fired before the timeout";

  clock->advance(1us);
  ASSERT_TRUE(wait_for_sleepers(*clock));
  EXPECT_TRUE(run_token.stop_requested()) << "the timeout did not fire";

  clock->advance(std::chrono::minutes{5} - 1us);
  ASSERT_TRUE(wait_for_sleepers(*clock));
  EXPECT_EQ(find_job(id)->error_count, 0) << "failed before timeout_grace passed";
  EXPECT_EQ(worker.stats().timed_out, 0u);

  clock->advance(1us);
  ASSERT_TRUE(wait_for_sleepers(*clock));
  EXPECT_EQ(find_job(id)->error_count, 1) << "not failed once timeout_grace passed";
  EXPECT_EQ(find_job(id)->last_error,
            "timed out after 600000 ms and still running 300000 ms after its stop token fired");
  EXPECT_EQ(worker.stats().timed_out, 1u);
  unstick.open();
}

TEST_P(ClockConformance, ARetryComesDueByTheClock) {
  errand::enqueue(*store, FailJob{.message = "again"});
  auto options = quiet(worker_options());
  options.backoff = [](std::int32_t) { return errand::Duration{std::chrono::hours{1}}; };
  errand::Worker worker(store, registry, state, options);
  BackgroundWorker background(worker);
  ASSERT_TRUE(events.wait_for(WorkerEvent::Kind::retry_scheduled, 1));
  const auto failed_at = clock->now();
  // The worker waits for the retry it scheduled, not for its poll (1000 h).
  ASSERT_TRUE(advance_until(*clock, 1min, [&] { return state.count("Fail:again") == 2; }));
  EXPECT_LT(clock->now() - failed_at, std::chrono::hours{100});
}

TEST_P(ClockConformance, StoreRetryBackoffRunsOnTheClock) {
  const auto id = errand::enqueue(*store, RecordJob{.tag = 1});
  auto faulty = std::make_shared<ForwardingStore>(store);
  faulty->fail_claims = 2;
  auto options = quiet(worker_options());
  options.store_retry_min = std::chrono::minutes{10};
  options.store_retry_max = std::chrono::hours{1};
  errand::Worker worker(faulty, registry, state, options);
  BackgroundWorker background(worker);
  ASSERT_TRUE(eventually([&] { return faulty->failed_claims() == 1; }));
  const auto failed_at = clock->now();
  ASSERT_TRUE(advance_until(*clock, 1min, [&] {
    return events.count(WorkerEvent::Kind::succeeded) == 1;
  })) << logs.dump();
  EXPECT_GE(clock->now() - failed_at, 30min) << "10 min, then 20 min";
  EXPECT_LT(clock->now() - failed_at, std::chrono::hours{100});
  EXPECT_EQ(faulty->failed_claims(), 2);
  EXPECT_TRUE(contains(logs.dump(), "retrying in 600000 ms")) << logs.dump();
  EXPECT_TRUE(contains(logs.dump(), "retrying in 1200000 ms")) << logs.dump();
  EXPECT_FALSE(find_job(id));
}

TEST_P(ClockConformance, ARunningWorkerRescuesALostWorkersJobByTheClock) {
  const auto id = held_by("lost-worker");
  auto options = worker_options();
  options.poll_interval = std::chrono::hours{1000};
  errand::Worker worker(store, registry, state, options);
  BackgroundWorker background(worker);
  const auto start = clock->now();
  // In touch for rescue_after (30 s) itself, then rescued at a heartbeat (every 5 s) and run
  // after its backoff (2 s).
  ASSERT_TRUE(advance_until(*clock, 1s, [&] { return state.count("Record:1") == 1; }))
      << logs.dump();
  EXPECT_GE(clock->now() - start, 30s);
  EXPECT_LT(clock->now() - start, std::chrono::minutes{10});
  EXPECT_EQ(worker.stats().rescued, 1u);
  EXPECT_TRUE(eventually([&] { return !find_job(id); }));
}

}  // namespace
}  // namespace errand_test
