// A job's lifecycle beyond running it: its states, cancelling, retrying a finished job, the error
// history of its attempts, and how long finished jobs are kept (docs/architecture.md, "States").
//
//   scheduled / ready --claim--> running --returns--> completed (deleted, or kept: Retention)
//        ^   |                      |  \--throws--> scheduled (retry, after backoff)
//        |   |                      |   \--last retry, or errand::Discard--> discarded
//        |   |                      \--errand::Snooze--> scheduled (no attempt charged)
//        |   \--cancel--> cancelled          running --cancel--> stop token fires; a run that
//        \--retry_job-- completed, cancelled, discarded      then throws ends cancelled
#pragma once

#include <errand/clock.hpp>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace errand {

class Store;
using JobId = std::int64_t;

// Every job's visible state. `ready`, `scheduled`, `running` and `abandoned` are jobs still to
// run (a retry waiting out its backoff is `scheduled`, with a non-zero error count); `completed`,
// `cancelled` and `discarded` (out of retries, or discarded on purpose: the dead-letter queue)
// are finished jobs, kept as Retention says.
enum class JobState { ready, scheduled, running, abandoned, completed, cancelled, discarded };

std::string_view to_string(JobState state);
std::optional<JobState> parse_job_state(std::string_view text);
// completed, cancelled or discarded.
constexpr bool is_finished(JobState state) {
  return state == JobState::completed || state == JobState::cancelled ||
         state == JobState::discarded;
}

// One failed attempt of a job, as its error history keeps it (the last kMaxAttemptsKept).
struct Attempt {
  std::int32_t attempt = 0;  // 1 for the first run
  TimePoint at{};            // when it failed
  std::string worker{};      // the worker id that ran it
  std::string error{};       // at most kMaxAttemptErrorBytes of the message
};
inline constexpr std::size_t kMaxAttemptsKept = 20;
inline constexpr std::size_t kMaxAttemptErrorBytes = 4096;

// How long finished jobs are kept before the pruner deletes them, per state; nullopt: until
// deleted by hand (`errand dead purge`). A worker applies it: completed jobs are deleted at once
// when `completed` is 0 (the fast path), else kept; the pruner of every worker deletes what is
// older (WorkerOptions::prune_interval). Give every worker of a store the same retention.
struct Retention {
  std::optional<Duration> completed = Duration{0};
  std::optional<Duration> cancelled = std::chrono::hours{24};
  std::optional<Duration> discarded = std::nullopt;
};

// What Store::prune did.
struct PruneResult {
  std::size_t deleted = 0;
  bool busy = false;  // another pruner (another process, another machine) was at work
  // Records of schedule ticks (errand/schedule.hpp) deleted: those more than kTickRecordsKept
  // older than their schedule's last tick, which no firing can plan again.
  std::size_t ticks_deleted = 0;
  // Minutes of activity (Store::list_activity) older than kActivityKept, deleted.
  std::size_t activity_deleted = 0;
};

// How long a schedule's tick records are kept behind its last tick.
inline constexpr Duration kTickRecordsKept = std::chrono::hours{24};

// What Store::cancel_job did.
struct CancelResult {
  enum class Kind {
    cancelled,         // it was waiting to run: now cancelled, it never runs
    requested,         // it is running: its stop token fires; ends cancelled unless it completes
    already_finished,  // completed, cancelled or discarded before: nothing changed
    not_found,         // no job has that id (or it was deleted)
  };
  Kind kind = Kind::not_found;
  JobState state = JobState::cancelled;  // already_finished: the state it has
};

// What Store::retry_job did.
struct RetryResult {
  enum class Kind {
    retried,       // the finished job is ready again: same id, error count reset, due now
    not_finished,  // the job is still to run (or running): nothing changed
    not_found,
  };
  Kind kind = Kind::not_found;
};

// What Store::delete_job did.
struct DeleteResult {
  enum class Kind {
    deleted,    // the job (waiting, scheduled or finished) is gone for good, with its history
    held,       // a worker holds it (running, or abandoned until rescued): nothing changed
    not_found,  // no job has that id
  };
  Kind kind = Kind::not_found;
};

// Which jobs a bulk cancel touches. "Every job" is never a default: use a factory.
struct JobSelection {
  enum class Kind {
    nothing,    // default-constructed: refused (ConfigError)
    name,       // every job of type `name` still to run or running (not empty)
    all_ready,  // every job that is ready now (waiting and due; not scheduled, not running)
  };
  Kind kind = Kind::nothing;
  std::string name{};

  static JobSelection named(std::string type) { return {Kind::name, std::move(type)}; }
  static JobSelection all_ready() { return {Kind::all_ready, {}}; }
};
// Throws ConfigError, saying what to give instead, unless `selection` selects on purpose.
void check_job_selection(const JobSelection& selection);

// What a bulk cancel did.
struct CancelTally {
  std::size_t cancelled = 0;  // were waiting: cancelled now
  std::size_t requested = 0;  // were running: their stop tokens fire
};

// The progress a run reported (RunContext::progress), written with the worker's heartbeat,
// fenced by the lease like every change of a running job.
struct JobProgress {
  JobId id = 0;
  TimePoint locked_at{};
  double value = 0;
  std::string message{};
};
inline constexpr std::size_t kMaxProgressMessageBytes = 256;

// The API's lifecycle operations, with errors for what cannot be done (JobStateError):
// Cancels job `id` (see CancelResult): returns cancelled or requested; throws JobStateError for
// a finished or unknown id, StoreError when the store fails.
CancelResult cancel(Store& store, JobId id, std::string_view reason = {});
// Re-enqueues finished job `id` (same id, due now, error count reset, history kept); throws
// JobStateError when it is not finished or unknown.
void retry(Store& store, JobId id);

}  // namespace errand
