// Counts with a limit on every store (Store::counts, Store::list_queues): exact below the limit,
// "at least the limit" at or above it, running jobs and the oldest ready job's age exact either
// way, and the same numbers as exact counts when the limit is not reached.
#include "conformance/queue_support.hpp"

namespace errand_test {
namespace {

using namespace queue_support;  // NOLINT(google-build-using-namespace): the tests' own helpers
using errand::at_least;
using errand::JobCounts;

// Queue a: 6 ready (3 at priority 3, 2 at 1, the oldest at 0), 3 scheduled (2 at 3, 1 at 0);
// queue b: 1 ready; queue c: 2 failing and scheduled, 1 running, 3 dead. Then 5 s pass.
void fill(errand::Store& store, errand::ManualClock& clock) {
  const auto add = [&](const errand::NewJob& job) { store.enqueue(std::vector{job}); };
  add(queue_job("a", {}, "oldest", 0));
  clock.advance(seconds{1});
  for (int i = 0; i < 3; ++i)
    add(queue_job("a", {}, "p3", 3));
  for (int i = 0; i < 2; ++i)
    add(queue_job("a", {}, "p1", 1));
  for (const std::int32_t priority : {3, 3, 0}) {
    errand::NewJob later = queue_job("a", {}, "later", priority);
    later.delay = hours{1};
    add(later);
  }
  add(queue_job("b", {}, "b", 5));
  queue_fill(store, "c", 6);
  const std::vector<ClaimedJob> claimed = store.claim("w1", from_queue("c", 6), kLockTimeout);
  ASSERT_EQ(claimed.size(), 6u);
  std::vector<Outcome> outcomes;
  for (std::size_t i = 0; i < 5; ++i) {
    Outcome end = queue_completed(claimed[i]);
    end.kind = i < 3 ? Outcome::Kind::dead_letter : Outcome::Kind::retry;
    end.error = "boom";
    end.retry_delay = hours{1};
    outcomes.push_back(end);
  }
  ASSERT_TRUE(store.settle("w1", outcomes).empty());
  clock.advance(seconds{5});
}

TEST_P(QueueConformance, CountsWithALimitAreExactBelowItAndAtLeastItAbove) {
  fill(*store, *clock);

  const JobCounts exact = store->counts(kLockTimeout);
  EXPECT_EQ(exact.limit, 0);
  EXPECT_EQ(exact.ready, 7);
  EXPECT_EQ(exact.scheduled, 5);
  EXPECT_EQ(exact.running, 1);
  EXPECT_EQ(exact.abandoned, 0);
  EXPECT_EQ(exact.failing, 2);
  EXPECT_EQ(exact.dead, 3);
  EXPECT_EQ(exact.completed, 0);
  EXPECT_EQ(exact.cancelled, 0);
  EXPECT_FALSE(at_least(exact.ready, exact.limit));

  // Limit 2: a's ready and scheduled stop at 2, c's dead at 2; b's 1 ready is exact; the totals
  // add each queue's counts; running jobs are counted exactly.
  const JobCounts limited = store->counts(kLockTimeout, 2);
  EXPECT_EQ(limited.limit, 2);
  EXPECT_EQ(limited.ready, 3);
  EXPECT_EQ(limited.scheduled, 4);
  EXPECT_EQ(limited.running, 1);
  EXPECT_EQ(limited.failing, 2);
  EXPECT_EQ(limited.dead, 2);
  EXPECT_EQ(limited.completed, 0);
  EXPECT_TRUE(at_least(limited.ready, limited.limit));
  EXPECT_TRUE(at_least(limited.dead, limited.limit));
  EXPECT_FALSE(at_least(limited.running, limited.limit + 1));
  EXPECT_FALSE(at_least(limited.completed, limited.limit));

  // A limit no count reaches gives the exact counts.
  const JobCounts roomy = store->counts(kLockTimeout, 1000);
  EXPECT_EQ(roomy.ready, exact.ready);
  EXPECT_EQ(roomy.scheduled, exact.scheduled);
  EXPECT_EQ(roomy.failing, exact.failing);
  EXPECT_EQ(roomy.dead, exact.dead);

  EXPECT_THROW(store->counts(kLockTimeout, -1), errand::ConfigError);
}

TEST_P(QueueConformance, ListQueuesWithALimitStopsEachCountThereAndKeepsTheOldestReadyAge) {
  fill(*store, *clock);
  const auto exact = store->list_queues();
  const auto limited = store->list_queues(2);
  ASSERT_EQ(exact.size(), 4u);  // a, b, c, default
  ASSERT_EQ(limited.size(), 4u);
  const auto& [a, b, c, fallback] = std::tie(exact[0], exact[1], exact[2], exact[3]);
  EXPECT_EQ(a.name, "a");
  EXPECT_EQ(a.count_limit, 0);
  EXPECT_EQ(a.ready, 6);
  EXPECT_EQ(a.scheduled, 3);
  ASSERT_TRUE(a.oldest_ready_age);
  EXPECT_EQ(us(*a.oldest_ready_age), us(seconds{6}));  // the priority-0 job, not the first read
  EXPECT_EQ(b.ready, 1);
  EXPECT_EQ(c.scheduled, 2);
  EXPECT_EQ(c.running, 1);
  EXPECT_EQ(c.discarded, 3);
  EXPECT_EQ(fallback.ready + fallback.scheduled + fallback.discarded, 0);

  const auto& [la, lb, lc, lfallback] = std::tie(limited[0], limited[1], limited[2], limited[3]);
  EXPECT_EQ(la.count_limit, 2);
  EXPECT_EQ(la.ready, 2);
  EXPECT_EQ(la.scheduled, 2);
  EXPECT_TRUE(at_least(la.ready, la.count_limit));
  ASSERT_TRUE(la.oldest_ready_age);
  EXPECT_EQ(us(*la.oldest_ready_age), us(seconds{6}));
  EXPECT_EQ(lb.ready, 1);
  EXPECT_FALSE(at_least(lb.ready, lb.count_limit));
  EXPECT_EQ(lc.scheduled, 2);
  EXPECT_EQ(lc.running, 1);
  EXPECT_EQ(lc.discarded, 2);
  EXPECT_EQ(lfallback.ready, 0);

  EXPECT_THROW(store->list_queues(-5), errand::ConfigError);
}

}  // namespace
}  // namespace errand_test
