// Minutes of activity and metric totals on PostgreSQL (Store::record_activity, list_activity,
// add_metric_totals, list_metric_totals): one statement per heartbeat's rows.
#include "postgres/postgres_store.hpp"

#include "core/activity.hpp"
#include "core/rows.hpp"
#include "postgres/sql_activity.hpp"

namespace errand::pg {

using detail::micros_of;

void PostgresStore::record_activity(std::span<const ActivityMinute> minutes) {
  const std::vector<ActivityMinute> rows = detail::merged_activity(minutes);
  if (rows.empty()) return;
  std::vector<std::int64_t> at, completed, failed, started, latency_sum, latency_max;
  std::vector<std::string> queues;
  for (const ActivityMinute& m : rows) {
    at.push_back(micros_of(m.minute));
    queues.push_back(m.queue);
    completed.push_back(m.completed);
    failed.push_back(m.failed);
    started.push_back(m.started);
    latency_sum.push_back(static_cast<std::int64_t>(m.latency_sum.count()));
    latency_max.push_back(static_cast<std::int64_t>(m.latency_max.count()));
  }
  Params params;
  params.add_array(at).add_array(queues).add_array(completed).add_array(failed);
  params.add_array(started).add_array(latency_sum).add_array(latency_max);
  auto c = pool_.acquire();
  c->exec(record_activity_sql_, params);
}

std::vector<ActivityMinute> PostgresStore::list_activity(TimePoint since) {
  Params params;
  params.add(micros_of(since));
  auto c = pool_.acquire();
  const Result r = c->exec(list_activity_sql_, params);
  std::vector<ActivityMinute> minutes;
  const auto where = stored(activity_table_);
  for (int i = 0; i < r.rows(); ++i)
    minutes.push_back(detail::read_activity_minute(ResultRow{r, i}, where));
  return minutes;
}

void PostgresStore::add_metric_totals(std::span<const MetricTotal> totals) {
  const std::vector<MetricTotal> rows = detail::merged_metric_totals(totals);
  if (rows.empty()) return;
  std::vector<std::string> names, queues, job_types, schedules;
  std::vector<std::int64_t> values;
  for (const MetricTotal& t : rows) {
    names.push_back(t.name);
    queues.push_back(t.queue);
    job_types.push_back(t.job_type);
    schedules.push_back(t.schedule);
    values.push_back(t.value);
  }
  Params params;
  params.add_array(names).add_array(queues).add_array(job_types).add_array(schedules);
  params.add_array(values);
  auto c = pool_.acquire();
  c->exec(add_metric_totals_sql_, params);
}

std::vector<MetricTotal> PostgresStore::list_metric_totals() {
  auto c = pool_.acquire();
  const Result r = c->exec(list_metric_totals_sql_, Params{});
  std::vector<MetricTotal> totals;
  const auto where = stored(metric_totals_table_);
  for (int i = 0; i < r.rows(); ++i)
    totals.push_back(detail::read_metric_total(ResultRow{r, i}, where));
  return totals;
}

}  // namespace errand::pg
