// Searching jobs by their payload (README, "The web dashboard and its HTTP API"): Store::list_jobs
// with conditions on top-level payload fields, checked by errand as it reads the rows (no index
// covers a payload field), so a search reads at most `scan_limit` rows per call (and for at most
// `scan_time_limit`) and says when it stopped there. Keyset pages: pass the returned `next` as the
// filter's `after` to go on.
#pragma once

#include <errand/store.hpp>

#include <cstddef>
#include <optional>
#include <string>
#include <vector>

namespace errand {

// A payload whose top-level field `field` equals `value` (JSON: 42, "abc", true, null; text that
// is not JSON stands for that string). Numbers compare by value (42 and 42.0 match). A payload
// that is not a JSON object matches nothing.
struct PayloadMatch {
  std::string field;
  std::string value;
};

struct JobSearch {
  JobFilter filter{};                   // its limit is the page size (at most this many jobs)
  std::vector<PayloadMatch> payload{};  // every one must hold
  std::size_t scan_limit = 10'000;      // rows read at most (only with payload conditions)
  // With payload conditions: no read of rows starts after this long (the store's
  // Clock::steady_now()); the search then stops as at scan_limit. Each call reads at least one
  // row. Unset: no time limit.
  std::optional<Duration> scan_time_limit{};
};

struct JobSearchPage {
  std::vector<JobInfo> jobs{};
  // Where the next page starts (JobFilter::after); nullopt when nothing follows. After a search
  // that stopped at scan_limit, the row it stopped at (the next call reads on from there).
  std::optional<JobCursor> next{};
  std::size_t scanned = 0;    // rows read
  bool scan_limited = false;  // stopped at scan_limit or scan_time_limit before the page was full
};

// Throws ConfigError for an empty field name, a scan_limit of 0 or a negative scan_time_limit.
JobSearchPage search_jobs(Store& store, const JobSearch& search);

}  // namespace errand
