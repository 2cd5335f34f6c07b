// WorkerEngine and the lifecycle: failures with their error history, cancels of running jobs,
// progress written with heartbeats, and the pruner of finished jobs.
#include "core/worker_engine.hpp"

#include "core/attempts.hpp"

#include <fmt/format.h>

namespace errand {

void WorkerEngine::Impl::Task::record_output(std::string json) {
  std::lock_guard lock(sink_mutex);
  output = std::move(json);
}

void WorkerEngine::Impl::Task::record_progress(double value, std::string message) {
  std::lock_guard lock(sink_mutex);
  progress = JobProgress{job.id, job.locked_at, value, std::move(message)};
  progress_dirty = true;
}

Outcome WorkerEngine::Impl::failure(const ClaimedJob& job, std::string error,
                                    const std::string& worker) const {
  const std::int32_t errors = job.error_count + 1;
  const JobPolicy type = policy(job.name);
  Outcome outcome{.id = job.id, .locked_at = job.locked_at, .error = std::move(error)};
  outcome.errors = detail::append_attempt(
      job.errors,
      Attempt{.attempt = errors, .at = clock.now(), .worker = worker, .error = outcome.error});
  if (errors > type.max_retries.value_or(options.max_retries)) {
    outcome.kind = Outcome::Kind::dead_letter;
  } else {
    outcome.kind = Outcome::Kind::retry;
    outcome.retry_delay = type.backoff ? type.backoff(errors) : options.backoff(errors);
    if (outcome.retry_delay < Duration{0}) outcome.retry_delay = Duration{0};
  }
  return outcome;
}

void WorkerEngine::Impl::queue_cancel(JobId job_id) {
  std::lock_guard lock(mutex);
  if (job_id == 0) {
    beat_now = true;
  } else {
    queued_cancels.push_back(job_id);
  }
  wake = true;
  io_cv.notify_one();
}

void WorkerEngine::Impl::fire_queued_cancels() {
  std::vector<JobId> ids;
  {
    std::lock_guard lock(mutex);
    ids.swap(queued_cancels);
    // Only held jobs can have a missed cancel: without any, the next heartbeat is soon enough.
    if (beat_now && registered && !in_flight.empty()) next_beat = clock.steady_now();
    beat_now = false;
  }
  for (const JobId job_id : ids)
    request_cancel(job_id);
}

std::shared_ptr<WorkerEngine::Impl::Task> WorkerEngine::Impl::held_task(JobId job_id) {
  std::lock_guard lock(mutex);
  const auto found = in_flight.find(job_id);
  return found == in_flight.end() ? nullptr : found->second;
}

void WorkerEngine::Impl::request_cancel(JobId job_id) {
  const std::shared_ptr<Task> task = held_task(job_id);
  if (!task || task->cancelled.exchange(true)) return;
  log(LogLevel::info, fmt::format("worker {}: job {} ({}) was cancelled; its stop token fires", id,
                                  task->job.id, task->job.name));
  task->stop.request_stop();  // outside the lock: stop callbacks run here
}

std::vector<JobProgress> WorkerEngine::Impl::take_progress() {
  std::vector<std::shared_ptr<Task>> tasks;
  {
    std::lock_guard lock(mutex);
    for (const auto& [job_id, task] : in_flight)
      tasks.push_back(task);
  }
  std::vector<JobProgress> progress;
  for (const auto& task : tasks) {
    std::lock_guard lock(task->sink_mutex);
    if (!task->progress_dirty || !task->progress) continue;
    task->progress_dirty = false;
    progress.push_back(*task->progress);
  }
  return progress;
}

void WorkerEngine::Impl::restore_progress(const std::vector<JobProgress>& progress) {
  for (const JobProgress& p : progress) {
    const std::shared_ptr<Task> task = held_task(p.id);
    if (!task) continue;
    std::lock_guard lock(task->sink_mutex);
    if (task->progress_dirty) continue;  // newer progress replaces it
    task->progress_dirty = true;
  }
}

void WorkerEngine::Impl::prune_when_due() {
  if (options.prune_interval <= std::chrono::milliseconds{0} || options.prune_batch == 0) return;
  const auto now = clock.steady_now();
  if (now < next_prune) return;
  next_prune = now + options.prune_interval;
  constexpr int kMaxRounds = 20;  // the rest waits for the next pruning
  for (int round = 0; round < kMaxRounds; ++round) {
    const PruneResult result = store->prune(options.retention, options.prune_batch);
    stats.pruned += result.deleted;
    if (result.busy ||
        (result.deleted < options.prune_batch && result.ticks_deleted < options.prune_batch))
      break;
  }
}

}  // namespace errand
