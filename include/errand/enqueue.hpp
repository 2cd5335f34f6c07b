// Enqueueing jobs. `enqueue<J>` serializes the job and forwards to Store::enqueue.
//
//   errand::enqueue(*store, EmailJob{...}, "user-signup");          // priority 0, due now
//   errand::enqueue(*store, CleanupJob{}, "nightly", -10);           // background work
//   errand::enqueue(*store, ReminderJob{...}, {.context = "trial", .delay =
//   std::chrono::hours{24}});
#pragma once

#include <errand/error.hpp>
#include <errand/job.hpp>
#include <errand/store.hpp>
#include <errand/unique.hpp>

#include <nlohmann/json.hpp>

#include <optional>
#include <span>
#include <string>
#include <vector>

namespace errand {

struct EnqueueOptions {
  std::string context{};              // why the job was enqueued; shown in listings and errors
  std::int32_t priority = 0;          // higher runs first; negative for background work
  std::optional<TimePoint> run_at{};  // not before this time ...
  std::optional<Duration> delay{};    // ... or not before now + delay (by the store's clock:
                                      // the database's for PostgreSQL)
  // The queue (errand/queues.hpp); empty: the job type's `queue`, else "default".
  std::optional<std::string> queue{};
  // The partition key for a queue's per-key limit; empty: the value of the payload field the
  // job type names in `partition_by`, else none (the empty key).
  std::optional<std::string> partition_key{};
  // Uniqueness (errand/unique.hpp); empty: the job type's `unique`, else none.
  std::optional<UniqueOptions> unique{};
};

// A job type may declare its queue and the payload field whose value is its partition key:
//   static constexpr std::string_view queue = "payments";
//   static constexpr std::string_view partition_by = "customer_id";
// A payload without that field (or with null, an object or an array there) is refused at
// enqueue (EnqueueError): give the key in EnqueueOptions::partition_key instead.
template <class J>
concept HasQueue = requires {
  { J::queue } -> std::convertible_to<std::string_view>;
};
template <class J>
concept HasPartitionBy = requires {
  { J::partition_by } -> std::convertible_to<std::string_view>;
};

namespace detail {
// What a job type declares about where it goes (empty: nothing).
struct Routing {
  const UniqueOptions* unique = nullptr;
  std::string_view queue{};
  std::string_view partition_by{};
};
template <class J>
constexpr Routing routing_of() {
  Routing routing;
  if constexpr (HasQueue<J>) routing.queue = J::queue;
  if constexpr (HasPartitionBy<J>) routing.partition_by = J::partition_by;
  if constexpr (HasUnique<J>) routing.unique = &J::unique;
  return routing;
}
// Serializes `payload` into a NewJob row, with its queue and partition key; throws
// EnqueueError(serialization) for a payload, context, queue or key it refuses.
NewJob make_row(std::string_view name, const nlohmann::json& payload, EnqueueOptions options,
                Routing routing = {});
[[noreturn]] void throw_serialization_error(std::string_view name, const char* what);
// Store::insert_jobs with StoreError turned into EnqueueError(storage).
std::vector<Enqueued> insert_rows(Store& store, std::span<const NewJob> rows);

template <EnqueueableJob J>
NewJob to_row(const J& job, EnqueueOptions options) {
  nlohmann::json payload;
  try {
    payload = job;
  } catch (const std::exception& e) {
    throw_serialization_error(J::name, e.what());
  }
  return make_row(J::name, payload, std::move(options), routing_of<J>());
}
}  // namespace detail

// Enqueues one job; returns its id and what became of it (Enqueued converts to the id): inserted,
// or for a unique job a duplicate of (or replacing) the job holding its key. Throws EnqueueError.
template <class J>
Enqueued enqueue(Store& store, const J& job, EnqueueOptions options) {
  detail::check_enqueueable<J>();
  NewJob row = detail::to_row(job, std::move(options));
  return detail::insert_rows(store, std::span<const NewJob>(&row, 1)).front();
}

template <class J>
Enqueued enqueue(Store& store, const J& job, std::string context = {}, std::int32_t priority = 0) {
  return enqueue(store, job, EnqueueOptions{.context = std::move(context), .priority = priority});
}

// The job a schedule's ticks enqueue (errand::Schedule::job): `job` serialized with its queue,
// priority and partition key. Throws EnqueueError as enqueue does.
//   errand::Schedule{.name = "digest", .spec = "0 8 * * *", .zone = "Europe/London",
//                    .job = errand::scheduled_job(DigestJob{}, {.queue = "mail"})}
template <class J>
NewJob scheduled_job(const J& job, EnqueueOptions options = {}) {
  detail::check_enqueueable<J>();
  return detail::to_row(job, std::move(options));
}

// Jobs of any types, inserted together in one transaction: all or none.
class Batch {
 public:
  template <class J>
  Batch& add(const J& job, EnqueueOptions options = {}) {
    detail::check_enqueueable<J>();
    rows_.push_back(detail::to_row(job, std::move(options)));
    return *this;
  }
  std::span<const NewJob> rows() const { return rows_; }
  std::size_t size() const { return rows_.size(); }

 private:
  std::vector<NewJob> rows_{};
};

// Inserts a batch in one transaction; returns what became of each job, in order. Throws
// EnqueueError. Of unique jobs with the same key in one batch, the first decides; the others are
// its duplicates.
inline std::vector<Enqueued> enqueue(Store& store, const Batch& batch) {
  return detail::insert_rows(store, batch.rows());
}

// Enqueues every job of a range with the same options, in one transaction.
template <class Range>
std::vector<Enqueued> enqueue_all(Store& store, const Range& jobs,
                                  const EnqueueOptions& options = {}) {
  Batch batch;
  for (const auto& job : jobs)
    batch.add(job, options);
  return enqueue(store, batch);
}

}  // namespace errand
