#include "bench_retained.hpp"

#include "core/url.hpp"
#include "postgres/pq.hpp"

#include <errand/error.hpp>

#include <fmt/format.h>
#include <sqlite3.h>

#include <algorithm>
#include <memory>

namespace errand::cli {

namespace {

constexpr std::int64_t kRowsPerTransaction = 100'000;

// The SQL of one batch, rows first + 1 .. first + n; ids from 1,000,000,000,000 so that they
// never meet the drain's.
std::string sqlite_batch(std::int64_t first, std::int64_t n) {
  return fmt::format(
      "WITH RECURSIVE g(i) AS (SELECT {first} UNION ALL SELECT i + 1 FROM g WHERE i < {last}) "
      "INSERT INTO errand_finished_jobs (id, name, payload, context, priority, run_at, "
      "created_at, error_count, state, finished_at, output) "
      "SELECT 1000000000000 + i, 'errand.bench.noop', printf('{{\"n\":%d}}', i), 'bench', 0, t, "
      "t, 0, 'completed', t, NULL FROM g, (SELECT (unixepoch('now') - 3600) * 1000000 AS t)",
      fmt::arg("first", first + 1), fmt::arg("last", first + n));
}

std::string postgres_batch(const std::string& schema, std::int64_t first, std::int64_t n) {
  return fmt::format(
      "INSERT INTO {s}.finished_jobs (id, name, payload, context, priority, run_at, created_at,"
      " error_count, state, finished_at, output)"
      " SELECT 1000000000000 + g, 'errand.bench.noop', '{{\"n\":' || g || '}}', 'bench', 0, t,"
      "  t, 0, 'completed', t, NULL"
      " FROM generate_series({first}, {last}) g, (SELECT now() - interval '1 hour' AS t) t",
      fmt::arg("s", schema), fmt::arg("first", first + 1), fmt::arg("last", first + n));
}

void fill_sqlite(const std::string& path, std::int64_t rows) {
  sqlite3* raw = nullptr;
  const int rc = sqlite3_open_v2(path.c_str(), &raw, SQLITE_OPEN_READWRITE, nullptr);
  std::unique_ptr<sqlite3, int (*)(sqlite3*)> db(raw, sqlite3_close);
  const auto run = [&](const std::string& sql) {
    char* error = nullptr;
    if (sqlite3_exec(db.get(), sql.c_str(), nullptr, nullptr, &error) != SQLITE_OK) {
      const std::string message = error ? error : "unknown error";
      sqlite3_free(error);
      throw StoreError(fmt::format("bench: filling '{}' with retained jobs: {}", path, message));
    }
  };
  if (rc != SQLITE_OK) throw StoreError(fmt::format("bench: cannot open '{}'", path));
  sqlite3_busy_timeout(db.get(), 5000);
  for (std::int64_t first = 0; first < rows; first += kRowsPerTransaction) {
    run("BEGIN IMMEDIATE");
    run(sqlite_batch(first, std::min(kRowsPerTransaction, rows - first)));
    run("COMMIT");
  }
  run("PRAGMA wal_checkpoint(TRUNCATE)");
}

void fill_postgres(const detail::StoreUrl& url, std::int64_t rows) {
  pg::Connection c(url.conninfo);
  const std::string schema = pg::quote_identifier(url.schema.value_or("errand"));
  for (std::int64_t first = 0; first < rows; first += kRowsPerTransaction)
    c.exec(postgres_batch(schema, first, std::min(kRowsPerTransaction, rows - first)));
  c.exec(fmt::format("VACUUM (ANALYZE) {}.finished_jobs", schema));
  // Written out now, not by a checkpoint during the drain (needs a superuser or pg_checkpoint:
  // without, the drain may share the machine with that checkpoint).
  try {
    c.exec("CHECKPOINT");
  } catch (const StoreError&) {
  }
}

}  // namespace

void fill_completed(const std::string& url, std::int64_t rows) {
  if (rows <= 0) return;
  const detail::StoreUrl parsed = detail::parse_store_url(url);
  if (parsed.kind == detail::StoreUrl::Kind::sqlite) {
    fill_sqlite(parsed.sqlite_path, rows);
  } else {
    fill_postgres(parsed, rows);
  }
}

}  // namespace errand::cli
