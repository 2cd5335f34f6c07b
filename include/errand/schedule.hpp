// Recurring jobs (README, "Recurring jobs"): what a schedule does with the ticks of its cron spec
// (errand/cron.hpp) that no worker fired on time.
#pragma once

#include <errand/clock.hpp>

#include <chrono>
#include <cstddef>

namespace errand {

// A tick is on time while now - tick <= MissedTicks::grace (a worker restarting across a tick
// still fires it); a due tick older than that is missed (all workers down, or the schedule
// paused). What happens to missed ticks:
enum class MissedPolicy {
  skip,  // none of them fires; the latest due tick fires only if it is on time
  once,  // one job for all of them: the latest due tick, marked as a catch-up
  all,   // each missed tick within `window`, at most `cap` (the latest), marked as catch-ups
};

struct MissedTicks {
  MissedPolicy policy = MissedPolicy::skip;
  Duration grace = std::chrono::minutes{1};
  Duration window = std::chrono::hours{24};  // MissedPolicy::all: how far back
  std::size_t cap = 100;                     // MissedPolicy::all: at most this many at once
};

}  // namespace errand
