// The JSON of errand's records, as `errand ... --json` prints them and the web API returns them
// (README, "JSON output"; docs/api.md). Stored text is untrusted: payloads and outputs are JSON
// when they parse, else strings; nothing here is HTML.
#pragma once

#include <errand/schedule.hpp>
#include <errand/store.hpp>

#include <nlohmann/json.hpp>

#include <optional>
#include <string>
#include <vector>

namespace errand::views {

nlohmann::json optional_json(const std::optional<std::string>& value);
nlohmann::json optional_json(const std::optional<TimePoint>& value);
// A number (or any value nlohmann::json takes as it is), or null.
template <class T>
nlohmann::json optional_json(const std::optional<T>& value) {
  return value ? nlohmann::json(*value) : nlohmann::json(nullptr);
}
// The payload (or any stored JSON text) as JSON when it parses, else as the stored string.
nlohmann::json payload_json(const std::string& payload);

nlohmann::json counts_json(const JobCounts& counts);
// Every field of a job.
nlohmann::json job_json(const JobInfo& job);
nlohmann::json dead_json(const DeadJob& dead);
nlohmann::json queue_json(const QueueInfo& queue);
// `lost_after`: a worker silent longer is "lost", else "alive".
nlohmann::json worker_json(const WorkerInfo& worker, Duration lost_after);

// The overview's charts: kActivityMinutesShown minutes up to and including `last` (a minute's
// start), oldest first, each the sum over every queue of `minutes` (a minute without any is 0):
// completed, failed, started, and the waits from due to start (average and longest, seconds;
// null without a start).
inline constexpr int kActivityMinutesShown = 60;
nlohmann::json activity_json(const std::vector<ActivityMinute>& minutes, TimePoint last);

// A schedule's next fire times (kNextFiresShown, in its zone, ISO 8601 with offsets) from the
// store's now, or why its stored spec does not parse.
inline constexpr int kNextFiresShown = 5;
struct NextFires {
  std::vector<std::string> times;
  std::string problem;
};
NextFires next_fires(const ScheduleInfo& schedule);
nlohmann::json schedule_json(const ScheduleInfo& schedule);

}  // namespace errand::views
