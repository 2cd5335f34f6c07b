// The PostgreSQL store: many worker processes on many machines sharing one database.
#pragma once

#include <errand/clock.hpp>
#include <errand/enqueue.hpp>
#include <errand/store.hpp>

#include <chrono>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

// libpq's connection type (from libpq-fe.h), declared here so this header does not need libpq's.
typedef struct pg_conn PGconn;

namespace errand {

struct PostgresOptions {
  // Schema holding errand's tables; created when missing.
  std::string schema = "errand";
  // false: never LISTEN (for PgBouncer in transaction pooling mode, where LISTEN does not work);
  // other processes' enqueues are then seen within the worker's poll interval.
  bool listen = true;
  // PgBouncer (or another pooler) in transaction pooling mode (URL: pooler=transaction): each
  // transaction may run on another server connection, so errand uses unnamed statements only,
  // makes its settings transaction-local (with each statement that takes parameters) instead
  // of session-wide, and never LISTENs (as with listen = false).
  bool transaction_pooler = false;
  // 0 (the default): statements may run as long as they need. Otherwise the server cancels a
  // statement after this long, and a wait for a lock too (statement_timeout and lock_timeout),
  // and errand gives up on a reply 5 s later still (a server that does not answer at all). The
  // errand command uses 30 s.
  std::chrono::milliseconds statement_timeout{0};
  // How long opening the store waits for another session's migration lock. The lock is taken
  // only when the schema needs a migration.
  std::chrono::milliseconds migration_lock_timeout{60'000};
  // Connections kept open for enqueues, claims and settles (the listener has its own).
  std::size_t pool_size = 4;
  // A queue table's index entries of claimed and finished jobs stay until VACUUM removes them,
  // and every claim scans past them, so claims slow down as a drain goes on: autovacuum checks a
  // table at most once per autovacuum_naptime (1 min by default). So after this many rows were
  // claimed or settled through this store, it runs `VACUUM (SKIP_LOCKED, INDEX_CLEANUP ON)` on
  // the jobs table in the background, on a connection of its own (skipped when another VACUUM
  // holds the table; a no-op with a warning for a role that does not own the table). 0: never.
  std::size_t vacuum_after = 10'000;
  // true (URL: claim_commit=async): the worker's settle-and-claim rounds commit without waiting
  // for the server to flush them to disk (synchronous_commit = off for those transactions only;
  // enqueues and everything else stay durable). A round returns about 0.2-0.3 ms sooner, which
  // is most of what lies between errand and 1 ms from enqueue to start. The price: after a crash
  // of the database server (not of a worker), the rounds of its last moments (up to 3 x
  // wal_writer_delay, 600 ms by default) may be lost. A job whose claim was lost is claimed
  // again, and may start a second time while its first run goes on; a job whose completion was
  // lost runs again. Both are at-least-once runs, as after a worker's crash, but the first can
  // overlap. false (the default): every round is durable when it returns.
  bool asynchronous_claims = false;
  // Clock for stored timestamps. Empty (the default): the database's now(), so hosts with
  // skewed clocks agree. Tests inject a ManualClock.
  std::shared_ptr<const Clock> clock{};
  // Whether a missing database is created and migrated, or refused (see OpenMode).
  OpenMode mode = OpenMode::create;
};

// Connects with a libpq conninfo string or URL (postgres://user@host:port/db?...; the usual PG*
// environment variables fill in what is missing), then runs pending migrations under an
// advisory lock. Throws StoreError (passwords masked) when the server cannot be reached.
std::shared_ptr<Store> open_postgres(const std::string& conninfo, PostgresOptions options = {});

int postgres_schema_version();

// Inserts rows on the caller's own connection, inside the caller's open transaction: the jobs
// exist if and only if the caller commits (the outbox pattern), and workers are notified at that
// commit. Times come from the database clock. Throws StoreError; the caller's transaction is then
// aborted, as after any failed statement. Unique jobs (errand/unique.hpp) are refused here, before
// anything is sent: enqueue them through a Store.
std::vector<JobId> enqueue_rows(PGconn* connection, std::span<const NewJob> rows,
                                std::string_view schema = "errand");

// enqueue() on the caller's connection and transaction (see enqueue_rows):
//   PQexec(conn, "BEGIN"); ...the application's own writes...;
//   errand::enqueue(conn, SendReceipt{order_id}, {.context = "checkout"});
//   PQexec(conn, "COMMIT");
// Throws EnqueueError.
template <class J>
JobId enqueue(PGconn* connection, const J& job, EnqueueOptions options = {},
              std::string_view schema = "errand") {
  detail::check_enqueueable<J>();
  const NewJob row = detail::to_row(job, std::move(options));
  try {
    return enqueue_rows(connection, std::span<const NewJob>(&row, 1), schema).front();
  } catch (const StoreError& e) {
    throw EnqueueError(EnqueueError::Kind::storage, e.what());
  }
}

}  // namespace errand
