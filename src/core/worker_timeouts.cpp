// WorkerEngine per-run timeouts, on the I/O thread: stop tokens fired at the deadline, runs
// failed and their threads abandoned timeout_grace later.
#include "core/worker_engine.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>

namespace errand {

SteadyTime WorkerEngine::Impl::check_timeouts() {
  const auto now = clock.steady_now();
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
      ++pools[task->pool].stuck;
      ++stats.timed_out;
      abandoned.push_back(fmt::format("{} ({})", task->job.id, task->job.name));
      finished.push_back(
          {task,
           failure(task->job, fmt::format("timed out after {} ms and still running {} ms "
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

}  // namespace errand
