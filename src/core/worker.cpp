// WorkerEngine: construction, the run loop, shutdown and the public API. The parts of the engine
// and the threads that share it: core/worker_engine.hpp.
#include "core/worker_engine.hpp"

#include <errand/error.hpp>

#include "core/text.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <unistd.h>

#include <algorithm>
#include <random>

namespace errand {

namespace {

constexpr std::size_t kMaxErrorBytes = 16 * 1024;

std::string host_name() {
  char host[256] = {};
  if (gethostname(host, sizeof host - 1) != 0) return "unknown-host";
  return host;
}

std::string default_worker_id() {
  std::random_device random;
  return fmt::format("{}:{}:{:06x}", host_name(), getpid(), random() & 0xffffff);
}

}  // namespace

std::shared_ptr<Store> WorkerEngine::Impl::non_null(std::shared_ptr<Store> s) {
  if (!s) throw ConfigError("errand worker: the store is null");
  return s;
}

WorkerEngine::Impl::Impl(std::shared_ptr<Store> s, RunFn r, PolicyFn p, WorkerOptions o)
    : store(non_null(std::move(s))),
      clock(store->clock()),
      run_job(std::move(r)),
      policy_of(std::move(p)),
      options(std::move(o)),
      metrics_part(options.metrics ? *options.metrics : default_metrics(), metrics) {
  if (options.queues.empty()) {
    if (options.concurrency == 0)
      throw ConfigError("errand worker: concurrency must be at least 1");
    pools.push_back({.queue = {}, .concurrency = options.concurrency});
  }
  for (const QueueConcurrency& queue : options.queues) {
    check_queue_name(queue.name);
    if (queue.concurrency == 0) {
      throw ConfigError(fmt::format(
          "errand worker: queue '{}' has concurrency 0; give each queue at least 1", queue.name));
    }
    for (const Pool& pool : pools) {
      if (pool.queue == queue.name)
        throw ConfigError(fmt::format("errand worker: queue '{}' is listed twice", queue.name));
    }
    pools.push_back({.queue = queue.name, .concurrency = queue.concurrency});
  }
  for (const Pool& pool : pools)
    threads += pool.concurrency;
  if (options.store_lanes == 0) throw ConfigError("errand worker: store_lanes must be at least 1");
  if (options.heartbeat_interval <= std::chrono::milliseconds{0})
    throw ConfigError("errand worker: heartbeat_interval must be positive");
  if (options.rescue_after <= options.heartbeat_interval) {
    throw ConfigError(fmt::format(
        "errand worker: rescue_after ({} ms) must be longer than heartbeat_interval ({} ms), "
        "or live workers would be rescued",
        std::chrono::duration_cast<std::chrono::milliseconds>(options.rescue_after).count(),
        options.heartbeat_interval.count()));
  }
  if (options.job_timeout < std::chrono::milliseconds{0} ||
      options.timeout_grace < std::chrono::milliseconds{0}) {
    throw ConfigError("errand worker: job_timeout and timeout_grace must not be negative");
  }
  if (!options.backoff) options.backoff = ExponentialBackoff{};
  check_schedules();
  id = options.worker_id.empty() ? default_worker_id() : options.worker_id;
  registration.id = id;
  registration.host = host_name();
  registration.pid = getpid();
  registration.concurrency = static_cast<std::int64_t>(threads);
  for (const QueueConcurrency& queue : options.queues)
    registration.queues.push_back(queue.name);
}

std::string WorkerEngine::Impl::clean_message(std::string_view text) {
  return detail::to_clean_utf8(text, kMaxErrorBytes);
}

std::chrono::milliseconds WorkerEngine::Impl::idle_wait() {
  auto wait = options.poll_interval;
  const auto now = clock.now();
  std::lock_guard lock(mutex);
  if (next_due != TimePoint::max()) {
    if (next_due <= now) {
      next_due = TimePoint::max();
      return std::chrono::milliseconds{0};
    }
    wait = std::min(wait, std::chrono::ceil<std::chrono::milliseconds>(next_due - now));
  }
  return wait;
}

void WorkerEngine::Impl::run(std::stop_token stop) {
  start_executors();
  start_lanes();
  auto subscription = store->subscribe([this] {
    std::lock_guard lock(mutex);
    wake = true;
    io_cv.notify_one();
  });
  auto cancels = store->subscribe_cancels([this](JobId job_id) { queue_cancel(job_id); });
  std::stop_callback on_stop(stop, [this] {
    std::lock_guard lock(mutex);
    io_cv.notify_one();
  });
  auto store_retry = options.store_retry_min;
  while (!stop.stop_requested()) {
    bool slots_full = false;
    fire_queued_cancels();
    SteadyTime until = check_timeouts();
    try {
      keep_alive();
      until = std::min(until, fire_due_schedules());
      slots_full = io_settle_and_claim();
      store_retry = options.store_retry_min;
    } catch (const std::exception& e) {
      log(LogLevel::error, fmt::format("worker {}: storage error, retrying in {} ms: {}", id,
                                       store_retry.count(), e.what()));
      // Retry at least every heartbeat_interval, so that after an outage this worker beats
      // again before others may take it for lost.
      until = std::min(until, clock.steady_now() + std::min<std::chrono::milliseconds>(
                                                       store_retry, options.heartbeat_interval));
      store_retry = std::min(options.store_retry_max, store_retry * 2);
      // The backoff is waited out, but a cancel's stop token fires meanwhile (no store needed).
      for (;;) {
        std::unique_lock lock(mutex);
        io_wait.wait_until(lock, until, [&] {
          return stop.stop_requested() || timers_changed || !queued_cancels.empty();
        });
        if (queued_cancels.empty() || stop.stop_requested() || timers_changed) break;
        lock.unlock();
        fire_queued_cancels();
      }
      continue;
    }
    until = std::min(until, next_beat);
    if (!slots_full) until = std::min(until, clock.steady_now() + idle_wait());
    std::unique_lock lock(mutex);
    // A queued cancel is a reason of its own: settle_and_claim clears `wake`, also when a cancel
    // set it, and the cancel would otherwise wait for the next timed wake-up.
    io_wait.wait_until(lock, until, [&] {
      return !finished.empty() || wake || timers_changed || stop.stop_requested() ||
             cancels_queued();
    });
  }
  shut_down();
  unregister();
}

std::size_t WorkerEngine::Impl::run_until_idle() {
  start_executors();
  runs_ended = 0;
  try {
    beat();
    rescue_lost_jobs();
    prune_when_due();
    fire_due_schedules();
    for (;;) {
      const SteadyTime until = std::min(check_timeouts(), next_beat);
      if (clock.steady_now() >= next_beat) beat();
      settle_and_claim();
      std::unique_lock lock(mutex);
      if (in_flight.empty() && finished.empty()) break;
      io_wait.wait_until(lock, until, [&] { return !finished.empty() || timers_changed; });
    }
  } catch (...) {
    shut_down();
    unregister();
    throw;
  }
  join_executors();
  unregister();
  return runs_ended;
}

void WorkerEngine::Impl::shut_down() {
  stop_lanes();
  shutting_down = true;
  {
    std::lock_guard lock(mutex);
    for (auto& task : ready) {
      finished.push_back({task,
                          Outcome{.id = task->job.id,
                                  .locked_at = task->job.locked_at,
                                  .kind = Outcome::Kind::released},
                          false});
    }
    ready.clear();
    for (auto& [job_id, task] : in_flight)
      task->stop.request_stop();
  }
  const auto deadline = clock.steady_now() + options.drain_timeout;
  auto store_retry = options.store_retry_min;
  for (;;) {
    try {
      if (registered && clock.steady_now() >= next_beat) beat();
      settle_finished();
    } catch (const std::exception& e) {
      log(LogLevel::error,
          fmt::format("worker {}: storage error while shutting down: {}", id, e.what()));
      // Waits out the backoff (not cut short by finished jobs), but not past the deadline.
      std::unique_lock lock(mutex);
      io_wait.wait_until(lock, std::min(deadline, clock.steady_now() + store_retry),
                         [] { return false; });
      store_retry = std::min(options.store_retry_max, store_retry * 2);
    }
    std::unique_lock lock(mutex);
    if (in_flight.empty()) break;
    const auto until = registered ? std::min(deadline, next_beat) : deadline;
    io_wait.wait_until(lock, until, [&] { return !finished.empty(); });
    if (finished.empty() && clock.steady_now() >= deadline) break;
  }
  release_unfinished();
  join_executors();
  shutting_down = false;
}

void WorkerEngine::Impl::release_unfinished() {
  std::vector<Finished> leftovers;
  std::vector<std::string> names;
  {
    std::lock_guard lock(mutex);
    for (auto& [job_id, task] : in_flight) {
      if (task->finished) continue;  // its outcome is in `finished`
      task->released_early = true;
      names.push_back(fmt::format("{} ({})", task->job.id, task->job.name));
      finished.push_back({task,
                          Outcome{.id = task->job.id,
                                  .locked_at = task->job.locked_at,
                                  .kind = Outcome::Kind::released},
                          false});
    }
  }
  if (!names.empty()) {
    log(LogLevel::warning,
        fmt::format("worker {}: {} job(s) still running after the {} ms drain timeout were "
                    "unlocked without charging an attempt (they will run again): {}",
                    id, names.size(), options.drain_timeout.count(), fmt::join(names, ", ")));
  }
  try {
    settle_finished();
  } catch (const std::exception& e) {
    std::lock_guard lock(mutex);
    log(LogLevel::error,
        fmt::format("worker {}: could not record the outcome of {} job(s) at shutdown ({}); "
                    "they stay locked until this worker unregisters, or another worker "
                    "rescues them, or the lock timeout passes; then they run again",
                    id, finished.size(), e.what()));
    finished.clear();
  }
  std::lock_guard lock(mutex);
  if (!names.empty()) {
    log(LogLevel::warning,
        fmt::format("worker {}: waiting for {} job thread(s) that ignore their stop token", id,
                    names.size()));
  }
  in_flight.clear();
  for (Pool& pool : pools)
    pool.held = 0;
}

WorkerEngine::WorkerEngine(std::shared_ptr<Store> store, RunFn run, PolicyFn policy,
                           WorkerOptions options)
    : impl_(std::make_unique<Impl>(std::move(store), std::move(run), std::move(policy),
                                   std::move(options))) {}

WorkerEngine::~WorkerEngine() = default;

void WorkerEngine::run(std::stop_token stop) {
  impl_->run(std::move(stop));
}

std::size_t WorkerEngine::run_until_idle() {
  return impl_->run_until_idle();
}

const std::string& WorkerEngine::id() const {
  return impl_->id;
}

WorkerStats WorkerEngine::stats() const {
  const auto& s = impl_->stats;
  return WorkerStats{s.started.load(),       s.succeeded.load(), s.retried.load(),
                     s.dead_lettered.load(), s.released.load(),  s.lock_lost.load(),
                     s.timed_out.load(),     s.rescued.load(),   s.snoozed.load(),
                     s.cancelled.load(),     s.pruned.load(),    s.ticks_fired.load(),
                     s.ticks_skipped.load()};
}

}  // namespace errand
