#include <errand/error.hpp>
#include <errand/postgres.hpp>

#include "core/rows.hpp"
#include "core/url.hpp"
#include "core/wakeup.hpp"
#include "postgres/background.hpp"
#include "postgres/plans.hpp"
#include "postgres/pool.hpp"
#include "postgres/pq.hpp"
#include "postgres/schema.hpp"
#include "postgres/sql.hpp"

#include <algorithm>
#include <limits>
#include <set>

namespace errand {

namespace {

using pg::Connection;
using pg::Params;
using pg::Pool;
using pg::Result;

using detail::micros_of;
using detail::time_from_micros;

// One row of a Result, in the shape detail::read_* expect (core/rows.hpp).
struct ResultRow {
  const Result& result;
  int row;
  bool is_null(int column) const { return result.is_null(row, column); }
  bool read_integer(int column, std::int64_t& out) const noexcept {
    return result.read_integer(row, column, out);
  }
  bool read_text(int column, std::string& out) const {
    if (result.is_null(row, column)) return false;
    out.assign(result.text(row, column));
    return true;
  }
  std::string shown(int column) const {
    return result.is_null(row, column) ? "NULL" : detail::quoted_value(result.text(row, column));
  }
};

using namespace pg;  // the store's SQL (postgres/sql.hpp) and connections

class PostgresStore final : public Store {
 public:
  PostgresStore(std::shared_ptr<const pg::Target> target, PostgresOptions options)
      : options_(std::move(options)),
        clock_(options_.clock ? options_.clock : system_clock()),
        db_clock_(!options_.clock),
        schema_(quote_identifier(options_.schema)),
        channel_name_(notify_channel(options_.schema)),
        pool_(std::move(target), std::max<std::size_t>(1, options_.pool_size)),
        insert_sql_(insert_sql(schema_)),
        settle_sql_(settle_sql(schema_)),
        sweep_sql_(sweep_sql(schema_)),
        claim_sql_(claim_sql(schema_)),
        register_sql_(register_worker_sql(schema_)),
        heartbeat_sql_(heartbeat_sql(schema_)),
        find_lost_sql_(find_lost_jobs_sql(schema_)),
        forget_sql_(forget_lost_workers_sql(schema_)),
        counts_sql_(pg::counts_sql(schema_)),
        remove_worker_sql_(pg::remove_worker_sql(schema_)),
        list_workers_sql_(pg::list_workers_sql(schema_)) {
    // A URL the CLI takes back (--db), without the password.
    const std::string& url = pool_.target()->description;
    description_ = url;
    if (options_.schema != "errand") {
      description_ += url.find('?') == std::string::npos ? "?schema=" : "&schema=";
      description_ += options_.schema;
    }
    if (options_.transaction_pooler)
      description_ += description_.find('?') == std::string::npos ? "?pooler=transaction"
                                                                  : "&pooler=transaction";
    auto c = pool_.acquire();
    pg::open_schema(*c, schema_site(), options_.mode, options_.migration_lock_timeout);
  }

  std::string describe() const override { return description_; }
  const Clock& clock() const override { return *clock_; }

  int schema_version() override {
    auto c = pool_.acquire();
    return stored_schema_version(*c, schema_site());
  }

  std::vector<JobId> enqueue(std::span<const NewJob> jobs) override {
    if (jobs.empty()) return {};
    detail::check_new_jobs(jobs);
    Params params = insert_params(jobs);
    add_now(params);
    params.add(channel_name_);
    auto c = pool_.acquire();
    Result r = c->exec_prepared("errand_enqueue", insert_sql_, params);
    detail::publish_wakeup(wake_key_);
    return inserted_ids(r);
  }

