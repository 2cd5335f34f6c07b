#include "postgres/background.hpp"

#include "core/wakeup.hpp"
#include "postgres/pq.hpp"

#include <errand/error.hpp>

#include <poll.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <string_view>

namespace errand::pg {

namespace {
constexpr std::string_view kCancelPrefix = "cancel:";
}  // namespace

BackgroundVacuum::BackgroundVacuum(std::shared_ptr<const Target> target, std::string vacuum_sql,
                                   std::size_t every)
    : target_(std::move(target)), sql_(std::move(vacuum_sql)), every_(every) {}

void BackgroundVacuum::count(std::size_t rows) {
  if (every_ == 0 || rows == 0) return;
  if (churn_.fetch_add(rows) + rows < every_) return;
  churn_ = 0;
  {
    std::lock_guard lock(mutex_);
    wanted_ = true;
    if (!thread_.joinable()) {
      thread_ = std::jthread([this](std::stop_token stop) { loop(stop); });
    }
  }
  wanted_cv_.notify_one();
}

void BackgroundVacuum::loop(std::stop_token stop) {
  std::unique_ptr<Connection> c;
  for (;;) {
    {
      std::unique_lock lock(mutex_);
      if (!wanted_cv_.wait(lock, stop, [&] { return wanted_; })) break;
      wanted_ = false;
    }
    try {
      if (!c || !c->healthy()) {
        set_cancel(nullptr);
        c = std::make_unique<Connection>(target_);
        set_cancel(PQgetCancel(c->native()));
      }
      {
        std::lock_guard lock(mutex_);
        if (stop.stop_requested()) break;
        running_ = true;
      }
      c->exec(sql_);
    } catch (const std::exception&) {
      // Maintenance only: the next trigger tries again on a new connection.
      c.reset();
    }
    std::lock_guard lock(mutex_);
    running_ = false;
  }
  set_cancel(nullptr);
}

void BackgroundVacuum::set_cancel(PGcancel* cancel) {
  std::lock_guard lock(mutex_);
  if (cancel_) PQfreeCancel(cancel_);
  cancel_ = cancel;
}

BackgroundVacuum::~BackgroundVacuum() {
  if (!thread_.joinable()) return;
  thread_.request_stop();
  for (;;) {
    {
      std::lock_guard lock(mutex_);
      if (!running_) break;
      char error[256];
      if (cancel_) PQcancel(cancel_, error, sizeof error);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds{10});
  }
  thread_.join();
}

Listener::Listener(std::shared_ptr<const Target> target, std::string listen_sql,
                   std::string wake_key)
    : target_(std::move(target)),
      listen_sql_(std::move(listen_sql)),
      wake_key_(std::move(wake_key)) {}

Listener::~Listener() {
  std::lock_guard lock(mutex_);
  if (!thread_.joinable()) return;
  thread_.request_stop();
  thread_.join();
}

void Listener::start() {
  std::lock_guard lock(mutex_);
  if (thread_.joinable()) return;
  thread_ = std::jthread([this](std::stop_token stop) { loop(stop); });
}

void Listener::loop(std::stop_token stop) {
  auto retry = std::chrono::milliseconds{100};
  while (!stop.stop_requested()) {
    try {
      Connection c(target_);
      c.exec(listen_sql_);
      retry = std::chrono::milliseconds{100};
      // Notifications sent before this LISTEN were missed: new jobs, and cancels (id 0: ask the
      // store which held jobs were cancelled, as a heartbeat does).
      detail::publish_wakeup(wake_key_);
      detail::publish_cancel(wake_key_, 0);
      while (!stop.stop_requested()) {
        pollfd fd{PQsocket(c.native()), POLLIN, 0};
        const int ready = ::poll(&fd, 1, 200);
        if (ready < 0 && errno != EINTR) c.fail("poll");
        if (ready <= 0) continue;
        if (PQconsumeInput(c.native()) == 0) c.fail("receive notifications");
        bool woken = false;
        while (PGnotify* n = PQnotifies(c.native())) {
          // "cancel:<id>": a running job's cancel was requested; anything else: new jobs.
          const std::string_view payload = n->extra ? n->extra : "";
          JobId id = 0;
          if (payload.starts_with(kCancelPrefix) &&
              std::from_chars(payload.data() + kCancelPrefix.size(),
                              payload.data() + payload.size(), id)
                      .ec == std::errc{}) {
            detail::publish_cancel(wake_key_, id);
          } else {
            woken = true;
          }
          PQfreemem(n);
        }
        if (woken) detail::publish_wakeup(wake_key_);
      }
    } catch (const StoreError&) {
      // The server is away; workers log their own errors. Try again shortly.
      std::mutex m;
      std::condition_variable_any cv;
      std::unique_lock lock(m);
      cv.wait_for(lock, stop, retry, [] { return false; });
      retry = std::min(retry * 2, std::chrono::milliseconds{5000});
    }
  }
}

}  // namespace errand::pg
