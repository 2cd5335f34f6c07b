// The lifecycle on every store, on a manual clock: cancel (waiting, scheduled, running, finished
// and unknown jobs; cancel racing completion), snooze (no attempt charged; the cap), discard, the
// error history across retries and a dead-letter round trip, outputs, progress, retention and
// pruning, retrying finished jobs.
#include "support/conformance.hpp"

#include <errand/errand.hpp>

#include <gmock/gmock.h>

#include <thread>

namespace errand_test {

namespace {

using errand::CancelResult;
using errand::JobId;
using errand::JobState;
using errand::Outcome;
using errand::WorkerEvent;
using std::chrono::hours;
using std::chrono::minutes;
using std::chrono::seconds;

// Snoozes `times` times (30 s each), then records "Snoozer:<tag>".
struct SnoozeJob {
  static constexpr std::string_view name = "Snoozer";
  int tag = 0;
  int times = 1;
  void run(TestState& state, errand::RunContext& context) {
    if (context.snoozes() < times) throw errand::Snooze{seconds{30}};
    state.record("Snoozer:" + std::to_string(tag));
  }
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(SnoozeJob, tag, times)

// Snoozes with a negative delay.
struct BadSnoozeJob {
  static constexpr std::string_view name = "BadSnooze";
  int tag = 0;
  errand::RunReturn run(TestState&) { return errand::Snooze{seconds{-5}}; }
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(BadSnoozeJob, tag)

// Discards itself: by throwing, or (returned) by its result.
struct DiscardJob {
  static constexpr std::string_view name = "Discarder";
  std::string reason;
  bool returned = false;
  errand::RunReturn run(TestState& state) {
    state.record("Discarder:" + reason);
    if (!returned) throw errand::Discard{reason};
    return errand::Discard{reason};
  }
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(DiscardJob, reason, returned)

// Records `output` as its output (as JSON text when `raw`).
struct OutputJob {
  static constexpr std::string_view name = "Outputter";
  std::string output;
  bool raw = false;
  void run(TestState&, errand::RunContext& context) {
    if (raw) {
      context.set_output_json(output);
    } else {
      context.set_output(nlohmann::json{{"text", output}});
    }
  }
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(OutputJob, output, raw)

// Reports progress, calls TestState::hook, and fails when the hook returns with its stop token
// fired.
struct ProgressJob {
  static constexpr std::string_view name = "Progress";
  double value = 0;
  std::string message;
  bool not_finite = false;  // report NaN instead of `value` (JSON has no NaN)
  void run(TestState& state, errand::RunContext& context) {
    context.progress(not_finite ? std::nan("") : value, message);
    if (state.hook) state.hook(message, context.stop_token());
    if (context.stop_token().stop_requested()) throw std::runtime_error("stopped");
  }
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(ProgressJob, value, message, not_finite)

// Always fails; its own backoff (7 s per failed attempt) wins over the worker's.
struct BackoffJob {
  static constexpr std::string_view name = "OwnBackoff";
  static errand::Duration backoff(std::int32_t errors) { return seconds{7} * errors; }
  int tag = 0;
  void run(TestState&) { throw std::runtime_error("again"); }
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(BackoffJob, tag)

}  // namespace

void LifecycleConformance::SetUp() {
  ConformanceTest::SetUp();
  if (!store) return;
  registry.add<BackoffJob>();
  registry.add<SnoozeJob>()
      .add<BadSnoozeJob>()
      .add<DiscardJob>()
      .add<OutputJob>()
      .add<ProgressJob>();
}

errand::JobId LifecycleConformance::enqueue_one(errand::NewJob job) {
  return store->enqueue(std::span<const errand::NewJob>(&job, 1)).at(0);
}

errand::JobInfo LifecycleConformance::job(errand::JobId id) {
  const auto found = store->find_job(id, kLockTimeout);
  if (!found) throw std::runtime_error("job " + std::to_string(id) + " not found");
  return *found;
}

errand::ClaimedJob LifecycleConformance::claim_one(const std::string& worker) {
  store->register_worker(registration(worker));
  auto claimed = store->claim(worker, 1, kLockTimeout);
  if (claimed.size() != 1) throw std::runtime_error("expected to claim one job");
  return claimed[0];
}

errand::Outcome LifecycleConformance::outcome(const errand::ClaimedJob& claimed,
                                              errand::Outcome::Kind kind) {
  return errand::Outcome{.id = claimed.id, .locked_at = claimed.locked_at, .kind = kind};
}

namespace {

// A job of type `name` due at once, or after `delay`.
errand::NewJob lifecycle_job(std::string name, std::optional<errand::Duration> delay = {}) {
  return errand::NewJob{.name = std::move(name), .payload = R"({"tag": 1})", .delay = delay};
}

// --- cancel -------------------------------------------------------------------------------

TEST_P(LifecycleConformance, CancellingAReadyJobCancelsItAtOnceAndItNeverRuns) {
  const JobId id = enqueue_one(lifecycle_job("Record"));
  const CancelResult result = errand::cancel(*store, id, "not needed any more");
  EXPECT_EQ(result.kind, CancelResult::Kind::cancelled);
  const auto cancelled = job(id);
  EXPECT_EQ(cancelled.state, JobState::cancelled);
  EXPECT_EQ(cancelled.cancel_reason, "not needed any more");
  ASSERT_TRUE(cancelled.finished_at);
  EXPECT_EQ(us(*cancelled.finished_at), us(clock->now()));
  const auto counts = store->counts(kLockTimeout);
  EXPECT_EQ(counts.cancelled, 1);
  EXPECT_EQ(counts.ready, 0);
  errand::Worker worker(store, registry, state, worker_options());
  EXPECT_EQ(worker.run_until_idle(), 0u);
  EXPECT_EQ(state.total(), 0u);
  EXPECT_EQ(job(id).state, JobState::cancelled);
}

TEST_P(LifecycleConformance, CancellingAScheduledJobCancelsItAndItNeverRuns) {
  const JobId id = enqueue_one(lifecycle_job("Record", hours{1}));
  EXPECT_EQ(job(id).state, JobState::scheduled);
  EXPECT_EQ(store->cancel_job(id, "").kind, CancelResult::Kind::cancelled);
  clock->advance(hours{2});
  errand::Worker worker(store, registry, state, worker_options());
  EXPECT_EQ(worker.run_until_idle(), 0u);
  EXPECT_EQ(job(id).state, JobState::cancelled);
  EXPECT_EQ(job(id).cancel_reason, "");
}

TEST_P(LifecycleConformance, CancellingAFinishedOrUnknownJobIsAClearErrorAndChangesNothing) {
  const JobId id = enqueue_one(lifecycle_job("Record"));
  errand::cancel(*store, id, "first");
  try {
    errand::cancel(*store, id, "second");
    ADD_FAILURE() << "cancelling a cancelled job succeeded";
  } catch (const errand::JobStateError& e) {
    EXPECT_EQ(e.kind(), errand::JobStateError::Kind::finished);
    EXPECT_THAT(e.what(), testing::HasSubstr("already cancelled"));
  }
  EXPECT_EQ(job(id).cancel_reason, "first");
  const JobId unknown = id + 1000;
  try {
    errand::cancel(*store, unknown, "");
    ADD_FAILURE() << "cancelling an unknown id succeeded";
  } catch (const errand::JobStateError& e) {
    EXPECT_EQ(e.kind(), errand::JobStateError::Kind::not_found);
    EXPECT_THAT(e.what(), testing::HasSubstr(std::to_string(unknown)));
  }
  EXPECT_EQ(store->cancel_job(unknown, "").kind, CancelResult::Kind::not_found);
  EXPECT_EQ(rows_in("finished_jobs"), 1);
}

TEST_P(LifecycleConformance, CancellingARunningJobFiresItsStopTokenAndItEndsCancelled) {
  Gate started;
  state.hook = [&](const std::string&, std::stop_token token) {
    started.open();
    Gate never;
    never.wait(token);
    throw std::runtime_error("stopped: " + std::string(token.stop_requested() ? "yes" : "no"));
  };
  const JobId id = errand::enqueue(*store, HookJob{.tag = "c"});
  errand::Worker worker(store, registry, state, worker_options());
  {
    BackgroundWorker background(worker);
    ASSERT_TRUE(started.wait());
    EXPECT_EQ(errand::cancel(*store, id, "user asked").kind, CancelResult::Kind::requested);
    ASSERT_TRUE(events.wait_for(WorkerEvent::Kind::cancelled, 1));
  }
  const auto cancelled = job(id);
  EXPECT_EQ(cancelled.state, JobState::cancelled);
  EXPECT_EQ(cancelled.cancel_reason, "user asked");
  EXPECT_EQ(cancelled.last_error, "stopped: yes");
  ASSERT_EQ(cancelled.attempts.size(), 1u);
  EXPECT_EQ(cancelled.attempts[0].error, "stopped: yes");
  EXPECT_EQ(worker.stats().cancelled, 1u);
  EXPECT_EQ(worker.stats().retried, 0u);
  EXPECT_EQ(rows_in("jobs"), 0);
  EXPECT_EQ(state.count("Hook:c"), 1u);
}

TEST_P(LifecycleConformance, ARunThatCompletesAfterItsCancelWasRequestedStaysCompleted) {
  for (const bool keep : {false, true}) {
    SCOPED_TRACE(keep ? "completed jobs kept" : "completed jobs deleted");
    const JobId id = enqueue_one(lifecycle_job("Record"));
    const auto claimed = claim_one();
    EXPECT_EQ(store->cancel_job(id, "late").kind, CancelResult::Kind::requested);
    EXPECT_TRUE(job(id).cancel_requested_at);
    Outcome done = outcome(claimed, Outcome::Kind::completed);
    done.keep = keep;
    const auto exchange = store->settle_and_claim("w", std::span(&done, 1), 0, kLockTimeout);
    EXPECT_TRUE(exchange.lost.empty());
    EXPECT_TRUE(exchange.cancelled.empty());
    const auto found = store->find_job(id, kLockTimeout);
    if (keep) {
      ASSERT_TRUE(found);
      EXPECT_EQ(found->state, JobState::completed);
    } else {
      EXPECT_FALSE(found);
    }
  }
}

TEST_P(LifecycleConformance, EveryOtherEndOfARunOfACancelledJobEndsItCancelled) {
  for (const auto kind : {Outcome::Kind::retry, Outcome::Kind::dead_letter, Outcome::Kind::released,
                          Outcome::Kind::snoozed}) {
    SCOPED_TRACE(static_cast<int>(kind));
    const JobId id = enqueue_one(lifecycle_job("Record"));
    const auto claimed = claim_one();
    store->cancel_job(id, "stop it");
    Outcome end = outcome(claimed, kind);
    const bool charged = kind == Outcome::Kind::retry || kind == Outcome::Kind::dead_letter;
    if (charged) end.error = "boom";
    end.retry_delay = minutes{5};
    const auto exchange = store->settle_and_claim("w", std::span(&end, 1), 0, kLockTimeout);
    EXPECT_TRUE(exchange.lost.empty());
    EXPECT_EQ(exchange.cancelled, std::vector<JobId>{id});
    const auto cancelled = job(id);
    EXPECT_EQ(cancelled.state, JobState::cancelled);
    EXPECT_EQ(cancelled.error_count, charged ? 1 : 0);
    EXPECT_EQ(cancelled.last_error, charged ? std::optional<std::string>("boom") : std::nullopt);
    EXPECT_EQ(cancelled.cancel_reason, "stop it");
  }
  EXPECT_EQ(rows_in("jobs"), 0);
}

TEST_P(LifecycleConformance, ACancelledJobUnlockedWithoutItsWorkerIsNeverRun) {
  int ran = 0;
  state.hook = [&](const std::string&, std::stop_token) { ++ran; };
  const JobId id = errand::enqueue(*store, HookJob{.tag = "x"});
  claim_one("leaving-worker");
  EXPECT_EQ(store->cancel_job(id, "").kind, CancelResult::Kind::requested);
  store->remove_worker("leaving-worker");  // unlocks it, uncharged: it waits, flagged
  EXPECT_EQ(job(id).state, JobState::ready);
  errand::Worker worker(store, registry, state, worker_options());
  worker.run_until_idle();
  EXPECT_EQ(ran, 0);
  EXPECT_EQ(job(id).state, JobState::cancelled);
}

TEST_P(LifecycleConformance, HeartbeatsReportCancelsOfHeldJobsAndWriteProgress) {
  const JobId a = enqueue_one(lifecycle_job("Record"));
  const JobId b = enqueue_one(lifecycle_job("Record"));
  const auto worker = registration("w");
  store->register_worker(worker);
  const auto claimed = store->claim("w", 2, kLockTimeout);
  ASSERT_EQ(claimed.size(), 2u);
  store->cancel_job(a, "");
  const std::vector<JobId> held{a, b};
  const std::vector<errand::JobProgress> progress{
      {.id = b, .locked_at = claimed[1].locked_at, .value = 0.5, .message = "half way"}};
  clock->advance(seconds{1});
  EXPECT_EQ(store->heartbeat(worker, held, progress), std::vector<JobId>{a});
  const auto running = job(b);
  EXPECT_EQ(running.progress, 0.5);
  EXPECT_EQ(running.progress_message, "half way");
  ASSERT_TRUE(running.progress_at);
  EXPECT_EQ(us(*running.progress_at), us(clock->now()));
  // Progress with a lease the worker no longer holds is not written.
  const std::vector<errand::JobProgress> stale{
      {.id = b, .locked_at = claimed[1].locked_at - seconds{1}, .value = 0.9, .message = "x"}};
  store->heartbeat(worker, held, stale);
  EXPECT_EQ(job(b).progress, 0.5);
}

TEST_P(LifecycleConformance, BulkCancelsTakeATypeOrTheReadyJobsAndNeverEverything) {
  for (int i = 0; i < 3; ++i)
    enqueue_one(lifecycle_job("Record"));
  enqueue_one(lifecycle_job("Record", hours{1}));
  const JobId fail_a = enqueue_one(lifecycle_job("Fail"));
  enqueue_one(lifecycle_job("Fail"));
  const JobId running =
      enqueue_one(errand::NewJob{.name = "Record", .payload = R"({"tag": 9})", .priority = 100});
  EXPECT_EQ(claim_one().id, running);
  EXPECT_THROW(store->cancel_jobs(errand::JobSelection{}, ""), errand::ConfigError);
  EXPECT_THROW(store->cancel_jobs(errand::JobSelection::named(""), ""), errand::ConfigError);
  EXPECT_EQ(rows_in("finished_jobs"), 0);
  const auto by_type = store->cancel_jobs(errand::JobSelection::named("Record"), "bulk");
  EXPECT_EQ(by_type.cancelled, 4u);
  EXPECT_EQ(by_type.requested, 1u);
  EXPECT_TRUE(job(running).cancel_requested_at);
  EXPECT_EQ(job(fail_a).state, JobState::ready);
  const auto ready = store->cancel_jobs(errand::JobSelection::all_ready(), "");
  EXPECT_EQ(ready.cancelled, 2u);
  EXPECT_EQ(ready.requested, 0u);
  EXPECT_EQ(store->counts(kLockTimeout).cancelled, 6);
  EXPECT_EQ(job(running).state, JobState::running);
}

// --- snooze and discard -------------------------------------------------------------------

TEST_P(LifecycleConformance, ASnoozeRunsTheJobAgainLaterWithoutChargingAnAttempt) {
  const JobId id = errand::enqueue(*store, SnoozeJob{.tag = 1, .times = 2});
  errand::Worker worker(store, registry, state, worker_options());
  EXPECT_EQ(worker.run_until_idle(), 1u);
  auto snoozed = job(id);
  EXPECT_EQ(snoozed.state, JobState::scheduled);
  EXPECT_EQ(snoozed.error_count, 0);
  EXPECT_EQ(snoozed.snoozes, 1);
  EXPECT_EQ(us(snoozed.run_at), us(clock->now() + seconds{30}));
  EXPECT_EQ(events.count(WorkerEvent::Kind::snoozed), 1u);
  EXPECT_EQ(worker.stats().snoozed, 1u);
  clock->advance(seconds{30});
  EXPECT_EQ(worker.run_until_idle(), 1u);
  EXPECT_EQ(job(id).snoozes, 2);
  clock->advance(seconds{30});
  EXPECT_EQ(worker.run_until_idle(), 1u);
  EXPECT_EQ(state.count("Snoozer:1"), 1u);
  EXPECT_FALSE(store->find_job(id, kLockTimeout));
}

TEST_P(LifecycleConformance, SnoozingPastTheCapCountsAsAFailedAttempt) {
  const JobId id = errand::enqueue(*store, SnoozeJob{.tag = 2, .times = 1000});
  auto options = worker_options();
  options.max_snoozes = 2;
  errand::Worker worker(store, registry, state, options);
  for (int i = 0; i < 2; ++i) {
    worker.run_until_idle();
    clock->set(job(id).run_at);
  }
  EXPECT_EQ(job(id).snoozes, 2);
  EXPECT_EQ(job(id).error_count, 0);
  worker.run_until_idle();
  const auto failed = job(id);
  EXPECT_EQ(failed.error_count, 1);
  EXPECT_EQ(failed.snoozes, 2);
  ASSERT_TRUE(failed.last_error);
  EXPECT_THAT(*failed.last_error, testing::HasSubstr("max_snoozes"));
  EXPECT_EQ(events.count(WorkerEvent::Kind::retry_scheduled), 1u);
}

TEST_P(LifecycleConformance, ASnoozeWithANegativeDelayFailsTheAttemptWithAClearError) {
  const JobId id = errand::enqueue(*store, BadSnoozeJob{});
  errand::Worker worker(store, registry, state, worker_options());
  worker.run_until_idle();
  const auto failed = job(id);
  EXPECT_EQ(failed.error_count, 1);
  EXPECT_EQ(failed.snoozes, 0);
  ASSERT_TRUE(failed.last_error);
  EXPECT_THAT(*failed.last_error, testing::HasSubstr("negative delay"));
}

TEST_P(LifecycleConformance, ADiscardSendsTheJobStraightToDiscarded) {
  for (const bool returned : {false, true}) {
    SCOPED_TRACE(returned ? "returned" : "thrown");
    const std::string reason = returned ? "returned reason" : "thrown reason";
    const JobId id = errand::enqueue(*store, DiscardJob{.reason = reason, .returned = returned});
    errand::Worker worker(store, registry, state, worker_options());
    EXPECT_EQ(worker.run_until_idle(), 1u);
    const auto discarded = job(id);
    EXPECT_EQ(discarded.state, JobState::discarded);
    EXPECT_EQ(discarded.error_count, 1);
    EXPECT_EQ(discarded.last_error, "discarded: " + reason);
    EXPECT_EQ(state.count("Discarder:" + reason), 1u);
  }
  EXPECT_EQ(store->counts(kLockTimeout).dead, 2);
  EXPECT_EQ(store->list_dead({}).size(), 2u);
}

// --- the error history ----------------------------------------------------------------------

TEST_P(LifecycleConformance, EveryFailedAttemptIsKeptAcrossRetriesAndADeadLetterRoundTrip) {
  const JobId id = errand::enqueue(*store, LimitedFailJob{.tag = 1});  // max_retries 2
  errand::Worker worker(store, registry, state, worker_options());
  std::vector<std::int64_t> failed_at;
  for (int run = 0; run < 3; ++run) {
    clock->advance(minutes{10});  // past each backoff
    failed_at.push_back(us(clock->now()));
    worker.run_until_idle();
  }
  const auto dead = job(id);
  EXPECT_EQ(dead.state, JobState::discarded);
  ASSERT_EQ(dead.attempts.size(), 3u);
  for (std::size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(dead.attempts[i].attempt, static_cast<int>(i) + 1);
    EXPECT_EQ(us(dead.attempts[i].at), failed_at[i]);
    EXPECT_EQ(dead.attempts[i].worker, "test-worker");
    EXPECT_EQ(dead.attempts[i].error, "limited failure");
  }
  ASSERT_TRUE(store->retry_dead(id));
  const auto again = job(id);
  EXPECT_EQ(again.state, JobState::ready);
  EXPECT_EQ(again.error_count, 0);
  EXPECT_EQ(again.attempts.size(), 3u);
  worker.run_until_idle();
  EXPECT_EQ(job(id).attempts.size(), 4u);
  EXPECT_EQ(job(id).attempts.back().attempt, 1);
}

TEST_P(LifecycleConformance, TheHistoryKeepsTheLastTwentyAttempts) {
  const JobId id = errand::enqueue(*store, FailJob{.message = "again"});
  auto options = worker_options();
  options.max_retries = 24;
  options.backoff = [](std::int32_t) { return errand::Duration{0}; };
  errand::Worker worker(store, registry, state, options);
  runs_until_gone(worker, *store, *clock, id);
  const auto dead = job(id);
  EXPECT_EQ(dead.error_count, 25);
  ASSERT_EQ(dead.attempts.size(), errand::kMaxAttemptsKept);
  EXPECT_EQ(dead.attempts.front().attempt, 6);
  EXPECT_EQ(dead.attempts.back().attempt, 25);
}

TEST_P(LifecycleConformance, AJobTypesOwnBackoffWinsOverTheWorkers) {
  const JobId id = errand::enqueue(*store, BackoffJob{});
  errand::Worker worker(store, registry, state, worker_options());
  worker.run_until_idle();
  EXPECT_EQ(us(job(id).run_at), us(clock->now() + seconds{7}));
  clock->advance(seconds{7});
  worker.run_until_idle();
  EXPECT_EQ(job(id).error_count, 2);
  EXPECT_EQ(us(job(id).run_at), us(clock->now() + seconds{14}));
}

// --- outputs and progress -------------------------------------------------------------------

TEST_P(LifecycleConformance, AnOutputIsKeptWithTheCompletedJobWhileItIsRetained) {
  auto options = worker_options();
  options.retention.completed = hours{1};
  const JobId id = errand::enqueue(*store, OutputJob{.output = "forty-two"});
  errand::Worker worker(store, registry, state, options);
  worker.run_until_idle();
  const auto done = job(id);
  EXPECT_EQ(done.state, JobState::completed);
  EXPECT_EQ(done.output, R"({"text":"forty-two"})");
  EXPECT_EQ(store->counts(kLockTimeout).completed, 1);
  const auto listed = store->list_jobs({.state = JobState::completed});
  ASSERT_EQ(listed.size(), 1u);
  EXPECT_EQ(listed[0].id, id);
}

TEST_P(LifecycleConformance, AnOutputBeyondTheCapOrNotJsonFailsTheAttemptAndRecordsNothing) {
  auto options = worker_options();
  options.retention.completed = hours{1};
  options.max_output_bytes = 100;
  const JobId big = errand::enqueue(*store, OutputJob{.output = std::string(200, 'x')});
  const JobId malformed = errand::enqueue(*store, OutputJob{.output = "{not json", .raw = true});
  errand::Worker worker(store, registry, state, options);
  worker.run_until_idle();
  const auto too_big = job(big);
  EXPECT_EQ(too_big.state, JobState::scheduled);
  EXPECT_EQ(too_big.error_count, 1);
  EXPECT_THAT(too_big.last_error.value_or(""), testing::HasSubstr("max_output_bytes"));
  EXPECT_FALSE(too_big.output);
  const auto bad = job(malformed);
  EXPECT_EQ(bad.error_count, 1);
  EXPECT_THAT(bad.last_error.value_or(""), testing::HasSubstr("not one valid JSON value"));
}

TEST_P(LifecycleConformance, ProgressIsWrittenWithTheWorkersHeartbeat) {
  // PostgreSQL's listener, once its LISTEN is in place, asks every worker of the process for a
  // heartbeat at once (cancel id 0: cancels sent before it were missed). Here it must come before
  // the job runs, or that heartbeat writes the progress (seen under TSan, where the LISTEN took
  // longer than the claim).
  Gate listening;
  const auto watch = store->subscribe_cancels([&](JobId id) {
    if (id == 0) listening.open();
  });
  const std::string url = storage->url();
  const bool listens = url.starts_with("postgres") && url.find("pooler=transaction") == url.npos &&
                       url.find("listen=off") == url.npos;
  if (listens) {
    ASSERT_TRUE(listening.wait());
  }
  Gate reported;
  state.hook = [&](const std::string&, std::stop_token token) {
    reported.open();
    Gate never;
    never.wait(token);
  };
  const JobId id = errand::enqueue(*store, ProgressJob{.value = 0.25, .message = "a quarter"});
  auto options = worker_options();
  options.heartbeat_interval = std::chrono::milliseconds{5000};
  errand::Worker worker(store, registry, state, options);
  {
    BackgroundWorker background(worker);
    ASSERT_TRUE(reported.wait());
    EXPECT_FALSE(job(id).progress);  // not a round trip per call
    clock->advance(seconds{5});
    EXPECT_TRUE(eventually([&] { return job(id).progress == 0.25; }));
    EXPECT_EQ(job(id).progress_message, "a quarter");
  }
}

TEST_P(LifecycleConformance, BadProgressIsAClearErrorThatFailsTheAttempt) {
  const JobId nan = errand::enqueue(*store, ProgressJob{.message = "x", .not_finite = true});
  const JobId long_message =
      errand::enqueue(*store, ProgressJob{.value = 1, .message = std::string(300, 'm')});
  errand::Worker worker(store, registry, state, worker_options());
  worker.run_until_idle();
  EXPECT_THAT(job(nan).last_error.value_or(""), testing::HasSubstr("finite"));
  EXPECT_THAT(job(long_message).last_error.value_or(""), testing::HasSubstr("progress message"));
}

// --- retention, pruning, retrying finished jobs ----------------------------------------------

TEST_P(LifecycleConformance, PruningDeletesOnlyWhatTheRetentionNoLongerKeepsInBoundedBatches) {
  // Finished at t0: 3 completed, 1 cancelled, 1 discarded.
  for (int i = 0; i < 3; ++i)
    enqueue_one(lifecycle_job("Record"));
  const JobId dead = enqueue_one(lifecycle_job("Record"));
  const JobId cancelled = enqueue_one(lifecycle_job("Record", hours{100}));
  store->cancel_job(cancelled, "");
  store->register_worker(registration("w"));
  const auto claimed = store->claim("w", 4, kLockTimeout);
  std::vector<Outcome> outcomes;
  for (const auto& c : claimed) {
    Outcome o = outcome(c, c.id == dead ? Outcome::Kind::dead_letter : Outcome::Kind::completed);
    o.keep = true;
    o.error = "x";
    outcomes.push_back(o);
  }
  store->settle("w", outcomes);
  const auto counts = store->counts(kLockTimeout);
  ASSERT_EQ(counts.completed, 3);
  ASSERT_EQ(counts.cancelled, 1);
  ASSERT_EQ(counts.dead, 1);
  const errand::Retention retention{
      .completed = hours{1}, .cancelled = hours{2}, .discarded = std::nullopt};
  EXPECT_EQ(store->prune(retention, 100).deleted, 0u);  // nothing old enough yet
  clock->advance(minutes{90});
  EXPECT_EQ(store->prune(retention, 2).deleted, 2u);  // a batch of at most 2
  EXPECT_EQ(store->prune(retention, 100).deleted, 1u);
  EXPECT_EQ(store->counts(kLockTimeout).completed, 0);
  EXPECT_EQ(store->counts(kLockTimeout).cancelled, 1);
  clock->advance(hours{1000});
  EXPECT_EQ(store->prune(retention, 100).deleted, 1u);  // the cancelled one; dead ones stay
  EXPECT_EQ(store->counts(kLockTimeout).dead, 1);
  EXPECT_TRUE(store->find_job(dead, kLockTimeout));
}

TEST_P(LifecycleConformance, TwoPrunersAtOnceDeleteEachRowOnce) {
  constexpr int kRows = 600;
  std::vector<errand::NewJob> jobs(kRows, lifecycle_job("Record"));
  store->enqueue(jobs);
  store->register_worker(registration("w"));
  const auto claimed = store->claim("w", kRows, kLockTimeout);
  ASSERT_EQ(claimed.size(), static_cast<std::size_t>(kRows));
  std::vector<Outcome> outcomes;
  for (const auto& c : claimed) {
    outcomes.push_back(outcome(c, Outcome::Kind::completed));
    outcomes.back().keep = true;
  }
  store->settle("w", outcomes);
  clock->advance(hours{2});
  auto other = storage->open(clock);
  std::atomic<std::size_t> deleted{0};
  std::atomic<std::size_t> busy{0};
  const auto prune = [&](errand::Store& s) {
    for (int round = 0; round < 200 && rows_in("finished_jobs") > 0; ++round) {
      const auto result = s.prune({.completed = hours{1}}, 50);
      deleted += result.deleted;
      busy += result.busy ? 1 : 0;
    }
  };
  {
    std::jthread a([&] { prune(*store); });
    std::jthread b([&] { prune(*other); });
  }
  EXPECT_EQ(deleted.load(), static_cast<std::size_t>(kRows));
  EXPECT_EQ(rows_in("finished_jobs"), 0);
}

TEST_P(LifecycleConformance, AWorkerPrunesWhatItsRetentionNoLongerKeeps) {
  auto options = worker_options();
  options.retention.completed = minutes{10};
  options.prune_interval = std::chrono::milliseconds{1000};
  const JobId id = errand::enqueue(*store, RecordJob{.tag = 1});
  errand::Worker worker(store, registry, state, options);
  worker.run_until_idle();
  EXPECT_EQ(job(id).state, JobState::completed);
  clock->advance(minutes{11});
  worker.run_until_idle();  // registers, beats, prunes
  EXPECT_FALSE(store->find_job(id, kLockTimeout));
  EXPECT_EQ(worker.stats().pruned, 1u);
}

TEST_P(LifecycleConformance, RetryingAFinishedJobRunsItAgainUnderItsIdWithItsHistory) {
  auto options = worker_options();
  options.retention.completed = hours{1};
  const JobId completed = errand::enqueue(*store, RecordJob{.tag = 7});
  const JobId discarded = errand::enqueue(*store, DiscardJob{.reason = "r"});
  const JobId cancelled = enqueue_one(lifecycle_job("Record", hours{1}));
  store->cancel_job(cancelled, "");
  errand::Worker worker(store, registry, state, options);
  worker.run_until_idle();
  for (const JobId id : {completed, discarded, cancelled}) {
    SCOPED_TRACE(id);
    EXPECT_TRUE(is_finished(job(id).state));
    EXPECT_NO_THROW(errand::retry(*store, id));
    const auto again = job(id);
    EXPECT_EQ(again.state, JobState::ready);
    EXPECT_EQ(again.error_count, 0);
    EXPECT_FALSE(again.cancel_reason);
  }
  EXPECT_EQ(job(discarded).attempts.size(), 1u);
  EXPECT_EQ(store->retry_job(completed).kind, errand::RetryResult::Kind::not_finished);
  EXPECT_THROW(errand::retry(*store, completed), errand::JobStateError);
  EXPECT_EQ(store->retry_job(completed + 1000).kind, errand::RetryResult::Kind::not_found);
  worker.run_until_idle();
  EXPECT_EQ(state.count("Record:7"), 2u);
}

TEST_P(LifecycleConformance, DeletingAJobRemovesItInEveryStateButHeld) {
  auto options = worker_options();
  options.retention.completed = hours{1};
  const JobId completed = errand::enqueue(*store, RecordJob{.tag = 7});
  const JobId discarded = errand::enqueue(*store, DiscardJob{.reason = "r"});
  {
    errand::Worker worker(store, registry, state, options);
    worker.run_until_idle();
  }
  const JobId ready = enqueue_one(lifecycle_job("Record"));
  const JobId scheduled = enqueue_one(lifecycle_job("Record", hours{1}));
  const JobId cancelled = enqueue_one(lifecycle_job("Record", hours{2}));
  store->cancel_job(cancelled, "");
  ASSERT_EQ(job(completed).state, JobState::completed);
  ASSERT_EQ(job(discarded).state, JobState::discarded);
  for (const JobId id : {completed, discarded, ready, scheduled, cancelled}) {
    SCOPED_TRACE(id);
    EXPECT_EQ(store->delete_job(id).kind, errand::DeleteResult::Kind::deleted);
    EXPECT_FALSE(store->find_job(id, kLockTimeout));
    EXPECT_EQ(store->delete_job(id).kind, errand::DeleteResult::Kind::not_found);
  }
  // A job a worker holds stays, running, until it is settled.
  const JobId held = enqueue_one(lifecycle_job("Record"));
  const auto claimed = claim_one("w");
  ASSERT_EQ(claimed.id, held);
  EXPECT_EQ(store->delete_job(held).kind, errand::DeleteResult::Kind::held);
  EXPECT_EQ(job(held).state, JobState::running);
  const Outcome done[] = {outcome(claimed, Outcome::Kind::completed)};
  EXPECT_TRUE(store->settle("w", done).empty());
  EXPECT_EQ(store->delete_job(held + 1000).kind, errand::DeleteResult::Kind::not_found);
  EXPECT_TRUE(all_jobs().empty());
  EXPECT_EQ(state.count("Record:7"), 1u);
}

// --- workers -------------------------------------------------------------------------------

TEST_P(LifecycleConformance, ASilentWorkerHoldingNothingIsForgottenByAnyWorker) {
  store->register_worker(registration("gone"));
  clock->advance(minutes{5});
  errand::Worker worker(store, registry, state, worker_options());
  worker.run_until_idle();  // a new worker: not yet trusted to rescue, but it forgets
  for (const auto& w : store->list_workers())
    EXPECT_NE(w.id, "gone");
}

}  // namespace

}  // namespace errand_test
