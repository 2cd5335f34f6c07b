#include "commands.hpp"

#include "command_support.hpp"

#include "format.hpp"
#include "numbers.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <errand/errand.hpp>

#include <algorithm>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <stdexcept>

namespace errand::cli {

std::string Globals::db_url_or(std::string_view fallback) const {
  return db_option != nullptr && db_option->count() > 0 ? db_url : std::string(fallback);
}

namespace {

// --- migrate ---

int migrate(const Globals& globals) {
  auto store = open_db(globals, OpenMode::create);
  fmt::print("{}: schema version {} (up to date)\n", store->describe(), store->schema_version());
  return 0;
}

// --- status ---

struct StatusOptions {
  std::int64_t lock_timeout_s = 7200;
  bool json = false;
};

int status(const Globals& globals, const StatusOptions& opts) {
  auto store = open_db(globals, OpenMode::read_only);
  const JobCounts c = store->counts(std::chrono::seconds{opts.lock_timeout_s});
  if (opts.json) {
    nlohmann::json line = views::counts_json(c);
    line["db"] = store->describe();
    print_json_line(std::move(line));
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
  fmt::print("  discarded  {:>8}  dead: in the dead-letter queue (errand dead)\n", c.dead);
  fmt::print("  completed  {:>8}  finished, kept while the workers' retention says\n", c.completed);
  fmt::print("  cancelled  {:>8}  finished, kept while the workers' retention says\n", c.cancelled);
  return 0;
}

// --- workers ---

struct WorkersOptions {
  std::int64_t rescue_after_s = 30;
  bool json = false;
};

int workers(const Globals& globals, const WorkersOptions& opts) {
  auto store = open_db(globals, OpenMode::read_only);
  const std::vector<WorkerInfo> rows = store->list_workers();
  const Duration rescue_after = std::chrono::seconds{opts.rescue_after_s};
  const auto state_of = [&](const WorkerInfo& w) {
    return w.silent_for > rescue_after ? "lost" : "alive";
  };
  if (opts.json) {
    for (const WorkerInfo& w : rows) {
      print_json_line(views::worker_json(w, rescue_after));
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
               {"QUEUES", 24},
               {"STATE", 6},
               {"RUNNING", 9, true},
               {"STARTED", 40},
               {"LAST HEARTBEAT", 40}});
  for (const WorkerInfo& w : rows) {
    // The store's own "now" (silent_for) is authoritative; this host's clock may differ.
    const TimePoint beat = now - w.silent_for;
    table.add({w.id, w.host, std::to_string(w.pid),
               w.queues.empty() ? std::string("(every queue)")
                                : fmt::format("{}", fmt::join(w.queues, ",")),
               state_of(w), fmt::format("{}/{}", w.running, w.concurrency), when(w.started_at, now),
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
  bool full = false;
};

// Options of `dead retry` and `dead purge`: which dead jobs (exactly one of --all, --name TYPE,
// IDs) and --dry-run.
struct DeadActionOptions {
  std::vector<JobId> ids;
  bool all = false;
  std::string name;
  CLI::Option* name_option = nullptr;
  bool dry_run = false;
};

std::string jobs_word(std::int64_t n) {
  return n == 1 ? "job" : "jobs";
}

// The selection the options make. Throws std::invalid_argument naming the options when they
// make none, or several, or give an empty --name: nothing is opened then.
DeadSelection selection_of(const DeadActionOptions& opts, std::string_view verb) {
  const bool named = opts.name_option->count() > 0;
  const int given = int{opts.all} + int{named} + int{!opts.ids.empty()};
  if (given == 0) {
    throw std::invalid_argument(fmt::format(
        "dead {0}: say which dead jobs to {0}: --all (every dead job), --name TYPE (the dead "
        "jobs of one type) or their IDs; --dry-run shows how many that would be",
        verb));
  }
  if (named && opts.name.empty()) {
    throw std::invalid_argument(fmt::format(
        "dead {0}: --name is empty (an unset shell variable?); give a job type (`errand dead` "
        "lists them), or --all to {0} every dead job",
        verb));
  }
  if (given > 1) {
    throw std::invalid_argument(
        fmt::format("dead {}: give only one of --all, --name TYPE and IDs", verb));
  }
  if (opts.all) return DeadSelection::all();
  if (named) return DeadSelection::named(opts.name);
  return DeadSelection::with_ids(opts.ids);
}

// "2 Fail, 1 Text; ids 3, 5, 9": the types and first ids of a tally, briefly.
std::string tally_text(const DeadTally& tally) {
  constexpr std::size_t kTypes = 5;
  std::vector<std::string> types;
  for (std::size_t i = 0; i < tally.by_name.size() && i < kTypes; ++i) {
    types.push_back(
        fmt::format("{} {}", tally.by_name[i].second, one_line(tally.by_name[i].first)));
  }
  if (tally.by_name.size() > kTypes) {
    types.push_back(fmt::format("{} more types", tally.by_name.size() - kTypes));
  }
  std::string text = fmt::format("{}", fmt::join(types, ", "));
  if (!tally.ids.empty()) {
    text += fmt::format("; ids {}", fmt::join(tally.ids, ", "));
    if (static_cast<std::int64_t>(tally.ids.size()) < tally.total) text += ", ...";
  }
  return text;
}

// The ids of `selection` (an ids selection) that `tally` did not find.
std::vector<JobId> missing_ids(const DeadSelection& selection, const DeadTally& tally) {
  std::vector<JobId> missing;
  for (JobId id : selection.ids) {
    if (std::find(tally.ids.begin(), tally.ids.end(), id) == tally.ids.end() &&
        std::find(missing.begin(), missing.end(), id) == missing.end()) {
      missing.push_back(id);
    }
  }
  return missing;
}

// `dead retry` and `dead purge`: `act` applies the selection and returns how many it touched;
// `done` says what became of them ("back in the queue", ...).
template <class Act>
int dead_action(const Globals& globals, const DeadActionOptions& opts, std::string_view verb,
                std::string_view done, Act act) {
  const DeadSelection selection = selection_of(opts, verb);
  auto store = open_db(globals, opts.dry_run ? OpenMode::read_only : OpenMode::existing);
  // By id: the tally says which ids are not dead (each listed, as there are few).
  const bool by_id = selection.kind == DeadSelection::Kind::ids;
  const DeadTally tally = opts.dry_run || by_id
                              ? store->tally_dead_jobs(selection, by_id ? selection.ids.size() : 10)
                              : DeadTally{};
  const std::vector<JobId> missing = by_id ? missing_ids(selection, tally) : std::vector<JobId>{};
  if (opts.dry_run) {
    fmt::print("would {} {} dead {}{}{} (dry run: nothing changed)\n", verb, tally.total,
               jobs_word(tally.total), tally.total > 0 ? ": " : "", tally_text(tally));
  } else {
    const auto n = static_cast<std::int64_t>(act(*store, selection));
    fmt::print("{} dead {} {}\n", n, jobs_word(n), done);
  }
  if (!missing.empty()) {
    throw std::runtime_error(
        fmt::format("no dead job with id {} in {}", fmt::join(missing, ", "), store->describe()));
  }
  return 0;
}

int dead_list(const Globals& globals, const DeadOptions& opts) {
  auto store = open_db(globals, OpenMode::read_only);
  DeadFilter filter;
  if (!opts.name.empty()) filter.name = opts.name;
  filter.limit = opts.limit;
  const std::vector<DeadJob> rows = store->list_dead(filter);

  if (opts.json) {
    for (const DeadJob& d : rows) {
      print_json_line(views::dead_json(d));
    }
    return 0;
  }
  if (rows.empty()) {
    fmt::print("no dead jobs{} in {}\n", filter.name ? " named " + *filter.name : "",
               store->describe());
    return 0;
  }
  const TimePoint now = store->clock().now();
  if (opts.full) {
    for (const DeadJob& d : rows) {
      fmt::print("{}\n", field_block(fmt::format("dead job {}  {}", d.id, d.name),
                                     {{"queue", d.queue},
                                      {"priority", std::to_string(d.priority)},
                                      {"errors", std::to_string(d.error_count)},
                                      {"created at", when(d.created_at, now)},
                                      {"failed at", when(d.failed_at, now)},
                                      {"context", d.context},
                                      {"payload", payload_text(d.payload)},
                                      {"last error", d.last_error}}));
    }
    print_limit_note(rows.size(), opts.limit);
    return 0;
  }
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
  fmt::print(
      "whole errors and payloads: `{0} dead --full`; retry with `{0} dead retry ID` or `{0} dead "
      "retry --all`\n",
      globals.program);
  return 0;
}

int dead_retry(const Globals& globals, const DeadActionOptions& opts) {
  return dead_action(
      globals, opts, "retry", "back in the queue (error count reset, due now)",
      [](Store& store, const DeadSelection& which) { return store.retry_dead_jobs(which); });
}

int dead_purge(const Globals& globals, const DeadActionOptions& opts) {
  return dead_action(
      globals, opts, "purge", "purged (deleted for good)",
      [](Store& store, const DeadSelection& which) { return store.purge_dead_jobs(which); });
}

// Declares the options of `dead retry` / `dead purge` on `cmd`.
void add_dead_action_options(CLI::App& cmd, DeadActionOptions& opts, std::string_view verb) {
  add_number(cmd, "ids", opts.ids, kJobId, fmt::format("ids of the dead jobs to {}", verb));
  cmd.add_flag("--all", opts.all, fmt::format("{} every dead job", verb));
  opts.name_option = cmd.add_option("--name", opts.name,
                                    fmt::format("{} the dead jobs of this type (not empty)", verb));
  cmd.add_flag("--dry-run", opts.dry_run,
               fmt::format("print how many dead jobs (which types and ids) would be {}d, and "
                           "change nothing",
                           verb == "retry" ? "retrie" : verb));
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
  add_number(*cmd, "--rescue-after", opts->rescue_after_s, kSeconds,
             "seconds without a heartbeat after which a worker counts as lost (as the workers' "
             "rescue_after)");
  cmd->add_flag("--json", opts->json, "print one JSON object per worker");
  commands.push_back({cmd, [&globals, opts] { return workers(globals, *opts); }});
}

void add_dead(CLI::App& app, const Globals& globals, std::vector<Command>& commands) {
  auto list = std::make_shared<DeadOptions>();
  auto* cmd = app.add_subcommand("dead", "List, retry or purge dead-lettered jobs");
  cmd->require_subcommand(0, 1);
  cmd->add_option("--name", list->name, "only dead jobs of this type");
  add_number(*cmd, "--limit", list->limit, kListLimit, "at most this many jobs");
  cmd->add_flag("--json", list->json, "print one JSON object per job, with its payload");
  cmd->add_flag("--full", list->full,
                "print every field of each job whole: its payload indented, its whole last error")
      ->excludes("--json");
  commands.push_back({cmd, [&globals, list] { return dead_list(globals, *list); }});

  auto retry = std::make_shared<DeadActionOptions>();
  auto* retry_cmd = cmd->add_subcommand(
      "retry",
      "Move dead jobs back to the queue, due now with their error count reset: --all, --name "
      "TYPE or IDs");
  add_dead_action_options(*retry_cmd, *retry, "retry");
  commands.push_back({retry_cmd, [&globals, retry] { return dead_retry(globals, *retry); }});

  auto purge = std::make_shared<DeadActionOptions>();
  auto* purge_cmd =
      cmd->add_subcommand("purge", "Delete dead jobs for good: --all, --name TYPE or IDs");
  add_dead_action_options(*purge_cmd, *purge, "purge");
  commands.push_back({purge_cmd, [&globals, purge] { return dead_purge(globals, *purge); }});
}

}  // namespace errand::cli
