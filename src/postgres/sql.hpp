// The PostgreSQL store's SQL: every statement text and the parameters it takes, built from the
// quoted schema (pg::quote_identifier) only; every value is a bound parameter. Stored times cross
// the wire as integer microseconds since the Unix epoch. The store builds its frequent statements
// once (PostgresStore's members) and prepares them once per connection. The migrations' DDL is in
// schema.cpp; BEGIN, COMMIT, ROLLBACK and the session settings are pq.cpp's.
#pragma once

#include <errand/store.hpp>

#include "core/job_filter_sql.hpp"
#include "core/live_listing.hpp"
#include "postgres/pq.hpp"

#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace errand::pg {

// --- expressions ---------------------------------------------------------------------------

// SQL true when `column` holds a time errand can represent (core/stored_values.hpp).
std::string valid_time_sql(std::string_view column);
// `column` (a timestamptz) as the text of integer microseconds; a time errand cannot represent
// as its own text (the reader refuses it by name). Never fails; NULL stays NULL.
std::string us_of(std::string_view column);
// $n is NULL (the database clock) or microseconds from an injected clock: the store's now.
std::string now_of(int n);
// The store's now ($1) minus the microseconds in $2: older locks or heartbeats are abandoned/lost.
std::string cutoff_1_2();
// Microseconds (an SQL expression) as a timestamptz.
std::string ts_of(std::string_view us);

// The columns read_job_info reads (core/rows.hpp) of the jobs table, as us_of expressions.
std::string live_job_columns();
// ... of the finished jobs table.
std::string finished_job_columns();

// --- names ---------------------------------------------------------------------------------

// Refuses schema names errand must not use: what quote_identifier refuses (empty, over 63
// bytes, NUL), and PostgreSQL's system schemas (pg_*, information_schema). Throws ConfigError.
void check_schema_name(std::string_view schema);
// The NOTIFY channel of a schema (a hash of a long schema name: at most 63 bytes).
std::string notify_channel(std::string_view schema);

// --- the statements ------------------------------------------------------------------------

// Inserts the rows of insert_params ($1..$6) at time $7 (now_of) with their queues and keys
// (add_routing_arrays: $9, $10), makes their queues known, and notifies channel $8 in the same
// statement, so the NOTIFY fires exactly when the insert commits; returns the ids.
std::string insert_sql(const std::string& quoted_schema);
// {a,b,NULL}: an array literal of items that need no quoting (numbers, t/f, hex digits; NULL
// stays SQL NULL).
std::string array_literal(const std::vector<std::string>& items);
Params insert_params(std::span<const NewJob> jobs);
void add_routing_arrays(Params& params, std::span<const NewJob> jobs);
// The ids insert_sql returned, ascending (identity values follow insertion order).
std::vector<JobId> inserted_ids(const Result& r);

// A batch with unique jobs (errand/unique.hpp; PostgresStore::insert_unique_jobs), two
// statements in one transaction. unique_insert_sql takes insert_sql's parameters ($1..$10), the
// keys' first 32 hex digits ($11, NULL for a job without uniqueness), periods in microseconds
// ($12), UniqueState masks ($13) and the jobs table's name ($14, for its id sequence); inserts
// every row whose key no live job holds (INSERT ... ON CONFLICT DO NOTHING) and returns their
// (place, id). unique_resolve_sql, in a new snapshot, takes the same parameters, the replace
// flags ($15) and whether to fail ($16); per row with a key: (place, the place of the key's first
// row in the batch, and for that first row: the live holder's id, whether this transaction
// inserted it, whether it blocks, the newest finished job that blocks, whether the holder was
// replaced). It drops a row it inserted when a finished
// job blocks, and replaces a blocking holder that waits where asked. A key that no job blocks
// and this transaction did not take (its live holder does not block, or ended in between) needs
// another round: with $16 the statement then fails with an error naming
// kUniqueTakeoverMarker, rolling the transaction back.
std::string unique_insert_sql(const std::string& quoted_schema);
std::string unique_resolve_sql(const std::string& quoted_schema);
// unique_insert_sql for a batch of one row (returns 0 as the id of a row not inserted).
std::string unique_insert_one_sql(const std::string& quoted_schema);
// unique_resolve_sql for a batch of one row, as with $16, from that row's key ($1, 32 hex
// digits), period ($2), run_at and delay ($3, $4, as in insert_params), states ($5) and replace
// flag ($6) at time $7 (now_of): it modifies nothing, and fails with the marker also where
// unique_resolve_sql would drop the inserted row or replace the holder.
std::string unique_resolve_one_sql(const std::string& quoted_schema);
inline constexpr std::string_view kUniqueTakeoverMarker = "errand: unique key to take over";
// Takes the key away from live jobs $1 whose states no longer block a job with states $2 at $3
// (now_of): they no longer hold it, and a new job can take it.
std::string release_unique_keys_sql(const std::string& quoted_schema);

