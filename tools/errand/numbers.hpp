// Every integer and duration option of the errand command is declared through here: the text is
// taken as plain decimal digits only and range-checked, with plain messages
// ("--limit: 0 is too small (at least 1)"). The bounds keep every value clear of internal
// overflow (durations become int64 microseconds; counts become SQL int8 and std::size_t).
#pragma once

#include <CLI/CLI.hpp>

#include <cstdint>
#include <string>
#include <string_view>

namespace errand::cli {

struct Bounds {
  std::int64_t min = 0;
  std::int64_t max = 0;
  std::string_view unit{};  // "seconds", "jobs", ... or "" (after the numbers in messages)
  std::string_view note{};  // after the upper bound, e.g. "100 years" (or "")
};

// A duration option in whole seconds: 0 or more, at most 100 years (3153600000 s).
inline constexpr Bounds kSecondsOrZero{0, 3'153'600'000, "seconds", "100 years"};
// The same, at least one second.
inline constexpr Bounds kSeconds{1, 3'153'600'000, "seconds", "100 years"};
// A job id as the stores hand them out: positive int64.
inline constexpr Bounds kJobId{1, INT64_MAX, "", "the largest job id"};
// How many rows a listing shows.
inline constexpr Bounds kListLimit{1, 10'000'000, "", ""};
// A queue's global or per-key limit (QueueLimits): at least 1, as a stored int32.
inline constexpr Bounds kQueueLimit{1, INT32_MAX, "", ""};

// What is wrong with `text` as a value in `bounds`, "" when nothing is; on success `text`
// becomes the canonical decimal (no leading zeros), which CLI11 then converts exactly.
std::string number_problem(std::string& text, const Bounds& bounds);

// A CLI11 validator applying number_problem; CLI11 prefixes its message with the option name.
CLI::Validator number_in(const Bounds& bounds);

// Declares `--name` (or a positional) bound to `target` (an integer type holding bounds.max),
// checked by number_in(bounds); the default is shown in --help.
template <class T>
CLI::Option* add_number(CLI::App& cmd, const std::string& name, T& target, const Bounds& bounds,
                        const std::string& help) {
  return cmd.add_option(name, target, help)->capture_default_str()->check(number_in(bounds));
}

}  // namespace errand::cli
