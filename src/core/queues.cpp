// Queue names, limits and rates (errand/queues.hpp): their checks, parsing and formatting.
#include <errand/error.hpp>
#include <errand/queues.hpp>

#include "core/stored_values.hpp"

#include <fmt/format.h>

#include <charconv>
#include <cstdint>

namespace errand {

namespace {

bool queue_name_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '.' || c == ':' || c == '-';
}

// "s" -> 1 s; "250ms" -> 250 ms; "" or no unit -> nullopt.
std::optional<Duration> parse_period(std::string_view text) {
  std::int64_t count = 1;
  const char* begin = text.data();
  const char* end = text.data() + text.size();
  const auto [stop, ec] = std::from_chars(begin, end, count);
  if (ec == std::errc::result_out_of_range) return std::nullopt;
  if (ec != std::errc{}) count = 1;  // a bare unit
  const std::string_view unit(stop, static_cast<std::size_t>(end - stop));
  std::int64_t unit_us = 0;
  if (unit == "us") {
    unit_us = 1;
  } else if (unit == "ms") {
    unit_us = 1'000;
  } else if (unit == "s") {
    unit_us = 1'000'000;
  } else if (unit == "m") {
    unit_us = 60'000'000;
  } else if (unit == "h") {
    unit_us = 3'600'000'000;
  } else {
    return std::nullopt;
  }
  // At most a day: a longer window is a quota, not a rate (and keeps the stored log bounded).
  if (count < 0 || count > 86'400'000'000 / unit_us) return std::nullopt;
  return Duration{count * unit_us};
}

}  // namespace

void check_queue_name(std::string_view name) {
  bool ok = !name.empty() && name.size() <= kMaxQueueNameBytes;
  for (char c : name)
    ok = ok && queue_name_char(c);
  if (!ok) {
    throw ConfigError(
        fmt::format("invalid queue name {}: a queue name is 1 to {} characters of letters, "
                    "digits and _ . : -",
                    detail::quoted_value(name), kMaxQueueNameBytes));
  }
}

void check_limits(const QueueLimits& limits) {
  if (limits.global && *limits.global < 1) {
    throw ConfigError(fmt::format(
        "invalid global limit {}: it must be at least 1 (to stop a queue, pause it; to remove the "
        "limit, clear it)",
        *limits.global));
  }
  if (limits.per_key && *limits.per_key < 1) {
    throw ConfigError(fmt::format(
        "invalid per-key limit {}: it must be at least 1 (to remove the limit, clear it)",
        *limits.per_key));
  }
  if (limits.rate) {
    if (limits.rate->limit < 1) {
      throw ConfigError(
          fmt::format("invalid rate limit {}: at least 1 start per period", limits.rate->limit));
    }
    if (limits.rate->period <= Duration{0} || limits.rate->period > std::chrono::hours{24}) {
      throw ConfigError(fmt::format(
          "invalid rate period of {} microseconds: it must be more than 0 and at most 24 hours",
          limits.rate->period.count()));
    }
    if (limits.rate->limit > 100'000) {
      throw ConfigError(fmt::format(
          "invalid rate limit {}: at most 100000 starts per period (a higher rate is better "
          "expressed over a shorter period)",
          limits.rate->limit));
    }
  }
}

RateLimit parse_rate(std::string_view text) {
  const auto refuse = [&](std::string_view why) -> RateLimit {
    throw ConfigError(fmt::format(
        "invalid rate {}: {}; write COUNT/PERIOD, e.g. 10/s, 600/1m, 5/250ms, 100/1h (units "
        "us, ms, s, m, h)",
        detail::quoted_value(text), why));
  };
  const std::size_t slash = text.find('/');
  if (slash == std::string_view::npos) return refuse("no '/'");
  const std::string_view count_text = text.substr(0, slash);
  std::int64_t count = 0;
  const auto [stop, ec] =
      std::from_chars(count_text.data(), count_text.data() + count_text.size(), count);
  if (ec != std::errc{} || stop != count_text.data() + count_text.size() || count < 1 ||
      count > 100'000) {
    return refuse("the count must be a whole number from 1 to 100000");
  }
  const auto period = parse_period(text.substr(slash + 1));
  if (!period) return refuse("the period must be a number and a unit, at most 24h");
  if (*period <= Duration{0}) return refuse("the period must be longer than 0");
  RateLimit rate{static_cast<std::int32_t>(count), *period};
  check_limits(QueueLimits{.rate = rate});
  return rate;
}

std::string format_rate(const RateLimit& rate) {
  const std::int64_t us = rate.period.count();
  struct Unit {
    std::int64_t us;
    const char* name;
  };
  for (const Unit& unit :
       {Unit{3'600'000'000, "h"}, Unit{60'000'000, "m"}, Unit{1'000'000, "s"}, Unit{1'000, "ms"}}) {
    if (us % unit.us == 0) {
      const std::int64_t n = us / unit.us;
      return n == 1 ? fmt::format("{}/{}", rate.limit, unit.name)
                    : fmt::format("{}/{}{}", rate.limit, n, unit.name);
    }
  }
  return fmt::format("{}/{}us", rate.limit, us);
}

}  // namespace errand
