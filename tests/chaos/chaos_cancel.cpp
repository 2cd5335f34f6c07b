// The cancel scenario: "cancel jobs at random while workers are killed with kill -9; at the end
// every job is in exactly one final state, nothing cancelled ran to completed after its cancel
// was acknowledged for a queued job, and nothing was lost."
//
//   errand_chaos cancel --store sqlite|postgres
//
// N CancelJobs are enqueued; 3 workers (2 jobs at once each) drain them, keeping completed jobs
// (retention.completed: 7 days) so that every job ends in a visible state, while a random worker
// is SIGKILLed every 100-300 ms and restarted (WorkerKiller, as kill9) under the same worker id,
// so that it rescues at once what it held (charging each job an attempt). Meanwhile a thread of
// the driver, on a Store of its own, cancels a job every 3-12 ms (Store::cancel_job): mostly
// jobs not started yet (the answer: cancelled), runs started in the last 100 ms (requested),
// runs cut short by a kill, and jobs it cancelled before or that already ran (already_finished);
// each call is kept with its result and the CLOCK_MONOTONIC times just before it was made and
// just after it returned. Once no job is left to run, the workers stop, and: every enqueued id
// has exactly one row, finished, never discarded; a job whose cancel answered `cancelled` ended
// cancelled and no run of it started after that answer (nor during the call); one that answered
// `requested` ended cancelled or completed; `already_finished` named the final state, and no
// later answer differs; a job ended cancelled only after a cancel asked for it; a completed job
// has a recorded start and return.
//
// CancelJob records its runs in the record file, one write() per line on an O_APPEND
// descriptor (ns: CLOCK_MONOTONIC, one clock for every process of the machine):
//   "^<n> <ns>\n"  a run of job n started (the first thing the run does);
//   "$<n> <ns>\n"  the run returned (it completed, unless its worker died before settling it);
//   "!<n> <ns>\n"  the run's stop token fired (a cancel, or a shutdown): it threw.
// As in errand_chaos.cpp, the leading marker makes a line torn by a kill visible ("^12^13 5\n").
#include "chaos_cancel.hpp"

#include <fmt/format.h>
#include <CLI/CLI.hpp>

#include <fcntl.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <map>
#include <set>
#include <string_view>
#include <thread>
#include <utility>

namespace chaos {

namespace {

using namespace std::chrono_literals;

std::int64_t monotonic_ns() {
  timespec now{};
  ::clock_gettime(CLOCK_MONOTONIC, &now);
  return std::int64_t{now.tv_sec} * 1'000'000'000 + now.tv_nsec;
}

bool is_marker(char c) {
  return c == '^' || c == '$' || c == '!';
}

// One record line: a start ('^'), a return ('$') or a stop ('!') of a run, at `ns`.
struct RunEvent {
  char kind = '^';
  std::int64_t ns = 0;
};

// The record file of CancelJob's runs, read incrementally as it grows.
class RunLog {
 public:
  explicit RunLog(fs::path path) : file_(std::move(path)) {}

  // Reads the complete lines appended since the last call; returns their events, in order.
  std::vector<std::pair<std::int64_t, RunEvent>> refresh() {
    std::vector<std::pair<std::int64_t, RunEvent>> fresh;
    file_.read_new([&](std::string_view line) { parse_line(line, fresh); });
    return fresh;
  }

  // Every event of job n, in the order recorded.
  const std::vector<RunEvent>& events(std::int64_t n) const {
    static const std::vector<RunEvent> none;
    const auto it = events_.find(n);
    return it == events_.end() ? none : it->second;
  }
  const std::map<std::int64_t, std::vector<RunEvent>>& all() const { return events_; }
  std::size_t torn() const { return torn_; }
  const std::vector<std::string>& malformed() const { return malformed_; }

