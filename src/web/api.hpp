// errand::Web's internals: the request pipeline (web.cpp) and the handlers (api_*.cpp,
// pages.cpp), which read and change the store through its public API only.
#pragma once

#include <errand/web.hpp>

#include "web/http.hpp"

#include <errand/clock.hpp>

#include <chrono>
#include <memory>
#include <optional>
#include <string>

namespace errand {

class Store;

inline constexpr std::string_view kSessionCookie = "errand_session";
inline constexpr std::string_view kCsrfHeader = "X-Errand-CSRF";
// The most rows one listing returns (?limit=), and how many without a limit.
inline constexpr std::int64_t kMaxPageSize = 500;
inline constexpr std::int64_t kDefaultPageSize = 50;
// Tells running jobs from abandoned ones: the workers' default lock_timeout.
inline constexpr Duration kLockTimeout = std::chrono::hours{2};

struct Web::Impl {
  std::shared_ptr<Store> store;
  WebOptions options;
  std::string csrf;     // random per Web: the token every POST carries
  std::string session;  // random per Web: the cookie signing in with the token sets

  // web.cpp: authenticate, refuse, route; guarded turns exceptions into 4xx/5xx responses.
  WebResponse guarded(const WebRequest& request);
  WebResponse handle(const WebRequest& request);
  std::optional<std::string> authenticate(const WebRequest& request) const;
  void audit(const std::string& line) const;

  // api_routes.cpp: the table of routes.
  WebResponse route(const web::Call& call);

  // pages.cpp: the HTML and assets; the sign-in page and its POST.
  WebResponse page(const web::Call& call);
  WebResponse asset(const web::Call& call);
  WebResponse unauthorized(const web::Call& call) const;
  WebResponse login(const web::Call& call);

  // api_read.cpp: GET /api/...
  WebResponse session_info(const web::Call& call);
  WebResponse overview(const web::Call& call);
  WebResponse jobs(const web::Call& call);
  WebResponse job(const web::Call& call, std::int64_t id);
  WebResponse dead(const web::Call& call);
  WebResponse queues(const web::Call& call);
  WebResponse schedules(const web::Call& call);
  WebResponse workers(const web::Call& call);
  WebResponse metrics(const web::Call& call);

  // api_actions.cpp: POST /api/... (each audited)
  WebResponse cancel_job(const web::Call& call, std::int64_t id);
  WebResponse retry_job(const web::Call& call, std::int64_t id);
  WebResponse delete_job(const web::Call& call, std::int64_t id);
  WebResponse jobs_action(const web::Call& call, const std::string& action);
  WebResponse dead_action(const web::Call& call, bool retry);
  WebResponse queue_action(const web::Call& call, const std::string& name,
                           const std::string& action);
  WebResponse schedule_action(const web::Call& call, const std::string& name,
                              const std::string& action);
};

}  // namespace errand
