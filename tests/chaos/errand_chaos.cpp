// errand_chaos: the reliability (chaos) scenarios of issue 4, run by scripts/chaos.
//
//   errand_chaos kill9 --store sqlite|postgres   SIGKILL a random worker every ~200 ms during a
//                                                drain, restarting it at once
//   errand_chaos freeze --store sqlite|postgres  SIGSTOP a random worker for longer than
//                                                rescue_after, then SIGCONT it (a hung worker)
//   errand_chaos restart                         restart PostgreSQL (fast, immediate, and down
//                                                for 4 s) during a drain (ERRAND_TEST_PG_CTL)
//   errand_chaos sigterm --store sqlite|postgres SIGTERM every worker during a drain, check what
//                                                they leave behind, restart, finish
//   errand_chaos durability                      SIGKILL an enqueuer and two workers of one SQLite
//                                                file many times; integrity_check, acked enqueues
//   errand_chaos cancel --store sqlite|postgres  cancel random jobs while random workers are
//                                                SIGKILLed and restarted (chaos_cancel.cpp)
//   errand_chaos limits --kind global|key|rate   a queue's limit holds while random workers are
//                       --store sqlite|postgres  SIGKILLed and restarted (chaos_limits.cpp)
//
// Each scenario prints one report line ("kill9 sqlite: 5000 jobs, ...") and exits 1 when a check
// fails (then it keeps its scratch directory and PostgreSQL schema for inspection). The processes
// it starts are this program again (fork + exec of /proc/self/exe):
//
//   errand_chaos worker --db URL --record FILE ...      a Worker running ChaosJob, CancelJob
//                                                       and LimitJob
//   errand_chaos enqueue --db URL --first N --count M --batch B --ack FILE
//
// Evidence is kept in append-only files, written with one write() on an O_APPEND descriptor:
//   record file  one line per run of a job, "+<n>\n", or "+<n> stopped\n" when the run ended
//                after the worker was asked to stop (n: the job's payload number);
//   ack file     ">first\n" before a batch's transaction begins, then one line per job, "+<n>\n",
//                written after the batch's commit returned.
// The leading marker makes a record torn by a kill (a write cut short between two pages) visible:
// its fragment runs into the next line as "+12+4567\n" and is counted as torn, not misread.
// (CancelJob's record lines are described in chaos_cancel.cpp; what the scenarios share is in
// chaos_support.hpp.)
#include "chaos_cancel.hpp"
#include "chaos_cron.hpp"
#include "chaos_limits.hpp"
#include "chaos_restart.hpp"
#include "chaos_run_table.hpp"
#include "chaos_support.hpp"

#include <errand/errand.hpp>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <sqlite3.h>
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <stdexcept>
#include <stop_token>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

using namespace chaos;

namespace {

using namespace std::chrono_literals;

// ---------------------------------------------------------------------------------------------
// The job
// ---------------------------------------------------------------------------------------------

StopPolicy parse_stop_policy(const std::string& text) {
  if (text == "cancel") return StopPolicy::cancel;
  if (text == "finish") return StopPolicy::finish;
  if (text == "overrun") return StopPolicy::overrun;
  if (text == "mixed") return StopPolicy::mixed;
  throw std::invalid_argument("--on-stop: expected cancel, finish, overrun or mixed");
}

StopPolicy policy_of(StopPolicy policy, std::int64_t n) {
  if (policy != StopPolicy::mixed) return policy;
  switch (n % 3) {
    case 0:
      return StopPolicy::cancel;
    case 1:
      return StopPolicy::finish;
    default:
      return StopPolicy::overrun;
  }
}

struct ChaosJob {
  static constexpr std::string_view name = "ChaosJob";
  std::int64_t n = 0;
  std::string pad{};  // ballast making enqueue transactions longer (durability)

