// The SQL both stores share for unique jobs (errand/unique.hpp): whether the job holding a key
// blocks a new one, read from the key's row alone (its phase, kept by the schema's triggers).
#pragma once

#include <fmt/format.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace errand::detail {

// True when the job holding the unique_keys row `row` blocks a new job with its key at `now`
// (an SQL expression of the store's time type): its phase, as a UniqueState bit, is in its
// states. A waiting job is scheduled until its run_at, ready from then on.
inline std::string unique_blocks_sql(std::string_view row, std::string_view now) {
  return fmt::format(
      "({r}.states & CASE {r}.phase WHEN 'waiting' THEN CASE WHEN {r}.run_at > {now} THEN 1"
      " ELSE 2 END WHEN 'running' THEN 4 WHEN 'completed' THEN 8 WHEN 'cancelled' THEN 16"
      " WHEN 'discarded' THEN 32 ELSE 0 END) <> 0",
      fmt::arg("r", row), fmt::arg("now", now));
}

// The key a job holds: its unique_key, and with a period the bucket of its run_at (both in
// microseconds since the epoch).
inline std::string stored_unique_key(std::string_view key, std::int64_t run_at_us,
                                     std::optional<std::int64_t> period_us) {
  if (!period_us) return std::string(key);
  const std::int64_t q = run_at_us / *period_us;
  const std::int64_t bucket = (run_at_us % *period_us != 0 && run_at_us < 0) ? q - 1 : q;
  return fmt::format("{}:{}", key, bucket);
}

}  // namespace errand::detail
