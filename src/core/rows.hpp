// Turning store rows into the public structs, shared by every store, validating each value by
// the rules of stored_values.hpp. A `Row` gives, for column c:
//   bool is_null(int c) const;
//   bool read_integer(int c, std::int64_t& out) const;  // a whole number of the column's
//                                                       // storage type (not NULL)
//   bool read_text(int c, std::string& out) const;      // text (not NULL; SQLite: TEXT)
//   bool read_real(int c, double& out) const;           // a finite number (not NULL)
//   std::string shown(int c) const;                     // the value as a message shows it
// Times are integer microseconds since the Unix epoch. Nothing here allocates unless a value is
// invalid (beyond the strings the structs hold).
#pragma once

#include <errand/error.hpp>
#include <errand/store.hpp>

#include "core/attempts.hpp"
#include "core/claim_plan.hpp"
#include "core/stored_values.hpp"
#include "core/waiting_counts.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace errand::detail {

inline TimePoint time_from_micros(std::int64_t us) {
  return TimePoint{Duration{us}};
}
inline std::int64_t micros_of(TimePoint t) {
  return t.time_since_epoch().count();
}

// Reads the columns of one row, checking each; remembers the first invalid one, so that the
// caller decides: throw (check) or set a claimed job aside (ok, message).
template <class Row>
class RowReader {
 public:
  // `key_column`: the row's id, named in messages (-1: an aggregate row); `key_is_text` for the
  // workers table's text ids.
  RowReader(const Row& row, const StoredTable& where, int key_column = -1, bool key_is_text = false)
      : row_(row), where_(where), key_column_(key_column), key_is_text_(key_is_text) {}

  // A whole number within `range`; 0 when invalid.
  std::int64_t integer(int c, std::string_view column, const StoredRange& range) {
    std::int64_t value = 0;
    if (!row_.read_integer(c, value) || !in_range(value, range)) [[unlikely]] {
      refuse(c, column, range.expected);
      return 0;
    }
    return value;
  }
  std::int32_t int32(int c, std::string_view column, const StoredRange& range) {
    return static_cast<std::int32_t>(integer(c, column, range));
  }
  // A job id: the value as stored even when invalid (it still names the row to settle);
  // id_readable() tells whether there was a whole number at all.
  std::int64_t id(int c) {
    std::int64_t value = 0;
    id_readable_ = row_.read_integer(c, value);
    if (!id_readable_ || !in_range(value, kIdRange)) [[unlikely]] {
      refuse(c, "id", kIdRange.expected);
    }
    return value;
  }
  TimePoint time(int c, std::string_view column) {
    std::int64_t us = 0;
    if (!row_.read_integer(c, us) || !valid_stored_micros(us)) [[unlikely]] {
      refuse(c, column, kTimeExpected);
      return TimePoint{};
    }
    return time_from_micros(us);
  }
  std::optional<TimePoint> optional_time(int c, std::string_view column) {
    if (row_.is_null(c)) return std::nullopt;
    return time(c, column);
  }
  std::string text(int c, std::string_view column) {
    std::string value;
    if (!row_.read_text(c, value)) [[unlikely]]
      refuse(c, column, "text");
    return value;
  }
  std::optional<double> optional_real(int c, std::string_view column) {
    if (row_.is_null(c)) return std::nullopt;
    double value = 0;
    if (!row_.read_real(c, value)) [[unlikely]] {
      refuse(c, column, "a finite number or NULL");
      return std::nullopt;
    }
    return value;
  }
  std::optional<std::string> optional_text(int c, std::string_view column) {
    if (row_.is_null(c)) return std::nullopt;
    std::optional<std::string> value{std::in_place};
    if (!row_.read_text(c, *value)) [[unlikely]]
      refuse(c, column, "text or NULL");
    return value;
  }

  // Records that column c breaks a rule (only the first such column is reported).
  void refuse(int c, std::string_view column, std::string_view expected) {
    if (!fault_) fault_ = Fault{c, column, expected};
  }

  bool ok() const { return !fault_; }
  bool id_readable() const { return id_readable_; }
  // The first invalid value: store, table, row, column, value, what was expected.
  std::string message() const {
    return invalid_value_message(where_, row_name(), fault_->name, row_.shown(fault_->column),
                                 fault_->expected);
  }
  // Throws StoreError for the first invalid value, if any.
  void check() const {
    if (fault_) [[unlikely]]
      throw StoreError(message() + std::string(kRefusalAdvice));
  }

