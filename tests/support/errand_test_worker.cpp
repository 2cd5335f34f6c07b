// A child process for the multi-process tests.
//   errand_test_worker work URL OUT CONCURRENCY LOCK_TIMEOUT_MS CRASH_AFTER
//       runs a Worker until SIGTERM (graceful stop), marking each job's number in OUT: a file
//       (one line per run), or a postgres:// URL whose search_path holds a table
//       results(job_id bigint, worker int) (one row per run: the job's number and this pid)
//   errand_test_worker enqueue URL FIRST COUNT BATCH
//       enqueues MarkJob{FIRST} ... MarkJob{FIRST + COUNT - 1}, BATCH per transaction
//   errand_test_worker unique URL MODE THREADS CALLS OUT GO
//       enqueues one unique job from THREADS threads CALLS times each once GO exists
//       (support/unique_contention.hpp)
//   errand_test_worker migrate URL
//       opens the store (running migrations) and prints its schema version
//   errand_test_worker block URL OUT HEARTBEAT_MS
//       runs a Worker of BlockJobs until SIGTERM, heartbeating every HEARTBEAT_MS (rescue_after
//       twice that): each run writes "started N" to OUT, waits for its stop token (60 s at most),
//       writes "stopped N" and throws; for the cross-process cancel tests
//
// and, for the read-only and full-disk tests (sqlite_disk_test.cpp):
//   errand_test_worker probe RESULT URL [as=UID:GID] [fsize=BYTES] STEP...
//       opens RESULT (before anything else), then with as= drops to that user and group, then
//       runs the STEPs in order, stopping at the first that throws:
//         open                    opens the store (errand::open_store)
//         open-read-only          opens it as inspection does (OpenMode::read_only)
//         fsize                   lowers this process's soft RLIMIT_FSIZE to BYTES (SIGXFSZ is
//                                 ignored): writing a file at or past that offset fails (EFBIG),
//                                 as on a full disk
//         enqueue:FIRST:COUNT:PAD one batch (errand::enqueue_all) of MarkJob{FIRST} ...
//                                 MarkJob{FIRST + COUNT - 1}, each with a context of PAD bytes
//         counts / list           Store::counts / Store::list_jobs
//         claim                   Store::claim of one job, as a worker would
//       With the limit raised back, writes one line per step to RESULT: "STEP ok [detail]", or
//       "STEP error TYPE: MESSAGE" for the one that threw. Exits 0 when every step succeeded,
//       1 when one threw, 2 when the set-up (RESULT, as=) failed.
//   errand_test_worker fill-settle URL OUT RESULT JOBS FAILURES
//       runs a Worker (concurrency 1) until JOBS MarkJobs have succeeded, marking each in OUT
//       like `work`. The first job, right after writing its mark, lowers the soft RLIMIT_FSIZE
//       to 0: no file of this process can be written any more, so settling that job's outcome
//       fails as on a full disk. Once the worker has logged FAILURES storage errors the limit is
//       raised back (no timing involved) and the worker must settle the outcome it kept. Writes
//       "storage_errors N", "first_error MESSAGE", "succeeded N", "started N" and
//       "errors_before_first_success N" (storage errors logged before the first job's outcome was
//       recorded) lines to RESULT.
#include "support/mark_job.hpp"
#include "support/postgres_storage.hpp"
#include "support/unique_contention.hpp"

#include <errand/errand.hpp>

#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <memory>
#include <mutex>
#include <optional>
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