  void run(ChaosState& state, std::stop_token stop) {
    const auto done = SteadyClock::now() + state.job_time;
    if (!sleep_unless_stopped(done, stop)) {
      switch (policy_of(state.on_stop, n)) {
        case StopPolicy::cancel:
          throw std::runtime_error("cancelled by the worker's shutdown");
        case StopPolicy::finish:
          std::this_thread::sleep_until(done);
          break;
        case StopPolicy::overrun:
        case StopPolicy::mixed:
          std::this_thread::sleep_for(state.overrun);
          break;
      }
    }
    append(state.record_fd,
           stop.stop_requested() ? fmt::format("+{} stopped\n", n) : fmt::format("+{}\n", n));
  }
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(ChaosJob, n, pad)

// ---------------------------------------------------------------------------------------------
// Child subcommands: worker and enqueue
// ---------------------------------------------------------------------------------------------

struct WorkerArgs {
  std::string db;
  std::string record;
  std::size_t concurrency = 8;
  int job_ms = 20;
  std::string on_stop = "cancel";
  int overrun_ms = 1500;
  int heartbeat_ms = 200;
  int rescue_after_ms = 2000;
  std::int64_t lock_timeout_ms = 600'000;
  int poll_ms = 100;
  int drain_timeout_ms = 5000;
  int backoff_unit_ms = 1000;
  int keep_completed_s = 0;              // retention.completed: 0 deletes completed jobs at once
  std::string worker_id;                 // empty: errand's default, a new one per process
  std::vector<std::string> queues;       // NAME:SLOTS (WorkerOptions::queues); none: every queue
  std::string runs_db;                   // LimitJob's table: a SQLite file, or a PostgreSQL URL
  std::string runs_schema;               // with the schema that holds it
  bool schedules = false;                // fire chaos_schedules() (the cron scenario) ...
  std::string schedules_missed = "all";  // ... with this missed-run policy
};

// Runs a Worker until SIGTERM or SIGINT, then stops it gracefully; prints its stats.
int run_worker(const WorkerArgs& args) {
  // Block the stop signals in every thread (before any is created); sigwait turns them into a
  // stop request.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  ChaosState state;
  state.record_fd = open_append(args.record);
  state.job_time = milliseconds{args.job_ms};
  state.on_stop = parse_stop_policy(args.on_stop);
  state.overrun = milliseconds{args.overrun_ms};
  if (!args.runs_db.empty()) state.runs = RunTable::open(args.runs_db, args.runs_schema);

  auto store = errand::open_store(args.db);
  errand::Registry<ChaosState> registry;
  registry.add<ChaosJob>();
  registry.add<CancelJob>();
  registry.add<LimitJob>();
  registry.add<CronJob>();
  errand::WorkerOptions options;
  if (args.schedules) options.schedules = chaos_schedules(args.schedules_missed);
  options.concurrency = args.concurrency;
  options.poll_interval = milliseconds{args.poll_ms};
  options.lock_timeout = milliseconds{args.lock_timeout_ms};
  options.drain_timeout = milliseconds{args.drain_timeout_ms};
  options.heartbeat_interval = milliseconds{args.heartbeat_ms};
  options.rescue_after = milliseconds{args.rescue_after_ms};
  options.backoff = errand::ExponentialBackoff{.unit = milliseconds{args.backoff_unit_ms}};
  options.store_retry_min = 20ms;
  options.store_retry_max = 500ms;
  options.retention.completed = std::chrono::seconds{args.keep_completed_s};
  options.worker_id = args.worker_id;
  for (const auto& queue : args.queues)
    options.queues.push_back(parse_queue_slots(queue));
  errand::Worker<ChaosState> worker(store, registry, state, options);
  state.worker_id = worker.id();
  state.clock = &store->clock();
  fmt::print("worker {} (pid {}) running\n", worker.id(), ::getpid());
  std::fflush(stdout);

  std::jthread runner([&](std::stop_token stop) { worker.run(stop); });
  int sig = 0;
  sigwait(&signals, &sig);
  const auto stopping = SteadyClock::now();
  runner.request_stop();
  runner.join();
  const auto s = worker.stats();
  fmt::print(
      "chaos-worker-stats pid={} started={} succeeded={} retried={} dead_lettered={} "
      "released={} lock_lost={} rescued={} stop_ms={:.0f}\n",
      ::getpid(), s.started, s.succeeded, s.retried, s.dead_lettered, s.released, s.lock_lost,
      s.rescued, seconds_since(stopping) * 1000);
  std::fflush(stdout);
  ::close(state.record_fd);
  return 0;
}

struct EnqueueArgs {
  std::string db;
  std::string ack;
  std::int64_t first = 1;
  std::int64_t count = 1000;
  std::int64_t batch = 50;
  int pause_ms = 0;
  int pad_bytes = 0;
};

// Enqueues ChaosJob{first} ... ChaosJob{first + count - 1}, `batch` per transaction; after each
// commit returns, appends the batch's numbers to the ack file (one write).
int run_enqueue(const EnqueueArgs& args) {
  auto store = errand::open_store(args.db);
  const int ack = open_append(args.ack);
  const std::int64_t end = args.first + args.count;
  for (std::int64_t n = args.first; n < end;) {
    std::vector<ChaosJob> jobs;
    std::string acked;
    for (std::int64_t i = 0; i < args.batch && n < end; ++i, ++n) {
      jobs.push_back({n, std::string(static_cast<std::size_t>(args.pad_bytes), 'x')});
      acked += fmt::format("+{}\n", n);
    }
    append(ack, fmt::format(">{}\n", jobs.front().n));
    errand::enqueue_all(*store, jobs, {.context = "chaos"});
    append(ack, acked);
    if (args.pause_ms > 0) std::this_thread::sleep_for(milliseconds{args.pause_ms});
  }
  ::close(ack);
  return 0;
}

// ---------------------------------------------------------------------------------------------
// The driver's tools: child processes, evidence files, the store
// ---------------------------------------------------------------------------------------------

// The runs (or acknowledgements) read from an evidence file, read incrementally as it grows.
class Evidence {
 public:
  explicit Evidence(fs::path path) : file_(std::move(path)) {}

  // Reads the complete lines appended since the last call.
  void refresh() {
    file_.read_new([this](std::string_view line) { parse_line(line); });
  }

  // Times each number was recorded (runs), and how many of those ended after a stop request.
  const std::map<std::int64_t, int>& counts() const { return counts_; }
  int count(std::int64_t n) const {
    const auto it = counts_.find(n);
    return it == counts_.end() ? 0 : it->second;
  }
  const std::map<std::int64_t, int>& stopped() const { return stopped_; }
  int stopped_count(std::int64_t n) const {
    const auto it = stopped_.find(n);
    return it == stopped_.end() ? 0 : it->second;
  }
  std::size_t lines() const { return lines_; }
  // Ack files: the batches an enqueuer began (by first number), acknowledged or not.
  bool begun(std::int64_t first) const { return begun_.count(first) > 0; }
  std::size_t torn() const { return torn_; }
  const std::vector<std::string>& malformed() const { return malformed_; }

 private:
  // "+<n>" or "+<n> stopped"; a torn fragment before it looks like "+12+4567".
  void parse_line(std::string_view line) {
    // Each piece starts with a marker; all but the last are fragments of writes cut short by a
    // kill, run into the line that followed them.
    std::size_t last = 0;
    for (std::size_t i = 1; i < line.size(); ++i) {
      if (line[i] == '+' || line[i] == '>') {
        ++torn_;
        last = i;
      }
    }
    std::string_view record = line.substr(last);
    if (record.size() < 2 || (record[0] != '+' && record[0] != '>')) {
      if (!line.empty()) malformed_.emplace_back(line);
      return;
    }
    const bool begun = record[0] == '>';
    record.remove_prefix(1);
    bool stopped = false;
    if (!begun && record.ends_with(" stopped")) {
      stopped = true;
      record.remove_suffix(std::string_view(" stopped").size());
    }
    std::int64_t n = 0;
    const auto [end, ec] = std::from_chars(record.data(), record.data() + record.size(), n);
    if (ec != std::errc{} || end != record.data() + record.size()) {
      malformed_.emplace_back(line);
      return;
    }
    if (begun) {
      begun_.insert(n);
      return;
    }
    ++counts_[n];
    if (stopped) ++stopped_[n];
    ++lines_;
  }

