// Several real processes sharing one SQLite file: workers, enqueuers and racing migrations.
#include "support/cross_process_cancel.hpp"
#include "support/mark_job.hpp"
#include "support/process.hpp"
#include "support/sanitized.hpp"
#include "support/sqlite_db.hpp"
#include "support/temp_dir.hpp"
#include "support/unique_contention.hpp"
#include "support/wait.hpp"

#include <errand/errand.hpp>

#include <gtest/gtest.h>

#include <signal.h>
#include <sys/wait.h>

#include <fstream>
#include <map>
#include <memory>

using errand_test::ChildProcess;
using errand_test::SqliteDb;
using errand_test::TempDir;
using errand_test::WorkerSpec;
using namespace std::chrono_literals;

namespace {

constexpr std::chrono::seconds kProcessDeadline{60};

class MultiProcess : public ::testing::Test {
 protected:
  std::string url() const { return "sqlite:" + db_path().string(); }
  std::filesystem::path db_path() const { return dir.file("shared.db"); }

  ChildProcess& start_worker(WorkerSpec spec = {}) {
    const auto out = dir.file("marks-" + std::to_string(outputs.size()) + ".txt");
    outputs.push_back(out);
    workers.push_back(
        errand_test::start_worker_process(ERRAND_TEST_WORKER, url(), out.string(), spec));
    return *workers.back();
  }

  std::int64_t jobs_left() {
    SqliteDb db(db_path());
    return db.integer("SELECT count(*) FROM errand_jobs").value_or(-1);
  }

  // Waits until the jobs table is empty.
  bool wait_until_drained() {
    return errand_test::eventually([&] { return jobs_left() == 0; }, kProcessDeadline);
  }

  // Stops every worker with SIGTERM and expects a clean exit.
  void stop_workers() { errand_test::stop_cleanly(workers, kProcessDeadline); }

  // How often each job number was marked, over every worker's output.
  std::map<std::int64_t, int> marks() const {
    std::map<std::int64_t, int> seen;
    for (const auto& out : outputs) {
      std::ifstream in(out);
      std::int64_t n = 0;
      while (in >> n)
        ++seen[n];
    }
    return seen;
  }

  void expect_each_exactly_once(std::int64_t count) {
    const auto seen = marks();
    std::int64_t missing = 0, twice = 0, foreign = 0;
    for (std::int64_t n = 0; n < count; ++n) {
      auto it = seen.find(n);
      if (it == seen.end()) {
        ++missing;
      } else if (it->second > 1) {
        ++twice;
      }
    }
    for (const auto& [n, times] : seen)
      foreign += (n < 0 || n >= count) ? 1 : 0;
    EXPECT_EQ(missing, 0) << "jobs never ran";
    EXPECT_EQ(twice, 0) << "jobs ran more than once with no fault";
    EXPECT_EQ(foreign, 0) << "marks of jobs that were never enqueued";
  }

