// The web API (errand/web.hpp) over real HTTP, on each store: what it shows matches the store,
// its actions change the store, and it refuses what it must (no sign-in, no CSRF token,
// read-only, bad input, a reachable address without a token) with a 4xx and nothing changed.
#include "support/conformance.hpp"

#include <errand/web.hpp>

#include <httplib.h>
#include <nlohmann/json.hpp>

#include <fmt/chrono.h>

#include <ctime>
#include <set>

using errand::JobId;
using errand::WorkerEvent;
using nlohmann::json;
using namespace std::chrono_literals;

namespace errand_test {
namespace {

// A WebServer on a free loopback port over the test's store, with an httplib client.
class Served {
 public:
  Served(std::shared_ptr<errand::Store> store, errand::WebOptions options = {}) {
    options.listen = "127.0.0.1:0";
    if (!options.audit) options.audit = [this](std::string_view line) { record(line); };
    server_ = std::make_unique<errand::WebServer>(std::move(store), std::move(options));
    server_->start();
    client_ = std::make_unique<httplib::Client>("127.0.0.1", server_->port());
    client_->set_read_timeout(30, 0);
  }

  httplib::Result get(const std::string& path, httplib::Headers headers = {}) {
    return client_->Get(path, headers);
  }
  // A POST of `body` with the CSRF token (unless `csrf` is false).
  httplib::Result post(const std::string& path, const std::string& body = "{}", bool csrf = true,
                       httplib::Headers headers = {}) {
    if (csrf) headers.emplace("X-Errand-CSRF", session().value("csrf", ""));
    return client_->Post(path, headers, body, "application/json");
  }
  json session() {
    const auto r = get("/api/session");
    return r && r->status == 200 ? json::parse(r->body) : json::object();
  }
  static json body(const httplib::Result& r) {
    return r ? json::parse(r->body, nullptr, false) : json();
  }
  std::vector<std::string> audit() {
    std::lock_guard lock(mutex_);
    return audit_;
  }

