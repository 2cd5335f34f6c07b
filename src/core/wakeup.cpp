#include "core/wakeup.hpp"

#include <list>
#include <map>
#include <mutex>

namespace errand::detail {

namespace {

// Callbacks by channel key, of one signature.
template <class Callback>
struct Channels {
  std::mutex mutex;
  std::map<std::string, std::list<Callback>> callbacks;

  static Channels& instance() {
    static Channels* channels = new Channels;  // never destroyed: usable during static teardown
    return *channels;
  }

  // Calls every callback on `key` with `args`. Callbacks only signal a condition variable or
  // take a worker's mutex briefly; calling them under the lock keeps a subscription from being
  // destroyed while its callback runs.
  template <class... Args>
  void publish(const std::string& key, Args... args) {
    std::lock_guard lock(mutex);
    auto found = callbacks.find(key);
    if (found == callbacks.end()) return;
    for (const auto& callback : found->second)
      callback(args...);
  }
};

template <class Callback>
class ChannelSubscription final : public Subscription {
 public:
  using Iterator = typename std::list<Callback>::iterator;
  ChannelSubscription(std::string key, Iterator it) : key_(std::move(key)), it_(it) {}
  ~ChannelSubscription() override {
    auto& c = Channels<Callback>::instance();
    std::lock_guard lock(c.mutex);
    auto found = c.callbacks.find(key_);
    found->second.erase(it_);
    if (found->second.empty()) c.callbacks.erase(found);
  }

 private:
  std::string key_;
  Iterator it_;
};

template <class Callback>
std::unique_ptr<Subscription> subscribe(const std::string& key, Callback callback) {
  auto& c = Channels<Callback>::instance();
  std::lock_guard lock(c.mutex);
  auto& list = c.callbacks[key];
  auto it = list.insert(list.end(), std::move(callback));
  return std::make_unique<ChannelSubscription<Callback>>(key, it);
}

}  // namespace

std::unique_ptr<Subscription> subscribe_wakeups(const std::string& key,
                                                std::function<void()> callback) {
  return subscribe(key, std::move(callback));
}

void publish_wakeup(const std::string& key) {
  Channels<std::function<void()>>::instance().publish(key);
}

std::unique_ptr<Subscription> subscribe_cancels(const std::string& key,
                                                std::function<void(JobId)> callback) {
  return subscribe(key, std::move(callback));
}

void publish_cancel(const std::string& key, JobId id) {
  Channels<std::function<void(JobId)>>::instance().publish(key, id);
}

}  // namespace errand::detail
