// search_jobs (errand/job_search.hpp): list_jobs pages, the payload conditions checked here.
#include <errand/error.hpp>
#include <errand/job_search.hpp>

#include <nlohmann/json.hpp>

#include <algorithm>

namespace errand {

namespace {

using nlohmann::json;

// The rows read per list_jobs call while searching payloads.
constexpr std::size_t kScanBatch = 500;

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

}  // namespace

JobSearchPage search_jobs(Store& store, const JobSearch& search) {
  if (search.scan_limit == 0) throw ConfigError("search_jobs: scan_limit must be at least 1");
  const std::vector<Condition> conditions = conditions_of(search.payload);
  JobSearchPage page;
  JobFilter filter = search.filter;
  if (filter.limit == 0) return page;
  if (conditions.empty()) {
    page.jobs = store.list_jobs(filter);
    page.scanned = page.jobs.size();
    if (page.jobs.size() == filter.limit) page.next = cursor_of(page.jobs.back(), filter);
    return page;
  }
  while (page.jobs.size() < search.filter.limit) {
    if (page.scanned >= search.scan_limit) {
      page.scan_limited = true;
      return page;  // next: the last row read
    }
    filter.limit = std::min(kScanBatch, search.scan_limit - page.scanned);
    const std::vector<JobInfo> rows = store.list_jobs(filter);
    for (const JobInfo& row : rows) {
      ++page.scanned;
      page.next = cursor_of(row, filter);
      if (matches(row.payload, conditions)) {
        page.jobs.push_back(row);
        if (page.jobs.size() == search.filter.limit) return page;
      }
    }
    if (rows.size() < filter.limit) {
      page.next.reset();  // the end of the table
      return page;
    }
    filter.after = page.next;
  }
  return page;
}

}  // namespace errand