 private:
  void record(std::string_view line) {
    std::lock_guard lock(mutex_);
    audit_.emplace_back(line);
  }
  std::mutex mutex_;
  std::vector<std::string> audit_;
  std::unique_ptr<errand::WebServer> server_;
  std::unique_ptr<httplib::Client> client_;
};

// Every byte but letters and digits as %XX.
std::string percent_encoded(std::string_view text) {
  std::string out;
  for (const unsigned char c : text) {
    if (std::isalnum(c)) {
      out += static_cast<char>(c);
    } else {
      constexpr char digits[] = "0123456789ABCDEF";
      out += '%';
      out += digits[c >> 4];
      out += digits[c & 15];
    }
  }
  return out;
}

int status(const httplib::Result& r) {
  return r ? r->status : -1;
}

}  // namespace

TEST_P(WebConformance, TheApiShowsWhatTheStoreHolds) {
  const JobId a = errand::enqueue(*store, RecordJob{.tag = 1});
  const JobId b = errand::enqueue(*store, HookJob{.tag = "<script>alert(1)</script>"},
                                  errand::EnqueueOptions{.queue = "mail"});
  Served web(store);
  const json overview = Served::body(web.get("/api/overview"));
  EXPECT_EQ(overview["counts"]["ready"], 2);
  EXPECT_EQ(overview["queues"].size(), 2u);
  const json jobs = Served::body(web.get("/api/jobs?state=ready"));
  ASSERT_EQ(jobs["jobs"].size(), 2u);
  const json mail = Served::body(web.get("/api/jobs?queue=mail"));
  ASSERT_EQ(mail["jobs"].size(), 1u);
  EXPECT_EQ(mail["jobs"][0]["id"], b);
  const json typed = Served::body(web.get("/api/jobs?type=Record"));
  ASSERT_EQ(typed["jobs"].size(), 1u);
  EXPECT_EQ(typed["jobs"][0]["id"], a);
  const json job = Served::body(web.get("/api/jobs/" + std::to_string(b)));
  EXPECT_EQ(job["payload"]["tag"], "<script>alert(1)</script>");  // data, as it was given
  EXPECT_EQ(Served::body(web.get("/api/queues"))["queues"].size(), 2u);
  EXPECT_EQ(Served::body(web.get("/api/workers"))["workers"].size(), 0u);
  const auto metrics = web.get("/metrics");
  ASSERT_EQ(status(metrics), 200);
  EXPECT_TRUE(contains(metrics->get_header_value("Content-Type"), "text/plain; version=0.0.4"));
  EXPECT_TRUE(contains(metrics->body, "errand_queue_jobs{queue=\"mail\",state=\"ready\"} 1\n"));
  const auto page = web.get("/");
  ASSERT_EQ(status(page), 200);
  EXPECT_TRUE(contains(page->get_header_value("Content-Security-Policy"), "script-src 'self'"));
  EXPECT_TRUE(contains(page->body, "assets/app.js"));
  EXPECT_EQ(status(web.get("/assets/app.js")), 200);
  EXPECT_EQ(status(web.get("/assets/nope.js")), 404);
}

TEST_P(WebConformance, TheOverviewChartsTheLastHourOfActivityMinuteByMinute) {
  const auto now = std::chrono::floor<std::chrono::minutes>(clock->now());
  const errand::ActivityMinute rows[] = {
      {.minute = now - 60min, .queue = "default", .completed = 100},  // more than an hour ago
      {.minute = now - 59min, .queue = "default", .completed = 7},
      {.minute = now,
       .queue = "default",
       .completed = 5,
       .failed = 1,
       .started = 4,
       .latency_sum = 8s,
       .latency_max = 4s},
      {.minute = now,
       .queue = "mail",
       .completed = 2,
       .started = 2,
       .latency_sum = 2s,
       .latency_max = 1s},
  };
  store->record_activity(rows);
  Served web(store);
  const json activity = Served::body(web.get("/api/overview"))["activity"];
  ASSERT_EQ(activity.size(), 60u);
  std::int64_t completed = 0;
  for (std::size_t i = 0; i < activity.size(); ++i) {
    completed += activity[i]["completed"].get<std::int64_t>();
    if (i > 0) {
      EXPECT_LT(activity[i - 1]["minute"], activity[i]["minute"]);
    }
    EXPECT_TRUE(contains(activity[i]["minute"].get<std::string>(), ":00Z"))
        << activity[i]["minute"];
  }
  EXPECT_EQ(completed, 14);
  const json& first = activity.front();
  EXPECT_EQ(first["completed"], 7);
  EXPECT_EQ(first["started"], 0);
  EXPECT_TRUE(first["latency_avg_s"].is_null());
  EXPECT_EQ(activity[1]["completed"], 0);
  const json& last = activity.back();
  EXPECT_EQ(last["completed"], 7);
  EXPECT_EQ(last["failed"], 1);
  EXPECT_EQ(last["started"], 6);
  EXPECT_DOUBLE_EQ(last["latency_avg_s"].get<double>(), 10.0 / 6.0);
  EXPECT_DOUBLE_EQ(last["latency_max_s"].get<double>(), 4.0);
}

TEST_P(WebConformance, JobsFilterByPriorityTimeAndPayloadAndPageOnFromTheCursor) {
  const auto start = clock->now();
  std::vector<JobId> ids;  // tag 0..5, priority tag % 3, created 10 s apart
  for (int tag = 0; tag < 6; ++tag) {
    ids.push_back(errand::enqueue(*store, RecordJob{.tag = tag},
                                  errand::EnqueueOptions{.priority = tag % 3}));
    clock->advance(10s);
  }
  Served web(store);
  const auto ids_in = [&](const std::string& query) {
    const auto r = web.get("/api/jobs?" + query);
    std::vector<JobId> got;
    EXPECT_EQ(status(r), 200) << query << ": " << (r ? r->body : "");
    std::cerr << (r ? r->body.substr(0, 600) : "") << "\n";
    const json body = Served::body(r);
    for (const json& j : body["jobs"])
      got.push_back(j["id"].get<JobId>());
    return got;
  };
  EXPECT_EQ(ids_in("payload.tag=3"), (std::vector{ids[3]}));
  EXPECT_EQ(ids_in("payload.tag=3&priority_min=1"), (std::vector<JobId>{}));  // tag 3: priority 0
  EXPECT_EQ(ids_in("payload.tag=%223%22"), (std::vector<JobId>{}));  // the string "3" is not 3
  EXPECT_EQ(ids_in("payload.tag=3&payload.other=1"), (std::vector<JobId>{}));
  EXPECT_EQ(ids_in("payload.tag=3.0"), (std::vector{ids[3]}));  // numbers by value
  EXPECT_EQ(ids_in("priority_min=2&sort=oldest"), (std::vector{ids[2], ids[5]}));
  EXPECT_EQ(ids_in("priority_min=1&priority_max=1&sort=newest"), (std::vector{ids[4], ids[1]}));
  const auto iso = [](errand::TimePoint t) {
    const auto seconds = std::chrono::floor<std::chrono::seconds>(t).time_since_epoch().count();
    return fmt::format("{:%Y-%m-%dT%H:%M:%SZ}", fmt::gmtime(static_cast<std::time_t>(seconds)));
  };
  EXPECT_EQ(ids_in("sort=oldest&created_from=" + percent_encoded(iso(start + 10s)) +
                   "&created_before=" + percent_encoded(iso(start + 30s))),
            (std::vector{ids[1], ids[2]}));
  // Pages of 4 in claim order, then the rest from the cursor.
  const json first = Served::body(web.get("/api/jobs?limit=4"));
  ASSERT_EQ(first["jobs"].size(), 4u);
  ASSERT_TRUE(first["next"].is_string());
  const json rest = Served::body(
      web.get("/api/jobs?limit=4&after=" + percent_encoded(first["next"].get<std::string>())));
  ASSERT_EQ(rest["jobs"].size(), 2u);
  EXPECT_TRUE(rest["next"].is_null());
  std::set<JobId> seen;
  for (const json* page : {&first, &rest}) {
    for (const json& j : (*page)["jobs"])
      seen.insert(j["id"].get<JobId>());
  }
  EXPECT_EQ(seen.size(), 6u);
  // A payload search says how many rows it read.
  const json searched = Served::body(web.get("/api/jobs?payload.tag=5"));
  EXPECT_EQ(searched["scanned"], 6);
  EXPECT_EQ(searched["scan_limited"], false);
}

TEST_P(WebConformance, BadInputGetsAClear4xxAndChangesNothing) {
  const JobId id = errand::enqueue(*store, RecordJob{.tag = 1});
  Served web(store);
  const auto expect_4xx = [&](const httplib::Result& r, int code, std::string_view says) {
    ASSERT_TRUE(r) << says;
    EXPECT_EQ(r->status, code) << r->body;
    EXPECT_TRUE(contains(Served::body(r).value("error", ""), says)) << r->body;
  };
  expect_4xx(web.get("/api/jobs?limit=100000"), 400, "limit must be");
  expect_4xx(web.get("/api/jobs?limit=-1"), 400, "limit must be");
  expect_4xx(web.get("/api/jobs?colour=red"), 400, "unknown parameter");
  expect_4xx(web.get("/api/jobs?state=ready%27%20OR%20%271%27%3D%271"), 400, "unknown state");
  expect_4xx(web.get("/api/jobs?after=1.2"), 400, "not a cursor");
  expect_4xx(web.get("/api/jobs?after=0.0.0"), 400, "not a cursor");
  expect_4xx(web.get("/api/jobs?after=1.0.x%27"), 400, "not a cursor");
  expect_4xx(web.get("/api/jobs?sort=id%20DESC"), 400, "unknown sort");
  expect_4xx(web.get("/api/jobs?priority_min=high"), 400, "priority_min");
  expect_4xx(web.get("/api/jobs?priority_max=99999999999"), 400, "priority_max");
  expect_4xx(web.get("/api/jobs?created_from=yesterday"), 400, "created_from");
  expect_4xx(web.get("/api/jobs?created_before=2026-13-01"), 400, "created_before");
  expect_4xx(web.get("/api/jobs?payload.=1"), 400, "unknown parameter");
  expect_4xx(web.get("/api/jobs/abc"), 400, "job id");
  expect_4xx(web.get("/api/jobs/99999999"), 404, "no job");
  expect_4xx(web.get("/api/nothing"), 404, "no such API");
  expect_4xx(web.post("/api/jobs/abc/cancel"), 400, "job id");
  expect_4xx(web.post("/api/dead/retry", "{not json"), 400, "not valid JSON");
  expect_4xx(web.post("/api/dead/retry", "[1,2]"), 400, "JSON object");
  expect_4xx(web.post("/api/dead/purge", "{}"), 400, "say which dead jobs");
  expect_4xx(web.post("/api/dead/purge", R"({"ids": []})"), 400, "ids must be");
  expect_4xx(web.post("/api/dead/purge", R"({"ids": ["1; DROP TABLE jobs"]})"), 400, "positive");
  expect_4xx(web.post("/api/dead/purge", R"({"type": ""})"), 400, "type must be");
  expect_4xx(web.post("/api/dead/purge", R"({"all": "yes"})"), 400, "all must be true");
  expect_4xx(web.post("/api/queues/default/limits", R"({"global": 0})"), 400, "global must be");
  expect_4xx(web.post("/api/queues/default/limits", R"({"rate": "lots"})"), 400, "rate");
  expect_4xx(web.post("/api/queues/de%25fault/pause"), 400, "invalid queue name");
  expect_4xx(web.post("/api/queues/nope/pause"), 404, "no queue named");
  expect_4xx(web.post("/api/schedules/nope/trigger"), 404, "no schedule");
  expect_4xx(web.post("/api/jobs/" + std::to_string(id) + "/cancel", R"({"why": 1})"), 400,
             "unknown field");
  // Bulk actions on the jobs name them on purpose, with a filter the listing would take.
  expect_4xx(web.post("/api/jobs/cancel", "{}"), 400, "say which jobs");
  expect_4xx(web.post("/api/jobs/delete", R"({"ids": [1], "all": true})"), 400, "say which jobs");
  expect_4xx(web.post("/api/jobs/delete", R"({"all": true})"), 400, "needs a filter");
  expect_4xx(web.post("/api/jobs/delete", R"({"all": false, "filter": {}})"), 400, "all must be");
  expect_4xx(web.post("/api/jobs/delete", R"({"all": true, "filter": []})"), 400, "filter must");
  expect_4xx(web.post("/api/jobs/delete", R"({"all": true, "filter": {"colour": "red"}})"), 400,
             "unknown filter field");
  expect_4xx(web.post("/api/jobs/delete", R"({"all": true, "filter": {"limit": "5"}})"), 400,
             "unknown filter field");
  expect_4xx(web.post("/api/jobs/delete", R"({"all": true, "filter": {"state": "all"}})"), 400,
             "unknown state");
  expect_4xx(web.post("/api/jobs/delete", R"({"all": true, "filter": {"type": {"$ne": 1}}})"), 400,
             "must be text");
  expect_4xx(web.post("/api/jobs/delete", R"({"all": true, "filter": {}, "after": "1"})"), 400,
             "not a cursor");
  expect_4xx(web.post("/api/jobs/delete", R"({"ids": [1], "after": "1.0.0"})"), 400, "go with all");
  expect_4xx(web.post("/api/jobs/retry", R"({"ids": [1], "reason": "x"})"), 400, "unknown field");
  expect_4xx(web.post("/api/jobs/delete", json{{"ids", std::vector<int>(501, 1)}}.dump()), 400,
             "ids must be");
  expect_4xx(web.post("/api/jobs/explode", R"({"ids": [1]})"), 404, "retry, cancel and delete");
  expect_4xx(web.post("/api/jobs/99999999/delete"), 404, "no job");
  // SQL and LIKE metacharacters are values, never syntax: they match nothing.
  for (const std::string hostile : {"%", "_", "Rec%", "' OR '1'='1", "\\", "Record' --"}) {
    const auto p =
        web.get("/api/jobs?payload." + percent_encoded(hostile) + "=" + percent_encoded(hostile));
    ASSERT_EQ(status(p), 200) << hostile;
    EXPECT_EQ(Served::body(p)["jobs"].size(), 0u) << hostile;
    const auto r = web.get("/api/jobs?type=" + percent_encoded(hostile));
    ASSERT_EQ(status(r), 200) << hostile;
    EXPECT_EQ(Served::body(r)["jobs"].size(), 0u) << hostile;
    const auto q = web.get("/api/jobs?queue=" + percent_encoded(hostile));
    ASSERT_EQ(status(q), 200) << hostile;
    EXPECT_EQ(Served::body(q)["jobs"].size(), 0u) << hostile;
    for (const std::string& field :
         std::vector<std::string>{"type", "queue", "payload.tag", "payload." + hostile}) {
      const auto d =
          web.post("/api/jobs/delete", json{{"all", true}, {"filter", {{field, hostile}}}}.dump());
      ASSERT_EQ(status(d), 200) << hostile;
      EXPECT_EQ(Served::body(d)["read"], 0) << hostile;
    }
  }
  // Nothing changed.
  ASSERT_TRUE(store->find_job(id, kLockTimeout));
  EXPECT_EQ(store->find_job(id, kLockTimeout)->state, errand::JobState::ready);
  EXPECT_EQ(rows_in("jobs"), 1);
  for (const errand::QueueInfo& q : store->list_queues()) {
    EXPECT_FALSE(q.paused);
    EXPECT_FALSE(q.limits.any());
  }
}

TEST_P(WebConformance, ActionsChangeTheStoreAndAreAudited) {
  // Two dead jobs (an unknown type, dead-lettered at once).
  errand::NewJob unknown;
  unknown.name = "Unknown";
  unknown.payload = "{}";
  const JobId d1 = enqueue_raw(unknown);
  const JobId d2 = enqueue_raw(unknown);
  {
    errand::WorkerOptions options = worker_options();
    options.max_retries = 0;
    errand::Worker worker(store, registry, state, options);
    worker.run_until_idle();
  }
  ASSERT_EQ(all_dead().size(), 2u);
  Served web(store);
  const auto retried = web.post("/api/dead/retry", json{{"ids", {d1}}}.dump());
  ASSERT_EQ(status(retried), 200) << retried->body;
  EXPECT_EQ(Served::body(retried)["count"], 1);
  EXPECT_EQ(store->find_job(d1, kLockTimeout)->state, errand::JobState::ready);
  const auto purged = web.post("/api/dead/purge", R"({"type": "Unknown"})");
  EXPECT_EQ(Served::body(purged)["count"], 1);
  EXPECT_FALSE(store->find_job(d2, kLockTimeout));
  // Pause and resume a queue; limits.
  EXPECT_EQ(status(web.post("/api/queues/default/pause")), 200);
  EXPECT_TRUE(store->list_queues().front().paused);
  EXPECT_EQ(status(web.post("/api/queues/default/resume")), 200);
  EXPECT_FALSE(store->list_queues().front().paused);
  const auto limits = web.post("/api/queues/default/limits", R"({"global": 3, "rate": "10/s"})");
  ASSERT_EQ(status(limits), 200) << limits->body;
  EXPECT_EQ(store->list_queues().front().limits.global, 3);
  // Cancel the waiting job; retrying it then puts it back.
  const auto cancelled = web.post("/api/jobs/" + std::to_string(d1) + "/cancel");
  EXPECT_EQ(Served::body(cancelled)["result"], "cancelled");
  EXPECT_EQ(store->find_job(d1, kLockTimeout)->state, errand::JobState::cancelled);
  EXPECT_EQ(status(web.post("/api/jobs/" + std::to_string(d1) + "/cancel")), 409);
  EXPECT_EQ(status(web.post("/api/jobs/" + std::to_string(d1) + "/retry")), 200);
  EXPECT_EQ(store->find_job(d1, kLockTimeout)->state, errand::JobState::ready);
  const std::vector<std::string> audit = web.audit();
  const auto logged = [&](std::string_view what) {
    return std::any_of(audit.begin(), audit.end(),
                       [&](const std::string& line) { return contains(line, what); });
  };
  EXPECT_TRUE(logged("open from 127.0.0.1: retry dead jobs " + std::to_string(d1) + ": 1 job(s)"));
  EXPECT_TRUE(logged("purge the dead jobs of type \"Unknown\": 1 job(s)"));
  EXPECT_TRUE(logged("pause queue \"default\": done"));
  EXPECT_TRUE(logged("cancel job " + std::to_string(d1) + ": cancelled"));
}

TEST_P(WebConformance, BulkActionsTakeSelectedJobsOrAllMatchingTheFilterPageByPage) {
  // 502 scheduled Bulk jobs (tags 0..501), one Record job in another queue.
  std::vector<errand::NewJob> batch;
  for (int i = 0; i <= 501; ++i) {
    batch.push_back(errand::NewJob{.name = "Bulk",
                                   .payload = json{{"tag", i}, {"even", i % 2 == 0}}.dump(),
                                   .delay = std::chrono::hours{1}});
  }
  const std::vector<JobId> ids = store->enqueue(batch);
  const JobId other = errand::enqueue(*store, RecordJob{.tag = 1},
                                      errand::EnqueueOptions{.delay = 1h, .queue = "mail"});
  Served web(store);
  const auto state_of = [&](JobId id) {
    const auto job = store->find_job(id, kLockTimeout);
    return job ? std::optional(job->state) : std::nullopt;
  };
  // A payload search lists newest first unless told otherwise.
  const auto listed = [&](const std::string& query) {
    std::vector<JobId> got;
    const auto r = web.get("/api/jobs?" + query);
    EXPECT_EQ(status(r), 200) << query << ": " << (r ? r->body : "");
    const json body = Served::body(r);
    for (const json& j : body["jobs"])
      got.push_back(j["id"].get<JobId>());
    return got;
  };
  EXPECT_EQ(listed("type=Bulk&payload.even=true&limit=3"),
            (std::vector{ids[500], ids[498], ids[496]}));
  EXPECT_EQ(listed("type=Bulk&payload.even=true&limit=3&sort=natural"),
            (std::vector{ids[0], ids[2], ids[4]}));
  // Cancel by a payload field: one job.
  const auto one = web.post("/api/jobs/cancel",
                            R"({"all": true, "filter": {"type": "Bulk", "payload.tag": 3}})");
  ASSERT_EQ(status(one), 200) << one->body;
  EXPECT_EQ(Served::body(one)["counts"], (json{{"cancelled", 1}}));
  EXPECT_EQ(Served::body(one)["next"], nullptr);
  EXPECT_EQ(state_of(ids[3]), errand::JobState::cancelled);
  // Retry it and a waiting one by id: one retried, one not finished.
  const auto retried = web.post("/api/jobs/retry", json{{"ids", {ids[3], ids[4]}}}.dump());
  EXPECT_EQ(Served::body(retried)["counts"], (json{{"not finished", 1}, {"retried", 1}}));
  EXPECT_EQ(state_of(ids[3]), errand::JobState::ready);
  // Delete every scheduled Bulk job: 500 a call, the second call goes on from `next`.
  const json filter = {{"type", "Bulk"}, {"state", "scheduled"}};
  const auto first = web.post("/api/jobs/delete", json{{"all", true}, {"filter", filter}}.dump());
  ASSERT_EQ(status(first), 200) << first->body;
  EXPECT_EQ(Served::body(first)["counts"], (json{{"deleted", 500}}));
  ASSERT_TRUE(Served::body(first)["next"].is_string());
  const auto second = web.post(
      "/api/jobs/delete",
      json{{"all", true}, {"filter", filter}, {"after", Served::body(first)["next"]}}.dump());
  EXPECT_EQ(Served::body(second)["counts"], (json{{"deleted", 1}}));  // 502 less the ready one
  EXPECT_EQ(Served::body(second)["next"], nullptr);
  for (const JobId id : ids)
    EXPECT_EQ(state_of(id), id == ids[3] ? std::optional(errand::JobState::ready) : std::nullopt);
  EXPECT_EQ(state_of(other), errand::JobState::scheduled);
  // A job a worker holds is not deleted; a single delete says so.
  store->register_worker(registration("w"));
  ASSERT_EQ(store->claim("w", 1, kLockTimeout).size(), 1u);
  const auto held = web.post("/api/jobs/" + std::to_string(ids[3]) + "/delete");
  EXPECT_EQ(status(held), 409);
  EXPECT_TRUE(contains(Served::body(held).value("error", ""), "cancel it first"));
  const auto bulk_held = web.post("/api/jobs/delete", json{{"ids", {ids[3], other}}}.dump());
  EXPECT_EQ(Served::body(bulk_held)["counts"], (json{{"deleted", 1}, {"held by a worker", 1}}));
  EXPECT_EQ(state_of(ids[3]), errand::JobState::running);
  EXPECT_EQ(state_of(other), std::nullopt);
  const std::vector<std::string> audit = web.audit();
  const auto logged = [&](std::string_view what) {
    return std::any_of(audit.begin(), audit.end(),
                       [&](const std::string& line) { return contains(line, what); });
  };
  EXPECT_TRUE(logged(R"(cancel the jobs matching {"payload.tag":3,"type":"Bulk"}: cancelled 1)"));
  EXPECT_TRUE(
      logged("delete the jobs matching {\"state\":\"scheduled\",\"type\":\"Bulk\"} after "
             "job " +
             std::to_string(ids[500]) + ": deleted 1"));
  EXPECT_TRUE(logged("delete job " + std::to_string(ids[3]) + ": held by a worker"));
}

TEST_P(WebConformance, CancellingARunningJobFiresItsStopToken) {
  Gate started;
  state.hook = wait_for_cancel(started);
  const JobId id = errand::enqueue(*store, HookJob{.tag = "long"});
  errand::Worker worker(store, registry, state, worker_options());
  Served web(store);
  {
    BackgroundWorker background(worker);
    ASSERT_TRUE(started.wait());
    const auto r =
        web.post("/api/jobs/" + std::to_string(id) + "/cancel", R"({"reason": "from the test"})");
    EXPECT_EQ(Served::body(r)["result"], "requested");
    ASSERT_TRUE(events.wait_for(WorkerEvent::Kind::cancelled, 1));
  }
  EXPECT_EQ(store->find_job(id, kLockTimeout)->state, errand::JobState::cancelled);
  EXPECT_EQ(store->find_job(id, kLockTimeout)->cancel_reason, "from the test");
}

TEST_P(WebConformance, APostWithoutTheCsrfTokenIsRefused) {
  Served web(store);
  const auto r = web.post("/api/queues/default/pause", "{}", /*csrf=*/false);
  EXPECT_EQ(status(r), 403);
  EXPECT_TRUE(contains(Served::body(r).value("error", ""), "CSRF"));
  const auto wrong = web.post("/api/queues/default/pause", "{}", false, {{"X-Errand-CSRF", "0"}});
  EXPECT_EQ(status(wrong), 403);
  EXPECT_FALSE(store->list_queues().front().paused);
}

TEST_P(WebConformance, ReadOnlyRefusesEveryPost) {
  Served web(store, {.read_only = true});
  EXPECT_EQ(web.session()["read_only"], true);
  const auto r = web.post("/api/queues/default/pause");
  EXPECT_EQ(status(r), 403);
  EXPECT_TRUE(contains(Served::body(r).value("error", ""), "read-only"));
  EXPECT_FALSE(store->list_queues().front().paused);
}

TEST_P(WebConformance, ATokenOrBasicAuthGuardsEverything) {
  Served web(store, {.token = "s3cret-token", .basic_user = "ops", .basic_password = "pw:1"});
  EXPECT_EQ(status(web.get("/api/session")), 401);
  EXPECT_EQ(status(web.get("/metrics")), 401);
  const auto page = web.get("/");
  EXPECT_EQ(status(page), 401);
  EXPECT_TRUE(contains(page->body, "Access token"));  // the sign-in form
  EXPECT_TRUE(contains(page->get_header_value("WWW-Authenticate"), "Basic"));
  EXPECT_EQ(status(web.get("/api/session", {{"Authorization", "Bearer wrong"}})), 401);
  EXPECT_EQ(status(web.get("/api/session", {{"Authorization", "Bearer s3cret-token"}})), 200);
  // ops:pw:1 and ops:wrong, base64.
  EXPECT_EQ(status(web.get("/api/session", {{"Authorization", "Basic b3BzOnB3OjE="}})), 200);
  EXPECT_EQ(status(web.get("/api/session", {{"Authorization", "Basic b3BzOndyb25n"}})), 401);
  // Signing in with the token sets a session cookie that then works.
  const auto login = web.post("/login", "token=s3cret-token", false,
                              {{"Content-Type", "application/x-www-form-urlencoded"}});
  ASSERT_EQ(status(login), 303);
  const std::string cookie = login->get_header_value("Set-Cookie");
  EXPECT_TRUE(contains(cookie, "HttpOnly"));
  EXPECT_TRUE(contains(cookie, "SameSite=Strict"));
  const std::string pair = cookie.substr(0, cookie.find(';'));
  EXPECT_EQ(status(web.get("/api/session", {{"Cookie", pair}})), 200);
  EXPECT_EQ(status(web.post("/login", "token=nope", false,
                            {{"Content-Type", "application/x-www-form-urlencoded"}})),
            401);
  // The secrets are never in a response or the audit log.
  for (const std::string& line : web.audit()) {
    EXPECT_FALSE(contains(line, "s3cret-token")) << line;
    EXPECT_FALSE(contains(line, "pw:1")) << line;
  }
}

TEST_P(WebConformance, AServerStoppedRightAfterItStartedStops) {
  // Before the fix, a stop() that came before the server's thread reached its accept loop left
  // that thread in accept() for good: stop() and the destructor never returned.
  for (int i = 0; i < 50; ++i) {
    errand::WebServer server(store, errand::WebOptions{.listen = "127.0.0.1:0"});
    server.start();
    server.stop();
  }
  errand::WebServer server(store, errand::WebOptions{.listen = "127.0.0.1:0"});
  server.start();  // the destructor stops it
}

TEST_P(WebConformance, AReachableAddressNeedsATokenOrBasicAuth) {
  try {
    errand::WebServer server(store, {.listen = "0.0.0.0:0"});
    ADD_FAILURE() << "a server on 0.0.0.0 without a token was built";
  } catch (const errand::ConfigError& e) {
    EXPECT_TRUE(contains(e.what(), "refusing to listen on 0.0.0.0:0")) << e.what();
  }
  EXPECT_THROW(errand::WebServer(store, {.listen = "192.168.1.10:8080"}), errand::ConfigError);
  EXPECT_THROW(errand::WebServer(store, {.listen = "example.com:8080"}), errand::ConfigError);
  EXPECT_THROW(errand::WebServer(store, {.listen = "no-port"}), errand::ConfigError);
  EXPECT_THROW(errand::WebServer(store, {.listen = "127.0.0.1:99999"}), errand::ConfigError);
  EXPECT_NO_THROW(errand::WebServer(store, {.listen = "0.0.0.0:0", .token = "t"}));
  EXPECT_NO_THROW(errand::WebServer(store, {.listen = "[::1]:0"}));
  EXPECT_NO_THROW(errand::WebServer(store, {.listen = "localhost:0"}));
  EXPECT_TRUE(errand::is_loopback_host("127.1.2.3"));
  EXPECT_FALSE(errand::is_loopback_host("128.0.0.1"));
}

TEST_P(WebConformance, ANegativeSearchTimeLimitIsRefused) {
  errand::WebOptions options;
  options.search_time_limit = -1ms;
  try {
    errand::Web web(store, options);
    ADD_FAILURE() << "a negative search_time_limit was taken";
  } catch (const errand::ConfigError& e) {
    EXPECT_TRUE(contains(e.what(), "search_time_limit must not be negative")) << e.what();
  }
  options.search_time_limit = 0ms;  // no time limit
  EXPECT_NO_THROW(errand::Web(store, options));
}

}  // namespace errand_test
