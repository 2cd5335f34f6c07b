// Unique jobs on every store, on a manual clock (errand/unique.hpp): a key blocks while its job
// is in one of the blocking states and frees when it leaves them, periods, replace, batches, and
// many threads enqueueing the same job at once.
#include "support/conformance.hpp"

#include <errand/errand.hpp>

#include <gmock/gmock.h>

#include <thread>

namespace errand_test {

namespace {

using errand::Enqueued;
using errand::EnqueueOutcome;
using errand::JobId;
using errand::OnConflict;
using errand::Outcome;
using errand::UniqueOptions;
using std::chrono::hours;
using std::chrono::minutes;
using std::chrono::seconds;

constexpr auto kLockTimeout = hours{2};

// A job with a customer; unique by its customer unless an enqueue says otherwise.
struct UniqueReportJob {
  static constexpr std::string_view name = "UniqueReport";
  static inline const UniqueOptions unique{.fields = {{"customer_id"}}};
  std::int64_t customer_id = 0;
  std::string note;
  void run(TestState&) {}
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(UniqueReportJob, customer_id, note)

Enqueued report(errand::Store& store, std::int64_t customer, std::string note = "",
                errand::EnqueueOptions options = {}) {
  return errand::enqueue(store, UniqueReportJob{.customer_id = customer, .note = std::move(note)},
                         std::move(options));
}

// Claims the one due job for `worker` and settles it with `kind`.
void finish_one(errand::Store& store, Outcome::Kind kind, bool keep = false) {
  const auto claimed = store.claim("w", 1, kLockTimeout);
  ASSERT_EQ(claimed.size(), 1u);
  const Outcome outcome[] = {{.id = claimed[0].id,
                              .locked_at = claimed[0].locked_at,
                              .kind = kind,
                              .error = "failed",
                              .retry_delay = minutes{5},
                              .keep = keep}};
  ASSERT_TRUE(store.settle("w", outcome).empty());
}

TEST_P(UniqueConformance, ASecondEnqueueIsADuplicateOfTheWaitingJob) {
  const Enqueued first = report(*store, 7, "first");
  EXPECT_EQ(first.outcome, EnqueueOutcome::inserted);
  const Enqueued again = report(*store, 7, "second");
  EXPECT_EQ(again.outcome, EnqueueOutcome::duplicate);
  EXPECT_EQ(again.id, first.id);
  // Another customer is another key; a job without uniqueness is never a duplicate.
  EXPECT_EQ(report(*store, 8).outcome, EnqueueOutcome::inserted);
  EXPECT_EQ(errand::enqueue(*store, RecordJob{.tag = 1}).outcome, EnqueueOutcome::inserted);
  EXPECT_EQ(errand::enqueue(*store, RecordJob{.tag = 1}).outcome, EnqueueOutcome::inserted);
  EXPECT_EQ(all_jobs().size(), 4u);
  EXPECT_THAT(find_job(first.id)->payload, testing::HasSubstr("first"));
}

TEST_P(UniqueConformance, TheKeyBlocksWhileRunningAndFreesWhenTheJobIsGone) {
  const Enqueued first = report(*store, 7);
  store->register_worker(registration("w"));
  const auto claimed = store->claim("w", 1, kLockTimeout);
  ASSERT_EQ(claimed.size(), 1u);
  EXPECT_EQ(report(*store, 7).outcome, EnqueueOutcome::duplicate);  // running blocks
  const Outcome done[] = {
      {.id = claimed[0].id, .locked_at = claimed[0].locked_at, .kind = Outcome::Kind::completed}};
  ASSERT_TRUE(store->settle("w", done).empty());
  // Completed and deleted (no retention): the key is free.
  const Enqueued next = report(*store, 7);
  EXPECT_EQ(next.outcome, EnqueueOutcome::inserted);
  EXPECT_NE(next.id, first.id);
}

TEST_P(UniqueConformance, DeletingTheJobThatHoldsAKeyFreesIt) {
  store->register_worker(registration("w"));
  const Enqueued waiting = report(*store, 1);
  ASSERT_EQ(store->delete_job(waiting.id).kind, errand::DeleteResult::Kind::deleted);
  EXPECT_EQ(report(*store, 1).outcome, EnqueueOutcome::inserted);
  finish_one(*store, Outcome::Kind::completed, /*keep=*/true);
  const Enqueued kept = report(*store, 1);
  ASSERT_EQ(kept.outcome, EnqueueOutcome::duplicate);  // the kept completed job blocks
  ASSERT_EQ(store->delete_job(kept.id).kind, errand::DeleteResult::Kind::deleted);
  EXPECT_EQ(report(*store, 1).outcome, EnqueueOutcome::inserted);
}

TEST_P(UniqueConformance, AKeptCompletedJobBlocksAndDeadOrCancelledOnesDoNot) {
  store->register_worker(registration("w"));
  const Enqueued kept = report(*store, 1);
  finish_one(*store, Outcome::Kind::completed, /*keep=*/true);
  EXPECT_EQ(report(*store, 1), (Enqueued{kept.id, EnqueueOutcome::duplicate}));

  const Enqueued dead = report(*store, 2);
  finish_one(*store, Outcome::Kind::dead_letter);
  EXPECT_EQ(report(*store, 2).outcome, EnqueueOutcome::inserted);
  EXPECT_NE(report(*store, 2).id, dead.id);  // the new one holds it now

  const Enqueued cancelled = report(*store, 3);
  store->cancel_job(cancelled.id, "not needed");
  EXPECT_EQ(report(*store, 3).outcome, EnqueueOutcome::inserted);
}

TEST_P(UniqueConformance, TheBlockingStatesAreTheEnqueuesChoice) {
  store->register_worker(registration("w"));
  // Blocks only while waiting: a running job lets the next one in (debouncing).
  const UniqueOptions waiting_only{.fields = {{"customer_id"}},
                                   .states = errand::unique_scheduled | errand::unique_ready};
  const Enqueued first = report(*store, 5, "", {.unique = waiting_only});
  EXPECT_EQ(report(*store, 5, "", {.unique = waiting_only}).outcome, EnqueueOutcome::duplicate);
  ASSERT_EQ(store->claim("w", 1, kLockTimeout).size(), 1u);
  const Enqueued second = report(*store, 5, "", {.unique = waiting_only});
  EXPECT_EQ(second.outcome, EnqueueOutcome::inserted);
  EXPECT_NE(second.id, first.id);
  // Blocks also when dead: a discarded job keeps its key until purged.
  const UniqueOptions even_dead{.fields = {{"customer_id"}},
                                .states = errand::kUniqueDefaultStates | errand::unique_discarded};
  const Enqueued doomed = report(*store, 6, "", {.unique = even_dead});
  const auto claimed = store->claim("w", 5, kLockTimeout);
  for (const auto& job : claimed) {
    if (job.id != doomed.id) continue;
    const Outcome died[] = {{.id = job.id,
                             .locked_at = job.locked_at,
                             .kind = Outcome::Kind::dead_letter,
                             .error = "no"}};
    ASSERT_TRUE(store->settle("w", died).empty());
  }
  EXPECT_EQ(report(*store, 6, "", {.unique = even_dead}),
            (Enqueued{doomed.id, EnqueueOutcome::duplicate}));
  store->purge_dead_jobs(errand::DeadSelection::with_ids({doomed.id}));
  EXPECT_EQ(report(*store, 6, "", {.unique = even_dead}).outcome, EnqueueOutcome::inserted);
}

TEST_P(UniqueConformance, AScheduledJobBlocksOnlyWhenScheduledIsAmongTheStates) {
  const UniqueOptions ready_only{.fields = {{"customer_id"}}, .states = errand::unique_ready};
  const Enqueued later = report(*store, 9, "", {.delay = hours{1}, .unique = ready_only});
  // Scheduled for later: it does not block, the new job takes the key.
  const Enqueued now = report(*store, 9, "", {.unique = ready_only});
  EXPECT_EQ(now.outcome, EnqueueOutcome::inserted);
  EXPECT_NE(now.id, later.id);
  // The new job is ready: it blocks.
  EXPECT_EQ(report(*store, 9, "", {.unique = ready_only}),
            (Enqueued{now.id, EnqueueOutcome::duplicate}));
}

TEST_P(UniqueConformance, APeriodAllowsOneJobPerBucketOfRunAt) {
  const UniqueOptions hourly{.fields = {{"customer_id"}}, .period = hours{1}};
  const auto base = errand::TimePoint{std::chrono::hours{500'000}};  // on an hour
  const Enqueued a = report(*store, 1, "", {.run_at = base + minutes{10}, .unique = hourly});
  EXPECT_EQ(report(*store, 1, "", {.run_at = base + minutes{50}, .unique = hourly}),
            (Enqueued{a.id, EnqueueOutcome::duplicate}));
  EXPECT_EQ(report(*store, 1, "", {.run_at = base + minutes{70}, .unique = hourly}).outcome,
            EnqueueOutcome::inserted);
}

TEST_P(UniqueConformance, ReplaceUpdatesAWaitingHolderButNotARunningOne) {
  const UniqueOptions replace{.fields = {{"customer_id"}}, .on_conflict = OnConflict::replace};
  const Enqueued first = report(*store, 4, "old", {.unique = replace});
  const Enqueued second = report(*store, 4, "new", {.priority = 3, .unique = replace});
  EXPECT_EQ(second, (Enqueued{first.id, EnqueueOutcome::replaced}));
  const auto job = find_job(first.id);
  ASSERT_TRUE(job);
  EXPECT_THAT(job->payload, testing::HasSubstr("new"));
  EXPECT_EQ(job->priority, 3);
  EXPECT_EQ(all_jobs().size(), 1u);
  store->register_worker(registration("w"));
  ASSERT_EQ(store->claim("w", 1, kLockTimeout).size(), 1u);
  EXPECT_EQ(report(*store, 4, "newer", {.unique = replace}),
            (Enqueued{first.id, EnqueueOutcome::duplicate}));
  EXPECT_THAT(find_job(first.id)->payload, testing::HasSubstr("new"));
}

TEST_P(UniqueConformance, ABatchReportsEachRowAndTheFirstOfAKeyDecides) {
  const Enqueued held = report(*store, 1);
  errand::Batch batch;
  batch
      .add(UniqueReportJob{.customer_id = 1, .note = ""})   // held already
      .add(UniqueReportJob{.customer_id = 2, .note = ""})   // new
      .add(RecordJob{.tag = 3})                             // no uniqueness
      .add(UniqueReportJob{.customer_id = 2, .note = ""});  // the batch's own duplicate
  const std::vector<Enqueued> done = errand::enqueue(*store, batch);
  ASSERT_EQ(done.size(), 4u);
  EXPECT_EQ(done[0], (Enqueued{held.id, EnqueueOutcome::duplicate}));
  EXPECT_EQ(done[1].outcome, EnqueueOutcome::inserted);
  EXPECT_EQ(done[2].outcome, EnqueueOutcome::inserted);
  EXPECT_EQ(done[3], (Enqueued{done[1].id, EnqueueOutcome::duplicate}));
  EXPECT_EQ(all_jobs().size(), 3u);
}

// A batch whose unique row must take its key from a running job (on PostgreSQL: the path that
// rolls the first transaction back and runs the batch again) still inserts every row once.
TEST_P(UniqueConformance, ABatchThatTakesAKeyOverInsertsEachRowOnce) {
  store->register_worker(registration("w"));
  const UniqueOptions waiting_only{.fields = {{"customer_id"}},
                                   .states = errand::unique_scheduled | errand::unique_ready};
  const Enqueued running = report(*store, 5, "", {.unique = waiting_only});
  ASSERT_EQ(store->claim("w", 1, kLockTimeout).size(), 1u);
  errand::Batch batch;
  batch.add(RecordJob{.tag = 1})
      .add(UniqueReportJob{.customer_id = 5, .note = ""}, {.unique = waiting_only})
      .add(UniqueReportJob{.customer_id = 6, .note = ""})
      .add(UniqueReportJob{.customer_id = 5, .note = ""}, {.unique = waiting_only});
  const std::vector<Enqueued> done = errand::enqueue(*store, batch);
  ASSERT_EQ(done.size(), 4u);
  EXPECT_EQ(done[0].outcome, EnqueueOutcome::inserted);
  EXPECT_EQ(done[1].outcome, EnqueueOutcome::inserted);
  EXPECT_NE(done[1].id, running.id);
  EXPECT_EQ(done[2].outcome, EnqueueOutcome::inserted);
  EXPECT_EQ(done[3], (Enqueued{done[1].id, EnqueueOutcome::duplicate}));
  EXPECT_EQ(all_jobs().size(), 4u);  // the running one and three new
  // The new job holds the key now: it blocks while it waits.
  EXPECT_EQ(report(*store, 5, "", {.unique = waiting_only}),
            (Enqueued{done[1].id, EnqueueOutcome::duplicate}));
}

// A dead job moved back keeps its key unless a live job holds it, or a newer dead job with the
// key moves back with it: the retry never fails on the key.
TEST_P(UniqueConformance, RetryingDeadJobsWhoseKeyIsTakenMovesThemBackWithoutIt) {
  store->register_worker(registration("w"));
  const auto kill = [&] { finish_one(*store, Outcome::Kind::dead_letter); };
  // With no live holder, the newest of the dead jobs moved back takes the key.
  const Enqueued first = report(*store, 2);
  kill();
  const Enqueued second = report(*store, 2);  // dead jobs do not block by default
  ASSERT_EQ(second.outcome, EnqueueOutcome::inserted);
  kill();
  EXPECT_EQ(store->retry_dead_jobs(errand::DeadSelection::with_ids({first.id, second.id})), 2u);
  EXPECT_EQ(report(*store, 2), (Enqueued{second.id, EnqueueOutcome::duplicate}));
  // A live job holds the key: they move back without it. (Priority 10: claimed before those.)
  const errand::EnqueueOptions urgent{.priority = 10};
  const Enqueued third = report(*store, 1, "", urgent);
  kill();
  const Enqueued fourth = report(*store, 1, "", urgent);
  kill();
  const Enqueued live = report(*store, 1, "", urgent);
  ASSERT_EQ(live.outcome, EnqueueOutcome::inserted);
  EXPECT_EQ(store->retry_dead_jobs(errand::DeadSelection::with_ids({third.id, fourth.id})), 2u);
  EXPECT_EQ(all_jobs().size(), 5u);
  EXPECT_EQ(report(*store, 1), (Enqueued{live.id, EnqueueOutcome::duplicate}));
}

// A NewJob handed to the store directly is checked like any input.
TEST_P(UniqueConformance, AStoreRefusesAMalformedUniqueKeyAndWritesNothing) {
  for (const errand::NewJob& job :
       {errand::NewJob{.name = "X", .payload = "{}", .unique_key = "not hex"},
        errand::NewJob{.name = "X", .payload = "{}", .unique_key = std::string(64, 'A')},
        errand::NewJob{
            .name = "X", .payload = "{}", .unique_key = std::string(64, 'a'), .unique_states = 0},
        errand::NewJob{.name = "X",
        .payload = "{}",
        .unique_key = std::string(64, 'a'),
        .unique_period = errand::Duration{0}}}) {
    EXPECT_THROW(store->enqueue(std::span(&job, 1)), errand::StoreError);
  }
  EXPECT_TRUE(all_jobs().empty());
}

TEST_P(UniqueConformance, AMissingFieldIsRefusedAndNothingIsWritten) {
  const UniqueOptions by_region{.fields = {{"region"}}};
  try {
    report(*store, 1, "", {.unique = by_region});
    ADD_FAILURE() << "a unique key on a missing field was accepted";
  } catch (const errand::EnqueueError& e) {
    EXPECT_EQ(e.kind(), errand::EnqueueError::Kind::serialization);
    EXPECT_THAT(e.what(), testing::HasSubstr("no field \"region\""));
  }
  EXPECT_TRUE(all_jobs().empty());
}

TEST_P(UniqueConformance, ManyThreadsEnqueueingTheSameJobMakeOneJob) {
  constexpr int kThreads = 8;
  constexpr int kEach = 50;
  std::vector<std::vector<Enqueued>> seen(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kEach; ++i)
        seen[t].push_back(report(*store, 42));
    });
  }
  for (auto& thread : threads)
    thread.join();
  ASSERT_EQ(all_jobs().size(), 1u);
  const JobId only = all_jobs()[0].id;
  int inserted = 0;
  for (const auto& results : seen) {
    for (const Enqueued& e : results) {
      EXPECT_EQ(e.id, only);
      if (e.outcome == EnqueueOutcome::inserted) ++inserted;
    }
  }
  EXPECT_EQ(inserted, 1);
}

}  // namespace

}  // namespace errand_test
