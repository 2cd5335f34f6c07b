// The errand command-line tool, run as a separate process on a prepared database.
#include "support/jobs.hpp"
#include "support/sqlite_db.hpp"
#include "support/temp_dir.hpp"
#include "support/text.hpp"

#include <errand/errand.hpp>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <sys/wait.h>

#include <cstdio>
#include <sstream>

using errand_test::read_file;
using errand_test::SqliteDb;
using errand_test::TempDir;
using namespace std::chrono_literals;

namespace {

struct CliResult {
  int exit_code = -1;
  std::string out;
  std::string err;
};

std::string quote(const std::string& arg) {
  std::string out = "'";
  for (char c : arg)
    out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

using errand_test::contains;

std::vector<nlohmann::json> json_lines(const std::string& text) {
  std::vector<nlohmann::json> out;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty()) out.push_back(nlohmann::json::parse(line));
  }
  return out;
}

class Cli : public ::testing::Test {
 protected:
  void SetUp() override {
    store = errand::open_sqlite(path());
    // 2 ready, 1 scheduled, 1 running, 1 failing (scheduled), 2 dead.
    errand::enqueue(*store, errand_test::RecordJob{.tag = 1});
    errand::enqueue(*store, errand_test::RecordJob{.tag = 2});
    errand::enqueue(*store, errand_test::RecordJob{.tag = 3}, {.delay = std::chrono::hours{1}});
    running = errand::enqueue(*store, errand_test::RecordJob{.tag = 4}, "", 100);
    ASSERT_EQ(store->claim("cli-test", 1, 2h).at(0).id, running);
    failing = errand::enqueue(*store, errand_test::FailJob{.message = "flaky"}, "", 99);
    settle_one(errand::Outcome::Kind::retry, "flaky", failing);
    dead_a = errand::enqueue(*store, errand_test::FailJob{.message = "a"}, "ctx-a", 98);
    settle_one(errand::Outcome::Kind::dead_letter, "broken beyond repair", dead_a);
    dead_b = errand::enqueue(*store, errand_test::TextJob{.text = "b"}, "ctx-b", 97);
    settle_one(errand::Outcome::Kind::dead_letter, "also broken", dead_b);
  }

  void settle_one(errand::Outcome::Kind kind, const std::string& error, errand::JobId expected) {
    auto claimed = store->claim("cli-test", 1, 2h);
    ASSERT_EQ(claimed.size(), 1u);
    ASSERT_EQ(claimed[0].id, expected);
    const errand::Outcome outcome[] = {{.id = claimed[0].id,
                                        .locked_at = claimed[0].locked_at,
                                        .kind = kind,
                                        .error = error,
                                        .retry_delay = std::chrono::hours{1}}};
    ASSERT_TRUE(store->settle("cli-test", outcome).empty());
  }

  std::filesystem::path path() const { return dir.file("cli.db"); }
  std::string db() const { return "--db=sqlite:" + path().string(); }

  CliResult run(const std::vector<std::string>& args) {
    std::string command = quote(ERRAND_CLI);
    for (const auto& arg : args)
      command += " " + quote(arg);
    const auto err_path = dir.file("stderr.txt");
    command += " 2>" + quote(err_path.string()) + " </dev/null";
    CliResult result;
    FILE* pipe = ::popen(command.c_str(), "r");
    if (pipe == nullptr) return result;
    char buffer[4096];
    std::size_t n = 0;
    while ((n = std::fread(buffer, 1, sizeof buffer, pipe)) > 0)
      result.out.append(buffer, n);
    const int status = ::pclose(pipe);
    result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    result.err = read_file(err_path);
    return result;
  }

  TempDir dir;
  std::shared_ptr<errand::Store> store;
  errand::JobId running = 0, failing = 0, dead_a = 0, dead_b = 0;
};

TEST_F(Cli, StatusJsonCountsEveryState) {
  const auto result = run({"status", db(), "--json"});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  const auto lines = json_lines(result.out);
  ASSERT_EQ(lines.size(), 1u) << result.out;
  const auto& counts = lines[0];
  EXPECT_EQ(counts.at("ready"), 2);
  EXPECT_EQ(counts.at("scheduled"), 2);
  EXPECT_EQ(counts.at("running"), 1);
  EXPECT_EQ(counts.at("abandoned"), 0);
  EXPECT_EQ(counts.at("failing"), 1);
  EXPECT_EQ(counts.at("dead"), 2);
}