  // One pipeline, one round trip, one transaction: settle, unlock abandoned jobs, claim.
  Exchange settle_and_claim(std::string_view worker_id, std::span<const Outcome> outcomes,
                            std::size_t max, Duration lock_timeout) override {
    Exchange exchange;
    if (outcomes.empty() && max == 0) return exchange;
    Params settle_params, sweep_params, claim_params;
    std::vector<Connection::Statement> statements;
    if (options_.asynchronous_claims) statements.push_back(asynchronous_commit_);
    const std::size_t first = statements.size();
    if (!outcomes.empty()) {
      settle_params.add(worker_id);
      add_now(settle_params);
      add_settle_arrays(settle_params, outcomes);
      statements.push_back({"errand_settle", settle_sql_, settle_params});
    }
    if (max > 0) {
      // Abandoned locks become runnable rows again (cheap: a partial-index range scan).
      add_now(sweep_params);
      sweep_params.add(static_cast<std::int64_t>(lock_timeout.count()));
      statements.push_back({"errand_sweep", sweep_sql_, sweep_params});
      claim_params.add(worker_id).add(static_cast<std::int64_t>(max));
      add_now(claim_params);
      statements.push_back({"errand_claim", claim_sql_, claim_params});  // last: the big result
    }
    std::vector<Result> results;
    {
      auto c = pool_.acquire();
      results = c->exec_pipeline(statements);
    }
    if (!outcomes.empty()) {
      std::set<JobId> applied;
      const Result& r = results[first];
      for (int i = 0; i < r.rows(); ++i)
        applied.insert(r.int64(i, 0));
      for (const Outcome& o : outcomes) {
        if (!applied.contains(o.id)) exchange.lost.push_back(o.id);
      }
    }
    if (max > 0) {
      const Result& r = results.back();
      const auto where = stored(jobs_table_);
      for (int i = 0; i < r.rows(); ++i) {
        const ResultRow row{r, i};
        exchange.claimed.push_back(detail::read_claimed_job(
            row, where, detail::read_time(row, 9, where, "locked_at (the database's now())")));
      }
      detail::sort_in_claim_order(exchange.claimed);
    }
    vacuum_.count(exchange.claimed.size() + outcomes.size() - exchange.lost.size());
    return exchange;
  }

  TimePoint register_worker(const WorkerRegistration& worker) override {
    Params params = worker_params(worker);
    auto c = pool_.acquire();
    const Result r = c->exec_prepared("errand_register", register_sql_, params);
    return detail::read_time(ResultRow{r, 0}, 0, stored(workers_table_), "started_at");
  }

  void heartbeat(const WorkerRegistration& worker, std::span<const JobId> held) override {
    Params params = worker_params(worker);
    params.add(micros_of(worker.started_at));
    params.add_array(held);
    params.add(channel_name_);
    // Beat, and unlock what this worker locked since registering but does not know it holds.
    auto c = pool_.acquire();
    if (c->exec_prepared("errand_heartbeat", heartbeat_sql_, params).int64(0, 0) > 0) {
      detail::publish_wakeup(wake_key_);
    }
  }

  void remove_worker(std::string_view worker_id) override {
    Params params;
    params.add(worker_id).add(channel_name_);
    auto c = pool_.acquire();
    if (c->exec(remove_worker_sql_, params).int64(0, 0) > 0) {
      detail::publish_wakeup(wake_key_);
    }
  }

  std::vector<WorkerInfo> list_workers() override {
    Params params;
    add_now(params);
    auto c = pool_.acquire();
    Result r = c->exec(list_workers_sql_, params);
    std::vector<WorkerInfo> workers;
    const auto where = stored(workers_table_);
    for (int i = 0; i < r.rows(); ++i) {
      const ResultRow row{r, i};
      workers.push_back(detail::read_worker_info(
          row, where, detail::read_time(row, 7, where, "the database's now()")));
    }
    return workers;
  }

  std::vector<LostJob> find_lost_jobs(Duration rescue_after, std::size_t limit) override {
    Params params;
    add_now(params);
    params.add(static_cast<std::int64_t>(rescue_after.count()));
    params.add(static_cast<std::int64_t>(limit));
    auto c = pool_.acquire();
    Result r = c->exec_prepared("errand_find_lost", find_lost_sql_, params);
    std::vector<LostJob> lost;
    const auto jobs = stored(jobs_table_);
    const auto workers = stored(workers_table_);
    for (int i = 0; i < r.rows(); ++i) {
      if (auto job = detail::read_lost_job(ResultRow{r, i}, jobs, workers)) {
        lost.push_back(std::move(*job));
      }
    }
    return lost;
  }

