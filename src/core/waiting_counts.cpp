#include "core/waiting_counts.hpp"

#include <errand/error.hpp>

#include <fmt/format.h>

#include <algorithm>

namespace errand::detail {

void check_count_limit(std::int64_t limit) {
  if (limit < 0) {
    throw ConfigError(
        fmt::format("a count limit is 0 (count exactly) or a positive number, not {}", limit));
  }
}

std::int64_t count_bound(std::int64_t limit, std::int64_t counted) {
  return limit <= 0 ? kCountAll : std::max<std::int64_t>(limit - counted, 0);
}

WaitingCounts count_waiting(std::int64_t limit, TimePoint now, const NextPriority& next) {
  WaitingCounts counts;
  std::optional<std::int32_t> below;
  while (const std::optional<PriorityWaiting> p =
             next(below, count_bound(limit, counts.ready), count_bound(limit, counts.scheduled))) {
    counts.ready += p->ready;
    counts.scheduled += p->scheduled;
    if (p->first_run_at && *p->first_run_at <= now &&
        (!counts.oldest_ready_run_at || *p->first_run_at < *counts.oldest_ready_run_at)) {
      counts.oldest_ready_run_at = p->first_run_at;
    }
    below = p->priority;
  }
  return counts;
}

}  // namespace errand::detail
