// errand bench on PostgreSQL, interrupted: Ctrl-C / SIGTERM drop every bench_* schema, a second
// Ctrl-C during that clean-up says what is left, a kill -9's leftovers are dropped by the next run,
// a running bench's schemas and anything that is not a dead run's errand store are left alone; a
// password in the URL appears nowhere (output, errors, worker command lines). Each test works in
// a database of its own, so that runs of other tests never sweep its leftovers.
#include "support/bench_process.hpp"
#include "support/jobs.hpp"
#include "support/postgres_storage.hpp"
#include "support/temp_dir.hpp"
#include "support/text.hpp"
#include "support/wait.hpp"

#include <errand/admin.hpp>
#include <errand/errand.hpp>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <signal.h>
#include <sys/wait.h>

#include <charconv>
#include <random>
#include <set>
#include <sstream>

using errand_test::CliProcess;
using errand_test::lines_starting;
using errand_test::PgConnection;

namespace {

using errand_test::contains;

std::string random_hex() {
  std::random_device rd;
  return fmt::format("{:08x}", rd());
}

// `url` (postgres://USER@HOST:PORT/DB...) naming database `db` instead.
std::string with_database(const std::string& url, const std::string& db) {
  const auto authority = url.find("://") + 3;
  const auto slash = url.find('/', authority);
  const auto query = url.find('?', authority);
  const std::string base = url.substr(0, slash == std::string::npos ? query : slash);
  return base + "/" + db + (query == std::string::npos ? "" : url.substr(query));
}

// `url` with `password` after its user name (the throwaway cluster trusts every connection).
std::string with_password(const std::string& url, const std::string& password) {
  const auto authority = url.find("://") + 3;
  const auto at = url.find('@', authority);
  if (at == std::string::npos || url.find(':', authority) < at) return {};
  return url.substr(0, at) + ":" + password + url.substr(at);
}

// Long enough that the bench is still in the phase when the test signals it (the test waits for
// the phase to begin, never for a time).
const std::vector<std::string> kLongDrain = {"--skip",        "enqueue", "--jobs",     "20000",
                                             "--concurrency", "1",       "--prefetch", "0"};
const std::vector<std::string> kLongListen = {"--skip", "enqueue,drain,latency",
                                              "--latency-samples", "1000000"};
const std::vector<std::string> kShort = {
    "--jobs", "50", "--enqueue-single", "5", "--latency-samples", "3", "--json"};

class BenchPg : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto server = errand_test::postgres_url_or_skip();
    if (!server) return;
    server_ = std::make_unique<PgConnection>(*server);
    database_ = "errand_bench_t_" + random_hex();
    server_->exec("CREATE DATABASE " + database_);
    url_ = with_database(*server, database_);
    db_ = std::make_unique<PgConnection>(url_);
  }
  void TearDown() override {
    db_.reset();
    if (server_) server_->exec("DROP DATABASE IF EXISTS " + database_ + " WITH (FORCE)");
  }

  std::unique_ptr<CliProcess> start(const std::vector<std::string>& workload,
                                    const std::string& url) {
    std::vector<std::string> args = {"bench", "--db=" + url};
    args.insert(args.end(), workload.begin(), workload.end());
    return std::make_unique<CliProcess>(ERRAND_CLI, args, logs.path());
  }
  std::unique_ptr<CliProcess> start(const std::vector<std::string>& workload) {
    return start(workload, url_);
  }
  errand_test::CliRun run(const std::vector<std::string>& workload, const std::string& url) {
    std::vector<std::string> args = {"bench", "--db=" + url};
    args.insert(args.end(), workload.begin(), workload.end());
    return errand_test::run_cli(ERRAND_CLI, args, logs.path());
  }
  errand_test::CliRun run(const std::vector<std::string>& workload) { return run(workload, url_); }

  // The schemas of the test's database whose name starts with "bench".
  std::set<std::string> bench_schemas() {
    std::set<std::string> names;
    for (const auto& row :
         db_->rows("SELECT nspname FROM pg_namespace WHERE nspname LIKE 'bench%'")) {
      names.insert(*row.at(0));
    }
    return names;
  }

  // Waits until a schema whose name ends with `suffix` exists (while `bench` runs).
  std::string wait_for_schema(const CliProcess& bench, std::string_view suffix) {
    std::string found;
    errand_test::eventually([&] {
      for (const auto& name : bench_schemas()) {
        if (name.ends_with(suffix)) found = name;
      }
      return !found.empty() || errand_test::process_gone(bench.pid());
    });
    EXPECT_FALSE(found.empty()) << "no schema *" << suffix << " appeared\n" << bench.err();
    return found;
  }

  // True once no session holds the ownership lock of the run that created `schema`
  // (bench_<tag>_<phase>): its key is the tag's two 32-bit halves.
  bool run_lock_free(const std::string& schema) {
    std::uint64_t tag = 0;
    std::from_chars(schema.data() + 6, schema.data() + 22, tag, 16);
    return db_->integer(fmt::format(
               "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND objsubid = 2 AND "
               "classid = {} AND objid = {} AND database = (SELECT oid FROM pg_database WHERE "
               "datname = current_database())",
               tag >> 32, tag & 0xffffffffu)) == 0;
  }

  // Once the run that created `schema` is gone, a short run through `url` (default: url_) removes
  // it, saying so in one line, and leaves no bench schema; returns that run's output.
  errand_test::CliRun expect_next_run_removes(const std::string& schema, std::string url = {}) {
    EXPECT_TRUE(errand_test::eventually([&] { return run_lock_free(schema); }));
    auto next = run(kShort, url.empty() ? url_ : url);
    EXPECT_TRUE(WIFEXITED(next.status) && WEXITSTATUS(next.status) == 0) << next.err;
    const auto said = lines_starting(next.err, "bench: removed the leftovers");
    EXPECT_EQ(said.size(), 1u) << next.err;
    EXPECT_TRUE(!said.empty() && contains(said[0], schema)) << next.err;
    EXPECT_TRUE(bench_schemas().empty()) << *bench_schemas().begin();
    return next;
  }

  errand_test::TempDir logs;
  std::unique_ptr<PgConnection> server_;
  std::unique_ptr<PgConnection> db_;
  std::string database_;
  std::string url_;
};