  AppendedLines file_;
  std::map<std::int64_t, int> counts_;
  std::map<std::int64_t, int> stopped_;
  std::set<std::int64_t> begun_;
  std::size_t lines_ = 0;
  std::size_t torn_ = 0;
  std::vector<std::string> malformed_;
};

// `PRAGMA integrity_check` on a SQLite file, on a connection of its own: "ok" when sound.
std::string sqlite_integrity_check(const fs::path& file) {
  sqlite3* db = nullptr;
  if (sqlite3_open_v2(file.c_str(), &db, SQLITE_OPEN_READWRITE, nullptr) != SQLITE_OK) {
    std::string message = db ? sqlite3_errmsg(db) : "out of memory";
    sqlite3_close(db);
    return "cannot open: " + message;
  }
  sqlite3_busy_timeout(db, 10'000);
  sqlite3_stmt* statement = nullptr;
  std::string result;
  if (sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &statement, nullptr) != SQLITE_OK) {
    result = std::string("cannot run: ") + sqlite3_errmsg(db);
  } else {
    int rc;
    while ((rc = sqlite3_step(statement)) == SQLITE_ROW) {
      if (!result.empty()) result += "; ";
      result += reinterpret_cast<const char*>(sqlite3_column_text(statement, 0));
    }
    if (rc != SQLITE_DONE) result += std::string(" (error: ") + sqlite3_errmsg(db) + ")";
  }
  sqlite3_finalize(statement);
  sqlite3_close(db);
  return result;
}

// Sums the "chaos-worker-stats" lines that gracefully stopped workers printed in their logs.
std::map<std::string, std::int64_t> worker_stats(const fs::path& dir) {
  std::map<std::string, std::int64_t> totals;
  for (const auto& entry : fs::directory_iterator(dir)) {
    if (entry.path().extension() != ".log") continue;
    FILE* file = std::fopen(entry.path().c_str(), "r");
    if (!file) continue;
    char line[1024];
    while (std::fgets(line, sizeof line, file)) {
      std::string_view text(line);
      // Rescues are logged as they happen (killed workers print no stats): "... is lost (...);
      // 8 job(s) it held were unlocked and charged an attempt".
      if (const auto at = text.find(" job(s)");
          at != std::string_view::npos &&
          text.find("charged an attempt") != std::string_view::npos) {
        const auto start = text.rfind(' ', at - 1) + 1;
        std::int64_t n = 0;
        std::from_chars(text.data() + start, text.data() + at, n);
        totals["rescued_logged"] += n;
      }
      if (text.find("lost its lock before its outcome was recorded") != std::string_view::npos)
        ++totals["lock_lost_logged"];
      if (!text.starts_with("chaos-worker-stats ")) continue;
      ++totals["stopped"];
      for (std::size_t pos = 0; pos < text.size();) {
        const auto eq = text.find('=', pos);
        if (eq == std::string_view::npos) break;
        const auto key_start = text.rfind(' ', eq) + 1;
        std::int64_t value = 0;
        const auto [end, ec] =
            std::from_chars(text.data() + eq + 1, text.data() + text.size(), value);
        if (ec == std::errc{}) totals[std::string(text.substr(key_start, eq - key_start))] += value;
        pos = static_cast<std::size_t>(end - text.data());
        if (pos <= eq) pos = eq + 1;
      }
    }
    std::fclose(file);
  }
  return totals;
}

// ---------------------------------------------------------------------------------------------
// Scenarios
// ---------------------------------------------------------------------------------------------

// A Scenario whose evidence is the record file of ChaosJob's runs ("+<n>" lines, Evidence).
class RecordedScenario : public Scenario {
 public:
  using Scenario::Scenario;

  // Enqueues jobs first .. first + count - 1 from the driver, 1000 per transaction.
  void enqueue(std::int64_t first, std::int64_t count) {
    for (std::int64_t n = first; n < first + count;) {
      std::vector<ChaosJob> jobs;
      for (; n < first + count && static_cast<std::int64_t>(jobs.size()) < 1000; ++n)
        jobs.push_back({n, {}});
      errand::enqueue_all(store(), jobs, {.context = "chaos"});
    }
  }

  // The common final checks: every number in [1, jobs] ran at least once, nothing else ran, no
  // row left in either table. Returns the duplicate counts {ran twice, ran 3+ times}.
  std::pair<std::size_t, std::size_t> check_all_ran(Evidence& record, std::int64_t jobs) {
    record.refresh();
    const auto snapshot = take_snapshot(store());
    std::vector<std::int64_t> lost;
    std::size_t twice = 0, more = 0;
    for (std::int64_t n = 1; n <= jobs; ++n) {
      const int runs = record.count(n);
      if (runs == 0) lost.push_back(n);
      if (runs == 2) ++twice;
      if (runs >= 3) ++more;
    }
    lost_ = lost.size();
    dead_ = snapshot.dead.size();
    left_ = snapshot.jobs.size();
    distinct_ = static_cast<std::size_t>(jobs) - lost.size();
    if (!lost.empty()) {
      fail(fmt::format("{} job(s) never ran: {}", lost.size(), sample(lost)));
      for (const auto n : lost) {
        if (const auto it = snapshot.jobs.find(n); it != snapshot.jobs.end()) {
          fmt::print("  lost n={} is still in the jobs table (errors {}, locked_by {})\n", n,
                     it->second.error_count, it->second.locked_by.value_or("-"));
        } else if (snapshot.dead.count(n)) {
          fmt::print("  lost n={} is in the dead-letter table\n", n);
        }
      }
    }
    std::vector<std::int64_t> foreign;
    for (const auto& [n, runs] : record.counts())
      if (n < 1 || n > jobs) foreign.push_back(n);
    if (!foreign.empty()) fail(fmt::format("unknown job numbers recorded: {}", sample(foreign)));
    check_evidence_file(record);
    check_tables_empty(snapshot);
    return {twice, more};
  }

  void check_evidence_file(const Evidence& file) {
    if (!file.malformed().empty()) {
      fail(fmt::format("{} malformed line(s) in an evidence file, first: '{}'",
                       file.malformed().size(), file.malformed().front()));
    }
  }

  std::size_t lost() const { return lost_; }
  std::size_t dead() const { return dead_; }
  std::size_t distinct() const { return distinct_; }

