// errand bench: see bench.hpp. Each measured phase gets a store of its own (a fresh SQLite file or
// a fresh PostgreSQL schema, see bench_scratch.hpp), so no phase sees another's rows; they are
// removed at the end, or when the run is interrupted (bench_interrupt.hpp), unless --keep.
#include "bench.hpp"
#include "numbers.hpp"

#include "bench_interrupt.hpp"
#include "bench_scratch.hpp"

#include <fmt/format.h>
#include <errand/errand.hpp>
#include <nlohmann/json.hpp>

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <memory>
#include <mutex>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

extern char** environ;

#ifndef ERRAND_VERSION
#define ERRAND_VERSION "unknown"
#endif

namespace errand::cli {

namespace {

using namespace std::chrono_literals;
using json = nlohmann::ordered_json;  // keys in the order written
using SteadyClock = std::chrono::steady_clock;

constexpr std::size_t batch_size = 1000;

// --- job types ------------------------------------------------------------------------------

struct BenchState {
  // Latency phase: the sequence number of the last job that started, and when.
  std::mutex mutex;
  std::condition_variable started;
  std::int64_t last_seq = -1;
  SteadyClock::time_point started_at{};
  // In a bench-worker process: where to report "start SEQ STEADY_NS" lines (-1: nowhere).
  // steady_clock is CLOCK_MONOTONIC, one clock for every process of the machine.
  int report_fd = -1;
};

struct NoopJob {
  static constexpr std::string_view name = "errand.bench.noop";
  std::int64_t n = 0;
  void run(BenchState&) {}
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(NoopJob, n)

struct LatencyJob {
  static constexpr std::string_view name = "errand.bench.latency";
  std::int64_t seq = 0;
  void run(BenchState& state) {
    const auto now = SteadyClock::now();
    if (state.report_fd >= 0) {
      const std::string line = fmt::format(
          "start {} {}\n", seq,
          std::chrono::duration_cast<std::chrono::nanoseconds>(now.time_since_epoch()).count());
      // One short write to a pipe is atomic.
      [[maybe_unused]] const ssize_t n = ::write(state.report_fd, line.data(), line.size());
    }
    {
      std::lock_guard lock(state.mutex);
      state.last_seq = seq;
      state.started_at = now;
    }
    state.started.notify_all();
  }
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(LatencyJob, seq)

Registry<BenchState> make_registry() {
  Registry<BenchState> registry;
  registry.add<NoopJob>().add<LatencyJob>();
  return registry;
}

// --- options --------------------------------------------------------------------------------

struct BenchOptions {
  std::int64_t jobs = 20'000;
  std::int64_t workers = 1;
  std::int64_t concurrency = 16;
  std::int64_t prefetch = static_cast<std::int64_t>(WorkerOptions{}.prefetch);
  std::int64_t store_lanes = static_cast<std::int64_t>(WorkerOptions{}.store_lanes);
  std::int64_t enqueue_single = 2'000;
  std::int64_t latency_samples = 500;
  std::vector<std::string> skip;
  bool json = false;
  bool keep = false;

