#include "testing/limited_store.hpp"

#include <algorithm>

namespace errand::testing::detail {

namespace {

// `claim` cut down to at most `budget` jobs: free slots first, then prefetch, queue by queue.
ClaimRequest within(const ClaimRequest& claim, std::size_t budget) {
  ClaimRequest cut = claim;
  const auto take = [&](std::size_t& n) {
    n = std::min(n, budget);
    budget -= n;
  };
  take(cut.max);
  for (QueueDemand& demand : cut.queues)
    take(demand.max);
  take(cut.prefetch);
  for (QueueDemand& demand : cut.queues)
    take(demand.prefetch);
  return cut;
}

}  // namespace

Store::Exchange LimitedStore::settle_and_claim(std::string_view worker_id,
                                               std::span<const Outcome> outcomes,
                                               const ClaimRequest& claim, Duration lock_timeout) {
  ClaimRequest granted_claim;
  std::size_t granted = 0;
  {
    std::lock_guard lock(mutex_);
    granted_claim = within(claim, left_);
    granted = granted_claim.total();
    left_ -= granted;
  }
  Exchange exchange;
  try {
    exchange = inner().settle_and_claim(worker_id, outcomes, granted_claim, lock_timeout);
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