 private:
  std::size_t lost_ = 0, dead_ = 0, left_ = 0, distinct_ = 0;
};

// --- kill9 -----------------------------------------------------------------------------------

struct Kill9Args {
  int kill_min_ms = 100;
  int kill_max_ms = 300;
};

// Workers drain N jobs while a random worker is SIGKILLed every kill_min..kill_max ms and
// restarted at once; afterwards every job ran at least once and nothing is left or dead.
int scenario_kill9(const Common& common, const Kill9Args& args) {
  RecordedScenario s("kill9", common);
  const auto& c = s.common();
  s.enqueue(1, c.jobs);
  Evidence record(s.record_path());

  WorkerKiller killer(s, args.kill_min_ms, args.kill_max_ms);
  const bool drained = s.wait_until_drained([&] { killer.tick(); });
  const double drain_s = s.elapsed();
  s.check_unexpected_exits();
  s.stop_workers(std::chrono::milliseconds{c.drain_timeout_ms} + 10s);
  const auto [twice, more] = s.check_all_ran(record, c.jobs);
  if (!drained) s.fail("the queue was not drained");
  return s.finish(fmt::format(
      "{} jobs, {} workers, {} kills, {} distinct ran, {} ran twice, {} ran 3+ times, {} lost, "
      "{} dead, {} torn records, drained in {:.1f} s",
      c.jobs, c.workers, killer.kills(), s.distinct(), twice, more, s.lost(), s.dead(),
      record.torn(), drain_s));
}

// --- freeze ----------------------------------------------------------------------------------

struct FreezeArgs {
  int every_min_ms = 500;
  int every_max_ms = 1500;
  int freeze_min_ms = 2500;
  int freeze_max_ms = 4000;
};

// Workers drain N jobs while a random one is frozen (SIGSTOP) for longer than rescue_after, then
// thawed (SIGCONT): a hung worker. Its jobs are rescued by the others and run again; when it
// wakes up, its outcomes must be refused (lock lost), never applied over another worker's run.
// Afterwards every job ran at least once, nothing is left or dead, every worker exits 0.
int scenario_freeze(const Common& common, const FreezeArgs& args) {
  RecordedScenario s("freeze", common);
  const auto& c = s.common();
  s.enqueue(1, c.jobs);
  Evidence record(s.record_path());

  std::vector<Child*> workers;
  for (int i = 0; i < c.workers; ++i)
    workers.push_back(&s.start_worker(i));
  std::vector<std::optional<SteadyClock::time_point>> thaw_at(workers.size());
  int freezes = 0;
  auto next_freeze =
      SteadyClock::now() + milliseconds{s.random_between(args.every_min_ms, args.every_max_ms)};
  const bool drained = s.wait_until_drained([&] {
    const auto now = SteadyClock::now();
    for (std::size_t i = 0; i < workers.size(); ++i) {
      if (thaw_at[i] && now >= *thaw_at[i]) {
        workers[i]->signal(SIGCONT);
        thaw_at[i].reset();
      }
    }
    if (now < next_freeze) return;
    next_freeze = now + milliseconds{s.random_between(args.every_min_ms, args.every_max_ms)};
    std::vector<std::size_t> awake;
    for (std::size_t i = 0; i < workers.size(); ++i)
      if (!thaw_at[i]) awake.push_back(i);
    if (awake.size() <= 1) return;  // keep one worker working
    const auto victim =
        awake[static_cast<std::size_t>(s.random_between(0, static_cast<int>(awake.size()) - 1))];
    workers[victim]->signal(SIGSTOP);
    thaw_at[victim] = now + milliseconds{s.random_between(args.freeze_min_ms, args.freeze_max_ms)};
    ++freezes;
  });
  const double drain_s = s.elapsed();
  for (std::size_t i = 0; i < workers.size(); ++i)
    if (thaw_at[i]) workers[i]->signal(SIGCONT);
  s.check_unexpected_exits();
  s.stop_workers(std::chrono::milliseconds{c.drain_timeout_ms} + 10s);
  const auto [twice, more] = s.check_all_ran(record, c.jobs);
  if (!drained) s.fail("the queue was not drained");
  const auto stats = worker_stats(s.dir());
  const auto stat = [&](const char* key) {
    const auto it = stats.find(key);
    return it == stats.end() ? std::int64_t{0} : it->second;
  };
  return s.finish(fmt::format(
      "{} jobs, {} workers, {} freezes of {}-{} ms (rescue after {} ms), {} distinct ran, {} ran "
      "twice, {} ran 3+ times, {} lost, {} dead, {} jobs rescued from frozen workers, {} late "
      "outcomes refused (lock lost), drained in {:.1f} s",
      c.jobs, c.workers, freezes, args.freeze_min_ms, args.freeze_max_ms, c.rescue_after_ms,
      s.distinct(), twice, more, s.lost(), s.dead(), stat("rescued_logged"), stat("lock_lost"),
      drain_s));
}

// --- restart (PostgreSQL) --------------------------------------------------------------------

struct RestartArgs {
  // pg_ctl shutdown modes, one restart each; MODE:MS stops the server, waits MS ms, starts it.
  std::vector<std::string> modes{"fast", "immediate", "fast:4000"};
  PgServer server;
};

// Workers drain N jobs while the PostgreSQL server is restarted (once per mode, at evenly spaced
// points of the drain); they reconnect and finish; nothing lost, nothing dead.
int scenario_restart(Common common, RestartArgs args) {
  common.store = "postgres";
  args.server = server_from_environment(std::move(args.server));
  RecordedScenario s("restart", common);
  const auto& c = s.common();
  s.enqueue(1, c.jobs);
  Evidence record(s.record_path());
  for (int i = 0; i < c.workers; ++i)
    s.start_worker(i);

  std::size_t restarts = 0;
  std::vector<std::string> done;
  const auto restart_log = s.dir() / "pg_ctl.log";
  const bool drained = s.wait_until_drained([&] {
    if (restarts >= args.modes.size()) return;
    record.refresh();
    // Restart k at k / (restarts + 1) of the drain.
    const auto due = static_cast<std::size_t>(c.jobs) * (restarts + 1) / (args.modes.size() + 1);
    if (record.lines() < due) return;
    const auto& spec = args.modes[restarts];
    const auto start = SteadyClock::now();
    const std::string error = restart_server(args.server, spec, restart_log);
    const double took = seconds_since(start);
    if (!error.empty()) s.fail(fmt::format("restarting the server ({}): {}", spec, error));
    done.push_back(fmt::format("{} at {} runs, down {:.1f} s", spec, record.lines(), took));
    fmt::print("{}: restarted the server (-m {}) after {} recorded runs; it took {:.1f} s\n",
               s.label(), spec, record.lines(), took);
    std::fflush(stdout);
    ++restarts;
  });
  const double drain_s = s.elapsed();
  s.check_unexpected_exits();
  s.stop_workers(std::chrono::milliseconds{c.drain_timeout_ms} + 10s);
  const auto [twice, more] = s.check_all_ran(record, c.jobs);
  if (!drained) s.fail("the queue was not drained");
  if (restarts < args.modes.size()) {
    s.fail(fmt::format("only {} of {} restarts happened", restarts, args.modes.size()));
  }
  const auto stats = worker_stats(s.dir());
  const auto stat = [&](const char* key) {
    const auto it = stats.find(key);
    return it == stats.end() ? std::int64_t{0} : it->second;
  };
  return s.finish(fmt::format(
      "{} jobs, {} workers, {} restarts ({}), {} distinct ran, {} ran twice, {} ran 3+ times, "
      "{} lost, {} dead, {} jobs rescued from workers taken for lost, {} outcomes dropped (lock "
      "lost), drained in {:.1f} s",
      c.jobs, c.workers, restarts, fmt::join(done, "; "), s.distinct(), twice, more, s.lost(),
      s.dead(), stat("rescued_logged"), stat("lock_lost"), drain_s));
}

// --- sigterm ---------------------------------------------------------------------------------

struct SigtermArgs {
  int rounds = 3;
  int run_min_ms = 1000;
  int run_max_ms = 2500;
  int overrun_ms = 0;  // 0: drain timeout + 500 ms
};

// Workers (jobs: a third cancel on stop, a third finish, a third overrun the drain timeout) are
// SIGTERMed together mid-drain, `rounds` times. After each stop: every worker exited 0 in time;
// every job is recorded and gone, or in the table unlocked and uncharged; a job that finished
// during the drain was settled (gone); only overrunning jobs are both recorded and present.
// Then workers restart; at the end everything ran.
int scenario_sigterm(const Common& common, SigtermArgs args) {
  RecordedScenario s("sigterm", common);
  const auto& c = s.common();
  if (args.overrun_ms <= 0) args.overrun_ms = c.drain_timeout_ms + 500;
  s.enqueue(1, c.jobs);
  Evidence record(s.record_path());
  const auto exit_limit = milliseconds{std::max(c.drain_timeout_ms, args.overrun_ms)} + 3s;

  std::size_t finished_in_drain = 0, overran = 0, released_total = 0;
  double slowest_exit = 0;
  for (int round = 1; round <= args.rounds; ++round) {
    for (int i = 0; i < c.workers; ++i)
      s.start_worker(i, "mixed", args.overrun_ms);
    pause_for(milliseconds{s.random_between(args.run_min_ms, args.run_max_ms)});
    record.refresh();
    const auto before_stop = record.lines();
    const std::map<std::int64_t, int> stopped_before = record.stopped();
    const double exit_s = s.stop_workers(exit_limit);
    slowest_exit = std::max(slowest_exit, exit_s);
    record.refresh();
    const auto snapshot = take_snapshot(s.store());

    // What this stop left behind. Every row: unlocked and uncharged. A job recorded and still
    // queued: only one whose run overran the drain timeout (and so was released while running).
    std::vector<std::int64_t> unsettled, charged, locked, missing;
    for (const auto& [n, job] : snapshot.jobs) {
      if (job.error_count != 0) charged.push_back(n);
      if (job.locked_by) locked.push_back(n);
      if (record.count(n) > 0 && !(policy_of(StopPolicy::mixed, n) == StopPolicy::overrun &&
                                   record.stopped_count(n) > 0)) {
        unsettled.push_back(n);
      }
    }
    for (std::int64_t n = 1; n <= c.jobs; ++n)
      if (record.count(n) == 0 && !snapshot.jobs.count(n)) missing.push_back(n);
    // The runs that ended after this SIGTERM: settled as completed (gone from the table), or
    // overran the drain and were released (still queued).
    std::size_t in_drain = 0, over = 0;
    for (const auto& [n, count] : record.stopped()) {
      const auto before = stopped_before.find(n);
      if (count == (before == stopped_before.end() ? 0 : before->second)) continue;
      if (!snapshot.jobs.count(n))
        ++in_drain;
      else if (policy_of(StopPolicy::mixed, n) == StopPolicy::overrun)
        ++over;
    }
    if (!snapshot.dead.empty())
      s.fail(fmt::format("round {}: {} dead", round, snapshot.dead.size()));
    if (!charged.empty())
      s.fail(fmt::format("round {}: {} released job(s) were charged an attempt: {}", round,
                         charged.size(), sample(charged)));
    if (!locked.empty())
      s.fail(fmt::format("round {}: {} job(s) still locked after every worker stopped: {}", round,
                         locked.size(), sample(locked)));
    if (!unsettled.empty())
      s.fail(fmt::format("round {}: {} job(s) finished (recorded) but still queued: {}", round,
                         unsettled.size(), sample(unsettled)));
    if (!missing.empty())
      s.fail(fmt::format("round {}: {} job(s) neither recorded nor queued: {}", round,
                         missing.size(), sample(missing)));
    const auto stats = worker_stats(s.dir());
    const auto released_now =
        stats.count("released") ? static_cast<std::size_t>(stats.at("released")) : 0;
    fmt::print(
        "{}: stop {}: {} runs recorded before SIGTERM, {} finished during the drain (settled), "
        "{} overran the drain (released, recorded, queued), {} released in all ({} cancelled or "
        "unstarted), {} still queued, workers exited within {:.2f} s\n",
        s.label(), round, before_stop, in_drain, over, released_now - released_total,
        released_now - released_total - over, snapshot.jobs.size(), exit_s);
    std::fflush(stdout);
    finished_in_drain += in_drain;
    overran += over;
    released_total = released_now;
  }

  // Restart and drain the rest, undisturbed.
  for (int i = 0; i < c.workers; ++i)
    s.start_worker(i, "mixed", args.overrun_ms);
  const bool drained = s.wait_until_drained([] {});
  s.check_unexpected_exits();
  const double exit_s = s.stop_workers(exit_limit);
  slowest_exit = std::max(slowest_exit, exit_s);
  const auto [twice, more] = s.check_all_ran(record, c.jobs);
  if (!drained) s.fail("the queue was not drained");
  return s.finish(fmt::format(
      "{} jobs, {} workers, {} SIGTERM rounds, {} finished during drains, {} overran and were "
      "released, {} released in all, {} distinct ran, {} ran twice, {} ran 3+ times, {} lost, "
      "{} dead, slowest exit {:.2f} s",
      c.jobs, c.workers, args.rounds, finished_in_drain, overran, released_total, s.distinct(),
      twice, more, s.lost(), s.dead(), slowest_exit));
}

// --- durability (SQLite) ---------------------------------------------------------------------

struct DurabilityArgs {
  int kills = 50;
  int kill_min_ms = 100;
  int kill_max_ms = 300;
  std::int64_t enqueue_count = 2000;  // per enqueuer process
  std::int64_t enqueue_batch = 20;
  int enqueue_pause_ms = 10;
  int enqueue_pad_bytes = 16384;  // 20 x 16 KiB per transaction: kills land inside one often
};

// One enqueuer (a fresh range of numbers per process) and `workers` workers share one SQLite
// file; a random one of them is SIGKILLed `kills` times and restarted. Then everything is
// killed; the file passes integrity_check; every acknowledged job was run or is still queued;
// every batch is all there or not at all. Then workers drain the rest; everything acknowledged
// ran; integrity_check again.
int scenario_durability(Common common, const DurabilityArgs& args) {
  common.store = "sqlite";
  RecordedScenario s("durability", common);
  const auto& c = s.common();
  const fs::path ack_path = s.dir() / "ack.txt";
  Evidence record(s.record_path());
  Evidence acks(ack_path);

  struct Range {
    std::int64_t first, count;
  };
  std::vector<Range> ranges;
  std::int64_t next_first = 1;
  int enqueuers = 0;
  const auto start_enqueuer = [&]() -> Child& {
    ranges.push_back({next_first, args.enqueue_count});
    std::vector<std::string> a{"enqueue",
                               "--db",
                               s.url(),
                               "--ack",
                               ack_path.string(),
                               "--first",
                               std::to_string(next_first),
                               "--count",
                               std::to_string(args.enqueue_count),
                               "--batch",
                               std::to_string(args.enqueue_batch),
                               "--pause-ms",
                               std::to_string(args.enqueue_pause_ms),
                               "--pad-bytes",
                               std::to_string(args.enqueue_pad_bytes)};
    next_first += args.enqueue_count;
    ++enqueuers;
    return s.start("enqueuer", a, s.dir() / "enqueuer.log");
  };

  // Slot 0 is the enqueuer, 1.. the workers.
  std::vector<Child*> slots{&start_enqueuer()};
  for (int i = 0; i < c.workers; ++i)
    slots.push_back(&s.start_worker(i));
  int kills = 0, enqueuer_kills = 0;
  while (kills < args.kills) {
    pause_for(milliseconds{s.random_between(args.kill_min_ms, args.kill_max_ms)});
    const auto slot =
        static_cast<std::size_t>(s.random_between(0, static_cast<int>(slots.size()) - 1));
    Child& victim = *slots[slot];
    if (victim.running()) {
      victim.kill9();
      ++kills;
      if (slot == 0) ++enqueuer_kills;
    }
    // Restart the victim; an enqueuer that finished its range is replaced too (and a worker
    // that ended by itself, a failure reported here).
    s.check_unexpected_exits();
    if (!slots[0]->running()) slots[0] = &start_enqueuer();
    for (std::size_t i = 1; i < slots.size(); ++i)
      if (!slots[i]->running()) slots[i] = &s.start_worker(static_cast<int>(i) - 1);
    s.forget_ended();
  }
  // The final blow: everything at once.
  for (auto& p : s.processes())
    p->kill9();
  s.check_unexpected_exits();
  s.forget_ended();

  // The file as the crashes left it.
  s.store_handle().reset();
  const std::string integrity_after_kills = sqlite_integrity_check(s.db_file());
  if (integrity_after_kills != "ok")
    s.fail("integrity_check after the kills: " + integrity_after_kills);
  s.store_handle() = errand::open_store(s.url());
  record.refresh();
  acks.refresh();
  s.check_evidence_file(record);
  s.check_evidence_file(acks);
  const auto snapshot = take_snapshot(s.store());
  const auto committed = [&](std::int64_t n) {
    return record.count(n) > 0 || snapshot.jobs.count(n) > 0 || snapshot.dead.count(n) > 0;
  };
  std::vector<std::int64_t> missing;
  for (const auto& [n, times] : acks.counts())
    if (!committed(n)) missing.push_back(n);
  if (!missing.empty())
    s.fail(fmt::format("{} acknowledged job(s) are gone: {}", missing.size(), sample(missing)));
  // Batches are atomic: every batch is entirely there or entirely absent.
  std::size_t unacked_present = 0, partial_batches = 0, interrupted = 0, interrupted_committed = 0;
  for (const auto& range : ranges) {
    for (std::int64_t first = range.first; first < range.first + range.count;
         first += args.enqueue_batch) {
      const std::int64_t end = std::min(first + args.enqueue_batch, range.first + range.count);
      std::int64_t present = 0;
      for (std::int64_t n = first; n < end; ++n) {
        if (committed(n)) ++present;
        if (committed(n) && acks.count(n) == 0) ++unacked_present;
      }
      // Killed between the start of the batch and its ack: mostly inside the transaction.
      if (acks.begun(first) && acks.count(first) == 0) {
        ++interrupted;
        if (present > 0) ++interrupted_committed;
      }
      if (present != 0 && present != end - first) {
        ++partial_batches;
        s.fail(fmt::format("batch {}..{} is partly there: {} of {} jobs", first, end - 1, present,
                           end - first));
      }
    }
  }
  const std::size_t queued_after_kills = snapshot.jobs.size();
  std::size_t charged = 0;
  for (const auto& [n, job] : snapshot.jobs)
    if (job.error_count > 0) ++charged;

  // Drain what is left, undisturbed.
  const auto drain_start = SteadyClock::now();
  for (int i = 0; i < c.workers; ++i)
    s.start_worker(i);
  const bool drained = s.wait_until_drained([] {});
  const double drain_s = seconds_since(drain_start);
  s.check_unexpected_exits();
  s.stop_workers(std::chrono::milliseconds{c.drain_timeout_ms} + 10s);
  record.refresh();
  const auto final_snapshot = take_snapshot(s.store());
  std::vector<std::int64_t> never_ran;
  std::size_t twice = 0;
  for (const auto& [n, times] : acks.counts())
    if (record.count(n) == 0) never_ran.push_back(n);
  for (const auto& [n, runs] : record.counts())
    if (runs >= 2) ++twice;
  if (!never_ran.empty())
    s.fail(
        fmt::format("{} acknowledged job(s) never ran: {}", never_ran.size(), sample(never_ran)));
  s.check_tables_empty(final_snapshot);
  if (!drained) s.fail("the queue was not drained");
  s.store_handle().reset();
  const std::string integrity_final = sqlite_integrity_check(s.db_file());
  if (integrity_final != "ok") s.fail("integrity_check at the end: " + integrity_final);
  return s.finish(fmt::format(
      "{} kills ({} enqueuer, {} worker; {} enqueuer processes), integrity_check {} after the "
      "kills and {} at the end, {} jobs acknowledged, {} acknowledged missing, {} batches cut "
      "short by a kill ({} committed unacknowledged: {} jobs; {} rolled back), {} partial "
      "batches, {} queued after the kills ({} charged an attempt), {} distinct ran ({} twice or "
      "more), {} acknowledged never ran, {} dead, {} torn records, final drain {:.1f} s",
      kills, enqueuer_kills, kills - enqueuer_kills, enqueuers, integrity_after_kills,
      integrity_final, acks.counts().size(), missing.size(), interrupted, interrupted_committed,
      unacked_present, interrupted - interrupted_committed, partial_batches, queued_after_kills,
      charged, record.counts().size(), twice, never_ran.size(), final_snapshot.dead.size(),
      record.torn() + acks.torn(), drain_s));
}

void on_driver_signal(int) {
  g_interrupted = true;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "errand chaos tests (issues 4, 13, 14, 15): kill -9, server restart, SIGTERM, SQLite "
      "durability, cancel, queue limits, cron"};
  app.require_subcommand(1);

