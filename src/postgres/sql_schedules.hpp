// The PostgreSQL store's statements for recurring jobs (postgres_schedules.cpp); sql.hpp's rules
// hold: built from the quoted schema only, every value a bound parameter.
#pragma once

#include <string>

namespace errand::pg {

// The statements a firing runs (each described below), built once per store.
struct ScheduleSql {
  explicit ScheduleSql(const std::string& quoted_schema);
  std::string declare, take_tick, previous_job_live, set_tick_job, advance;
};

// Declares schedule $1 at the store's now ($14, now_of) (see ScheduleTransaction::declare): its
// definition $2..$13; returns paused (0/1), last_tick, created_at and now, in microseconds. The
// upsert locks the row until the transaction ends.
std::string declare_schedule_sql(const std::string& quoted_schema);
// Records tick $2 (catch_up $3) of schedule $1 at now ($4); returns a row only when it was not
// recorded before.
std::string take_tick_sql(const std::string& quoted_schema);
// A row when the job of schedule $1's latest tick with a job is still in the jobs table.
std::string previous_tick_job_live_sql(const std::string& quoted_schema);
// Tick $2 of schedule $1 enqueued job $3 (the tick's row and the schedule's last_job_id).
std::string set_tick_job_sql(const std::string& quoted_schema);
// Schedule $1 handled ticks up to $2, $3 of them fired and $4 skipped.
std::string advance_schedule_sql(const std::string& quoted_schema);
// Every schedule (core/schedule_rows.hpp's columns), by name.
std::string schedule_rows_sql(const std::string& quoted_schema);
// Pauses ($2 true) or resumes schedule $1; returns a row when there is one.
std::string pause_schedule_sql(const std::string& quoted_schema);

// Deletes schedule $1 and its tick records if it was last declared at or before the store's now
// ($3, now_of) minus $2 microseconds; returns (deleted 1/0, the schedule exists 1/0).
std::string remove_schedule_sql(const std::string& quoted_schema);

}  // namespace errand::pg
