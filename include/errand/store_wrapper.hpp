// StoreWrapper: a Store that forwards every call to another, in the manner of leveldb's
// EnvWrapper. A decorator derives from it and overrides only what it changes (fault injection,
// counting, limits), so every other call takes the wrapped store's production path.
#pragma once

#include <errand/store.hpp>

#include <memory>
#include <type_traits>
#include <utility>

namespace errand {

class StoreWrapper : public Store {
 public:
  explicit StoreWrapper(std::shared_ptr<Store> inner) : inner_(std::move(inner)) {}

  Store& inner() const { return *inner_; }

  // --- every virtual of Store, in Store's order (all are pure there: one missed here makes
  // StoreWrapper abstract, which the static_assert below refuses) ---------------------------

  std::string describe() const override { return inner_->describe(); }
  const Clock& clock() const override { return inner_->clock(); }
  int schema_version() override { return inner_->schema_version(); }
  std::vector<Enqueued> insert_jobs(std::span<const NewJob> jobs) override {
    return inner_->insert_jobs(jobs);
  }
  Exchange settle_and_claim(std::string_view worker_id, std::span<const Outcome> outcomes,
                            const ClaimRequest& claim, Duration lock_timeout) override {
    return inner_->settle_and_claim(worker_id, outcomes, claim, lock_timeout);
  }
  TimePoint register_worker(const WorkerRegistration& worker) override {
    return inner_->register_worker(worker);
  }
  std::vector<JobId> heartbeat(const WorkerRegistration& worker, std::span<const JobId> held,
                               std::span<const JobProgress> progress) override {
    return inner_->heartbeat(worker, held, progress);
  }
  void remove_worker(std::string_view worker_id) override { inner_->remove_worker(worker_id); }
  std::vector<WorkerInfo> list_workers() override { return inner_->list_workers(); }
  void record_activity(std::span<const ActivityMinute> minutes) override {
    inner_->record_activity(minutes);
  }
  std::vector<ActivityMinute> list_activity(TimePoint since) override {
    return inner_->list_activity(since);
  }
  void add_metric_totals(std::span<const MetricTotal> totals) override {
    inner_->add_metric_totals(totals);
  }
  std::vector<MetricTotal> list_metric_totals() override { return inner_->list_metric_totals(); }
  std::vector<LostJob> find_lost_jobs(Duration rescue_after, std::size_t limit) override {
    return inner_->find_lost_jobs(rescue_after, limit);
  }
  std::size_t forget_lost_workers(Duration rescue_after) override {
    return inner_->forget_lost_workers(rescue_after);
  }
  std::unique_ptr<Subscription> subscribe(std::function<void()> on_new_jobs) override {
    return inner_->subscribe(std::move(on_new_jobs));
  }
  std::unique_ptr<Subscription> subscribe_cancels(std::function<void(JobId)> on_cancel) override {
    return inner_->subscribe_cancels(std::move(on_cancel));
  }
  QueueInfo update_queue(std::string_view name, const QueueUpdate& update, bool create) override {
    return inner_->update_queue(name, update, create);
  }
  using Store::list_queues;
  std::vector<QueueInfo> list_queues(std::int64_t count_limit) override {
    return inner_->list_queues(count_limit);
  }
  ScheduleFiring fire_schedule(const Schedule& schedule, const CronSpec& spec) override {
    return inner_->fire_schedule(schedule, spec);
  }
  std::vector<ScheduleInfo> list_schedules() override { return inner_->list_schedules(); }
  std::optional<ScheduleInfo> pause_schedule(std::string_view name, bool paused) override {
    return inner_->pause_schedule(name, paused);
  }
  ScheduleRemoval remove_schedule(std::string_view name, Duration unseen_for) override {
    return inner_->remove_schedule(name, unseen_for);
  }
  CancelResult cancel_job(JobId id, std::string_view reason) override {
    return inner_->cancel_job(id, reason);
  }
  RetryResult retry_job(JobId id) override { return inner_->retry_job(id); }
  DeleteResult delete_job(JobId id) override { return inner_->delete_job(id); }
  PruneResult prune(const Retention& retention, std::size_t limit) override {
    return inner_->prune(retention, limit);
  }
  std::optional<JobInfo> find_job(JobId id, Duration lock_timeout) override {
    return inner_->find_job(id, lock_timeout);
  }
  using Store::counts;
  JobCounts counts(Duration lock_timeout, std::int64_t limit) override {
    return inner_->counts(lock_timeout, limit);
  }
  std::vector<JobInfo> list_jobs(const JobFilter& filter) override {
    return inner_->list_jobs(filter);
  }
  std::vector<DeadJob> list_dead(const DeadFilter& filter) override {
    return inner_->list_dead(filter);
  }
  bool retry_dead(JobId id) override { return inner_->retry_dead(id); }

 protected:
  // The wrapped store's public entry points, which check the selection again (harmless).
  CancelTally cancel_selected(const JobSelection& which, std::string_view reason) override {
    return inner_->cancel_jobs(which, reason);
  }
  std::size_t retry_selected_dead(const DeadSelection& which) override {
    return inner_->retry_dead_jobs(which);
  }
  std::size_t purge_selected_dead(const DeadSelection& which) override {
    return inner_->purge_dead_jobs(which);
  }
  DeadTally tally_selected_dead(const DeadSelection& which, std::size_t max_ids) override {
    return inner_->tally_dead_jobs(which, max_ids);
  }

 private:
  std::shared_ptr<Store> inner_;
};

static_assert(!std::is_abstract_v<StoreWrapper>,
              "StoreWrapper must forward every virtual of Store");

}  // namespace errand