  WorkerArgs worker;
  auto* worker_cmd = app.add_subcommand("worker", "(child) run a worker until SIGTERM");
  worker_cmd->add_option("--db", worker.db)->required();
  worker_cmd->add_option("--record", worker.record)->required();
  worker_cmd->add_option("--concurrency", worker.concurrency);
  worker_cmd->add_option("--job-ms", worker.job_ms);
  worker_cmd->add_option("--on-stop", worker.on_stop, "cancel, finish, overrun or mixed");
  worker_cmd->add_option("--overrun-ms", worker.overrun_ms);
  worker_cmd->add_option("--heartbeat-ms", worker.heartbeat_ms);
  worker_cmd->add_option("--rescue-after-ms", worker.rescue_after_ms);
  worker_cmd->add_option("--lock-timeout-ms", worker.lock_timeout_ms);
  worker_cmd->add_option("--poll-ms", worker.poll_ms);
  worker_cmd->add_option("--drain-timeout-ms", worker.drain_timeout_ms);
  worker_cmd->add_option("--backoff-unit-ms", worker.backoff_unit_ms);
  worker_cmd->add_option("--keep-completed-s", worker.keep_completed_s,
                         "keep completed jobs this long (retention.completed)");
  worker_cmd->add_option("--worker-id", worker.worker_id, "WorkerOptions.worker_id");
  worker_cmd->add_option("--queue", worker.queues, "NAME:SLOTS, a queue it serves (repeatable)");
  worker_cmd->add_option("--runs-db", worker.runs_db,
                         "LimitJob's table: a SQLite file, or a PostgreSQL URL (--runs-schema)");
  worker_cmd->add_option("--runs-schema", worker.runs_schema, "the schema of LimitJob's table");
  worker_cmd->add_flag("--schedules", worker.schedules, "fire the cron scenario's schedules");
  worker_cmd->add_option("--schedules-missed", worker.schedules_missed,
                         "their missed-run policy: all, once or skip");

