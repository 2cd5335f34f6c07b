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

}  // namespace errand::pg
