#include <errand/clock.hpp>

#include <list>
#include <mutex>
#include <stdexcept>

namespace errand {

SteadyTime Clock::steady_now() const {
  return std::chrono::steady_clock::now();
}

std::unique_ptr<Subscription> Clock::subscribe(std::function<void()>) const {
  return nullptr;
}

TimePoint SystemClock::now() const {
  return std::chrono::time_point_cast<Duration>(std::chrono::system_clock::now());
}

std::shared_ptr<const Clock> system_clock() {
  static const auto clock = std::make_shared<const SystemClock>();
  return clock;
}

// Shared with the subscriptions, so either may outlive the other.
struct ManualClock::Subscribers {
  std::mutex mutex;  // held while callbacks run: a subscription never ends during its call
  std::list<std::function<void()>> callbacks;
};

ManualClock::ManualClock(TimePoint start)
    : wall_at_zero_(start.time_since_epoch().count()),
      subscribers_(std::make_shared<Subscribers>()) {}

ManualClock::~ManualClock() = default;

std::unique_ptr<Subscription> ManualClock::subscribe(std::function<void()> moved) const {
  class Registered final : public Subscription {
   public:
    Registered(std::shared_ptr<Subscribers> list, std::list<std::function<void()>>::iterator it)
        : list_(std::move(list)), it_(it) {}
    ~Registered() override {
      std::lock_guard lock(list_->mutex);
      list_->callbacks.erase(it_);
    }

   private:
    std::shared_ptr<Subscribers> list_;
    std::list<std::function<void()>>::iterator it_;
  };
  std::lock_guard lock(subscribers_->mutex);
  auto it = subscribers_->callbacks.insert(subscribers_->callbacks.end(), std::move(moved));
  return std::make_unique<Registered>(subscribers_, it);
}

void ManualClock::set(TimePoint t) {
  wall_at_zero_ = t.time_since_epoch().count() - elapsed_.load();
  notify();
}

void ManualClock::advance(Duration d) {
  if (d < Duration{0}) {
    throw std::invalid_argument(
        "errand::ManualClock::advance: time does not go back (set() steps the wall clock)");
  }
  elapsed_ += d.count();
  notify();
}

void ManualClock::notify() const {
  std::lock_guard lock(subscribers_->mutex);
  for (const auto& moved : subscribers_->callbacks)
    moved();
}

}  // namespace errand
