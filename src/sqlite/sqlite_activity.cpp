// Minutes of activity and metric totals on SQLite (Store::record_activity, list_activity,
// add_metric_totals, list_metric_totals): one write transaction per heartbeat's rows.
#include "sqlite/sqlite_store.hpp"

#include "core/activity.hpp"
#include "core/rows.hpp"
#include "sqlite/sql_activity.hpp"

namespace errand::sqlite {

using detail::micros_of;

void SqliteStore::record_activity(std::span<const ActivityMinute> minutes) {
  const std::vector<ActivityMinute> rows = detail::merged_activity(minutes);
  if (rows.empty()) return;
  require_writable("record_activity");
  std::lock_guard lock(mutex_);
  Transaction tx(connection_, Transaction::Behavior::immediate);
  auto record = connection_.query(sql::kRecordActivity);
  for (const ActivityMinute& m : rows) {
    record->bind(1, micros_of(m.minute));
    record->bind(2, m.queue);
    record->bind(3, m.completed);
    record->bind(4, m.failed);
    record->bind(5, m.started);
    record->bind(6, static_cast<std::int64_t>(m.latency_sum.count()));
    record->bind(7, static_cast<std::int64_t>(m.latency_max.count()));
    record->run();
    record->reset();
  }
  tx.commit();
}

std::vector<ActivityMinute> SqliteStore::list_activity(TimePoint since) {
  std::lock_guard lock(mutex_);
  auto query = connection_.query(sql::kListActivity);
  query->bind(1, micros_of(since));
  std::vector<ActivityMinute> minutes;
  const auto where = stored("errand_activity");
  while (query->step())
    minutes.push_back(detail::read_activity_minute(*query, where));
  return minutes;
}

void SqliteStore::add_metric_totals(std::span<const MetricTotal> totals) {
  const std::vector<MetricTotal> rows = detail::merged_metric_totals(totals);
  if (rows.empty()) return;
  require_writable("add_metric_totals");
  std::lock_guard lock(mutex_);
  Transaction tx(connection_, Transaction::Behavior::immediate);
  auto add = connection_.query(sql::kAddMetricTotal);
  for (const MetricTotal& t : rows) {
    add->bind(1, t.name);
    add->bind(2, t.queue);
    add->bind(3, t.job_type);
    add->bind(4, t.schedule);
    add->bind(5, t.value);
    add->run();
    add->reset();
  }
  tx.commit();
}

std::vector<MetricTotal> SqliteStore::list_metric_totals() {
  std::lock_guard lock(mutex_);
  auto query = connection_.query(sql::kListMetricTotals);
  std::vector<MetricTotal> totals;
  const auto where = stored("errand_metric_totals");
  while (query->step())
    totals.push_back(detail::read_metric_total(*query, where));
  return totals;
}

}  // namespace errand::sqlite
