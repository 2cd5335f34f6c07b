// Recurring jobs (README, "Recurring jobs"): a schedule enqueues a job at each tick of its cron
// spec (errand/cron.hpp). Schedules are registered in code (WorkerOptions::schedules); every
// worker that has one may fire it, and the store makes each tick fire once: the tick's job is
// inserted in the transaction that records the tick (schedule, time) under a primary key.
#pragma once

#include <errand/clock.hpp>
#include <errand/lifecycle.hpp>
#include <errand/new_job.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace errand {

// A tick is on time while now - tick <= MissedTicks::grace (a worker restarting across a tick
// still fires it); a due tick older than that is missed (all workers down, or the schedule
// paused). What happens to missed ticks:
enum class MissedPolicy {
  skip,  // none of them fires; the latest due tick fires only if it is on time
  once,  // one job for all of them: the latest due tick, marked as a catch-up
  all,   // each missed tick within `window`, at most `cap` (the latest), marked as catch-ups
};

struct MissedTicks {
  MissedPolicy policy = MissedPolicy::skip;
  Duration grace = std::chrono::minutes{1};
  Duration window = std::chrono::hours{24};  // MissedPolicy::all: how far back
  std::size_t cap = 100;                     // MissedPolicy::all: at most this many at once
};

std::string_view to_string(MissedPolicy policy);

// What a schedule does at a tick while the job of its previous tick is still waiting or running.
enum class Overlap {
  allow,            // enqueue it anyway
  skip_if_running,  // skip the tick (recorded as skipped): no new job while the previous one is
                    // scheduled, ready or running
};

std::string_view to_string(Overlap overlap);

// Schedule names: 1 to 128 bytes of [A-Za-z0-9_.:-].
inline constexpr std::size_t kMaxScheduleNameBytes = 128;
// Throws ConfigError naming the rule unless `name` is a valid schedule name.
void check_schedule_name(std::string_view name);

// A recurring job, registered in code (WorkerOptions::schedules). Every worker with the same
// schedule name must give it the same definition; the store keeps the one declared last.
struct Schedule {
  std::string name{};
  std::string spec{};       // errand/cron.hpp: "0 9 * * MON-FRI", "*/10 * * * * *", "@every 5m"
  std::string zone{"UTC"};  // IANA time zone of the spec's wall-clock times
  // What each tick enqueues: errand::scheduled_job(ReportJob{...}, {.queue = "reports"}). Its
  // context is set by the tick (tick_context); run_at, delay and uniqueness must be empty.
  NewJob job{};
  MissedTicks missed{};
  Overlap overlap = Overlap::allow;
};

// The context of a tick's job: JSON naming the schedule and the tick, so that a run (and
// `errand jobs show`) can tell which tick it is for:
//   {"schedule":"nightly","tick":"2026-03-08T03:00:00-04:00","catch_up":false}
// plus "missed": N for MissedPolicy::once (the ticks this one job stands for), and
// {"schedule":"nightly","trigger":"manual"} for Store::trigger_schedule.
struct TickContext {
  std::string schedule{};
  std::optional<TimePoint> tick{};  // nullopt: triggered by hand
  bool catch_up = false;
  std::size_t missed = 0;
};
// Parses a job's context as a tick's; nullopt when it is not one.
std::optional<TickContext> parse_tick_context(std::string_view context);

// One tick a firing handled.
struct FiredTick {
  TimePoint tick{};
  JobId job_id = 0;  // 0: skipped by Overlap::skip_if_running
  bool catch_up = false;
  std::size_t missed = 0;  // MissedPolicy::once: how many missed ticks the job stands for
};

// What Store::fire_schedule did.
struct ScheduleFiring {
  TimePoint now{};                  // the store's clock at the firing
  bool paused = false;              // paused: nothing fired, nothing recorded
  std::vector<FiredTick> fired{};   // ascending
  std::size_t skipped = 0;          // missed ticks the missed-run policy does not fire
  std::optional<TimePoint> next{};  // the schedule's next tick after `now`
};

// What Store::remove_schedule did.
enum class ScheduleRemoval {
  removed,            // the schedule's row and its tick records are gone
  unknown,            // no schedule has that name
  declared_recently,  // a worker declared it within the time given: still in running code
};
std::string_view to_string(ScheduleRemoval removal);

inline constexpr Duration kScheduleDeclareEvery = std::chrono::minutes{10};
inline constexpr Duration kScheduleRetiredAfter = std::chrono::hours{1};

// A row of the schedules table, for inspection (`errand cron`) and Store::trigger_schedule.
struct ScheduleInfo {
  std::string name{};
  std::string spec{};
  std::string zone{};
  std::string job_name{};
  std::string payload{};
  std::string queue{};
  std::int32_t priority = 0;
  std::string partition_key{};
  MissedTicks missed{};
  Overlap overlap = Overlap::allow;
  bool paused = false;
  TimePoint created_at{};
  // When a worker last declared it: workers declare each of their schedules when they fire it
  // and at least every kScheduleDeclareEvery; one not declared for kScheduleRetiredAfter is
  // retired (removed from the code of every running worker).
  TimePoint seen_at{};
  std::optional<TimePoint> last_tick{};  // the latest tick handled (fired or skipped)
  std::optional<JobId> last_job_id{};    // the job of the latest tick that enqueued one
  std::int64_t fired = 0;                // ticks that enqueued a job, in all
  std::int64_t skipped = 0;              // ticks that did not (missed or overlapping), in all
  TimePoint now{};                       // the store's clock when listed
  bool retired() const { return now - seen_at > kScheduleRetiredAfter; }
};

}  // namespace errand
