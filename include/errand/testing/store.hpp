// errand::testing::TestStore: a throwaway SQLite store on a ManualClock, for tests.
#pragma once

#include <errand/clock.hpp>
#include <errand/store.hpp>

#include <filesystem>
#include <memory>

namespace errand::testing {

// A fresh SQLite database file in a new temporary directory, opened on a ManualClock, so a test
// decides when retries and scheduled jobs come due. The directory and its files are removed
// once the last reference to the store is gone: this TestStore, its copies, and every Worker or
// shared_ptr that took store.shared(). Copies share one store and one clock.
//
//   errand::testing::TestStore store;                 // the clock starts at a fixed time
//   errand::enqueue(*store, MyJob{...});              // *store is an errand::Store&
//   errand::Worker<App> worker(store.shared(), registry, app);
//   store.advance(std::chrono::seconds{2});           // retries due in 2 s are due now
class TestStore {
 public:
  // The clock starts at ManualClock's default time (2023-11-14T22:13:20Z).
  TestStore();
  explicit TestStore(TimePoint start);

  Store& operator*() const { return *store_; }
  Store* operator->() const { return store_.get(); }
  const std::shared_ptr<Store>& shared() const { return store_; }

  // The store's clock: every timestamp the store writes or compares comes from it.
  ManualClock& clock() const { return *clock_; }
  TimePoint now() const { return clock_->now(); }
  void advance(Duration d) const { clock_->advance(d); }

  // The database file (for the errand command: `errand --db sqlite:PATH jobs`).
  const std::filesystem::path& path() const { return path_; }

 private:
  std::shared_ptr<ManualClock> clock_;
  std::shared_ptr<Store> store_;
  std::filesystem::path path_;
};

}  // namespace errand::testing
