// WorkerEngine's internals, shared by the files that implement them:
//   worker.cpp            construction, the run loop (run, run_until_idle), shutdown, public API
//   worker_executors.cpp  executor threads: run claimed jobs, queue their outcomes
//   worker_io.cpp         settle-and-claim rounds (the hot path) and the extra store lanes
//   worker_liveness.cpp   registration, heartbeats, rescue of lost workers' jobs, unregistering
//   worker_lifecycle.cpp  cancels of running jobs, progress, the pruner, outcomes' histories
//   worker_timeouts.cpp   per-run timeouts
//   worker_schedules.cpp  recurring jobs: firing the schedules' due ticks
//
// Threads:
// - The I/O thread is the thread that calls run() or run_until_idle(). It does all store traffic
//   but the lanes' rounds: registers, heartbeats, rescues, checks timeouts, settles outcomes and
//   claims jobs, shuts down, and starts and joins the other threads.
// - Executor threads (options.concurrency) take Tasks from `ready`, run them and queue their
//   outcomes in `finished`.
// - Lanes (options.store_lanes - 1, run() only): while the I/O thread waits on its round trip, a
//   lane settles what finished meanwhile and claims for the slots it freed. Storage errors are
//   left to the I/O thread; lanes pause (lanes_ok) until its next round succeeds.
// - The store's wake-up subscription and the stop callback (on other threads) only lock `mutex`
//   and notify io_cv.
//
// Invariants:
// - Lease fencing: a claimed job's locked_at together with `id` is its lease. Every Outcome
//   carries it and the store applies the outcome only while the lease still holds; otherwise
//   the id comes back as lost and the outcome is dropped (logged, counted in lock_lost). Rescue
//   settles lost workers' jobs with the lost worker's id and lease, so the same fence decides.
// - Slots: a job holds a slot from its claim (it enters in_flight) until its outcome is settled
//   (record_settled takes it out); a thread still running a job failed by its timeout holds one
//   (`stuck`) until it returns; every settle_and_claim round reserves the slots it claims for
//   (`claiming`), so the I/O thread and the lanes together never hold more than
//   concurrency + prefetch.
// - Prefetch: a round claims up to `prefetch` jobs beyond the free slots, but no more than the
//   outcomes it or the round before settled (none while every run is slow). Prefetched jobs wait
//   in `ready` and are held like running ones: listed in heartbeats, released uncharged at
//   shutdown. A run's timeout starts when it starts.
// - A heartbeat sends in_flight as the ids this worker holds and the store unlocks the rest, so
//   it holds exchange_gate alone: no settle_and_claim round (they share it) is in flight then.
// - One outcome per claim: a Task settled while still running (shutdown, timeout) is marked
//   released_early and the outcome its executor later produces is dropped.
// - An outcome whose settle failed goes back to `finished` (settle_failed_before) and is tried
//   again; the failed attempt may have committed.
//
// Time: every reading comes from `clock`, the store's (errand/clock.hpp). Stored times are
// clock.now(): next_due (a retry is due when the store's now passes its run_at; the wait toward
// it is recomputed each round and capped by the poll interval) and the age of a lost worker's
// heartbeat. Every interval is clock.steady_now(): the poll interval, heartbeats (next_beat,
// last_beat, in_touch_since), run deadlines and timeout_grace, store-retry backoff and the drain
// deadline, so a step of the wall clock moves none of them. The engine's only timed waits are the
// I/O thread's, through io_wait: with a real clock a steady_clock wait_until, with a ManualClock a
// wait that ends when the clock is advanced past its deadline (or something else wakes it), never
// after real time.
#pragma once

#include <errand/worker.hpp>

#include "core/activity.hpp"
#include "core/clock_wait.hpp"
#include "metrics/cluster_totals.hpp"
#include "metrics/metrics_part.hpp"
#include "metrics/series.hpp"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <stop_token>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace errand {

struct WorkerEngine::Impl {
  // One claimed job, from claim until its outcome is settled (or it is released at shutdown).
  // Its run's RunContext records outputs and progress here (RunSink), from the run's thread.
  struct Task final : detail::RunSink {
    ClaimedJob job;                                    // set at claim, then read-only
    std::stop_source stop;                             // thread-safe
    std::optional<std::chrono::milliseconds> timeout;  // resolved at claim, then read-only
    // The rest is guarded by `mutex`, but timed_out (atomic: read by the executor unlocked).
    SteadyTime deadline{};  // start + timeout, once running
    bool running = false;
    bool finished = false;
    // Settled while still running (shutdown, timeout): its eventual outcome is dropped.
    bool released_early = false;
    bool abandoned = false;  // failed by its timeout while still running: its thread is stuck
    std::atomic<bool> timed_out{false};   // its stop token fired because of the timeout
    std::atomic<bool> cancelled{false};   // its cancel was requested: its stop token fired
    std::size_t output_cap = 0;           // set at claim: options.max_output_bytes
    std::size_t pool = 0;                 // set at claim: its index in `pools`
    detail::JobSeries* series = nullptr;  // set at claim: its queue and type's metrics

