// Workers: claim due jobs from a Store and run them on a pool of threads.
#pragma once

#include <errand/options.hpp>
#include <errand/registry.hpp>
#include <errand/store.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <stop_token>
#include <string>

namespace errand {

struct WorkerStats {
  std::uint64_t started = 0;
  std::uint64_t succeeded = 0;
  std::uint64_t retried = 0;
  std::uint64_t dead_lettered = 0;
  std::uint64_t released = 0;
  std::uint64_t lock_lost = 0;
  std::uint64_t timed_out = 0;  // runs failed by their timeout
  std::uint64_t rescued = 0;    // jobs of lost workers this worker unlocked (and charged)
  std::uint64_t snoozed = 0;
  std::uint64_t cancelled = 0;      // runs that ended cancelled (their cancel was requested)
  std::uint64_t pruned = 0;         // finished jobs this worker's pruner deleted
  std::uint64_t ticks_fired = 0;    // schedule ticks whose job this worker enqueued
  std::uint64_t ticks_skipped = 0;  // ticks it handled without a job (missed, overlapping)
};

// What a job type declares about itself; empty fields take the WorkerOptions defaults.
struct JobPolicy {
  std::optional<std::int32_t> max_retries{};
  std::optional<std::chrono::milliseconds> timeout{};
  std::optional<std::int32_t> max_snoozes{};
  BackoffFn backoff{};
};

// The type-independent worker. Use Worker<AppState>, which builds one from a Registry.
class WorkerEngine {
 public:
  // Runs one claimed job; throws to fail the attempt (or throws Snooze, Discard).
  using RunFn = std::function<RunReturn(const ClaimedJob&, RunContext&)>;
  // The job type's own settings, by job name.
  using PolicyFn = std::function<JobPolicy(std::string_view name)>;

  WorkerEngine(std::shared_ptr<Store> store, RunFn run, PolicyFn policy, WorkerOptions options);
  ~WorkerEngine();
  WorkerEngine(const WorkerEngine&) = delete;
  WorkerEngine& operator=(const WorkerEngine&) = delete;

  // Works until `stop` is requested, then shuts down gracefully: stops claiming, requests stop
  // on every running job's token, waits up to drain_timeout, unlocks unfinished jobs without
  // charging an attempt, removes itself from the workers table and returns once every job
  // thread has ended. While it works it heartbeats every heartbeat_interval and rescues the
  // jobs of lost workers. Storage errors are logged and retried with backoff; they never end
  // the loop. Call from one thread at a time.
  void run(std::stop_token stop);
  // Registers, rescues the jobs of lost workers, runs every job that is due now (including
  // retries that become due meanwhile by the store's clock), unregisters and returns when none
  // is left; returns how many runs ended. Storage errors throw.
  std::size_t run_until_idle();

  const std::string& id() const;
  WorkerStats stats() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

namespace detail {
// The engine's two functions for the jobs of `registry` (used by Worker and errand::testing).
template <class AppState>
WorkerEngine::RunFn run_with(const Registry<AppState>& registry, AppState& state) {
  return [&registry, &state](const ClaimedJob& job, RunContext& context) {
    return registry.run(job.name, job.payload, state, context);
  };
}
template <class AppState>
WorkerEngine::PolicyFn policy_of(const Registry<AppState>& registry) {
  return [&registry](std::string_view name) {
    return JobPolicy{registry.max_retries(name), registry.timeout(name), registry.max_snoozes(name),
                     registry.backoff(name)};
  };
}
// Throws ConfigError naming the first schedule of `options` whose job type `known` says is not
// registered; returns `options`.
WorkerOptions with_registered_schedules(WorkerOptions options,
                                        const std::function<bool(std::string_view)>& known);
template <class AppState>
WorkerOptions with_registered_schedules(WorkerOptions options, const Registry<AppState>& registry) {
  return with_registered_schedules(
      std::move(options), [&registry](std::string_view name) { return registry.contains(name); });
}
}  // namespace detail

// A worker for the jobs of one registry. `registry` and `state` must outlive the worker; `state`
// is shared by reference with every job, concurrently.
template <class AppState>
class Worker {
 public:
  Worker(std::shared_ptr<Store> store, const Registry<AppState>& registry, AppState& state,
         WorkerOptions options = {})
      : engine_(std::move(store), detail::run_with(registry, state), detail::policy_of(registry),
                detail::with_registered_schedules(std::move(options), registry)) {}

  void run(std::stop_token stop) { engine_.run(std::move(stop)); }
  std::size_t run_until_idle() { return engine_.run_until_idle(); }
  const std::string& id() const { return engine_.id(); }
  WorkerStats stats() const { return engine_.stats(); }

 private:
  WorkerEngine engine_;
};

}  // namespace errand
