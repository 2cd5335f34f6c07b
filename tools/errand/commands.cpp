#include "commands.hpp"

#include "format.hpp"

#include <fmt/format.h>
#include <errand/errand.hpp>

#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <stdexcept>

namespace errand::cli {

std::string Globals::db_url_or(std::string_view fallback) const {
  return db_option != nullptr && db_option->count() > 0 ? db_url : std::string(fallback);
}

namespace {

using nlohmann::json;

void print_json_line(const json& value) {
  fmt::print("{}\n", value.dump(-1, ' ', false, json::error_handler_t::replace));
}

json optional_json(const std::optional<std::string>& value) {
  return value ? json(*value) : json(nullptr);
}

json optional_json(const std::optional<TimePoint>& value) {
  return value ? json(iso_utc(*value, true)) : json(nullptr);
}

// The payload as JSON when it parses, else as the stored string.
json payload_json(const std::string& payload) {
  json parsed = json::parse(payload, nullptr, /*allow_exceptions=*/false);
  return parsed.is_discarded() ? json(payload) : parsed;
}

std::string when(TimePoint t, TimePoint now) {
  return fmt::format("{} ({})", iso_utc(t), relative_time(t, now));
}

void print_limit_note(std::size_t shown, std::size_t limit) {
  if (shown == limit) fmt::print("(first {} shown; use --limit for more)\n", limit);
}

CLI::Option* add_lock_timeout(CLI::App& cmd, std::int64_t& seconds) {
  return cmd
      .add_option("--lock-timeout", seconds,
                  "seconds after which a locked job counts as abandoned rather than running")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
}

// --- migrate ---

int migrate(const Globals& globals) {
  auto store = open_store(globals.db_url_or(default_database_url));
  fmt::print("{}: schema version {} (up to date)\n", store->describe(), store->schema_version());
  return 0;
}

// --- status ---

struct StatusOptions {
  std::int64_t lock_timeout_s = 7200;
  bool json = false;
};

int status(const Globals& globals, const StatusOptions& opts) {
  auto store = open_store(globals.db_url_or(default_database_url));
  const JobCounts c = store->counts(std::chrono::seconds{opts.lock_timeout_s});
  if (opts.json) {
    print_json_line({{"db", store->describe()},
                     {"ready", c.ready},
                     {"scheduled", c.scheduled},
                     {"running", c.running},
                     {"abandoned", c.abandoned},
                     {"failing", c.failing},
                     {"dead", c.dead}});
    return 0;
  }
  const std::string lock_timeout = human_duration(std::chrono::seconds{opts.lock_timeout_s});
  fmt::print("{}\n", store->describe());
  fmt::print("  ready      {:>8}  due now\n", c.ready);
  fmt::print("  scheduled  {:>8}  due later (including retries waiting out their backoff)\n",
             c.scheduled);
  fmt::print("  running    {:>8}  locked for less than {}\n", c.running, lock_timeout);
  fmt::print("  abandoned  {:>8}  locked for more than {}; will be claimed again\n", c.abandoned,
             lock_timeout);
  fmt::print("  failing    {:>8}  with at least one failed attempt (counted above too)\n",
             c.failing);
  fmt::print("  dead       {:>8}  in the dead-letter queue (errand dead)\n", c.dead);
  return 0;
}

// --- jobs ---

struct JobsOptions {
  std::string state;
  std::string name;
  bool failing = false;
  std::size_t limit = 50;
  std::int64_t lock_timeout_s = 7200;
  bool json = false;
};

int jobs(const Globals& globals, const JobsOptions& opts) {
  auto store = open_store(globals.db_url_or(default_database_url));
  JobFilter filter;
  if (!opts.state.empty()) filter.state = parse_job_state(opts.state);
  if (!opts.name.empty()) filter.name = opts.name;
  filter.failing_only = opts.failing;
  filter.limit = opts.limit;
  filter.lock_timeout = std::chrono::seconds{opts.lock_timeout_s};
  const std::vector<JobInfo> rows = store->list_jobs(filter);

  if (opts.json) {
    for (const JobInfo& j : rows) {
      print_json_line({{"id", j.id},
                       {"name", j.name},
                       {"state", to_string(j.state)},
                       {"priority", j.priority},
                       {"error_count", j.error_count},
                       {"run_at", iso_utc(j.run_at, true)},
                       {"created_at", iso_utc(j.created_at, true)},
                       {"context", j.context},
                       {"locked_by", optional_json(j.locked_by)},
                       {"locked_at", optional_json(j.locked_at)},
                       {"last_error", optional_json(j.last_error)},
                       {"last_failed_at", optional_json(j.last_failed_at)},
                       {"payload", payload_json(j.payload)}});
    }
    return 0;
  }
  if (rows.empty()) {
    fmt::print("no jobs{} in {}\n",
               filter.state || filter.name || filter.failing_only ? " match" : "",
               store->describe());
    return 0;
  }
  const TimePoint now = store->clock().now();
  Table table({{"ID", 12, true},
               {"NAME", 28},
               {"STATE", 9},
               {"PRI", 6, true},
               {"ERRORS", 6, true},
               {"RUN AT", 40},
               {"CONTEXT", 24},
               {"LAST ERROR", 200}});
  for (const JobInfo& j : rows) {
    table.add({std::to_string(j.id), j.name, std::string(to_string(j.state)),
               std::to_string(j.priority), std::to_string(j.error_count), when(j.run_at, now),
               j.context, j.last_error.value_or("")});
  }
  fmt::print("{}", table.render(terminal_width()));
  print_limit_note(rows.size(), opts.limit);
  return 0;
}

// --- workers ---

struct WorkersOptions {
  std::int64_t rescue_after_s = 30;
  bool json = false;
};

int workers(const Globals& globals, const WorkersOptions& opts) {
  auto store = open_store(globals.db_url_or(default_database_url));
  const std::vector<WorkerInfo> rows = store->list_workers();
  const Duration rescue_after = std::chrono::seconds{opts.rescue_after_s};
  const auto state_of = [&](const WorkerInfo& w) {
    return w.silent_for > rescue_after ? "lost" : "alive";
  };
  if (opts.json) {
    for (const WorkerInfo& w : rows) {
      print_json_line({{"id", w.id},
                       {"host", w.host},
                       {"pid", w.pid},
                       {"state", state_of(w)},
                       {"running", w.running},
                       {"concurrency", w.concurrency},
                       {"started_at", iso_utc(w.started_at, true)},
                       {"heartbeat_at", iso_utc(w.heartbeat_at, true)},
                       {"silent_for_s", std::chrono::duration<double>(w.silent_for).count()}});
    }
    return 0;
  }
  if (rows.empty()) {
    fmt::print("no workers registered in {}\n", store->describe());
    return 0;
  }
  const TimePoint now = store->clock().now();
  Table table({{"ID", 40},
               {"HOST", 24},
               {"PID", 8, true},
               {"STATE", 6},
               {"RUNNING", 9, true},
               {"STARTED", 40},
               {"LAST HEARTBEAT", 40}});
  for (const WorkerInfo& w : rows) {
    // The store's own "now" (silent_for) is authoritative; this host's clock may differ.
    const TimePoint beat = now - w.silent_for;
    table.add({w.id, w.host, std::to_string(w.pid), state_of(w),
               fmt::format("{}/{}", w.running, w.concurrency), when(w.started_at, now),
               fmt::format("{} ({})", iso_utc(w.heartbeat_at), relative_time(beat, now))});
  }
  fmt::print("{}", table.render(terminal_width()));
  return 0;
}

// --- dead ---

struct DeadOptions {
  std::string name;
  std::size_t limit = 50;
  bool json = false;
};

struct RetryOptions {
  JobId id = 0;
  CLI::Option* id_option = nullptr;
  bool all = false;
  std::string name;
};

std::optional<std::string_view> name_filter(const std::string& name) {
  if (name.empty()) return std::nullopt;
  return name;
}

std::string jobs_word(std::size_t n) {
  return n == 1 ? "job" : "jobs";
}

int dead_list(const Globals& globals, const DeadOptions& opts) {
  auto store = open_store(globals.db_url_or(default_database_url));
  DeadFilter filter;
  if (!opts.name.empty()) filter.name = opts.name;
  filter.limit = opts.limit;
  const std::vector<DeadJob> rows = store->list_dead(filter);

  if (opts.json) {
    for (const DeadJob& d : rows) {
      print_json_line({{"id", d.id},
                       {"name", d.name},
                       {"priority", d.priority},
                       {"error_count", d.error_count},
                       {"created_at", iso_utc(d.created_at, true)},
                       {"failed_at", iso_utc(d.failed_at, true)},
                       {"context", d.context},
                       {"last_error", d.last_error},
                       {"payload", payload_json(d.payload)}});
    }
    return 0;
  }
  if (rows.empty()) {
    fmt::print("no dead jobs{} in {}\n", filter.name ? " named " + *filter.name : "",
               store->describe());
    return 0;
  }
  const TimePoint now = store->clock().now();
  Table table({{"ID", 12, true},
               {"NAME", 28},
               {"PRI", 6, true},
               {"ERRORS", 6, true},
               {"FAILED AT", 40},
               {"CONTEXT", 24},
               {"LAST ERROR", 200}});
  for (const DeadJob& d : rows) {
    table.add({std::to_string(d.id), d.name, std::to_string(d.priority),
               std::to_string(d.error_count), when(d.failed_at, now), d.context, d.last_error});
  }
  fmt::print("{}", table.render(terminal_width()));
  print_limit_note(rows.size(), opts.limit);
  fmt::print("retry with `{0} dead retry ID` or `{0} dead retry --all`\n", globals.program);
  return 0;
}

int dead_retry(const Globals& globals, const RetryOptions& opts) {
  if (opts.id_option->count() == 0 && !opts.all) {
    throw std::invalid_argument("dead retry: give a dead job's ID, or --all");
  }
  auto store = open_store(globals.db_url_or(default_database_url));
  if (opts.all) {
    const std::size_t n = store->retry_all_dead(name_filter(opts.name));
    fmt::print("{} dead {} back in the queue\n", n, jobs_word(n));
    return 0;
  }
  if (!store->retry_dead(opts.id)) {
    throw std::runtime_error(
        fmt::format("no dead job with id {} in {}", opts.id, store->describe()));
  }
  fmt::print("dead job {} is back in the queue (error count reset, due now)\n", opts.id);
  return 0;
}

int dead_purge(const Globals& globals, const std::string& name) {
  auto store = open_store(globals.db_url_or(default_database_url));
  const std::size_t n = store->purge_dead(name_filter(name));
  fmt::print("purged {} dead {}\n", n, jobs_word(n));
  return 0;
}

}  // namespace

void add_migrate(CLI::App& app, const Globals& globals, std::vector<Command>& commands) {
  auto* cmd = app.add_subcommand(
      "migrate", "Create or upgrade the job database's schema and print its version");
  commands.push_back({cmd, [&globals] { return migrate(globals); }});
}

void add_status(CLI::App& app, const Globals& globals, std::vector<Command>& commands) {
  auto opts = std::make_shared<StatusOptions>();
  auto* cmd = app.add_subcommand("status", "Count jobs by state");
  add_lock_timeout(*cmd, opts->lock_timeout_s);
  cmd->add_flag("--json", opts->json, "print one JSON object");
  commands.push_back({cmd, [&globals, opts] { return status(globals, *opts); }});
}

void add_workers(CLI::App& app, const Globals& globals, std::vector<Command>& commands) {
  auto opts = std::make_shared<WorkersOptions>();
  auto* cmd = app.add_subcommand(
      "workers", "List worker processes: host, pid, start, last heartbeat, running jobs");
  cmd->add_option("--rescue-after", opts->rescue_after_s,
                  "seconds without a heartbeat after which a worker counts as lost (as the "
                  "workers' rescue_after)")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  cmd->add_flag("--json", opts->json, "print one JSON object per worker");
  commands.push_back({cmd, [&globals, opts] { return workers(globals, *opts); }});
}

void add_jobs(CLI::App& app, const Globals& globals, std::vector<Command>& commands) {
  auto opts = std::make_shared<JobsOptions>();
  auto* cmd = app.add_subcommand("jobs", "List queued jobs, next to run first");
  cmd->add_option("--state", opts->state, "only jobs in this state")
      ->check(
          CLI::IsMember(std::vector<std::string>{"ready", "scheduled", "running", "abandoned"}));
  cmd->add_option("--name", opts->name, "only jobs of this type");
  cmd->add_flag("--failing", opts->failing, "only jobs with at least one failed attempt");
  cmd->add_option("--limit", opts->limit, "at most this many jobs")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  add_lock_timeout(*cmd, opts->lock_timeout_s);
  cmd->add_flag("--json", opts->json, "print one JSON object per job, with its payload");
  commands.push_back({cmd, [&globals, opts] { return jobs(globals, *opts); }});
}

void add_dead(CLI::App& app, const Globals& globals, std::vector<Command>& commands) {
  auto list = std::make_shared<DeadOptions>();
  auto* cmd = app.add_subcommand("dead", "List, retry or purge dead-lettered jobs");
  cmd->require_subcommand(0, 1);
  cmd->add_option("--name", list->name, "only dead jobs of this type");
  cmd->add_option("--limit", list->limit, "at most this many jobs")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  cmd->add_flag("--json", list->json, "print one JSON object per job, with its payload");
  commands.push_back({cmd, [&globals, list] { return dead_list(globals, *list); }});

  auto retry = std::make_shared<RetryOptions>();
  auto* retry_cmd = cmd->add_subcommand(
      "retry", "Move dead jobs back to the queue, due now with their error count reset");
  retry->id_option = retry_cmd->add_option("id", retry->id, "the dead job's id");
  auto* all = retry_cmd->add_flag("--all", retry->all, "every dead job (see --name)");
  all->excludes(retry->id_option);
  retry_cmd->add_option("--name", retry->name, "with --all: only dead jobs of this type")
      ->needs(all);
  commands.push_back({retry_cmd, [&globals, retry] { return dead_retry(globals, *retry); }});

  auto purge_name = std::make_shared<std::string>();
  auto* purge_cmd = cmd->add_subcommand("purge", "Delete dead jobs for good");
  purge_cmd->add_option("--name", *purge_name, "only dead jobs of this type");
  commands.push_back(
      {purge_cmd, [&globals, purge_name] { return dead_purge(globals, *purge_name); }});
}

}  // namespace errand::cli
