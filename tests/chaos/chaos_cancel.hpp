// The cancel scenario (chaos_cancel.cpp): jobs are cancelled at random while workers are killed.
#pragma once

#include "chaos_support.hpp"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <stop_token>
#include <string_view>

namespace chaos {

// The cancel scenario's job: runs job_time + n % 21 ms (20-40 ms by default), ends early by
// throwing when its stop token fires (a cancel, or the worker's shutdown), and records its start
// and its end in the record file (chaos_cancel.cpp describes the lines). Registered by every
// worker child.
struct CancelJob {
  static constexpr std::string_view name = "CancelJob";
  // A kill -9 charges each job its victim held one attempt; a run charges none otherwise, so no
  // scenario of this driver can exhaust this.
  static constexpr int max_retries = 1'000'000;
  // A rescued job waits rescue_after already: retry soon (50 ms doubling, at most 1 s).
  static errand::Duration backoff(std::int32_t error_count);

  std::int64_t n = 0;

  void run(ChaosState& state, std::stop_token stop) const;
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(CancelJob, n)

struct CancelArgs {
  int kill_min_ms = 100;
  int kill_max_ms = 300;
  int cancel_min_ms = 3;
  int cancel_max_ms = 12;
  int keep_completed_s = 7 * 24 * 3600;  // WorkerOptions::retention.completed
  // Workers under errand's default ids (a new one per process), as kill9: a killed worker's jobs
  // then wait for a worker that has lived rescue_after, which with a kill every 100-300 ms among
  // 3 workers takes anything from seconds to a minute. By default each slot keeps one id, and
  // its restart rescues them at once.
  bool random_worker_ids = false;
};

// Adds the `cancel` subcommand's own options (the common ones are added by the caller).
void add_cancel_options(CLI::App* app, CancelArgs& args);

int scenario_cancel(const Common& common, const CancelArgs& args);

}  // namespace chaos
