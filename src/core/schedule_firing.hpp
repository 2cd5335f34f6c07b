// Firing a schedule's due ticks (Store::fire_schedule): the steps are the same on every store,
// here; each store supplies the transaction they run in (ScheduleTransaction).
#pragma once

#include <errand/schedule.hpp>

#include "core/tick_plan.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace errand::detail {

// One store transaction that holds a schedule's row from declare() to its commit.
class ScheduleTransaction {
 public:
  struct Row {
    bool paused = false;
    std::optional<TimePoint> last_tick{};
    TimePoint created_at{};
    TimePoint now{};  // the store's clock
  };
  virtual ~ScheduleTransaction() = default;
  // Creates or updates the schedule's row (its definition, seen_at = now; a changed spec or zone
  // moves last_tick up to now - missed.grace, so that the new spec's earlier ticks are not
  // missed ones), locks it and returns it.
  virtual Row declare(const Schedule& schedule) = 0;
  // Records tick `tick` (schedule, tick) under the primary key; false when it was recorded before.
  virtual bool take_tick(TimePoint tick, bool catch_up) = 0;
  // Whether the job of the latest recorded tick with a job is scheduled, ready or running.
  virtual bool previous_job_live() = 0;
  // Inserts `job` (no unique key) and returns its id.
  virtual JobId enqueue(const NewJob& job) = 0;
  virtual void set_tick_job(TimePoint tick, JobId job) = 0;
  // last_tick = handled; adds to the fired and skipped totals.
  virtual void advance(TimePoint handled, std::int64_t fired, std::int64_t skipped) = 0;
};

// Store::fire_schedule's steps in `tx` (see there): plan_ticks from the last tick handled (or the
// schedule's creation) to now, each planned tick recorded and its job enqueued (or skipped).
// First checks the definition (check_schedule_definition, and that `spec` is its spec):
// ConfigError, and nothing is written.
ScheduleFiring fire_ticks(ScheduleTransaction& tx, const Schedule& schedule, const CronSpec& spec);

// Checks a schedule's definition: its name, spec and zone (CronError, naming the schedule), its
// job (ConfigError: none, a context, run_at or delay, uniqueness, a value enqueue refuses) and
// MissedTicks. Returns the parsed spec.
CronSpec check_schedule(const Schedule& schedule);
// check_schedule but the spec and zone.
void check_schedule_definition(const Schedule& schedule);

// The context of a tick's job (errand::TickContext), and of a manual trigger's.
std::string tick_context(const Schedule& schedule, const CronSpec& spec, const TickToFire& tick);
std::string manual_trigger_context(std::string_view schedule);

}  // namespace errand::detail
