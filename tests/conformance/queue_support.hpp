// Job types and helpers of the queue conformance tests (queue_conformance.cpp,
// queue_limit_conformance.cpp).
#pragma once

#include "support/conformance.hpp"

#include <errand/errand.hpp>

#include <gmock/gmock.h>

#include <algorithm>
#include <atomic>

namespace errand_test::queue_support {

using errand::ClaimedJob;
using errand::ClaimRequest;
using errand::JobId;
using errand::Outcome;
using errand::QueueDemand;
using errand::QueueInfo;
using errand::QueueLimits;
using errand::QueueUpdate;
using errand::RateLimit;
using errand::WorkerEvent;
using std::chrono::hours;
using std::chrono::microseconds;
using std::chrono::milliseconds;
using std::chrono::minutes;
using std::chrono::seconds;
using testing::ElementsAre;
using testing::HasSubstr;
using testing::UnorderedElementsAre;

// A job type with a queue of its own.
struct QueueMailJob {
  static constexpr std::string_view name = "QueueMail";
  static constexpr std::string_view queue = "mail";
  int tag = 0;
  void run(TestState& state) { state.record("QueueMail:" + std::to_string(tag)); }
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(QueueMailJob, tag)

// Its queue, and its partition key from a string field.
struct QueueCustomerJob {
  static constexpr std::string_view name = "QueueCustomer";
  static constexpr std::string_view queue = "payments";
  static constexpr std::string_view partition_by = "customer_id";
  std::string customer_id;
  void run(TestState&) {}
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(QueueCustomerJob, customer_id)

// Its partition key from a number field; the default queue.
struct QueueAccountJob {
  static constexpr std::string_view name = "QueueAccount";
  static constexpr std::string_view partition_by = "account";
  std::int64_t account = 0;
  void run(TestState&) {}
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(QueueAccountJob, account)

// Names a partition field its payload does not have.
struct QueueKeylessJob {
  static constexpr std::string_view name = "QueueKeyless";
  static constexpr std::string_view queue = "payments";
  static constexpr std::string_view partition_by = "customer_id";
  int tag = 0;
  void run(TestState&) {}
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(QueueKeylessJob, tag)

// Its partition field holds any JSON value.
struct QueueAnyKeyJob {
  static constexpr std::string_view name = "QueueAnyKey";
  static constexpr std::string_view partition_by = "customer_id";
  nlohmann::json customer_id;
  void run(TestState&) {}
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(QueueAnyKeyJob, customer_id)

// A HookJob row (it records "Hook:<tag>") in `queue`, of partition `key`.
inline errand::NewJob queue_job(std::string queue, std::string key = {}, std::string tag = "t",
                                std::int32_t priority = 0) {
  return errand::NewJob{.name = "Hook",
                        .payload = nlohmann::json{{"tag", std::move(tag)}}.dump(),
                        .priority = priority,
                        .queue = std::move(queue),
                        .partition_key = std::move(key)};
}

// `n` such jobs in one batch; returns their ids.
inline std::vector<JobId> queue_fill(errand::Store& store, const std::string& queue, std::size_t n,
                                     const std::string& key = {}) {
  std::vector<errand::NewJob> jobs(n, queue_job(queue, key));
  return store.enqueue(jobs);
}

inline ClaimRequest from_queue(std::string queue, std::size_t max, std::size_t prefetch = 0) {
  ClaimRequest request;
  request.queues.push_back(QueueDemand{std::move(queue), max, prefetch});
  return request;
}

inline ClaimRequest from_every_queue(std::size_t max, std::string after = {},
                                     std::size_t prefetch = 0) {
  ClaimRequest request(max);
  request.prefetch = prefetch;
  request.after_queue = std::move(after);
  return request;
}

inline std::vector<std::string> queues_of(const std::vector<ClaimedJob>& jobs) {
  std::vector<std::string> out;
  for (const ClaimedJob& job : jobs)
    out.push_back(job.queue);
  return out;
}

inline std::vector<std::string> keys_of(const std::vector<ClaimedJob>& jobs) {
  std::vector<std::string> out;
  for (const ClaimedJob& job : jobs)
    out.push_back(job.partition_key);
  return out;
}

inline std::vector<JobId> claimed_ids(const std::vector<ClaimedJob>& jobs) {
  std::vector<JobId> out;
  for (const ClaimedJob& job : jobs)
    out.push_back(job.id);
  return out;
}

inline std::size_t claimed_from(const std::vector<ClaimedJob>& jobs, std::string_view queue) {
  return static_cast<std::size_t>(std::count_if(
      jobs.begin(), jobs.end(), [&](const ClaimedJob& j) { return j.queue == queue; }));
}

inline QueueUpdate pause(bool paused) {
  return QueueUpdate{.paused = paused};
}
inline QueueUpdate global_limit(std::int32_t n) {
  return QueueUpdate{.global = n};
}
inline QueueUpdate per_key_limit(std::int32_t n) {
  return QueueUpdate{.per_key = n};
}
inline QueueUpdate rate_limit(std::int32_t n, errand::Duration period) {
  return QueueUpdate{.rate = RateLimit{n, period}};
}

inline Outcome queue_completed(const ClaimedJob& job) {
  return Outcome{.id = job.id, .locked_at = job.locked_at, .kind = Outcome::Kind::completed};
}

// Settles `job` as completed for `worker`; true when its lease held.
inline bool queue_complete(errand::Store& store, const std::string& worker, const ClaimedJob& job) {
  const Outcome outcome = queue_completed(job);
  return store.settle(worker, std::span<const Outcome>(&outcome, 1)).empty();
}

inline std::optional<QueueInfo> queue_listed(errand::Store& store, std::string_view name) {
  for (QueueInfo& info : store.list_queues()) {
    if (info.name == name) return info;
  }
  return std::nullopt;
}

inline QueueInfo queue_named(errand::Store& store, std::string_view name) {
  auto info = queue_listed(store, name);
  if (!info) throw std::runtime_error("queue '" + std::string(name) + "' is not listed");
  return *info;
}

inline std::vector<std::string> queue_names(errand::Store& store) {
  std::vector<std::string> names;
  for (const QueueInfo& info : store.list_queues())
    names.push_back(info.name);
  return names;
}

}  // namespace errand_test::queue_support