 private:
  // "^<n> <ns>"; a torn fragment before it looks like "^12^13 5".
  void parse_line(std::string_view line, std::vector<std::pair<std::int64_t, RunEvent>>& fresh) {
    std::size_t last = 0;
    for (std::size_t i = 1; i < line.size(); ++i) {
      if (is_marker(line[i])) {
        ++torn_;
        last = i;
      }
    }
    const std::string_view record = line.substr(last);
    const auto space = record.find(' ');
    std::int64_t n = 0, ns = 0;
    const auto number = [](std::string_view text, std::int64_t& value) {
      const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
      return !text.empty() && ec == std::errc{} && end == text.data() + text.size();
    };
    if (record.size() < 4 || !is_marker(record[0]) || space == std::string_view::npos ||
        !number(record.substr(1, space - 1), n) || !number(record.substr(space + 1), ns)) {
      if (!line.empty()) malformed_.emplace_back(line);
      return;
    }
    const RunEvent event{record[0], ns};
    events_[n].push_back(event);
    fresh.emplace_back(n, event);
  }

  AppendedLines file_;
  std::map<std::int64_t, std::vector<RunEvent>> events_;
  std::size_t torn_ = 0;
  std::vector<std::string> malformed_;
};

// One call of Store::cancel_job by the driver.
struct CancelCall {
  std::int64_t n = 0;
  errand::JobId id = 0;
  const char* aim = "";                        // what the canceller aimed at (Canceller::pick)
  std::int64_t before_ns = 0;                  // monotonic, just before the call
  std::int64_t after_ns = 0;                   // monotonic, just after it returned
  std::optional<errand::CancelResult> result;  // empty: it threw `error`
  std::string error;
};

std::string_view to_string(errand::CancelResult::Kind kind) {
  switch (kind) {
    case errand::CancelResult::Kind::cancelled:
      return "cancelled";
    case errand::CancelResult::Kind::requested:
      return "requested";
    case errand::CancelResult::Kind::already_finished:
      return "already_finished";
    case errand::CancelResult::Kind::not_found:
      return "not_found";
  }
  return "?";
}

// The driver's cancelling thread: on a Store of its own, every cancel_min..cancel_max ms, cancels
// a job picked from what the record file shows (see pick) and keeps the call.
class Canceller {
 public:
  Canceller(Scenario& s, const CancelArgs& args, const std::vector<errand::JobId>& ids)
      : store_(errand::open_store(s.url())),
        log_(s.record_path()),
        args_(args),
        ids_(ids),
        rng_(s.rng()()),
        position_(ids.size() + 1, kNowhere) {
    for (std::size_t n = 1; n <= ids.size(); ++n) {
      position_[n] = not_started_.size();
      not_started_.push_back(static_cast<std::int64_t>(n));
    }
  }

  // Cancels until `stop`; never throws (a failure is kept: error()).
  void run(const std::stop_token& stop) noexcept {
    try {
      for (;;) {
        const auto wait = milliseconds{between(args_.cancel_min_ms, args_.cancel_max_ms)};
        if (!sleep_unless_stopped(SteadyClock::now() + wait, stop)) return;
        for (const auto& [n, event] : log_.refresh())
          note(n, event);
        cancel_one();
      }
    } catch (const std::exception& e) {
      error_ = e.what();
    }
  }

  const std::vector<CancelCall>& calls() const { return calls_; }
  const std::string& error() const { return error_; }

 private:
  static constexpr std::size_t kNowhere = static_cast<std::size_t>(-1);

  int between(int low, int high) { return std::uniform_int_distribution<int>(low, high)(rng_); }
  std::int64_t any_of(const std::vector<std::int64_t>& pool) {
    return pool[std::uniform_int_distribution<std::size_t>(0, pool.size() - 1)(rng_)];
  }

  void forget_waiting(std::int64_t n) {
    const std::size_t at = position_[static_cast<std::size_t>(n)];
    if (at == kNowhere) return;
    const std::int64_t moved = not_started_.back();
    not_started_[at] = moved;
    position_[static_cast<std::size_t>(moved)] = at;
    not_started_.pop_back();
    position_[static_cast<std::size_t>(n)] = kNowhere;
  }

  void note(std::int64_t n, const RunEvent& event) {
    if (n < 1 || n > static_cast<std::int64_t>(ids_.size())) return;  // reported at the end
    if (event.kind == '^') {
      forget_waiting(n);
      running_[n] = event.ns;
    } else {
      running_.erase(n);
      if (event.kind == '$') ran_.push_back(n);
    }
  }

