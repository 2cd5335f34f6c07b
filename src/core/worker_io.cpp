// WorkerEngine's hot path: settle-and-claim rounds on the I/O thread and on the extra store
// lanes, and the booking of what they settled and claimed.
#include "core/worker_engine.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <iterator>

namespace errand {

std::vector<WorkerEngine::Impl::Finished> WorkerEngine::Impl::take_finished() {
  std::vector<Finished> batch;
  std::lock_guard lock(mutex);
  batch.swap(finished);
  return batch;
}

void WorkerEngine::Impl::requeue_unsettled(std::vector<Finished>& batch) {
  std::lock_guard lock(mutex);
  for (Finished& f : batch)
    f.settle_failed_before = true;
  finished.insert(finished.begin(), std::make_move_iterator(batch.begin()),
                  std::make_move_iterator(batch.end()));
}

std::vector<Outcome> WorkerEngine::Impl::outcomes_of(const std::vector<Finished>& batch) {
  std::vector<Outcome> outcomes;
  outcomes.reserve(batch.size());
  for (const Finished& f : batch)
    outcomes.push_back(f.outcome);
  return outcomes;
}

void WorkerEngine::Impl::settle_finished() {
  std::vector<Finished> batch = take_finished();
  if (batch.empty()) return;
  Store::Exchange exchange;
  try {
    exchange = store->settle_and_claim(id, outcomes_of(batch), 0, Duration{0});
  } catch (...) {
    requeue_unsettled(batch);
    throw;
  }
  record_settled(batch, exchange.lost, exchange.cancelled);
}

bool WorkerEngine::Impl::settle_and_claim() {
  std::shared_lock gate(exchange_gate);  // a heartbeat waits: its held list must be complete
  std::vector<Finished> batch;
  ClaimRequest request;
  std::vector<std::size_t> reserved(pools.size(), 0);
  std::size_t wanted = 0;
  {
    std::lock_guard lock(mutex);
    wake = false;
    batch.swap(finished);
    std::vector<std::size_t> settling(pools.size(), 0);
    for (const Finished& f : batch)
      ++settling[f.task->pool];
    for (std::size_t p = 0; p < pools.size(); ++p) {
      Pool& pool = pools[p];
      // Prefetch no more than finished in the last rounds: none while every run is slow.
      const std::size_t finishing = std::max(settling[p], pool.last_batch);
      if (settling[p] > 0) pool.last_batch = settling[p];
      // The batch's tasks are still in in_flight: their slots free up with this call.
      const std::size_t held = pool.held - settling[p] + pool.stuck + pool.claiming;
      const std::size_t free = pool.concurrency - std::min(pool.concurrency, held);
      const std::size_t beyond = held > pool.concurrency ? held - pool.concurrency : 0;
      const std::size_t extra = std::min(options.prefetch, finishing);
      const std::size_t prefetch = extra - std::min(extra, beyond);
      reserved[p] = free + prefetch;
      pool.claiming += reserved[p];
      wanted += reserved[p];
      if (pool.queue.empty()) {
        request.max = free;
        request.prefetch = prefetch;
        request.after_queue = after_queue;
      } else if (reserved[p] > 0) {
        request.queues.push_back({pool.queue, free, prefetch});
      }
    }
  }
  if (batch.empty() && wanted == 0) return true;
  Store::Exchange exchange;
  try {
    exchange = store->settle_and_claim(id, outcomes_of(batch), request, options.lock_timeout);
  } catch (...) {
    {
      std::lock_guard lock(mutex);
      for (std::size_t p = 0; p < pools.size(); ++p)
        pools[p].claiming -= reserved[p];
    }
    requeue_unsettled(batch);
    throw;
  }
  record_settled(batch, exchange.lost, exchange.cancelled);
  if (exchange.rate_opens_at) {
    std::lock_guard lock(mutex);
    next_due = std::min(next_due, *exchange.rate_opens_at);
  }
  // Filled: every slot asked for was given (a queue's limits may give fewer: then the worker
  // waits for a settle, a wake-up, the rate window or the poll interval).
  const bool filled = exchange.claimed.size() == wanted;
  accept_claimed(exchange.claimed, reserved);
  return filled;
}

void WorkerEngine::Impl::lane_loop() {
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

void WorkerEngine::Impl::start_lanes() {
  lanes_quit = false;
  lanes_ok = true;
  for (std::size_t i = 1; i < options.store_lanes; ++i)
    lanes.emplace_back([this] { lane_loop(); });
}

void WorkerEngine::Impl::stop_lanes() {
  {
    std::lock_guard lock(mutex);
    lanes_quit = true;
  }
  lane_cv.notify_all();
  lanes.clear();  // jthread joins
}

bool WorkerEngine::Impl::io_settle_and_claim() {
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

void WorkerEngine::Impl::record_settled(const std::vector<Finished>& batch,
                                        const std::vector<JobId>& lost,
                                        const std::vector<JobId>& cancelled) {
  {
    std::lock_guard lock(mutex);
    for (const Finished& f : batch)
      forget_task(f.task->job.id);
  }
  TimePoint due = TimePoint::max();
  const auto now = clock.now();
  detail::ActivityTally counted;  // added to `activity` once, after the loop
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
    detail::JobSeries& series = *f.task->series;
    if (f.measured && f.outcome.kind != Outcome::Kind::released) {
      series.observe(JobHistogram::run_duration, f.run_time);
      series.observe(JobHistogram::queue_latency, f.waited);
      counted.started(now, job.queue, f.waited);
    }
    if (!cancelled.empty() &&
        std::find(cancelled.begin(), cancelled.end(), job.id) != cancelled.end()) {
      ++stats.cancelled;
      series.add(JobCounter::cancelled);
      emit(WorkerEvent::Kind::cancelled, job, f.outcome.error);
      continue;
    }
    switch (f.outcome.kind) {
      case Outcome::Kind::completed:
        ++stats.succeeded;
        series.add(JobCounter::completed);
        counted.completed(now, job.queue);
        emit(WorkerEvent::Kind::succeeded, job);
        break;
      case Outcome::Kind::retry:
        ++stats.retried;
        series.add(JobCounter::failed);
        series.add(JobCounter::retried);
        counted.failed(now, job.queue);
        due = std::min(due, now + f.outcome.retry_delay);
        emit(WorkerEvent::Kind::retry_scheduled, job, f.outcome.error, f.outcome.retry_delay);
        break;
      case Outcome::Kind::dead_letter:
        ++stats.dead_lettered;
        if (f.ran) {
          series.add(JobCounter::failed);
          counted.failed(now, job.queue);
        }
        series.add(JobCounter::dead_lettered);
        emit(WorkerEvent::Kind::dead_lettered, job, f.outcome.error);
        break;
      case Outcome::Kind::released:
        ++stats.released;
        emit(WorkerEvent::Kind::released, job);
        break;
      case Outcome::Kind::snoozed:
        ++stats.snoozed;
        series.add(JobCounter::snoozed);
        due = std::min(due, now + f.outcome.retry_delay);
        emit(WorkerEvent::Kind::snoozed, job, {}, f.outcome.retry_delay);
        break;
    }
  }
  add_activity(counted);
  if (due != TimePoint::max()) {
    std::lock_guard lock(mutex);
    next_due = std::min(next_due, due);
  }
}

std::size_t WorkerEngine::Impl::pool_of(const ClaimedJob& job) const {
  for (std::size_t p = 0; p < pools.size(); ++p) {
    if (pools[p].queue.empty() || pools[p].queue == job.queue) return p;
  }
  return 0;  // a store gave a job of a queue not asked for: the first pool runs it
}

void WorkerEngine::Impl::forget_task(JobId job_id) {
  const auto found = in_flight.find(job_id);
  if (found == in_flight.end()) return;
  --pools[found->second->pool].held;
  in_flight.erase(found);
}

void WorkerEngine::Impl::accept_claimed(std::vector<ClaimedJob>& jobs,
                                        const std::vector<std::size_t>& reserved) {
  std::size_t queued = 0;
  std::vector<std::string> set_aside;  // log lines, written outside the lock
  // Each job's series, found before the lock (claims come mostly of one queue and type).
  std::vector<detail::JobSeries*> series(jobs.size());
  for (std::size_t i = 0; i < jobs.size(); ++i) {
    const bool same =
        i > 0 && jobs[i].queue == jobs[i - 1].queue && jobs[i].name == jobs[i - 1].name;
    series[i] = same ? series[i - 1] : &metrics.series(jobs[i].queue, jobs[i].name);
  }
  {
    std::lock_guard lock(mutex);
    for (std::size_t p = 0; p < pools.size(); ++p)
      pools[p].claiming -= reserved[p];
    for (std::size_t i = 0; i < jobs.size(); ++i) {
      auto task = std::make_shared<Task>();
      task->job = std::move(jobs[i]);
      task->series = series[i];
      task->pool = pool_of(task->job);
      if (pools[task->pool].queue.empty()) after_queue = task->job.queue;
      if (!in_flight.emplace(task->job.id, task).second) [[unlikely]] {
        continue;  // a store claimed a job this worker holds: it is running already
      }
      ++pools[task->pool].held;
      if (task->job.invalid) [[unlikely]] {
        set_aside.push_back(set_aside_invalid(std::move(task)));
        continue;
      }
      if (task->job.cancel_requested) [[unlikely]] {
        // Cancelled while locked and then unlocked (its worker lost, or shut down): never run.
        // Released, it ends cancelled (the store sees its cancel was requested).
        task->finished = true;
        Outcome released{
            .id = task->job.id, .locked_at = task->job.locked_at, .kind = Outcome::Kind::released};
        finished.push_back({std::move(task), std::move(released), /*ran=*/false});
        io_cv.notify_one();
        continue;
      }
      task->output_cap = options.max_output_bytes;
      task->timeout = policy(task->job.name).timeout;
      if (!task->timeout) task->timeout = options.job_timeout;
      if (*task->timeout <= std::chrono::milliseconds{0}) task->timeout.reset();  // no limit
      ready.push_back(std::move(task));
      ++queued;
    }
  }
  for (const std::string& line : set_aside)
    log(LogLevel::error, line);
  if (queued >= threads) {
    exec_cv.notify_all();
  } else {
    for (std::size_t i = 0; i < queued; ++i)
      exec_cv.notify_one();
  }
}

Outcome WorkerEngine::Impl::invalid_outcome(const ClaimedJob& job) const {
  return Outcome{.id = job.id,
                 .locked_at = job.locked_at,
                 .kind = Outcome::Kind::dead_letter,
                 .error = clean_message("not run: a value stored in its row is invalid: " +
                                        job.invalid.value_or(""))};
}

std::string WorkerEngine::Impl::set_aside_invalid(std::shared_ptr<Task> task) {
  Outcome outcome = invalid_outcome(task->job);
  std::string line =
      fmt::format("worker {}: job {} dead-lettered, {}", id, task->job.id, outcome.error);
  task->finished = true;
  finished.push_back({std::move(task), std::move(outcome), /*ran=*/false});
  io_cv.notify_one();
  return line;
}

}  // namespace errand
