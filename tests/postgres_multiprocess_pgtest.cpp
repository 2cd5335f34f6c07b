// Several real worker processes sharing one PostgreSQL database, as on many machines: every job
// runs, none is lost, and (without faults) none runs twice. Also migrations racing across
// processes.
#include "support/cross_process_cancel.hpp"
#include "support/mark_job.hpp"
#include "support/postgres_storage.hpp"
#include "support/process.hpp"
#include "support/sanitized.hpp"
#include "support/temp_dir.hpp"
#include "support/unique_contention.hpp"
#include "support/wait.hpp"

#include <errand/errand.hpp>

#include <gtest/gtest.h>

#include <iostream>
#include <memory>

using errand_test::ChildProcess;
using errand_test::PostgresStorage;
using namespace std::chrono_literals;

namespace {

constexpr std::chrono::seconds kProcessDeadline{90};

class PostgresMultiProcess : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto url = errand_test::postgres_url_or_skip();
    if (!url) return;
    storage = std::make_unique<PostgresStorage>(*url);
  }

  std::unique_ptr<PostgresStorage> storage;
};

TEST_F(PostgresMultiProcess, FourWorkerProcessesDrainTwentyThousandJobsEachExactlyOnce) {
  constexpr std::int64_t kJobs = 20'000;
  constexpr std::int64_t kEnqueuedByChild = 5'000;  // while the workers run, in batches of 100
  constexpr int kProcesses = 4;
  // The store creates the schema; MarkJob runs record themselves in `results` next to it.
  auto store = errand::open_store(storage->url());
  storage->rows("CREATE TABLE " + storage->table("results") +
                " (job_id bigint NOT NULL, worker int NOT NULL)");
  std::vector<errand_test::MarkJob> jobs;
  for (std::int64_t n = 0; n < kJobs - kEnqueuedByChild; ++n)
    jobs.push_back({n});
  errand::enqueue_all(*store, jobs, {.context = "parent"});

  const auto started = std::chrono::steady_clock::now();
  const std::string results_url =
      errand_test::session_conninfo(errand_test::direct_url(storage->server_url()),
                                    storage->schema(), std::chrono::milliseconds{0});
  std::vector<std::unique_ptr<ChildProcess>> workers;
  for (int i = 0; i < kProcesses; ++i) {
    workers.push_back(errand_test::start_worker_process(ERRAND_TEST_WORKER, storage->url(),
                                                        results_url, {.concurrency = 8}));
  }
  ChildProcess enqueuer(ERRAND_TEST_WORKER,
                        {"enqueue", storage->url(), std::to_string(kJobs - kEnqueuedByChild),
                         std::to_string(kEnqueuedByChild), "100"});
  errand_test::expect_clean_exit(enqueuer, kProcessDeadline, "enqueuer");
  const bool drained = errand_test::eventually(
      [&] { return storage->count("jobs") == 0 && storage->count("finished_jobs") == 0; },
      kProcessDeadline);
  const auto elapsed = std::chrono::steady_clock::now() - started;
  errand_test::stop_cleanly(workers, kProcessDeadline);
  ASSERT_TRUE(drained) << storage->count("jobs") << " jobs left, "
                       << storage->count("finished_jobs") << " dead";

  const auto results = storage->table("results");
  const auto ran = storage->integer("SELECT count(*) FROM " + results).value_or(-1);
  const auto distinct = storage
                            ->integer("SELECT count(DISTINCT job_id) FROM " + results +  //
                                      " WHERE job_id >= 0 AND job_id < " + std::to_string(kJobs))
                            .value_or(-1);
  const auto foreign =
      storage->count("results", "job_id < 0 OR job_id >= " + std::to_string(kJobs));
  const auto more_than_once = storage
                                  ->integer("SELECT count(*) FROM (SELECT job_id FROM " + results +
                                            " GROUP BY job_id HAVING count(*) > 1) AS twice")
                                  .value_or(-1);
  std::cout << kJobs << " jobs, " << kProcesses << " worker processes x concurrency 8: " << ran
            << " runs of " << distinct << " distinct jobs, " << more_than_once
            << " ran more than once, in "
            << std::chrono::duration_cast<std::chrono::milliseconds>(elapsed).count()
            << " ms; runs per process:";
  for (const auto& row :
       storage->rows("SELECT worker, count(*) FROM " + results + " GROUP BY worker ORDER BY 1"))
    std::cout << " " << row[1].value_or("?");
  std::cout << std::endl;

  EXPECT_EQ(distinct, kJobs) << kJobs - distinct << " jobs never ran";
  EXPECT_EQ(more_than_once, 0) << "jobs ran more than once with no fault";
  EXPECT_EQ(ran, kJobs);
  EXPECT_EQ(foreign, 0) << "runs of jobs that were never enqueued";
  EXPECT_EQ(storage->integer("SELECT count(DISTINCT worker) FROM " + results), kProcesses)
      << "some worker process ran no job";
}

TEST_F(PostgresMultiProcess, ProcessesMigratingAFreshSchemaAtOnceAllSucceed) {
  for (int round = 0; round < 3; ++round) {
    SCOPED_TRACE("round " + std::to_string(round));
    PostgresStorage fresh(storage->server_url());
    std::vector<std::unique_ptr<ChildProcess>> children;
    for (int i = 0; i < 8; ++i) {
      children.push_back(std::make_unique<ChildProcess>(
          ERRAND_TEST_WORKER, std::vector<std::string>{"migrate", fresh.url()}));
    }
    for (auto& child : children)
      errand_test::expect_clean_exit(*child, kProcessDeadline, "migrating process");
    EXPECT_EQ(
        fresh.text("SELECT value FROM " + fresh.table("meta") + " WHERE key = 'schema_version'"),
        std::to_string(errand::postgres_schema_version()));
    EXPECT_EQ(fresh.count("meta"), 1);
    EXPECT_EQ(fresh.count("jobs"), 0);
    EXPECT_EQ(fresh.count("finished_jobs"), 0);
  }
}

// 8 processes x 4 threads enqueue one unique job 1,000 times each at once (per call: one job, a
// batch of copies, or one job of a period bucket): one job, every other call told its id. Under
// a sanitizer 250 times each (support/sanitized.hpp).
class PostgresUniqueContention : public PostgresMultiProcess,
                                 public ::testing::WithParamInterface<const char*> {};

TEST_P(PostgresUniqueContention, EightProcessesEnqueueingOneUniqueJobMakeExactlyOne) {
  errand_test::TempDir dir;
  errand_test::expect_one_unique_job(ERRAND_TEST_WORKER, storage->url(), GetParam(), 8, 4,
                                     errand_test::repetitions(1000), dir.path());
}

INSTANTIATE_TEST_SUITE_P(Modes, PostgresUniqueContention,
                         ::testing::Values("single", "batch", "period"));

}  // namespace

// The worker heartbeats once an hour: only its listener can stop the run within the test's 30 s
// (the cancel's NOTIFY, or, when the cancel came before the listener's LISTEN, the heartbeat the
// worker makes at once when its listener connects).
// Behind a transaction pooler there is no LISTEN: there the heartbeat (every 200 ms) tells it.
TEST_F(PostgresMultiProcess, ACancelReachesAJobRunningInAnotherProcessByNotify) {
  errand_test::TempDir dir;
  const bool pooled = errand_test::behind_transaction_pooler(storage->url());
  errand_test::expect_cancel_reaches_another_process(
      ERRAND_TEST_WORKER, storage->url(),
      pooled ? std::chrono::milliseconds{200} : std::chrono::milliseconds{std::chrono::hours{1}},
      dir.path());
}
