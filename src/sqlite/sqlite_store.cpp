#include <errand/error.hpp>
#include <errand/sqlite.hpp>

#include "core/rows.hpp"
#include "core/stored_values.hpp"
#include "core/wakeup.hpp"
#include "sqlite/connection.hpp"
#include "sqlite/schema.hpp"
#include "sqlite/sql.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <limits>
#include <mutex>

namespace errand {

namespace {

using sqlite::Connection;
using sqlite::Query;
using sqlite::Statement;
using sqlite::Transaction;
namespace sql = sqlite::sql;

using detail::micros_of;
using detail::time_from_micros;

// A table of the database, for messages about invalid stored values (core/stored_values.hpp).
detail::StoredTable stored(const Connection& connection, std::string_view table) {
  return {"SQLite database", connection.path(), table};
}

class SqliteStore final : public Store {
 public:
  SqliteStore(const std::filesystem::path& path, SqliteOptions options)
      : options_(std::move(options)),
        clock_(options_.clock ? options_.clock : system_clock()),
        connection_(path, options_.busy_timeout, options_.mode) {
    std::error_code ec;
    const auto absolute = std::filesystem::absolute(path, ec);
    description_ = "sqlite:" + (ec ? path : absolute).string();
    const auto canonical = std::filesystem::weakly_canonical(path, ec);
    wake_key_ = "sqlite:" + (ec ? path : canonical).string();
    sqlite::prepare_schema(connection_);
    connection_.exec(options_.synchronous == SqliteOptions::Synchronous::full
                         ? sql::kSynchronousFull
                         : sql::kSynchronousNormal);
  }

  std::string describe() const override { return description_; }
  const Clock& clock() const override { return *clock_; }

  int schema_version() override {
    std::lock_guard lock(mutex_);
    return sqlite::stored_schema_version(connection_);
  }

  std::vector<JobId> enqueue(std::span<const NewJob> jobs) override {
    require_writable("enqueue");
    detail::check_new_jobs(jobs);
    std::vector<JobId> ids;
    ids.reserve(jobs.size());
    {
      std::lock_guard lock(mutex_);
      const auto now = micros_of(clock_->now());
      Transaction tx(connection_, Transaction::Behavior::immediate);
      // Up to kRowsPerInsert rows per statement. Rowids are handed out in ascending order while
      // this transaction holds the write lock, so the sorted RETURNING ids follow `jobs`.
      for (std::size_t first = 0; first < jobs.size(); first += sql::kRowsPerInsert) {
        const auto chunk = jobs.subspan(first, std::min(sql::kRowsPerInsert, jobs.size() - first));
        auto insert = connection_.query(sql::insert_jobs(chunk.size()));
        int column = 0;
        for (const NewJob& job : chunk) {
          insert->bind(++column, job.name);
          insert->bind(++column, job.payload);
          insert->bind(++column, job.context);
          insert->bind(++column, std::int64_t{job.priority});
          insert->bind(++column, job.run_at  ? micros_of(*job.run_at)
                                 : job.delay ? now + job.delay->count()
                                             : now);
          insert->bind(++column, now);
        }
        const std::size_t before = ids.size();
        while (insert->step())
          ids.push_back(insert->int64(0));
        insert->reset();
        std::sort(ids.begin() + static_cast<std::ptrdiff_t>(before), ids.end());
      }
      tx.commit();
    }
    detail::publish_wakeup(wake_key_);
    return ids;
  }

  // One transaction: apply the outcomes; then, when max > 0, unlock abandoned jobs and claim.
  Exchange settle_and_claim(std::string_view worker_id, std::span<const Outcome> outcomes,
                            std::size_t max, Duration lock_timeout) override {
    Exchange exchange;
    require_writable(max > 0 ? "claim" : "settle");
    if (outcomes.empty() && max == 0) return exchange;
    std::lock_guard lock(mutex_);
    const auto now = clock_->now();
    Transaction tx(connection_, Transaction::Behavior::immediate);
    for (const Outcome& outcome : outcomes) {
      if (!apply(worker_id, outcome, micros_of(now))) exchange.lost.push_back(outcome.id);
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
      auto find = connection_.query(sql::kClaimable);
      find->bind(1, micros_of(now));
      find->bind(2, static_cast<std::int64_t>(max));
      const auto where = stored(connection_, "errand_jobs");
      while (find->step())
        exchange.claimed.push_back(detail::read_claimed_job(*find, where, now));
      find->reset();
      // Locked once all are read: no row changes under the reading statement. The write
      // transaction keeps every other connection out in between.
      auto lock = connection_.query(sql::kLockClaimable);
      for (const ClaimedJob& job : exchange.claimed) {
        lock->bind(1, worker_id);
        lock->bind(2, micros_of(now));
        lock->bind(3, job.id);
        lock->run();
        lock->reset();
      }
    }
    tx.commit();
    return exchange;  // claimed in claim order: kClaimable reads them so
  }

