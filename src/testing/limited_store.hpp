// A StoreWrapper (every call forwarded to another store), except that its claims take at most
// `budget` jobs in all: drain's safety bound. Once the budget is spent a claim returns nothing, so
// the engine's run_until_idle ends; the jobs left stay untouched in the store.
#pragma once

#include <errand/store_wrapper.hpp>

#include <cstddef>
#include <memory>
#include <mutex>

namespace errand::testing::detail {

class LimitedStore final : public StoreWrapper {
 public:
  LimitedStore(std::shared_ptr<Store> inner, std::size_t budget)
      : StoreWrapper(std::move(inner)), left_(budget) {}

  // Jobs claimed so far.
  std::size_t claimed() const;
  bool exhausted() const;

  Exchange settle_and_claim(std::string_view worker_id, std::span<const Outcome> outcomes,
                            const ClaimRequest& claim, Duration lock_timeout) override;

 private:
  mutable std::mutex mutex_;
  std::size_t left_;  // guarded by mutex_
  std::size_t taken_ = 0;
};

}  // namespace errand::testing::detail
