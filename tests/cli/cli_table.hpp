// The CLI test table: each row runs the real `errand` binary once against a freshly prepared
// database and checks its exit code, what it printed, and whether the database changed (every
// row of every table of errand's, and for SQLite the list of files in the database's directory,
// snapshotted before and after). The rows are in cli_rows.cpp; cli_table_test.cpp runs them on
// SQLite, cli_table_pgtest.cpp on PostgreSQL (ERRAND_TEST_PG_URL).
//
// Adding a row is one line in cli_rows.cpp:
//   {"purge_needs_a_filter", {"dead", "purge", "--db={db}"}, kFailed, {"--all", "--name TYPE"}},
// i.e. {name, args, exit code, substrings of stdout+stderr it must print, substrings it must
// not print, Db::unchanged (the default) / changed / any, the Setup (default: standard), the
// stores it runs on (default: both)}. In args and substrings, {db} is the prepared database's
// URL, {dead_a} / {dead_b} the ids of its two dead jobs, {running} the id of its running job,
// {mail_job} (Setup::queues) the id of a running job of queue "mail" with partition key "alice",
// {db_password} {db} with the password kRowPassword in it (PostgreSQL), {silent} a postgres://
// URL (holding kRowPassword) of a loopback server that accepts connections and never answers.
#pragma once

#include <gtest/gtest.h>

#include <ostream>
#include <string>
#include <string_view>
#include <vector>

namespace errand_test {

// The prepared database a row runs against.
enum class Setup {
  // 2 ready jobs, 2 scheduled (one of them failing once), 1 running (locked by worker
  // "cli-test", registered), 2 dead: {dead_a} of type Fail, {dead_b} of type Text.
  standard,
  empty,        // migrated, no rows
  dead_only,    // one dead job ({dead_a}, type Fail), nothing else
  worker_only,  // one registered worker, no jobs
  missing,      // no database: a file that does not exist / a schema that does not exist
  // standard, read-only for the errand process: SQLite: the file and its directory are not
  // writable (as root the binary runs as nobody); PostgreSQL: the session is
  // default_transaction_read_only.
  read_only,
  // SQLite only: standard, read-only as above, while the test holds a connection open with a
  // committed job still in the WAL (so the -wal and -shm files exist): {db} must see it.
  read_only_live,
  old_schema,  // SQLite only: errand schema version 1 (older than this build's)
  foreign,     // SQLite only: a SQLite database of another program (no errand tables)
  // standard, with invalid stored values (issue 10 class 2): schema_version '-2' ...
  bad_version,
  // ... or one job's run_at, the dead jobs' created_at (SQLite: 'abc', PostgreSQL: 'infinity')
  // and the worker's pid (0).
  bad_values,
  // standard (queue "default"), and queue "mail": 3 jobs, 2 running ({mail_job}, key alice, and
  // one of key bob), 1 ready (bob); limits global 50, per key 2, rate 10/h (2 used); and queue
  // "reports", paused, with 1 ready job.
  queues,
};

enum class Db { unchanged, changed, any };

// The password of {db_password} and {silent}: no output may show any piece of it.
inline constexpr std::string_view kRowPassword = "Hunter2/Secret?x";
enum class Stores { both, sqlite, postgres };

// Exit codes: a failed command (main prints "errand: ..."), CLI11's invalid-value and
// missing-value errors.
inline constexpr int kOk = 0;
inline constexpr int kFailed = 1;
inline constexpr int kBadValue = 105;
inline constexpr int kRequired = 106;  // a required option or positional not given
inline constexpr int kMissingValue = 114;

struct CliRow {
  std::string name;  // unique, [A-Za-z0-9_]: the test's name
  std::vector<std::string> args;
  int exit_code = kOk;
  std::vector<std::string> says{};
  std::vector<std::string> never_says{};
  Db db = Db::unchanged;
  Setup setup = Setup::standard;
  Stores stores = Stores::both;
};

// Every row (cli_rows.cpp).
std::vector<CliRow> cli_rows();
// The lifecycle commands' rows (cli_rows_lifecycle.cpp), part of cli_rows().
void lifecycle_rows(std::vector<CliRow>& r);
// The rows of `errand queues` (cli_rows_queues.cpp), part of cli_rows().
void queues_rows(std::vector<CliRow>& r);
// The rows that run on `store` ("sqlite" or "postgres"); throws when two rows share a name.
std::vector<CliRow> cli_rows_for(const std::string& store);

// One row on one store: the parameter of the CliTable test.
struct CliCase {
  std::string store;
  CliRow row;
};
void PrintTo(const CliCase& c, std::ostream* os);
class CliTable : public ::testing::TestWithParam<CliCase> {};
std::vector<CliCase> cli_cases(const std::string& store);
std::string cli_case_name(const ::testing::TestParamInfo<CliCase>& info);

}  // namespace errand_test
