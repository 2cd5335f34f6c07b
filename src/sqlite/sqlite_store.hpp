// The SQLite store (errand/sqlite.hpp): one connection per Store, used by one thread at a time.
//   sqlite_store.cpp      opening, enqueue, settle-and-claim (the hot path), the workers table
//   sqlite_lifecycle.cpp  cancel, retry, prune, and inspection of jobs in every state
//   sqlite_queues.cpp     claiming within the queues' settings; their administration
//   sqlite_schedules.cpp  recurring jobs: firing ticks, listing and pausing schedules
//   sqlite_activity.cpp   the minutes of activity behind the dashboard's charts
#pragma once

#include <errand/error.hpp>
#include <errand/sqlite.hpp>

#include "core/claim_plan.hpp"
#include "core/stored_values.hpp"
#include "core/waiting_counts.hpp"
#include "sqlite/connection.hpp"
#include "sqlite/sql.hpp"

#include <functional>
#include <memory>
#include <mutex>
#include <span>
#include <string>

namespace errand::sqlite {

class SqliteStore final : public Store {
 public:
  SqliteStore(const std::filesystem::path& path, SqliteOptions options);

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

  // sqlite_queues.cpp
  QueueInfo update_queue(std::string_view name, const QueueUpdate& update, bool create) override;
  using Store::list_queues;
  std::vector<QueueInfo> list_queues(std::int64_t count_limit) override;

  // sqlite_schedules.cpp
  ScheduleFiring fire_schedule(const Schedule& schedule, const CronSpec& spec) override;
  std::vector<ScheduleInfo> list_schedules() override;
  std::optional<ScheduleInfo> pause_schedule(std::string_view name, bool paused) override;
  ScheduleRemoval remove_schedule(std::string_view name, Duration unseen_for) override;

  // sqlite_lifecycle.cpp
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
  class ScheduleTx;  // sqlite_schedules.cpp: a firing's transaction (core/schedule_firing.hpp)

  // A table of the database, for messages about invalid stored values (core/stored_values.hpp).
  detail::StoredTable stored(std::string_view table) const {
    return {"SQLite database", connection_.path(), table};
  }
  // Runs `sql` (its ?1 a job id) once for each of `ids`.
  void run_for_each_id(std::string_view sql, const std::vector<JobId>& ids);
  void upsert_worker(const WorkerRegistration& worker, TimePoint started_at, TimePoint now);
  // Applies one outcome if the lease still holds. Returns false when it was lost; sets
  // `cancelled` when the job's cancel was requested and the outcome ended it cancelled.
  bool apply(std::string_view worker_id, const Outcome& outcome, std::int64_t now, bool& cancelled);
  // --- sqlite_queues.cpp; inside the claim's write transaction ---
  // Locks the jobs `request` asks for within their queues' settings (see core/claim_plan.hpp).
  void claim_within_queues(std::string_view worker_id, const ClaimRequest& request, TimePoint now,
                           Exchange& exchange);
  // Locks `jobs` (read unlocked in this write transaction) for worker `worker_id` at `at`.
  void lock_claimed(std::string_view worker_id, TimePoint at, std::span<const ClaimedJob> jobs);
  // The queues `request` names (in its order), or every queue in turn order.
  std::vector<detail::QueueSnapshot> claim_scope(const ClaimRequest& request);
  // insert_jobs's inserts, in a write transaction the caller holds, at time `now`.
  std::vector<Enqueued> insert_in_transaction(std::span<const NewJob> jobs, std::int64_t now);
  // A unique job (errand/unique.hpp), in the enqueue's transaction at time `now`: `bind_job`
  // binds its first 8 columns of sql::kInsertUniqueJob.
  Enqueued insert_unique(const NewJob& job, std::int64_t now, std::int64_t run_at,
                         const std::function<void(Statement&, int&)>& bind_job);
  // --- sqlite_counts.cpp; inside a read transaction ---
  // Queue `queue`'s waiting jobs at `now`, each count up to `limit` (0: exact).
  detail::WaitingCounts count_waiting(const std::string& queue, TimePoint now, std::int64_t limit);
  // Every known queue's name, in order.
  std::vector<std::string> queue_names();
  // list_jobs's statement for `part` of `filter` at `now` (sqlite_lifecycle.cpp).
  std::vector<JobInfo> list_part(const JobFilter& filter, detail::LivePart part, TimePoint now);
  // Makes queue `name` known. Inside a write transaction.
  void add_queue(std::string_view name, TimePoint now);
  // The error for a queue name with no row, naming the known ones.
  ConfigError unknown_queue(std::string_view name);

  // Throws StoreError when the store was opened read-only.
  void require_writable(std::string_view operation) const;
  // Binds the value of `which`, if it has one, as ?1 (see sql::DeadWhere).
  static void bind_dead(Statement& statement, const DeadSelection& which);
  // Moves the finished jobs `where` selects (its value bound by `bind`) back into the jobs table,
  // due now, with their error count reset. Returns how many moved.
  template <class Bind>
  std::size_t resurrect(sql::DeadWhere where, Bind bind);

  SqliteOptions options_;
  std::shared_ptr<const Clock> clock_;
  std::mutex mutex_;  // one connection, one thread at a time
  Connection connection_;
  std::string description_;
  std::string wake_key_;
};

}  // namespace errand::sqlite