  std::size_t forget_lost_workers(Duration rescue_after) override {
    Params params;
    add_now(params);
    params.add(static_cast<std::int64_t>(rescue_after.count()));
    auto c = pool_.acquire();
    return static_cast<std::size_t>(
        c->exec_prepared("errand_forget", forget_sql_, params).affected());
  }

  std::unique_ptr<Subscription> subscribe(std::function<void()> on_new_jobs) override {
    // Behind a transaction pooler LISTEN does not work: workers poll.
    if (options_.listen && !options_.transaction_pooler) listener_.start();
    return detail::subscribe_wakeups(wake_key_, std::move(on_new_jobs));
  }

  JobCounts counts(Duration lock_timeout) override {
    Params params;
    add_now(params);
    params.add(static_cast<std::int64_t>(lock_timeout.count()));
    auto c = pool_.acquire();
    Result r = c->exec_prepared("errand_counts", counts_sql_, params);
    JobCounts counts;
    const ResultRow row{r, 0};
    const auto jobs = stored(jobs_table_);
    counts.ready = detail::read_count(row, 0, jobs, "the count of ready jobs");
    counts.scheduled = detail::read_count(row, 1, jobs, "the count of scheduled jobs");
    counts.running = detail::read_count(row, 2, jobs, "the count of running jobs");
    counts.abandoned = detail::read_count(row, 3, jobs, "the count of abandoned jobs");
    counts.failing = detail::read_count(row, 4, jobs, "the count of failing jobs");
    counts.dead = detail::read_count(row, 5, stored(dead_jobs_table_), "the count of dead jobs");
    return counts;
  }

  std::vector<JobInfo> list_jobs(const JobFilter& filter) override {
    Params params;
    add_now(params);
    params.add(static_cast<std::int64_t>(filter.lock_timeout.count()));
    params.add_optional(filter.name);
    params.add(static_cast<std::int64_t>(filter.limit));
    auto c = pool_.acquire();
    Result r = c->exec(list_jobs_sql(schema_, filter), params);
    std::vector<JobInfo> jobs;
    const auto where = stored(jobs_table_);
    for (int i = 0; i < r.rows(); ++i) {
      const ResultRow row{r, i};
      jobs.push_back(detail::read_job_info(row, where));
      jobs.back().state =
          detail::state_at(jobs.back(), detail::read_time(row, 12, where, "the database's now()"),
                           filter.lock_timeout);
    }
    return jobs;
  }

  std::vector<DeadJob> list_dead(const DeadFilter& filter) override {
    Params params;
    params.add(static_cast<std::int64_t>(filter.limit));
    if (filter.name) params.add(*filter.name);
    auto c = pool_.acquire();
    Result r = c->exec(list_dead_sql(schema_, filter.name.has_value()), params);
    std::vector<DeadJob> jobs;
    const auto where = stored(dead_jobs_table_);
    for (int i = 0; i < r.rows(); ++i)
      jobs.push_back(detail::read_dead_job(ResultRow{r, i}, where));
    return jobs;
  }

  bool retry_dead(JobId id) override {
    Params params;
    params.add(std::int64_t{id});
    return resurrect("id = $2", params) == 1;
  }