  bool skipped(std::string_view phase) const {
    return std::find(skip.begin(), skip.end(), phase) != skip.end();
  }
};

struct WorkerProcessOptions {
  std::int64_t concurrency = 16;
  std::int64_t prefetch = static_cast<std::int64_t>(WorkerOptions{}.prefetch);
  std::int64_t store_lanes = static_cast<std::int64_t>(WorkerOptions{}.store_lanes);
  bool report_starts = false;
  bool report_progress = false;
};

// The worker options set by --concurrency, --prefetch and --store-lanes (BenchOptions or
// WorkerProcessOptions).
template <class Opts>
WorkerOptions worker_options_of(const Opts& opts) {
  WorkerOptions options;
  options.concurrency = static_cast<std::size_t>(opts.concurrency);
  options.prefetch = static_cast<std::size_t>(opts.prefetch);
  options.store_lanes = static_cast<std::size_t>(opts.store_lanes);
  return options;
}

double seconds_since(SteadyClock::time_point start) {
  return std::chrono::duration<double>(SteadyClock::now() - start).count();
}

bool starts_with(std::string_view s, std::string_view prefix) {
  return s.substr(0, prefix.size()) == prefix;
}

std::int64_t remaining(const JobCounts& c) {
  return c.ready + c.scheduled + c.running + c.abandoned;
}

// --- worker processes -----------------------------------------------------------------------

// /proc/<pid>/stat utime + stime, in milliseconds.
double process_cpu_ms(pid_t pid) {
  std::ifstream in(fmt::format("/proc/{}/stat", pid));
  std::string line;
  std::getline(in, line);
  const auto close = line.rfind(')');
  if (close == std::string::npos) return 0;
  std::istringstream fields(line.substr(close + 2));
  std::string field;
  // After "pid (comm) ": state is field 3; utime and stime are fields 14 and 15.
  unsigned long long utime = 0;
  unsigned long long stime = 0;
  for (int i = 3; i <= 15 && fields >> field; ++i) {
    if (i == 14) utime = std::stoull(field);
    if (i == 15) stime = std::stoull(field);
  }
  return static_cast<double>(utime + stime) * 1000.0 / static_cast<double>(sysconf(_SC_CLK_TCK));
}

// /proc/<pid>/status VmHWM (peak resident set), in KiB.
std::int64_t process_peak_rss_kib(pid_t pid) {
  std::ifstream in(fmt::format("/proc/{}/status", pid));
  std::string line;
  while (std::getline(in, line)) {
    if (starts_with(line, "VmHWM:")) return std::stoll(line.substr(6));
  }
  return 0;
}

// A `errand bench-worker` child: its stdin and stdout are pipes to us.
struct Child {
  pid_t pid = -1;
  int to_child = -1;    // its stdin: "go\n" starts the worker, EOF stops it
  int from_child = -1;  // its stdout: "ready\n", then a stats line after stopping
  double cpu_at_go_ms = 0;
};

void write_all(int fd, std::string_view data) {
  while (!data.empty()) {
    const ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      throw std::runtime_error(fmt::format("bench: writing to a worker: {}", strerror(errno)));
    }
    data.remove_prefix(static_cast<std::size_t>(n));
  }
}

// Reads one line (without the newline); empty at EOF. Throws after `timeout` without one.
std::string read_line(int fd, std::chrono::milliseconds timeout = std::chrono::minutes{5}) {
  std::string line;
  char c = 0;
  const auto deadline = SteadyClock::now() + timeout;
  while (true) {
    pollfd pfd{fd, POLLIN, 0};
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - SteadyClock::now());
    const int ready = ::poll(&pfd, 1, static_cast<int>(std::max<std::int64_t>(left.count(), 0)));
    if (ready < 0 && errno == EINTR) continue;
    if (ready == 0) throw std::runtime_error("bench: a worker process did not answer in time");
    const ssize_t n = ::read(fd, &c, 1);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0 || c == '\n') return line;
    line += c;
  }
}

enum class Report { none, starts, progress };

// The environment of a worker process: ours, with ERRAND_DB=`db_url` (never on the command line,
// which every user can read in ps).
std::vector<std::string> worker_environment(const std::string& db_url) {
  std::vector<std::string> env;
  for (char** e = environ; *e != nullptr; ++e) {
    if (!starts_with(*e, "ERRAND_DB=")) env.emplace_back(*e);
  }
  env.push_back("ERRAND_DB=" + db_url);
  return env;
}

std::vector<char*> c_strings(std::vector<std::string>& strings) {
  std::vector<char*> out;
  for (auto& s : strings)
    out.push_back(s.data());
  out.push_back(nullptr);
  return out;
}

// Starts an `errand bench-worker` on `db_url`, registered in `children`. It inherits the run's
// SQLite lock (see bench_scratch.hpp), and SIGINT, SIGTERM and SIGPIPE act as by default there.
Child spawn_worker(const std::string& db_url, const BenchOptions& opts, Report report,
                   ChildSet& children) {
  int in_pipe[2];
  int out_pipe[2];
  if (::pipe2(in_pipe, O_CLOEXEC) != 0 || ::pipe2(out_pipe, O_CLOEXEC) != 0) {
    throw std::runtime_error(fmt::format("bench: pipe: {}", strerror(errno)));
  }
  std::vector<std::string> args = {"errand",        "bench-worker",
                                   "--concurrency", std::to_string(opts.concurrency),
                                   "--prefetch",    std::to_string(opts.prefetch),
                                   "--store-lanes", std::to_string(opts.store_lanes)};
  if (report == Report::starts) args.emplace_back("--report-starts");
  if (report == Report::progress) args.emplace_back("--report-progress");
  const std::vector<char*> argv = c_strings(args);
  std::vector<std::string> env = worker_environment(db_url);
  const std::vector<char*> envp = c_strings(env);

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, in_pipe[0], 0);
  posix_spawn_file_actions_adddup2(&actions, out_pipe[1], 1);
  // We block SIGINT and SIGTERM (Interruption) and ignore SIGPIPE; the worker must not.
  posix_spawnattr_t attributes;
  posix_spawnattr_init(&attributes);
  sigset_t none;
  sigemptyset(&none);
  posix_spawnattr_setsigmask(&attributes, &none);
  sigset_t defaults;
  sigemptyset(&defaults);
  for (const int signo : {SIGINT, SIGTERM, SIGPIPE})
    sigaddset(&defaults, signo);
  posix_spawnattr_setsigdefault(&attributes, &defaults);
  posix_spawnattr_setflags(&attributes, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  pid_t pid = -1;
  // This very binary, by its real path so that ps and perf show it as errand, not exe.
  std::error_code ec;
  std::string self = std::filesystem::read_symlink("/proc/self/exe", ec).string();
  if (ec || !std::filesystem::exists(self)) self = "/proc/self/exe";  // e.g. replaced meanwhile
  int rc = 0;
  children.add([&] {
    rc = posix_spawn(&pid, self.c_str(), &actions, &attributes, argv.data(), envp.data());
    return rc == 0 ? pid : -1;
  });
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attributes);
  ::close(in_pipe[0]);
  ::close(out_pipe[1]);
  if (rc != 0) {
    ::close(in_pipe[1]);
    ::close(out_pipe[0]);
    throw std::runtime_error(fmt::format("bench: cannot start a worker: {}", strerror(rc)));
  }
  return Child{pid, in_pipe[1], out_pipe[0]};
}

