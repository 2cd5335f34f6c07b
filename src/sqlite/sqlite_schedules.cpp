// Recurring jobs on SQLite (errand/schedule.hpp): a firing is one write transaction, so the
// schedule's row is held by the write lock from its declaration to the commit; the steps are
// core/schedule_firing.hpp's.
#include "sqlite/sqlite_store.hpp"

#include "core/rows.hpp"
#include "core/schedule_firing.hpp"
#include "core/schedule_rows.hpp"
#include "core/wakeup.hpp"
#include "sqlite/sql_schedules.hpp"

namespace errand::sqlite {

using detail::micros_of;

class SqliteStore::ScheduleTx final : public detail::ScheduleTransaction {
 public:
  ScheduleTx(SqliteStore& store, std::int64_t now) : store_(store), now_(now) {}

  Row declare(const Schedule& s) override {
    name_ = s.name;
    auto q = store_.connection_.query(sql::kDeclareSchedule);
    int c = 0;
    q->bind(++c, s.name);
    q->bind(++c, s.spec);
    q->bind(++c, s.zone);
    q->bind(++c, s.job.name);
    q->bind(++c, s.job.payload);
    q->bind(++c, s.job.queue);
    q->bind(++c, std::int64_t{s.job.priority});
    if (s.job.partition_key.empty()) {
      q->bind_null(++c);
    } else {
      q->bind(++c, s.job.partition_key);
    }
    q->bind(++c, to_string(s.missed.policy));
    q->bind(++c, s.missed.grace.count());
    q->bind(++c, s.missed.window.count());
    q->bind(++c, static_cast<std::int64_t>(s.missed.cap));
    q->bind(++c, to_string(s.overlap));
    q->bind(++c, now_);
    if (!q->step()) throw StoreError("fire_schedule: the schedule's row was not returned");
    return detail::read_declared_schedule(*q, store_.stored("errand_schedules"),
                                          detail::time_from_micros(now_));
  }

  bool take_tick(TimePoint tick, bool catch_up) override {
    auto q = store_.connection_.query(sql::kTakeTick);
    q->bind(1, name_);
    q->bind(2, micros_of(tick));
    q->bind(3, std::int64_t{catch_up ? 1 : 0});
    q->bind(4, now_);
    return q->step();
  }

  bool previous_job_live() override {
    auto q = store_.connection_.query(sql::kPreviousTickJobLive);
    q->bind(1, name_);
    return q->step();
  }

  JobId enqueue(const NewJob& job) override {
    return store_.insert_in_transaction(std::span<const NewJob>(&job, 1), now_).front().id;
  }

  void set_tick_job(TimePoint tick, JobId job) override {
    {
      auto q = store_.connection_.query(sql::kSetTickJob);
      q->bind(1, name_);
      q->bind(2, micros_of(tick));
      q->bind(3, job);
      q->run();
    }
    auto q = store_.connection_.query(sql::kSetLastJob);
    q->bind(1, name_);
    q->bind(2, job);
    q->run();
  }

  void advance(TimePoint handled, std::int64_t fired, std::int64_t skipped) override {
    auto q = store_.connection_.query(sql::kAdvanceSchedule);
    q->bind(1, name_);
    q->bind(2, micros_of(handled));
    q->bind(3, fired);
    q->bind(4, skipped);
    q->run();
  }

 private:
  SqliteStore& store_;
  std::int64_t now_;
  std::string name_;
};

ScheduleFiring SqliteStore::fire_schedule(const Schedule& schedule, const CronSpec& spec) {
  require_writable("fire_schedule");
  ScheduleFiring firing;
  {
    std::lock_guard lock(mutex_);
    Transaction tx(connection_, Transaction::Behavior::immediate);
    ScheduleTx schedule_tx(*this, micros_of(clock_->now()));
    firing = detail::fire_ticks(schedule_tx, schedule, spec);
    tx.commit();
  }
  if (!firing.fired.empty()) detail::publish_wakeup(wake_key_);
  return firing;
}

std::vector<ScheduleInfo> SqliteStore::list_schedules() {
  std::lock_guard lock(mutex_);
  const TimePoint now = clock_->now();
  std::vector<ScheduleInfo> schedules;
  auto rows = connection_.query(sql::kScheduleRows);
  const auto where = stored("errand_schedules");
  while (rows->step())
    schedules.push_back(detail::read_schedule_info(*rows, where, now));
  return schedules;
}

std::optional<ScheduleInfo> SqliteStore::pause_schedule(std::string_view name, bool paused) {
  require_writable("pause_schedule");
  {
    std::lock_guard lock(mutex_);
    auto q = connection_.query(sql::kPauseSchedule);
    q->bind(1, name);
    q->bind(2, std::int64_t{paused ? 1 : 0});
    if (!q->step()) return std::nullopt;
  }
  for (ScheduleInfo& info : list_schedules()) {
    if (info.name == name) return std::move(info);
  }
  return std::nullopt;
}

ScheduleRemoval SqliteStore::remove_schedule(std::string_view name, Duration unseen_for) {
  require_writable("remove_schedule");
  std::lock_guard lock(mutex_);
  Transaction tx(connection_, Transaction::Behavior::immediate);
  bool removed = false;
  {
    auto q = connection_.query(sql::kRemoveSchedule);
    q->bind(1, name);
    q->bind(2, micros_of(clock_->now() - unseen_for));
    removed = q->step();
  }
  if (!removed) {
    auto exists = connection_.query(sql::kScheduleExists);
    exists->bind(1, name);
    return exists->step() ? ScheduleRemoval::declared_recently : ScheduleRemoval::unknown;
  }
  auto ticks = connection_.query(sql::kRemoveScheduleTicks);
  ticks->bind(1, name);
  ticks->run();
  tx.commit();
  return ScheduleRemoval::removed;
}

}  // namespace errand::sqlite
