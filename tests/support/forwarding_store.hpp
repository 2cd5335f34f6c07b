// A Store decorator on errand::StoreWrapper (which forwards every virtual of Store to a real
// store; the ForwardingStore conformance test checks that each call reaches the inner store):
// counts claims (so a test can tell when a worker has gone idle) and injects StoreErrors on
// demand.
// Claims are counted and failed on settle_and_claim, the call the worker makes, so fault
// injection runs the production path: a call that claims (max > 0) is a claim.
#pragma once

#include <errand/error.hpp>
#include <errand/store_wrapper.hpp>

#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>

namespace errand_test {

class ForwardingStore final : public errand::StoreWrapper {
 public:
  using StoreWrapper::StoreWrapper;

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

  // --- the calls it changes; StoreWrapper forwards the rest ---------------------------------

  std::vector<errand::Enqueued> insert_jobs(std::span<const errand::NewJob> jobs) override {
    if (take(fail_enqueues)) throw errand::StoreError("injected enqueue failure");
    return inner().insert_jobs(jobs);
  }
  Exchange settle_and_claim(std::string_view worker_id, std::span<const errand::Outcome> outcomes,
                            const errand::ClaimRequest& claim,
                            errand::Duration lock_timeout) override {
    if (claim.total() == 0)
      return inner().settle_and_claim(worker_id, outcomes, claim, lock_timeout);
    if (take(fail_claims)) {
      {
        std::lock_guard lock(mutex_);
        ++failed_claims_;
      }
      throw errand::StoreError("injected claim failure");
    }
    auto exchange = inner().settle_and_claim(worker_id, outcomes, claim, lock_timeout);
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
    return inner().register_worker(worker);
  }
  std::vector<errand::JobId> heartbeat(const errand::WorkerRegistration& worker,
                                       std::span<const errand::JobId> held,
                                       std::span<const errand::JobProgress> progress) override {
    if (take(fail_beats)) throw errand::StoreError("injected heartbeat failure");
    heartbeats.fetch_add(1);
    return inner().heartbeat(worker, held, progress);
  }

 private:
  static bool take(std::atomic<int>& counter) {
    int n = counter.load();
    while (n > 0) {
      if (counter.compare_exchange_weak(n, n - 1)) return true;
    }
    return false;
  }

  mutable std::mutex mutex_;
  std::condition_variable cv_;
  std::int64_t claims_ = 0;
  std::int64_t empty_claims_ = 0;
  std::int64_t failed_claims_ = 0;
  bool last_claim_empty_ = false;
};

}  // namespace errand_test