// `errand bench-worker`: a Worker running no-op jobs, started by "go" on stdin, stopped by EOF.
int run_bench_worker(const Globals& globals, const WorkerProcessOptions& opts) {
  auto store = open_store(globals.db_url_or(default_database_url));
  BenchState state;
  if (opts.report_starts) state.report_fd = 1;
  const auto registry = make_registry();
  WorkerOptions options = worker_options_of(opts);
  std::atomic<std::uint64_t> succeeded{0};
  options.on_event = [&succeeded](const WorkerEvent& event) {
    if (event.kind == WorkerEvent::Kind::succeeded) succeeded.fetch_add(1);
  };
  Worker<BenchState> worker(store, registry, state, std::move(options));
  fmt::print("ready\n");
  std::fflush(stdout);
  if (read_line(0) != "go") return 1;  // the parent went away
  std::jthread thread([&worker](std::stop_token stop) { worker.run(stop); });
  // --report-progress: "done N" (runs that returned so far) every 10 ms while it changes, so the
  // parent need not count the store's rows while the drain runs.
  std::jthread reporter;
  if (opts.report_progress) {
    reporter = std::jthread([&succeeded](std::stop_token stop) {
      std::uint64_t reported = 0;
      while (!stop.stop_requested()) {
        std::this_thread::sleep_for(10ms);
        const std::uint64_t n = succeeded.load();
        if (n == reported) continue;
        reported = n;
        const std::string line = fmt::format("done {}\n", n);
        [[maybe_unused]] const ssize_t w = ::write(1, line.data(), line.size());
      }
    });
  }
  char buf[64];
  while (true) {
    const ssize_t n = ::read(0, buf, sizeof buf);
    if (n == 0 || (n < 0 && errno != EINTR)) break;
  }
  if (reporter.joinable()) {
    reporter.request_stop();
    reporter.join();
  }
  thread.request_stop();
  thread.join();
  const WorkerStats s = worker.stats();
  fmt::print("stats {} {} {} {} {}\n", s.started, s.succeeded, s.retried, s.dead_lettered,
             s.lock_lost);
  std::fflush(stdout);
  return 0;
}

// --- phases ---------------------------------------------------------------------------------

struct Result {
  std::optional<double> enqueue_single_per_s;
  std::optional<double> enqueue_batch_per_s;
  std::optional<double> drain_per_s;
  std::optional<double> drain_seconds;
  std::optional<double> cpu_ms_per_1000;
  std::optional<double> cpu_ms_per_1000_lifetime;
  std::optional<double> peak_rss_mb;
  std::optional<double> peak_rss_mb_rusage;
  std::int64_t runs_succeeded = 0;
  std::int64_t runs_started = 0;
  std::int64_t retried = 0;
  std::int64_t dead = 0;
  std::int64_t lock_lost = 0;
  std::vector<double> latencies_ms;
  std::vector<double> listen_latencies_ms;  // worker in another process (PostgreSQL LISTEN)
};

void progress(const char* format_string, auto&&... args) {
  fmt::print(stderr, "bench: {}\n", fmt::format(fmt::runtime(format_string), args...));
}

