// Driving workers on a ManualClock. A worker takes every interval from its store's clock, so on
// a ManualClock its polls, heartbeats, rescues, timeouts, retries and backoffs wait for the test
// to advance the clock, never for real time: a test advances the clock instead of sleeping.
#pragma once

#include "support/wait.hpp"

#include <errand/clock.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <future>
#include <thread>

namespace errand_test {

// Advances `clock` by `step` at a time until `condition` holds (true), or until `deadline` of real
// time passes (false). After each step the threads that react to the clock get up to 2 ms of real
// time before the next one (less once the condition holds), so the clock may end up a few steps
// past the moment the condition became true: assert what happened, not exactly when.
template <class Condition>
bool advance_until(errand::ManualClock& clock, errand::Duration step, Condition condition,
                   std::chrono::milliseconds deadline = kDeadline) {
  using std::chrono::steady_clock;
  const auto end = steady_clock::now() + deadline;
  for (;;) {
    const auto next_step = std::min(end, steady_clock::now() + std::chrono::milliseconds{2});
    do {
      if (condition()) return true;
      std::this_thread::sleep_for(std::chrono::microseconds{100});
    } while (steady_clock::now() < next_step);
    if (steady_clock::now() >= end) return condition();
    clock.advance(step);
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
