// The rows of the CLI test table (see cli_table.hpp for what a row says and how it runs).
// To add a row: one line in cli_rows() below (or a call of a helper that makes several), e.g.
//   r.push_back({"status_on_a_missing_file", {"status", "--db={db}"}, kFailed,
//                {"no errand database"}, {}, Db::unchanged, Setup::missing});
// Names must be unique. Keep rows of one issue-10 class together under its comment.
#include "cli/cli_table.hpp"

#include <cstdint>
#include <string>

namespace errand_test {

namespace {

using Args = std::vector<std::string>;

// Rows for one integer option `option` of `command` (which holds "--db={db}"): values around
// and beyond its bounds [min, max], and text that is not a plain decimal number. Each must be
// refused with a plain message and change nothing. `full`: every kind of bad text, else two.
void number_rows(std::vector<CliRow>& r, const std::string& prefix, const Args& command,
                 const std::string& option, std::int64_t min, std::int64_t max, bool full = false) {
  // --option=VALUE (so CLI11 never reads "-1" as an option), or a positional VALUE.
  const auto args = [&](const std::string& value) {
    Args all = command;
    // (--option= with nothing after it is CLI11's "1 required INT missing": give "" apart.)
    if (option.starts_with("--") && value.empty()) all.push_back(option);
    all.push_back(option.starts_with("--") && !value.empty() ? option + "=" + value : value);
    return all;
  };
  const std::string label = option;  // CLI11 names a positional by its name
  const auto refused = [&](const std::string& name, const std::string& value,
                           std::vector<std::string> says) {
    says.insert(says.begin(), label + ": ");
    r.push_back({prefix + "_" + name, args(value), kBadValue, says});
  };
  const std::string too_large = "is too large (at most " + std::to_string(max);
  if (max < INT64_MAX) {
    refused("just_above_max", std::to_string(max + 1), {too_large});
    refused("int64_max", "9223372036854775807", {too_large});
  }
  refused("beyond_64_bits", "99999999999999999999", {"is too large"});
  refused("beyond_64_bits_negative", "-99999999999999999999", {"is too small"});
  refused("negative", "-1", {"-1 is too small (at least " + std::to_string(min)});
  if (min > 0) refused("zero", "0", {"0 is too small (at least " + std::to_string(min)});
  refused("exponent", "1e3", {"'1e3' is not a whole number"});
  refused("empty", "", {"a number is required"});
  if (!full) return;
  refused("leading_space", " 5", {"' 5' is not a whole number"});
  refused("plus_sign", "+5", {"'+5' is not a whole number"});
  refused("hex", "0x10", {"'0x10' is not a whole number"});
  refused("fraction", "2.5", {"'2.5' is not a whole number"});
  refused("unit", "5s", {"'5s' is not a whole number"});
  refused("words", "ten", {"'ten' is not a whole number"});
  refused("control_characters", "1\x1b[2J", {"'1\\x1b[2J' is not a whole number"});
}

void class_3_destructive_commands(std::vector<CliRow>& r) {
  const Args purge = {"dead", "purge", "--db={db}"};
  const Args retry = {"dead", "retry", "--db={db}"};
  const auto with = [](Args args, const Args& more) {
    args.insert(args.end(), more.begin(), more.end());
    return args;
  };
  const std::vector<std::string> names_the_options = {"--all", "--name TYPE", "IDs", "--dry-run"};
  // No filter, or an empty one: refused, naming what to give; nothing touched.
  r.push_back({"purge_without_filter", purge, kFailed, names_the_options});
  r.push_back({"retry_without_filter", retry, kFailed, names_the_options});
  r.push_back(
      {"purge_dry_run_without_filter", with(purge, {"--dry-run"}), kFailed, names_the_options});
  r.push_back({"purge_empty_name", with(purge, {"--name", ""}), kFailed, {"--name is empty"}});
  r.push_back({"retry_empty_name", with(retry, {"--name", ""}), kFailed, {"--name is empty"}});
  r.push_back({"purge_empty_name_dry_run",
               with(purge, {"--name", "", "--dry-run"}),
               kFailed,
               {"--name is empty"}});
  r.push_back({"purge_all_with_empty_name",
               with(purge, {"--all", "--name", ""}),
               kFailed,
               {"--name is empty"}});
  r.push_back({"retry_all_with_empty_name",
               with(retry, {"--all", "--name", ""}),
               kFailed,
               {"--name is empty"}});
  r.push_back({"purge_name_without_value", with(purge, {"--name="}), kMissingValue, {"--name"}});
  r.push_back({"purge_all_and_name",
               with(purge, {"--all", "--name", "Fail"}),
               kFailed,
               {"only one of --all, --name TYPE and IDs"}});
  r.push_back({"retry_name_and_ids",
               with(retry, {"--name", "Fail", "{dead_a}"}),
               kFailed,
               {"only one of --all, --name TYPE and IDs"}});
  r.push_back({"purge_empty_name_on_dead_only",
               with(purge, {"--name", ""}),
               kFailed,
               {"--name is empty"},
               {},
               Db::unchanged,
               Setup::dead_only});
  // --dry-run: how many, which types and ids; nothing changes.
  r.push_back(
      {"purge_all_dry_run",
       with(purge, {"--all", "--dry-run"}),
       kOk,
       {"would purge 2 dead jobs: 1 Fail, 1 Text; ids {dead_a}, {dead_b}", "nothing changed"}});
  r.push_back(
      {"retry_all_dry_run", with(retry, {"--all", "--dry-run"}), kOk, {"would retry 2 dead jobs"}});
  r.push_back({"purge_name_dry_run",
               with(purge, {"--name", "Fail", "--dry-run"}),
               kOk,
               {"would purge 1 dead job: 1 Fail; ids {dead_a}"}});
  r.push_back({"retry_id_dry_run",
               with(retry, {"{dead_b}", "--dry-run"}),
               kOk,
               {"would retry 1 dead job: 1 Text; ids {dead_b}"}});
  r.push_back({"purge_unknown_name_dry_run",
               with(purge, {"--name", "Nope", "--dry-run"}),
               kOk,
               {"would purge 0 dead jobs"}});
  r.push_back({"purge_dry_run_on_empty",
               with(purge, {"--all", "--dry-run"}),
               kOk,
               {"would purge 0 dead jobs"},
               {},
               Db::unchanged,
               Setup::empty});
  // With a filter: they say how many rows they touched.
  r.push_back({"purge_all", with(purge, {"--all"}), kOk, {"2 dead jobs purged"}, {}, Db::changed});
  r.push_back(
      {"purge_name", with(purge, {"--name", "Fail"}), kOk, {"1 dead job purged"}, {}, Db::changed});
  r.push_back({"purge_unknown_name", with(purge, {"--name", "Nope"}), kOk, {"0 dead jobs purged"}});
  r.push_back({"purge_ids",
               with(purge, {"{dead_a}", "{dead_b}"}),
               kOk,
               {"2 dead jobs purged"},
               {},
               Db::changed});
  r.push_back(
      {"purge_unknown_id", with(purge, {"999999"}), kFailed, {"no dead job with id 999999"}});
  r.push_back({"purge_ids_one_unknown",
               with(purge, {"{dead_a}", "999999"}),
               kFailed,
               {"1 dead job purged", "no dead job with id 999999"},
               {},
               Db::changed});
  r.push_back({"retry_all",
               with(retry, {"--all"}),
               kOk,
               {"2 dead jobs back in the queue"},
               {},
               Db::changed});
  r.push_back({"retry_name",
               with(retry, {"--name", "Text"}),
               kOk,
               {"1 dead job back in the queue"},
               {},
               Db::changed});
  r.push_back({"retry_id",
               with(retry, {"{dead_a}"}),
               kOk,
               {"1 dead job back in the queue"},
               {},
               Db::changed});
  r.push_back({"retry_running_job_id",
               with(retry, {"{running}"}),
               kFailed,
               {"no dead job with id {running}"}});
  // The demo never runs on a database holding jobs or workers it did not enqueue.
  const Args demo = {"demo", "--db={db}"};
  r.push_back(
      {"demo_on_a_busy_database",
       demo,
       kFailed,
       {"already holds 5 queued jobs, 2 dead jobs and 1 registered worker", "--force", "fresh"}});
  r.push_back({"demo_on_dead_jobs",
               demo,
               kFailed,
               {"already holds 1 dead job", "--force"},
               {},
               Db::unchanged,
               Setup::dead_only});
  r.push_back({"demo_on_a_registered_worker",
               demo,
               kFailed,
               {"already holds 1 registered worker", "--force"},
               {},
               Db::unchanged,
               Setup::worker_only});
}

void class_6_numbers(std::vector<CliRow>& r) {
  number_rows(r, "status_lock_timeout", {"status", "--db={db}"}, "--lock-timeout", 0,
              3'153'600'000);
  number_rows(r, "jobs_lock_timeout", {"jobs", "--db={db}"}, "--lock-timeout", 0, 3'153'600'000);
  number_rows(r, "jobs_limit", {"jobs", "--db={db}"}, "--limit", 1, 10'000'000, /*full=*/true);
  number_rows(r, "dead_limit", {"dead", "--db={db}"}, "--limit", 1, 10'000'000);
  number_rows(r, "workers_rescue_after", {"workers", "--db={db}"}, "--rescue-after", 1,
              3'153'600'000);
  number_rows(r, "retry_id", {"dead", "retry", "--db={db}"}, "ids", 1, INT64_MAX, true);
  number_rows(r, "jobs_cancel_id", {"jobs", "cancel", "--db={db}"}, "ids", 1, INT64_MAX);
  number_rows(r, "jobs_retry_id", {"jobs", "retry", "--db={db}"}, "ids", 1, INT64_MAX);
  number_rows(r, "jobs_show_id", {"jobs", "show", "--db={db}"}, "id", 1, INT64_MAX);
  number_rows(r, "purge_id", {"dead", "purge", "--db={db}"}, "ids", 1, INT64_MAX);
  number_rows(r, "demo_concurrency", {"demo", "--db={db}"}, "--concurrency", 1, 64);
  const Args queues_limit = {"queues", "limit", "default", "--db={db}"};
  number_rows(r, "queues_limit_global", queues_limit, "--global", 1, INT32_MAX, true);
  number_rows(r, "queues_limit_per_key", queues_limit, "--per-key", 1, INT32_MAX);
  const Args bench = {"bench", "--db={db}"};
  number_rows(r, "bench_jobs", bench, "--jobs", 1, 100'000'000);
  number_rows(r, "bench_workers", bench, "--workers", 1, 256);
  number_rows(r, "bench_concurrency", bench, "--concurrency", 1, 4096);
  number_rows(r, "bench_prefetch", bench, "--prefetch", 0, 100'000);
  number_rows(r, "bench_store_lanes", bench, "--store-lanes", 1, 64);
  number_rows(r, "bench_enqueue_single", bench, "--enqueue-single", 1, 10'000'000);
  number_rows(r, "bench_latency_samples", bench, "--latency-samples", 1, 1'000'000);
  // The largest values work without overflowing: the running job is still running.
  r.push_back({"status_lock_timeout_at_max",
               {"status", "--db={db}", "--json", "--lock-timeout=3153600000"},
               kOk,
               {"\"running\":1", "\"abandoned\":0"}});
  r.push_back({"status_lock_timeout_zero",
               {"status", "--db={db}", "--json", "--lock-timeout=0"},
               kOk,
               {"\"running\":0", "\"abandoned\":1"}});
  r.push_back({"jobs_lock_timeout_at_max",
               {"jobs", "--db={db}", "--json", "--state=running", "--lock-timeout=3153600000"},
               kOk,
               {"\"state\":\"running\""}});
  r.push_back({"jobs_limit_with_leading_zeros",
               {"jobs", "--db={db}", "--json", "--limit=0002"},
               kOk,
               {"\"id\":"}});
  r.push_back({"workers_rescue_after_at_max",
               {"workers", "--db={db}", "--json", "--rescue-after=3153600000"},
               kOk,
               {"\"state\":\"alive\""}});
  r.push_back({"lock_timeout_as_separate_negative_argument",
               {"status", "--db={db}", "--lock-timeout", "-5"},
               kBadValue,
               {"--lock-timeout"}});
}

void class_7_inspection(std::vector<CliRow>& r) {
  // On a path (schema) that does not exist: say so, create nothing.
  for (const std::string command : {"status", "jobs", "dead", "workers", "queues"}) {
    r.push_back({command + "_on_missing_database",
                 {command, "--db={db}"},
                 kFailed,
                 {"errand migrate"},
                 {},
                 Db::unchanged,
                 Setup::missing});
  }
  r.push_back({"sqlite_status_on_missing_file_names_it",
               {"status", "--db={db}"},
               kFailed,
               {"there is no errand database at", "missing.db", "errand migrate --db sqlite:"},
               {},
               Db::unchanged,
               Setup::missing,
               Stores::sqlite});
  r.push_back({"purge_on_missing_database",
               {"dead", "purge", "--all", "--db={db}"},
               kFailed,
               {"errand migrate"},
               {},
               Db::unchanged,
               Setup::missing});
  r.push_back({"retry_on_missing_database",
               {"dead", "retry", "--all", "--db={db}"},
               kFailed,
               {"errand migrate"},
               {},
               Db::unchanged,
               Setup::missing});
  r.push_back({"purge_dry_run_on_missing_database",
               {"dead", "purge", "--all", "--dry-run", "--db={db}"},
               kFailed,
               {"errand migrate"},
               {},
               Db::unchanged,
               Setup::missing});
  r.push_back({"migrate_creates_the_missing_database",
               {"migrate", "--db={db}"},
               kOk,
               {"schema version"},
               {},
               Db::changed,
               Setup::missing});
  // On a read-only database: inspection works, changes are refused clearly.
  r.push_back({"status_on_read_only",
               {"status", "--db={db}", "--json"},
               kOk,
               {"\"ready\":2", "\"dead\":2"},
               {},
               Db::unchanged,
               Setup::read_only});
  r.push_back({"jobs_on_read_only",
               {"jobs", "--db={db}", "--json", "--failing"},
               kOk,
               {"\"last_error\":\"flaky\""},
               {},
               Db::unchanged,
               Setup::read_only});
  r.push_back({"dead_on_read_only",
               {"dead", "--db={db}"},
               kOk,
               {"broken beyond repair"},
               {},
               Db::unchanged,
               Setup::read_only});
  r.push_back({"workers_on_read_only",
               {"workers", "--db={db}", "--json"},
               kOk,
               {"\"id\":\"cli-test\""},
               {},
               Db::unchanged,
               Setup::read_only});
  r.push_back({"purge_dry_run_on_read_only",
               {"dead", "purge", "--all", "--dry-run", "--db={db}"},
               kOk,
               {"would purge 2 dead jobs"},
               {},
               Db::unchanged,
               Setup::read_only});
  r.push_back({"purge_on_read_only",
               {"dead", "purge", "--all", "--db={db}"},
               kFailed,
               {"read-only"},
               {},
               Db::unchanged,
               Setup::read_only});
  // A WAL database in a read-only directory, while a writer has it open: the reader sees the
  // row still in the WAL (2 + 1 ready) and leaves the -wal and -shm files as they were.
  r.push_back({"status_on_read_only_with_a_live_writer",
               {"status", "--db={db}", "--json"},
               kOk,
               {"\"ready\":3"},
               {},
               Db::unchanged,
               Setup::read_only_live});
  r.push_back({"jobs_on_read_only_with_a_live_writer",
               {"jobs", "--db={db}", "--json"},
               kOk,
               {"\"tag\":5"},
               {},
               Db::unchanged,
               Setup::read_only_live});
  // An older schema or another program's database: never migrated by inspection.
  for (const std::string command : {"status", "jobs", "dead", "workers", "queues"}) {
    r.push_back({command + "_on_old_schema",
                 {command, "--db={db}"},
                 kFailed,
                 {"schema version 1", "errand migrate --db sqlite:"},
                 {},
                 Db::unchanged,
                 Setup::old_schema});
  }
  r.push_back({"purge_on_old_schema",
               {"dead", "purge", "--all", "--db={db}"},
               kFailed,
               {"errand migrate"},
               {},
               Db::unchanged,
               Setup::old_schema});
  r.push_back({"status_on_foreign_database",
               {"status", "--db={db}"},
               kFailed,
               {"holds no errand schema"},
               {},
               Db::unchanged,
               Setup::foreign});
  r.push_back({"purge_on_foreign_database",
               {"dead", "purge", "--all", "--db={db}"},
               kFailed,
               {"holds no errand schema"},
               {},
               Db::unchanged,
               Setup::foreign});
}

// Class 2: invalid values read back from the database are refused by name, never misread,
// never a crash; nothing is changed.
void class_2_stored_values(std::vector<CliRow>& r) {
  for (const std::string command : {"status", "jobs", "dead", "workers", "queues"}) {
    r.push_back({command + "_with_negative_schema_version",
                 {command, "--db={db}"},
                 kFailed,
                 {"schema_version is '-2', not an errand schema version"},
                 {},
                 Db::unchanged,
                 Setup::bad_version});
  }
  const auto refused = [&](const std::string& name, const std::string& command,
                           std::vector<std::string> says) {
    r.push_back(
        {name, {command, "--db={db}"}, kFailed, says, {}, Db::unchanged, Setup::bad_values});
  };
  refused("jobs_with_an_invalid_time", "jobs", {"run_at is '", "expected a time from 0001-01-01"});
  refused("dead_with_an_invalid_time", "dead",
          {"created_at is '", "expected a time from 0001-01-01"});
  refused("workers_with_an_invalid_pid", "workers", {"pid is ", "expected a process id"});
}

// Class 1: no piece of a password in any output, whatever the command and format.
void class_1_secrets(std::vector<CliRow>& r) {
  const std::vector<std::string> pieces = {"Hunter2", "Secret", "Hunter2%2FSecret"};
  const auto shown = [&](const std::string& name, Args args, std::vector<std::string> says) {
    args.push_back("--db={db_password}");
    r.push_back({name, args, kOk, says, pieces, Db::unchanged, Setup::standard, Stores::postgres});
  };
  shown("password_status", {"status"}, {"***@"});
  shown("password_status_json", {"status", "--json"}, {"\"db\":\"postgres://", "***@"});
  shown("password_jobs", {"jobs"}, {"Record"});
  shown("password_jobs_json", {"jobs", "--json"}, {"\"payload\""});
  shown("password_dead", {"dead"}, {"Fail"});
  shown("password_workers", {"workers", "--json"}, {"cli-test"});
  shown("password_queues", {"queues"}, {"default"});
  shown("password_migrate", {"migrate"}, {"***@", "up to date"});
  shown("password_purge_dry_run", {"dead", "purge", "--all", "--dry-run"}, {"would purge 2"});
  r.push_back({"password_bad_percent_encoding",
               {"status", "--db=postgres://u:My%zzSECRET@127.0.0.1:1/db"},
               kFailed,
               {"invalid percent-encoding"},
               {"SECRET", "%zz"},
               Db::unchanged,
               Setup::standard,
               Stores::postgres});
  r.push_back({"password_unencoded_at",
               {"status", "--db=postgres://u:Hun@ter2Secret@127.0.0.1:1/db"},
               kFailed,
               {"percent-encode"},
               {"Hun@", "ter2Secret"},
               Db::unchanged,
               Setup::standard,
               Stores::postgres});
}

// Class 4: nothing waits forever: a server that accepts and never answers is given up on.
void class_4_timeouts(std::vector<CliRow>& r) {
  for (const std::string command : {"status", "jobs", "dead", "workers", "queues", "migrate"}) {
    r.push_back({command + "_on_a_silent_server",
                 {command, "--db={silent}"},
                 kFailed,
                 {"timeout expired", "postgres://u:***@127.0.0.1:"},
                 {"Hunter2", "Secret"},
                 Db::unchanged,
                 Setup::standard,
                 Stores::postgres});
  }
}

// Class 5: identifiers PostgreSQL would truncate, and system schemas, are refused.
void class_5_identifiers(std::vector<CliRow>& r) {
  const std::string long_name(64, 's');
  r.push_back({"schema_over_63_bytes",
               {"status", "--db={db}&schema=" + long_name},
               kFailed,
               {"is 64 bytes long; PostgreSQL keeps at most 63"},
               {},
               Db::unchanged,
               Setup::standard,
               Stores::postgres});
  for (const std::string schema : {"pg_catalog", "information_schema", "pg_toast"}) {
    r.push_back({"system_schema_" + schema,
                 {"migrate", "--db={db}&schema=" + schema},
                 kFailed,
                 {"is a system schema"},
                 {},
                 Db::unchanged,
                 Setup::standard,
                 Stores::postgres});
  }
}

}  // namespace

std::vector<CliRow> cli_rows() {
  std::vector<CliRow> r;
  class_1_secrets(r);
  class_4_timeouts(r);
  class_5_identifiers(r);
  class_2_stored_values(r);
  class_3_destructive_commands(r);
  class_6_numbers(r);
  class_7_inspection(r);
  lifecycle_rows(r);
  queues_rows(r);
  return r;
}

}  // namespace errand_test
