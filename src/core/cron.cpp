// Cron specs in time zones (errand/cron.hpp): the fields' matches on the wall clock, turned into
// instants by the zone's rules and cron(8)'s daylight-saving rule.
#include <errand/cron.hpp>

#include "core/cron_fields.hpp"
#include "core/text.hpp"

#include <date/date.h>
#include <date/tz.h>
#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <vector>

namespace errand {

struct CronSpec::Parsed {
  std::string spec;
  std::string zone_name;
  const date::time_zone* zone = nullptr;
  std::optional<std::chrono::seconds> every;
  cron::Fields fields;
};

namespace {

using std::chrono::seconds;
using LocalSeconds = date::local_seconds;
using SysSeconds = date::sys_seconds;

const SysSeconds kFirst = date::sys_days{date::year{1970} / 1 / 1};
const SysSeconds kLast = date::sys_days{date::year{9999} / 12 / 31};

const date::time_zone* find_zone(std::string_view name) {
  const auto unknown = [&] {
    return CronError(
        fmt::format("unknown time zone \"{}\" (give an IANA name such as Europe/London)",
                    detail::to_clean_utf8(name, 80)));
  };
  if (name.empty() || name.size() > 64) throw unknown();
  try {
    return date::locate_zone(name);
  } catch (const std::exception&) {
    throw unknown();
  }
}

// The first wall-clock time >= from (and < limit) the fields allow.
std::optional<LocalSeconds> next_match(const cron::Fields& f, LocalSeconds from,
                                       date::local_days limit) {
  using namespace std::chrono;
  date::local_days day = floor<date::days>(from);
  const seconds time_of_day = from - day;
  int h = static_cast<int>(time_of_day / hours{1});
  int m = static_cast<int>(time_of_day % hours{1} / minutes{1});
  int s = static_cast<int>(time_of_day % minutes{1} / seconds{1});
  const auto next_day = [&] {
    day += date::days{1};
    h = m = s = 0;
  };
  while (day < limit) {
    const date::year_month_day ymd{day};
    const auto month = static_cast<int>(static_cast<unsigned>(ymd.month()));
    if (!f.month.has(static_cast<unsigned>(month))) {
      const int later = cron::next_allowed(f.month, month + 1, 12);
      const date::year year = later < 0 ? ymd.year() + date::years{1} : ymd.year();
      const int to = later < 0 ? cron::next_allowed(f.month, 1, 12) : later;
      day = date::local_days{year / date::month{static_cast<unsigned>(to)} / 1};
      h = m = s = 0;
      continue;
    }
    if (!f.day_matches(static_cast<unsigned>(ymd.day()), date::weekday{day}.c_encoding())) {
      next_day();
      continue;
    }
    const int hour = cron::next_allowed(f.hour, h, 23);
    if (hour < 0) {
      next_day();
      continue;
    }
    if (hour != h) {
      h = hour;
      m = s = 0;
    }
    const int minute = cron::next_allowed(f.minute, m, 59);
    if (minute < 0) {
      if (++h == 24) next_day();
      m = s = 0;
      continue;
    }
    if (minute != m) {
      m = minute;
      s = 0;
    }
    const int second = cron::next_allowed(f.second, s, 59);
    if (second < 0) {
      s = 0;
      if (++m == 60) {
        m = 0;
        if (++h == 24) next_day();
      }
      continue;
    }
    return day + hours{h} + minutes{m} + seconds{second};
  }
  return std::nullopt;
}

// The instants at which wall-clock time `at` fires: one; none (wildcard spec in a gap); the
// first instant after the gap (fixed-time spec in a gap); both passes of a repeated time
// (wildcard) or the first (fixed-time).
std::vector<SysSeconds> instants_of(const date::time_zone& zone, LocalSeconds at, bool fixed) {
  const date::local_info info = zone.get_info(at);
  const auto instant = [&](const date::sys_info& i) {
    return SysSeconds{at.time_since_epoch() - i.offset};
  };
  switch (info.result) {
    case date::local_info::unique:
      return {instant(info.first)};
    case date::local_info::nonexistent:
      if (fixed) return {info.second.begin};
      return {};
    case date::local_info::ambiguous:
      if (fixed) return {instant(info.first)};
      return {instant(info.first), instant(info.second)};
  }
  return {};
}

// The smallest and largest UTC offsets in force within a day of `at`.
std::pair<seconds, seconds> offsets_near(const date::time_zone& zone, SysSeconds at) {
  seconds low = zone.get_info(at).offset;
  seconds high = low;
  for (const SysSeconds t : {at - date::days{1}, at + date::days{1}}) {
    const seconds offset = zone.get_info(t).offset;
    low = std::min(low, offset);
    high = std::max(high, offset);
  }
  return {low, high};
}

}  // namespace

CronSpec CronSpec::parse(std::string_view spec, std::string_view zone) {
  auto parsed = std::make_shared<Parsed>();
  parsed->spec = std::string(spec);
  parsed->zone_name = std::string(zone);
  parsed->zone = find_zone(zone);
  parsed->every = cron::parse_every(spec);
  if (!parsed->every) {
    parsed->fields = cron::parse_fields(spec);
    // Every allowed date recurs within 8 years (29 February); 30 years is a safe bound.
    const date::local_days from{date::year{2001} / 1 / 1};
    if (!next_match(parsed->fields, from, date::local_days{date::year{2031} / 1 / 1}))
      throw CronError(fmt::format("invalid cron spec \"{}\": it never fires (no such date)",
                                  detail::to_clean_utf8(spec, 120)));
  }
  return CronSpec(std::move(parsed));
}

std::optional<TimePoint> CronSpec::next_after(TimePoint after) const {
  const Parsed& p = *parsed_;
  const SysSeconds lo =
      std::clamp(std::chrono::floor<seconds>(after) + seconds{1}, kFirst, kLast + date::days{1});
  if (lo > kLast) return std::nullopt;
  if (p.every) {
    const auto n = p.every->count();
    const auto since = (lo - kFirst).count();
    const auto k = (since + n - 1) / n;  // the first multiple at or after lo
    const SysSeconds at = kFirst + seconds{k * n};
    if (at > kLast) return std::nullopt;
    return std::chrono::time_point_cast<Duration>(at);
  }
  const bool fixed = p.fields.fixed_time();
  const date::local_days limit{date::year{10000} / 1 / 1};
  // No wall-clock time before lo + the smallest nearby offset can be an instant >= lo.
  LocalSeconds from{(lo + offsets_near(*p.zone, lo).first).time_since_epoch()};
  std::optional<SysSeconds> best;
  LocalSeconds stop{};
  while (true) {
    const std::optional<LocalSeconds> match = next_match(p.fields, from, limit);
    if (!match || (best && *match > stop)) break;
    for (const SysSeconds at : instants_of(*p.zone, *match, fixed)) {
      if (at < lo || (best && at >= *best)) continue;
      best = at;
      // A later wall-clock time beyond best + the largest nearby offset is a later instant.
      stop = LocalSeconds{(at + offsets_near(*p.zone, at).second).time_since_epoch()};
    }
    from = *match + seconds{1};
  }
  if (!best || *best > kLast) return std::nullopt;
  return std::chrono::time_point_cast<Duration>(*best);
}

std::string CronSpec::format_local(TimePoint at) const {
  const SysSeconds s = std::clamp(std::chrono::floor<seconds>(at), kFirst, kLast);
  const date::sys_info info = parsed_->zone->get_info(s);
  const LocalSeconds local{(s + info.offset).time_since_epoch()};
  std::string out = date::format("%FT%T", local);
  if (info.offset == seconds{0} && info.abbrev == "UTC") return out + "Z";
  const auto minutes = info.offset.count() / 60;
  const auto magnitude = minutes < 0 ? -minutes : minutes;
  return out +
         fmt::format("{}{:02}:{:02}", minutes < 0 ? '-' : '+', magnitude / 60, magnitude % 60);
}

const std::string& CronSpec::spec() const {
  return parsed_->spec;
}
const std::string& CronSpec::zone() const {
  return parsed_->zone_name;
}
bool CronSpec::fixed_time() const {
  return !parsed_->every && parsed_->fields.fixed_time();
}
std::optional<Duration> CronSpec::every() const {
  if (!parsed_->every) return std::nullopt;
  return std::chrono::duration_cast<Duration>(*parsed_->every);
}

TimePoint parse_time_in_zone(std::string_view text, std::string_view zone_name) {
  const auto bad = [&](std::string_view what) -> CronError {
    return CronError(
        fmt::format("time \"{}\": {} (give e.g. 2026-03-08T01:30:00Z, "
                    "2026-03-08T01:30:00+05:45, or a wall-clock 2026-03-08T01:30)",
                    detail::to_clean_utf8(text, 80), what));
  };
  std::size_t i = 0;
  const auto number = [&](std::size_t digits, const char* what) {
    int v = 0;
    for (std::size_t k = 0; k < digits; ++k, ++i) {
      if (i >= text.size() || std::isdigit(static_cast<unsigned char>(text[i])) == 0)
        throw bad(fmt::format("the {} needs {} digits", what, digits));
      v = v * 10 + (text[i] - '0');
    }
    return v;
  };
  const auto expect = [&](char c, const char* what) {
    if (i >= text.size() || text[i] != c) throw bad(fmt::format("'{}' expected {}", c, what));
    ++i;
  };
  const int year = number(4, "year");
  expect('-', "after the year");
  const int month = number(2, "month");
  expect('-', "after the month");
  const int day = number(2, "day");
  const date::year_month_day ymd{date::year{year} / month / day};
  if (year < 1970 || !ymd.ok()) throw bad("no such date in 1970-9999");
  seconds time_of_day{0};
  if (i < text.size() && (text[i] == 'T' || text[i] == ' ')) {
    ++i;
    const int h = number(2, "hour");
    expect(':', "after the hour");
    const int m = number(2, "minute");
    int s = 0;
    if (i < text.size() && text[i] == ':') {
      ++i;
      s = number(2, "second");
    }
    if (h > 23 || m > 59 || s > 59) throw bad("no such time of day");
    time_of_day = std::chrono::hours{h} + std::chrono::minutes{m} + seconds{s};
  }
  const LocalSeconds wall = date::local_days{ymd} + time_of_day;
  if (i == text.size()) {
    const date::local_info info = find_zone(zone_name)->get_info(wall);
    if (info.result == date::local_info::nonexistent)
      throw bad(fmt::format("that wall-clock time does not exist in {} (a daylight-saving gap)",
                            zone_name));
    return std::chrono::time_point_cast<Duration>(
        SysSeconds{wall.time_since_epoch() - info.first.offset});
  }
  seconds offset{0};
  if (text[i] == 'Z' || text[i] == 'z') {
    ++i;
  } else if (text[i] == '+' || text[i] == '-') {
    const int sign = text[i] == '-' ? -1 : 1;
    ++i;
    const int h = number(2, "offset's hours");
    expect(':', "in the offset");
    const int m = number(2, "offset's minutes");
    if (h > 23 || m > 59) throw bad("no such offset");
    offset = sign * (std::chrono::hours{h} + std::chrono::minutes{m});
  } else {
    throw bad("unexpected text after the time");
  }
  if (i != text.size()) throw bad("unexpected text after the offset");
  return std::chrono::time_point_cast<Duration>(SysSeconds{wall.time_since_epoch() - offset});
}

}  // namespace errand