  EnqueueArgs enqueue;
  auto* enqueue_cmd = app.add_subcommand("enqueue", "(child) enqueue numbered jobs in batches");
  enqueue_cmd->add_option("--db", enqueue.db)->required();
  enqueue_cmd->add_option("--ack", enqueue.ack)->required();
  enqueue_cmd->add_option("--first", enqueue.first);
  enqueue_cmd->add_option("--count", enqueue.count);
  enqueue_cmd->add_option("--batch", enqueue.batch);
  enqueue_cmd->add_option("--pause-ms", enqueue.pause_ms);
  enqueue_cmd->add_option("--pad-bytes", enqueue.pad_bytes);

  Common kill9_common;
  kill9_common.job_ms = 30;  // 3 x 8 jobs at once: a drain of 10-20 s, 50-100 kills
  Kill9Args kill9;
  auto* kill9_cmd =
      app.add_subcommand("kill9", "SIGKILL random workers during a drain, restarting them");
  add_common_options(kill9_cmd, kill9_common, true);
  kill9_cmd->add_option("--kill-min-ms", kill9.kill_min_ms)->capture_default_str();
  kill9_cmd->add_option("--kill-max-ms", kill9.kill_max_ms)->capture_default_str();

  Common freeze_common;
  freeze_common.jobs = 3000;
  freeze_common.job_ms = 30;
  FreezeArgs freeze;
  auto* freeze_cmd = app.add_subcommand(
      "freeze", "SIGSTOP random workers for longer than rescue_after during a drain, then SIGCONT");
  add_common_options(freeze_cmd, freeze_common, true);
  freeze_cmd->add_option("--every-min-ms", freeze.every_min_ms)->capture_default_str();
  freeze_cmd->add_option("--every-max-ms", freeze.every_max_ms)->capture_default_str();
  freeze_cmd->add_option("--freeze-min-ms", freeze.freeze_min_ms)->capture_default_str();
  freeze_cmd->add_option("--freeze-max-ms", freeze.freeze_max_ms)->capture_default_str();