// Settling is up to three statements in the round's pipeline (one transaction):
// 1. settle_lock_sql, when an outcome may end cancelled (may_end_cancelled): locks those jobs
//    ($1, an id array), so that no cancel is requested between the two statements below;
// 2. settle_cancelled_sql: moves those whose cancel was requested to `cancelled`;
// 3. settle_sql: applies the rest.
// Both settle statements take worker $1, now $2 and their arrays; they return the ids applied.
// Every change is fenced by the lease; nothing fails on what a row holds.
bool may_end_cancelled(const Outcome& outcome);
std::string settle_lock_sql(const std::string& quoted_schema);
// $3..$7: ids, lease times, 1 to charge an attempt, errors, histories (add_cancel_settle_arrays).
std::string settle_cancelled_sql(const std::string& quoted_schema);
void add_cancel_settle_arrays(Params& params, std::span<const Outcome> outcomes);
// $3..$21: the outcomes by kind (add_settle_arrays).
std::string settle_sql(const std::string& quoted_schema);
void add_settle_arrays(Params& params, std::span<const Outcome> outcomes);
// The common round, where every outcome is a completion not kept: settle_sql's `done` part alone
// (worker $1, then add_completed_arrays' ids $2 and lease times $3), without its six empty parts.
bool only_deletions(std::span<const Outcome> outcomes);
std::string settle_completed_sql(const std::string& quoted_schema);
void add_completed_arrays(Params& params, std::span<const Outcome> outcomes);
// Moves the rows of CTE `from` to the finished jobs table in `state`: `from` has the jobs table's
// columns (DELETE ... RETURNING j.*) and charge (1: count the attempt), error, history, output
// and reason (NULL: the job's own); CTE t has now. Returns the ids moved.
std::string finish_sql(const std::string& quoted_schema, std::string_view from,
                       std::string_view state);
// Makes the rest of the transaction commit without waiting for the WAL flush.
inline constexpr std::string_view kAsynchronousCommit =
    "SELECT set_config('synchronous_commit', 'off', true)";
// Unlocks jobs locked at or before now ($1) minus the lock timeout ($2 microseconds).
std::string sweep_sql(const std::string& quoted_schema);

// --- the workers table (sql_workers.cpp); worker_params: $1..$4 id, host, pid, concurrency, $5
// now_of -------------------------------------------------------------------------------------

