// The SQLite store's counts (sqlite_store.hpp): jobs by state (counts) and by queue
// (list_queues), exact or up to a limit (core/waiting_counts.hpp), in one read transaction.
#include "sqlite/sqlite_store.hpp"

#include <errand/error.hpp>

#include "core/rows.hpp"
#include "core/waiting_counts.hpp"

#include <limits>
#include <map>

namespace errand::sqlite {

using detail::micros_of;

detail::WaitingCounts SqliteStore::count_waiting(const std::string& queue, TimePoint now,
                                                 std::int64_t limit) {
  const auto jobs = stored("errand_jobs");
  return detail::count_waiting(
      limit, now,
      [&](std::optional<std::int32_t> below, std::int64_t ready_bound,
          std::int64_t scheduled_bound) -> std::optional<detail::PriorityWaiting> {
        auto next = connection_.query(sql::kWaitingAtNextPriority);
        next->bind(1, queue);
        next->bind(2, below ? std::int64_t{*below} : std::numeric_limits<std::int64_t>::max());
        next->bind(3, micros_of(now));
        next->bind(4, ready_bound);
        next->bind(5, scheduled_bound);
        if (!next->step()) return std::nullopt;
        return detail::read_priority_waiting(*next, jobs);
      });
}

std::vector<std::string> SqliteStore::queue_names() {
  std::vector<std::string> names;
  auto rows = connection_.query(sql::kQueueNames);
  while (rows->step())
    names.push_back(rows->text(0));
  return names;
}

JobCounts SqliteStore::counts(Duration lock_timeout, std::int64_t limit) {
  detail::check_count_limit(limit);
  std::lock_guard lock(mutex_);
  const auto now = clock_->now();
  Transaction tx(connection_, Transaction::Behavior::deferred);  // one consistent snapshot
  JobCounts counts;
  counts.limit = limit;
  for (const std::string& queue : queue_names()) {
    const detail::WaitingCounts waiting = count_waiting(queue, now, limit);
    counts.ready += waiting.ready;
    counts.scheduled += waiting.scheduled;
  }
  const auto jobs = stored("errand_jobs");
  {
    auto leases = connection_.query(sql::kQueueLeases);
    leases->bind(1, micros_of(now - lock_timeout));
    while (leases->step()) {
      counts.running += detail::read_count(*leases, 1, jobs, "a count of running jobs");
      counts.abandoned += detail::read_count(*leases, 2, jobs, "a count of abandoned jobs");
    }
  }
  {
    auto query = connection_.query(sql::kCountFailingAndFinished);
    query->bind(1, detail::count_bound(limit, 0));
    query->step();
    const auto finished = stored("errand_finished_jobs");
    counts.failing = detail::read_count(*query, 0, jobs, "the count of failing jobs");
    counts.completed = detail::read_count(*query, 1, finished, "the count of completed jobs");
    counts.cancelled = detail::read_count(*query, 2, finished, "the count of cancelled jobs");
    counts.dead = detail::read_count(*query, 3, finished, "the count of discarded jobs");
  }
  tx.commit();
  return counts;
}

std::vector<QueueInfo> SqliteStore::list_queues(std::int64_t count_limit) {
  detail::check_count_limit(count_limit);
  std::lock_guard lock(mutex_);
  const auto now = clock_->now();
  std::vector<QueueInfo> queues;
  std::map<std::string, std::size_t, std::less<>> index;
  Transaction tx(connection_, Transaction::Behavior::deferred);
  {
    auto rows = connection_.query(sql::kQueueRows);
    const auto where = stored("errand_queues");
    while (rows->step()) {
      TimePoint updated_at{};
      const detail::QueueSnapshot queue = detail::read_queue_row(*rows, where, &updated_at);
      QueueInfo info = detail::queue_info(queue, updated_at, now);
      info.count_limit = count_limit;
      index.emplace(info.name, queues.size());
      queues.push_back(std::move(info));
    }
  }
  const auto jobs = stored("errand_jobs");
  const auto at = [&](const std::string& name) -> QueueInfo* {
    const auto it = index.find(name);
    return it == index.end() ? nullptr : &queues[it->second];
  };
  for (QueueInfo& info : queues) {
    const detail::WaitingCounts waiting = count_waiting(info.name, now, count_limit);
    info.ready = waiting.ready;
    info.scheduled = waiting.scheduled;
    if (waiting.oldest_ready_run_at) info.oldest_ready_age = now - *waiting.oldest_ready_run_at;
  }
  {
    auto leases = connection_.query(sql::kQueueLeases);
    leases->bind(1, micros_of(now));
    while (leases->step()) {
      QueueInfo* info = at(leases->text(0));
      if (!info) continue;
      info->running = detail::read_count(*leases, 1, jobs, "a count of leases") +
                      detail::read_count(*leases, 2, jobs, "a count of leases");
    }
  }
  {
    auto counts = connection_.query(sql::kQueueFinishedCounts);
    counts->bind(1, detail::count_bound(count_limit, 0));
    const auto finished = stored("errand_finished_jobs");
    while (counts->step()) {
      QueueInfo* info = at(counts->text(0));
      if (!info) continue;
      info->completed = detail::read_count(*counts, 1, finished, "a count of completed jobs");
      info->cancelled = detail::read_count(*counts, 2, finished, "a count of cancelled jobs");
      info->discarded = detail::read_count(*counts, 3, finished, "a count of discarded jobs");
    }
  }
  {
    auto busiest = connection_.query(sql::kQueueBusiestKeys);
    while (busiest->step()) {
      QueueInfo* info = at(busiest->text(0));
      if (info) info->busiest_key_running = detail::read_count(*busiest, 1, jobs, "a count");
    }
  }
  tx.commit();
  return queues;
}

}  // namespace errand::sqlite
