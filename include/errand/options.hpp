// Worker options: a plain struct whose defaults are the seed's where the seed has one.
#pragma once

#include <errand/clock.hpp>
#include <errand/run_context.hpp>
#include <errand/schedule.hpp>
#include <errand/store.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace errand {

class Metrics;

// Delay before the next attempt, given the job's error count after this failure (1, 2, ...).
using BackoffFn = std::function<Duration(std::int32_t error_count)>;

// unit * 2^error_count, capped at `max`; the default gives the seed's 2, 4, 8, 16, 32 ... s.
// With jitter = j > 0 each delay is scaled by a random factor in [1 - j, 1 + j].
struct ExponentialBackoff {
  Duration unit = std::chrono::seconds{1};
  Duration max = std::chrono::hours{24 * 365};
  double jitter = 0.0;
  Duration operator()(std::int32_t error_count) const;
};

enum class LogLevel { debug, info, warning, error };
// Receives the worker's log lines; called from worker threads, must be thread-safe.
using LogFn = std::function<void(LogLevel, std::string_view message)>;
// Writes warnings and errors to stderr.
void log_to_stderr(LogLevel level, std::string_view message);

// Something a worker did, for progress displays and metrics.
struct WorkerEvent {
  enum class Kind {
    started,          // a run began (attempt = error_count + 1)
    succeeded,        // the run returned; the job is deleted
    retry_scheduled,  // the run failed; next attempt after `retry_delay`
    dead_lettered,    // the run failed for the last time, or discarded the job (errand::Discard):
                      // it is `discarded` (the dead-letter queue)
    released,         // shutdown: the job was unlocked without charging an attempt
    lock_lost,        // the outcome was dropped: another worker holds the job now
    snoozed,          // the run snoozed (errand::Snooze): it runs again after `retry_delay`
    cancelled,        // the job's cancel was requested and its run did not complete: cancelled
  };
  Kind kind;
  const ClaimedJob& job;
  std::string_view error{};  // retry_scheduled, dead_lettered
  Duration retry_delay{0};   // retry_scheduled, snoozed
};
// Called from worker threads, possibly concurrently; must be thread-safe and quick.
using EventFn = std::function<void(const WorkerEvent&)>;

// A queue a worker serves, with the jobs of it this worker runs at once.
struct QueueConcurrency {
  std::string name{};
  std::size_t concurrency = 1;
};

struct WorkerOptions {
  // Jobs run at once by this worker, each on its own thread, when `queues` is empty.
  std::size_t concurrency = 8;
  // The queues this worker serves, each with slots of its own, so that a busy queue never takes
  // another's: {{"mail", 8}, {"reports", 1}}. Empty: every queue, sharing `concurrency` slots;
  // the queues then take turns (errand::ClaimRequest), so none starves another.
  std::vector<QueueConcurrency> queues{};
  // At most this many jobs claimed beyond the free slots and held, locked, in a local queue, so
  // that a slot freed while the worker talks to the store is refilled at once. The worker
  // prefetches only as many as finished during its last round of settling, so slow jobs are not
  // hoarded while other workers are idle; never from a queue with a rate (a prefetched job would
  // spend a token while it waits), and from a queue with a global limit only while more than half
  // of the limit stays free (a prefetched job holds a slot of the limit while it waits). Prefetched
  // jobs count as held by this worker (heartbeats keep them; a clean stop unlocks them uncharged);
  // their timeout starts when they run. 0: claim only for free slots.
  std::size_t prefetch = 64;
  // Settle-and-claim round trips to the store this worker keeps in flight at once. With short
  // jobs and a store far away, a second one settles and refills the slots that freed up while
  // the first waits (on PostgreSQL each uses a pool connection; SQLite's one connection would
  // only queue them). On a 2-core machine with a local PostgreSQL, 2 measured no faster than 1.
  std::size_t store_lanes = 1;
  // How often to look for due jobs when nothing woke the worker (enqueues in this process wake it
  // at once; other processes' enqueues and due retries are seen within this interval).
  std::chrono::milliseconds poll_interval{1000};
  // Failed attempts retried before a job moves to the dead-letter table: a job runs at most
  // max_retries + 1 times. A job type's own `static constexpr int max_retries` wins.
  std::int32_t max_retries = 20;
  // A job locked for longer than this is treated as abandoned and can be claimed again.
  Duration lock_timeout = std::chrono::hours{2};
  // On shutdown, how long running jobs get to finish after their stop token fires; jobs still
  // running then are unlocked without charging an attempt.
  std::chrono::milliseconds drain_timeout{30'000};
  // Delay before a failed job's next attempt. A job type's own `static backoff` wins.
  BackoffFn backoff = ExponentialBackoff{};
  // Snoozes (errand::Snooze) a job may take; the next one counts as a failed attempt. A job
  // type's own `static constexpr int max_snoozes` wins.
  std::int32_t max_snoozes = 100;
  // The largest output a run may record (RunContext::set_output), serialized.
  std::size_t max_output_bytes = kDefaultMaxOutputBytes;
  // How long finished jobs are kept (errand/lifecycle.hpp): completed ones are deleted at once
  // by default (the seed's behaviour, and the fast path), cancelled ones kept 24 h, discarded
  // ones (the dead-letter queue) until purged.
  Retention retention{};
  // How often this worker prunes finished jobs older than `retention` allows, deleting at most
  // prune_batch rows per statement (and at most 20 statements per round); only one worker of
  // all the store's processes prunes at a time. 0: this worker never prunes.
  std::chrono::milliseconds prune_interval{60'000};
  std::size_t prune_batch = 1000;
  // After a storage error the worker waits from min, doubling up to max, then tries again.
  std::chrono::milliseconds store_retry_min{100};
  std::chrono::milliseconds store_retry_max{10'000};
  // How often this worker records in the store that it is alive (the workers table, shown by
  // `errand workers`), and looks for workers that are not.
  std::chrono::milliseconds heartbeat_interval{5'000};
  // A worker whose last heartbeat is older than this is lost (killed, hung, cut off): a live
  // worker unlocks its jobs and charges each an attempt with a "worker lost" error, so they run
  // again after their backoff, or move to the dead-letter queue after max_retries. Must exceed
  // heartbeat_interval; lock_timeout stays as the last-resort fallback.
  Duration rescue_after = std::chrono::seconds{30};
  // Default time limit of one run (0: none); a job type's `static constexpr auto timeout` wins.
  // At the limit the job's stop token fires; a job that then throws, or is still running after
  // timeout_grace, fails the attempt with a timeout error (retried like any failure).
  std::chrono::milliseconds job_timeout{0};
  std::chrono::milliseconds timeout_grace{5'000};
  // Recurring jobs this worker may fire (errand/schedule.hpp): each tick of each fires once
  // across every worker and machine that has it. Names must be unique; every spec must parse
  // and every job's type be registered (ConfigError when the worker is built).
  std::vector<Schedule> schedules{};
  // Where this worker counts what it runs (errand/metrics.hpp); null: errand::default_metrics().
  std::shared_ptr<Metrics> metrics{};
  // Stored as locked_by; empty: "<host>:<pid>:<random>".
  std::string worker_id{};
  EventFn on_event{};
  LogFn log = log_to_stderr;
};

}  // namespace errand
