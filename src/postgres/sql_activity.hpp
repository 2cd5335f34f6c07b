// The PostgreSQL store's statements for minutes of activity and metric totals
// (postgres_activity.cpp); sql.hpp's
// rules hold: built from the quoted schema only, every value a bound parameter.
#pragma once

#include <string>

namespace errand::pg {

// Adds the rows of the arrays $1 (minutes, microseconds), $2 (queues), $3 completed, $4 failed,
// $5 started, $6 latency_sum, $7 latency_max (one row per minute and queue, in that order) to
// the stored minutes, keeping the longest wait.
std::string record_activity_sql(const std::string& quoted_schema);
// The minutes from $1 (microseconds) on, in read_activity_minute's columns, oldest first.
std::string list_activity_sql(const std::string& quoted_schema);

// Adds the rows of the arrays $1 (names), $2 (queues), $3 (job types), $4 (schedules), $5
// (values; one row per series, in that order) to the stored metric totals.
std::string add_metric_totals_sql(const std::string& quoted_schema);
// Every metric total, in read_metric_total's columns and order.
std::string list_metric_totals_sql(const std::string& quoted_schema);

}  // namespace errand::pg
