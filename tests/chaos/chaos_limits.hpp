// The limits scenarios (chaos_limits.cpp): a queue's global limit, per-key limit or rate limit
// holds while workers are killed with kill -9 and restarted.
#pragma once

#include "chaos_support.hpp"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>
#include <string_view>

namespace chaos {

// The limits scenarios' job: records its run in the application's table (ChaosState::runs: its
// id, attempt, process, worker, key and claim time, and its start), sleeps job_time + n % 41 ms,
// records its end. Registered by every worker child; enqueued into the scenario's queue.
struct LimitJob {
  static constexpr std::string_view name = "LimitJob";
  // Only kills fail it (each charges an attempt): never dead-lettered for that.
  static constexpr int max_retries = 1'000'000;
  static errand::Duration backoff(std::int32_t error_count) { return quick_backoff(error_count); }

  std::int64_t n = 0;

  void run(ChaosState& state, errand::RunContext& context) const;
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(LimitJob, n)

// A worker's --queue NAME:SLOTS (WorkerOptions::queues).
errand::QueueConcurrency parse_queue_slots(const std::string& text);

struct LimitsArgs {
  std::string kind = "global";  // global, key or rate
  int limit = 0;                // the queue's limit; 0: 5 (global), 2 (key), 20 (rate)
  // The limit the checks hold the runs to; 0: `limit`. Set below `limit` to see the checks fail.
  int check_limit = 0;
  int keys = 4;           // key: partition keys, jobs spread evenly
  int period_ms = 500;    // rate: its period
  int slots = 4;          // each worker process's slots for the queue
  int kill_min_ms = 100;  // a random worker is SIGKILLed every kill_min..kill_max ms
  int kill_max_ms = 300;
};

// Adds the `limits` subcommand's own options (the common ones are added by the caller).
void add_limits_options(CLI::App* app, LimitsArgs& args);

int scenario_limits(const Common& common, const LimitsArgs& args);

}  // namespace chaos