  static constexpr std::string_view kTimeExpected =
      "a time from 0001-01-01 to 9999-12-31 (UTC) (SQLite: INTEGER microseconds since 1970)";

 private:
  struct Fault {
    int column;
    std::string_view name;
    std::string_view expected;
  };

  std::string row_name() const {
    if (key_column_ < 0) return {};
    std::int64_t id = 0;
    if (!key_is_text_ && row_.read_integer(key_column_, id)) return fmt::format("id {}", id);
    std::string text;
    if (key_is_text_ && row_.read_text(key_column_, text)) return "id " + quoted_value(text);
    return "id " + row_.shown(key_column_);
  }

  const Row& row_;
  const StoredTable& where_;
  int key_column_;
  bool key_is_text_;
  bool id_readable_ = true;
  std::optional<Fault> fault_;
};

// Reads the columns every job struct starts with: id, name, payload, context, priority,
// error_count.
template <class Job, class Row>
void read_job_identity(RowReader<Row>& r, Job& job) {
  job.id = r.id(0);
  job.name = r.text(1, "name");
  job.payload = r.text(2, "payload");
  job.context = r.text(3, "context");
  job.priority = r.int32(4, "priority", kPriorityRange);
  job.error_count = r.int32(5, "error_count", kErrorCountRange);
}

// Reads the columns JobInfo and ClaimedJob share, in this order: those of read_job_identity,
// run_at, created_at.
template <class Job, class Row>
void read_job_head(RowReader<Row>& r, Job& job) {
  read_job_identity(r, job);
  job.run_at = r.time(6, "run_at");
  job.created_at = r.time(7, "created_at");
}

// The stored names of the finished states (the `state` column of the finished jobs table).
inline std::optional<JobState> finished_state(std::string_view text) {
  const auto state = parse_job_state(text);
  return state && is_finished(*state) ? state : std::nullopt;
}

// The number of columns read_job_info reads.
inline constexpr int kJobInfoColumns = 24;

// Columns: id, name, payload, context, priority, error_count, run_at, created_at, locked_by,
// locked_at, last_error, last_failed_at, snoozes, errors, cancel_requested_at, cancel_reason,
// progress, progress_message, progress_at, state, finished_at, output, queue, partition_key. A row
// of the jobs table has NULL state, finished_at and output (its state is then set by state_at); one
// of the finished jobs table NULL locked_by, locked_at, cancel_requested_at and progress*. Throws
// StoreError for an invalid value.
template <class Row>
JobInfo read_job_info(const Row& row, const StoredTable& where) {
  RowReader r(row, where, 0);
  JobInfo job;
  read_job_head(r, job);
  job.locked_by = r.optional_text(8, "locked_by");
  job.locked_at = r.optional_time(9, "locked_at");
  if (job.locked_by.has_value() != job.locked_at.has_value()) {
    r.refuse(9, "locked_at", "NULL exactly when locked_by is NULL (both NULL, or both set)");
  }
  job.last_error = r.optional_text(10, "last_error");
  job.last_failed_at = r.optional_time(11, "last_failed_at");
  job.snoozes = r.int32(12, "snoozes", kErrorCountRange);
  if (const auto errors = r.optional_text(13, "errors")) {
    std::string problem;
    job.attempts = parse_attempts(*errors, &problem);
    if (!problem.empty()) job.attempts_unreadable = std::move(problem);
  }
  job.cancel_requested_at = r.optional_time(14, "cancel_requested_at");
  job.cancel_reason = r.optional_text(15, "cancel_reason");
  job.progress = r.optional_real(16, "progress");
  job.progress_message = r.optional_text(17, "progress_message");
  job.progress_at = r.optional_time(18, "progress_at");
  if (const auto state = r.optional_text(19, "state")) {
    if (const auto finished = finished_state(*state)) {
      job.state = *finished;
    } else {
      r.refuse(19, "state", "completed, cancelled or discarded");
    }
    job.finished_at = r.time(20, "finished_at");
  }
  job.output = r.optional_text(21, "output");
  job.queue = r.text(22, "queue");
  job.partition_key = r.optional_text(23, "partition_key").value_or("");
  r.check();
  return job;
}

