// The cron scenario (chaos_cron.cpp): every tick of three schedules fires exactly once while the
// four workers that all fire them are killed with kill -9 and restarted, and (PostgreSQL) the
// server is restarted once.
#pragma once

#include "chaos_restart.hpp"
#include "chaos_support.hpp"

#include <nlohmann/json.hpp>

#include <string>
#include <string_view>
#include <vector>

namespace chaos {

// The schedules' job: runs for the worker's --job-ms. Only kills fail it (each charges an
// attempt): never dead-lettered for that.
struct CronJob {
  static constexpr std::string_view name = "CronJob";
  static constexpr int max_retries = 1'000'000;
  static errand::Duration backoff(std::int32_t error_count) { return quick_backoff(error_count); }

  std::string schedule;

  void run(ChaosState& state, std::stop_token stop) const;
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(CronJob, schedule)

// What a worker child with --schedules fires: `@every 1s`, `*/2 * * * * *` and `* * * * *`, each
// catching up every missed tick (MissedPolicy::all), so that no tick may be missing; `missed`
// ("all", "once" or "skip") changes that, for a run whose checks must fail.
std::vector<errand::Schedule> chaos_schedules(const std::string& missed = "all");

struct CronArgs {
  int duration_s = 65;     // how long the workers fire under chaos
  int kill_min_ms = 500;   // a random worker is SIGKILLed every kill_min..kill_max ms
  int kill_max_ms = 1500;  // and restarted at once
  // PostgreSQL: the server restart at half the duration (restart_server's spec; "" for none).
  std::string restart = "fast:3000";
  PgServer server;
  // The schedules' missed-run policy: anything but "all" lets an outage (the server restart)
  // miss ticks, which the checks must then report.
  std::string missed = "all";
};

void add_cron_options(CLI::App* app, CronArgs& args);

int scenario_cron(Common common, CronArgs args);

}  // namespace chaos
