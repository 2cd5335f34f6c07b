#include "sqlite/schema.hpp"

#include <errand/error.hpp>
#include <errand/sqlite.hpp>

#include "core/stored_values.hpp"
#include "sqlite/sql.hpp"

#include <fmt/format.h>

#include <array>
#include <charconv>
#include <string_view>

namespace errand::sqlite {

namespace {

// Never edit a released migration: add a new one.
constexpr std::array<std::string_view, 10> kMigrations{
    R"sql(
CREATE TABLE errand_jobs (
  id             INTEGER PRIMARY KEY AUTOINCREMENT,  -- AUTOINCREMENT: ids are never reused
  name           TEXT    NOT NULL,
  payload        TEXT    NOT NULL,                   -- JSON
  context        TEXT    NOT NULL DEFAULT '',
  priority       INTEGER NOT NULL DEFAULT 0,
  run_at         INTEGER NOT NULL,                   -- times: microseconds since the Unix epoch
  created_at     INTEGER NOT NULL,
  locked_by      TEXT,
  locked_at      INTEGER,
  error_count    INTEGER NOT NULL DEFAULT 0,
  last_error     TEXT,
  last_failed_at INTEGER
);
-- Claims scan only unlocked rows, already in claim order.
CREATE INDEX errand_jobs_runnable ON errand_jobs (priority DESC, run_at) WHERE locked_by IS NULL;
-- Finds abandoned locks.
CREATE INDEX errand_jobs_locked ON errand_jobs (locked_at) WHERE locked_by IS NOT NULL;
CREATE TABLE errand_dead_jobs (
  id          INTEGER PRIMARY KEY,                   -- the job's original id
  name        TEXT    NOT NULL,
  payload     TEXT    NOT NULL,
  context     TEXT    NOT NULL,
  priority    INTEGER NOT NULL,
  error_count INTEGER NOT NULL,
  last_error  TEXT    NOT NULL,
  created_at  INTEGER NOT NULL,
  failed_at   INTEGER NOT NULL
);
CREATE INDEX errand_dead_jobs_failed_at ON errand_dead_jobs (failed_at);
)sql",
    R"sql(
-- Live worker processes: each heartbeats; one silent for too long is lost and its jobs rescued.
CREATE TABLE errand_workers (
  id           TEXT    PRIMARY KEY,
  host         TEXT    NOT NULL,
  pid          INTEGER NOT NULL,
  concurrency  INTEGER NOT NULL,
  started_at   INTEGER NOT NULL,
  heartbeat_at INTEGER NOT NULL
);
)sql",
    R"sql(
-- The lifecycle (docs/architecture.md, "States"): finished jobs (completed, cancelled, discarded)
-- move to a table of their own, which the dead-letter table becomes; the jobs table keeps only
-- the jobs still to run, so that its indexes, and the claims that read them, stay the size of the
-- work to do however many finished jobs are kept.
CREATE TABLE errand_finished_jobs (
  id             INTEGER PRIMARY KEY,                -- the job's original id
  name           TEXT    NOT NULL,
  payload        TEXT    NOT NULL,
  context        TEXT    NOT NULL,
  priority       INTEGER NOT NULL,
  run_at         INTEGER NOT NULL,                   -- when it last became due
  created_at     INTEGER NOT NULL,
  error_count    INTEGER NOT NULL,
  last_error     TEXT,
  last_failed_at INTEGER,
  snoozes        INTEGER NOT NULL DEFAULT 0,
  errors         TEXT,                               -- the error history (JSON array)
  state          TEXT    NOT NULL,                   -- completed, cancelled, discarded
  finished_at    INTEGER NOT NULL,
  cancel_reason  TEXT,
  output         TEXT                                -- JSON, of a completed job
);
INSERT INTO errand_finished_jobs (id, name, payload, context, priority, run_at, created_at,
  error_count, last_error, last_failed_at, state, finished_at)
  SELECT id, name, payload, context, priority, failed_at, created_at, error_count, last_error,
    failed_at, 'discarded', failed_at FROM errand_dead_jobs;
DROP TABLE errand_dead_jobs;
-- Pruning and listing by state, oldest or newest first.
CREATE INDEX errand_finished_jobs_by_state ON errand_finished_jobs (state, finished_at);
ALTER TABLE errand_jobs ADD COLUMN snoozes INTEGER NOT NULL DEFAULT 0;
ALTER TABLE errand_jobs ADD COLUMN errors TEXT;
ALTER TABLE errand_jobs ADD COLUMN cancel_requested_at INTEGER;
ALTER TABLE errand_jobs ADD COLUMN cancel_reason TEXT;
ALTER TABLE errand_jobs ADD COLUMN progress REAL;
ALTER TABLE errand_jobs ADD COLUMN progress_message TEXT;
ALTER TABLE errand_jobs ADD COLUMN progress_at INTEGER;
)sql",
    R"sql(
