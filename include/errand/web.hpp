// The web dashboard, its HTTP JSON API and /metrics (README, "The web dashboard"; docs/api.md),
// from the errand_web library (CMake target errand::web).
//
// errand::Web answers requests without any HTTP server of its own: an application mounts it in
// the server it has by turning each request into a WebRequest. errand::WebServer serves it with
// cpp-httplib on a thread of its own; `errand web` is a WebServer.
//
// Safe by default: a WebServer listens on 127.0.0.1 unless told otherwise, and refuses to start on
// any other address without an access token or basic auth. Every state-changing request is a
// POST carrying the CSRF token (header X-Errand-CSRF, from GET /api/session); read_only hides
// every action and refuses every POST. Every action is logged (WebOptions::audit) with who and
// what.
#pragma once

#include <errand/clock.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace errand {

class Store;
class Metrics;

// WebOptions::count_limit unless told otherwise.
inline constexpr std::int64_t kDefaultCountLimit = 10'000;

struct WebOptions {
  // HOST:PORT to listen on (WebServer); [::1]:PORT for IPv6. Port 0 picks a free port.
  std::string listen = "127.0.0.1:8080";
  // An access token: a request must carry `Authorization: Bearer TOKEN`, or the session cookie
  // that signing in with the token on the page sets. Empty: none.
  std::string token{};
  // Basic auth (both or neither). Empty: none.
  std::string basic_user{};
  std::string basic_password{};
  // No actions: the pages show none and every POST is refused (403).
  bool read_only = false;
  // Where the pages and the API live: "" (the root) or "/errand" (no trailing slash).
  std::string base_path{};
  // The store as the pages show it: give a masked URL (errand::masked_url), never a password.
  std::string store_label{};
  // Counts of waiting and finished jobs (the overview, the queues, /metrics) stop at this many
  // per queue and state and show "N+" (Store::counts): pages stay fast however big the tables.
  // 0: exact counts, which read every row (hundreds of ms per million jobs).
  std::int64_t count_limit = kDefaultCountLimit;
  // A job listing with payload conditions (`payload.FIELD=VALUE`) stops reading rows after this
  // long, as at its 10,000-row scan limit, and says so (`scanned`, `scan_limited`; its `next`
  // goes on): big payloads or a slow store never hold a page up. 0: no time limit.
  Duration search_time_limit = std::chrono::milliseconds{50};
  // Workers silent longer than this are shown as lost (the workers' rescue_after).
  Duration lost_after = std::chrono::seconds{30};
  // Counters and histograms for /metrics besides the store's gauges; null: default_metrics()
  // (this process's enqueues and workers).
  std::shared_ptr<Metrics> metrics{};
  // Receives one line per action (who, what, result) and per refused request; default: stderr.
  std::function<void(std::string_view line)> audit{};
};

struct WebRequest {
  std::string method{};  // "GET", "POST", ...
  std::string path{};    // decoded path, e.g. "/api/jobs/42" (with base_path, if any)
  std::vector<std::pair<std::string, std::string>> query{};    // decoded parameters, in order
  std::vector<std::pair<std::string, std::string>> headers{};  // names in any case
  std::string body{};
  std::string remote{};  // the client's address, for the audit log
};

struct WebResponse {
  int status = 200;
  std::string content_type = "application/json";
  std::string body{};
  std::vector<std::pair<std::string, std::string>> headers{};
};

// The dashboard's pages, API and /metrics over `store`; thread-safe (the store must be).
class Web {
 public:
  // Throws ConfigError for options it cannot use (a base_path that is not "" or "/name...",
  // basic auth with one half empty).
  Web(std::shared_ptr<Store> store, WebOptions options);
  ~Web();
  Web(const Web&) = delete;
  Web& operator=(const Web&) = delete;

  WebResponse handle(const WebRequest& request);
  const WebOptions& options() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// True when `host` (as in WebOptions::listen) is a loopback address: 127.0.0.0/8, ::1 or
// "localhost".
bool is_loopback_host(std::string_view host);

// errand::Web served over HTTP by cpp-httplib.
class WebServer {
 public:
  // Throws ConfigError for a listen address it cannot parse, and when it is not a loopback
  // address while neither a token nor basic auth is set.
  WebServer(std::shared_ptr<Store> store, WebOptions options);
  ~WebServer();  // stop()
  WebServer(const WebServer&) = delete;
  WebServer& operator=(const WebServer&) = delete;

  // Binds and serves on a thread of its own; throws Error when it cannot bind.
  void start();
  // Stops serving and joins the thread; requests in progress finish first.
  void stop();
  // The bound port (after start()).
  int port() const;
  // "http://HOST:PORT" + base_path (after start()).
  std::string url() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace errand
