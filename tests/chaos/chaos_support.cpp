// What the chaos driver's scenarios share (chaos_support.hpp).
#include "chaos_support.hpp"

#include <fmt/format.h>
#include <libpq-fe.h>
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <thread>

namespace chaos {

void AppendedLines::read_new(const std::function<void(std::string_view)>& line) {
  const int fd = ::open(path_.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return;  // not created yet
  ::lseek(fd, static_cast<off_t>(offset_), SEEK_SET);
  char buffer[1 << 16];
  for (;;) {
    const ssize_t got = ::read(fd, buffer, sizeof buffer);
    if (got <= 0) break;
    offset_ += static_cast<std::size_t>(got);
    pending_.append(buffer, static_cast<std::size_t>(got));
  }
  ::close(fd);
  std::size_t start = 0;
  for (std::size_t newline; (newline = pending_.find('\n', start)) != std::string::npos;
       start = newline + 1) {
    line(std::string_view(pending_).substr(start, newline - start));
  }
  pending_.erase(0, start);
}

using namespace std::chrono_literals;

double seconds_since(SteadyClock::time_point start) {
  return std::chrono::duration<double>(SteadyClock::now() - start).count();
}

void append(int fd, const std::string& text) {
  if (::write(fd, text.data(), text.size()) != static_cast<ssize_t>(text.size())) {
    throw std::runtime_error(fmt::format("append failed: {}", std::strerror(errno)));
  }
}

int open_append(const fs::path& path) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd < 0) {
    throw std::runtime_error(
        fmt::format("cannot open {}: {}", path.string(), std::strerror(errno)));
  }
  return fd;
}

errand::Duration quick_backoff(std::int32_t error_count) {
  const int shift = std::clamp(error_count - 1, 0, 5);
  return std::chrono::milliseconds{std::min(50 << shift, 1000)};
}

bool sleep_unless_stopped(SteadyClock::time_point deadline, const std::stop_token& stop) {
  std::mutex mutex;
  std::condition_variable_any cv;
  std::unique_lock lock(mutex);
  cv.wait_until(lock, stop, deadline, [] { return false; });
  return !stop.stop_requested();
}

void check_interrupted() {
  if (g_interrupted.load()) throw Interrupted();
}

void pause_for(milliseconds duration) {
  const auto until = SteadyClock::now() + duration;
  while (SteadyClock::now() < until) {
    check_interrupted();
    std::this_thread::sleep_for(std::min<SteadyClock::duration>(20ms, until - SteadyClock::now()));
  }
  check_interrupted();
}

std::string describe_status(int status) {
  if (WIFEXITED(status)) return fmt::format("exit {}", WEXITSTATUS(status));
  if (WIFSIGNALED(status)) return fmt::format("killed by signal {}", WTERMSIG(status));
  return fmt::format("status {}", status);
}

bool exited_cleanly(int status) {
  return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

// --- Child -------------------------------------------------------------------------------------

Child::Child(std::string role, const std::vector<std::string>& args, const fs::path& log)
    : role_(std::move(role)), log_(log) {
  std::vector<std::string> strings{"errand_chaos"};
  strings.insert(strings.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& s : strings)
    argv.push_back(s.data());
  argv.push_back(nullptr);
  const pid_t parent = ::getpid();
  started_ = SteadyClock::now();
  pid_ = ::fork();
  if (pid_ < 0) throw std::runtime_error(fmt::format("fork: {}", std::strerror(errno)));
  if (pid_ == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(127);
    const int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd >= 0) {
      ::dup2(fd, STDOUT_FILENO);
      ::dup2(fd, STDERR_FILENO);
    }
    // SIGTERM and SIGINT stay blocked across exec: a worker takes them with sigwait, even one
    // that arrives while it is still starting up (the default action would kill it).
    sigset_t stop_signals;
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGTERM);
    sigaddset(&stop_signals, SIGINT);
    ::sigprocmask(SIG_SETMASK, &stop_signals, nullptr);
    ::signal(SIGINT, SIG_DFL);
    ::signal(SIGTERM, SIG_DFL);
    ::execv("/proc/self/exe", argv.data());
    ::_exit(127);
  }
}

Child::~Child() {
  if (running()) {
    ::kill(pid_, SIGKILL);
    wait(10s);
  }
}

bool Child::running() {
  if (status_) return false;
  int status = 0;
  const pid_t r = ::waitpid(pid_, &status, WNOHANG);
  if (r == pid_) status_ = status;
  return !status_;
}

void Child::signal(int sig) {
  if (running()) ::kill(pid_, sig);
}

