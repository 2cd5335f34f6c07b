#include "support/conformance.hpp"

namespace errand_test {

void ConformanceTest::SetUp() {
  clock = std::make_shared<errand::ManualClock>();
  storage = GetParam().create();
  if (!storage) {
    // The factory skipped the test (its server is not configured) or failed it, saying why.
    if (!IsSkipped() && !HasFailure()) FAIL() << GetParam().name << ": the factory gave nothing";
    return;
  }
  store = storage->open(clock);
  registry.add<RecordJob>()
      .add<FailJob>()
      .add<LimitedFailJob>()
      .add<ThrowIntJob>()
      .add<ThrowCustomJob>()
      .add<HookJob>()
      .add<TextJob>()
      .add<TimedJob>();
}

std::vector<errand::JobInfo> ConformanceTest::all_jobs() {
  errand::JobFilter filter;
  filter.limit = 1'000'000;
  return store->list_jobs(filter);
}

std::size_t ConformanceTest::locked_rows() {
  std::size_t locked = 0;
  for (const auto& job : all_jobs())
    locked += job.locked_by ? 1 : 0;
  return locked;
}

std::function<void(const std::string&, std::stop_token)> ConformanceTest::track_most_locked(
    std::atomic<std::size_t>& most) {
  return [this, &most](const std::string&, std::stop_token) {
    const std::size_t locked = locked_rows();
    std::size_t seen = most.load();
    while (seen < locked && !most.compare_exchange_weak(seen, locked)) {
    }
  };
}

std::vector<errand::DeadJob> ConformanceTest::all_dead() {
  errand::DeadFilter filter;
  filter.limit = 1'000'000;
  return store->list_dead(filter);
}

std::optional<errand::JobInfo> ConformanceTest::find_job(errand::JobId id) {
  for (auto& job : all_jobs()) {
    if (job.id == id) return job;
  }
  return std::nullopt;
}

std::optional<errand::DeadJob> ConformanceTest::find_dead(errand::JobId id) {
  for (auto& job : all_dead()) {
    if (job.id == id) return job;
  }
  return std::nullopt;
}

errand::JobId ConformanceTest::enqueue_raw(errand::NewJob job) {
  auto ids = store->enqueue(std::span<const errand::NewJob>(&job, 1));
  if (ids.size() != 1) throw std::runtime_error("Store::enqueue of one job returned no id");
  return ids.front();
}

errand::JobId ConformanceTest::held_by(const std::string& worker_id) {
  errand::WorkerRegistration worker{
      .id = worker_id, .host = "test-host", .pid = 4242, .concurrency = 1};
  worker.started_at = store->register_worker(worker);
  const auto id = errand::enqueue(*store, RecordJob{.tag = 1});
  const auto claimed = store->claim(worker_id, 1, std::chrono::hours{2});
  if (claimed.size() != 1 || claimed[0].id != id)
    throw std::runtime_error(worker_id + " did not claim the job just enqueued");
  return id;
}

std::optional<std::string> ConformanceTest::column(std::string_view table, std::string_view column,
                                                   errand::JobId id) {
  return storage->text("SELECT " + std::string(column) + " FROM " + storage->table(table) +
                       " WHERE id = " + std::to_string(id));
}

std::optional<errand::TimePoint> ConformanceTest::time_column(std::string_view table,
                                                              std::string_view column,
                                                              errand::JobId id) {
  auto value = storage->integer("SELECT " + storage->micros(column) + " FROM " +
                                storage->table(table) + " WHERE id = " + std::to_string(id));
  if (!value) return std::nullopt;
  return errand::TimePoint{errand::Duration{*value}};
}

errand::WorkerOptions ConformanceTest::worker_options(std::size_t concurrency) {
  errand::WorkerOptions options;
  options.concurrency = concurrency;
  options.worker_id = "test-worker";
  options.on_event = events.fn();
  options.log = logs.fn();
  return options;
}

std::size_t runs_until_gone(errand::Worker<TestState>& worker, errand::Store& store,
                            errand::ManualClock& clock, errand::JobId id) {
  std::size_t runs = 0;
  for (int guard = 0; guard < 100; ++guard) {
    runs += worker.run_until_idle();
    errand::JobFilter filter;
    filter.limit = 1'000'000;
    bool alive = false;
    for (const auto& job : store.list_jobs(filter)) {
      if (job.id == id) {
        alive = true;
        clock.set(std::max(clock.now(), job.run_at));
      }
    }
    if (!alive) break;
  }
  return runs;
}

}  // namespace errand_test
