// Live progress of the demo, fed by the worker's events.
#pragma once

#include "console.hpp"

#include <errand/options.hpp>
#include <errand/store.hpp>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <mutex>
#include <set>
#include <stop_token>
#include <string>
#include <string_view>
#include <vector>

namespace errand::cli::demo {

struct FinishedJob {
  JobId id;
  std::string name;
  std::string error;
};

// What the worker did, as counted from its events.
struct Totals {
  std::size_t enqueued = 0;
  std::size_t unfinished = 0;  // enqueued, neither succeeded nor dead-lettered
  std::uint64_t runs = 0;
  std::uint64_t succeeded = 0;
  std::uint64_t retries = 0;
  std::uint64_t lock_lost = 0;
  std::vector<FinishedJob> dead;
  std::vector<FinishedJob> released;
};

// Turns worker events into event lines and the status line, and tells when every job the demo
// enqueued has succeeded or been dead-lettered. Thread-safe.
class Progress {
 public:
  Progress(Console& console, const std::vector<JobId>& ids);

  // WorkerOptions::on_event.
  void on_event(const WorkerEvent& event);

  // Keeps the status line fresh until every job the demo enqueued has succeeded or been
  // dead-lettered (returns true), or until `stop` is requested or abort() called (false).
  bool wait(std::stop_token stop);
  void abort();

  Totals totals() const;

 private:
  std::string label(std::string_view text, Console::Color color) const;
  std::string run_time(JobId id, std::chrono::steady_clock::time_point now) const;
  void finished(JobId id);
  std::string status_locked() const;

  Console& console_;
  mutable std::mutex mu_;
  std::condition_variable_any cv_;
  std::set<JobId> waiting_;   // enqueued by the demo, not yet succeeded or dead-lettered
  std::set<JobId> retrying_;  // waiting out a backoff
  std::map<JobId, std::chrono::steady_clock::time_point> started_at_;  // running now
  Totals totals_;
  bool aborted_ = false;
};

}  // namespace errand::cli::demo
