// Named queues and their flow control (docs/architecture.md, "Queues and limits").
//
// Every job belongs to one queue: its type's `static constexpr std::string_view queue = "mail";`,
// an enqueue's EnqueueOptions::queue, or "default". A queue's settings live in the store, shared
// by every worker of every process: paused or not, and its limits:
// - global:  at most N of its jobs hold a lease at once (running, prefetched, or held by a
//            killed worker until its jobs are rescued), across every worker and machine;
// - per_key: at most M jobs of one partition key hold a lease at once; keys are served in turn;
// - rate:    at most N claims in any window of `period`, by the store's clock: for every claim
//            at time t, the claims of the queue in (t - period, t] number at most N.
// Jobs a pause or a limit holds back stay where they are: no attempt charged, nothing rewritten.
#pragma once

#include <errand/clock.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace errand {

inline constexpr std::string_view kDefaultQueue = "default";
// Queue names: 1 to 64 bytes of [A-Za-z0-9_.:-]. Partition keys: at most 256 bytes of UTF-8.
inline constexpr std::size_t kMaxQueueNameBytes = 64;
inline constexpr std::size_t kMaxPartitionKeyBytes = 256;
// Throws ConfigError naming the rule unless `name` is a valid queue name.
void check_queue_name(std::string_view name);

// At most `limit` claims in any window of `period` (period > 0, limit >= 1).
struct RateLimit {
  std::int32_t limit = 0;
  Duration period{0};
  bool operator==(const RateLimit&) const = default;
};
// "10/s", "600/1m", "5/250ms", "100/1h" (units ms, s, m, h; a bare unit means 1 of it).
// Throws ConfigError saying what is wrong.
RateLimit parse_rate(std::string_view text);
std::string format_rate(const RateLimit& rate);

struct QueueLimits {
  std::optional<std::int32_t> global{};   // >= 1
  std::optional<std::int32_t> per_key{};  // >= 1
  std::optional<RateLimit> rate{};
  bool any() const { return global || per_key || rate; }
  bool operator==(const QueueLimits&) const = default;
};
// Throws ConfigError unless every limit given is valid (positive counts, a positive period).
void check_limits(const QueueLimits& limits);

// A change to a queue's settings (Store::update_queue). Fields left empty keep their value;
// `clear_limits` removes every limit first, then the limits given are set.
struct QueueUpdate {
  std::optional<bool> paused{};
  bool clear_limits = false;
  std::optional<std::int32_t> global{};
  std::optional<std::int32_t> per_key{};
  std::optional<RateLimit> rate{};
};

// A queue as Store::list_queues shows it, at the store's now.
struct QueueInfo {
  std::string name{};
  bool paused = false;
  QueueLimits limits{};
  std::int64_t ready = 0;      // due now, unlocked
  std::int64_t scheduled = 0;  // due later
  std::int64_t running = 0;    // holding a lease (running, prefetched, or a lost worker's)
  std::int64_t completed = 0;  // finished and kept
  std::int64_t cancelled = 0;
  std::int64_t discarded = 0;
  std::int64_t busiest_key_running = 0;       // with a per-key limit: the most leases one key holds
  std::optional<std::int32_t> rate_tokens{};  // with a queue-wide rate: claims allowed now
  std::optional<Duration> oldest_ready_age{};  // how long the oldest ready job has been due
  TimePoint updated_at{};                      // last change of its settings
  // The limit the counts were taken with (Store::list_queues): a count at or above it means at
  // least that many (at_least); 0: every count is exact.
  std::int64_t count_limit = 0;
};

}  // namespace errand
