// Unique jobs (README, "Unique jobs"): an enqueue that asks for uniqueness inserts its job only
// when no job with the same unique key is in one of the blocking states; otherwise it reports the
// existing job. The store enforces it with a primary key on the key (INSERT ... ON CONFLICT),
// never by a check before the insert.
//
// The key: the job type's name, and what UniqueOptions adds - the queue, the payload (all of it,
// or chosen top-level fields), and the period bucket of the job's run_at (run_at / period, by the
// store's clock when run_at is not given).
#pragma once

#include <errand/clock.hpp>

#include <concepts>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace errand {

// The states in which an existing job blocks a new one with its key (a mask of these).
enum UniqueState : std::uint32_t {
  unique_scheduled = 1U << 0,  // waiting for its run_at
  unique_ready = 1U << 1,      // due, not claimed
  unique_running = 1U << 2,    // claimed by a worker (also while a killed worker's lease lasts)
  unique_completed = 1U << 3,  // kept after completing (only while retention keeps it)
  unique_cancelled = 1U << 4,
  unique_discarded = 1U << 5,  // dead: in the dead-letter queue
};
inline constexpr std::uint32_t kUniqueAllStates = (1U << 6) - 1;
// The states of finished jobs (kept after they ended).
inline constexpr std::uint32_t kUniqueFinishedStates =
    unique_completed | unique_cancelled | unique_discarded;
inline constexpr std::uint32_t kUniqueDefaultStates =
    unique_scheduled | unique_ready | unique_running | unique_completed;

enum class OnConflict {
  skip,     // report the existing job; change nothing
  replace,  // the existing job, when scheduled or ready, takes the new payload, run_at, priority
            // and context; a running (or finished) one is reported as for skip
};

struct UniqueOptions {
  bool by_queue = false;  // the queue is part of the key
  // Payload fields in the key: nullopt, the whole payload; a list, those top-level fields (a
  // payload without one of them is refused at enqueue); an empty list, none (the job type alone).
  std::optional<std::vector<std::string>> fields{};
  std::optional<Duration> period{};  // at most one job per period of run_at (> 0)
  std::uint32_t states = kUniqueDefaultStates;
  OnConflict on_conflict = OnConflict::skip;
};

// A job type may ask for uniqueness for every enqueue of it (EnqueueOptions::unique overrides):
//   static inline const errand::UniqueOptions unique{.fields = {{"customer_id"}}};
template <class J>
concept HasUnique = requires {
  { J::unique } -> std::convertible_to<const UniqueOptions&>;
};

// What an enqueue did with a job.
enum class EnqueueOutcome {
  inserted,   // a new job (also for a job that asked for no uniqueness)
  duplicate,  // a job with its key blocked it: the id is that job's
  replaced,   // OnConflict::replace updated that (scheduled or ready) job: the id is that job's
};

// "inserted", "duplicate" or "replaced".
std::string_view to_string(EnqueueOutcome outcome);

namespace detail {
// The key of a job of type `name` with `payload` (its JSON text) in `queue`, before the period:
// 64 hex digits of SHA-256 over the parts UniqueOptions names. Throws EnqueueError
// (serialization) for a payload that is not JSON, not an object when fields are named, or lacks
// a named field, and for states naming no state or a period <= 0.
std::string unique_key(std::string_view name, std::string_view queue, std::string_view payload,
                       const UniqueOptions& options);
}  // namespace detail

}  // namespace errand
