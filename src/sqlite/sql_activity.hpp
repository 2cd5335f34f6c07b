// The SQLite store's statements for minutes of activity and metric totals (sqlite_activity.cpp).
#pragma once

#include <string_view>

namespace errand::sqlite::sql {

// Adds counts ?3..?7 to minute ?1 of queue ?2 (microseconds), keeping the longest wait.
inline constexpr std::string_view kRecordActivity =
    "INSERT INTO errand_activity (minute, queue, completed, failed, started, latency_sum, "
    "latency_max) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT (minute, queue) DO UPDATE SET "
    "completed = completed + excluded.completed, failed = failed + excluded.failed, "
    "started = started + excluded.started, latency_sum = latency_sum + excluded.latency_sum, "
    "latency_max = max(latency_max, excluded.latency_max)";
// The minutes from ?1 on, in read_activity_minute's columns, oldest first, then by queue.
inline constexpr std::string_view kListActivity =
    "SELECT minute, queue, completed, failed, started, latency_sum, latency_max "
    "FROM errand_activity WHERE minute >= ?1 ORDER BY minute, queue";
// Deletes up to ?2 minutes older than ?1, oldest first.
inline constexpr std::string_view kPruneActivity =
    "DELETE FROM errand_activity WHERE (minute, queue) IN (SELECT minute, queue "
    "FROM errand_activity WHERE minute < ?1 ORDER BY minute LIMIT ?2)";

// Adds ?5 to the metric total (?1 name, ?2 queue, ?3 job_type, ?4 schedule).
inline constexpr std::string_view kAddMetricTotal =
    "INSERT INTO errand_metric_totals (name, queue, job_type, schedule, value) "
    "VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (name, queue, job_type, schedule) DO UPDATE SET "
    "value = value + excluded.value";
// Every metric total, in read_metric_total's columns and order.
inline constexpr std::string_view kListMetricTotals =
    "SELECT name, queue, job_type, schedule, value FROM errand_metric_totals "
    "ORDER BY name, queue, job_type, schedule";

}  // namespace errand::sqlite::sql