  Common restart_common;
  restart_common.jobs = 6000;
  RestartArgs restart;
  auto* restart_cmd = app.add_subcommand("restart", "restart the PostgreSQL server during a drain");
  add_common_options(restart_cmd, restart_common, false);
  restart_cmd
      ->add_option("--modes", restart.modes,
                   "pg_ctl shutdown modes, one restart each; MODE:MS = stop, wait MS ms, start")
      ->delimiter(',')
      ->capture_default_str();
  restart_cmd->add_option("--pg-ctl", restart.server.pg_ctl,
                          "pg_ctl command prefix (default: $ERRAND_TEST_PG_CTL)");
  restart_cmd->add_option("--pg-data", restart.server.pg_data,
                          "the server's data directory (default: $ERRAND_TEST_PG_DATA)");

  Common sigterm_common;
  sigterm_common.jobs = 1200;
  sigterm_common.job_ms = 300;
  sigterm_common.drain_timeout_ms = 1000;
  SigtermArgs sigterm;
  auto* sigterm_cmd =
      app.add_subcommand("sigterm", "SIGTERM every worker during a drain, then finish it");
  add_common_options(sigterm_cmd, sigterm_common, true);
  sigterm_cmd->add_option("--rounds", sigterm.rounds, "SIGTERM/restart rounds")
      ->capture_default_str();
  sigterm_cmd->add_option("--run-min-ms", sigterm.run_min_ms)->capture_default_str();
  sigterm_cmd->add_option("--run-max-ms", sigterm.run_max_ms)->capture_default_str();
  sigterm_cmd->add_option("--overrun-ms", sigterm.overrun_ms,
                          "how long overrunning jobs ignore the stop (0: drain timeout + 500)");

