// The cron scenario (issue 15): "4 processes each running a worker with the same 3 schedules
// (`@every 1s`, `*/2 * * * * *`, and one minute-level), on PostgreSQL and SQLite, for at least
// 60 s while processes are killed with kill -9 and restarted and (PostgreSQL) the server is
// restarted once; afterwards every tick in the window has exactly one job (none missing outside
// outages that the missed-run policy covers, none twice)."
//
//   errand_chaos cron --store sqlite|postgres [--duration-s 65]
//
// Four worker processes run with chaos_schedules() and keep completed jobs. The driver SIGKILLs
// a random worker every 500-1500 ms and restarts it at once; on PostgreSQL it restarts the server
// (stopped for 3 s) at half the duration. Then it stops the workers and reads the store:
// - each schedule's window is (its creation, its last tick handled]: the ticks of its spec in it;
// - every job of a schedule (completed, or still queued when the workers stopped; cancelled and
//   dead ones too) names its tick in its context; each tick in the window has exactly one job,
//   and no job names a tick outside it (MissedPolicy::all fires the ticks an outage or a kill
//   delayed, as catch-ups, so none may be missing);
// - the schedules kept firing to the end: the last tick handled is within 3 s of the stop;
// - no job was dead-lettered.
#include "chaos_cron.hpp"

#include <fmt/format.h>
#include <CLI/CLI.hpp>

#include <map>
#include <set>
#include <thread>