// Counts the rows of CTE `rows` and, only if there are any, notifies channel $`channel_param`.
std::string count_and_notify(std::string_view rows, int channel_param);
// Registers (or re-registers) worker $1..$5; returns its started_at.
std::string register_worker_sql(const std::string& quoted_schema);
// Beats for worker $1..$5 started at $6, and unlocks (uncharged) what it locked since but does
// not hold ($7, an id array), notifying channel $8 when it unlocked any; writes the progress of
// leased jobs ($9..$12: ids, lease times, values, messages). Returns how many it unlocked, the
// notification, how many progressed, and the ids among $7 whose cancel was requested (an array).
std::string heartbeat_sql(const std::string& quoted_schema);
// Deletes worker $1 and unlocks what it locked since registering, notifying channel $2.
std::string remove_worker_sql(const std::string& quoted_schema);
// The workers at now $1, with the count of jobs each holds and now.
std::string list_workers_sql(const std::string& quoted_schema);
// Up to $3 jobs of workers silent for $2 microseconds at now $1 (or restarted since locking).
std::string find_lost_jobs_sql(const std::string& quoted_schema);
// Deletes workers silent for $2 microseconds at now $1 that hold no job.
std::string forget_lost_workers_sql(const std::string& quoted_schema);

// --- counts (sql_counts.cpp), exact or up to a bound (core/waiting_counts.hpp) -----------------

// Queue $1's waiting jobs at its highest priority below $2 (int8), from jobs_runnable: priority,
// earliest run_at, ready at now $3 (microseconds) up to $4, scheduled up to $5 (NULL: all); no row
// when there is none.
std::string waiting_at_next_priority_sql(const std::string& quoted_schema);
// The jobs held by workers, by queue, from jobs_locked: queue, locked after $1 (microseconds),
// locked at or before it.
std::string leases_by_queue_sql(const std::string& quoted_schema);
// Every queue's finished jobs by state, each up to $1 (NULL: all), from finished_jobs_by_queue:
// queue, completed, cancelled, discarded.
std::string queue_finished_counts_sql(const std::string& quoted_schema);
// The failing jobs (jobs_failing) and the finished ones by state (finished_jobs_by_state), each
// up to $1 (NULL: all): failing, completed, cancelled, discarded.
std::string failing_and_finished_counts_sql(const std::string& quoted_schema);
// Every queue's name, in order.
std::string queue_names_sql(const std::string& quoted_schema);

// --- inspection and dead-letter administration (sql_inspection.cpp) -------------------------

// The jobs matching `filter` at now $1, lock timeout $2, name $3 and queue $5 (NULL: any), at most
// $4; from $6 on, the filter's ranges and cursor, in the order list_jobs_sql appends to `params`.
// `part` narrows it to the waiting or the held jobs (core/live_listing.hpp).
std::string list_jobs_sql(const std::string& quoted_schema, const JobFilter& filter,
                          std::vector<detail::FilterParam>& params, detail::LivePart part);
// Dead jobs, most recently failed first, at most $1 (of type $2 when `named`).
std::string list_dead_sql(const std::string& quoted_schema, bool named);
// The condition on dead_jobs selecting `which`; its value, if any, is appended to `params` and
// numbered after the `before` parameters that precede `params` in the statement.
std::string dead_where(const DeadSelection& which, Params& params, int before = 0);
// Counts by type and the lowest $`limit_param` ids of the dead jobs matching `where`.
std::string tally_dead_sql(const std::string& quoted_schema, std::string_view where,
                           int limit_param);
// Moves the finished jobs matching `where` back, due at now $1; notifies channel
// $`channel_param`.
std::string resurrect_sql(const std::string& quoted_schema, std::string_view where,
                          int channel_param);
std::string purge_dead_sql(const std::string& quoted_schema, std::string_view where);

// --- queues (sql_queues.cpp) -----------------------------------------------------------------

