// Named queues and their flow control on every store, on a manual clock (errand/queues.hpp): which
// queues are known, bad names and limits, claims from named queues or from every queue taking
// turns, pause and resume (surviving a reopened store), the global, per-key and rate limits
// (across workers, lost workers, limits lowered below their use, no prefetch), partition keys
// from payloads, list_queues' counts, and workers serving queues with slots of their own.
#include "support/conformance.hpp"

#include <errand/errand.hpp>

#include <gmock/gmock.h>

#include <algorithm>
#include <atomic>

namespace errand_test {

namespace {

using errand::ClaimedJob;
using errand::ClaimRequest;
using errand::JobId;
using errand::Outcome;
using errand::QueueDemand;
using errand::QueueInfo;
using errand::QueueLimits;
using errand::QueueUpdate;
using errand::RateLimit;
using errand::WorkerEvent;
using std::chrono::hours;
using std::chrono::microseconds;
using std::chrono::milliseconds;
using std::chrono::minutes;
using std::chrono::seconds;
using testing::ElementsAre;
using testing::HasSubstr;
using testing::UnorderedElementsAre;

// A job type with a queue of its own.
struct QueueMailJob {
  static constexpr std::string_view name = "QueueMail";
  static constexpr std::string_view queue = "mail";
  int tag = 0;
  void run(TestState& state) { state.record("QueueMail:" + std::to_string(tag)); }
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(QueueMailJob, tag)

// Its queue, and its partition key from a string field.
struct QueueCustomerJob {
  static constexpr std::string_view name = "QueueCustomer";
  static constexpr std::string_view queue = "payments";
  static constexpr std::string_view partition_by = "customer_id";
  std::string customer_id;
  void run(TestState&) {}
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(QueueCustomerJob, customer_id)

// Its partition key from a number field; the default queue.
struct QueueAccountJob {
  static constexpr std::string_view name = "QueueAccount";
  static constexpr std::string_view partition_by = "account";
  std::int64_t account = 0;
  void run(TestState&) {}
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(QueueAccountJob, account)

// Names a partition field its payload does not have.
struct QueueKeylessJob {
  static constexpr std::string_view name = "QueueKeyless";
  static constexpr std::string_view queue = "payments";
  static constexpr std::string_view partition_by = "customer_id";
  int tag = 0;
  void run(TestState&) {}
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(QueueKeylessJob, tag)

// Its partition field holds any JSON value.
struct QueueAnyKeyJob {
  static constexpr std::string_view name = "QueueAnyKey";
  static constexpr std::string_view partition_by = "customer_id";
  nlohmann::json customer_id;
  void run(TestState&) {}
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(QueueAnyKeyJob, customer_id)

// A HookJob row (it records "Hook:<tag>") in `queue`, of partition `key`.
errand::NewJob queue_job(std::string queue, std::string key = {}, std::string tag = "t",
                         std::int32_t priority = 0) {
  return errand::NewJob{.name = "Hook",
                        .payload = nlohmann::json{{"tag", std::move(tag)}}.dump(),
                        .priority = priority,
                        .queue = std::move(queue),
                        .partition_key = std::move(key)};
}

// `n` such jobs in one batch; returns their ids.
std::vector<JobId> queue_fill(errand::Store& store, const std::string& queue, std::size_t n,
                              const std::string& key = {}) {
  std::vector<errand::NewJob> jobs(n, queue_job(queue, key));
  return store.enqueue(jobs);
}

ClaimRequest from_queue(std::string queue, std::size_t max, std::size_t prefetch = 0) {
  ClaimRequest request;
  request.queues.push_back(QueueDemand{std::move(queue), max, prefetch});
  return request;
}

ClaimRequest from_every_queue(std::size_t max, std::string after = {}, std::size_t prefetch = 0) {
  ClaimRequest request(max);
  request.prefetch = prefetch;
  request.after_queue = std::move(after);
  return request;
}

std::vector<std::string> queues_of(const std::vector<ClaimedJob>& jobs) {
  std::vector<std::string> out;
  for (const ClaimedJob& job : jobs)
    out.push_back(job.queue);
  return out;
}

std::vector<std::string> keys_of(const std::vector<ClaimedJob>& jobs) {
  std::vector<std::string> out;
  for (const ClaimedJob& job : jobs)
    out.push_back(job.partition_key);
  return out;
}

std::vector<JobId> ids_of(const std::vector<ClaimedJob>& jobs) {
  std::vector<JobId> out;
  for (const ClaimedJob& job : jobs)
    out.push_back(job.id);
  return out;
}

std::size_t claimed_from(const std::vector<ClaimedJob>& jobs, std::string_view queue) {
  return static_cast<std::size_t>(std::count_if(
      jobs.begin(), jobs.end(), [&](const ClaimedJob& j) { return j.queue == queue; }));
}

QueueUpdate pause(bool paused) {
  return QueueUpdate{.paused = paused};
}
QueueUpdate global_limit(std::int32_t n) {
  return QueueUpdate{.global = n};
}
QueueUpdate per_key_limit(std::int32_t n) {
  return QueueUpdate{.per_key = n};
}
QueueUpdate rate_limit(std::int32_t n, errand::Duration period) {
  return QueueUpdate{.rate = RateLimit{n, period}};
}

Outcome queue_completed(const ClaimedJob& job) {
  return Outcome{.id = job.id, .locked_at = job.locked_at, .kind = Outcome::Kind::completed};
}

// Settles `job` as completed for `worker`; true when its lease held.
bool queue_complete(errand::Store& store, const std::string& worker, const ClaimedJob& job) {
  const Outcome outcome = queue_completed(job);
  return store.settle(worker, std::span<const Outcome>(&outcome, 1)).empty();
}

std::optional<QueueInfo> queue_listed(errand::Store& store, std::string_view name) {
  for (QueueInfo& info : store.list_queues()) {
    if (info.name == name) return info;
  }
  return std::nullopt;
}

QueueInfo queue_named(errand::Store& store, std::string_view name) {
  auto info = queue_listed(store, name);
  if (!info) throw std::runtime_error("queue '" + std::string(name) + "' is not listed");
  return *info;
}

std::vector<std::string> queue_names(errand::Store& store) {
  std::vector<std::string> names;
  for (const QueueInfo& info : store.list_queues())
    names.push_back(info.name);
  return names;
}

}  // namespace

void QueueConformance::SetUp() {
  ConformanceTest::SetUp();
  if (!store) return;
  registry.add<QueueMailJob>().add<QueueCustomerJob>().add<QueueAccountJob>();
  store->register_worker(registration("w1"));
  store->register_worker(registration("w2"));
}

namespace {

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
  EXPECT_THAT(ids_of(claimed), ElementsAre(p5, p5_second, p0_earlier, p0, low_oldest));
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
