// The PostgreSQL store's counts (postgres_store.hpp): jobs by state (counts) and by queue
// (list_queues), exact or up to a limit (core/waiting_counts.hpp), in one read-only snapshot.
#include "postgres/postgres_store.hpp"

#include "core/rows.hpp"
#include "core/waiting_counts.hpp"

#include <limits>
#include <map>

namespace errand::pg {

using detail::micros_of;

namespace {

// A count's bound as a parameter: NULL (LIMIT ALL) for every row.
void add_bound(Params& params, std::int64_t bound) {
  if (bound == detail::kCountAll) {
    params.add_null();
  } else {
    params.add(bound);
  }
}

}  // namespace

detail::WaitingCounts PostgresStore::count_waiting(Connection& c, const std::string& queue,
                                                   TimePoint now, std::int64_t limit) {
  const auto jobs = stored(jobs_table_);
  return detail::count_waiting(
      limit, now,
      [&](std::optional<std::int32_t> below, std::int64_t ready_bound,
          std::int64_t scheduled_bound) -> std::optional<detail::PriorityWaiting> {
        Params params;
        params.add(queue);
        params.add(below ? std::int64_t{*below} : std::numeric_limits<std::int64_t>::max());
        params.add(micros_of(now));
        add_bound(params, ready_bound);
        add_bound(params, scheduled_bound);
        const Result r = c.exec_prepared("errand_waiting", waiting_sql_, params);
        if (r.rows() == 0) return std::nullopt;
        return detail::read_priority_waiting(ResultRow{r, 0}, jobs);
      });
}

std::vector<std::string> PostgresStore::queue_names(Connection& c) {
  std::vector<std::string> names;
  const Result r = c.exec(queue_names_sql(schema_));
  for (int i = 0; i < r.rows(); ++i)
    names.emplace_back(r.text(i, 0));
  return names;
}

void PostgresStore::count_failing_and_finished(Connection& c, std::int64_t limit,
                                               JobCounts& counts) {
  Params params;
  add_bound(params, detail::count_bound(limit, 0));
  const Result r = c.exec(failing_and_finished_counts_sql(schema_), params);
  const ResultRow row{r, 0};
  const auto finished = stored(finished_jobs_table_);
  counts.failing = detail::read_count(row, 0, stored(jobs_table_), "the count of failing jobs");
  counts.completed = detail::read_count(row, 1, finished, "the count of completed jobs");
  counts.cancelled = detail::read_count(row, 2, finished, "the count of cancelled jobs");
  counts.dead = detail::read_count(row, 3, finished, "the count of discarded jobs");
}

JobCounts PostgresStore::counts(Duration lock_timeout, std::int64_t limit) {
  detail::check_count_limit(limit);
  auto c = pool_.acquire();
  Transaction tx(*c);
  const TimePoint now = begin_snapshot(*c, stored(jobs_table_));
  JobCounts counts;
  counts.limit = limit;
  for (const std::string& queue : queue_names(*c)) {
    const detail::WaitingCounts waiting = count_waiting(*c, queue, now, limit);
    counts.ready += waiting.ready;
    counts.scheduled += waiting.scheduled;
  }
  {
    Params params;
    params.add(micros_of(now - lock_timeout));
    const Result r = c->exec(leases_by_queue_sql(schema_), params);
    const auto jobs = stored(jobs_table_);
    for (int i = 0; i < r.rows(); ++i) {
      counts.running += detail::read_count(ResultRow{r, i}, 1, jobs, "a count of running jobs");
      counts.abandoned += detail::read_count(ResultRow{r, i}, 2, jobs, "a count of abandoned jobs");
    }
  }
  count_failing_and_finished(*c, limit, counts);
  tx.commit();
  return counts;
}

std::vector<QueueInfo> PostgresStore::list_queues(std::int64_t count_limit) {
  detail::check_count_limit(count_limit);
  auto c = pool_.acquire();
  // One snapshot for every count.
  Transaction tx(*c);
  const TimePoint now = begin_snapshot(*c, stored(queues_table_));
  std::vector<QueueInfo> queues;
  std::map<std::string, std::size_t, std::less<>> index;
  {
    const Result r = c->exec(queue_rows_sql(schema_, /*named=*/false, /*lock=*/false));
    const auto where = stored(queues_table_);
    for (int i = 0; i < r.rows(); ++i) {
      TimePoint updated_at{};
      const detail::QueueSnapshot queue =
          detail::read_queue_row(ResultRow{r, i}, where, &updated_at);
      QueueInfo info = detail::queue_info(queue, updated_at, now);
      info.count_limit = count_limit;
      index.emplace(info.name, queues.size());
      queues.push_back(std::move(info));
    }
  }
  const auto at = [&](std::string_view name) -> QueueInfo* {
    const auto it = index.find(name);
    return it == index.end() ? nullptr : &queues[it->second];
  };
  for (QueueInfo& info : queues) {
    const detail::WaitingCounts waiting = count_waiting(*c, info.name, now, count_limit);
    info.ready = waiting.ready;
    info.scheduled = waiting.scheduled;
    if (waiting.oldest_ready_run_at) info.oldest_ready_age = now - *waiting.oldest_ready_run_at;
  }
  const auto jobs = stored(jobs_table_);
  {
    Params params;
    params.add(micros_of(now));
    const Result r = c->exec(leases_by_queue_sql(schema_), params);
    for (int i = 0; i < r.rows(); ++i) {
      if (QueueInfo* info = at(r.text(i, 0))) {
        info->running = detail::read_count(ResultRow{r, i}, 1, jobs, "a count of leases") +
                        detail::read_count(ResultRow{r, i}, 2, jobs, "a count of leases");
      }
    }
  }
  {
    Params params;
    add_bound(params, detail::count_bound(count_limit, 0));
    const Result r = c->exec(queue_finished_counts_sql(schema_), params);
    const auto finished = stored(finished_jobs_table_);
    for (int i = 0; i < r.rows(); ++i) {
      QueueInfo* info = at(r.text(i, 0));
      if (!info) continue;
      const ResultRow row{r, i};
      info->completed = detail::read_count(row, 1, finished, "a count of completed jobs");
      info->cancelled = detail::read_count(row, 2, finished, "a count of cancelled jobs");
      info->discarded = detail::read_count(row, 3, finished, "a count of discarded jobs");
    }
  }
  {
    const Result r = c->exec(queue_busiest_keys_sql(schema_));
    for (int i = 0; i < r.rows(); ++i) {
      if (QueueInfo* info = at(r.text(i, 0)))
        info->busiest_key_running = detail::read_count(ResultRow{r, i}, 1, jobs, "a count");
    }
  }
  tx.commit();
  return queues;
}

}  // namespace errand::pg
