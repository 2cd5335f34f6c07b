// The workers table's statements (postgres/sql.hpp).
#include "postgres/sql.hpp"

#include <fmt/format.h>

namespace errand::pg {

namespace {

// Inserts or replaces the worker row of $1..$4 (id, host, pid, concurrency), started at
// `started`, beating at t.now.
// `queues`: the parameter holding the worker's queues (a JSON array, or NULL).
std::string upsert_worker_sql(const std::string& s, std::string_view started,
                              std::string_view queues) {
  return fmt::format(
      "INSERT INTO {s}.workers AS w (id, host, pid, concurrency, started_at, heartbeat_at, queues)"
      " SELECT $1, $2, $3::int8, $4::int8, {started}, t.now, {queues}::text FROM t"
      " ON CONFLICT (id) DO UPDATE SET host = excluded.host, pid = excluded.pid,"
      "  concurrency = excluded.concurrency, started_at = excluded.started_at,"
      "  heartbeat_at = excluded.heartbeat_at, queues = excluded.queues",
      fmt::arg("s", s), fmt::arg("started", started), fmt::arg("queues", queues));
}

}  // namespace

std::string count_and_notify(std::string_view rows, int channel_param) {
  return fmt::format(
      "SELECT c.n, CASE WHEN c.n > 0 THEN (SELECT 1 FROM pg_notify(${channel}, '')) END"
      " FROM (SELECT count(*) AS n FROM {rows}) AS c",
      fmt::arg("channel", channel_param), fmt::arg("rows", rows));
}

std::string register_worker_sql(const std::string& s) {
  return fmt::format("WITH t AS (SELECT {now} AS now) {upsert} RETURNING {started_at}",
                     fmt::arg("now", now_of(5)),
                     fmt::arg("upsert", upsert_worker_sql(s, "t.now", "$6")),
                     fmt::arg("started_at", us_of("started_at")));
}

std::string heartbeat_sql(const std::string& s) {
  return fmt::format(
      "WITH t AS (SELECT {now} AS now), beat AS ({upsert} RETURNING 1),"
      " freed AS (UPDATE {s}.jobs SET locked_by = NULL, locked_at = NULL"
      "   WHERE locked_by = $1 AND locked_at >= {started} AND id <> ALL($7::int8[])"
      "   RETURNING id),"
      " progressed AS (UPDATE {s}.jobs j SET progress = u.value, progress_message = u.message,"
      "   progress_at = t.now"
      "   FROM unnest($9::int8[], $10::int8[], $11::float8[], $12::text[])"
      "     AS u(id, at, value, message), t"
      "   WHERE j.id = u.id AND j.locked_by = $1 AND j.locked_at = {at} RETURNING 1)"
      " SELECT c.n, CASE WHEN c.n > 0 THEN (SELECT 1 FROM pg_notify($8, '')) END,"
      "  (SELECT count(*) FROM progressed),"
      "  ARRAY(SELECT id FROM {s}.jobs WHERE id = ANY($7::int8[]) AND locked_by = $1"
      "    AND cancel_requested_at IS NOT NULL ORDER BY id)"
      " FROM (SELECT count(*) AS n FROM freed) AS c",
      fmt::arg("now", now_of(5)), fmt::arg("s", s),
      fmt::arg("upsert", upsert_worker_sql(s, ts_of("$6"), "$13")),
      fmt::arg("started", ts_of("$6")), fmt::arg("at", ts_of("u.at")));
}

std::string remove_worker_sql(const std::string& s) {
  return fmt::format(
      "WITH gone AS (DELETE FROM {s}.workers WHERE id = $1 RETURNING started_at),"
      " freed AS (UPDATE {s}.jobs SET locked_by = NULL, locked_at = NULL"
      "   WHERE locked_by = $1"
      "     AND locked_at >= coalesce((SELECT started_at FROM gone), '-infinity')"
      "   RETURNING id)"
      " {count_and_notify}",
      fmt::arg("s", s), fmt::arg("count_and_notify", count_and_notify("freed", 2)));
}

std::string list_workers_sql(const std::string& s) {
  return fmt::format(
      "WITH t AS (SELECT {now} AS now)"
      " SELECT id, host, pid, concurrency, {started_at}, {heartbeat_at},"
      "  (SELECT count(*) FROM {s}.jobs j WHERE j.locked_by = w.id), queues, {now_us}"
      " FROM {s}.workers w, t ORDER BY w.heartbeat_at DESC, w.id",
      fmt::arg("now", now_of(1)), fmt::arg("s", s), fmt::arg("started_at", us_of("started_at")),
      fmt::arg("heartbeat_at", us_of("heartbeat_at")), fmt::arg("now_us", us_of("t.now")));
}

std::string find_lost_jobs_sql(const std::string& s) {
  return fmt::format(
      "SELECT j.id, j.name, j.payload, j.context, j.priority, j.error_count, {run_at},"
      "  {created_at}, j.last_error, j.snoozes, j.errors,"
      "  (j.cancel_requested_at IS NOT NULL)::int, j.queue, j.partition_key, {locked_at}, w.id,"
      "  {started_at},"
      "  {heartbeat_at}"
      " FROM {s}.jobs j JOIN {s}.workers w ON j.locked_by = w.id"
      " WHERE j.locked_by IS NOT NULL"
      "   AND (w.heartbeat_at <= {cutoff}"
      "        OR j.locked_at < w.started_at)"
      // A lock at an invalid time is no lease anyone can settle by: such rows are left to
      // inspection, which reports them, rather than found again and again.
      "   AND {lease_ok}"
      " ORDER BY j.locked_at, j.id LIMIT $3",
      fmt::arg("now", now_of(1)), fmt::arg("cutoff", cutoff_1_2()), fmt::arg("s", s),
      fmt::arg("lease_ok", valid_time_sql("j.locked_at")), fmt::arg("run_at", us_of("j.run_at")),
      fmt::arg("created_at", us_of("j.created_at")), fmt::arg("locked_at", us_of("j.locked_at")),
      fmt::arg("started_at", us_of("w.started_at")),
      fmt::arg("heartbeat_at", us_of("w.heartbeat_at")));
}

std::string forget_lost_workers_sql(const std::string& s) {
  return fmt::format(
      "DELETE FROM {s}.workers w"
      " WHERE heartbeat_at <= {cutoff}"
      "   AND NOT EXISTS (SELECT 1 FROM {s}.jobs j WHERE j.locked_by = w.id)",
      fmt::arg("now", now_of(1)), fmt::arg("cutoff", cutoff_1_2()), fmt::arg("s", s));
}

}  // namespace errand::pg
