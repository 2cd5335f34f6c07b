// A job's error history: its failed attempts as one JSON array, stored with the job (the `errors`
// column of both tables) and carried along when it is dead-lettered, cancelled or retried:
//   [{"attempt": 1, "at_us": 1764745006123456, "worker": "host:42:a1b2c3", "error": "..."}, ...]
// oldest first, the last kMaxAttemptsKept, each error cut to kMaxAttemptErrorBytes. The history
// is read back leniently: what was stored is a database value like any other (hostile), so a
// history that is not such an array is reported (attempts_unreadable) and replaced on the next
// failure, never trusted.
#pragma once

#include <errand/lifecycle.hpp>

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace errand::detail {

// `history` (as stored; nullopt or unreadable: none) with `attempt` appended, as stored.
std::string append_attempt(const std::optional<std::string>& history, const Attempt& attempt);

// The attempts of a stored history, oldest first; when it is not a valid history, none, and
// `problem` (if given) says why.
std::vector<Attempt> parse_attempts(std::string_view history, std::string* problem = nullptr);

}  // namespace errand::detail
