// Plain option structs, backoff and small helpers (clocks: clock_test.cpp).
#include <errand/errand.hpp>

#include <gtest/gtest.h>

#include <set>

using namespace std::chrono_literals;

namespace {

std::int64_t us(errand::Duration d) {
  return d.count();
}

TEST(Options, WorkerDefaultsAreTheDocumentedOnes) {
  const errand::WorkerOptions options;
  EXPECT_EQ(options.concurrency, 8u);
  EXPECT_EQ(options.poll_interval, 1000ms);
  EXPECT_EQ(options.max_retries, 20);
  EXPECT_EQ(us(options.lock_timeout), us(std::chrono::hours{2}));
  EXPECT_EQ(options.drain_timeout, 30s);
  EXPECT_EQ(options.store_retry_min, 100ms);
  EXPECT_EQ(options.store_retry_max, 10s);
  EXPECT_TRUE(options.worker_id.empty());
  ASSERT_TRUE(options.backoff);
  for (int n = 1; n <= 20; ++n) {
    EXPECT_EQ(us(options.backoff(n)), us(std::chrono::seconds{std::int64_t{1} << n})) << n;
  }
  EXPECT_TRUE(options.log);
}

TEST(Options, SqliteAndJobFilterDefaults) {
  const errand::SqliteOptions sqlite;
  EXPECT_EQ(sqlite.synchronous, errand::SqliteOptions::Synchronous::normal);
  EXPECT_GT(sqlite.busy_timeout, 0ms);
  EXPECT_FALSE(sqlite.clock);
  const errand::JobFilter filter;
  EXPECT_EQ(us(filter.lock_timeout), us(std::chrono::hours{2}));
  const errand::EnqueueOptions enqueue;
  EXPECT_EQ(enqueue.priority, 0);
  EXPECT_FALSE(enqueue.run_at);
  EXPECT_FALSE(enqueue.delay);
  EXPECT_EQ(errand::default_database_url, "sqlite:errand.db");
}

TEST(Backoff, DoublesFromTwoSeconds) {
  const errand::ExponentialBackoff backoff;
  EXPECT_EQ(us(backoff(1)), us(2s));
  EXPECT_EQ(us(backoff(2)), us(4s));
  EXPECT_EQ(us(backoff(3)), us(8s));
  EXPECT_EQ(us(backoff(4)), us(16s));
  EXPECT_EQ(us(backoff(5)), us(32s));
  EXPECT_EQ(us(backoff(20)), us(std::chrono::seconds{1 << 20}));
}

TEST(Backoff, UnitAndCap) {
  const errand::ExponentialBackoff backoff{.unit = 10ms, .max = 1min};
  EXPECT_EQ(us(backoff(1)), us(20ms));
  EXPECT_EQ(us(backoff(3)), us(80ms));
  EXPECT_EQ(us(backoff(12)), us(40960ms));
  EXPECT_EQ(us(backoff(13)), us(1min));
  // Huge error counts saturate instead of overflowing.
  EXPECT_EQ(us(backoff(1'000)), us(1min));
  EXPECT_EQ(us(errand::ExponentialBackoff{}(1'000'000)), us(std::chrono::hours{24 * 365}));
  EXPECT_GE(us(errand::ExponentialBackoff{}(0)), 0);
}

TEST(Backoff, JitterStaysWithinItsBoundsAndVaries) {
  const errand::ExponentialBackoff backoff{.jitter = 0.25};
  for (int n = 1; n <= 10; ++n) {
    const double base = static_cast<double>(us(std::chrono::seconds{1 << n}));
    std::set<std::int64_t> seen;
    for (int i = 0; i < 500; ++i) {
      const auto delay = us(backoff(n));
      EXPECT_GE(delay, static_cast<std::int64_t>(base * 0.75) - 1) << n;
      EXPECT_LE(delay, static_cast<std::int64_t>(base * 1.25) + 1) << n;
      seen.insert(delay);
    }
    EXPECT_GT(seen.size(), 10u) << "jitter does not vary the delay for error count " << n;
  }
}

TEST(Backoff, JitterNeverMakesADelayNegative) {
  const errand::ExponentialBackoff backoff{.jitter = 5.0};
  for (int i = 0; i < 1000; ++i)
    EXPECT_GE(us(backoff(3)), 0);
}

TEST(JobState, NamesRoundTrip) {
  for (auto state : {errand::JobState::ready, errand::JobState::scheduled,
                     errand::JobState::running, errand::JobState::abandoned}) {
    EXPECT_EQ(errand::parse_job_state(errand::to_string(state)), state);
  }
  EXPECT_EQ(errand::to_string(errand::JobState::ready), "ready");
  EXPECT_EQ(errand::parse_job_state("bogus"), std::nullopt);
}

TEST(Errors, EnqueueErrorKeepsItsKindAndAllAreErrandErrors) {
  const errand::EnqueueError error(errand::EnqueueError::Kind::storage, "disk full");
  EXPECT_EQ(error.kind(), errand::EnqueueError::Kind::storage);
  EXPECT_STREQ(error.what(), "disk full");
  const errand::Error& base = error;
  EXPECT_STREQ(base.what(), "disk full");
  static_assert(std::is_base_of_v<errand::Error, errand::StoreError>);
  static_assert(std::is_base_of_v<errand::Error, errand::ConfigError>);
  static_assert(std::is_base_of_v<errand::Error, errand::DispatchError>);
}

}  // namespace
