// The cron tests' view of a spec: its next fire times as the zone's ISO 8601 text.
#pragma once

#include <errand/cron.hpp>

#include <string>
#include <string_view>
#include <vector>

namespace errand_test {

using Fires = std::vector<std::string>;

// The `count` fire times after `from` (parse_time_in_zone's text) of `spec` in `zone`.
inline Fires fires(std::string_view spec, std::string_view zone, std::string_view from, int count) {
  const errand::CronSpec cron = errand::CronSpec::parse(spec, zone);
  errand::TimePoint at = errand::parse_time_in_zone(from, zone);
  Fires out;
  for (int i = 0; i < count; ++i) {
    at = cron.next_after(at).value();
    out.push_back(cron.format_local(at));
  }
  return out;
}

}  // namespace errand_test
