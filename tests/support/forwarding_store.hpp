// A Store decorator in the manner of leveldb's EnvWrapper: forwards every virtual of Store to a
// real store (Store's virtuals are all pure, so one this class misses does not compile; the
// ForwardingStore conformance test checks that each call reaches the inner store), counts
// claims (so a test can tell when a worker has gone idle) and injects StoreErrors on demand.
// Claims are counted and failed on settle_and_claim, the call the worker makes, so fault
// injection runs the production path: a call that claims (max > 0) is a claim.
#pragma once

#include <errand/error.hpp>
#include <errand/store.hpp>

#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>

namespace errand_test {

class ForwardingStore final : public errand::Store {
 public:
  explicit ForwardingStore(std::shared_ptr<errand::Store> inner) : inner_(std::move(inner)) {}

  // The next `n` calls of each kind throw StoreError("injected ...") without reaching the store
  // (for a claim: neither its outcomes nor its claim are applied, as when a store's transaction
  // fails).
  std::atomic<int> fail_claims{0};
  std::atomic<int> fail_enqueues{0};
  // The next `n` register_worker / heartbeat calls throw without reaching the store.
  std::atomic<int> fail_beats{0};
  // The next `n` claims that lock a job commit in the store (outcomes and claim), then throw as
  // if the reply had been lost.
  std::atomic<int> lose_claim_replies{0};

  // Claims that returned no job (the worker found nothing to do).
  std::int64_t empty_claims() const {
    std::lock_guard lock(mutex_);
    return empty_claims_;
  }
  // True when the latest claim returned no job (the worker is, or is about to be, idle).
  bool last_claim_empty() const {
    std::lock_guard lock(mutex_);
    return last_claim_empty_;
  }
  std::int64_t claims() const {
    std::lock_guard lock(mutex_);
    return claims_;
  }
  std::int64_t failed_claims() const {
    std::lock_guard lock(mutex_);
    return failed_claims_;
  }
  // Heartbeats that reached the store.
  std::atomic<std::int64_t> heartbeats{0};
  // True once empty_claims() >= n.
  bool wait_for_empty_claims(std::int64_t n, std::chrono::milliseconds deadline) {
    std::unique_lock lock(mutex_);
    return cv_.wait_for(lock, deadline, [&] { return empty_claims_ >= n; });
  }

  // --- every virtual of Store, in Store's order --------------------------------------------

  std::string describe() const override { return inner_->describe(); }
  const errand::Clock& clock() const override { return inner_->clock(); }
  int schema_version() override { return inner_->schema_version(); }
  std::vector<errand::JobId> enqueue(std::span<const errand::NewJob> jobs) override {
    if (take(fail_enqueues)) throw errand::StoreError("injected enqueue failure");
    return inner_->enqueue(jobs);
  }
  Exchange settle_and_claim(std::string_view worker_id, std::span<const errand::Outcome> outcomes,
                            std::size_t max, errand::Duration lock_timeout) override {
    if (max == 0) return inner_->settle_and_claim(worker_id, outcomes, max, lock_timeout);
    if (take(fail_claims)) {
      {
        std::lock_guard lock(mutex_);
        ++failed_claims_;
      }
      throw errand::StoreError("injected claim failure");
    }
    auto exchange = inner_->settle_and_claim(worker_id, outcomes, max, lock_timeout);
    const bool empty = exchange.claimed.empty();
    if (!empty && take(lose_claim_replies)) {
      throw errand::StoreError("injected loss of a committed claim's reply");
    }
    {
      std::lock_guard lock(mutex_);
      ++claims_;
      if (empty) ++empty_claims_;
      last_claim_empty_ = empty;
    }
    cv_.notify_all();
    return exchange;
  }
  errand::TimePoint register_worker(const errand::WorkerRegistration& worker) override {
    if (take(fail_beats)) throw errand::StoreError("injected register_worker failure");
    return inner_->register_worker(worker);
  }
  void heartbeat(const errand::WorkerRegistration& worker,
                 std::span<const errand::JobId> held) override {
    if (take(fail_beats)) throw errand::StoreError("injected heartbeat failure");
    heartbeats.fetch_add(1);
    inner_->heartbeat(worker, held);
  }
  void remove_worker(std::string_view worker_id) override { inner_->remove_worker(worker_id); }
  std::vector<errand::WorkerInfo> list_workers() override { return inner_->list_workers(); }
  std::vector<errand::LostJob> find_lost_jobs(errand::Duration rescue_after,
                                              std::size_t limit) override {
    return inner_->find_lost_jobs(rescue_after, limit);
  }
  std::size_t forget_lost_workers(errand::Duration rescue_after) override {
    return inner_->forget_lost_workers(rescue_after);
  }
  std::unique_ptr<errand::Subscription> subscribe(std::function<void()> on_new_jobs) override {
    return inner_->subscribe(std::move(on_new_jobs));
  }
  errand::JobCounts counts(errand::Duration lock_timeout) override {
    return inner_->counts(lock_timeout);
  }
  std::vector<errand::JobInfo> list_jobs(const errand::JobFilter& filter) override {
    return inner_->list_jobs(filter);
  }
  std::vector<errand::DeadJob> list_dead(const errand::DeadFilter& filter) override {
    return inner_->list_dead(filter);
  }
  bool retry_dead(errand::JobId id) override { return inner_->retry_dead(id); }

 protected:
  // The inner store's public entry points, which check the selection again (harmless).
  std::size_t retry_selected_dead(const errand::DeadSelection& which) override {
    return inner_->retry_dead_jobs(which);
  }
  std::size_t purge_selected_dead(const errand::DeadSelection& which) override {
    return inner_->purge_dead_jobs(which);
  }
  errand::DeadTally tally_selected_dead(const errand::DeadSelection& which,
                                        std::size_t max_ids) override {
    return inner_->tally_dead_jobs(which, max_ids);
  }

 private:
  static bool take(std::atomic<int>& counter) {
    int n = counter.load();
    while (n > 0) {
      if (counter.compare_exchange_weak(n, n - 1)) return true;
    }
    return false;
  }

  std::shared_ptr<errand::Store> inner_;
  mutable std::mutex mutex_;
  std::condition_variable cv_;
  std::int64_t claims_ = 0;
  std::int64_t empty_claims_ = 0;
  std::int64_t failed_claims_ = 0;
  bool last_claim_empty_ = false;
};

}  // namespace errand_test
