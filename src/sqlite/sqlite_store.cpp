// The SQLite store's opening, enqueue, settle-and-claim and workers table (sqlite_store.hpp).
#include "sqlite/sqlite_store.hpp"

#include <errand/error.hpp>

#include "core/rows.hpp"
#include "core/stored_values.hpp"
#include "core/unique_sql.hpp"
#include "core/wakeup.hpp"
#include "sqlite/schema.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <set>

namespace errand {

namespace sqlite {

using detail::micros_of;
using detail::time_from_micros;

SqliteStore::SqliteStore(const std::filesystem::path& path, SqliteOptions options)
    : options_(std::move(options)),
      clock_(options_.clock ? options_.clock : system_clock()),
      connection_(path, options_.busy_timeout, options_.mode) {
  std::error_code ec;
  const auto absolute = std::filesystem::absolute(path, ec);
  description_ = "sqlite:" + (ec ? path : absolute).string();
  const auto canonical = std::filesystem::weakly_canonical(path, ec);
  wake_key_ = "sqlite:" + (ec ? path : canonical).string();
  prepare_schema(connection_);
  connection_.exec(options_.synchronous == SqliteOptions::Synchronous::full
                       ? sql::kSynchronousFull
                       : sql::kSynchronousNormal);
  // The connection's own table of claimed ids (sql::kLockClaimIds), outside any transaction
  // that could roll it back. A read-only store claims nothing.
  if (options_.mode != OpenMode::read_only) connection_.exec(sql::kCreateClaimIds);
}

int SqliteStore::schema_version() {
  std::lock_guard lock(mutex_);
  return stored_schema_version(connection_);
}

std::vector<Enqueued> SqliteStore::insert_jobs(std::span<const NewJob> jobs) {
  require_writable("enqueue");
  detail::check_new_jobs(jobs);
  std::vector<Enqueued> done;
  {
    std::lock_guard lock(mutex_);
    const auto now = micros_of(clock_->now());
    Transaction tx(connection_, Transaction::Behavior::immediate);
    done = insert_in_transaction(jobs, now);
    tx.commit();
  }
  detail::publish_wakeup(wake_key_);
  return done;
}

std::vector<Enqueued> SqliteStore::insert_in_transaction(std::span<const NewJob> jobs,
                                                         std::int64_t now) {
  std::vector<Enqueued> done;
  done.reserve(jobs.size());
  {
    // A job without a key has the empty one in a queue with a per-key limit, none elsewhere.
    std::set<std::string, std::less<>> keyed;
    {
      std::string_view last_queue;  // batches mostly go to one queue
      auto is_keyed = connection_.query(sql::kQueueIsKeyed);
      for (const NewJob& job : jobs) {
        if (job.queue == last_queue) continue;
        last_queue = job.queue;
        is_keyed->bind(1, job.queue);
        if (is_keyed->step()) keyed.insert(job.queue);
        is_keyed->reset();
      }
    }
    const auto run_at_of = [&](const NewJob& job) {
      return job.run_at ? micros_of(*job.run_at) : job.delay ? now + job.delay->count() : now;
    };
    const auto bind_job = [&](Statement& insert, int& column, const NewJob& job) {
      insert.bind(++column, job.name);
      insert.bind(++column, job.payload);
      insert.bind(++column, job.context);
      insert.bind(++column, std::int64_t{job.priority});
      insert.bind(++column, run_at_of(job));
      insert.bind(++column, now);
      insert.bind(++column, job.queue);
      if (!job.partition_key.empty() || keyed.contains(job.queue)) {
        insert.bind(++column, job.partition_key);
      } else {
        insert.bind_null(++column);
      }
    };
    // Runs of jobs without a unique key: up to kRowsPerInsert rows per statement. Rowids are
    // handed out in ascending order while this transaction holds the write lock, so the sorted
    // RETURNING ids follow `jobs`. A unique job goes alone (insert_unique).
    for (std::size_t first = 0; first < jobs.size();) {
      if (!jobs[first].unique_key.empty()) {
        done.push_back(insert_unique(
            jobs[first], now, run_at_of(jobs[first]),
            [&](Statement& insert, int& column) { bind_job(insert, column, jobs[first]); }));
        ++first;
        continue;
      }
      std::size_t end = first;
      while (end < jobs.size() && end - first < sql::kRowsPerInsert && jobs[end].unique_key.empty())
        ++end;
      const auto chunk = jobs.subspan(first, end - first);
      auto insert = connection_.query(sql::insert_jobs(chunk.size()));
      int column = 0;
      for (const NewJob& job : chunk)
        bind_job(*insert, column, job);
      std::vector<JobId> ids;
      ids.reserve(chunk.size());
      while (insert->step())
        ids.push_back(insert->int64(0));
      insert->reset();
      std::sort(ids.begin(), ids.end());
      for (const JobId id : ids)
        done.push_back({.id = id});
      first = end;
    }
    std::string_view last_queue;  // batches mostly go to one queue
    for (const NewJob& job : jobs) {
      if (job.queue == last_queue) continue;
      add_queue(job.queue, time_from_micros(now));
      last_queue = job.queue;
    }
  }
  return done;
}

// In the enqueue's write transaction: inserts `job` unless a live job holds its key; then drops
// it again when a finished job with the key blocks. A live holder that does not block gives the
// key up to the new job; one that blocks is reported (or, for OnConflict::replace and while it
// waits, given the new values).
Enqueued SqliteStore::insert_unique(const NewJob& job, std::int64_t now, std::int64_t run_at,
                                    const std::function<void(Statement&, int&)>& bind_job) {
  const std::string key = detail::stored_unique_key(
      job.unique_key, run_at,
      job.unique_period ? std::optional(job.unique_period->count()) : std::nullopt);
  const auto states = static_cast<std::int64_t>(job.unique_states);
  const auto insert = [&]() -> std::optional<JobId> {
    auto statement = connection_.query(sql::kInsertUniqueJob);
    int column = 0;
    bind_job(*statement, column);
    statement->bind_blob(++column, key);
    std::optional<JobId> id;
    if (statement->step()) id = statement->int64(0);
    statement->reset();
    return id;
  };
  const auto run = [&](std::string_view text, auto&&... values) {
    auto statement = connection_.query(text);
    int column = 0;
    (statement->bind(++column, values), ...);
    statement->step();
    statement->reset();
  };
  const auto finished_blocker = [&]() -> std::optional<JobId> {
    if ((job.unique_states & kUniqueFinishedStates) == 0) return std::nullopt;
    auto blocker = connection_.query(sql::finished_unique_blocker());
    blocker->bind_blob(1, key);
    blocker->bind(2, states);
    std::optional<JobId> id;
    if (blocker->step()) id = blocker->int64(0);
    blocker->reset();
    return id;
  };

  if (const auto id = insert()) {
    if (const auto blocker = finished_blocker()) {
      run(sql::kDropNewJob, *id);
      return {.id = *blocker, .outcome = EnqueueOutcome::duplicate};
    }
    return {.id = *id};
  }
  auto holder = connection_.query(sql::live_unique_holder());
  holder->bind_blob(1, key);
  holder->bind(2, states);
  holder->bind(3, now);
  if (!holder->step()) connection_.fail(SQLITE_ERROR, sql::live_unique_holder());
  const JobId existing = holder->int64(0);
  const bool blocks = holder->int64(1) != 0;
  holder->reset();
  if (blocks) {
    if (job.on_conflict == OnConflict::replace) {
      run(sql::kReplaceWaitingJob, existing, std::string_view(job.payload),
          std::string_view(job.context), std::int64_t{job.priority}, run_at);
      if (sqlite3_changes(connection_.handle()) > 0)
        return {.id = existing, .outcome = EnqueueOutcome::replaced};
    }
    return {.id = existing, .outcome = EnqueueOutcome::duplicate};
  }
  if (const auto blocker = finished_blocker())
    return {.id = *blocker, .outcome = EnqueueOutcome::duplicate};
  run(sql::kReleaseUniqueKey, existing);
  const auto id = insert();
  if (!id) connection_.fail(SQLITE_ERROR, sql::kInsertUniqueJob);
  return {.id = *id};
}

// One transaction: apply the outcomes; then, when it claims, unlock abandoned jobs and claim.
Store::Exchange SqliteStore::settle_and_claim(std::string_view worker_id,
                                              std::span<const Outcome> outcomes,
                                              const ClaimRequest& claim, Duration lock_timeout) {
  Exchange exchange;
  const std::size_t max = claim.total();
  require_writable(max > 0 ? "claim" : "settle");
  if (outcomes.empty() && max == 0) return exchange;
  std::lock_guard lock(mutex_);
  // The time is read once the write lock is held: a lease starts no earlier than its claim
  // could, and claims stamp their times in the order they commit.
  Transaction tx(connection_, Transaction::Behavior::immediate);
  const auto now = clock_->now();
  for (const Outcome& outcome : outcomes) {
    bool cancelled = false;
    if (!apply(worker_id, outcome, micros_of(now), cancelled)) {
      exchange.lost.push_back(outcome.id);
    } else if (cancelled) {
      exchange.cancelled.push_back(outcome.id);
    }
  }
  if (max > 0) {
    // Abandoned locks become plain runnable rows, claimed below in the usual order.
    std::vector<JobId> abandoned;
    auto find_abandoned = connection_.query(sql::kFindAbandoned);
    find_abandoned->bind(1, micros_of(now - lock_timeout));
    while (find_abandoned->step())
      abandoned.push_back(find_abandoned->int64(0));
    find_abandoned->reset();
    run_for_each_id(sql::kUnlockAbandoned, abandoned);
    claim_within_queues(worker_id, claim, now, exchange);
  }
  tx.commit();
  return exchange;
}

TimePoint SqliteStore::register_worker(const WorkerRegistration& worker) {
  require_writable("register_worker");
  std::lock_guard lock(mutex_);
  const auto now = clock_->now();
  upsert_worker(worker, now, now);
  return now;
}

std::vector<JobId> SqliteStore::heartbeat(const WorkerRegistration& worker,
                                          std::span<const JobId> held,
                                          std::span<const JobProgress> progress) {
  require_writable("heartbeat");
  int released = 0;
  std::vector<JobId> cancel_requested;
  {
    std::lock_guard lock(mutex_);
    const auto now = clock_->now();
    Transaction tx(connection_, Transaction::Behavior::immediate);
    upsert_worker(worker, worker.started_at, now);
    auto release = connection_.query(sql::kReleaseUnheld);
    release->bind(1, worker.id);
    release->bind(2, micros_of(worker.started_at));
    release->bind(3, fmt::format("[{}]", fmt::join(held, ",")));
    released = release->run();
    release->reset();
    auto write = connection_.query(sql::kWriteProgress);
    for (const JobProgress& p : progress) {
      write->bind(1, p.id);
      write->bind(2, worker.id);
      write->bind(3, micros_of(p.locked_at));
      write->bind(4, p.value);
      write->bind(5, p.message);
      write->bind(6, micros_of(now));
      write->run();
      write->reset();
    }
    auto flagged = connection_.query(sql::kCancelRequestedOf);
    flagged->bind(1, worker.id);
    while (flagged->step()) {
      const JobId id = flagged->int64(0);
      if (std::find(held.begin(), held.end(), id) != held.end()) cancel_requested.push_back(id);
    }
    flagged->reset();
    tx.commit();
  }
  if (released > 0) detail::publish_wakeup(wake_key_);
  return cancel_requested;
}

void SqliteStore::remove_worker(std::string_view worker_id) {
  require_writable("remove_worker");
  int released = 0;
  {
    std::lock_guard lock(mutex_);
    Transaction tx(connection_, Transaction::Behavior::immediate);
    auto release = connection_.query(sql::kReleaseWorkerJobs);
    release->bind(1, worker_id);
    released = release->run();
    auto remove = connection_.query(sql::kDeleteWorker);
    remove->bind(1, worker_id);
    remove->run();
    tx.commit();
  }
  if (released > 0) detail::publish_wakeup(wake_key_);
}

std::vector<WorkerInfo> SqliteStore::list_workers() {
  std::lock_guard lock(mutex_);
  const auto now = clock_->now();
  auto query = connection_.query(sql::kListWorkers);
  std::vector<WorkerInfo> workers;
  const auto where = stored("errand_workers");
  while (query->step())
    workers.push_back(detail::read_worker_info(*query, where, now));
  return workers;
}

std::vector<LostJob> SqliteStore::find_lost_jobs(Duration rescue_after, std::size_t limit) {
  std::lock_guard lock(mutex_);
  auto query = connection_.query(sql::find_lost_jobs());
  query->bind(1, micros_of(clock_->now() - rescue_after));
  query->bind(2, static_cast<std::int64_t>(limit));
  std::vector<LostJob> lost;
  const auto jobs = stored("errand_jobs");
  const auto workers = stored("errand_workers");
  while (query->step()) {
    if (auto job = detail::read_lost_job(*query, jobs, workers)) lost.push_back(std::move(*job));
  }
  return lost;
}

std::size_t SqliteStore::forget_lost_workers(Duration rescue_after) {
  require_writable("forget_lost_workers");
  std::lock_guard lock(mutex_);
  auto forget = connection_.query(sql::kForgetLostWorkers);
  forget->bind(1, micros_of(clock_->now() - rescue_after));
  return static_cast<std::size_t>(forget->run());
}

std::unique_ptr<Subscription> SqliteStore::subscribe(std::function<void()> on_new_jobs) {
  return detail::subscribe_wakeups(wake_key_, std::move(on_new_jobs));
}

std::unique_ptr<Subscription> SqliteStore::subscribe_cancels(std::function<void(JobId)> on_cancel) {
  return detail::subscribe_cancels(wake_key_, std::move(on_cancel));
}

void SqliteStore::run_for_each_id(std::string_view sql, const std::vector<JobId>& ids) {
  if (ids.empty()) return;
  auto query = connection_.query(sql);
  for (const JobId id : ids) {
    query->bind(1, id);
    query->run();
    query->reset();
  }
}

void SqliteStore::upsert_worker(const WorkerRegistration& worker, TimePoint started_at,
                                TimePoint now) {
  auto upsert = connection_.query(sql::kUpsertWorker);
  upsert->bind(1, worker.id);
  upsert->bind(2, worker.host);
  upsert->bind(3, worker.pid);
  upsert->bind(4, worker.concurrency);
  upsert->bind(5, micros_of(started_at));
  upsert->bind(6, micros_of(now));
  upsert->bind_optional(7, detail::worker_queues_text(worker.queues));
  upsert->run();
}

bool SqliteStore::apply(std::string_view worker_id, const Outcome& outcome, std::int64_t now,
                        bool& cancelled) {
  const auto bind_lease = [&](Statement& s) {
    s.bind(1, std::int64_t{outcome.id});
    s.bind(2, worker_id);
    s.bind(3, micros_of(outcome.locked_at));
  };
  const std::optional<std::string> history =
      outcome.errors.empty() ? std::nullopt : std::optional<std::string>(outcome.errors);
  // Moves the leased job to the finished table in `state` (see sql::finish_leased).
  const auto finish = [&](std::string_view state, bool charge,
                          const std::optional<std::string>& output) {
    {
      auto copy = connection_.query(sql::finish_leased());
      bind_lease(*copy);
      copy->bind(4, now);
      copy->bind(5, state);
      copy->bind(6, std::int64_t{charge ? 1 : 0});
      if (charge) {
        copy->bind(7, outcome.error);
        copy->bind_optional(8, history);
      }
      copy->bind_optional(9, output);
      if (copy->run() != 1) return false;
    }
    auto remove = connection_.query(sql::kDeleteLeased);
    bind_lease(*remove);
    remove->run();
    return true;
  };
  using Kind = Outcome::Kind;
  if (outcome.kind == Kind::completed) {
    if (outcome.keep) return finish("completed", false, outcome.output);
    auto query = connection_.query(sql::kDeleteLeased);
    bind_lease(*query);
    return query->run() == 1;
  }
  {
    // Every other outcome yields to a requested cancel; completion (above) wins over it.
    auto flag = connection_.query(sql::kCancelRequestedLeased);
    bind_lease(*flag);
    if (!flag->step()) return false;
    cancelled = flag->int64(0) != 0;
  }
  const bool charge = outcome.kind == Kind::retry || outcome.kind == Kind::dead_letter;
  if (cancelled) return finish("cancelled", charge, std::nullopt);
  switch (outcome.kind) {
    case Kind::released: {
      auto query = connection_.query(sql::kReleaseLeased);
      bind_lease(*query);
      return query->run() == 1;
    }
    case Kind::snoozed: {
      auto query = connection_.query(sql::kSnoozeLeased);
      bind_lease(*query);
      query->bind(4, now + outcome.retry_delay.count());
      return query->run() == 1;
    }
    case Kind::retry: {
      auto query = connection_.query(sql::kRetryLeased);
      bind_lease(*query);
      query->bind(4, outcome.error);
      query->bind(5, now);
      query->bind(6, now + outcome.retry_delay.count());
      query->bind_optional(7, history);
      return query->run() == 1;
    }
    case Kind::dead_letter:
      return finish("discarded", true, std::nullopt);
    case Kind::completed:
      break;
  }
  return false;
}

void SqliteStore::require_writable(std::string_view operation) const {
  if (options_.mode != OpenMode::read_only) return;
  throw StoreError(
      fmt::format("{}: {} is not allowed: the store was opened read-only (OpenMode::read_only)",
                  description_, operation));
}

}  // namespace sqlite

std::shared_ptr<Store> open_sqlite(const std::filesystem::path& path, SqliteOptions options) {
  return std::make_shared<sqlite::SqliteStore>(path, std::move(options));
}

int sqlite_schema_version() {
  return sqlite::latest_schema_version();
}

}  // namespace errand
