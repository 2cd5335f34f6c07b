#include "support/v2_fixture.hpp"

#include <errand/errand.hpp>

#include <gtest/gtest.h>

namespace errand_test {

namespace {

constexpr errand::Duration kFixtureLockTimeout = std::chrono::hours{2};

errand::JobInfo job(errand::Store& store, errand::JobId id) {
  const auto found = store.find_job(id, kFixtureLockTimeout);
  if (!found) throw std::runtime_error("job " + std::to_string(id) + " is gone");
  return *found;
}

}  // namespace

std::filesystem::path v2_fixture(const std::string& name) {
  return std::filesystem::path(ERRAND_FIXTURES_DIR) / name;
}

errand::TimePoint v2_fixture_time(errand::TimePoint first_created_at) {
  return first_created_at + std::chrono::minutes{5};
}

void expect_v2_jobs_migrated(errand::Store& store, const std::string& unicode_payload) {
  EXPECT_EQ(store.schema_version() >= 3, true);
  const auto counts = store.counts(kFixtureLockTimeout);
  EXPECT_EQ(counts.ready, 4);
  EXPECT_EQ(counts.scheduled, 3);
  EXPECT_EQ(counts.running, 2);
  EXPECT_EQ(counts.abandoned, 0);
  EXPECT_EQ(counts.failing, 1);
  EXPECT_EQ(counts.dead, 2);
  EXPECT_EQ(counts.completed, 0);
  EXPECT_EQ(counts.cancelled, 0);
  using errand::JobState;
  const std::vector<std::pair<errand::JobId, JobState>> states{
      {1, JobState::ready},      {2, JobState::ready},     {3, JobState::ready},
      {4, JobState::scheduled},  {5, JobState::scheduled}, {6, JobState::running},
      {7, JobState::running},    {8, JobState::scheduled}, {9, JobState::discarded},
      {10, JobState::discarded}, {11, JobState::ready}};
  for (const auto& [id, state] : states) {
    SCOPED_TRACE("job " + std::to_string(id));
    const auto found = store.find_job(id, kFixtureLockTimeout);
    ASSERT_TRUE(found);
    EXPECT_EQ(found->id, id);
    EXPECT_EQ(found->state, state) << errand::to_string(found->state);
    EXPECT_EQ(found->snoozes, 0);
    EXPECT_TRUE(found->attempts.empty());
    EXPECT_FALSE(found->attempts_unreadable);
  }
  const auto two = job(store, 2);
  EXPECT_EQ(two.name, "Fixture.Ready");
  EXPECT_EQ(two.payload, R"({"n":2})");
  EXPECT_EQ(two.priority, 5);
  EXPECT_EQ(two.context, "ctx-ready");
  EXPECT_EQ(job(store, 6).locked_by, "fixture-worker");
  const auto failing = job(store, 8);
  EXPECT_EQ(failing.error_count, 1);
  EXPECT_EQ(failing.last_error, "fixture failure 1");
  EXPECT_TRUE(failing.last_failed_at);
  const auto dead = job(store, 9);
  EXPECT_EQ(dead.name, "Fixture.Dead");
  EXPECT_EQ(dead.error_count, 1);
  EXPECT_EQ(dead.last_error, "fixture dead 1");
  ASSERT_TRUE(dead.finished_at);
  const auto listed = store.list_dead({});
  ASSERT_EQ(listed.size(), 2u);
  EXPECT_EQ(listed[0].failed_at, listed[0].id == 9 ? *dead.finished_at : listed[0].failed_at);
  const auto unicode = job(store, 11);
  EXPECT_EQ(unicode.payload, unicode_payload);
  EXPECT_EQ(unicode.payload.size(), 3000u);
  const auto workers = store.list_workers();
  ASSERT_EQ(workers.size(), 1u);
  EXPECT_EQ(workers[0].id, "fixture-worker");
  EXPECT_EQ(workers[0].running, 2);
}

void expect_v2_store_works(errand::Store& store) {
  const errand::NewJob fresh{.name = "Fixture.New", .payload = "{}"};
  const auto ids = store.enqueue(std::span(&fresh, 1));
  ASSERT_EQ(ids.size(), 1u);
  EXPECT_EQ(ids[0], 12);  // ids are never reused
  EXPECT_TRUE(store.retry_dead(9));
  EXPECT_EQ(job(store, 9).state, errand::JobState::ready);
  EXPECT_EQ(job(store, 9).last_error, "fixture dead 1");
  EXPECT_EQ(store.cancel_job(1, "migrated").kind, errand::CancelResult::Kind::cancelled);
  EXPECT_EQ(store.cancel_job(10, "").kind, errand::CancelResult::Kind::already_finished);
  // The ready jobs in claim order: the retried 9 (priority 100), 2 (5), 11 and the new 12 (0),
  // 3 (-3).
  store.register_worker({.id = "w", .host = "h", .pid = 1, .concurrency = 1});
  const auto claimed = store.claim("w", 100, kFixtureLockTimeout);
  std::vector<errand::JobId> claimed_ids;
  std::vector<errand::Outcome> done;
  for (const auto& c : claimed) {
    claimed_ids.push_back(c.id);
    done.push_back({.id = c.id, .locked_at = c.locked_at});
  }
  EXPECT_EQ(claimed_ids, (std::vector<errand::JobId>{9, 2, 11, 12, 3}));
  EXPECT_TRUE(store.settle("w", done).empty());
  EXPECT_EQ(store.counts(kFixtureLockTimeout).ready, 0);
}

}  // namespace errand_test
