#include <errand/error.hpp>
#include <errand/worker.hpp>

#include "core/text.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <cxxabi.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdlib>
#include <deque>
#include <map>
#include <mutex>
#include <random>
#include <thread>
#include <typeinfo>

namespace errand {

namespace {

constexpr std::size_t kMaxErrorBytes = 16 * 1024;

std::string default_worker_id() {
  char host[256] = {};
  if (gethostname(host, sizeof host - 1) != 0) std::snprintf(host, sizeof host, "unknown-host");
  std::random_device random;
  return fmt::format("{}:{}:{:06x}", host, getpid(), random() & 0xffffff);
}

// `text` as errand stores an error message: valid UTF-8 without NULs, at most 16 KiB.
std::string clean_message(std::string_view text) {
  return detail::to_clean_utf8(text, kMaxErrorBytes);
}

// The message of the exception being handled; call only inside a catch block.
std::string current_exception_message() {
  try {
    throw;
  } catch (const std::exception& e) {
    std::string what = e.what();
    if (what.empty())
      what = fmt::format("exception of type '{}' with an empty message", typeid(e).name());
    return clean_message(what);
  } catch (...) {
    std::string type = "unknown";
    if (const std::type_info* info = abi::__cxa_current_exception_type()) {
      int status = 0;
      char* demangled = abi::__cxa_demangle(info->name(), nullptr, nullptr, &status);
      type = status == 0 && demangled ? demangled : info->name();
      std::free(demangled);
    }
    return clean_message(
        fmt::format("exception of type '{}' (not derived from std::exception)", type));
  }
}

}  // namespace

struct WorkerEngine::Impl {
  // One claimed job, from claim until its outcome is settled (or it is released at shutdown).
  struct Task {
    ClaimedJob job;
    std::stop_source stop;
    bool running = false;
    bool finished = false;
    bool released_early = false;  // unlocked at shutdown while still running: drop its outcome
  };
  struct Finished {
    std::shared_ptr<Task> task;
    Outcome outcome;
    bool ran = true;  // false: released at shutdown before or while running
  };
  enum class Mode { until_stopped, until_idle };

  Impl(std::shared_ptr<Store> s, RunFn r, MaxRetriesFn m, WorkerOptions o)
      : store(std::move(s)),
        run_job(std::move(r)),
        max_retries_of(std::move(m)),
        options(std::move(o)) {
    if (!store) throw ConfigError("errand worker: the store is null");
    if (options.concurrency == 0)
      throw ConfigError("errand worker: concurrency must be at least 1");
    if (!options.backoff) options.backoff = ExponentialBackoff{};
    id = options.worker_id.empty() ? default_worker_id() : options.worker_id;
  }

  void log(LogLevel level, const std::string& message) const {
    if (options.log) options.log(level, message);
  }

  void emit(WorkerEvent::Kind kind, const ClaimedJob& job, std::string_view error = {},
            Duration delay = Duration{0}) const {
    if (options.on_event) options.on_event(WorkerEvent{kind, job, error, delay});
  }

  // --- executor threads -------------------------------------------------------------------

  void executor_loop() {
    std::unique_lock lock(mutex);
    for (;;) {
      exec_cv.wait(lock, [&] { return !ready.empty() || executors_quit; });
      if (ready.empty()) return;
      std::shared_ptr<Task> task = std::move(ready.front());
      ready.pop_front();
      task->running = true;
      lock.unlock();
      Outcome outcome = execute(*task);
      lock.lock();
      task->running = false;
      task->finished = true;
      if (!task->released_early) finished.push_back({std::move(task), std::move(outcome)});
      io_cv.notify_one();
    }
  }

  Outcome execute(Task& task) {
    const ClaimedJob& job = task.job;
    ++stats.started;
    emit(WorkerEvent::Kind::started, job);
    Outcome outcome{.id = job.id, .locked_at = job.locked_at};
    try {
      run_job(job, task.stop.get_token());
      outcome.kind = Outcome::Kind::completed;
      return outcome;
    } catch (...) {
      outcome.error = current_exception_message();
    }
    if (shutting_down.load() && task.stop.stop_requested()) {
      // Stopped because we are shutting down: not the job's fault, so no attempt is charged.
      outcome.kind = Outcome::Kind::released;
      return outcome;
    }
    const std::int32_t errors = job.error_count + 1;
    const std::int32_t max = max_retries_of ? max_retries_of(job.name).value_or(options.max_retries)
                                            : options.max_retries;
    if (errors > max) {
      outcome.kind = Outcome::Kind::dead_letter;
    } else {
      outcome.kind = Outcome::Kind::retry;
      outcome.retry_delay = options.backoff(errors);
    }
    return outcome;
  }

