// search_jobs (errand/job_search.hpp): list_jobs pages, the payload conditions checked here.
#include <errand/error.hpp>
#include <errand/job_search.hpp>

#include "core/live_listing.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>

namespace errand {

namespace {

using nlohmann::json;

// The rows read per list_jobs call while searching payloads: the first read of each queue asks
// for its share of the scan limit, from kMinBatch to kScanBatch rows; each further read of the
// same queue twice as many, up to kMaxBatch (never more than the scan may still read).
constexpr std::size_t kScanBatch = 500;
constexpr std::size_t kMinBatch = 50;
constexpr std::size_t kMaxBatch = 2000;

struct Condition {
  std::string field;
  json value;
};

std::vector<Condition> conditions_of(const std::vector<PayloadMatch>& matches) {
  std::vector<Condition> conditions;
  for (const PayloadMatch& m : matches) {
    if (m.field.empty()) throw ConfigError("search_jobs: a payload condition has no field name");
    json value = json::parse(m.value, nullptr, /*allow_exceptions=*/false);
    if (value.is_discarded()) value = m.value;  // not JSON: the text itself
    conditions.push_back({m.field, std::move(value)});
  }
  return conditions;
}

// Whether `payload` (untrusted text) is a JSON object whose fields meet every condition.
bool matches(const std::string& payload, const std::vector<Condition>& conditions) {
  const json parsed = json::parse(payload, nullptr, /*allow_exceptions=*/false);
  if (!parsed.is_object()) return false;
  return std::all_of(conditions.begin(), conditions.end(), [&](const Condition& c) {
    const auto it = parsed.find(c.field);
    return it != parsed.end() && *it == c.value;
  });
}

// The rows of a listing in its order, read in batches as they are taken. In claim order over
// every queue it reads each queue apart and merges them (a listing page over every queue reads a
// page from each queue, so a scan by pages would read most rows several times).
class RowSource {
 public:
  RowSource(Store& store, const JobFilter& filter, std::size_t scan_limit) : store_(store) {
    std::vector<JobFilter> filters;
    if (!filter.queue && detail::lists_by_queue(filter)) {
      for (const QueueInfo& queue : store.list_queues(/*count_limit=*/1)) {
        filters.push_back(filter);
        filters.back().queue = queue.name;
      }
    } else {
      filters.push_back(filter);
    }
    // Each queue's share of the rows the scan may read, within [kMinBatch, kScanBatch].
    const std::size_t first_batch =
        std::clamp(scan_limit / std::max<std::size_t>(filters.size(), 1), kMinBatch, kScanBatch);
    for (JobFilter& f : filters)
      streams_.push_back({std::move(f), {}, 0, first_batch, false});
  }

  // The next row in the listing's order, or nullptr: at its end, or (`held_back` set) when a
  // read is due and `may_read()` says no. Valid until the next call. A read asks for at most
  // `wanted` rows (those the caller may still take).
  template <class MayRead>
  const JobInfo* next(std::size_t wanted, const MayRead& may_read, bool& held_back) {
    Stream* best = nullptr;
    for (Stream& s : streams_) {
      if (s.taken == s.rows.size() && !s.ended && !may_read()) {
        held_back = true;
        return nullptr;
      }
      if (!fill(s, wanted)) continue;
      if (!best || detail::claim_order(s.rows[s.taken], best->rows[best->taken])) best = &s;
    }
    if (!best) return nullptr;
    return &best->rows[best->taken++];
  }

 private:
  struct Stream {
    JobFilter filter;
    std::vector<JobInfo> rows;
    std::size_t taken = 0;  // rows already returned
    std::size_t batch = 0;  // rows the next read asks for
    bool ended = false;     // the last read returned fewer rows than asked
  };

  // Whether `s` has a row to return, reading its next batch when it ran dry.
  bool fill(Stream& s, std::size_t wanted) {
    if (s.taken < s.rows.size()) return true;
    if (s.ended) return false;
    s.filter.limit = std::min(s.batch, wanted);
    s.rows = store_.list_jobs(s.filter);
    s.taken = 0;
    s.ended = s.rows.size() < s.filter.limit;
    if (!s.rows.empty()) s.filter.after = cursor_of(s.rows.back(), s.filter);
    s.batch = std::min(s.batch * 2, kMaxBatch);
    return !s.rows.empty();
  }

  Store& store_;
  std::vector<Stream> streams_;
};

}  // namespace

JobSearchPage search_jobs(Store& store, const JobSearch& search) {
  if (search.scan_limit == 0) throw ConfigError("search_jobs: scan_limit must be at least 1");
  if (search.scan_time_limit && *search.scan_time_limit < Duration{0})
    throw ConfigError("search_jobs: scan_time_limit must not be negative");
  const std::vector<Condition> conditions = conditions_of(search.payload);
  JobSearchPage page;
  const JobFilter& filter = search.filter;
  if (filter.limit == 0) return page;
  if (conditions.empty()) {
    page.jobs = store.list_jobs(filter);
    page.scanned = page.jobs.size();
    if (page.jobs.size() == filter.limit) page.next = cursor_of(page.jobs.back(), filter);
    return page;
  }
  RowSource rows(store, filter, search.scan_limit);
  const Clock& clock = store.clock();
  const std::optional<SteadyTime> deadline =
      search.scan_time_limit ? std::optional(clock.steady_now() + *search.scan_time_limit)
                             : std::nullopt;
  // Until a row is scanned every read is made: each call gets on by at least one row.
  const auto may_read = [&] {
    return !deadline || page.scanned == 0 || clock.steady_now() < *deadline;
  };
  while (page.jobs.size() < filter.limit) {
    if (page.scanned >= search.scan_limit) {
      page.scan_limited = true;
      return page;  // next: the last row read
    }
    bool held_back = false;
    const JobInfo* row = rows.next(search.scan_limit - page.scanned, may_read, held_back);
    if (held_back) {
      page.scan_limited = true;
      return page;  // out of time; next: the last row read
    }
    if (!row) {
      page.next.reset();  // the end of the listing
      return page;
    }
    ++page.scanned;
    page.next = cursor_of(*row, filter);
    if (matches(row->payload, conditions)) page.jobs.push_back(*row);
  }
  return page;
}

}  // namespace errand
