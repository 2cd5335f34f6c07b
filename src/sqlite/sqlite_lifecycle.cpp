// The SQLite store's lifecycle operations and inspection (sqlite_store.hpp): cancel, retry,
// prune, and reading jobs in every state; dead-letter administration.
#include "sqlite/sqlite_store.hpp"

#include "sqlite/sql_activity.hpp"
#include "sqlite/sql_schedules.hpp"

#include <errand/error.hpp>

#include "core/rows.hpp"
#include "core/wakeup.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <limits>

namespace errand::sqlite {

using detail::micros_of;

namespace {

// Binds a retention cutoff: now - keep, or NULL (kept until purged).
void bind_cutoff(Statement& statement, int index, std::int64_t now,
                 const std::optional<Duration>& keep) {
  if (keep) {
    statement.bind(index, now - keep->count());
  } else {
    statement.bind_null(index);
  }
}

}  // namespace

CancelResult SqliteStore::cancel_job(JobId id, std::string_view reason) {
  require_writable("cancel");
  CancelResult result;
  {
    std::lock_guard lock(mutex_);
    const auto now = micros_of(clock_->now());
    Transaction tx(connection_, Transaction::Behavior::immediate);
    std::optional<bool> locked;
    {
      auto state = connection_.query(sql::kLockedState);
      state->bind(1, id);
      if (state->step()) locked = state->int64(0) != 0;
    }
    if (!locked) {
      auto finished = connection_.query(sql::kFinishedState);
      finished->bind(1, id);
      if (!finished->step()) return result;  // not_found
      std::string text;
      const auto state = finished->read_text(0, text) ? detail::finished_state(text) : std::nullopt;
      if (!state) {
        throw StoreError(detail::invalid_value_message(
            stored("errand_finished_jobs"), fmt::format("id {}", id), "state", finished->shown(0),
            "completed, cancelled or discarded"));
      }
      return CancelResult{CancelResult::Kind::already_finished, *state};
    }
    if (*locked) {
      auto flag = connection_.query(sql::kRequestCancel);
      flag->bind(1, id);
      flag->bind(2, now);
      flag->bind(3, reason);
      flag->run();
      result.kind = CancelResult::Kind::requested;
    } else {
      auto copy = connection_.query(sql::finish_unlocked());
      copy->bind(1, id);
      copy->bind(4, now);
      copy->bind(5, std::string_view("cancelled"));
      copy->bind(6, std::int64_t{0});
      copy->bind(10, reason);
      copy->run();
      auto remove = connection_.query(sql::kDeleteUnlocked);
      remove->bind(1, id);
      remove->run();
      result.kind = CancelResult::Kind::cancelled;
    }
    tx.commit();
  }
  if (result.kind == CancelResult::Kind::requested) detail::publish_cancel(wake_key_, id);
  return result;
}

CancelTally SqliteStore::cancel_selected(const JobSelection& which, std::string_view reason) {
  require_writable("cancel");
  CancelTally tally;
  std::vector<JobId> flagged;
  {
    std::lock_guard lock(mutex_);
    const auto now = micros_of(clock_->now());
    Transaction tx(connection_, Transaction::Behavior::immediate);
    const bool named = which.kind == JobSelection::Kind::name;
    // ?1: the type, or now for the ready jobs.
    const auto bind_which = [&](Statement& s) {
      if (named) {
        s.bind(1, which.name);
      } else {
        s.bind(1, now);
      }
    };
    {
      auto copy = connection_.query(named ? sql::finish_unlocked_named() : sql::finish_ready());
      bind_which(*copy);
      copy->bind(4, now);
      copy->bind(5, std::string_view("cancelled"));
      copy->bind(6, std::int64_t{0});
      copy->bind(10, reason);
      tally.cancelled = static_cast<std::size_t>(copy->run());
    }
    {
      auto remove = connection_.query(named ? sql::kDeleteUnlockedNamed : sql::kDeleteReady);
      bind_which(*remove);
      remove->run();
    }
    if (named) {
      auto flag = connection_.query(sql::kRequestCancelNamed);
      flag->bind(1, which.name);
      flag->bind(2, now);
      flag->bind(3, reason);
      while (flag->step())
        flagged.push_back(flag->int64(0));
      tally.requested = flagged.size();
    }
    tx.commit();
  }
  for (const JobId id : flagged)
    detail::publish_cancel(wake_key_, id);
  return tally;
}

RetryResult SqliteStore::retry_job(JobId id) {
  require_writable("retry");
  // Ids are unique across both tables: a job not moved back is either still to run or unknown.
  if (resurrect(sql::DeadWhere::finished_id, [&](Statement& s) { s.bind(1, std::int64_t{id}); }) ==
      1) {
    return RetryResult{RetryResult::Kind::retried};
  }
  std::lock_guard lock(mutex_);
  auto live = connection_.query(sql::kLockedState);
  live->bind(1, id);
  return RetryResult{live->step() ? RetryResult::Kind::not_finished : RetryResult::Kind::not_found};
}

DeleteResult SqliteStore::delete_job(JobId id) {
  require_writable("delete");
  std::lock_guard lock(mutex_);
  Transaction tx(connection_, Transaction::Behavior::immediate);
  int deleted = 0;
  for (const std::string_view statement : {sql::kDeleteFinished, sql::kDeleteUnheld}) {
    auto remove = connection_.query(statement);
    remove->bind(1, id);
    deleted += remove->run();
  }
  if (deleted > 0) {
    tx.commit();
    return DeleteResult{DeleteResult::Kind::deleted};
  }
  auto live = connection_.query(sql::kLockedState);  // still there: a worker holds it
  live->bind(1, id);
  return DeleteResult{live->step() ? DeleteResult::Kind::held : DeleteResult::Kind::not_found};
}

PruneResult SqliteStore::prune(const Retention& retention, std::size_t limit) {
  require_writable("prune");
  PruneResult result;
  if (limit == 0) return result;
  std::lock_guard lock(mutex_);
  const auto now = micros_of(clock_->now());
  const auto batch = static_cast<std::int64_t>(
      std::min<std::size_t>(limit, std::numeric_limits<std::int64_t>::max()));
  // The write lock makes this the only pruning (and the only writer) while it runs.
  Transaction tx(connection_, Transaction::Behavior::immediate);
  auto prune = connection_.query(sql::prune_finished());
  bind_cutoff(*prune, 1, now, retention.completed);
  bind_cutoff(*prune, 2, now, retention.cancelled);
  bind_cutoff(*prune, 3, now, retention.discarded);
  prune->bind(4, batch);
  result.deleted = static_cast<std::size_t>(prune->run());
  auto ticks = connection_.query(sql::kPruneTicks);
  ticks->bind(1, kTickRecordsKept.count());
  ticks->bind(2, batch);
  result.ticks_deleted = static_cast<std::size_t>(ticks->run());
  auto activity = connection_.query(sql::kPruneActivity);
  activity->bind(1, now - kActivityKept.count());
  activity->bind(2, batch);
  result.activity_deleted = static_cast<std::size_t>(activity->run());
  tx.commit();
  return result;
}

std::optional<JobInfo> SqliteStore::find_job(JobId id, Duration lock_timeout) {
  std::lock_guard lock(mutex_);
  const auto now = clock_->now();
  Transaction tx(connection_, Transaction::Behavior::deferred);  // one consistent snapshot
  for (const bool live : {true, false}) {
    auto query = connection_.query(live ? sql::find_live_job() : sql::find_finished_job());
    query->bind(1, id);
    if (!query->step()) continue;
    JobInfo job =
        detail::read_job_info(*query, stored(live ? "errand_jobs" : "errand_finished_jobs"));
    job.state = detail::state_at(job, now, lock_timeout);
    return job;
  }
  return std::nullopt;
}

std::vector<JobInfo> SqliteStore::list_jobs(const JobFilter& filter) {
  std::lock_guard lock(mutex_);
  const auto now = clock_->now();
  if (!detail::lists_by_queue(filter)) return list_part(filter, detail::LivePart::every, now);
  Transaction tx(connection_, Transaction::Behavior::deferred);  // one snapshot for every part
  const std::vector<std::string> queues =
      filter.queue ? std::vector<std::string>{*filter.queue} : queue_names();
  std::vector<JobInfo> jobs = detail::list_by_queue(
      filter, queues, [&](const JobFilter& part_filter, detail::LivePart part) {
        return list_part(part_filter, part, now);
      });
  tx.commit();
  return jobs;
}

std::vector<JobInfo> SqliteStore::list_part(const JobFilter& filter, detail::LivePart part,
                                            TimePoint now) {
  std::vector<detail::FilterParam> used;
  auto query = connection_.query(sql::list_jobs(filter, used, part));
  query->bind(1, micros_of(now));
  query->bind(2, micros_of(now - filter.lock_timeout));
  query->bind(3, filter.name.value_or(""));
  query->bind(4, static_cast<std::int64_t>(filter.limit));
  const bool finished = detail::lists_finished(filter);
  if (finished) query->bind(5, to_string(*filter.state));
  query->bind_optional(6, filter.queue);
  for (std::size_t i = 0; i < used.size(); ++i)
    query->bind(static_cast<int>(7 + i), detail::filter_param_value(filter, used[i]));
  std::vector<JobInfo> jobs;
  const auto where = stored(finished ? "errand_finished_jobs" : "errand_jobs");
  while (query->step()) {
    jobs.push_back(detail::read_job_info(*query, where));
    jobs.back().state = detail::state_at(jobs.back(), now, filter.lock_timeout);
  }
  return jobs;
}

std::vector<DeadJob> SqliteStore::list_dead(const DeadFilter& filter) {
  std::lock_guard lock(mutex_);
  auto query = connection_.query(sql::list_dead(filter.name.has_value()));
  if (filter.name) query->bind(1, *filter.name);
  query->bind(2, static_cast<std::int64_t>(filter.limit));
  std::vector<DeadJob> jobs;
  while (query->step())
    jobs.push_back(detail::read_dead_job(*query, stored("errand_finished_jobs")));
  return jobs;
}

bool SqliteStore::retry_dead(JobId id) {
  require_writable("retry_dead");
  return resurrect(sql::DeadWhere::id, [&](Statement& s) { s.bind(1, std::int64_t{id}); }) == 1;
}

std::size_t SqliteStore::retry_selected_dead(const DeadSelection& which) {
  require_writable("retry_dead_jobs");
  return resurrect(sql::dead_where(which.kind), [&](Statement& s) { bind_dead(s, which); });
}

std::size_t SqliteStore::purge_selected_dead(const DeadSelection& which) {
  require_writable("purge_dead_jobs");
  std::lock_guard lock(mutex_);
  auto purge = connection_.query(sql::delete_dead(sql::dead_where(which.kind)));
  bind_dead(*purge, which);
  return static_cast<std::size_t>(purge->run());
}

DeadTally SqliteStore::tally_selected_dead(const DeadSelection& which, std::size_t max_ids) {
  const auto where = sql::dead_where(which.kind);
  std::lock_guard lock(mutex_);
  Transaction tx(connection_, Transaction::Behavior::deferred);  // one consistent snapshot
  DeadTally tally;
  {
    auto by_name = connection_.query(sql::tally_dead_by_name(where));
    bind_dead(*by_name, which);
    while (by_name->step()) {
      tally.by_name.emplace_back(by_name->text(0), by_name->int64(1));
      tally.total += by_name->int64(1);
    }
  }
  {
    auto ids = connection_.query(sql::tally_dead_ids(where));
    bind_dead(*ids, which);
    ids->bind(2, static_cast<std::int64_t>(
                     std::min<std::size_t>(max_ids, std::numeric_limits<std::int64_t>::max())));
    while (ids->step())
      tally.ids.push_back(ids->int64(0));
  }
  tx.commit();
  return tally;
}

void SqliteStore::bind_dead(Statement& statement, const DeadSelection& which) {
  if (which.kind == DeadSelection::Kind::name) statement.bind(1, which.name);
  if (which.kind == DeadSelection::Kind::ids) {
    statement.bind(1, fmt::format("[{}]", fmt::join(which.ids, ",")));
  }
}

template <class Bind>
std::size_t SqliteStore::resurrect(sql::DeadWhere where, Bind bind) {
  std::size_t moved = 0;
  {
    std::lock_guard lock(mutex_);
    const auto now = micros_of(clock_->now());
    Transaction tx(connection_, Transaction::Behavior::immediate);
    {
      auto copy = connection_.query(sql::copy_dead_back(where));
      bind(*copy);
      copy->bind(2, now);
      moved = static_cast<std::size_t>(copy->run());
    }
    auto remove = connection_.query(sql::delete_dead(where));
    bind(*remove);
    remove->run();
    tx.commit();
  }
  if (moved > 0) detail::publish_wakeup(wake_key_);
  return moved;
}

}  // namespace errand::sqlite
