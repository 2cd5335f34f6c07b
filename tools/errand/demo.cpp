// `errand demo`: the seed's examples and the worker's retry, dead-letter and shutdown behaviour,
// live, against a scratch job database and the demo application's own database.
#include "commands.hpp"
#include "console.hpp"
#include "demo_app.hpp"
#include "demo_jobs.hpp"
#include "demo_progress.hpp"
#include "format.hpp"
#include "numbers.hpp"

#include <fmt/format.h>
#include <errand/errand.hpp>

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <memory>
#include <stop_token>
#include <string>
#include <thread>
#include <vector>

#include <unistd.h>

namespace errand::cli {

namespace {

using namespace std::chrono_literals;
using demo::AppState;
using demo::FinishedJob;
using demo::Progress;
using demo::Totals;
using Color = Console::Color;

constexpr std::string_view demo_database_url = "sqlite:errand-demo.db";
constexpr std::string_view app_database_name = "errand-demo-app.db";
constexpr std::chrono::milliseconds drain_timeout = 10s;

struct DemoOptions {
  std::string app_db;
  std::size_t concurrency = 4;
  bool verbose = false;
  bool force = false;
};

// "3 queued jobs, 2 dead jobs and 1 registered worker": what is in the store, "" when nothing.
std::string contents_of(Store& store) {
  const JobCounts c = store.counts(WorkerOptions{}.lock_timeout);
  const std::int64_t queued = c.ready + c.scheduled + c.running + c.abandoned;
  const auto workers = static_cast<std::int64_t>(store.list_workers().size());
  std::vector<std::string> parts;
  const auto add = [&](std::int64_t n, std::string_view one, std::string_view many) {
    if (n > 0) parts.push_back(fmt::format("{} {}", n, n == 1 ? one : many));
  };
  add(queued, "queued job", "queued jobs");
  add(c.dead, "dead job", "dead jobs");
  add(workers, "registered worker", "registered workers");
  std::string text;
  for (std::size_t i = 0; i < parts.size(); ++i) {
    text += (i == 0 ? "" : i + 1 == parts.size() ? " and " : ", ") + parts[i];
  }
  return text;
}

// Enqueues the demo's jobs and prints one line per job; returns their ids.
std::vector<JobId> enqueue_demo_jobs(Store& store, AppState& app, Console& console) {
  using demo::DoomedJob;
  using demo::EmailJob;
  using demo::FlakyJob;
  using demo::LongJob;
  using demo::ProcessPaymentJob;

  struct Line {
    std::string name;
    EnqueueOptions options;
    std::string what;
  };
  std::vector<Line> lines;
  std::vector<JobId> ids;

  // The seed's way: one job, priority 0, due now.
  const EmailJob welcome{"alice@example.com", "Welcome!", "Thank you for signing up!"};
  ids.push_back(errand::enqueue(store, welcome, "user-signup"));
  Line welcome_line{.name = "EmailJob", .options = {}, .what = "to alice@example.com"};
  welcome_line.options.context = "user-signup";
  lines.push_back(std::move(welcome_line));

  // The rest in one transaction: all or none.
  Batch batch;
  const auto add = [&](const auto& job, EnqueueOptions options, std::string what) {
    lines.push_back({std::string(std::decay_t<decltype(job)>::name), options, std::move(what)});
    batch.add(job, std::move(options));
  };
  add(EmailJob{"bob@example.com", "Reset your password", "Follow this link ..."},
      {.context = "password-reset", .priority = 10}, "to bob@example.com, urgent");
  add(EmailJob{"everyone@example.com", "Our monthly newsletter", "News ..."},
      {.context = "newsletter", .priority = -10}, "background work");
  add(EmailJob{"carol@example.com", "Your trial ends tomorrow", "..."},
      {.context = "trial-reminder", .delay = 3s}, "scheduled: not before 3s from now");
  // Each payment is for an order the app records first; the order id makes the job idempotent.
  const auto pay = [&](std::int64_t user_id, std::int64_t amount_cents, EnqueueOptions options) {
    const std::int64_t order_id = app.place_order(user_id, amount_cents);
    add(ProcessPaymentJob{.order_id = order_id, .user_id = user_id, .amount_cents = amount_cents},
        std::move(options),
        fmt::format("{} cents from user #{}, order #{}", amount_cents, user_id, order_id));
  };
  pay(1, 1999, {.context = "checkout"});
  pay(2, 4500, {.context = "checkout"});
  pay(1, 250, {.context = "subscription-renewal", .priority = -10});
  // Attempts are counted per key in this process: a key of its own for this run's job.
  add(FlakyJob{.key = fmt::format("weather-{}", ::getpid()), .fail_times = 2},
      {.context = "dashboard-refresh"}, "fails twice, then succeeds");
  add(DoomedJob{"card declined: the card was reported stolen"}, {.context = "checkout"},
      "always fails; max_retries = 2");
  add(LongJob{.steps = 30, .step_ms = 500}, {.context = "nightly-report"},
      "30 steps of 0.5s; stops early on Ctrl-C");
  const std::vector<JobId> batch_ids = errand::ids_of(errand::enqueue(store, batch));
  ids.insert(ids.end(), batch_ids.begin(), batch_ids.end());

  for (std::size_t i = 0; i < ids.size(); ++i) {
    const Line& line = lines[i];
    console.line(fmt::format("{} #{:<3} {:<17} priority {:>3}  {:<21} {}",
                             console.paint("queued ", Color::dim), ids[i], line.name,
                             line.options.priority, line.options.context, line.what));
  }
  return ids;
}

std::string_view level_name(LogLevel level) {
  switch (level) {
    case LogLevel::debug:
      return "debug";
    case LogLevel::info:
      return "info";
    case LogLevel::warning:
      return "warning";
    case LogLevel::error:
      return "error";
  }
  return "?";
}

// errand-demo-app.db next to the job database, or in the current directory.
std::filesystem::path default_app_db(const Store& store) {
  const std::string where = store.describe();
  constexpr std::string_view prefix = "sqlite:";
  if (where.starts_with(prefix)) {
    return std::filesystem::path(where.substr(prefix.size())).parent_path() / app_database_name;
  }
  return app_database_name;
}

void print_summary(const Totals& t, double seconds, bool interrupted, AppState& app,
                   std::int64_t payments_before, const std::string& program,
                   const std::string& db) {
  const std::int64_t payments = app.payment_count();
  fmt::print("\nSummary after {:.1f}s{}:\n", seconds, interrupted ? " (interrupted)" : "");
  fmt::print("  jobs enqueued            {:>4}\n", t.enqueued);
  fmt::print("  runs                     {:>4}\n", t.runs);
  fmt::print("  succeeded                {:>4}\n", t.succeeded);
  fmt::print("  retries scheduled        {:>4}\n", t.retries);
  fmt::print("  dead-lettered            {:>4}\n", t.dead.size());
  for (const FinishedJob& job : t.dead) {
    fmt::print("    #{} {}: {}\n", job.id, job.name, job.error);
  }
  if (interrupted || !t.released.empty()) {
    fmt::print("  released to the queue    {:>4}  (unlocked, no attempt charged)\n",
               t.released.size());
    for (const FinishedJob& job : t.released) {
      fmt::print("    #{} {}\n", job.id, job.name);
    }
  }
  if (t.unfinished > 0) {
    fmt::print(
        "  not finished             {:>4}  (still queued; run the demo again to finish them)\n",
        t.unfinished);
  }
  if (t.lock_lost > 0) fmt::print("  outcomes dropped (lock lost) {}\n", t.lock_lost);
  fmt::print("  payments in the app db   {:>4}  (+{} in this run; {})\n", payments,
             payments - payments_before, app.db_path().string());
  fmt::print("\nInspect the job database:\n");
  for (std::string_view command : {"status", "jobs", "dead"}) {
    fmt::print("  {} {} --db {}\n", program, command, db);
  }
}

int run_demo(const Globals& globals, const DemoOptions& opts) {
  Console console(stdout_is_terminal());
  std::stop_source interrupt;
  std::atomic<int> signal_number{0};
  std::atomic<bool> worker_stopped{false};
  // First: it blocks SIGINT and SIGTERM before any other thread starts.
  SignalWatcher signals([&](int signo, int count) {
    if (worker_stopped) return;  // nothing left to interrupt; the summary is on its way
    if (count == 1) {
      signal_number = signo;
      console.line(console.paint(fmt::format("{}: stopping gracefully (again to quit at once)",
                                             signo == SIGINT ? "Ctrl-C" : "SIGTERM"),
                                 Color::yellow));
      interrupt.request_stop();
      return;
    }
    console.clear_status();
    console.line(
        "interrupted twice: quitting now; jobs still locked are claimed again after "
        "the lock timeout");
    std::_Exit(128 + signo);
  });

  std::shared_ptr<Store> store = open_store(globals.db_url_or(demo_database_url));
  // Before anything else is created (the app database): a refusal changes nothing.
  if (const std::string there = contents_of(*store); !there.empty()) {
    if (!opts.force) {
      throw std::runtime_error(fmt::format(
          "demo: {} already holds {}; the demo's worker would run them too (and charge them "
          "attempts). Use a fresh database (--db sqlite:errand-demo-new.db), or --force to run "
          "anyway",
          store->describe(), there));
    }
    console.line(
        fmt::format("note (--force): {} holds {}; queued ones run too", store->describe(), there));
  }

  const std::filesystem::path app_db =
      opts.app_db.empty() ? default_app_db(*store) : std::filesystem::path(opts.app_db);
  AppState app(app_db, console);
  const std::int64_t payments_before = app.payment_count();

  Registry<AppState> registry;
  registry.add<demo::EmailJob>()
      .add<demo::ProcessPaymentJob>()
      .add<demo::FlakyJob>()
      .add<demo::DoomedJob>()
      .add<demo::LongJob>();

  console.line(fmt::format("errand demo: jobs in {}, the app's own data in {}",
                           console.paint(store->describe(), Color::bold),
                           console.paint(app_db.string(), Color::bold)));

  const std::vector<JobId> ids = enqueue_demo_jobs(*store, app, console);
  Progress progress(console, ids);

  WorkerOptions options;
  options.concurrency = opts.concurrency;
  options.poll_interval = 200ms;
  options.drain_timeout = drain_timeout;
  options.on_event = [&progress](const WorkerEvent& event) { progress.on_event(event); };
  options.log = [&console, verbose = opts.verbose](LogLevel level, std::string_view message) {
    if (level < LogLevel::warning && !verbose) return;
    const Color color = level >= LogLevel::error     ? Color::red
                        : level == LogLevel::warning ? Color::yellow
                                                     : Color::dim;
    console.line(
        console.paint(fmt::format("worker {}: {}", level_name(level), one_line(message)), color));
  };
  Worker<AppState> worker(store, registry, app, std::move(options));
  console.line(fmt::format("worker {}: {} threads, polling every 200ms; Ctrl-C stops it gracefully",
                           worker.id(), opts.concurrency));

  std::exception_ptr worker_error;
  std::jthread worker_thread([&](std::stop_token stop) {
    try {
      worker.run(stop);
    } catch (...) {
      worker_error = std::current_exception();
      progress.abort();
    }
  });

  const bool all_done = progress.wait(interrupt.get_token());
  if (all_done) {
    console.line("every job enqueued has succeeded or been dead-lettered; stopping the worker");
  } else if (interrupt.stop_requested()) {
    console.line(fmt::format(
        "stopping the worker: no new claims; running jobs see their stop token and get up to {} "
        "to finish, the rest are released",
        human_duration(drain_timeout)));
  }
  worker_thread.request_stop();
  worker_thread.join();
  worker_stopped = true;
  console.clear_status();

  const bool interrupted = !all_done && interrupt.stop_requested();
  print_summary(progress.totals(), console.elapsed_seconds(), interrupted, app, payments_before,
                globals.program, store->describe());
  if (worker_error) std::rethrow_exception(worker_error);
  return interrupted ? 128 + signal_number.load() : 0;
}

}  // namespace

void add_demo(CLI::App& app, const Globals& globals, std::vector<Command>& commands) {
  auto opts = std::make_shared<DemoOptions>();
  auto* cmd = app.add_subcommand(
      "demo",
      "Run the seed's example jobs plus flaky, failing and long ones, with live progress "
      "(job database: sqlite:errand-demo.db unless --db is given)");
  cmd->add_option("--app-db", opts->app_db,
                  fmt::format("the demo application's own SQLite database (default: {} next to "
                              "the job database)",
                              app_database_name));
  add_number(*cmd, "--concurrency", opts->concurrency, Bounds{1, 64, "", ""}, "jobs run at once");
  cmd->add_flag("--force", opts->force,
                "run even when the job database already holds jobs or workers (they run too)");
  cmd->add_flag("-v,--verbose", opts->verbose, "also show the worker's info and debug log lines");
  commands.push_back({cmd, [&globals, opts] { return run_demo(globals, *opts); }});
}

}  // namespace errand::cli
