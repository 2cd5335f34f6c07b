// Enqueue: ids, stored fields, options, batches, and typed errors that write nothing.
#include "support/conformance.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <set>

using errand::EnqueueError;
using errand::JobState;
using namespace std::chrono_literals;

namespace errand_test {
namespace {

TEST_P(EnqueueConformance, ReturnsIdsAndStoresEveryField) {
  const auto now = clock->now();
  const errand::JobId first = errand::enqueue(*store, RecordJob{.tag = 7}, "user-signup");
  const errand::JobId second = errand::enqueue(*store, RecordJob{.tag = 8}, "user-signup");
  EXPECT_GT(second, first);

  auto job = find_job(first);
  ASSERT_TRUE(job) << "enqueued job " << first << " is not in the store";
  EXPECT_EQ(job->name, "Record");
  EXPECT_EQ(nlohmann::json::parse(job->payload), nlohmann::json({{"tag", 7}}));
  EXPECT_EQ(job->context, "user-signup");
  EXPECT_EQ(job->priority, 0);
  EXPECT_EQ(job->error_count, 0);
  EXPECT_EQ(us(job->run_at), us(now));
  EXPECT_EQ(us(job->created_at), us(now));
  EXPECT_FALSE(job->locked_by);
  EXPECT_FALSE(job->locked_at);
  EXPECT_FALSE(job->last_error);
  EXPECT_FALSE(job->last_failed_at);
  EXPECT_EQ(job->state, JobState::ready);

  // The same, read with the test's own connection.
  EXPECT_EQ(column("jobs", "name", first), "Record");
  EXPECT_EQ(column("jobs", "context", first), "user-signup");
  EXPECT_EQ(column("jobs", "priority", first), "0");
  EXPECT_EQ(column("jobs", "error_count", first), "0");
  EXPECT_EQ(column("jobs", "locked_by", first), std::nullopt);
  EXPECT_EQ(column("jobs", "last_error", first), std::nullopt);
  auto run_at = time_column("jobs", "run_at", first);
  ASSERT_TRUE(run_at);
  EXPECT_EQ(us(*run_at), us(now));
  auto created_at = time_column("jobs", "created_at", first);
  ASSERT_TRUE(created_at);
  EXPECT_EQ(us(*created_at), us(now));
  EXPECT_EQ(rows_in("jobs"), 2);
}

TEST_P(EnqueueConformance, PriorityDefaultsToZeroAndIsStored) {
  const auto plain = errand::enqueue(*store, RecordJob{.tag = 1});
  const auto high = errand::enqueue(*store, RecordJob{.tag = 2}, "ctx", 5);
  const auto background = errand::enqueue(*store, RecordJob{.tag = 3}, "ctx", -10);
  const auto with_options =
      errand::enqueue(*store, RecordJob{.tag = 4}, errand::EnqueueOptions{.context = "opts"});

  EXPECT_EQ(find_job(plain)->priority, 0);
  EXPECT_EQ(find_job(plain)->context, "");
  EXPECT_EQ(find_job(high)->priority, 5);
  EXPECT_EQ(find_job(background)->priority, -10);
  EXPECT_EQ(find_job(with_options)->priority, 0);
  EXPECT_EQ(column("jobs", "priority", high), "5");
  EXPECT_EQ(column("jobs", "priority", background), "-10");
  EXPECT_EQ(column("jobs", "context", with_options), "opts");
}

TEST_P(EnqueueConformance, DelayAndRunAtScheduleTheJob) {
  const auto now = clock->now();
  const auto delayed = errand::enqueue(*store, RecordJob{.tag = 1},
                                       errand::EnqueueOptions{.context = "later", .delay = 10s});
  const auto absolute = errand::enqueue(
      *store, RecordJob{.tag = 2}, errand::EnqueueOptions{.run_at = now + std::chrono::hours{1}});

  EXPECT_EQ(us(find_job(delayed)->run_at), us(now + 10s));
  EXPECT_EQ(find_job(delayed)->state, JobState::scheduled);
  EXPECT_EQ(us(find_job(absolute)->run_at), us(now + std::chrono::hours{1}));
  EXPECT_EQ(us(*time_column("jobs", "run_at", delayed)), us(now + 10s));
  EXPECT_EQ(store->counts(2h).scheduled, 2);

  // Not claimable before its time, claimable from then on.
  EXPECT_TRUE(store->claim("w", 10, 2h).empty());
  clock->advance(10s - 1us);
  EXPECT_TRUE(store->claim("w", 10, 2h).empty());
  clock->advance(1us);
  auto claimed = store->claim("w", 10, 2h);
  ASSERT_EQ(claimed.size(), 1u);
  EXPECT_EQ(claimed[0].id, delayed);
}

// A schedule errand could write but not read back (issue 10, class 2) is refused at enqueue.
TEST_P(EnqueueConformance, ATimeOutsideTheStoredRangeIsRefusedAndWritesNothing) {
  using namespace std::chrono_literals;
  const errand::TimePoint year_10000{std::chrono::microseconds{253'402'300'800'000'000}};
  const errand::Duration two_thousand_years = std::chrono::hours{24} * 365 * 2000;
  for (const errand::EnqueueOptions& options :
       {errand::EnqueueOptions{.run_at = year_10000},
        errand::EnqueueOptions{.delay = two_thousand_years},
        errand::EnqueueOptions{.delay = -two_thousand_years}}) {
    try {
      errand::enqueue(*store, RecordJob{.tag = 1}, options);
      ADD_FAILURE() << "expected EnqueueError";
    } catch (const EnqueueError& e) {
      EXPECT_EQ(e.kind(), EnqueueError::Kind::serialization) << e.what();
      EXPECT_TRUE(contains(e.what(), "cannot enqueue job 'Record'")) << e.what();
    }
    // The raw rows of Store::enqueue get the same check.
    errand::NewJob row{
        .name = "Raw", .payload = "{}", .run_at = options.run_at, .delay = options.delay};
    EXPECT_THROW(store->enqueue(std::span<const errand::NewJob>(&row, 1)), errand::StoreError);
  }
  EXPECT_EQ(rows_in("jobs"), 0);
}

TEST_P(EnqueueConformance, InvalidUtf8IsASerializationErrorAndWritesNothing) {
  try {
    errand::enqueue(*store, TextJob{.text = "bad \xff byte"}, "ctx");
    FAIL() << "expected EnqueueError";
  } catch (const EnqueueError& e) {
    EXPECT_EQ(e.kind(), EnqueueError::Kind::serialization) << e.what();
    EXPECT_NE(std::string(e.what()).find("Text"), std::string::npos)
        << "message should name the job: " << e.what();
  }
  EXPECT_EQ(rows_in("jobs"), 0);
}

TEST_P(EnqueueConformance, ThrowingToJsonIsASerializationErrorWithTheCause) {
  try {
    errand::enqueue(*store, UnserializableJob{}, "ctx");
    FAIL() << "expected EnqueueError";
  } catch (const EnqueueError& e) {
    EXPECT_EQ(e.kind(), EnqueueError::Kind::serialization) << e.what();
    EXPECT_NE(std::string(e.what()).find("refuses to serialize"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("Unserializable"), std::string::npos) << e.what();
  }
  EXPECT_EQ(rows_in("jobs"), 0);
}

TEST_P(EnqueueConformance, StoreFailureIsAStorageErrorAndWritesNothing) {
  auto impatient = storage->open(clock, StoreTuning{.busy_timeout = 50ms});
  auto block = storage->block_writes();
  if (!block) GTEST_SKIP() << "this backend cannot block writes";
  try {
    errand::Batch batch;
    batch.add(RecordJob{.tag = 1}).add(RecordJob{.tag = 2}).add(FailJob{.message = "x"});
    errand::enqueue(*impatient, batch);
    FAIL() << "expected EnqueueError while the database is write-locked";
  } catch (const EnqueueError& e) {
    EXPECT_EQ(e.kind(), EnqueueError::Kind::storage) << e.what();
    EXPECT_FALSE(std::string(e.what()).empty());
  }
  try {
    errand::enqueue(*impatient, RecordJob{.tag = 3});
    FAIL() << "expected EnqueueError while the database is write-locked";
  } catch (const EnqueueError& e) {
    EXPECT_EQ(e.kind(), EnqueueError::Kind::storage) << e.what();
  }
  block.reset();
  EXPECT_EQ(rows_in("jobs"), 0);
  // The store is usable again once the lock is gone.
  EXPECT_GT(errand::enqueue(*impatient, RecordJob{.tag = 4}), 0);
  EXPECT_EQ(rows_in("jobs"), 1);
}

TEST_P(EnqueueConformance, StoreErrorBecomesStorageEnqueueErrorWithTheCause) {
  auto faulty = std::make_shared<ForwardingStore>(store);
  faulty->fail_enqueues = 1;
  try {
    errand::enqueue(*faulty, RecordJob{.tag = 1}, "ctx");
    FAIL() << "expected EnqueueError";
  } catch (const EnqueueError& e) {
    EXPECT_EQ(e.kind(), EnqueueError::Kind::storage) << e.what();
    EXPECT_NE(std::string(e.what()).find("injected enqueue failure"), std::string::npos)
        << e.what();
  }
  EXPECT_EQ(rows_in("jobs"), 0);
}

TEST_P(EnqueueConformance, BatchOfMixedTypesIsInsertedInOrder) {
  const auto now = clock->now();
  errand::Batch batch;
  batch.add(RecordJob{.tag = 1}, {.context = "a", .priority = 3})
      .add(FailJob{.message = "boom"}, {.context = "b"})
      .add(HookJob{.tag = "h"}, {.context = "c", .delay = 5s});
  EXPECT_EQ(batch.size(), 3u);
  const auto ids = errand::enqueue(*store, batch);
  ASSERT_EQ(ids.size(), 3u);
  EXPECT_LT(ids[0], ids[1]);
  EXPECT_LT(ids[1], ids[2]);
  EXPECT_EQ(find_job(ids[0])->name, "Record");
  EXPECT_EQ(find_job(ids[0])->priority, 3);
  EXPECT_EQ(find_job(ids[1])->name, "Fail");
  EXPECT_EQ(find_job(ids[1])->context, "b");
  EXPECT_EQ(find_job(ids[2])->name, "Hook");
  EXPECT_EQ(us(find_job(ids[2])->run_at), us(now + 5s));
  EXPECT_EQ(rows_in("jobs"), 3);
}

TEST_P(EnqueueConformance, LargeBatchReturnsEachJobsOwnIdInOrder) {
  // 1,000 rows: more than one insert statement's worth on SQLite (64 rows each).
  std::vector<RecordJob> jobs;
  for (int i = 0; i < 1000; ++i)
    jobs.push_back(RecordJob{.tag = i});
  const auto ids = errand::enqueue_all(*store, jobs, {.priority = 2});
  ASSERT_EQ(ids.size(), jobs.size());
  EXPECT_TRUE(std::is_sorted(ids.begin(), ids.end()));
  EXPECT_EQ(std::set<errand::JobId>(ids.begin(), ids.end()).size(), ids.size());
  for (const std::size_t i : {0u, 63u, 64u, 500u, 999u}) {
    const auto job = find_job(ids[i]);
    ASSERT_TRUE(job) << i;
    EXPECT_EQ(nlohmann::json::parse(job->payload).at("tag"), static_cast<int>(i)) << i;
    EXPECT_EQ(job->priority, 2);
  }
  EXPECT_EQ(rows_in("jobs"), 1000);
}

TEST_P(EnqueueConformance, BatchWithAnUnserializableJobWritesNothing) {
  EXPECT_THROW(
      {
        errand::Batch batch;
        batch.add(RecordJob{.tag = 1}).add(TextJob{.text = "\xff"}).add(RecordJob{.tag = 3});
        errand::enqueue(*store, batch);
      },
      EnqueueError);
  std::vector<TextJob> texts{{"fine"}, {"\xfe\xff"}, {"also fine"}};
  try {
    errand::enqueue_all(*store, texts);
    FAIL() << "expected EnqueueError";
  } catch (const EnqueueError& e) {
    EXPECT_EQ(e.kind(), EnqueueError::Kind::serialization);
  }
  EXPECT_EQ(rows_in("jobs"), 0);
}

TEST_P(EnqueueConformance, EnqueueAllUsesTheSameOptionsForEveryJob) {
  std::vector<RecordJob> jobs;
  for (int i = 0; i < 50; ++i)
    jobs.push_back(RecordJob{.tag = i});
  const auto ids = errand::enqueue_all(*store, jobs, {.context = "bulk", .priority = 4});
  ASSERT_EQ(ids.size(), 50u);
  for (std::size_t i = 0; i < ids.size(); ++i) {
    auto job = find_job(ids[i]);
    ASSERT_TRUE(job);
    EXPECT_EQ(job->context, "bulk");
    EXPECT_EQ(job->priority, 4);
    EXPECT_EQ(nlohmann::json::parse(job->payload).at("tag"), static_cast<int>(i));
  }
  EXPECT_EQ(rows_in("jobs"), 50);
  EXPECT_EQ(storage->count("jobs", "context = 'bulk' AND priority = 4"), 50);
}

TEST_P(EnqueueConformance, EmptyBatchWritesNothing) {
  errand::Batch batch;
  EXPECT_TRUE(errand::enqueue(*store, batch).empty());
  EXPECT_TRUE(errand::enqueue_all(*store, std::vector<RecordJob>{}).empty());
  EXPECT_EQ(rows_in("jobs"), 0);
}

TEST_P(EnqueueConformance, RawEnqueueKeepsPayloadAndRunAtVerbatim) {
  const auto when = clock->now() + 90s;
  const errand::NewJob rows[] = {
      {.name = "Anything",
       .payload = R"({"k": [1, 2, 3]})",
       .context = "raw",
       .priority = 2,
       .run_at = when},
      {.name = "Other", .payload = "{}", .context = "", .priority = -1, .run_at = std::nullopt},
  };
  const auto ids = store->enqueue(rows);
  ASSERT_EQ(ids.size(), 2u);
  EXPECT_EQ(find_job(ids[0])->payload, R"({"k": [1, 2, 3]})");
  EXPECT_EQ(us(find_job(ids[0])->run_at), us(when));
  EXPECT_EQ(us(find_job(ids[1])->run_at), us(clock->now()));
  EXPECT_EQ(column("jobs", "payload", ids[0]), R"({"k": [1, 2, 3]})");
}

// Quotes, backslashes, braces, commas, NULL, control characters and non-ASCII text survive every
// path into the store (enqueue, and the error messages of retry and dead-letter) unchanged.
TEST_P(EnqueueConformance, AwkwardTextRoundTripsVerbatim) {
  const std::string awkward = "a \"quoted\", {braced} \\back\\slash 'it''s' NULL\n\ttab \xc3\xa9";
  const errand::NewJob rows[] = {
      {.name = awkward, .payload = R"({"s":"a\"b\\c{},NULL"})", .context = awkward},
      {.name = "NULL", .payload = "{}", .context = ""},
      {.name = "x", .payload = "{}", .context = "NULL"},
  };
  const auto ids = store->enqueue(rows);
  ASSERT_EQ(ids.size(), 3u);
  EXPECT_EQ(find_job(ids[0])->name, awkward);
  EXPECT_EQ(find_job(ids[0])->payload, rows[0].payload);
  EXPECT_EQ(find_job(ids[0])->context, awkward);
  EXPECT_EQ(column("jobs", "context", ids[0]), awkward);
  EXPECT_EQ(column("jobs", "name", ids[1]), "NULL");
  EXPECT_EQ(column("jobs", "context", ids[1]), "");
  EXPECT_EQ(column("jobs", "context", ids[2]), "NULL");

  auto claimed = store->claim("w", 3, std::chrono::hours{2});
  ASSERT_EQ(claimed.size(), 3u);
  std::sort(claimed.begin(), claimed.end(), [](auto& l, auto& r) { return l.id < r.id; });
  EXPECT_EQ(claimed[0].name, awkward);
  EXPECT_EQ(claimed[0].context, awkward);
  const errand::Outcome outcomes[] = {
      {.id = claimed[0].id,
       .locked_at = claimed[0].locked_at,
       .kind = errand::Outcome::Kind::retry,
       .error = awkward,
       .retry_delay = 1s},
      {.id = claimed[1].id,
       .locked_at = claimed[1].locked_at,
       .kind = errand::Outcome::Kind::dead_letter,
       .error = awkward},
      {.id = claimed[2].id,
       .locked_at = claimed[2].locked_at,
       .kind = errand::Outcome::Kind::retry,
       .error = "NULL",
       .retry_delay = 1s},
  };
  EXPECT_TRUE(store->settle("w", outcomes).empty());
  EXPECT_EQ(find_job(ids[0])->last_error, awkward);
  EXPECT_EQ(column("jobs", "last_error", ids[0]), awkward);
  EXPECT_EQ(column("jobs", "last_error", ids[2]), "NULL");
  ASSERT_TRUE(find_dead(ids[1]));
  EXPECT_EQ(find_dead(ids[1])->last_error, awkward);
  EXPECT_EQ(column("finished_jobs", "last_error", ids[1]), awkward);
}

}  // namespace
}  // namespace errand_test