    // RunSink, guarded by sink_mutex (the run's thread writes, the I/O thread reads).
    void record_output(std::string json) override;
    void record_progress(double value, std::string message) override;
    bool cancel_requested() const override { return cancelled.load(); }
    std::size_t max_output_bytes() const override { return output_cap; }
    std::mutex sink_mutex;
    std::optional<std::string> output;
    std::optional<JobProgress> progress;  // the latest, until a heartbeat writes it
    bool progress_dirty = false;
  };
  // The slots of one queue this worker serves (or of every queue: `queue` empty).
  struct Pool {
    std::string queue;
    std::size_t concurrency = 0;
    // Guarded by `mutex`:
    std::size_t held = 0;        // its tasks in in_flight
    std::size_t executing = 0;   // threads running its tasks (a stuck one until it returns)
    std::size_t stuck = 0;       // threads still running a task failed by its timeout
    std::size_t claiming = 0;    // slots reserved by settle_and_claim calls in flight
    std::size_t last_batch = 0;  // its outcomes in the last non-empty settle batch
  };
  struct Finished {
    std::shared_ptr<Task> task;
    Outcome outcome;
    bool ran = true;                    // false: released at shutdown before or while running
    bool settle_failed_before = false;  // an earlier settle of it failed: it may have committed
    // A run that ended by itself (its executor's outcome): the times record_settled puts in the
    // histograms (there, on one thread, to keep shared atomics off the executors' path).
    bool measured = false;
    Duration waited{0};    // from run_at to the run's start
    Duration run_time{0};  // the run, start to end
  };

  // --- worker.cpp: construction and helpers every part uses -------------------------------

  Impl(std::shared_ptr<Store> s, RunFn r, PolicyFn p, WorkerOptions o);
  // `s`, or ConfigError when it is null.
  static std::shared_ptr<Store> non_null(std::shared_ptr<Store> s);

  JobPolicy policy(std::string_view name) const {
    return policy_of ? policy_of(name) : JobPolicy{};
  }

  // A failed attempt of a run by `worker` (this worker, or a lost one being rescued): retried
  // after its backoff, or dead-lettered once max_retries is spent; the attempt is added to the
  // job's error history.
  Outcome failure(const ClaimedJob& job, std::string error) const {
    return failure(job, std::move(error), id);
  }
  Outcome failure(const ClaimedJob& job, std::string error, const std::string& worker) const;

  void log(LogLevel level, const std::string& message) const {
    if (options.log) options.log(level, message);
  }

  void emit(WorkerEvent::Kind kind, const ClaimedJob& job, std::string_view error = {},
            Duration delay = Duration{0}) const {
    if (options.on_event) options.on_event(WorkerEvent{kind, job, error, delay});
  }

  // `text` as errand stores an error message: valid UTF-8 without NULs, at most 16 KiB.
  static std::string clean_message(std::string_view text);

  // --- worker.cpp: the run loop and shutdown ----------------------------------------------

  std::chrono::milliseconds idle_wait();
  void run(std::stop_token stop);
  std::size_t run_until_idle();
  // Stops claiming, cancels running jobs, waits up to the drain timeout, releases what is left
  // without charging an attempt, then joins the job threads.
  void shut_down();
  // After the drain timeout: unlock the jobs still running (and anything not yet settled).
  void release_unfinished();

  // --- worker_executors.cpp: executor threads ---------------------------------------------

  // The first ready task whose pool has a slot to run it. Call with `mutex` held.
  std::deque<std::shared_ptr<Task>>::iterator next_runnable();
  void executor_loop();
  Outcome execute(Task& task);
  // The outcome of a run that returned `result` (completed, Snooze, Discard).
  Outcome finished_run(Task& task, const RunReturn& result);
  // The message of the exception being handled; call only inside a catch block.
  static std::string current_exception_message();
  void start_executors();
  void join_executors();

  // --- worker_io.cpp: the I/O thread's claims and settles ---------------------------------

  // Takes what has finished, to settle it.
  std::vector<Finished> take_finished();
  // Puts back a batch whose settle failed: it is tried again; it may have been applied.
  void requeue_unsettled(std::vector<Finished>& batch);
  static std::vector<Outcome> outcomes_of(const std::vector<Finished>& batch);
  // Settles what has finished. Throws StoreError (the outcomes stay queued for the next try).
  void settle_finished();
  // Settles what has finished and claims jobs for the free slots plus the prefetch, in one store
  // call. Returns true if every free slot was filled. Throws StoreError (the outcomes stay queued
  // for the next try; nothing was claimed).
  // Safe to run on several threads at once (see lane_loop): each takes its own batch and
  // reserves the slots it claims for.
  bool settle_and_claim();

