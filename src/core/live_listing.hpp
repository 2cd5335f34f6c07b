// Listing the jobs still to run in claim order over several queues without sorting them all
// (Store::list_jobs), shared by the stores: the runnable index is ordered by queue first, so each
// queue's waiting jobs are read in claim order from it, up to the page's size, the jobs workers
// hold (few: the workers' slots) are read apart, and the pieces are merged.
#pragma once

#include <errand/store.hpp>

#include <functional>
#include <string>
#include <vector>

namespace errand::detail {

// Which live jobs one statement of such a listing reads.
enum class LivePart {
  every,    // the listing's own rows (one statement: not merged)
  waiting,  // unlocked ones, of the filter's one queue (the runnable index)
  held,     // locked ones (jobs_locked)
};

// " AND ..." restricting a statement to `part`.
std::string_view live_part_sql(LivePart part);

// True when list_jobs should read `filter` queue by queue: the live table in claim order, in
// states that include waiting jobs.
bool lists_by_queue(const JobFilter& filter);

// The claim order of live jobs: highest priority first, then earliest run_at, then lowest id.
bool claim_order(const JobInfo& a, const JobInfo& b);

// Reads `filter` with `part` (for `waiting`, filter.queue names the one queue).
using ListPart = std::function<std::vector<JobInfo>(const JobFilter& filter, LivePart part)>;

// The page of `filter` (lists_by_queue) in claim order; `queues`: the filter's queue, or every
// queue the store knows.
std::vector<JobInfo> list_by_queue(const JobFilter& filter, const std::vector<std::string>& queues,
                                   const ListPart& list);

}  // namespace errand::detail
