// Waiting on a condition variable until a predicate holds or an errand::Clock reaches a time:
// a real timed wait on std::chrono::steady_clock when the clock follows real time, and, when it
// moves only when told to (ManualClock), an untimed wait that every move of the clock wakes to
// look at its deadline again, telling the clock when it looks and when it sleeps (ClockWatch).
// With a real clock this is exactly condition_variable::wait_until: no watch, no extra lock.
#pragma once

#include <errand/clock.hpp>

#include <condition_variable>
#include <memory>
#include <mutex>

namespace errand::detail {

class ClockWait {
 public:
  // Every move of `clock` (if it moves only when told to) locks `mutex`, so that no waiter misses
  // it between its look and its wait, and notifies `cv`. All three must outlive this object.
  ClockWait(const Clock& clock, std::mutex& mutex, std::condition_variable& cv)
      : clock_(clock), cv_(cv), watch_(clock.watch([&mutex, &cv] {
          { std::lock_guard lock(mutex); }
          cv.notify_all();
        })) {}

  // Waits until `done()` holds or the clock reaches `until`; returns done(). `lock` holds the
  // mutex given to the constructor. One waiter at a time.
  template <class Done>
  bool wait_until(std::unique_lock<std::mutex>& lock, SteadyTime until, Done done) {
    if (!watch_) return cv_.wait_until(lock, until, done);
    for (;;) {
      watch_->looking();
      if (done()) return true;
      if (clock_.steady_now() >= until) return false;
      watch_->sleeping();
      cv_.wait(lock);
    }
  }

 private:
  const Clock& clock_;
  std::condition_variable& cv_;
  std::unique_ptr<ClockWatch> watch_;  // null: the clock follows real time
};

}  // namespace errand::detail
