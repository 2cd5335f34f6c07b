// Counting a queue's waiting jobs with a limit (Store::counts, Store::list_queues), shared by the
// stores: the runnable index is ordered by queue, then priority, then run_at, so within one
// priority the ready jobs (run_at <= now) and the scheduled ones (run_at > now) are two ranges,
// each counted up to what is left of the limit. Reads at most about 2 x limit index entries per
// queue, plus one probe per distinct priority.
#pragma once

#include <errand/clock.hpp>

#include <cstdint>
#include <functional>
#include <optional>

namespace errand::detail {

// The bound a store is asked to count up to when the count is exact.
inline constexpr std::int64_t kCountAll = -1;

// One priority of a queue's waiting (unlocked) jobs.
struct PriorityWaiting {
  std::int32_t priority = 0;
  std::optional<TimePoint> first_run_at{};  // the earliest run_at at this priority
  std::int64_t ready = 0;                   // counted up to the bound asked (kCountAll: all)
  std::int64_t scheduled = 0;
};

// A queue's waiting jobs. With a limit, a count at or above it means at least that many.
struct WaitingCounts {
  std::int64_t ready = 0;
  std::int64_t scheduled = 0;
  std::optional<TimePoint> oldest_ready_run_at{};
};

// Reads the highest priority below `below` (nullopt: the highest of all) that has waiting jobs,
// counting its ready jobs up to `ready_bound` and its scheduled ones up to `scheduled_bound`
// (kCountAll: every one; 0: none); nullopt when there is none.
using NextPriority = std::function<std::optional<PriorityWaiting>(
    std::optional<std::int32_t> below, std::int64_t ready_bound, std::int64_t scheduled_bound)>;

// Counts a queue's waiting jobs priority by priority; `limit` 0: exactly.
WaitingCounts count_waiting(std::int64_t limit, TimePoint now, const NextPriority& next);

// Throws ConfigError for a negative limit (Store::counts, list_queues).
void check_count_limit(std::int64_t limit);

// The bound to pass for a count of `limit` (0: exact) of which `counted` are counted already.
std::int64_t count_bound(std::int64_t limit, std::int64_t counted);

}  // namespace errand::detail