// Columns: id, name, payload, context, priority, error_count, last_error, created_at, finished_at,
// queue, partition_key. Throws StoreError for an invalid value.
template <class Row>
DeadJob read_dead_job(const Row& row, const StoredTable& where) {
  RowReader r(row, where, 0);
  DeadJob job;
  read_job_identity(r, job);
  job.last_error = r.text(6, "last_error");
  job.created_at = r.time(7, "created_at");
  job.failed_at = r.time(8, "finished_at");
  job.queue = r.text(9, "queue");
  job.partition_key = r.optional_text(10, "partition_key").value_or("");
  r.check();
  return job;
}

// A claimed or rescued job whose row holds an invalid value: it is kept, to be dead-lettered
// (ClaimedJob::invalid), when it can be settled; throws StoreError when even its id is unreadable.
template <class Row>
void set_aside(const RowReader<Row>& r, ClaimedJob& job) {
  if (!r.id_readable()) throw StoreError(r.message() + "; this row cannot be settled");
  job.invalid = r.message();
}

// The number of columns read_claimed_job reads.
inline constexpr int kClaimedJobColumns = 14;

// Columns: id, name, payload, context, priority, error_count, run_at, created_at, last_error,
// snoozes, errors, cancel_requested (a whole number: 0 or 1), queue, partition_key. An invalid
// value sets job.invalid instead of throwing (see set_aside).
template <class Row>
ClaimedJob read_claimed_job(const Row& row, const StoredTable& where, TimePoint locked_at) {
  RowReader r(row, where, 0);
  ClaimedJob job;
  read_job_head(r, job);
  job.last_error = r.optional_text(8, "last_error");
  job.snoozes = r.int32(9, "snoozes", kErrorCountRange);
  job.errors = r.optional_text(10, "errors");
  job.cancel_requested = r.integer(11, "cancel_requested_at", kCountRange) != 0;
  job.queue = r.text(12, "queue");
  job.partition_key = r.optional_text(13, "partition_key").value_or("");
  job.locked_at = locked_at;
  if (!r.ok()) [[unlikely]]
    set_aside(r, job);
  return job;
}

// Columns: name, paused (0 or 1), global_limit, per_key_limit, rate_limit, rate_period_us,
// rate_log, key_cursor, updated_at (into `updated_at` when given). Throws StoreError for an
// invalid value.
template <class Row>
QueueSnapshot read_queue_row(const Row& row, const StoredTable& where,
                             TimePoint* updated_at = nullptr) {
  RowReader r(row, where, 0, /*key_is_text=*/true);
  QueueSnapshot queue;
  queue.name = r.text(0, "name");
  queue.paused = r.integer(1, "paused", kCountRange) != 0;
  constexpr StoredRange kLimit{1, kInt32Max, "a whole number from 1"};
  if (!row.is_null(2)) queue.limits.global = r.int32(2, "global_limit", kLimit);
  if (!row.is_null(3)) queue.limits.per_key = r.int32(3, "per_key_limit", kLimit);
  if (!row.is_null(4) && !row.is_null(5)) {
    queue.limits.rate = RateLimit{r.int32(4, "rate_limit", kLimit),
                                  Duration{r.integer(5, "rate_period_us", kCountRange)}};
  }
  queue.rate_log = r.text(6, "rate_log");
  queue.key_cursor = r.optional_text(7, "key_cursor");
  if (updated_at) *updated_at = r.time(8, "updated_at");
  r.check();
  return queue;
}

// Columns: id, host, pid, concurrency, started_at, heartbeat_at, running. Throws StoreError for
// an invalid value.
template <class Row>
WorkerInfo read_worker_info(const Row& row, const StoredTable& where, TimePoint now) {
  RowReader r(row, where, 0, /*key_is_text=*/true);
  WorkerInfo worker;
  worker.id = r.text(0, "id");
  worker.host = r.text(1, "host");
  worker.pid = r.integer(2, "pid", kPidRange);
  worker.concurrency = r.integer(3, "concurrency", kConcurrencyRange);
  worker.started_at = r.time(4, "started_at");
  worker.heartbeat_at = r.time(5, "heartbeat_at");
  worker.running = r.integer(6, "the count of jobs it holds", kCountRange);
  if (const auto queues = r.optional_text(7, "queues")) {
    if (!parse_worker_queues(*queues, worker.queues))
      r.refuse(7, "queues", "a JSON array of queue names, or NULL (every queue)");
  }
  r.check();
  worker.silent_for = now - worker.heartbeat_at;
  return worker;
}

