#include "core/wakeup.hpp"

#include <list>
#include <map>
#include <mutex>

namespace errand::detail {

namespace {

struct Channels {
  std::mutex mutex;
  std::map<std::string, std::list<std::function<void()>>> callbacks;
};

Channels& channels() {
  static Channels* instance = new Channels;  // never destroyed: usable during static teardown
  return *instance;
}

class ChannelSubscription final : public Subscription {
 public:
  ChannelSubscription(std::string key, std::list<std::function<void()>>::iterator it)
      : key_(std::move(key)), it_(it) {}
  ~ChannelSubscription() override {
    auto& c = channels();
    std::lock_guard lock(c.mutex);
    auto found = c.callbacks.find(key_);
    found->second.erase(it_);
    if (found->second.empty()) c.callbacks.erase(found);
  }

 private:
  std::string key_;
  std::list<std::function<void()>>::iterator it_;
};

}  // namespace

std::unique_ptr<Subscription> subscribe_wakeups(const std::string& key,
                                                std::function<void()> callback) {
  auto& c = channels();
  std::lock_guard lock(c.mutex);
  auto& list = c.callbacks[key];
  auto it = list.insert(list.end(), std::move(callback));
  return std::make_unique<ChannelSubscription>(key, it);
}

void publish_wakeup(const std::string& key) {
  auto& c = channels();
  // Callbacks only signal a condition variable; calling them under the lock keeps a
  // subscription from being destroyed while its callback runs.
  std::lock_guard lock(c.mutex);
  auto found = c.callbacks.find(key);
  if (found == c.callbacks.end()) return;
  for (const auto& callback : found->second)
    callback();
}

}  // namespace errand::detail
