// The text of a cron spec (errand/cron.hpp) as sets of allowed values; no time zones here.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string_view>

namespace errand::cron {

// The values a field allows (bit v set: value v allowed) and whether its text starts with `*`.
struct Field {
  std::uint64_t bits = 0;
  bool star = false;
  bool has(unsigned v) const { return v < 64 && (bits >> v & 1U) != 0; }
};

// Day of week 0-6, Sunday 0 (a 7 in the text is folded into 0); month 1-12; day of month 1-31.
struct Fields {
  Field second, minute, hour, day_of_month, month, day_of_week;
  // Vixie's day rule: with either day field starting with `*`, both must match, else either.
  bool day_matches(unsigned day_of_month_value, unsigned weekday) const;
  // cron(8)'s fixed-time: no `*` first in the second, minute or hour field.
  bool fixed_time() const { return !second.star && !minute.star && !hour.star; }
};

// The smallest allowed value >= from and <= last, or -1.
int next_allowed(const Field& field, int from, int last);

// `@every D`'s interval, or nullopt when `spec` is not an @every. Throws CronError.
std::optional<std::chrono::seconds> parse_every(std::string_view spec);

// A 5- or 6-field spec or a macro other than @every. Throws CronError naming the field.
Fields parse_fields(std::string_view spec);

}  // namespace errand::cron
