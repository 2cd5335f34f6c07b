// WorkerEngine executor threads: each takes a claimed job from `ready`, runs it and queues its
// outcome in `finished` for the I/O thread.
#include "core/worker_engine.hpp"

#include <fmt/format.h>

#include <cxxabi.h>

#include <cstdlib>
#include <exception>
#include <typeinfo>

namespace errand {

void WorkerEngine::Impl::executor_loop() {
  std::unique_lock lock(mutex);
  for (;;) {
    exec_cv.wait(lock, [&] { return !ready.empty() || executors_quit; });
    if (ready.empty()) return;
    std::shared_ptr<Task> task = std::move(ready.front());
    ready.pop_front();
    task->running = true;
    if (task->timeout) {
      task->deadline = clock.steady_now() + *task->timeout;
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

Outcome WorkerEngine::Impl::execute(Task& task) {
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
  for (std::size_t i = 0; i < options.concurrency; ++i) {
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
