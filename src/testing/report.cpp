// DrainReport: lookups and the summary printed with failed expectations.
#include <errand/testing/drain.hpp>

#include "core/human_text.hpp"
#include "core/text.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <iterator>
#include <ostream>

namespace errand::testing {

namespace {

constexpr std::size_t kShownBytes = 200;  // of a payload or an error message, in a summary line

template <class Keep>
std::vector<JobRun> runs_where(const std::vector<JobRun>& runs, Keep keep) {
  std::vector<JobRun> out;
  std::copy_if(runs.begin(), runs.end(), std::back_inserter(out), keep);
  return out;
}

}  // namespace

std::string_view to_string(RunResult result) {
  switch (result) {
    case RunResult::succeeded:
      return "succeeded";
    case RunResult::retried:
      return "retried";
    case RunResult::dead_lettered:
      return "dead-lettered";
    case RunResult::released:
      return "released";
    case RunResult::lock_lost:
      return "lock lost";
    case RunResult::snoozed:
      return "snoozed";
    case RunResult::cancelled:
      return "cancelled";
  }
  return "unknown";
}

std::vector<JobRun> DrainReport::runs_of(std::string_view name) const {
  return runs_where(runs, [&](const JobRun& run) { return run.name == name; });
}

std::vector<JobRun> DrainReport::runs_of(JobId id) const {
  return runs_where(runs, [&](const JobRun& run) { return run.id == id; });
}

std::string DrainReport::summary() const {
  std::string out =
      runs.empty() ? std::string("drained no job")
                   : fmt::format("drained {} run(s): {} succeeded, {} retried, {} dead-lettered",
                                 runs.size(), succeeded, retried, dead_lettered);
  if (snoozed > 0) out += fmt::format(", {} snoozed", snoozed);
  if (cancelled > 0) out += fmt::format(", {} cancelled", cancelled);
  if (limit_reached) out += "; stopped at max_runs with jobs still waiting";
  for (const JobRun& run : runs) {
    out += fmt::format("\n  job {} {} {} attempt {}: {}", run.id, run.name,
                       errand::detail::to_clean_utf8(run.payload, kShownBytes), run.attempt,
                       to_string(run.result));
    if (run.next_run_at) {
      out += fmt::format(", runs again at {}", errand::detail::iso_utc(*run.next_run_at, true));
    }
    if (!run.error.empty()) {
      out += ": " + errand::detail::one_line(errand::detail::to_clean_utf8(run.error, kShownBytes));
    }
  }
  return out;
}

std::ostream& operator<<(std::ostream& out, const DrainReport& report) {
  return out << report.summary();
}

}  // namespace errand::testing