namespace chaos {

namespace {

using namespace std::chrono_literals;

// A tick's jobs, and how many of them were catch-ups.
struct TickJobs {
  std::vector<errand::JobId> ids;
  bool catch_up = false;
};

}  // namespace

void CronJob::run(ChaosState& state, std::stop_token stop) const {
  if (!sleep_unless_stopped(SteadyClock::now() + state.job_time, stop))
    throw std::runtime_error("stopped");  // released uncharged at shutdown
}

std::vector<errand::Schedule> chaos_schedules(const std::string& missed) {
  const errand::MissedTicks all{.policy = missed == "skip"   ? errand::MissedPolicy::skip
                                          : missed == "once" ? errand::MissedPolicy::once
                                                             : errand::MissedPolicy::all,
                                .window = std::chrono::hours{1},
                                .cap = 100'000};
  std::vector<errand::Schedule> schedules;
  for (const auto& [name, spec] :
       {std::pair{"every-second", "@every 1s"}, std::pair{"even-seconds", "*/2 * * * * *"},
        std::pair{"each-minute", "* * * * *"}}) {
    schedules.push_back(
        {.name = name, .spec = spec, .job = errand::scheduled_job(CronJob{name}), .missed = all});
  }
  return schedules;
}

void add_cron_options(CLI::App* app, CronArgs& args) {
  app->add_option("--duration-s", args.duration_s, "how long the workers fire under chaos")
      ->capture_default_str();
  app->add_option("--kill-min-ms", args.kill_min_ms)->capture_default_str();
  app->add_option("--kill-max-ms", args.kill_max_ms)->capture_default_str();
  app->add_option("--restart", args.restart,
                  "postgres: the server restart at half the duration (MODE or MODE:MS; '' none)")
      ->capture_default_str();
  app->add_option("--missed", args.missed,
                  "the schedules' missed-run policy (not all: an outage misses ticks, and the "
                  "checks must fail)")
      ->check(CLI::IsMember({"all", "once", "skip"}))
      ->capture_default_str();
  app->add_option("--pg-ctl", args.server.pg_ctl, "pg_ctl with -D (default: $ERRAND_TEST_PG_CTL)");
  app->add_option("--pg-data", args.server.pg_data,
                  "the server's data directory (default: $ERRAND_TEST_PG_DATA)");
}

int scenario_cron(Common common, CronArgs args) {
  const bool postgres = common.store == "postgres";
  if (postgres && !args.restart.empty()) args.server = server_from_environment(args.server);
  Scenario s("cron", common);
  const auto& c = s.common();
  s.add_worker_args({"--schedules", "--schedules-missed", args.missed, "--keep-completed-s",
                     std::to_string(7 * 24 * 3600)});
  s.name_workers_by_slot();

  WorkerKiller killer(s, args.kill_min_ms, args.kill_max_ms);
  bool restarted = false;
  std::string restart_figure = "no server restart";
  while (s.elapsed() < args.duration_s) {
    check_interrupted();
    killer.tick();
    if (postgres && !args.restart.empty() && !restarted && s.elapsed() >= args.duration_s / 2.0) {
      const auto start = SteadyClock::now();
      const std::string error = restart_server(args.server, args.restart, s.dir() / "pg_ctl.log");
      if (!error.empty()) s.fail(fmt::format("restarting the server: {}", error));
      restart_figure = fmt::format("server restarted ({}) at {:.0f} s, down {:.1f} s", args.restart,
                                   args.duration_s / 2.0, seconds_since(start));
      fmt::print("{}: {}\n", s.label(), restart_figure);
      std::fflush(stdout);
      restarted = true;
    }
    std::this_thread::sleep_for(10ms);
  }
  const errand::TimePoint stopped_at =
      std::chrono::time_point_cast<errand::Duration>(std::chrono::system_clock::now());
  s.check_unexpected_exits();
  s.stop_workers(milliseconds{c.drain_timeout_ms} + 10s);

  // Every job with a tick, by schedule and tick.
  std::map<std::string, std::map<std::int64_t, TickJobs>> jobs;
  std::size_t dead = 0, unreadable = 0;
  retrying([&] {
    jobs.clear();
    unreadable = 0;
    const auto add = [&](errand::JobId id, const std::string& context) {
      const auto tick = errand::parse_tick_context(context);
      if (!tick || !tick->tick) {
        ++unreadable;
        return;
      }
      TickJobs& at = jobs[tick->schedule][tick->tick->time_since_epoch().count()];
      at.ids.push_back(id);
      at.catch_up = at.catch_up || tick->catch_up;
    };
    for (const std::optional<errand::JobState> state :
         {std::optional<errand::JobState>{}, std::optional{errand::JobState::completed},
          std::optional{errand::JobState::cancelled}}) {
      errand::JobFilter filter;
      filter.state = state;
      filter.limit = 10'000'000;
      filter.lock_timeout = s.lock_timeout();
      for (const errand::JobInfo& job : s.store().list_jobs(filter))
        add(job.id, job.context);
    }
    errand::DeadFilter dead_filter;
    dead_filter.limit = 10'000'000;
    const auto dead_jobs = s.store().list_dead(dead_filter);
    dead = dead_jobs.size();
    for (const errand::DeadJob& job : dead_jobs)
      add(job.id, job.context);
    return 0;
  });
  if (dead > 0) s.fail(fmt::format("{} job(s) were dead-lettered", dead));
  if (unreadable > 0) s.fail(fmt::format("{} job(s) name no tick in their context", unreadable));

  const auto schedules = retrying([&] { return s.store().list_schedules(); });
  std::vector<std::string> figures;
  std::size_t all_ticks = 0, all_catch_ups = 0;
  for (const errand::Schedule& schedule : chaos_schedules(args.missed)) {
    const errand::ScheduleInfo* info = nullptr;
    for (const auto& row : schedules)
      if (row.name == schedule.name) info = &row;
    if (!info || !info->last_tick) {
      s.fail(fmt::format("schedule {} never fired", schedule.name));
      continue;
    }
    const errand::CronSpec spec = errand::CronSpec::parse(schedule.spec, schedule.zone);
    std::set<std::int64_t> window;
    for (auto t = spec.next_after(info->created_at); t && *t <= *info->last_tick;
         t = spec.next_after(*t))
      window.insert(t->time_since_epoch().count());
    std::vector<std::int64_t> missing, twice, outside;
    std::size_t catch_ups = 0;
    auto& by_tick = jobs[schedule.name];
    for (const std::int64_t tick : window) {
      const auto it = by_tick.find(tick);
      if (it == by_tick.end()) {
        missing.push_back(tick / 1'000'000);
      } else if (it->second.ids.size() > 1) {
        twice.push_back(tick / 1'000'000);
      }
      if (it != by_tick.end() && it->second.catch_up) ++catch_ups;
    }
    for (const auto& [tick, at] : by_tick)
      if (!window.count(tick)) outside.push_back(tick / 1'000'000);
    const auto label = [&](const char* what, const std::vector<std::int64_t>& ticks) {
      s.fail(fmt::format("schedule {}: {} tick(s) {} (unix seconds): {}", schedule.name,
                         ticks.size(), what, sample(ticks)));
    };
    if (!missing.empty()) label("have no job", missing);
    if (!twice.empty()) label("have more than one job", twice);
    if (!outside.empty()) label("outside its window have a job", outside);
    const bool dense = !spec.fixed_time() || spec.every();
    if (dense && schedule.name != "each-minute" && *info->last_tick < stopped_at - 3s) {
      s.fail(fmt::format("schedule {} stopped firing: its last tick is {:.1f} s before the stop",
                         schedule.name,
                         std::chrono::duration<double>(stopped_at - *info->last_tick).count()));
    }
    if (window.empty()) s.fail(fmt::format("schedule {} has no tick in its window", schedule.name));
    all_ticks += window.size();
    all_catch_ups += catch_ups;
    figures.push_back(fmt::format("{} {} ticks ({} catch-ups, {} missing, {} twice)", schedule.name,
                                  window.size(), catch_ups, missing.size(), twice.size()));
  }
  return s.finish(fmt::format("{} workers, {} kills, {}; {}; {} ticks, {} catch-ups, {} dead",
                              c.workers, killer.kills(), restart_figure, fmt::join(figures, ", "),
                              all_ticks, all_catch_ups, dead));
}

}  // namespace chaos
