// The options of `errand bench` (BenchOptions) and of the hidden `errand bench-worker` it spawns
// (WorkerProcessOptions), as add_bench (bench.cpp) declares and range-checks them.
#pragma once

#include <errand/errand.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace errand::cli {

// Jobs per enqueue_all call in the enqueue-in-batches phase.
inline constexpr std::size_t batch_size = 1000;

struct BenchOptions {
  std::int64_t jobs = 20'000;
  std::int64_t workers = 1;
  std::int64_t concurrency = 16;
  std::int64_t prefetch = static_cast<std::int64_t>(WorkerOptions{}.prefetch);
  std::int64_t store_lanes = static_cast<std::int64_t>(WorkerOptions{}.store_lanes);
  std::int64_t enqueue_single = 2'000;
  std::int64_t latency_samples = 500;
  std::vector<std::string> skip;
  bool json = false;
  bool keep = false;
  // The drain's workers keep completed jobs (Retention::completed of a week) instead of deleting
  // them; --retained N completed jobs are in the store before the drain (bench_retained.hpp).
  bool retain_completed = false;
  std::int64_t retained = 0;
  // The drain's queue ("default") has this global limit (0: none), and each job sleeps this long.
  std::int64_t global_limit = 0;
  std::int64_t job_sleep_ms = 0;
  // Both enqueue phases ask for uniqueness by the whole payload (every job distinct, so every
  // one is inserted): the cost of a unique key against plain enqueue.
  bool unique = false;

  bool skipped(std::string_view phase) const {
    return std::find(skip.begin(), skip.end(), phase) != skip.end();
  }
};

struct WorkerProcessOptions {
  std::int64_t concurrency = 16;
  std::int64_t prefetch = static_cast<std::int64_t>(WorkerOptions{}.prefetch);
  std::int64_t store_lanes = static_cast<std::int64_t>(WorkerOptions{}.store_lanes);
  bool report_starts = false;
  bool report_progress = false;
  bool retain_completed = false;
  std::int64_t job_sleep_ms = 0;
};

// The worker options set by --concurrency, --prefetch and --store-lanes (BenchOptions or
// WorkerProcessOptions).
template <class Opts>
WorkerOptions worker_options_of(const Opts& opts) {
  WorkerOptions options;
  options.concurrency = static_cast<std::size_t>(opts.concurrency);
  options.prefetch = static_cast<std::size_t>(opts.prefetch);
  options.store_lanes = static_cast<std::size_t>(opts.store_lanes);
  if (opts.retain_completed) options.retention.completed = std::chrono::hours{24 * 7};
  return options;
}

}  // namespace errand::cli
