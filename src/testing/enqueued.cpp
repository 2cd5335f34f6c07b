// The non-template side of errand::testing's checks: reading the jobs table and the failure
// message that lists what is enqueued.
#include <errand/testing/enqueued.hpp>

#include "core/human_text.hpp"
#include "core/text.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>

namespace errand::testing::detail {

namespace {

constexpr std::size_t kMaxRows = 100'000;                 // rows of one type a check reads
constexpr std::size_t kListed = 50;                       // jobs a message lists
constexpr std::size_t kShownBytes = 200;                  // of a payload or an error message
constexpr Duration kLockTimeout = std::chrono::hours{2};  // tells running from abandoned

std::string shown(std::string_view text) {
  return errand::detail::one_line(errand::detail::to_clean_utf8(text, kShownBytes));
}

std::string job_line(const JobInfo& job, TimePoint now, bool matches) {
  std::string line = fmt::format("{} job {} {} {} {}, run_at {} ({}), {} failed attempt{}",
                                 matches ? "*" : " ", job.id, job.name, shown(job.payload),
                                 to_string(job.state), errand::detail::iso_utc(job.run_at),
                                 errand::detail::relative_time(job.run_at, now), job.error_count,
                                 job.error_count == 1 ? "" : "s");
  if (job.last_error) line += fmt::format(" (last: {})", shown(*job.last_error));
  if (job.priority != 0) line += fmt::format(", priority {}", job.priority);
  if (!job.context.empty()) line += fmt::format(", context \"{}\"", shown(job.context));
  return line;
}

}  // namespace

std::vector<JobInfo> rows_named(Store& store, std::string_view name) {
  return store.list_jobs(JobFilter{.name = std::string(name), .limit = kMaxRows});
}

std::string enqueued_message(Store& store, std::string_view name, bool expected, bool has_predicate,
                             std::span<const JobId> matching,
                             std::span<const Undecodable> undecodable) {
  const TimePoint now = store.clock().now();
  const JobCounts counts = store.counts(kLockTimeout);
  const std::int64_t total = counts.ready + counts.scheduled + counts.running + counts.abandoned;
  const std::string where = store.describe();
  const std::string what = fmt::format("{} {}{}", expected ? "an enqueued" : "no enqueued", name,
                                       has_predicate ? " matching the predicate" : "");

  std::string out;
  if (total == 0) {
    out = fmt::format("expected {}, but no job is enqueued in {}", what, where);
  } else if (expected) {
    out = fmt::format("expected {}, but none of the {} job(s) enqueued in {} matches", what, total,
                      where);
  } else {
    out = fmt::format("expected {}, but {} of the {} job(s) enqueued in {} {} (marked *)", what,
                      matching.size(), total, where, matching.size() == 1 ? "matches" : "match");
  }
  if (total > 0) {
    out +=
        fmt::format("; the jobs, next to run first (clock at {}):", errand::detail::iso_utc(now));
    const std::vector<JobInfo> jobs = store.list_jobs(JobFilter{.limit = kListed});
    for (const JobInfo& job : jobs) {
      const bool matches = std::find(matching.begin(), matching.end(), job.id) != matching.end();
      out += "\n" + job_line(job, now, matches);
    }
    if (static_cast<std::size_t>(total) > jobs.size()) {
      out += fmt::format("\n  ... and {} more", static_cast<std::size_t>(total) - jobs.size());
    }
  }
  for (const Undecodable& bad : undecodable) {
    out += fmt::format("\n(job {} is named {} but its payload is not one: {})", bad.id, name,
                       shown(bad.error));
  }
  return out;
}

}  // namespace errand::testing::detail