-- Queues (docs/architecture.md, "Queues and limits"): every job belongs to a queue and may have
-- a partition key; a queue's settings are shared by every worker. Claims read a queue's ready
-- jobs in claim order (errand_jobs_runnable), or its keys in turn (errand_jobs_runnable_by_key).
-- A job without a key has none (NULL) outside a queue with a per-key limit, so that it is in one
-- index only; in such a queue it has the empty key ''.
ALTER TABLE errand_jobs ADD COLUMN queue TEXT NOT NULL DEFAULT 'default';
ALTER TABLE errand_jobs ADD COLUMN partition_key TEXT;
ALTER TABLE errand_finished_jobs ADD COLUMN queue TEXT NOT NULL DEFAULT 'default';
ALTER TABLE errand_finished_jobs ADD COLUMN partition_key TEXT;
DROP INDEX errand_jobs_runnable;
CREATE INDEX errand_jobs_runnable ON errand_jobs (queue, priority DESC, run_at)
  WHERE locked_by IS NULL;
CREATE INDEX errand_jobs_runnable_by_key ON errand_jobs (queue, partition_key, priority DESC, run_at)
  WHERE locked_by IS NULL AND partition_key IS NOT NULL;
CREATE TABLE errand_queues (
  name           TEXT    PRIMARY KEY,
  paused         INTEGER NOT NULL DEFAULT 0,
  global_limit   INTEGER,
  per_key_limit  INTEGER,
  rate_limit     INTEGER,
  rate_period_us INTEGER,
  rate_log       TEXT    NOT NULL DEFAULT '',          -- recent claims: "time:count ..."
  key_cursor     TEXT,                                 -- the last key served (per-key limit)
  updated_at     INTEGER NOT NULL
) WITHOUT ROWID;
INSERT INTO errand_queues (name, updated_at)
  VALUES ('default', CAST((julianday('now') - 2440587.5) * 86400000000 AS INTEGER));
)sql",
    R"sql(
-- Unique jobs (docs/architecture.md, "Unique jobs"): a job's key (core/unique_sql.hpp) is in
-- unique_key; the unique index holds each key once among live jobs, so an enqueue takes it with
-- INSERT ... ON CONFLICT DO NOTHING. Finished jobs keep theirs (completed ones may block).
ALTER TABLE errand_jobs ADD COLUMN unique_key BLOB;
ALTER TABLE errand_finished_jobs ADD COLUMN unique_key BLOB;
CREATE UNIQUE INDEX errand_jobs_unique_key ON errand_jobs (unique_key)
  WHERE unique_key IS NOT NULL;
CREATE INDEX errand_finished_jobs_unique_key ON errand_finished_jobs (unique_key, id)
  WHERE unique_key IS NOT NULL;
)sql",
    R"sql(
-- Recurring jobs (docs/architecture.md, "Recurring jobs"): each schedule a worker declared, and
-- each tick taken. A tick's job is inserted in the transaction that records the tick.
CREATE TABLE errand_schedules (
  name           TEXT    PRIMARY KEY,
  spec           TEXT    NOT NULL,
  zone           TEXT    NOT NULL,
  job_name       TEXT    NOT NULL,
  payload        TEXT    NOT NULL,
  queue          TEXT    NOT NULL,
  priority       INTEGER NOT NULL,
  partition_key  TEXT,
  missed_policy  TEXT    NOT NULL,                     -- skip, once, all
  missed_grace   INTEGER NOT NULL,                     -- durations: microseconds
  missed_window  INTEGER NOT NULL,
  missed_cap     INTEGER NOT NULL,
  overlap        TEXT    NOT NULL,                     -- allow, skip_if_running
  paused         INTEGER NOT NULL DEFAULT 0,
  created_at     INTEGER NOT NULL,
  seen_at        INTEGER NOT NULL,                     -- last declared by a worker
  last_tick      INTEGER,                              -- the latest tick handled
  last_job_id    INTEGER,                              -- the job of the latest tick with one
  fired          INTEGER NOT NULL DEFAULT 0,
  skipped        INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;
CREATE TABLE errand_cron_ticks (
  schedule  TEXT    NOT NULL,
  tick_at   INTEGER NOT NULL,
  catch_up  INTEGER NOT NULL,
  job_id    INTEGER,                                   -- NULL: skipped (overlap)
  taken_at  INTEGER NOT NULL,
  PRIMARY KEY (schedule, tick_at)
) WITHOUT ROWID;
)sql",
    R"sql(
-- The queues each worker serves (`errand workers`, the dashboard): a JSON array of their names,
-- NULL for every queue.
ALTER TABLE errand_workers ADD COLUMN queues TEXT;
)sql",
    R"sql(
-- What the workers did per minute and queue (Store::record_activity): the dashboard's charts.
-- Times and durations in microseconds; pruned after kActivityKept.
CREATE TABLE errand_activity (
  minute       INTEGER NOT NULL,
  queue        TEXT    NOT NULL,
  completed    INTEGER NOT NULL,
  failed       INTEGER NOT NULL,
  started      INTEGER NOT NULL,
  latency_sum  INTEGER NOT NULL,
  latency_max  INTEGER NOT NULL,
  PRIMARY KEY (minute, queue)
) WITHOUT ROWID;
)sql",
    R"sql(
