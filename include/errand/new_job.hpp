// A job to insert (Store::insert_jobs) and what became of it.
#pragma once

#include <errand/clock.hpp>
#include <errand/lifecycle.hpp>
#include <errand/queues.hpp>
#include <errand/unique.hpp>

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace errand {

// A job to insert. `payload` must be a JSON document (the store does not parse it); `queue` a
// valid queue name (check_queue_name); `partition_key` at most kMaxPartitionKeyBytes of UTF-8
// (empty: no key; such jobs share one partition, the empty key).
struct NewJob {
  std::string name{};
  std::string payload{};
  std::string context{};
  std::int32_t priority = 0;
  std::string queue{kDefaultQueue};
  std::string partition_key{};
  std::optional<TimePoint> run_at{};  // not before this time; when empty ...
  std::optional<Duration> delay{};    // ... not before the store's now + delay (else: now)
  // Uniqueness (errand/unique.hpp): detail::unique_key's text, empty for none. The store appends
  // the bucket of the job's run_at when unique_period is set, and inserts the job only when no
  // job holding that key is in one of unique_states.
  std::string unique_key{};
  std::optional<Duration> unique_period{};
  std::uint32_t unique_states = kUniqueDefaultStates;
  OnConflict on_conflict = OnConflict::skip;
};

// What an enqueue did with one job: its id (a duplicate's: the existing job's) and the outcome.
// Converts to the id, so that `JobId id = errand::enqueue(...)` reads as before uniqueness.
struct Enqueued {
  JobId id = 0;
  EnqueueOutcome outcome = EnqueueOutcome::inserted;
  operator JobId() const { return id; }  // NOLINT(google-explicit-constructor)
  bool operator==(const Enqueued&) const = default;
};

// The ids of what an enqueue returned, in order.
inline std::vector<JobId> ids_of(std::span<const Enqueued> done) {
  return std::vector<JobId>(done.begin(), done.end());
}

}  // namespace errand
