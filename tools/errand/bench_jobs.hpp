// The job types `errand bench` enqueues and its workers run: NoopJob (the throughput phases) and
// LatencyJob (the latency phases), which records in BenchState when it started and, in a
// bench-worker process, reports that on a pipe.
#pragma once

#include <fmt/format.h>
#include <errand/errand.hpp>
#include <nlohmann/json.hpp>

#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>

namespace errand::cli {

using SteadyClock = std::chrono::steady_clock;

struct BenchState {
  // Latency phase: the sequence number of the last job that started, and when.
  std::mutex mutex;
  std::condition_variable started;
  std::int64_t last_seq = -1;
  SteadyClock::time_point started_at{};
  // In a bench-worker process: where to report "start SEQ STEADY_NS" lines (-1: nowhere).
  // steady_clock is CLOCK_MONOTONIC, one clock for every process of the machine.
  int report_fd = -1;
  // How long each NoopJob sleeps (errand bench --job-sleep-ms): jobs that wait on something.
  std::chrono::milliseconds job_sleep{0};
};

struct NoopJob {
  static constexpr std::string_view name = "errand.bench.noop";
  std::int64_t n = 0;
  void run(BenchState& state) {
    if (state.job_sleep.count() > 0) std::this_thread::sleep_for(state.job_sleep);
  }
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(NoopJob, n)

struct LatencyJob {
  static constexpr std::string_view name = "errand.bench.latency";
  std::int64_t seq = 0;
  void run(BenchState& state) {
    const auto now = SteadyClock::now();
    if (state.report_fd >= 0) {
      const std::string line = fmt::format(
          "start {} {}\n", seq,
          std::chrono::duration_cast<std::chrono::nanoseconds>(now.time_since_epoch()).count());
      // One short write to a pipe is atomic.
      [[maybe_unused]] const ssize_t n = ::write(state.report_fd, line.data(), line.size());
    }
    {
      std::lock_guard lock(state.mutex);
      state.last_seq = seq;
      state.started_at = now;
    }
    state.started.notify_all();
  }
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(LatencyJob, seq)

inline Registry<BenchState> make_registry() {
  Registry<BenchState> registry;
  registry.add<NoopJob>().add<LatencyJob>();
  return registry;
}

}  // namespace errand::cli
