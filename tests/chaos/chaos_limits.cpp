// The limits scenarios (issue 14): "3 worker processes, a queue with a global limit of 5 and slow
// jobs that record their start and end in the application's own table; workers killed with
// kill -9 at random and restarted; afterwards the recorded intervals never overlap more than 5
// deep (counting a killed run as running until its job was rescued), and every job ran. The same
// for a per-key limit and for a rate limit."
//
//   errand_chaos limits --kind global|key|rate --store sqlite|postgres
//
// The driver gives the queue its limit (Store::update_queue): a global limit of 5, a per-key
// limit of 2 (jobs spread over 4 keys, no global limit), or a rate of 20 per 500 ms; creates the
// application's table (chaos_run_table.hpp) in the store's database; enqueues N LimitJobs into
// the queue; starts 3 workers serving it with 4 slots each (WorkerOptions::queues), more than
// the limit allows, so that the limit, not the slots, binds; and SIGKILLs a random worker every
// 100-300 ms, restarting it at once under its slot's id (so it rescues what its predecessor
// held when it registers). Completed jobs are kept, with the history of their failed attempts.
// Each run inserts its row when it starts and sets its end when it returns.
//
// What docs/architecture.md ("Queues and limits") guarantees, and what is checked:
// - global and per key: a lease lasts from the claim until the outcome is settled, or until the
//   job is rescued from a killed worker, and at most `limit` leases are held at once (per key).
//   A run lies inside its lease; a run whose process was killed has no end, and counts until its
//   job was rescued: the time of that attempt in the job's history (Attempt::at, which the
//   rescuing worker reads from the store's Clock just before it settles the rescue). Starts and
//   ends are read from the same Clock object (Store::clock(): the host's wall clock, on both
//   stores unless a clock is injected), so every time of this check is on one clock, and each
//   is inside the lease it stands for: a start after its claim committed, an end before its
//   settle, a rescue time before the rescue committed. So no instant may be inside more than
//   `limit` recorded intervals (of one key).
// - rate: the guarantee is stated on claims, by the store's clock: for every claim at time t,
//   the claims in (t - period, t] number at most `limit`. Each run records its claim time
//   (RunContext::claimed_at: on PostgreSQL the database's clock, on SQLite the store's Clock),
//   and no such window may hold more. Claims whose run was killed before it recorded itself are
//   missing, which can only lower a count. (Starts follow claims by the worker's hand-off to a
//   thread and are not covered; their busiest window is printed, not checked.)
// - every job ran: every enqueued job ended completed, exactly once, with a recorded run that
//   returned; nothing is left to run or dead; every failed attempt is a rescue from a killed
//   worker, and every run without an end is one that such a rescue ended: its attempt is in the
//   job's history, by its worker, and its process is one the driver killed.
// - the limit bound: some instant (window) held exactly `limit`; else the scenario tested nothing.
// --check-limit N holds the runs to N instead of the limit: below it, the checks must fail.
#include "chaos_limits.hpp"

#include "chaos_run_table.hpp"

#include <fmt/format.h>
#include <CLI/CLI.hpp>

#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <map>
#include <set>
#include <stdexcept>
#include <tuple>
#include <utility>