std::optional<int> Child::wait(SteadyClock::duration timeout) {
  const auto until = SteadyClock::now() + timeout;
  while (running()) {
    if (SteadyClock::now() >= until) return std::nullopt;
    std::this_thread::sleep_for(5ms);
  }
  return status_;
}

void Child::kill9() {
  if (running()) {
    killed_ = true;
    ::kill(pid_, SIGKILL);
  }
  wait(10s);
}

// --- The store ---------------------------------------------------------------------------------

std::int64_t payload_number(const std::string& payload) {
  return nlohmann::json::parse(payload).at("n").get<std::int64_t>();
}

Snapshot take_snapshot(errand::Store& store) {
  return retrying([&] {
    Snapshot s;
    errand::JobFilter filter;
    filter.limit = 10'000'000;
    for (auto& job : store.list_jobs(filter)) {
      const auto n = payload_number(job.payload);
      if (!s.jobs.emplace(n, std::move(job)).second) ++s.duplicate_rows;
    }
    errand::DeadFilter dead_filter;
    dead_filter.limit = 10'000'000;
    for (auto& job : store.list_dead(dead_filter)) {
      const auto n = payload_number(job.payload);
      if (!s.dead.emplace(n, std::move(job)).second) ++s.duplicate_rows;
    }
    return s;
  });
}

Remaining remaining(errand::Store& store, milliseconds lock_timeout) {
  return retrying([&] {
    const auto c = store.counts(lock_timeout);
    return Remaining{c.ready + c.scheduled + c.running + c.abandoned, c.dead, c};
  });
}

std::string describe(const Remaining& r) {
  return fmt::format(
      "{} jobs left ({} ready, {} scheduled, {} running, {} abandoned, {} failing), "
      "{} dead",
      r.jobs, r.counts.ready, r.counts.scheduled, r.counts.running, r.counts.abandoned,
      r.counts.failing, r.dead);
}

void postgres_exec(const std::string& url, const std::string& sql) {
  PGconn* connection = PQconnectdb(url.c_str());
  if (PQstatus(connection) != CONNECTION_OK) {
    const std::string message = PQerrorMessage(connection);
    PQfinish(connection);
    throw std::runtime_error("cannot connect to PostgreSQL: " + message);
  }
  PQsetNoticeProcessor(
      connection, [](void*, const char*) {}, nullptr);  // "drop cascades to"
  PGresult* result = PQexec(connection, sql.c_str());
  const bool ok = PQresultStatus(result) == PGRES_COMMAND_OK;
  const std::string message = PQerrorMessage(connection);
  PQclear(result);
  PQfinish(connection);
  if (!ok) throw std::runtime_error(sql + ": " + message);
}

// --- Scenarios ---------------------------------------------------------------------------------

void add_common_options(CLI::App* app, Common& c, bool choose_store) {
  if (choose_store) {
    app->add_option("--store", c.store, "sqlite or postgres")
        ->check(CLI::IsMember({"sqlite", "postgres"}))
        ->capture_default_str();
  }
  app->add_option("--pg-url", c.pg_url,
                  "PostgreSQL server for --store postgres (default: $ERRAND_TEST_PG_URL); each "
                  "run uses a schema of its own");
  app->add_option("--workdir", c.workdir,
                  "where to create the scratch directory (default: $TMPDIR)");
  app->add_option("--seed", c.seed, "random seed (default: random; always printed)");
  app->add_flag("--keep", c.keep, "keep the scratch directory and schema even when passing");
  app->add_option("--jobs", c.jobs, "jobs to drain")->capture_default_str();
  app->add_option("--workers", c.workers, "worker processes")->capture_default_str();
  app->add_option("--concurrency", c.concurrency, "jobs at once per worker")->capture_default_str();
  app->add_option("--job-ms", c.job_ms, "how long each job runs")->capture_default_str();
  app->add_option("--heartbeat-ms", c.heartbeat_ms, "WorkerOptions.heartbeat_interval")
      ->capture_default_str();
  app->add_option("--rescue-after-ms", c.rescue_after_ms, "WorkerOptions.rescue_after")
      ->capture_default_str();
  app->add_option("--lock-timeout-ms", c.lock_timeout_ms, "WorkerOptions.lock_timeout")
      ->capture_default_str();
  app->add_option("--poll-ms", c.poll_ms, "WorkerOptions.poll_interval")->capture_default_str();
  app->add_option("--drain-timeout-ms", c.drain_timeout_ms, "WorkerOptions.drain_timeout")
      ->capture_default_str();
  app->add_option("--backoff-unit-ms", c.backoff_unit_ms,
                  "ExponentialBackoff.unit (retry n waits unit * 2^n)")
      ->capture_default_str();
  app->add_option("--timeout-s", c.timeout_s, "give up (and fail) after this long")
      ->capture_default_str();
}

