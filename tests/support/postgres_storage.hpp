// PostgreSQL for the *_pgtest tests: the server comes from the environment (scripts/test and
// scripts/with-postgres start a throwaway cluster and export these):
//   ERRAND_TEST_PG_URL   postgres://USER@HOST:PORT/DB of a server the tests may write to
//   ERRAND_TEST_PG_CTL   command prefix running pg_ctl on that server (restart tests only)
//   ERRAND_REQUIRE_PG=1  a missing variable fails the test instead of skipping it
// Every PostgresStorage works in a fresh schema of its own, dropped at the end, so tests may run
// in parallel against one server.
#pragma once

#include "support/store_factory.hpp"

#include <errand/postgres.hpp>

#include <chrono>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace errand_test {

// ERRAND_TEST_PG_URL. When unset, records a skip of the current test (a failure when
// ERRAND_REQUIRE_PG=1) and returns nullopt: the caller must then return.
std::optional<std::string> postgres_url_or_skip();
// The server for the test's own raw libpq sessions (inspection, set-up, locks):
// ERRAND_TEST_PG_DIRECT_URL when set (the PgBouncer stage, where ERRAND_TEST_PG_URL is PgBouncer's
// with errand's pooler=transaction), else `url`.
std::string direct_url(const std::string& url);
// True when `url` says pooler=transaction (errand's own parameter: PgBouncer in front).
bool behind_transaction_pooler(const std::string& url);
// ERRAND_TEST_PG_CTL, likewise.
std::optional<std::string> postgres_ctl_or_skip();

// `url` (a postgres:// URL or a key=value conninfo) with one more libpq parameter.
std::string with_conninfo_parameter(const std::string& url, std::string_view key,
                                    std::string_view value);
// `url` whose sessions use `schema` as search_path and give up waiting for a lock after
// `lock_timeout` (0: wait forever).
std::string session_conninfo(const std::string& url, std::string_view schema,
                             std::chrono::milliseconds lock_timeout);
// "name" as a quoted SQL identifier.
std::string quote_identifier(std::string_view name);
// A fresh schema name, unique across processes and runs: errand_t_<pid>_<counter>_<random>.
std::string unique_schema_name();

// A libpq connection of the test's own. Not thread-safe. Throws std::runtime_error. When the
// server went away (restart tests) it reconnects and runs the statement once more, so keep it for
// inspection and set-up, where running a statement twice does no harm.
class PgConnection {
 public:
  explicit PgConnection(const std::string& conninfo);
  ~PgConnection();
  PgConnection(const PgConnection&) = delete;
  PgConnection& operator=(const PgConnection&) = delete;

  // Runs one or more statements; every row of the last one, columns as text (nullopt: NULL).
  std::vector<Row> rows(std::string_view sql);
  void exec(std::string_view sql) { rows(sql); }
  std::optional<std::string> text(std::string_view sql);
  std::optional<std::int64_t> integer(std::string_view sql);
  PGconn* native() const { return conn_; }

 private:
  PGconn* conn_ = nullptr;
};

class PostgresStorage final : public TestStorage {
 public:
  // Works in a new schema (created by the first store opened) in the database of `url`.
  explicit PostgresStorage(std::string url, std::string schema = unique_schema_name());
  // Drops the schema with everything in it.
  ~PostgresStorage() override;

  // errand::open_postgres on the schema; StoreTuning::busy_timeout becomes the sessions'
  // lock_timeout. A null `clock` means the database clock.
  std::shared_ptr<errand::Store> open(std::shared_ptr<const errand::Clock> clock,
                                      StoreTuning tuning = {}) override;
  // ERRAND_TEST_PG_URL with ?schema=NAME, as errand::open_store and the CLI take it.
  std::string url() const override;
  std::string table(std::string_view logical) const override;
  std::vector<Row> rows(std::string_view sql) override;
  std::string micros(std::string_view column) const override;
  // Holds LOCK TABLE jobs IN EXCLUSIVE MODE in an open transaction: writes wait, reads do not.
  std::unique_ptr<WriteBlock> block_writes() override;

  const std::string& schema() const { return schema_; }
  // The server URL without errand's parameters (what libpq and open_postgres take).
  const std::string& server_url() const { return url_; }
  // A conninfo whose sessions have search_path = the schema (on the server directly, never
  // through a pooler).
  std::string conninfo() const;

 private:
  std::string url_;
  std::string direct_url_;
  std::string schema_;
  std::mutex mutex_;  // job threads and the test thread may inspect at once
  std::unique_ptr<PgConnection> db_;
};

// PostgreSQL in a fresh schema of ERRAND_TEST_PG_URL's database; skips without it.
StoreFactory postgres_factory();

}  // namespace errand_test