  // The calls aim at: jobs not started yet (65%: they wait, so cancelled, unless a worker holds
  // one already); runs started in the last 100 ms (15%: requested, or already_finished when they
  // were quicker); runs started earlier that never ended (7%: their worker was killed, so the job
  // is locked until rescued, or waits out its backoff); jobs cancelled before (5%) and jobs whose
  // run returned (5%), already_finished mostly; any job (3%). Once no job waits, the others
  // share its part; a pick whose pool is empty takes any job.
  std::pair<std::int64_t, const char*> pick() {
    const int roll = not_started_.empty() ? between(65, 99) : between(0, 99);
    if (roll < 65) return {any_of(not_started_), "waiting"};
    if (roll < 87) {
      const bool fresh = roll < 80;
      const std::int64_t recent = monotonic_ns() - 100'000'000;
      std::vector<std::int64_t> pool;
      for (const auto& [n, started] : running_)
        if ((started >= recent) == fresh) pool.push_back(n);
      if (!pool.empty()) return {any_of(pool), fresh ? "running" : "cut short"};
    } else if (roll < 92) {
      if (!cancelled_.empty()) return {any_of(cancelled_), "again"};
    } else if (roll < 97) {
      if (!ran_.empty()) return {any_of(ran_), "ran"};
    }
    return {between(1, static_cast<int>(ids_.size())), "any"};
  }

  void cancel_one() {
    const auto [n, aim] = pick();
    CancelCall call;
    call.n = n;
    call.id = ids_[static_cast<std::size_t>(n - 1)];
    call.aim = aim;
    call.before_ns = monotonic_ns();
    try {
      call.result = store_->cancel_job(call.id, "chaos");
    } catch (const errand::StoreError& e) {
      call.error = e.what();
    }
    call.after_ns = monotonic_ns();
    if (call.result && (call.result->kind == errand::CancelResult::Kind::cancelled ||
                        call.result->kind == errand::CancelResult::Kind::requested)) {
      forget_waiting(n);
      if (cancelled_set_.insert(n).second) cancelled_.push_back(n);
    }
    calls_.push_back(std::move(call));
  }

  std::shared_ptr<errand::Store> store_;
  RunLog log_;
  const CancelArgs& args_;
  const std::vector<errand::JobId>& ids_;
  std::mt19937_64 rng_;
  std::vector<std::int64_t> not_started_;         // no start recorded, not cancelled by us
  std::vector<std::size_t> position_;             // by n: its index in not_started_, or kNowhere
  std::map<std::int64_t, std::int64_t> running_;  // started, no end recorded: n -> start ns
  std::vector<std::int64_t> ran_;                 // a run returned ('$'), repeats and all
  std::vector<std::int64_t> cancelled_;           // answered cancelled or requested once
  std::set<std::int64_t> cancelled_set_;
  std::vector<CancelCall> calls_;
  std::string error_;
};

// A job's final row, as list_jobs and find_job show it.
struct FinalRow {
  errand::JobInfo job;
  std::size_t rows = 0;  // rows with its id (list_jobs over every state)
};

// Prints what happened to job n, for a failure: its row, its runs, the cancels of it.
void print_history(std::int64_t n, std::int64_t t0, const FinalRow* row, const RunLog& log,
                   const std::vector<const CancelCall*>& calls) {
  const auto at = [&](std::int64_t ns) { return (ns - t0) / 1e9; };
  if (!row) {
    fmt::print("  job n={}: no row\n", n);
  } else {
    const auto& job = row->job;
    fmt::print("  job n={} id={}: {} ({} row(s)), errors {}, snoozes {}, last error {}{}\n", n,
               job.id, errand::to_string(job.state), row->rows, job.error_count, job.snoozes,
               job.last_error.value_or("-"),
               job.cancel_reason ? fmt::format(", cancel reason '{}'", *job.cancel_reason) : "");
    for (const auto& attempt : job.attempts)
      fmt::print("    failed attempt {} by {}: {}\n", attempt.attempt, attempt.worker,
                 attempt.error);
  }
  // Its runs and the cancels of it, in time order.
  std::vector<std::pair<std::int64_t, std::string>> lines;
  for (const auto& event : log.events(n)) {
    lines.emplace_back(event.ns, fmt::format("{:9.6f} s  run {}", at(event.ns),
                                             event.kind == '^'   ? "started"
                                             : event.kind == '$' ? "returned"
                                                                 : "stopped (threw)"));
  }
  for (const CancelCall* call : calls) {
    const std::string answer =
        !call->result ? "threw " + call->error
        : call->result->kind == errand::CancelResult::Kind::already_finished
            ? fmt::format("already_finished ({})", errand::to_string(call->result->state))
            : std::string(to_string(call->result->kind));
    lines.emplace_back(call->before_ns,
                       fmt::format("{:9.6f} s  cancel ({}) called, answered at {:9.6f} s: {}",
                                   at(call->before_ns), call->aim, at(call->after_ns), answer));
  }
  std::stable_sort(lines.begin(), lines.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });
  for (const auto& [ns, line] : lines)
    fmt::print("    {}\n", line);
}

}  // namespace

