#include "support/unique_contention.hpp"

#include "support/mark_job.hpp"
#include "support/process.hpp"
#include "support/wait.hpp"

#include <errand/errand.hpp>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <fcntl.h>
#include <unistd.h>

#include <fstream>
#include <map>
#include <memory>
#include <stdexcept>
#include <thread>
#include <vector>

namespace errand_test {

namespace {

const errand::TimePoint kPeriodStart =
    errand::TimePoint{std::chrono::sys_days{std::chrono::year{2100} / 1 / 1}.time_since_epoch()};

// One thread's calls; returns its lines.
std::string enqueue_calls(errand::Store& store, std::string_view mode, int thread, int calls) {
  std::string lines;
  auto record = [&lines](const errand::Enqueued& done) {
    lines += fmt::format("{} {}\n", done.id, errand::to_string(done.outcome));
  };
  const MarkJob job{7};
  for (int call = 0; call < calls; ++call) {
    if (mode == "single") {
      record(errand::enqueue(store, job, {.context = "unique", .unique = errand::UniqueOptions{}}));
    } else if (mode == "batch") {
      const std::vector<MarkJob> rows(kUniqueBatchRows, job);
      for (const auto& done : errand::enqueue_all(
               store, rows, {.context = "unique", .unique = errand::UniqueOptions{}}))
        record(done);
    } else if (mode == "period") {
      const auto minute = std::chrono::minutes{(thread * 7 + call) % 60};
      record(errand::enqueue(store, job,
                             {.context = "unique",
                              .run_at = kPeriodStart + minute,
                              .unique = errand::UniqueOptions{.fields = std::vector<std::string>{},
                                                              .period = std::chrono::hours{1}}}));
    } else {
      throw std::invalid_argument("unknown mode " + std::string(mode));
    }
  }
  return lines;
}

// The store of a contention child. SQLite's write lock is not handed out in order: with 32
// threads of 8 processes asking for it all the time, one can wait past the default busy timeout
// of 5 s (seen under AddressSanitizer), which would fail its enqueue with "database is locked".
// What this test checks is uniqueness, so SQLite children wait up to 2 minutes.
std::shared_ptr<errand::Store> open_for_contention(const std::string& url) {
  constexpr std::string_view sqlite = "sqlite:";
  if (!url.starts_with(sqlite)) return errand::open_store(url);
  errand::SqliteOptions options;
  options.busy_timeout = std::chrono::minutes{2};
  return errand::open_sqlite(url.substr(sqlite.size()), options);
}

}  // namespace

int run_unique_enqueuer(const std::string& url, std::string_view mode, int threads, int calls,
                        const std::filesystem::path& out, const std::filesystem::path& go) {
  auto store = open_for_contention(url);
  std::ofstream(out.string() + ".ready").put('\n');
  if (!eventually([&] { return std::filesystem::exists(go); }, std::chrono::seconds{60})) {
    throw std::runtime_error("never released");
  }
  std::vector<std::string> lines(static_cast<std::size_t>(threads));
  std::vector<std::string> errors(static_cast<std::size_t>(threads));
  {
    std::vector<std::jthread> running;
    for (int t = 0; t < threads; ++t) {
      running.emplace_back([&, t] {
        try {
          lines[static_cast<std::size_t>(t)] = enqueue_calls(*store, mode, t, calls);
        } catch (const std::exception& e) {
          errors[static_cast<std::size_t>(t)] = e.what();
        }
      });
    }
  }
  std::ofstream file(out);
  for (const auto& text : lines)
    file << text;
  int status = 0;
  for (const auto& error : errors) {
    if (!error.empty()) {
      fmt::print(stderr, "unique enqueuer: {}\n", error);
      status = 1;
    }
  }
  return file.good() ? status : 1;
}

void expect_one_unique_job(const std::string& program, const std::string& url,
                           std::string_view mode, int processes, int threads, int calls,
                           const std::filesystem::path& scratch) {
  errand::open_store(url).reset();  // migrated before the children race
  const auto go = scratch / fmt::format("{}.go", mode);
  std::vector<std::filesystem::path> outs;
  std::vector<std::unique_ptr<ChildProcess>> children;
  for (int p = 0; p < processes; ++p) {
    outs.push_back(scratch / fmt::format("{}-{}.out", mode, p));
    children.push_back(std::make_unique<ChildProcess>(
        program,
        std::vector<std::string>{"unique", url, std::string(mode), std::to_string(threads),
                                 std::to_string(calls), outs.back().string(), go.string()}));
  }
  ASSERT_TRUE(eventually(
      [&] {
        for (const auto& out : outs)
          if (!std::filesystem::exists(out.string() + ".ready")) return false;
        return true;
      },
      std::chrono::seconds{60}))
      << "the children did not all open the store";
  std::ofstream(go).put('\n');
  for (auto& child : children)
    expect_clean_exit(*child, std::chrono::seconds{180}, "unique enqueuer");

  std::map<std::string, std::int64_t> outcomes;
  std::map<std::int64_t, std::int64_t> ids;
  std::int64_t lines = 0;
  for (const auto& out : outs) {
    std::ifstream in(out);
    std::int64_t id = 0;
    std::string outcome;
    while (in >> id >> outcome) {
      ++lines;
      ++outcomes[outcome];
      ++ids[id];
    }
  }
  const std::int64_t rows = mode == "batch" ? kUniqueBatchRows : 1;
  EXPECT_EQ(lines, std::int64_t{processes} * threads * calls * rows);
  EXPECT_EQ(outcomes["inserted"], 1) << "exactly one call inserts the job";
  EXPECT_EQ(outcomes["duplicate"], lines - 1) << "every other call reports the duplicate";
  ASSERT_EQ(ids.size(), 1U) << "every call reports the one job's id";

  auto store = errand::open_store(url);
  const auto jobs = store->list_jobs({.limit = 10});
  ASSERT_EQ(jobs.size(), 1U) << "exactly one job exists";
  EXPECT_EQ(jobs[0].id, ids.begin()->first);
  const auto counts = store->counts(std::chrono::hours{2});
  EXPECT_EQ(counts.ready + counts.scheduled + counts.running + counts.completed + counts.dead +
                counts.cancelled,
            1);
}

}  // namespace errand_test
