// errand::testing::drain: rounds of the engine's run_until_idle on a claim-limited view of the
// store, moving the ManualClock to the next scheduled job between rounds when asked to.
#include <errand/error.hpp>
#include <errand/testing/drain.hpp>

#include "testing/limited_store.hpp"

#include <algorithm>
#include <mutex>
#include <optional>
#include <utility>

namespace errand::testing {

namespace detail {

namespace {

// The DrainReport total that counts runs ending in `result`; none for released and lock_lost.
std::size_t DrainReport::*total_of(RunResult result) {
  switch (result) {
    case RunResult::succeeded:
      return &DrainReport::succeeded;
    case RunResult::retried:
      return &DrainReport::retried;
    case RunResult::dead_lettered:
      return &DrainReport::dead_lettered;
    case RunResult::snoozed:
      return &DrainReport::snoozed;
    case RunResult::cancelled:
      return &DrainReport::cancelled;
    case RunResult::released:
    case RunResult::lock_lost:
      break;
  }
  return nullptr;
}

// Turns the engine's events into the report's runs. Events come from worker threads.
class Recorder {
 public:
  explicit Recorder(const Clock& clock) : clock_(clock) {}

  void record(const WorkerEvent& event) {
    JobRun run{.id = event.job.id,
               .name = event.job.name,
               .payload = event.job.payload,
               .context = event.job.context,
               .attempt = event.job.error_count + 1};
    switch (event.kind) {
      case WorkerEvent::Kind::started:
        return;
      case WorkerEvent::Kind::succeeded:
        run.result = RunResult::succeeded;
        break;
      case WorkerEvent::Kind::retry_scheduled:
        run.result = RunResult::retried;
        run.error = event.error;
        // The store recorded now + delay by this clock, just before the event.
        run.next_run_at = clock_.now() + event.retry_delay;
        break;
      case WorkerEvent::Kind::dead_lettered:
        run.result = RunResult::dead_lettered;
        run.error = event.error;
        break;
      case WorkerEvent::Kind::released:
        run.result = RunResult::released;
        break;
      case WorkerEvent::Kind::lock_lost:
        run.result = RunResult::lock_lost;
        break;
      case WorkerEvent::Kind::snoozed:
        run.result = RunResult::snoozed;
        run.next_run_at = clock_.now() + event.retry_delay;
        break;
      case WorkerEvent::Kind::cancelled:
        run.result = RunResult::cancelled;
        run.error = event.error;
        break;
    }
    std::lock_guard lock(mutex_);
    if (std::size_t DrainReport::*total = total_of(run.result)) ++(report_.*total);
    report_.runs.push_back(std::move(run));
  }

  DrainReport take() {
    std::lock_guard lock(mutex_);
    return std::move(report_);
  }

 private:
  const Clock& clock_;
  std::mutex mutex_;
  DrainReport report_;
};

// The earliest run_at of the unlocked jobs that are not due yet.
std::optional<TimePoint> next_scheduled(Store& store) {
  std::optional<TimePoint> next;
  for (const JobInfo& job :
       store.list_jobs(JobFilter{.state = JobState::scheduled, .limit = 100'000})) {
    if (!next || job.run_at < *next) next = job.run_at;
  }
  return next;
}

}  // namespace

DrainReport drain(std::shared_ptr<Store> store, WorkerEngine::RunFn run,
                  WorkerEngine::PolicyFn policy, DrainOptions options) {
  if (!store) throw ConfigError("errand::testing::drain: the store is null");
  if (options.max_runs == 0) {
    throw ConfigError("errand::testing::drain: max_runs must be at least 1");
  }
  if (options.advance_clock && options.clock == nullptr) {
    throw ConfigError(
        "errand::testing::drain: advance_clock needs DrainOptions::clock, the ManualClock the "
        "store was opened with (a TestStore sets it)");
  }
  if (options.clock != nullptr && &store->clock() != options.clock) {
    throw ConfigError(
        "errand::testing::drain: DrainOptions::clock is not the clock the store was opened with");
  }

  Recorder recorder(store->clock());
  WorkerOptions worker = options.worker;
  worker.on_event = [&recorder, also = options.worker.on_event](const WorkerEvent& event) {
    recorder.record(event);
    if (also) also(event);
  };
  auto limited = std::make_shared<LimitedStore>(store, options.max_runs);
  for (bool moved = false;; moved = true) {
    const std::size_t before = limited->claimed();
    WorkerEngine(limited, run, policy, worker).run_until_idle();
    if (limited->exhausted() || !options.advance_clock) break;
    // Nothing came due after a clock move (the job was taken meanwhile): stop, or loop forever.
    if (moved && limited->claimed() == before) break;
    const std::optional<TimePoint> next = next_scheduled(*store);
    if (!next) break;
    options.clock->set(std::max(*next, options.clock->now()));
  }

  DrainReport report = recorder.take();
  if (limited->exhausted()) {
    const JobCounts left = store->counts(worker.lock_timeout);
    report.limit_reached = left.ready > 0 || (options.advance_clock && left.scheduled > 0);
  }
  return report;
}

}  // namespace detail

}  // namespace errand::testing
