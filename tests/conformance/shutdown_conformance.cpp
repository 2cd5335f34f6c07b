// Graceful shutdown: stop claiming, cancel running jobs, wait up to the drain timeout (on the
// store's clock), release unfinished jobs without charging an attempt. Nothing is lost.
#include "support/conformance.hpp"

using errand::WorkerEvent;
using namespace std::chrono_literals;

namespace errand_test {
namespace {

// Blocks until `token` fires (true) or the deadline passes (false).
bool wait_for_stop(std::stop_token token) {
  Gate never;
  never.wait(token, kDeadline);
  return token.stop_requested();
}

TEST_P(ShutdownConformance, CancellableJobSeesTheStopAndIsReleasedUncharged) {
  const auto id = errand::enqueue(*store, HookJob{.tag = "long"});
  Gate started;
  std::atomic<bool> saw_stop{false};
  state.hook = [&](const std::string&, std::stop_token token) {
    started.open();
    if (wait_for_stop(token)) {
      saw_stop = true;
      throw std::runtime_error("cancelled during shutdown");
    }
    throw std::runtime_error("the stop token never fired");
  };
  errand::Worker worker(store, registry, state, worker_options());
  {
    BackgroundWorker background(worker);
    ASSERT_TRUE(started.wait()) << "the job never started";
    EXPECT_EQ(column("jobs", "locked_by", id), "test-worker");
    background.stop();
    EXPECT_TRUE(background.finished());
  }
  EXPECT_TRUE(saw_stop) << "the job's stop token was not triggered by the worker's stop";
  auto job = find_job(id);
  ASSERT_TRUE(job) << "the cancelled job was lost";
  EXPECT_EQ(job->locked_by, std::nullopt);
  EXPECT_EQ(job->locked_at, std::nullopt);
  EXPECT_EQ(job->error_count, 0) << "a cancelled job must not be charged an attempt";
  EXPECT_EQ(column("jobs", "locked_by", id), std::nullopt);
  EXPECT_EQ(column("jobs", "error_count", id), "0");
  EXPECT_EQ(rows_in("finished_jobs"), 0);
  EXPECT_EQ(worker.stats().released, 1u);
  EXPECT_EQ(events.count(WorkerEvent::Kind::released), 1u);
  EXPECT_EQ(events.count(WorkerEvent::Kind::retry_scheduled), 0u);
}

TEST_P(ShutdownConformance, NonCooperativeJobIsReleasedAfterTheDrainTimeout) {
  const auto id = errand::enqueue(*store, HookJob{.tag = "stubborn"});
  Gate started;
  Gate release;
  state.hook = [&](const std::string&, std::stop_token) {  // ignores the token
    started.open();
    release.wait();
  };
  auto options = worker_options();
  options.drain_timeout = 100ms;
  errand::Worker worker(store, registry, state, options);
  BackgroundWorker background(worker);
  ASSERT_TRUE(started.wait()) << "the job never started";
  EXPECT_EQ(column("jobs", "locked_by", id), "test-worker");
  background.request_stop();

  const bool unlocked =
      advance_until(*clock, 10ms, [&] { return !column("jobs", "locked_by", id); });
  EXPECT_TRUE(unlocked) << "the lock was not released after the drain timeout";
  EXPECT_FALSE(background.finished()) << "run() returned while a job thread was still running";
  EXPECT_EQ(column("jobs", "error_count", id), "0");
  EXPECT_EQ(column("jobs", "locked_at", id), std::nullopt);

  release.open();
  background.stop();
  EXPECT_TRUE(background.finished());
  auto job = find_job(id);
  ASSERT_TRUE(job) << "the released job was lost (a late finish must not delete an unlocked job)";
  EXPECT_EQ(job->locked_by, std::nullopt);
  EXPECT_EQ(job->error_count, 0);
  EXPECT_EQ(state.count("Hook:stubborn"), 1u);
  EXPECT_EQ(worker.stats().released, 1u);
}

TEST_P(ShutdownConformance, ClaimedButNotStartedJobsAreReleasedToo) {
  std::vector<HookJob> jobs{{"first"}, {"b"}, {"c"}, {"d"}, {"e"}};
  const auto ids = errand::enqueue_all(*store, jobs);
  Gate started;
  state.hook = [&](const std::string&, std::stop_token token) {
    started.open();
    wait_for_stop(token);  // then returns normally: this one succeeds
  };
  errand::Worker worker(store, registry, state, worker_options(1));
  {
    BackgroundWorker background(worker);
    ASSERT_TRUE(started.wait());
    background.stop();
  }
  EXPECT_EQ(state.total(), 1u) << "jobs were started after the stop";
  EXPECT_FALSE(find_job(ids[0])) << "the job that returned normally should be completed";
  for (std::size_t i = 1; i < ids.size(); ++i) {
    auto job = find_job(ids[i]);
    ASSERT_TRUE(job) << "job " << ids[i] << " was lost";
    EXPECT_EQ(job->locked_by, std::nullopt) << "job " << ids[i] << " is still locked";
    EXPECT_EQ(job->error_count, 0);
  }
  EXPECT_EQ(storage->count("jobs", "locked_by IS NOT NULL"), 0);
  EXPECT_EQ(rows_in("jobs"), 4);
}

TEST_P(ShutdownConformance, StopWhileIdleReturnsWithoutWaitingForThePoll) {
  auto watched = std::make_shared<ForwardingStore>(store);
  auto options = worker_options(4);
  options.poll_interval = std::chrono::hours{1};
  errand::Worker worker(watched, registry, state, options);
  BackgroundWorker background(worker);
  ASSERT_TRUE(watched->wait_for_empty_claims(1, kDeadline));
  background.stop();  // hangs (until the test times out) if the stop does not wake the worker
  EXPECT_TRUE(background.finished());
}

TEST_P(ShutdownConformance, ManyRunningJobsAreAllCancelledAndNothingIsLost) {
  constexpr int kJobs = 6;
  std::vector<HookJob> jobs(kJobs, HookJob{.tag = "long"});
  const auto ids = errand::enqueue_all(*store, jobs);
  std::atomic<int> started{0};
  state.hook = [&](const std::string&, std::stop_token token) {
    ++started;
    if (wait_for_stop(token)) throw std::runtime_error("cancelled");
  };
  errand::Worker worker(store, registry, state, worker_options(kJobs));
  {
    BackgroundWorker background(worker);
    ASSERT_TRUE(eventually([&] { return started.load() == kJobs; }));
    EXPECT_EQ(storage->count("jobs", "locked_by = 'test-worker'"), kJobs);
  }
  EXPECT_EQ(rows_in("jobs"), kJobs);
  EXPECT_EQ(storage->count("jobs", "locked_by IS NULL AND error_count = 0"), kJobs);
  EXPECT_EQ(worker.stats().released, static_cast<std::uint64_t>(kJobs));
  // A fresh worker runs them all.
  state.hook = nullptr;
  errand::Worker next(store, registry, state, worker_options(2));
  EXPECT_EQ(next.run_until_idle(), static_cast<std::size_t>(kJobs));
  EXPECT_EQ(rows_in("jobs"), 0);
  (void)ids;
}

}  // namespace
}  // namespace errand_test
