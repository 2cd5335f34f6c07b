// errand::testing: the checks on what is enqueued (require_enqueued, refute_enqueued,
// check_*, all_enqueued) and their GoogleTest adapter, on real SQLite files.
#include "support/jobs.hpp"
#include "support/text.hpp"

#include <errand/errand.hpp>
#include <errand/testing.hpp>
#include <errand/testing/gtest.hpp>

#include <gtest/gtest.h>

#include <string>

using errand_test::contains;
using errand_test::FailJob;
using errand_test::RecordJob;
using errand_test::SameNameJob;
using errand_test::TestState;
using namespace std::chrono_literals;
namespace et = errand::testing;

namespace {

bool tag_is_2(const RecordJob& job) {
  return job.tag == 2;
}

// The message of the ExpectationFailed that `check` throws ("" if it throws none).
template <class F>
std::string failure_of(F check) {
  try {
    check();
  } catch (const et::ExpectationFailed& e) {
    return e.what();
  }
  return "";
}

class Enqueued : public ::testing::Test {
 protected:
  et::TestStore store;
};

TEST_F(Enqueued, RequireReturnsTheMatchingJobsDecoded) {
  errand::enqueue(*store, RecordJob{1}, "first");
  const errand::JobId two = errand::enqueue(*store, RecordJob{2}, {.delay = 1h});
  errand::enqueue(*store, FailJob{"x"});

  const auto all = et::require_enqueued<RecordJob>(*store);
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[0].job.tag, 1);
  EXPECT_EQ(all[0].info.context, "first");
  EXPECT_EQ(all[1].job.tag, 2);

  const auto found = et::require_enqueued<RecordJob>(*store, tag_is_2);
  ASSERT_EQ(found.size(), 1u);
  EXPECT_EQ(found[0].info.id, two);
  EXPECT_EQ(found[0].info.run_at, store.now() + 1h);

  // A predicate may look at the row too.
  const auto later = et::all_enqueued<RecordJob>(
      *store,
      [&](const RecordJob&, const errand::JobInfo& info) { return info.run_at > store.now(); });
  ASSERT_EQ(later.size(), 1u);
  EXPECT_EQ(later[0].job.tag, 2);

  et::refute_enqueued<RecordJob>(*store, [](const RecordJob& job) { return job.tag == 3; });
  EXPECT_TRUE(et::check_enqueued<FailJob>(*store));
  EXPECT_TRUE(et::check_not_enqueued<SameNameJob>(*store));  // Record rows, not SameNameJobs
}

TEST_F(Enqueued, AFailedRequireListsWhatIsEnqueued) {
  errand::Registry<TestState> registry;
  registry.add<FailJob>();
  TestState state;
  errand::enqueue(*store, FailJob{"boom"}, "retrying", -1);
  et::drain(store, registry, state);  // fails once: retried in 2 s
  errand::enqueue(*store, RecordJob{1}, "sign-up");

  const std::string message =
      failure_of([&] { et::require_enqueued<RecordJob>(*store, tag_is_2); });

  EXPECT_EQ(message,
            "expected an enqueued Record matching the predicate, but none of the 2 job(s) "
            "enqueued in sqlite:" +
                store.path().string() +
                " matches; the jobs, next to run first (clock at 2023-11-14T22:13:20Z):\n"
                "  job 2 Record {\"tag\":1} ready, run_at 2023-11-14T22:13:20Z (now), 0 failed "
                "attempts, context \"sign-up\"\n"
                "  job 1 Fail {\"message\":\"boom\"} scheduled, run_at 2023-11-14T22:13:22Z (in "
                "2s), 1 failed attempt (last: boom), priority -1, context \"retrying\"");
}

TEST_F(Enqueued, AFailedRefuteMarksTheJobsThatMatch) {
  errand::enqueue(*store, RecordJob{1});
  errand::enqueue(*store, RecordJob{2});
  errand::enqueue(*store, RecordJob{2});

  const std::string one = failure_of([&] { et::refute_enqueued<RecordJob>(*store, tag_is_2); });
  EXPECT_TRUE(contains(one,
                       "expected no enqueued Record matching the predicate, but 2 of the 3 "
                       "job(s) enqueued in sqlite:"))
      << one;
  EXPECT_TRUE(contains(one, " match (marked *); the jobs, next to run first")) << one;
  EXPECT_TRUE(contains(one, "\n  job 1 Record {\"tag\":1} ready,")) << one;
  EXPECT_TRUE(contains(one, "\n* job 2 Record {\"tag\":2} ready,")) << one;
  EXPECT_TRUE(contains(one, "\n* job 3 Record {\"tag\":2} ready,")) << one;

  const std::string any = failure_of([&] { et::refute_enqueued<RecordJob>(*store); });
  EXPECT_TRUE(contains(any, "expected no enqueued Record, but 3 of the 3 job(s)")) << any;
}