TEST_F(Cli, StatusAsText) {
  const auto result = run({"status", db()});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_TRUE(contains(result.out, "ready")) << result.out;
  EXPECT_TRUE(contains(result.out, "dead")) << result.out;
  EXPECT_TRUE(contains(result.out, path().string())) << result.out;
}

TEST_F(Cli, DeadListsTheDeadLetterQueue) {
  const auto text = run({"dead", db()});
  ASSERT_EQ(text.exit_code, 0) << text.err;
  EXPECT_TRUE(contains(text.out, std::to_string(dead_a))) << text.out;
  EXPECT_TRUE(contains(text.out, "broken beyond repair")) << text.out;

  const auto json = run({"dead", db(), "--json"});
  ASSERT_EQ(json.exit_code, 0) << json.err;
  const auto lines = json_lines(json.out);
  ASSERT_EQ(lines.size(), 2u) << json.out;
  std::set<errand::JobId> ids;
  for (const auto& line : lines)
    ids.insert(line.at("id").get<errand::JobId>());
  EXPECT_EQ(ids, (std::set<errand::JobId>{dead_a, dead_b}));
  for (const auto& line : lines) {
    if (line.at("id") == dead_a) {
      EXPECT_EQ(line.at("name"), "Fail");
      EXPECT_EQ(line.at("context"), "ctx-a");
      EXPECT_EQ(line.at("last_error"), "broken beyond repair");
      EXPECT_EQ(line.at("error_count"), 1);
      EXPECT_EQ(line.at("payload"), nlohmann::json({{"message", "a"}}));
    }
  }
  const auto named = run({"dead", db(), "--json", "--name", "Text"});
  ASSERT_EQ(named.exit_code, 0) << named.err;
  ASSERT_EQ(json_lines(named.out).size(), 1u);
}

TEST_F(Cli, DeadRetryMovesTheJobBack) {
  const auto result = run({"dead", "retry", std::to_string(dead_a), db()});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  SqliteDb sql(path());
  const auto where = " WHERE id = " + std::to_string(dead_a);
  EXPECT_EQ(sql.integer("SELECT count(*) FROM errand_finished_jobs" + where), 0);
  EXPECT_EQ(sql.integer("SELECT count(*) FROM errand_jobs" + where), 1);
  EXPECT_EQ(sql.integer("SELECT error_count FROM errand_jobs" + where), 0);
  EXPECT_EQ(sql.text("SELECT locked_by FROM errand_jobs" + where), std::nullopt);
  EXPECT_EQ(sql.integer("SELECT count(*) FROM errand_finished_jobs"), 1);

  const auto again = run({"dead", "retry", std::to_string(dead_a), db()});
  EXPECT_NE(again.exit_code, 0) << "retrying a job that is no longer dead should fail";
  EXPECT_TRUE(contains(again.err, std::to_string(dead_a))) << again.err;
}

TEST_F(Cli, DeadRetryAll) {
  const auto result = run({"dead", "retry", "--all", db()});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  SqliteDb sql(path());
  EXPECT_EQ(sql.integer("SELECT count(*) FROM errand_finished_jobs"), 0);
  EXPECT_EQ(sql.integer("SELECT count(*) FROM errand_jobs"), 7);
}

TEST_F(Cli, DeadPurgeDeletesDeadJobsOnly) {
  const auto result = run({"dead", "purge", "--all", db()});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_TRUE(contains(result.out, "2")) << result.out;
  SqliteDb sql(path());
  EXPECT_EQ(sql.integer("SELECT count(*) FROM errand_finished_jobs"), 0);
  EXPECT_EQ(sql.integer("SELECT count(*) FROM errand_jobs"), 5);
}

