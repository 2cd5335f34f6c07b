// Schedules (errand/schedule.hpp): names, policies' names, the checks of a definition, and the
// context of a tick's job.
#include <errand/error.hpp>
#include <errand/schedule.hpp>
#include <errand/store.hpp>

#include "core/schedule_firing.hpp"
#include "core/stored_values.hpp"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <algorithm>

namespace errand {

std::string_view to_string(MissedPolicy policy) {
  switch (policy) {
    case MissedPolicy::skip:
      return "skip";
    case MissedPolicy::once:
      return "once";
    case MissedPolicy::all:
      return "all";
  }
  return "unknown";
}

std::string_view to_string(Overlap overlap) {
  switch (overlap) {
    case Overlap::allow:
      return "allow";
    case Overlap::skip_if_running:
      return "skip_if_running";
  }
  return "unknown";
}

std::string_view to_string(ScheduleRemoval removal) {
  switch (removal) {
    case ScheduleRemoval::removed:
      return "removed";
    case ScheduleRemoval::unknown:
      return "unknown";
    case ScheduleRemoval::declared_recently:
      return "declared_recently";
  }
  return "unknown";
}

void check_schedule_name(std::string_view name) {
  const auto allowed = [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '.' || c == ':' || c == '-';
  };
  if (name.empty() || name.size() > kMaxScheduleNameBytes ||
      !std::all_of(name.begin(), name.end(), allowed)) {
    throw ConfigError(fmt::format(
        "schedule name {} is not valid: give 1 to {} bytes of letters, digits and _ . : -",
        detail::quoted_value(name), kMaxScheduleNameBytes));
  }
}

std::optional<TickContext> parse_tick_context(std::string_view context) {
  if (context.empty() || context.front() != '{') return std::nullopt;
  const nlohmann::json j = nlohmann::json::parse(context, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object()) return std::nullopt;
  const auto schedule = j.find("schedule");
  if (schedule == j.end() || !schedule->is_string()) return std::nullopt;
  TickContext tick{.schedule = schedule->get<std::string>()};
  if (const auto trigger = j.find("trigger"); trigger != j.end()) {
    if (*trigger != "manual") return std::nullopt;
    return tick;
  }
  const auto at = j.find("tick");
  if (at == j.end() || !at->is_string()) return std::nullopt;
  try {
    tick.tick = parse_time_in_zone(at->get<std::string>(), "UTC");
  } catch (const CronError&) {
    return std::nullopt;
  }
  if (const auto catch_up = j.find("catch_up"); catch_up != j.end() && catch_up->is_boolean())
    tick.catch_up = catch_up->get<bool>();
  if (const auto missed = j.find("missed"); missed != j.end() && missed->is_number_unsigned())
    tick.missed = missed->get<std::size_t>();
  return tick;
}

std::optional<Enqueued> Store::trigger_schedule(std::string_view name) {
  for (const ScheduleInfo& schedule : list_schedules()) {
    if (schedule.name != name) continue;
    NewJob job{.name = schedule.job_name,
               .payload = schedule.payload,
               .context = detail::manual_trigger_context(schedule.name),
               .priority = schedule.priority,
               .queue = schedule.queue,
               .partition_key = schedule.partition_key};
    return insert_jobs(std::span<const NewJob>(&job, 1)).front();
  }
  return std::nullopt;
}

namespace detail {

CronSpec check_schedule(const Schedule& schedule) {
  check_schedule_name(schedule.name);
  std::optional<CronSpec> spec;
  try {
    spec = CronSpec::parse(schedule.spec, schedule.zone);
  } catch (const CronError& e) {
    throw CronError(fmt::format("schedule '{}': {}", schedule.name, e.what()));
  }
  check_schedule_definition(schedule);
  return *spec;
}

void check_schedule_definition(const Schedule& schedule) {
  check_schedule_name(schedule.name);
  const auto refuse = [&](std::string_view what) {
    throw ConfigError(fmt::format("schedule '{}': {}", schedule.name, what));
  };
  const NewJob& job = schedule.job;
  if (job.name.empty()) refuse("no job: give one with .job = errand::scheduled_job(MyJob{...})");
  if (!job.context.empty()) refuse("its job has a context; a tick sets it (errand::TickContext)");
  if (job.run_at || job.delay) refuse("its job has a run_at or delay; a tick's job is due at once");
  if (!job.unique_key.empty()) {
    refuse(
        "its job is unique; ticks fire once each already (use Overlap::skip_if_running to skip a "
        "tick while the last one's job is waiting or running)");
  }
  try {
    check_new_jobs(std::span<const NewJob>(&job, 1));
  } catch (const StoreError& e) {
    refuse(e.what());
  }
  const MissedTicks& missed = schedule.missed;
  if (missed.grace < Duration{0}) refuse("missed.grace must not be negative");
  if (missed.policy == MissedPolicy::all && (missed.window <= Duration{0} || missed.cap == 0))
    refuse("MissedPolicy::all needs a positive missed.window and missed.cap");
}

std::string tick_context(const Schedule& schedule, const CronSpec& spec, const TickToFire& tick) {
  // Ordered: listings cut the context short, and the schedule's name should show first.
  nlohmann::ordered_json j = {{"schedule", schedule.name},
                              {"tick", spec.format_local(tick.tick)},
                              {"catch_up", tick.catch_up}};
  if (schedule.missed.policy == MissedPolicy::once && tick.catch_up) j["missed"] = tick.missed;
  return j.dump();
}

std::string manual_trigger_context(std::string_view schedule) {
  return nlohmann::ordered_json{{"schedule", schedule}, {"trigger", "manual"}}.dump();
}

ScheduleFiring fire_ticks(ScheduleTransaction& tx, const Schedule& schedule, const CronSpec& spec) {
  check_schedule_definition(schedule);
  if (spec.spec() != schedule.spec || spec.zone() != schedule.zone) {
    throw ConfigError(fmt::format(
        "fire_schedule: schedule '{}' is \"{}\" in {}, but the spec given is \"{}\" in {}",
        schedule.name, schedule.spec, schedule.zone, spec.spec(), spec.zone()));
  }
  const ScheduleTransaction::Row row = tx.declare(schedule);
  ScheduleFiring firing{.now = row.now, .paused = row.paused, .next = spec.next_after(row.now)};
  if (row.paused) return firing;
  const TickPlan plan =
      plan_ticks(spec, row.last_tick.value_or(row.created_at), row.now, schedule.missed);
  if (!plan.handled) return firing;
  std::int64_t fired = 0;
  std::int64_t skipped = static_cast<std::int64_t>(plan.skipped);
  firing.skipped = plan.skipped;
  for (const TickToFire& tick : plan.fire) {
    if (!tx.take_tick(tick.tick, tick.catch_up)) continue;  // recorded before: never twice
    FiredTick done{.tick = tick.tick, .catch_up = tick.catch_up, .missed = tick.missed};
    if (schedule.overlap == Overlap::skip_if_running && tx.previous_job_live()) {
      ++skipped;
    } else {
      NewJob job = schedule.job;
      job.context = tick_context(schedule, spec, tick);
      job.run_at = tick.tick;
      done.job_id = tx.enqueue(job);
      tx.set_tick_job(tick.tick, done.job_id);
      ++fired;
    }
    firing.fired.push_back(done);
  }
  tx.advance(*plan.handled, fired, skipped);
  return firing;
}

}  // namespace detail

}  // namespace errand
