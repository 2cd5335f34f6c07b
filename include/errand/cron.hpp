// Cron specs: when a recurring job fires (README, "Recurring jobs").
//
// A spec is 5 fields (minute hour day-of-month month day-of-week), 6 fields (second first), a
// macro (@yearly/@annually, @monthly, @weekly, @daily/@midnight, @hourly) or `@every D` (D: 30s,
// 5m, 1h30m, 2d; at least 1s). Fields follow Vixie cron: `*`, numbers, ranges `a-b`, steps
// `*/n` `a-b/n` (and `a/n`: from a to the field's end), lists `a,b-c`, month names JAN-DEC and
// day names SUN-SAT (day-of-week 0-7, both 0 and 7 Sunday), case-insensitive. Vixie's day rule:
// when either day field starts with `*`, a day must match both; otherwise it may match either.
//
// Times are wall-clock times in the spec's IANA time zone. Daylight-saving changes follow cron(8):
// - a fixed-time spec (its second, minute and hour fields do not start with `*`; a 5-field spec's
//   second is 0; @hourly is not fixed-time) whose time falls in a spring-forward gap fires once, at
//   the first instant after the gap; its time repeated by a fall-back change fires only the first
//   time;
// - a wildcard spec follows the wall clock as it is: a time that does not exist is not fired,
//   a time that occurs twice fires twice;
// - `@every D` is elapsed time, ignoring zones: it fires at the multiples of D since
//   1970-01-01T00:00:00Z, so that every process computes the same ticks.
#pragma once

#include <errand/clock.hpp>
#include <errand/error.hpp>

#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace errand {

// A spec or time zone that cannot be used; the message names the field and what is wrong.
class CronError : public ConfigError {
 public:
  using ConfigError::ConfigError;
};

class CronSpec {
 public:
  // Throws CronError for a bad spec, an unknown zone, or a spec that never fires (`0 0 30 2 *`).
  static CronSpec parse(std::string_view spec, std::string_view zone = "UTC");

  // The first fire time strictly after `after` (whole seconds). nullopt only past the year 9999.
  std::optional<TimePoint> next_after(TimePoint after) const;

  // `at` as ISO 8601 in the spec's zone with its offset: "2026-03-08T03:00:00-04:00" (whole
  // seconds; "Z" in UTC).
  std::string format_local(TimePoint at) const;

  const std::string& spec() const;
  const std::string& zone() const;
  // Fixed-time (the DST rule above); false for @every.
  bool fixed_time() const;
  // The interval of `@every D`; nullopt for a cron spec.
  std::optional<Duration> every() const;

  struct Parsed;  // private: src/core/cron.cpp

 private:
  explicit CronSpec(std::shared_ptr<const Parsed> parsed) : parsed_(std::move(parsed)) {}
  std::shared_ptr<const Parsed> parsed_;
};

// "2026-03-08T01:30:00Z", "2026-03-08T01:30:00+05:45", "2026-03-08T01:30[:00]" or "2026-03-08"
// (the last two: wall-clock time in `zone`; an hour repeated by a fall-back change means its first
// pass). Years 1970-9999. Throws CronError saying what is wrong, also for a wall-clock time that
// a spring-forward change skips.
TimePoint parse_time_in_zone(std::string_view text, std::string_view zone);

}  // namespace errand
