#include "support/cross_process_cancel.hpp"

#include "support/process.hpp"
#include "support/wait.hpp"

#include <errand/errand.hpp>

#include <gtest/gtest.h>

#include <signal.h>

#include <fstream>
#include <sstream>

namespace errand_test {

namespace {

std::string read_all(const std::filesystem::path& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

}  // namespace

void expect_cancel_reaches_another_process(const std::string& program, const std::string& url,
                                           std::chrono::milliseconds heartbeat,
                                           const std::filesystem::path& scratch) {
  const auto out = scratch / "block.out";
  auto store = errand::open_store(url);
  const errand::NewJob job{.name = "Block", .payload = R"({"n": 7})"};
  const errand::JobId id = store->enqueue(std::span(&job, 1)).at(0);
  ChildProcess worker(program, {"block", url, out.string(), std::to_string(heartbeat.count())});
  ASSERT_TRUE(eventually([&] { return read_all(out).find("started 7") != std::string::npos; }))
      << "the job never started in the worker process";
  EXPECT_EQ(errand::cancel(*store, id, "from another process").kind,
            errand::CancelResult::Kind::requested);
  EXPECT_TRUE(eventually([&] { return read_all(out).find("stopped 7") != std::string::npos; }))
      << "the run's stop token did not fire";
  EXPECT_TRUE(eventually([&] {
    const auto found = store->find_job(id, std::chrono::hours{2});
    return found && found->state == errand::JobState::cancelled;
  })) << "the job did not end cancelled";
  const auto cancelled = store->find_job(id, std::chrono::hours{2});
  ASSERT_TRUE(cancelled);
  EXPECT_EQ(cancelled->cancel_reason, "from another process");
  EXPECT_EQ(cancelled->last_error, "stopped by its stop token");
  worker.signal(SIGTERM);
  expect_clean_exit(worker, std::chrono::seconds{30}, "the block worker");
}

}  // namespace errand_test
