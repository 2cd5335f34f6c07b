// Which ticks of a schedule to fire now (errand/schedule.hpp): a pure function of the spec, the
// last tick handled and the store's clock, so that every process decides alike.
#pragma once

#include <errand/cron.hpp>
#include <errand/schedule.hpp>

#include <cstddef>
#include <optional>
#include <vector>

namespace errand::detail {

struct TickToFire {
  TimePoint tick{};        // the scheduled time this job is for
  bool catch_up = false;   // fired because it was missed, not on time
  std::size_t missed = 0;  // MissedPolicy::once: how many missed ticks this job stands for
};

struct TickPlan {
  std::vector<TickToFire> fire{};  // ascending
  // The latest due tick (the schedule's new "last handled"), or nullopt when none was due.
  std::optional<TimePoint> handled{};
  std::size_t skipped = 0;  // missed ticks that fire no job
};

// The ticks in (after, now] of `spec`, planned by `missed`. `after`: the last tick handled, or
// when the schedule started when it never fired. Walks at most `missed.cap` + a bounded number of
// ticks: a spec firing every second after a year down is counted, not listed, beyond the cap.
TickPlan plan_ticks(const CronSpec& spec, TimePoint after, TimePoint now,
                    const MissedTicks& missed);

}  // namespace errand::detail
