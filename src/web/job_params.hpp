// The jobs filter as the API takes it: the query parameters of GET /api/jobs, or the "filter"
// object of a bulk action (POST /api/jobs/retry, cancel, delete), with the same names either way
// (docs/api.md). Unknown names and bad values are refused (HttpError 400): a typo must not read
// as "no filter".
#pragma once

#include <errand/job_search.hpp>

#include "web/http.hpp"

#include <string>
#include <string_view>

namespace errand::web {

// What the parameters may say besides the filter.
enum class JobParamsUse {
  listing,  // a page: also sort, after (a cursor) and limit
  bulk,     // a bulk action's selection: the filter only (it walks the jobs by id)
};

// Parses `params` into a search (payload.FIELD=VALUE: a payload condition; an empty value: not
// given). A listing's page size defaults to `default_limit`.
JobSearch parse_job_search(const Params& params, JobParamsUse use, std::size_t default_limit);

// A keyset cursor as the API shows it: "ID.PRIORITY.AT" (AT in microseconds since the epoch).
std::string cursor_text(const JobCursor& cursor);
JobCursor parse_cursor(std::string_view text);

}  // namespace errand::web
