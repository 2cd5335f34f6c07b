#include "testing/limited_store.hpp"

#include <algorithm>

namespace errand::testing::detail {

Store::Exchange LimitedStore::settle_and_claim(std::string_view worker_id,
                                               std::span<const Outcome> outcomes, std::size_t max,
                                               Duration lock_timeout) {
  std::size_t granted = 0;
  {
    std::lock_guard lock(mutex_);
    granted = std::min(max, left_);
    left_ -= granted;
  }
  Exchange exchange;
  try {
    exchange = inner().settle_and_claim(worker_id, outcomes, granted, lock_timeout);
  } catch (...) {
    std::lock_guard lock(mutex_);
    left_ += granted;
    throw;
  }
  std::lock_guard lock(mutex_);
  left_ += granted - exchange.claimed.size();
  taken_ += exchange.claimed.size();
  return exchange;
}

std::size_t LimitedStore::claimed() const {
  std::lock_guard lock(mutex_);
  return taken_;
}

bool LimitedStore::exhausted() const {
  std::lock_guard lock(mutex_);
  return left_ == 0;
}

}  // namespace errand::testing::detail