double enqueue_single(Scratch& scratch, const BenchOptions& opts) {
  auto store = scratch.create("single").store;
  progress("enqueue: {} jobs, one per call", opts.enqueue_single);
  const auto start = SteadyClock::now();
  for (std::int64_t i = 0; i < opts.enqueue_single; ++i) {
    enqueue(*store, NoopJob{i}, "bench");
  }
  return static_cast<double>(opts.enqueue_single) / seconds_since(start);
}

double enqueue_batches(Store& store, const BenchOptions& opts) {
  progress("enqueue: {} jobs in batches of {}", opts.jobs, batch_size);
  std::vector<NoopJob> jobs;
  jobs.reserve(batch_size);
  const auto start = SteadyClock::now();
  auto last_report = start;
  for (std::int64_t done = 0; done < opts.jobs;) {
    jobs.clear();
    for (std::size_t i = 0; i < batch_size && done < opts.jobs; ++i, ++done) {
      jobs.push_back(NoopJob{done});
    }
    enqueue_all(store, jobs, EnqueueOptions{.context = "bench"});
    if (SteadyClock::now() - last_report > 2s) {
      last_report = SteadyClock::now();
      progress("  {} / {} enqueued", done, opts.jobs);
    }
  }
  return static_cast<double>(opts.jobs) / seconds_since(start);
}

void drain(Store& store, const std::string& url, const BenchOptions& opts, ChildSet& workers,
           Result& result) {
  progress("drain: starting {} worker process(es) x {} concurrency", opts.workers,
           opts.concurrency);
  struct rusage before {};
  ::getrusage(RUSAGE_CHILDREN, &before);
  std::vector<Child> children;
  auto stop_all = [&children] {
    for (auto& c : children) {
      if (c.to_child >= 0) ::close(c.to_child);
      c.to_child = -1;
    }
  };
  try {
    for (std::int64_t i = 0; i < opts.workers; ++i) {
      children.push_back(spawn_worker(url, opts, Report::progress, workers));
    }
    for (auto& c : children) {
      if (read_line(c.from_child) != "ready") {
        throw std::runtime_error("bench: a worker process failed to start");
      }
    }
    for (auto& c : children)
      c.cpu_at_go_ms = process_cpu_ms(c.pid);
    const auto start = SteadyClock::now();
    for (auto& c : children)
      write_all(c.to_child, "go\n");
    // Until the workers report N runs returned, wait on their pipes (and count the store's rows
    // once a second only, as a fallback: counting is not free, for SQLite nor PostgreSQL); then
    // count every 5 ms until the last settle has committed and nothing is left.
    std::vector<pollfd> fds;
    for (auto& c : children)
      fds.push_back(pollfd{c.from_child, POLLIN, 0});
    std::vector<std::int64_t> done(children.size(), 0);
    auto last_report = start;
    auto last_count = start;
    while (true) {
      std::int64_t finished = 0;
      for (auto d : done)
        finished += d;
      const bool count_now =
          finished >= opts.jobs || SteadyClock::now() - last_count > std::chrono::seconds{1};
      if (count_now) {
        last_count = SteadyClock::now();
        if (remaining(store.counts(WorkerOptions{}.lock_timeout)) == 0) break;
      }
      if (SteadyClock::now() - last_report > 2s) {
        last_report = SteadyClock::now();
        progress("  {} runs finished after {:.1f} s", finished, seconds_since(start));
      }
      if (finished >= opts.jobs) {
        std::this_thread::sleep_for(5ms);
        continue;
      }
      for (auto& f : fds)
        f.revents = 0;
      if (::poll(fds.data(), fds.size(), 20) <= 0) continue;
      for (std::size_t i = 0; i < children.size(); ++i) {
        // The child writes each line with one write(), so a readable pipe holds whole lines.
        while (true) {
          pollfd one{children[i].from_child, POLLIN, 0};
          if (::poll(&one, 1, 0) <= 0 || (one.revents & POLLIN) == 0) {
            if (one.revents & (POLLHUP | POLLERR)) {
              throw std::runtime_error("bench: a worker process ended during the drain");
            }
            break;
          }
          const std::string line = read_line(children[i].from_child);
          long long n = 0;
          if (std::sscanf(line.c_str(), "done %lld", &n) == 1) done[i] = n;
        }
      }
    }
    const double elapsed = seconds_since(start);
    double cpu_ms = 0;
    std::int64_t peak_kib = 0;
    for (auto& c : children) {
      cpu_ms += process_cpu_ms(c.pid) - c.cpu_at_go_ms;
      peak_kib = std::max(peak_kib, process_peak_rss_kib(c.pid));
    }
    result.drain_seconds = elapsed;
    result.drain_per_s = static_cast<double>(opts.jobs) / elapsed;
    result.cpu_ms_per_1000 = cpu_ms / static_cast<double>(opts.jobs) * 1000.0;
    result.peak_rss_mb = static_cast<double>(peak_kib) / 1024.0;
    progress("drain: {} jobs in {:.2f} s; stopping the workers", opts.jobs, elapsed);
  } catch (...) {
    stop_all();
    for (auto& c : children) {
      if (c.from_child >= 0) ::close(c.from_child);
      workers.reap(c.pid);
    }
    throw;
  }
  stop_all();
  for (auto& c : children) {
    const std::string stats = read_line(c.from_child);
    ::close(c.from_child);
    std::int64_t started = 0, succeeded = 0, retried = 0, dead = 0, lost = 0;
    if (std::sscanf(stats.c_str(), "stats %ld %ld %ld %ld %ld", &started, &succeeded, &retried,
                    &dead, &lost) == 5) {
      result.runs_started += started;
      result.runs_succeeded += succeeded;
      result.retried += retried;
      result.dead += dead;
      result.lock_lost += lost;
    }
    const int status = workers.reap(c.pid);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
      progress("warning: worker process {} ended with status {}", c.pid, status);
    }
  }
  struct rusage after {};
  ::getrusage(RUSAGE_CHILDREN, &after);
  auto ms = [](const timeval& t) {
    return static_cast<double>(t.tv_sec) * 1000.0 + static_cast<double>(t.tv_usec) / 1000.0;
  };
  const double lifetime_ms =
      ms(after.ru_utime) - ms(before.ru_utime) + ms(after.ru_stime) - ms(before.ru_stime);
  result.cpu_ms_per_1000_lifetime = lifetime_ms / static_cast<double>(opts.jobs) * 1000.0;
  result.peak_rss_mb_rusage = static_cast<double>(after.ru_maxrss) / 1024.0;
}