// A claim's first part, in the round's pipeline: locks for worker $1, at now $3, jobs of the
// queues without limits and not paused: those named in $4 (a text array), each up to its count
// in $5; or with $4 NULL every queue, taking turns (their first jobs, then their second, ...;
// from the queue after $6), up to $2 in all. Returns the columns read_claimed_job reads, then
// locked_at, then the job's place in the turns (1, 2, ...).
std::string open_claim_sql(const std::string& quoted_schema);
// open_claim_sql for one queue, $4 (text), up to $2 jobs: nothing if that queue is paused or
// limited. The same parameters ($5, $6 absent) and columns.
std::string single_queue_claim_sql(const std::string& quoted_schema);
// The queues not paused among those named in $1 (NULL: all): the limited ones and the first by
// name, each as name, limited (0/1), with a per-key limit (0/1), the number of such queues in
// all, and whether its one limit is a global one (0/1).
std::string queue_summary_sql(const std::string& quoted_schema);
// The partition key to store for a job with key `key` (an SQL expression, '' for none) in queue
// `queue`: the key; without one, '' in a queue with a per-key limit, else NULL (the job is then
// in one runnable index only).
std::string stored_key_sql(const std::string& quoted_schema, std::string_view key,
                           std::string_view queue);
// Gives the jobs of queue $1 without a key the empty key (a per-key limit was set). Run after
// `LOCK TABLE jobs IN SHARE MODE`: every insert that read the queue's settings before has then
// committed, and every later one reads the new settings.
std::string give_empty_keys_sql(const std::string& quoted_schema);
std::string lock_jobs_table_sql(const std::string& quoted_schema);
// The store's now ($1, or the database clock at this statement, not at the transaction's start)
// in microseconds.
std::string claim_now_sql();
// Queue rows (name, paused, global_limit, per_key_limit, rate_limit, rate_period_us, rate_log,
// key_cursor, updated_at in microseconds), by name: those named in $1 (a text array) or all;
// `lock`: locked for the claim's transaction.
std::string queue_rows_sql(const std::string& quoted_schema, bool named, bool lock);
// The leases of queue $1 by partition key.
std::string leases_sql(const std::string& quoted_schema);
// Up to $2 jobs of queue $3 (of partition key $4 with `of_key`) due at $1 (microseconds; NULL:
// the transaction's start), in the columns read_claimed_job reads, in claim order, locked
// (skipping those other claims lock).
std::string ready_jobs_sql(const std::string& quoted_schema, bool of_key);
// The first partition key of queue $1 (after $3 with `after`) with a job due at $2.
std::string next_key_sql(const std::string& quoted_schema, bool after);
// Locks jobs $3 (an id array) for worker $1 at $2 (microseconds); returns the ids. The jobs must
// have been read unlocked by ready_jobs_sql in the same transaction (which locked their rows).
std::string lock_claimed_sql(const std::string& quoted_schema);
// Writes queue $1's rate log $2 and key cursor $3.
std::string save_queue_use_sql(const std::string& quoted_schema);
// The statements of a claim from limited queues (postgres_queues.cpp), built once per store;
// update_queue locks a queue row with lock_queues too, list_queues reads its time with claim_now.
struct LimitedClaimSql {
  explicit LimitedClaimSql(const std::string& quoted_schema);
  std::string lock_queues, claim_now, leases, ready, ready_of_key, first_key, next_key,
      lock_claimed, save_queue_use;
  // The whole claim from queue $4 while its only limit is a global one, in one statement after
  // lock_queues: for worker $1, $2 free slots and $5 prefetch, at the clock now (or $3 from an
  // injected clock); nothing when the queue is paused or has other limits. The columns of
  // open_claim_sql.
  std::string global_claim;
};
// Makes queue $1 known.
std::string add_queue_sql(const std::string& quoted_schema);
// Sets queue $1's settings (paused $2 as 0/1, limits $3..$6) at now $7 and notifies channel $8
// ('queues'); returns how many rows changed.
std::string update_queue_sql(const std::string& quoted_schema);
// Per queue at now $1: ready, scheduled, leased, the oldest ready job's run_at (microseconds).
std::string queue_busiest_keys_sql(const std::string& quoted_schema);

// --- the lifecycle (sql_lifecycle.cpp) ------------------------------------------------------

