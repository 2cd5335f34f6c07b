// Time as errand sees it: microsecond UTC time points from an injectable clock, so backoff,
// scheduling and lock-timeout behaviour can be tested without sleeping.
#pragma once

#include <atomic>
#include <chrono>
#include <memory>

namespace errand {

using Duration = std::chrono::microseconds;
using TimePoint = std::chrono::sys_time<Duration>;

// A source of the current time. Implementations must be thread-safe.
class Clock {
 public:
  virtual ~Clock() = default;
  virtual TimePoint now() const = 0;
};

// The real wall clock (std::chrono::system_clock).
class SystemClock final : public Clock {
 public:
  TimePoint now() const override;
};

// A clock that only moves when told to; for tests and simulations. Thread-safe.
class ManualClock final : public Clock {
 public:
  explicit ManualClock(TimePoint start = TimePoint{std::chrono::seconds{1'700'000'000}})
      : now_(start.time_since_epoch().count()) {}
  TimePoint now() const override { return TimePoint{Duration{now_.load()}}; }
  void set(TimePoint t) { now_.store(t.time_since_epoch().count()); }
  void advance(Duration d) { now_.fetch_add(d.count()); }

 private:
  std::atomic<Duration::rep> now_;
};

// The shared system clock used when no clock is injected.
std::shared_ptr<const Clock> system_clock();

}  // namespace errand
