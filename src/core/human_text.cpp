#include "core/human_text.hpp"

#include <fmt/format.h>

#include <chrono>

namespace errand::detail {

namespace chr = std::chrono;

std::string iso_utc(TimePoint t, bool micros) {
  const auto secs = chr::floor<chr::seconds>(t);
  const auto days = chr::floor<chr::days>(secs);
  const chr::year_month_day ymd{days};
  const chr::hh_mm_ss hms{secs - days};
  std::string out =
      fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}", static_cast<int>(ymd.year()),
                  static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()),
                  hms.hours().count(), hms.minutes().count(), hms.seconds().count());
  if (micros) out += fmt::format(".{:06}", (t - secs).count());
  out += 'Z';
  return out;
}

std::string human_duration(Duration d) {
  if (d < Duration::zero()) {
    std::string positive = human_duration(-d);
    positive.insert(0, 1, '-');
    return positive;
  }
  const auto us = d.count();
  if (d < chr::seconds{1}) return fmt::format("{}ms", us / 1000);
  if (d < chr::seconds{10}) {
    const auto tenths = (us + 50'000) / 100'000;
    if (tenths % 10 == 0) return fmt::format("{}s", tenths / 10);
    return fmt::format("{}.{}s", tenths / 10, tenths % 10);
  }
  const auto s = chr::round<chr::seconds>(d).count();
  const auto with_rest = [](auto big, std::string_view big_unit, auto small,
                            std::string_view small_unit) {
    return small == 0 ? fmt::format("{}{}", big, big_unit)
                      : fmt::format("{}{}{}{}", big, big_unit, small, small_unit);
  };
  if (s < 60) return fmt::format("{}s", s);
  if (s < 3600) return with_rest(s / 60, "m", s % 60, "s");
  if (s < 86400) return with_rest(s / 3600, "h", s % 3600 / 60, "m");
  return with_rest(s / 86400, "d", s % 86400 / 3600, "h");
}

std::string relative_time(TimePoint t, TimePoint now) {
  const Duration diff = t - now;
  if (diff > -chr::seconds{1} && diff < chr::seconds{1}) return "now";
  if (diff > Duration::zero()) return "in " + human_duration(chr::round<chr::seconds>(diff));
  return human_duration(chr::round<chr::seconds>(-diff)) + " ago";
}

std::string one_line(std::string_view text) {
  std::string out(text);
  for (char& c : out) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f) c = ' ';
  }
  return out;
}

}  // namespace errand::detail
