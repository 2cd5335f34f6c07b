// The flow control of named queues on every store, on a manual clock (errand/queues.hpp): the
// global, per-key and rate limits, across workers and lost workers, limits lowered below their
// use, prefetch near a limit, and a rate at its boundary and over a sliding window.
#include "conformance/queue_support.hpp"

namespace errand_test {

namespace {

using namespace queue_support;  // NOLINT(google-build-using-namespace): the tests' own helpers

// --- the global limit -----------------------------------------------------------------------

TEST_P(QueueConformance, AGlobalLimitCountsTheLeasesOfEveryWorker) {
  store->update_queue("q", global_limit(2), true);
  queue_fill(*store, "q", 5);
  const auto first = store->claim("w1", from_queue("q", 1), kLockTimeout);
  ASSERT_EQ(first.size(), 1u);
  EXPECT_EQ(store->claim("w2", from_queue("q", 5), kLockTimeout).size(), 1u);
  EXPECT_TRUE(store->claim("w1", from_queue("q", 5), kLockTimeout).empty());
  EXPECT_TRUE(store->claim("w2", from_every_queue(5), kLockTimeout).empty());
  const QueueInfo full = queue_named(*store, "q");
  EXPECT_EQ(full.running, 2);
  EXPECT_EQ(full.ready, 3);

  ASSERT_TRUE(queue_complete(*store, "w1", first[0]));
  EXPECT_EQ(store->claim("w2", from_queue("q", 5), kLockTimeout).size(), 1u);
  EXPECT_EQ(locked_rows(), 2u);
}

TEST_P(QueueConformance, AGlobalLimitCountsALostWorkersJobsUntilTheirLockExpires) {
  store->update_queue("q", global_limit(1), true);
  queue_fill(*store, "q", 2);
  const auto held = store->claim("w1", from_queue("q", 1), kLockTimeout);
  ASSERT_EQ(held.size(), 1u);
  // w1 goes silent: lost, but its job stays locked until rescued or its lock times out.
  clock->advance(minutes{10});
  const auto lost = store->find_lost_jobs(seconds{30}, 10);
  ASSERT_EQ(lost.size(), 1u);
  EXPECT_EQ(lost[0].job.id, held[0].id);
  EXPECT_TRUE(store->claim("w2", from_queue("q", 5), kLockTimeout).empty());
  EXPECT_TRUE(store->claim("w2", from_every_queue(5), kLockTimeout).empty());

  // Past the lock timeout the abandoned lock is runnable again: claimed, and still only one.
  clock->advance(kLockTimeout);
  const auto again = store->claim("w2", from_queue("q", 5), kLockTimeout);
  ASSERT_EQ(again.size(), 1u);
  EXPECT_EQ(again[0].id, held[0].id);
}

TEST_P(QueueConformance, LoweringAGlobalLimitBelowUseKeepsRunningJobsAndHoldsBackNewClaims) {
  store->update_queue("q", global_limit(3), true);
  queue_fill(*store, "q", 6);
  const auto running = store->claim("w1", from_queue("q", 3), kLockTimeout);
  ASSERT_EQ(running.size(), 3u);
  const QueueInfo lowered = store->update_queue("q", global_limit(1), false);
  EXPECT_EQ(lowered.limits.global, 1);
  EXPECT_EQ(lowered.running, 3);
  EXPECT_EQ(locked_rows(), 3u);

  EXPECT_TRUE(store->claim("w2", from_queue("q", 5), kLockTimeout).empty());
  ASSERT_TRUE(queue_complete(*store, "w1", running[0]));
  EXPECT_TRUE(store->claim("w2", from_queue("q", 5), kLockTimeout).empty());  // 2 of 1
  ASSERT_TRUE(queue_complete(*store, "w1", running[1]));
  EXPECT_TRUE(store->claim("w2", from_queue("q", 5), kLockTimeout).empty());  // 1 of 1
  ASSERT_TRUE(queue_complete(*store, "w1", running[2]));
  EXPECT_EQ(store->claim("w2", from_queue("q", 5), kLockTimeout).size(), 1u);
}

TEST_P(QueueConformance, PrefetchFromAGlobalLimitOnlyWhileMoreThanHalfStaysFreeNeverFromARate) {
  store->update_queue("capped", global_limit(10), true);
  store->update_queue("metered", rate_limit(100, seconds{1}), true);
  queue_fill(*store, "free", 10);
  queue_fill(*store, "capped", 20);
  queue_fill(*store, "metered", 10);
  EXPECT_EQ(store->claim("w1", from_queue("free", 1, 5), kLockTimeout).size(), 6u);
  // The free slot's job, then prefetch while more than half of 10 stays free: 10 - 1 - 5 = 4.
  EXPECT_EQ(store->claim("w1", from_queue("capped", 1, 5), kLockTimeout).size(), 5u);
  // 5 left free; after the slot's job 4, not more than half: no prefetch.
  EXPECT_EQ(store->claim("w1", from_queue("capped", 1, 5), kLockTimeout).size(), 1u);
  EXPECT_EQ(store->claim("w1", from_queue("metered", 1, 5), kLockTimeout).size(), 1u);

  ClaimRequest all;
  all.queues = {QueueDemand{"free", 1, 2}, QueueDemand{"capped", 2, 3},
                QueueDemand{"metered", 1, 4}};
  const auto claimed = store->claim("w1", all, kLockTimeout);
  EXPECT_EQ(claimed_from(claimed, "free"), 3u);
  EXPECT_EQ(claimed_from(claimed, "capped"), 2u);
  EXPECT_EQ(claimed_from(claimed, "metered"), 1u);
}

TEST_P(QueueConformance, AClaimFromEveryQueuePrefetchesFromALimitedQueueByTheSameRule) {
  store->update_queue("capped", global_limit(4), true);
  queue_fill(*store, "capped", 5);
  // One for the free slot, and one more: 4 - 1 - 2 (half of the limit, rounded up) = 1.
  EXPECT_EQ(store->claim("w1", from_every_queue(1, {}, 4), kLockTimeout).size(), 2u);

  queue_fill(*store, "free", 5);
  const auto mixed = store->claim("w1", from_every_queue(1, {}, 4), kLockTimeout);
  EXPECT_EQ(mixed.size(), 5u);
  EXPECT_LE(claimed_from(mixed, "capped"), 1u) << "a job was prefetched near the limit";

  store->update_queue("capped", QueueUpdate{.clear_limits = true}, false);
  store->update_queue("metered", rate_limit(100, seconds{1}), true);
  queue_fill(*store, "metered", 5);
  const auto metered = store->claim("w1", from_every_queue(1, "free", 4), kLockTimeout);
  EXPECT_LE(claimed_from(metered, "metered"), 1u) << "a rate-limited queue's job was prefetched";
}

TEST_P(QueueConformance, ASettleAndClaimFreesTheSlotsItSettlesForItsOwnClaim) {
  store->update_queue("q", global_limit(1), true);
  store->update_queue("k", per_key_limit(1), true);
  queue_fill(*store, "q", 3);
  queue_fill(*store, "k", 3, "key");
  ClaimRequest both;
  both.queues = {QueueDemand{"q", 1, 0}, QueueDemand{"k", 1, 0}};
  auto held = store->claim("w1", both, kLockTimeout);
  ASSERT_EQ(held.size(), 2u);
  for (int round = 0; round < 2; ++round) {
    const std::vector<Outcome> done = {queue_completed(held[0]), queue_completed(held[1])};
    const auto exchange = store->settle_and_claim("w1", done, both, kLockTimeout);
    EXPECT_TRUE(exchange.lost.empty());
    ASSERT_EQ(exchange.claimed.size(), 2u) << "round " << round;
    held = exchange.claimed;
  }
  EXPECT_EQ(locked_rows(), 2u);
}

TEST_P(QueueConformance, ASettingChangedThroughAnotherStoreAppliesToTheNextClaim) {
  queue_fill(*store, "q", 4);
  auto other = storage->open(clock);
  ASSERT_EQ(store->claim("w1", from_queue("q", 1), kLockTimeout).size(), 1u);
  other->update_queue("q", pause(true), false);
  EXPECT_TRUE(store->claim("w1", from_queue("q", 5), kLockTimeout).empty());
  other->update_queue("q", QueueUpdate{.paused = false, .global = 2}, false);
  EXPECT_EQ(store->claim("w1", from_queue("q", 5), kLockTimeout).size(), 1u);
  EXPECT_EQ(queue_named(*store, "q").limits.global, 2);
}

// --- the per-key limit ----------------------------------------------------------------------

TEST_P(QueueConformance, APerKeyLimitCapsTheLeasesOfEachKey) {
  store->update_queue("q", per_key_limit(2), true);
  queue_fill(*store, "q", 5, "a");
  queue_fill(*store, "q", 5, "b");
  queue_fill(*store, "q", 1, "c");
  const auto first = store->claim("w1", from_queue("q", 10), kLockTimeout);
  EXPECT_THAT(keys_of(first), UnorderedElementsAre("a", "a", "b", "b", "c"));
  EXPECT_TRUE(store->claim("w2", from_queue("q", 10), kLockTimeout).empty());
  EXPECT_EQ(queue_named(*store, "q").busiest_key_running, 2);

  const auto a = std::find_if(first.begin(), first.end(),
                              [](const ClaimedJob& j) { return j.partition_key == "a"; });
  ASSERT_NE(a, first.end());
  ASSERT_TRUE(queue_complete(*store, "w1", *a));
  EXPECT_THAT(keys_of(store->claim("w2", from_queue("q", 10), kLockTimeout)), ElementsAre("a"));
}

TEST_P(QueueConformance, KeysTakeTurnsWithinOneClaimSoABigKeyDoesNotDelayASmallOne) {
  store->update_queue("q", per_key_limit(100), true);
  queue_fill(*store, "q", 50, "a");
  queue_fill(*store, "q", 1, "b");
  // By priority, run_at and id, a's first two would be taken; with keys in turn, a and b.
  EXPECT_THAT(keys_of(store->claim("w1", from_queue("q", 2), kLockTimeout)),
              UnorderedElementsAre("a", "b"));

  store->update_queue("r", per_key_limit(100), true);
  queue_fill(*store, "r", 30, "k1");
  queue_fill(*store, "r", 1, "k2");
  queue_fill(*store, "r", 1, "k3");
  EXPECT_THAT(keys_of(store->claim("w1", from_queue("r", 3), kLockTimeout)),
              UnorderedElementsAre("k1", "k2", "k3"));
}

TEST_P(QueueConformance, KeysTakeTurnsAcrossClaimsFromWhereTheLastClaimLeftOff) {
  store->update_queue("q", per_key_limit(100), true);
  queue_fill(*store, "q", 50, "a");
  queue_fill(*store, "q", 1, "b");
  queue_fill(*store, "q", 1, "c");
  std::vector<std::string> keys;
  for (int i = 0; i < 5; ++i) {
    const auto one = store->claim(i % 2 == 0 ? "w1" : "w2", from_queue("q", 1), kLockTimeout);
    ASSERT_EQ(one.size(), 1u) << "claim " << i;
    keys.push_back(one[0].partition_key);
  }
  EXPECT_THAT(keys, ElementsAre("a", "b", "c", "a", "a"));
}

TEST_P(QueueConformance, JobsWithoutAKeyShareOnePartition) {
  store->update_queue("q", per_key_limit(1), true);
  queue_fill(*store, "q", 3);
  queue_fill(*store, "q", 1, "k");
  const auto claimed = store->claim("w1", from_queue("q", 10), kLockTimeout);
  EXPECT_THAT(keys_of(claimed), UnorderedElementsAre("", "k"));
  EXPECT_TRUE(store->claim("w2", from_queue("q", 10), kLockTimeout).empty());
}

TEST_P(QueueConformance, LoweringAPerKeyLimitBelowUseKeepsRunningJobsAndHoldsBackTheKey) {
  store->update_queue("q", per_key_limit(3), true);
  queue_fill(*store, "q", 6, "a");
  const auto running = store->claim("w1", from_queue("q", 10), kLockTimeout);
  ASSERT_EQ(running.size(), 3u);
  EXPECT_TRUE(store->claim("w2", from_queue("q", 10), kLockTimeout).empty());  // other workers too

  store->update_queue("q", per_key_limit(1), false);
  EXPECT_EQ(locked_rows(), 3u);
  ASSERT_TRUE(queue_complete(*store, "w1", running[0]));
  EXPECT_TRUE(store->claim("w2", from_queue("q", 10), kLockTimeout).empty());
  ASSERT_TRUE(queue_complete(*store, "w1", running[1]));
  EXPECT_TRUE(store->claim("w2", from_queue("q", 10), kLockTimeout).empty());
  ASSERT_TRUE(queue_complete(*store, "w1", running[2]));
  EXPECT_EQ(store->claim("w2", from_queue("q", 10), kLockTimeout).size(), 1u);
}

TEST_P(QueueConformance, GlobalAndPerKeyLimitsTogether) {
  store->update_queue("q", QueueUpdate{.global = 3, .per_key = 1}, true);
  for (const char* key : {"a", "b", "c", "d"})
    queue_fill(*store, "q", 3, key);
  const auto claimed = store->claim("w1", from_queue("q", 10), kLockTimeout);
  ASSERT_EQ(claimed.size(), 3u);
  auto keys = keys_of(claimed);
  std::sort(keys.begin(), keys.end());
  EXPECT_EQ(std::unique(keys.begin(), keys.end()), keys.end()) << "two jobs of one key";
  EXPECT_TRUE(store->claim("w2", from_queue("q", 10), kLockTimeout).empty());
}

// --- the rate -------------------------------------------------------------------------------

TEST_P(QueueConformance, ARateAllowsNClaimsPerPeriodAndOpensExactlyAtTheBoundary) {
  store->update_queue("q", rate_limit(3, seconds{10}), true);
  queue_fill(*store, "q", 7);
  const errand::TimePoint t0 = clock->now();
  EXPECT_EQ(store->claim("w1", from_queue("q", 3), kLockTimeout).size(), 3u);
  EXPECT_TRUE(store->claim("w2", from_queue("q", 3), kLockTimeout).empty());  // any worker's
  EXPECT_EQ(queue_named(*store, "q").rate_tokens, 0);

  clock->advance(seconds{10} - microseconds{1});
  const auto held = store->settle_and_claim("w2", {}, from_queue("q", 5), kLockTimeout);
  EXPECT_TRUE(held.claimed.empty());
  ASSERT_TRUE(held.rate_opens_at);
  EXPECT_EQ(us(*held.rate_opens_at), us(t0 + seconds{10}));

  clock->advance(microseconds{1});
  EXPECT_EQ(queue_named(*store, "q").rate_tokens, 3);
  EXPECT_EQ(store->claim("w2", from_queue("q", 5), kLockTimeout).size(), 3u);
}

TEST_P(QueueConformance, TheRateWindowSlidesItIsNoFixedInterval) {
  store->update_queue("q", rate_limit(3, seconds{10}), true);
  queue_fill(*store, "q", 10);
  const errand::TimePoint t0 = clock->now();
  EXPECT_EQ(store->claim("w1", from_queue("q", 2), kLockTimeout).size(), 2u);
  clock->advance(seconds{5});
  EXPECT_EQ(store->claim("w1", from_queue("q", 1), kLockTimeout).size(), 1u);
  clock->advance(seconds{4});
  const auto full = store->settle_and_claim("w1", {}, from_queue("q", 5), kLockTimeout);
  EXPECT_TRUE(full.claimed.empty());
  EXPECT_EQ(us(full.rate_opens_at.value_or(errand::TimePoint{})), us(t0 + seconds{10}));

  // At t0 + 10 s the two claims of t0 have left the window; the one of t0 + 5 s has not.
  clock->advance(seconds{1});
  EXPECT_EQ(store->claim("w1", from_queue("q", 5), kLockTimeout).size(), 2u);
  clock->advance(seconds{5} - microseconds{1});
  const auto again = store->settle_and_claim("w1", {}, from_queue("q", 5), kLockTimeout);
  EXPECT_TRUE(again.claimed.empty());
  EXPECT_EQ(us(again.rate_opens_at.value_or(errand::TimePoint{})), us(t0 + seconds{15}));
  clock->advance(microseconds{1});
  EXPECT_EQ(store->claim("w1", from_queue("q", 5), kLockTimeout).size(), 1u);
}

TEST_P(QueueConformance, RateOpensAtIsSetWhenTheRateHoldsBackJobsInTheSameClaim) {
  store->update_queue("q", rate_limit(2, seconds{1}), true);
  queue_fill(*store, "q", 3);
  const errand::TimePoint t0 = clock->now();
  // Asked for 5, given 2: the rate held the third back, so the claim says when to come back.
  const auto exchange = store->settle_and_claim("w1", {}, from_queue("q", 5), kLockTimeout);
  EXPECT_EQ(exchange.claimed.size(), 2u);
  ASSERT_TRUE(exchange.rate_opens_at) << "the rate held back a ready job; no rate_opens_at";
  EXPECT_EQ(us(*exchange.rate_opens_at), us(t0 + seconds{1}));
}

TEST_P(QueueConformance, RateOpensAtIsNotSetWithoutJobsWaitingOrWhilePaused) {
  store->update_queue("q", rate_limit(2, seconds{1}), true);
  queue_fill(*store, "q", 2);
  const errand::TimePoint t0 = clock->now();
  const auto all = store->settle_and_claim("w1", {}, from_queue("q", 5), kLockTimeout);
  EXPECT_EQ(all.claimed.size(), 2u);
  EXPECT_FALSE(all.rate_opens_at);
  EXPECT_FALSE(store->settle_and_claim("w1", {}, from_queue("q", 5), kLockTimeout).rate_opens_at);

  enqueue_raw(queue_job("q"));
  const auto waiting = store->settle_and_claim("w1", {}, from_every_queue(5), kLockTimeout);
  EXPECT_TRUE(waiting.claimed.empty());
  EXPECT_EQ(us(waiting.rate_opens_at.value_or(errand::TimePoint{})), us(t0 + seconds{1}));

  store->update_queue("q", pause(true), false);
  EXPECT_FALSE(store->settle_and_claim("w1", {}, from_queue("q", 5), kLockTimeout).rate_opens_at);
}

TEST_P(QueueConformance, LoweringARateCountsTheClaimsAlreadyInTheWindow) {
  store->update_queue("q", rate_limit(5, minutes{1}), true);
  queue_fill(*store, "q", 10);
  EXPECT_EQ(store->claim("w1", from_queue("q", 3), kLockTimeout).size(), 3u);
  store->update_queue("q", rate_limit(2, minutes{1}), false);
  clock->advance(seconds{30});
  EXPECT_TRUE(store->claim("w1", from_queue("q", 5), kLockTimeout).empty());
  clock->advance(seconds{30});  // the three claims leave the window
  EXPECT_EQ(store->claim("w1", from_queue("q", 5), kLockTimeout).size(), 2u);
}

// A claim's time may be earlier than one already made (PostgreSQL and SQLite read it before
// waiting for the queue's lock): a claim that took nothing at a later time must not have dropped
// the claims that the earlier one's window still holds.
TEST_P(QueueConformance, AClaimStampedBeforeAnEmptyLaterOneStillCountsItsWindow) {
  QueueUpdate limits = rate_limit(2, seconds{10});
  limits.global = 2;
  store->update_queue("q", limits, true);
  queue_fill(*store, "q", 4);
  const errand::TimePoint t0 = clock->now();
  const auto held = store->claim("w1", from_queue("q", 2), kLockTimeout);
  ASSERT_EQ(held.size(), 2u);
  clock->set(t0 + seconds{11});  // the window is empty, but the global limit binds: nothing
  EXPECT_TRUE(store->claim("w2", from_queue("q", 2), kLockTimeout).empty());
  clock->set(t0 + seconds{5});  // a claim stamped earlier: t0's two claims are in its window
  const std::vector<Outcome> done = {queue_completed(held[0]), queue_completed(held[1])};
  const auto exchange = store->settle_and_claim("w1", done, from_queue("q", 2), kLockTimeout);
  EXPECT_TRUE(exchange.lost.empty());
  EXPECT_TRUE(exchange.claimed.empty());
  clock->set(t0 + seconds{10});
  EXPECT_EQ(store->claim("w2", from_queue("q", 2), kLockTimeout).size(), 2u);
}

TEST_P(QueueConformance, ARateLimitedQueueGivesOnlyItsTokensToAClaimFromEveryQueue) {
  store->update_queue("metered", rate_limit(2, minutes{1}), true);
  queue_fill(*store, "metered", 5);
  queue_fill(*store, "free", 5);
  const auto claimed = store->claim("w1", from_every_queue(10), kLockTimeout);
  EXPECT_EQ(claimed_from(claimed, "metered"), 2u);
  EXPECT_EQ(claimed_from(claimed, "free"), 5u);
}

TEST_P(QueueConformance, AClaimFromEveryQueueAfterOneQueueLimitedGloballyAloneSeesWhatChanged) {
  // (PostgreSQL claims such a queue in the round's own transaction, settling first; what changed
  // since the last claim holds at once for its limits, from the next claim for new queues.)
  auto other = storage->open(clock);
  other->update_queue("default", global_limit(3), true);
  queue_fill(*store, "default", 8);
  ASSERT_EQ(store->claim("w1", from_every_queue(2), kLockTimeout).size(), 2u);
  const auto third = store->claim("w1", from_every_queue(2), kLockTimeout);
  ASSERT_EQ(third.size(), 1u);
  // Settled and claimed in one call: the settled job's slot goes to the next job at once.
  const Outcome done = queue_completed(third.front());
  const auto exchange =
      store->settle_and_claim("w1", std::span(&done, 1), from_every_queue(2), kLockTimeout);
  EXPECT_TRUE(exchange.lost.empty());
  EXPECT_EQ(exchange.claimed.size(), 1u);
  EXPECT_EQ(locked_rows(), 3u);
  // The global limit becomes a rate of 1 an hour: the three running no longer hold it back.
  other->update_queue("default", QueueUpdate{.clear_limits = true, .rate = RateLimit{1, hours{1}}},
                      false);
  EXPECT_EQ(store->claim("w1", from_every_queue(5), kLockTimeout).size(), 1u);
  EXPECT_TRUE(store->claim("w1", from_every_queue(5), kLockTimeout).empty());
  // A global limit alone again, then another queue: its job is among the next two claims.
  other->update_queue("default", QueueUpdate{.clear_limits = true, .global = 10}, false);
  EXPECT_EQ(store->claim("w1", from_every_queue(1), kLockTimeout).size(), 1u);
  queue_fill(*other, "mail", 1);
  auto next = store->claim("w1", from_every_queue(2), kLockTimeout);
  const auto after = store->claim("w1", from_every_queue(2), kLockTimeout);
  next.insert(next.end(), after.begin(), after.end());
  EXPECT_EQ(claimed_from(next, "mail"), 1u);
  EXPECT_EQ(claimed_from(next, "default"), 2u);
}

}  // namespace

}  // namespace errand_test
