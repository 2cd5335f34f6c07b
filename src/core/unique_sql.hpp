// What both stores share for unique jobs (errand/unique.hpp): the stored form of a key, and the
// SQL that tells whether the job holding a key blocks a new one.
//
// A key is stored in the jobs' unique_key column (a BLOB / bytea): a unique partial index on the
// live jobs table holds each key at most once, so INSERT ... ON CONFLICT decides between
// concurrent enqueues. Finished jobs keep their key in finished_jobs (indexed, not unique).
#pragma once

#include <fmt/format.h>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace errand::detail {

// The stored key: the first 16 bytes of detail::unique_key's SHA-256 (its first 32 hex digits;
// 128 bits, so a collision is out of reach), then with a period the bucket of the job's run_at
// as 8 bytes big-endian.
inline constexpr std::size_t kStoredKeyHexDigits = 32;

// floor(run_at_us / period_us), for period_us > 0.
inline std::int64_t period_bucket(std::int64_t run_at_us, std::int64_t period_us) {
  const std::int64_t q = run_at_us / period_us;
  return (run_at_us % period_us != 0 && run_at_us < 0) ? q - 1 : q;
}

// The stored key's bytes, from detail::unique_key's 64 hex digits (checked by check_new_jobs).
std::string stored_unique_key(std::string_view hex_key, std::int64_t run_at_us,
                              std::optional<std::int64_t> period_us);

// The UniqueState bit of a live job row `j` (locked_by, run_at) at `now`: running while locked,
// else scheduled until its run_at and ready from then on.
inline std::string live_state_bit_sql(std::string_view j, std::string_view now) {
  return fmt::format(
      "CASE WHEN {j}.locked_by IS NOT NULL THEN 4 WHEN {j}.run_at > {now} THEN 1 ELSE 2 END",
      fmt::arg("j", j), fmt::arg("now", now));
}

// The UniqueState bit of a finished job row `f` (its state).
inline std::string finished_state_bit_sql(std::string_view f) {
  return fmt::format(
      "CASE {f}.state WHEN 'completed' THEN 8 WHEN 'cancelled' THEN 16 WHEN 'discarded' THEN 32"
      " ELSE 0 END",
      fmt::arg("f", f));
}

}  // namespace errand::detail
