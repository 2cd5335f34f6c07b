// A small pool of libpq connections to one target, shared by a store's threads.
#pragma once

#include "postgres/pq.hpp"

#include <condition_variable>
#include <memory>
#include <mutex>
#include <vector>

namespace errand::pg {

// A small pool of connections. A connection that broke is dropped on return; the next
// acquire connects anew, so the store recovers when the server comes back.
class Pool {
 public:
  Pool(std::shared_ptr<const pg::Target> target, std::size_t size)
      : target_(std::move(target)), size_(size) {}

  class Handle {
   public:
    Handle(Pool& pool, std::unique_ptr<Connection> c) : pool_(pool), connection_(std::move(c)) {}
    ~Handle() { pool_.give_back(std::move(connection_)); }
    Handle(const Handle&) = delete;
    Handle& operator=(const Handle&) = delete;
    Connection& operator*() { return *connection_; }
    Connection* operator->() { return connection_.get(); }

   private:
    Pool& pool_;
    std::unique_ptr<Connection> connection_;
  };

  Handle acquire() {
    std::unique_lock lock(mutex_);
    available_.wait(lock, [&] { return !idle_.empty() || open_ < size_; });
    if (!idle_.empty()) {
      auto c = std::move(idle_.back());
      idle_.pop_back();
      return Handle(*this, std::move(c));
    }
    ++open_;
    lock.unlock();
    try {
      return Handle(*this, std::make_unique<Connection>(target_));
    } catch (...) {
      lock.lock();
      --open_;
      available_.notify_one();
      throw;
    }
  }

  const std::shared_ptr<const pg::Target>& target() const { return target_; }

 private:
  void give_back(std::unique_ptr<Connection> c) {
    std::lock_guard lock(mutex_);
    // A connection left inside a failed transaction or broken is not reused.
    if (c && c->healthy() && PQtransactionStatus(c->native()) == PQTRANS_IDLE) {
      idle_.push_back(std::move(c));
    } else {
      --open_;
    }
    available_.notify_one();
  }

  std::shared_ptr<const pg::Target> target_;
  std::size_t size_;
  std::mutex mutex_;
  std::condition_variable available_;
  std::vector<std::unique_ptr<Connection>> idle_;
  std::size_t open_ = 0;
};

}  // namespace errand::pg
