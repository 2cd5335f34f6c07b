// Recurring jobs on every store, on a manual clock (errand/schedule.hpp): each tick fires once
// however many workers and threads fire the schedule, the missed-run and overlap policies, pause,
// resume and trigger, a changed spec, what `errand cron` lists, and workers firing on the clock.
#include "support/conformance.hpp"

#include <errand/errand.hpp>

#include <gmock/gmock.h>

#include <algorithm>
#include <set>
#include <thread>

namespace errand_test {

namespace {

using errand::CronSpec;
using errand::JobId;
using errand::MissedPolicy;
using errand::Overlap;
using errand::Schedule;
using errand::ScheduleFiring;
using errand::TimePoint;
using std::chrono::hours;
using std::chrono::minutes;
using std::chrono::seconds;

constexpr auto kMinute = minutes{1};

Schedule every(std::string name, std::string spec, MissedPolicy policy = MissedPolicy::skip) {
  return Schedule{.name = std::move(name),
                  .spec = std::move(spec),
                  .job = errand::scheduled_job(RecordJob{.tag = 7}),
                  .missed = {.policy = policy}};
}

ScheduleFiring fire(errand::Store& store, const Schedule& schedule) {
  return store.fire_schedule(schedule, CronSpec::parse(schedule.spec, schedule.zone));
}

// The ticks of every tick job in the jobs table of `schedule`, ascending, with their catch-up flag.
std::vector<std::pair<std::int64_t, bool>> tick_jobs(const std::vector<errand::JobInfo>& jobs,
                                                     std::string_view schedule) {
  std::vector<std::pair<std::int64_t, bool>> ticks;
  for (const errand::JobInfo& job : jobs) {
    const auto tick = errand::parse_tick_context(job.context);
    if (!tick || tick->schedule != schedule || !tick->tick) continue;
    ticks.emplace_back(us(*tick->tick), tick->catch_up);
  }
  std::sort(ticks.begin(), ticks.end());
  return ticks;
}

std::optional<errand::ScheduleInfo> listed(errand::Store& store, std::string_view name) {
  for (auto& info : store.list_schedules()) {
    if (info.name == name) return info;
  }
  return std::nullopt;
}

// Moves `clock` to the next whole minute.
void to_next_minute(errand::ManualClock& clock) {
  const auto now = clock.now();
  clock.advance(std::chrono::ceil<minutes>(now + errand::Duration{1}) - now);
}

TEST_P(ScheduleConformance, ANewScheduleFiresItsNextTickOnceAndRecordsIt) {
  to_next_minute(*clock);
  const Schedule schedule = every("minutely", "* * * * *");
  const ScheduleFiring first = fire(*store, schedule);
  EXPECT_TRUE(first.fired.empty()) << "a new schedule fired a tick from before it existed";
  ASSERT_TRUE(first.next);
  EXPECT_EQ(us(*first.next), us(clock->now() + kMinute));
  EXPECT_EQ(us(first.now), us(clock->now()));

  clock->advance(kMinute);
  const ScheduleFiring second = fire(*store, schedule);
  ASSERT_EQ(second.fired.size(), 1u);
  EXPECT_EQ(us(second.fired[0].tick), us(clock->now()));
  EXPECT_FALSE(second.fired[0].catch_up);
  EXPECT_TRUE(fire(*store, schedule).fired.empty()) << "the same tick fired twice";

  const auto job = find_job(second.fired[0].job_id);
  ASSERT_TRUE(job);
  EXPECT_EQ(job->name, "Record");
  EXPECT_EQ(job->payload, R"({"tag":7})");
  EXPECT_EQ(us(job->run_at), us(clock->now()));
  const auto tick = errand::parse_tick_context(job->context);
  ASSERT_TRUE(tick) << job->context;
  EXPECT_EQ(tick->schedule, "minutely");
  ASSERT_TRUE(tick->tick);
  EXPECT_EQ(us(*tick->tick), us(clock->now()));
  EXPECT_EQ(rows_in("cron_ticks"), 1);

  // The record of the tick does not depend on the job: run and delete it, and the tick still
  // cannot fire again.
  const auto claimed = store->claim("w", 1, kLockTimeout);
  ASSERT_EQ(claimed.size(), 1u);
  const errand::Outcome done[] = {{.id = claimed[0].id, .locked_at = claimed[0].locked_at}};
  ASSERT_TRUE(store->settle("w", done).empty());
  EXPECT_FALSE(find_job(claimed[0].id));
  EXPECT_TRUE(fire(*store, schedule).fired.empty());
  EXPECT_EQ(rows_in("cron_ticks"), 1);
}

// Four stores (as four processes) and eight threads fire the same schedule at every tick: each
// tick has exactly one job.
TEST_P(ScheduleConformance, ManyFiringAtOnceFireEachTickOnce) {
  const Schedule schedule = every("racy", "*/10 * * * * *");
  std::vector<std::shared_ptr<errand::Store>> stores{store};
  for (int i = 0; i < 3; ++i)
    stores.push_back(storage->open(clock));
  fire(*store, schedule);
  constexpr int kTicks = 20;
  std::atomic<int> fired{0};
  for (int t = 0; t < kTicks; ++t) {
    clock->advance(seconds{10});
    std::vector<std::jthread> threads;
    for (int i = 0; i < 8; ++i) {
      threads.emplace_back([&, i] {
        fired += static_cast<int>(fire(*stores[i % stores.size()], schedule).fired.size());
      });
    }
  }
  EXPECT_EQ(fired.load(), kTicks);
  const auto ticks = tick_jobs(all_jobs(), "racy");
  ASSERT_EQ(ticks.size(), static_cast<std::size_t>(kTicks));
  for (std::size_t i = 1; i < ticks.size(); ++i)
    EXPECT_EQ(ticks[i].first - ticks[i - 1].first, 10'000'000) << i;
  EXPECT_EQ(rows_in("cron_ticks"), kTicks);
  const auto info = listed(*store, "racy");
  ASSERT_TRUE(info);
  EXPECT_EQ(info->fired, kTicks);
}

TEST_P(ScheduleConformance, MissedTicksFollowThePolicy) {
  to_next_minute(*clock);
  Schedule skip = every("skip", "* * * * *", MissedPolicy::skip);
  Schedule once = every("once", "* * * * *", MissedPolicy::once);
  Schedule all = every("all", "* * * * *", MissedPolicy::all);
  all.missed.cap = 5;
  for (const Schedule* s : {&skip, &once, &all})
    fire(*store, *s);
  clock->advance(hours{1});  // 60 ticks, the last one now (on time)

  const ScheduleFiring skipped = fire(*store, skip);
  ASSERT_EQ(skipped.fired.size(), 1u);
  EXPECT_FALSE(skipped.fired[0].catch_up);
  EXPECT_EQ(us(skipped.fired[0].tick), us(clock->now()));
  EXPECT_EQ(skipped.skipped, 59u);

  const ScheduleFiring one = fire(*store, once);
  ASSERT_EQ(one.fired.size(), 1u);
  EXPECT_TRUE(one.fired[0].catch_up);
  EXPECT_EQ(us(one.fired[0].tick), us(clock->now()));
  const auto context = errand::parse_tick_context(find_job(one.fired[0].job_id)->context);
  ASSERT_TRUE(context);
  EXPECT_TRUE(context->catch_up);
  EXPECT_EQ(context->missed, one.fired[0].missed);
  EXPECT_GE(context->missed, 59u);

  const ScheduleFiring each = fire(*store, all);
  ASSERT_EQ(each.fired.size(), 6u);  // the last 5 missed, then the one on time
  for (std::size_t i = 0; i < 5; ++i) {
    EXPECT_TRUE(each.fired[i].catch_up) << i;
    EXPECT_EQ(us(each.fired[i].tick), us(clock->now() - minutes{5 - static_cast<int>(i)})) << i;
  }
  EXPECT_FALSE(each.fired[5].catch_up);
  EXPECT_EQ(each.skipped, 54u);
  const auto info = listed(*store, "all");
  ASSERT_TRUE(info);
  EXPECT_EQ(info->fired, 6);
  EXPECT_EQ(info->skipped, 54);
  EXPECT_EQ(info->last_tick.value_or(TimePoint{}), clock->now());
  EXPECT_EQ(info->last_job_id.value_or(0), each.fired[5].job_id);
}

TEST_P(ScheduleConformance, SkipIfRunningSkipsWhileThePreviousTicksJobWaits) {
  to_next_minute(*clock);
  Schedule schedule = every("exclusive", "* * * * *");
  schedule.overlap = Overlap::skip_if_running;
  fire(*store, schedule);
  clock->advance(kMinute);
  const auto first = fire(*store, schedule);
  ASSERT_EQ(first.fired.size(), 1u);
  ASSERT_NE(first.fired[0].job_id, 0);

  clock->advance(kMinute);
  const auto second = fire(*store, schedule);
  ASSERT_EQ(second.fired.size(), 1u);
  EXPECT_EQ(second.fired[0].job_id, 0) << "a tick fired while the previous one's job waited";

  // Running counts as live too; once it has ended the next tick fires.
  const auto claimed = store->claim("w", 1, kLockTimeout);
  ASSERT_EQ(claimed.size(), 1u);
  clock->advance(kMinute);
  EXPECT_EQ(fire(*store, schedule).fired.at(0).job_id, 0);
  const errand::Outcome done[] = {{.id = claimed[0].id, .locked_at = claimed[0].locked_at}};
  ASSERT_TRUE(store->settle("w", done).empty());
  clock->advance(kMinute);
  const auto fourth = fire(*store, schedule);
  ASSERT_EQ(fourth.fired.size(), 1u);
  EXPECT_NE(fourth.fired[0].job_id, 0);
  EXPECT_EQ(listed(*store, "exclusive")->skipped, 2);
  EXPECT_EQ(rows_in("cron_ticks"), 4);
}

TEST_P(ScheduleConformance, APausedScheduleFiresNothingAndCatchesUpByItsPolicyOnResume) {
  to_next_minute(*clock);
  const Schedule schedule = every("pausable", "* * * * *", MissedPolicy::once);
  fire(*store, schedule);
  EXPECT_FALSE(store->pause_schedule("nope", true));
  const auto paused = store->pause_schedule("pausable", true);
  ASSERT_TRUE(paused);
  EXPECT_TRUE(paused->paused);
  clock->advance(minutes{10});
  const auto while_paused = fire(*store, schedule);
  EXPECT_TRUE(while_paused.paused);
  EXPECT_TRUE(while_paused.fired.empty());
  EXPECT_EQ(rows_in("cron_ticks"), 0);

  // Triggering works while paused, and records no tick.
  const auto triggered = store->trigger_schedule("pausable");
  ASSERT_TRUE(triggered);
  const auto manual = errand::parse_tick_context(find_job(triggered->id)->context);
  ASSERT_TRUE(manual);
  EXPECT_EQ(manual->schedule, "pausable");
  EXPECT_FALSE(manual->tick);
  EXPECT_EQ(find_job(triggered->id)->payload, R"({"tag":7})");
  EXPECT_FALSE(store->trigger_schedule("nope"));
  EXPECT_EQ(rows_in("cron_ticks"), 0);

  clock->advance(minutes{10});
  ASSERT_FALSE(store->pause_schedule("pausable", false)->paused);
  const auto resumed = fire(*store, schedule);
  ASSERT_EQ(resumed.fired.size(), 1u);
  EXPECT_TRUE(resumed.fired[0].catch_up);
  EXPECT_EQ(resumed.fired[0].missed, 19u);  // 20 ticks in the pause; the latest fires
}

// After a change of spec, the new spec's earlier ticks are not missed ones: only those within the
// grace fire (on time).
TEST_P(ScheduleConformance, AChangedSpecFiresOnlyItsTicksFromNowOn) {
  to_next_minute(*clock);
  Schedule schedule = every("changing", "0 * * * *", MissedPolicy::all);
  fire(*store, schedule);
  clock->advance(minutes{30});
  schedule.spec = "* * * * *";  // 30 of its ticks are in the past; the one now is on time
  const auto changed = fire(*store, schedule);
  ASSERT_EQ(changed.fired.size(), 1u);
  EXPECT_FALSE(changed.fired[0].catch_up);
  EXPECT_EQ(us(changed.fired[0].tick), us(clock->now()));
  EXPECT_EQ(changed.skipped, 0u);
  clock->advance(kMinute);
  const auto next = fire(*store, schedule);
  ASSERT_EQ(next.fired.size(), 1u);
  EXPECT_FALSE(next.fired[0].catch_up);
  EXPECT_EQ(listed(*store, "changing")->spec, "* * * * *");
}

// A rolling deploy: old and new workers, with two specs, fire the schedule by turns; each firing
// fires its own spec's tick, so ticks keep coming (none is lost to the changes back and forth).
TEST_P(ScheduleConformance, OldAndNewDefinitionsFiringByTurnsKeepFiring) {
  Schedule old_definition = every("deployed", "*/10 * * * * *");
  Schedule new_definition = every("deployed", "*/5 * * * * *");
  fire(*store, old_definition);
  std::size_t fired = 0;
  for (int i = 0; i < 12; ++i) {
    clock->advance(seconds{5});
    const auto firing = fire(*store, i % 2 == 0 ? new_definition : old_definition);
    for (const auto& tick : firing.fired)
      EXPECT_EQ(us(tick.tick), us(clock->now())) << i;
    fired += firing.fired.size();
  }
  // The new spec fires every 5 s (6 firings); the old one at the multiples of 10 s it sees.
  EXPECT_GE(fired, 6u);
  EXPECT_EQ(rows_in("cron_ticks"), static_cast<std::int64_t>(fired));
}

// Pruning deletes the tick records more than a day older than their schedule's last tick (no
// firing plans a tick before the last one again), and keeps the rest.
TEST_P(ScheduleConformance, PruningDeletesTickRecordsADayBehindTheLastTick) {
  clock->advance(std::chrono::ceil<hours>(clock->now() + errand::Duration{1}) - clock->now());
  const Schedule schedule = every("pruned", "0 * * * *");
  fire(*store, schedule);
  for (int hour = 0; hour < 30; ++hour) {
    clock->advance(hours{1});
    ASSERT_EQ(fire(*store, schedule).fired.size(), 1u) << hour;
  }
  ASSERT_EQ(rows_in("cron_ticks"), 30);
  const errand::Retention keep_all{
      .completed = std::nullopt, .cancelled = std::nullopt, .discarded = std::nullopt};
  const auto first = store->prune(keep_all, 4);
  EXPECT_EQ(first.ticks_deleted, 4u);
  const auto second = store->prune(keep_all, 100);
  EXPECT_EQ(second.ticks_deleted, 1u);  // 30 ticks; the last 25 are within a day of the last
  EXPECT_EQ(rows_in("cron_ticks"), 25);
  EXPECT_EQ(store->prune(keep_all, 100).ticks_deleted, 0u);
  EXPECT_TRUE(fire(*store, schedule).fired.empty()) << "a pruned tick fired again";
}

TEST_P(ScheduleConformance, ListingShowsTheDefinitionAndRetiresWhatNoWorkerDeclares) {
  Schedule schedule{
      .name = "report",
      .spec = "30 8 * * MON-FRI",
      .zone = "Europe/London",
      .job = errand::scheduled_job(RecordJob{.tag = 3}, {.priority = 5, .queue = "reports"}),
      .missed = {.policy = MissedPolicy::all, .window = hours{48}, .cap = 7},
      .overlap = Overlap::skip_if_running};
  EXPECT_TRUE(store->list_schedules().empty());
  fire(*store, schedule);
  auto info = listed(*store, "report");
  ASSERT_TRUE(info);
  EXPECT_EQ(info->spec, "30 8 * * MON-FRI");
  EXPECT_EQ(info->zone, "Europe/London");
  EXPECT_EQ(info->job_name, "Record");
  EXPECT_EQ(info->payload, R"({"tag":3})");
  EXPECT_EQ(info->queue, "reports");
  EXPECT_EQ(info->priority, 5);
  EXPECT_EQ(info->missed.policy, MissedPolicy::all);
  EXPECT_EQ(info->missed.window, hours{48});
  EXPECT_EQ(info->missed.cap, 7u);
  EXPECT_EQ(info->overlap, Overlap::skip_if_running);
  EXPECT_FALSE(info->paused);
  EXPECT_FALSE(info->last_tick);
  EXPECT_EQ(us(info->created_at), us(clock->now()));
  EXPECT_FALSE(info->retired());

  clock->advance(errand::kScheduleRetiredAfter + seconds{1});
  EXPECT_TRUE(listed(*store, "report")->retired());
  fire(*store, schedule);  // declared again
  EXPECT_FALSE(listed(*store, "report")->retired());
}

// Workers fire their schedules on the store's clock: two workers with the same schedule, the
// clock advanced minute by minute, and each tick's job runs once.
TEST_P(ScheduleConformance, WorkersFireEachTickOnceOnTheClock) {
  to_next_minute(*clock);
  auto options = worker_options();
  options.poll_interval = hours{1000};
  options.heartbeat_interval = hours{1000};
  options.rescue_after = hours{2000};
  options.schedules = {every("each-minute", "* * * * *")};
  auto second_options = options;
  second_options.worker_id = "second-worker";
  errand::Worker first(store, registry, state, options);
  errand::Worker second(storage->open(clock), registry, state, second_options);
  BackgroundWorker a(first);
  BackgroundWorker b(second);
  ASSERT_TRUE(wait_for_sleepers(*clock, 2));
  for (int minute = 0; minute < 5; ++minute) {
    clock->advance(kMinute);
    ASSERT_TRUE(eventually([&] { return state.snapshot().size() >= std::size_t(minute) + 1; }))
        << "tick " << minute << " never ran";
    ASSERT_TRUE(wait_for_sleepers(*clock, 2));
  }
  EXPECT_EQ(state.snapshot().size(), 5u);
  EXPECT_EQ(first.stats().ticks_fired + second.stats().ticks_fired, 5u);
  EXPECT_EQ(rows_in("cron_ticks"), 5);
}

TEST_P(ScheduleConformance, AWorkerRefusesSchedulesItCannotFire) {
  const auto refused = [&](Schedule schedule) -> std::string {
    auto options = worker_options();
    options.schedules = {std::move(schedule)};
    try {
      errand::Worker worker(store, registry, state, options);
    } catch (const errand::ConfigError& e) {
      return e.what();
    }
    return "accepted";
  };
  using testing::HasSubstr;
  EXPECT_THAT(refused(every("x", "61 * * * *")), HasSubstr("schedule 'x'"));
  EXPECT_THAT(refused(every("x", "61 * * * *")), HasSubstr("minute"));
  EXPECT_THAT(refused(every("x", "@every 0s")), HasSubstr("@every"));
  Schedule zone = every("x", "* * * * *");
  zone.zone = "Mars/Olympus";
  EXPECT_THAT(refused(zone), HasSubstr("Mars/Olympus"));
  Schedule unknown = every("x", "* * * * *");
  unknown.job.name = "NotRegistered";
  EXPECT_THAT(refused(unknown), HasSubstr("NotRegistered"));
  EXPECT_THAT(refused(every("bad name", "* * * * *")), HasSubstr("schedule name"));
  Schedule unique = every("x", "* * * * *");
  unique.job = errand::scheduled_job(RecordJob{}, {.unique = errand::UniqueOptions{}});
  EXPECT_THAT(refused(unique), HasSubstr("unique"));
  Schedule delayed = every("x", "* * * * *");
  delayed.job.delay = seconds{5};
  EXPECT_THAT(refused(delayed), HasSubstr("delay"));
  Schedule nothing = every("x", "* * * * *");
  nothing.job = {};
  EXPECT_THAT(refused(nothing), HasSubstr("no job"));
  auto options = worker_options();
  options.schedules = {every("twice", "* * * * *"), every("twice", "@hourly")};
  EXPECT_THROW(errand::Worker(store, registry, state, options), errand::ConfigError);
  EXPECT_TRUE(store->list_schedules().empty()) << "a refused schedule was declared";
}

// A retired schedule can be removed with its tick records; a recently declared one only when told
// (unseen_for 0); a worker that still has it declares it afresh.
TEST_P(ScheduleConformance, RemovingASchedulesDeletesItAndItsTicksOnlyOnceRetired) {
  to_next_minute(*clock);
  const Schedule schedule = every("old", "* * * * *");
  fire(*store, schedule);
  clock->advance(kMinute);
  ASSERT_EQ(fire(*store, schedule).fired.size(), 1u);
  EXPECT_EQ(store->remove_schedule("nope", errand::kScheduleRetiredAfter),
            errand::ScheduleRemoval::unknown);
  EXPECT_EQ(store->remove_schedule("old", errand::kScheduleRetiredAfter),
            errand::ScheduleRemoval::declared_recently);
  EXPECT_EQ(rows_in("cron_ticks"), 1);
  clock->advance(errand::kScheduleRetiredAfter);
  EXPECT_EQ(store->remove_schedule("old", errand::kScheduleRetiredAfter),
            errand::ScheduleRemoval::removed);
  EXPECT_TRUE(store->list_schedules().empty());
  EXPECT_EQ(rows_in("cron_ticks"), 0);
  EXPECT_EQ(rows_in("jobs"), 1) << "the tick's job was removed with the schedule";

  // Forced: a worker that still has it declares it afresh (no tick from before fires).
  fire(*store, schedule);
  EXPECT_EQ(store->remove_schedule("old", errand::Duration{0}), errand::ScheduleRemoval::removed);
  clock->advance(minutes{5});
  const auto again = fire(*store, schedule);
  EXPECT_TRUE(again.fired.empty());
  ASSERT_EQ(store->list_schedules().size(), 1u);
}

// A schedule row holding a value errand cannot read (data from outside: hostile) fails that
// schedule's firings, logged, and nothing else: the worker still runs every job.
TEST_P(ScheduleConformance, AnUnreadableScheduleRowStopsOnlyThatSchedule) {
  const Schedule broken = every("broken", "* * * * *");
  fire(*store, broken);
  // A time errand cannot read: SQLite's column holds any text; PostgreSQL's timestamptz infinity.
  const std::string bad_time = GetParam().name == "sqlite" ? "'soon'" : "'infinity'";
  storage->rows("UPDATE " + storage->table("schedules") + " SET last_tick = " + bad_time +
                " WHERE name = 'broken'");
  EXPECT_THROW(fire(*store, broken), errand::StoreError);
  EXPECT_THROW(store->list_schedules(), errand::StoreError);

  errand::enqueue(*store, RecordJob{.tag = 1});
  auto options = worker_options();
  options.schedules = {broken, every("fine", "@every 1s")};
  errand::Worker worker(store, registry, state, options);
  EXPECT_GE(run_until_idle_advancing(worker, *clock, seconds{1}), 1u);
  EXPECT_EQ(state.snapshot().size(), 1u + worker.stats().ticks_fired);
  EXPECT_TRUE(contains(logs.dump(), "schedule 'broken' could not fire")) << logs.dump();
}

// Store::fire_schedule checks what it is given, as a worker does, and writes nothing otherwise.
TEST_P(ScheduleConformance, FireScheduleRefusesWhatAWorkerWouldRefuse) {
  Schedule unique = every("x", "* * * * *");
  unique.job = errand::scheduled_job(RecordJob{}, {.unique = errand::UniqueOptions{}});
  EXPECT_THROW(fire(*store, unique), errand::ConfigError);
  EXPECT_THROW(fire(*store, every("", "* * * * *")), errand::ConfigError);
  const Schedule schedule = every("x", "* * * * *");
  EXPECT_THROW(store->fire_schedule(schedule, CronSpec::parse("@hourly")), errand::ConfigError);
  EXPECT_TRUE(store->list_schedules().empty());
}

}  // namespace

}  // namespace errand_test