  Common durability_common;
  durability_common.workers = 2;
  durability_common.job_ms = 2;
  durability_common.concurrency = 4;
  DurabilityArgs durability;
  auto* durability_cmd = app.add_subcommand(
      "durability", "SIGKILL an enqueuer and workers of one SQLite file many times");
  add_common_options(durability_cmd, durability_common, false);
  durability_cmd->add_option("--kills", durability.kills)->capture_default_str();
  durability_cmd->add_option("--kill-min-ms", durability.kill_min_ms)->capture_default_str();
  durability_cmd->add_option("--kill-max-ms", durability.kill_max_ms)->capture_default_str();
  durability_cmd->add_option("--enqueue-count", durability.enqueue_count, "jobs per enqueuer")
      ->capture_default_str();
  durability_cmd->add_option("--enqueue-batch", durability.enqueue_batch)->capture_default_str();
  durability_cmd->add_option("--enqueue-pause-ms", durability.enqueue_pause_ms)
      ->capture_default_str();
  durability_cmd
      ->add_option("--enqueue-pad-bytes", durability.enqueue_pad_bytes,
                   "ballast per job, to make enqueue transactions longer")
      ->capture_default_str();

  Common cancel_common;
  cancel_common.jobs = 3000;
  cancel_common.concurrency = 2;  // a drain slow enough for a third of the jobs to be cancelled
  CancelArgs cancel;
  auto* cancel_cmd = app.add_subcommand(
      "cancel", "cancel random jobs while random workers are SIGKILLed and restarted");
  add_common_options(cancel_cmd, cancel_common, true);
  add_cancel_options(cancel_cmd, cancel);

  Common limits_common;
  limits_common.jobs = 600;
  limits_common.job_ms = 60;  // 60-100 ms: 5 at once take 10-15 s, 20 per 500 ms 15 s
  limits_common.timeout_s = 120;
  LimitsArgs limits;
  auto* limits_cmd = app.add_subcommand(
      "limits", "a queue's global, per-key or rate limit holds while workers are SIGKILLed");
  add_common_options(limits_cmd, limits_common, true);
  add_limits_options(limits_cmd, limits);

  Common cron_common;
  cron_common.workers = 4;
  cron_common.timeout_s = 300;
  CronArgs cron;
  auto* cron_cmd = app.add_subcommand(
      "cron", "3 schedules fire each tick once while their 4 workers are SIGKILLed");
  add_common_options(cron_cmd, cron_common, true);
  add_cron_options(cron_cmd, cron);

  CLI11_PARSE(app, argc, argv);

  std::string running = "errand_chaos";
  try {
    if (worker_cmd->parsed()) {
      running = "errand_chaos worker";
      return run_worker(worker);
    }
    if (enqueue_cmd->parsed()) {
      running = "errand_chaos enqueue";
      return run_enqueue(enqueue);
    }
    // The driver: a Ctrl-C or SIGTERM ends the scenario, killing its processes.
    struct sigaction action {};
    action.sa_handler = on_driver_signal;
    sigaction(SIGINT, &action, nullptr);
    sigaction(SIGTERM, &action, nullptr);
    ::signal(SIGPIPE, SIG_IGN);
    if (kill9_cmd->parsed()) return scenario_kill9(kill9_common, kill9);
    if (freeze_cmd->parsed()) return scenario_freeze(freeze_common, freeze);
    if (restart_cmd->parsed()) return scenario_restart(restart_common, restart);
    if (sigterm_cmd->parsed()) return scenario_sigterm(sigterm_common, sigterm);
    if (durability_cmd->parsed()) return scenario_durability(durability_common, durability);
    if (cancel_cmd->parsed()) return scenario_cancel(cancel_common, cancel);
    if (limits_cmd->parsed()) return scenario_limits(limits_common, limits);
    if (cron_cmd->parsed()) return scenario_cron(cron_common, cron);
  } catch (const Interrupted&) {
    fmt::print(stderr, "{}: interrupted\n", running);
    return 130;
  } catch (const std::exception& e) {
    fmt::print(stderr, "{}: error: {}\n", running, e.what());
    return 2;
  }
  return 64;
}