TEST_F(Cli, JobsListsQueuedJobs) {
  const auto all = run({"jobs", db(), "--json"});
  ASSERT_EQ(all.exit_code, 0) << all.err;
  EXPECT_EQ(json_lines(all.out).size(), 5u) << all.out;
  const auto failing_only = run({"jobs", db(), "--json", "--failing"});
  ASSERT_EQ(failing_only.exit_code, 0) << failing_only.err;
  const auto lines = json_lines(failing_only.out);
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_EQ(lines[0].at("id"), failing);
  EXPECT_EQ(lines[0].at("last_error"), "flaky");
  const auto running_only = run({"jobs", db(), "--json", "--state", "running"});
  ASSERT_EQ(running_only.exit_code, 0) << running_only.err;
  ASSERT_EQ(json_lines(running_only.out).size(), 1u);
  EXPECT_EQ(json_lines(running_only.out)[0].at("locked_by"), "cli-test");
}

// `--json` output is a stable interface: every object says which version of it it is.
TEST_F(Cli, EveryJsonObjectCarriesItsVersion) {
  for (const std::vector<std::string>& args : {std::vector<std::string>{"status", db(), "--json"},
                                               {"jobs", db(), "--json"},
                                               {"dead", db(), "--json"},
                                               {"queues", db(), "--json"}}) {
    const auto result = run(args);
    ASSERT_EQ(result.exit_code, 0) << result.err;
    const auto lines = json_lines(result.out);
    ASSERT_FALSE(lines.empty()) << args[0];
    for (const auto& line : lines)
      EXPECT_EQ(line.at("json_version"), 1) << args[0];
  }
}

// The table cuts errors to the terminal; --full shows each job whole, and stored text cannot
// drive the terminal.
TEST_F(Cli, FullShowsTheWholeErrorAndTheIndentedPayload) {
  const std::string long_line(300, 'x');
  const auto id = errand::enqueue(*store, errand_test::FailJob{.message = "c"}, "ctx-c", 96);
  settle_one(errand::Outcome::Kind::dead_letter, long_line + "\nsecond line\x1b[31m red", id);

  const auto dead = run({"dead", db(), "--full", "--name", "Fail"});
  ASSERT_EQ(dead.exit_code, 0) << dead.err;
  EXPECT_TRUE(contains(dead.out, "dead job " + std::to_string(id) + "  Fail")) << dead.out;
  EXPECT_TRUE(contains(dead.out, long_line)) << dead.out;
  EXPECT_TRUE(contains(dead.out, "second line")) << dead.out;
  EXPECT_FALSE(contains(dead.out, "\x1b")) << dead.out;
  EXPECT_TRUE(contains(dead.out, "\"message\": \"c\"")) << dead.out;  // indented JSON
  EXPECT_TRUE(contains(dead.out, "ctx-c")) << dead.out;
  EXPECT_TRUE(contains(run({"dead", db()}).out, "dead --full")) << "the table says how";

  const auto jobs = run({"jobs", db(), "--full", "--failing"});
  ASSERT_EQ(jobs.exit_code, 0) << jobs.err;
  EXPECT_TRUE(contains(jobs.out, "job " + std::to_string(failing) + "  Fail")) << jobs.out;
  EXPECT_TRUE(contains(jobs.out, "flaky")) << jobs.out;

  const auto both = run({"dead", db(), "--full", "--json"});
  EXPECT_NE(both.exit_code, 0);
  EXPECT_TRUE(contains(both.err, "--json")) << both.err;
}

