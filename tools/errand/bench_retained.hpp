// errand bench --retained N: finished jobs already kept in the drain's store, to measure that a
// drain does not slow down with them (docs/benchmarks.md, "Retained finished jobs").
#pragma once

#include <cstdint>
#include <string>

namespace errand::cli {

// Writes `rows` completed jobs (finished an hour ago) into the finished jobs table of the store at
// `url`, in one transaction per 100,000 rows, straight in SQL: the rows a drain of the bench's
// no-op jobs with retention leaves (same type, payload shape and context, no output), without the
// time a drain of them takes.
void fill_completed(const std::string& url, std::int64_t rows);

}  // namespace errand::cli