errand::Duration CancelJob::backoff(std::int32_t error_count) {
  return quick_backoff(error_count);
}

void CancelJob::run(ChaosState& state, std::stop_token stop) const {
  append(state.record_fd, fmt::format("^{} {}\n", n, monotonic_ns()));
  const auto done = SteadyClock::now() + state.job_time + milliseconds{n % 21};
  if (!sleep_unless_stopped(done, stop)) {
    append(state.record_fd, fmt::format("!{} {}\n", n, monotonic_ns()));
    throw std::runtime_error("stopped: cancelled, or the worker shuts down");
  }
  append(state.record_fd, fmt::format("${} {}\n", n, monotonic_ns()));
}

void add_cancel_options(CLI::App* app, CancelArgs& args) {
  app->add_option("--kill-min-ms", args.kill_min_ms)->capture_default_str();
  app->add_option("--kill-max-ms", args.kill_max_ms)->capture_default_str();
  app->add_option("--cancel-min-ms", args.cancel_min_ms, "pause before each cancel, at least")
      ->capture_default_str();
  app->add_option("--cancel-max-ms", args.cancel_max_ms, "pause before each cancel, at most")
      ->capture_default_str();
  app->add_option("--keep-completed-s", args.keep_completed_s,
                  "WorkerOptions.retention.completed (must outlast the scenario)")
      ->capture_default_str();
  app->add_flag("--random-worker-ids", args.random_worker_ids,
                "a new worker id per process: killed workers' jobs are rescued only by a worker "
                "that has lived rescue_after (the kill9 way; a tail of seconds to a minute)");
}

