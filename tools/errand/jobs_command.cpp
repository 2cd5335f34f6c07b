// `errand jobs`: list jobs in any state; `jobs show ID`, every field of one job; `jobs cancel`
// and `jobs retry`, the lifecycle's operations (errand/lifecycle.hpp).
#include "command_support.hpp"
#include "format.hpp"
#include "numbers.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <stdexcept>

namespace errand::cli {

namespace {

using nlohmann::json;

// --- jobs (list) ---

struct JobsOptions {
  std::string state;
  std::string name;
  bool failing = false;
  std::size_t limit = 50;
  std::int64_t lock_timeout_s = 7200;
  bool json = false;
  bool full = false;
};

// The labelled fields of a job for people, those it has.
std::vector<std::pair<std::string, std::string>> job_fields(const JobInfo& j, TimePoint now) {
  std::vector<std::pair<std::string, std::string>> fields{
      {"state", std::string(to_string(j.state))},
      {"queue", j.queue},
      {"priority", std::to_string(j.priority)},
      {"errors", std::to_string(j.error_count)}};
  if (!j.partition_key.empty())
    fields.emplace(fields.begin() + 2, "partition key", j.partition_key);
  if (j.snoozes > 0) fields.emplace_back("snoozes", std::to_string(j.snoozes));
  fields.emplace_back(is_finished(j.state) ? "last due" : "run at", when(j.run_at, now));
  fields.emplace_back("created at", when(j.created_at, now));
  if (j.finished_at)
    fields.emplace_back(std::string(to_string(j.state)), when(*j.finished_at, now));
  if (j.locked_by) fields.emplace_back("locked by", *j.locked_by);
  if (j.locked_at) fields.emplace_back("locked at", when(*j.locked_at, now));
  if (j.progress) {
    std::string text = fmt::format("{:g}", *j.progress);
    if (j.progress_message && !j.progress_message->empty()) text += "  " + *j.progress_message;
    if (j.progress_at) text += fmt::format("  ({})", relative_time(*j.progress_at, now));
    fields.emplace_back("progress", text);
  }
  if (j.cancel_requested_at) {
    fields.emplace_back("cancel asked", when(*j.cancel_requested_at, now));
  }
  if (j.cancel_reason) fields.emplace_back("cancel reason", *j.cancel_reason);
  if (j.last_failed_at) fields.emplace_back("failed at", when(*j.last_failed_at, now));
  fields.emplace_back("context", j.context);
  fields.emplace_back("payload", payload_text(j.payload));
  if (j.last_error) fields.emplace_back("last error", *j.last_error);
  if (j.output) fields.emplace_back("output", payload_text(*j.output));
  return fields;
}

int jobs(const Globals& globals, const JobsOptions& opts) {
  auto store = open_db(globals, OpenMode::read_only);
  JobFilter filter;
  if (!opts.state.empty()) filter.state = parse_job_state(opts.state);
  if (!opts.name.empty()) filter.name = opts.name;
  filter.failing_only = opts.failing;
  filter.limit = opts.limit;
  filter.lock_timeout = std::chrono::seconds{opts.lock_timeout_s};
  const std::vector<JobInfo> rows = store->list_jobs(filter);

  if (opts.json) {
    for (const JobInfo& j : rows)
      print_json_line(views::job_json(j));
    return 0;
  }
  if (rows.empty()) {
    fmt::print("no jobs{} in {}\n",
               filter.state || filter.name || filter.failing_only ? " match" : "",
               store->describe());
    return 0;
  }
  const TimePoint now = store->clock().now();
  if (opts.full) {
    for (const JobInfo& j : rows)
      fmt::print("{}\n", field_block(fmt::format("job {}  {}", j.id, j.name), job_fields(j, now)));
    print_limit_note(rows.size(), opts.limit);
    return 0;
  }
  const bool finished = filter.state && is_finished(*filter.state);
  Table table({{"ID", 12, true},
               {"NAME", 28},
               {"STATE", 9},
               {"PRI", 6, true},
               {"ERRORS", 6, true},
               {finished ? "FINISHED AT" : "RUN AT", 40},
               {"CONTEXT", 24},
               {"LAST ERROR", 200}});
  for (const JobInfo& j : rows) {
    table.add({std::to_string(j.id), j.name, std::string(to_string(j.state)),
               std::to_string(j.priority), std::to_string(j.error_count),
               when(j.finished_at.value_or(j.run_at), now), j.context, j.last_error.value_or("")});
  }
  fmt::print("{}", table.render(terminal_width()));
  print_limit_note(rows.size(), opts.limit);
  return 0;
}

// --- jobs show ---

struct ShowOptions {
  JobId id = 0;
  std::int64_t lock_timeout_s = 7200;
  bool json = false;
};

int show(const Globals& globals, const ShowOptions& opts) {
  auto store = open_db(globals, OpenMode::read_only);
  const auto job = store->find_job(opts.id, std::chrono::seconds{opts.lock_timeout_s});
  if (!job) {
    throw std::runtime_error(fmt::format(
        "no job with id {} in {} (finished jobs are kept only as long as the workers' retention "
        "says)",
        opts.id, store->describe()));
  }
  if (opts.json) {
    print_json_line(views::job_json(*job));
    return 0;
  }
  const TimePoint now = store->clock().now();
  fmt::print("{}",
             field_block(fmt::format("job {}  {}", job->id, job->name), job_fields(*job, now)));
  if (job->attempts_unreadable) {
    fmt::print("\nattempts: the stored history cannot be read ({})\n", *job->attempts_unreadable);
  } else if (!job->attempts.empty()) {
    fmt::print("\nfailed attempts (the last {} kept)\n", kMaxAttemptsKept);
    Table table({{"#", 6, true}, {"FAILED AT", 40}, {"WORKER", 32}, {"ERROR", 400}});
    for (const Attempt& a : job->attempts) {
      table.add({std::to_string(a.attempt), when(a.at, now), a.worker, one_line(a.error)});
    }
    fmt::print("{}", table.render(terminal_width()));
  }
  return 0;
}

// --- jobs cancel ---

struct CancelOptions {
  std::vector<JobId> ids;
  std::string reason;
  std::string name;
  CLI::Option* name_option = nullptr;
  bool all_ready = false;
};

int cancel(const Globals& globals, const CancelOptions& opts) {
  const bool named = opts.name_option->count() > 0;
  const int given = int{opts.all_ready} + int{named} + int{!opts.ids.empty()};
  if (given == 0) {
    throw std::invalid_argument(
        "jobs cancel: say which jobs to cancel: their IDs, --name TYPE (every job of a type "
        "still to run or running) or --all-ready (every job due now)");
  }
  if (named && opts.name.empty()) {
    throw std::invalid_argument(
        "jobs cancel: --name is empty (an unset shell variable?); give a job type");
  }
  if (given > 1) {
    throw std::invalid_argument("jobs cancel: give only one of IDs, --name TYPE and --all-ready");
  }
  auto store = open_db(globals, OpenMode::existing);
  if (given == 1 && opts.ids.empty()) {
    const CancelTally tally = store->cancel_jobs(
        named ? JobSelection::named(opts.name) : JobSelection::all_ready(), opts.reason);
    fmt::print(
        "{} waiting {} cancelled; {} running {} asked to stop (each ends cancelled unless "
        "it completes first)\n",
        tally.cancelled, tally.cancelled == 1 ? "job" : "jobs", tally.requested,
        tally.requested == 1 ? "job" : "jobs");
    return 0;
  }
  std::vector<std::string> failures;
  for (const JobId id : opts.ids) {
    const CancelResult result = store->cancel_job(id, opts.reason);
    switch (result.kind) {
      case CancelResult::Kind::cancelled:
        fmt::print("job {}: cancelled (it was waiting; it will not run)\n", id);
        break;
      case CancelResult::Kind::requested:
        fmt::print(
            "job {}: running; its worker was asked to stop it (it ends cancelled unless it "
            "completes first)\n",
            id);
        break;
      case CancelResult::Kind::already_finished:
        failures.push_back(fmt::format("job {} is already {}", id, to_string(result.state)));
        break;
      case CancelResult::Kind::not_found:
        failures.push_back(fmt::format("no job with id {}", id));
        break;
    }
  }
  if (!failures.empty()) {
    throw std::runtime_error(
        fmt::format("cannot cancel: {} (in {})", fmt::join(failures, "; "), store->describe()));
  }
  return 0;
}

// --- jobs retry ---

struct RetryOptions {
  std::vector<JobId> ids;
};

int retry(const Globals& globals, const RetryOptions& opts) {
  auto store = open_db(globals, OpenMode::existing);
  std::vector<std::string> failures;
  for (const JobId id : opts.ids) {
    switch (store->retry_job(id).kind) {
      case RetryResult::Kind::retried:
        fmt::print("job {}: back in the queue (due now, error count reset, history kept)\n", id);
        break;
      case RetryResult::Kind::not_finished:
        failures.push_back(fmt::format("job {} has not finished", id));
        break;
      case RetryResult::Kind::not_found:
        failures.push_back(fmt::format("no job with id {}", id));
        break;
    }
  }
  if (!failures.empty()) {
    throw std::runtime_error(fmt::format(
        "cannot retry: {} (only completed, cancelled and discarded jobs can be retried; in {})",
        fmt::join(failures, "; "), store->describe()));
  }
  return 0;
}

// --- jobs delete ---

struct DeleteOptions {
  std::vector<JobId> ids;
};

int remove(const Globals& globals, const DeleteOptions& opts) {
  auto store = open_db(globals, OpenMode::existing);
  std::vector<std::string> failures;
  for (const JobId id : opts.ids) {
    switch (store->delete_job(id).kind) {
      case DeleteResult::Kind::deleted:
        fmt::print("job {}: deleted\n", id);
        break;
      case DeleteResult::Kind::held:
        failures.push_back(fmt::format("a worker holds job {} (cancel it first)", id));
        break;
      case DeleteResult::Kind::not_found:
        failures.push_back(fmt::format("no job with id {}", id));
        break;
    }
  }
  if (!failures.empty()) {
    throw std::runtime_error(
        fmt::format("cannot delete: {} (in {})", fmt::join(failures, "; "), store->describe()));
  }
  return 0;
}

}  // namespace

void add_jobs(CLI::App& app, const Globals& globals, std::vector<Command>& commands) {
  auto opts = std::make_shared<JobsOptions>();
  auto* cmd = app.add_subcommand(
      "jobs",
      "List jobs (still to run, next first; or finished, with --state); show, cancel, "
      "retry, delete");
  cmd->require_subcommand(0, 1);
  std::vector<std::string> states;
  for (const auto state :
       {JobState::ready, JobState::scheduled, JobState::running, JobState::abandoned,
        JobState::completed, JobState::cancelled, JobState::discarded})
    states.emplace_back(to_string(state));
  cmd->add_option("--state", opts->state,
                  "only jobs in this state (completed, cancelled, discarded: finished jobs, most "
                  "recent first)")
      ->check(CLI::IsMember(states));
  cmd->add_option("--name", opts->name, "only jobs of this type");
  cmd->add_flag("--failing", opts->failing, "only jobs with at least one failed attempt");
  add_number(*cmd, "--limit", opts->limit, kListLimit, "at most this many jobs");
  add_lock_timeout(*cmd, opts->lock_timeout_s);
  cmd->add_flag("--json", opts->json, "print one JSON object per job, with every field");
  cmd->add_flag("--full", opts->full,
                "print every field of each job whole: its payload indented, its whole last error")
      ->excludes("--json");
  commands.push_back({cmd, [&globals, opts] { return jobs(globals, *opts); }});

  auto show_opts = std::make_shared<ShowOptions>();
  auto* show_cmd = cmd->add_subcommand(
      "show", "Every field of one job, its payload indented, its failed attempts as a table");
  add_number(*show_cmd, "id", show_opts->id, kJobId, "the job's id")->required();
  add_lock_timeout(*show_cmd, show_opts->lock_timeout_s);
  show_cmd->add_flag("--json", show_opts->json, "print one JSON object");
  commands.push_back({show_cmd, [&globals, show_opts] { return show(globals, *show_opts); }});

  auto cancel_opts = std::make_shared<CancelOptions>();
  auto* cancel_cmd = cmd->add_subcommand(
      "cancel",
      "Cancel jobs: waiting ones at once; running ones are asked to stop (IDs, --name TYPE or "
      "--all-ready)");
  add_number(*cancel_cmd, "ids", cancel_opts->ids, kJobId, "ids of the jobs to cancel");
  cancel_cmd->add_option("--reason", cancel_opts->reason, "why, recorded with each job");
  cancel_opts->name_option = cancel_cmd->add_option(
      "--name", cancel_opts->name, "every job of this type still to run or running (not empty)");
  cancel_cmd->add_flag("--all-ready", cancel_opts->all_ready, "every job that is due now");
  commands.push_back(
      {cancel_cmd, [&globals, cancel_opts] { return cancel(globals, *cancel_opts); }});

  auto retry_opts = std::make_shared<RetryOptions>();
  auto* retry_cmd = cmd->add_subcommand(
      "retry", "Run finished jobs (completed, cancelled, discarded) again under their ids");
  add_number(*retry_cmd, "ids", retry_opts->ids, kJobId, "ids of the finished jobs")->required();
  commands.push_back({retry_cmd, [&globals, retry_opts] { return retry(globals, *retry_opts); }});

  auto delete_opts = std::make_shared<DeleteOptions>();
  auto* delete_cmd = cmd->add_subcommand(
      "delete",
      "Delete jobs for good: waiting, scheduled or finished (not while a worker holds one)");
  add_number(*delete_cmd, "ids", delete_opts->ids, kJobId, "ids of the jobs to delete")->required();
  commands.push_back(
      {delete_cmd, [&globals, delete_opts] { return remove(globals, *delete_opts); }});
}

}  // namespace errand::cli
