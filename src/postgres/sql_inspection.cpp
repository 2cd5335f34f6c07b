// The statements of inspection and dead-letter administration (postgres/sql.hpp).
#include "postgres/sql.hpp"

#include <fmt/format.h>

namespace errand::pg {

std::string live_job_columns() {
  return fmt::format(
      "id, name, payload, context, priority, error_count, {run_at}, {created_at}, locked_by, "
      "{locked_at}, last_error, {last_failed_at}, snoozes, errors, {cancel_requested_at}, "
      "cancel_reason, progress, progress_message, {progress_at}, NULL, NULL, NULL, queue, "
      "partition_key",
      fmt::arg("run_at", us_of("run_at")), fmt::arg("created_at", us_of("created_at")),
      fmt::arg("locked_at", us_of("locked_at")),
      fmt::arg("last_failed_at", us_of("last_failed_at")),
      fmt::arg("cancel_requested_at", us_of("cancel_requested_at")),
      fmt::arg("progress_at", us_of("progress_at")));
}

std::string finished_job_columns() {
  return fmt::format(
      "id, name, payload, context, priority, error_count, {run_at}, {created_at}, NULL, NULL, "
      "last_error, {last_failed_at}, snoozes, errors, NULL, cancel_reason, NULL, NULL, NULL, "
      "state, {finished_at}, output, queue, partition_key",
      fmt::arg("run_at", us_of("run_at")), fmt::arg("created_at", us_of("created_at")),
      fmt::arg("last_failed_at", us_of("last_failed_at")),
      fmt::arg("finished_at", us_of("finished_at")));
}

std::string list_jobs_sql(const std::string& s, const JobFilter& filter,
                          std::vector<detail::FilterParam>& params, detail::LivePart part) {
  std::string where = "true";
  where += detail::live_part_sql(part);
  const bool finished = detail::lists_finished(filter);
  if (filter.state) {
    switch (*filter.state) {
      case JobState::ready:
        where += " AND locked_by IS NULL AND run_at <= t.now";
        break;
      case JobState::scheduled:
        where += " AND locked_by IS NULL AND run_at > t.now";
        break;
      case JobState::running:
        where += " AND locked_by IS NOT NULL AND locked_at > t.cutoff";
        break;
      case JobState::abandoned:
        where += " AND locked_by IS NOT NULL AND locked_at <= t.cutoff";
        break;
      case JobState::completed:
      case JobState::cancelled:
      case JobState::discarded:
        where += fmt::format(" AND state = '{}'", to_string(*filter.state));
        break;
    }
  }
  // A queue named in the text (not `$5 IS NULL OR ...`), so that the generic plan reads its
  // index range.
  where += " AND ($3::text IS NULL OR name = $3)";
  where += filter.queue ? " AND queue = $5" : " AND $5::text IS NULL";
  if (filter.failing_only) where += " AND error_count > 0";
  // $6 on: the filter's ranges and cursor, in the order of `params`.
  where += detail::job_filter_conditions(filter, finished, [&](detail::FilterParam p) {
    params.push_back(p);
    const auto n = 5 + params.size();
    switch (p) {
      case detail::FilterParam::created_from:
      case detail::FilterParam::created_before:
      case detail::FilterParam::cursor_at:
        return ts_of(fmt::format("${}::int8", n));
      case detail::FilterParam::cursor_id:
        return fmt::format("${}::int8", n);
      default:
        return fmt::format("${}::int4", n);
    }
  });
  const std::string columns = finished ? finished_job_columns() : live_job_columns();
  return fmt::format(
      "WITH t AS (SELECT {now} AS now, {cutoff} AS cutoff)"
      " SELECT {columns}, {now_us} FROM {s}.{table}, t WHERE {where}"
      " ORDER BY {order} LIMIT $4",
      fmt::arg("now", now_of(1)), fmt::arg("cutoff", cutoff_1_2()), fmt::arg("s", s),
      fmt::arg("table", finished ? "finished_jobs" : "jobs"), fmt::arg("where", where),
      fmt::arg("now_us", us_of("t.now")), fmt::arg("columns", columns),
      fmt::arg("order",
               detail::job_order_sql(filter, finished, finished ? "finished_jobs." : "jobs.")));
}

std::string list_dead_sql(const std::string& s, bool named) {
  return fmt::format(
      "SELECT id, name, payload, context, priority, error_count, last_error, {created_at},"
      " {finished_at}, queue, partition_key FROM {s}.finished_jobs"
      " WHERE state = 'discarded' {named}"
      " ORDER BY finished_jobs.finished_at DESC, finished_jobs.id DESC LIMIT $1",
      fmt::arg("s", s), fmt::arg("created_at", us_of("created_at")),
      fmt::arg("finished_at", us_of("finished_at")),
      fmt::arg("named", named ? "AND name = $2" : ""));
}

std::string dead_where(const DeadSelection& which, Params& params, int before) {
  switch (which.kind) {
    case DeadSelection::Kind::all:
      return "state = 'discarded'";
    case DeadSelection::Kind::name:
      params.add(which.name);
      return fmt::format("state = 'discarded' AND name = ${}", before + params.size());
    case DeadSelection::Kind::ids:
      params.add_array(which.ids);
      return fmt::format("state = 'discarded' AND id = ANY(${}::int8[])", before + params.size());
    case DeadSelection::Kind::nothing:  // refused by check_dead_selection before
      break;
  }
  return "false";
}

std::string tally_dead_sql(const std::string& s, std::string_view where, int limit_param) {
  // One statement, one snapshot: the counts by type, then the lowest ids (name NULL).
  return fmt::format(
      "WITH sel AS (SELECT id, name FROM {s}.finished_jobs WHERE {where})"
      " (SELECT name, count(*) AS n FROM sel GROUP BY name ORDER BY n DESC, name)"
      " UNION ALL (SELECT NULL, id FROM sel ORDER BY id LIMIT ${limit})",
      fmt::arg("s", s), fmt::arg("where", where), fmt::arg("limit", limit_param));
}

std::string resurrect_sql(const std::string& s, std::string_view where, int channel_param) {
  // A dead job moved back keeps its unique key unless a live job holds it (in this snapshot; a
  // concurrent enqueue taking it fails the statement on the unique index, and nothing moves), or
  // a newer dead job with that key moves back with it.
  const std::string key_moved_back = fmt::format(
      "CASE WHEN moved.unique_key IS NULL OR EXISTS (SELECT FROM {s}.jobs j"
      " WHERE j.unique_key = moved.unique_key) OR row_number() OVER"
      " (PARTITION BY moved.unique_key ORDER BY moved.id DESC) > 1 THEN NULL"
      " ELSE moved.unique_key END",
      fmt::arg("s", s));
  return fmt::format(
      "WITH moved AS (DELETE FROM {s}.finished_jobs WHERE {where} RETURNING *),"
      " ins AS (INSERT INTO {s}.jobs (id, name, payload, context, priority, run_at, created_at,"
      "  error_count, last_error, last_failed_at, errors, queue, partition_key, unique_key)"
      "  SELECT id, name, payload, context, priority, {now}, created_at, 0, last_error,"
      "   last_failed_at, errors, queue, {key}, {unique_key} FROM moved RETURNING id)"
      " SELECT count(*) FROM ins, (SELECT pg_notify(${channel}, '')) AS n",
      fmt::arg("s", s), fmt::arg("where", where), fmt::arg("now", now_of(1)),
      fmt::arg("channel", channel_param),
      fmt::arg("key", stored_key_sql(s, "coalesce(moved.partition_key, '')", "moved.queue")),
      fmt::arg("unique_key", key_moved_back));
}

std::string purge_dead_sql(const std::string& s, std::string_view where) {
  return fmt::format("DELETE FROM {}.finished_jobs WHERE {}", s, where);
}

}  // namespace errand::pg