// Waits until the store is idle (nothing queued or locked, and a moment for the worker to go
// back to sleep), then enqueues latency job `seq`; returns the time just before the enqueue.
SteadyClock::time_point enqueue_on_idle(Store& store, std::int64_t seq) {
  const auto lock_timeout = WorkerOptions{}.lock_timeout;
  while (remaining(store.counts(lock_timeout)) != 0)
    std::this_thread::sleep_for(1ms);
  std::this_thread::sleep_for(5ms);
  const auto before = SteadyClock::now();
  enqueue(store, LatencyJob{seq}, "bench");
  return before;
}

void latency(Scratch& scratch, const BenchOptions& opts, Result& result) {
  auto store = scratch.create("latency").store;
  BenchState state;
  const auto registry = make_registry();
  WorkerOptions options = worker_options_of(opts);
  Worker<BenchState> worker(store, registry, state, std::move(options));
  std::exception_ptr worker_error;
  std::jthread thread([&](std::stop_token stop) {
    try {
      worker.run(stop);
    } catch (...) {
      worker_error = std::current_exception();
    }
  });
  constexpr std::int64_t warmup = 10;
  progress("latency: {} samples (+{} warm-up), one job at a time", opts.latency_samples, warmup);
  for (std::int64_t seq = 0; seq < opts.latency_samples + warmup; ++seq) {
    const auto before = enqueue_on_idle(*store, seq);
    std::unique_lock lock(state.mutex);
    if (!state.started.wait_for(lock, 10s, [&] { return state.last_seq == seq; })) {
      throw std::runtime_error("bench: a latency job did not start within 10 s");
    }
    if (seq >= warmup) {
      result.latencies_ms.push_back(
          std::chrono::duration<double, std::milli>(state.started_at - before).count());
    }
  }
  thread.request_stop();
  thread.join();
  if (worker_error) std::rethrow_exception(worker_error);
}

