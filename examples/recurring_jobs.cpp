// Recurring jobs: a report at 01:30 London time and a check every half hour from 01:00 to 01:59,
// run over both of 2026's daylight-saving weekends on a manual clock, the way an application's
// tests drive its schedules without waiting for real time. Shows the DST rule of cron(8): the
// fixed-time report fires once at 02:00 BST when 01:30 does not exist, and once when 01:30
// happens twice; the wildcard check follows the wall clock (no 01:xx in March, four in October).
#include <errand/errand.hpp>

#include <fmt/format.h>

#include <chrono>
#include <filesystem>
#include <mutex>
#include <string>
#include <vector>

struct App {
  std::mutex mutex;
  std::vector<std::string> fired;  // "schedule at tick", in the order the runs came
};

struct Report {
  static constexpr std::string_view name = "Report";
  std::string title;
  void run(App& app, errand::RunContext& context) {
    const std::optional<errand::TickContext> tick = context.tick();  // which tick this run is for
    const errand::CronSpec london = errand::CronSpec::parse("@daily", "Europe/London");
    std::lock_guard lock(app.mutex);
    app.fired.push_back(fmt::format("{:<7} {}", tick->schedule, london.format_local(*tick->tick)));
  }
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(Report, title)

std::vector<errand::Schedule> schedules() {
  return {{.name = "report",
           .spec = "30 1 * * *",
           .zone = "Europe/London",
           .job = errand::scheduled_job(Report{"sales"})},
          {.name = "check",
           .spec = "*/30 1 * * *",
           .zone = "Europe/London",
           .job = errand::scheduled_job(Report{"health"}),
           .overlap = errand::Overlap::skip_if_running}};
}

// Runs a worker with schedules() from `from` to `until` (UTC), moving the clock from one fire
// time to the next; the worker fires what is due and runs it in run_until_idle.
void run_weekend(App& app, const char* from, const char* until) {
  const auto path = std::filesystem::temp_directory_path() / "errand-recurring-example.db";
  std::filesystem::remove(path);
  auto clock = std::make_shared<errand::ManualClock>(errand::parse_time_in_zone(from, "UTC"));
  auto store = errand::open_sqlite(path.string(), {.clock = clock});
  errand::Registry<App> registry;
  registry.add<Report>();
  errand::Worker worker(store, registry, app, {.schedules = schedules()});
  worker.run_until_idle();  // declares the schedules: they fire from now on
  const errand::TimePoint end = errand::parse_time_in_zone(until, "UTC");
  for (;;) {
    errand::TimePoint next = errand::TimePoint::max();
    for (const errand::Schedule& s : schedules())
      next = std::min(next, *errand::CronSpec::parse(s.spec, s.zone).next_after(clock->now()));
    if (next > end) break;
    clock->advance(next - clock->now());
    worker.run_until_idle();
  }
  std::filesystem::remove(path);
}

int main() {
  App app;
  run_weekend(app, "2026-03-27T12:00:00Z", "2026-03-29T12:00:00Z");  // 01:00 -> 02:00 on the 29th
  run_weekend(app, "2026-10-23T12:00:00Z", "2026-10-25T12:00:00Z");  // 02:00 -> 01:00 on the 25th
  for (const std::string& line : app.fired)
    fmt::print("{}\n", line);
  fmt::print("fired: {}\n", app.fired.size());
  return app.fired.size() == 12 ? 0 : 1;
}
