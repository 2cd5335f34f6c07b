#include "core/tick_plan.hpp"

#include <algorithm>
#include <deque>

namespace errand::detail {

namespace {

// Ticks counted one by one at most: beyond, `skipped` and `missed` say "at least this many".
constexpr std::size_t kMaxCounted = 100'000;

// The latest tick in (after, now], or nullopt. Gallops back from now so that a dense spec after a
// long outage costs a few dozen steps, not one per tick.
std::optional<TimePoint> latest_due(const CronSpec& spec, TimePoint after, TimePoint now) {
  const std::optional<TimePoint> first = spec.next_after(after);
  if (!first || *first > now) return std::nullopt;
  Duration back = std::chrono::seconds{1};
  TimePoint from = std::max(after, now - back);
  std::optional<TimePoint> found = spec.next_after(from);
  while ((!found || *found > now) && from > after) {
    back *= 2;
    from = std::max(after, now - back);
    found = spec.next_after(from);
  }
  // found is in (from, now]: walk to the last one (few, as the window has just become wide
  // enough to hold one).
  TimePoint latest = *found;
  for (std::optional<TimePoint> t = spec.next_after(latest); t && *t <= now;
       t = spec.next_after(*t))
    latest = *t;
  return latest;
}

// The number of ticks in (after, until], counted up to kMaxCounted.
std::size_t count_ticks(const CronSpec& spec, TimePoint after, TimePoint until) {
  std::size_t n = 0;
  for (std::optional<TimePoint> t = spec.next_after(after); t && *t <= until && n < kMaxCounted;
       t = spec.next_after(*t))
    ++n;
  return n;
}

}  // namespace

TickPlan plan_ticks(const CronSpec& spec, TimePoint after, TimePoint now,
                    const MissedTicks& missed) {
  TickPlan plan;
  const std::optional<TimePoint> latest = latest_due(spec, after, now);
  if (!latest) return plan;
  plan.handled = latest;
  const bool on_time = *latest >= now - missed.grace;
  // The missed ticks are those in (after, missed_until].
  const TimePoint missed_until = on_time ? *latest - Duration{1} : *latest;
  const std::size_t missed_count = count_ticks(spec, after, missed_until);
  switch (missed.policy) {
    case MissedPolicy::skip:
      plan.skipped = missed_count;
      break;
    case MissedPolicy::once:
      if (missed_count > 0) {
        plan.fire.push_back({.tick = *latest, .catch_up = true, .missed = missed_count});
        return plan;
      }
      break;
    case MissedPolicy::all: {
      std::deque<TimePoint> recent;  // the latest `cap` missed ticks within the window
      const TimePoint window_start = std::max(after, now - missed.window - Duration{1});
      std::size_t walked = 0;
      for (std::optional<TimePoint> t = spec.next_after(window_start);
           t && *t <= missed_until && walked < kMaxCounted; t = spec.next_after(*t), ++walked) {
        recent.push_back(*t);
        if (recent.size() > missed.cap) recent.pop_front();
      }
      for (const TimePoint t : recent)
        plan.fire.push_back({.tick = t, .catch_up = true});
      plan.skipped = missed_count - std::min(missed_count, recent.size());
      break;
    }
  }
  if (on_time) plan.fire.push_back({.tick = *latest});
  return plan;
}

}  // namespace errand::detail
