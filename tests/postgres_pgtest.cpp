// PostgreSQL-specific behaviour: transactional enqueue on the application's connection, batch
// enqueue, claim fencing under concurrency, migrations, bad URLs, poll-only mode, the database
// clock and surviving a server restart. The shared semantics are in tests/conformance/.
#include "support/conformance.hpp"
#include "support/postgres_storage.hpp"
#include "support/temp_dir.hpp"

#include <errand/errand.hpp>

#include <libpq-fe.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <latch>
#include <map>
#include <set>
#include <thread>

using errand::WorkerEvent;
using namespace std::chrono_literals;

namespace errand_test {
namespace {

// The conformance fixture (a ManualClock store on a fresh schema, the test job registry, event
// and log capture) on PostgreSQL only.
class PostgresTest : public ConformanceTest {
 protected:
  PostgresStorage& pg() { return static_cast<PostgresStorage&>(*storage); }

  // A store on this schema using the database clock.
  std::shared_ptr<errand::Store> open_db_clock_store() { return storage->open(nullptr); }

  // Sessions of the server LISTENing on this schema's channel.
  std::int64_t listeners() {
    return storage
        ->integer(
            "SELECT count(*) FROM pg_stat_activity WHERE query ILIKE 'LISTEN %' AND "
            "position('errand_jobs_" +
            pg().schema() + "' in query) > 0")
        .value_or(-1);
  }