  // --- worker_io.cpp: extra store lanes: more settle-and-claim round trips in flight at once

  // While the I/O thread waits on a round trip, a lane settles what finished meanwhile and
  // claims for the slots it freed. Storage errors are left to the I/O thread, which logs and
  // retries; lanes pause until its next round succeeds.
  void lane_loop();
  void start_lanes();
  void stop_lanes();
  // The I/O thread's round: lanes may help while it waits.
  bool io_settle_and_claim();

  // --- worker_io.cpp: booking settles and claims ------------------------------------------

  // Books settled outcomes: stats, events, lost leases, outcomes that ended cancelled; their
  // tasks leave in_flight.
  void record_settled(const std::vector<Finished>& batch, const std::vector<JobId>& lost,
                      const std::vector<JobId>& cancelled = {});
  // Queues claimed jobs for the executors, waking one executor per job; a job whose stored row
  // is invalid is dead-lettered unrun (see set_aside_invalid).
  // `reserved`: the slots the claim was made for, per pool, released now that the jobs are in
  // in_flight.
  void accept_claimed(std::vector<ClaimedJob>& jobs, const std::vector<std::size_t>& reserved);
  // The pool of a claimed job. Call with `mutex` held.
  std::size_t pool_of(const ClaimedJob& job) const;
  // Takes job `id` out of in_flight (its pool holds one less). Call with `mutex` held.
  void forget_task(JobId id);
  // The dead-letter outcome of a job whose stored row holds an invalid value: it is not run (its
  // values cannot be trusted), nor retried (the row would fail again), nor left locked (it would
  // stall nothing, but sit unseen): the next settle moves it to the dead-letter table with an
  // error naming the value, so nothing is lost.
  Outcome invalid_outcome(const ClaimedJob& job) const;
  // Queues a claimed job with an invalid row for settling as dead; returns the line to log.
  // Call with `mutex` held.
  std::string set_aside_invalid(std::shared_ptr<Task> task);

  // --- worker_liveness.cpp: registration, heartbeats, rescue of lost workers' jobs --------

  // Registers on the first call, then heartbeats when one is due, and rescues the jobs of lost
  // workers after each. Throws StoreError (the next call tries again).
  void keep_alive();
  void beat();
  // Whether this worker may declare others lost: only after it has itself been in touch with
  // the store for rescue_after. After an outage every live worker's heartbeat is stale; each gets
  // that long (heartbeats are retried at least every heartbeat_interval) to beat again before
  // anyone is taken for lost.
  bool may_rescue_others() const;
  // Unlocks the jobs of lost workers, charging each an attempt, with the lost worker's lease so
  // that a worker that was only slow keeps nothing it no longer owns.
  void rescue_lost_jobs();
  // Clean exit: unlocks (uncharged) whatever this worker still holds and deletes its row.
  void unregister();

  // --- worker_lifecycle.cpp: cancels, progress, pruning -----------------------------------

  // From the store's cancel subscription (any thread): queues `id` for the I/O thread (0: cancels
  // may have been missed; when it holds jobs, the next round heartbeats at once, which reports
  // them).
  void queue_cancel(JobId id);
  // On the I/O thread: fires the stop token of each queued job this worker holds.
  void fire_queued_cancels();
  // The task of job `id` if this worker holds it (in_flight), else null.
  std::shared_ptr<Task> held_task(JobId id);
  // Fires the stop token of running job `id` if this worker holds it.
  void request_cancel(JobId id);
  // The progress the runs reported since the last heartbeat (clears it).
  std::vector<JobProgress> take_progress();
  // Puts back progress a failed heartbeat did not write (unless newer was reported meanwhile).
  void restore_progress(const std::vector<JobProgress>& progress);
  // Deletes finished jobs older than the retention, when a pruning is due. Throws StoreError.
  void prune_when_due();
  // Adds a settled batch's counts (any thread) to what the next heartbeat writes.
  void add_activity(detail::ActivityTally& batch);
  // Writes the counts since the last heartbeat (Store::record_activity); keeps them for the next
  // one when the store fails (logged). Never throws: the heartbeat it follows stands.
  void write_activity();
  // Adds what this worker counted since the last call to the store's metric totals
  // (read_cluster_totals); what cannot be written is added by the next call.
  void publish_totals();

  // --- worker_schedules.cpp: recurring jobs ----------------------------------------------

