// Worker processes of errand bench: see bench_workers.hpp.
#include "bench_workers.hpp"

#include "bench_jobs.hpp"

#include <fmt/format.h>
#include <errand/errand.hpp>

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>
#include <vector>

extern char** environ;

namespace errand::cli {

namespace {

using namespace std::chrono_literals;

// The environment of a worker process: ours, with ERRAND_DB=`db_url` (never on the command line,
// which every user can read in ps).
std::vector<std::string> worker_environment(const std::string& db_url) {
  std::vector<std::string> env;
  for (char** e = environ; *e != nullptr; ++e) {
    if (!std::string_view(*e).starts_with("ERRAND_DB=")) env.emplace_back(*e);
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

}  // namespace

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

std::int64_t process_peak_rss_kib(pid_t pid) {
  std::ifstream in(fmt::format("/proc/{}/status", pid));
  std::string line;
  while (std::getline(in, line)) {
    if (line.starts_with("VmHWM:")) return std::stoll(line.substr(6));
  }
  return 0;
}

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

std::string read_line(int fd, std::chrono::milliseconds timeout) {
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
  if (opts.retain_completed) args.emplace_back("--retain-completed");
  if (opts.job_sleep_ms > 0) {
    args.emplace_back("--job-sleep-ms");
    args.push_back(std::to_string(opts.job_sleep_ms));
  }
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

int run_bench_worker(const Globals& globals, const WorkerProcessOptions& opts) {
  auto store = open_store(globals.db_url_or(default_database_url));
  BenchState state;
  if (opts.report_starts) state.report_fd = 1;
  state.job_sleep = std::chrono::milliseconds{opts.job_sleep_ms};
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

}  // namespace errand::cli
