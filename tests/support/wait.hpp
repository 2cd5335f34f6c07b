// Waiting for things that happen on other threads or processes: always with a deadline, so a
// broken implementation fails the test instead of hanging it. Nothing here asserts durations.
#pragma once

#include <errand/options.hpp>
#include <errand/store.hpp>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <map>
#include <mutex>
#include <stop_token>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace errand_test {

// The deadline for anything that should happen "soon"; generous, since CI machines and
// sanitizers are slow. A correct implementation never comes close to it.
inline constexpr std::chrono::seconds kDeadline{30};

// Polls `condition` until it is true (returns true) or `deadline` passes (returns false).
template <class Condition>
bool eventually(Condition condition, std::chrono::milliseconds deadline = kDeadline) {
  const auto end = std::chrono::steady_clock::now() + deadline;
  for (;;) {
    if (condition()) return true;
    if (std::chrono::steady_clock::now() >= end) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds{2});
  }
}

// A one-shot gate jobs can block on until the test opens it.
class Gate {
 public:
  void open() {
    {
      std::lock_guard lock(mutex_);
      open_ = true;
    }
    cv_.notify_all();
    cv_any_.notify_all();
  }
  bool is_open() const {
    std::lock_guard lock(mutex_);
    return open_;
  }
  // True once open; false when the deadline passed first.
  bool wait(std::chrono::milliseconds deadline = kDeadline) {
    std::unique_lock lock(mutex_);
    return cv_.wait_for(lock, deadline, [&] { return open_; });
  }
  // True once open, false when `token` fires or the deadline passes first.
  bool wait(std::stop_token token, std::chrono::milliseconds deadline = kDeadline) {
    std::unique_lock lock(mutex_);
    std::condition_variable_any cv;
    return cv_any_.wait_for(lock, token, deadline, [&] { return open_; });
  }

 private:
  mutable std::mutex mutex_;
  std::condition_variable cv_;
  std::condition_variable_any cv_any_;
  bool open_ = false;
};

// Collects WorkerOptions::on_event callbacks.
class EventLog {
 public:
  struct Entry {
    errand::WorkerEvent::Kind kind;
    errand::JobId id;
    std::string name;
    std::int32_t error_count;  // of the claimed job (before this attempt)
    std::string error;
    errand::Duration retry_delay;
  };

  errand::EventFn fn() {
    return [this](const errand::WorkerEvent& event) {
      {
        std::lock_guard lock(mutex_);
        entries_.push_back(Entry{event.kind, event.job.id, event.job.name, event.job.error_count,
                                 std::string(event.error), event.retry_delay});
      }
      cv_.notify_all();
    };
  }
  std::size_t count(errand::WorkerEvent::Kind kind) const {
    std::lock_guard lock(mutex_);
    std::size_t n = 0;
    for (const auto& e : entries_)
      n += e.kind == kind ? 1 : 0;
    return n;
  }
  std::vector<Entry> entries() const {
    std::lock_guard lock(mutex_);
    return entries_;
  }
  // True once at least `n` events of `kind` were seen.
  bool wait_for(errand::WorkerEvent::Kind kind, std::size_t n,
                std::chrono::milliseconds deadline = kDeadline) {
    std::unique_lock lock(mutex_);
    return cv_.wait_for(lock, deadline, [&] {
      std::size_t seen = 0;
      for (const auto& e : entries_)
        seen += e.kind == kind ? 1 : 0;
      return seen >= n;
    });
  }

 private:
  mutable std::mutex mutex_;
  std::condition_variable cv_;
  std::vector<Entry> entries_;
};

// Collects WorkerOptions::log lines.
class LogCapture {
 public:
  errand::LogFn fn() {
    return [this](errand::LogLevel level, std::string_view message) {
      if (std::getenv("ERRAND_TEST_ECHO_LOGS"))
        std::fprintf(stderr, "log: %.*s\n", static_cast<int>(message.size()), message.data());
      {
        std::lock_guard lock(mutex_);
        lines_.emplace_back(level, std::string(message));
      }
      cv_.notify_all();
    };
  }
  std::vector<std::pair<errand::LogLevel, std::string>> lines() const {
    std::lock_guard lock(mutex_);
    return lines_;
  }
  // Lines at warning level or above.
  std::size_t problems() const {
    std::lock_guard lock(mutex_);
    std::size_t n = 0;
    for (const auto& [level, text] : lines_)
      n += level >= errand::LogLevel::warning ? 1 : 0;
    return n;
  }
  bool wait_for_problems(std::size_t n, std::chrono::milliseconds deadline = kDeadline) {
    std::unique_lock lock(mutex_);
    return cv_.wait_for(lock, deadline, [&] {
      std::size_t seen = 0;
      for (const auto& [level, text] : lines_)
        seen += level >= errand::LogLevel::warning ? 1 : 0;
      return seen >= n;
    });
  }
  std::string dump() const {
    std::lock_guard lock(mutex_);
    std::string out;
    for (const auto& [level, text] : lines_)
      out += "  [" + std::to_string(static_cast<int>(level)) + "] " + text + "\n";
    return out;
  }

 private:
  mutable std::mutex mutex_;
  std::condition_variable cv_;
  std::vector<std::pair<errand::LogLevel, std::string>> lines_;
};

// Runs `worker.run(stop)` on a thread; stop() (or the destructor) requests stop and joins.
template <class WorkerT>
class BackgroundWorker {
 public:
  explicit BackgroundWorker(WorkerT& worker)
      : thread_([this, &worker](std::stop_token stop) {
          worker.run(stop);
          finished_ = true;
        }) {}
  ~BackgroundWorker() { stop(); }
  BackgroundWorker(const BackgroundWorker&) = delete;
  BackgroundWorker& operator=(const BackgroundWorker&) = delete;

  void request_stop() { thread_.request_stop(); }
  void stop() {
    thread_.request_stop();
    if (thread_.joinable()) thread_.join();
  }
  // True once run() has returned.
  bool finished() const { return finished_; }

 private:
  std::atomic<bool> finished_{false};
  std::jthread thread_;
};

}  // namespace errand_test