// Latency with the worker in another process, woken by PostgreSQL's LISTEN/NOTIFY.
void latency_listen(Scratch& scratch, const BenchOptions& opts, ChildSet& workers, Result& result) {
  const auto [url, store] = scratch.create("listen");
  Child child = spawn_worker(url, opts, Report::starts, workers);
  auto finish = [&child, &workers] {
    if (child.to_child >= 0) ::close(child.to_child);
    child.to_child = -1;
    try {
      while (starts_with(read_line(child.from_child, std::chrono::seconds{60}), "start")) {
      }
    } catch (const std::exception&) {
      ::kill(child.pid, SIGKILL);
    }
    ::close(child.from_child);
    workers.reap(child.pid);
  };
  try {
    if (read_line(child.from_child) != "ready") {
      throw std::runtime_error("bench: the worker process failed to start");
    }
    write_all(child.to_child, "go\n");
    constexpr std::int64_t warmup = 10;
    progress("latency (LISTEN): {} samples (+{} warm-up), worker in another process",
             opts.latency_samples, warmup);
    for (std::int64_t seq = 0; seq < opts.latency_samples + warmup; ++seq) {
      const auto before = enqueue_on_idle(*store, seq);
      const std::string line = read_line(child.from_child, std::chrono::seconds{10});
      long long got_seq = -1;
      long long started_ns = 0;
      if (std::sscanf(line.c_str(), "start %lld %lld", &got_seq, &started_ns) != 2 ||
          got_seq != seq) {
        throw std::runtime_error(fmt::format("bench: unexpected worker report '{}'", line));
      }
      const auto before_ns =
          std::chrono::duration_cast<std::chrono::nanoseconds>(before.time_since_epoch()).count();
      if (seq >= warmup) {
        result.listen_latencies_ms.push_back(static_cast<double>(started_ns - before_ns) / 1e6);
      }
    }
  } catch (...) {
    finish();
    throw;
  }
  finish();
}

// Nearest-rank percentile of sorted values.
double percentile(const std::vector<double>& sorted, double p) {
  const auto rank = static_cast<std::size_t>(std::ceil(p * static_cast<double>(sorted.size())));
  return sorted[std::clamp<std::size_t>(rank, 1, sorted.size()) - 1];
}

std::string host_name() {
  char buf[256] = {};
  ::gethostname(buf, sizeof buf - 1);
  return buf;
}

