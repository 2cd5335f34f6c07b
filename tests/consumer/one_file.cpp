// One file, built without CMake against an installed errand:
//   g++ one_file.cpp $(pkg-config --cflags --libs errand) -DEXPECTED_VERSION="\"$(pkg-config
//   --modversion errand)\""
// Enqueues one job into a fresh SQLite file, runs it through a worker and checks that it ran, that
// the queue is empty and that the headers' version is the one pkg-config reports.
// Exits 0 on success, 1 on any failure.
//
//   one_file DATABASE_PATH
#include <errand/errand.hpp>

#include <cstdio>
#include <string>

struct AppState {
  std::string seen;
};

struct StampJob {
  static constexpr std::string_view name = "StampJob";
  std::string stamp;
  void run(AppState& app) { app.seen += stamp; }
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(StampJob, stamp)

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: one_file DATABASE_PATH (a file that does not exist yet)\n");
    return 1;
  }
  try {
    auto store = errand::open_sqlite(argv[1]);
    errand::Registry<AppState> registry;
    registry.add<StampJob>();
    errand::enqueue(*store, StampJob{"pkg-config"});
    AppState app;
    errand::Worker<AppState> worker(store, registry, app, {});
    const std::size_t runs = worker.run_until_idle();
    const errand::JobCounts c = store->counts(std::chrono::hours{1});
    const long long left = c.ready + c.scheduled + c.running + c.abandoned + c.dead;
    std::printf("errand %s: %zu run(s), seen '%s', %lld job(s) left\n",
                std::string(errand::version()).c_str(), runs, app.seen.c_str(), left);
    const bool ok =
        runs == 1 && app.seen == "pkg-config" && left == 0 && errand::version() == EXPECTED_VERSION;
    if (!ok) std::fprintf(stderr, "one_file: FAILED (expected version %s)\n", EXPECTED_VERSION);
    return ok ? 0 : 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "one_file: %s\n", e.what());
    return 1;
  }
}