  void start_executors() {
    executors_quit = false;
    for (std::size_t i = 0; i < options.concurrency; ++i) {
      executors.emplace_back([this] { executor_loop(); });
    }
  }

  void join_executors() {
    {
      std::lock_guard lock(mutex);
      executors_quit = true;
    }
    exec_cv.notify_all();
    executors.clear();  // jthread joins
  }

  // --- the I/O thread: claims and settles -------------------------------------------------

  // Settles what has finished. Throws StoreError (the outcomes stay queued for the next try).
  void settle_finished() {
    std::vector<Finished> batch;
    {
      std::lock_guard lock(mutex);
      batch.swap(finished);
    }
    if (batch.empty()) return;
    std::vector<Outcome> outcomes;
    outcomes.reserve(batch.size());
    for (const Finished& f : batch)
      outcomes.push_back(f.outcome);
    std::vector<JobId> lost;
    try {
      lost = store->settle(id, outcomes);
    } catch (...) {
      std::lock_guard lock(mutex);
      finished.insert(finished.begin(), std::make_move_iterator(batch.begin()),
                      std::make_move_iterator(batch.end()));
      throw;
    }
    {
      std::lock_guard lock(mutex);
      for (const Finished& f : batch)
        in_flight.erase(f.task->job.id);
    }
    const auto now = store->clock().now();
    for (const Finished& f : batch) {
      const ClaimedJob& job = f.task->job;
      if (f.ran) ++runs_ended;
      if (std::find(lost.begin(), lost.end(), job.id) != lost.end()) {
        ++stats.lock_lost;
        log(LogLevel::warning,
            fmt::format("job {} ({}) lost its lock before its outcome was recorded; another "
                        "worker owns it now, so this outcome was dropped",
                        job.id, job.name));
        emit(WorkerEvent::Kind::lock_lost, job);
        continue;
      }
      switch (f.outcome.kind) {
        case Outcome::Kind::completed:
          ++stats.succeeded;
          emit(WorkerEvent::Kind::succeeded, job);
          break;
        case Outcome::Kind::retry:
          ++stats.retried;
          next_due = std::min(next_due, now + f.outcome.retry_delay);
          emit(WorkerEvent::Kind::retry_scheduled, job, f.outcome.error, f.outcome.retry_delay);
          break;
        case Outcome::Kind::dead_letter:
          ++stats.dead_lettered;
          emit(WorkerEvent::Kind::dead_lettered, job, f.outcome.error);
          break;
        case Outcome::Kind::released:
          ++stats.released;
          emit(WorkerEvent::Kind::released, job);
          break;
      }
    }
  }

  // Claims jobs for the free slots; returns true if every free slot was filled.
  bool claim_for_free_slots() {
    std::size_t free_slots = 0;
    {
      std::lock_guard lock(mutex);
      wake = false;
      free_slots = options.concurrency - std::min(options.concurrency, in_flight.size());
    }
    if (free_slots == 0) return true;
    std::vector<ClaimedJob> jobs = store->claim(id, free_slots, options.lock_timeout);
    const bool filled = jobs.size() == free_slots;
    if (jobs.empty()) return false;
    {
      std::lock_guard lock(mutex);
      for (ClaimedJob& job : jobs) {
        auto task = std::make_shared<Task>();
        task->job = std::move(job);
        in_flight.emplace(task->job.id, task);
        ready.push_back(std::move(task));
      }
    }
    exec_cv.notify_all();
    return filled;
  }

  std::chrono::milliseconds idle_wait() {
    auto wait = options.poll_interval;
    const auto now = store->clock().now();
    if (next_due != TimePoint::max()) {
      if (next_due <= now) {
        next_due = TimePoint::max();
        return std::chrono::milliseconds{0};
      }
      wait = std::min(wait, std::chrono::ceil<std::chrono::milliseconds>(next_due - now));
    }
    return wait;
  }