-- Counts with a limit (Store::counts, list_queues: the dashboard on big tables) read indexes and
-- stop at the limit: the failing jobs (few rows: only jobs that failed an attempt are in it), and
-- each queue's finished jobs by state.
CREATE INDEX errand_jobs_failing ON errand_jobs (queue) WHERE error_count > 0;
CREATE INDEX errand_finished_jobs_by_queue ON errand_finished_jobs (queue, state);
)sql",
    R"sql(
-- The workers' counters summed across every process (Store::add_metric_totals): what a
-- standalone `errand web` serves as errand_cluster_* metrics. Never pruned.
CREATE TABLE errand_metric_totals (
  name      TEXT    NOT NULL,
  queue     TEXT    NOT NULL,
  job_type  TEXT    NOT NULL,
  schedule  TEXT    NOT NULL,
  value     INTEGER NOT NULL,
  PRIMARY KEY (name, queue, job_type, schedule)
) WITHOUT ROWID;
)sql",
};

bool table_exists(Connection& connection, std::string_view table) {
  auto query = connection.query(sql::kTableExists);
  query->bind(1, table);
  return query->step();
}

// Switching to WAL needs a moment with no other connection in the file; retry while others
// are starting up too, for up to the busy timeout.
void enable_wal(Connection& connection) {
  const auto deadline = std::chrono::steady_clock::now() + connection.busy_timeout();
  for (;;) {
    char* error = nullptr;
    const int rc =
        sqlite3_exec(connection.handle(), sql::kEnableWal.data(), nullptr, nullptr, &error);
    sqlite3_free(error);
    if (rc == SQLITE_OK) return;
    if ((rc & 0xff) != SQLITE_BUSY || std::chrono::steady_clock::now() >= deadline) {
      connection.fail(rc, sql::kEnableWal);
    }
    sqlite3_sleep(10);
  }
}

// For OpenMode::existing and read_only: the stored version when it is this build's, else
// StoreError naming `errand migrate` (nothing is created or migrated).
int require_current(Connection& connection) {
  const int version = stored_schema_version(connection);
  const int latest = static_cast<int>(kMigrations.size());
  if (version == latest) return version;
  if (version == 0) {
    throw StoreError(fmt::format(
        "SQLite database '{}' holds no errand schema (it is empty or another program's); "
        "`errand migrate --db sqlite:{}` creates errand's tables in it",
        connection.path(), connection.path()));
  }
  throw StoreError(fmt::format(
      "SQLite database '{}' has errand schema version {}, this build uses {}: run `errand "
      "migrate --db sqlite:{}` to upgrade it",
      connection.path(), version, latest, connection.path()));
}

}  // namespace

int latest_schema_version() {
  return static_cast<int>(kMigrations.size());
}

int stored_schema_version(Connection& connection) {
  if (!table_exists(connection, "errand_meta")) return 0;
  auto query = connection.query(sql::kReadSchemaVersion);
  if (!query->step()) return 0;
  return detail::parse_schema_version(query->text(0),
                                      {"SQLite database", connection.path(), "errand_meta"});
}

int prepare_schema(Connection& connection) {
  // Reading the schema is the first access: it fails (writing nothing) on a non-database file.
  try {
    connection.query(sql::kReadSchema)->run();
  } catch (const StoreError& e) {
    const int code = sqlite3_errcode(connection.handle()) & 0xff;
    if (code == SQLITE_NOTADB || code == SQLITE_CORRUPT) {
      throw StoreError(
          fmt::format("'{}' is not a SQLite database (or is corrupt); errand left it untouched",
                      connection.path()));
    }
    throw;
  }
  const auto check_not_newer = [&](int version) {
    if (version > latest_schema_version()) {
      throw StoreError(fmt::format(
          "SQLite database '{}' has errand schema version {}, written by a newer errand; this "
          "build knows versions up to {}. Refusing to use it; upgrade errand.",
          connection.path(), version, latest_schema_version()));
    }
  };
  check_not_newer(stored_schema_version(connection));
  if (connection.mode() != OpenMode::create) return require_current(connection);

  enable_wal(connection);

  Transaction tx(connection, Transaction::Behavior::immediate);
  int version = stored_schema_version(connection);  // again: another process may have migrated
  check_not_newer(version);
  if (version == latest_schema_version()) return version;  // rolls back the empty transaction
  if (version == 0) {
    connection.exec(sql::kCreateMeta);
  }
  for (; version < latest_schema_version(); ++version) {
    connection.exec(kMigrations[static_cast<std::size_t>(version)]);
  }
  auto update = connection.query(sql::kWriteSchemaVersion);
  update->bind(1, std::to_string(version));
  update->run();
  tx.commit();
  return version;
}

}  // namespace errand::sqlite
