// The worker's semantics, asserted on the stored rows: order, locking, success, failure and
// backoff, dead-lettering, recorded dispatch failures, concurrency, wake-up, storage errors.
#include "support/conformance.hpp"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>

using errand::JobState;
using errand::WorkerEvent;
using namespace std::chrono_literals;

namespace errand_test {
namespace {

TEST_P(WorkerConformance, SuccessDeletesTheJob) {
  const auto id = errand::enqueue(*store, RecordJob{.tag = 1}, "ctx");
  errand::Worker worker(store, registry, state, worker_options());
  EXPECT_EQ(worker.run_until_idle(), 1u);
  EXPECT_EQ(state.snapshot(), std::vector<std::string>{"Record:1"});
  EXPECT_FALSE(find_job(id));
  EXPECT_EQ(rows_in("jobs"), 0);
  EXPECT_EQ(rows_in("finished_jobs"), 0);
  EXPECT_EQ(worker.stats().started, 1u);
  EXPECT_EQ(worker.stats().succeeded, 1u);
  EXPECT_EQ(events.count(WorkerEvent::Kind::started), 1u);
  EXPECT_EQ(events.count(WorkerEvent::Kind::succeeded), 1u);
  EXPECT_EQ(worker.run_until_idle(), 0u);
}

TEST_P(WorkerConformance, RunsByPriorityThenRunAtThenAge) {
  const auto now = clock->now();
  auto add = [&](int tag, int priority, errand::TimePoint run_at) {
    errand::enqueue(*store, RecordJob{.tag = tag},
                    errand::EnqueueOptions{.priority = priority, .run_at = run_at});
  };
  add(1, 0, now - 10s);
  add(2, 5, now);
  add(3, 5, now - 5s);
  add(4, 0, now - 10s);
  add(5, -1, now - 100s);
  add(6, 100, now + 10s);  // not due yet
  errand::Worker worker(store, registry, state, worker_options(1));
  EXPECT_EQ(worker.run_until_idle(), 5u);
  EXPECT_EQ(state.snapshot(),
            (std::vector<std::string>{"Record:3", "Record:2", "Record:1", "Record:4", "Record:5"}));
  EXPECT_EQ(rows_in("jobs"), 1);
  clock->advance(10s);
  EXPECT_EQ(worker.run_until_idle(), 1u);
  EXPECT_EQ(state.snapshot().back(), "Record:6");
  EXPECT_EQ(rows_in("jobs"), 0);
}

TEST_P(WorkerConformance, JobIsLockedByTheWorkerWhileItRuns) {
  const auto id = errand::enqueue(*store, HookJob{.tag = "x"});
  clock->advance(1s);
  std::optional<std::string> locked_by;
  std::optional<std::int64_t> locked_at;
  state.hook = [&](const std::string&, std::stop_token) {
    locked_by = column("jobs", "locked_by", id);
    locked_at = storage->integer("SELECT " + storage->micros("locked_at") + " FROM " +
                                 storage->table("jobs") + " WHERE id = " + std::to_string(id));
  };
  errand::Worker worker(store, registry, state, worker_options());
  EXPECT_EQ(worker.run_until_idle(), 1u);
  EXPECT_EQ(locked_by, "test-worker");
  EXPECT_EQ(locked_at, us(clock->now()));
  EXPECT_FALSE(find_job(id));
}

TEST_P(WorkerConformance, DefaultWorkerIdNamesThisProcessAndIsUnique) {
  errand::WorkerOptions options;
  options.log = logs.fn();
  errand::Worker a(store, registry, state, options);
  errand::Worker b(store, registry, state, options);
  EXPECT_FALSE(a.id().empty());
  EXPECT_NE(a.id(), b.id());
  EXPECT_TRUE(contains(a.id(), std::to_string(::getpid()))) << a.id();

  const auto id = errand::enqueue(*store, HookJob{.tag = "x"});
  std::optional<std::string> locked_by;
  state.hook = [&](const std::string&, std::stop_token) {
    locked_by = column("jobs", "locked_by", id);
  };
  EXPECT_EQ(a.run_until_idle(), 1u);
  EXPECT_EQ(locked_by, a.id());
}

TEST_P(WorkerConformance, FailureRecordsTheErrorAndBacksOff2481632Seconds) {
  const auto id = errand::enqueue(*store, FailJob{.message = "disk full"});
  errand::Worker worker(store, registry, state, worker_options());
  for (int k = 1; k <= 5; ++k) {
    SCOPED_TRACE("failure " + std::to_string(k));
    const auto failed_at = clock->now();
    ASSERT_EQ(worker.run_until_idle(), 1u);
    ASSERT_EQ(state.count("Fail:disk full"), static_cast<std::size_t>(k));
    auto job = find_job(id);
    ASSERT_TRUE(job);
    const errand::Duration delay = std::chrono::seconds{1 << k};
    EXPECT_EQ(job->error_count, k);
    ASSERT_TRUE(job->last_error);
    EXPECT_TRUE(contains(*job->last_error, "disk full")) << *job->last_error;
    ASSERT_TRUE(job->last_failed_at);
    EXPECT_EQ(us(*job->last_failed_at), us(failed_at));
    EXPECT_EQ(us(job->run_at), us(failed_at + delay));
    EXPECT_EQ(job->locked_by, std::nullopt);
    EXPECT_EQ(column("jobs", "error_count", id), std::to_string(k));
    EXPECT_EQ(us(*time_column("jobs", "run_at", id)), us(failed_at + delay));
    EXPECT_EQ(us(*time_column("jobs", "last_failed_at", id)), us(failed_at));

    // Not run early ...
    clock->advance(delay - 1us);
    EXPECT_EQ(worker.run_until_idle(), 0u);
    EXPECT_EQ(state.count("Fail:disk full"), static_cast<std::size_t>(k));
    // ... but as soon as it is due.
    clock->advance(1us);
  }
  const auto retries = events.entries();
  std::vector<std::int64_t> delays;
  for (const auto& e : retries) {
    if (e.kind == WorkerEvent::Kind::retry_scheduled) delays.push_back(us(e.retry_delay));
  }
  EXPECT_EQ(delays,
            (std::vector<std::int64_t>{2'000'000, 4'000'000, 8'000'000, 16'000'000, 32'000'000}));
  EXPECT_EQ(worker.stats().retried, 5u);
}

TEST_P(WorkerConformance, DeadLettersAfterTwentyRetriesSoTwentyOneRuns) {
  const auto created = clock->now();
  const auto id = errand::enqueue(*store, FailJob{.message = "always"}, "nightly", 3);
  const auto payload = find_job(id)->payload;
  errand::Worker worker(store, registry, state, worker_options());
  errand::TimePoint last_failure;
  for (int run = 1; run <= 21; ++run) {
    SCOPED_TRACE("run " + std::to_string(run));
    last_failure = clock->now();
    ASSERT_EQ(worker.run_until_idle(), 1u);
    if (run < 21) {
      auto job = find_job(id);
      ASSERT_TRUE(job) << "dead-lettered too early";
      ASSERT_EQ(job->error_count, run);
      ASSERT_EQ(us(job->run_at), us(last_failure + std::chrono::seconds{std::int64_t{1} << run}));
      clock->set(job->run_at);
    }
  }
  EXPECT_EQ(state.count("Fail:always"), 21u);
  EXPECT_FALSE(find_job(id));
  EXPECT_EQ(rows_in("jobs"), 0);
  auto dead = find_dead(id);
  ASSERT_TRUE(dead);
  EXPECT_EQ(dead->name, "Fail");
  EXPECT_EQ(dead->payload, payload);
  EXPECT_EQ(dead->context, "nightly");
  EXPECT_EQ(dead->priority, 3);
  EXPECT_EQ(dead->error_count, 21);
  EXPECT_TRUE(contains(dead->last_error, "always")) << dead->last_error;
  EXPECT_EQ(us(dead->created_at), us(created));
  EXPECT_EQ(us(dead->failed_at), us(last_failure));
  EXPECT_EQ(column("finished_jobs", "error_count", id), "21");
  EXPECT_EQ(column("finished_jobs", "context", id), "nightly");
  EXPECT_EQ(column("finished_jobs", "priority", id), "3");
  EXPECT_EQ(column("finished_jobs", "payload", id), payload);
  EXPECT_EQ(worker.stats().retried, 20u);
  EXPECT_EQ(worker.stats().dead_lettered, 1u);
  EXPECT_EQ(events.count(WorkerEvent::Kind::dead_lettered), 1u);

  clock->advance(std::chrono::hours{24 * 365});
  EXPECT_EQ(worker.run_until_idle(), 0u);
  EXPECT_EQ(state.count("Fail:always"), 21u);
}

TEST_P(WorkerConformance, JobTypeMaxRetriesWinsOverTheWorkers) {
  const auto id = errand::enqueue(*store, LimitedFailJob{.tag = 1});
  auto options = worker_options();
  options.max_retries = 5;
  errand::Worker worker(store, registry, state, options);
  EXPECT_EQ(runs_until_gone(worker, *store, *clock, id), 3u);
  EXPECT_EQ(state.count("LimitedFail:1"), 3u);
  auto dead = find_dead(id);
  ASSERT_TRUE(dead);
  EXPECT_EQ(dead->error_count, 3);
}

TEST_P(WorkerConformance, WorkerMaxRetriesOptionApplies) {
  const auto id = errand::enqueue(*store, FailJob{.message = "m"});
  auto options = worker_options();
  options.max_retries = 3;
  errand::Worker worker(store, registry, state, options);
  EXPECT_EQ(runs_until_gone(worker, *store, *clock, id), 4u);
  ASSERT_TRUE(find_dead(id));
  EXPECT_EQ(find_dead(id)->error_count, 4);
}

TEST_P(WorkerConformance, MaxRetriesZeroMeansOneRun) {
  const auto id = errand::enqueue(*store, FailJob{.message = "m"});
  auto options = worker_options();
  options.max_retries = 0;
  errand::Worker worker(store, registry, state, options);
  EXPECT_EQ(worker.run_until_idle(), 1u);
  ASSERT_TRUE(find_dead(id));
  EXPECT_EQ(find_dead(id)->error_count, 1);
  EXPECT_EQ(rows_in("jobs"), 0);
}

TEST_P(WorkerConformance, CustomBackoffIsUsed) {
  const auto id = errand::enqueue(*store, FailJob{.message = "m"});
  auto options = worker_options();
  options.backoff = [](std::int32_t error_count) {
    return errand::Duration{std::chrono::minutes{error_count}};
  };
  errand::Worker worker(store, registry, state, options);
  const auto failed_at = clock->now();
  EXPECT_EQ(worker.run_until_idle(), 1u);
  EXPECT_EQ(us(find_job(id)->run_at), us(failed_at + 1min));
}

TEST_P(WorkerConformance, UnknownJobNameIsARecordedFailureRetriedThenDeadLettered) {
  const auto id = enqueue_raw({.name = "NoSuchJob", .payload = "{}", .context = "ctx"});
  errand::enqueue(*store, RecordJob{.tag = 1}, "", -5);
  auto options = worker_options();
  options.max_retries = 2;
  errand::Worker worker(store, registry, state, options);
  EXPECT_EQ(worker.run_until_idle(), 2u);
  EXPECT_EQ(state.count("Record:1"), 1u) << "other jobs must keep running";
  auto job = find_job(id);
  ASSERT_TRUE(job);
  EXPECT_EQ(job->error_count, 1);
  ASSERT_TRUE(job->last_error);
  EXPECT_TRUE(contains(*job->last_error, "NoSuchJob")) << *job->last_error;
  EXPECT_TRUE(contains(lower(*job->last_error), "registered") ||
              contains(lower(*job->last_error), "unknown"))
      << *job->last_error;
  EXPECT_EQ(us(job->run_at), us(clock->now() + 2s));

  EXPECT_EQ(runs_until_gone(worker, *store, *clock, id), 2u);
  auto dead = find_dead(id);
  ASSERT_TRUE(dead);
  EXPECT_EQ(dead->error_count, 3);
  EXPECT_TRUE(contains(dead->last_error, "NoSuchJob")) << dead->last_error;
  EXPECT_EQ(dead->payload, "{}");
  EXPECT_EQ(dead->context, "ctx");
}

TEST_P(WorkerConformance, PayloadThatIsNotJsonIsARecordedFailure) {
  const auto id = enqueue_raw({.name = "Record", .payload = "this is {not json"});
  errand::Worker worker(store, registry, state, worker_options());
  EXPECT_EQ(worker.run_until_idle(), 1u);
  EXPECT_EQ(state.total(), 0u);
  auto job = find_job(id);
  ASSERT_TRUE(job);
  EXPECT_EQ(job->error_count, 1);
  ASSERT_TRUE(job->last_error);
  EXPECT_TRUE(contains(*job->last_error, "Record")) << *job->last_error;
  EXPECT_TRUE(contains(lower(*job->last_error), "json")) << *job->last_error;
  EXPECT_EQ(job->payload, "this is {not json") << "the payload must be kept as it was";
}

TEST_P(WorkerConformance, PayloadThatDoesNotDeserializeIsARecordedFailure) {
  const auto id = enqueue_raw({.name = "Record", .payload = R"({"wrong": 1})"});
  errand::Worker worker(store, registry, state, worker_options());
  EXPECT_EQ(worker.run_until_idle(), 1u);
  EXPECT_EQ(state.total(), 0u);
  auto job = find_job(id);
  ASSERT_TRUE(job);
  EXPECT_EQ(job->error_count, 1);
  ASSERT_TRUE(job->last_error);
  EXPECT_TRUE(contains(*job->last_error, "Record")) << *job->last_error;
  EXPECT_TRUE(contains(*job->last_error, "tag"))
      << "should say the field 'tag' is missing: " << *job->last_error;
}

TEST_P(WorkerConformance, NonStdExceptionsAreRecordedFailures) {
  const auto thrown_int = errand::enqueue(*store, ThrowIntJob{}, "", 2);
  const auto thrown_struct = errand::enqueue(*store, ThrowCustomJob{}, "", 1);
  errand::enqueue(*store, RecordJob{.tag = 1});
  errand::Worker worker(store, registry, state, worker_options());
  EXPECT_EQ(worker.run_until_idle(), 3u);
  EXPECT_EQ(state.count("Record:1"), 1u) << "the worker must survive non-std exceptions";
  for (const auto id : {thrown_int, thrown_struct}) {
    auto job = find_job(id);
    ASSERT_TRUE(job);
    EXPECT_EQ(job->error_count, 1);
    ASSERT_TRUE(job->last_error);
    EXPECT_NE(job->last_error->find_first_not_of(" \t\n"), std::string::npos)
        << "empty error message for job " << job->name;
    EXPECT_TRUE(contains(lower(*job->last_error), "exception")) << *job->last_error;
    EXPECT_EQ(us(job->run_at), us(clock->now() + 2s));
  }
}

TEST_P(WorkerConformance, StdExceptionMessageIsRecordedVerbatim) {
  const std::string message = "payment gateway said \"no\": 42% of 'x' \xc3\xa9t\xc3\xa9\nline 2";
  const auto id = errand::enqueue(*store, FailJob{.message = message});
  errand::Worker worker(store, registry, state, worker_options());
  EXPECT_EQ(worker.run_until_idle(), 1u);
  auto job = find_job(id);
  ASSERT_TRUE(job && job->last_error);
  EXPECT_TRUE(contains(*job->last_error, message)) << *job->last_error;
  EXPECT_TRUE(contains(column("jobs", "last_error", id).value_or(""), message));
}

TEST_P(WorkerConformance, RunUntilIdleRunsRetriesThatBecomeDueMeanwhile) {
  errand::enqueue(*store, FailJob{.message = "x"}, "", 1);
  errand::enqueue(*store, HookJob{.tag = "advance"}, "", 0);
  state.hook = [&](const std::string&, std::stop_token) { clock->advance(5s); };
  auto options = worker_options(1);
  options.prefetch = 0;  // one job at a time: the retry is settled before the clock moves
  errand::Worker worker(store, registry, state, options);
  EXPECT_EQ(worker.run_until_idle(), 3u);
  EXPECT_EQ(state.count("Fail:x"), 2u);
  EXPECT_EQ(state.count("Hook:advance"), 1u);
}

TEST_P(WorkerConformance, AbandonedJobIsRescuedAfterTheLockTimeout) {
  const auto id = errand::enqueue(*store, RecordJob{.tag = 9});
  ASSERT_EQ(store->claim("crashed-worker", 1, kLockTimeout).size(), 1u);
  auto options = worker_options();
  options.lock_timeout = 1min;
  errand::Worker worker(store, registry, state, options);
  clock->advance(59s);
  EXPECT_EQ(worker.run_until_idle(), 0u);
  EXPECT_EQ(column("jobs", "locked_by", id), "crashed-worker");
  clock->advance(2s);
  EXPECT_EQ(worker.run_until_idle(), 1u);
  EXPECT_EQ(state.count("Record:9"), 1u);
  EXPECT_FALSE(find_job(id));
}

TEST_P(WorkerConformance, OutcomeOfAJobWhoseLockWasStolenIsDropped) {
  const auto id = errand::enqueue(*store, HookJob{.tag = "slow"});
  auto thief = storage->open(clock);
  std::size_t stolen = 0;
  state.hook = [&](const std::string&, std::stop_token) {
    clock->advance(kLockTimeout + 1s);
    stolen = thief->claim("thief", 1, kLockTimeout).size();
  };
  errand::Worker worker(store, registry, state, worker_options());
  worker.run_until_idle();
  EXPECT_EQ(worker.stats().started, 1u);
  ASSERT_EQ(stolen, 1u);
  auto job = find_job(id);
  ASSERT_TRUE(job) << "a worker that lost its lock deleted the job";
  EXPECT_EQ(job->locked_by, "thief");
  EXPECT_EQ(job->error_count, 0);
  EXPECT_EQ(worker.stats().lock_lost, 1u);
  EXPECT_EQ(worker.stats().succeeded, 0u);
  EXPECT_EQ(events.count(WorkerEvent::Kind::lock_lost), 1u);
}

TEST_P(WorkerConformance, FailureOfAJobWhoseLockWasStolenIsDropped) {
  const auto id = errand::enqueue(*store, HookJob{.tag = "slow"});
  std::size_t stolen = 0;
  state.hook = [&](const std::string&, std::stop_token) {
    clock->advance(kLockTimeout + 1s);
    stolen = store->claim("thief", 1, kLockTimeout).size();
    throw std::runtime_error("late failure");
  };
  auto options = worker_options();
  options.max_retries = 0;  // the failure would dead-letter it
  errand::Worker worker(store, registry, state, options);
  worker.run_until_idle();
  EXPECT_EQ(worker.stats().started, 1u);
  EXPECT_EQ(worker.stats().lock_lost, 1u);
  ASSERT_EQ(stolen, 1u);
  auto job = find_job(id);
  ASSERT_TRUE(job) << "a worker that lost its lock dead-lettered the job";
  EXPECT_EQ(job->locked_by, "thief");
  EXPECT_EQ(job->error_count, 0);
  EXPECT_EQ(job->last_error, std::nullopt);
  EXPECT_FALSE(find_dead(id));
}

// worker.hpp: run_until_idle "returns how many runs ended" -- a run whose outcome was dropped
// because the lock was lost has ended too.
TEST_P(WorkerConformance, RunUntilIdleCountsRunsWhoseLockWasLost) {
  errand::enqueue(*store, HookJob{.tag = "slow"});
  errand::enqueue(*store, RecordJob{.tag = 1}, "", -1);
  state.hook = [&](const std::string&, std::stop_token) {
    clock->advance(kLockTimeout + 1s);
    store->claim("thief", 1, kLockTimeout);
  };
  auto options = worker_options(1);
  options.prefetch = 0;  // else the Record job, prefetched, loses its expired lock too
  errand::Worker worker(store, registry, state, options);
  EXPECT_EQ(worker.run_until_idle(), 2u);
  EXPECT_EQ(worker.stats().started, 2u);
  EXPECT_EQ(worker.stats().lock_lost, 1u);
}

TEST_P(WorkerConformance, RunsUpToConcurrencyJobsAtOnceAndNoMore) {
  constexpr int kConcurrency = 4;
  constexpr int kJobs = 3 * kConcurrency;
  std::atomic<int> running{0};
  std::atomic<int> max_running{0};
  std::atomic<int> started{0};
  std::atomic<int> timeouts{0};
  std::mutex mutex;
  std::condition_variable cv;
  // Jobs start in waves of kConcurrency; each job waits until its whole wave has started, so
  // the worker must run kConcurrency at once to finish, and a wave never overlaps the next
  // unless the worker runs more than kConcurrency at once.
  state.hook = [&](const std::string&, std::stop_token) {
    const int now_running = ++running;
    int seen = max_running.load();
    while (seen < now_running && !max_running.compare_exchange_weak(seen, now_running)) {
    }
    const int index = started++;
    const int wave_end = std::min(kJobs, (index / kConcurrency + 1) * kConcurrency);
    {
      std::unique_lock lock(mutex);
      cv.notify_all();
      if (!cv.wait_for(lock, kDeadline, [&] { return started.load() >= wave_end; })) {
        ++timeouts;
      }
    }
    --running;
  };
  std::vector<HookJob> jobs(kJobs, HookJob{.tag = "c"});
  errand::enqueue_all(*store, jobs);
  errand::Worker worker(store, registry, state, worker_options(kConcurrency));
  {
    BackgroundWorker background(worker);
    ASSERT_TRUE(events.wait_for(WorkerEvent::Kind::succeeded, kJobs))
        << "only " << events.count(WorkerEvent::Kind::succeeded) << " of " << kJobs
        << " jobs finished";
  }
  EXPECT_EQ(timeouts.load(), 0) << "fewer than " << kConcurrency << " jobs ran at once";
  EXPECT_EQ(max_running.load(), kConcurrency);
  EXPECT_EQ(rows_in("jobs"), 0);
}

TEST_P(WorkerConformance, PrefetchNeverHoldsMoreThanConcurrencyPlusPrefetch) {
  std::atomic<std::size_t> most_locked{0};
  state.hook = track_most_locked(most_locked);
  constexpr int kJobs = 40;
  errand::enqueue_all(*store, std::vector<HookJob>(kJobs, HookJob{.tag = "q"}));
  auto options = worker_options(2);
  options.prefetch = 3;
  errand::Worker worker(store, registry, state, options);
  EXPECT_EQ(worker.run_until_idle(), static_cast<std::size_t>(kJobs));
  EXPECT_GE(most_locked.load(), 1u);
  EXPECT_LE(most_locked.load(), 5u);
  EXPECT_EQ(rows_in("jobs"), 0);
}

TEST_P(WorkerConformance, SeveralStoreLanesNeverClaimBeyondConcurrencyPlusPrefetch) {
  std::atomic<std::size_t> most_locked{0};
  state.hook = track_most_locked(most_locked);
  constexpr int kJobs = 120;
  errand::enqueue_all(*store, std::vector<HookJob>(kJobs, HookJob{.tag = "l"}));
  auto options = worker_options(2);
  options.prefetch = 3;
  options.store_lanes = 3;
  // Nothing but finished jobs may wake the worker: a round that leaves the slots to another
  // lane's reservation must not leave the worker asleep.
  options.poll_interval = std::chrono::hours{1};
  options.heartbeat_interval = std::chrono::hours{1};
  options.rescue_after = std::chrono::hours{2};
  errand::Worker worker(store, registry, state, options);
  {
    BackgroundWorker background(worker);
    ASSERT_TRUE(events.wait_for(WorkerEvent::Kind::succeeded, kJobs))
        << events.count(WorkerEvent::Kind::succeeded) << " of " << kJobs << " finished";
  }
  EXPECT_GE(most_locked.load(), 1u);
  EXPECT_LE(most_locked.load(), 5u) << "more than concurrency + prefetch locked at once";
  EXPECT_EQ(rows_in("jobs"), 0);
}

TEST_P(WorkerConformance, WhileEveryRunIsSlowNothingIsPrefetchedAndStopReleasesUncharged) {
  std::atomic<int> started{0};
  state.hook = [&](const std::string&, std::stop_token stop) {
    ++started;
    std::mutex mutex;
    std::condition_variable_any cv;
    std::unique_lock lock(mutex);
    cv.wait(lock, stop, [] { return false; });  // until the worker stops
    throw std::runtime_error("stopped");        // stopped by a shutdown: released, uncharged
  };
  errand::enqueue_all(*store, std::vector<HookJob>(10, HookJob{.tag = "p"}));
  auto counted = std::make_shared<ForwardingStore>(store);
  auto options = worker_options(2);
  options.prefetch = 8;
  errand::Worker worker(counted, registry, state, options);
  {
    BackgroundWorker background(worker);
    ASSERT_TRUE(eventually([&] { return started.load() == 2; }));
    ASSERT_TRUE(eventually([&] { return events.count(WorkerEvent::Kind::started) == 2; }));
    // Nothing finished, so nothing beyond the two running jobs is claimed, round after round
    // (each heartbeat, every 5 s, is followed by a round; its claims would stay locked).
    for (std::int64_t beats = 1; beats <= 4; ++beats) {
      ASSERT_TRUE(advance_until(*clock, 1s, [&] { return counted->heartbeats >= beats; }));
      ASSERT_EQ(locked_rows(), 2u) << "after heartbeat " << beats;
    }
  }
  EXPECT_EQ(started.load(), 2);
  EXPECT_EQ(locked_rows(), 0u);
  for (const auto& job : all_jobs())
    EXPECT_EQ(job.error_count, 0) << job.id;
  EXPECT_EQ(rows_in("jobs"), 10);
  EXPECT_EQ(events.count(WorkerEvent::Kind::released), 2u);
}

TEST_P(WorkerConformance, PrefetchZeroLocksOnlyForFreeSlots) {
  std::atomic<int> started{0};
  std::mutex mutex;
  std::condition_variable_any cv;
  bool go = false;
  state.hook = [&](const std::string&, std::stop_token stop) {
    ++started;
    std::unique_lock lock(mutex);
    cv.wait(lock, stop, [&] { return go; });
  };
  errand::enqueue_all(*store, std::vector<HookJob>(4, HookJob{.tag = "z"}));
  auto options = worker_options(1);
  options.prefetch = 0;
  errand::Worker worker(store, registry, state, options);
  BackgroundWorker background(worker);
  ASSERT_TRUE(eventually([&] { return started.load() == 1; }));
  EXPECT_EQ(locked_rows(), 1u);  // claimed only after the run started: nothing beyond it
  {
    std::lock_guard lock(mutex);
    go = true;
  }
  cv.notify_all();
  EXPECT_TRUE(events.wait_for(WorkerEvent::Kind::succeeded, 4));
}

TEST_P(WorkerConformance, EnqueueInThisProcessWakesAnIdleWorker) {
  auto watched = std::make_shared<ForwardingStore>(store);
  auto options = worker_options();
  options.poll_interval = std::chrono::hours{1};
  errand::Worker worker(watched, registry, state, options);
  BackgroundWorker background(worker);
  ASSERT_TRUE(watched->wait_for_empty_claims(1, kDeadline)) << "the worker never looked for jobs";
  const auto id = errand::enqueue(*store, RecordJob{.tag = 1});
  EXPECT_TRUE(events.wait_for(WorkerEvent::Kind::succeeded, 1))
      << "the enqueue did not wake the worker (poll interval is 1 hour)";
  EXPECT_EQ(state.count("Record:1"), 1u);
  EXPECT_TRUE(eventually([&] { return !find_job(id); }));
}

TEST_P(WorkerConformance, EnqueueThroughAnotherStoreInstanceWakesAnIdleWorker) {
  auto watched = std::make_shared<ForwardingStore>(store);
  auto other = storage->open(clock);
  auto options = worker_options();
  options.poll_interval = std::chrono::hours{1};
  errand::Worker worker(watched, registry, state, options);
  BackgroundWorker background(worker);
  ASSERT_TRUE(watched->wait_for_empty_claims(1, kDeadline)) << "the worker never looked for jobs";
  errand::enqueue(*other, RecordJob{.tag = 2});
  EXPECT_TRUE(events.wait_for(WorkerEvent::Kind::succeeded, 1))
      << "an enqueue through another Store instance of this process did not wake the worker";
  // And again, once idle: every enqueue wakes it, not only the first. (A worker that does not
  // look for jobs after finishing one is not idle-detectable here; the enqueue must wake it
  // anyway, so the wait is not an assertion.)
  eventually([&] { return watched->last_claim_empty(); }, std::chrono::seconds{5});
  errand::enqueue(*other, RecordJob{.tag = 3});
  EXPECT_TRUE(events.wait_for(WorkerEvent::Kind::succeeded, 2));
  EXPECT_EQ(rows_in("jobs"), 0);
}

TEST_P(WorkerConformance, StorageErrorsAreLoggedAndRetriedNotFatal) {
  const auto id = errand::enqueue(*store, RecordJob{.tag = 1});
  auto faulty = std::make_shared<ForwardingStore>(store);
  faulty->fail_claims = 3;
  auto options = worker_options();
  options.poll_interval = std::chrono::hours{1};  // only the error backoff can bring it back
  errand::Worker worker(faulty, registry, state, options);
  BackgroundWorker background(worker);
  ASSERT_TRUE(
      advance_until(*clock, 50ms, [&] { return events.count(WorkerEvent::Kind::succeeded) == 1; }))
      << "the worker did not recover from storage errors; log:\n"
      << logs.dump();
  EXPECT_EQ(faulty->failed_claims(), 3);
  EXPECT_GE(logs.problems(), 1u) << "storage errors must be logged";
  EXPECT_TRUE(contains(logs.dump(), "injected claim failure")) << logs.dump();
  // store_retry_min (100 ms), doubling after each failure in a row.
  for (const char* backoff : {"retrying in 100 ms", "retrying in 200 ms", "retrying in 400 ms"})
    EXPECT_TRUE(contains(logs.dump(), backoff)) << backoff << " in\n" << logs.dump();
  EXPECT_FALSE(background.finished());
  EXPECT_FALSE(find_job(id));
}

TEST_P(WorkerConformance, LockedDatabaseIsLoggedAndWaitedOut) {
  auto impatient = storage->open(clock, StoreTuning{.busy_timeout = 50ms});
  const auto id = errand::enqueue(*impatient, RecordJob{.tag = 1});
  auto block = storage->block_writes();
  if (!block) GTEST_SKIP() << "this backend cannot block writes";
  errand::Worker worker(impatient, registry, state, worker_options());
  BackgroundWorker background(worker);
  // Each try waits out the store's busy timeout (50 ms of real time), then the worker's backoff.
  ASSERT_TRUE(advance_until(*clock, 100ms, [&] { return logs.problems() >= 2; }))
      << "no storage error was logged while the db was locked";
  EXPECT_EQ(state.total(), 0u);
  EXPECT_TRUE(find_job(id));
  EXPECT_FALSE(background.finished()) << "a storage error ended the worker";
  block.reset();
  EXPECT_TRUE(advance_until(*clock, 100ms, [&] {
    return events.count(WorkerEvent::Kind::succeeded) == 1;
  })) << "the worker did not resume after the lock was released";
  EXPECT_EQ(state.count("Record:1"), 1u);
  EXPECT_TRUE(eventually([&] { return !find_job(id); }));
}

TEST_P(WorkerConformance, RunUntilIdleThrowsStorageErrors) {
  errand::enqueue(*store, RecordJob{.tag = 1});
  auto faulty = std::make_shared<ForwardingStore>(store);
  faulty->fail_claims = 1;
  errand::Worker worker(faulty, registry, state, worker_options());
  EXPECT_THROW(worker.run_until_idle(), errand::StoreError);
  EXPECT_EQ(worker.run_until_idle(), 1u);
}

TEST_P(WorkerConformance, StatsAndEventsCountEveryOutcome) {
  errand::enqueue(*store, RecordJob{.tag = 1});
  errand::enqueue(*store, FailJob{.message = "again"});
  errand::enqueue(*store, LimitedFailJob{.tag = 1});
  errand::Worker worker(store, registry, state, worker_options(2));
  EXPECT_EQ(worker.run_until_idle(), 3u);
  clock->advance(2s);
  EXPECT_EQ(worker.run_until_idle(), 2u);
  clock->advance(4s);
  EXPECT_EQ(worker.run_until_idle(), 2u);  // LimitedFail's third run dead-letters it
  const auto stats = worker.stats();
  EXPECT_EQ(stats.started, 7u);
  EXPECT_EQ(stats.succeeded, 1u);
  EXPECT_EQ(stats.retried, 5u);
  EXPECT_EQ(stats.dead_lettered, 1u);
  EXPECT_EQ(events.count(WorkerEvent::Kind::started), 7u);
  EXPECT_EQ(events.count(WorkerEvent::Kind::retry_scheduled), 5u);
  EXPECT_EQ(events.count(WorkerEvent::Kind::dead_lettered), 1u);
  for (const auto& e : events.entries()) {
    if (e.kind == WorkerEvent::Kind::retry_scheduled ||
        e.kind == WorkerEvent::Kind::dead_lettered) {
      EXPECT_FALSE(e.error.empty());
    }
  }
}

}  // namespace
}  // namespace errand_test
