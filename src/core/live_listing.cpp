#include "core/live_listing.hpp"

#include "core/job_filter_sql.hpp"

#include <algorithm>
#include <cstdint>
#include <tuple>

namespace errand::detail {

std::string_view live_part_sql(LivePart part) {
  switch (part) {
    case LivePart::every:
      return "";
    case LivePart::waiting:
      return " AND locked_by IS NULL";
    case LivePart::held:
      return " AND locked_by IS NOT NULL";
  }
  return "";
}

bool claim_order(const JobInfo& a, const JobInfo& b) {
  return std::tuple(-std::int64_t{a.priority}, a.run_at, a.id) <
         std::tuple(-std::int64_t{b.priority}, b.run_at, b.id);
}

bool lists_by_queue(const JobFilter& filter) {
  if (lists_finished(filter) || filter.order != JobOrder::natural) return false;
  return !filter.state || *filter.state == JobState::ready || *filter.state == JobState::scheduled;
}

std::vector<JobInfo> list_by_queue(const JobFilter& filter, const std::vector<std::string>& queues,
                                   const ListPart& list) {
  std::vector<JobInfo> jobs;
  const auto take = [&](std::vector<JobInfo> part) {
    jobs.insert(jobs.end(), std::make_move_iterator(part.begin()),
                std::make_move_iterator(part.end()));
  };
  JobFilter one = filter;
  for (const std::string& queue : queues) {
    one.queue = queue;
    take(list(one, LivePart::waiting));
  }
  // Ready and scheduled jobs are unlocked; without a state the held ones belong to the page too.
  if (!filter.state) take(list(filter, LivePart::held));
  std::sort(jobs.begin(), jobs.end(), claim_order);
  if (jobs.size() > filter.limit) jobs.resize(filter.limit);
  return jobs;
}

}  // namespace errand::detail