  TempDir dir;
  std::vector<std::filesystem::path> outputs;
  std::vector<std::unique_ptr<ChildProcess>> workers;
};

void enqueue_marks(const std::string& url, std::int64_t first, std::int64_t count) {
  auto store = errand::open_store(url);
  std::vector<errand_test::MarkJob> jobs;
  for (std::int64_t n = first; n < first + count; ++n)
    jobs.push_back({n});
  errand::enqueue_all(*store, jobs, {.context = "parent"});
}

TEST_F(MultiProcess, FourWorkerProcessesRunEveryJobExactlyOnce) {
  constexpr std::int64_t kJobs = 2000;
  enqueue_marks(url(), 0, kJobs);
  for (int i = 0; i < 4; ++i)
    start_worker();
  ASSERT_TRUE(wait_until_drained()) << jobs_left() << " jobs left";
  stop_workers();
  expect_each_exactly_once(kJobs);
  SqliteDb db(db_path());
  EXPECT_EQ(db.integer("SELECT count(*) FROM errand_finished_jobs"), 0);
}

TEST_F(MultiProcess, EnqueuerProcessesAndWorkerProcessesShareOneFile) {
  errand::open_store(url()).reset();  // create the file first; migrations race in another test
  for (int i = 0; i < 3; ++i)
    start_worker();
  ChildProcess one_by_one(ERRAND_TEST_WORKER, {"enqueue", url(), "0", "400", "1"});
  ChildProcess batched(ERRAND_TEST_WORKER, {"enqueue", url(), "400", "1000", "50"});
  for (auto* enqueuer : {&one_by_one, &batched})
    errand_test::expect_clean_exit(*enqueuer, kProcessDeadline, "enqueuer");
  ASSERT_TRUE(wait_until_drained()) << jobs_left() << " jobs left";
  stop_workers();
  expect_each_exactly_once(1400);
}

TEST_F(MultiProcess, ProcessesMigratingABrandNewFileAtOnceAllSucceed) {
  for (int round = 0; round < 3; ++round) {
    SCOPED_TRACE("round " + std::to_string(round));
    const auto path = dir.file("fresh-" + std::to_string(round) + ".db");
    std::vector<std::unique_ptr<ChildProcess>> children;
    for (int i = 0; i < 6; ++i) {
      children.push_back(std::make_unique<ChildProcess>(
          ERRAND_TEST_WORKER, std::vector<std::string>{"migrate", "sqlite:" + path.string()}));
    }
    for (auto& child : children)
      errand_test::expect_clean_exit(*child, kProcessDeadline, "migrating process");
    SqliteDb db(path);
    EXPECT_EQ(db.text("SELECT value FROM errand_meta WHERE key = 'schema_version'"),
              std::to_string(errand::sqlite_schema_version()));
    EXPECT_EQ(db.integer("SELECT count(*) FROM errand_meta"), 1);
    EXPECT_EQ(db.integer("SELECT count(*) FROM sqlite_master WHERE name = 'errand_jobs'"), 1);
    EXPECT_EQ(db.text("PRAGMA journal_mode"), "wal");
  }
}

TEST_F(MultiProcess, JobsOfACrashedWorkerProcessAreRescued) {
  constexpr std::int64_t kJobs = 300;
  enqueue_marks(url(), 0, kJobs);
  auto& crashing = start_worker({.concurrency = 4, .lock_timeout_ms = 1000, .crash_after = 5});
  auto crashed = crashing.wait(kProcessDeadline);
  ASSERT_TRUE(crashed) << "the crashing worker did not crash";
  EXPECT_TRUE(WIFEXITED(*crashed) && WEXITSTATUS(*crashed) == 3)
      << ChildProcess::describe(*crashed);
  {
    SqliteDb db(db_path());
    EXPECT_GT(db.integer("SELECT count(*) FROM errand_jobs WHERE locked_by IS NOT NULL"), 0)
        << "the crashed worker should have left locked jobs behind";
  }
  for (int i = 0; i < 2; ++i)
    start_worker({.concurrency = 4, .lock_timeout_ms = 1000});
  ASSERT_TRUE(wait_until_drained()) << jobs_left() << " jobs left";
  workers.erase(workers.begin());  // already reaped
  stop_workers();
  const auto seen = marks();
  std::int64_t missing = 0;
  for (std::int64_t n = 0; n < kJobs; ++n)
    missing += seen.count(n) ? 0 : 1;
  EXPECT_EQ(missing, 0) << "jobs of the crashed worker were lost";
}

// 8 processes x 4 threads enqueue one unique job 1,000 times each at once (per call: one job, a
// batch of copies, or one job of a period bucket): one job, every other call told its id. Under
// a sanitizer 250 times each (support/sanitized.hpp).
class UniqueContention : public MultiProcess, public ::testing::WithParamInterface<const char*> {};

TEST_P(UniqueContention, EightProcessesEnqueueingOneUniqueJobMakeExactlyOne) {
  errand_test::expect_one_unique_job(ERRAND_TEST_WORKER, url(), GetParam(), 8, 4,
                                     errand_test::repetitions(1000), dir.path());
}

INSTANTIATE_TEST_SUITE_P(Modes, UniqueContention, ::testing::Values("single", "batch", "period"));

}  // namespace

// SQLite has no notification between processes: the worker learns of the cancel with its next
// heartbeat (every 200 ms here).
TEST(MultiProcessCancel, ACancelReachesAJobRunningInAnotherProcessByItsHeartbeat) {
  errand_test::TempDir dir;
  errand_test::expect_cancel_reaches_another_process(ERRAND_TEST_WORKER,
                                                     "sqlite:" + dir.file("cancel.db").string(),
                                                     std::chrono::milliseconds{200}, dir.path());
}
