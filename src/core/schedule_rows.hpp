// Reading the schedules table's rows (errand/schedule.hpp), shared by every store; each value
// checked as core/rows.hpp does.
#pragma once

#include <errand/schedule.hpp>

#include "core/rows.hpp"
#include "core/schedule_firing.hpp"

#include <string_view>

namespace errand::detail {

// The columns every store selects, in this order, for read_schedule_info.
inline constexpr std::string_view kScheduleColumns =
    "name, spec, zone, job_name, payload, queue, priority, partition_key, missed_policy, "
    "missed_grace, missed_window, missed_cap, overlap, paused, created_at, seen_at, last_tick, "
    "last_job_id, fired, skipped";

// Columns: kScheduleColumns (times and durations as integer microseconds). Throws StoreError for
// an invalid value.
template <class Row>
ScheduleInfo read_schedule_info(const Row& row, const StoredTable& where, TimePoint now) {
  RowReader r(row, where, 0, /*key_is_text=*/true);
  ScheduleInfo s;
  s.name = r.text(0, "name");
  s.spec = r.text(1, "spec");
  s.zone = r.text(2, "zone");
  s.job_name = r.text(3, "job_name");
  s.payload = r.text(4, "payload");
  s.queue = r.text(5, "queue");
  s.priority = r.int32(6, "priority", kPriorityRange);
  s.partition_key = r.optional_text(7, "partition_key").value_or("");
  const std::string policy = r.text(8, "missed_policy");
  if (policy == "skip") {
    s.missed.policy = MissedPolicy::skip;
  } else if (policy == "once") {
    s.missed.policy = MissedPolicy::once;
  } else if (policy == "all") {
    s.missed.policy = MissedPolicy::all;
  } else {
    r.refuse(8, "missed_policy", "skip, once or all");
  }
  s.missed.grace = Duration{r.integer(9, "missed_grace", kCountRange)};
  s.missed.window = Duration{r.integer(10, "missed_window", kCountRange)};
  s.missed.cap = static_cast<std::size_t>(r.integer(11, "missed_cap", kCountRange));
  const std::string overlap = r.text(12, "overlap");
  if (overlap == "allow") {
    s.overlap = Overlap::allow;
  } else if (overlap == "skip_if_running") {
    s.overlap = Overlap::skip_if_running;
  } else {
    r.refuse(12, "overlap", "allow or skip_if_running");
  }
  s.paused = r.integer(13, "paused", kCountRange) != 0;
  s.created_at = r.time(14, "created_at");
  s.seen_at = r.time(15, "seen_at");
  s.last_tick = r.optional_time(16, "last_tick");
  if (!row.is_null(17)) s.last_job_id = r.integer(17, "last_job_id", kIdRange);
  s.fired = r.integer(18, "fired", kCountRange);
  s.skipped = r.integer(19, "skipped", kCountRange);
  s.now = now;
  r.check();
  return s;
}

// Columns: paused, last_tick, created_at (ScheduleTransaction::declare's row; `now` given).
template <class Row>
ScheduleTransaction::Row read_declared_schedule(const Row& row, const StoredTable& where,
                                                TimePoint now) {
  RowReader r(row, where);
  ScheduleTransaction::Row declared;
  declared.paused = r.integer(0, "paused", kCountRange) != 0;
  declared.last_tick = r.optional_time(1, "last_tick");
  declared.created_at = r.time(2, "created_at");
  declared.now = now;
  r.check();
  return declared;
}

}  // namespace errand::detail
