// Every statement the SQLite store runs (sqlite_store.cpp, schema.cpp, admin.cpp,
// connection.cpp), and the parameters each takes. The migrations' DDL is in schema.cpp; BEGIN,
// COMMIT and ROLLBACK are Transaction's (connection.cpp). Table names are fixed; every value is a
// bound parameter. Times are INTEGER microseconds since the Unix epoch. Each text is built once per
// process, and the connection prepares it once (Connection::query).
#pragma once

#include <errand/store.hpp>

#include "core/job_filter_sql.hpp"
#include "core/live_listing.hpp"

#include <cstddef>
#include <string>
#include <string_view>

namespace errand::sqlite::sql {

// --- opening a database (schema.cpp, admin.cpp) ----------------------------------------------

// The first read of a file: fails, writing nothing, when it is not a database.
inline constexpr std::string_view kReadSchema = "SELECT count(*) FROM sqlite_master";
// Whether table ?1 exists.
inline constexpr std::string_view kTableExists =
    "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?1";
// For removal (admin.cpp): how many tables, and whether errand_meta is one of them.
inline constexpr std::string_view kCountTables =
    "SELECT count(*), count(*) FILTER (WHERE name = 'errand_meta') FROM sqlite_master";
inline constexpr std::string_view kEnableWal = "PRAGMA journal_mode=WAL";
inline constexpr std::string_view kQueryOnly = "PRAGMA query_only = ON";
inline constexpr std::string_view kSynchronousFull = "PRAGMA synchronous=FULL";
inline constexpr std::string_view kSynchronousNormal = "PRAGMA synchronous=NORMAL";
inline constexpr std::string_view kCreateMeta =
    "CREATE TABLE IF NOT EXISTS errand_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)";
inline constexpr std::string_view kReadSchemaVersion =
    "SELECT value FROM errand_meta WHERE key = 'schema_version'";
// Records schema version ?1 (text).
inline constexpr std::string_view kWriteSchemaVersion =
    "INSERT INTO errand_meta (key, value) VALUES ('schema_version', ?1) "
    "ON CONFLICT (key) DO UPDATE SET value = excluded.value";

// --- enqueue -----------------------------------------------------------------------------------

// The most rows one insert statement takes.
inline constexpr std::size_t kRowsPerInsert = 64;
// Inserts `rows` jobs (1 to kRowsPerInsert), 8 parameters each in order: name, payload, context,
// priority, run_at, created_at, queue, partition_key; returns their ids (in no particular order).
std::string_view insert_jobs(std::size_t rows);

// Unique jobs (errand/unique.hpp), one job at a time in the enqueue's write transaction (which
// sees the latest rows, and no other writer): the job with its key ?9 (name, payload, context,
// priority, run_at, created_at, queue, partition_key as insert_jobs) unless a live job holds the
// key (SqliteStore::insert_unique).
inline constexpr std::string_view kInsertUniqueJob =
    "INSERT INTO errand_jobs (name, payload, context, priority, run_at, created_at, queue, "
    "partition_key, unique_key) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) "
    "ON CONFLICT (unique_key) WHERE unique_key IS NOT NULL DO NOTHING RETURNING id";
// The live job holding key ?1, and whether it blocks a job with states ?2 at time ?3.
std::string_view live_unique_holder();
// The newest finished job with key ?1 that blocks a job with states ?2.
std::string_view finished_unique_blocker();
inline constexpr std::string_view kDropNewJob = "DELETE FROM errand_jobs WHERE id = ?1";
// A live job gives its key up to a new one (its state no longer blocks the key).
inline constexpr std::string_view kReleaseUniqueKey =
    "UPDATE errand_jobs SET unique_key = NULL WHERE id = ?1";
inline constexpr std::string_view kReplaceWaitingJob =
    "UPDATE errand_jobs SET payload = ?2, context = ?3, priority = ?4, run_at = ?5 "
    "WHERE id = ?1 AND locked_by IS NULL";

// --- settle_and_claim: settling, each statement fenced by the lease: id ?1, worker ?2 and
// locked_at ?3 ---------------------------------------------------------------------------------

// Completed: deletes the job.
inline constexpr std::string_view kDeleteLeased =
    "DELETE FROM errand_jobs WHERE id = ?1 AND locked_by = ?2 AND locked_at = ?3";
// Released: unlocks the job, charging nothing.
inline constexpr std::string_view kReleaseLeased =
    "UPDATE errand_jobs SET locked_by = NULL, locked_at = NULL "
    "WHERE id = ?1 AND locked_by = ?2 AND locked_at = ?3";
// Retry: unlocks the job with one more failure, error ?4 at time ?5, due again at ?6, error
// history ?7 (NULL: the job's own).
inline constexpr std::string_view kRetryLeased =
    "UPDATE errand_jobs SET locked_by = NULL, locked_at = NULL, "
    "error_count = error_count + 1, last_error = ?4, last_failed_at = ?5, run_at = ?6, "
    "errors = coalesce(?7, errors) WHERE id = ?1 AND locked_by = ?2 AND locked_at = ?3";
// Snoozed: unlocks the job with one more snooze, due again at ?4; no attempt charged.
inline constexpr std::string_view kSnoozeLeased =
    "UPDATE errand_jobs SET locked_by = NULL, locked_at = NULL, snoozes = snoozes + 1, "
    "run_at = ?4 WHERE id = ?1 AND locked_by = ?2 AND locked_at = ?3";
// Whether the leased job's cancel was requested (1 or 0; no row: the lease is lost).
inline constexpr std::string_view kCancelRequestedLeased =
    "SELECT cancel_requested_at IS NOT NULL FROM errand_jobs "
    "WHERE id = ?1 AND locked_by = ?2 AND locked_at = ?3";
// The parameters of the statements that move jobs to errand_finished_jobs (kDeleteLeased or a
// DELETE of the same rows follows): ?4 now, ?5 the state, ?6 1 to charge an attempt (error count
// + 1, last failed now), ?7 the last error, ?8 the error history, ?9 the output, ?10 the cancel
// reason; NULL in ?7, ?8, ?10 keeps the job's own. Values a finished job may not hold
// (core/stored_values.hpp) are replaced, so the finished table stays readable; the error of a
// job set aside for an invalid value names the value as it was.
// The leased job: id ?1, worker ?2, locked_at ?3.
std::string_view finish_leased();
// Job ?1 while it is not locked.
std::string_view finish_unlocked();
// The unlocked jobs of type ?1; then kDeleteUnlockedNamed.
std::string_view finish_unlocked_named();
inline constexpr std::string_view kDeleteUnlockedNamed =
    "DELETE FROM errand_jobs WHERE name = ?1 AND locked_by IS NULL";
// The unlocked jobs due at ?1; then kDeleteReady.
std::string_view finish_ready();
inline constexpr std::string_view kDeleteReady =
    "DELETE FROM errand_jobs WHERE locked_by IS NULL AND run_at <= ?1";
inline constexpr std::string_view kDeleteUnlocked =
    "DELETE FROM errand_jobs WHERE id = ?1 AND locked_by IS NULL";

// --- settle_and_claim: claiming ----------------------------------------------------------------

// Abandoned locks become runnable rows: the jobs locked at or before ?1 (now minus the lock
// timeout), then each unlocked by its id ?1. (One UPDATE of the rows its own index finds would
// collect them in a temporary table first, on every claim; see kClaimable.)
inline constexpr std::string_view kFindAbandoned =
    "SELECT id FROM errand_jobs WHERE locked_by IS NOT NULL AND locked_at <= ?1";
inline constexpr std::string_view kUnlockAbandoned =
    "UPDATE errand_jobs SET locked_by = NULL, locked_at = NULL WHERE id = ?1";
// A claim reads its queues (sqlite_queues.cpp), then up to ?2 jobs due at now ?1 of each in claim
// order, in the columns read_claimed_job reads (core/rows.hpp), from the runnable index; then locks
// them through kClaimIds (below): all in one write transaction. One UPDATE ... WHERE id IN
// (SELECT ... LIMIT) RETURNING needed two temporary tables per claim (the IN list and the returned
// rows), each with a page cache of its own: memory allocated and freed on every claim, which glibc
// gave back to the kernel and faulted in again in some processes and not in others, so that
// 200,000-job drains ran at 48k or at 130k jobs/s from one run to the next.
#define ERRAND_SQLITE_CLAIMED                                                                  \
  "SELECT id, name, payload, context, priority, error_count, run_at, created_at, last_error, " \
  "snoozes, errors, cancel_requested_at IS NOT NULL, queue, partition_key FROM errand_jobs "
inline constexpr std::string_view kClaimable = ERRAND_SQLITE_CLAIMED
    "WHERE queue = ?3 AND locked_by IS NULL AND run_at <= ?1 "
    "ORDER BY priority DESC, run_at, id LIMIT ?2";
// ... of partition key ?4.
inline constexpr std::string_view kClaimableOfKey = ERRAND_SQLITE_CLAIMED
    "WHERE queue = ?3 AND partition_key IS NOT NULL AND partition_key = ?4 "
    "AND locked_by IS NULL AND run_at <= ?1 "
    "ORDER BY priority DESC, run_at, id LIMIT ?2";
#undef ERRAND_SQLITE_CLAIMED
// The claimed ids, written to a table of the connection's own (TEMP) and locked by one UPDATE that
// reads them: a statement's own work (a cursor on the table and on each index, its halt) was most
// of what locking one job by one UPDATE cost (a 200,000-job drain: 35,700 -> 27,700 instructions
// per job). A table the connection keeps, not an IN list of bound ids: SQLite builds such a list
// in a temporary index whose page cache (87 KB) would be allocated and freed on every claim.
inline constexpr std::string_view kCreateClaimIds =
    "CREATE TEMP TABLE IF NOT EXISTS errand_claim_ids (id INTEGER PRIMARY KEY)";
inline constexpr std::string_view kClearClaimIds = "DELETE FROM temp.errand_claim_ids";
// The most ids one insert_claim_ids statement takes.
inline constexpr std::size_t kIdsPerInsert = 64;
// Adds ids ?1 to ?`ids` to the claimed ones; `ids` is a power of two up to kIdsPerInsert (repeat an
// id to fill: a repeated one is ignored).
std::string_view insert_claim_ids(std::size_t ids);
// Locks the claimed ids' jobs that are not locked for worker ?1 at ?2.
inline constexpr std::string_view kLockClaimIds =
    "UPDATE errand_jobs SET locked_by = ?1, locked_at = ?2 "
    "WHERE id IN (SELECT id FROM temp.errand_claim_ids) AND locked_by IS NULL";

// --- queues (sqlite_queues.cpp) ----------------------------------------------------------------

// Columns of a queue row, as read_queue_row reads them.
#define ERRAND_SQLITE_QUEUE_COLUMNS                                                          \
  "SELECT name, paused, global_limit, per_key_limit, rate_limit, rate_period_us, rate_log, " \
  "key_cursor, updated_at FROM errand_queues "
inline constexpr std::string_view kQueueRow = ERRAND_SQLITE_QUEUE_COLUMNS "WHERE name = ?1";
inline constexpr std::string_view kQueueRows = ERRAND_SQLITE_QUEUE_COLUMNS "ORDER BY name";
inline constexpr std::string_view kQueueNames = "SELECT name FROM errand_queues ORDER BY name";
#undef ERRAND_SQLITE_QUEUE_COLUMNS
// Makes queue ?1 known (updated at ?2) unless it is.
inline constexpr std::string_view kAddQueue =
    "INSERT INTO errand_queues (name, updated_at) VALUES (?1, ?2) ON CONFLICT (name) DO NOTHING";
inline constexpr std::string_view kUpdateQueue =
    "UPDATE errand_queues SET paused = ?2, global_limit = ?3, per_key_limit = ?4, "
    "rate_limit = ?5, rate_period_us = ?6, updated_at = ?7 WHERE name = ?1";
// In a queue with a per-key limit every job has a key: those without get the empty one (?1).
inline constexpr std::string_view kGiveEmptyKeys =
    "UPDATE errand_jobs SET partition_key = '' WHERE queue = ?1 AND partition_key IS NULL";
// Whether queue ?1 has a per-key limit (no row: no).
inline constexpr std::string_view kQueueIsKeyed =
    "SELECT 1 FROM errand_queues WHERE name = ?1 AND per_key_limit IS NOT NULL";
inline constexpr std::string_view kSaveQueueUse =
    "UPDATE errand_queues SET rate_log = ?2, key_cursor = ?3 WHERE name = ?1";
// The leases of queue ?1, by partition key.
inline constexpr std::string_view kLeasesByKey =
    "SELECT partition_key, count(*) FROM errand_jobs WHERE queue = ?1 AND locked_by IS NOT NULL "
    "GROUP BY partition_key";
// The first key of queue ?1 after ?3 (the first of all with kFirstKey) with a job due at ?2.
inline constexpr std::string_view kNextKey =
    "SELECT partition_key FROM errand_jobs WHERE queue = ?1 AND partition_key IS NOT NULL "
    "AND partition_key > ?3 "
    "AND locked_by IS NULL AND run_at <= ?2 ORDER BY partition_key LIMIT 1";
inline constexpr std::string_view kFirstKey =
    "SELECT partition_key FROM errand_jobs WHERE queue = ?1 AND partition_key IS NOT NULL "
    "AND locked_by IS NULL AND run_at <= ?2 ORDER BY partition_key LIMIT 1";
// Per queue at now ?1: ready, scheduled, leased, the oldest ready job's run_at.
// Every queue's finished jobs by state, each counted up to ?1 (-1: all) from
// errand_finished_jobs_by_queue: (queue, completed, cancelled, discarded) rows.
inline constexpr std::string_view kQueueFinishedCounts =
    "SELECT q.name,"
    " (SELECT count(*) FROM (SELECT 1 FROM errand_finished_jobs WHERE queue = q.name"
    "   AND state = 'completed' LIMIT ?1)),"
    " (SELECT count(*) FROM (SELECT 1 FROM errand_finished_jobs WHERE queue = q.name"
    "   AND state = 'cancelled' LIMIT ?1)),"
    " (SELECT count(*) FROM (SELECT 1 FROM errand_finished_jobs WHERE queue = q.name"
    "   AND state = 'discarded' LIMIT ?1)) "
    "FROM errand_queues q";
// The jobs held by workers, by queue, from errand_jobs_locked: (queue, locked after ?1, locked
// at or before ?1) rows.
inline constexpr std::string_view kQueueLeases =
    "SELECT queue, sum(locked_at > ?1), sum(locked_at <= ?1) FROM errand_jobs"
    " WHERE locked_by IS NOT NULL GROUP BY queue";
// Queue ?1's waiting jobs at its highest priority below ?2 (core/waiting_counts.hpp), from
// errand_jobs_runnable: (priority, earliest run_at, ready at ?3 up to ?4, scheduled up to ?5; -1:
// all); no row when there is none.
inline constexpr std::string_view kWaitingAtNextPriority =
    "SELECT p.v,"
    " (SELECT run_at FROM errand_jobs WHERE queue = ?1 AND locked_by IS NULL AND priority = p.v"
    "   ORDER BY run_at LIMIT 1),"
    " (SELECT count(*) FROM (SELECT 1 FROM errand_jobs WHERE queue = ?1 AND locked_by IS NULL"
    "   AND priority = p.v AND run_at <= ?3 LIMIT ?4)),"
    " (SELECT count(*) FROM (SELECT 1 FROM errand_jobs WHERE queue = ?1 AND locked_by IS NULL"
    "   AND priority = p.v AND run_at > ?3 LIMIT ?5)) "
    "FROM (SELECT priority AS v FROM errand_jobs WHERE queue = ?1 AND locked_by IS NULL"
    " AND priority < ?2 ORDER BY priority DESC LIMIT 1) AS p";
inline constexpr std::string_view kQueueBusiestKeys =
    "SELECT queue, max(n) FROM (SELECT queue, partition_key, count(*) AS n FROM errand_jobs "
    "WHERE locked_by IS NOT NULL GROUP BY queue, partition_key) GROUP BY queue";

// --- the workers table -------------------------------------------------------------------------

// Inserts or replaces worker ?1 (host ?2, pid ?3, concurrency ?4, started at ?5, beating at ?6).
inline constexpr std::string_view kUpsertWorker =
    "INSERT INTO errand_workers (id, host, pid, concurrency, started_at, heartbeat_at, queues) "
    "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT (id) DO UPDATE SET host = excluded.host, "
    "pid = excluded.pid, concurrency = excluded.concurrency, "
    "started_at = excluded.started_at, heartbeat_at = excluded.heartbeat_at, "
    "queues = excluded.queues";
// Heartbeat: unlocks, uncharged, what worker ?1 locked since it started (?2) but does not hold
// (?3, a JSON array of ids).
inline constexpr std::string_view kReleaseUnheld =
    "UPDATE errand_jobs SET locked_by = NULL, locked_at = NULL "
    "WHERE locked_by = ?1 AND locked_at >= ?2 "
    "AND id NOT IN (SELECT value FROM json_each(?3))";
// Heartbeat: progress ?4, message ?5 at ?6 of the leased job (?1, ?2, ?3).
inline constexpr std::string_view kWriteProgress =
    "UPDATE errand_jobs SET progress = ?4, progress_message = ?5, progress_at = ?6 "
    "WHERE id = ?1 AND locked_by = ?2 AND locked_at = ?3";
// Heartbeat: the jobs worker ?1 holds whose cancel was requested.
inline constexpr std::string_view kCancelRequestedOf =
    "SELECT id FROM errand_jobs WHERE locked_by = ?1 AND cancel_requested_at IS NOT NULL";
// A clean exit: unlocks, uncharged, what worker ?1 locked since it registered (kDeleteWorker
// follows).
inline constexpr std::string_view kReleaseWorkerJobs =
    "UPDATE errand_jobs SET locked_by = NULL, locked_at = NULL WHERE locked_by = ?1 "
    "AND locked_at >= coalesce((SELECT started_at FROM errand_workers WHERE id = ?1), 0)";
inline constexpr std::string_view kDeleteWorker = "DELETE FROM errand_workers WHERE id = ?1";
// The workers, most recent heartbeat first, in the columns read_worker_info reads, with the
// count of jobs each holds.
inline constexpr std::string_view kListWorkers =
    "SELECT id, host, pid, concurrency, started_at, heartbeat_at, "
    "(SELECT count(*) FROM errand_jobs j WHERE j.locked_by = w.id), queues "
    "FROM errand_workers w ORDER BY heartbeat_at DESC, id";
// Up to ?2 jobs of workers whose heartbeat is at or before ?1 (or that restarted since locking),
// oldest lock first, in the columns read_lost_job reads. A lock at an invalid time is no lease
// anyone can settle by: such rows are left to inspection, which reports them, rather than found
// again and again.
std::string_view find_lost_jobs();
// Deletes the workers whose heartbeat is at or before ?1 that hold no job.
inline constexpr std::string_view kForgetLostWorkers =
    "DELETE FROM errand_workers WHERE heartbeat_at <= ?1 AND NOT EXISTS "
    "(SELECT 1 FROM errand_jobs j WHERE j.locked_by = errand_workers.id)";

// --- inspection --------------------------------------------------------------------------------

// Jobs ready, scheduled, running, abandoned and failing at now ?1 with the locks at or before ?2
// abandoned.
// The failing jobs (errand_jobs_failing) up to ?1 (-1: all), and the finished ones by state
// (errand_finished_jobs_by_state) up to ?1: (failing, completed, cancelled, discarded).
inline constexpr std::string_view kCountFailingAndFinished =
    "SELECT (SELECT count(*) FROM (SELECT 1 FROM errand_jobs WHERE error_count > 0 LIMIT ?1)),"
    " (SELECT count(*) FROM (SELECT 1 FROM errand_finished_jobs WHERE state = 'completed'"
    "   LIMIT ?1)),"
    " (SELECT count(*) FROM (SELECT 1 FROM errand_finished_jobs WHERE state = 'cancelled'"
    "   LIMIT ?1)),"
    " (SELECT count(*) FROM (SELECT 1 FROM errand_finished_jobs WHERE state = 'discarded'"
    "   LIMIT ?1))";
// The jobs `filter` selects in the columns read_job_info reads, in its order, at most ?4: now ?1,
// locks at or before ?2 abandoned, name ?3, the finished state ?5, queue ?6 (NULL: any); from ?7
// on, the filter's ranges and cursor in the order list_jobs appends to `params`.
// `part` narrows it to the waiting or the held jobs (core/live_listing.hpp).
std::string list_jobs(const JobFilter& filter, std::vector<detail::FilterParam>& params,
                      detail::LivePart part);
// Job ?1 in the columns read_job_info reads: in the jobs table, in the finished jobs table.
std::string_view find_live_job();
std::string_view find_finished_job();
// The dead jobs, most recently failed first, at most ?2 (of type ?1 when `named`).
std::string_view list_dead(bool named);

// --- the lifecycle -------------------------------------------------------------------------------

// Job ?1: whether it is locked (1 or 0; no row: not in the jobs table).
inline constexpr std::string_view kLockedState =
    "SELECT locked_by IS NOT NULL FROM errand_jobs WHERE id = ?1";
// Delete job ?1: finished, or still to run and not held by a worker.
inline constexpr std::string_view kDeleteFinished =
    "DELETE FROM errand_finished_jobs WHERE id = ?1";
inline constexpr std::string_view kDeleteUnheld =
    "DELETE FROM errand_jobs WHERE id = ?1 AND locked_by IS NULL";
// The state of finished job ?1 (no row: none).
inline constexpr std::string_view kFinishedState =
    "SELECT state FROM errand_finished_jobs WHERE id = ?1";
// Requests the cancel of job ?1 at ?2 for reason ?3 (an earlier request stands).
inline constexpr std::string_view kRequestCancel =
    "UPDATE errand_jobs SET cancel_requested_at = coalesce(cancel_requested_at, ?2), "
    "cancel_reason = coalesce(cancel_reason, ?3) WHERE id = ?1";
// ... and of every locked job of type ?1; returns their ids.
inline constexpr std::string_view kRequestCancelNamed =
    "UPDATE errand_jobs SET cancel_requested_at = coalesce(cancel_requested_at, ?2), "
    "cancel_reason = coalesce(cancel_reason, ?3) WHERE name = ?1 AND locked_by IS NOT NULL "
    "RETURNING id";
// Deletes up to ?4 finished jobs, oldest first per state: completed ones finished at or before
// ?1, cancelled ones at or before ?2, discarded ones at or before ?3 (NULL: none of that state).
std::string_view prune_finished();

// --- dead-letter administration ----------------------------------------------------------------

// Which dead jobs a statement below touches. Each takes the selection's value, if any, as ?1: a
// type name, a JSON array of ids, one id. `none` selects nothing.
// `finished_id` selects finished job ?1 in any state (the others: discarded jobs only).
enum class DeadWhere { all, name, ids, id, none, finished_id };
DeadWhere dead_where(DeadSelection::Kind kind);
// Resurrection: copies the selected dead jobs back into errand_jobs, due at ?2, their error and
// snooze counts reset, their history kept (delete_dead follows).
std::string_view copy_dead_back(DeadWhere where);
// Deletes the selected dead jobs.
std::string_view delete_dead(DeadWhere where);
// Counts the selected dead jobs by type, most first.
std::string_view tally_dead_by_name(DeadWhere where);
// The lowest ?2 ids of the selected dead jobs, ascending.
std::string_view tally_dead_ids(DeadWhere where);

}  // namespace errand::sqlite::sql
