// The PostgreSQL store (errand/postgres.hpp): a pool of connections; each call borrows one.
//   postgres_store.cpp      opening, enqueue, settle-and-claim (the hot path), the workers table
//   postgres_lifecycle.cpp  cancel, retry, prune, and inspection of jobs in every state
//   postgres_queues.cpp     claiming within the queues' settings; their administration
//   postgres_schedules.cpp  recurring jobs: firing ticks, listing and pausing schedules
//   postgres_activity.cpp   the minutes of activity behind the dashboard's charts
#pragma once

#include <errand/error.hpp>
#include <errand/postgres.hpp>

#include "core/claim_plan.hpp"
#include "core/stored_values.hpp"
#include "core/waiting_counts.hpp"
#include "postgres/background.hpp"
#include "postgres/pool.hpp"
#include "postgres/pq.hpp"
#include "postgres/schema.hpp"
#include "postgres/sql.hpp"
#include "postgres/sql_activity.hpp"
#include "postgres/sql_schedules.hpp"

#include <memory>
#include <mutex>
#include <optional>
#include <string>

namespace errand::pg {

// One row of a Result, in the shape detail::read_* expect (core/rows.hpp).
struct ResultRow {
  const Result& result;
  int row;
  bool is_null(int column) const { return result.is_null(row, column); }
  bool read_integer(int column, std::int64_t& out) const noexcept {
    return result.read_integer(row, column, out);
  }
  bool read_real(int column, double& out) const noexcept {
    return result.read_real(row, column, out);
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

// The ids of a PostgreSQL array of bigint as text ("{1,2,3}"); throws StoreError otherwise.
std::vector<JobId> parse_id_array(std::string_view text);

class PostgresStore final : public Store {
 public:
  PostgresStore(std::shared_ptr<const Target> target, PostgresOptions options);

  std::string describe() const override { return description_; }
  const Clock& clock() const override { return *clock_; }
  int schema_version() override;

  std::vector<Enqueued> insert_jobs(std::span<const NewJob> jobs) override;
  Exchange settle_and_claim(std::string_view worker_id, std::span<const Outcome> outcomes,
                            const ClaimRequest& claim, Duration lock_timeout) override;

  TimePoint register_worker(const WorkerRegistration& worker) override;
  std::vector<JobId> heartbeat(const WorkerRegistration& worker, std::span<const JobId> held,
                               std::span<const JobProgress> progress) override;
  void remove_worker(std::string_view worker_id) override;
  std::vector<WorkerInfo> list_workers() override;
  void record_activity(std::span<const ActivityMinute> minutes) override;
  std::vector<ActivityMinute> list_activity(TimePoint since) override;
  void add_metric_totals(std::span<const MetricTotal> totals) override;
  std::vector<MetricTotal> list_metric_totals() override;
  std::vector<LostJob> find_lost_jobs(Duration rescue_after, std::size_t limit) override;
  std::size_t forget_lost_workers(Duration rescue_after) override;

  std::unique_ptr<Subscription> subscribe(std::function<void()> on_new_jobs) override;
  std::unique_ptr<Subscription> subscribe_cancels(std::function<void(JobId)> on_cancel) override;

  // postgres_queues.cpp
  QueueInfo update_queue(std::string_view name, const QueueUpdate& update, bool create) override;
  using Store::list_queues;
  std::vector<QueueInfo> list_queues(std::int64_t count_limit) override;

  // postgres_schedules.cpp
  ScheduleFiring fire_schedule(const Schedule& schedule, const CronSpec& spec) override;
  std::vector<ScheduleInfo> list_schedules() override;
  std::optional<ScheduleInfo> pause_schedule(std::string_view name, bool paused) override;
  ScheduleRemoval remove_schedule(std::string_view name, Duration unseen_for) override;

  // postgres_lifecycle.cpp
  CancelResult cancel_job(JobId id, std::string_view reason) override;
  RetryResult retry_job(JobId id) override;
  DeleteResult delete_job(JobId id) override;
  PruneResult prune(const Retention& retention, std::size_t limit) override;
  std::optional<JobInfo> find_job(JobId id, Duration lock_timeout) override;
  using Store::counts;
  JobCounts counts(Duration lock_timeout, std::int64_t limit) override;
  std::vector<JobInfo> list_jobs(const JobFilter& filter) override;
  std::vector<DeadJob> list_dead(const DeadFilter& filter) override;
  bool retry_dead(JobId id) override;

 protected:
  CancelTally cancel_selected(const JobSelection& which, std::string_view reason) override;
  std::size_t retry_selected_dead(const DeadSelection& which) override;
  std::size_t purge_selected_dead(const DeadSelection& which) override;
  DeadTally tally_selected_dead(const DeadSelection& which, std::size_t max_ids) override;

 private:
  class ScheduleTx;  // postgres_schedules.cpp: a firing's transaction (core/schedule_firing.hpp)

  // --- postgres_queues.cpp; inside the claim's transaction, its queues locked ---
  // A queue with limits, as the round's queue summary lists it.
  struct LimitedQueue {
    std::string name;
    bool per_key = false;
    bool global_only = false;  // its one limit is a global one
  };
  // The claim from the `limited` queues (among those `claim` asks for), after the open
  // queues' claim put its jobs in exchange.claimed: in a transaction of its own that locks those
  // queues' rows first, within their settings (core/claim_plan.hpp).
  // `reserve`: the free slots the open queues' claim left them (from every queue).
  // A claim from one queue whose one limit was a global one: LimitedClaimSql::global_claim after
  // its lock_queues, in a transaction.
  struct GlobalClaim {
    explicit GlobalClaim(std::string name) : queue(std::move(name)) {
      which.add_array(std::vector<std::string>{queue});
    }
    std::string queue;
    Params which;        // lock_queues's: the queue
    Params params;       // global_claim's
    std::size_t at = 0;  // global_claim's place in the pipeline
  };
  // Appends BEGIN and `claim`'s lock_queues (the queue's row locked first); returns the lock's
  // place in the pipeline.
  std::size_t begin_global_claim(const GlobalClaim& claim,
                                 std::vector<Connection::Statement>& statements) const;
  // Appends `claim`'s global_claim statement for worker `worker_id`'s `max` free slots and
  // `prefetch` (the caller puts BEGIN, its lock_queues and COMMIT around it).
  void add_global_claim(GlobalClaim& claim, std::vector<Connection::Statement>& statements,
                        std::string_view worker_id, std::size_t max, std::size_t prefetch) const;
  // Puts the jobs claimed into `exchange`, given lock_queues's result (`row`) and global_claim's.
  // False when the row shows other limits now: then it claimed nothing.
  bool take_global_claim(const Result& row, const Result& claimed, Exchange& exchange) const;
  // The claim from `queue`, whose one limit was a global one, in one round trip (BEGIN, its row
  // locked, LimitedClaimSql::global_claim, COMMIT). False as take_global_claim.
  bool claim_globally_limited(std::string_view worker_id, const ClaimRequest& request,
                              const std::string& queue, Exchange& exchange);
  void claim_limited(std::string_view worker_id, const ClaimRequest& claim, std::size_t reserve,
                     const std::vector<LimitedQueue>& limited, Exchange& exchange);
  // --- postgres_store.cpp: the open queues' claim ---
  // open_claim_sql's parameters from $2 on: `wanted` jobs of the queues `claim` asks for.
  void add_open_claim_params(Params& params, const ClaimRequest& claim, std::size_t wanted) const;
  // The open queues' claim (open_claim_sql) of up to `wanted` jobs, in a round trip of its own.
  void claim_open_again(std::string_view worker_id, const ClaimRequest& claim, std::size_t wanted,
                        Exchange& exchange);
  // Appends the jobs an open or single-queue claim returned to exchange.claimed, in its order.
  void take_open_claim(const Result& r, Exchange& exchange) const;
  // What the last claim from every queue saw: its limited queues (each keeps a slot from the
  // open ones), and the one queue not paused when there was only one and it had no limit (the
  // next such claim then reads that queue's index range alone).
  struct QueuesSeen {
    std::size_t limited = 0;
    std::optional<std::string> only_open;
    // The one queue not paused when there was only one and its one limit was a global one (the
    // next such claim takes it in the round's own pipeline).
    std::optional<std::string> only_global;
  };
  QueuesSeen queues_seen() const;
  void remember_queues_seen(QueuesSeen seen);

  // The error for a queue name with no row, naming the known ones.
  ConfigError unknown_queue(Connection& c, std::string_view name);
  // --- postgres_counts.cpp; in a snapshot (begin_snapshot) on `c` ---
  // Queue `queue`'s waiting jobs at `now`, each count up to `limit` (0: exact).
  detail::WaitingCounts count_waiting(Connection& c, const std::string& queue, TimePoint now,
                                      std::int64_t limit);
  // Every known queue's name, in order, read on `c`.
  std::vector<std::string> queue_names(Connection& c);
  // list_jobs's statement for `part` of `filter`, on `c` (postgres_lifecycle.cpp).
  std::vector<JobInfo> list_part(Connection& c, const JobFilter& filter, detail::LivePart part);
  // The failing jobs and the finished ones by state, up to `limit`, into `counts`.
  void count_failing_and_finished(Connection& c, std::int64_t limit, JobCounts& counts);
  // In a transaction just begun on `c`: makes it one read-only snapshot and returns the store's
  // now (`where`: the table named if the database's clock gives a time errand cannot use).
  TimePoint begin_snapshot(Connection& c, const detail::StoredTable& where) const;

  // Moves finished jobs matching `where` (its parameters from $2 on, already in `tail`) back.
  std::size_t resurrect(std::string_view where, const Params& tail);
  // $1..$4: id, host, pid, concurrency; then add_now as $5.
  Params worker_params(const WorkerRegistration& worker) const;
  // The store's now: NULL (the database's now()) or the injected clock's, in microseconds.
  void add_now(Params& params) const;
  // insert_jobs's statement for jobs without a unique key, on `c` (in its transaction, if any);
  // the ids, ascending.
  std::vector<JobId> insert_plain(Connection& c, std::span<const NewJob> jobs);
  // insert_jobs for a batch with unique jobs (errand/unique.hpp; postgres_unique.cpp).
  std::vector<Enqueued> insert_unique_jobs(std::span<const NewJob> jobs);
  // One round of it on connection `c`: the rows of `jobs` at `places` that are still open;
  // settles them in `done` and returns those whose key must be taken over first (`takeover`:
  // the live holders to release). With `fail_open`, an open row fails the transaction instead.
  std::vector<std::size_t> unique_round(Connection& c, std::span<const NewJob> jobs,
                                        const std::vector<std::size_t>& places,
                                        std::vector<Enqueued>& done, bool fail_open,
                                        std::vector<std::pair<JobId, std::uint32_t>>& takeover);
  // Publishes in this process the cancels that request_cancel_sql's result lists.
  void publish_cancels(const Result& flagged) const;
  // A table of this schema, for messages about invalid stored values.
  detail::StoredTable stored(const std::string& table) const {
    return {"PostgreSQL at", description_, table};
  }
  SchemaSite schema_site() const { return {options_.schema, schema_, description_}; }

  PostgresOptions options_;
  std::shared_ptr<const Clock> clock_;
  bool db_clock_;
  std::string schema_;        // quoted
  std::string channel_name_;  // the NOTIFY channel, unquoted: a parameter of pg_notify
  Pool pool_;
  // The statements used often, built once (postgres/sql.hpp); the rare others per call.
  const std::string insert_sql_, unique_insert_sql_, unique_insert_one_sql_, unique_resolve_sql_,
      unique_resolve_one_sql_, settle_lock_sql_, settle_cancelled_sql_, settle_sql_,
      settle_completed_sql_, sweep_sql_, open_claim_sql_, single_queue_claim_sql_,
      release_unique_keys_sql_,
      queue_summary_sql_;  // prepared
  const std::string register_sql_, heartbeat_sql_, find_lost_sql_, forget_sql_, waiting_sql_;
  const std::string remove_worker_sql_, list_workers_sql_;  // unprepared
  // Minutes of activity (postgres_activity.cpp), unprepared: once per heartbeat, or a page.
  const std::string record_activity_sql_ = record_activity_sql(schema_);
  const std::string list_activity_sql_ = list_activity_sql(schema_);
  const std::string add_metric_totals_sql_ = add_metric_totals_sql(schema_);
  const std::string list_metric_totals_sql_ = list_metric_totals_sql(schema_);
  const LimitedClaimSql limited_sql_{schema_};
  const ScheduleSql schedule_sql_{schema_};  // a firing's statements (postgres_schedules.cpp)
  // First in a round's pipeline with asynchronous_claims: that transaction commits without
  // waiting for the WAL flush.
  const Params no_params_;
  const Connection::Statement asynchronous_commit_{"errand_async_commit", kAsynchronousCommit,
                                                   no_params_};
  std::string description_;
  // The key of this process's wake-ups for this database and schema (core/wakeup.hpp).
  const std::string wake_key_ = "postgres:" + pool_.target()->description + "#" + options_.schema;
  // Table names for messages about invalid stored values (core/stored_values.hpp).
  const std::string jobs_table_ = options_.schema + ".jobs";
  const std::string finished_jobs_table_ = options_.schema + ".finished_jobs";
  const std::string workers_table_ = options_.schema + ".workers";
  const std::string activity_table_ = options_.schema + ".activity";
  const std::string metric_totals_table_ = options_.schema + ".metric_totals";
  const std::string queues_table_ = options_.schema + ".queues";
  const std::string schedules_table_ = options_.schema + ".schedules";
  mutable std::mutex queues_seen_mutex_;
  QueuesSeen queues_seen_;
  // Declared last, so destroyed first: the listener, then the VACUUM thread.
  BackgroundVacuum vacuum_{pool_.target(), vacuum_sql(schema_), options_.vacuum_after};
  Listener listener_{pool_.target(), listen_sql(quote_identifier(channel_name_)), wake_key_};
};

}  // namespace errand::pg
