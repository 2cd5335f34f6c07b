// A child process for the multi-process tests.
//   errand_test_worker work URL OUT CONCURRENCY LOCK_TIMEOUT_MS CRASH_AFTER
//       runs a Worker until SIGTERM (graceful stop), marking each job's number in OUT: a file
//       (one line per run), or a postgres:// URL whose search_path holds a table
//       results(job_id bigint, worker int) (one row per run: the job's number and this pid)
//   errand_test_worker enqueue URL FIRST COUNT BATCH
//       enqueues MarkJob{FIRST} ... MarkJob{FIRST + COUNT - 1}, BATCH per transaction
//   errand_test_worker migrate URL
//       opens the store (running migrations) and prints its schema version
#include "support/mark_job.hpp"
#include "support/postgres_storage.hpp"

#include <errand/errand.hpp>

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <iostream>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace {

bool is_postgres(const std::string& url) {
  return url.starts_with("postgres://") || url.starts_with("postgresql://");
}

// Records marks as rows of `results`, on connections reused across job threads (at most one
// per job running at once). A connection whose insert failed is dropped; the job then fails
// and is retried like any other.
class ResultsTable {
 public:
  explicit ResultsTable(std::string conninfo) : conninfo_(std::move(conninfo)) {}

  void record(std::int64_t n) {
    std::unique_ptr<errand_test::PgConnection> connection;
    {
      std::lock_guard lock(mutex_);
      if (!idle_.empty()) {
        connection = std::move(idle_.back());
        idle_.pop_back();
      }
    }
    if (!connection) connection = std::make_unique<errand_test::PgConnection>(conninfo_);
    connection->exec("INSERT INTO results (job_id, worker) VALUES (" + std::to_string(n) + ", " +
                     std::to_string(::getpid()) + ")");
    std::lock_guard lock(mutex_);
    idle_.push_back(std::move(connection));
  }

 private:
  std::string conninfo_;
  std::mutex mutex_;
  std::vector<std::unique_ptr<errand_test::PgConnection>> idle_;
};

int work(const std::string& url, const std::string& out, std::size_t concurrency,
         long lock_timeout_ms, int crash_after) {
  // Block the stop signals in every thread; a dedicated wait turns them into a stop request.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  errand_test::MarkState state;
  state.crash_after = crash_after;
  std::unique_ptr<ResultsTable> results;
  if (is_postgres(out)) {
    results = std::make_unique<ResultsTable>(out);
    state.record = [&results](std::int64_t n) { results->record(n); };
  } else {
    state.fd = ::open(out.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (state.fd < 0) {
      std::perror(out.c_str());
      return 2;
    }
  }
  auto store = errand::open_store(url);
  errand::Registry<errand_test::MarkState> registry;
  registry.add<errand_test::MarkJob>();
  errand::WorkerOptions options;
  options.concurrency = concurrency;
  options.poll_interval = std::chrono::milliseconds{20};
  options.lock_timeout = std::chrono::milliseconds{lock_timeout_ms};
  options.store_retry_min = std::chrono::milliseconds{5};
  options.store_retry_max = std::chrono::milliseconds{100};
  errand::Worker worker(store, registry, state, options);
  std::jthread runner([&](std::stop_token stop) { worker.run(stop); });
  int sig = 0;
  sigwait(&signals, &sig);
  runner.request_stop();
  runner.join();
  const auto stats = worker.stats();
  std::cout << "worker " << ::getpid() << ": started " << stats.started << ", succeeded "
            << stats.succeeded << ", retried " << stats.retried << ", lock lost " << stats.lock_lost
            << ", released " << stats.released << std::endl;
  if (state.fd >= 0) ::close(state.fd);
  return 0;
}

int enqueue(const std::string& url, std::int64_t first, std::int64_t count, std::int64_t batch) {
  auto store = errand::open_store(url);
  for (std::int64_t n = first; n < first + count;) {
    if (batch <= 1) {
      errand::enqueue(*store, errand_test::MarkJob{n}, "enqueuer");
      ++n;
    } else {
      std::vector<errand_test::MarkJob> jobs;
      for (std::int64_t i = 0; i < batch && n < first + count; ++i)
        jobs.push_back({n++});
      errand::enqueue_all(*store, jobs, {.context = "enqueuer"});
    }
  }
  return 0;
}

int migrate(const std::string& url) {
  auto store = errand::open_store(url);
  const int expected =
      is_postgres(url) ? errand::postgres_schema_version() : errand::sqlite_schema_version();
  std::cout << store->schema_version() << std::endl;
  return store->schema_version() == expected ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  const std::vector<std::string> args(argv + 1, argv + argc);
  try {
    if (args.size() == 6 && args[0] == "work") {
      return work(args[1], args[2], std::stoul(args[3]), std::stol(args[4]), std::stoi(args[5]));
    }
    if (args.size() == 5 && args[0] == "enqueue") {
      return enqueue(args[1], std::stoll(args[2]), std::stoll(args[3]), std::stoll(args[4]));
    }
    if (args.size() == 2 && args[0] == "migrate") return migrate(args[1]);
  } catch (const std::exception& e) {
    std::cerr << "errand_test_worker " << (args.empty() ? "" : args[0]) << ": " << e.what()
              << std::endl;
    return 1;
  }
  std::cerr << "usage: errand_test_worker work|enqueue|migrate ...\n";
  return 64;
}