  TimePoint register_worker(const WorkerRegistration& worker) override {
    require_writable("register_worker");
    std::lock_guard lock(mutex_);
    const auto now = clock_->now();
    upsert_worker(worker, now, now);
    return now;
  }

  void heartbeat(const WorkerRegistration& worker, std::span<const JobId> held) override {
    require_writable("heartbeat");
    int released = 0;
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
      tx.commit();
    }
    if (released > 0) detail::publish_wakeup(wake_key_);
  }

  void remove_worker(std::string_view worker_id) override {
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

  std::vector<WorkerInfo> list_workers() override {
    std::lock_guard lock(mutex_);
    const auto now = clock_->now();
    auto query = connection_.query(sql::kListWorkers);
    std::vector<WorkerInfo> workers;
    const auto where = stored(connection_, "errand_workers");
    while (query->step())
      workers.push_back(detail::read_worker_info(*query, where, now));
    return workers;
  }

  std::vector<LostJob> find_lost_jobs(Duration rescue_after, std::size_t limit) override {
    std::lock_guard lock(mutex_);
    auto query = connection_.query(sql::find_lost_jobs());
    query->bind(1, micros_of(clock_->now() - rescue_after));
    query->bind(2, static_cast<std::int64_t>(limit));
    std::vector<LostJob> lost;
    const auto jobs = stored(connection_, "errand_jobs");
    const auto workers = stored(connection_, "errand_workers");
    while (query->step()) {
      if (auto job = detail::read_lost_job(*query, jobs, workers)) lost.push_back(std::move(*job));
    }
    return lost;
  }

  std::size_t forget_lost_workers(Duration rescue_after) override {
    require_writable("forget_lost_workers");
    std::lock_guard lock(mutex_);
    auto forget = connection_.query(sql::kForgetLostWorkers);
    forget->bind(1, micros_of(clock_->now() - rescue_after));
    return static_cast<std::size_t>(forget->run());
  }

  std::unique_ptr<Subscription> subscribe(std::function<void()> on_new_jobs) override {
    return detail::subscribe_wakeups(wake_key_, std::move(on_new_jobs));
  }

  JobCounts counts(Duration lock_timeout) override {
    std::lock_guard lock(mutex_);
    const auto now = clock_->now();
    Transaction tx(connection_, Transaction::Behavior::deferred);  // one consistent snapshot
    JobCounts counts;
    {
      auto query = connection_.query(sql::kCountJobs);
      query->bind(1, micros_of(now));
      query->bind(2, micros_of(now - lock_timeout));
      query->step();
      const auto jobs = stored(connection_, "errand_jobs");
      counts.ready = detail::read_count(*query, 0, jobs, "the count of ready jobs");
      counts.scheduled = detail::read_count(*query, 1, jobs, "the count of scheduled jobs");
      counts.running = detail::read_count(*query, 2, jobs, "the count of running jobs");
      counts.abandoned = detail::read_count(*query, 3, jobs, "the count of abandoned jobs");
      counts.failing = detail::read_count(*query, 4, jobs, "the count of failing jobs");
    }
    {
      auto query = connection_.query(sql::kCountDead);
      query->step();
      counts.dead = detail::read_count(*query, 0, stored(connection_, "errand_dead_jobs"),
                                       "the count of dead jobs");
    }
    tx.commit();
    return counts;
  }

  std::vector<JobInfo> list_jobs(const JobFilter& filter) override {
    std::lock_guard lock(mutex_);
    const auto now = clock_->now();
    auto query = connection_.query(sql::list_jobs(filter));
    query->bind(1, micros_of(now));
    query->bind(2, micros_of(now - filter.lock_timeout));
    query->bind(3, filter.name.value_or(""));
    query->bind(4, static_cast<std::int64_t>(filter.limit));
    std::vector<JobInfo> jobs;
    const auto where = stored(connection_, "errand_jobs");
    while (query->step()) {
      jobs.push_back(detail::read_job_info(*query, where));
      jobs.back().state = detail::state_at(jobs.back(), now, filter.lock_timeout);
    }
    return jobs;
  }

  std::vector<DeadJob> list_dead(const DeadFilter& filter) override {
    std::lock_guard lock(mutex_);
    auto query = connection_.query(sql::list_dead(filter.name.has_value()));
    if (filter.name) query->bind(1, *filter.name);
    query->bind(2, static_cast<std::int64_t>(filter.limit));
    std::vector<DeadJob> jobs;
    while (query->step())
      jobs.push_back(detail::read_dead_job(*query, stored(connection_, "errand_dead_jobs")));
    return jobs;
  }

  bool retry_dead(JobId id) override {
    require_writable("retry_dead");
    return resurrect(sql::DeadWhere::id, [&](Statement& s) { s.bind(1, std::int64_t{id}); }) == 1;
  }

 protected:
  std::size_t retry_selected_dead(const DeadSelection& which) override {
    require_writable("retry_dead_jobs");
    return resurrect(sql::dead_where(which.kind), [&](Statement& s) { bind_dead(s, which); });
  }

  std::size_t purge_selected_dead(const DeadSelection& which) override {
    require_writable("purge_dead_jobs");
    std::lock_guard lock(mutex_);
    auto purge = connection_.query(sql::delete_dead(sql::dead_where(which.kind)));
    bind_dead(*purge, which);
    return static_cast<std::size_t>(purge->run());
  }

  DeadTally tally_selected_dead(const DeadSelection& which, std::size_t max_ids) override {
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

 private:
  // Runs `sql` (its ?1 a job id) once for each of `ids`.
  void run_for_each_id(std::string_view sql, const std::vector<JobId>& ids) {
    if (ids.empty()) return;
    auto query = connection_.query(sql);
    for (const JobId id : ids) {
      query->bind(1, id);
      query->run();
      query->reset();
    }
  }

  void upsert_worker(const WorkerRegistration& worker, TimePoint started_at, TimePoint now) {
    auto upsert = connection_.query(sql::kUpsertWorker);
    upsert->bind(1, worker.id);
    upsert->bind(2, worker.host);
    upsert->bind(3, worker.pid);
    upsert->bind(4, worker.concurrency);
    upsert->bind(5, micros_of(started_at));
    upsert->bind(6, micros_of(now));
    upsert->run();
  }

  // Applies one outcome if the lease still holds; false when it was lost.
  bool apply(std::string_view worker_id, const Outcome& outcome, std::int64_t now) {
    const auto bind_lease = [&](Statement& s) {
      s.bind(1, std::int64_t{outcome.id});
      s.bind(2, worker_id);
      s.bind(3, micros_of(outcome.locked_at));
    };
    switch (outcome.kind) {
      case Outcome::Kind::completed: {
        auto query = connection_.query(sql::kDeleteLeased);
        bind_lease(*query);
        return query->run() == 1;
      }
      case Outcome::Kind::released: {
        auto query = connection_.query(sql::kReleaseLeased);
        bind_lease(*query);
        return query->run() == 1;
      }
      case Outcome::Kind::retry: {
        auto query = connection_.query(sql::kRetryLeased);
        bind_lease(*query);
        query->bind(4, outcome.error);
        query->bind(5, now);
        query->bind(6, now + outcome.retry_delay.count());
        return query->run() == 1;
      }
      case Outcome::Kind::dead_letter: {
        {
          auto copy = connection_.query(sql::bury_leased());
          bind_lease(*copy);
          copy->bind(4, outcome.error);
          copy->bind(5, now);
          if (copy->run() != 1) return false;
        }
        auto remove = connection_.query(sql::kDeleteLeased);
        bind_lease(*remove);
        remove->run();
        return true;
      }
    }
    return false;
  }

  // Throws StoreError when the store was opened read-only.
  void require_writable(std::string_view operation) const {
    if (options_.mode != OpenMode::read_only) return;
    throw StoreError(
        fmt::format("{}: {} is not allowed: the store was opened read-only (OpenMode::read_only)",
                    description_, operation));
  }

  // Binds the value of `which`, if it has one, as ?1 (see sql::DeadWhere).
  static void bind_dead(Statement& statement, const DeadSelection& which) {
    if (which.kind == DeadSelection::Kind::name) statement.bind(1, which.name);
    if (which.kind == DeadSelection::Kind::ids) {
      statement.bind(1, fmt::format("[{}]", fmt::join(which.ids, ",")));
    }
  }

  // Moves the dead jobs `where` selects (its value bound by `bind`) back into the jobs table,
  // due now, with their error count reset. Returns how many moved.
  template <class Bind>
  std::size_t resurrect(sql::DeadWhere where, Bind bind) {
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

  SqliteOptions options_;
  std::shared_ptr<const Clock> clock_;
  std::mutex mutex_;  // one connection, one thread at a time
  Connection connection_;
  std::string description_;
  std::string wake_key_;
};

}  // namespace

std::shared_ptr<Store> open_sqlite(const std::filesystem::path& path, SqliteOptions options) {
  return std::make_shared<SqliteStore>(path, std::move(options));
}

int sqlite_schema_version() {
  return sqlite::latest_schema_version();
}

}  // namespace errand
