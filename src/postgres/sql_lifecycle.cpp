// The statements of the lifecycle: moving jobs to the finished jobs table, cancelling, pruning,
// and reading one job (postgres/sql.hpp).
#include "postgres/sql.hpp"

#include <fmt/format.h>

namespace errand::pg {

namespace {

// The columns of the finished jobs table, in finish_sql's order.
constexpr std::string_view kFinishedColumnList =
    "id, name, payload, context, priority, run_at, created_at, error_count, last_error, "
    "last_failed_at, snoozes, errors, state, finished_at, cancel_reason, output, queue, "
    "partition_key, unique_key";

// ON CONFLICT's update of every column but id to the excluded row's.
std::string update_all_columns() {
  std::string out;
  std::string_view rest = kFinishedColumnList.substr(kFinishedColumnList.find(',') + 2);
  for (;;) {
    const auto comma = rest.find(',');
    const std::string_view column = rest.substr(0, comma);
    if (!out.empty()) out += ", ";
    out += fmt::format("{0} = excluded.{0}", column);
    if (comma == std::string_view::npos) break;
    rest = rest.substr(comma + 2);
  }
  return out;
}

}  // namespace

std::string finish_sql(const std::string& s, std::string_view from, std::string_view state) {
  return fmt::format(
      "INSERT INTO {s}.finished_jobs ({columns})"
      " SELECT d.id, d.name, d.payload, d.context, d.priority,"
      "  CASE WHEN {run_ok} THEN d.run_at ELSE t.now END,"
      "  CASE WHEN {created_ok} THEN d.created_at ELSE t.now END,"
      "  least(greatest(d.error_count, 0), 2147483645) + d.charge,"
      "  coalesce(d.error, d.last_error),"
      "  CASE WHEN d.charge = 1 THEN t.now WHEN {failed_ok} THEN d.last_failed_at END,"
      "  least(greatest(d.snoozes, 0), 2147483646), coalesce(d.history, d.errors), '{state}',"
      "  t.now, coalesce(d.reason, d.cancel_reason), d.output, d.queue, d.partition_key,"
      "  d.unique_key"
      " FROM {from} d, t ON CONFLICT (id) DO UPDATE SET {update} RETURNING id",
      fmt::arg("s", s), fmt::arg("columns", kFinishedColumnList), fmt::arg("from", from),
      fmt::arg("state", state), fmt::arg("update", update_all_columns()),
      fmt::arg("run_ok", valid_time_sql("d.run_at")),
      fmt::arg("created_ok", valid_time_sql("d.created_at")),
      fmt::arg("failed_ok", valid_time_sql("d.last_failed_at")));
}

std::string cancel_lock_sql(const std::string& s) {
  return fmt::format("SELECT (locked_by IS NOT NULL)::int FROM {}.jobs WHERE id = $1 FOR UPDATE",
                     s);
}

std::string finished_state_sql(const std::string& s) {
  return fmt::format("SELECT state FROM {}.finished_jobs WHERE id = $1", s);
}

std::string job_exists_sql(const std::string& s) {
  return fmt::format("SELECT 1 FROM {}.jobs WHERE id = $1", s);
}

std::string delete_job_sql(const std::string& s) {
  return fmt::format(
      "WITH finished AS (DELETE FROM {0}.finished_jobs WHERE id = $1 RETURNING 1),"
      " waiting AS (DELETE FROM {0}.jobs WHERE id = $1 AND locked_by IS NULL RETURNING 1)"
      " SELECT (SELECT count(*) FROM finished) + (SELECT count(*) FROM waiting),"
      " EXISTS (SELECT 1 FROM {0}.jobs WHERE id = $1)",
      s);
}

std::string cancel_waiting_sql(const std::string& s, CancelWhere where) {
  std::string_view condition = "j.id = $3";
  if (where == CancelWhere::name) condition = "j.name = $3";
  if (where == CancelWhere::ready) condition = "j.run_at <= t.now";
  return fmt::format(
      "WITH t AS (SELECT {now} AS now),"
      " gone AS (DELETE FROM {s}.jobs j USING t WHERE {condition} AND j.locked_by IS NULL"
      "   RETURNING j.*, 0 AS charge, NULL::text AS error, NULL::text AS history,"
      "     NULL::text AS output, $2::text AS reason),"
      " moved AS ({finish})"
      " SELECT count(*) FROM moved",
      fmt::arg("now", now_of(1)), fmt::arg("s", s), fmt::arg("condition", condition),
      fmt::arg("finish", finish_sql(s, "gone", "cancelled")));
}

std::string request_cancel_sql(const std::string& s, CancelWhere where) {
  const std::string_view condition =
      where == CancelWhere::name ? "name = $3 AND locked_by IS NOT NULL" : "id = $3";
  return fmt::format(
      "WITH t AS (SELECT {now} AS now),"
      " flagged AS (UPDATE {s}.jobs SET cancel_requested_at = coalesce(cancel_requested_at, t.now),"
      "   cancel_reason = coalesce(cancel_reason, $2) FROM t WHERE {condition} RETURNING id)"
      " SELECT id, pg_notify($4, 'cancel:' || id) FROM flagged",
      fmt::arg("now", now_of(1)), fmt::arg("s", s), fmt::arg("condition", condition));
}

std::string prune_sql(const std::string& s) {
  const auto oldest = [&](std::string_view state, int cutoff) {
    return fmt::format(
        "(SELECT id FROM {s}.finished_jobs WHERE state = '{state}'"
        "  AND finished_at <= (SELECT now FROM t) - ${cutoff}::int8 * interval '1 microsecond'"
        "  ORDER BY finished_at LIMIT $5)",
        fmt::arg("s", s), fmt::arg("state", state), fmt::arg("cutoff", cutoff));
  };
  // The lock is tried, never waited for: a second pruner finds it taken and deletes nothing.
  return fmt::format(
      "WITH t AS (SELECT {now} AS now),"
      " lock AS (SELECT pg_try_advisory_xact_lock(hashtext($6)) AS got),"
      " doomed AS (SELECT id FROM ({completed} UNION ALL {cancelled} UNION ALL {discarded})"
      "   AS o(id) WHERE (SELECT got FROM lock) LIMIT $5),"
      " gone AS (DELETE FROM {s}.finished_jobs WHERE id = ANY(ARRAY(SELECT id FROM doomed))"
      "   RETURNING 1),"
      // Tick records more than $7 microseconds older than their schedule's last tick.
      " old_ticks AS (SELECT t.schedule, t.tick_at FROM {s}.schedules sc"
      "   JOIN {s}.cron_ticks t ON t.schedule = sc.name"
      "   WHERE (SELECT got FROM lock) AND t.tick_at < sc.last_tick - $7::int8 * interval"
      "   '1 microsecond' LIMIT $5),"
      " ticks_gone AS (DELETE FROM {s}.cron_ticks c USING old_ticks o"
      "   WHERE c.schedule = o.schedule AND c.tick_at = o.tick_at RETURNING 1),"
      // Minutes of activity more than $8 microseconds old.
      " old_minutes AS (SELECT minute, queue FROM {s}.activity WHERE (SELECT got FROM lock)"
      "   AND minute < (SELECT now FROM t) - $8::int8 * interval '1 microsecond'"
      "   ORDER BY minute LIMIT $5),"
      " minutes_gone AS (DELETE FROM {s}.activity a USING old_minutes o"
      "   WHERE a.minute = o.minute AND a.queue = o.queue RETURNING 1)"
      " SELECT (SELECT got FROM lock)::int, (SELECT count(*) FROM gone),"
      " (SELECT count(*) FROM ticks_gone), (SELECT count(*) FROM minutes_gone)",
      fmt::arg("now", now_of(1)), fmt::arg("s", s), fmt::arg("completed", oldest("completed", 2)),
      fmt::arg("cancelled", oldest("cancelled", 3)), fmt::arg("discarded", oldest("discarded", 4)));
}

std::string find_job_sql(const std::string& s, bool finished) {
  const std::string columns = finished ? finished_job_columns() : live_job_columns();
  return fmt::format(
      "WITH t AS (SELECT {now} AS now) SELECT {columns}, {now_us} FROM {s}.{table}, t"
      " WHERE id = $2",
      fmt::arg("now", now_of(1)), fmt::arg("columns", columns), fmt::arg("now_us", us_of("t.now")),
      fmt::arg("s", s), fmt::arg("table", finished ? "finished_jobs" : "jobs"));
}

}  // namespace errand::pg
