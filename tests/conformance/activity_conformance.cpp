// Minutes of activity (Store::record_activity, list_activity) on each store, and what a worker
// records of its runs with its heartbeats: the dashboard's throughput and latency charts.
#include "support/conformance.hpp"

using errand::ActivityMinute;
using errand::JobId;
using errand::TimePoint;
using namespace std::chrono_literals;

namespace errand_test {
namespace {

TimePoint minute_of(TimePoint t) {
  return std::chrono::floor<std::chrono::minutes>(t);
}

// The minutes of `queue` in `minutes`, summed (the longest wait kept).
ActivityMinute total_of(const std::vector<ActivityMinute>& minutes, std::string_view queue) {
  ActivityMinute total{.queue = std::string(queue)};
  for (const ActivityMinute& m : minutes) {
    if (m.queue != queue) continue;
    total.completed += m.completed;
    total.failed += m.failed;
    total.started += m.started;
    total.latency_sum += m.latency_sum;
    total.latency_max = std::max(total.latency_max, m.latency_max);
  }
  return total;
}

TEST_P(MetricsConformance, RecordedActivityAddsUpPerMinuteAndQueueAndKeepsTheLongestWait) {
  const TimePoint m0 = minute_of(clock->now());
  const ActivityMinute first[] = {
      {.minute = m0,
       .queue = "default",
       .completed = 2,
       .failed = 1,
       .started = 3,
       .latency_sum = 6s,
       .latency_max = 3s},
      {.minute = m0,
       .queue = "mail",
       .completed = 1,
       .started = 1,
       .latency_sum = 1s,
       .latency_max = 1s},
      // The same minute and queue again in one call: added up.
      {.minute = m0,
       .queue = "default",
       .completed = 1,
       .started = 1,
       .latency_sum = 5s,
       .latency_max = 5s},
      {.minute = m0 + 1min, .queue = "default", .failed = 4},
  };
  store->record_activity(first);
  const ActivityMinute second[] = {{.minute = m0,
                                    .queue = "default",
                                    .completed = 10,
                                    .started = 2,
                                    .latency_sum = 2s,
                                    .latency_max = 1s}};
  store->record_activity(second);
  store->record_activity({});  // nothing to record: nothing happens

  const auto minutes = store->list_activity(m0);
  ASSERT_EQ(minutes.size(), 3u);  // oldest first, then by queue
  EXPECT_EQ(us(minutes[0].minute), us(m0));
  EXPECT_EQ(minutes[0].queue, "default");
  EXPECT_EQ(minutes[0].completed, 13);
  EXPECT_EQ(minutes[0].failed, 1);
  EXPECT_EQ(minutes[0].started, 6);
  EXPECT_EQ(us(minutes[0].latency_sum), us(13s));
  EXPECT_EQ(us(minutes[0].latency_max), us(5s));
  EXPECT_EQ(us(minutes[1].minute), us(m0));
  EXPECT_EQ(minutes[1].queue, "mail");
  EXPECT_EQ(minutes[1].completed, 1);
  EXPECT_EQ(us(minutes[1].latency_max), us(1s));
  EXPECT_EQ(us(minutes[2].minute), us(m0 + 1min));
  EXPECT_EQ(minutes[2].failed, 4);
  EXPECT_EQ(minutes[2].started, 0);
  EXPECT_EQ(us(minutes[2].latency_sum), 0);

  EXPECT_EQ(store->list_activity(m0 + 1min).size(), 1u);
  EXPECT_TRUE(store->list_activity(m0 + 2min).empty());
}

TEST_P(MetricsConformance, ActivityRowsThatMakeNoSenseAreRefusedAndNothingIsRecorded) {
  const TimePoint m0 = minute_of(clock->now());
  const ActivityMinute bad[] = {
      {.minute = m0 + 1s, .queue = "q", .completed = 1},
      {.minute = m0, .queue = "", .completed = 1},
      {.minute = m0, .queue = "q", .completed = -1},
      {.minute = m0, .queue = "q", .failed = -1},
      {.minute = m0, .queue = "q", .started = 1, .latency_sum = -1s},
      {.minute = m0, .queue = "q", .started = 1, .latency_sum = 1s, .latency_max = 2s},
      {.minute = m0, .queue = "q", .latency_sum = 1s, .latency_max = 1s},
  };
  for (const ActivityMinute& row : bad) {
    const ActivityMinute rows[] = {{.minute = m0, .queue = "good", .completed = 1}, row};
    EXPECT_THROW(store->record_activity(rows), errand::ConfigError) << row.queue;
  }
  EXPECT_TRUE(store->list_activity(m0 - 1h).empty());
}

TEST_P(MetricsConformance, AWorkerRecordsItsRunsPerMinuteAndQueue) {
  const TimePoint since = minute_of(clock->now());
  for (int i = 0; i < 3; ++i)
    errand::enqueue(*store, RecordJob{.tag = i});
  for (int i = 0; i < 2; ++i)
    errand::enqueue(*store, RecordJob{.tag = 10 + i}, errand::EnqueueOptions{.queue = "mail"});
  const JobId failing = errand::enqueue(*store, LimitedFailJob{.tag = 1});
  clock->advance(3s);  // every first run waits 3 s; a retry runs when it is due (0 s)
  errand::Worker worker(store, registry, state, worker_options());
  runs_until_gone(worker, *store, *clock, failing);
  EXPECT_EQ(worker.run_until_idle(), 0u);  // its last heartbeat wrote the rest

  const auto minutes = store->list_activity(since);
  for (const ActivityMinute& m : minutes) {
    EXPECT_EQ(us(minute_of(m.minute)), us(m.minute));
    EXPECT_LE(us(m.minute), us(clock->now()));
  }
  const ActivityMinute work = total_of(minutes, "default");
  EXPECT_EQ(work.completed, 3);
  EXPECT_EQ(work.failed, 3);   // LimitedFail: 3 attempts, the last dead-lettered
  EXPECT_EQ(work.started, 6);  // 3 Record, 3 LimitedFail
  EXPECT_EQ(us(work.latency_sum), us(4 * 3s));
  EXPECT_EQ(us(work.latency_max), us(3s));
  const ActivityMinute mail = total_of(minutes, "mail");
  EXPECT_EQ(mail.completed, 2);
  EXPECT_EQ(mail.failed, 0);
  EXPECT_EQ(mail.started, 2);
  EXPECT_EQ(us(mail.latency_sum), us(2 * 3s));
  EXPECT_EQ(worker.stats().succeeded, 5u);
}

TEST_P(MetricsConformance, PruningDeletesMinutesOfActivityOlderThanKept) {
  const TimePoint m0 = minute_of(clock->now());
  const ActivityMinute rows[] = {{.minute = m0, .queue = "q", .completed = 1},
                                 {.minute = m0 + 1min, .queue = "q", .completed = 2}};
  store->record_activity(rows);
  clock->set(m0 + errand::kActivityKept + 30s);  // m0 is older than kept, m0 + 1 min not
  const errand::PruneResult pruned = store->prune(errand::Retention{}, 100);
  EXPECT_EQ(pruned.activity_deleted, 1u);
  const auto left = store->list_activity(m0 - 1h);
  ASSERT_EQ(left.size(), 1u);
  EXPECT_EQ(us(left[0].minute), us(m0 + 1min));
}

}  // namespace
}  // namespace errand_test