struct Interrupt {
  const char* phase;  // one with a worker process
  int signo;
  int exit_code;
};

class BenchPgInterrupt : public BenchPg, public ::testing::WithParamInterface<Interrupt> {};

TEST_P(BenchPgInterrupt, DropsEverySchemaStopsTheWorkerAndExitsWith128PlusTheSignal) {
  const Interrupt& p = GetParam();
  const std::string phase = p.phase;
  auto bench = start(phase == "drain" ? kLongDrain : kLongListen);
  const std::string schema = wait_for_schema(*bench, "_" + phase);
  const pid_t worker = errand_test::wait_for_bench_worker(*bench);
  bench->signal(p.signo);
  errand_test::expect_exit_code(*bench, p.exit_code);
  const auto said = lines_starting(bench->err(), std::string("bench: interrupted by ") +
                                                     (p.signo == SIGINT ? "SIGINT" : "SIGTERM"));
  ASSERT_EQ(said.size(), 1u) << bench->err();
  EXPECT_TRUE(contains(said[0], "stopped 1 worker process(es); removed ")) << said[0];
  EXPECT_TRUE(contains(said[0], schema)) << said[0];
  EXPECT_TRUE(bench_schemas().empty()) << *bench_schemas().begin();
  EXPECT_TRUE(errand_test::process_gone(worker));
}

INSTANTIATE_TEST_SUITE_P(
    PhasesWithWorkers, BenchPgInterrupt,
    ::testing::Values(Interrupt{"drain", SIGINT, 130}, Interrupt{"drain", SIGTERM, 143},
                      Interrupt{"listen", SIGINT, 130}, Interrupt{"listen", SIGTERM, 143}),
    [](const auto& info) {
      return std::string(info.param.phase) + (info.param.signo == SIGINT ? "Sigint" : "Sigterm");
    });