  DeadTally tally_selected_dead(const DeadSelection& which, std::size_t max_ids) override {
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

  std::size_t retry_selected_dead(const DeadSelection& which) override {
    Params tail;  // resurrect's parameters from $2 on
    const std::string where = dead_where(which, tail, 1);
    return resurrect(where, tail);
  }

  std::size_t purge_selected_dead(const DeadSelection& which) override {
    Params params;
    const std::string where = dead_where(which, params);
    auto c = pool_.acquire();
    return static_cast<std::size_t>(c->exec(purge_dead_sql(schema_, where), params).affected());
  }

 private:
  // Moves dead jobs matching `where` (its parameters from $2 on, already in `tail`) back.
  std::size_t resurrect(std::string_view where, const Params& tail) {
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

  // $1..$4: id, host, pid, concurrency; then add_now as $5.
  Params worker_params(const WorkerRegistration& worker) const {
    Params params;
    params.add(worker.id).add(worker.host).add(worker.pid).add(worker.concurrency);
    add_now(params);
    return params;
  }
  void add_now(Params& params) const {
    if (db_clock_) {
      params.add_null();
    } else {
      params.add(micros_of(clock_->now()));
    }
  }

  // A table of this schema, for messages about invalid stored values.
  detail::StoredTable stored(const std::string& table) const {
    return {"PostgreSQL at", description_, table};
  }

  pg::SchemaSite schema_site() const { return {options_.schema, schema_, description_}; }

  PostgresOptions options_;
  std::shared_ptr<const Clock> clock_;
  bool db_clock_;
  std::string schema_;        // quoted
  std::string channel_name_;  // the NOTIFY channel, unquoted: a parameter of pg_notify
  Pool pool_;
  // The statements used often, built once (postgres/sql.hpp); the rare others per call.
  const std::string insert_sql_, settle_sql_, sweep_sql_, claim_sql_;  // prepared
  const std::string register_sql_, heartbeat_sql_, find_lost_sql_, forget_sql_, counts_sql_;
  const std::string remove_worker_sql_, list_workers_sql_;  // unprepared
  // First in a round's pipeline with asynchronous_claims: that transaction commits without
  // waiting for the WAL flush.
  const Params no_params_;
  const Connection::Statement asynchronous_commit_{"errand_async_commit", pg::kAsynchronousCommit,
                                                   no_params_};
  std::string description_;
  // The key of this process's wake-ups for this database and schema (core/wakeup.hpp).
  const std::string wake_key_ = "postgres:" + pool_.target()->description + "#" + options_.schema;
  // Table names for messages about invalid stored values (core/stored_values.hpp).
  const std::string jobs_table_ = options_.schema + ".jobs";
  const std::string dead_jobs_table_ = options_.schema + ".dead_jobs";
  const std::string workers_table_ = options_.schema + ".workers";
  // Declared last, so destroyed first: the listener, then the VACUUM thread.
  pg::BackgroundVacuum vacuum_{pool_.target(), vacuum_sql(schema_), options_.vacuum_after};
  pg::Listener listener_{pool_.target(), listen_sql(quote_identifier(channel_name_)), wake_key_};
};

}  // namespace

std::vector<JobId> enqueue_rows(PGconn* connection, std::span<const NewJob> rows,
                                std::string_view schema) {
  if (rows.empty()) return {};
  if (!connection) throw StoreError("errand::enqueue: the PGconn is null");
  detail::check_new_jobs(rows);
  Params params = insert_params(rows);
  params.add_null();  // the database clock
  params.add(notify_channel(schema));
  return inserted_ids(pg::exec(connection, "the application's connection",
                               insert_sql(quote_identifier(schema)), params));
}

std::shared_ptr<Store> open_postgres(const std::string& conninfo, PostgresOptions options) {
  auto target = std::make_shared<pg::Target>(pg::make_target(conninfo));
  // errand's own URL parameters win over the options.
  if (target->info.schema) options.schema = *target->info.schema;
  if (target->info.listen) options.listen = *target->info.listen;
  if (target->info.transaction_pooler)
    options.transaction_pooler = *target->info.transaction_pooler;
  if (target->info.asynchronous_claims)
    options.asynchronous_claims = *target->info.asynchronous_claims;
  check_schema_name(options.schema);
  target->transaction_pooler = options.transaction_pooler;
  pg::add_planner_settings(*target);
  if (options.statement_timeout.count() > 0) {
    // A wait for a lock ends a little earlier, with the server's clearer lock-timeout message.
    const auto ms = options.statement_timeout.count();
    target->session_settings.emplace_back("statement_timeout", std::to_string(ms));
    target->session_settings.emplace_back("lock_timeout",
                                          std::to_string(std::max<long>(1, ms * 9 / 10)));
    // The server enforces the timeout; this client-side limit is the backstop for a server
    // that does not answer at all (or a pooler, where session settings cannot be made).
    target->reply_timeout = options.statement_timeout + std::chrono::seconds{5};
  }
  if (options.mode == OpenMode::read_only) {
    target->session_settings.emplace_back("default_transaction_read_only", "on");
  }
  return std::make_shared<PostgresStore>(std::move(target), std::move(options));
}

int postgres_schema_version() {
  return static_cast<int>(pg::migrations().size());
}

}  // namespace errand
