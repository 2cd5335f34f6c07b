// The SQLite store's statements for recurring jobs (sqlite_schedules.cpp); sql.hpp's rules hold.
#pragma once

#include "core/schedule_rows.hpp"

#include <string>
#include <string_view>

namespace errand::sqlite::sql {

// Declares schedule ?1 at time ?14 (see ScheduleTransaction::declare): its definition ?2..?13;
// returns paused, last_tick, created_at. In DO UPDATE, the bare columns are the stored row's.
inline constexpr std::string_view kDeclareSchedule =
    "INSERT INTO errand_schedules (name, spec, zone, job_name, payload, queue, priority, "
    "partition_key, missed_policy, missed_grace, missed_window, missed_cap, overlap, created_at, "
    "seen_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?14) "
    "ON CONFLICT (name) DO UPDATE SET "
    "last_tick = CASE WHEN spec IS NOT excluded.spec OR zone IS NOT excluded.zone "
    "THEN max(coalesce(last_tick, created_at), ?14 - ?10) ELSE last_tick END, "
    "spec = excluded.spec, zone = excluded.zone, job_name = excluded.job_name, "
    "payload = excluded.payload, queue = excluded.queue, priority = excluded.priority, "
    "partition_key = excluded.partition_key, missed_policy = excluded.missed_policy, "
    "missed_grace = excluded.missed_grace, missed_window = excluded.missed_window, "
    "missed_cap = excluded.missed_cap, overlap = excluded.overlap, seen_at = excluded.seen_at "
    "RETURNING paused, last_tick, created_at";
// Records tick ?2 (catch_up ?3) of schedule ?1 at ?4; returns a row only when it was not yet.
inline constexpr std::string_view kTakeTick =
    "INSERT INTO errand_cron_ticks (schedule, tick_at, catch_up, taken_at) "
    "VALUES (?1, ?2, ?3, ?4) ON CONFLICT (schedule, tick_at) DO NOTHING RETURNING 1";
// A row when the job of schedule ?1's latest tick with a job is still in the jobs table.
inline constexpr std::string_view kPreviousTickJobLive =
    "SELECT 1 FROM errand_jobs WHERE id = (SELECT last_job_id FROM errand_schedules "
    "WHERE name = ?1)";
// Tick ?2 of schedule ?1 enqueued job ?3.
inline constexpr std::string_view kSetTickJob =
    "UPDATE errand_cron_ticks SET job_id = ?3 WHERE schedule = ?1 AND tick_at = ?2";
inline constexpr std::string_view kSetLastJob =
    "UPDATE errand_schedules SET last_job_id = ?2 WHERE name = ?1";
// Schedule ?1 handled ticks up to ?2, ?3 of them fired and ?4 skipped.
inline constexpr std::string_view kAdvanceSchedule =
    "UPDATE errand_schedules SET last_tick = ?2, fired = fired + ?3, skipped = skipped + ?4 "
    "WHERE name = ?1";
inline const std::string kScheduleRows =
    "SELECT " + std::string(detail::kScheduleColumns) + " FROM errand_schedules ORDER BY name";
// Pauses (?2 = 1) or resumes schedule ?1; returns a row when there is one.
inline constexpr std::string_view kPauseSchedule =
    "UPDATE errand_schedules SET paused = ?2 WHERE name = ?1 RETURNING 1";

// Deletes schedule ?1 if it was last declared at or before ?2; returns a row when it did.
inline constexpr std::string_view kRemoveSchedule =
    "DELETE FROM errand_schedules WHERE name = ?1 AND seen_at <= ?2 RETURNING 1";
inline constexpr std::string_view kRemoveScheduleTicks =
    "DELETE FROM errand_cron_ticks WHERE schedule = ?1";
inline constexpr std::string_view kScheduleExists =
    "SELECT 1 FROM errand_schedules WHERE name = ?1";

// Deletes up to ?2 tick records more than ?1 microseconds older than their schedule's last tick.
inline constexpr std::string_view kPruneTicks =
    "DELETE FROM errand_cron_ticks WHERE (schedule, tick_at) IN (SELECT t.schedule, t.tick_at "
    "FROM errand_schedules s JOIN errand_cron_ticks t ON t.schedule = s.name "
    "WHERE t.tick_at < s.last_tick - ?1 LIMIT ?2)";

}  // namespace errand::sqlite::sql