  void run(std::stop_token stop) {
    start_executors();
    auto subscription = store->subscribe([this] {
      std::lock_guard lock(mutex);
      wake = true;
      io_cv.notify_one();
    });
    std::stop_callback on_stop(stop, [this] {
      std::lock_guard lock(mutex);
      io_cv.notify_one();
    });
    auto store_retry = options.store_retry_min;
    while (!stop.stop_requested()) {
      bool slots_full = false;
      try {
        settle_finished();
        slots_full = claim_for_free_slots();
        store_retry = options.store_retry_min;
      } catch (const std::exception& e) {
        log(LogLevel::error, fmt::format("worker {}: storage error, retrying in {} ms: {}", id,
                                         store_retry.count(), e.what()));
        std::unique_lock lock(mutex);
        io_cv.wait_for(lock, store_retry, [&] { return stop.stop_requested(); });
        store_retry = std::min(options.store_retry_max, store_retry * 2);
        continue;
      }
      const auto wait = slots_full ? std::chrono::milliseconds::max() : idle_wait();
      std::unique_lock lock(mutex);
      const auto woken = [&] { return !finished.empty() || wake || stop.stop_requested(); };
      if (wait == std::chrono::milliseconds::max()) {
        io_cv.wait(lock, woken);
      } else {
        io_cv.wait_for(lock, wait, woken);
      }
    }
    shut_down();
  }

  std::size_t run_until_idle() {
    start_executors();
    runs_ended = 0;
    try {
      for (;;) {
        settle_finished();
        claim_for_free_slots();
        std::unique_lock lock(mutex);
        if (in_flight.empty() && finished.empty()) break;
        io_cv.wait(lock, [&] { return !finished.empty(); });
      }
    } catch (...) {
      shut_down();
      throw;
    }
    join_executors();
    return runs_ended;
  }

  // Stops claiming, cancels running jobs, waits up to the drain timeout, releases what is left
  // without charging an attempt, then joins the job threads.
  void shut_down() {
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
    const auto deadline = std::chrono::steady_clock::now() + options.drain_timeout;
    auto store_retry = options.store_retry_min;
    for (;;) {
      try {
        settle_finished();
      } catch (const std::exception& e) {
        log(LogLevel::error,
            fmt::format("worker {}: storage error while shutting down: {}", id, e.what()));
        std::this_thread::sleep_for(
            std::min(store_retry, std::chrono::duration_cast<std::chrono::milliseconds>(
                                      std::max(deadline - std::chrono::steady_clock::now(),
                                               std::chrono::steady_clock::duration{0}))));
        store_retry = std::min(options.store_retry_max, store_retry * 2);
      }
      std::unique_lock lock(mutex);
      if (in_flight.empty()) break;
      if (!io_cv.wait_until(lock, deadline, [&] { return !finished.empty(); })) break;
    }
    release_unfinished();
    join_executors();
    shutting_down = false;
  }

  // After the drain timeout: unlock the jobs still running (and anything not yet settled).
  void release_unfinished() {
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
                      "they stay locked until the lock timeout, then run again",
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
  }

  std::shared_ptr<Store> store;
  RunFn run_job;
  MaxRetriesFn max_retries_of;
  WorkerOptions options;
  std::string id;

  std::mutex mutex;
  std::condition_variable io_cv;            // wakes the I/O thread: finished jobs, enqueues, stop
  std::condition_variable exec_cv;          // wakes executors: ready jobs, quit
  std::deque<std::shared_ptr<Task>> ready;  // claimed, not yet started
  std::map<JobId, std::shared_ptr<Task>> in_flight;  // claimed, not yet settled
  std::vector<Finished> finished;                    // ran, outcome not yet settled
  bool wake = false;
  bool executors_quit = false;
  std::vector<std::jthread> executors;
  std::atomic<bool> shutting_down{false};
  TimePoint next_due = TimePoint::max();  // earliest retry this worker scheduled
  std::size_t runs_ended = 0;

  struct AtomicStats {
    std::atomic<std::uint64_t> started{0}, succeeded{0}, retried{0}, dead_lettered{0}, released{0},
        lock_lost{0};
  } stats;
};

WorkerEngine::WorkerEngine(std::shared_ptr<Store> store, RunFn run, MaxRetriesFn max_retries,
                           WorkerOptions options)
    : impl_(std::make_unique<Impl>(std::move(store), std::move(run), std::move(max_retries),
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
                     s.dead_lettered.load(), s.released.load(),  s.lock_lost.load()};
}

}  // namespace errand