std::string utc_now() {
  const std::time_t t = std::time(nullptr);
  std::tm tm{};
  ::gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

json number_or_null(const std::optional<double>& v, int decimals = 1) {
  if (!v) return nullptr;
  const double scale = std::pow(10.0, decimals);
  return std::round(*v * scale) / scale;
}

std::string cell(const std::optional<double>& v, std::string_view unit, int decimals = 1) {
  if (!v) return "skipped";
  return fmt::format("{:.{}f} {}", *v, decimals, unit);
}

int run_bench(const Globals& globals, const BenchOptions& opts) {
  ::signal(SIGPIPE, SIG_IGN);  // a worker process that died must not kill us
  // Declared in this order so that an interruption (destroyed first) outlives nothing it uses.
  ChildSet workers;
  Scratch scratch(globals.db_url_or("sqlite:errand-bench.db"), opts.keep);
  Interruption interruption(scratch, workers);
  Result result;

  if (!opts.skipped("enqueue")) result.enqueue_single_per_s = enqueue_single(scratch, opts);
  if (!opts.skipped("enqueue") || !opts.skipped("drain")) {
    const auto [url, store] = scratch.create("drain");
    // Timed as the enqueue-in-batches figure; the same jobs are then drained.
    result.enqueue_batch_per_s = enqueue_batches(*store, opts);
    if (!opts.skipped("drain")) drain(*store, url, opts, workers, result);
  }
  if (!opts.skipped("latency")) latency(scratch, opts, result);
  if (!opts.skipped("listen") && scratch.kind() == "postgres") {
    latency_listen(scratch, opts, workers, result);
  }

  std::optional<double> p50, p90, p99, pmax;
  if (!result.latencies_ms.empty()) {
    std::sort(result.latencies_ms.begin(), result.latencies_ms.end());
    p50 = percentile(result.latencies_ms, 0.50);
    p90 = percentile(result.latencies_ms, 0.90);
    p99 = percentile(result.latencies_ms, 0.99);
    pmax = result.latencies_ms.back();
  }
  std::optional<double> l50, l90, l99, lmax;
  if (!result.listen_latencies_ms.empty()) {
    auto& v = result.listen_latencies_ms;
    std::sort(v.begin(), v.end());
    l50 = percentile(v, 0.50);
    l90 = percentile(v, 0.90);
    l99 = percentile(v, 0.99);
    lmax = v.back();
  }
  const std::string listen_how =
      scratch.kind() == "postgres"
          ? "worker in another process (errand bench-worker), woken by LISTEN/NOTIFY; "
            "start time by CLOCK_MONOTONIC in both processes"
          : "not measured: SQLite does not signal other processes, they see new jobs at their "
            "next poll (poll_interval, 1 s by default)";
  const std::string wakeup =
      "in-process: enqueue and worker thread share the process, so the enqueue's in-process "
      "wake-up starts the worker (poll interval 1 s, unused)";
  const std::string drain_how = fmt::format(
      "wall time from sending 'go' to the {} worker process(es), all started with the store open, "
      "until Store::counts() shows no job ready, scheduled, running or abandoned (counted every "
      "5 ms once the workers report that N runs returned, through their pipes every 10 ms; "
      "before that only once a second)",
      opts.workers);
  const std::string cpu_how =
      "user+sys of the worker processes between 'go' and the empty queue (/proc/PID/stat); "
      "peak RSS: max VmHWM of the worker processes before stopping them";

  if (opts.json) {
    json line = {
        {"store", scratch.kind()},
        {"jobs", opts.jobs},
        {"workers", opts.workers},
        {"concurrency", opts.concurrency},
        {"prefetch", opts.prefetch},
        {"store_lanes", opts.store_lanes},
        {"enqueue_single_jobs",
         opts.skipped("enqueue") ? json(nullptr) : json(opts.enqueue_single)},
        {"enqueue_single_jobs_per_s", number_or_null(result.enqueue_single_per_s, 0)},
        {"enqueue_batch_size", batch_size},
        {"enqueue_batch_jobs_per_s", number_or_null(result.enqueue_batch_per_s, 0)},
        {"drain_jobs_per_s", number_or_null(result.drain_per_s, 0)},
        {"drain_s", number_or_null(result.drain_seconds, 3)},
        {"latency_samples",
         result.latencies_ms.empty() ? json(nullptr) : json(result.latencies_ms.size())},
        {"latency_p50_ms", number_or_null(p50, 3)},
        {"latency_p90_ms", number_or_null(p90, 3)},
        {"latency_p99_ms", number_or_null(p99, 3)},
        {"latency_max_ms", number_or_null(pmax, 3)},
        {"latency_listen_p50_ms", number_or_null(l50, 3)},
        {"latency_listen_p90_ms", number_or_null(l90, 3)},
        {"latency_listen_p99_ms", number_or_null(l99, 3)},
        {"latency_listen_max_ms", number_or_null(lmax, 3)},
        {"cpu_ms_per_1000_jobs", number_or_null(result.cpu_ms_per_1000, 1)},
        {"cpu_ms_per_1000_jobs_process_lifetime",
         number_or_null(result.cpu_ms_per_1000_lifetime, 1)},
        {"peak_rss_mb", number_or_null(result.peak_rss_mb, 1)},
        {"peak_rss_mb_rusage_children", number_or_null(result.peak_rss_mb_rusage, 1)},
        {"runs_started", result.runs_started},
        {"runs_succeeded", result.runs_succeeded},
        {"retried", result.retried},
        {"dead_lettered", result.dead},
        {"lock_lost", result.lock_lost},
        {"drain_measured", drain_how},
        {"latency_wakeup", wakeup},
        {"latency_listen_wakeup", listen_how},
        {"host", host_name()},
        {"cores", std::thread::hardware_concurrency()},
        {"errand_version", ERRAND_VERSION},
        {"date", utc_now()},
    };
    fmt::print("{}\n", line.dump());
    return 0;
  }

  // Without --json: a markdown table, then how each figure was measured.
  fmt::print("errand {} bench — {} ({}), host {}, {} cores, {}\n\n", ERRAND_VERSION, scratch.kind(),
             scratch.where(), host_name(), std::thread::hardware_concurrency(), utc_now());
  fmt::print("| measure | result | detail |\n| --- | ---: | --- |\n");
  const auto row = [](std::string_view measure, const std::string& value,
                      const std::string& detail) {
    fmt::print("| {} | {} | {} |\n", measure, value, detail);
  };
  row("enqueue, one job per call", cell(result.enqueue_single_per_s, "jobs/s", 0),
      fmt::format("{} jobs", opts.enqueue_single));
  row(fmt::format("enqueue, batches of {}", batch_size),
      cell(result.enqueue_batch_per_s, "jobs/s", 0), fmt::format("{} jobs", opts.jobs));
  row(fmt::format("drain, {} x {}", opts.workers, opts.concurrency),
      cell(result.drain_per_s, "jobs/s", 0),
      fmt::format("{} no-op jobs in {}", opts.jobs, cell(result.drain_seconds, "s", 2)));
  row("worker CPU per 1,000 jobs", cell(result.cpu_ms_per_1000, "ms", 1), "");
  row("worker peak RSS", cell(result.peak_rss_mb, "MiB", 1), "");
  row("latency p50 / p90 / p99",
      fmt::format("{} / {} / {}", cell(p50, "ms", 2), cell(p90, "ms", 2), cell(p99, "ms", 2)),
      fmt::format("{} samples, max {}", result.latencies_ms.size(), cell(pmax, "ms", 2)));
  if (!result.listen_latencies_ms.empty()) {
    row("latency p50 / p90 / p99, LISTEN",
        fmt::format("{} / {} / {}", cell(l50, "ms", 2), cell(l90, "ms", 2), cell(l99, "ms", 2)),
        fmt::format("{} samples, max {}", result.listen_latencies_ms.size(), cell(lmax, "ms", 2)));
  }
  fmt::print("\n");
  if (result.drain_per_s) {
    fmt::print("Runs: {} started, {} succeeded, {} retried, {} dead-lettered, {} lock lost.\n",
               result.runs_started, result.runs_succeeded, result.retried, result.dead,
               result.lock_lost);
    fmt::print("Drain: {}.\nCPU: {}.\n", drain_how, cpu_how);
  }
  if (!result.latencies_ms.empty()) fmt::print("Latency: {}.\n", wakeup);
  if (!result.listen_latencies_ms.empty()) fmt::print("Latency, LISTEN: {}.\n", listen_how);
  return 0;
}

}  // namespace

