// WorkerEngine's recurring jobs, on the I/O thread: fires each schedule of options.schedules when
// its next tick comes (and at least every kScheduleDeclareEvery, which keeps it declared). Which
// ticks fire, and that each fires once across every worker, is the store's (Store::fire_schedule).
#include "core/schedule_firing.hpp"
#include "core/worker_engine.hpp"

#include <errand/error.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <set>

namespace errand {

WorkerOptions detail::with_registered_schedules(
    WorkerOptions options, const std::function<bool(std::string_view)>& known) {
  for (const Schedule& schedule : options.schedules) {
    if (!schedule.job.name.empty() && !known(schedule.job.name)) {
      throw ConfigError(fmt::format(
          "errand worker: schedule '{}' enqueues job type '{}', which the registry does not "
          "have; register it (registry.add<...>()) or remove the schedule",
          schedule.name, schedule.job.name));
    }
  }
  return options;
}

void WorkerEngine::Impl::check_schedules() {
  std::set<std::string, std::less<>> names;
  for (const Schedule& schedule : options.schedules) {
    CronSpec spec = detail::check_schedule(schedule);
    if (!names.insert(schedule.name).second) {
      throw ConfigError(fmt::format("errand worker: schedule '{}' is listed twice", schedule.name));
    }
    schedules.push_back({.schedule = &schedule, .spec = std::move(spec)});
  }
}

SteadyTime WorkerEngine::Impl::fire_due_schedules() {
  // A wait shorter than this means the store's clock is a hair behind ours at the tick: look
  // again a moment later rather than at once.
  constexpr Duration kMinWait = std::chrono::milliseconds{1};
  SteadyTime earliest = SteadyTime::max();
  for (ScheduleEntry& entry : schedules) {
    if (clock.steady_now() >= entry.due) {
      const Schedule& schedule = *entry.schedule;
      ScheduleFiring firing;
      try {
        firing = store->fire_schedule(schedule, entry.spec);
        entry.retry = std::chrono::milliseconds{0};
      } catch (const std::exception& e) {
        entry.retry = entry.retry.count() == 0 ? options.store_retry_min
                                               : std::min(options.store_retry_max, entry.retry * 2);
        log(LogLevel::error,
            fmt::format("worker {}: schedule '{}' could not fire, trying again in {} ms: {}", id,
                        schedule.name, entry.retry.count(), e.what()));
        entry.due = clock.steady_now() + entry.retry;
        earliest = std::min(earliest, entry.due);
        continue;
      }
      std::uint64_t fired = 0, skipped = firing.skipped;
      for (const FiredTick& tick : firing.fired) {
        const std::string at = entry.spec.format_local(tick.tick);
        if (tick.job_id == 0) {
          ++stats.ticks_skipped;
          ++skipped;
          log(LogLevel::info,
              fmt::format("worker {}: schedule '{}' skipped its tick {}: the previous tick's job "
                          "is still waiting or running (Overlap::skip_if_running)",
                          id, schedule.name, at));
          continue;
        }
        ++stats.ticks_fired;
        ++fired;
        if (tick.catch_up) {
          log(LogLevel::info, fmt::format("worker {}: schedule '{}' fired missed tick {}: job {}",
                                          id, schedule.name, at, tick.job_id));
        } else {
          log(LogLevel::debug, fmt::format("worker {}: schedule '{}' fired tick {}: job {}", id,
                                           schedule.name, at, tick.job_id));
        }
      }
      if (fired + skipped > 0) metrics.add_ticks(schedule.name, fired, skipped);
      if (fired > 0)
        metrics.add(JobCounter::enqueued, schedule.job.queue, schedule.job.name, fired);
      if (firing.skipped > 0) {
        stats.ticks_skipped += firing.skipped;
        log(LogLevel::warning,
            fmt::format("worker {}: schedule '{}' missed {} tick(s) that its missed-run policy "
                        "({}) does not fire",
                        id, schedule.name, firing.skipped, to_string(schedule.missed.policy)));
      }
      Duration wait = kScheduleDeclareEvery;
      if (firing.paused) {
        wait = std::min<Duration>(wait, options.poll_interval);  // notice a resume soon
      } else if (firing.next) {
        wait = std::min(wait, std::max(kMinWait, *firing.next - firing.now));
      }
      entry.due = clock.steady_now() + wait;
    }
    earliest = std::min(earliest, entry.due);
  }
  return earliest;
}

}  // namespace errand