  // A schedule of options.schedules with its parsed spec; `due` (I/O thread only): when to fire
  // it next, by steady time.
  struct ScheduleEntry {
    const Schedule* schedule;
    CronSpec spec;
    SteadyTime due{};
    std::chrono::milliseconds retry{0};  // after a failed firing: the wait before the next try
  };
  // Checks options.schedules (ConfigError, CronError) into `schedules`.
  void check_schedules();
  // Fires every schedule whose time has come (Store::fire_schedule); returns when one is due
  // next (SteadyTime::max() without schedules). A firing that fails is logged and tried again
  // after a backoff (store_retry_min doubling to store_retry_max): a schedule whose row cannot be
  // read never stops the worker from running jobs.
  SteadyTime fire_due_schedules();

  // --- worker_timeouts.cpp: per-run timeouts ----------------------------------------------

  // Fires the stop token of runs past their timeout and fails runs still going timeout_grace
  // later (their threads are abandoned until they return). Returns when to look again.
  SteadyTime check_timeouts();

  // --- constant after construction --------------------------------------------------------

  std::shared_ptr<Store> store;
  const Clock& clock;  // store->clock(): every time reading and every timed wait
  RunFn run_job;
  PolicyFn policy_of;
  WorkerOptions options;
  // What this worker counts: shown in options.metrics (or default_metrics()) through
  // metrics_part, and added to the store's totals by publish_totals.
  Metrics metrics;
  detail::MetricsPart metrics_part;
  std::string id;
  std::size_t threads = 0;               // executor threads: the pools' concurrency together
  std::vector<ScheduleEntry> schedules;  // options.schedules, checked; `due` I/O thread only

  // --- I/O thread only --------------------------------------------------------------------

  WorkerRegistration registration;  // filled at construction; started_at by beat()
  bool registered = false;
  SteadyTime next_beat{};
  SteadyTime last_beat{};                    // the last successful heartbeat
  std::optional<SteadyTime> in_touch_since;  // see beat()
  SteadyTime next_prune{};
  detail::TotalsPublisher totals{metrics};  // see publish_totals()

  // --- any thread (atomic) ----------------------------------------------------------------

  std::atomic<bool> shutting_down{false};  // set by the I/O thread, read by executors
  std::atomic<std::size_t> runs_ended{0};  // counted by settles (I/O thread and lanes)
  struct AtomicStats {
    std::atomic<std::uint64_t> started{0}, succeeded{0}, retried{0}, dead_lettered{0}, released{0},
        lock_lost{0}, timed_out{0}, rescued{0}, snoozed{0}, cancelled{0}, pruned{0}, ticks_fired{0},
        ticks_skipped{0};
  } stats;

  // --- locks and condition variables ------------------------------------------------------

  std::mutex mutex;
  std::condition_variable io_cv;    // wakes the I/O thread: finished jobs, enqueues, stop
  std::condition_variable exec_cv;  // wakes executors: ready jobs, quit
  std::condition_variable lane_cv;  // wakes lanes: finished jobs while the I/O thread is busy
  std::shared_mutex exchange_gate;  // settle_and_claim shares it; a heartbeat holds it alone
  std::mutex activity_mutex;        // guards activity
  detail::ActivityTally activity;   // counts for Store::record_activity, by minute and queue
  // The I/O thread's timed waits on io_cv, by `clock`; a ManualClock's moves notify io_cv.
  detail::ClockWait io_wait{clock, mutex, io_cv};

  // --- guarded by mutex -------------------------------------------------------------------
  // (start_executors and start_lanes set their flags unlocked, before their threads exist.)

  std::vector<Pool> pools;                           // fixed at construction but the counts
  std::string after_queue;                           // every-queue pool: last queue claimed from
  std::deque<std::shared_ptr<Task>> ready;           // claimed, not yet started
  std::map<JobId, std::shared_ptr<Task>> in_flight;  // claimed, not yet settled
  std::vector<Finished> finished;                    // ran, outcome not yet settled
  bool wake = false;
  bool timers_changed = false;  // a run with a timeout started: the I/O thread recomputes its wait
  std::vector<JobId> queued_cancels;  // from the cancel subscription, for the I/O thread
  bool beat_now = false;              // a cancel may have been missed: heartbeat at once
  // Whether fire_queued_cancels has work (with `mutex` held): the I/O thread's waits end for it.
  bool cancels_queued() const { return !queued_cancels.empty() || beat_now; }
  bool executors_quit = false;
  TimePoint next_due = TimePoint::max();  // earliest retry this worker scheduled
  bool lanes_quit = false;
  bool lanes_ok = true;        // false after a lane's storage error until the I/O thread succeeds
  bool io_exchanging = false;  // the I/O thread is in a settle_and_claim round trip

  // --- threads, started and joined by the I/O thread (declared last: joined first) --------

  std::vector<std::jthread> executors;
  std::vector<std::jthread> lanes;  // store_lanes - 1 extra exchangers (run() only)
};

}  // namespace errand
