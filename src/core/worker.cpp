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
#include <shared_mutex>
#include <thread>
#include <typeinfo>

namespace errand {

namespace {

constexpr std::size_t kMaxErrorBytes = 16 * 1024;

using SteadyTime = std::chrono::steady_clock::time_point;

std::string host_name() {
  char host[256] = {};
  if (gethostname(host, sizeof host - 1) != 0) return "unknown-host";
  return host;
}

std::string default_worker_id() {
  std::random_device random;
  return fmt::format("{}:{}:{:06x}", host_name(), getpid(), random() & 0xffffff);
}

double seconds_of(Duration d) {
  return std::chrono::duration<double>(d).count();
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
    std::optional<std::chrono::milliseconds> timeout;  // resolved at claim
    SteadyTime deadline{};                             // start + timeout, once running
    bool running = false;
    bool finished = false;
    // Settled while still running (shutdown, timeout): its eventual outcome is dropped.
    bool released_early = false;
    bool abandoned = false;  // failed by its timeout while still running: its thread is stuck
    std::atomic<bool> timed_out{false};  // its stop token fired because of the timeout
  };
  struct Finished {
    std::shared_ptr<Task> task;
    Outcome outcome;
    bool ran = true;                    // false: released at shutdown before or while running
    bool settle_failed_before = false;  // an earlier settle of it failed: it may have committed
  };
  enum class Mode { until_stopped, until_idle };

  Impl(std::shared_ptr<Store> s, RunFn r, PolicyFn p, WorkerOptions o)
      : store(std::move(s)), run_job(std::move(r)), policy_of(std::move(p)), options(std::move(o)) {
    if (!store) throw ConfigError("errand worker: the store is null");
    if (options.concurrency == 0)
      throw ConfigError("errand worker: concurrency must be at least 1");
    if (options.store_lanes == 0)
      throw ConfigError("errand worker: store_lanes must be at least 1");
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
    id = options.worker_id.empty() ? default_worker_id() : options.worker_id;
    registration.id = id;
    registration.host = host_name();
    registration.pid = getpid();
    registration.concurrency = static_cast<std::int64_t>(options.concurrency);
  }

  JobPolicy policy(std::string_view name) const {
    return policy_of ? policy_of(name) : JobPolicy{};
  }

