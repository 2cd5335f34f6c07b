// errand::Web's GET /api/... handlers and /metrics: each reads the store through its public API
// and answers with the records' JSON (web/json_views.hpp). Unknown parameters are refused (400):
// a typo must not read as "no filter".
#include "web/api.hpp"
#include "web/job_params.hpp"
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
  const StoreGauges gauges = read_store_gauges(*store, options.lost_after, options.count_limit);
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
       {"counts", views::counts_json(store->counts(kLockTimeout, options.count_limit))},
       {"queues", queues},
       {"workers", {{"alive", gauges.workers_alive}, {"lost", gauges.workers_lost}}}});
}

WebResponse Web::Impl::jobs(const web::Call& call) {
  JobSearch search =
      web::parse_job_search(call.request.query, web::JobParamsUse::listing, kDefaultPageSize);
  if (options.search_time_limit > Duration{0}) search.scan_time_limit = options.search_time_limit;
  const JobFilter& filter = search.filter;
  const JobSearchPage page = search_jobs(*store, search);
  json rows = json::array();
  for (const JobInfo& j : page.jobs)
    rows.push_back(views::job_json(j));
  json body = {{"jobs", rows},
               {"limit", filter.limit},
               {"next", page.next ? json(web::cursor_text(*page.next)) : json(nullptr)}};
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
  filter.name = web::non_empty(call.request.query, "type");
  filter.limit = page_size(call, kDefaultPageSize);
  json rows = json::array();
  for (const DeadJob& d : store->list_dead(filter))
    rows.push_back(views::dead_json(d));
  return web::json_response({{"dead", rows}, {"limit", filter.limit}});
}

WebResponse Web::Impl::queues(const web::Call& call) {
  only_params(call, {});
  json rows = json::array();
  for (const QueueInfo& q : store->list_queues(options.count_limit))
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
  const StoreGauges gauges = read_store_gauges(*store, options.lost_after, options.count_limit);
  const MetricsSnapshot cluster = read_cluster_totals(*store);
  const MetricsSnapshot snapshot =
      (options.metrics ? *options.metrics : default_metrics()).snapshot();
  WebResponse response;
  response.content_type = std::string(kPrometheusContentType);
  response.body = prometheus_text(snapshot, &gauges, &cluster);
  return response;
}

}  // namespace errand
