// errand::Web's GET /api/... handlers and /metrics: each reads the store through its public API
// and answers with the records' JSON (web/json_views.hpp). Unknown parameters are refused (400):
// a typo must not read as "no filter".
#include "web/api.hpp"
#include "web/json_views.hpp"

#include <errand/cron.hpp>
#include <errand/job_search.hpp>
#include <errand/lifecycle.hpp>
#include <errand/metrics.hpp>
#include <errand/store.hpp>
#include <errand/version.hpp>

#include "core/human_text.hpp"

#include <fmt/format.h>

#include <chrono>
#include <initializer_list>
#include <limits>

namespace errand {

namespace {

using nlohmann::json;

// Tells running jobs from abandoned ones: the workers' default lock_timeout.
constexpr Duration kLockTimeout = std::chrono::hours{2};

// Refuses any query parameter not in `known` (or starting with `prefix`, when given).
void only_params(const web::Call& call, std::initializer_list<std::string_view> known,
                 std::string_view prefix = {}) {
  for (const auto& entry : call.request.query)
    web::refuse_unknown(entry.first, known, "parameter", "this call", prefix);
}

std::size_t page_size(const web::Call& call, std::int64_t fallback) {
  const auto limit = call.param("limit");
  return static_cast<std::size_t>(limit ? web::parse_int(*limit, 1, kMaxPageSize, "limit")
                                        : fallback);
}

// Payload conditions are the parameters named payload.FIELD (errand/job_search.hpp).
constexpr std::string_view kPayloadPrefix = "payload.";

JobOrder parse_order(std::string_view text) {
  if (text == "natural") return JobOrder::natural;
  if (text == "newest") return JobOrder::newest;
  if (text == "oldest") return JobOrder::oldest;
  throw web::HttpError(400,
                       fmt::format("unknown sort {} (natural, newest, oldest)", web::quote(text)));
}

// A keyset cursor as the API shows it: "ID.PRIORITY.AT" (AT in microseconds since the epoch).
std::string cursor_text(const JobCursor& cursor) {
  return fmt::format("{}.{}.{}", cursor.id, cursor.priority, cursor.at.time_since_epoch().count());
}

JobCursor parse_cursor(std::string_view text) {
  const auto bad = [&] {
    return web::HttpError(
        400, fmt::format("after {} is not a cursor this API returned (next)", web::quote(text)));
  };
  const auto first = text.find('.');
  const auto second = first == std::string_view::npos ? first : text.find('.', first + 1);
  if (second == std::string_view::npos) throw bad();
  constexpr std::int64_t kMax = std::numeric_limits<std::int64_t>::max();
  try {
    JobCursor cursor;
    cursor.id = web::parse_int(text.substr(0, first), 1, kMax, "after");
    cursor.priority = static_cast<std::int32_t>(web::parse_int(
        text.substr(first + 1, second - first - 1), std::numeric_limits<std::int32_t>::min(),
        std::numeric_limits<std::int32_t>::max(), "after"));
    cursor.at = TimePoint{Duration{web::parse_int(text.substr(second + 1), -kMax, kMax, "after")}};
    return cursor;
  } catch (const web::HttpError&) {
    throw bad();
  }
}

// A non-empty text parameter, if given.
std::optional<std::string> text_param(const web::Call& call, std::string_view name) {
  const auto value = call.param(name);
  if (value && value->empty()) return std::nullopt;
  return value;
}

// A time parameter (ISO 8601 with Z or an offset, or a date: UTC), if given.
std::optional<TimePoint> time_param(const web::Call& call, std::string_view name) {
  const auto value = text_param(call, name);
  if (!value) return std::nullopt;
  try {
    return parse_time_in_zone(*value, "UTC");
  } catch (const CronError& e) {
    throw web::HttpError(400, fmt::format("{}: {}", name, e.what()));
  }
}

}  // namespace

WebResponse Web::Impl::session_info(const web::Call& call) {
  only_params(call, {});
  return web::json_response({{"store", options.store_label},
                             {"version", ERRAND_VERSION_STRING},
                             {"read_only", options.read_only},
                             {"csrf", csrf},
                             {"who", call.who},
                             {"base_path", options.base_path}});
}

WebResponse Web::Impl::overview(const web::Call& call) {
  only_params(call, {});
  const StoreGauges gauges = read_store_gauges(*store, options.lost_after);
  json queues = json::array();
  for (const QueueInfo& q : gauges.queues)
    queues.push_back(views::queue_json(q));
  const TimePoint now = store->clock().now();
  const auto this_minute = std::chrono::floor<std::chrono::minutes>(now);
  const auto activity =
      store->list_activity(this_minute - std::chrono::minutes{views::kActivityMinutesShown - 1});
  return web::json_response(
      {{"store", options.store_label},
       {"now", detail::iso_utc(now, true)},
       {"activity", views::activity_json(activity, this_minute)},
       {"counts", views::counts_json(store->counts(kLockTimeout))},
       {"queues", queues},
       {"workers", {{"alive", gauges.workers_alive}, {"lost", gauges.workers_lost}}}});
}

WebResponse Web::Impl::jobs(const web::Call& call) {
  only_params(call,
              {"state", "type", "queue", "failing", "priority_min", "priority_max", "created_from",
               "created_before", "sort", "after", "limit"},
              kPayloadPrefix);
  JobSearch search;
  JobFilter& filter = search.filter;
  if (const auto state = text_param(call, "state")) {
    filter.state = parse_job_state(*state);
    if (!filter.state) {
      throw web::HttpError(400, fmt::format("unknown state {} (ready, scheduled, running, "
                                            "abandoned, completed, cancelled, discarded)",
                                            web::quote(*state)));
    }
  }
  filter.name = text_param(call, "type");
  filter.queue = text_param(call, "queue");
  if (const auto failing = call.param("failing")) filter.failing_only = *failing == "true";
  constexpr std::int64_t kPriorityLimit = std::numeric_limits<std::int32_t>::max();
  if (const auto p = text_param(call, "priority_min"))
    filter.min_priority = web::parse_int(*p, -kPriorityLimit, kPriorityLimit, "priority_min");
  if (const auto p = text_param(call, "priority_max"))
    filter.max_priority = web::parse_int(*p, -kPriorityLimit, kPriorityLimit, "priority_max");
  filter.created_from = time_param(call, "created_from");
  filter.created_before = time_param(call, "created_before");
  if (const auto sort = text_param(call, "sort")) filter.order = parse_order(*sort);
  if (const auto after = text_param(call, "after")) filter.after = parse_cursor(*after);
  filter.limit = page_size(call, 50);
  filter.lock_timeout = kLockTimeout;
  for (const auto& [key, value] : call.request.query) {
    if (key.starts_with(kPayloadPrefix))
      search.payload.push_back({key.substr(kPayloadPrefix.size()), value});
  }
  const JobSearchPage page = search_jobs(*store, search);
  json rows = json::array();
  for (const JobInfo& j : page.jobs)
    rows.push_back(views::job_json(j));
  json body = {{"jobs", rows},
               {"limit", filter.limit},
               {"next", page.next ? json(cursor_text(*page.next)) : json(nullptr)}};
  if (!search.payload.empty()) {
    body["scanned"] = page.scanned;
    body["scan_limited"] = page.scan_limited;
  }
  return web::json_response(body);
}

WebResponse Web::Impl::job(const web::Call& call, std::int64_t id) {
  only_params(call, {});
  const std::optional<JobInfo> found = store->find_job(id, kLockTimeout);
  if (!found) throw web::HttpError(404, fmt::format("no job with id {}", id));
  return web::json_response(views::job_json(*found));
}

WebResponse Web::Impl::dead(const web::Call& call) {
  only_params(call, {"type", "limit"});
  DeadFilter filter;
  filter.name = text_param(call, "type");
  filter.limit = page_size(call, 50);
  json rows = json::array();
  for (const DeadJob& d : store->list_dead(filter))
    rows.push_back(views::dead_json(d));
  return web::json_response({{"dead", rows}, {"limit", filter.limit}});
}

WebResponse Web::Impl::queues(const web::Call& call) {
  only_params(call, {});
  json rows = json::array();
  for (const QueueInfo& q : store->list_queues())
    rows.push_back(views::queue_json(q));
  return web::json_response({{"queues", rows}});
}

WebResponse Web::Impl::schedules(const web::Call& call) {
  only_params(call, {});
  json rows = json::array();
  for (const ScheduleInfo& s : store->list_schedules())
    rows.push_back(views::schedule_json(s));
  return web::json_response({{"schedules", rows}});
}

WebResponse Web::Impl::workers(const web::Call& call) {
  only_params(call, {});
  json rows = json::array();
  for (const WorkerInfo& w : store->list_workers())
    rows.push_back(views::worker_json(w, options.lost_after));
  return web::json_response({{"workers", rows}});
}

WebResponse Web::Impl::metrics(const web::Call& call) {
  only_params(call, {});
  const StoreGauges gauges = read_store_gauges(*store, options.lost_after);
  const MetricsSnapshot snapshot =
      (options.metrics ? *options.metrics : default_metrics()).snapshot();
  WebResponse response;
  response.content_type = std::string(kPrometheusContentType);
  response.body = prometheus_text(snapshot, &gauges);
  return response;
}

}  // namespace errand
