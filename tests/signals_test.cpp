// StopOnSignals: SIGTERM or SIGINT stops a worker gracefully (its running job sees the stop token
// and is released without charging an attempt); a second signal ends the process at once.
#include "support/jobs.hpp"
#include "support/sqlite_db.hpp"
#include "support/temp_dir.hpp"

#include <errand/errand.hpp>

#include <gtest/gtest.h>

#include <signal.h>
#include <unistd.h>

#include <future>
#include <latch>

namespace errand_test {
namespace {

using namespace std::chrono_literals;

TEST(StopOnSignals, SigtermStopsTheWorkerGracefully) {
  errand::StopOnSignals signals;  // first, before any thread starts
  TempDir dir;
  auto store = errand::open_sqlite(dir.file("jobs.db"));
  errand::Registry<TestState> registry;
  registry.add<HookJob>();
  TestState state;
  std::latch started(1);
  state.hook = [&](const std::string&, std::stop_token stop) {
    started.count_down();
    std::mutex m;
    std::condition_variable_any cv;
    std::unique_lock lock(m);
    cv.wait(lock, stop, [] { return false; });
    throw std::runtime_error("stopped by the shutdown");
  };
  const auto id = errand::enqueue(*store, HookJob{.tag = "long"});
  errand::Worker<TestState> worker(store, registry, state, {});
  auto run = std::async(std::launch::async, [&] { worker.run(signals.token()); });
  started.wait();
  EXPECT_EQ(signals.signal(), 0);
  ASSERT_EQ(::kill(::getpid(), SIGTERM), 0);
  // run() returns once the shutdown is done; a hang fails the test by its ctest timeout.
  run.get();
  EXPECT_EQ(signals.signal(), SIGTERM);
  EXPECT_TRUE(signals.token().stop_requested());
  EXPECT_EQ(worker.stats().released, 1u);
  // The job is back in the queue, unlocked, no attempt charged.
  SqliteDb sql(dir.file("jobs.db"));
  const std::string where = " FROM errand_jobs WHERE id = " + std::to_string(id);
  EXPECT_EQ(sql.integer("SELECT error_count" + where), 0);
  EXPECT_EQ(sql.text("SELECT locked_by" + where), std::nullopt);
}

TEST(StopOnSignals, ASecondSignalEndsTheProcessAtOnce) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(
      {
        errand::StopOnSignals signals;
        ::kill(::getpid(), SIGINT);
        while (!signals.token().stop_requested())
          std::this_thread::yield();
        ::kill(::getpid(), SIGINT);
        for (;;)
          std::this_thread::sleep_for(1s);  // the watcher ends the process
      },
      ::testing::ExitedWithCode(128 + SIGINT), "");
}

}  // namespace
}  // namespace errand_test
