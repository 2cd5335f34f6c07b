// The Store contract itself: claim order, locking, lock timeout, lease-checked settling,
// inspection and dead-letter administration.
#include "support/conformance.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <map>
#include <set>
#include <thread>

using errand::JobState;
using errand::Outcome;
using namespace std::chrono_literals;

namespace errand_test {
namespace {

errand::NewJob row(std::string name, std::int32_t priority = 0,
                   std::optional<errand::TimePoint> run_at = std::nullopt) {
  return errand::NewJob{.name = std::move(name),
                        .payload = "{}",
                        .context = "",
                        .priority = priority,
                        .run_at = run_at};
}

Outcome outcome(const errand::ClaimedJob& job, Outcome::Kind kind, std::string error = {},
                errand::Duration delay = errand::Duration{0}) {
  return Outcome{.id = job.id,
                 .locked_at = job.locked_at,
                 .kind = kind,
                 .error = std::move(error),
                 .retry_delay = delay};
}

std::vector<errand::JobId> ids_of(const std::vector<errand::ClaimedJob>& jobs) {
  std::vector<errand::JobId> ids;
  for (const auto& job : jobs)
    ids.push_back(job.id);
  return ids;
}

// Jobs whose claim order is C, B, A, D, E (F is not due).
struct OrderFixture {
  errand::JobId a, b, c, d, e, f;
};
OrderFixture make_order_fixture(errand::Store& store, const errand::Clock& clock) {
  const auto now = clock.now();
  OrderFixture o{};
  o.a = store.enqueue(std::vector{row("A", 0, now - 10s)})[0];
  o.b = store.enqueue(std::vector{row("B", 5, now)})[0];
  o.c = store.enqueue(std::vector{row("C", 5, now - 5s)})[0];
  o.d = store.enqueue(std::vector{row("D", 0, now - 10s)})[0];
  o.e = store.enqueue(std::vector{row("E", -1, now - 100s)})[0];
  o.f = store.enqueue(std::vector{row("F", 100, now + 10s)})[0];
  return o;
}

TEST_P(StoreConformance, ClaimReturnsPriorityThenRunAtThenIdOrder) {
  const auto o = make_order_fixture(*store, *clock);
  const auto claimed = store->claim("w", 100, kLockTimeout);
  EXPECT_EQ(ids_of(claimed), (std::vector<errand::JobId>{o.c, o.b, o.a, o.d, o.e}));
}

TEST_P(StoreConformance, ClaimOneAtATimeFollowsTheSameOrder) {
  const auto o = make_order_fixture(*store, *clock);
  std::vector<errand::JobId> order;
  for (;;) {
    auto claimed = store->claim("w", 1, kLockTimeout);
    if (claimed.empty()) break;
    ASSERT_EQ(claimed.size(), 1u);
    order.push_back(claimed[0].id);
  }
  EXPECT_EQ(order, (std::vector<errand::JobId>{o.c, o.b, o.a, o.d, o.e}));
  EXPECT_EQ(find_job(o.f)->locked_by, std::nullopt) << "a job not yet due was claimed";
}

TEST_P(StoreConformance, ClaimLocksTheJobInTheStore) {
  const auto now = clock->now();
  const auto id = errand::enqueue(*store, RecordJob{.tag = 1}, "ctx", 3);
  clock->advance(1s);
  const auto claimed = store->claim("worker-1", 10, kLockTimeout);
  ASSERT_EQ(claimed.size(), 1u);
  const auto& job = claimed[0];
  EXPECT_EQ(job.id, id);
  EXPECT_EQ(job.name, "Record");
  EXPECT_EQ(nlohmann::json::parse(job.payload), nlohmann::json({{"tag", 1}}));
  EXPECT_EQ(job.context, "ctx");
  EXPECT_EQ(job.priority, 3);
  EXPECT_EQ(job.error_count, 0);
  EXPECT_EQ(us(job.run_at), us(now));
  EXPECT_EQ(us(job.created_at), us(now));
  EXPECT_EQ(us(job.locked_at), us(now + 1s));

  EXPECT_EQ(column("jobs", "locked_by", id), "worker-1");
  auto locked_at = time_column("jobs", "locked_at", id);
  ASSERT_TRUE(locked_at);
  EXPECT_EQ(us(*locked_at), us(now + 1s));
  auto info = find_job(id);
  EXPECT_EQ(info->state, JobState::running);
  EXPECT_EQ(info->locked_by, "worker-1");

  EXPECT_TRUE(store->claim("worker-2", 10, kLockTimeout).empty()) << "a locked job was claimed";
  EXPECT_EQ(column("jobs", "locked_by", id), "worker-1");
}

TEST_P(StoreConformance, ClaimTakesAtMostMax) {
  std::vector<errand::NewJob> rows(10, row("Record"));
  store->enqueue(rows);
  EXPECT_EQ(store->claim("w", 3, kLockTimeout).size(), 3u);
  EXPECT_EQ(store->claim("w", 3, kLockTimeout).size(), 3u);
  EXPECT_EQ(store->claim("w", 100, kLockTimeout).size(), 4u);
  EXPECT_TRUE(store->claim("w", 100, kLockTimeout).empty());
  EXPECT_EQ(storage->count("jobs", "locked_by = 'w'"), 10);
}

// Claims every job from `threads` threads at once; checks every job was handed out exactly once
// and to the thread whose worker id is stored on the row.
void claim_concurrently(TestStorage& storage,
                        const std::vector<std::shared_ptr<errand::Store>>& stores,
                        std::size_t jobs) {
  std::vector<errand::NewJob> rows(jobs, row("Record"));
  const auto ids = stores[0]->enqueue(rows);
  ASSERT_EQ(ids.size(), jobs);

  std::vector<std::vector<errand::JobId>> got(stores.size());
  std::vector<std::string> errors(stores.size());
  {
    std::vector<std::jthread> threads;
    for (std::size_t t = 0; t < stores.size(); ++t) {
      threads.emplace_back([&, t] {
        const std::string worker = "claimer-" + std::to_string(t);
        try {
          for (;;) {
            auto claimed = stores[t]->claim(worker, 3, kLockTimeout);
            if (claimed.empty()) break;
            for (const auto& job : claimed)
              got[t].push_back(job.id);
          }
        } catch (const std::exception& e) {
          errors[t] = e.what();
        }
      });
    }
  }
  std::map<errand::JobId, int> times;
  for (std::size_t t = 0; t < stores.size(); ++t) {
    EXPECT_EQ(errors[t], "") << "claimer " << t << " failed";
    for (auto id : got[t]) {
      ++times[id];
      EXPECT_EQ(storage.text("SELECT locked_by FROM " + storage.table("jobs") +
                             " WHERE id = " + std::to_string(id)),
                "claimer-" + std::to_string(t));
    }
  }
  std::size_t duplicates = 0;
  for (const auto& [id, n] : times)
    duplicates += n > 1 ? 1 : 0;
  EXPECT_EQ(duplicates, 0u) << "jobs handed to more than one claimer";
  EXPECT_EQ(times.size(), jobs) << "jobs never claimed";
  EXPECT_EQ(storage.count("jobs", "locked_by IS NULL"), 0);
}

TEST_P(StoreConformance, ConcurrentClaimsOnSeparateInstancesNeverShareAJob) {
  std::vector<std::shared_ptr<errand::Store>> stores;
  for (int i = 0; i < 8; ++i)
    stores.push_back(storage->open(clock));
  claim_concurrently(*storage, stores, 600);
}

TEST_P(StoreConformance, ConcurrentClaimsOnOneSharedInstanceNeverShareAJob) {
  std::vector<std::shared_ptr<errand::Store>> stores(8, store);
  claim_concurrently(*storage, stores, 600);
}

TEST_P(StoreConformance, AbandonedLockIsClaimableOnlyAfterTheLockTimeout) {
  const auto id = errand::enqueue(*store, RecordJob{.tag = 1});
  const auto crashed = store->claim("crashed", 1, kLockTimeout);  // never settled
  ASSERT_EQ(crashed.size(), 1u);

  clock->advance(kLockTimeout - 1s);
  EXPECT_TRUE(store->claim("rescuer", 1, kLockTimeout).empty()) << "claimed before the timeout";
  EXPECT_EQ(store->counts(kLockTimeout).running, 1);
  EXPECT_EQ(store->counts(kLockTimeout).abandoned, 0);
  EXPECT_EQ(column("jobs", "locked_by", id), "crashed");

  clock->advance(2s);
  EXPECT_EQ(store->counts(kLockTimeout).running, 0);
  EXPECT_EQ(store->counts(kLockTimeout).abandoned, 1);
  EXPECT_EQ(find_job(id)->state, JobState::abandoned);
  const auto rescued = store->claim("rescuer", 1, kLockTimeout);
  ASSERT_EQ(rescued.size(), 1u);
  EXPECT_EQ(rescued[0].id, id);
  EXPECT_EQ(us(rescued[0].locked_at), us(clock->now()));
  EXPECT_EQ(column("jobs", "locked_by", id), "rescuer");
  EXPECT_EQ(us(*time_column("jobs", "locked_at", id)), us(clock->now()));
  EXPECT_EQ(column("jobs", "error_count", id), "0");
}

TEST_P(StoreConformance, LockTimeoutIsTheCallersArgument) {
  const auto id = errand::enqueue(*store, RecordJob{.tag = 1});
  ASSERT_EQ(store->claim("crashed", 1, 30s).size(), 1u);
  clock->advance(29s);
  EXPECT_TRUE(store->claim("rescuer", 1, 30s).empty());
  clock->advance(2s);
  EXPECT_TRUE(store->claim("patient", 1, kLockTimeout).empty())
      << "a longer lock timeout must not see the job as abandoned yet";
  ASSERT_EQ(store->claim("rescuer", 1, 30s).size(), 1u);
  EXPECT_EQ(column("jobs", "locked_by", id), "rescuer");
}

TEST_P(StoreConformance, SettleByAWorkerThatLostTheLockChangesNothing) {
  for (const auto kind : {Outcome::Kind::completed, Outcome::Kind::retry,
                          Outcome::Kind::dead_letter, Outcome::Kind::released}) {
    SCOPED_TRACE("outcome kind " + std::to_string(static_cast<int>(kind)));
    const auto id = errand::enqueue(*store, RecordJob{.tag = 1}, "ctx");
    const auto by_a = store->claim("A", 1, kLockTimeout);
    ASSERT_EQ(by_a.size(), 1u);
    clock->advance(kLockTimeout + 1s);
    const auto by_b = store->claim("B", 1, kLockTimeout);
    ASSERT_EQ(by_b.size(), 1u);
    ASSERT_EQ(by_b[0].id, id);
    const auto run_at = find_job(id)->run_at;

    const Outcome stale[] = {outcome(by_a[0], kind, "A's error", 2s)};
    EXPECT_EQ(store->settle("A", stale), std::vector<errand::JobId>{id});
    auto job = find_job(id);
    ASSERT_TRUE(job) << "the job disappeared after a stale settle";
    EXPECT_EQ(job->locked_by, "B");
    EXPECT_EQ(us(*job->locked_at), us(by_b[0].locked_at));
    EXPECT_EQ(job->error_count, 0);
    EXPECT_EQ(job->last_error, std::nullopt);
    EXPECT_EQ(us(job->run_at), us(run_at));
    EXPECT_EQ(column("jobs", "locked_by", id), "B");
    EXPECT_FALSE(find_dead(id));

    // B still owns it.
    const Outcome done[] = {outcome(by_b[0], Outcome::Kind::completed)};
    EXPECT_TRUE(store->settle("B", done).empty());
    EXPECT_FALSE(find_job(id));
  }
  EXPECT_EQ(rows_in("jobs"), 0);
  EXPECT_EQ(rows_in("finished_jobs"), 0);
}

TEST_P(StoreConformance, ReclaimBySameWorkerInvalidatesTheOldLease) {
  const auto id = errand::enqueue(*store, RecordJob{.tag = 1});
  const auto first = store->claim("A", 1, kLockTimeout);
  ASSERT_EQ(first.size(), 1u);
  clock->advance(kLockTimeout + 1s);
  const auto second = store->claim("A", 1, kLockTimeout);
  ASSERT_EQ(second.size(), 1u);
  const Outcome old_lease[] = {outcome(first[0], Outcome::Kind::completed)};
  EXPECT_EQ(store->settle("A", old_lease), std::vector<errand::JobId>{id});
  EXPECT_TRUE(find_job(id));
  const Outcome new_lease[] = {outcome(second[0], Outcome::Kind::completed)};
  EXPECT_TRUE(store->settle("A", new_lease).empty());
  EXPECT_FALSE(find_job(id));
}

TEST_P(StoreConformance, SettleOfAnUnknownJobReportsItLost) {
  const Outcome ghost[] = {Outcome{.id = 12345, .locked_at = clock->now()}};
  EXPECT_EQ(store->settle("A", ghost), std::vector<errand::JobId>{12345});
}

TEST_P(StoreConformance, CompletedDeletesTheJob) {
  const auto id = errand::enqueue(*store, RecordJob{.tag = 1});
  const auto claimed = store->claim("A", 1, kLockTimeout);
  const Outcome done[] = {outcome(claimed.at(0), Outcome::Kind::completed)};
  EXPECT_TRUE(store->settle("A", done).empty());
  EXPECT_FALSE(find_job(id));
  EXPECT_EQ(rows_in("jobs"), 0);
  EXPECT_EQ(rows_in("finished_jobs"), 0);
}

TEST_P(StoreConformance, RetryRecordsTheFailureAndReschedules) {
  const auto id = errand::enqueue(*store, RecordJob{.tag = 1});
  const auto claimed = store->claim("A", 1, kLockTimeout);
  clock->advance(3s);
  const auto failed_at = clock->now();
  const Outcome retry[] = {outcome(claimed.at(0), Outcome::Kind::retry, "it broke", 8s)};
  EXPECT_TRUE(store->settle("A", retry).empty());

  auto job = find_job(id);
  ASSERT_TRUE(job);
  EXPECT_EQ(job->error_count, 1);
  EXPECT_EQ(job->last_error, "it broke");
  ASSERT_TRUE(job->last_failed_at);
  EXPECT_EQ(us(*job->last_failed_at), us(failed_at));
  EXPECT_EQ(us(job->run_at), us(failed_at + 8s));
  EXPECT_EQ(job->locked_by, std::nullopt);
  EXPECT_EQ(job->locked_at, std::nullopt);
  EXPECT_EQ(job->state, JobState::scheduled);
  EXPECT_EQ(column("jobs", "error_count", id), "1");
  EXPECT_EQ(column("jobs", "last_error", id), "it broke");
  EXPECT_EQ(us(*time_column("jobs", "last_failed_at", id)), us(failed_at));
  EXPECT_EQ(us(*time_column("jobs", "run_at", id)), us(failed_at + 8s));
  EXPECT_EQ(column("jobs", "locked_by", id), std::nullopt);
  EXPECT_EQ(column("jobs", "locked_at", id), std::nullopt);

  const auto counts = store->counts(kLockTimeout);
  EXPECT_EQ(counts.scheduled, 1);
  EXPECT_EQ(counts.failing, 1);
  EXPECT_EQ(counts.ready, 0);

  // The next claim sees the error count.
  clock->advance(8s);
  const auto again = store->claim("A", 1, kLockTimeout);
  ASSERT_EQ(again.size(), 1u);
  EXPECT_EQ(again[0].error_count, 1);
  EXPECT_EQ(again[0].last_error, "it broke");
}

TEST_P(StoreConformance, DeadLetterMovesTheJobWithItsHistory) {
  const auto created = clock->now();
  const auto id = errand::enqueue(*store, FailJob{.message = "m"}, "ctx", 4);
  const auto payload = find_job(id)->payload;
  auto claimed = store->claim("A", 1, kLockTimeout);
  const Outcome retry[] = {outcome(claimed.at(0), Outcome::Kind::retry, "first", 2s)};
  store->settle("A", retry);
  clock->advance(2s);
  claimed = store->claim("A", 1, kLockTimeout);
  ASSERT_EQ(claimed.size(), 1u);
  clock->advance(1s);
  const auto failed_at = clock->now();
  const Outcome dead[] = {outcome(claimed[0], Outcome::Kind::dead_letter, "final")};
  EXPECT_TRUE(store->settle("A", dead).empty());

  EXPECT_FALSE(find_job(id));
  EXPECT_EQ(rows_in("jobs"), 0);
  auto d = find_dead(id);
  ASSERT_TRUE(d) << "the job is not in the dead-letter table";
  EXPECT_EQ(d->name, "Fail");
  EXPECT_EQ(d->payload, payload);
  EXPECT_EQ(d->context, "ctx");
  EXPECT_EQ(d->priority, 4);
  EXPECT_EQ(d->error_count, 2);
  EXPECT_EQ(d->last_error, "final");
  EXPECT_EQ(us(d->created_at), us(created));
  EXPECT_EQ(us(d->failed_at), us(failed_at));
  EXPECT_EQ(column("finished_jobs", "name", id), "Fail");
  EXPECT_EQ(column("finished_jobs", "error_count", id), "2");
  EXPECT_EQ(column("finished_jobs", "last_error", id), "final");
  EXPECT_EQ(us(*time_column("finished_jobs", "finished_at", id)), us(failed_at));
  EXPECT_EQ(us(*time_column("finished_jobs", "created_at", id)), us(created));
  EXPECT_EQ(store->counts(kLockTimeout).dead, 1);
}

TEST_P(StoreConformance, ReleasedUnlocksWithoutChargingAnAttempt) {
  const auto id = errand::enqueue(*store, RecordJob{.tag = 1});
  const auto run_at = find_job(id)->run_at;
  const auto claimed = store->claim("A", 1, kLockTimeout);
  clock->advance(5s);
  const Outcome release[] = {outcome(claimed.at(0), Outcome::Kind::released)};
  EXPECT_TRUE(store->settle("A", release).empty());
  auto job = find_job(id);
  ASSERT_TRUE(job);
  EXPECT_EQ(job->error_count, 0);
  EXPECT_EQ(job->last_error, std::nullopt);
  EXPECT_EQ(job->last_failed_at, std::nullopt);
  EXPECT_EQ(job->locked_by, std::nullopt);
  EXPECT_LE(us(job->run_at), us(clock->now())) << "a released job must be due again";
  EXPECT_GE(us(job->run_at), us(run_at));
  EXPECT_EQ(column("jobs", "locked_by", id), std::nullopt);
  EXPECT_EQ(store->claim("B", 1, kLockTimeout).size(), 1u) << "the released job is claimable";
}

TEST_P(StoreConformance, SettleAppliesManyOutcomesAndReportsOnlyTheLostOnes) {
  std::vector<errand::NewJob> rows(4, row("Record"));
  const auto ids = store->enqueue(rows);
  auto claimed = store->claim("A", 4, kLockTimeout);
  ASSERT_EQ(claimed.size(), 4u);
  std::sort(claimed.begin(), claimed.end(), [](auto& l, auto& r) { return l.id < r.id; });
  auto stale = outcome(claimed[3], Outcome::Kind::completed);
  stale.locked_at -= 1us;  // not A's current lease
  const std::vector<Outcome> outcomes{
      outcome(claimed[0], Outcome::Kind::completed),
      outcome(claimed[1], Outcome::Kind::retry, "e", 2s),
      outcome(claimed[2], Outcome::Kind::dead_letter, "d"),
      stale,
  };
  EXPECT_EQ(store->settle("A", outcomes), std::vector<errand::JobId>{ids[3]});
  EXPECT_FALSE(find_job(ids[0]));
  EXPECT_EQ(find_job(ids[1])->error_count, 1);
  EXPECT_TRUE(find_dead(ids[2]));
  EXPECT_EQ(find_job(ids[3])->locked_by, "A");
}

TEST_P(StoreConformance, SettleAndClaimSettlesFirstThenClaimsInTheSameCall) {
  const auto ids = store->enqueue(std::vector<errand::NewJob>(4, row("Record")));
  auto claimed = store->claim("A", 3, kLockTimeout);
  ASSERT_EQ(claimed.size(), 3u);
  std::sort(claimed.begin(), claimed.end(), [](auto& l, auto& r) { return l.id < r.id; });
  auto stale = outcome(claimed[2], Outcome::Kind::completed);
  stale.locked_at -= 1us;  // not A's current lease
  clock->advance(1s);
  const std::vector<Outcome> outcomes{
      outcome(claimed[0], Outcome::Kind::completed),
      outcome(claimed[1], Outcome::Kind::retry, "again", 0s),  // due at once
      stale,
  };
  const auto exchange = store->settle_and_claim("A", outcomes, 10, kLockTimeout);
  EXPECT_EQ(exchange.lost, std::vector<errand::JobId>{ids[2]});
  EXPECT_FALSE(find_job(ids[0]));
  // The retried job was unlocked before the claim looked, so it is claimed again, with its
  // failure on record; the job whose outcome was refused stays locked and is not claimed.
  std::set<errand::JobId> taken;
  for (const auto& job : exchange.claimed)
    taken.insert(job.id);
  EXPECT_EQ(taken, (std::set<errand::JobId>{ids[1], ids[3]}));
  for (const auto& job : exchange.claimed) {
    if (job.id == ids[1]) {
      EXPECT_EQ(job.error_count, 1);
      EXPECT_EQ(job.last_error, "again");
    }
    EXPECT_EQ(find_job(job.id)->locked_by, "A");
  }
  EXPECT_EQ(find_job(ids[2])->locked_by, "A");
}

TEST_P(StoreConformance, SettleAndClaimTakesAtMostMaxAndNothingWhenMaxIsZero) {
  store->enqueue(std::vector<errand::NewJob>(5, row("Record")));
  EXPECT_TRUE(store->settle_and_claim("A", {}, 0, kLockTimeout).claimed.empty());
  EXPECT_EQ(store->settle_and_claim("A", {}, 2, kLockTimeout).claimed.size(), 2u);
  auto rest = store->settle_and_claim("B", {}, 10, kLockTimeout).claimed;
  EXPECT_EQ(rest.size(), 3u);
  // Settling alone (max 0) claims nothing more.
  std::vector<Outcome> done;
  for (const auto& job : rest)
    done.push_back(outcome(job, Outcome::Kind::completed));
  const auto exchange = store->settle_and_claim("B", done, 0, kLockTimeout);
  EXPECT_TRUE(exchange.lost.empty());
  EXPECT_TRUE(exchange.claimed.empty());
  EXPECT_EQ(rows_in("jobs"), 2);
}

TEST_P(StoreConformance, CountsEveryState) {
  const auto now = clock->now();
  store->enqueue(std::vector{row("ready"), row("ready")});
  store->enqueue(std::vector{row("scheduled", 0, now + 5h)});
  store->enqueue(std::vector{row("abandoned", 10)});
  ASSERT_EQ(store->claim("crashed", 1, kLockTimeout).size(), 1u);
  clock->advance(kLockTimeout + 1s);
  store->enqueue(std::vector{row("running", 9)});
  auto running = store->claim("live", 1, 3 * kLockTimeout);  // must not take the abandoned one
  ASSERT_EQ(running.size(), 1u);
  EXPECT_EQ(running[0].name, "running");
  store->enqueue(std::vector{row("failing", 8)});
  auto failing = store->claim("live", 1, 3 * kLockTimeout);
  ASSERT_EQ(failing.size(), 1u);
  const Outcome retry[] = {outcome(failing[0], Outcome::Kind::retry, "e", 1h)};
  store->settle("live", retry);
  store->enqueue(std::vector{row("dead", 7)});
  auto dying = store->claim("live", 1, 3 * kLockTimeout);
  ASSERT_EQ(dying.size(), 1u);
  const Outcome dead[] = {outcome(dying[0], Outcome::Kind::dead_letter, "x")};
  store->settle("live", dead);

  const auto counts = store->counts(kLockTimeout);
  EXPECT_EQ(counts.ready, 2);
  EXPECT_EQ(counts.scheduled, 2);  // "scheduled" and the retry of "failing"
  EXPECT_EQ(counts.running, 1);
  EXPECT_EQ(counts.abandoned, 1);
  EXPECT_EQ(counts.failing, 1);
  EXPECT_EQ(counts.dead, 1);
}

TEST_P(StoreConformance, ListJobsFilters) {
  const auto now = clock->now();
  store->enqueue(std::vector{row("X"), row("X"), row("Y"), row("Y", 0, now + 1h)});
  auto claimed = store->claim("A", 1, kLockTimeout);  // an X
  ASSERT_EQ(claimed.size(), 1u);
  const Outcome retry[] = {outcome(claimed[0], Outcome::Kind::retry, "e", 1h)};
  store->settle("A", retry);

  EXPECT_EQ(all_jobs().size(), 4u);
  errand::JobFilter by_name;
  by_name.name = "Y";
  EXPECT_EQ(store->list_jobs(by_name).size(), 2u);
  errand::JobFilter by_state;
  by_state.state = JobState::scheduled;
  EXPECT_EQ(store->list_jobs(by_state).size(), 2u);
  by_state.state = JobState::ready;
  EXPECT_EQ(store->list_jobs(by_state).size(), 2u);
  by_state.state = JobState::running;
  EXPECT_EQ(store->list_jobs(by_state).size(), 0u);
  errand::JobFilter failing;
  failing.failing_only = true;
  const auto failing_jobs = store->list_jobs(failing);
  ASSERT_EQ(failing_jobs.size(), 1u);
  EXPECT_EQ(failing_jobs[0].id, claimed[0].id);
  errand::JobFilter limited;
  limited.limit = 3;
  EXPECT_EQ(store->list_jobs(limited).size(), 3u);
}

TEST_P(StoreConformance, RetryDeadMovesTheJobBackUnderItsId) {
  const auto id = errand::enqueue(*store, FailJob{.message = "m"}, "ctx", 2);
  auto claimed = store->claim("A", 1, kLockTimeout);
  const Outcome dead[] = {outcome(claimed.at(0), Outcome::Kind::dead_letter, "gone")};
  store->settle("A", dead);
  clock->advance(1h);
  ASSERT_TRUE(find_dead(id));

  EXPECT_TRUE(store->retry_dead(id));
  EXPECT_FALSE(find_dead(id));
  auto job = find_job(id);
  ASSERT_TRUE(job) << "retry_dead did not bring the job back under its original id";
  EXPECT_EQ(job->name, "Fail");
  EXPECT_EQ(job->context, "ctx");
  EXPECT_EQ(job->priority, 2);
  EXPECT_EQ(job->error_count, 0);
  EXPECT_EQ(us(job->run_at), us(clock->now()));
  EXPECT_EQ(job->state, JobState::ready);
  EXPECT_FALSE(store->retry_dead(id));
  EXPECT_FALSE(store->retry_dead(99999));
  EXPECT_EQ(store->claim("B", 1, kLockTimeout).size(), 1u);
}

// Dead-letters one fresh job named `name`; returns its id. (Each gets a higher priority than
// any job already queued, so it is the one claimed.)
errand::JobId make_dead(errand::Store& store, const std::string& name) {
  static std::int32_t priority = 1000;
  const auto id = store.enqueue(std::vector{row(name, ++priority)})[0];
  auto claimed = store.claim("killer", 1, kLockTimeout);
  if (claimed.size() != 1 || claimed[0].id != id) throw std::runtime_error("claim failed");
  const Outcome dead[] = {outcome(claimed[0], Outcome::Kind::dead_letter, "x")};
  store.settle("killer", dead);
  return id;
}

TEST_P(StoreConformance, RetryAllDeadAndPurgeHonourTheNameFilter) {
  for (int i = 0; i < 3; ++i)
    make_dead(*store, "X");
  for (int i = 0; i < 2; ++i)
    make_dead(*store, "Y");
  EXPECT_EQ(all_dead().size(), 5u);
  errand::DeadFilter only_y;
  only_y.name = "Y";
  EXPECT_EQ(store->list_dead(only_y).size(), 2u);

  EXPECT_EQ(store->retry_dead_jobs(errand::DeadSelection::named("Y")), 2u);
  EXPECT_EQ(all_dead().size(), 3u);
  EXPECT_EQ(storage->count("jobs", "name = 'Y'"), 2);
  EXPECT_EQ(store->purge_dead_jobs(errand::DeadSelection::named("Z")), 0u);
  EXPECT_EQ(store->purge_dead_jobs(errand::DeadSelection::named("X")), 3u);
  EXPECT_EQ(rows_in("finished_jobs"), 0);

  make_dead(*store, "X");
  make_dead(*store, "W");
  EXPECT_EQ(store->retry_dead_jobs(errand::DeadSelection::all()), 2u);
  EXPECT_EQ(rows_in("jobs"), 4);
  make_dead(*store, "X");
  EXPECT_EQ(store->purge_dead_jobs(errand::DeadSelection::all()), 1u);
  EXPECT_EQ(rows_in("finished_jobs"), 0);
}

TEST_P(StoreConformance, SchemaVersionAndDescribe) {
  EXPECT_GE(store->schema_version(), 1);
  EXPECT_FALSE(store->describe().empty());
  EXPECT_EQ(us(store->clock().now()), us(clock->now()));
}

}  // namespace
}  // namespace errand_test