// Waits for its stop token (a cancel, or the shutdown), recording its start and its stop.
struct BlockJob {
  static constexpr std::string_view name = "Block";
  std::int64_t n = 0;
  void run(int& fd, std::stop_token stop) {
    const auto line = [&](const std::string& text) {
      if (::write(fd, text.data(), text.size()) < 0) std::perror("write");
    };
    line("started " + std::to_string(n) + "\n");
    std::mutex m;
    std::condition_variable_any cv;
    std::unique_lock lock(m);
    cv.wait_for(lock, stop, std::chrono::seconds{60}, [] { return false; });
    line("stopped " + std::to_string(n) + "\n");
    throw std::runtime_error("stopped by its stop token");
  }
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(BlockJob, n)

int block(const std::string& url, const std::string& out, long heartbeat_ms) {
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  int fd = ::open(out.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd < 0) {
    std::perror(out.c_str());
    return 2;
  }
  auto store = errand::open_store(url);
  errand::Registry<int> registry;
  registry.add<BlockJob>();
  errand::WorkerOptions options;
  options.concurrency = 2;
  options.heartbeat_interval = std::chrono::milliseconds{heartbeat_ms};
  options.rescue_after = 2 * options.heartbeat_interval;
  options.poll_interval = std::chrono::milliseconds{20};
  errand::Worker worker(store, registry, fd, options);
  std::jthread runner([&](std::stop_token stop) { worker.run(stop); });
  int sig = 0;
  sigwait(&signals, &sig);
  runner.request_stop();
  runner.join();
  ::close(fd);
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

// --- probe and fill-settle ------------------------------------------------------------------

// Sets the soft limit on the size of files this process writes (the hard limit stays, so the
// soft one can be raised back). RLIM_INFINITY: no limit beyond the hard one.
bool set_file_size_limit(rlim_t bytes) {
  rlimit limit{};
  if (::getrlimit(RLIMIT_FSIZE, &limit) != 0) return false;
  limit.rlim_cur = bytes == RLIM_INFINITY ? limit.rlim_max : std::min(bytes, limit.rlim_max);
  return ::setrlimit(RLIMIT_FSIZE, &limit) == 0;
}

std::string one_line(std::string text) {
  for (char& c : text)
    if (c == '\n' || c == '\r') c = ' ';
  return text;
}

bool write_all(int fd, const std::string& text) {
  std::size_t done = 0;
  while (done < text.size()) {
    const ssize_t n = ::write(fd, text.data() + done, text.size() - done);
    if (n <= 0) return false;
    done += static_cast<std::size_t>(n);
  }
  return true;
}

// The exception being handled, as "TYPE: MESSAGE".
std::string describe_current_exception() {
  try {
    throw;
  } catch (const errand::EnqueueError& e) {
    return std::string("EnqueueError(") +
           (e.kind() == errand::EnqueueError::Kind::storage ? "storage" : "serialization") +
           "): " + one_line(e.what());
  } catch (const errand::StoreError& e) {
    return "StoreError: " + one_line(e.what());
  } catch (const errand::ConfigError& e) {
    return "ConfigError: " + one_line(e.what());
  } catch (const errand::Error& e) {
    return "Error: " + one_line(e.what());
  } catch (const std::exception& e) {
    return "std::exception: " + one_line(e.what());
  } catch (...) {
    return "unknown exception";
  }
}

std::vector<std::string> split(const std::string& text, char separator) {
  std::vector<std::string> parts;
  std::size_t start = 0;
  for (;;) {
    const auto end = text.find(separator, start);
    parts.push_back(text.substr(start, end - start));
    if (end == std::string::npos) return parts;
    start = end + 1;
  }
}

int probe(const std::vector<std::string>& args) {
  const std::string& result_path = args[1];
  const std::string& url = args[2];
  const int result = ::open(result_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (result < 0) {
    std::perror(result_path.c_str());
    return 2;
  }
  ::signal(SIGXFSZ, SIG_IGN);
  std::optional<rlim_t> fsize;
  std::vector<std::string> steps;
  for (std::size_t i = 3; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (arg.starts_with("as=")) {
      const auto ids = split(arg.substr(3), ':');
      if (ids.size() != 2) return 64;
      const auto uid = static_cast<uid_t>(std::stoul(ids[0]));
      const auto gid = static_cast<gid_t>(std::stoul(ids[1]));
      if (::setgroups(0, nullptr) != 0 || ::setgid(gid) != 0 || ::setuid(uid) != 0) {
        std::perror("errand_test_worker probe: dropping privileges");
        return 2;
      }
    } else if (arg.starts_with("fsize=")) {
      fsize = static_cast<rlim_t>(std::stoull(arg.substr(6)));
    } else {
      steps.push_back(arg);
    }
  }
  std::shared_ptr<errand::Store> store;
  std::string report;
  int status = 0;
  for (const std::string& step : steps) {
    const auto parts = split(step, ':');
    try {
      if (step == "open") {
        store = errand::open_store(url);
        report += "open ok\n";
      } else if (step == "open-read-only") {
        errand::OpenOptions options;
        options.mode = errand::OpenMode::read_only;
        store = errand::open_store(url, options);
        report += "open-read-only ok\n";
      } else if (step == "fsize" && fsize) {
        if (!set_file_size_limit(*fsize)) throw std::runtime_error("setrlimit failed");
        report += "fsize ok " + std::to_string(*fsize) + "\n";
      } else if (parts[0] == "enqueue" && parts.size() == 4 && store) {
        const std::int64_t first = std::stoll(parts[1]);
        const std::int64_t count = std::stoll(parts[2]);
        std::vector<errand_test::MarkJob> jobs;
        for (std::int64_t n = first; n < first + count; ++n)
          jobs.push_back({n});
        const auto ids =
            errand::enqueue_all(*store, jobs, {.context = std::string(std::stoul(parts[3]), 'x')});
        report += step + " ok " + std::to_string(ids.size()) + "\n";
      } else if (step == "counts" && store) {
        const auto counts = store->counts(std::chrono::hours{2});
        report += "counts ok ready=" + std::to_string(counts.ready) +
                  " dead=" + std::to_string(counts.dead) + "\n";
      } else if (step == "list" && store) {
        report += "list ok " + std::to_string(store->list_jobs({}).size()) + "\n";
      } else if (step == "claim" && store) {
        report += "claim ok " +
                  std::to_string(store->claim("probe", 1, std::chrono::hours{2}).size()) + "\n";
      } else {
        report += step + " error usage: unknown step, or no store opened yet\n";
        status = 64;
        break;
      }
    } catch (...) {
      report += step + " error " + describe_current_exception() + "\n";
      status = 1;
      break;
    }
  }
  store.reset();  // closing may write (a checkpoint); still under the limit, like the steps
  set_file_size_limit(RLIM_INFINITY);
  if (!write_all(result, report)) {
    std::perror(result_path.c_str());
    return 2;
  }
  ::close(result);
  return status;
}

int fill_settle(const std::string& url, const std::string& out, const std::string& result_path,
                int jobs, int failures) {
  ::signal(SIGXFSZ, SIG_IGN);
  const int result = ::open(result_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  const int marks = ::open(out.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (result < 0 || marks < 0) {
    std::perror("errand_test_worker fill-settle: opening RESULT or OUT");
    return 2;
  }

  std::mutex mutex;
  std::condition_variable cv;
  bool limited = false;
  int storage_errors = 0;  // logged while the limit was in force
  std::string first_error;
  int succeeded = 0;
  int errors_before_first_success = -1;

  bool lowered = false;  // once, by the first job

  errand_test::MarkState state;
  state.record = [&](std::int64_t n) {
    if (!write_all(marks, std::to_string(n) + "\n")) throw std::runtime_error("cannot mark");
    std::lock_guard lock(mutex);
    if (lowered) return;
    if (!set_file_size_limit(0)) throw std::runtime_error("setrlimit failed");
    lowered = limited = true;
  };
  auto store = errand::open_store(url);
  errand::Registry<errand_test::MarkState> registry;
  registry.add<errand_test::MarkJob>();
  errand::WorkerOptions options;
  options.concurrency = 1;
  options.prefetch = 0;  // nothing else runs (and fails to write its mark) while the disk is full
  options.poll_interval = std::chrono::milliseconds{20};
  options.store_retry_min = std::chrono::milliseconds{5};
  options.store_retry_max = std::chrono::milliseconds{50};
  options.log = [&](errand::LogLevel level, std::string_view message) {
    errand::log_to_stderr(level, message);
    if (level != errand::LogLevel::error) return;
    std::lock_guard lock(mutex);
    if (!limited) return;
    if (storage_errors++ == 0) first_error = one_line(std::string(message));
    if (storage_errors >= failures) {
      set_file_size_limit(RLIM_INFINITY);
      limited = false;
    }
  };
  options.on_event = [&](const errand::WorkerEvent& event) {
    if (event.kind != errand::WorkerEvent::Kind::succeeded) return;
    {
      std::lock_guard lock(mutex);
      if (succeeded++ == 0) errors_before_first_success = storage_errors;
    }
    cv.notify_all();
  };
  errand::Worker worker(store, registry, state, options);
  {
    std::jthread runner([&](std::stop_token stop) { worker.run(stop); });
    std::unique_lock lock(mutex);
    cv.wait(lock, [&] { return succeeded >= jobs; });
  }  // stops and joins the worker
  const auto stats = worker.stats();
  std::lock_guard lock(mutex);
  const std::string report = "storage_errors " + std::to_string(storage_errors) + "\nfirst_error " +
                             first_error + "\nsucceeded " + std::to_string(stats.succeeded) +
                             "\nstarted " + std::to_string(stats.started) +
                             "\nerrors_before_first_success " +
                             std::to_string(errors_before_first_success) + "\n";
  const bool written = write_all(result, report);
  ::close(result);
  ::close(marks);
  return written ? 0 : 2;
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
    if (args.size() == 7 && args[0] == "unique") {
      return errand_test::run_unique_enqueuer(args[1], args[2], std::stoi(args[3]),
                                              std::stoi(args[4]), args[5], args[6]);
    }
    if (args.size() == 2 && args[0] == "migrate") return migrate(args[1]);
    if (args.size() == 4 && args[0] == "block") return block(args[1], args[2], std::stol(args[3]));
    if (args.size() >= 3 && args[0] == "probe") return probe(args);
    if (args.size() == 6 && args[0] == "fill-settle") {
      return fill_settle(args[1], args[2], args[3], std::stoi(args[4]), std::stoi(args[5]));
    }
  } catch (const std::exception& e) {
    std::cerr << "errand_test_worker " << (args.empty() ? "" : args[0]) << ": " << e.what()
              << std::endl;
    return 1;
  }
  std::cerr
      << "usage: errand_test_worker work|enqueue|unique|migrate|block|probe|fill-settle ...\n";
  return 64;
}
