// WorkerEngine liveness, on the I/O thread: registration, heartbeats, rescue of lost workers'
// jobs, and unregistering at a clean exit.
#include "core/worker_engine.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <map>

namespace errand {

namespace {

double seconds_of(Duration d) {
  return std::chrono::duration<double>(d).count();
}

}  // namespace

void WorkerEngine::Impl::keep_alive() {
  if (registered && clock.steady_now() < next_beat) return;
  beat();
  rescue_lost_jobs();
  prune_when_due();
}

void WorkerEngine::Impl::beat() {
  const auto now = clock.steady_now();
  try {
    if (!registered) {
      // The queues it serves become known (`errand queues` lists them, and they can be paused
      // before their first job).
      for (const Pool& pool : pools) {
        if (!pool.queue.empty()) store->update_queue(pool.queue, QueueUpdate{}, /*create=*/true);
      }
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
      std::vector<JobProgress> progress = take_progress();
      std::vector<JobId> cancelled;
      try {
        cancelled = store->heartbeat(registration, held, progress);
      } catch (...) {
        restore_progress(progress);
        throw;
      }
      gate.unlock();
      // Cancels requested in any process reach this worker here at the latest.
      for (const JobId job_id : cancelled)
        request_cancel(job_id);
    }
  } catch (...) {
    in_touch_since.reset();  // cut off from the store: others' silence proves nothing now
    throw;
  }
  // A gap longer than rescue_after (this process was frozen) also means we were out of touch.
  if (!in_touch_since || now - last_beat > options.rescue_after) in_touch_since = now;
  last_beat = now;
  next_beat = now + options.heartbeat_interval;
  write_activity();
  publish_totals();
}

bool WorkerEngine::Impl::may_rescue_others() const {
  return in_touch_since && clock.steady_now() - *in_touch_since >= options.rescue_after;
}

void WorkerEngine::Impl::rescue_lost_jobs() {
  constexpr std::size_t kBatch = 500;
  constexpr int kMaxRounds = 20;  // the rest waits for the next heartbeat
  // Jobs this very id locked before it registered again are from its own earlier life: lost
  // for sure, rescued at once. Other workers' jobs wait until we are trusted (see above).
  const bool others = may_rescue_others();
  for (int round = 0; round < kMaxRounds; ++round) {
    std::vector<LostJob> lost = store->find_lost_jobs(options.rescue_after, kBatch);
    const std::size_t found = lost.size();
    // Our own jobs are lost only from an earlier life (a restart under this id): this life's can
    // look lost only when this process froze for rescue_after between its heartbeat and the query.
    std::erase_if(
        lost, [&](const LostJob& l) { return l.worker_id == id ? !l.worker_restarted : !others; });
    if (lost.empty()) break;
    const auto now = clock.now();
    std::map<std::string, std::vector<Outcome>> by_worker;
    std::map<std::string, const LostJob*> example;
    std::map<JobId, const ClaimedJob*> job_of;
    for (const LostJob& l : lost) {
      job_of.emplace(l.job.id, &l.job);
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
        by_worker[l.worker_id].push_back(failure(l.job, clean_message(why), l.worker_id));
      }
      example.emplace(l.worker_id, &l);
    }
    for (const auto& [worker, outcomes] : by_worker) {
      const std::vector<JobId> gone = store->settle(worker, outcomes);
      const std::size_t rescued = outcomes.size() - gone.size();
      detail::ActivityTally rescued_failures;
      stats.rescued += rescued;
      for (const Outcome& o : outcomes) {
        if (std::find(gone.begin(), gone.end(), o.id) != gone.end()) continue;
        const ClaimedJob& job = *job_of.at(o.id);
        detail::JobSeries& series = metrics.series(job.queue, job.name);
        if (o.kind == Outcome::Kind::retry) {
          series.add(JobCounter::failed);
          series.add(JobCounter::retried);
          rescued_failures.failed(now, job.queue);
          std::lock_guard lock(mutex);
          next_due = std::min(next_due, now + o.retry_delay);
        } else if (o.kind == Outcome::Kind::dead_letter) {
          if (!job.invalid) {
            series.add(JobCounter::failed);
            rescued_failures.failed(now, job.queue);
          }
          series.add(JobCounter::dead_lettered);
        }
      }
      add_activity(rescued_failures);
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
  // Forgetting a silent worker's row is harmless even when this worker cannot yet tell lost from
  // cut off (a live worker's next heartbeat writes its row again), so it is done every time:
  // once a lost worker's jobs are rescued, its row goes.
  store->forget_lost_workers(options.rescue_after);
}

void WorkerEngine::Impl::add_activity(detail::ActivityTally& batch) {
  if (batch.empty()) return;
  std::lock_guard lock(activity_mutex);
  activity.restore(batch.take());
}

void WorkerEngine::Impl::write_activity() {
  std::vector<ActivityMinute> minutes;
  {
    std::lock_guard lock(activity_mutex);
    minutes = activity.take();
  }
  if (minutes.empty()) return;
  try {
    store->record_activity(minutes);
  } catch (const StoreError& e) {
    log(LogLevel::warning,
        fmt::format("worker {}: could not record its activity (kept for the next heartbeat): {}",
                    id, e.what()));
    std::lock_guard lock(activity_mutex);
    activity.restore(std::move(minutes));
  } catch (const std::exception& e) {
    // Never a reason to stop beating: the counts that cannot be written are dropped.
    log(LogLevel::error, fmt::format("worker {}: dropped its activity counts: {}", id, e.what()));
  }
}

void WorkerEngine::Impl::publish_totals() {
  try {
    totals.publish(*store);
  } catch (const std::exception& e) {
    log(LogLevel::warning,
        fmt::format("worker {}: could not add its counts to the store's metric totals (kept for "
                    "the next heartbeat): {}",
                    id, e.what()));
  }
}

void WorkerEngine::Impl::unregister() {
  if (!registered) return;
  registered = false;
  try {
    write_activity();  // what ran since the last heartbeat
    publish_totals();
    store->remove_worker(id);
  } catch (const std::exception& e) {
    log(LogLevel::error,
        fmt::format("worker {}: could not remove itself from the workers table ({}); other "
                    "workers will treat it as lost after {:.0f} s",
                    id, e.what(), seconds_of(options.rescue_after)));
  }
}

}  // namespace errand
