// Recurring jobs on PostgreSQL (errand/schedule.hpp): a firing is one transaction that holds the
// schedule's row from its declaring upsert to the commit, so firings of one schedule from any
// number of machines take turns; the steps are core/schedule_firing.hpp's, and the primary key on
// (schedule, tick) refuses a tick recorded before. Times come from the store's clock (now()).
#include "postgres/postgres_store.hpp"

#include "core/rows.hpp"
#include "core/schedule_firing.hpp"
#include "core/schedule_rows.hpp"
#include "core/wakeup.hpp"
#include "postgres/sql_schedules.hpp"

namespace errand::pg {

using detail::micros_of;

class PostgresStore::ScheduleTx final : public detail::ScheduleTransaction {
 public:
  ScheduleTx(PostgresStore& store, Connection& c) : store_(store), c_(c) {}

  Row declare(const Schedule& s) override {
    name_ = s.name;
    Params params;
    params.add(s.name).add(s.spec).add(s.zone).add(s.job.name).add(s.job.payload);
    params.add(s.job.queue).add(std::int64_t{s.job.priority});
    if (s.job.partition_key.empty()) {
      params.add_null();
    } else {
      params.add(s.job.partition_key);
    }
    params.add(std::string(to_string(s.missed.policy)));
    params.add(s.missed.grace.count()).add(s.missed.window.count());
    params.add(static_cast<std::int64_t>(s.missed.cap));
    params.add(std::string(to_string(s.overlap)));
    store_.add_now(params);
    const Result r = c_.exec(store_.schedule_sql_.declare, params);
    if (r.rows() != 1) throw StoreError("fire_schedule: the schedule's row was not returned");
    const auto where = store_.stored(store_.schedules_table_);
    const TimePoint now = detail::read_time(ResultRow{r, 0}, 3, where, "now()");
    return detail::read_declared_schedule(ResultRow{r, 0}, where, now);
  }

  bool take_tick(TimePoint tick, bool catch_up) override {
    Params params;
    params.add(name_).add(micros_of(tick)).add(std::string(catch_up ? "t" : "f"));
    store_.add_now(params);
    return c_.exec(store_.schedule_sql_.take_tick, params).rows() == 1;
  }

  bool previous_job_live() override {
    Params params;
    params.add(name_);
    return c_.exec(store_.schedule_sql_.previous_job_live, params).rows() == 1;
  }

  JobId enqueue(const NewJob& job) override {
    const std::vector<JobId> ids = store_.insert_plain(c_, std::span<const NewJob>(&job, 1));
    if (ids.size() != 1) throw StoreError("fire_schedule: the tick's job was not inserted");
    return ids.front();
  }

  void set_tick_job(TimePoint tick, JobId job) override {
    Params params;
    params.add(name_).add(micros_of(tick)).add(job);
    c_.exec(store_.schedule_sql_.set_tick_job, params);
  }

  void advance(TimePoint handled, std::int64_t fired, std::int64_t skipped) override {
    Params params;
    params.add(name_).add(micros_of(handled)).add(fired).add(skipped);
    c_.exec(store_.schedule_sql_.advance, params);
  }

 private:
  PostgresStore& store_;
  Connection& c_;
  std::string name_;
};

ScheduleFiring PostgresStore::fire_schedule(const Schedule& schedule, const CronSpec& spec) {
  ScheduleFiring firing;
  {
    auto c = pool_.acquire();
    Transaction tx(*c);
    ScheduleTx schedule_tx(*this, *c);
    firing = detail::fire_ticks(schedule_tx, schedule, spec);
    tx.commit();
  }
  if (!firing.fired.empty()) detail::publish_wakeup(wake_key_);
  return firing;
}

std::vector<ScheduleInfo> PostgresStore::list_schedules() {
  auto c = pool_.acquire();
  Transaction tx(*c);
  const auto where = stored(schedules_table_);
  const TimePoint now = begin_snapshot(*c, where);
  const Result r = c->exec(schedule_rows_sql(schema_));
  std::vector<ScheduleInfo> schedules;
  for (int i = 0; i < r.rows(); ++i)
    schedules.push_back(detail::read_schedule_info(ResultRow{r, i}, where, now));
  tx.commit();
  return schedules;
}

std::optional<ScheduleInfo> PostgresStore::pause_schedule(std::string_view name, bool paused) {
  {
    auto c = pool_.acquire();
    Params params;
    params.add(name).add(std::string(paused ? "t" : "f"));
    if (c->exec(pause_schedule_sql(schema_), params).rows() == 0) return std::nullopt;
  }
  for (ScheduleInfo& info : list_schedules()) {
    if (info.name == name) return std::move(info);
  }
  return std::nullopt;
}

ScheduleRemoval PostgresStore::remove_schedule(std::string_view name, Duration unseen_for) {
  Params params;
  params.add(name).add(unseen_for.count());
  add_now(params);
  auto c = pool_.acquire();
  const Result r = c->exec(remove_schedule_sql(schema_), params);
  if (r.int64(0, 0) > 0) return ScheduleRemoval::removed;
  return r.int64(0, 1) > 0 ? ScheduleRemoval::declared_recently : ScheduleRemoval::unknown;
}

}  // namespace errand::pg
