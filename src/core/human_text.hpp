// Times, durations and messages as people read them: shared by the errand command and the
// testing toolkit's messages.
#pragma once

#include <errand/clock.hpp>

#include <string>
#include <string_view>

namespace errand::detail {

// "2024-05-01T12:00:00Z"; with `micros`, "2024-05-01T12:00:00.123456Z".
std::string iso_utc(TimePoint t, bool micros = false);

// "in 3s", "5m ago", "now" (under a second either way).
std::string relative_time(TimePoint t, TimePoint now);

// A short duration for people: "250ms", "2s", "2.5s", "3m20s", "2h5m", "3d4h".
std::string human_duration(Duration d);

// The text on one line: newlines, tabs and other control characters become spaces.
std::string one_line(std::string_view text);

}  // namespace errand::detail
