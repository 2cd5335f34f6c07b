// What the chaos driver's scenarios share (errand_chaos.cpp, chaos_cancel.cpp, chaos_limits.cpp):
// evidence files, the worker's state, child processes, the scratch store, the common options, the
// killer.
#pragma once

#include <errand/errand.hpp>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <stdexcept>
#include <stop_token>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace CLI {
class App;
}

namespace chaos {

namespace fs = std::filesystem;
using std::chrono::milliseconds;
using SteadyClock = std::chrono::steady_clock;

double seconds_since(SteadyClock::time_point start);

// Appends `text` with one write(): on an O_APPEND descriptor concurrent writers never interleave.
void append(int fd, const std::string& text);
int open_append(const fs::path& path);

// A file others append to, read incrementally: each call reads what was appended since the last
// and calls `line` for each complete line (a line cut short stays pending until its newline).
class AppendedLines {
 public:
  explicit AppendedLines(fs::path path) : path_(std::move(path)) {}
  void read_new(const std::function<void(std::string_view)>& line);

 private:
  fs::path path_;
  std::size_t offset_ = 0;
  std::string pending_;
};

// What a running ChaosJob does when its worker shuts down (its stop token fires).
enum class StopPolicy {
  cancel,   // throws at once: the worker releases it without charging an attempt
  finish,   // ignores the token and finishes (within the drain timeout): settled as completed
  overrun,  // ignores the token for longer than the drain timeout: released while still running,
            // then records its run anyway (so it is both recorded and back in the queue)
  mixed,    // by job number: n % 3 == 0 cancel, 1 finish, 2 overrun
};

class RunTable;  // chaos_run_table.hpp

// The worker child's AppState: where runs are recorded, and how the jobs behave.
struct ChaosState {
  int record_fd = -1;
  milliseconds job_time{20};
  StopPolicy on_stop = StopPolicy::cancel;
  milliseconds overrun{1500};
  // The limits scenarios' LimitJob (chaos_limits.hpp) records its runs in the application's own
  // table (`runs`, set when the worker got --runs-db), naming this worker (its id and process)
  // and taking its times from the store's clock.
  std::shared_ptr<RunTable> runs;
  std::string worker_id;
  const errand::Clock* clock = nullptr;
};

// A backoff for jobs that only ever fail by a kill: a rescued job waited its rescue already, so
// it is retried soon (50 ms doubling, at most 1 s).
errand::Duration quick_backoff(std::int32_t error_count);

// Sleeps until `deadline`; returns false, early, when `stop` is requested.
bool sleep_unless_stopped(SteadyClock::time_point deadline, const std::stop_token& stop);

// Set by the driver's SIGINT/SIGTERM handler.
inline std::atomic<bool> g_interrupted{false};

struct Interrupted : std::runtime_error {
  Interrupted() : std::runtime_error("interrupted") {}
};

void check_interrupted();
// Sleeps, but wakes up for an interruption (SIGINT/SIGTERM to the driver).
void pause_for(milliseconds duration);

std::string describe_status(int status);
bool exited_cleanly(int status);

// A child process running this program with `args`, its stdout and stderr appended to `log`.
// Killed (SIGKILL) and reaped on destruction if still running; dies with the driver.
class Child {
 public:
  Child(std::string role, const std::vector<std::string>& args, const fs::path& log);
  ~Child();
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;

  const std::string& role() const { return role_; }
  pid_t pid() const { return pid_; }
  const fs::path& log() const { return log_; }
  SteadyClock::time_point started() const { return started_; }
  std::optional<int> status() const { return status_; }

  // Reaps the child if it has ended; true while it runs.
  bool running();
  void signal(int sig);
  // Waits up to `timeout` for the child to end; its wait status, or nothing if still running.
  std::optional<int> wait(SteadyClock::duration timeout);
  // SIGKILL (if still running: then it counts as killed by the driver), then reap.
  void kill9();
  bool killed() const { return killed_; }

