// Clocks (errand/clock.hpp) and waiting on them (core/clock_wait.hpp): a ManualClock's wall and
// steady time, its watchers and sleepers, and waits that end when the clock is advanced past them.
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

TEST(Clock, ManualClockTellsItsWatchersOfEveryMoveUntilTheyUnregister) {
  errand::ManualClock clock;
  int a = 0;
  int b = 0;
  auto watch_a = clock.watch([&] { ++a; });
  {
    auto watch_b = clock.watch([&] { ++b; });
    ASSERT_TRUE(watch_a && watch_b);
    clock.advance(1s);
    clock.set(clock.now() - 1h);
    clock.advance(0s);
  }
  clock.advance(1s);
  EXPECT_EQ(a, 4);
  EXPECT_EQ(b, 3);
  watch_a.reset();
  clock.advance(1s);
  EXPECT_EQ(a, 4);
}

TEST(Clock, ASleeperIsAWatcherAsleepThatHasLookedSinceTheLastMove) {
  errand::ManualClock clock;
  auto watch = clock.watch([] {});
  EXPECT_EQ(clock.sleepers(), 0u);
  watch->looking();
  watch->sleeping();
  EXPECT_EQ(clock.sleepers(), 1u);
  clock.advance(1s);
  EXPECT_EQ(clock.sleepers(), 0u) << "it has not seen the move yet";
  watch->looking();
  EXPECT_EQ(clock.sleepers(), 0u) << "awake";
  clock.advance(1s);  // while it looks
  watch->sleeping();
  EXPECT_EQ(clock.sleepers(), 0u) << "it may have looked before the move";
  watch->looking();
  watch->sleeping();
  EXPECT_EQ(clock.sleepers(), 1u);
  auto idle = clock.watch([] {});  // never sleeps: not counted
  EXPECT_EQ(clock.sleepers(), 1u);
  watch.reset();
  EXPECT_EQ(clock.sleepers(), 0u);
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
  EXPECT_EQ(clock->watch([] {}), nullptr) << "the system clock follows real time";
}

// A waiter on another thread, on `clock`, until `until` or finish().
class Waiter {
 public:
  Waiter(const errand::Clock& clock, errand::SteadyTime until) : wait_(clock, mutex_, cv_) {
    result_ = std::async(std::launch::async, [this, until] {
      std::unique_lock lock(mutex_);
      return wait_.wait_until(lock, until, [this] { return done_; });
    });
  }
  ~Waiter() { finish(); }
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
  bool done_ = false;
  std::future<bool> result_;
};

// True once the clock has a sleeper (within 30 s of real time).
bool sleeps(const errand::ManualClock& clock) {
  const auto end = std::chrono::steady_clock::now() + 30s;
  while (clock.sleepers() == 0 && std::chrono::steady_clock::now() < end)
    std::this_thread::yield();
  return clock.sleepers() == 1;
}

TEST(ClockWait, OnAManualClockAWaitEndsWhenTheClockIsAdvancedPastItsDeadline) {
  errand::ManualClock clock;
  Waiter waiter(clock, clock.steady_now() + 1h);
  ASSERT_TRUE(sleeps(clock));
  // Each move wakes the waiter, which looks again and sleeps again.
  for (const auto step : {errand::Duration{1h - 1us}, errand::Duration{0us}}) {
    clock.advance(step);
    ASSERT_TRUE(sleeps(clock)) << "a move of the clock did not wake the waiter";
    EXPECT_FALSE(waiter.returned()) << "the wait ended before its deadline";
  }
  clock.set(clock.now() + 24h);  // a step of the wall clock ends no wait
  ASSERT_TRUE(sleeps(clock));
  EXPECT_FALSE(waiter.returned()) << "a step of the wall clock ended the wait";
  clock.advance(1us);
  EXPECT_EQ(waiter.result(), false) << "the wait did not end at its deadline";
  EXPECT_EQ(clock.sleepers(), 0u);
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
