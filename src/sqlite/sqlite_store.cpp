#include <errand/error.hpp>
#include <errand/sqlite.hpp>

#include "core/rows.hpp"
#include "core/stored_values.hpp"
#include "core/wakeup.hpp"
#include "sqlite/connection.hpp"
#include "sqlite/schema.hpp"

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

using detail::micros_of;
using detail::time_from_micros;

constexpr std::string_view kJobColumns =
    "id, name, payload, context, priority, error_count, run_at, created_at, locked_by, locked_at, "
    "last_error, last_failed_at";

// The fence every settle statement carries: the caller's lease on the row.
constexpr std::string_view kLeaseFence = "id = ?1 AND locked_by = ?2 AND locked_at = ?3";

// A table of the database, for messages about invalid stored values (core/stored_values.hpp).
detail::StoredTable stored(const Connection& connection, std::string_view table) {
  return {"SQLite database", connection.path(), table};
}

// SQL true when `column` holds a valid stored time (an INTEGER in range).
std::string valid_time_sql(std::string_view column) {
  return fmt::format("(typeof({0}) = 'integer' AND {0} >= {1} AND {0} < {2})", column,
                     detail::kFirstStoredMicros, detail::kEndStoredMicros);
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
                         ? "PRAGMA synchronous=FULL"
                         : "PRAGMA synchronous=NORMAL");
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
      constexpr std::size_t kRowsPerInsert = 64;
      for (std::size_t first = 0; first < jobs.size(); first += kRowsPerInsert) {
        const auto chunk = jobs.subspan(first, std::min(kRowsPerInsert, jobs.size() - first));
        auto insert = connection_.query(insert_sql(chunk.size()));
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

  // INSERT of `rows` jobs (6 parameters each) returning their ids.
  static std::string insert_sql(std::size_t rows) {
    std::string sql =
        "INSERT INTO errand_jobs (name, payload, context, priority, run_at, created_at) VALUES ";
    for (std::size_t i = 0; i < rows; ++i)
      sql += i == 0 ? "(?, ?, ?, ?, ?, ?)" : ", (?, ?, ?, ?, ?, ?)";
    return sql + " RETURNING id";
  }

  // One transaction: apply the outcomes, unlock abandoned jobs, claim.
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
      auto release = connection_.query(
          "UPDATE errand_jobs SET locked_by = NULL, locked_at = NULL "
          "WHERE locked_by IS NOT NULL AND locked_at <= ?1");
      release->bind(1, micros_of(now - lock_timeout));
      release->run();
      auto take = connection_.query(
          "UPDATE errand_jobs SET locked_by = ?1, locked_at = ?2 WHERE id IN ("
          "  SELECT id FROM errand_jobs WHERE locked_by IS NULL AND run_at <= ?2"
          "  ORDER BY priority DESC, run_at, id LIMIT ?3) "
          "RETURNING id, name, payload, context, priority, error_count, run_at, created_at, "
          "last_error");
      take->bind(1, worker_id);
      take->bind(2, micros_of(now));
      take->bind(3, static_cast<std::int64_t>(max));
      const auto where = stored(connection_, "errand_jobs");
      while (take->step())
        exchange.claimed.push_back(detail::read_claimed_job(*take, where, now));
      take->reset();
    }
    tx.commit();
    detail::sort_in_claim_order(exchange.claimed);
    return exchange;
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
      auto release = connection_.query(
          "UPDATE errand_jobs SET locked_by = NULL, locked_at = NULL "
          "WHERE locked_by = ?1 AND locked_at >= ?2 "
          "AND id NOT IN (SELECT value FROM json_each(?3))");
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
      auto release = connection_.query(
          "UPDATE errand_jobs SET locked_by = NULL, locked_at = NULL WHERE locked_by = ?1 "
          "AND locked_at >= coalesce((SELECT started_at FROM errand_workers WHERE id = ?1), 0)");
      release->bind(1, worker_id);
      released = release->run();
      auto remove = connection_.query("DELETE FROM errand_workers WHERE id = ?1");
      remove->bind(1, worker_id);
      remove->run();
      tx.commit();
    }
    if (released > 0) detail::publish_wakeup(wake_key_);
  }

  std::vector<WorkerInfo> list_workers() override {
    std::lock_guard lock(mutex_);
    const auto now = clock_->now();
    auto query = connection_.query(
        "SELECT id, host, pid, concurrency, started_at, heartbeat_at, "
        "(SELECT count(*) FROM errand_jobs j WHERE j.locked_by = w.id) "
        "FROM errand_workers w ORDER BY heartbeat_at DESC, id");
    std::vector<WorkerInfo> workers;
    const auto where = stored(connection_, "errand_workers");
    while (query->step())
      workers.push_back(detail::read_worker_info(*query, where, now));
    return workers;
  }

  std::vector<LostJob> find_lost_jobs(Duration rescue_after, std::size_t limit) override {
    // A lock whose time is invalid is no lease anyone can settle by: such rows are left to
    // inspection, which reports them, rather than found again and again.
    static const std::string sql = fmt::format(
        "SELECT j.id, j.name, j.payload, j.context, j.priority, j.error_count, j.run_at, "
        "j.created_at, j.last_error, j.locked_at, w.id, w.started_at, w.heartbeat_at "
        "FROM errand_jobs j JOIN errand_workers w ON j.locked_by = w.id "
        "WHERE j.locked_by IS NOT NULL AND (w.heartbeat_at <= ?1 OR j.locked_at < w.started_at) "
        "AND {} ORDER BY j.locked_at, j.id LIMIT ?2",
        valid_time_sql("j.locked_at"));
    std::lock_guard lock(mutex_);
    auto query = connection_.query(sql);
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
    auto forget = connection_.query(
        "DELETE FROM errand_workers WHERE heartbeat_at <= ?1 AND NOT EXISTS "
        "(SELECT 1 FROM errand_jobs j WHERE j.locked_by = errand_workers.id)");
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
      auto query = connection_.query(
          "SELECT "
          "  coalesce(sum(locked_by IS NULL AND run_at <= ?1), 0),"
          "  coalesce(sum(locked_by IS NULL AND run_at > ?1), 0),"
          "  coalesce(sum(locked_by IS NOT NULL AND locked_at > ?2), 0),"
          "  coalesce(sum(locked_by IS NOT NULL AND locked_at <= ?2), 0),"
          "  coalesce(sum(error_count > 0), 0) "
          "FROM errand_jobs");
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
      auto query = connection_.query("SELECT count(*) FROM errand_dead_jobs");
      query->step();
      counts.dead = detail::read_count(*query, 0, stored(connection_, "errand_dead_jobs"),
                                       "the count of dead jobs");
    }
    tx.commit();
    return counts;
  }

  std::vector<JobInfo> list_jobs(const JobFilter& filter) override {
    std::string sql = fmt::format("SELECT {} FROM errand_jobs WHERE 1", kJobColumns);
    if (filter.state) {
      switch (*filter.state) {
        case JobState::ready:
          sql += " AND locked_by IS NULL AND run_at <= ?1";
          break;
        case JobState::scheduled:
          sql += " AND locked_by IS NULL AND run_at > ?1";
          break;
        case JobState::running:
          sql += " AND locked_by IS NOT NULL AND locked_at > ?2";
          break;
        case JobState::abandoned:
          sql += " AND locked_by IS NOT NULL AND locked_at <= ?2";
          break;
      }
    }
    if (filter.name) sql += " AND name = ?3";
    if (filter.failing_only) sql += " AND error_count > 0";
    sql += " ORDER BY priority DESC, run_at, id LIMIT ?4";

    std::lock_guard lock(mutex_);
    const auto now = clock_->now();
    auto query = connection_.query(sql);
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
    std::string sql =
        "SELECT id, name, payload, context, priority, error_count, last_error, created_at, "
        "failed_at FROM errand_dead_jobs";
    if (filter.name) sql += " WHERE name = ?1";
    sql += " ORDER BY failed_at DESC, id DESC LIMIT ?2";
    std::lock_guard lock(mutex_);
    auto query = connection_.query(sql);
    if (filter.name) query->bind(1, *filter.name);
    query->bind(2, static_cast<std::int64_t>(filter.limit));
    std::vector<DeadJob> jobs;
    while (query->step())
      jobs.push_back(detail::read_dead_job(*query, stored(connection_, "errand_dead_jobs")));
    return jobs;
  }

  bool retry_dead(JobId id) override {
    require_writable("retry_dead");
    return resurrect("WHERE id = ?2", [&](Statement& s) { s.bind(2, std::int64_t{id}); }) == 1;
  }

 protected:
  std::size_t retry_selected_dead(const DeadSelection& which) override {
    require_writable("retry_dead_jobs");
    return resurrect(dead_where(which, 2), [&](Statement& s) { bind_dead(s, which, 2); });
  }

  std::size_t purge_selected_dead(const DeadSelection& which) override {
    require_writable("purge_dead_jobs");
    std::lock_guard lock(mutex_);
    auto purge = connection_.query("DELETE FROM errand_dead_jobs " + dead_where(which, 1));
    bind_dead(*purge, which, 1);
    return static_cast<std::size_t>(purge->run());
  }

  DeadTally tally_selected_dead(const DeadSelection& which, std::size_t max_ids) override {
    const std::string where = dead_where(which, 1);
    std::lock_guard lock(mutex_);
    Transaction tx(connection_, Transaction::Behavior::deferred);  // one consistent snapshot
    DeadTally tally;
    {
      auto by_name = connection_.query("SELECT name, count(*) FROM errand_dead_jobs " + where +
                                       " GROUP BY name ORDER BY 2 DESC, name");
      bind_dead(*by_name, which, 1);
      while (by_name->step()) {
        tally.by_name.emplace_back(by_name->text(0), by_name->int64(1));
        tally.total += by_name->int64(1);
      }
    }
    {
      auto ids =
          connection_.query("SELECT id FROM errand_dead_jobs " + where + " ORDER BY id LIMIT ?2");
      bind_dead(*ids, which, 1);
      ids->bind(2, static_cast<std::int64_t>(
                       std::min<std::size_t>(max_ids, std::numeric_limits<std::int64_t>::max())));
      while (ids->step())
        tally.ids.push_back(ids->int64(0));
    }
    tx.commit();
    return tally;
  }

 private:
  void upsert_worker(const WorkerRegistration& worker, TimePoint started_at, TimePoint now) {
    auto upsert = connection_.query(
        "INSERT INTO errand_workers (id, host, pid, concurrency, started_at, heartbeat_at) "
        "VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (id) DO UPDATE SET host = excluded.host, "
        "pid = excluded.pid, concurrency = excluded.concurrency, "
        "started_at = excluded.started_at, heartbeat_at = excluded.heartbeat_at");
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
        auto query =
            connection_.query(fmt::format("DELETE FROM errand_jobs WHERE {}", kLeaseFence));
        bind_lease(*query);
        return query->run() == 1;
      }
      case Outcome::Kind::released: {
        auto query = connection_.query(fmt::format(
            "UPDATE errand_jobs SET locked_by = NULL, locked_at = NULL WHERE {}", kLeaseFence));
        bind_lease(*query);
        return query->run() == 1;
      }
      case Outcome::Kind::retry: {
        auto query = connection_.query(fmt::format(
            "UPDATE errand_jobs SET locked_by = NULL, locked_at = NULL, "
            "error_count = error_count + 1, last_error = ?4, last_failed_at = ?5, run_at = ?6 "
            "WHERE {}",
            kLeaseFence));
        bind_lease(*query);
        query->bind(4, outcome.error);
        query->bind(5, now);
        query->bind(6, now + outcome.retry_delay.count());
        return query->run() == 1;
      }
      case Outcome::Kind::dead_letter: {
        {
          // Values a dead job may not hold (see core/stored_values.hpp) are replaced, so the
          // dead-letter table stays readable; the error (?4) of a job set aside for an invalid
          // value names the value as it was.
          static const std::string sql = fmt::format(
              "INSERT OR REPLACE INTO errand_dead_jobs "
              "(id, name, payload, context, priority, error_count, last_error, created_at, "
              "failed_at) "
              "SELECT id, CAST(name AS TEXT), CAST(payload AS TEXT), CAST(context AS TEXT), "
              "CASE WHEN typeof(priority) = 'integer' AND priority BETWEEN {min} AND {max} "
              "THEN priority ELSE 0 END, "
              "CASE WHEN typeof(error_count) = 'integer' AND error_count >= 0 "
              "THEN min(error_count, {max} - 2) + 1 ELSE 1 END, "
              "?4, CASE WHEN {created_ok} THEN created_at ELSE ?5 END, ?5 "
              "FROM errand_jobs WHERE {fence}",
              fmt::arg("min", detail::kInt32Min), fmt::arg("max", detail::kInt32Max),
              fmt::arg("created_ok", valid_time_sql("created_at")), fmt::arg("fence", kLeaseFence));
          auto copy = connection_.query(sql);
          bind_lease(*copy);
          copy->bind(4, outcome.error);
          copy->bind(5, now);
          if (copy->run() != 1) return false;
        }
        auto remove =
            connection_.query(fmt::format("DELETE FROM errand_jobs WHERE {}", kLeaseFence));
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

  // The WHERE clause of errand_dead_jobs selecting `which`, its value (if any) parameter `param`.
  static std::string dead_where(const DeadSelection& which, int param) {
    switch (which.kind) {
      case DeadSelection::Kind::name:
        return fmt::format("WHERE name = ?{}", param);
      case DeadSelection::Kind::ids:
        return fmt::format("WHERE id IN (SELECT value FROM json_each(?{}))", param);
      case DeadSelection::Kind::all:
        return "";
      case DeadSelection::Kind::nothing:  // refused by check_dead_selection before
        break;
    }
    return "WHERE 0";
  }
  static void bind_dead(Statement& statement, const DeadSelection& which, int param) {
    if (which.kind == DeadSelection::Kind::name) statement.bind(param, which.name);
    if (which.kind == DeadSelection::Kind::ids) {
      statement.bind(param, fmt::format("[{}]", fmt::join(which.ids, ",")));
    }
  }

  // Moves dead jobs matching `where` (parameters from ?2) back into the jobs table, due now,
  // with their error count reset. Returns how many moved.
  template <class Bind>
  std::size_t resurrect(std::string_view where, Bind bind) {
    std::size_t moved = 0;
    {
      std::lock_guard lock(mutex_);
      const auto now = micros_of(clock_->now());
      Transaction tx(connection_, Transaction::Behavior::immediate);
      {
        auto copy = connection_.query(fmt::format(
            "INSERT INTO errand_jobs (id, name, payload, context, priority, run_at, created_at, "
            "error_count, last_error, last_failed_at) "
            "SELECT id, name, payload, context, priority, ?1, created_at, 0, last_error, failed_at "
            "FROM errand_dead_jobs {}",
            where));
        copy->bind(1, now);
        bind(*copy);
        moved = static_cast<std::size_t>(copy->run());
      }
      auto remove = connection_.query(fmt::format("DELETE FROM errand_dead_jobs {}", where));
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