void add_bench(CLI::App& app, const Globals& globals, std::vector<Command>& commands) {
  auto opts = std::make_shared<BenchOptions>();
  auto* cmd = app.add_subcommand(
      "bench",
      "Measure enqueue and drain throughput, enqueue-to-run latency, and worker CPU and memory, "
      "in fresh stores beside --db (SQLite files, or PostgreSQL schemas bench_*) removed after");
  // Numbers through numbers.hpp: plain decimal digits within these bounds.
  constexpr Bounds kJobs{1, 100'000'000, "jobs", ""};
  constexpr Bounds kWorkers{1, 256, "", ""};
  constexpr Bounds kConcurrency{1, 4096, "", ""};
  constexpr Bounds kPrefetch{0, 100'000, "", ""};
  constexpr Bounds kStoreLanes{1, 64, "", ""};
  constexpr Bounds kSingles{1, 10'000'000, "jobs", ""};
  constexpr Bounds kSamples{1, 1'000'000, "", ""};
  add_number(*cmd, "--jobs", opts->jobs, kJobs, "no-op jobs queued (in batches) and then drained");
  add_number(*cmd, "--workers", opts->workers, kWorkers, "worker processes for the drain");
  add_number(*cmd, "--concurrency", opts->concurrency, kConcurrency,
             "jobs run at once by each worker");
  add_number(*cmd, "--prefetch", opts->prefetch, kPrefetch,
             "jobs each worker claims beyond its free slots (WorkerOptions::prefetch)");
  add_number(*cmd, "--store-lanes", opts->store_lanes, kStoreLanes,
             "settle-and-claim round trips each worker keeps in flight "
             "(WorkerOptions::store_lanes)");
  add_number(*cmd, "--enqueue-single", opts->enqueue_single, kSingles,
             "jobs enqueued one per call");
  add_number(*cmd, "--latency-samples", opts->latency_samples, kSamples,
             "jobs enqueued one at a time on an idle worker");
  cmd->add_option("--skip", opts->skip,
                  "phases to skip: enqueue, drain, latency, listen (PostgreSQL: latency with the "
                  "worker in another process)")
      ->delimiter(',')
      ->check(CLI::IsMember(std::vector<std::string>{"enqueue", "drain", "latency", "listen"}));
  cmd->add_flag("--json", opts->json, "print one JSON object");
  cmd->add_flag("--keep", opts->keep, "keep the benchmark's SQLite files / PostgreSQL schemas");
  commands.push_back({cmd, [&globals, opts] { return run_bench(globals, *opts); }});

  auto worker_opts = std::make_shared<WorkerProcessOptions>();
  auto* worker_cmd = app.add_subcommand("bench-worker", "worker process of errand bench");
  worker_cmd->group("");  // hidden
  add_number(*worker_cmd, "--concurrency", worker_opts->concurrency, kConcurrency, "");
  add_number(*worker_cmd, "--prefetch", worker_opts->prefetch, kPrefetch, "");
  add_number(*worker_cmd, "--store-lanes", worker_opts->store_lanes, kStoreLanes, "");
  worker_cmd->add_flag("--report-starts", worker_opts->report_starts);
  worker_cmd->add_flag("--report-progress", worker_opts->report_progress);
  commands.push_back(
      {worker_cmd, [&globals, worker_opts] { return run_bench_worker(globals, *worker_opts); }});
}

}  // namespace errand::cli