TEST_F(Cli, WorkersListsRegisteredWorkers) {
  const auto empty = run({"workers", db()});
  ASSERT_EQ(empty.exit_code, 0) << empty.err;
  EXPECT_TRUE(contains(empty.out, "no workers registered")) << empty.out;

  // "cli-test" (holding the running job) registered a minute ago and went silent.
  auto silent =
      errand::WorkerRegistration{.id = "cli-test", .host = "host-a", .pid = 111, .concurrency = 8};
  silent.started_at = store->register_worker(silent);
  SqliteDb sql(path());
  sql.exec("UPDATE errand_workers SET heartbeat_at = heartbeat_at - 60000000");
  auto live = errand::WorkerRegistration{
      .id = "live-worker", .host = "host-b", .pid = 222, .concurrency = 4};
  live.started_at = store->register_worker(live);

  const auto listed = run({"workers", db(), "--json"});
  ASSERT_EQ(listed.exit_code, 0) << listed.err;
  const auto rows = json_lines(listed.out);
  ASSERT_EQ(rows.size(), 2u) << listed.out;
  EXPECT_EQ(rows[0].at("id"), "live-worker");  // most recent heartbeat first
  EXPECT_EQ(rows[0].at("state"), "alive");
  EXPECT_EQ(rows[0].at("host"), "host-b");
  EXPECT_EQ(rows[0].at("pid"), 222);
  EXPECT_EQ(rows[0].at("running"), 0);
  EXPECT_EQ(rows[1].at("id"), "cli-test");
  EXPECT_EQ(rows[1].at("state"), "lost");
  EXPECT_EQ(rows[1].at("running"), 1);
  EXPECT_EQ(rows[1].at("concurrency"), 8);
  EXPECT_GE(rows[1].at("silent_for_s").get<double>(), 60.0);

  const auto patient = run({"workers", db(), "--json", "--rescue-after", "3600"});
  EXPECT_EQ(json_lines(patient.out).at(1).at("state"), "alive");

  const auto text = run({"workers", db()});
  ASSERT_EQ(text.exit_code, 0) << text.err;
  EXPECT_TRUE(contains(text.out, "LAST HEARTBEAT")) << text.out;
  EXPECT_TRUE(contains(text.out, "host-a")) << text.out;
  EXPECT_TRUE(contains(text.out, "1/8")) << text.out;
  EXPECT_TRUE(contains(text.out, "lost")) << text.out;
}

// `errand queues --json`: every documented field, with its type; pause, resume and limit change
// what the store says, and a refused change leaves it as it was.
TEST_F(Cli, QueuesShowAndChangeTheStoresSettings) {
  for (const char* key : {"alice", "bob", "bob"}) {
    errand::enqueue(*store, errand_test::RecordJob{.tag = 9},
                    errand::EnqueueOptions{.queue = "mail", .partition_key = key});
  }
  const auto limited = run({"queues", "limit", "mail", db(), "--per-key", "1", "--rate", "600/1m"});
  ASSERT_EQ(limited.exit_code, 0) << limited.err;
  errand::ClaimRequest request;
  request.queues = {{.queue = "mail", .max = 3}};
  ASSERT_EQ(store->claim("cli-test", request, 2h).size(), 2u);  // one per key

  const auto listed = run({"queues", db(), "--json"});
  ASSERT_EQ(listed.exit_code, 0) << listed.err;
  const auto rows = json_lines(listed.out);
  ASSERT_EQ(rows.size(), 2u) << listed.out;
  EXPECT_EQ(rows[0].at("name"), "default");
  EXPECT_EQ(rows[0].at("global_limit"), nullptr);
  EXPECT_EQ(rows[0].at("rate_limit"), nullptr);
  EXPECT_EQ(rows[0].at("discarded"), 2);
  const auto& mail = rows[1];
  const nlohmann::json expected = {{"name", "mail"},
                                   {"paused", false},
                                   {"ready", 1},
                                   {"scheduled", 0},
                                   {"running", 2},
                                   {"completed", 0},
                                   {"cancelled", 0},
                                   {"discarded", 0},
                                   {"global_limit", nullptr},
                                   {"per_key_limit", 1},
                                   {"rate_limit", "600/m"},
                                   {"rate_count", 600},
                                   {"rate_period_s", 60.0},
                                   {"busiest_key_running", 1},
                                   {"rate_tokens", 598},
                                   {"json_version", 1}};
  for (const auto& [key, value] : expected.items())
    EXPECT_EQ(mail.at(key), value) << key;
  EXPECT_GE(mail.at("oldest_ready_age_s").get<double>(), 0.0);
  EXPECT_TRUE(mail.at("updated_at").get<std::string>().ends_with("Z"));
  EXPECT_EQ(mail.size(), expected.size() + 2) << "a field is not documented here: " << mail;

  const auto info = [&] {
    for (const auto& q : store->list_queues())
      if (q.name == "mail") return q;
    throw std::runtime_error("no queue mail");
  };
  ASSERT_EQ(run({"queues", "pause", "mail", db()}).exit_code, 0);
  EXPECT_TRUE(info().paused);
  const auto before = info();
  const std::pair<std::vector<std::string>, std::string> refusals[] = {
      {{"queues", "limit", "mail", "--clear", "--rate", "0/s"}, "invalid rate '0/s'"},
      {{"queues", "limit", "mail", "--per-key", "0"}, "--per-key: 0 is too small"},
      {{"queues", "limit", "mail"}, "say which limits to set"},
      {{"queues", "resume", "Mail"}, "no queue named 'Mail'"}};
  for (const auto& [args, message] : refusals) {
    auto all = args;
    all.push_back(db());
    const auto refused = run(all);
    EXPECT_NE(refused.exit_code, 0) << message;
    EXPECT_TRUE(contains(refused.err, message)) << refused.err;
    const auto after = info();
    EXPECT_EQ(after.paused, before.paused) << message;
    EXPECT_EQ(after.limits, before.limits) << message;
    EXPECT_EQ(after.updated_at, before.updated_at) << message;
  }
  ASSERT_EQ(run({"queues", "resume", "mail", db()}).exit_code, 0);
  EXPECT_FALSE(info().paused);
  ASSERT_EQ(run({"queues", "limit", "mail", "--clear", "--global", "2", db()}).exit_code, 0);
  EXPECT_EQ(info().limits, (errand::QueueLimits{.global = 2}));
}

