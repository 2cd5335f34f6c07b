// The statements of the counts (postgres/sql.hpp).
#include "postgres/sql.hpp"

#include <fmt/format.h>

namespace errand::pg {

namespace {

// Up to $`bound` rows of `table` matching `where`, counted.
std::string count_up_to(const std::string& table, std::string_view where, int bound) {
  return fmt::format("(SELECT count(*) FROM (SELECT 1 FROM {} WHERE {} LIMIT ${}::int8) x)", table,
                     where, bound);
}

}  // namespace

std::string waiting_at_next_priority_sql(const std::string& s) {
  const std::string jobs = s + ".jobs";
  const std::string at_p = "queue = $1 AND locked_by IS NULL AND priority = p.v";
  return fmt::format(
      "SELECT p.v, {first}, {ready}, {scheduled}"
      " FROM (SELECT priority AS v FROM {jobs} WHERE queue = $1 AND locked_by IS NULL"
      "  AND priority < $2::int8 ORDER BY priority DESC LIMIT 1) p"
      " CROSS JOIN LATERAL (SELECT run_at FROM {jobs} WHERE {at_p} ORDER BY run_at LIMIT 1) f",
      fmt::arg("first", us_of("f.run_at")), fmt::arg("jobs", jobs), fmt::arg("at_p", at_p),
      fmt::arg("ready", count_up_to(jobs, at_p + " AND run_at <= " + ts_of("$3"), 4)),
      fmt::arg("scheduled", count_up_to(jobs, at_p + " AND run_at > " + ts_of("$3"), 5)));
}

std::string leases_by_queue_sql(const std::string& s) {
  return fmt::format(
      "SELECT queue, count(*) FILTER (WHERE locked_at > {0}),"
      " count(*) FILTER (WHERE locked_at <= {0})"
      " FROM {1}.jobs WHERE locked_by IS NOT NULL GROUP BY queue",
      ts_of("$1"), s);
}

std::string queue_finished_counts_sql(const std::string& s) {
  const std::string finished = s + ".finished_jobs";
  return fmt::format("SELECT q.name, {}, {}, {} FROM {}.queues q",
                     count_up_to(finished, "queue = q.name AND state = 'completed'", 1),
                     count_up_to(finished, "queue = q.name AND state = 'cancelled'", 1),
                     count_up_to(finished, "queue = q.name AND state = 'discarded'", 1), s);
}

std::string failing_and_finished_counts_sql(const std::string& s) {
  const std::string finished = s + ".finished_jobs";
  return fmt::format("SELECT {}, {}, {}, {}", count_up_to(s + ".jobs", "error_count > 0", 1),
                     count_up_to(finished, "state = 'completed'", 1),
                     count_up_to(finished, "state = 'cancelled'", 1),
                     count_up_to(finished, "state = 'discarded'", 1));
}

std::string queue_names_sql(const std::string& s) {
  return fmt::format("SELECT name FROM {}.queues ORDER BY name", s);
}

}  // namespace errand::pg