 private:
  std::string role_;
  fs::path log_;
  pid_t pid_ = -1;
  SteadyClock::time_point started_;
  std::optional<int> status_;
  bool killed_ = false;
};

// Calls `f` until it does not throw StoreError (the database may be restarting), for up to
// `patience`.
template <class F>
auto retrying(F&& f, SteadyClock::duration patience = std::chrono::seconds{60}) -> decltype(f()) {
  const auto until = SteadyClock::now() + patience;
  for (;;) {
    try {
      return f();
    } catch (const errand::StoreError&) {
      if (SteadyClock::now() >= until) throw;
    }
    pause_for(milliseconds{200});
  }
}

// The number "n" of a chaos job's payload.
std::int64_t payload_number(const std::string& payload);

// The jobs and dead jobs tables, by payload number.
struct Snapshot {
  std::map<std::int64_t, errand::JobInfo> jobs;
  std::map<std::int64_t, errand::DeadJob> dead;
  std::size_t duplicate_rows = 0;  // two rows with one payload number (never expected)
};

Snapshot take_snapshot(errand::Store& store);

// Rows in the jobs table (any state) and in the dead-letter table.
struct Remaining {
  std::int64_t jobs = 0;
  std::int64_t dead = 0;
  errand::JobCounts counts;
};

Remaining remaining(errand::Store& store, milliseconds lock_timeout);
std::string describe(const Remaining& r);

// Up to `max` numbers of a set, for failure messages.
template <class Range>
std::string sample(const Range& numbers, std::size_t max = 20) {
  std::vector<std::int64_t> shown;
  std::size_t total = 0;
  for (const auto& n : numbers) {
    if (shown.size() < max) shown.push_back(n);
    ++total;
  }
  return fmt::format("{}{}", fmt::join(shown, ", "), total > max ? ", ..." : "");
}

// Runs one SQL command on a PostgreSQL server (for dropping a scenario's schema).
void postgres_exec(const std::string& url, const std::string& sql);

// The options every scenario takes.
struct Common {
  std::string store = "sqlite";  // sqlite or postgres
  std::string pg_url;            // postgres: the server (default: $ERRAND_TEST_PG_URL)
  std::string workdir;           // parent of the scratch directory (default: $TMPDIR or /tmp)
  std::optional<std::uint64_t> seed;
  bool keep = false;
  std::int64_t jobs = 5000;
  int workers = 3;
  std::size_t concurrency = 8;
  int job_ms = 20;
  int heartbeat_ms = 200;
  int rescue_after_ms = 2000;
  std::int64_t lock_timeout_ms = 600'000;
  int poll_ms = 100;
  int drain_timeout_ms = 5000;
  int backoff_unit_ms = 1000;
  int timeout_s = 180;
};

void add_common_options(CLI::App* app, Common& c, bool choose_store);

// One scenario run: a scratch directory, a fresh store (SQLite file or PostgreSQL schema), the
// record file, worker and enqueuer processes, the checks that failed, the report.
class Scenario {
 public:
  Scenario(std::string name, Common common);
  // Kills what is still running; removes the scratch directory and schema unless a check failed
  // or --keep.
  ~Scenario();
  Scenario(const Scenario&) = delete;
  Scenario& operator=(const Scenario&) = delete;

  const Common& common() const { return c_; }
  const std::string& label() const { return label_; }
  const std::string& url() const { return url_; }
  // postgres: the scenario's schema (empty for sqlite).
  const std::string& schema() const { return schema_; }
  const fs::path& dir() const { return dir_; }
  const fs::path& db_file() const { return db_file_; }
  const fs::path& record_path() const { return record_path_; }
  errand::Store& store() { return *store_; }
  std::shared_ptr<errand::Store>& store_handle() { return store_; }
  std::mt19937_64& rng() { return rng_; }
  milliseconds lock_timeout() const { return milliseconds{c_.lock_timeout_ms}; }
  double elapsed() const { return seconds_since(started_); }