// Columns: minute, queue, completed, failed, started, latency_sum, latency_max (times and
// durations in microseconds). Throws StoreError for an invalid value.
template <class Row>
ActivityMinute read_activity_minute(const Row& row, const StoredTable& where) {
  RowReader r(row, where);
  ActivityMinute m;
  m.minute = r.time(0, "minute");
  m.queue = r.text(1, "queue");
  m.completed = r.integer(2, "completed", kCountRange);
  m.failed = r.integer(3, "failed", kCountRange);
  m.started = r.integer(4, "started", kCountRange);
  m.latency_sum = Duration{r.integer(5, "latency_sum", kCountRange)};
  m.latency_max = Duration{r.integer(6, "latency_max", kCountRange)};
  r.check();
  return m;
}

// Columns: name, queue, job_type, schedule, value. Throws StoreError for an invalid value.
template <class Row>
MetricTotal read_metric_total(const Row& row, const StoredTable& where) {
  RowReader r(row, where);
  MetricTotal total;
  total.name = r.text(0, "name");
  total.queue = r.text(1, "queue");
  total.job_type = r.text(2, "job_type");
  total.schedule = r.text(3, "schedule");
  total.value = r.integer(4, "value", kCountRange);
  r.check();
  return total;
}

// Columns: those of read_claimed_job, then locked_at, worker id, worker started_at, heartbeat_at
// (`jobs` and `workers` name the two tables). nullopt when the lease (id, locked_at, worker id)
// is unreadable: such a row cannot be settled. Another invalid value sets job.invalid.
template <class Row>
std::optional<LostJob> read_lost_job(const Row& row, const StoredTable& jobs,
                                     const StoredTable& workers) {
  LostJob lost;
  {
    RowReader lease(row, jobs, 0);
    std::int64_t id = 0;
    const TimePoint locked_at = lease.time(kClaimedJobColumns, "locked_at");
    lost.worker_id = lease.text(kClaimedJobColumns + 1, "locked_by");
    if (!row.read_integer(0, id) || !lease.ok()) return std::nullopt;
    lost.job = read_claimed_job(row, jobs, locked_at);
  }
  RowReader w(row, workers, kClaimedJobColumns + 1, /*key_is_text=*/true);
  lost.worker_started_at = w.time(kClaimedJobColumns + 2, "started_at");
  lost.last_heartbeat = w.time(kClaimedJobColumns + 3, "heartbeat_at");
  if (!w.ok() && !lost.job.invalid) [[unlikely]]
    lost.job.invalid = w.message();
  lost.worker_restarted = lost.job.locked_at < lost.worker_started_at;
  return lost;
}

// A single value of an aggregate or of the store's clock (`what` names it), read by `read` from
// a RowReader. Throws StoreError.
template <class Row, class Read>
auto read_single(const Row& row, const StoredTable& where, Read read) {
  RowReader r(row, where);
  const auto value = read(r);
  r.check();
  return value;
}
template <class Row>
std::int64_t read_count(const Row& row, int c, const StoredTable& where, std::string_view what) {
  return read_single(row, where, [&](auto& r) { return r.integer(c, what, kCountRange); });
}
template <class Row>
TimePoint read_time(const Row& row, int c, const StoredTable& where, std::string_view what) {
  return read_single(row, where, [&](auto& r) { return r.time(c, what); });
}

// A row of a store's "waiting jobs at the next priority" statement (core/waiting_counts.hpp):
// priority, earliest run_at, ready and scheduled counts. Throws StoreError.
template <class Row>
PriorityWaiting read_priority_waiting(const Row& row, const StoredTable& where) {
  RowReader r(row, where);
  PriorityWaiting p;
  p.priority = r.int32(0, "priority", kPriorityRange);
  p.first_run_at = r.optional_time(1, "run_at");
  p.ready = r.integer(2, "a count of ready jobs", kCountRange);
  p.scheduled = r.integer(3, "a count of scheduled jobs", kCountRange);
  r.check();
  return p;
}

// The state of a job of the jobs table (not finished) at `now`.
inline JobState state_at(const JobInfo& job, TimePoint now, Duration lock_timeout) {
  if (job.finished_at) return job.state;
  if (job.locked_by) {
    return job.locked_at && *job.locked_at <= now - lock_timeout ? JobState::abandoned
                                                                 : JobState::running;
  }
  return job.run_at <= now ? JobState::ready : JobState::scheduled;
}

}  // namespace errand::detail
