// The test decorator (support/forwarding_store.hpp) against each real store: every virtual of
// Store reaches the store behind it, and its fault injection acts on settle_and_claim as a
// store's failed transaction would. Also: settle_and_claim runs no claim for max 0.
#include "support/conformance.hpp"

#include <errand/error.hpp>

#include <algorithm>

using errand::JobId;
using errand::NewJob;
using errand::Outcome;
using namespace std::chrono_literals;

namespace errand_test {
namespace {

Outcome outcome(const errand::ClaimedJob& job, Outcome::Kind kind) {
  return Outcome{.id = job.id, .locked_at = job.locked_at, .kind = kind, .error = "x"};
}

template <class Rows>
std::vector<JobId> ids_of(const Rows& rows) {
  std::vector<JobId> ids;
  for (const auto& row : rows)
    ids.push_back(row.id);
  std::sort(ids.begin(), ids.end());
  return ids;
}

std::vector<std::string> worker_ids(errand::Store& store) {
  std::vector<std::string> ids;
  for (const auto& worker : store.list_workers())
    ids.push_back(worker.id);
  return ids;
}

// Each virtual of Store, called through the decorator, must show its effect in the real store
// (or answer as the real store does, with something to answer). Store's virtuals are all pure,
// so ForwardingStore cannot leave one out and compile; a virtual added to Store belongs here.
TEST_P(StoreConformance, ForwardingStoreForwardsEveryVirtual) {
  ForwardingStore f(store);
  // describe, clock, schema_version
  EXPECT_EQ(f.describe(), store->describe());
  EXPECT_EQ(&f.clock(), &store->clock());
  EXPECT_EQ(f.schema_version(), store->schema_version());
  EXPECT_GT(f.schema_version(), 0);

  // subscribe, enqueue: an enqueue wakes this process's subscribers.
  std::atomic<int> woken{0};
  const auto subscription = f.subscribe([&] { ++woken; });
  const auto ids = f.enqueue(std::vector<NewJob>(4, NewJob{.name = "Record", .payload = "{}"}));
  ASSERT_EQ(ids.size(), 4u);
  EXPECT_EQ(ids_of(all_jobs()), ids);
  EXPECT_GE(woken.load(), 1);

  // register_worker, list_workers
  auto worker = errand::WorkerRegistration{
      .id = "forwarded", .host = "test-host", .pid = 4242, .concurrency = 1};
  worker.started_at = f.register_worker(worker);
  EXPECT_EQ(worker_ids(f), std::vector<std::string>{"forwarded"});
  EXPECT_EQ(worker_ids(*store), std::vector<std::string>{"forwarded"});

  // settle_and_claim: a claim, then a heartbeat holding two of the three (the store unlocks the
  // third), then a settle (max 0) of both.
  const auto claimed = f.settle_and_claim("forwarded", {}, 3, kLockTimeout).claimed;
  ASSERT_EQ(claimed.size(), 3u);
  EXPECT_EQ(locked_rows(), 3u);
  f.heartbeat(worker, std::vector<JobId>{claimed[0].id, claimed[1].id}, {});
  EXPECT_FALSE(find_job(claimed[2].id)->locked_by);
  const std::vector<Outcome> outcomes{outcome(claimed[0], Outcome::Kind::completed),
                                      outcome(claimed[1], Outcome::Kind::dead_letter)};
  EXPECT_TRUE(f.settle_and_claim("forwarded", outcomes, 0, kLockTimeout).lost.empty());
  EXPECT_FALSE(find_job(claimed[0].id));
  EXPECT_TRUE(find_dead(claimed[1].id));

  // counts, list_jobs, list_dead
  const auto counts = f.counts(kLockTimeout);
  EXPECT_EQ(counts.ready, 2);
  EXPECT_EQ(counts.dead, 1);
  EXPECT_EQ(ids_of(f.list_jobs(errand::JobFilter{})), ids_of(all_jobs()));
  EXPECT_EQ(ids_of(f.list_dead(errand::DeadFilter{})), std::vector<JobId>{claimed[1].id});

  // retry_dead, and the three protected virtuals behind retry_dead_jobs, tally_dead_jobs and
  // purge_dead_jobs.
  EXPECT_TRUE(f.retry_dead(claimed[1].id));
  EXPECT_TRUE(find_job(claimed[1].id));
  const auto again = f.claim("forwarded", 1, kLockTimeout);
  ASSERT_EQ(again.size(), 1u);
  f.settle("forwarded", std::vector{outcome(again[0], Outcome::Kind::dead_letter)});
  ASSERT_EQ(all_dead().size(), 1u);
  EXPECT_EQ(f.tally_dead_jobs(errand::DeadSelection::all()).total, 1);
  EXPECT_EQ(f.retry_dead_jobs(errand::DeadSelection::all()), 1u);
  EXPECT_TRUE(all_dead().empty());
  const auto last = f.claim("forwarded", 1, kLockTimeout);
  ASSERT_EQ(last.size(), 1u);
  f.settle("forwarded", std::vector{outcome(last[0], Outcome::Kind::dead_letter)});
  EXPECT_EQ(f.purge_dead_jobs(errand::DeadSelection::all()), 1u);
  EXPECT_TRUE(all_dead().empty());

  // find_lost_jobs, forget_lost_workers, remove_worker: "forwarded" holds a job and goes
  // silent; "silent" holds nothing.
  ASSERT_EQ(f.claim("forwarded", 1, kLockTimeout).size(), 1u);
  auto silent = worker;
  silent.id = "silent";
  f.register_worker(silent);
  clock->advance(31s);
  const auto lost = f.find_lost_jobs(30s, 10);
  ASSERT_EQ(lost.size(), 1u);
  EXPECT_EQ(lost[0].worker_id, "forwarded");
  EXPECT_EQ(lost[0].job.id, store->find_lost_jobs(30s, 10).at(0).job.id);
  EXPECT_EQ(f.forget_lost_workers(30s), 1u);
  EXPECT_EQ(worker_ids(*store), std::vector<std::string>{"forwarded"});
  f.remove_worker("forwarded");
  EXPECT_TRUE(worker_ids(*store).empty());
  EXPECT_EQ(locked_rows(), 0u);

  // record_activity, list_activity
  const auto minute = std::chrono::floor<std::chrono::minutes>(clock->now());
  const errand::ActivityMinute activity[] = {{.minute = minute, .queue = "q", .completed = 3}};
  f.record_activity(activity);
  ASSERT_EQ(store->list_activity(minute).size(), 1u);
  EXPECT_EQ(store->list_activity(minute).at(0).completed, 3);
  ASSERT_EQ(f.list_activity(minute).size(), 1u);
  EXPECT_EQ(f.list_activity(minute).at(0).completed, 3);

  // fire_schedule, list_schedules, pause_schedule
  const errand::Schedule schedule{
      .name = "forwarded", .spec = "@every 1s", .job = NewJob{.name = "Record", .payload = "{}"}};
  f.fire_schedule(schedule, errand::CronSpec::parse(schedule.spec));
  ASSERT_EQ(store->list_schedules().size(), 1u);
  EXPECT_EQ(f.list_schedules().at(0).name, "forwarded");
  ASSERT_TRUE(f.pause_schedule("forwarded", true));
  EXPECT_TRUE(store->list_schedules().at(0).paused);
  // remove_schedule
  EXPECT_EQ(f.remove_schedule("forwarded", errand::Duration{0}), errand::ScheduleRemoval::removed);
  EXPECT_TRUE(store->list_schedules().empty());
}

// A failed claim applies none of its outcomes (the store's transaction failed); a claim whose
// reply is lost applied both.
TEST_P(StoreConformance, ForwardingStoreFaultsActOnTheWholeSettleAndClaim) {
  ForwardingStore f(store);
  f.enqueue(std::vector<NewJob>(3, NewJob{.name = "Record", .payload = "{}"}));
  const auto claimed = f.claim("A", 1, kLockTimeout);
  ASSERT_EQ(claimed.size(), 1u);
  const std::vector<Outcome> done{outcome(claimed[0], Outcome::Kind::completed)};

  f.fail_claims = 1;
  EXPECT_THROW(f.settle_and_claim("A", done, 1, kLockTimeout), errand::StoreError);
  EXPECT_EQ(f.failed_claims(), 1);
  EXPECT_TRUE(find_job(claimed[0].id)) << "a failed claim settled its outcomes";
  EXPECT_EQ(locked_rows(), 1u);

  f.lose_claim_replies = 1;
  EXPECT_THROW(f.settle_and_claim("A", done, 1, kLockTimeout), errand::StoreError);
  EXPECT_FALSE(find_job(claimed[0].id)) << "a claim whose reply was lost committed";
  EXPECT_EQ(locked_rows(), 1u);
  EXPECT_EQ(rows_in("jobs"), 2);
  EXPECT_EQ(f.claims(), 1);  // the first claim; the lost one never answered
}

// Settling alone (max 0) runs no claim: not even the sweep of abandoned locks that precedes one.
TEST_P(StoreConformance, SettleAloneLeavesAbandonedLocksToTheNextClaim) {
  store->enqueue(std::vector<NewJob>(2, NewJob{.name = "Record", .payload = "{}"}));
  const auto claimed = store->claim("A", 2, kLockTimeout);
  ASSERT_EQ(claimed.size(), 2u);
  clock->advance(2s);
  const std::vector<Outcome> done{outcome(claimed[0], Outcome::Kind::completed)};
  EXPECT_TRUE(store->settle_and_claim("A", done, 0, 1s).lost.empty());
  EXPECT_EQ(find_job(claimed[1].id)->locked_by, "A") << "a settle swept an abandoned lock";
  const auto taken = store->claim("B", 1, 1s);
  ASSERT_EQ(taken.size(), 1u);
  EXPECT_EQ(taken[0].id, claimed[1].id);
}

}  // namespace
}  // namespace errand_test