  // The database's now() as microseconds since the epoch.
  std::int64_t db_now() { return storage->integer("SELECT " + storage->micros("now()")).value(); }
};

// The server restart test gets its own suite: CTest runs it alone (see tests/CMakeLists.txt).
class PostgresServerRestart : public PostgresTest {};

// --- transactional enqueue on the caller's connection --------------------------------------

TEST_P(PostgresTest, EnqueueInTheCallersCommittedTransactionStoresTheJob) {
  PgConnection app(pg().conninfo());
  app.exec("CREATE TABLE orders (id int PRIMARY KEY)");
  app.exec("BEGIN");
  app.exec("INSERT INTO orders VALUES (1)");
  const auto id =
      errand::enqueue(app.native(), RecordJob{.tag = 1}, {.context = "checkout"}, pg().schema());
  EXPECT_EQ(rows_in("jobs"), 0) << "the job is visible before the caller committed";
  app.exec("COMMIT");

  EXPECT_EQ(rows_in("jobs"), 1);
  EXPECT_EQ(storage->integer("SELECT count(*) FROM orders"), 1);
  EXPECT_EQ(column("jobs", "name", id), "Record");
  EXPECT_EQ(column("jobs", "context", id), "checkout");
  EXPECT_EQ(column("jobs", "locked_by", id), std::nullopt);
}

TEST_P(PostgresTest, EnqueueInTheCallersRolledBackTransactionLeavesNothing) {
  PgConnection app(pg().conninfo());
  app.exec("CREATE TABLE orders (id int PRIMARY KEY)");
  app.exec("BEGIN");
  app.exec("INSERT INTO orders VALUES (1)");
  const auto id = errand::enqueue(app.native(), RecordJob{.tag = 1}, {}, pg().schema());
  EXPECT_GT(id, 0);
  app.exec("ROLLBACK");

  EXPECT_EQ(rows_in("jobs"), 0);
  EXPECT_EQ(storage->integer("SELECT count(*) FROM orders"), 0);
  EXPECT_FALSE(find_job(id));
}

TEST_P(PostgresTest, CommitWakesAListeningWorkerOfAnotherStoreAndRollbackRunsNothing) {
  if (errand_test::behind_transaction_pooler(pg().server_url())) {
    GTEST_SKIP() << "behind a transaction pooler errand does not LISTEN (pooler=transaction)";
  }
  auto watched = std::make_shared<ForwardingStore>(open_db_clock_store());
  auto options = worker_options(2);
  options.poll_interval = std::chrono::hours{1};  // only a notification can wake it
  errand::Worker worker(watched, registry, state, options);
  BackgroundWorker background(worker);
  ASSERT_TRUE(eventually([&] { return listeners() == 1; })) << "the worker never LISTENed";
  ASSERT_TRUE(watched->wait_for_empty_claims(1, kDeadline));

  // enqueue(PGconn*) does not wake this process's workers directly: only the NOTIFY sent at
  // COMMIT can. The first job may also be found by the claim that follows the LISTEN; once it
  // ran and the worker is idle again, only the second job's NOTIFY can wake the worker.
  PgConnection app(pg().conninfo());
  for (int tag : {1, 2}) {
    SCOPED_TRACE("job " + std::to_string(tag));
    app.exec("BEGIN");
    const auto id = errand::enqueue(app.native(), RecordJob{.tag = tag}, {}, pg().schema());
    app.exec("COMMIT");
    ASSERT_TRUE(events.wait_for(WorkerEvent::Kind::succeeded, static_cast<std::size_t>(tag)))
        << "the committed job did not run (poll interval 1 h): no NOTIFY reached the worker";
    EXPECT_EQ(state.count("Record:" + std::to_string(tag)), 1u);
    EXPECT_TRUE(eventually([&] { return !find_job(id); }));
    eventually([&] { return watched->last_claim_empty(); }, 5s);
  }

  // Rolled back: nothing exists and nothing runs. A job committed afterwards runs, proving the
  // worker looked after the rollback.
  app.exec("BEGIN");
  const auto ghost = errand::enqueue(app.native(), RecordJob{.tag = 3}, {}, pg().schema());
  app.exec("ROLLBACK");
  app.exec("BEGIN");
  errand::enqueue(app.native(), RecordJob{.tag = 4}, {}, pg().schema());
  app.exec("COMMIT");
  ASSERT_TRUE(events.wait_for(WorkerEvent::Kind::succeeded, 3));
  background.stop();
  EXPECT_EQ(state.count("Record:3"), 0u) << "a rolled-back job ran";
  EXPECT_EQ(state.snapshot(), (std::vector<std::string>{"Record:1", "Record:2", "Record:4"}));
  EXPECT_FALSE(find_job(ghost));
  EXPECT_EQ(rows_in("jobs"), 0);
}

TEST_P(PostgresTest, FailedEnqueueOnTheCallersConnectionIsAStorageErrorAndAbortsItsTransaction) {
  PgConnection app(pg().conninfo());
  app.exec("BEGIN");
  try {
    errand::enqueue(app.native(), RecordJob{.tag = 1}, {}, "no_such_schema");
    FAIL() << "expected EnqueueError";
  } catch (const errand::EnqueueError& e) {
    EXPECT_EQ(e.kind(), errand::EnqueueError::Kind::storage) << e.what();
    EXPECT_TRUE(contains(e.what(), "no_such_schema")) << e.what();
  }
  EXPECT_EQ(PQtransactionStatus(app.native()), PQTRANS_INERROR);
  app.exec("ROLLBACK");
  EXPECT_THROW(errand::enqueue(static_cast<PGconn*>(nullptr), RecordJob{.tag = 1}),
               errand::EnqueueError);
  EXPECT_EQ(rows_in("jobs"), 0);
}

// Not supported yet: refused before anything is sent, the caller's transaction untouched.
TEST_P(PostgresTest, AUniqueJobOnTheCallersConnectionIsRefusedAndItsTransactionGoesOn) {
  PgConnection app(pg().conninfo());
  app.exec("BEGIN");
  try {
    errand::enqueue(app.native(), RecordJob{.tag = 1}, {.unique = errand::UniqueOptions{}},
                    pg().schema());
    FAIL() << "expected EnqueueError";
  } catch (const errand::EnqueueError& e) {
    EXPECT_TRUE(contains(e.what(), "unique jobs are enqueued through a Store")) << e.what();
  }
  EXPECT_EQ(PQtransactionStatus(app.native()), PQTRANS_INTRANS);
  app.exec("COMMIT");
  EXPECT_EQ(rows_in("jobs"), 0);
}

TEST_P(PostgresTest, EnqueueOnTheCallersConnectionTakesRunAtAndADelayOnTheDatabaseClock) {
  PgConnection app(pg().conninfo());
  const auto when = errand::TimePoint{std::chrono::seconds{2'000'000'000}};
  const auto id = errand::enqueue(app.native(), RecordJob{.tag = 1},
                                  {.priority = 3, .run_at = when}, pg().schema());
  EXPECT_EQ(us(*time_column("jobs", "run_at", id)), us(when));
  EXPECT_EQ(column("jobs", "priority", id), "3");
  const auto delayed =
      errand::enqueue(app.native(), RecordJob{.tag = 2}, {.delay = 5s}, pg().schema());
  // Both times come from the server's now(): exactly the delay apart.
  EXPECT_EQ(
      us(*time_column("jobs", "run_at", delayed)) - us(*time_column("jobs", "created_at", delayed)),
      5'000'000);
  EXPECT_EQ(rows_in("jobs"), 2);
}

// --- batches and claims ----------------------------------------------------------------------

TEST_P(PostgresTest, BatchOfAThousandJobsReturnsEveryIdInOrderFromOneTransaction) {
  auto db_store = open_db_clock_store();
  std::vector<RecordJob> jobs;
  for (int i = 0; i < 1000; ++i)
    jobs.push_back(RecordJob{.tag = i});
  const auto ids = errand::enqueue_all(*db_store, jobs, {.context = "bulk"});
  ASSERT_EQ(ids.size(), 1000u);
  EXPECT_TRUE(std::is_sorted(ids.begin(), ids.end()));
  EXPECT_EQ(std::set<errand::JobId>(ids.begin(), ids.end()).size(), 1000u);

  const auto stored = storage->rows("SELECT id, (payload::json->>'tag')::int FROM " +
                                    storage->table("jobs") + " ORDER BY id");
  ASSERT_EQ(stored.size(), 1000u);
  for (std::size_t i = 0; i < stored.size(); ++i) {
    ASSERT_EQ(stored[i][0], std::to_string(ids[i])) << "row " << i;
    ASSERT_EQ(stored[i][1], std::to_string(i)) << "job " << ids[i] << " has the wrong payload";
  }
  // now() is the transaction's start: one value means one transaction.
  EXPECT_EQ(storage->integer("SELECT count(DISTINCT created_at) FROM " + storage->table("jobs")),
            1);
}

TEST_P(PostgresTest, ConcurrentClaimersOnSeparateInstancesNeverGetMoreThanAskedOrAJobTwice) {
  constexpr std::size_t kJobs = 3000;
  constexpr std::size_t kClaimers = 8;
  store->enqueue(std::vector<errand::NewJob>(
      kJobs, errand::NewJob{.name = "Record", .payload = R"({"tag":0})"}));
  std::vector<std::shared_ptr<errand::Store>> stores;
  for (std::size_t i = 0; i < kClaimers; ++i)
    stores.push_back(storage->open(clock));

  std::vector<std::vector<errand::JobId>> got(kClaimers);
  std::vector<std::string> errors(kClaimers);
  std::atomic<int> oversized{0};
  std::latch start(kClaimers);
  {
    std::vector<std::jthread> threads;
    for (std::size_t t = 0; t < kClaimers; ++t) {
      threads.emplace_back([&, t] {
        const std::size_t sizes[] = {1, 2, 7, 50};
        start.arrive_and_wait();
        try {
          for (std::size_t round = t;; ++round) {
            const std::size_t max = sizes[round % 4];
            auto claimed = stores[t]->claim("claimer-" + std::to_string(t), max, 2h);
            if (claimed.size() > max) ++oversized;
            if (claimed.empty()) break;
            for (const auto& job : claimed)
              got[t].push_back(job.id);
          }
        } catch (const std::exception& e) {
          errors[t] = e.what();
        }
      });
    }
  }
  EXPECT_EQ(oversized.load(), 0) << "a claim returned more jobs than asked";
  std::map<errand::JobId, int> times;
  for (std::size_t t = 0; t < kClaimers; ++t) {
    EXPECT_EQ(errors[t], "") << "claimer " << t;
    for (auto id : got[t])
      ++times[id];
    EXPECT_EQ(storage->count("jobs", "locked_by = 'claimer-" + std::to_string(t) + "'"),
              static_cast<std::int64_t>(got[t].size()))
        << "claimer " << t << " holds locks it was not told about (or the reverse)";
  }
  std::size_t duplicates = 0;
  for (const auto& [id, n] : times)
    duplicates += n > 1 ? 1 : 0;
  EXPECT_EQ(duplicates, 0u) << "jobs handed to more than one claimer";
  EXPECT_EQ(times.size(), kJobs) << "jobs never claimed";
}

// --- migrations ------------------------------------------------------------------------------

TEST_P(PostgresTest, ManyStoresMigratingAFreshSchemaAtOnceAllSucceed) {
  PostgresStorage fresh(pg().server_url());
  constexpr int kOpeners = 8;
  std::latch start(kOpeners);
  std::vector<std::string> errors(kOpeners);
  std::vector<int> versions(kOpeners, -1);
  {
    std::vector<std::jthread> threads;
    for (int i = 0; i < kOpeners; ++i) {
      threads.emplace_back([&, i] {
        start.arrive_and_wait();
        try {
          versions[i] = fresh.open(clock)->schema_version();
        } catch (const std::exception& e) {
          errors[i] = e.what();
        }
      });
    }
  }
  for (int i = 0; i < kOpeners; ++i) {
    EXPECT_EQ(errors[i], "") << "opener " << i;
    EXPECT_EQ(versions[i], errand::postgres_schema_version()) << "opener " << i;
  }
  EXPECT_EQ(
      fresh.text("SELECT value FROM " + fresh.table("meta") + " WHERE key = 'schema_version'"),
      std::to_string(errand::postgres_schema_version()));
  EXPECT_EQ(fresh.integer("SELECT count(*) FROM " + fresh.table("meta")), 1);
  EXPECT_EQ(fresh.count("jobs"), 0);
  EXPECT_EQ(fresh.count("finished_jobs"), 0);
}

TEST_P(PostgresTest, SchemaOfANewerErrandIsRefusedAndLeftUntouched) {
  const auto id = errand::enqueue(*store, RecordJob{.tag = 1});
  const int newer = errand::postgres_schema_version() + 1;
  storage->rows("UPDATE " + storage->table("meta") + " SET value = '" + std::to_string(newer) +
                "' WHERE key = 'schema_version'");
  const std::string tables_sql =
      "SELECT string_agg(table_name, ',' ORDER BY table_name) FROM information_schema.tables "
      "WHERE table_schema = '" +
      pg().schema() + "'";
  const auto tables = storage->text(tables_sql);

  try {
    storage->open(clock);
    FAIL() << "expected StoreError for a schema of version " << newer;
  } catch (const errand::StoreError& e) {
    EXPECT_TRUE(contains(e.what(), std::to_string(newer))) << e.what();
    EXPECT_TRUE(contains(e.what(), "newer")) << e.what();
  }
  EXPECT_THROW(errand::open_store(storage->url()), errand::StoreError);
  EXPECT_EQ(storage->text("SELECT value FROM " + storage->table("meta") +
                          " WHERE key = 'schema_version'"),
            std::to_string(newer));
  EXPECT_EQ(storage->text(tables_sql), tables);
  EXPECT_EQ(column("jobs", "name", id), "Record");
  EXPECT_EQ(rows_in("jobs"), 1);
}

// Schema names are identifiers of up to 63 bytes, any characters: tables, the advisory lock and
// the notification channel ("errand_jobs_" + schema, itself limited to 63 bytes) must all cope,
// or the store must refuse the name when it is opened, not fail every enqueue later.
TEST_P(PostgresTest, OddAndLongSchemaNamesWork) {
  std::string longest = unique_schema_name() + "_";
  longest.resize(63, 'x');
  for (const std::string& schema : {"Odd \"Schema\" " + unique_schema_name(), longest}) {
    SCOPED_TRACE(schema);
    PostgresStorage odd(pg().server_url(), schema);
    std::shared_ptr<errand::Store> odd_store;
    try {
      odd_store = odd.open(nullptr);
    } catch (const errand::Error& e) {
      // Refusing a name up front, clearly, is fine too.
      EXPECT_TRUE(contains(e.what(), schema)) << "the error should name the schema: " << e.what();
      continue;
    }
    try {
      const auto id = errand::enqueue(*odd_store, RecordJob{.tag = 1});
      EXPECT_EQ(odd.count("jobs", "id = " + std::to_string(id)), 1);
      PgConnection app(odd.conninfo());
      app.exec("BEGIN");
      errand::enqueue(app.native(), RecordJob{.tag = 2}, {}, schema);
      app.exec("COMMIT");
      EXPECT_EQ(odd.count("jobs"), 2);
      errand::Worker worker(odd_store, registry, state, worker_options());
      EXPECT_EQ(worker.run_until_idle(), 2u);
      EXPECT_EQ(odd.count("jobs"), 0);
    } catch (const std::exception& e) {
      ADD_FAILURE() << e.what();
    }
  }
}

// --- URLs and modes --------------------------------------------------------------------------

TEST_P(PostgresTest, UnreachableServerIsAStoreErrorThatNeverShowsThePassword) {
  const std::string urls[] = {
      "postgres://postgres:s3cret@127.0.0.1:1/x",
      "postgresql://postgres:s3cret@127.0.0.1:1/x?connect_timeout=5",
      "postgres://postgres@127.0.0.1:1/x?password=s3cret",
      "host=127.0.0.1 port=1 user=postgres password=s3cret dbname=x",
  };
  for (const auto& url : urls) {
    SCOPED_TRACE(url);
    try {
      errand::open_postgres(url);
      ADD_FAILURE() << "expected StoreError";
    } catch (const errand::StoreError& e) {
      EXPECT_FALSE(contains(e.what(), "s3cret")) << e.what();
      EXPECT_TRUE(contains(e.what(), "127.0.0.1")) << "should say where: " << e.what();
    }
    if (url.starts_with("postgres")) {
      try {
        errand::open_store(url + (contains(url, "?") ? "&" : "?") + "schema=x");
        ADD_FAILURE() << "expected StoreError from open_store";
      } catch (const errand::StoreError& e) {
        EXPECT_FALSE(contains(e.what(), "s3cret")) << e.what();
      }
    }
  }
}

TEST_P(PostgresTest, OpenStoreTakesSchemaAndListenParameters) {
  const auto id = errand::enqueue(*store, RecordJob{.tag = 1});
  auto opened = errand::open_store(storage->url() + "&listen=off");
  EXPECT_EQ(opened->schema_version(), errand::postgres_schema_version());
  EXPECT_EQ(opened->list_jobs({}).size(), 1u);
  EXPECT_EQ(opened->list_jobs({}).at(0).id, id);
  EXPECT_THROW(errand::open_store(storage->url() + "&listen=maybe"), errand::ConfigError);
  EXPECT_THROW(errand::open_store(pg().server_url() + "?schema="), errand::ConfigError);
}

TEST_P(PostgresTest, PollOnlyWorkerPicksUpAnotherConnectionsEnqueueWithinThePollInterval) {
  auto poll_only = errand::open_store(storage->url() + "&listen=off", {.clock = clock});
  auto options = worker_options();
  options.poll_interval = std::chrono::minutes{10};  // on the test's clock
  errand::Worker worker(poll_only, registry, state, options);
  BackgroundWorker background(worker);
  // No LISTEN, and enqueue(PGconn*) wakes nobody in this process: only polling finds the job.
  PgConnection app(pg().conninfo());
  const auto id =
      errand::enqueue(app.native(), RecordJob{.tag = 1}, {.run_at = clock->now()}, pg().schema());
  EXPECT_TRUE(
      advance_until(*clock, 10s, [&] { return events.count(WorkerEvent::Kind::succeeded) == 1; }))
      << "a poll-only worker did not find the job; log:\n"
      << logs.dump();
  EXPECT_EQ(listeners(), 0) << "listen=off must never LISTEN";
  EXPECT_EQ(state.count("Record:1"), 1u) << logs.dump();
  EXPECT_TRUE(eventually([&] { return !find_job(id); }));
}

TEST_P(PostgresTest, AsynchronousClaimsRunEveryJobOnce) {
  auto async = errand::open_store(storage->url() + "&claim_commit=async", {.clock = clock});
  for (int tag = 1; tag <= 30; ++tag)
    errand::enqueue(*async, RecordJob{.tag = tag}, {.run_at = clock->now()});
  errand::Worker worker(async, registry, state, worker_options());
  BackgroundWorker background(worker);
  EXPECT_TRUE(advance_until(*clock, 10s, [&] {
    return events.count(WorkerEvent::Kind::succeeded) == 30;
  })) << logs.dump();
  for (int tag = 1; tag <= 30; ++tag)
    EXPECT_EQ(state.count("Record:" + std::to_string(tag)), 1u) << tag;
  EXPECT_TRUE(eventually([&] { return rows_in("jobs") == 0; }));
  EXPECT_THROW(errand::open_store(storage->url() + "&claim_commit=later"), errand::ConfigError);
}

// --- the database clock ----------------------------------------------------------------------

TEST_P(PostgresTest, WithoutAnInjectedClockTimesComeFromTheDatabase) {
  // On the caller's connection: exactly the transaction's now(), however late the insert runs.
  PgConnection app(pg().conninfo());
  app.exec("BEGIN");
  const auto tx_now = app.integer("SELECT " + storage->micros("now()")).value();
  app.exec("SELECT pg_sleep(0.05)");
  const auto mine = errand::enqueue(app.native(), RecordJob{.tag = 1}, {}, pg().schema());
  app.exec("COMMIT");
  EXPECT_EQ(us(*time_column("jobs", "created_at", mine)), tx_now);
  EXPECT_EQ(us(*time_column("jobs", "run_at", mine)), tx_now);

  // Through a Store: the server's now() (compared with a tolerance: this checks where the time
  // comes from, not how fast anything is).
  constexpr std::int64_t kTolerance = 5'000'000;
  auto db_store = open_db_clock_store();
  const auto before = db_now();
  const auto id = errand::enqueue(*db_store, RecordJob{.tag = 2});
  const auto after = db_now();
  const auto created = us(*time_column("jobs", "created_at", id));
  EXPECT_EQ(us(*time_column("jobs", "run_at", id)), created);
  EXPECT_GE(created, before - kTolerance);
  EXPECT_LE(created, after + kTolerance);

  const auto claimed = db_store->claim("w", 10, 2h);
  ASSERT_EQ(claimed.size(), 2u);
  ASSERT_EQ(claimed[1].id, id);
  const auto locked_at = us(*time_column("jobs", "locked_at", id));
  EXPECT_EQ(us(claimed[1].locked_at), locked_at);
  EXPECT_LE(std::abs(locked_at - db_now()), kTolerance);
  // A retry's run_at and failure time come from one database now().
  const errand::Outcome retry[] = {errand::Outcome{.id = claimed[1].id,
                                                   .locked_at = claimed[1].locked_at,
                                                   .kind = errand::Outcome::Kind::retry,
                                                   .error = "e",
                                                   .retry_delay = 1h}};
  EXPECT_TRUE(db_store->settle("w", retry).empty());
  const auto failed_at = us(*time_column("jobs", "last_failed_at", claimed[1].id));
  EXPECT_EQ(us(*time_column("jobs", "run_at", claimed[1].id)) - failed_at,
            us(errand::Duration{1h}));
  EXPECT_LE(std::abs(failed_at - db_now()), kTolerance);
}

// A delay is measured on the database clock too: run_at is exactly created_at + delay, both
// from the enqueue transaction's now(). (Adding the delay to this host's clock instead gives a
// run_at off by the host's skew, and here by the time the request took to reach the server.)
TEST_P(PostgresTest, WithoutAnInjectedClockADelayIsAddedToTheDatabaseClock) {
  auto db_store = open_db_clock_store();
  const auto id = errand::enqueue(*db_store, RecordJob{.tag = 1}, {.delay = 1h});
  const auto created = us(*time_column("jobs", "created_at", id));
  EXPECT_EQ(us(*time_column("jobs", "run_at", id)) - created, us(errand::Duration{1h}))
      << "run_at was not computed from the database's now()";
}

// --- connection loss -------------------------------------------------------------------------

// Runs `command` through the shell; returns its exit status and output.
std::pair<int, std::string> run_command(const std::string& command) {
  TempDir dir;
  const auto out = dir.file("out.txt");
  const int status = std::system((command + " </dev/null >'" + out.string() + "' 2>&1").c_str());
  return {status, read_file(out)};
}

TEST_P(PostgresTest, StoreVacuumsTheJobsTableInTheBackgroundAfterVacuumAfterRows) {
  const auto vacuums = [&] {
    return storage
        ->integer("SELECT vacuum_count FROM pg_stat_user_tables WHERE schemaname = '" +
                  pg().schema() + "' AND relname = 'jobs'")
        .value_or(-1);
  };
  const auto churn = [&](errand::Store& s) {
    s.enqueue(std::vector<errand::NewJob>(30, errand::NewJob{.name = "Record", .payload = "{}"}));
    auto claimed = s.claim("w", 30, std::chrono::hours{2});
    std::vector<errand::Outcome> done;
    for (const auto& job : claimed)
      done.push_back({.id = job.id, .locked_at = job.locked_at});
    EXPECT_TRUE(s.settle("w", done).empty());
  };
  errand::PostgresOptions options;
  options.schema = pg().schema();
  {
    options.vacuum_after = 0;  // never
    auto never = errand::open_postgres(pg().server_url(), options);
    churn(*never);
  }  // the store is gone: any VACUUM it started has ended and been counted
  EXPECT_EQ(vacuums(), 0);
  options.vacuum_after = 50;  // 30 claimed + 30 settled
  auto store = errand::open_postgres(pg().server_url(), options);
  churn(*store);
  EXPECT_TRUE(eventually([&] { return vacuums() >= 1; }))
      << "no VACUUM of the jobs table after 60 rows changed";
}

TEST_P(PostgresServerRestart, WorkerSurvivesARestartAndLosesNoJob) {
  const auto ctl = postgres_ctl_or_skip();
  if (!ctl) return;
  constexpr int kJobs = 400;
  auto db_store = open_db_clock_store();
  auto enqueuer = open_db_clock_store();
  state.hook = [](const std::string&, std::stop_token) { std::this_thread::sleep_for(2ms); };
  auto options = worker_options(4);
  options.poll_interval = 100ms;
  options.lock_timeout = 10s;  // rescues a claim whose reply the restart swallowed
  options.store_retry_min = 20ms;
  options.store_retry_max = 500ms;
  errand::Worker worker(db_store, registry, state, options);
  BackgroundWorker background(worker);

  // Enqueues one job at a time, retrying through the outage.
  std::atomic<int> enqueued{0};
  std::atomic<int> enqueue_errors{0};
  std::jthread producer([&](std::stop_token stop) {
    for (int i = 0; i < kJobs && !stop.stop_requested(); ++i) {
      while (!stop.stop_requested()) {
        try {
          errand::enqueue(*enqueuer, HookJob{.tag = std::to_string(i)});
          break;
        } catch (const errand::EnqueueError&) {
          ++enqueue_errors;
          std::this_thread::sleep_for(20ms);
        }
      }
      ++enqueued;
      std::this_thread::sleep_for(3ms);
    }
  });

  ASSERT_TRUE(eventually([&] { return enqueued.load() >= kJobs / 3; }));
  // -t 300: a fast shutdown still writes its checkpoint, which took more than pg_ctl's default
  // 60 s once on a loaded 2-core machine (the test cluster had taken every other test's rows).
  const auto [status, output] = run_command(*ctl + " restart -m fast -w -t 300");
  ASSERT_EQ(status, 0) << "restart failed: " << output;

  producer.join();
  const bool all_ran = eventually(
      [&] {
        if (state.total() < static_cast<std::size_t>(kJobs)) return false;
        for (int i = 0; i < kJobs; ++i) {
          if (state.count("Hook:" + std::to_string(i)) == 0) return false;
        }
        return true;
      },
      60s);
  EXPECT_FALSE(background.finished()) << "the worker thread ended";
  std::size_t missing = 0, twice = 0;
  for (int i = 0; i < kJobs; ++i) {
    const auto n = state.count("Hook:" + std::to_string(i));
    missing += n == 0 ? 1 : 0;
    twice += n > 1 ? 1 : 0;
  }
  EXPECT_TRUE(all_ran);
  EXPECT_EQ(missing, 0u) << "jobs lost across the restart; worker log:\n" << logs.dump();
  std::cout << "restart: " << kJobs << " jobs, " << twice << " ran more than once, "
            << enqueue_errors.load() << " enqueue errors retried, " << logs.problems()
            << " worker log lines at warning or above:\n"
            << logs.dump();
  EXPECT_GE(logs.problems(), 1u) << "the worker logged no storage error across the restart";
  EXPECT_TRUE(contains(logs.dump(), "storage error")) << logs.dump();
  EXPECT_TRUE(eventually([&] { return rows_in("jobs") == 0; }));
  EXPECT_EQ(rows_in("finished_jobs"), 0);
  background.stop();
  EXPECT_TRUE(background.finished());
}

INSTANTIATE_TEST_SUITE_P(Postgres, PostgresTest, ::testing::Values(postgres_factory()),
                         factory_name);
INSTANTIATE_TEST_SUITE_P(Postgres, PostgresServerRestart, ::testing::Values(postgres_factory()),
                         factory_name);

}  // namespace
}  // namespace errand_test
