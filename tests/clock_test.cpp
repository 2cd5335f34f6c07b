// Clocks (errand/clock.hpp) and waiting on them (core/clock_wait.hpp): a ManualClock's wall and
// steady time, its subscribers, and waits that end when the clock is advanced past them.
#include "core/clock_wait.hpp"

#include <errand/clock.hpp>

#include <gtest/gtest.h>

#include <condition_variable>
#include <future>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <thread>

using namespace std::chrono_literals;

namespace {

std::int64_t us(errand::TimePoint t) {
  return t.time_since_epoch().count();
}

TEST(Clock, ManualClockMovesOnlyWhenTold) {
  errand::ManualClock clock(errand::TimePoint{std::chrono::seconds{100}});
  EXPECT_EQ(us(clock.now()), 100'000'000);
  EXPECT_EQ(clock.now(), clock.now());
  EXPECT_EQ(clock.steady_now(), clock.steady_now());
  const auto steady = clock.steady_now();

  clock.advance(1500ms);  // time passes: both move
  EXPECT_EQ(us(clock.now()), 101'500'000);
  EXPECT_EQ(clock.steady_now() - steady, 1500ms);

  clock.set(errand::TimePoint{std::chrono::seconds{7}});  // a step of the wall clock only
  EXPECT_EQ(us(clock.now()), 7'000'000);
  EXPECT_EQ(clock.steady_now() - steady, 1500ms);
  clock.advance(1us);
  EXPECT_EQ(us(clock.now()), 7'000'001);
  EXPECT_EQ(clock.steady_now() - steady, 1500ms + 1us);

  EXPECT_THROW(clock.advance(-1us), std::invalid_argument);
  EXPECT_EQ(us(clock.now()), 7'000'001);
}

TEST(Clock, ManualClockTellsItsSubscribersOfEveryMoveUntilTheyUnsubscribe) {
  errand::ManualClock clock;
  int a = 0;
  int b = 0;
  auto sub_a = clock.subscribe([&] { ++a; });
  {
    auto sub_b = clock.subscribe([&] { ++b; });
    ASSERT_TRUE(sub_a && sub_b);
    clock.advance(1s);
    clock.set(clock.now() - 1h);
    clock.advance(0s);
  }
  clock.advance(1s);
  EXPECT_EQ(a, 4);
  EXPECT_EQ(b, 3);
  sub_a.reset();
  clock.advance(1s);
  EXPECT_EQ(a, 4);
}

TEST(Clock, SystemClockIsTheWallClockAndTheSteadyClock) {
  const auto clock = errand::system_clock();
  ASSERT_TRUE(clock);
  EXPECT_EQ(clock, errand::system_clock());
  const auto before =
      std::chrono::time_point_cast<errand::Duration>(std::chrono::system_clock::now());
  const auto steady_before = std::chrono::steady_clock::now();
  const auto now = clock->now();
  const auto steady = clock->steady_now();
  const auto after =
      std::chrono::time_point_cast<errand::Duration>(std::chrono::system_clock::now());
  const auto steady_after = std::chrono::steady_clock::now();
  EXPECT_LE(before, now);
  EXPECT_LE(now, after);
  EXPECT_LE(steady_before, steady);
  EXPECT_LE(steady, steady_after);
  EXPECT_EQ(clock->subscribe([] {}), nullptr) << "the system clock follows real time";
}

// A waiter on another thread, on `clock`, until `until` or `done`.
class Waiter {
 public:
  Waiter(const errand::Clock& clock, errand::SteadyTime until) : wait_(clock, mutex_, cv_) {
    result_ = std::async(std::launch::async, [this, until] {
      std::unique_lock lock(mutex_);
      return wait_.wait_until(lock, until, [this] {
        ++checks_;
        return done_;
      });
    });
  }
  ~Waiter() { finish(); }
  // How often the waiter has looked at its condition.
  int checks() {
    std::lock_guard lock(mutex_);
    return checks_;
  }
  bool returned() { return result_.wait_for(0s) == std::future_status::ready; }
  // Waits (up to 30 s of real time) for the waiter to return; returns what it returned.
  std::optional<bool> result() {
    if (result_.wait_for(30s) != std::future_status::ready) return std::nullopt;
    return result_.get();
  }
  void finish() {
    {
      std::lock_guard lock(mutex_);
      done_ = true;
    }
    cv_.notify_all();
  }

 private:
  std::mutex mutex_;
  std::condition_variable cv_;
  errand::detail::ClockWait wait_;
  int checks_ = 0;
  bool done_ = false;
  std::future<bool> result_;
};

TEST(ClockWait, OnAManualClockAWaitEndsWhenTheClockIsAdvancedPastItsDeadline) {
  errand::ManualClock clock;
  Waiter waiter(clock, clock.steady_now() + 1h);
  // Each move wakes the waiter, which looks again and goes on waiting.
  for (const auto step : {errand::Duration{1h - 1us}, errand::Duration{0us}}) {
    const int checks = waiter.checks();
    clock.advance(step);
    const auto looked = std::chrono::steady_clock::now() + 30s;
    while (waiter.checks() == checks && std::chrono::steady_clock::now() < looked)
      std::this_thread::yield();
    ASSERT_GT(waiter.checks(), checks) << "a move of the clock did not wake the waiter";
    EXPECT_FALSE(waiter.returned()) << "the wait ended before its deadline";
  }
  clock.set(clock.now() + 24h);  // a step of the wall clock ends no wait
  clock.advance(1us);
  EXPECT_EQ(waiter.result(), false) << "the wait did not end at its deadline";
}

TEST(ClockWait, OnAManualClockAWaitEndsWhenItsConditionHolds) {
  errand::ManualClock clock;
  Waiter waiter(clock, clock.steady_now() + 1h);
  waiter.finish();
  EXPECT_EQ(waiter.result(), true);
}

TEST(ClockWait, OnTheSystemClockAWaitEndsAfterRealTime) {
  const auto clock = errand::system_clock();
  const auto deadline = clock->steady_now() + 1ms;
  Waiter waiter(*clock, deadline);
  EXPECT_EQ(waiter.result(), false);
  EXPECT_GE(std::chrono::steady_clock::now(), deadline);
}

}  // namespace