Scenario::Scenario(std::string name, Common common)
    : name_(std::move(name)), c_(std::move(common)) {
  label_ = fmt::format("{} {}", name_, c_.store);
  const std::uint64_t seed =
      c_.seed.value_or(std::random_device{}() ^ (std::uint64_t{std::random_device{}()} << 32));
  seed_ = seed;
  rng_.seed(seed);
  const fs::path parent = !c_.workdir.empty()                ? fs::path(c_.workdir)
                          : std::getenv("TMPDIR") != nullptr ? fs::path(std::getenv("TMPDIR"))
                                                             : fs::path("/tmp");
  fs::create_directories(parent);
  std::string pattern = (parent / fmt::format("errand-chaos-{}-{}.XXXXXX", name_, c_.store));
  if (!::mkdtemp(pattern.data())) {
    throw std::runtime_error(fmt::format("mkdtemp {}: {}", pattern, std::strerror(errno)));
  }
  dir_ = fs::path(pattern);
  record_path_ = dir_ / "record.txt";
  if (c_.store == "sqlite") {
    db_file_ = dir_ / "chaos.db";
    url_ = "sqlite:" + db_file_.string();
  } else {
    if (c_.pg_url.empty()) {
      const char* env = std::getenv("ERRAND_TEST_PG_URL");
      if (!env || !*env) {
        throw std::runtime_error("--store postgres needs --pg-url or ERRAND_TEST_PG_URL");
      }
      c_.pg_url = env;
    }
    schema_ = fmt::format("chaos_{}_{}_{:06x}", name_, ::getpid(), rng_() & 0xffffff);
    url_ = fmt::format("{}{}schema={}", c_.pg_url,
                       c_.pg_url.find('?') == std::string::npos ? '?' : '&', schema_);
  }
  fmt::print("{}: seed {}, scratch {}{}\n", label_, seed_, dir_.string(),
             schema_.empty() ? "" : fmt::format(", schema {}", schema_));
  std::fflush(stdout);
  store_ = errand::open_store(url_);
  started_ = SteadyClock::now();
}

Scenario::~Scenario() {
  processes_.clear();  // kills what is still running
  store_.reset();
  if (!failures_.empty() || c_.keep) {
    fmt::print("{}: kept {}{}\n", label_, dir_.string(),
               schema_.empty() ? "" : fmt::format(" and schema {}", schema_));
    return;
  }
  std::error_code ignored;
  fs::remove_all(dir_, ignored);
  if (!schema_.empty()) {
    try {
      postgres_exec(c_.pg_url, fmt::format("DROP SCHEMA IF EXISTS \"{}\" CASCADE", schema_));
    } catch (const std::exception& e) {
      fmt::print(stderr, "{}: warning: could not drop schema {}: {}\n", label_, schema_, e.what());
    }
  }
}

void Scenario::add_worker_args(const std::vector<std::string>& args) {
  worker_args_.insert(worker_args_.end(), args.begin(), args.end());
}

Child& Scenario::start_worker(int slot, const std::string& on_stop, int overrun_ms) {
  std::vector<std::string> args{"worker",
                                "--db",
                                url_,
                                "--record",
                                record_path_.string(),
                                "--concurrency",
                                std::to_string(c_.concurrency),
                                "--job-ms",
                                std::to_string(c_.job_ms),
                                "--on-stop",
                                on_stop,
                                "--overrun-ms",
                                std::to_string(overrun_ms),
                                "--heartbeat-ms",
                                std::to_string(c_.heartbeat_ms),
                                "--rescue-after-ms",
                                std::to_string(c_.rescue_after_ms),
                                "--lock-timeout-ms",
                                std::to_string(c_.lock_timeout_ms),
                                "--poll-ms",
                                std::to_string(c_.poll_ms),
                                "--drain-timeout-ms",
                                std::to_string(c_.drain_timeout_ms),
                                "--backoff-unit-ms",
                                std::to_string(c_.backoff_unit_ms)};
  args.insert(args.end(), worker_args_.begin(), worker_args_.end());
  if (slot_ids_) {
    args.push_back("--worker-id");
    args.push_back(fmt::format("worker-{}", slot));
  }
  return start("worker", args, dir_ / fmt::format("worker-{}.log", slot));
}

Child& Scenario::start(std::string role, const std::vector<std::string>& args,
                       const fs::path& log) {
  processes_.push_back(std::make_unique<Child>(std::move(role), args, log));
  return *processes_.back();
}

