// Uses errand as an application would: defines a job, enqueues it into a fresh SQLite file, runs
// a worker until no job is left, and checks that the job ran and the queue is empty.
// Exits 0 on success, 1 on any failure.
//
//   errand_consumer [DATABASE_PATH]
#include "checks.hpp"

#include <errand/errand.hpp>

#include <unistd.h>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <string>

namespace {

struct AppState {
  std::atomic<int> greetings{0};
};

struct GreetJob {
  static constexpr std::string_view name = "GreetJob";
  std::string who;
  void run(AppState& app) {
    std::printf("hello, %s\n", who.c_str());
    ++app.greetings;
  }
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(GreetJob, who)

}  // namespace

int main(int argc, char** argv) {
  using consumer::check;
  using consumer::failures;
  using consumer::remove_database;
  const std::filesystem::path db =
      argc > 1 ? std::filesystem::path(argv[1])
               : std::filesystem::temp_directory_path() /
                     ("errand-consumer-" + std::to_string(::getpid()) + ".db");
  remove_database(db);
  try {
    auto store = errand::open_sqlite(db);
    errand::Registry<AppState> registry;
    registry.add<GreetJob>();
    AppState state;

    const errand::JobId id = errand::enqueue(*store, GreetJob{"installed package"}, "consumer");
    check(id > 0, "enqueue returned an id");
    check(store->counts(std::chrono::hours{2}).ready == 1, "one job is ready");

    errand::WorkerOptions options;
    options.concurrency = 2;
    errand::Worker<AppState> worker(store, registry, state, options);
    const std::size_t runs = worker.run_until_idle();

    check(runs == 1, "run_until_idle ran one job");
    check(state.greetings == 1, "the job ran once");
    check(worker.stats().succeeded == 1, "the worker counted one success");
    const errand::JobCounts counts = store->counts(std::chrono::hours{2});
    check(counts.ready + counts.scheduled + counts.running + counts.abandoned + counts.dead == 0,
          "the queue is empty (success deletes the job)");

    // The same file through the URL form the CLI uses.
    auto again = errand::open_store("sqlite:" + db.string());
    check(again->schema_version() == errand::sqlite_schema_version(),
          "open_store(\"sqlite:...\") sees the current schema");
  } catch (const std::exception& e) {
    std::fprintf(stderr, "errand_consumer: %s\n", e.what());
    ++failures;
  }
  remove_database(db);
  std::printf("errand_consumer: %s\n", failures == 0 ? "passed" : "FAILED");
  return failures == 0 ? 0 : 1;
}