  // A failed attempt: retried after its backoff, or dead-lettered once max_retries is spent.
  Outcome failure(const ClaimedJob& job, std::string error) const {
    Outcome outcome{.id = job.id, .locked_at = job.locked_at, .error = std::move(error)};
    const std::int32_t errors = job.error_count + 1;
    if (errors > policy(job.name).max_retries.value_or(options.max_retries)) {
      outcome.kind = Outcome::Kind::dead_letter;
    } else {
      outcome.kind = Outcome::Kind::retry;
      outcome.retry_delay = options.backoff(errors);
    }
    return outcome;
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
      if (task->timeout) {
        task->deadline = std::chrono::steady_clock::now() + *task->timeout;
        timers_changed = true;
        io_cv.notify_one();
      }
      lock.unlock();
      Outcome outcome = execute(*task);
      lock.lock();
      task->running = false;
      task->finished = true;
      if (task->abandoned) {
        --stuck;  // its slot is free again
        wake = true;
      }
      if (!task->released_early) finished.push_back({std::move(task), std::move(outcome)});
      if (io_exchanging && options.store_lanes > 1) {
        lane_cv.notify_one();
      } else {
        io_cv.notify_one();
      }
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
    if (task.timed_out.load()) {
      ++stats.timed_out;
      return failure(job, clean_message(fmt::format("timed out after {} ms: {}",
                                                    task.timeout->count(), outcome.error)));
    }
    if (shutting_down.load() && task.stop.stop_requested()) {
      // Stopped because we are shutting down: not the job's fault, so no attempt is charged.
      outcome.kind = Outcome::Kind::released;
      return outcome;
    }
    return failure(job, std::move(outcome.error));
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

  // Takes what has finished, to settle it.
  std::vector<Finished> take_finished() {
    std::vector<Finished> batch;
    std::lock_guard lock(mutex);
    batch.swap(finished);
    return batch;
  }

  // Puts back a batch whose settle failed: it is tried again; it may have been applied.
  void requeue_unsettled(std::vector<Finished>& batch) {
    std::lock_guard lock(mutex);
    for (Finished& f : batch)
      f.settle_failed_before = true;
    finished.insert(finished.begin(), std::make_move_iterator(batch.begin()),
                    std::make_move_iterator(batch.end()));
  }

  static std::vector<Outcome> outcomes_of(const std::vector<Finished>& batch) {
    std::vector<Outcome> outcomes;
    outcomes.reserve(batch.size());
    for (const Finished& f : batch)
      outcomes.push_back(f.outcome);
    return outcomes;
  }

  // Settles what has finished. Throws StoreError (the outcomes stay queued for the next try).
  void settle_finished() {
    std::vector<Finished> batch = take_finished();
    if (batch.empty()) return;
    std::vector<JobId> lost;
    try {
      lost = store->settle(id, outcomes_of(batch));
    } catch (...) {
      requeue_unsettled(batch);
      throw;
    }
    record_settled(batch, lost);
  }

  // Settles what has finished and claims jobs for the free slots plus the prefetch, in one store
  // call. Returns true if every free slot was filled. Throws StoreError (the outcomes stay queued
  // for the next try; nothing was claimed).
  // Safe to run on several threads at once (see lane_loop): each takes its own batch and
  // reserves the slots it claims for.
  bool settle_and_claim() {
    std::shared_lock gate(exchange_gate);  // a heartbeat waits: its held list must be complete
    std::vector<Finished> batch;
    std::size_t wanted = 0;
    {
      std::lock_guard lock(mutex);
      wake = false;
      batch.swap(finished);
      // Prefetch no more than finished in the last rounds: none while every run is slow.
      const std::size_t finishing = std::max(batch.size(), last_batch);
      if (!batch.empty()) last_batch = batch.size();
      const std::size_t capacity = options.concurrency + std::min(options.prefetch, finishing);
      // The batch's tasks are still in in_flight: their slots free up with this call.
      const std::size_t held = in_flight.size() - batch.size() + stuck + claiming;
      wanted = capacity - std::min(capacity, held);
      claiming += wanted;
    }
    if (batch.empty() && wanted == 0) return true;
    Store::Exchange exchange;
    try {
      exchange = store->settle_and_claim(id, outcomes_of(batch), wanted, options.lock_timeout);
    } catch (...) {
      {
        std::lock_guard lock(mutex);
        claiming -= wanted;
      }
      requeue_unsettled(batch);
      throw;
    }
    record_settled(batch, exchange.lost);
    const bool filled = exchange.claimed.size() == wanted;
    accept_claimed(exchange.claimed, wanted);
    return filled;
  }

  // --- extra store lanes: more settle-and-claim round trips in flight at once ---------------

  // While the I/O thread waits on a round trip, a lane settles what finished meanwhile and
  // claims for the slots it freed. Storage errors are left to the I/O thread, which logs and
  // retries; lanes pause until its next round succeeds.
  void lane_loop() {
    std::unique_lock lock(mutex);
    for (;;) {
      lane_cv.wait(lock,
                   [&] { return lanes_quit || (lanes_ok && io_exchanging && !finished.empty()); });
      if (lanes_quit) return;
      lock.unlock();
      try {
        settle_and_claim();
        lock.lock();
      } catch (...) {
        lock.lock();
        lanes_ok = false;
      }
      // The I/O thread may have left slots to this round's reservation: it looks again.
      wake = true;
      io_cv.notify_one();
    }
  }

  void start_lanes() {
    lanes_quit = false;
    lanes_ok = true;
    for (std::size_t i = 1; i < options.store_lanes; ++i)
      lanes.emplace_back([this] { lane_loop(); });
  }

  void stop_lanes() {
    {
      std::lock_guard lock(mutex);
      lanes_quit = true;
    }
    lane_cv.notify_all();
    lanes.clear();  // jthread joins
  }

  // The I/O thread's round: lanes may help while it waits.
  bool io_settle_and_claim() {
    {
      std::lock_guard lock(mutex);
      io_exchanging = true;
    }
    try {
      const bool filled = settle_and_claim();
      std::lock_guard lock(mutex);
      io_exchanging = false;
      lanes_ok = true;
      return filled;
    } catch (...) {
      std::lock_guard lock(mutex);
      io_exchanging = false;
      throw;
    }
  }

  // Books settled outcomes: stats, events, lost leases; their tasks leave in_flight.
  void record_settled(const std::vector<Finished>& batch, const std::vector<JobId>& lost) {
    {
      std::lock_guard lock(mutex);
      for (const Finished& f : batch)
        in_flight.erase(f.task->job.id);
    }
    TimePoint due = TimePoint::max();
    const auto now = store->clock().now();
    for (const Finished& f : batch) {
      const ClaimedJob& job = f.task->job;
      if (f.ran) ++runs_ended;
      if (std::find(lost.begin(), lost.end(), job.id) != lost.end()) {
        ++stats.lock_lost;
        if (f.settle_failed_before) {
          // Most likely the failed attempt committed and only its reply was lost.
          log(LogLevel::info,
              fmt::format("job {} ({}): no longer locked by this worker when its outcome was "
                          "recorded again after a storage error; the earlier attempt most likely "
                          "committed (its reply was lost), else another worker took the job",
                          job.id, job.name));
        } else {
          log(LogLevel::warning,
              fmt::format("job {} ({}) lost its lock before its outcome was recorded; another "
                          "worker owns it now, so this outcome was dropped",
                          job.id, job.name));
        }
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
          due = std::min(due, now + f.outcome.retry_delay);
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
    if (due != TimePoint::max()) {
      std::lock_guard lock(mutex);
      next_due = std::min(next_due, due);
    }
  }

  // Queues claimed jobs for the executors, waking one executor per job; a job whose stored row
  // is invalid is dead-lettered unrun (see set_aside_invalid).
  // `reserved`: the slots the claim was made for, released now that the jobs are in in_flight.
  void accept_claimed(std::vector<ClaimedJob>& jobs, std::size_t reserved) {
    std::size_t queued = 0;
    std::vector<std::string> set_aside;  // log lines, written outside the lock
    {
      std::lock_guard lock(mutex);
      claiming -= reserved;
      for (ClaimedJob& job : jobs) {
        auto task = std::make_shared<Task>();
        task->job = std::move(job);
        in_flight.emplace(task->job.id, task);
        if (task->job.invalid) [[unlikely]] {
          set_aside.push_back(set_aside_invalid(std::move(task)));
          continue;
        }
        task->timeout = policy(task->job.name).timeout;
        if (!task->timeout) task->timeout = options.job_timeout;
        if (*task->timeout <= std::chrono::milliseconds{0}) task->timeout.reset();  // no limit
        ready.push_back(std::move(task));
        ++queued;
      }
    }
    for (const std::string& line : set_aside)
      log(LogLevel::error, line);
    if (queued >= options.concurrency) {
      exec_cv.notify_all();
    } else {
      for (std::size_t i = 0; i < queued; ++i)
        exec_cv.notify_one();
    }
  }

  // The dead-letter outcome of a job whose stored row holds an invalid value: it is not run (its
  // values cannot be trusted), nor retried (the row would fail again), nor left locked (it would
  // stall nothing, but sit unseen): the next settle moves it to the dead-letter table with an
  // error naming the value, so nothing is lost.
  Outcome invalid_outcome(const ClaimedJob& job) const {
    return Outcome{.id = job.id,
                   .locked_at = job.locked_at,
                   .kind = Outcome::Kind::dead_letter,
                   .error = clean_message("not run: a value stored in its row is invalid: " +
                                          job.invalid.value_or(""))};
  }

  // Queues a claimed job with an invalid row for settling as dead; returns the line to log.
  // Call with `mutex` held.
  std::string set_aside_invalid(std::shared_ptr<Task> task) {
    Outcome outcome = invalid_outcome(task->job);
    std::string line =
        fmt::format("worker {}: job {} dead-lettered, {}", id, task->job.id, outcome.error);
    task->finished = true;
    finished.push_back({std::move(task), std::move(outcome), /*ran=*/false});
    io_cv.notify_one();
    return line;
  }

  // --- liveness: registration, heartbeats, rescue of lost workers' jobs --------------------

  // Registers on the first call, then heartbeats when one is due, and rescues the jobs of lost
  // workers after each. Throws StoreError (the next call tries again).
  void keep_alive() {
    const auto now = std::chrono::steady_clock::now();
    if (registered && now < next_beat) return;
    beat();
    rescue_lost_jobs();
  }

  void beat() {
    const auto now = std::chrono::steady_clock::now();
    try {
      if (!registered) {
        registration.started_at = store->register_worker(registration);
        registered = true;
      } else {
        // No claim may be in flight while we list what we hold: the store unlocks the rest.
        std::unique_lock gate(exchange_gate);
        std::vector<JobId> held;
        {
          std::lock_guard lock(mutex);
          held.reserve(in_flight.size());
          for (const auto& [job_id, task] : in_flight)
            held.push_back(job_id);
        }
        store->heartbeat(registration, held);
      }
    } catch (...) {
      in_touch_since.reset();  // cut off from the store: others' silence proves nothing now
      throw;
    }
    // A gap longer than rescue_after (this process was frozen) also means we were out of touch.
    if (!in_touch_since || now - last_beat > options.rescue_after) {
      in_touch_since = store->clock().now();
    }
    last_beat = now;
    next_beat = now + options.heartbeat_interval;
  }

  // Whether this worker may declare others lost: only after it has itself been in touch with
  // the store for rescue_after. After an outage every live worker's heartbeat is stale; each gets
  // that long (heartbeats are retried at least every heartbeat_interval) to beat again before
  // anyone is taken for lost.
  bool may_rescue_others() const {
    return in_touch_since && store->clock().now() - *in_touch_since >= options.rescue_after;
  }

  // Unlocks the jobs of lost workers, charging each an attempt, with the lost worker's lease so
  // that a worker that was only slow keeps nothing it no longer owns.
  void rescue_lost_jobs() {
    constexpr std::size_t kBatch = 500;
    constexpr int kMaxRounds = 20;  // the rest waits for the next heartbeat
    // Jobs this very id locked before it registered again are from its own earlier life: lost
    // for sure, rescued at once. Other workers' jobs wait until we are trusted (see above).
    const bool others = may_rescue_others();
    for (int round = 0; round < kMaxRounds; ++round) {
      std::vector<LostJob> lost = store->find_lost_jobs(options.rescue_after, kBatch);
      const std::size_t found = lost.size();
      if (!others) {
        std::erase_if(lost,
                      [&](const LostJob& l) { return !(l.worker_restarted && l.worker_id == id); });
      }
      if (lost.empty()) break;
      const auto now = store->clock().now();
      std::map<std::string, std::vector<Outcome>> by_worker;
      std::map<std::string, const LostJob*> example;
      for (const LostJob& l : lost) {
        const std::string why =
            l.worker_restarted
                ? fmt::format("worker '{}' was lost while running this job: it restarted",
                              l.worker_id)
                : fmt::format(
                      "worker '{}' was lost while running this job: no heartbeat for {:.1f} s "
                      "(rescue_after {:.1f} s)",
                      l.worker_id, seconds_of(now - l.last_heartbeat),
                      seconds_of(options.rescue_after));
        if (l.job.invalid) [[unlikely]] {
          by_worker[l.worker_id].push_back(invalid_outcome(l.job));
          log(LogLevel::error,
              fmt::format("worker {}: job {} of lost worker '{}' dead-lettered, {}", id, l.job.id,
                          l.worker_id, by_worker[l.worker_id].back().error));
        } else {
          by_worker[l.worker_id].push_back(failure(l.job, clean_message(why)));
        }
        example.emplace(l.worker_id, &l);
      }
      for (const auto& [worker, outcomes] : by_worker) {
        const std::vector<JobId> gone = store->settle(worker, outcomes);
        const std::size_t rescued = outcomes.size() - gone.size();
        stats.rescued += rescued;
        for (const Outcome& o : outcomes) {
          if (o.kind == Outcome::Kind::retry &&
              std::find(gone.begin(), gone.end(), o.id) == gone.end()) {
            std::lock_guard lock(mutex);
            next_due = std::min(next_due, now + o.retry_delay);
          }
        }
        if (rescued == 0) continue;
        const LostJob& l = *example.at(worker);
        log(LogLevel::warning,
            l.worker_restarted
                ? fmt::format("worker {}: worker '{}' restarted while it held {} job(s); they "
                              "were unlocked and charged an attempt",
                              id, worker, rescued)
                : fmt::format("worker {}: worker '{}' is lost (no heartbeat for {:.1f} s); {} "
                              "job(s) it held were unlocked and charged an attempt",
                              id, worker, seconds_of(now - l.last_heartbeat), rescued));
      }
      if (found < kBatch || !others) break;
    }
    if (others) store->forget_lost_workers(options.rescue_after);
  }

  // Clean exit: unlocks (uncharged) whatever this worker still holds and deletes its row.
  void unregister() {
    if (!registered) return;
    registered = false;
    try {
      store->remove_worker(id);
    } catch (const std::exception& e) {
      log(LogLevel::error,
          fmt::format("worker {}: could not remove itself from the workers table ({}); other "
                      "workers will treat it as lost after {:.0f} s",
                      id, e.what(), seconds_of(options.rescue_after)));
    }
  }

  // --- per-run timeouts ---------------------------------------------------------------------

  // Fires the stop token of runs past their timeout and fails runs still going timeout_grace
  // later (their threads are abandoned until they return). Returns when to look again.
  SteadyTime check_timeouts() {
    const auto now = std::chrono::steady_clock::now();
    SteadyTime next = SteadyTime::max();
    std::vector<std::shared_ptr<Task>> to_stop;
    std::vector<std::string> abandoned;
    {
      std::lock_guard lock(mutex);
      timers_changed = false;
      for (auto& [job_id, task] : in_flight) {
        if (!task->running || !task->timeout || task->released_early) continue;
        if (!task->timed_out.load()) {
          if (now < task->deadline) {
            next = std::min(next, task->deadline);
            continue;
          }
          task->timed_out = true;
          to_stop.push_back(task);
        }
        const auto give_up = task->deadline + options.timeout_grace;
        if (now < give_up) {
          next = std::min(next, give_up);
          continue;
        }
        task->released_early = true;
        task->abandoned = true;
        ++stuck;
        ++stats.timed_out;
        abandoned.push_back(fmt::format("{} ({})", task->job.id, task->job.name));
        finished.push_back(
            {task, failure(task->job,
                           fmt::format("timed out after {} ms and still running {} ms "
                                       "after its stop token fired",
                                       task->timeout->count(), options.timeout_grace.count()))});
      }
    }
    for (auto& task : to_stop)
      task->stop.request_stop();  // outside the lock: stop callbacks run here
    if (!abandoned.empty()) {
      log(LogLevel::warning,
          fmt::format("worker {}: {} job(s) ignored their timeout's stop token for {} ms and were "
                      "failed; their threads keep a slot each until they return: {}",
                      id, abandoned.size(), options.timeout_grace.count(),
                      fmt::join(abandoned, ", ")));
    }
    return next;
  }

  std::chrono::milliseconds idle_wait() {
    auto wait = options.poll_interval;
    const auto now = store->clock().now();
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

  void run(std::stop_token stop) {
    start_executors();
    start_lanes();
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
      SteadyTime until = check_timeouts();
      try {
        keep_alive();
        slots_full = io_settle_and_claim();
        store_retry = options.store_retry_min;
      } catch (const std::exception& e) {
        log(LogLevel::error, fmt::format("worker {}: storage error, retrying in {} ms: {}", id,
                                         store_retry.count(), e.what()));
        // Retry at least every heartbeat_interval, so that after an outage this worker beats
        // again before others may take it for lost.
        until = std::min(
            until, std::chrono::steady_clock::now() + std::min<std::chrono::milliseconds>(
                                                          store_retry, options.heartbeat_interval));
        store_retry = std::min(options.store_retry_max, store_retry * 2);
        std::unique_lock lock(mutex);
        io_cv.wait_until(lock, until, [&] { return stop.stop_requested() || timers_changed; });
        continue;
      }
      until = std::min(until, next_beat);
      if (!slots_full) until = std::min(until, std::chrono::steady_clock::now() + idle_wait());
      std::unique_lock lock(mutex);
      io_cv.wait_until(lock, until, [&] {
        return !finished.empty() || wake || timers_changed || stop.stop_requested();
      });
    }
    shut_down();
    unregister();
  }

  std::size_t run_until_idle() {
    start_executors();
    runs_ended = 0;
    try {
      beat();
      rescue_lost_jobs();
      for (;;) {
        const SteadyTime until = std::min(check_timeouts(), next_beat);
        if (std::chrono::steady_clock::now() >= next_beat) beat();
        settle_and_claim();
        std::unique_lock lock(mutex);
        if (in_flight.empty() && finished.empty()) break;
        io_cv.wait_until(lock, until, [&] { return !finished.empty() || timers_changed; });
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

  // Stops claiming, cancels running jobs, waits up to the drain timeout, releases what is left
  // without charging an attempt, then joins the job threads.
  void shut_down() {
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
    const auto deadline = std::chrono::steady_clock::now() + options.drain_timeout;
    auto store_retry = options.store_retry_min;
    for (;;) {
      try {
        if (registered && std::chrono::steady_clock::now() >= next_beat) beat();
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
      const auto until = registered ? std::min(deadline, next_beat) : deadline;
      io_cv.wait_until(lock, until, [&] { return !finished.empty(); });
      if (finished.empty() && std::chrono::steady_clock::now() >= deadline) break;
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
  }

  std::shared_ptr<Store> store;
  RunFn run_job;
  PolicyFn policy_of;
  WorkerOptions options;
  std::string id;
  WorkerRegistration registration;
  bool registered = false;                  // I/O thread only
  SteadyTime next_beat{};                   // I/O thread only
  SteadyTime last_beat{};                   // I/O thread only: the last successful heartbeat
  std::optional<TimePoint> in_touch_since;  // I/O thread only: store clock; see beat()

  std::mutex mutex;
  std::condition_variable io_cv;            // wakes the I/O thread: finished jobs, enqueues, stop
  std::condition_variable exec_cv;          // wakes executors: ready jobs, quit
  std::deque<std::shared_ptr<Task>> ready;  // claimed, not yet started
  std::map<JobId, std::shared_ptr<Task>> in_flight;  // claimed, not yet settled
  std::vector<Finished> finished;                    // ran, outcome not yet settled
  bool wake = false;
  bool timers_changed = false;  // a run with a timeout started: the I/O thread recomputes its wait
  std::size_t stuck = 0;        // threads still running a job failed by its timeout
  bool executors_quit = false;
  std::vector<std::jthread> executors;
  std::atomic<bool> shutting_down{false};
  TimePoint next_due = TimePoint::max();  // earliest retry this worker scheduled
  std::atomic<std::size_t> runs_ended{0};
  std::size_t claiming = 0;         // slots reserved by settle_and_claim calls in flight
  std::size_t last_batch = 0;       // outcomes in the last non-empty settle batch
  std::shared_mutex exchange_gate;  // settle_and_claim shares it; a heartbeat holds it alone
  std::condition_variable lane_cv;  // wakes lanes: finished jobs while the I/O thread is busy
  std::vector<std::jthread> lanes;  // store_lanes - 1 extra exchangers (run() only)
  bool lanes_quit = false;
  bool lanes_ok = true;        // false after a lane's storage error until the I/O thread succeeds
  bool io_exchanging = false;  // the I/O thread is in a settle_and_claim round trip

  struct AtomicStats {
    std::atomic<std::uint64_t> started{0}, succeeded{0}, retried{0}, dead_lettered{0}, released{0},
        lock_lost{0}, timed_out{0}, rescued{0};
  } stats;
};

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
                     s.timed_out.load(),     s.rescued.load()};
}

}  // namespace errand