TEST_F(Cli, BenchMeasuresInFreshFilesAndLeavesTheDatabaseAlone) {
  const auto before = store->counts(2h);
  const auto bench_db = dir.file("bench.db");
  const auto result = run({"bench", "--db=sqlite:" + bench_db.string(), "--json", "--jobs", "300",
                           "--enqueue-single", "20", "--latency-samples", "10", "--workers", "2",
                           "--concurrency", "4"});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  const auto rows = json_lines(result.out);
  ASSERT_EQ(rows.size(), 1u) << result.out;
  const auto& row = rows[0];
  EXPECT_EQ(row.at("store"), "sqlite");
  EXPECT_EQ(row.at("jobs"), 300);
  EXPECT_EQ(row.at("workers"), 2);
  EXPECT_EQ(row.at("concurrency"), 4);
  EXPECT_EQ(row.at("runs_succeeded"), 300);
  EXPECT_EQ(row.at("dead_lettered"), 0);
  EXPECT_EQ(row.at("errand_version"), ERRAND_VERSION_STRING);  // <errand/version.hpp>
  for (const char* key : {"enqueue_single_jobs_per_s", "enqueue_batch_jobs_per_s",
                          "drain_jobs_per_s", "latency_p50_ms", "latency_p90_ms", "latency_p99_ms",
                          "cpu_ms_per_1000_jobs", "peak_rss_mb"}) {
    ASSERT_TRUE(row.contains(key)) << key;
    EXPECT_TRUE(row.at(key).is_number()) << key << ": " << row.at(key);
  }
  // Its scratch files are gone; the database the test set up is untouched.
  for (const auto& entry : std::filesystem::directory_iterator(dir.path())) {
    EXPECT_FALSE(entry.path().filename().string().starts_with("bench-")) << entry.path();
  }
  const auto after = store->counts(2h);
  EXPECT_EQ(after.ready, before.ready);
  EXPECT_EQ(after.dead, before.dead);
}

TEST_F(Cli, BenchWithoutJsonPrintsAMarkdownTable) {
  const auto bench_db = dir.file("bench.db");
  const auto result =
      run({"bench", "--db=sqlite:" + bench_db.string(), "--jobs", "200", "--enqueue-single", "10",
           "--latency-samples", "5", "--concurrency", "4", "--prefetch", "0"});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  for (const char* line :
       {"| measure | result | detail |", "| --- | ---: | --- |", "| drain, 1 x 4 | ",
        "| enqueue, batches of 1000 | ", "| latency p50 / p90 / p99 | "}) {
    EXPECT_NE(result.out.find(line), std::string::npos) << line << "\n" << result.out;
  }
  EXPECT_NE(result.out.find("Runs: 200 started, 200 succeeded"), std::string::npos) << result.out;
  EXPECT_TRUE(result.out.starts_with("errand " ERRAND_VERSION_STRING " bench — ")) << result.out;
}