int scenario_cancel(const Common& common, const CancelArgs& args) {
  Scenario s("cancel", common);
  const auto& c = s.common();
  const std::int64_t t0 = monotonic_ns();
  s.add_worker_args({"--keep-completed-s", std::to_string(args.keep_completed_s)});
  if (!args.random_worker_ids) s.name_workers_by_slot();

  // ids[n - 1]: the id enqueue returned for job n.
  std::vector<errand::JobId> ids;
  for (std::int64_t n = 1; n <= c.jobs;) {
    std::vector<CancelJob> jobs;
    for (; n <= c.jobs && jobs.size() < 1000; ++n)
      jobs.push_back({n});
    const auto got = errand::enqueue_all(s.store(), jobs, {.context = "chaos"});
    ids.insert(ids.end(), got.begin(), got.end());
  }

  Canceller canceller(s, args, ids);
  WorkerKiller killer(s, args.kill_min_ms, args.kill_max_ms);
  std::jthread cancelling([&](std::stop_token stop) { canceller.run(stop); });
  const bool drained = s.wait_until_drained([&] { killer.tick(); });
  cancelling.request_stop();
  cancelling.join();
  const double drain_s = s.elapsed();
  s.check_unexpected_exits();
  s.stop_workers(milliseconds{c.drain_timeout_ms} + 10s);
  if (!drained) s.fail("some jobs never reached a final state");
  if (!canceller.error().empty()) s.fail("the cancelling thread failed: " + canceller.error());

  // Every row of the store, in every state, by id.
  std::map<errand::JobId, FinalRow> rows;
  retrying([&] {
    rows.clear();
    for (const auto state :
         {std::optional<errand::JobState>{}, std::optional{errand::JobState::completed},
          std::optional{errand::JobState::cancelled}, std::optional{errand::JobState::discarded}}) {
      errand::JobFilter filter;
      filter.state = state;
      filter.limit = 10'000'000;
      filter.lock_timeout = s.lock_timeout();
      for (auto& job : s.store().list_jobs(filter)) {
        auto& row = rows[job.id];
        ++row.rows;
        row.job = std::move(job);
      }
    }
    return 0;
  });
  RunLog log(s.record_path());
  log.refresh();
  std::map<std::int64_t, std::vector<const CancelCall*>> calls_of;
  for (const auto& call : canceller.calls())
    calls_of[call.n].push_back(&call);
  // Jobs whose history is printed on failure, most telling first: 0 a cancel's answer broken,
  // 1 a run or a call amiss, 2 a row amiss.
  std::map<int, std::vector<std::int64_t>> suspects;
  const auto suspect = [&](std::int64_t n, int rank) { suspects[rank].push_back(n); };

  // Exactly one row per enqueued id, finished, with the job's payload; nothing else. find_job
  // must agree, asked for every job a cancel touched and every tenth other (on PostgreSQL each
  // is a round trip or two: all 3,000 would take 3 s).
  std::map<std::int64_t, errand::JobState> final_state;
  std::vector<std::int64_t> lost, doubled, unfinished, mismatched, discarded;
  std::set<errand::JobId> enqueued(ids.begin(), ids.end());
  for (std::int64_t n = 1; n <= c.jobs; ++n) {
    const errand::JobId id = ids[static_cast<std::size_t>(n - 1)];
    const auto it = rows.find(id);
    std::optional<errand::JobInfo> found;
    const bool ask = calls_of.count(n) > 0 || n % 10 == 0;
    if (ask) found = retrying([&] { return s.store().find_job(id, s.lock_timeout()); });
    if (it == rows.end() || (ask && !found)) {
      lost.push_back(n);
      continue;
    }
    const auto& job = it->second.job;
    if (it->second.rows != 1) doubled.push_back(n);
    if (!errand::is_finished(job.state)) unfinished.push_back(n);
    if (payload_number(job.payload) != n ||
        (found && (found->state != job.state || payload_number(found->payload) != n))) {
      mismatched.push_back(n);
    }
    if (job.state == errand::JobState::discarded) discarded.push_back(n);
    final_state[n] = job.state;
  }
  std::vector<errand::JobId> foreign;
  for (const auto& [id, row] : rows)
    if (!enqueued.count(id)) foreign.push_back(id);
  if (ids.size() != static_cast<std::size_t>(c.jobs) || enqueued.size() != ids.size())
    s.fail(fmt::format("enqueue returned {} ids, {} distinct, for {} jobs", ids.size(),
                       enqueued.size(), c.jobs));
  if (!lost.empty()) s.fail(fmt::format("{} job(s) lost (no row): {}", lost.size(), sample(lost)));
  if (!doubled.empty())
    s.fail(fmt::format("{} job(s) with more than one row: {}", doubled.size(), sample(doubled)));
  if (!unfinished.empty())
    s.fail(
        fmt::format("{} job(s) not in a final state: {}", unfinished.size(), sample(unfinished)));
  if (!mismatched.empty())
    s.fail(fmt::format("{} job(s) whose find_job disagrees with list_jobs, or with the payload: {}",
                       mismatched.size(), sample(mismatched)));
  if (!foreign.empty())
    s.fail(fmt::format("{} row(s) with ids enqueue never returned: {}", foreign.size(),
                       sample(foreign)));
  if (!discarded.empty()) {
    const auto& job = rows.at(ids[static_cast<std::size_t>(discarded.front() - 1)]).job;
    s.fail(fmt::format("{} job(s) discarded (max_retries is {}): {} (first: {} errors, {})",
                       discarded.size(), CancelJob::max_retries, sample(discarded), job.error_count,
                       job.last_error.value_or("-")));
  }
  for (const auto n : lost)
    suspect(n, 2);
  for (const auto n : doubled)
    suspect(n, 2);
  for (const auto n : mismatched)
    suspect(n, 2);
  std::size_t completed = 0, cancelled = 0;
  for (const auto& [n, state] : final_state) {
    if (state == errand::JobState::completed) ++completed;
    if (state == errand::JobState::cancelled) ++cancelled;
  }
  if (completed + cancelled + discarded.size() != static_cast<std::size_t>(c.jobs))
    s.fail(fmt::format("completed {} + cancelled {} + discarded {} != {} jobs", completed,
                       cancelled, discarded.size(), c.jobs));

  // The record file: well formed, only known jobs; a completed job started and returned.
  if (!log.malformed().empty())
    s.fail(fmt::format("{} malformed record line(s), first: '{}'", log.malformed().size(),
                       log.malformed().front()));
  std::vector<std::int64_t> unknown, unrecorded;
  for (const auto& [n, events] : log.all())
    if (n < 1 || n > c.jobs) unknown.push_back(n);
  for (const auto& [n, state] : final_state) {
    if (state != errand::JobState::completed) continue;
    const auto& events = log.events(n);
    const auto has = [&](char kind) {
      return std::any_of(events.begin(), events.end(),
                         [&](const RunEvent& e) { return e.kind == kind; });
    };
    if (!has('^') || !has('$')) unrecorded.push_back(n);
  }
  if (!unknown.empty()) s.fail(fmt::format("unknown job numbers recorded: {}", sample(unknown)));
  if (!unrecorded.empty()) {
    s.fail(fmt::format("{} completed job(s) without a recorded start and return: {}",
                       unrecorded.size(), sample(unrecorded)));
    for (const auto n : unrecorded)
      suspect(n, 1);
  }

  // The cancels, against the final states and the runs.
  std::size_t calls_cancelled = 0, calls_requested = 0, calls_finished = 0, calls_not_found = 0,
              calls_failed = 0;
  std::set<std::int64_t> requested_jobs, cancelled_waiting_jobs;
  std::vector<std::int64_t> ran_after_ack, not_cancelled, requested_unfinished, wrong_finished,
      not_found, changed_after_finish, cancelled_unasked;
  std::size_t ran_before_ack = 0;  // cancelled while waiting after an earlier run was cut short
  for (const auto& [n, calls] : calls_of) {
    const auto state = final_state.find(n);
    std::optional<errand::JobState> finished_as;  // once a call saw it finished
    for (const CancelCall* call : calls) {
      if (!call->result) {
        ++calls_failed;
        suspect(n, 1);
        continue;
      }
      const auto& result = *call->result;
      if (finished_as && (result.kind != errand::CancelResult::Kind::already_finished ||
                          result.state != *finished_as)) {
        changed_after_finish.push_back(n);
      }
      switch (result.kind) {
        case errand::CancelResult::Kind::cancelled: {
          ++calls_cancelled;
          cancelled_waiting_jobs.insert(n);
          finished_as = errand::JobState::cancelled;
          if (state == final_state.end() || state->second != errand::JobState::cancelled)
            not_cancelled.push_back(n);
          // A run before is one cut short by a kill and rescued. None may start after the
          // answer, nor while the call was under way: a claim that committed before the cancel's
          // transaction would have made the answer `requested`.
          bool before = false, after = false;
          for (const auto& event : log.events(n)) {
            if (event.kind != '^') continue;
            (event.ns >= call->before_ns ? after : before) = true;
          }
          if (after) ran_after_ack.push_back(n);
          if (before) ++ran_before_ack;
          break;
        }
        case errand::CancelResult::Kind::requested:
          ++calls_requested;
          requested_jobs.insert(n);
          if (state == final_state.end() || (state->second != errand::JobState::cancelled &&
                                             state->second != errand::JobState::completed))
            requested_unfinished.push_back(n);
          break;
        case errand::CancelResult::Kind::already_finished:
          ++calls_finished;
          finished_as = result.state;
          if (state == final_state.end() || state->second != result.state)
            wrong_finished.push_back(n);
          break;
        case errand::CancelResult::Kind::not_found:
          ++calls_not_found;
          not_found.push_back(n);
          break;
      }
    }
  }
  for (const auto& [n, state] : final_state) {
    if (state == errand::JobState::cancelled && !cancelled_waiting_jobs.count(n) &&
        !requested_jobs.count(n)) {
      cancelled_unasked.push_back(n);
    }
  }
  std::size_t requested_cancelled = 0, requested_completed = 0;
  for (const auto n : requested_jobs) {
    const auto state = final_state.find(n);
    if (state == final_state.end()) continue;
    if (state->second == errand::JobState::cancelled) ++requested_cancelled;
    if (state->second == errand::JobState::completed) ++requested_completed;
  }
  const auto check = [&](const std::vector<std::int64_t>& jobs, const std::string& what) {
    if (jobs.empty()) return;
    const std::set<std::int64_t> distinct(jobs.begin(), jobs.end());
    s.fail(fmt::format("{} job(s) {}: {}", distinct.size(), what, sample(distinct)));
    for (const auto n : distinct)
      suspect(n, 0);
  };
  check(ran_after_ack,
        "started a run after (or while) a cancel that answered `cancelled` (waiting) was called");
  check(not_cancelled, "acknowledged `cancelled` (waiting) but not finally cancelled");
  check(requested_unfinished, "acknowledged `requested` but neither cancelled nor completed");
  check(wrong_finished, "reported already_finished in a state that is not their final one");
  check(changed_after_finish, "answered other than already_finished (same state) once finished");
  check(not_found, "not found by cancel_job");
  check(cancelled_unasked, "cancelled that no cancel call asked for");
  if (calls_failed > 0) s.fail(fmt::format("{} cancel call(s) threw", calls_failed));

  // What the picks hit, for tuning the mix: "waiting 400 (390 cancelled, 10 requested), ...".
  std::map<std::string, std::map<std::string, int>> by_aim;
  for (const auto& call : canceller.calls()) {
    ++by_aim[call.aim][""];
    ++by_aim[call.aim][call.result ? std::string(to_string(call.result->kind)) : "threw"];
  }
  std::vector<std::string> aims;
  for (const auto& [aim, results] : by_aim) {
    std::vector<std::string> parts;
    for (const auto& [result, count] : results)
      if (!result.empty()) parts.push_back(fmt::format("{} {}", count, result));
    aims.push_back(fmt::format("{} {} ({})", aim, results.at(""), fmt::join(parts, ", ")));
  }
  fmt::print("{}: cancel calls by aim: {}\n", s.label(), fmt::join(aims, "; "));

  std::set<std::int64_t> shown;
  for (const auto& [rank, jobs] : suspects) {
    for (const auto n : jobs) {
      if (shown.size() >= 10 || !shown.insert(n).second) continue;
      const auto it = rows.find(ids[static_cast<std::size_t>(n - 1)]);
      print_history(n, t0, it == rows.end() ? nullptr : &it->second, log, calls_of[n]);
    }
  }

  return s.finish(fmt::format(
      "{} jobs, {} workers, {} kills, {} cancel calls ({} cancelled waiting, {} requested while "
      "running: {} jobs -> {} cancelled / {} completed, {} already finished, {} not found), "
      "final: {} completed, {} cancelled, {} discarded, {} lost; {} jobs cancelled while waiting "
      "had run before (cut short by a kill), {} torn records, drained in {:.1f} s",
      c.jobs, c.workers, killer.kills(), canceller.calls().size(), calls_cancelled, calls_requested,
      requested_jobs.size(), requested_cancelled, requested_completed, calls_finished,
      calls_not_found, completed, cancelled, discarded.size(), lost.size(), ran_before_ack,
      log.torn(), drain_s));
}

}  // namespace chaos
