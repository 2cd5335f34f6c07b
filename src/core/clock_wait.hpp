// Waiting on a condition variable until a predicate holds or an errand::Clock reaches a time:
// a real timed wait on std::chrono::steady_clock when the clock follows real time, and, when it
// moves only when told to (ManualClock), an untimed wait that every move of the clock wakes to
// look at its deadline again. With a real clock this is exactly condition_variable::wait_until:
// no subscription, no extra lock.
#pragma once

#include <errand/clock.hpp>

#include <condition_variable>
#include <memory>
#include <mutex>

namespace errand::detail {

class ClockWait {
 public:
  // Every move of `clock` (if it moves only when told to) locks `mutex`, so that no waiter misses
  // it between its check and its wait, and notifies `cv`. All three must outlive this object.
  ClockWait(const Clock& clock, std::mutex& mutex, std::condition_variable& cv)
      : clock_(clock), cv_(cv), moves_(clock.subscribe([&mutex, &cv] {
          { std::lock_guard lock(mutex); }
          cv.notify_all();
        })) {}

  // Waits until `done()` holds or the clock reaches `until`; returns done(). `lock` holds the
  // mutex given to the constructor.
  template <class Done>
  bool wait_until(std::unique_lock<std::mutex>& lock, SteadyTime until, Done done) const {
    if (!moves_) return cv_.wait_until(lock, until, done);
    cv_.wait(lock, [&] { return done() || clock_.steady_now() >= until; });
    return done();
  }

 private:
  const Clock& clock_;
  std::condition_variable& cv_;
  std::unique_ptr<Subscription> moves_;  // null: the clock follows real time
};

}  // namespace errand::detail
