// `errand cron`: the schedules declared in the store (errand/schedule.hpp), each with its last
// tick and next fire times; `cron pause|resume|trigger NAME`; and `cron next SPEC`, the next fire
// times of any cron spec (errand/cron.hpp), to check the parser and a time zone against another
// implementation.
#include "command_support.hpp"
#include "format.hpp"
#include "numbers.hpp"

#include <errand/cron.hpp>
#include <errand/schedule.hpp>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <memory>
#include <string>
#include <vector>

namespace errand::cli {

namespace {

inline constexpr Bounds kFireCount{1, 10'000, "", ""};

struct NextOptions {
  std::string spec;
  std::string zone = "UTC";
  std::string from;
  std::int64_t count = 5;
  bool json = false;
};

int next(const NextOptions& opts) {
  const CronSpec spec = CronSpec::parse(opts.spec, opts.zone);
  TimePoint at = opts.from.empty()
                     ? std::chrono::time_point_cast<Duration>(std::chrono::system_clock::now())
                     : parse_time_in_zone(opts.from, opts.zone);
  nlohmann::json fires = nlohmann::json::array();
  for (std::int64_t i = 0; i < opts.count; ++i) {
    const std::optional<TimePoint> fire = spec.next_after(at);
    if (!fire) break;
    at = *fire;
    if (opts.json) {
      fires.push_back(
          {{"at", spec.format_local(at)},
           {"utc", iso_utc(at, false)},
           {"unix", std::chrono::floor<std::chrono::seconds>(at).time_since_epoch().count()}});
    } else {
      fmt::print("{}\n", spec.format_local(at));
    }
  }
  if (opts.json) {
    print_json_line({{"spec", spec.spec()},
                     {"zone", spec.zone()},
                     {"fixed_time", spec.fixed_time()},
                     {"next", fires}});
  }
  return 0;
}

// --- cron (list) ---

std::string state_text(const ScheduleInfo& s) {
  if (s.retired()) return "retired";
  return s.paused ? "paused" : "active";
}

std::string missed_text(const MissedTicks& m) {
  std::string text =
      fmt::format("{} (on time within {})", to_string(m.policy), human_duration(m.grace));
  if (m.policy == MissedPolicy::all)
    text += fmt::format(", up to {} within {}", m.cap, human_duration(m.window));
  return text;
}

std::string schedule_text(const ScheduleInfo& s) {
  const views::NextFires next = views::next_fires(s);
  std::string last = "none yet";
  if (s.last_tick) {
    last = when(*s.last_tick, s.now);
    if (s.last_job_id) last += fmt::format(", job {}", *s.last_job_id);
  }
  std::string upcoming = next.problem.empty() ? fmt::format("{}", fmt::join(next.times, "\n"))
                                              : "the stored spec does not parse: " + next.problem;
  if (s.paused && next.problem.empty()) upcoming += "\n(paused: none fires until resumed)";
  std::vector<std::pair<std::string, std::string>> fields{
      {"spec", fmt::format("{}  (time zone {})", s.spec, s.zone)},
      {"job", fmt::format("{} on queue {}, priority {}", s.job_name, s.queue, s.priority)},
      {"payload", payload_text(s.payload)},
      {"missed ticks", missed_text(s.missed)},
      {"overlap", std::string(to_string(s.overlap))},
      {"last tick", last},
      {fmt::format("next {}", views::kNextFiresShown), upcoming},
      {"ticks", fmt::format("{} fired, {} skipped", s.fired, s.skipped)},
      {"declared", when(s.seen_at, s.now)}};
  if (s.retired()) {
    fields.emplace_back("retired",
                        fmt::format("no worker has declared it for over {}: it is no longer in "
                                    "any running worker's code, and nothing fires it",
                                    human_duration(kScheduleRetiredAfter)));
  }
  return field_block(fmt::format("schedule {}: {}", s.name, state_text(s)), fields);
}

struct ListOptions {
  bool json = false;
};

int list(const Globals& globals, const ListOptions& opts) {
  auto store = open_db(globals, OpenMode::read_only);
  const std::vector<ScheduleInfo> rows = store->list_schedules();
  if (opts.json) {
    for (const ScheduleInfo& s : rows)
      print_json_line(views::schedule_json(s));
    return 0;
  }
  if (rows.empty()) {
    fmt::print(
        "no schedules in {} (a schedule is declared by the first worker that runs with it in "
        "WorkerOptions::schedules)\n",
        store->describe());
    return 0;
  }
  for (const ScheduleInfo& s : rows)
    fmt::print("{}\n", schedule_text(s));
  fmt::print("change one with `{} cron pause|resume|trigger NAME`\n", globals.program);
  return 0;
}

// --- cron pause / resume / trigger ---

struct NameOptions {
  std::string name;
  bool json = false;
};

ConfigError unknown_schedule(Store& store, std::string_view name) {
  std::vector<std::string> known;
  for (const ScheduleInfo& s : store.list_schedules())
    known.push_back(s.name);
  return ConfigError(fmt::format("no schedule named '{}' in {}; {}", name, store.describe(),
                                 known.empty() ? std::string("there are none")
                                               : fmt::format("known: {}", fmt::join(known, ", "))));
}

int pause(const Globals& globals, const NameOptions& opts, bool paused) {
  auto store = open_db(globals, OpenMode::existing);
  const std::optional<ScheduleInfo> s = store->pause_schedule(opts.name, paused);
  if (!s) throw unknown_schedule(*store, opts.name);
  if (opts.json) {
    print_json_line(views::schedule_json(*s));
  } else {
    fmt::print("{}", schedule_text(*s));
  }
  return 0;
}

int trigger(const Globals& globals, const NameOptions& opts) {
  auto store = open_db(globals, OpenMode::existing);
  const std::optional<Enqueued> job = store->trigger_schedule(opts.name);
  if (!job) throw unknown_schedule(*store, opts.name);
  if (opts.json) {
    print_json_line({{"schedule", opts.name}, {"id", job->id}});
  } else {
    fmt::print("schedule {}: enqueued job {} now (no tick recorded)\n", opts.name, job->id);
  }
  return 0;
}

struct RemoveOptions {
  NameOptions name;
  bool force = false;
};

int remove(const Globals& globals, const RemoveOptions& opts) {
  auto store = open_db(globals, OpenMode::existing);
  const Duration unseen_for = opts.force ? Duration{0} : kScheduleRetiredAfter;
  const ScheduleRemoval removal = store->remove_schedule(opts.name.name, unseen_for);
  if (removal == ScheduleRemoval::unknown) throw unknown_schedule(*store, opts.name.name);
  if (removal == ScheduleRemoval::declared_recently) {
    throw ConfigError(fmt::format(
        "schedule '{}' was declared by a worker within the last {}: it is still in running "
        "code, and that worker would declare it again. Remove it from WorkerOptions::schedules "
        "and deploy; once `errand cron` shows it retired, remove it (or give --force)",
        opts.name.name, human_duration(kScheduleRetiredAfter)));
  }
  if (opts.name.json) {
    print_json_line({{"schedule", opts.name.name}, {"removed", true}});
  } else {
    fmt::print("schedule {}: removed, with its tick records\n", opts.name.name);
  }
  return 0;
}

void add_name_options(CLI::App& cmd, NameOptions& opts) {
  cmd.add_option("name", opts.name, "the schedule's name (`errand cron` lists them)")
      ->required()
      ->check(errand_check("SCHEDULE", [](const std::string& name) { check_schedule_name(name); }));
  cmd.add_flag("--json", opts.json, "print one JSON object");
}

}  // namespace

void add_cron(CLI::App& app, const Globals& globals, std::vector<Command>& commands) {
  auto list_opts = std::make_shared<ListOptions>();
  auto* cmd = app.add_subcommand(
      "cron",
      "List recurring jobs with their last and next fire times; pause, resume, trigger one; "
      "check a cron spec");
  cmd->require_subcommand(0, 1);
  cmd->add_flag("--json", list_opts->json, "print one JSON object per schedule");
  commands.push_back({cmd, [&globals, list_opts] { return list(globals, *list_opts); }});

  auto pause_opts = std::make_shared<NameOptions>();
  auto* pause_cmd = cmd->add_subcommand(
      "pause",
      "Pause a schedule: no tick fires until resumed (then its missed-run policy says "
      "what the ticks missed meanwhile do)");
  add_name_options(*pause_cmd, *pause_opts);
  commands.push_back(
      {pause_cmd, [&globals, pause_opts] { return pause(globals, *pause_opts, true); }});
  auto resume_opts = std::make_shared<NameOptions>();
  auto* resume_cmd = cmd->add_subcommand("resume", "Resume a paused schedule");
  add_name_options(*resume_cmd, *resume_opts);
  commands.push_back(
      {resume_cmd, [&globals, resume_opts] { return pause(globals, *resume_opts, false); }});
  auto trigger_opts = std::make_shared<NameOptions>();
  auto* trigger_cmd = cmd->add_subcommand(
      "trigger", "Enqueue a schedule's job now, from its stored definition (paused or not)");
  add_name_options(*trigger_cmd, *trigger_opts);
  commands.push_back(
      {trigger_cmd, [&globals, trigger_opts] { return trigger(globals, *trigger_opts); }});
  auto remove_opts = std::make_shared<RemoveOptions>();
  auto* remove_cmd = cmd->add_subcommand(
      "remove",
      "Delete a retired schedule (no worker declared it for an hour) and its tick records");
  add_name_options(*remove_cmd, remove_opts->name);
  remove_cmd->add_flag("--force", remove_opts->force,
                       "remove it even if a worker declared it lately (that worker declares it "
                       "again, afresh, at its next firing)");
  commands.push_back(
      {remove_cmd, [&globals, remove_opts] { return remove(globals, *remove_opts); }});

  auto opts = std::make_shared<NextOptions>();
  auto* next_cmd = cmd->add_subcommand(
      "next",
      "Print a cron spec's next fire times as ISO 8601 with the zone's offset (5 or 6 fields, "
      "@daily ..., @every 30s)");
  next_cmd->add_option("SPEC", opts->spec, "the spec, quoted: '0 9 * * MON-FRI'")->required();
  next_cmd->add_option("--tz", opts->zone, "IANA time zone of the spec's wall-clock times")
      ->capture_default_str();
  next_cmd->add_option("--from", opts->from,
                       "start after this time: 2026-03-08T01:30:00Z, ...+05:45, or a wall-clock "
                       "2026-03-08T01:30 in --tz (default: now)");
  add_number(*next_cmd, "--count", opts->count, kFireCount, "how many fire times");
  next_cmd->add_flag("--json", opts->json, "print one JSON object");
  commands.push_back({next_cmd, [opts] { return next(*opts); }});
}

}  // namespace errand::cli
