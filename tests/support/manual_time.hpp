// Driving workers on a ManualClock. A worker takes every interval from its store's clock, so on
// a ManualClock its polls, heartbeats, rescues, timeouts, retries and backoffs wait for the test
// to advance the clock, never for real time: a test advances the clock instead of sleeping. The
// real-time deadlines here only keep a broken worker from hanging the test.
#pragma once

#include "support/wait.hpp"

#include <errand/clock.hpp>

#include <chrono>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <future>
#include <thread>

namespace errand_test {

// True once `n` workers sleep on `clock` having looked at it since its last move (false after
// kDeadline of real time): whatever that move made due, they have done.
inline bool wait_for_sleepers(const errand::ManualClock& clock, std::size_t n = 1) {
  return eventually([&] { return clock.sleepers() >= n; });
}

// Advances `clock` by `step` at a time until `condition` holds (true), or until `deadline` of real
// time passes (false). Each step waits until `sleepers` workers sleep on the clock having seen the
// step before (ManualClock::sleepers), so the clock never runs ahead of a busy worker; it may
// still move past the moment the condition became true (a worker sleeps while its jobs run):
// assert what happened, not exactly when.
template <class Condition>
bool advance_until(errand::ManualClock& clock, errand::Duration step, Condition condition,
                   std::size_t sleepers = 1, std::chrono::milliseconds deadline = kDeadline) {
  const auto end = std::chrono::steady_clock::now() + deadline;
  for (;;) {
    if (condition()) return true;
    if (std::chrono::steady_clock::now() >= end) return false;
    if (clock.sleepers() >= sleepers) {
      clock.advance(step);
    } else {
      std::this_thread::sleep_for(std::chrono::microseconds{50});
    }
  }
}

// Runs worker.run_until_idle() on another thread while advancing `clock` by `step` at a time
// until it returns; returns what it returned, or rethrows what it threw. A run still going after
// kDeadline of real time cannot be abandoned: the test program then aborts, saying so.
template <class WorkerT>
std::size_t run_until_idle_advancing(WorkerT& worker, errand::ManualClock& clock,
                                     errand::Duration step) {
  auto result = std::async(std::launch::async, [&worker] { return worker.run_until_idle(); });
  const bool returned = advance_until(clock, step, [&] {
    return result.wait_for(std::chrono::seconds{0}) == std::future_status::ready;
  });
  if (!returned) {
    std::fprintf(stderr, "run_until_idle did not return within %lld s of advancing the clock\n",
                 static_cast<long long>(kDeadline.count()));
    std::abort();
  }
  return result.get();
}

}  // namespace errand_test
