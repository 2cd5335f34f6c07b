// The CLI test table's rows for `errand queues` (see cli_table.hpp): listing, pause, resume and
// limit, and the queue of a job in `jobs show` and `dead`. Setup::queues: the standard data set
// in queue "default", queue "mail" (2 of its 3 jobs running, limits global 50, per key 2, rate
// 10/h) and queue "reports" (paused, 1 ready job).
#include "cli/cli_table.hpp"

#include <string>

namespace errand_test {

namespace {

using Args = std::vector<std::string>;

Args with(Args args, const Args& more) {
  args.insert(args.end(), more.begin(), more.end());
  return args;
}

const std::string kUnknownHint =
    "a queue becomes known when a job is enqueued into it or a worker serves it";

void listing_rows(std::vector<CliRow>& r) {
  const Args list = {"queues", "--db={db}"};
  r.push_back({"queues_list",
               list,
               kOk,
               {"QUEUE", "OLDEST READY", "DISCARDED", "default", "mail", "2/50", "1/2",
                "10/h, 8 left", "reports", "paused", "queues limit NAME"},
               {},
               Db::unchanged,
               Setup::queues});
  r.push_back(
      {"queues_list_json",
       with(list, {"--json"}),
       kOk,
       {"\"name\":\"mail\"", "\"global_limit\":50", "\"per_key_limit\":2",
        "\"rate_count\":10,\"rate_limit\":\"10/h\",\"rate_period_s\":3600.0",
        "\"rate_tokens\":8,\"ready\":1,\"running\":2,\"scheduled\":0", "\"busiest_key_running\":1",
        "\"name\":\"reports\"", "\"paused\":true,\"per_key_limit\":null", "\"json_version\":1"},
       {"QUEUE", "\"paused\":true,\"per_key_limit\":2"},
       Db::unchanged,
       Setup::queues});
  // The standard data set, all in queue "default".
  r.push_back({"queues_list_counts_json",
               with(list, {"--json"}),
               kOk,
               {"\"cancelled\":0,\"completed\":0,\"discarded\":2,\"global_limit\":null",
                "\"name\":\"default\"", "\"oldest_ready_age_s\":",
                "\"ready\":2,\"running\":1,\"scheduled\":2", "\"rate_tokens\":null"}});
  r.push_back(
      {"queues_on_empty", list, kOk, {"default", "active"}, {}, Db::unchanged, Setup::empty});
  r.push_back({"queues_on_read_only",
               with(list, {"--json"}),
               kOk,
               {"\"name\":\"default\""},
               {},
               Db::unchanged,
               Setup::read_only});
}

void change_rows(std::vector<CliRow>& r) {
  const auto queues = [&](std::string name, Args args, std::vector<std::string> says,
                          std::vector<std::string> never_says = {}) {
    args.insert(args.begin(), "queues");
    args.push_back("--db={db}");
    r.push_back({std::move(name), std::move(args), kOk, std::move(says), std::move(never_says),
                 Db::changed, Setup::queues});
  };
  queues("queues_pause", {"pause", "mail"},
         {"queue mail: paused", "limits  global 50, per key 2, rate 10/h",
          "jobs    1 ready, 0 scheduled, 2 running"});
  queues("queues_pause_json", {"pause", "default", "--json"},
         {"\"name\":\"default\"", "\"paused\":true", "\"json_version\":1"});
  queues("queues_resume", {"resume", "reports"}, {"queue reports: active", "limits  none"});
  queues("queues_limit_set",
         {"limit", "default", "--global", "3", "--per-key", "1", "--rate", "5/250ms"},
         {"queue default: active", "limits  global 3, per key 1, rate 5/250ms"});
  queues("queues_limit_keeps_the_others", {"limit", "mail", "--global=7"},
         {"limits  global 7, per key 2, rate 10/h"});
  queues("queues_limit_rate_per_minute", {"limit", "mail", "--rate", "600/1m"},
         {"limits  global 50, per key 2, rate 600/m"});
  queues("queues_limit_clear", {"limit", "mail", "--clear"}, {"limits  none"}, {"global"});
  queues("queues_limit_clear_then_set", {"limit", "mail", "--clear", "--per-key", "4"},
         {"limits  per key 4"}, {"global", "rate"});
  queues("queues_limit_json", {"limit", "mail", "--global", "9", "--json"},
         {"\"global_limit\":9,", "\"per_key_limit\":2,", "\"rate_limit\":\"10/h\""});
  // On a database that cannot be written to: refused, nothing changed.
  r.push_back({"queues_pause_on_read_only",
               {"queues", "pause", "default", "--db={db}"},
               kFailed,
               {"read-only"},
               {},
               Db::unchanged,
               Setup::read_only});
  r.push_back({"queues_pause_on_missing_database",
               {"queues", "pause", "default", "--db={db}"},
               kFailed,
               {"errand migrate"},
               {},
               Db::unchanged,
               Setup::missing});
}

// Bad input: a clear message, a non-zero exit, nothing changed (the rows' default).
void refused_rows(std::vector<CliRow>& r) {
  const auto refused = [&](std::string name, Args args, int code, std::vector<std::string> says) {
    args.insert(args.begin(), "queues");
    args.push_back("--db={db}");
    r.push_back({std::move(name),
                 std::move(args),
                 code,
                 std::move(says),
                 {},
                 Db::unchanged,
                 Setup::queues});
  };
  refused("queues_pause_unknown", {"pause", "nope"}, kFailed,
          {"no queue named 'nope'", "(known: default, mail, reports)", kUnknownHint});
  refused("queues_resume_unknown", {"resume", "nope"}, kFailed, {"no queue named 'nope'"});
  refused("queues_limit_unknown", {"limit", "nope", "--global", "3"}, kFailed,
          {"no queue named 'nope'", "(known: default, mail, reports)"});
  r.push_back({"queues_pause_unknown_on_empty",
               {"queues", "pause", "mail", "--db={db}"},
               kFailed,
               {"no queue named 'mail'", "(known: default)"},
               {},
               Db::unchanged,
               Setup::empty});
  const std::string rule = "a queue name is 1 to 64 characters of letters, digits and _ . : -";
  refused("queues_pause_invalid_name", {"pause", "bad/name"}, kBadValue,
          {"name: invalid queue name 'bad/name'", rule});
  refused("queues_pause_empty_name", {"pause", ""}, kBadValue, {"invalid queue name ''", rule});
  refused("queues_pause_long_name", {"pause", std::string(65, 'q')}, kBadValue, {rule});
  refused("queues_limit_invalid_name", {"limit", "mail box", "--global", "3"}, kBadValue,
          {"invalid queue name 'mail box'"});
  r.push_back({"queues_pause_control_characters",
               {"queues", "pause", "a\x1b[2Jb", "--db={db}"},
               kBadValue,
               {"invalid queue name 'a\\x1b[2Jb'"},
               {"\x1b"}});
  refused("queues_pause_without_name", {"pause"}, kRequired, {"name is required"});
  refused("queues_limit_without_name", {"limit", "--global", "3"}, kRequired, {"name"});
  refused("queues_limit_without_options", {"limit", "mail"}, kFailed,
          {"queues limit: say which limits to set", "--global N", "--per-key N", "--rate N/PERIOD",
           "--clear"});
  // Rates: errand's parse_rate says what is wrong, and how to write one.
  const std::string how = "write COUNT/PERIOD, e.g. 10/s";
  const std::string count = "the count must be a whole number from 1 to 100000";
  const std::string period = "the period must be a number and a unit, at most 24h";
  const struct {
    std::string name, rate, why;
  } rates[] = {{"zero_count", "0/s", count},
               {"negative_count", "-5/s", count},
               {"count_too_large", "100001/s", count},
               {"count_beyond_64_bits", "99999999999999999999/s", count},
               {"fraction", "1.5/s", count},
               {"words", "ten/s", count},
               {"no_count", "/s", count},
               {"zero_period", "10/0s", "the period must be longer than 0"},
               {"period_too_long", "10/25h", period},
               {"unknown_unit", "10/5x", period},
               {"no_unit", "10/5", period},
               {"no_period", "10/", period},
               {"no_slash", "abc", "no '/'"},
               {"bare_number", "10", "no '/'"}};
  for (const auto& bad : rates) {
    refused("queues_limit_rate_" + bad.name, {"limit", "mail", "--rate=" + bad.rate}, kBadValue,
            {"--rate: invalid rate '" + bad.rate + "': " + bad.why, how});
  }
  refused("queues_limit_rate_empty", {"limit", "mail", "--rate", ""}, kBadValue,
          {"--rate: invalid rate '': no '/'"});
  // One bad value refuses the whole change: the valid ones given with it are not applied.
  refused("queues_limit_bad_rate_with_clear",
          {"limit", "mail", "--clear", "--global", "3", "--rate", "0/s"}, kBadValue,
          {"--rate: invalid rate '0/s'"});
  refused("queues_limit_bad_global_with_rate", {"limit", "mail", "--rate", "5/s", "--global", "0"},
          kBadValue, {"--global: 0 is too small (at least 1)"});
}

// The queue and partition key of a job where jobs are shown.
void job_rows(std::vector<CliRow>& r) {
  r.push_back({"jobs_show_queue_and_key",
               {"jobs", "show", "{mail_job}", "--db={db}"},
               kOk,
               {"queue          mail", "partition key  alice"},
               {},
               Db::unchanged,
               Setup::queues});
  r.push_back({"jobs_show_json_queue_and_key",
               {"jobs", "show", "{mail_job}", "--json", "--db={db}"},
               kOk,
               {"\"queue\":\"mail\"", "\"partition_key\":\"alice\""},
               {},
               Db::unchanged,
               Setup::queues});
  r.push_back({"jobs_show_default_queue",
               {"jobs", "show", "{running}", "--db={db}"},
               kOk,
               {"queue       default"},
               {"partition key"}});
  r.push_back({"dead_json_queue",
               {"dead", "--json", "--db={db}"},
               kOk,
               {"\"queue\":\"default\"", "\"partition_key\":\"\""}});
}

}  // namespace

void queues_rows(std::vector<CliRow>& r) {
  listing_rows(r);
  change_rows(r);
  refused_rows(r);
  job_rows(r);
}

}  // namespace errand_test