TEST_F(BenchPg, ASecondSigintDuringTheCleanUpNamesWhatIsLeftAndTheNextRunDropsIt) {
  auto bench = start(kLongDrain);
  const std::string schema = wait_for_schema(*bench, "_drain");
  errand_test::wait_for_bench_worker(*bench);
  // Holding a lock on its jobs table makes the clean-up's DROP wait (up to its 5 s lock timeout).
  PgConnection blocker(url_);
  blocker.exec("BEGIN; LOCK TABLE \"" + schema + "\".jobs IN ACCESS SHARE MODE");
  bench->signal(SIGINT);
  ASSERT_TRUE(errand_test::eventually([&] {
    return db_->integer(
               "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
               "AND wait_event_type = 'Lock' AND query LIKE 'DROP TABLE%'") == 1;
  })) << bench->err();
  bench->signal(SIGINT);
  errand_test::expect_exit_code(*bench, 130);
  const auto said = lines_starting(bench->err(), "bench: stopped during the clean-up by SIGINT");
  ASSERT_EQ(said.size(), 1u) << bench->err();
  EXPECT_TRUE(contains(said[0], "left behind: " + schema)) << said[0];
  EXPECT_TRUE(lines_starting(bench->err(), "bench: interrupted").empty()) << bench->err();
  EXPECT_EQ(bench_schemas(), std::set<std::string>{schema});

  blocker.exec("ROLLBACK");
  expect_next_run_removes(schema);
}

TEST_F(BenchPg, TheNextRunDropsTheSchemasOfAKilledRun) {
  auto killed = start(kLongDrain);
  const std::string schema = wait_for_schema(*killed, "_drain");
  const pid_t worker = errand_test::wait_for_bench_worker(*killed);
  killed->signal(SIGKILL);
  ASSERT_TRUE(killed->wait(errand_test::kDeadline));
  ASSERT_TRUE(errand_test::eventually([&] { return errand_test::process_gone(worker); }));
  ASSERT_TRUE(bench_schemas().count(schema));
  expect_next_run_removes(schema);
}

TEST_F(BenchPg, ARunningBenchsSchemasAreLeftAlone) {
  auto running = start(kLongDrain);
  const std::string schema = wait_for_schema(*running, "_drain");
  errand_test::wait_for_bench_worker(*running);
  const auto before = bench_schemas();

  const auto other = run(kShort);
  ASSERT_TRUE(WIFEXITED(other.status) && WEXITSTATUS(other.status) == 0) << other.err;
  EXPECT_TRUE(lines_starting(other.err, "bench: removed").empty()) << other.err;
  EXPECT_EQ(bench_schemas(), before);

  running->signal(SIGINT);
  errand_test::expect_exit_code(*running, 130);
  EXPECT_TRUE(bench_schemas().empty()) << *bench_schemas().begin();
}

TEST_F(BenchPg, TheRunsLockHoldsBackNoVacuum) {
  auto bench = start(kLongDrain);
  wait_for_schema(*bench, "_drain");
  errand_test::wait_for_bench_worker(*bench);
  // The one session idle in a transaction is the run's lock holder: without a snapshot it does
  // not keep VACUUM from removing the drain's dead rows.
  const auto holders = db_->rows(
      "SELECT backend_xmin FROM pg_stat_activity WHERE datname = current_database() "
      "AND state = 'idle in transaction'");
  ASSERT_EQ(holders.size(), 1u);
  EXPECT_FALSE(holders[0].at(0).has_value()) << "backend_xmin " << *holders[0].at(0);
  bench->signal(SIGINT);
  errand_test::expect_exit_code(*bench, 130);
}

TEST_F(BenchPg, NothingButADeadRunsErrandSchemasIsDropped) {
  const std::string tag = "0123456789abcdef";
  const auto errand_store = [&](const std::string& schema) {
    errand::open_store(url_ + "?schema=" + schema);
  };
  // A dead run's stores (nobody holds its lock): one errand's, one never errand's, one errand's
  // with a table of someone else's in it.
  errand_store("bench_" + tag + "_single");
  db_->exec("CREATE SCHEMA bench_" + tag + "_drain; CREATE TABLE bench_" + tag +
            "_drain.mine (x int); INSERT INTO bench_" + tag + "_drain.mine VALUES (1)");
  errand_store("bench_" + tag + "_latency");
  db_->exec("CREATE TABLE bench_" + tag + "_latency.mine (x int)");
  // Errand stores whose names are not an unkept run's.
  const std::vector<std::string> others = {"bench_keep_" + tag + "_drain", "bench_" + tag + "_x",
                                           "bench_0123_drain", "benchx_" + tag + "_drain",
                                           "bench_0123456789ABCDEF_drain"};
  for (const auto& name : others)
    errand_store(name);

  const auto result = run(kShort);
  ASSERT_TRUE(WIFEXITED(result.status) && WEXITSTATUS(result.status) == 0) << result.err;
  const auto removed = lines_starting(result.err, "bench: removed the leftovers");
  ASSERT_EQ(removed.size(), 1u) << result.err;
  EXPECT_TRUE(contains(removed[0], "bench_" + tag + "_single")) << removed[0];
  const auto refused = lines_starting(result.err, "bench: left alone:");
  ASSERT_EQ(refused.size(), 2u) << result.err;
  // Without a meta table only an empty schema could go; with a foreign table, not errand's.
  EXPECT_TRUE(contains(refused[0], "'bench_" + tag + "_drain' was not removed")) << refused[0];
  EXPECT_TRUE(contains(refused[1], "'bench_" + tag + "_latency' was not removed")) << refused[1];

  std::set<std::string> expected(others.begin(), others.end());
  expected.insert("bench_" + tag + "_drain");
  expected.insert("bench_" + tag + "_latency");
  EXPECT_EQ(bench_schemas(), expected);
  EXPECT_EQ(db_->integer("SELECT x FROM bench_" + tag + "_drain.mine"), 1);
  EXPECT_EQ(db_->integer("SELECT count(*) FROM bench_" + tag + "_latency.jobs"), 0);
}

