// The demo's job types: the seed's two examples (EmailJob, ProcessPaymentJob), a job that fails
// twice before it succeeds, one that always fails and a long one that stops early on shutdown.
#pragma once

#include "demo_app.hpp"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <stdexcept>
#include <stop_token>
#include <string>
#include <string_view>
#include <thread>

namespace errand::cli::demo {

// Sleeps for `duration` unless stop is requested first; returns false when it was.
inline bool sleep_unless_stopped(std::chrono::milliseconds duration, std::stop_token token) {
  std::mutex mu;
  std::condition_variable_any cv;
  std::unique_lock lock(mu);
  cv.wait_for(lock, token, duration, [] { return false; });
  return !token.stop_requested();
}

// The seed's first example.
struct EmailJob {
  static constexpr std::string_view name = "EmailJob";
  std::string to;
  std::string subject;
  std::string body;

  void run(AppState& app) const {
    app.say(fmt::format("Sending email to {} with subject: {}", to, subject));
    std::this_thread::sleep_for(std::chrono::milliseconds{400});  // talking to the mail server
  }
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(EmailJob, to, subject, body)

// The seed's second example: reads a user and records the payment of an order in the app's own
// database. Idempotent, as every job must be (it runs at least once): order_payments.order_id is
// the primary key, so a second run of the same job (after a crash between its insert and its
// completion) records nothing.
struct ProcessPaymentJob {
  static constexpr std::string_view name = "ProcessPaymentJob";
  std::int64_t order_id = 0;
  std::int64_t user_id = 0;
  std::int64_t amount_cents = 0;

  void run(AppState& app) const {
    std::this_thread::sleep_for(std::chrono::milliseconds{600});  // talking to the bank
    auto db = app.db();  // locked until the end of this scope
    Statement user(db, "SELECT name FROM users WHERE id = ?");
    if (!user.bind(1, user_id).step()) {
      throw std::runtime_error(fmt::format("no user with id {}", user_id));
    }
    app.say(fmt::format("Processing payment of {} cents for user {} #{}, order #{}", amount_cents,
                        user.column_text(0), user_id, order_id));
    Statement(db,
              "INSERT INTO order_payments (order_id, user_id, amount_cents) VALUES (?, ?, ?) "
              "ON CONFLICT (order_id) DO NOTHING")
        .bind(1, order_id)
        .bind(2, user_id)
        .bind(3, amount_cents)
        .step();
  }
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(ProcessPaymentJob, order_id, user_id, amount_cents)

// Fails its first `fail_times` attempts in this process (counted per key in AppState), then
// succeeds: shows the retry backoff of 2 s, 4 s, ...
struct FlakyJob {
  static constexpr std::string_view name = "FlakyJob";
  std::string key;
  int fail_times = 2;

  void run(AppState& app) const {
    const int attempt = app.count_attempt(key);
    if (attempt <= fail_times) {
      throw std::runtime_error(
          fmt::format("upstream timed out (simulated failure {} of {})", attempt, fail_times));
    }
    app.say(fmt::format("FlakyJob {}: upstream answered on attempt {}", key, attempt));
  }
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(FlakyJob, key, fail_times)

// Always fails. With max_retries = 2 it runs three times (0 s, 2 s, 6 s), then moves to the
// dead-letter queue.
struct DoomedJob {
  static constexpr std::string_view name = "DoomedJob";
  static constexpr int max_retries = 2;
  std::string reason;

  void run(AppState&) const { throw std::runtime_error(reason); }
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(DoomedJob, reason)

// Works in `steps` steps of `step_ms` and stops between steps when the worker shuts down (the
// seed's run_with_cancellation); a stopped run fails with how far it got.
struct LongJob {
  static constexpr std::string_view name = "LongJob";
  int steps = 30;
  int step_ms = 500;

  void run(AppState& app, std::stop_token token) const {
    for (int done = 0; done < steps; ++done) {
      if (!sleep_unless_stopped(std::chrono::milliseconds{step_ms}, token)) {
        app.say(
            fmt::format("LongJob: stop requested, giving up after {} of {} steps", done, steps));
        throw std::runtime_error(fmt::format("cancelled after {} of {} steps", done, steps));
      }
      if ((done + 1) % 10 == 0)
        app.say(fmt::format("LongJob: {} of {} steps done", done + 1, steps));
    }
  }
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(LongJob, steps, step_ms)

}  // namespace errand::cli::demo