TEST_F(Cli, CronNextPrintsFireTimesWithTheZonesOffset) {
  const auto text = run({"cron", "next", "30 2 * * *", "--tz", "America/New_York", "--from",
                         "2026-03-07T12:00", "--count", "2"});
  ASSERT_EQ(text.exit_code, 0) << text.err;
  EXPECT_EQ(text.out, "2026-03-08T03:00:00-04:00\n2026-03-09T02:30:00-04:00\n");
  const auto json = run(
      {"cron", "next", "@every 90s", "--from", "2026-01-01T00:00:00Z", "--count", "2", "--json"});
  ASSERT_EQ(json.exit_code, 0) << json.err;
  const auto parsed = nlohmann::json::parse(json.out);
  EXPECT_EQ(parsed["spec"], "@every 90s");
  EXPECT_EQ(parsed["zone"], "UTC");
  EXPECT_EQ(parsed["fixed_time"], false);
  ASSERT_EQ(parsed["next"].size(), 2u);
  EXPECT_EQ(parsed["next"][0]["at"], "2026-01-01T00:01:30Z");
  EXPECT_EQ(parsed["next"][1]["unix"], 1767225780);
  // Bad input: clear errors, exit status 1 (2 from the parser for a bad --count).
  const auto bad_spec = run({"cron", "next", "0 25 * * *"});
  EXPECT_EQ(bad_spec.exit_code, 1);
  EXPECT_NE(bad_spec.err.find("hour field \"25\": 25 is outside 0-23"), std::string::npos)
      << bad_spec.err;
  const auto bad_zone = run({"cron", "next", "@daily", "--tz", "Nowhere/Town"});
  EXPECT_EQ(bad_zone.exit_code, 1);
  EXPECT_NE(bad_zone.err.find("unknown time zone \"Nowhere/Town\""), std::string::npos);
  const auto bad_from = run({"cron", "next", "@daily", "--from", "2026-02-30"});
  EXPECT_EQ(bad_from.exit_code, 1);
  EXPECT_NE(bad_from.err.find("no such date"), std::string::npos) << bad_from.err;
  const auto bad_count = run({"cron", "next", "@daily", "--count", "0"});
  EXPECT_NE(bad_count.exit_code, 0);
  EXPECT_TRUE(bad_count.out.empty());
}

