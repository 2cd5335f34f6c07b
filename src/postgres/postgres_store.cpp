// The PostgreSQL store's opening, enqueue, settle-and-claim and workers table
// (postgres_store.hpp).
#include "postgres/postgres_store.hpp"

#include <errand/error.hpp>

#include "core/rows.hpp"
#include "core/url.hpp"
#include "core/wakeup.hpp"
#include "postgres/plans.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <charconv>

namespace errand {

namespace pg {

using detail::micros_of;

std::vector<JobId> parse_id_array(std::string_view text) {
  std::vector<JobId> ids;
  if (text.size() < 2 || text.front() != '{' || text.back() != '}') {
    throw StoreError(fmt::format("PostgreSQL returned {} where errand expected an id array",
                                 detail::quoted_value(text)));
  }
  std::string_view rest = text.substr(1, text.size() - 2);
  while (!rest.empty()) {
    const auto comma = rest.find(',');
    const std::string_view item = rest.substr(0, comma);
    JobId id = 0;
    const auto [end, ec] = std::from_chars(item.data(), item.data() + item.size(), id);
    if (ec != std::errc{} || end != item.data() + item.size()) {
      throw StoreError(fmt::format("PostgreSQL returned {} where errand expected an id array",
                                   detail::quoted_value(text)));
    }
    ids.push_back(id);
    if (comma == std::string_view::npos) break;
    rest = rest.substr(comma + 1);
  }
  return ids;
}

PostgresStore::PostgresStore(std::shared_ptr<const Target> target, PostgresOptions options)
    : options_(std::move(options)),
      clock_(options_.clock ? options_.clock : system_clock()),
      db_clock_(!options_.clock),
      schema_(quote_identifier(options_.schema)),
      channel_name_(notify_channel(options_.schema)),
      pool_(std::move(target), std::max<std::size_t>(1, options_.pool_size)),
      insert_sql_(insert_sql(schema_)),
      unique_insert_sql_(unique_insert_sql(schema_)),
      unique_insert_one_sql_(unique_insert_one_sql(schema_)),
      unique_resolve_sql_(unique_resolve_sql(schema_)),
      unique_resolve_one_sql_(unique_resolve_one_sql(schema_)),
      settle_lock_sql_(settle_lock_sql(schema_)),
      settle_cancelled_sql_(settle_cancelled_sql(schema_)),
      settle_sql_(settle_sql(schema_)),
      settle_completed_sql_(settle_completed_sql(schema_)),
      sweep_sql_(sweep_sql(schema_)),
      open_claim_sql_(open_claim_sql(schema_)),
      single_queue_claim_sql_(single_queue_claim_sql(schema_)),
      release_unique_keys_sql_(release_unique_keys_sql(schema_)),
      queue_summary_sql_(queue_summary_sql(schema_)),
      register_sql_(register_worker_sql(schema_)),
      heartbeat_sql_(heartbeat_sql(schema_)),
      find_lost_sql_(find_lost_jobs_sql(schema_)),
      forget_sql_(forget_lost_workers_sql(schema_)),
      waiting_sql_(pg::waiting_at_next_priority_sql(schema_)),
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
    description_ +=
        description_.find('?') == std::string::npos ? "?pooler=transaction" : "&pooler=transaction";
  auto c = pool_.acquire();
  open_schema(*c, schema_site(), options_.mode, options_.migration_lock_timeout);
}

int PostgresStore::schema_version() {
  auto c = pool_.acquire();
  return stored_schema_version(*c, schema_site());
}

std::vector<Enqueued> PostgresStore::insert_jobs(std::span<const NewJob> jobs) {
  if (jobs.empty()) return {};
  detail::check_new_jobs(jobs);
  const bool any_unique =
      std::any_of(jobs.begin(), jobs.end(), [](const NewJob& j) { return !j.unique_key.empty(); });
  if (any_unique) return insert_unique_jobs(jobs);
  auto c = pool_.acquire();
  const std::vector<JobId> ids = insert_plain(*c, jobs);
  detail::publish_wakeup(wake_key_);
  std::vector<Enqueued> done;
  done.reserve(ids.size());
  for (const JobId id : ids)
    done.push_back({.id = id});
  return done;
}

// One pipeline, one round trip, one transaction: settle, unlock abandoned jobs, claim from the
// queues without limits, and list the limited queues asked for; from those, if any, a second
// transaction claims within their limits (postgres_queues.cpp).
Store::Exchange PostgresStore::settle_and_claim(std::string_view worker_id,
                                                std::span<const Outcome> outcomes,
                                                const ClaimRequest& claim, Duration lock_timeout) {
  Exchange exchange;
  const std::size_t max = claim.total();
  if (outcomes.empty() && max == 0) return exchange;
  Params lock_params, cancelled_params, settle_params, sweep_params, now_params, queue_params;
  std::vector<Connection::Statement> statements;
  // From every queue when the last round saw one queue, limited globally alone: its claim in
  // this round trip, in a transaction that locks its row before anything else (the lock order
  // of update_queue: queue rows, then jobs) and takes everything else in the pipeline with it.
  const QueuesSeen seen = max > 0 && claim.queues.empty() ? queues_seen() : QueuesSeen{};
  std::optional<GlobalClaim> folded;
  std::optional<std::size_t> folded_lock_at;
  if (seen.only_global) {
    folded.emplace(*seen.only_global);
    folded_lock_at = begin_global_claim(*folded, statements);
  }
  if (options_.asynchronous_claims) statements.push_back(asynchronous_commit_);
  // Where the cancelled outcomes' result is, and the other settled outcomes'.
  std::optional<std::size_t> cancelled_at, settled_at;
  if (!outcomes.empty()) {
    std::vector<JobId> may_cancel;
    for (const Outcome& o : outcomes) {
      if (may_end_cancelled(o)) may_cancel.push_back(o.id);
    }
    if (!may_cancel.empty()) {
      // Rare (failures, snoozes, shutdown): lock them, then end those whose cancel was requested.
      lock_params.add_array(may_cancel);
      statements.push_back({"errand_settle_lock", settle_lock_sql_, lock_params});
      cancelled_params.add(worker_id);
      add_now(cancelled_params);
      add_cancel_settle_arrays(cancelled_params, outcomes);
      cancelled_at = statements.size();
      statements.push_back({"errand_settle_cancelled", settle_cancelled_sql_, cancelled_params});
    }
    settle_params.add(worker_id);
    settled_at = statements.size();
    if (only_deletions(outcomes)) {
      add_completed_arrays(settle_params, outcomes);
      statements.push_back({"errand_settle_completed", settle_completed_sql_, settle_params});
    } else {
      add_now(settle_params);
      add_settle_arrays(settle_params, outcomes);
      statements.push_back({"errand_settle", settle_sql_, settle_params});
    }
  }
  std::optional<std::size_t> open_at, summary_at;
  Params open_params, summary_params;
  std::size_t reserve = 0;            // from every queue: free slots kept from the open queues
  std::size_t open_wanted = 0;        // jobs asked of the open queues
  std::optional<std::string> single;  // the one queue the open claim reads, if only one
  if (max > 0) {
    // Abandoned locks become runnable rows again (cheap: a partial-index range scan).
    add_now(sweep_params);
    sweep_params.add(static_cast<std::int64_t>(lock_timeout.count()));
    statements.push_back({"errand_sweep", sweep_sql_, sweep_params});
    // The queues without limits, in this round trip; then which limited queues are asked for.
    open_params.add(worker_id);
    if (claim.queues.empty()) {
      // Every queue: a slot is kept for each limited queue seen last time, so that the open
      // queues do not take every turn.
      reserve = std::min(claim.max, seen.limited);
      single = seen.only_open;
      open_wanted = folded ? 0 : claim.max - reserve + claim.prefetch;
      summary_params.add_null();
    } else {
      std::vector<std::string> names;
      for (const QueueDemand& demand : claim.queues) {
        names.push_back(demand.queue);
        open_wanted += demand.max + demand.prefetch;
      }
      if (claim.queues.size() == 1) single = claim.queues.front().queue;
      summary_params.add_array(names);
    }
    // With the folded claim no open queue was seen, so none is read (one that appeared since
    // is, after the summary).
    if (!folded) {
      open_at = statements.size();
      if (single) {
        open_params.add(static_cast<std::int64_t>(open_wanted));
        add_now(open_params);
        open_params.add(*single);
        statements.push_back({"errand_single_queue_claim", single_queue_claim_sql_, open_params});
      } else {
        add_open_claim_params(open_params, claim, open_wanted);
        statements.push_back({"errand_open_claim", open_claim_sql_, open_params});
      }
    }
    summary_at = statements.size();
    statements.push_back({"errand_queue_summary", queue_summary_sql_, summary_params});
    if (folded) {
      add_global_claim(*folded, statements, worker_id, claim.max, claim.prefetch);
      statements.push_back({"errand_commit", "COMMIT", no_params_});
    }
  }
  std::vector<Result> results;
  {
    auto c = pool_.acquire();
    std::optional<Transaction> tx;
    if (folded) tx.emplace(*c, Transaction::begun);
    results = c->exec_pipeline(statements);
    if (tx) tx->committed();
  }
  if (settled_at) {
    std::vector<JobId> applied;
    applied.reserve(outcomes.size());
    const auto collect = [&](const Result& r, std::vector<JobId>* also) {
      for (int i = 0; i < r.rows(); ++i) {
        applied.push_back(r.int64(i, 0));
        if (also) also->push_back(r.int64(i, 0));
      }
    };
    if (cancelled_at) collect(results[*cancelled_at], &exchange.cancelled);
    collect(results[*settled_at], nullptr);
    std::sort(applied.begin(), applied.end());
    for (const Outcome& o : outcomes) {
      if (!std::binary_search(applied.begin(), applied.end(), o.id)) exchange.lost.push_back(o.id);
    }
  }
  if (max > 0) {
    if (open_at) take_open_claim(results[*open_at], exchange);
    const bool folded_took =
        folded && take_global_claim(results[*folded_lock_at], results[folded->at], exchange);
    const Result& summary = results[*summary_at];
    std::vector<LimitedQueue> limited;
    std::optional<std::string> only_open, only_global;
    for (int i = 0; i < summary.rows(); ++i) {
      if (summary.int64(i, 1) != 0)
        limited.push_back(
            {std::string(summary.text(i, 0)), summary.int64(i, 2) != 0, summary.int64(i, 4) != 0});
    }
    const std::int64_t queues = summary.rows() > 0 ? summary.int64(0, 3) : 0;
    if (summary.rows() == 1 && queues == 1) {
      if (limited.empty()) {
        only_open = std::string(summary.text(0, 0));
      } else if (limited.front().global_only) {
        only_global = limited.front().name;
      }
    }
    if (claim.queues.empty()) {
      const bool same = only_open == single;
      remember_queues_seen({limited.size(), only_open, only_global});
      if (folded_took) {
        limited.clear();  // what changed since the last round is claimed from in the next one
      } else if (folded) {
        // Its limits changed: this round claims as one without the folded claim would.
        reserve = std::min(claim.max, limited.size());
        open_wanted = claim.max - reserve + claim.prefetch;
        if (queues > static_cast<std::int64_t>(limited.size())) {
          claim_open_again(worker_id, claim, open_wanted, exchange);
        }
      } else if (single && !same && exchange.claimed.size() < open_wanted) {
        // The one queue read was not the only open one any more (another appeared, or it was
        // paused or limited): the open queues' claim again, over all of them.
        claim_open_again(worker_id, claim, open_wanted - exchange.claimed.size(), exchange);
      }
    }
    if (!limited.empty()) claim_limited(worker_id, claim, reserve, limited, exchange);
  }
  vacuum_.count(exchange.claimed.size() + outcomes.size() - exchange.lost.size());
  return exchange;
}

void PostgresStore::claim_open_again(std::string_view worker_id, const ClaimRequest& claim,
                                     std::size_t wanted, Exchange& exchange) {
  Params again;
  again.add(worker_id);
  add_open_claim_params(again, claim, wanted);
  auto c = pool_.acquire();
  take_open_claim(c->exec_prepared("errand_open_claim", open_claim_sql_, again), exchange);
}

void PostgresStore::add_open_claim_params(Params& params, const ClaimRequest& claim,
                                          std::size_t wanted) const {
  params.add(static_cast<std::int64_t>(wanted));
  add_now(params);
  if (claim.queues.empty()) {
    params.add_null().add_null().add(claim.after_queue);
    return;
  }
  std::vector<std::string> names;
  std::vector<std::int64_t> counts;
  for (const QueueDemand& demand : claim.queues) {
    names.push_back(demand.queue);
    counts.push_back(static_cast<std::int64_t>(demand.max + demand.prefetch));
  }
  params.add_array(names).add_array(counts).add("");
}

void PostgresStore::take_open_claim(const Result& r, Exchange& exchange) const {
  const auto where = stored(jobs_table_);
  // In the queues' turns (UPDATE ... RETURNING gives no order): the positions are sorted, and
  // each job moved once.
  const auto rows = static_cast<std::size_t>(r.rows());
  std::vector<ClaimedJob> jobs;
  std::vector<std::pair<std::int64_t, std::size_t>> positions;  // (claim order, index in jobs)
  jobs.reserve(rows);
  positions.reserve(rows);
  for (std::size_t i = 0; i < rows; ++i) {
    const ResultRow row{r, static_cast<int>(i)};
    positions.emplace_back(
        detail::read_count(row, detail::kClaimedJobColumns + 1, where, "the claim's order"), i);
    jobs.push_back(
        detail::read_claimed_job(row, where,
                                 detail::read_time(row, detail::kClaimedJobColumns, where,
                                                   "locked_at (the database's now())")));
  }
  std::sort(positions.begin(), positions.end());
  exchange.claimed.reserve(exchange.claimed.size() + rows);
  for (const auto& [order, index] : positions)
    exchange.claimed.push_back(std::move(jobs[index]));
}

PostgresStore::QueuesSeen PostgresStore::queues_seen() const {
  std::lock_guard lock(queues_seen_mutex_);
  return queues_seen_;
}

void PostgresStore::remember_queues_seen(QueuesSeen seen) {
  std::lock_guard lock(queues_seen_mutex_);
  queues_seen_ = std::move(seen);
}

TimePoint PostgresStore::register_worker(const WorkerRegistration& worker) {
  Params params = worker_params(worker);
  params.add_optional(detail::worker_queues_text(worker.queues));
  auto c = pool_.acquire();
  const Result r = c->exec_prepared("errand_register", register_sql_, params);
  return detail::read_time(ResultRow{r, 0}, 0, stored(workers_table_), "started_at");
}

std::vector<JobId> PostgresStore::heartbeat(const WorkerRegistration& worker,
                                            std::span<const JobId> held,
                                            std::span<const JobProgress> progress) {
  Params params = worker_params(worker);
  params.add(micros_of(worker.started_at));
  params.add_array(held);
  params.add(channel_name_);
  std::vector<JobId> ids;
  std::vector<std::string> ats, values, messages;
  for (const JobProgress& p : progress) {
    ids.push_back(p.id);
    ats.push_back(std::to_string(micros_of(p.locked_at)));
    values.push_back(fmt::format("{}", p.value));
    messages.push_back(p.message);
  }
  params.add_array(ids);
  params.add(fmt::format("{{{}}}", fmt::join(ats, ",")));
  params.add(fmt::format("{{{}}}", fmt::join(values, ",")));
  params.add_array(messages);
  params.add_optional(detail::worker_queues_text(worker.queues));
  // Beat, and unlock what this worker locked since registering but does not know it holds.
  auto c = pool_.acquire();
  const Result r = c->exec_prepared("errand_heartbeat", heartbeat_sql_, params);
  if (r.int64(0, 0) > 0) detail::publish_wakeup(wake_key_);
  return parse_id_array(r.text(0, 3));
}

void PostgresStore::remove_worker(std::string_view worker_id) {
  Params params;
  params.add(worker_id).add(channel_name_);
  auto c = pool_.acquire();
  if (c->exec(remove_worker_sql_, params).int64(0, 0) > 0) {
    detail::publish_wakeup(wake_key_);
  }
}

std::vector<WorkerInfo> PostgresStore::list_workers() {
  Params params;
  add_now(params);
  auto c = pool_.acquire();
  Result r = c->exec(list_workers_sql_, params);
  std::vector<WorkerInfo> workers;
  const auto where = stored(workers_table_);
  for (int i = 0; i < r.rows(); ++i) {
    const ResultRow row{r, i};
    workers.push_back(detail::read_worker_info(
        row, where, detail::read_time(row, 8, where, "the database's now()")));
  }
  return workers;
}

std::vector<LostJob> PostgresStore::find_lost_jobs(Duration rescue_after, std::size_t limit) {
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

std::size_t PostgresStore::forget_lost_workers(Duration rescue_after) {
  Params params;
  add_now(params);
  params.add(static_cast<std::int64_t>(rescue_after.count()));
  auto c = pool_.acquire();
  return static_cast<std::size_t>(
      c->exec_prepared("errand_forget", forget_sql_, params).affected());
}

std::unique_ptr<Subscription> PostgresStore::subscribe(std::function<void()> on_new_jobs) {
  // Behind a transaction pooler LISTEN does not work: workers poll.
  if (options_.listen && !options_.transaction_pooler) listener_.start();
  return detail::subscribe_wakeups(wake_key_, std::move(on_new_jobs));
}

std::unique_ptr<Subscription> PostgresStore::subscribe_cancels(
    std::function<void(JobId)> on_cancel) {
  if (options_.listen && !options_.transaction_pooler) listener_.start();
  return detail::subscribe_cancels(wake_key_, std::move(on_cancel));
}

Params PostgresStore::worker_params(const WorkerRegistration& worker) const {
  Params params;
  params.add(worker.id).add(worker.host).add(worker.pid).add(worker.concurrency);
  add_now(params);
  return params;
}

std::vector<JobId> PostgresStore::insert_plain(Connection& c, std::span<const NewJob> jobs) {
  Params params = insert_params(jobs);
  add_now(params);
  params.add(channel_name_);
  add_routing_arrays(params, jobs);
  return inserted_ids(c.exec_prepared("errand_enqueue", insert_sql_, params));
}

void PostgresStore::add_now(Params& params) const {
  if (db_clock_) {
    params.add_null();
  } else {
    params.add(micros_of(clock_->now()));
  }
}

}  // namespace pg

using namespace pg;  // the store's SQL (postgres/sql.hpp) and connections

std::vector<JobId> enqueue_rows(PGconn* connection, std::span<const NewJob> rows,
                                std::string_view schema) {
  if (rows.empty()) return {};
  if (!connection) throw StoreError("errand::enqueue: the PGconn is null");
  detail::check_new_jobs(rows);
  for (const NewJob& row : rows) {
    if (!row.unique_key.empty()) {
      throw StoreError(fmt::format(
          "cannot enqueue job '{}' on the application's connection: unique jobs are enqueued "
          "through a Store (errand::open_postgres) for now; nothing was inserted",
          row.name));
    }
  }
  Params params = insert_params(rows);
  params.add_null();  // the database clock
  params.add(notify_channel(schema));
  add_routing_arrays(params, rows);
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
  return std::make_shared<pg::PostgresStore>(std::move(target), std::move(options));
}

int postgres_schema_version() {
  return static_cast<int>(pg::migrations().size());
}

}  // namespace errand
