// errand::Web's routes: which handler answers which method and path (docs/api.md).
#include "web/api.hpp"

#include <fmt/format.h>

namespace errand {

WebResponse Web::Impl::route(const web::Call& call) {
  const auto& s = call.segments;
  const bool get = call.request.method != "POST";
  if (s.empty() || (s[0] != "api" && s[0] != "metrics" && s[0] != "assets")) {
    if (!get) throw web::HttpError(404, "not found");
    return page(call);
  }
  if (s[0] == "assets") {
    if (!get || s.size() != 2) throw web::HttpError(404, "not found");
    return asset(call);
  }
  if (s[0] == "metrics") {
    if (!get || s.size() != 1) throw web::HttpError(404, "not found");
    return metrics(call);
  }
  // /api/...
  const std::string what = s.size() > 1 ? s[1] : "";
  if (get) {
    if (s.size() == 2) {
      if (what == "session") return session_info(call);
      if (what == "overview") return overview(call);
      if (what == "jobs") return jobs(call);
      if (what == "dead") return dead(call);
      if (what == "queues") return queues(call);
      if (what == "schedules") return schedules(call);
      if (what == "workers") return workers(call);
    }
    if (s.size() == 3 && what == "jobs") return job(call, web::parse_id(s[2], "the job id"));
    throw web::HttpError(404, "no such API (see docs/api.md)");
  }
  if (s.size() == 4 && what == "jobs") {
    const std::int64_t id = web::parse_id(s[2], "the job id");
    if (s[3] == "cancel") return cancel_job(call, id);
    if (s[3] == "retry") return retry_job(call, id);
    if (s[3] == "delete") return delete_job(call, id);
  }
  if (s.size() == 3 && what == "jobs") return jobs_action(call, s[2]);
  if (s.size() == 3 && what == "dead" && (s[2] == "retry" || s[2] == "purge"))
    return dead_action(call, s[2] == "retry");
  if (s.size() == 4 && what == "queues") return queue_action(call, s[2], s[3]);
  if (s.size() == 4 && what == "schedules") return schedule_action(call, s[2], s[3]);
  throw web::HttpError(404, "no such action (see docs/api.md)");
}

}  // namespace errand
