#include <errand/clock.hpp>

#include <list>
#include <mutex>
#include <stdexcept>

namespace errand {

SteadyTime Clock::steady_now() const {
  return std::chrono::steady_clock::now();
}

std::unique_ptr<ClockWatch> Clock::watch(std::function<void()>) const {
  return nullptr;
}

TimePoint SystemClock::now() const {
  return std::chrono::time_point_cast<Duration>(std::chrono::system_clock::now());
}

std::shared_ptr<const Clock> system_clock() {
  static const auto clock = std::make_shared<const SystemClock>();
  return clock;
}

// Shared with the watches, so either may outlive the other.
struct ManualClock::Watchers {
  struct Watcher {
    explicit Watcher(std::function<void()> m) : moved(std::move(m)) {}
    std::function<void()> moved;
    std::atomic<bool> asleep{false};
    std::atomic<bool> news{false};  // moved since the watcher last looked
  };
  std::mutex mutex;  // held while callbacks run: a watch never ends during its call
  std::list<Watcher> list;
};

ManualClock::ManualClock(TimePoint start)
    : wall_at_zero_(start.time_since_epoch().count()), watchers_(std::make_shared<Watchers>()) {}

ManualClock::~ManualClock() = default;

std::unique_ptr<ClockWatch> ManualClock::watch(std::function<void()> moved) const {
  class Registered final : public ClockWatch {
   public:
    Registered(std::shared_ptr<Watchers> watchers, std::list<Watchers::Watcher>::iterator it)
        : watchers_(std::move(watchers)), it_(it) {}
    ~Registered() override {
      std::lock_guard lock(watchers_->mutex);
      watchers_->list.erase(it_);
    }
    void looking() override {
      it_->asleep = false;
      it_->news = false;
    }
    void sleeping() override { it_->asleep = true; }

   private:
    std::shared_ptr<Watchers> watchers_;
    std::list<Watchers::Watcher>::iterator it_;
  };
  std::lock_guard lock(watchers_->mutex);
  watchers_->list.emplace_back(std::move(moved));
  return std::make_unique<Registered>(watchers_, std::prev(watchers_->list.end()));
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

std::size_t ManualClock::sleepers() const {
  std::lock_guard lock(watchers_->mutex);
  std::size_t n = 0;
  for (const auto& w : watchers_->list)
    n += w.asleep && !w.news ? 1 : 0;
  return n;
}

void ManualClock::notify() const {
  // After the move itself: a watcher that looks from now on sees it.
  std::lock_guard lock(watchers_->mutex);
  for (auto& w : watchers_->list) {
    w.news = true;
    w.moved();
  }
}

}  // namespace errand