TEST_F(BenchPg, RemoveStoreDropsOnlyAnErrandSchemaWithNothingElseInIt) {
  const auto url = [&](const std::string& schema) { return url_ + "?schema=" + schema; };
  auto store = errand::open_store(url("s_errand"));
  errand::enqueue(*store, errand_test::RecordJob{.tag = 1});
  store.reset();
  EXPECT_TRUE(errand::remove_store(url("s_errand")));
  EXPECT_EQ(db_->integer("SELECT count(*) FROM pg_namespace WHERE nspname = 's_errand'"), 0);
  EXPECT_FALSE(errand::remove_store(url("s_errand")));

  db_->exec(
      "CREATE SCHEMA s_foreign; CREATE TABLE s_foreign.meta (key text, value text);"
      "CREATE SCHEMA s_empty;");
  errand::open_store(url("s_extra"));
  db_->exec("CREATE TABLE s_extra.mine (x int); CREATE VIEW s_extra.v AS SELECT 1 AS one");
  errand::open_store(url("s_view"));
  db_->exec("CREATE SCHEMA s_other; CREATE VIEW s_other.v AS SELECT id FROM s_view.jobs");
  errand::open_store(url("s_newer"));
  db_->exec("UPDATE s_newer.meta SET value = '999' WHERE key = 'schema_version'");
  errand::open_store(url("s_odd"));
  db_->exec("UPDATE s_odd.meta SET value = '-2' WHERE key = 'schema_version'");
  const std::vector<std::pair<std::string, std::string>> refused = {
      {"s_foreign", "without a schema_version"},
      {"s_empty", "no meta table"},
      {"s_extra", "was not removed"},
      {"s_view", "was not removed"},
      {"s_newer", "written by a newer errand"},
      {"s_odd", "not a version number"}};
  for (const auto& [schema, why] : refused) {
    try {
      errand::remove_store(url(schema));
      ADD_FAILURE() << schema << " was removed";
    } catch (const errand::StoreError& e) {
      EXPECT_TRUE(contains(e.what(), why)) << schema << ": " << e.what();
    }
  }
  EXPECT_EQ(
      db_->integer("SELECT count(*) FROM pg_namespace WHERE nspname IN "
                   "('s_foreign', 's_empty', 's_extra', 's_view', 's_other', 's_newer', 's_odd')"),
      7);
  // Nothing in s_extra was dropped: errand's 9 tables (jobs, finished_jobs, workers, queues,
  // schedules, cron_ticks, activity, metric_totals, meta) and the user's.
  EXPECT_EQ(db_->integer("SELECT count(*) FROM pg_tables WHERE schemaname = 's_extra'"), 10);
  EXPECT_TRUE(errand::remove_store(url("s_empty"), {.allow_empty = true}));
}

// --- passwords --------------------------------------------------------------------------------

constexpr std::string_view kToken = "Xq7Z";  // in every password below, and nowhere else