namespace chaos {

namespace {

using namespace std::chrono_literals;

std::int64_t micros(errand::TimePoint t) {
  return t.time_since_epoch().count();
}

// A run's interval [start, end), with its row.
struct Interval {
  std::int64_t start = 0, end = 0;
  const RunRow* run = nullptr;
};

// The most intervals holding one instant (or claims in one window), and where it first happened;
// for intervals, also how long `full` or more were open with a killed run among them (the
// killed worker's lease holding a place of the limit until its rescue).
struct Busiest {
  std::size_t most = 0;
  std::int64_t at = 0;
  std::int64_t full_with_killed_us = 0;
};

bool was_killed(const Interval& i) {
  return !i.run->end_us;
}

Busiest deepest(const std::vector<Interval>& intervals, std::size_t full) {
  struct Step {
    std::int64_t at;
    int step;  // -1 an end, +1 a start: at one instant, ends first
    bool killed;
    bool operator<(const Step& o) const { return std::tie(at, step) < std::tie(o.at, o.step); }
  };
  std::vector<Step> steps;
  for (const Interval& i : intervals) {
    if (i.end <= i.start) continue;  // holds no instant
    steps.push_back({i.start, +1, was_killed(i)});
    steps.push_back({i.end, -1, was_killed(i)});
  }
  std::sort(steps.begin(), steps.end());
  Busiest busiest;
  std::size_t open = 0, open_killed = 0;
  std::int64_t last = 0;
  for (const Step& s : steps) {
    if (open >= full && open_killed > 0) busiest.full_with_killed_us += s.at - last;
    last = s.at;
    open = s.step > 0 ? open + 1 : open - 1;
    if (s.killed) open_killed = s.step > 0 ? open_killed + 1 : open_killed - 1;
    if (open > busiest.most) {
      busiest.most = open;
      busiest.at = s.at;
    }
  }
  return busiest;
}

// The most times in one window (t - period, t], and its t.
Busiest busiest_window(std::vector<std::int64_t> times, std::int64_t period) {
  std::sort(times.begin(), times.end());
  Busiest busiest;
  for (const std::int64_t t : times) {
    const auto from = std::upper_bound(times.begin(), times.end(), t - period);
    const auto to = std::upper_bound(times.begin(), times.end(), t);
    const auto count = static_cast<std::size_t>(to - from);
    if (count > busiest.most) busiest = {count, t};
  }
  return busiest;
}

// How long runs started after their claim's time: "median 3.1 ms, 99% 40.2 ms, max 95.0 ms".
std::string claim_to_start(const std::vector<RunRow>& runs) {
  if (runs.empty()) return "no runs";
  std::vector<std::int64_t> lags;
  for (const RunRow& run : runs)
    lags.push_back(run.start_us - run.claimed_us);
  std::sort(lags.begin(), lags.end());
  const auto at = [&](double q) {
    return lags[static_cast<std::size_t>(q * static_cast<double>(lags.size() - 1))] / 1e3;
  };
  return fmt::format("median {:.1f} ms, 99% {:.1f} ms, max {:.1f} ms", at(0.5), at(0.99), at(1.0));
}

// The kind's queue limit as it reads in the report.
std::string describe_limit(const LimitsArgs& args, int limit) {
  if (args.kind == "global") return fmt::format("global limit {}", limit);
  if (args.kind == "key") return fmt::format("per-key limit {} over {} keys", limit, args.keys);
  return fmt::format("rate {}/{}ms", limit, args.period_ms);
}

// Prints the intervals that hold instant `at` (at most 12), for a failure.
void print_overlap(const std::vector<Interval>& intervals, std::int64_t at, std::int64_t t0) {
  std::size_t shown = 0;
  for (const Interval& i : intervals) {
    if (i.start > at || i.end <= at || ++shown > 12) continue;
    const RunRow& r = *i.run;
    fmt::print("    job {} attempt {} by {} (pid {}, key '{}'): {:.6f} s .. {:.6f} s{}\n", r.job,
               r.attempt, r.worker, r.pid, r.key, (i.start - t0) / 1e6, (i.end - t0) / 1e6,
               r.end_us ? "" : " (killed; until its rescue)");
  }
}

}  // namespace

void LimitJob::run(ChaosState& state, errand::RunContext& context) const {
  if (!state.runs || !state.clock)
    throw std::runtime_error("LimitJob: the worker has no --runs-db");
  RunRow run;
  run.job = context.id();
  run.attempt = context.attempt();
  run.pid = ::getpid();
  run.worker = state.worker_id;
  run.key = std::string(context.partition_key());
  run.claimed_us = micros(context.claimed_at());
  run.start_us = micros(state.clock->now());
  const std::int64_t row = state.runs->started(run);
  const auto done = SteadyClock::now() + state.job_time + milliseconds{n % 41};
  if (!sleep_unless_stopped(done, context.stop_token()))
    throw std::runtime_error("stopped: the worker shuts down");
  state.runs->ended(row, micros(state.clock->now()));
}

errand::QueueConcurrency parse_queue_slots(const std::string& text) {
  const auto colon = text.rfind(':');
  std::size_t slots = 0;
  if (colon != std::string::npos) {
    const auto [end, ec] =
        std::from_chars(text.data() + colon + 1, text.data() + text.size(), slots);
    if (ec != std::errc{} || end != text.data() + text.size()) slots = 0;
  }
  if (colon == std::string::npos || colon == 0 || slots == 0)
    throw std::invalid_argument("--queue: expected NAME:SLOTS, SLOTS >= 1, not '" + text + "'");
  return {text.substr(0, colon), slots};
}

void add_limits_options(CLI::App* app, LimitsArgs& args) {
  app->add_option("--kind", args.kind, "global, key (per-key limit) or rate")
      ->check(CLI::IsMember({"global", "key", "rate"}))
      ->capture_default_str();
  app->add_option("--limit", args.limit, "the queue's limit (0: 5 global, 2 per key, 20 rate)")
      ->capture_default_str();
  app->add_option("--check-limit", args.check_limit,
                  "hold the runs to this instead of the limit (below it: the checks must fail)")
      ->capture_default_str();
  app->add_option("--keys", args.keys, "partition keys (per-key limit)")->capture_default_str();
  app->add_option("--period-ms", args.period_ms, "the rate's period")->capture_default_str();
  app->add_option("--slots", args.slots, "each worker's slots for the queue")
      ->capture_default_str();
  app->add_option("--kill-min-ms", args.kill_min_ms)->capture_default_str();
  app->add_option("--kill-max-ms", args.kill_max_ms)->capture_default_str();
}

int scenario_limits(const Common& common, const LimitsArgs& args) {
  Scenario s("limits-" + args.kind, common);
  const auto& c = s.common();
  const bool by_key = args.kind == "key", rate = args.kind == "rate";
  const int limit = args.limit > 0 ? args.limit : by_key ? 2 : rate ? 20 : 5;
  const auto check = static_cast<std::size_t>(args.check_limit > 0 ? args.check_limit : limit);
  const std::int64_t period_us = std::int64_t{args.period_ms} * 1000;
  const std::string queue = "chaos-limits";

  errand::QueueUpdate update;
  if (by_key) {
    update.per_key = limit;
  } else if (rate) {
    update.rate = errand::RateLimit{limit, milliseconds{args.period_ms}};
  } else {
    update.global = limit;
  }
  s.store().update_queue(queue, update, /*create=*/true);
  const std::string runs_db = c.store == "sqlite" ? s.db_file().string() : c.pg_url;
  auto table = RunTable::open(runs_db, s.schema());
  table->create();

  errand::Batch batch;
  for (std::int64_t n = 1; n <= c.jobs; ++n) {
    errand::EnqueueOptions options{.context = "chaos", .queue = queue};
    if (by_key) options.partition_key = fmt::format("key-{}", n % args.keys);
    batch.add(LimitJob{n}, std::move(options));
  }
  const std::vector<errand::JobId> ids = errand::ids_of(errand::enqueue(s.store(), batch));

  s.add_worker_args({"--queue", fmt::format("{}:{}", queue, args.slots), "--runs-db", runs_db,
                     "--keep-completed-s", std::to_string(7 * 24 * 3600)});
  if (!s.schema().empty()) s.add_worker_args({"--runs-schema", s.schema()});
  s.name_workers_by_slot();
  WorkerKiller killer(s, args.kill_min_ms, args.kill_max_ms);
  const bool drained = s.wait_until_drained([&] { killer.tick(); });
  const double drain_s = s.elapsed();
  s.check_unexpected_exits();
  s.stop_workers(milliseconds{c.drain_timeout_ms} + 10s);
  if (!drained) s.fail("the queue was not drained");

  // The completed jobs, with their failed attempts; nothing else left anywhere.
  std::map<errand::JobId, errand::JobInfo> completed;
  std::size_t completed_rows = 0;
  retrying([&] {
    completed.clear();
    completed_rows = 0;
    errand::JobFilter filter;
    filter.state = errand::JobState::completed;
    filter.limit = 10'000'000;
    filter.lock_timeout = s.lock_timeout();
    for (auto& job : s.store().list_jobs(filter)) {
      ++completed_rows;
      completed.emplace(job.id, std::move(job));
    }
    return 0;
  });
  s.check_tables_empty(take_snapshot(s.store()));
  const std::set<errand::JobId> enqueued(ids.begin(), ids.end());
  std::vector<errand::JobId> not_completed, foreign;
  for (const errand::JobId id : ids)
    if (!completed.count(id)) not_completed.push_back(id);
  for (const auto& [id, job] : completed)
    if (!enqueued.count(id)) foreign.push_back(id);
  if (!not_completed.empty())
    s.fail(fmt::format("{} job(s) did not end completed: {}", not_completed.size(),
                       sample(not_completed)));
  if (!foreign.empty() || completed_rows != completed.size())
    s.fail(fmt::format("{} completed row(s) for {} jobs ({} with ids enqueue never returned)",
                       completed_rows, ids.size(), foreign.size()));

  // Failed attempts: rescues of killed workers' jobs, nothing else.
  std::map<std::pair<errand::JobId, std::int32_t>, const errand::Attempt*> rescues;
  std::size_t other_failures = 0;
  for (const auto& [id, job] : completed) {
    if (job.attempts_unreadable) s.fail(fmt::format("job {}: {}", id, *job.attempts_unreadable));
    for (const errand::Attempt& attempt : job.attempts) {
      if (attempt.error.find("was lost while running this job") != std::string::npos) {
        rescues[{id, attempt.attempt}] = &attempt;
      } else if (++other_failures <= 5) {
        s.fail(fmt::format("job {} attempt {} by {} failed: {}", id, attempt.attempt,
                           attempt.worker, attempt.error));
      }
    }
  }

  // The runs, as intervals; a killed one's ends at its rescue.
  const std::vector<RunRow> runs = table->rows();
  const std::set<pid_t> killed(killer.killed().begin(), killer.killed().end());
  std::vector<Interval> intervals;
  std::set<errand::JobId> returned;
  std::vector<std::string> unexplained;
  std::size_t cut_short = 0;
  for (const RunRow& run : runs) {
    if (!enqueued.count(run.job)) {
      unexplained.push_back(fmt::format("a run of job {}, never enqueued", run.job));
      continue;
    }
    if (run.end_us) {
      returned.insert(run.job);
      if (*run.end_us < run.start_us)
        unexplained.push_back(
            fmt::format("job {} attempt {} ended before it started", run.job, run.attempt));
      intervals.push_back({run.start_us, *run.end_us, &run});
      continue;
    }
    ++cut_short;
    const auto rescue = rescues.find({run.job, run.attempt});
    if (rescue == rescues.end()) {
      unexplained.push_back(
          fmt::format("job {} attempt {} (pid {}) never returned, and no rescue "
                      "of that attempt is in its history",
                      run.job, run.attempt, run.pid));
      continue;
    }
    const errand::Attempt& attempt = *rescue->second;
    const std::int64_t rescued_us = micros(attempt.at);
    if (attempt.worker != run.worker || !killed.count(static_cast<pid_t>(run.pid)) ||
        rescued_us < run.start_us) {
      unexplained.push_back(fmt::format(
          "job {} attempt {} never returned: run by {} (pid {}, {}killed by the driver), rescued "
          "from {} {:.6f} s after it started",
          run.job, run.attempt, run.worker, run.pid,
          killed.count(static_cast<pid_t>(run.pid)) ? "" : "not ", attempt.worker,
          (rescued_us - run.start_us) / 1e6));
    }
    intervals.push_back({run.start_us, std::max(rescued_us, run.start_us), &run});
  }
  std::vector<errand::JobId> never_returned;
  for (const errand::JobId id : ids)
    if (!returned.count(id)) never_returned.push_back(id);
  if (!never_returned.empty())
    s.fail(fmt::format("{} job(s) have no run that returned: {}", never_returned.size(),
                       sample(never_returned)));
  if (!unexplained.empty()) {
    s.fail(
        fmt::format("{} run(s) unexplained, first: {}", unexplained.size(), unexplained.front()));
    for (std::size_t i = 1; i < std::min<std::size_t>(unexplained.size(), 10); ++i)
      fmt::print("  {}\n", unexplained[i]);
  }

  // The limit.
  const std::int64_t t0 = runs.empty() ? 0 : runs.front().start_us;
  std::string measured;
  Busiest busiest;
  if (rate) {
    std::vector<std::int64_t> claims, starts;
    for (const RunRow& run : runs) {
      claims.push_back(run.claimed_us);
      starts.push_back(run.start_us);
    }
    busiest = busiest_window(claims, period_us);
    if (busiest.most > check) {
      s.fail(fmt::format("{} claims in the window of {} ms ending at {:.6f} s (at most {}):",
                         busiest.most, args.period_ms, (busiest.at - t0) / 1e6, check));
      for (const RunRow& run : runs) {
        if (run.claimed_us <= busiest.at - period_us || run.claimed_us > busiest.at) continue;
        fmt::print("    job {} attempt {} by {} (pid {}): claimed at {:.6f} s\n", run.job,
                   run.attempt, run.worker, run.pid, (run.claimed_us - t0) / 1e6);
      }
    }
    measured = fmt::format("busiest window {} claims (of {} allowed; {} starts)", busiest.most,
                           check, busiest_window(starts, period_us).most);
  } else {
    std::map<std::string, std::vector<Interval>> by;  // all under "" for the global limit
    for (const Interval& i : intervals)
      by[by_key ? i.run->key : ""].push_back(i);
    std::vector<std::string> depths;
    std::int64_t full_with_killed_us = 0;
    for (const auto& [key, group] : by) {
      const Busiest d = deepest(group, check);
      depths.push_back(by_key ? fmt::format("{} {}", key, d.most) : std::to_string(d.most));
      full_with_killed_us += d.full_with_killed_us;
      if (d.most > busiest.most) busiest = d;
      if (d.most <= check) continue;
      s.fail(fmt::format("{} runs{} at once at {:.6f} s (at most {}):", d.most,
                         by_key ? fmt::format(" of key '{}'", key) : "", (d.at - t0) / 1e6, check));
      print_overlap(group, d.at, t0);
    }
    measured = fmt::format(
        "deepest overlap {} (of {} allowed{}{}), at the limit with a killed run awaiting its "
        "rescue for {:.1f} s{}",
        busiest.most, check, by_key ? "; by key: " : "",
        by_key ? fmt::format("{}", fmt::join(depths, ", ")) : "", full_with_killed_us / 1e6,
        by_key ? " (summed over the keys)" : "");
  }
  if (busiest.most < check)
    s.fail(
        fmt::format("at most {} at once, never the {} allowed: the limit never bound, so "
                    "nothing was tested",
                    busiest.most, check));

  return s.finish(fmt::format(
      "{} jobs, {} workers x {} slots, {}: {} kills, {} runs recorded ({} cut short by a kill), "
      "{} rescued attempts, {}, {} completed, {} without a returned run, claim to start {}, "
      "drained in {:.1f} s",
      c.jobs, c.workers, args.slots, describe_limit(args, limit), killer.kills(), runs.size(),
      cut_short, rescues.size(), measured, completed.size(), never_returned.size(),
      claim_to_start(runs), drain_s));
}

}  // namespace chaos