  int random_between(int low, int high) {
    return std::uniform_int_distribution<int>(low, high)(rng_);
  }

  // Arguments added to every worker started from now on (e.g. "--keep-completed-s").
  void add_worker_args(const std::vector<std::string>& args);
  // Workers started from now on take the id "worker-SLOT": one restarted after a kill rescues at
  // once what its predecessor held (Store::register_worker), not after rescue_after.
  void name_workers_by_slot() { slot_ids_ = true; }
  // Starts worker process number `slot` (its log: worker-SLOT.log).
  Child& start_worker(int slot, const std::string& on_stop = "cancel", int overrun_ms = 1500);
  Child& start(std::string role, const std::vector<std::string>& args, const fs::path& log);

  // Forgets processes that have ended (after their status was looked at).
  void forget_ended();
  // SIGTERMs every running worker; each must exit 0 within `limit`. Returns the slowest exit.
  double stop_workers(SteadyClock::duration limit);
  // A process that ended by itself (not killed by the driver) is a failure worth a look.
  void check_unexpected_exits();
  static bool was_killed_by_us(const Child& p) { return p.killed(); }

  std::vector<std::unique_ptr<Child>>& processes() { return processes_; }

  void fail(std::string message);
  bool failed() const { return !failures_.empty(); }
  // Fails unless both tables are empty: nothing left to run, nothing dead-lettered, and no
  // payload number in two rows.
  void check_tables_empty(const Snapshot& snapshot);

  // Waits until the jobs table is empty, calling `tick` every ~10 ms (chaos goes there); false
  // (after reporting what is left) when the scenario's timeout passes first.
  template <class Tick>
  bool wait_until_drained(Tick&& tick) {
    const auto deadline = started_ + std::chrono::seconds{c_.timeout_s};
    auto next_check = SteadyClock::now();
    for (;;) {
      check_interrupted();
      if (SteadyClock::now() >= next_check) {
        if (remaining(*store_, lock_timeout()).jobs == 0) return true;
        next_check = SteadyClock::now() + milliseconds{100};
      }
      if (SteadyClock::now() >= deadline) {
        report_not_drained();
        return false;
      }
      tick();
      std::this_thread::sleep_for(milliseconds{10});
    }
  }

  // Prints the report line (with PASS or FAIL) and returns the exit status.
  int finish(const std::string& figures);

 private:
  void report_not_drained();

  std::string name_;
  Common c_;
  std::string label_;
  std::uint64_t seed_ = 0;
  std::mt19937_64 rng_;
  fs::path dir_;
  fs::path db_file_;
  fs::path record_path_;
  std::string schema_;
  std::string url_;
  std::vector<std::string> worker_args_;
  bool slot_ids_ = false;
  std::shared_ptr<errand::Store> store_;
  SteadyClock::time_point started_;
  std::vector<std::unique_ptr<Child>> processes_;
  std::vector<std::string> failures_;
};

// Starts the scenario's workers, then, from its wait loop (tick), SIGKILLs a random one every
// min_ms..max_ms and restarts it at once (and any worker that ended by itself: a failure,
// reported by check_unexpected_exits).
class WorkerKiller {
 public:
  WorkerKiller(Scenario& s, int min_ms, int max_ms);
  void tick();
  int kills() const { return static_cast<int>(killed_.size()); }
  // The processes it killed.
  const std::vector<pid_t>& killed() const { return killed_; }

 private:
  SteadyClock::time_point next() {
    return SteadyClock::now() + milliseconds{s_.random_between(min_ms_, max_ms_)};
  }

  Scenario& s_;
  int min_ms_, max_ms_;
  std::vector<Child*> workers_;
  std::vector<pid_t> killed_;
  SteadyClock::time_point next_kill_;
};

}  // namespace chaos
