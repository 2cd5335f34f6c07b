// Turning store rows into the public structs, shared by every store. A `Row` is anything with
// int64(column), text(column), optional_text(column) and optional_int64(column); times are
// integer microseconds since the Unix epoch.
#pragma once

#include <errand/store.hpp>

#include <algorithm>
#include <cstdint>
#include <vector>

namespace errand::detail {

inline TimePoint time_from_micros(std::int64_t us) {
  return TimePoint{Duration{us}};
}
inline std::int64_t micros_of(TimePoint t) {
  return t.time_since_epoch().count();
}

// Reads the columns JobInfo and ClaimedJob share, in this order: id, name, payload, context,
// priority, error_count, run_at, created_at.
template <class Job, class Row>
Job read_job_head(const Row& row) {
  Job job;
  job.id = row.int64(0);
  job.name = row.text(1);
  job.payload = row.text(2);
  job.context = row.text(3);
  job.priority = static_cast<std::int32_t>(row.int64(4));
  job.error_count = static_cast<std::int32_t>(row.int64(5));
  job.run_at = time_from_micros(row.int64(6));
  job.created_at = time_from_micros(row.int64(7));
  return job;
}

// Columns: id, name, payload, context, priority, error_count, run_at, created_at, locked_by,
// locked_at, last_error, last_failed_at.
template <class Row>
JobInfo read_job_info(const Row& row) {
  auto job = read_job_head<JobInfo>(row);
  job.locked_by = row.optional_text(8);
  if (auto at = row.optional_int64(9)) job.locked_at = time_from_micros(*at);
  job.last_error = row.optional_text(10);
  if (auto at = row.optional_int64(11)) job.last_failed_at = time_from_micros(*at);
  return job;
}

// Columns: id, name, payload, context, priority, error_count, last_error, created_at, failed_at.
template <class Row>
DeadJob read_dead_job(const Row& row) {
  DeadJob job;
  job.id = row.int64(0);
  job.name = row.text(1);
  job.payload = row.text(2);
  job.context = row.text(3);
  job.priority = static_cast<std::int32_t>(row.int64(4));
  job.error_count = static_cast<std::int32_t>(row.int64(5));
  job.last_error = row.text(6);
  job.created_at = time_from_micros(row.int64(7));
  job.failed_at = time_from_micros(row.int64(8));
  return job;
}

// Columns: id, name, payload, context, priority, error_count, run_at, created_at, last_error.
template <class Row>
ClaimedJob read_claimed_job(const Row& row, TimePoint locked_at) {
  auto job = read_job_head<ClaimedJob>(row);
  job.last_error = row.optional_text(8);
  job.locked_at = locked_at;
  return job;
}

// Columns: id, host, pid, concurrency, started_at, heartbeat_at, running.
template <class Row>
WorkerInfo read_worker_info(const Row& row, TimePoint now) {
  WorkerInfo worker;
  worker.id = row.text(0);
  worker.host = row.text(1);
  worker.pid = row.int64(2);
  worker.concurrency = row.int64(3);
  worker.started_at = time_from_micros(row.int64(4));
  worker.heartbeat_at = time_from_micros(row.int64(5));
  worker.running = row.int64(6);
  worker.silent_for = now - worker.heartbeat_at;
  return worker;
}

// Columns: those of read_claimed_job, then locked_at, worker id, worker started_at, heartbeat_at.
template <class Row>
LostJob read_lost_job(const Row& row) {
  LostJob lost;
  lost.job = read_claimed_job(row, time_from_micros(row.int64(9)));
  lost.worker_id = row.text(10);
  lost.worker_started_at = time_from_micros(row.int64(11));
  lost.last_heartbeat = time_from_micros(row.int64(12));
  lost.worker_restarted = lost.job.locked_at < lost.worker_started_at;
  return lost;
}

inline JobState state_at(const JobInfo& job, TimePoint now, Duration lock_timeout) {
  if (job.locked_by) {
    return job.locked_at && *job.locked_at <= now - lock_timeout ? JobState::abandoned
                                                                 : JobState::running;
  }
  return job.run_at <= now ? JobState::ready : JobState::scheduled;
}

// Claim order: priority DESC, run_at, id (UPDATE ... RETURNING gives no order).
inline void sort_in_claim_order(std::vector<ClaimedJob>& jobs) {
  std::sort(jobs.begin(), jobs.end(), [](const ClaimedJob& a, const ClaimedJob& b) {
    if (a.priority != b.priority) return a.priority > b.priority;
    if (a.run_at != b.run_at) return a.run_at < b.run_at;
    return a.id < b.id;
  });
}

}  // namespace errand::detail
