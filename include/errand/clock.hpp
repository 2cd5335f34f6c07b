// Time as errand sees it: one injectable clock gives
// - now(): microsecond UTC wall time, for every timestamp a store writes and compares (run_at,
//   backoff, lock times, heartbeats), and so for when a retry comes due, and
// - steady_now(): monotonic time, for every interval the worker engine waits out (poll interval,
//   heartbeats, rescue of lost workers, per-run timeouts and timeout_grace, store-retry backoff,
//   the drain timeout at shutdown).
// The two are kept apart so that a step of the wall clock (NTP, an administrator) moves stored
// times but never fires a heartbeat or a timeout early or late.
//
// A worker takes every reading from its store's clock (Store::clock()). Inject a ManualClock into
// the store and the whole worker runs on it: backoff, scheduling, lock timeouts, heartbeats,
// rescue and timeouts are then tested by advancing the clock, without sleeping.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>

namespace errand {

using Duration = std::chrono::microseconds;
using TimePoint = std::chrono::sys_time<Duration>;
// A reading of Clock::steady_now(): only differences of two readings of one clock mean something.
using SteadyTime = std::chrono::steady_clock::time_point;

// A waiter's registration with a clock that moves only when told to (Clock::watch). The clock
// calls back after each move; the waiter says when it looks at the clock and when it sleeps, so
// that whoever moves the clock can wait until every waiter has seen the last move and sleeps
// again (ManualClock::sleepers) instead of moving it in the middle of their work. Destroying it
// unregisters (after a callback in progress returns).
class ClockWatch {
 public:
  virtual ~ClockWatch() = default;
  // The waiter is about to read the clock: a move from now on is news to it.
  virtual void looking() = 0;
  // The waiter has read the clock and waits for a move (or something else).
  virtual void sleeping() = 0;
};

// A source of the current time. Implementations must be thread-safe.
//
// Waiting on a clock: a clock either follows real time (watch() returns nullptr and steady_now()
// is std::chrono::steady_clock::now(), so a waiter waits with a real timeout), or moves only when
// told to (watch() returns a registration and calls back after every move, so a waiter looks at
// its deadline again then and never waits on real time). A clock that overrides steady_now() must
// override watch() too.
class Clock {
 public:
  virtual ~Clock() = default;
  // Wall time (UTC), for stored timestamps.
  virtual TimePoint now() const = 0;
  // Monotonic time, for intervals: never goes back and does not follow steps of the wall clock.
  // The default reads std::chrono::steady_clock.
  virtual SteadyTime steady_now() const;
  // For a clock that does not follow real time: calls `moved` after each move, on the thread that
  // moved the clock, until the watch is destroyed; `moved` must be quick and must not move the
  // clock. The default returns nullptr: the clock follows real time.
  virtual std::unique_ptr<ClockWatch> watch(std::function<void()> moved) const;
};

// The real clocks: std::chrono::system_clock and std::chrono::steady_clock.
class SystemClock final : public Clock {
 public:
  TimePoint now() const override;
};

// A clock that only moves when told to; for tests and simulations. Thread-safe.
// - advance(d) is time passing: wall and steady time move together by d, and every watcher (a
//   waiting worker) is told, so its waits that end within d end now.
// - set(t) is a step of the wall clock only (what NTP or an administrator does): now() jumps to
//   t, forward or back; steady time does not move, so no interval of a worker ends or stretches.
// A worker on this clock waits for it to be advanced, never for real time. To drive one, advance
// the clock once sleepers() says the worker sleeps: then the clock never moves in the middle of
// one of the worker's rounds (between its heartbeat and its rescue, say) unless something else
// woke it at that moment.
class ManualClock final : public Clock {
 public:
  explicit ManualClock(TimePoint start = TimePoint{std::chrono::seconds{1'700'000'000}});
  ~ManualClock() override;
  ManualClock(const ManualClock&) = delete;
  ManualClock& operator=(const ManualClock&) = delete;

  TimePoint now() const override { return TimePoint{Duration{wall_at_zero_ + elapsed_}}; }
  SteadyTime steady_now() const override { return kSteadyStart + Duration{elapsed_.load()}; }
  std::unique_ptr<ClockWatch> watch(std::function<void()> moved) const override;

  // Steps the wall clock to `t`; steady time stays.
  void set(TimePoint t);
  // Moves both clocks forward by `d`; throws std::invalid_argument when d is negative (time does
  // not go back; set() steps the wall clock back).
  void advance(Duration d);
  // Watchers that sleep and have looked at the clock since its last move (a worker's I/O thread
  // waiting for its next deadline, say).
  std::size_t sleepers() const;

 private:
  struct Watchers;
  // An arbitrary start: readings of different clocks are not comparable.
  static constexpr SteadyTime kSteadyStart{std::chrono::hours{24}};

  void notify() const;

  std::atomic<Duration::rep> elapsed_{0};    // advanced so far: steady time since the start
  std::atomic<Duration::rep> wall_at_zero_;  // now() - elapsed_, moved by set()
  std::shared_ptr<Watchers> watchers_;
};

// The shared system clock used when no clock is injected.
std::shared_ptr<const Clock> system_clock();

}  // namespace errand
