// `errand queues`: every queue with its settings, counts and current use; `queues pause NAME`,
// `queues resume NAME` and `queues limit NAME ...` change one queue's settings
// (errand/queues.hpp, Store::update_queue).
#include "command_support.hpp"
#include "format.hpp"
#include "numbers.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <chrono>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

namespace errand::cli {

namespace {

using nlohmann::json;

std::string state_text(const QueueInfo& q) {
  return q.paused ? "paused" : "active";
}

// "global 5, per key 2, rate 10/s", or "none".
std::string limits_text(const QueueLimits& l) {
  std::vector<std::string> parts;
  if (l.global) parts.push_back(fmt::format("global {}", *l.global));
  if (l.per_key) parts.push_back(fmt::format("per key {}", *l.per_key));
  if (l.rate) parts.push_back(fmt::format("rate {}", format_rate(*l.rate)));
  return parts.empty() ? "none" : fmt::format("{}", fmt::join(parts, ", "));
}

// The table's use columns: "3/5" (holding a lease / the global limit), "1/2" (the busiest
// key's / the per-key limit), "10/s, 7 left"; "-" without that limit.
std::string global_use(const QueueInfo& q) {
  return q.limits.global ? fmt::format("{}/{}", q.running, *q.limits.global) : "-";
}
std::string per_key_use(const QueueInfo& q) {
  return q.limits.per_key ? fmt::format("{}/{}", q.busiest_key_running, *q.limits.per_key) : "-";
}
std::string rate_use(const QueueInfo& q) {
  if (!q.limits.rate) return "-";
  return fmt::format("{}, {} left", format_rate(*q.limits.rate), q.rate_tokens.value_or(0));
}
std::string oldest_ready(const QueueInfo& q) {
  return q.oldest_ready_age ? human_duration(*q.oldest_ready_age) : "-";
}

// --- queues (list) ---

struct ListOptions {
  bool json = false;
};

// A queue as --json prints it: the API's view (docs/api.md) without `count_limit`, since the CLI
// counts exactly.
nlohmann::json queue_line(const QueueInfo& q) {
  nlohmann::json line = views::queue_json(q);
  line.erase("count_limit");
  return line;
}

int list(const Globals& globals, const ListOptions& opts) {
  auto store = open_db(globals, OpenMode::read_only);
  const std::vector<QueueInfo> rows = store->list_queues();
  if (opts.json) {
    for (const QueueInfo& q : rows)
      print_json_line(queue_line(q));
    return 0;
  }
  if (rows.empty()) {
    fmt::print(
        "no queues in {} (a queue becomes known when a job is enqueued into it or a worker "
        "serves it)\n",
        store->describe());
    return 0;
  }
  Table table({{"QUEUE", 40},
               {"STATE", 6},
               {"READY", 9, true},
               {"SCHEDULED", 9, true},
               {"RUNNING", 9, true},
               {"GLOBAL", 23, true},
               {"PER KEY", 23, true},
               {"RATE", 30},
               {"OLDEST READY", 12, true},
               {"COMPLETED", 11, true},
               {"CANCELLED", 11, true},
               {"DISCARDED", 11, true}});
  for (const QueueInfo& q : rows) {
    table.add({q.name, state_text(q), std::to_string(q.ready), std::to_string(q.scheduled),
               std::to_string(q.running), global_use(q), per_key_use(q), rate_use(q),
               oldest_ready(q), std::to_string(q.completed), std::to_string(q.cancelled),
               std::to_string(q.discarded)});
  }
  fmt::print("{}", table.render(terminal_width()));
  fmt::print(
      "GLOBAL: leases held / the limit; PER KEY: the busiest partition key's leases / the limit; "
      "RATE: the limit, starts allowed now\n"
      "change one with `{0} queues pause|resume NAME` or `{0} queues limit NAME [--global N] "
      "[--per-key N] [--rate N/PERIOD] [--clear]`\n",
      globals.program);
  return 0;
}

// --- queues pause / resume / limit ---

// The queue NAME positional and --json of a change.
struct ChangeOptions {
  std::string name;
  bool json = false;
};

struct LimitOptions {
  std::int32_t global = 0;
  std::int32_t per_key = 0;
  std::string rate;
  bool clear = false;
  CLI::Option* global_option = nullptr;
  CLI::Option* per_key_option = nullptr;
  CLI::Option* rate_option = nullptr;
};

// Applies `update` to the named queue (never creating one) and prints it as it is now.
int change(const Globals& globals, const ChangeOptions& opts, const QueueUpdate& update) {
  auto store = open_db(globals, OpenMode::existing);
  const QueueInfo q = store->update_queue(opts.name, update, /*create=*/false);
  if (opts.json) {
    print_json_line(queue_line(q));
    return 0;
  }
  fmt::print("{}", field_block(fmt::format("queue {}: {}", q.name, state_text(q)),
                               {{"limits", limits_text(q.limits)},
                                {"jobs", fmt::format("{} ready, {} scheduled, {} running", q.ready,
                                                     q.scheduled, q.running)}}));
  return 0;
}

QueueUpdate limit_update(const LimitOptions& opts) {
  QueueUpdate update;
  update.clear_limits = opts.clear;
  if (opts.global_option->count() > 0) update.global = opts.global;
  if (opts.per_key_option->count() > 0) update.per_key = opts.per_key;
  if (opts.rate_option->count() > 0) update.rate = parse_rate(opts.rate);
  if (!update.clear_limits && !update.global && !update.per_key && !update.rate) {
    throw std::invalid_argument(
        "queues limit: say which limits to set: --global N (jobs of the queue running at once), "
        "--per-key N (of one partition key at once), --rate N/PERIOD (starts per period, e.g. "
        "10/s), or --clear (remove every limit, then set those given)");
  }
  check_limits(QueueLimits{update.global, update.per_key, update.rate});
  return update;
}

// Declares NAME and --json of a change on `cmd`.
void add_change_options(CLI::App& cmd, ChangeOptions& opts) {
  cmd.add_option("name", opts.name, "the queue's name (`errand queues` lists them)")
      ->required()
      ->check(errand_check("QUEUE", [](const std::string& name) { check_queue_name(name); }));
  cmd.add_flag("--json", opts.json, "print the queue as one JSON object, as `queues --json` does");
}

}  // namespace

void add_queues(CLI::App& app, const Globals& globals, std::vector<Command>& commands) {
  auto opts = std::make_shared<ListOptions>();
  auto* cmd = app.add_subcommand(
      "queues",
      "List queues: paused or not, counts, limits and their use; pause, resume, limit one");
  cmd->require_subcommand(0, 1);
  cmd->add_flag("--json", opts->json, "print one JSON object per queue");
  commands.push_back({cmd, [&globals, opts] { return list(globals, *opts); }});

  auto pause = std::make_shared<ChangeOptions>();
  auto* pause_cmd = cmd->add_subcommand(
      "pause", "Pause a queue: no worker starts its jobs (running ones finish) until resumed");
  add_change_options(*pause_cmd, *pause);
  commands.push_back({pause_cmd, [&globals, pause] {
                        return change(globals, *pause, QueueUpdate{.paused = true});
                      }});

  auto resume = std::make_shared<ChangeOptions>();
  auto* resume_cmd = cmd->add_subcommand("resume", "Resume a paused queue");
  add_change_options(*resume_cmd, *resume);
  commands.push_back({resume_cmd, [&globals, resume] {
                        return change(globals, *resume, QueueUpdate{.paused = false});
                      }});

  auto limit = std::make_shared<ChangeOptions>();
  auto limits = std::make_shared<LimitOptions>();
  auto* limit_cmd = cmd->add_subcommand(
      "limit",
      "Set a queue's limits (--global N, --per-key N, --rate N/PERIOD), or --clear them first");
  add_change_options(*limit_cmd, *limit);
  // No default shown: an option not given leaves that limit as it is.
  limits->global_option = limit_cmd
                              ->add_option("--global", limits->global,
                                           "at most this many of its jobs hold a lease at once")
                              ->check(number_in(kQueueLimit));
  limits->per_key_option = limit_cmd
                               ->add_option("--per-key", limits->per_key,
                                            "at most this many jobs of one partition key at once")
                               ->check(number_in(kQueueLimit));
  limits->rate_option =
      limit_cmd
          ->add_option("--rate", limits->rate,
                       "at most COUNT starts in any window of PERIOD: 10/s, 600/1m, 5/250ms, "
                       "100/1h (COUNT 1 to 100000, PERIOD at most 24h)")
          ->check(errand_check("N/PERIOD", [](const std::string& rate) { parse_rate(rate); }));
  limit_cmd->add_flag("--clear", limits->clear,
                      "remove every limit first (then set those given with it)");
  commands.push_back({limit_cmd, [&globals, limit, limits] {
                        return change(globals, *limit, limit_update(*limits));
                      }});
}

}  // namespace errand::cli
