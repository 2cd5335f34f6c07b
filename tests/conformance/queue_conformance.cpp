// Named queues on every store, on a manual clock (errand/queues.hpp): which queues are known,
// bad names and limits, claims from named queues or from every queue taking turns, pause and
// resume (surviving a reopened store), list_queues' counts, partition keys from payloads, and
// workers serving queues with slots of their own. The limits: queue_limit_conformance.cpp.
#include "conformance/queue_support.hpp"

namespace errand_test {

void QueueConformance::SetUp() {
  ConformanceTest::SetUp();
  if (!store) return;
  registry.add<queue_support::QueueMailJob>()
      .add<queue_support::QueueCustomerJob>()
      .add<queue_support::QueueAccountJob>();
  store->register_worker(registration("w1"));
  store->register_worker(registration("w2"));
}

namespace {

using namespace queue_support;  // NOLINT(google-build-using-namespace): the tests' own helpers

// --- known queues, names, settings ----------------------------------------------------------

TEST_P(QueueConformance, AQueueBecomesKnownByAnEnqueueOrAnUpdateWithCreate) {
  // "default" is known from the start.
  EXPECT_THAT(queue_names(*store), ElementsAre("default"));
  enqueue_raw(queue_job("reports"));
  const QueueInfo reports = queue_named(*store, "reports");
  EXPECT_FALSE(reports.paused);
  EXPECT_EQ(reports.limits, QueueLimits{});
  EXPECT_EQ(reports.ready, 1);

  const QueueInfo later = store->update_queue("later", QueueUpdate{}, /*create=*/true);
  EXPECT_EQ(later.name, "later");
  EXPECT_FALSE(later.paused);
  EXPECT_EQ(later.ready + later.scheduled + later.running, 0);
  EXPECT_THAT(queue_names(*store), ElementsAre("default", "later", "reports"));

  // `create` on a known queue keeps its settings.
  store->update_queue("reports", global_limit(3), /*create=*/false);
  EXPECT_EQ(store->update_queue("reports", QueueUpdate{}, /*create=*/true).limits.global, 3);
}

TEST_P(QueueConformance, UpdatingAnUnknownQueueWithoutCreateThrowsNamingTheKnownOnes) {
  enqueue_raw(queue_job("alpha"));
  enqueue_raw(queue_job("beta"));
  try {
    store->update_queue("gamma", pause(true), /*create=*/false);
    ADD_FAILURE() << "updating an unknown queue succeeded";
  } catch (const errand::ConfigError& e) {
    EXPECT_THAT(e.what(), HasSubstr("gamma"));
    EXPECT_THAT(e.what(), HasSubstr("alpha"));
    EXPECT_THAT(e.what(), HasSubstr("beta"));
  }
  EXPECT_THAT(queue_names(*store), ElementsAre("alpha", "beta", "default"));
  // And it paused nothing.
  EXPECT_EQ(store->claim("w1", from_every_queue(10), kLockTimeout).size(), 2u);
}

TEST_P(QueueConformance, InvalidNamesAndLimitsAreConfigErrorsAndChangeNothing) {
  store->update_queue("capped", global_limit(2), /*create=*/true);
  for (const std::string& bad : {std::string(), std::string("has space"), std::string(65, 'q'),
                                 std::string("caf\xc3\xa9"), std::string("a/b")}) {
    EXPECT_THROW(store->update_queue(bad, QueueUpdate{}, /*create=*/true), errand::ConfigError)
        << "'" << bad << "'";
  }
  store->update_queue(std::string(64, 'q'), QueueUpdate{}, /*create=*/true);
  store->update_queue("a-b_c.d:E9", QueueUpdate{}, /*create=*/true);

  const std::vector<QueueUpdate> bad_updates = {
      global_limit(0),
      global_limit(-1),
      per_key_limit(0),
      rate_limit(0, seconds{1}),
      rate_limit(1, errand::Duration{0}),
      rate_limit(1, -seconds{1}),
      rate_limit(1, hours{25}),
      QueueUpdate{.paused = true, .global = 0},
      QueueUpdate{.clear_limits = true, .per_key = -3},
  };
  for (std::size_t i = 0; i < bad_updates.size(); ++i) {
    EXPECT_THROW(store->update_queue("capped", bad_updates[i], /*create=*/false),
                 errand::ConfigError)
        << "bad update " << i;
  }
  const QueueInfo capped = queue_named(*store, "capped");
  EXPECT_FALSE(capped.paused);
  EXPECT_EQ(capped.limits, QueueLimits{.global = 2});
  EXPECT_THAT(queue_names(*store),
              ElementsAre("a-b_c.d:E9", "capped", "default", std::string(64, 'q')));

  // Rates as text.
  EXPECT_THROW(errand::parse_rate("0/s"), errand::ConfigError);
  EXPECT_THROW(errand::parse_rate("5"), errand::ConfigError);
  EXPECT_THROW(errand::parse_rate("5/0s"), errand::ConfigError);
  EXPECT_THROW(errand::parse_rate("5/25h"), errand::ConfigError);
  EXPECT_EQ(errand::parse_rate("5/250ms"), (RateLimit{5, milliseconds{250}}));

  // An enqueue into an invalid queue is refused, and inserts nothing.
  try {
    errand::enqueue(*store, RecordJob{.tag = 1}, errand::EnqueueOptions{.queue = "has space"});
    ADD_FAILURE() << "an enqueue into 'has space' succeeded";
  } catch (const errand::EnqueueError& e) {
    EXPECT_EQ(e.kind(), errand::EnqueueError::Kind::serialization);
  }
  EXPECT_EQ(rows_in("jobs"), 0);
}

TEST_P(QueueConformance, UpdatesKeepWhatTheyDoNotMentionAndClearLimitsClearsFirst) {
  const QueueInfo set = store->update_queue(
      "q", QueueUpdate{.global = 2, .per_key = 1, .rate = RateLimit{5, milliseconds{250}}}, true);
  EXPECT_EQ(set.limits, (QueueLimits{2, 1, RateLimit{5, milliseconds{250}}}));
  EXPECT_EQ(errand::format_rate(*set.limits.rate), "5/250ms");

  const QueueInfo paused = store->update_queue("q", pause(true), false);
  EXPECT_TRUE(paused.paused);
  EXPECT_EQ(paused.limits, (QueueLimits{2, 1, RateLimit{5, milliseconds{250}}}));

  const QueueInfo cleared =
      store->update_queue("q", QueueUpdate{.clear_limits = true, .global = 7}, false);
  EXPECT_TRUE(cleared.paused);
  EXPECT_EQ(cleared.limits, QueueLimits{.global = 7});
  EXPECT_EQ(queue_named(*store, "q").limits, QueueLimits{.global = 7});
}

// --- which queues a claim takes from, and in what order ------------------------------------

TEST_P(QueueConformance, AClaimWithQueuesTakesOnlyFromThoseEachUpToItsOwnMax) {
  queue_fill(*store, "a", 3);
  queue_fill(*store, "b", 3);
  queue_fill(*store, "c", 2);
  const auto from_a = store->claim("w1", from_queue("a", 5), kLockTimeout);
  EXPECT_THAT(queues_of(from_a), ElementsAre("a", "a", "a"));

  ClaimRequest two;
  two.queues = {QueueDemand{"b", 1, 0}, QueueDemand{"c", 5, 0}};
  const auto from_bc = store->claim("w1", two, kLockTimeout);
  EXPECT_EQ(claimed_from(from_bc, "b"), 1u);
  EXPECT_EQ(claimed_from(from_bc, "c"), 2u);
  EXPECT_EQ(from_bc.size(), 3u);

  EXPECT_TRUE(store->claim("w1", from_queue("nosuch", 5), kLockTimeout).empty());
  EXPECT_TRUE(store->claim("w1", from_queue("c", 5), kLockTimeout).empty());
  EXPECT_EQ(locked_rows(), 6u);
}

TEST_P(QueueConformance, AClaimFromEveryQueueTakesTurnsBetweenQueues) {
  // Enqueued queue by queue: by priority, run_at and id alone, a's three would come first.
  queue_fill(*store, "a", 3);
  queue_fill(*store, "b", 2);
  queue_fill(*store, "c", 1);
  const auto claimed = store->claim("w1", from_every_queue(6), kLockTimeout);
  EXPECT_THAT(queues_of(claimed), ElementsAre("a", "b", "c", "a", "b", "a"));
}

TEST_P(QueueConformance, TurnsStartAfterTheQueueNamedInAfterQueue) {
  queue_fill(*store, "a", 3);
  queue_fill(*store, "b", 2);
  queue_fill(*store, "c", 1);
  // One job per claim, each passing the queue of the last: the queues take turns across claims.
  std::string last;
  std::vector<std::string> order;
  for (int i = 0; i < 4; ++i) {
    const auto one = store->claim("w1", from_every_queue(1, last), kLockTimeout);
    ASSERT_EQ(one.size(), 1u) << "claim " << i;
    last = one[0].queue;
    order.push_back(last);
  }
  EXPECT_THAT(order, ElementsAre("a", "b", "c", "a"));
  // Left: one of a, one of b. After "a": b first; after a name between queues: the next one.
  EXPECT_THAT(queues_of(store->claim("w1", from_every_queue(1, "a"), kLockTimeout)),
              ElementsAre("b"));
  enqueue_raw(queue_job("b"));
  EXPECT_THAT(queues_of(store->claim("w1", from_every_queue(5, "ab"), kLockTimeout)),
              ElementsAre("b", "a"));
}

// Claims from every queue that saw one open queue last time read that queue alone next time
// (PostgreSQL); whatever another store changed meanwhile, the next claim still sees it.
TEST_P(QueueConformance, AClaimFromEveryQueueSeesQueuesAddedPausedOrLimitedSinceTheLastOne) {
  auto other = storage->open(clock);
  queue_fill(*store, "default", 1);
  ASSERT_EQ(store->claim("w1", from_every_queue(5), kLockTimeout).size(), 1u);
  EXPECT_TRUE(store->claim("w1", from_every_queue(5), kLockTimeout).empty());

  queue_fill(*other, "mail", 2);  // a queue the last claim did not know
  EXPECT_THAT(queues_of(store->claim("w1", from_every_queue(5), kLockTimeout)),
              ElementsAre("mail", "mail"));

  queue_fill(*other, "default", 2);
  other->update_queue("mail", pause(true), false);
  EXPECT_THAT(queues_of(store->claim("w1", from_every_queue(1), kLockTimeout)),
              ElementsAre("default"));
  // The one open queue gets a limit its two leases already fill.
  other->update_queue("default", global_limit(2), false);
  queue_fill(*other, "mail", 1);
  EXPECT_TRUE(store->claim("w1", from_every_queue(5), kLockTimeout).empty());
  other->update_queue("default", pause(true), false);
  other->update_queue("default", QueueUpdate{.clear_limits = true}, false);
  EXPECT_TRUE(store->claim("w1", from_every_queue(5), kLockTimeout).empty());
  other->update_queue("mail", pause(false), false);
  EXPECT_THAT(queues_of(store->claim("w1", from_every_queue(5), kLockTimeout)),
              ElementsAre("mail"));
  EXPECT_EQ(locked_rows(), 5u);
}
TEST_P(QueueConformance, WithinAQueueHighestPriorityThenEarliestRunAtThenLowestId) {
  const errand::TimePoint now = clock->now();
  const auto add = [&](std::int32_t priority, errand::TimePoint run_at) {
    errand::NewJob job = queue_job("q", {}, "x", priority);
    job.run_at = run_at;
    return enqueue_raw(job);
  };
  const JobId p0 = add(0, now);
  const JobId p5 = add(5, now);
  const JobId p0_earlier = add(0, now - seconds{10});
  const JobId p5_second = add(5, now);
  const JobId low_oldest = add(-1, now - hours{1});
  add(9, now + seconds{1});  // not due
  enqueue_raw(queue_job("other", {}, "x", 100));
  const auto claimed = store->claim("w1", from_queue("q", 10), kLockTimeout);
  EXPECT_THAT(claimed_ids(claimed), ElementsAre(p5, p5_second, p0_earlier, p0, low_oldest));
}

// --- pause ----------------------------------------------------------------------------------

TEST_P(QueueConformance, APausedQueueGivesNothingWhileItsRunningJobsFinish) {
  queue_fill(*store, "q", 3);
  queue_fill(*store, "other", 1);
  const auto running = store->claim("w1", from_queue("q", 1), kLockTimeout);
  ASSERT_EQ(running.size(), 1u);
  EXPECT_TRUE(store->update_queue("q", pause(true), false).paused);

  EXPECT_TRUE(store->claim("w2", from_queue("q", 5, 5), kLockTimeout).empty());
  EXPECT_THAT(queues_of(store->claim("w2", from_every_queue(10), kLockTimeout)),
              ElementsAre("other"));
  // The job that was running keeps its lease and settles normally.
  EXPECT_TRUE(queue_complete(*store, "w1", running[0]));
  EXPECT_FALSE(find_job(running[0].id));
  const QueueInfo paused = queue_named(*store, "q");
  EXPECT_TRUE(paused.paused);
  EXPECT_EQ(paused.ready, 2);
  EXPECT_EQ(paused.running, 0);

  store->update_queue("q", pause(false), false);
  EXPECT_EQ(store->claim("w2", from_queue("q", 5), kLockTimeout).size(), 2u);
}

TEST_P(QueueConformance, APauseBeforeTheFirstJobHoldsAndSurvivesReopeningTheStore) {
  store->update_queue("q", pause(true), /*create=*/true);
  queue_fill(*store, "q", 2);
  EXPECT_TRUE(store->claim("w1", from_every_queue(5), kLockTimeout).empty());

  store.reset();
  store = storage->open(clock);
  EXPECT_TRUE(queue_named(*store, "q").paused);
  EXPECT_TRUE(store->claim("w1", from_every_queue(5), kLockTimeout).empty());
  EXPECT_TRUE(store->claim("w1", from_queue("q", 5), kLockTimeout).empty());

  store->update_queue("q", pause(false), false);
  EXPECT_EQ(store->claim("w1", from_queue("q", 5), kLockTimeout).size(), 2u);
}

// --- list_queues ----------------------------------------------------------------------------

TEST_P(QueueConformance, ListQueuesCountsEveryStateAndTheQueuesUse) {
  store->update_queue("stats", QueueUpdate{.per_key = 5, .rate = RateLimit{100, hours{1}}}, true);
  store->update_queue("quiet", QueueUpdate{.paused = true, .global = 3}, true);
  const errand::TimePoint t0 = clock->now();
  queue_fill(*store, "stats", 4, "k1");
  queue_fill(*store, "stats", 2, "k2");
  errand::NewJob later = queue_job("stats", "k3");
  later.delay = hours{1};
  enqueue_raw(later);
  const JobId doomed = enqueue_raw(queue_job("stats", "k4"));
  ASSERT_EQ(store->cancel_job(doomed, "not needed").kind, errand::CancelResult::Kind::cancelled);

  // One job per claim, keys in turn: k1, k2, k1, k2.
  std::vector<ClaimedJob> claimed;
  for (int i = 0; i < 4; ++i) {
    for (ClaimedJob& job : store->claim("w1", from_queue("stats", 1), kLockTimeout))
      claimed.push_back(std::move(job));
  }
  ASSERT_THAT(keys_of(claimed), ElementsAre("k1", "k2", "k1", "k2"));
  std::vector<Outcome> outcomes;
  std::size_t k1_done = 0;
  for (const ClaimedJob& job : claimed) {
    if (job.partition_key == "k1" && k1_done++ == 0) {
      Outcome kept = queue_completed(job);
      kept.keep = true;
      outcomes.push_back(kept);
    } else if (job.partition_key == "k2" && outcomes.size() < 2) {
      Outcome dead = queue_completed(job);
      dead.kind = Outcome::Kind::dead_letter;
      dead.error = "no";
      outcomes.push_back(dead);
    }
  }
  ASSERT_EQ(outcomes.size(), 2u) << "the claim did not take k1 and k2 in turn";
  ASSERT_TRUE(store->settle("w1", outcomes).empty());
  // Running now: one of k1, one of k2. One more claim: k1's third.
  EXPECT_THAT(keys_of(store->claim("w2", from_queue("stats", 1), kLockTimeout)), ElementsAre("k1"));
  clock->advance(seconds{7});

  const auto queues = store->list_queues();
  ASSERT_EQ(queues.size(), 3u);
  EXPECT_EQ(queues[0].name, "default");
  const QueueInfo& quiet = queues[1];
  EXPECT_EQ(quiet.name, "quiet");
  EXPECT_TRUE(quiet.paused);
  EXPECT_EQ(quiet.limits, QueueLimits{.global = 3});
  EXPECT_EQ(quiet.ready + quiet.scheduled + quiet.running + quiet.completed, 0);
  EXPECT_FALSE(quiet.rate_tokens);
  EXPECT_FALSE(quiet.oldest_ready_age);

  const QueueInfo& stats = queues[2];
  EXPECT_EQ(stats.name, "stats");
  EXPECT_FALSE(stats.paused);
  EXPECT_EQ(stats.limits, (QueueLimits{.per_key = 5, .rate = RateLimit{100, hours{1}}}));
  EXPECT_EQ(stats.ready, 1);      // k1's fourth
  EXPECT_EQ(stats.scheduled, 1);  // k3
  EXPECT_EQ(stats.running, 3);    // k1 twice, k2 once
  EXPECT_EQ(stats.completed, 1);
  EXPECT_EQ(stats.cancelled, 1);
  EXPECT_EQ(stats.discarded, 1);
  EXPECT_EQ(stats.busiest_key_running, 2);
  EXPECT_EQ(stats.rate_tokens, 95);
  ASSERT_TRUE(stats.oldest_ready_age);
  EXPECT_EQ(us(*stats.oldest_ready_age), us(seconds{7}));
  EXPECT_EQ(us(clock->now() - t0), us(seconds{7}));
}

TEST_P(QueueConformance, RateTokensCountTheRateWindowAloneNotThePauseOrTheGlobalLimit) {
  store->update_queue("q", QueueUpdate{.global = 2, .rate = RateLimit{10, minutes{1}}}, true);
  queue_fill(*store, "q", 5);
  ASSERT_EQ(store->claim("w1", from_queue("q", 1), kLockTimeout).size(), 1u);
  // One claim in the window: 9 of the rate's 10 left (while one of the 2 global slots is free).
  EXPECT_EQ(queue_named(*store, "q").rate_tokens, 9);
  store->update_queue("q", pause(true), false);
  EXPECT_EQ(queue_named(*store, "q").rate_tokens, 9);
}

// --- partition keys from payloads -----------------------------------------------------------

TEST_P(QueueConformance, EnqueueTakesTheQueueAndPartitionKeyFromTheJobTypeUnlessGiven) {
  const auto stored = [&](JobId id) {
    const auto job = find_job(id);
    if (!job) throw std::runtime_error("job not found");
    return std::pair{job->queue, job->partition_key};
  };
  using Routed = std::pair<std::string, std::string>;
  EXPECT_EQ(stored(errand::enqueue(*store, QueueMailJob{.tag = 1})), (Routed{"mail", ""}));
  EXPECT_EQ(stored(errand::enqueue(*store, QueueMailJob{.tag = 2},
                                   errand::EnqueueOptions{.queue = "urgent"})),
            (Routed{"urgent", ""}));
  EXPECT_EQ(stored(errand::enqueue(*store, QueueCustomerJob{.customer_id = "c-7"})),
            (Routed{"payments", "c-7"}));
  EXPECT_EQ(stored(errand::enqueue(*store, QueueCustomerJob{.customer_id = "c-7"},
                                   errand::EnqueueOptions{.partition_key = "given"})),
            (Routed{"payments", "given"}));
  EXPECT_EQ(stored(errand::enqueue(*store, QueueAccountJob{.account = 42})),
            (Routed{"default", "42"}));
  EXPECT_EQ(stored(errand::enqueue(*store, QueueAnyKeyJob{.customer_id = -3})),
            (Routed{"default", "-3"}));
  EXPECT_EQ(stored(errand::enqueue(*store, QueueAnyKeyJob{.customer_id = true})),
            (Routed{"default", "true"}));
  EXPECT_EQ(stored(errand::enqueue(*store, RecordJob{.tag = 1})), (Routed{"default", ""}));
  EXPECT_THAT(queue_names(*store), ElementsAre("default", "mail", "payments", "urgent"));
  // The claimed job carries them too.
  const auto claimed = store->claim("w1", from_queue("payments", 1), kLockTimeout);
  ASSERT_EQ(claimed.size(), 1u);
  EXPECT_EQ(claimed[0].partition_key, "c-7");
}

TEST_P(QueueConformance, AMissingPartitionFieldIsRefusedAndNothingIsInserted) {
  const auto refused = [&](const auto& job, std::string_view why) {
    try {
      errand::enqueue(*store, job);
      ADD_FAILURE() << why << ": enqueued";
    } catch (const errand::EnqueueError& e) {
      EXPECT_EQ(e.kind(), errand::EnqueueError::Kind::serialization) << why;
      EXPECT_THAT(e.what(), HasSubstr("customer_id")) << why;
    }
  };
  refused(QueueKeylessJob{.tag = 1}, "no field");
  refused(QueueAnyKeyJob{.customer_id = nullptr}, "null");
  refused(QueueAnyKeyJob{.customer_id = nlohmann::json::object({{"id", 1}})}, "an object");
  refused(QueueAnyKeyJob{.customer_id = nlohmann::json::array({1})}, "an array");
  errand::Batch batch;
  batch.add(RecordJob{.tag = 1});
  EXPECT_THROW(batch.add(QueueKeylessJob{.tag = 2}), errand::EnqueueError);
  EXPECT_EQ(rows_in("jobs"), 0);
  EXPECT_THAT(queue_names(*store), ElementsAre("default"));

  // The key given at enqueue instead.
  const JobId id = errand::enqueue(*store, QueueKeylessJob{.tag = 3},
                                   errand::EnqueueOptions{.partition_key = "given"});
  ASSERT_TRUE(find_job(id));
  EXPECT_EQ(find_job(id)->partition_key, "given");
  EXPECT_EQ(find_job(id)->queue, "payments");
}

// --- workers --------------------------------------------------------------------------------

TEST_P(QueueConformance, AWorkerGivesEachQueueItsOwnSlotsSoABusyQueueCannotStarveAnother) {
  Gate release;
  std::atomic<int> a_running{0};
  std::atomic<int> a_most{0};
  state.hook = [&](const std::string& tag, std::stop_token stop) {
    if (tag.front() != 'a') return;
    const int now = ++a_running;
    int seen = a_most.load();
    while (seen < now && !a_most.compare_exchange_weak(seen, now)) {
    }
    release.wait(stop);
    --a_running;
  };
  for (int i = 1; i <= 5; ++i)
    enqueue_raw(queue_job("a", {}, "a" + std::to_string(i)));
  enqueue_raw(queue_job("b", {}, "b1"));
  auto options = worker_options();
  options.queues = {{"a", 1}, {"b", 1}};
  options.prefetch = 0;
  errand::Worker worker(store, registry, state, options);
  {
    BackgroundWorker background(worker);
    ASSERT_TRUE(eventually([&] { return state.count("Hook:b1") == 1; }))
        << "b's job did not run while a's queue was busy";
    EXPECT_EQ(state.count("Hook:a2") + state.count("Hook:a3"), 0u);
    release.open();
    ASSERT_TRUE(events.wait_for(WorkerEvent::Kind::succeeded, 6));
  }
  EXPECT_EQ(a_most.load(), 1) << "queue a ran more jobs at once than its 1 slot";
  EXPECT_EQ(rows_in("jobs"), 0);
}

TEST_P(QueueConformance, AWorkerServingOneQueueNeverRunsAnotherQueuesJobs) {
  for (int i = 1; i <= 3; ++i)
    enqueue_raw(queue_job("mail", {}, "m" + std::to_string(i)));
  enqueue_raw(queue_job("default", {}, "d1"));
  enqueue_raw(queue_job("other", {}, "o1", 10));
  const JobId typed = errand::enqueue(*store, QueueMailJob{.tag = 4});
  auto options = worker_options();
  options.queues = {{"mail", 2}};
  errand::Worker worker(store, registry, state, options);
  EXPECT_EQ(worker.run_until_idle(), 4u);
  EXPECT_THAT(state.snapshot(),
              UnorderedElementsAre("Hook:m1", "Hook:m2", "Hook:m3", "QueueMail:4"));
  EXPECT_FALSE(find_job(typed));
  const auto left = all_jobs();
  ASSERT_EQ(left.size(), 2u);
  for (const auto& job : left) {
    EXPECT_NE(job.queue, "mail");
    EXPECT_FALSE(job.locked_by) << job.id;
    EXPECT_EQ(job.error_count, 0) << job.id;
  }
}

TEST_P(QueueConformance, AnEveryQueueWorkerAlternatesBetweenQueues) {
  for (int i = 1; i <= 3; ++i)
    enqueue_raw(queue_job("a", {}, "a" + std::to_string(i)));
  for (int i = 1; i <= 3; ++i)
    enqueue_raw(queue_job("b", {}, "b" + std::to_string(i)));
  auto options = worker_options(1);
  options.prefetch = 0;
  errand::Worker worker(store, registry, state, options);
  EXPECT_EQ(worker.run_until_idle(), 6u);
  EXPECT_THAT(state.snapshot(),
              ElementsAre("Hook:a1", "Hook:b1", "Hook:a2", "Hook:b2", "Hook:a3", "Hook:b3"));
}

TEST_P(QueueConformance, AWorkerRunsNoMoreOfAQueueAtOnceThanItsGlobalLimit) {
  store->update_queue("q", global_limit(1), true);
  for (int i = 1; i <= 4; ++i)
    enqueue_raw(queue_job("q", {}, "q" + std::to_string(i)));
  std::atomic<std::size_t> most{0};
  state.hook = track_most_locked(most);
  errand::Worker worker(store, registry, state, worker_options(4));
  EXPECT_EQ(worker.run_until_idle(), 4u);
  EXPECT_EQ(most.load(), 1u);
  EXPECT_EQ(rows_in("jobs"), 0);
}

TEST_P(QueueConformance, AServedQueueBecomesKnownAndAPausedOneIsNotRun) {
  store->update_queue("held", pause(true), /*create=*/true);
  enqueue_raw(queue_job("held", {}, "h1"));
  auto options = worker_options();
  options.queues = {{"held", 1}, {"served", 1}};
  errand::Worker worker(store, registry, state, options);
  EXPECT_EQ(worker.run_until_idle(), 0u);
  EXPECT_EQ(state.total(), 0u);
  EXPECT_THAT(queue_names(*store), ElementsAre("default", "held", "served"));
  EXPECT_EQ(queue_named(*store, "held").ready, 1);

  for (const std::vector<errand::QueueConcurrency>& bad :
       {std::vector<errand::QueueConcurrency>{{"has space", 1}},
        std::vector<errand::QueueConcurrency>{{"a", 0}},
        std::vector<errand::QueueConcurrency>{{"a", 1}, {"a", 2}}}) {
    auto refused = worker_options();
    refused.queues = bad;
    EXPECT_THROW(([&] { errand::Worker refused_worker(store, registry, state, refused); })(),
                 errand::ConfigError)
        << bad.front().name;
  }
}

}  // namespace

}  // namespace errand_test
