// errand::Web's POST /api/... handlers: each changes the store through its public API, audits who
// did what and with what result, and answers with JSON. A selection never defaults to "all": a
// bulk action names its jobs (ids, a type, or all: true).
#include "web/api.hpp"
#include "web/job_params.hpp"
#include "web/json_views.hpp"

#include <errand/error.hpp>
#include <errand/lifecycle.hpp>
#include <errand/queues.hpp>
#include <errand/store.hpp>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <map>

namespace errand {

namespace {

using nlohmann::json;

// The most ids one bulk action names.
constexpr std::size_t kMaxIds = 10'000;
// The most jobs one bulk action on the jobs acts on: by ids, or per call on "all matching the
// filter" (the answer's `next` goes on from there).
constexpr std::size_t kJobsPerBulkCall = 500;
constexpr std::size_t kMaxReasonBytes = 1000;

// Refuses any body field not in `known`.
void only_fields(const json& body, std::initializer_list<std::string_view> known) {
  for (const auto& item : body.items())
    web::refuse_unknown(item.key(), known, "field", "this action");
}

// An optional whole number field in [1, max]; null or absent: nullopt.
std::optional<std::int32_t> limit_field(const json& body, const char* name) {
  if (!body.contains(name) || body[name].is_null()) return std::nullopt;
  const json& v = body[name];
  if (!v.is_number_integer() || v.get<std::int64_t>() < 1 || v.get<std::int64_t>() > 1'000'000)
    throw web::HttpError(400,
                         fmt::format("{} must be a whole number from 1 to 1000000, or null", name));
  return static_cast<std::int32_t>(v.get<std::int64_t>());
}

std::string_view outcome_of(const CancelResult& result) {
  switch (result.kind) {
    case CancelResult::Kind::cancelled:
      return "cancelled";
    case CancelResult::Kind::requested:
      return "requested";
    case CancelResult::Kind::already_finished:
      return "already finished";
    case CancelResult::Kind::not_found:
      break;
  }
  return "not found";
}

std::string_view outcome_of(const RetryResult& result) {
  switch (result.kind) {
    case RetryResult::Kind::retried:
      return "retried";
    case RetryResult::Kind::not_finished:
      return "not finished";
    case RetryResult::Kind::not_found:
      break;
  }
  return "not found";
}

std::string_view outcome_of(const DeleteResult& result) {
  switch (result.kind) {
    case DeleteResult::Kind::deleted:
      return "deleted";
    case DeleteResult::Kind::held:
      return "held by a worker";
    case DeleteResult::Kind::not_found:
      break;
  }
  return "not found";
}

// The reason field of a cancel ({} when not given).
std::optional<std::string> reason_field(const json& body) {
  if (!body.contains("reason")) return std::nullopt;
  if (!body["reason"].is_string() || body["reason"].get<std::string>().size() > kMaxReasonBytes)
    throw web::HttpError(400,
                         fmt::format("reason must be text of at most {} bytes", kMaxReasonBytes));
  return body["reason"].get<std::string>();
}

// The ids a bulk action names: a list of 1 to `max` positive whole numbers.
std::vector<JobId> ids_field(const json& ids, std::size_t max) {
  if (!ids.is_array() || ids.empty() || ids.size() > max)
    throw web::HttpError(400, fmt::format("ids must be a list of 1 to {} job ids", max));
  std::vector<JobId> out;
  for (const json& id : ids) {
    if (!id.is_number_integer() || id.get<std::int64_t>() < 1)
      throw web::HttpError(400, "each id must be a positive whole number");
    out.push_back(id.get<std::int64_t>());
  }
  return out;
}

// `ids` for the audit log: each of up to 20, else how many ("jobs 1, 2" or "300 jobs by id").
std::string ids_text(const std::vector<JobId>& ids, std::string_view noun) {
  return ids.size() <= 20 ? fmt::format("{} {}", noun, fmt::join(ids, ", "))
                          : fmt::format("{} {} by id", ids.size(), noun);
}

// A cancel's reason: the body's, else who cancelled from the dashboard.
std::string cancel_reason(const json& body, const std::string& who) {
  return reason_field(body).value_or("cancelled from the dashboard by " + who);
}

// The jobs a bulk action on the jobs acts on in this call.
struct BulkJobs {
  std::vector<JobId> ids;
  std::optional<JobCursor> next;       // "all": where the next call goes on
  std::optional<std::size_t> scanned;  // "all": the rows the search read
  std::string text;                    // for the audit log
};

// A bulk action's "filter" object as parameters (values: text, or numbers and booleans as JSON).
web::Params filter_params(const json& filter) {
  if (!filter.is_object())
    throw web::HttpError(400, "filter must be an object of GET /api/jobs's parameters");
  web::Params params;
  for (const auto& item : filter.items()) {
    const json& v = item.value();
    if (!v.is_string() && !v.is_number() && !v.is_boolean())
      throw web::HttpError(400, fmt::format("filter field {} must be text, a number or a boolean",
                                            web::quote(item.key())));
    params.emplace_back(item.key(), v.is_string() ? v.get<std::string>() : v.dump());
  }
  return params;
}

DeadSelection dead_selection(const json& body) {
  only_fields(body, {"ids", "type", "all"});
  const int given = (body.contains("ids") ? 1 : 0) + (body.contains("type") ? 1 : 0) +
                    (body.contains("all") ? 1 : 0);
  if (given != 1)
    throw web::HttpError(400,
                         "say which dead jobs: exactly one of ids (a list), type or all: true");
  if (body.contains("all")) {
    if (body["all"] != true) throw web::HttpError(400, "all must be true (or leave it out)");
    return DeadSelection::all();
  }
  if (body.contains("type")) {
    if (!body["type"].is_string() || body["type"].get<std::string>().empty())
      throw web::HttpError(400, "type must be a job type's name (a non-empty string)");
    return DeadSelection::named(body["type"].get<std::string>());
  }
  return DeadSelection::with_ids(ids_field(body["ids"], kMaxIds));
}

std::string selection_text(const DeadSelection& s) {
  switch (s.kind) {
    case DeadSelection::Kind::all:
      return "every dead job";
    case DeadSelection::Kind::name:
      return "the dead jobs of type " + web::quote(s.name);
    case DeadSelection::Kind::ids:
      return ids_text(s.ids, "dead jobs");
    case DeadSelection::Kind::nothing:
      break;
  }
  return "nothing";
}

// The jobs a bulk action's body selects for this call: its ids, or the next page of "all"
// matching its filter.
BulkJobs bulk_jobs(Store& store, const json& body) {
  if (body.contains("ids") == body.contains("all"))
    throw web::HttpError(400, "say which jobs: either ids (a list) or all: true with a filter");
  BulkJobs jobs;
  if (body.contains("ids")) {
    if (body.contains("filter") || body.contains("after"))
      throw web::HttpError(400, "filter and after go with all: true, not with ids");
    jobs.ids = ids_field(body["ids"], kJobsPerBulkCall);
    jobs.text = ids_text(jobs.ids, "jobs");
    return jobs;
  }
  if (body["all"] != true) throw web::HttpError(400, "all must be true (or leave it out)");
  if (!body.contains("filter"))
    throw web::HttpError(400,
                         "all: true needs a filter (an object; {} for every job the "
                         "jobs listing shows without one)");
  JobSearch search = web::parse_job_search(filter_params(body["filter"]), web::JobParamsUse::bulk,
                                           kJobsPerBulkCall);
  if (body.contains("after")) {
    if (!body["after"].is_string())
      throw web::HttpError(400, "after must be a cursor this API returned (next)");
    search.filter.after = web::parse_cursor(body["after"].get<std::string>());
  }
  const JobSearchPage page = search_jobs(store, search);
  for (const JobInfo& j : page.jobs)
    jobs.ids.push_back(j.id);
  jobs.next = page.next;
  jobs.scanned = page.scanned;
  jobs.text = fmt::format(
      "the jobs matching {}{}", body["filter"].dump(),
      search.filter.after ? fmt::format(" after job {}", search.filter.after->id) : std::string());
  return jobs;
}

}  // namespace

WebResponse Web::Impl::cancel_job(const web::Call& call, std::int64_t id) {
  const json body = call.body_object();
  only_fields(body, {"reason"});
  const std::string reason = cancel_reason(body, call.who);
  const CancelResult result = store->cancel_job(id, reason);
  const auto done = [&](int status, std::string_view outcome) {
    audit(fmt::format("web: {} from {}: cancel job {}: {}", call.who, call.request.remote, id,
                      outcome));
    if (status != 200) throw web::HttpError(status, fmt::format("job {}: {}", id, outcome));
    return web::json_response({{"id", id}, {"result", outcome}});
  };
  switch (result.kind) {
    case CancelResult::Kind::cancelled:
      return done(200, "cancelled");
    case CancelResult::Kind::requested:
      return done(200, "requested");
    case CancelResult::Kind::already_finished:
      return done(409, fmt::format("already {}", to_string(result.state)));
    case CancelResult::Kind::not_found:
      break;
  }
  return done(404, "not found");
}

WebResponse Web::Impl::retry_job(const web::Call& call, std::int64_t id) {
  only_fields(call.body_object(), {});
  const RetryResult result = store->retry_job(id);
  audit(fmt::format("web: {} from {}: retry job {}: {}", call.who, call.request.remote, id,
                    outcome_of(result)));
  if (result.kind == RetryResult::Kind::not_found)
    throw web::HttpError(404, fmt::format("no job with id {}", id));
  if (result.kind == RetryResult::Kind::not_finished)
    throw web::HttpError(409, fmt::format("job {} is not finished (still to run or running)", id));
  return web::json_response({{"id", id}, {"result", "retried"}});
}

WebResponse Web::Impl::delete_job(const web::Call& call, std::int64_t id) {
  only_fields(call.body_object(), {});
  const DeleteResult result = store->delete_job(id);
  audit(fmt::format("web: {} from {}: delete job {}: {}", call.who, call.request.remote, id,
                    outcome_of(result)));
  if (result.kind == DeleteResult::Kind::not_found)
    throw web::HttpError(404, fmt::format("no job with id {}", id));
  if (result.kind == DeleteResult::Kind::held)
    throw web::HttpError(409, fmt::format("job {} is held by a worker: cancel it first", id));
  return web::json_response({{"id", id}, {"result", "deleted"}});
}

WebResponse Web::Impl::jobs_action(const web::Call& call, const std::string& action) {
  if (action != "retry" && action != "cancel" && action != "delete")
    throw web::HttpError(404, "the jobs' bulk actions are retry, cancel and delete");
  const json body = call.body_object();
  if (action == "cancel") {
    only_fields(body, {"ids", "all", "filter", "after", "reason"});
  } else {
    only_fields(body, {"ids", "all", "filter", "after"});
  }
  const BulkJobs jobs = bulk_jobs(*store, body);
  const std::string reason = cancel_reason(body, call.who);
  std::map<std::string_view, std::size_t> counts;
  for (const JobId id : jobs.ids) {
    if (action == "retry") {
      ++counts[outcome_of(store->retry_job(id))];
    } else if (action == "cancel") {
      ++counts[outcome_of(store->cancel_job(id, reason))];
    } else {
      ++counts[outcome_of(store->delete_job(id))];
    }
  }
  std::vector<std::string> tally;
  for (const auto& [outcome, n] : counts)
    tally.push_back(fmt::format("{} {}", outcome, n));
  audit(fmt::format("web: {} from {}: {} {}: {}", call.who, call.request.remote, action, jobs.text,
                    tally.empty() ? "none" : fmt::format("{}", fmt::join(tally, ", "))));
  json result = {{"action", action},
                 {"read", jobs.ids.size()},
                 {"counts", counts},
                 {"next", jobs.next ? json(web::cursor_text(*jobs.next)) : json(nullptr)}};
  if (jobs.scanned) result["scanned"] = *jobs.scanned;
  return web::json_response(result);
}

WebResponse Web::Impl::dead_action(const web::Call& call, bool retry) {
  const DeadSelection which = dead_selection(call.body_object());
  const std::size_t n = retry ? store->retry_dead_jobs(which) : store->purge_dead_jobs(which);
  audit(fmt::format("web: {} from {}: {} {}: {} job(s)", call.who, call.request.remote,
                    retry ? "retry" : "purge", selection_text(which), n));
  return web::json_response({{"result", retry ? "retried" : "purged"}, {"count", n}});
}

WebResponse Web::Impl::queue_action(const web::Call& call, const std::string& name,
                                    const std::string& action) {
  const json body = call.body_object();
  QueueUpdate update;
  if (action == "pause" || action == "resume") {
    only_fields(body, {});
    update.paused = action == "pause";
  } else if (action == "limits") {
    only_fields(body, {"global", "per_key", "rate", "clear"});
    if (body.contains("clear")) {
      if (!body["clear"].is_boolean()) throw web::HttpError(400, "clear must be true or false");
      update.clear_limits = body["clear"].get<bool>();
    }
    update.global = limit_field(body, "global");
    update.per_key = limit_field(body, "per_key");
    if (body.contains("rate") && !body["rate"].is_null()) {
      if (!body["rate"].is_string()) throw web::HttpError(400, "rate must be text like \"10/s\"");
      update.rate = parse_rate(body["rate"].get<std::string>());  // ConfigError: 400
    }
  } else {
    throw web::HttpError(404, "a queue's actions are pause, resume and limits");
  }
  check_queue_name(name);  // ConfigError: 400
  QueueInfo queue;
  try {
    queue = store->update_queue(name, update, /*create=*/false);
  } catch (const ConfigError& e) {
    audit(fmt::format("web: {} from {}: {} queue {}: refused: {}", call.who, call.request.remote,
                      action, web::quote(name), e.what()));
    throw web::HttpError(404, e.what());
  }
  audit(fmt::format("web: {} from {}: {} queue {}: done", call.who, call.request.remote, action,
                    web::quote(name)));
  return web::json_response({{"result", action}, {"queue", views::queue_json(queue)}});
}

WebResponse Web::Impl::schedule_action(const web::Call& call, const std::string& name,
                                       const std::string& action) {
  only_fields(call.body_object(), {});
  json result;
  if (action == "pause" || action == "resume") {
    const std::optional<ScheduleInfo> s = store->pause_schedule(name, action == "pause");
    if (s) result = {{"result", action}, {"schedule", views::schedule_json(*s)}};
  } else if (action == "trigger") {
    const std::optional<Enqueued> job = store->trigger_schedule(name);
    if (job) result = {{"result", "triggered"}, {"job_id", job->id}};
  } else {
    throw web::HttpError(404, "a schedule's actions are pause, resume and trigger");
  }
  audit(fmt::format("web: {} from {}: {} schedule {}: {}", call.who, call.request.remote, action,
                    web::quote(name), result.is_null() ? "no such schedule" : "done"));
  if (result.is_null()) throw web::HttpError(404, "no schedule named " + web::quote(name));
  return web::json_response(result);
}

}  // namespace errand