void Scenario::forget_ended() {
  std::erase_if(processes_, [](const std::unique_ptr<Child>& p) { return !p->running(); });
}

double Scenario::stop_workers(SteadyClock::duration limit) {
  const auto start = SteadyClock::now();
  for (auto& p : processes_)
    if (p->role() == "worker") p->signal(SIGTERM);
  double slowest = 0;
  for (auto& p : processes_) {
    if (p->role() != "worker") continue;
    const auto status = p->wait(limit - (SteadyClock::now() - start));
    if (!status) {
      fail(fmt::format("worker {} did not exit within {:.1f} s of SIGTERM (log {})", p->pid(),
                       std::chrono::duration<double>(limit).count(), p->log().string()));
      p->kill9();
      continue;
    }
    slowest = std::max(slowest, seconds_since(start));
    if (!exited_cleanly(*status) && !was_killed_by_us(*p)) {
      fail(fmt::format("worker {} ended with {} after SIGTERM (log {})", p->pid(),
                       describe_status(*status), p->log().string()));
    }
  }
  forget_ended();
  return slowest;
}

void Scenario::check_unexpected_exits() {
  for (auto& p : processes_) {
    if (p->running() || was_killed_by_us(*p)) continue;
    const int status = *p->status();
    if (p->role() == "enqueuer" && exited_cleanly(status)) continue;
    fail(fmt::format("{} {} ended by itself with {} (log {})", p->role(), p->pid(),
                     describe_status(status), p->log().string()));
  }
}

void Scenario::fail(std::string message) {
  fmt::print("{}: FAIL: {}\n", label_, message);
  std::fflush(stdout);
  failures_.push_back(std::move(message));
}

void Scenario::check_tables_empty(const Snapshot& snapshot) {
  if (!snapshot.dead.empty()) {
    std::vector<std::int64_t> numbers;
    for (const auto& [n, job] : snapshot.dead)
      numbers.push_back(n);
    const auto& first = snapshot.dead.begin()->second;
    fail(fmt::format("{} job(s) dead-lettered: {} (first: {} errors, last error: {})",
                     snapshot.dead.size(), sample(numbers), first.error_count, first.last_error));
  }
  if (!snapshot.jobs.empty()) {
    std::vector<std::int64_t> numbers;
    for (const auto& [n, job] : snapshot.jobs)
      numbers.push_back(n);
    fail(
        fmt::format("{} job(s) left in the jobs table: {}", snapshot.jobs.size(), sample(numbers)));
  }
  if (snapshot.duplicate_rows > 0) {
    fail(fmt::format("{} rows share a payload number with another row", snapshot.duplicate_rows));
  }
}

void Scenario::report_not_drained() {
  const auto r = remaining(*store_, lock_timeout());
  fail(fmt::format("not drained after {} s: {}", c_.timeout_s, describe(r)));
  const auto snapshot = take_snapshot(*store_);
  std::size_t shown = 0;
  for (const auto& [n, job] : snapshot.jobs) {
    if (++shown > 10) break;
    fmt::print("  left: job {} (n={}) errors {} locked_by {} last_error {}\n", job.id, n,
               job.error_count, job.locked_by.value_or("-"), job.last_error.value_or("-"));
  }
}

int Scenario::finish(const std::string& figures) {
  fmt::print("{}: {}, {:.1f} s: {}\n", label_, figures, elapsed(),
             failures_.empty() ? "PASS" : fmt::format("FAIL ({} check(s))", failures_.size()));
  std::fflush(stdout);
  return failures_.empty() ? 0 : 1;
}

// --- WorkerKiller ------------------------------------------------------------------------------

WorkerKiller::WorkerKiller(Scenario& s, int min_ms, int max_ms)
    : s_(s), min_ms_(min_ms), max_ms_(max_ms) {
  for (int i = 0; i < s_.common().workers; ++i)
    workers_.push_back(&s_.start_worker(i));
  next_kill_ = next();
}

void WorkerKiller::tick() {
  if (SteadyClock::now() < next_kill_) return;
  const int slot = s_.random_between(0, static_cast<int>(workers_.size()) - 1);
  Child& victim = *workers_[static_cast<std::size_t>(slot)];
  if (victim.running()) {
    victim.kill9();
    killed_.push_back(victim.pid());
  }
  // Restart the victim (and any worker that ended by itself: a failure, reported here).
  s_.check_unexpected_exits();
  for (std::size_t i = 0; i < workers_.size(); ++i) {
    if (!workers_[i]->running()) workers_[i] = &s_.start_worker(static_cast<int>(i));
  }
  s_.forget_ended();
  next_kill_ = next();
}

}  // namespace chaos