class BenchPassword : public BenchPg {
 protected:
  // Runs `bench` to its end while recording the command lines of its processes.
  std::vector<std::string> command_lines_until_end(CliProcess& bench) {
    std::vector<std::string> seen;
    errand_test::eventually(
        [&] {
          for (const pid_t child : errand_test::child_pids(bench.pid()))
            seen.push_back(errand_test::cmdline(child));
          seen.push_back(errand_test::cmdline(bench.pid()));
          return bench.wait(std::chrono::milliseconds{0}).has_value();
        },
        std::chrono::minutes{2});
    return seen;
  }
  void expect_no_password(const std::string& text, const std::string& what) {
    EXPECT_FALSE(contains(text, kToken)) << what << " shows the password:\n" << text;
  }
};

TEST_F(BenchPassword, AppearsInNoOutputNoErrorAndNoWorkerCommandLine) {
  if (!db_) return;
  // Characters that need no encoding, ones that libpq must decode, and the query parameter.
  const std::vector<std::string> urls = {with_password(url_, "Xq7Z?pw&x=1"),
                                         with_password(url_, "p%40Xq7Z%3Fw%25"),
                                         url_ + "?password=Xq7Z!pw"};
  if (urls[0].empty()) GTEST_SKIP() << "ERRAND_TEST_PG_URL has no user name to add a password to";
  const std::vector<std::string> workload = {"--jobs",           "300", "--concurrency",     "1",
                                             "--prefetch",       "0",   "--latency-samples", "50",
                                             "--enqueue-single", "10"};
  for (std::size_t i = 0; i < urls.size(); ++i) {
    const std::string& url = urls[i];
    SCOPED_TRACE("URL " + url);
    // Alternately a table and --json; through --db and through ERRAND_DB.
    std::vector<std::string> args = {"bench"};
    std::vector<std::string> env;
    if (i % 2 == 0) {
      args.push_back("--db=" + url);
    } else {
      env.push_back("ERRAND_DB=" + url);
    }
    args.insert(args.end(), workload.begin(), workload.end());
    if (i == 1) args.push_back("--json");
    CliProcess bench(ERRAND_CLI, args, logs.path(), env);
    const auto command_lines = command_lines_until_end(bench);
    const auto status = bench.wait(errand_test::kDeadline);
    ASSERT_TRUE(status && WIFEXITED(*status) && WEXITSTATUS(*status) == 0) << bench.err();
    EXPECT_TRUE(contains(bench.out(), i == 1 ? "\"store\":\"postgres\"" : "| drain, 1 x 1 |"))
        << bench.out();
    expect_no_password(bench.out(), "stdout");
    expect_no_password(bench.err(), "stderr");
    bool saw_worker = false;
    for (const auto& line : command_lines) {
      if (contains(line, "bench-worker")) {
        saw_worker = true;
        expect_no_password(line, "a worker's command line");
      }
    }
    EXPECT_TRUE(saw_worker) << "never saw a worker process";
  }
}

TEST_F(BenchPassword, AppearsNeitherWhenInterruptedNorWhenLeftoversAreRemoved) {
  if (!db_) return;
  const std::string url = with_password(url_, "Xq7Z?pw");
  if (url.empty()) GTEST_SKIP() << "ERRAND_TEST_PG_URL has no user name to add a password to";
  auto interrupted = start(kLongDrain, url);
  wait_for_schema(*interrupted, "_drain");
  errand_test::wait_for_bench_worker(*interrupted);
  interrupted->signal(SIGINT);
  errand_test::expect_exit_code(*interrupted, 130);
  expect_no_password(interrupted->err(), "the interruption");

  auto killed = start(kLongDrain, url);
  const std::string schema = wait_for_schema(*killed, "_drain");
  const pid_t worker = errand_test::wait_for_bench_worker(*killed);
  killed->signal(SIGKILL);
  ASSERT_TRUE(killed->wait(errand_test::kDeadline));
  ASSERT_TRUE(errand_test::eventually([&] { return errand_test::process_gone(worker); }));
  const auto next = expect_next_run_removes(schema, url);
  expect_no_password(next.err, "the leftover removal");
  expect_no_password(next.out, "stdout");

  // A server that is not there: the connection error names no password either.
  const std::string nowhere = "postgres://u:Xq7Z%zz?x@127.0.0.1:1/db";
  const auto failed = run(kShort, nowhere);
  EXPECT_TRUE(WIFEXITED(failed.status) && WEXITSTATUS(failed.status) == 1) << failed.err;
  EXPECT_TRUE(contains(failed.err, "errand: ")) << failed.err;
  expect_no_password(failed.err, "the connection error");
}

}  // namespace