TEST_F(Enqueued, AnEmptyStoreSaysSo) {
  EXPECT_EQ(
      failure_of([&] { et::require_enqueued<RecordJob>(*store); }),
      "expected an enqueued Record, but no job is enqueued in sqlite:" + store.path().string());
  et::refute_enqueued<RecordJob>(*store);
}

TEST_F(Enqueued, FinishedAndDeadJobsAreNotEnqueued) {
  errand::Registry<TestState> registry;
  registry.add<RecordJob>().add<FailJob>();
  TestState state;
  errand::enqueue(*store, RecordJob{1});
  errand::enqueue(*store, FailJob{"x"});
  et::drain(store, registry, state, {.advance_clock = true});  // one deleted, one dead

  EXPECT_FALSE(et::check_enqueued<RecordJob>(*store));
  EXPECT_FALSE(et::check_enqueued<FailJob>(*store));
  EXPECT_EQ(store->counts(2h).dead, 1);
}

TEST_F(Enqueued, APayloadThatIsNotTheTypeIsNamedInTheMessage) {
  errand::enqueue(*store, SameNameJob{"other"});  // stored as "Record", not a RecordJob

  const errand::testing::Check check = et::check_enqueued<RecordJob>(*store);
  EXPECT_FALSE(check);
  EXPECT_TRUE(contains(check.message(), "  job 1 Record {\"other\":\"other\"} ready"))
      << check.message();
  EXPECT_TRUE(contains(check.message(),
                       "\n(job 1 is named Record but its payload is not one: "
                       "[json.exception.out_of_range.403] key 'tag' not found)"))
      << check.message();
}

TEST_F(Enqueued, ALongQueueIsListedInPart) {
  std::vector<RecordJob> jobs;
  for (int i = 0; i < 60; ++i)
    jobs.push_back(RecordJob{i});
  errand::enqueue_all(*store, jobs);
  errand::enqueue(*store, FailJob{std::string(500, 'x')});

  const std::string message = et::check_enqueued<RecordJob>(*store, [](const RecordJob& job) {
                                return job.tag < 0;
                              }).message();
  EXPECT_TRUE(contains(message, "none of the 61 job(s)")) << message;
  EXPECT_TRUE(contains(message, "\n  job 50 Record {\"tag\":49} ready")) << message;
  EXPECT_FALSE(contains(message, "\n  job 51 ")) << message;
  EXPECT_TRUE(contains(message, "\n  ... and 11 more")) << message;
  EXPECT_FALSE(contains(message, std::string(300, 'x')));  // the long payload is cut
}

TEST_F(Enqueued, ChecksPassWithoutAMessage) {
  errand::enqueue(*store, RecordJob{2});
  const et::Check check = et::check_enqueued<RecordJob>(*store, tag_is_2);
  EXPECT_TRUE(check);
  EXPECT_EQ(check.message(), "");
}

TEST_F(Enqueued, TheGoogleTestAdapterCarriesTheMessage) {
  errand::enqueue(*store, RecordJob{1});

  EXPECT_TRUE(et::enqueued<RecordJob>(*store));
  EXPECT_TRUE(et::not_enqueued<RecordJob>(*store, tag_is_2));

  const ::testing::AssertionResult missing = et::enqueued<RecordJob>(*store, tag_is_2);
  EXPECT_FALSE(missing);
  EXPECT_EQ(missing.message(), et::check_enqueued<RecordJob>(*store, tag_is_2).message());
  EXPECT_TRUE(contains(missing.message(), "job 1 Record {\"tag\":1} ready")) << missing.message();

  const ::testing::AssertionResult present = et::not_enqueued<RecordJob>(*store);
  EXPECT_FALSE(present);
  EXPECT_TRUE(contains(present.message(), "* job 1 Record {\"tag\":1}")) << present.message();
}

}  // namespace
