// The PostgreSQL store's lifecycle operations and inspection (postgres_store.hpp): cancel, retry,
// prune, and reading jobs in every state; dead-letter administration.
#include "postgres/postgres_store.hpp"

#include <errand/error.hpp>

#include "core/rows.hpp"
#include "core/wakeup.hpp"

#include <fmt/format.h>

#include <limits>

namespace errand::pg {

using detail::micros_of;

namespace {

// A retention as prune_sql's parameter: microseconds, or NULL (kept until purged).
void add_keep(Params& params, const std::optional<Duration>& keep) {
  if (keep) {
    params.add(static_cast<std::int64_t>(keep->count()));
  } else {
    params.add_null();
  }
}

}  // namespace

CancelResult PostgresStore::cancel_job(JobId id, std::string_view reason) {
  CancelResult result;
  Params id_param;
  id_param.add(std::int64_t{id});
  auto c = pool_.acquire();
  Transaction tx(*c);
  // The row lock orders this cancel with the job's claim and settle: it is either still
  // waiting (moved to cancelled here) or locked by a worker (flagged, and its settle sees it).
  const Result locked = c->exec(cancel_lock_sql(schema_), id_param);
  if (locked.rows() == 0) {
    const Result finished = c->exec(finished_state_sql(schema_), id_param);
    if (finished.rows() == 0) return result;  // not_found
    const auto state =
        finished.is_null(0, 0) ? std::nullopt : detail::finished_state(finished.text(0, 0));
    if (!state) {
      throw StoreError(detail::invalid_value_message(
          stored(finished_jobs_table_), fmt::format("id {}", id), "state",
          ResultRow{finished, 0}.shown(0), "completed, cancelled or discarded"));
    }
    return CancelResult{CancelResult::Kind::already_finished, *state};
  }
  Params params;
  add_now(params);
  params.add(reason).add(std::int64_t{id});
  if (locked.int64(0, 0) != 0) {
    params.add(channel_name_);
    const Result flagged = c->exec(request_cancel_sql(schema_, CancelWhere::id), params);
    tx.commit();
    publish_cancels(flagged);
    result.kind = CancelResult::Kind::requested;
  } else {
    c->exec(cancel_waiting_sql(schema_, CancelWhere::id), params);
    tx.commit();
    result.kind = CancelResult::Kind::cancelled;
  }
  return result;
}

CancelTally PostgresStore::cancel_selected(const JobSelection& which, std::string_view reason) {
  const bool named = which.kind == JobSelection::Kind::name;
  CancelTally tally;
  Params params;
  add_now(params);
  params.add(reason);
  if (named) params.add(which.name);  // (the ready jobs are those due at now)
  auto c = pool_.acquire();
  Transaction tx(*c);
  tally.cancelled = static_cast<std::size_t>(
      c->exec(cancel_waiting_sql(schema_, named ? CancelWhere::name : CancelWhere::ready), params)
          .int64(0, 0));
  if (named) {
    params.add(channel_name_);
    const Result flagged = c->exec(request_cancel_sql(schema_, CancelWhere::name), params);
    tally.requested = static_cast<std::size_t>(flagged.rows());
    tx.commit();
    publish_cancels(flagged);
  } else {
    tx.commit();
  }
  return tally;
}

void PostgresStore::publish_cancels(const Result& flagged) const {
  for (int i = 0; i < flagged.rows(); ++i)
    detail::publish_cancel(wake_key_, flagged.int64(i, 0));
}

RetryResult PostgresStore::retry_job(JobId id) {
  Params params;
  params.add(std::int64_t{id});
  if (resurrect("id = $2", params) == 1) return RetryResult{RetryResult::Kind::retried};
  auto c = pool_.acquire();
  Params id_param;
  id_param.add(std::int64_t{id});
  const bool live = c->exec(job_exists_sql(schema_), id_param).rows() > 0;
  return RetryResult{live ? RetryResult::Kind::not_finished : RetryResult::Kind::not_found};
}

DeleteResult PostgresStore::delete_job(JobId id) {
  Params params;
  params.add(std::int64_t{id});
  auto c = pool_.acquire();
  // One statement: a claim racing it locks the row first (then it is held) or after (gone).
  const Result r = c->exec(delete_job_sql(schema_), params);
  if (r.int64(0, 0) > 0) return DeleteResult{DeleteResult::Kind::deleted};
  return DeleteResult{r.text(0, 1) == "t" ? DeleteResult::Kind::held
                                          : DeleteResult::Kind::not_found};
}

PruneResult PostgresStore::prune(const Retention& retention, std::size_t limit) {
  PruneResult result;
  if (limit == 0) return result;
  Params params;
  add_now(params);
  add_keep(params, retention.completed);
  add_keep(params, retention.cancelled);
  add_keep(params, retention.discarded);
  params.add(static_cast<std::int64_t>(
      std::min<std::size_t>(limit, std::numeric_limits<std::int64_t>::max())));
  params.add("errand-prune:" + options_.schema);
  params.add(kTickRecordsKept.count());
  params.add(kActivityKept.count());
  auto c = pool_.acquire();
  const Result r = c->exec(prune_sql(schema_), params);
  result.busy = r.int64(0, 0) == 0;
  result.deleted = static_cast<std::size_t>(r.int64(0, 1));
  result.ticks_deleted = static_cast<std::size_t>(r.int64(0, 2));
  result.activity_deleted = static_cast<std::size_t>(r.int64(0, 3));
  return result;
}

std::optional<JobInfo> PostgresStore::find_job(JobId id, Duration lock_timeout) {
  Params params;
  add_now(params);
  params.add(std::int64_t{id});
  auto c = pool_.acquire();
  for (const bool finished : {false, true}) {
    const Result r = c->exec(find_job_sql(schema_, finished), params);
    if (r.rows() == 0) continue;
    const ResultRow row{r, 0};
    const auto where = stored(finished ? finished_jobs_table_ : jobs_table_);
    JobInfo job = detail::read_job_info(row, where);
    job.state = detail::state_at(
        job, detail::read_time(row, detail::kJobInfoColumns, where, "the database's now()"),
        lock_timeout);
    return job;
  }
  return std::nullopt;
}

std::vector<JobInfo> PostgresStore::list_jobs(const JobFilter& filter) {
  auto c = pool_.acquire();
  if (!detail::lists_by_queue(filter)) return list_part(*c, filter, detail::LivePart::every);
  Transaction tx(*c);
  begin_snapshot(*c, stored(jobs_table_));  // one snapshot (and now()) for every part
  const std::vector<std::string> queues =
      filter.queue ? std::vector<std::string>{*filter.queue} : queue_names(*c);
  std::vector<JobInfo> jobs = detail::list_by_queue(
      filter, queues, [&](const JobFilter& part_filter, detail::LivePart part) {
        return list_part(*c, part_filter, part);
      });
  tx.commit();
  return jobs;
}

std::vector<JobInfo> PostgresStore::list_part(Connection& c, const JobFilter& filter,
                                              detail::LivePart part) {
  Params params;
  add_now(params);
  params.add(static_cast<std::int64_t>(filter.lock_timeout.count()));
  params.add_optional(filter.name);
  params.add(static_cast<std::int64_t>(filter.limit));
  params.add_optional(filter.queue);
  std::vector<detail::FilterParam> used;
  const std::string sql = list_jobs_sql(schema_, filter, used, part);
  for (const detail::FilterParam p : used)
    params.add(detail::filter_param_value(filter, p));
  Result r = c.exec(sql, params);
  std::vector<JobInfo> jobs;
  const bool finished = detail::lists_finished(filter);
  const auto where = stored(finished ? finished_jobs_table_ : jobs_table_);
  for (int i = 0; i < r.rows(); ++i) {
    const ResultRow row{r, i};
    jobs.push_back(detail::read_job_info(row, where));
    jobs.back().state = detail::state_at(
        jobs.back(), detail::read_time(row, detail::kJobInfoColumns, where, "the database's now()"),
        filter.lock_timeout);
  }
  return jobs;
}

std::vector<DeadJob> PostgresStore::list_dead(const DeadFilter& filter) {
  Params params;
  params.add(static_cast<std::int64_t>(filter.limit));
  if (filter.name) params.add(*filter.name);
  auto c = pool_.acquire();
  Result r = c->exec(list_dead_sql(schema_, filter.name.has_value()), params);
  std::vector<DeadJob> jobs;
  const auto where = stored(finished_jobs_table_);
  for (int i = 0; i < r.rows(); ++i)
    jobs.push_back(detail::read_dead_job(ResultRow{r, i}, where));
  return jobs;
}

bool PostgresStore::retry_dead(JobId id) {
  Params params;
  params.add(std::int64_t{id});
  return resurrect("state = 'discarded' AND id = $2", params) == 1;
}

DeadTally PostgresStore::tally_selected_dead(const DeadSelection& which, std::size_t max_ids) {
  Params params;
  const std::string where = dead_where(which, params);
  params.add(static_cast<std::int64_t>(
      std::min<std::size_t>(max_ids, std::numeric_limits<std::int64_t>::max())));
  auto c = pool_.acquire();
  Result r = c->exec(tally_dead_sql(schema_, where, params.size()), params);
  DeadTally tally;
  for (int i = 0; i < r.rows(); ++i) {
    if (r.is_null(i, 0)) {
      tally.ids.push_back(r.int64(i, 1));
    } else {
      tally.by_name.emplace_back(std::string(r.text(i, 0)), r.int64(i, 1));
      tally.total += r.int64(i, 1);
    }
  }
  return tally;
}

std::size_t PostgresStore::retry_selected_dead(const DeadSelection& which) {
  Params tail;  // resurrect's parameters from $2 on
  const std::string where = dead_where(which, tail, 1);
  return resurrect(where, tail);
}

std::size_t PostgresStore::purge_selected_dead(const DeadSelection& which) {
  Params params;
  const std::string where = dead_where(which, params);
  auto c = pool_.acquire();
  return static_cast<std::size_t>(c->exec(purge_dead_sql(schema_, where), params).affected());
}

std::size_t PostgresStore::resurrect(std::string_view where, const Params& tail) {
  Params params;
  add_now(params);
  params.append(tail);
  const std::string sql = resurrect_sql(schema_, where, params.size() + 1);
  params.add(channel_name_);
  auto c = pool_.acquire();
  const auto moved = static_cast<std::size_t>(c->exec(sql, params).int64(0, 0));
  if (moved > 0) detail::publish_wakeup(wake_key_);
  return moved;
}

}  // namespace errand::pg