// Locks job $1 in the jobs table: 1 when it is locked by a worker, 0 when waiting; no row: none.
std::string cancel_lock_sql(const std::string& quoted_schema);
// The state of finished job $1 (no row: none).
std::string finished_state_sql(const std::string& quoted_schema);
// Whether job $1 is in the jobs table (still to run, or running): one row, or none.
std::string job_exists_sql(const std::string& quoted_schema);
// Deletes job $1 when it is finished or waiting (not locked by a worker); one row: how many rows
// went (0 or 1), and whether the jobs table held it before (then, with 0: a worker holds it).
std::string delete_job_sql(const std::string& quoted_schema);
// Which jobs the cancel statements touch: job $3, the jobs of type $3, the ready jobs.
enum class CancelWhere { id, name, ready };
// At now $1, moves the waiting (unlocked) jobs `where` selects to `cancelled` with reason $2;
// returns how many.
std::string cancel_waiting_sql(const std::string& quoted_schema, CancelWhere where);
// At now $1, requests the cancel of job $3 (`id`) or of the locked jobs of type $3 (`name`) with
// reason $2, notifying channel $4 ('cancel:<id>') for each; returns their ids.
std::string request_cancel_sql(const std::string& quoted_schema, CancelWhere where);
// At now $1, deletes up to $5 finished jobs older than the retention of their state ($2
// completed, $3 cancelled, $4 discarded: microseconds, NULL for ever), when it gets the advisory
// lock of name $6 (tried, not waited for), and up to $5 schedule tick records more than $7
// microseconds older than their schedule's last tick, and up to $5 minutes of activity more than
// $8 microseconds old. Returns (1 if it got the lock, jobs, tick records and minutes deleted).
std::string prune_sql(const std::string& quoted_schema);
// Job $2 at now $1 in the columns read_job_info reads, then now.
std::string find_job_sql(const std::string& quoted_schema, bool finished);

// --- opening, migrating and removing a schema (sql_schema.cpp; schema.cpp, admin.cpp) ---------

// Whether schema $1 has a meta table (0 or 1 row).
inline constexpr std::string_view kMetaTableExists =
    "SELECT 1 FROM information_schema.tables WHERE table_schema = $1 AND table_name = 'meta'";
// The stored schema version (0 or 1 row).
std::string read_schema_version_sql(const std::string& quoted_schema);
// Waits at most $1 (text, milliseconds) for locks until the transaction ends.
inline constexpr std::string_view kLockTimeoutForTransaction =
    "SELECT set_config('lock_timeout', $1, true)";
// Takes the transaction-scoped migration lock of name $1.
inline constexpr std::string_view kMigrationLock = "SELECT pg_advisory_xact_lock(hashtext($1))";
// Creates the schema and its meta table when missing.
std::string create_schema_sql(const std::string& quoted_schema);
// Migration `index` (0-based) of schema.cpp's list, for this schema.
std::string migration_sql(const std::string& quoted_schema, std::size_t index);
// Records schema version $1 (text).
std::string write_schema_version_sql(const std::string& quoted_schema);

// Whether schema $1 exists (0 or 1 row).
inline constexpr std::string_view kSchemaExists =
    "SELECT 1 FROM pg_catalog.pg_namespace WHERE nspname = $1";
// Whether schema $1 has a meta table (0 or 1 row), as removal checks it.
inline constexpr std::string_view kMetaTableInCatalog =
    "SELECT 1 FROM pg_catalog.pg_tables WHERE schemaname = $1 AND tablename = 'meta'";
inline constexpr std::string_view kRemovalLockTimeout = "SET LOCAL lock_timeout = '5s'";
// Drops every table errand's migrations create, refusing (RESTRICT) when anything depends on one.
std::string drop_tables_sql(const std::string& quoted_schema);
std::string drop_schema_sql(const std::string& quoted_schema);

// --- the background threads (sql_schema.cpp; background.cpp) ---------------------------------

// VACUUM of the jobs table, skipping it when locked, cleaning its indexes.
std::string vacuum_sql(const std::string& quoted_schema);
std::string listen_sql(const std::string& quoted_channel);

}  // namespace errand::pg
