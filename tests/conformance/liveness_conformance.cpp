// Liveness: the workers table, heartbeats, rescue of lost workers' jobs (charged), release of
// jobs whose claim reply was lost (uncharged), and per-run timeouts. Store times and the worker's
// intervals come from the test's ManualClock, so "a worker silent for 31 s" or "a run past its
// timeout" takes no real time.
#include "support/conformance.hpp"

#include <unistd.h>

#include <thread>

using errand::JobId;
using errand::WorkerRegistration;
using namespace std::chrono_literals;

namespace errand_test {
namespace {

std::optional<errand::WorkerInfo> find_worker(errand::Store& store, std::string_view id) {
  for (auto& worker : store.list_workers()) {
    if (worker.id == id) return worker;
  }
  return std::nullopt;
}

std::vector<JobId> ids_of(const std::vector<errand::ClaimedJob>& jobs) {
  std::vector<JobId> ids;
  for (const auto& job : jobs)
    ids.push_back(job.id);
  return ids;
}

TEST_P(LivenessConformance, WorkersTableRecordsRegistrationHeartbeatsAndRemoval) {
  auto worker = registration("w1");
  const auto registered_at = clock->now();
  worker.started_at = store->register_worker(worker);
  EXPECT_EQ(us(worker.started_at), us(registered_at));

  auto info = find_worker(*store, "w1");
  ASSERT_TRUE(info);
  EXPECT_EQ(info->host, "test-host");
  EXPECT_EQ(info->pid, 4242);
  EXPECT_EQ(info->concurrency, 3);
  EXPECT_EQ(us(info->heartbeat_at), us(registered_at));
  EXPECT_EQ(info->running, 0);

  errand::enqueue(*store, RecordJob{.tag = 1});
  errand::enqueue(*store, RecordJob{.tag = 2});
  const auto claimed = store->claim("w1", 5, kLockTimeout);
  ASSERT_EQ(claimed.size(), 2u);
  clock->advance(7s);
  const auto held = ids_of(claimed);
  store->heartbeat(worker, held, {});
  info = find_worker(*store, "w1");
  ASSERT_TRUE(info);
  EXPECT_EQ(us(info->started_at), us(registered_at));
  EXPECT_EQ(us(info->heartbeat_at), us(clock->now()));
  EXPECT_EQ(info->running, 2);
  clock->advance(3s);
  EXPECT_EQ(us(find_worker(*store, "w1")->silent_for), us(3s));

  // A clean exit unlocks what the worker still holds, without charging an attempt.
  store->remove_worker("w1");
  EXPECT_FALSE(find_worker(*store, "w1"));
  for (const auto& job : all_jobs()) {
    EXPECT_FALSE(job.locked_by) << job.id;
    EXPECT_EQ(job.error_count, 0) << job.id;
  }
}

TEST_P(LivenessConformance, WorkersTableKeepsTheQueuesEachWorkerServesInOrder) {
  auto served = registration("served");
  served.queues = {"mail", "reports", "o'dd \"queue\" \u00e9"};
  served.started_at = store->register_worker(served);
  auto every = registration("every");
  every.started_at = store->register_worker(every);
  EXPECT_EQ(find_worker(*store, "served")->queues, served.queues);
  EXPECT_TRUE(find_worker(*store, "every")->queues.empty());

  // A heartbeat writes them again (a row forgotten meanwhile comes back whole).
  served.queues = {"reports"};
  clock->advance(1s);
  store->heartbeat(served, {}, {});
  EXPECT_EQ(find_worker(*store, "served")->queues, std::vector<std::string>{"reports"});
  EXPECT_TRUE(find_worker(*store, "every")->queues.empty());

  // A running worker registers the queues of its options; one without any serves every queue.
  const auto queues_while_running = [&](std::vector<errand::QueueConcurrency> queues) {
    auto options = worker_options();
    options.worker_id = "from-options";
    options.queues = std::move(queues);
    errand::Worker worker(store, registry, state, options);
    BackgroundWorker background(worker);
    std::optional<errand::WorkerInfo> info;
    EXPECT_TRUE(advance_until(*clock, 1s, [&] {
      info = find_worker(*store, "from-options");
      return info.has_value();
    }));
    return info ? info->queues : std::vector<std::string>{"(not registered)"};
  };
  EXPECT_EQ(queues_while_running({{"mail", 2}, {"default", 1}}),
            (std::vector<std::string>{"mail", "default"}));
  EXPECT_EQ(queues_while_running({}), std::vector<std::string>{});
}

TEST_P(LivenessConformance, HeartbeatUnlocksJobsWhoseClaimReplyNeverArrived) {
  auto worker = registration("w1");
  worker.started_at = store->register_worker(worker);
  for (int i = 0; i < 3; ++i)
    errand::enqueue(*store, RecordJob{.tag = i});
  const auto claimed = store->claim("w1", 3, kLockTimeout);
  ASSERT_EQ(claimed.size(), 3u);
  // The worker knows only the first (the others' reply was lost).
  const std::vector<JobId> held{claimed[0].id};
  store->heartbeat(worker, held, {});
  EXPECT_EQ(find_job(claimed[0].id)->locked_by, "w1");
  for (std::size_t i = 1; i < 3; ++i) {
    const auto job = find_job(claimed[i].id);
    ASSERT_TRUE(job);
    EXPECT_FALSE(job->locked_by);
    EXPECT_EQ(job->error_count, 0);
  }
}

TEST_P(LivenessConformance, WorkerReleasesJobsOfAClaimWhoseReplyWasLost) {
  auto forwarding = std::make_shared<ForwardingStore>(store);
  forwarding->lose_claim_replies = 1;
  for (int i = 0; i < 3; ++i)
    errand::enqueue(*store, RecordJob{.tag = i});
  errand::Worker worker(forwarding, registry, state, worker_options(4));
  {
    BackgroundWorker background(worker);
    // The storage error's backoff, then the heartbeat that releases the jobs (5 s).
    ASSERT_TRUE(
        advance_until(*clock, 1s, [&] { return state.total() >= 3 && rows_in("jobs") == 0; }))
        << "runs: " << state.total() << ", jobs left: " << rows_in("jobs") << "\n"
        << logs.dump();
  }
  EXPECT_EQ(state.count("Record:0"), 1u);
  EXPECT_EQ(state.count("Record:1"), 1u);
  EXPECT_EQ(state.count("Record:2"), 1u);
  EXPECT_EQ(worker.stats().retried, 0u);
  EXPECT_EQ(rows_in("finished_jobs"), 0);
  EXPECT_FALSE(find_worker(*store, "test-worker")) << "a stopped worker unregisters";
}

TEST_P(LivenessConformance, JobsOfALostWorkerAreRescuedWithAnAttemptCharged) {
  auto dead = registration("dead-worker");
  dead.started_at = store->register_worker(dead);
  const auto a = errand::enqueue(*store, RecordJob{.tag = 1});
  const auto b = errand::enqueue(*store, RecordJob{.tag = 2});
  ASSERT_EQ(store->claim("dead-worker", 5, kLockTimeout).size(), 2u);

  errand::Worker worker(store, registry, state, worker_options());
  EXPECT_EQ(worker.run_until_idle(), 0u);  // in touch with the store from now on
  clock->advance(29s);                     // not yet lost (rescue_after is 30 s)
  EXPECT_EQ(worker.run_until_idle(), 0u);
  EXPECT_EQ(find_job(a)->locked_by, "dead-worker");
  EXPECT_EQ(worker.stats().rescued, 0u);

  clock->advance(2s);
  EXPECT_EQ(worker.run_until_idle(), 0u);  // rescued, then waiting out the first backoff (2 s)
  EXPECT_EQ(worker.stats().rescued, 2u);
  for (JobId id : {a, b}) {
    const auto job = find_job(id);
    ASSERT_TRUE(job);
    EXPECT_FALSE(job->locked_by);
    EXPECT_EQ(job->error_count, 1);
    ASSERT_TRUE(job->last_error);
    EXPECT_TRUE(contains(*job->last_error, "worker 'dead-worker' was lost")) << *job->last_error;
    EXPECT_TRUE(contains(*job->last_error, "no heartbeat for 31.0 s")) << *job->last_error;
    EXPECT_EQ(us(job->run_at), us(clock->now() + 2s));
  }
  EXPECT_FALSE(find_worker(*store, "dead-worker")) << "a lost worker holding nothing is forgotten";
  EXPECT_GE(logs.problems(), 1u);

  clock->advance(2s);
  EXPECT_EQ(worker.run_until_idle(), 2u);
  EXPECT_EQ(state.count("Record:1"), 1u);
  EXPECT_EQ(state.count("Record:2"), 1u);
  EXPECT_EQ(rows_in("jobs"), 0);
}

TEST_P(LivenessConformance, AJobThatKeepsKillingItsWorkerEndsInTheDeadLetterQueue) {
  auto options = worker_options();
  options.max_retries = 2;
  errand::Worker rescuer(store, registry, state, options);
  EXPECT_EQ(rescuer.run_until_idle(), 0u);  // in touch with the store from now on
  const auto id = errand::enqueue(*store, RecordJob{.tag = 1});
  for (int life = 0; life < 3; ++life) {
    auto victim = registration("victim-" + std::to_string(life));
    victim.started_at = store->register_worker(victim);
    clock->advance(10s);  // past any backoff (2 s, 4 s)
    ASSERT_EQ(store->claim(victim.id, 1, kLockTimeout).size(), 1u) << "life " << life;
    // The victim stays silent for 31 s; the rescuer beats meanwhile (a gap of more than
    // rescue_after between its own heartbeats would put it out of touch).
    EXPECT_EQ(rescuer.run_until_idle(), 0u);
    clock->advance(16s);
    EXPECT_EQ(rescuer.run_until_idle(), 0u);
    clock->advance(15s);
    EXPECT_EQ(rescuer.run_until_idle(), 0u);
  }
  EXPECT_FALSE(find_job(id));
  const auto dead = find_dead(id);
  ASSERT_TRUE(dead);
  EXPECT_EQ(dead->error_count, 3);
  EXPECT_TRUE(contains(dead->last_error, "worker 'victim-2' was lost")) << dead->last_error;
  EXPECT_EQ(state.total(), 0u);
}

TEST_P(LivenessConformance, ASlowWorkerDeclaredLostLosesItsLeaseCleanly) {
  errand::Worker rescuer(store, registry, state, worker_options());
  EXPECT_EQ(rescuer.run_until_idle(), 0u);  // in touch with the store from now on
  auto slow = registration("slow-worker");
  slow.started_at = store->register_worker(slow);
  const auto id = errand::enqueue(*store, RecordJob{.tag = 1});
  const auto claimed = store->claim("slow-worker", 1, kLockTimeout);
  ASSERT_EQ(claimed.size(), 1u);
  clock->advance(16s);
  rescuer.run_until_idle();  // the rescuer beats (never rescue_after apart) ...
  EXPECT_EQ(rescuer.stats().rescued, 0u);
  clock->advance(15s);  // ... while the slow worker stays silent for 31 s
  rescuer.run_until_idle();
  EXPECT_EQ(rescuer.stats().rescued, 1u);
  // The slow worker finishes and reports success: too late, its lease is gone.
  const errand::Outcome done{.id = id, .locked_at = claimed[0].locked_at};
  const auto lost = store->settle("slow-worker", std::span(&done, 1));
  EXPECT_EQ(lost, std::vector<JobId>{id});
  EXPECT_EQ(find_job(id)->error_count, 1);
  // Its next heartbeat puts it back in the table, with its original start time.
  store->heartbeat(slow, {}, {});
  const auto info = find_worker(*store, "slow-worker");
  ASSERT_TRUE(info);
  EXPECT_EQ(us(info->started_at), us(slow.started_at));
  EXPECT_EQ(us(info->heartbeat_at), us(clock->now()));
}

TEST_P(LivenessConformance, AWorkerRestartedUnderTheSameIdRescuesItsEarlierLifesJobs) {
  auto earlier = registration("test-worker");
  earlier.started_at = store->register_worker(earlier);
  const auto id = errand::enqueue(*store, RecordJob{.tag = 1});
  ASSERT_EQ(store->claim("test-worker", 1, kLockTimeout).size(), 1u);
  clock->advance(1s);  // the process crashed and came back at once, under the same id
  errand::Worker worker(store, registry, state, worker_options());
  EXPECT_EQ(worker.run_until_idle(), 0u);
  const auto job = find_job(id);
  ASSERT_TRUE(job);
  EXPECT_EQ(job->error_count, 1);
  ASSERT_TRUE(job->last_error);
  EXPECT_TRUE(contains(*job->last_error, "it restarted")) << *job->last_error;
  EXPECT_EQ(worker.stats().rescued, 1u);
}

TEST_P(LivenessConformance, AWorkerRescuesOthersOnlyAfterBeingInTouchForRescueAfterItself) {
  // After an outage every heartbeat is stale, the live workers' too: the first worker back must
  // give the others time to beat again before it takes anyone for lost.
  auto forwarding = std::make_shared<ForwardingStore>(store);
  errand::Worker worker(forwarding, registry, state, worker_options());
  EXPECT_EQ(worker.run_until_idle(), 0u);
  const auto id = held_by("other-worker");

  clock->advance(31s);
  forwarding->fail_beats = 1;  // the store is out of reach for this worker too
  EXPECT_THROW(worker.run_until_idle(), errand::StoreError);
  EXPECT_EQ(worker.run_until_idle(), 0u);  // back in touch: the other may be alive and retrying
  EXPECT_EQ(find_job(id)->locked_by, "other-worker");
  clock->advance(29s);
  EXPECT_EQ(worker.run_until_idle(), 0u);
  EXPECT_EQ(find_job(id)->locked_by, "other-worker");
  EXPECT_EQ(worker.stats().rescued, 0u);
  clock->advance(1s);  // in touch for 30 s, and the other stayed silent all along: lost
  EXPECT_EQ(worker.run_until_idle(), 0u);
  EXPECT_EQ(worker.stats().rescued, 1u);
  EXPECT_FALSE(find_job(id)->locked_by);
  EXPECT_EQ(find_job(id)->error_count, 1);
}

// A worker whose own heartbeats were more than rescue_after apart (its process was frozen, or,
// here, nothing ran it) was out of touch as well: it gives the others rescue_after again before
// it takes anyone for lost.
TEST_P(LivenessConformance, AWorkerSilentItselfForRescueAfterWaitsBeforeRescuingOthers) {
  errand::Worker rescuer(store, registry, state, worker_options());
  EXPECT_EQ(rescuer.run_until_idle(), 0u);
  const auto id = held_by("other-worker");
  clock->advance(31s);
  EXPECT_EQ(rescuer.run_until_idle(), 0u);  // its own gap was 31 s: in touch again from now
  EXPECT_EQ(find_job(id)->locked_by, "other-worker");
  clock->advance(15s);
  EXPECT_EQ(rescuer.run_until_idle(), 0u);
  EXPECT_EQ(rescuer.stats().rescued, 0u);
  clock->advance(15s);  // in touch for 30 s again
  EXPECT_EQ(rescuer.run_until_idle(), 0u);
  EXPECT_EQ(rescuer.stats().rescued, 1u);
  EXPECT_FALSE(find_job(id)->locked_by);
}

TEST_P(LivenessConformance, OnlySilentWorkersWithoutJobsAreForgotten) {
  auto silent = registration("silent");
  silent.started_at = store->register_worker(silent);
  auto holding = registration("holding");
  holding.started_at = store->register_worker(holding);
  errand::enqueue(*store, RecordJob{.tag = 1});
  ASSERT_EQ(store->claim("holding", 1, kLockTimeout).size(), 1u);
  clock->advance(40s);
  auto fresh = registration("fresh");
  fresh.started_at = store->register_worker(fresh);
  EXPECT_EQ(store->forget_lost_workers(30s), 1u);
  EXPECT_FALSE(find_worker(*store, "silent"));
  EXPECT_TRUE(find_worker(*store, "holding"));
  EXPECT_TRUE(find_worker(*store, "fresh"));
  const auto lost = store->find_lost_jobs(30s, 10);
  ASSERT_EQ(lost.size(), 1u);
  EXPECT_EQ(lost[0].worker_id, "holding");
  EXPECT_FALSE(lost[0].worker_restarted);
  EXPECT_EQ(us(lost[0].last_heartbeat), us(holding.started_at));
}

// The worker's process freezes for longer than rescue_after right after a heartbeat, before its
// query for lost workers: its own running job looks lost in that query, but it is still running
// it, so it must not rescue (charge, unlock) it; the run completes and is settled normally.
TEST_P(LivenessConformance, AWorkerFrozenBetweenItsHeartbeatAndItsRescueQueryKeepsItsOwnJobs) {
  // The clock jumps 31 s inside the first find_lost_jobs call after `armed` is set.
  class FreezesBeforeFindingLost : public errand::StoreWrapper {
   public:
    FreezesBeforeFindingLost(std::shared_ptr<errand::Store> inner, errand::ManualClock& clock)
        : StoreWrapper(std::move(inner)), clock_(clock) {}
    std::vector<errand::LostJob> find_lost_jobs(errand::Duration rescue_after,
                                                std::size_t limit) override {
      if (armed.exchange(false)) clock_.advance(31s);
      return StoreWrapper::find_lost_jobs(rescue_after, limit);
    }
    std::atomic<bool> armed{false};

   private:
    errand::ManualClock& clock_;
  };
  auto freezing = std::make_shared<FreezesBeforeFindingLost>(store, *clock);
  Gate release;
  std::atomic<bool> started{false};
  state.hook = [&](const std::string&, std::stop_token token) {
    started = true;
    release.wait(token);
  };
  errand::Worker worker(freezing, registry, state, worker_options());
  {
    BackgroundWorker background(worker);
    // In touch with the store for rescue_after (30 s), so that it may rescue others' jobs.
    const auto begin = clock->steady_now();
    ASSERT_TRUE(advance_until(*clock, 1s, [&] { return clock->steady_now() - begin > 31s; }));
    errand::enqueue(*store, HookJob{.tag = "f"});
    ASSERT_TRUE(eventually([&] { return started.load(); }));
    freezing->armed = true;  // the next heartbeat, then the freeze before the rescue query
    ASSERT_TRUE(advance_until(*clock, 1s, [&] { return !freezing->armed.load(); }));
    ASSERT_TRUE(wait_for_sleepers(*clock));  // that rescue pass is over
    EXPECT_EQ(worker.stats().rescued, 0u);
    release.open();
    ASSERT_TRUE(eventually([&] { return rows_in("jobs") == 0; }))
        << "the run completed, so the job is deleted";
  }
  EXPECT_EQ(worker.stats().rescued, 0u);
  EXPECT_EQ(worker.stats().lock_lost, 0u);
  EXPECT_EQ(worker.stats().succeeded, 1u);
  EXPECT_EQ(state.count("Hook:f"), 1u);
}

TEST_P(LivenessConformance, ARunningWorkerIsListedAndHeartbeats) {
  auto forwarding = std::make_shared<ForwardingStore>(store);
  Gate release;
  std::optional<errand::WorkerInfo> seen;
  state.hook = [&](const std::string&, std::stop_token token) {
    seen = find_worker(*store, "test-worker");
    release.wait(token);
  };
  errand::enqueue(*store, HookJob{.tag = "h"});
  errand::Worker worker(forwarding, registry, state, worker_options(2));
  {
    BackgroundWorker background(worker);
    ASSERT_TRUE(advance_until(*clock, 1s, [&] { return forwarding->heartbeats.load() >= 3; }));
    release.open();
    ASSERT_TRUE(eventually([&] { return rows_in("jobs") == 0; }));
  }
  ASSERT_TRUE(seen);
  EXPECT_EQ(seen->running, 1);
  EXPECT_EQ(seen->concurrency, 2);
  EXPECT_EQ(seen->pid, static_cast<std::int64_t>(::getpid()));
  EXPECT_FALSE(find_worker(*store, "test-worker"));
}

TEST_P(LivenessConformance, TimeoutFiresTheStopTokenAndChargesAnAttempt) {
  const auto id = errand::enqueue(*store, TimedJob{.tag = 1});  // declares a 100 ms timeout
  errand::Worker worker(store, registry, state, worker_options());
  EXPECT_EQ(run_until_idle_advancing(worker, *clock, 10ms), 1u);
  const auto job = find_job(id);
  ASSERT_TRUE(job);
  EXPECT_EQ(job->error_count, 1);
  ASSERT_TRUE(job->last_error);
  EXPECT_EQ(*job->last_error, "timed out after 100 ms: stopped");
  EXPECT_EQ(worker.stats().timed_out, 1u);
}

TEST_P(LivenessConformance, WorkerJobTimeoutAppliesToTypesWithoutTheirOwn) {
  const auto id = errand::enqueue(*store, HookJob{.tag = "h"});
  state.hook = [&](const std::string&, std::stop_token token) {
    clock->advance(50ms);  // the run's deadline
    Gate never;
    never.wait(token);
    if (token.stop_requested()) throw std::runtime_error("gave up");
  };
  auto options = worker_options();
  options.job_timeout = 50ms;
  errand::Worker worker(store, registry, state, options);
  EXPECT_EQ(worker.run_until_idle(), 1u);
  EXPECT_EQ(find_job(id)->last_error, "timed out after 50 ms: gave up");
}

TEST_P(LivenessConformance, AJobThatReturnsNormallyAfterItsTimeoutSucceeds) {
  const auto id = errand::enqueue(*store, HookJob{.tag = "h"});
  state.hook = [&](const std::string&, std::stop_token token) {
    clock->advance(20ms);  // the run's deadline
    Gate never;
    never.wait(token);  // returns when the timeout fires: the job chose to finish
  };
  auto options = worker_options();
  options.job_timeout = 20ms;
  errand::Worker worker(store, registry, state, options);
  EXPECT_EQ(worker.run_until_idle(), 1u);
  EXPECT_FALSE(find_job(id));
  EXPECT_EQ(worker.stats().succeeded, 1u);
  EXPECT_EQ(worker.stats().timed_out, 0u);
}

TEST_P(LivenessConformance, AJobIgnoringItsTimeoutIsFailedAfterTheGracePeriod) {
  const auto id = errand::enqueue(*store, HookJob{.tag = "stuck"});
  errand::enqueue(*store, RecordJob{.tag = 2});
  Gate unstick;
  state.hook = [&](const std::string&, std::stop_token) { unstick.wait(); };  // ignores the token
  auto options = worker_options(2);
  options.job_timeout = 20ms;
  options.timeout_grace = 20ms;
  errand::Worker worker(store, registry, state, options);
  std::jthread runner([&] { worker.run_until_idle(); });
  // Record:2 must end before the clock moves: advanced 40 ms past its start while a slow
  // (sanitized) run of it was still going, it would be timed out too.
  ASSERT_TRUE(events.wait_for(errand::WorkerEvent::Kind::succeeded, 1)) << logs.dump();
  // The stuck run is failed while its thread is still inside the job.
  ASSERT_TRUE(advance_until(*clock, 5ms, [&] {
    const auto job = find_job(id);
    return job && job->error_count == 1;
  })) << logs.dump();
  EXPECT_FALSE(unstick.is_open());
  const auto job = find_job(id);
  EXPECT_FALSE(job->locked_by);
  EXPECT_EQ(job->last_error,
            "timed out after 20 ms and still running 20 ms after its stop token fired");
  EXPECT_EQ(worker.stats().timed_out, 1u);
  unstick.open();
  runner.join();
  // When the thread finally returns, its "success" is dropped: the failure stands.
  EXPECT_EQ(find_job(id)->error_count, 1);
  EXPECT_EQ(state.count("Record:2"), 1u);
  EXPECT_GE(logs.problems(), 1u);
}

TEST_P(LivenessConformance, RescueAfterMustExceedTheHeartbeatInterval) {
  auto options = worker_options();
  options.heartbeat_interval = 10s;
  options.rescue_after = 10s;
  EXPECT_THROW(errand::Worker(store, registry, state, options), errand::ConfigError);
  options.heartbeat_interval = 0ms;
  EXPECT_THROW(errand::Worker(store, registry, state, options), errand::ConfigError);
}

}  // namespace
}  // namespace errand_test
