// errand::testing::drain: run the due jobs of a store through the real worker engine, on the
// calling thread's schedule, and report what became of each run.
#pragma once

#include <errand/clock.hpp>
#include <errand/options.hpp>
#include <errand/registry.hpp>
#include <errand/store.hpp>
#include <errand/testing/store.hpp>
#include <errand/worker.hpp>

#include <cstddef>
#include <cstdint>
#include <iosfwd>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace errand::testing {

struct DrainOptions {
  // Off: run what is due now (retries that come due only count once the clock reaches them).
  // On: whenever nothing is due, move the clock to the next scheduled job's run_at and go on,
  // until no job is left waiting (a failing job then runs until it is dead-lettered).
  bool advance_clock = false;
  // The safety bound: at most this many jobs are claimed (each run, and each job dead-lettered
  // unrun, counts one); then drain stops and reports limit_reached if jobs were left waiting.
  std::size_t max_runs = 10'000;
  // The worker's options. One thread by default, so jobs run one at a time in claim order
  // (priority, then run_at, then id) and `runs` is in that order. on_event, if set, is called
  // too.
  WorkerOptions worker{.concurrency = 1};
  // The clock the store was opened with, which advance_clock moves. Set by the TestStore
  // overload; needed with advance_clock for any other store.
  ManualClock* clock = nullptr;
};

enum class RunResult {
  succeeded,      // the job returned; it was deleted
  retried,        // it threw; it runs again at next_run_at
  dead_lettered,  // it threw for the last time (or its row was invalid); moved to dead jobs
  released,       // unlocked without charging an attempt (the worker shut down meanwhile)
  lock_lost,      // another worker held the job by the time the outcome was recorded
  snoozed,        // it snoozed (errand::Snooze); it runs again at next_run_at, no attempt charged
  cancelled,      // its cancel was requested and it did not complete: cancelled
};
std::string_view to_string(RunResult result);

// One ended run of a job.
struct JobRun {
  JobId id = 0;
  std::string name{};
  std::string payload{};  // the JSON the job was enqueued with
  std::string context{};
  std::int32_t attempt = 1;  // 1 for the first run; failed attempts before it + 1
  RunResult result = RunResult::succeeded;
  std::string error{};  // retried, dead_lettered: the recorded message
  // retried, snoozed: the store's clock when recorded + the backoff or snooze delay
  std::optional<TimePoint> next_run_at{};
};

struct DrainReport {
  std::vector<JobRun> runs{};  // in the order their outcomes were recorded
  std::size_t succeeded = 0;
  std::size_t retried = 0;
  std::size_t dead_lettered = 0;
  std::size_t snoozed = 0;
  std::size_t cancelled = 0;
  // max_runs was reached with jobs still waiting (due now, or later with advance_clock).
  bool limit_reached = false;

  // The runs of one job type, or of one job.
  std::vector<JobRun> runs_of(std::string_view name) const;
  std::vector<JobRun> runs_of(JobId id) const;
  // The totals and one line per run, for failure messages: EXPECT_EQ(...) << report.
  std::string summary() const;
};
std::ostream& operator<<(std::ostream& out, const DrainReport& report);

namespace detail {
// The type-independent drain: the engine runs jobs with `run` and `policy`.
DrainReport drain(std::shared_ptr<Store> store, WorkerEngine::RunFn run,
                  WorkerEngine::PolicyFn policy, DrainOptions options);
}  // namespace detail

// Runs every due job of `store` with a Worker of `registry` (the real engine: retries, backoff,
// dead-lettering, the events) until none is due, or with advance_clock none is left
// waiting, and returns what happened. Jobs locked by other workers are left alone. Throws what
// the engine's run_until_idle throws (StoreError), and ConfigError for bad options.
template <class AppState>
DrainReport drain(std::shared_ptr<Store> store, const Registry<AppState>& registry, AppState& state,
                  DrainOptions options = {}) {
  return detail::drain(std::move(store), errand::detail::run_with(registry, state),
                       errand::detail::policy_of(registry), std::move(options));
}

// The same on a TestStore, whose clock advance_clock moves.
template <class AppState>
DrainReport drain(const TestStore& store, const Registry<AppState>& registry, AppState& state,
                  DrainOptions options = {}) {
  if (options.clock == nullptr) options.clock = &store.clock();
  return drain(store.shared(), registry, state, std::move(options));
}

}  // namespace errand::testing
