// WorkerEngine executor threads: each takes a claimed job from `ready`, runs it and queues its
// outcome in `finished` for the I/O thread.
#include "core/worker_engine.hpp"

#include <fmt/format.h>

#include <cxxabi.h>

#include <algorithm>

#include <cstdlib>
#include <exception>
#include <typeinfo>

namespace errand {

std::deque<std::shared_ptr<WorkerEngine::Impl::Task>>::iterator
WorkerEngine::Impl::next_runnable() {
  return std::find_if(ready.begin(), ready.end(), [&](const std::shared_ptr<Task>& task) {
    const Pool& pool = pools[task->pool];
    return pool.executing < pool.concurrency;
  });
}

void WorkerEngine::Impl::executor_loop() {
  std::unique_lock lock(mutex);
  for (;;) {
    exec_cv.wait(lock, [&] { return executors_quit || next_runnable() != ready.end(); });
    const auto next = next_runnable();
    if (next == ready.end()) return;
    std::shared_ptr<Task> task = std::move(*next);
    ready.erase(next);
    Pool& pool = pools[task->pool];
    ++pool.executing;
    task->running = true;
    if (task->timeout) {
      task->deadline = clock.steady_now() + *task->timeout;
      timers_changed = true;
      io_cv.notify_one();
    }
    lock.unlock();
    const Duration waited = clock.now() - task->job.run_at;
    const SteadyTime began = clock.steady_now();
    Outcome outcome = execute(*task);
    const auto run_time = std::chrono::duration_cast<Duration>(clock.steady_now() - began);
    lock.lock();
    task->running = false;
    task->finished = true;
    // A task of this pool may have waited for the slot, while another thread idled: only when
    // the pool was full and other pools have threads (with one pool, every thread was busy).
    if (pool.executing-- >= pool.concurrency && pools.size() > 1 && !ready.empty()) {
      exec_cv.notify_one();
    }
    if (task->abandoned) {
      --pool.stuck;  // its slot is free again
      wake = true;
    }
    if (!task->released_early) {
      finished.push_back({.task = std::move(task),
                          .outcome = std::move(outcome),
                          .measured = true,
                          .waited = waited,
                          .run_time = run_time});
    }
    if (io_exchanging && options.store_lanes > 1) {
      lane_cv.notify_one();
    } else {
      io_cv.notify_one();
    }
  }
}

Outcome WorkerEngine::Impl::execute(Task& task) {
  const ClaimedJob& job = task.job;
  ++stats.started;
  task.series->add(JobCounter::started);
  emit(WorkerEvent::Kind::started, job);
  Outcome outcome{.id = job.id, .locked_at = job.locked_at};
  try {
    RunContext context(job, task.stop.get_token(), &task);
    return finished_run(task, run_job(job, context));
  } catch (const Snooze& snooze) {
    return finished_run(task, snooze);
  } catch (const Discard& discard) {
    return finished_run(task, discard);
  } catch (...) {
    outcome.error = current_exception_message();
  }
  if (task.timed_out.load()) {
    ++stats.timed_out;
    return failure(job, clean_message(fmt::format("timed out after {} ms: {}",
                                                  task.timeout->count(), outcome.error)));
  }
  if (shutting_down.load() && task.stop.stop_requested() && !task.cancelled.load()) {
    // Stopped because we are shutting down: not the job's fault, so no attempt is charged.
    outcome.kind = Outcome::Kind::released;
    return outcome;
  }
  // A cancelled job's failure ends it cancelled (the store sees its cancel was requested).
  return failure(job, std::move(outcome.error));
}

Outcome WorkerEngine::Impl::finished_run(Task& task, const RunReturn& result) {
  const ClaimedJob& job = task.job;
  Outcome outcome{.id = job.id, .locked_at = job.locked_at};
  if (const auto* snooze = std::get_if<Snooze>(&result.value())) {
    if (snooze->delay < Duration{0}) {
      return failure(job, fmt::format("errand::Snooze with a negative delay ({} us); snooze with "
                                      "a delay of 0 or more",
                                      snooze->delay.count()));
    }
    const std::int32_t cap = policy(job.name).max_snoozes.value_or(options.max_snoozes);
    if (job.snoozes >= cap) {
      return failure(job, fmt::format("snoozed {} times, the most max_snoozes allows ({}); this "
                                      "snooze counts as a failed attempt",
                                      job.snoozes, cap));
    }
    outcome.kind = Outcome::Kind::snoozed;
    outcome.retry_delay = snooze->delay;
    return outcome;
  }
  if (const auto* discard = std::get_if<Discard>(&result.value())) {
    Outcome discarded = failure(job, clean_message("discarded: " + discard->reason));
    discarded.kind = Outcome::Kind::dead_letter;
    discarded.retry_delay = Duration{0};
    return discarded;
  }
  outcome.kind = Outcome::Kind::completed;
  outcome.keep = options.retention.completed != Duration{0};
  if (outcome.keep) {
    std::lock_guard lock(task.sink_mutex);
    outcome.output = std::move(task.output);
  }
  return outcome;
}

std::string WorkerEngine::Impl::current_exception_message() {
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

void WorkerEngine::Impl::start_executors() {
  executors_quit = false;
  for (std::size_t i = 0; i < threads; ++i) {
    executors.emplace_back([this] { executor_loop(); });
  }
}

void WorkerEngine::Impl::join_executors() {
  {
    std::lock_guard lock(mutex);
    executors_quit = true;
  }
  exec_cv.notify_all();
  executors.clear();  // jthread joins
}

}  // namespace errand
