// The storage contract. The worker, the registry and the CLI talk only to `Store`; SQLite and
// PostgreSQL implement it. A Store is thread-safe: one instance may be shared by every enqueuer
// and worker thread of a process.
#pragma once

#include <errand/clock.hpp>
#include <errand/cron.hpp>
#include <errand/lifecycle.hpp>
#include <errand/new_job.hpp>
#include <errand/queues.hpp>
#include <errand/schedule.hpp>
#include <errand/unique.hpp>

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace errand {

// How a store is opened (SqliteOptions::mode, PostgresOptions::mode, OpenOptions::mode).
enum class OpenMode {
  // Creates the database (SQLite file, PostgreSQL schema) when missing and runs pending
  // migrations. Workers, enqueuers, `errand migrate`, the demo and the benchmark.
  create,
  // The database must exist with errand's schema at this build's version: nothing is created or
  // migrated (StoreError otherwise, naming `errand migrate`); the store may write rows.
  existing,
  // As `existing`, and the store never writes: inspection (`errand status`, `jobs`, `dead`,
  // `workers`). Works on a read-only SQLite file; writing methods throw StoreError.
  read_only,
};

// A job this worker has locked. `locked_at` together with the worker id is the lease: every
// later change to the job is applied only while both still match the stored row.
struct ClaimedJob {
  JobId id = 0;
  std::string name{};
  std::string payload{};
  std::string context{};
  std::int32_t priority = 0;
  std::string queue{};
  std::string partition_key{};
  std::int32_t error_count = 0;  // failed attempts so far
  TimePoint run_at{};
  TimePoint created_at{};
  TimePoint locked_at{};
  std::optional<std::string> last_error{};
  std::int32_t snoozes = 0;             // times it put itself off (errand::Snooze)
  std::optional<std::string> errors{};  // its error history as stored (core/attempts.hpp)
  bool cancel_requested = false;        // cancelled while locked: not to be run
  // Set when a value of the stored row is invalid (docs/reliability.md, "Bad input"): which one
  // and why. Only id and locked_at are then meaningful; the worker dead-letters the job unrun.
  std::optional<std::string> invalid{};
};

// What became of one claimed job; applied by Store::settle_and_claim. Every kind but `completed`
// ends `cancelled` instead when the job's cancel was requested meanwhile (Store::cancel_job):
// completion wins, everything else yields to the cancel.
struct Outcome {
  enum class Kind {
    completed,    // delete the job, or keep it as completed (`keep`, with `output`)
    retry,        // error_count + 1, record the error, run again after `retry_delay`
    dead_letter,  // error_count + 1, record the error, move it to `discarded`
    released,     // unlock without charging an attempt (shutdown)
    snoozed,      // unlock, snoozes + 1, run again after `retry_delay`; no attempt charged
  };
  JobId id = 0;
  TimePoint locked_at{};
  Kind kind = Kind::completed;
  std::string error{};
  Duration retry_delay{0};
  std::string errors{};  // retry, dead_letter: the error history with this attempt (JSON)
  bool keep = false;     // completed: kept as a completed job (Retention::completed > 0)
  std::optional<std::string> output{};  // completed and kept: the run's output (JSON)
};

// Jobs by state, at the store's current time. `running` counts locks younger than the lock
// timeout given to `counts`; older locks are `abandoned` (claimable again). With a `limit`
// (Store::counts), a count below it is exact and one at or above it means "at least that many".
struct JobCounts {
  std::int64_t ready = 0;      // unlocked, due now
  std::int64_t scheduled = 0;  // unlocked, due later (includes retries waiting out their backoff)
  std::int64_t running = 0;
  std::int64_t abandoned = 0;
  std::int64_t failing = 0;  // not dead, with at least one failed attempt (a subset of the above)
  std::int64_t dead = 0;     // discarded: the dead-letter queue
  std::int64_t completed = 0;
  std::int64_t cancelled = 0;
  std::int64_t limit = 0;  // the limit the counts were taken with; 0: every count is exact
};

// A count taken with a limit (JobCounts::limit, QueueInfo::count_limit): true when `count` may be
// short of the real number (it reached the limit).
constexpr bool at_least(std::int64_t count, std::int64_t limit) {
  return limit > 0 && count >= limit;
}

// A job in any state, for inspection. The fields a state has no use for are empty: locked_by and
// progress (running), finished_at and output (finished), cancel_requested_at (cancelled while
// running, not yet ended).
struct JobInfo {
  JobId id = 0;
  std::string name{};
  std::string payload{};
  std::string context{};
  std::int32_t priority = 0;
  std::string queue{};
  std::string partition_key{};
  std::int32_t error_count = 0;
  TimePoint run_at{};
  TimePoint created_at{};
  std::optional<std::string> locked_by{};
  std::optional<TimePoint> locked_at{};
  std::optional<std::string> last_error{};
  std::optional<TimePoint> last_failed_at{};
  JobState state = JobState::ready;
  std::int32_t snoozes = 0;
  std::vector<Attempt> attempts{};  // its failed attempts, oldest first (the last 20 at least)
  // Set when the stored history could not be read (it is then shown as empty): why.
  std::optional<std::string> attempts_unreadable{};
  std::optional<TimePoint> cancel_requested_at{};
  std::optional<std::string> cancel_reason{};
  std::optional<double> progress{};
  std::optional<std::string> progress_message{};
  std::optional<TimePoint> progress_at{};
  std::optional<TimePoint> finished_at{};
  std::optional<std::string> output{};  // JSON
};

// A discarded job (the dead-letter queue). `id` is the job's original id.
struct DeadJob {
  JobId id = 0;
  std::string name{};
  std::string payload{};
  std::string context{};
  std::int32_t priority = 0;
  std::string queue{};
  std::string partition_key{};
  std::int32_t error_count = 0;
  std::string last_error{};
  TimePoint created_at{};
  TimePoint failed_at{};  // when it was discarded
};

// The order list_jobs lists jobs in.
enum class JobOrder {
  natural,  // live jobs in claim order (priority, then run_at, then id); finished jobs most
            // recently finished first
  newest,   // the most recently enqueued first (id descending)
  oldest,   // the first enqueued first (id ascending)
};

// Where a page of list_jobs ends: the sort key of its last job (cursor_of), from which the next
// page (JobFilter::after) goes on. Keyset pagination: no rows are skipped or repeated when jobs
// are added or removed between pages, and a page costs the same however deep it is.
struct JobCursor {
  JobId id = 0;
  std::int32_t priority = 0;  // JobOrder::natural, live jobs
  TimePoint at{};             // JobOrder::natural: run_at (live) or finished_at (finished)
};

// Which jobs list_jobs lists (every condition given must hold). Without a state: the jobs still
// to run (or running); with a finished state: those.
struct JobFilter {
  std::optional<JobState> state{};
  std::optional<std::string> name{};
  std::optional<std::string> queue{};
  bool failing_only = false;                                   // only jobs with error_count > 0
  std::optional<std::int32_t> min_priority{}, max_priority{};  // inclusive
  std::optional<TimePoint> created_from{}, created_before{};   // created_at in [from, before)
  JobOrder order = JobOrder::natural;
  std::optional<JobCursor> after{};  // only the jobs after this one in `order`
  std::size_t limit = 100;
  Duration lock_timeout = std::chrono::hours{2};  // tells running from abandoned
};

// The cursor after `job` in a listing with `filter`'s state and order.
JobCursor cursor_of(const JobInfo& job, const JobFilter& filter);

struct DeadFilter {
  std::optional<std::string> name{};
  std::size_t limit = 100;
};

// Which dead jobs a bulk dead-letter operation (retry_dead_jobs, purge_dead_jobs,
// tally_dead_jobs) touches. "Every dead job" is never a default: build a selection with one of
// the factories. Store checks every selection with check_dead_selection before using it.
struct DeadSelection {
  enum class Kind {
    nothing,  // default-constructed: refused (ConfigError)
    all,      // every dead job
    name,     // the dead jobs whose type is exactly `name` (not empty)
    ids,      // the dead jobs with these ids (at least one, each positive)
  };
  Kind kind = Kind::nothing;
  std::string name{};
  std::vector<JobId> ids{};

  static DeadSelection all() { return {Kind::all, {}, {}}; }
  static DeadSelection named(std::string type) { return {Kind::name, std::move(type), {}}; }
  static DeadSelection with_ids(std::vector<JobId> ids) { return {Kind::ids, {}, std::move(ids)}; }
};

// The one check of a DeadSelection: throws ConfigError, saying what to give instead, unless it
// selects on purpose (Kind::all; a non-empty name; a non-empty list of positive ids).
void check_dead_selection(const DeadSelection& selection);

// What a DeadSelection selects now (tally_dead_jobs): for --dry-run.
struct DeadTally {
  std::int64_t total = 0;
  std::vector<std::pair<std::string, std::int64_t>> by_name{};  // job types, most jobs first
  std::vector<JobId> ids{};  // the lowest `max_ids` selected ids, ascending
};

// A worker process as it registers itself in the store's workers table.
struct WorkerRegistration {
  std::string id{};
  std::string host{};
  std::int64_t pid = 0;
  std::int64_t concurrency = 0;
  TimePoint started_at{};  // as returned by Store::register_worker
  // The queues it serves (WorkerOptions::queues, in order); empty: every queue.
  std::vector<std::string> queues{};
};

// A row of the workers table, for inspection (`errand workers`).
struct WorkerInfo {
  std::string id{};
  std::string host{};
  std::int64_t pid = 0;
  std::int64_t concurrency = 0;
  TimePoint started_at{};
  TimePoint heartbeat_at{};
  std::int64_t running = 0;           // jobs locked by this worker now
  Duration silent_for{0};             // store's now - heartbeat_at
  std::vector<std::string> queues{};  // the queues it serves; empty: every queue
};

// What the workers of a store did in one minute on one queue: the dashboard's throughput and
// latency charts (Store::record_activity, list_activity).
struct ActivityMinute {
  TimePoint minute{};  // the minute's start (UTC, a whole minute)
  std::string queue{};
  std::int64_t completed = 0;  // runs recorded as completed
  std::int64_t failed = 0;     // failed attempts recorded (retried or dead-lettered)
  std::int64_t started = 0;    // runs measured from their due time to their start...
  Duration latency_sum{0};     // ... their waits summed (the average: latency_sum / started)
  Duration latency_max{0};     // ... and the longest of them
};

// How long the stored minutes of activity are kept (Store::prune deletes older ones).
inline constexpr Duration kActivityKept = std::chrono::hours{24};

// One series of the workers' totals summed across every process (Store::add_metric_totals): a
// counter by queue and job type, a histogram's bucket or sum, or a schedule's ticks. errand's
// workers write them and `errand web` serves them (README, "Metrics"); the names are errand's
// (core/metric_totals.hpp). Never pruned: they only grow, as Prometheus counters do.
struct MetricTotal {
  std::string name{};
  std::string queue{};     // empty for a schedule's ticks
  std::string job_type{};  // empty for a schedule's ticks
  std::string schedule{};  // empty but for a schedule's ticks
  std::int64_t value = 0;
};

// A job locked by a worker that is lost: its heartbeat is older than rescue_after, or the
// worker id registered again after the job was locked (the process restarted).
struct LostJob {
  ClaimedJob job{};  // job.locked_at is the lost worker's lease
  std::string worker_id{};
  TimePoint worker_started_at{};
  TimePoint last_heartbeat{};
  bool worker_restarted = false;  // locked before the worker's current registration
};

// One queue a claim takes jobs from: at most `max` for free slots, and up to `prefetch` more to
// hold locally: none from a queue with a rate (a prefetched job would spend its token while it
// waits), and from a queue with a global limit only while more than half of the limit stays free
// after the free slots' jobs (held locally, a job keeps its slot: near the limit, that slot could
// run at once in a worker with a free thread).
struct QueueDemand {
  std::string queue{};
  std::size_t max = 0;
  std::size_t prefetch = 0;
};

// What settle_and_claim claims. With `queues`, from those, each as its QueueDemand says; without,
// from every queue, at most `max` (+ `prefetch`) in all, the queues taking turns: the first ready
// job of each queue, then the second of each, and so on (so a busy queue cannot starve another).
// Within a queue: highest priority first, then earliest run_at, then lowest id; with a per-key
// limit, keys take turns from where the last claim left off. Paused queues give nothing; limited
// ones no more than their limits allow.
struct ClaimRequest {
  ClaimRequest() = default;
  // Up to `max_jobs` from every queue (0: claim nothing).
  ClaimRequest(std::size_t max_jobs) : max(max_jobs) {}  // NOLINT: a count converts implicitly
  std::vector<QueueDemand> queues{};
  std::size_t max = 0;       // without `queues`
  std::size_t prefetch = 0;  // without `queues`
  // Without `queues`: the queues' turns start after this one (by name, wrapping around); a
  // worker passes the queue of the last job it was given, so that queues take turns across
  // claims too.
  std::string after_queue{};
  // The most jobs it may claim.
  std::size_t total() const {
    if (queues.empty()) return max + prefetch;
    std::size_t n = 0;
    for (const QueueDemand& q : queues)
      n += q.max + q.prefetch;
    return n;
  }
};

// Keeps a wake-up callback registered; unregisters on destruction.
class Subscription {
 public:
  virtual ~Subscription() = default;
};

// Every virtual is pure, so a decorator that misses one does not compile
// (tests/support/forwarding_store.hpp forwards each). The non-virtual members are conveniences
// over them.
class Store {
 public:
  virtual ~Store() = default;

  // Where the store lives, safe to print (no passwords), e.g. "sqlite:/srv/app/errand.db".
  virtual std::string describe() const = 0;
  // The clock used for every timestamp the store writes and compares, and by the workers on this
  // store for every interval they wait out (see clock.hpp).
  virtual const Clock& clock() const = 0;
  // Schema version in use; migrations run when the store is opened.
  virtual int schema_version() = 0;

  // Inserts all jobs in one transaction and says, in order, what became of each: inserted, or
  // (a unique job) a duplicate of, or replacing, the job holding its key. Wakes subscribed
  // workers of this process after commit. Throws StoreError (then nothing was inserted).
  virtual std::vector<Enqueued> insert_jobs(std::span<const NewJob> jobs) = 0;
  // insert_jobs, the ids alone.
  std::vector<JobId> enqueue(std::span<const NewJob> jobs) { return ids_of(insert_jobs(jobs)); }

  // What settle_and_claim did: the ids whose lease was lost, the ids whose outcome ended the job
  // `cancelled` instead (its cancel was requested), and the jobs claimed; `rate_opens_at`: when
  // a queue whose rate held back ready jobs may be claimed from again (the earliest).
  struct Exchange {
    std::vector<JobId> lost;
    std::vector<JobId> cancelled;
    std::vector<ClaimedJob> claimed;
    std::optional<TimePoint> rate_opens_at;
  };
  // The worker's hot path, and the stores' one entry point for settling and claiming. In one
  // transaction (PostgreSQL: one round trip), so on a StoreError neither part happened:
  // - settles `outcomes`, each only if `worker_id` still holds the job's lease; `lost` lists
  //   the ids whose lease was lost (nothing was changed for them);
  // - then locks the runnable jobs `claim` asks for (ClaimRequest) for `worker_id`, within the
  //   queues' settings (paused, limits: errand/queues.hpp), and returns them in `claimed`.
  //   Runnable: unlocked and due, or locked for longer than `lock_timeout` (abandoned).
  // With no outcomes nothing is settled; with a claim of 0 jobs nothing is claimed (no statement
  // runs for the part that is empty). Throws StoreError.
  virtual Exchange settle_and_claim(std::string_view worker_id, std::span<const Outcome> outcomes,
                                    const ClaimRequest& claim, Duration lock_timeout) = 0;

  // settle_and_claim's claim alone.
  std::vector<ClaimedJob> claim(std::string_view worker_id, const ClaimRequest& request,
                                Duration lock_timeout) {
    return settle_and_claim(worker_id, {}, request, lock_timeout).claimed;
  }
  // settle_and_claim's settle alone: returns the ids whose lease was lost.
  std::vector<JobId> settle(std::string_view worker_id, std::span<const Outcome> outcomes) {
    return settle_and_claim(worker_id, outcomes, 0, Duration{0}).lost;
  }

  // --- the workers table: liveness and rescue ---------------------------------------------

  // Records the worker as started now (replacing an earlier registration of the same id) and
  // returns the store's started_at, which later heartbeats carry. Jobs the id locked before
  // now are from an earlier life of the worker and become lost (see find_lost_jobs).
  virtual TimePoint register_worker(const WorkerRegistration& worker) = 0;
  // Records that the worker is alive now (re-inserting its row if it was forgotten). Jobs it
  // locked since registering whose ids are not in `held` are unlocked without charging an
  // attempt: their claim committed but the reply never reached the worker. Writes `progress`
  // (each fenced by its lease). Returns the ids in `held` whose cancel was requested. Call only
  // from the thread that claims for this worker, never while a claim is in progress.
  virtual std::vector<JobId> heartbeat(const WorkerRegistration& worker,
                                       std::span<const JobId> held,
                                       std::span<const JobProgress> progress) = 0;
  // A clean exit: unlocks, uncharged, the jobs the worker locked since registering, and deletes
  // its row.
  virtual void remove_worker(std::string_view worker_id) = 0;
  // Registered workers, most recent heartbeat first.
  virtual std::vector<WorkerInfo> list_workers() = 0;
  // Adds each row's counts to its stored minute and queue (created when missing); the longest
  // wait is kept. Workers call it with their heartbeat (a worker killed meanwhile loses at most
  // one heartbeat's counts). Throws ConfigError for a minute that is not whole or a count below
  // zero (nothing is recorded then).
  virtual void record_activity(std::span<const ActivityMinute> minutes) = 0;
  // The stored minutes from `since` on, oldest first, then by queue.
  virtual std::vector<ActivityMinute> list_activity(TimePoint since) = 0;
  // Adds each row's value to its stored series (name, queue, job type, schedule), created when
  // missing, in one transaction. Workers call it with their heartbeat, adding what they counted
  // since the last one. Throws ConfigError for an empty name or a value below zero (nothing is
  // added then).
  virtual void add_metric_totals(std::span<const MetricTotal> totals) = 0;
  // The stored series, ordered by name, queue, job type, schedule.
  virtual std::vector<MetricTotal> list_metric_totals() = 0;
  // Up to `limit` jobs held by lost workers (see LostJob), oldest lock first. The caller
  // settles them with the lost worker's id and lease, so a worker that was only slow loses the
  // race cleanly.
  virtual std::vector<LostJob> find_lost_jobs(Duration rescue_after, std::size_t limit) = 0;
  // Deletes the rows of workers silent for longer than rescue_after that hold no job; returns
  // how many.
  virtual std::size_t forget_lost_workers(Duration rescue_after) = 0;

  // Calls `on_new_jobs` (from the enqueuing thread) after each enqueue in this process.
  virtual std::unique_ptr<Subscription> subscribe(std::function<void()> on_new_jobs) = 0;
  // Calls `on_cancel` with the id of a running job whose cancel was requested: at once for a
  // cancel in this process; PostgreSQL: for any process's, within a NOTIFY round trip (when the
  // store listens), and with id 0 when notifications may have been missed (the listener
  // connected again): a worker then asks at once, by a heartbeat. Heartbeats report every cancel
  // in any case.
  virtual std::unique_ptr<Subscription> subscribe_cancels(std::function<void(JobId)> on_cancel) = 0;

  // --- queues (errand/queues.hpp) -------------------------------------------------------------

  // Applies `update` to queue `name` (check_queue_name, check_limits: ConfigError) and returns it
  // as it is now. A queue is known once a job was enqueued into it, a worker served it, or it was
  // updated with `create`; an unknown name without `create` throws ConfigError naming the known
  // ones. Workers on every machine apply the change to their next claim (PostgreSQL notifies
  // them). Throws StoreError.
  virtual QueueInfo update_queue(std::string_view name, const QueueUpdate& update, bool create) = 0;
  // Every known queue, by name, with its settings, counts and current use. With `count_limit`
  // > 0, each count of waiting and finished jobs stops about there (see Store::counts).
  virtual std::vector<QueueInfo> list_queues(std::int64_t count_limit) = 0;
  std::vector<QueueInfo> list_queues() { return list_queues(0); }

  // --- the lifecycle (errand/lifecycle.hpp) ---------------------------------------------------

  // Cancels job `id`, recording `reason`: a job waiting to run becomes `cancelled` at once and
  // never runs; a running one is flagged (its worker's stop token fires) and ends `cancelled`
  // unless it completes first. A finished or unknown id changes nothing (see CancelResult).
  virtual CancelResult cancel_job(JobId id, std::string_view reason) = 0;
  // Cancels the selected jobs as cancel_job does each; first checks `which` (ConfigError, and
  // nothing is touched, for a selection that selects nothing on purpose).
  CancelTally cancel_jobs(const JobSelection& which, std::string_view reason) {
    check_job_selection(which);
    return cancel_selected(which, reason);
  }
  // Moves finished job `id` (completed, cancelled or discarded) back to run: same id, due now,
  // error and snooze counts reset, error history kept.
  virtual RetryResult retry_job(JobId id) = 0;
  // Deletes job `id` for good, in whichever state but held by a worker (cancel a running job
  // first): its payload, history and output go with it; its unique key (if any) blocks nothing
  // any more; a schedule's tick record stays (the tick is not fired again).
  virtual DeleteResult delete_job(JobId id) = 0;
  // Deletes up to `limit` finished jobs older than `retention` allows, oldest first. At most one
  // pruning runs at a time across every process and machine (PostgreSQL: an advisory lock,
  // tried, not waited for: `busy` then; SQLite: the write lock).
  virtual PruneResult prune(const Retention& retention, std::size_t limit) = 0;
  // Job `id` in whichever state; nullopt when there is no such job (or it was deleted).
  virtual std::optional<JobInfo> find_job(JobId id, Duration lock_timeout) = 0;

  // --- recurring jobs (errand/schedule.hpp) ----------------------------------------------------

  // Declares `schedule` (`spec`: its spec, parsed) and fires its due ticks, in one transaction
  // holding the schedule's row: creates or updates the row (its definition; seen_at = now; after
  // a change of spec or zone, only the new spec's ticks within missed.grace of now are due);
  // then, unless the schedule is paused, plans the
  // ticks in (the last tick handled, now] by its MissedTicks (a new schedule: from its
  // creation), records each under the primary key (schedule, tick), enqueues its job (context:
  // TickContext) or skips it (Overlap::skip_if_running while the previous tick's job is
  // scheduled, ready or running), and advances the last tick handled. Wakes subscribed workers
  // of this process after commit. Throws ConfigError for a definition a worker would refuse, or a
  // `spec` that is not the schedule's; StoreError (then nothing was recorded).
  virtual ScheduleFiring fire_schedule(const Schedule& schedule, const CronSpec& spec) = 0;
  // Every schedule declared in the store, by name.
  virtual std::vector<ScheduleInfo> list_schedules() = 0;
  // Pauses schedule `name` (no tick fires; on resume, the ticks missed meanwhile follow its
  // MissedTicks) or resumes it; returns it as it is now, or nullopt when there is none.
  virtual std::optional<ScheduleInfo> pause_schedule(std::string_view name, bool paused) = 0;
  // Deletes schedule `name` and its tick records, only if no worker has declared it for
  // `unseen_for` (by the store's clock; kScheduleRetiredAfter: only a retired one). A worker
  // that still has it declares it again, afresh, at its next firing.
  virtual ScheduleRemoval remove_schedule(std::string_view name, Duration unseen_for) = 0;
  // Enqueues schedule `name`'s job now from its stored definition (context: a manual trigger),
  // paused or not; records no tick. nullopt when there is no such schedule.
  std::optional<Enqueued> trigger_schedule(std::string_view name);

  // Inspection and dead-letter administration.

  // Counts the jobs by state. `limit` 0: exactly, reading every row. `limit` > 0: in time that
  // does not grow with the table: each queue's ready and scheduled jobs, the failing ones and each
  // finished state are counted up to `limit` (from indexes), so a count at or above `limit` means
  // at least that many (at_least); running and abandoned jobs (held by workers: few) are exact.
  virtual JobCounts counts(Duration lock_timeout, std::int64_t limit) = 0;
  JobCounts counts(Duration lock_timeout) { return counts(lock_timeout, 0); }
  virtual std::vector<JobInfo> list_jobs(const JobFilter& filter) = 0;
  virtual std::vector<DeadJob> list_dead(const DeadFilter& filter) = 0;
  // Moves a dead job back to the jobs table (same id, error count reset, due now).
  // Returns false when no dead job has that id.
  virtual bool retry_dead(JobId id) = 0;

  // Bulk dead-letter administration. Each first checks `which` (check_dead_selection: ConfigError,
  // and nothing is touched, for a selection that selects nothing on purpose).
  // Moves the selected dead jobs back, as retry_dead does; returns how many.
  std::size_t retry_dead_jobs(const DeadSelection& which) {
    check_dead_selection(which);
    return retry_selected_dead(which);
  }
  // Deletes the selected dead jobs; returns how many.
  std::size_t purge_dead_jobs(const DeadSelection& which) {
    check_dead_selection(which);
    return purge_selected_dead(which);
  }
  // Counts the selected dead jobs by type, and lists the lowest `max_ids` of their ids; changes
  // nothing.
  DeadTally tally_dead_jobs(const DeadSelection& which, std::size_t max_ids = 20) {
    check_dead_selection(which);
    return tally_selected_dead(which, max_ids);
  }

 protected:
  // The stores' side of cancel_jobs; `which` has passed check_job_selection.
  virtual CancelTally cancel_selected(const JobSelection& which, std::string_view reason) = 0;
  // The stores' side of the three above; `which` has passed check_dead_selection.
  virtual std::size_t retry_selected_dead(const DeadSelection& which) = 0;
  virtual std::size_t purge_selected_dead(const DeadSelection& which) = 0;
  virtual DeadTally tally_selected_dead(const DeadSelection& which, std::size_t max_ids) = 0;
};

}  // namespace errand
