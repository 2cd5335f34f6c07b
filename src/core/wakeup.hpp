// Process-wide wake-up channels: an enqueue wakes every worker of this process that subscribed
// to the same channel key (for SQLite: the database file's canonical path), whichever Store
// instance each of them uses; a cancel tells them which running job to stop.
#pragma once

#include <errand/store.hpp>

#include <functional>
#include <memory>
#include <string>

namespace errand::detail {

// Registers `callback` on channel `key` until the returned subscription is destroyed.
std::unique_ptr<Subscription> subscribe_wakeups(const std::string& key,
                                                std::function<void()> callback);
// Calls every callback registered on `key`.
void publish_wakeup(const std::string& key);

// The same for cancels of running jobs (Store::subscribe_cancels): the job's id.
std::unique_ptr<Subscription> subscribe_cancels(const std::string& key,
                                                std::function<void(JobId)> callback);
void publish_cancel(const std::string& key, JobId id);

}  // namespace errand::detail