// `errand cron`: each declared schedule with its definition, last tick and next 5 fire times;
// pause, resume and trigger change the store; unknown names are refused, naming the known ones.
TEST_F(Cli, CronListsPausesResumesAndTriggersSchedules) {
  const auto empty = run({"cron", db()});
  ASSERT_EQ(empty.exit_code, 0) << empty.err;
  EXPECT_TRUE(contains(empty.out, "no schedules")) << empty.out;

  const errand::Schedule schedule{
      .name = "nightly",
      .spec = "30 2 * * *",
      .zone = "America/New_York",
      .job = errand::scheduled_job(errand_test::RecordJob{.tag = 4}, {.queue = "reports"}),
      .missed = {.policy = errand::MissedPolicy::once}};
  store->fire_schedule(schedule, errand::CronSpec::parse(schedule.spec, schedule.zone));

  const auto text = run({"cron", db()});
  ASSERT_EQ(text.exit_code, 0) << text.err;
  for (const char* part : {"schedule nightly: active", "30 2 * * *  (time zone America/New_York)",
                           "Record on queue reports", "once (on time within", "none yet",
                           "0 fired, 0 skipped", "T02:30:00-0"}) {
    EXPECT_TRUE(contains(text.out, part)) << part << "\n" << text.out;
  }
  const auto listed = run({"cron", db(), "--json"});
  ASSERT_EQ(listed.exit_code, 0) << listed.err;
  const auto rows = json_lines(listed.out);
  ASSERT_EQ(rows.size(), 1u) << listed.out;
  EXPECT_EQ(rows[0].at("name"), "nightly");
  EXPECT_EQ(rows[0].at("zone"), "America/New_York");
  EXPECT_EQ(rows[0].at("payload"), nlohmann::json({{"tag", 4}}));
  EXPECT_EQ(rows[0].at("missed_policy"), "once");
  EXPECT_EQ(rows[0].at("state"), "active");
  EXPECT_EQ(rows[0].at("last_tick"), nullptr);
  ASSERT_EQ(rows[0].at("next").size(), 5u);
  for (const auto& at : rows[0].at("next"))
    EXPECT_TRUE(at.get<std::string>().find("T02:30:00-0") != std::string::npos) << at;

  ASSERT_EQ(run({"cron", "pause", "nightly", db()}).exit_code, 0);
  EXPECT_TRUE(store->list_schedules().at(0).paused);
  const auto paused = run({"cron", db()});
  EXPECT_TRUE(contains(paused.out, "schedule nightly: paused")) << paused.out;
  ASSERT_EQ(run({"cron", "resume", "nightly", db()}).exit_code, 0);
  EXPECT_FALSE(store->list_schedules().at(0).paused);

  const auto triggered = run({"cron", "trigger", "nightly", db(), "--json"});
  ASSERT_EQ(triggered.exit_code, 0) << triggered.err;
  const auto id = json_lines(triggered.out).at(0).at("id").get<errand::JobId>();
  const auto job = store->find_job(id, 2h);
  ASSERT_TRUE(job);
  EXPECT_EQ(job->queue, "reports");
  EXPECT_EQ(job->payload, R"({"tag":4})");
  const auto context = errand::parse_tick_context(job->context);
  ASSERT_TRUE(context) << job->context;
  EXPECT_EQ(context->schedule, "nightly");

  const auto in_use = run({"cron", "remove", "nightly", db()});
  EXPECT_EQ(in_use.exit_code, 1);
  EXPECT_TRUE(contains(in_use.err, "still in running code")) << in_use.err;
  ASSERT_EQ(store->list_schedules().size(), 1u);

  const auto ready = store->counts(2h).ready;
  const auto unknown = run({"cron", "trigger", "daily", db()});
  EXPECT_EQ(unknown.exit_code, 1);
  EXPECT_TRUE(contains(unknown.err, "no schedule named 'daily'")) << unknown.err;
  EXPECT_TRUE(contains(unknown.err, "known: nightly")) << unknown.err;
  const auto bad_name = run({"cron", "pause", "no such", db()});
  EXPECT_NE(bad_name.exit_code, 0);
  EXPECT_TRUE(contains(bad_name.err, "schedule name")) << bad_name.err;
  EXPECT_EQ(store->counts(2h).ready, ready) << "a refused command enqueued something";
  const auto forced = run({"cron", "remove", "nightly", "--force", db()});
  ASSERT_EQ(forced.exit_code, 0) << forced.err;
  EXPECT_TRUE(store->list_schedules().empty());
}

TEST_F(Cli, VersionIsTheLibrarysVersionHeader) {
  const auto result = run({"--version"});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_EQ(result.out, "errand " ERRAND_VERSION_STRING "\n");
}

TEST_F(Cli, MigrateCreatesANewDatabase) {
  const auto fresh = dir.file("fresh.db");
  const auto result = run({"migrate", "--db=sqlite:" + fresh.string()});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  SqliteDb sql(fresh);
  EXPECT_EQ(sql.text("SELECT value FROM errand_meta WHERE key = 'schema_version'"),
            std::to_string(errand::sqlite_schema_version()));
}

TEST_F(Cli, BadDatabaseUrlsAreClearErrors) {
  const auto bad_url = run({"status", "--db=mysql://x"});
  EXPECT_NE(bad_url.exit_code, 0);
  EXPECT_TRUE(contains(bad_url.err, "mysql:")) << bad_url.err;

  const auto notes = dir.file("notes.txt");
  errand_test::write_file(notes, std::string(2000, 'x'));
  const auto not_a_db = run({"status", "--db=sqlite:" + notes.string()});
  EXPECT_NE(not_a_db.exit_code, 0);
  EXPECT_TRUE(contains(not_a_db.err, notes.string())) << not_a_db.err;
  EXPECT_EQ(read_file(notes), std::string(2000, 'x'));
}

}  // namespace
