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
};

namespace detail {
// Serializes `payload` into a NewJob row; throws EnqueueError(serialization).
NewJob make_row(std::string_view name, const nlohmann::json& payload, EnqueueOptions options);
[[noreturn]] void throw_serialization_error(std::string_view name, const char* what);
// Store::enqueue with StoreError turned into EnqueueError(storage).
std::vector<JobId> insert_rows(Store& store, std::span<const NewJob> rows);

template <EnqueueableJob J>
NewJob to_row(const J& job, EnqueueOptions options) {
  nlohmann::json payload;
  try {
    payload = job;
  } catch (const std::exception& e) {
    throw_serialization_error(J::name, e.what());
  }
  return make_row(J::name, payload, std::move(options));
}
}  // namespace detail

// Enqueues one job; returns its id. Throws EnqueueError.
template <class J>
JobId enqueue(Store& store, const J& job, EnqueueOptions options) {
  detail::check_enqueueable<J>();
  NewJob row = detail::to_row(job, std::move(options));
  return detail::insert_rows(store, std::span<const NewJob>(&row, 1)).front();
}

template <class J>
JobId enqueue(Store& store, const J& job, std::string context = {}, std::int32_t priority = 0) {
  return enqueue(store, job, EnqueueOptions{.context = std::move(context), .priority = priority});
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

// Inserts a batch in one transaction; returns the ids in order. Throws EnqueueError.
inline std::vector<JobId> enqueue(Store& store, const Batch& batch) {
  return detail::insert_rows(store, batch.rows());
}

// Enqueues every job of a range with the same options, in one transaction.
template <class Range>
std::vector<JobId> enqueue_all(Store& store, const Range& jobs,
                               const EnqueueOptions& options = {}) {
  Batch batch;
  for (const auto& job : jobs)
    batch.add(job, options);
  return enqueue(store, batch);
}

}  // namespace errand
