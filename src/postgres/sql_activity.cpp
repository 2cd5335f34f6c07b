#include "postgres/sql_activity.hpp"

#include "postgres/sql.hpp"

#include <fmt/format.h>

namespace errand::pg {

std::string record_activity_sql(const std::string& s) {
  // ORDER BY: the rows' locks are taken in one order by every worker, so two never deadlock.
  return fmt::format(
      "INSERT INTO {s}.activity AS a (minute, queue, completed, failed, started, latency_sum,"
      " latency_max)"
      " SELECT {minute}, u.queue, u.completed, u.failed, u.started, u.lsum, u.lmax"
      " FROM unnest($1::int8[], $2::text[], $3::int8[], $4::int8[], $5::int8[], $6::int8[],"
      "   $7::int8[]) AS u(minute, queue, completed, failed, started, lsum, lmax)"
      " ORDER BY u.minute, u.queue"
      " ON CONFLICT (minute, queue) DO UPDATE SET completed = a.completed + excluded.completed,"
      "  failed = a.failed + excluded.failed, started = a.started + excluded.started,"
      "  latency_sum = a.latency_sum + excluded.latency_sum,"
      "  latency_max = greatest(a.latency_max, excluded.latency_max)",
      fmt::arg("s", s), fmt::arg("minute", ts_of("u.minute")));
}

std::string list_activity_sql(const std::string& s) {
  return fmt::format(
      "SELECT {minute}, queue, completed, failed, started, latency_sum, latency_max"
      " FROM {s}.activity WHERE minute >= {since} ORDER BY activity.minute, queue",
      fmt::arg("minute", us_of("minute")), fmt::arg("s", s), fmt::arg("since", ts_of("$1")));
}

std::string add_metric_totals_sql(const std::string& s) {
  // ORDER BY: the rows' locks are taken in one order by every worker, so two never deadlock.
  // COLLATE "C": the order the caller sorted the rows in (byte order), whatever the database's.
  return fmt::format(
      "INSERT INTO {s}.metric_totals AS t (name, queue, job_type, schedule, value)"
      " SELECT u.name, u.queue, u.job_type, u.schedule, u.value"
      " FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::int8[])"
      "   AS u(name, queue, job_type, schedule, value)"
      " ORDER BY u.name COLLATE \"C\", u.queue COLLATE \"C\", u.job_type COLLATE \"C\","
      "   u.schedule COLLATE \"C\""
      " ON CONFLICT (name, queue, job_type, schedule) DO UPDATE SET value = t.value + "
      "excluded.value",
      fmt::arg("s", s));
}

std::string list_metric_totals_sql(const std::string& s) {
  return fmt::format(
      "SELECT name, queue, job_type, schedule, value FROM {}.metric_totals"
      " ORDER BY name COLLATE \"C\", queue COLLATE \"C\", job_type COLLATE \"C\","
      "   schedule COLLATE \"C\"",
      s);
}

}  // namespace errand::pg
