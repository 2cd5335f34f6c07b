// What a run can see and do besides its payload: a job type's run may take a RunContext,
//   void run(AppState&, errand::RunContext&);
// and a run may end by throwing (or returning, as an errand::RunReturn) errand::Snooze or
// errand::Discard.
#pragma once

#include <errand/clock.hpp>
#include <errand/lifecycle.hpp>
#include <errand/schedule.hpp>

#include <nlohmann/json.hpp>

#include <cstddef>
#include <cstdint>
#include <stop_token>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace errand {

struct ClaimedJob;

// Thrown (or returned) by a run: run the job again after `delay` without charging an attempt.
// The job's snooze count goes up by one; past WorkerOptions::max_snoozes (or the type's own
// `static constexpr int max_snoozes`) a snooze counts as a failed attempt, so that a job cannot
// put itself off for ever. A negative delay fails the attempt (a clear error; nothing is lost).
struct Snooze {
  Duration delay{0};
};

// Thrown (or returned) by a run: the job goes straight to `discarded` (the dead-letter queue)
// without further retries, `reason` recorded as the attempt's error.
struct Discard {
  std::string reason{};
};

// What a run may return instead of void: completed (the default), a Snooze or a Discard.
class RunReturn {
 public:
  RunReturn() = default;
  RunReturn(Snooze snooze) : value_(snooze) {}                // NOLINT: implicit on purpose
  RunReturn(Discard discard) : value_(std::move(discard)) {}  // NOLINT: implicit on purpose
  const std::variant<std::monostate, Snooze, Discard>& value() const { return value_; }

 private:
  std::variant<std::monostate, Snooze, Discard> value_;
};

namespace detail {
// The worker's side of a RunContext: where outputs and progress go (core/worker_engine.hpp).
class RunSink {
 public:
  virtual void record_output(std::string json) = 0;
  virtual void record_progress(double value, std::string message) = 0;
  virtual bool cancel_requested() const = 0;
  virtual std::size_t max_output_bytes() const = 0;

 protected:
  ~RunSink() = default;
};
}  // namespace detail

// The default cap of an output (WorkerOptions::max_output_bytes).
inline constexpr std::size_t kDefaultMaxOutputBytes = 64 * 1024;

// Given to a run that takes one; valid for that run only; used from the run's thread.
class RunContext {
 public:
  // `sink` may be null (a run outside a worker): outputs and progress are then checked and
  // dropped.
  RunContext(const ClaimedJob& job, std::stop_token token, detail::RunSink* sink);

  JobId id() const;
  std::string_view name() const;
  // This run's attempt number: 1 + the failed attempts before it.
  std::int32_t attempt() const;
  // Times the job snoozed before this run.
  std::int32_t snoozes() const;
  // The job's queue and partition key (errand/queues.hpp).
  std::string_view queue() const;
  std::string_view partition_key() const;
  // Why the job was enqueued (EnqueueOptions::context).
  std::string_view context() const;
  // The schedule tick this run is for, when a schedule enqueued the job (errand/schedule.hpp):
  // the schedule, the tick's time (none for a manual trigger), whether it is a catch-up.
  std::optional<TickContext> tick() const;
  // When this run's claim took the job, by the store's clock: the time a queue's rate limit
  // counts (its starts follow within the worker's hand-off to a thread).
  TimePoint claimed_at() const;
  // Fires when the worker shuts down, the run's timeout passes, or the job is cancelled.
  std::stop_token stop_token() const { return token_; }
  // True once the job's cancel was requested (then the stop token has fired too).
  bool cancel_requested() const;

  // Records the run's output, a JSON value kept with the completed job while it is retained
  // (Retention::completed > 0; with the default 0 the job and its output are deleted at once).
  // The last call wins. Throws RunContextError when the serialized value is larger than
  // WorkerOptions::max_output_bytes (nothing is recorded then).
  void set_output(const nlohmann::json& value);
  // The same from JSON text, which must be one valid JSON value in UTF-8 (RunContextError
  // otherwise).
  void set_output_json(std::string_view json);
  // Reports progress: any finite number (e.g. a fraction done, or items processed) and a short
  // message (at most kMaxProgressMessageBytes of UTF-8). Kept in memory and written with the
  // worker's next heartbeat, never a round trip per call; `errand jobs show` displays it while
  // the job runs. Throws RunContextError for a value that is not finite or a message too long.
  void progress(double value, std::string_view message = {});

 private:
  const ClaimedJob& job_;
  std::stop_token token_;
  detail::RunSink* sink_;
};

}  // namespace errand
