#include "postgres/sql_schedules.hpp"

#include "postgres/sql.hpp"

#include <fmt/format.h>

namespace errand::pg {

ScheduleSql::ScheduleSql(const std::string& s)
    : declare(declare_schedule_sql(s)),
      take_tick(take_tick_sql(s)),
      previous_job_live(previous_tick_job_live_sql(s)),
      set_tick_job(set_tick_job_sql(s)),
      advance(advance_schedule_sql(s)) {}

std::string declare_schedule_sql(const std::string& s) {
  return fmt::format(
      "INSERT INTO {0}.schedules AS s (name, spec, zone, job_name, payload, queue, priority, "
      "partition_key, missed_policy, missed_grace, missed_window, missed_cap, overlap, "
      "created_at, seen_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, {1}, "
      "{1}) ON CONFLICT (name) DO UPDATE SET "
      "last_tick = CASE WHEN s.spec IS DISTINCT FROM EXCLUDED.spec "
      "OR s.zone IS DISTINCT FROM EXCLUDED.zone "
      "THEN greatest(coalesce(s.last_tick, s.created_at), "
      "EXCLUDED.seen_at - $10::int8 * interval '1 microsecond') ELSE s.last_tick END, "
      "spec = EXCLUDED.spec, zone = EXCLUDED.zone, job_name = EXCLUDED.job_name, "
      "payload = EXCLUDED.payload, queue = EXCLUDED.queue, priority = EXCLUDED.priority, "
      "partition_key = EXCLUDED.partition_key, missed_policy = EXCLUDED.missed_policy, "
      "missed_grace = EXCLUDED.missed_grace, missed_window = EXCLUDED.missed_window, "
      "missed_cap = EXCLUDED.missed_cap, overlap = EXCLUDED.overlap, seen_at = EXCLUDED.seen_at "
      "RETURNING CASE WHEN s.paused THEN 1 ELSE 0 END, {2}, {3}, {4}",
      s, now_of(14), us_of("s.last_tick"), us_of("s.created_at"), us_of("s.seen_at"));
}

std::string take_tick_sql(const std::string& s) {
  return fmt::format(
      "INSERT INTO {}.cron_ticks (schedule, tick_at, catch_up, taken_at) "
      "VALUES ($1, {}, $3, {}) ON CONFLICT (schedule, tick_at) DO NOTHING RETURNING 1",
      s, ts_of("$2"), now_of(4));
}

std::string previous_tick_job_live_sql(const std::string& s) {
  return fmt::format(
      "SELECT 1 FROM {0}.jobs WHERE id = (SELECT last_job_id FROM {0}.schedules WHERE name = $1)",
      s);
}

std::string set_tick_job_sql(const std::string& s) {
  return fmt::format(
      "WITH tick AS (UPDATE {0}.cron_ticks SET job_id = $3 WHERE schedule = $1 AND tick_at = {1}) "
      "UPDATE {0}.schedules SET last_job_id = $3 WHERE name = $1",
      s, ts_of("$2"));
}

std::string advance_schedule_sql(const std::string& s) {
  return fmt::format(
      "UPDATE {}.schedules SET last_tick = {}, fired = fired + $3, skipped = skipped + $4 "
      "WHERE name = $1",
      s, ts_of("$2"));
}

std::string schedule_rows_sql(const std::string& s) {
  return fmt::format(
      "SELECT name, spec, zone, job_name, payload, queue, priority, partition_key, "
      "missed_policy, missed_grace, missed_window, missed_cap, overlap, "
      "CASE WHEN paused THEN 1 ELSE 0 END, {1}, {2}, {3}, last_job_id, fired, skipped "
      "FROM {0}.schedules ORDER BY name",
      s, us_of("created_at"), us_of("seen_at"), us_of("last_tick"));
}

std::string pause_schedule_sql(const std::string& s) {
  return fmt::format("UPDATE {}.schedules SET paused = $2 WHERE name = $1 RETURNING 1", s);
}

std::string remove_schedule_sql(const std::string& s) {
  return fmt::format(
      "WITH gone AS (DELETE FROM {0}.schedules WHERE name = $1"
      "   AND seen_at <= {1} - $2::int8 * interval '1 microsecond' RETURNING name),"
      " ticks AS (DELETE FROM {0}.cron_ticks WHERE schedule = (SELECT name FROM gone))"
      " SELECT (SELECT count(*) FROM gone),"
      " (SELECT count(*) FROM {0}.schedules WHERE name = $1)",
      s, now_of(3));
}

}  // namespace errand::pg
