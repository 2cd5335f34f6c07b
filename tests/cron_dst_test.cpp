// Cron specs across daylight-saving changes (the cron(8) rule in errand/cron.hpp), and properties
// of next_after over random specs checked instant by instant against an independent oracle.
#include <errand/cron.hpp>

#include <date/date.h>
#include <date/tz.h>
#include <gtest/gtest.h>

#include "support/cron_fires.hpp"
#include "support/sanitized.hpp"

#include <random>
#include <string>
#include <vector>

namespace {

using errand::CronSpec;
using errand::parse_time_in_zone;
using errand::TimePoint;
using errand_test::fires;
using errand_test::Fires;
using std::chrono::seconds;

// --- the rule, zone by zone (2026's changes) ---

// New York: 2026-03-08 02:00 EST -> 03:00 EDT; 2026-11-01 02:00 EDT -> 01:00 EST.
TEST(CronDst, NewYorkGapFixedTimeFiresOnceAtTheFirstInstantAfter) {
  EXPECT_EQ(fires("30 2 * * *", "America/New_York", "2026-03-07T12:00", 3),
            (Fires{"2026-03-08T03:00:00-04:00", "2026-03-09T02:30:00-04:00",
                   "2026-03-10T02:30:00-04:00"}));
  // Two times in the gap of one schedule: one fire.
  EXPECT_EQ(fires("0,30 2 * * *", "America/New_York", "2026-03-08T00:00", 2),
            (Fires{"2026-03-08T03:00:00-04:00", "2026-03-09T02:00:00-04:00"}));
}

TEST(CronDst, NewYorkGapWildcardSkipsTheMissingTimes) {
  EXPECT_EQ(fires("30 * * * *", "America/New_York", "2026-03-08T00:00", 3),
            (Fires{"2026-03-08T00:30:00-05:00", "2026-03-08T01:30:00-05:00",
                   "2026-03-08T03:30:00-04:00"}));
}

TEST(CronDst, NewYorkRepeatedHourFixedTimeFiresTheFirstTimeOnly) {
  EXPECT_EQ(fires("30 1 * * *", "America/New_York", "2026-10-31T12:00", 2),
            (Fires{"2026-11-01T01:30:00-04:00", "2026-11-02T01:30:00-05:00"}));
}

TEST(CronDst, NewYorkRepeatedHourWildcardFiresInBothPasses) {
  EXPECT_EQ(fires("30 * * * *", "America/New_York", "2026-11-01T00:00", 4),
            (Fires{"2026-11-01T00:30:00-04:00", "2026-11-01T01:30:00-04:00",
                   "2026-11-01T01:30:00-05:00", "2026-11-01T02:30:00-05:00"}));
  // @hourly is a wildcard spec (cron(8)).
  EXPECT_EQ(fires("@hourly", "America/New_York", "2026-11-01T00:30", 3),
            (Fires{"2026-11-01T01:00:00-04:00", "2026-11-01T01:00:00-05:00",
                   "2026-11-01T02:00:00-05:00"}));
}

// London: 2026-03-29 01:00 GMT -> 02:00 BST; 2026-10-25 02:00 BST -> 01:00 GMT.
TEST(CronDst, LondonGapAndRepeatedHour) {
  EXPECT_EQ(fires("15 1 * * *", "Europe/London", "2026-03-28T12:00", 2),
            (Fires{"2026-03-29T02:00:00+01:00", "2026-03-30T01:15:00+01:00"}));
  EXPECT_EQ(fires("*/20 1 * * *", "Europe/London", "2026-03-29T00:00", 2),
            (Fires{"2026-03-30T01:00:00+01:00", "2026-03-30T01:20:00+01:00"}));
  EXPECT_EQ(fires("15 1 * * *", "Europe/London", "2026-10-24T12:00", 2),
            (Fires{"2026-10-25T01:15:00+01:00", "2026-10-26T01:15:00+00:00"}));
  EXPECT_EQ(fires("15 * * * *", "Europe/London", "2026-10-25T00:30", 3),
            (Fires{"2026-10-25T01:15:00+01:00", "2026-10-25T01:15:00+00:00",
                   "2026-10-25T02:15:00+00:00"}));
}

// Lord Howe moves by 30 minutes: 2026-04-05 02:00 +11 -> 01:30 +10:30; 2026-10-04 02:00 +10:30
// -> 02:30 +11.
TEST(CronDst, LordHoweHalfHourChanges) {
  EXPECT_EQ(fires("0,30 2 * * *", "Australia/Lord_Howe", "2026-10-03T12:00", 3),
            (Fires{"2026-10-04T02:30:00+11:00", "2026-10-05T02:00:00+11:00",
                   "2026-10-05T02:30:00+11:00"}));
  EXPECT_EQ(fires("15 * * * *", "Australia/Lord_Howe", "2026-10-04T00:00", 3),
            (Fires{"2026-10-04T00:15:00+10:30", "2026-10-04T01:15:00+10:30",
                   "2026-10-04T03:15:00+11:00"}));
  EXPECT_EQ(fires("45 1 * * *", "Australia/Lord_Howe", "2026-04-04T12:00", 2),
            (Fires{"2026-04-05T01:45:00+11:00", "2026-04-06T01:45:00+10:30"}));
  EXPECT_EQ(
      fires("*/15 1 * * *", "Australia/Lord_Howe", "2026-04-05T01:20", 5),
      (Fires{"2026-04-05T01:30:00+11:00", "2026-04-05T01:45:00+11:00", "2026-04-05T01:30:00+10:30",
             "2026-04-05T01:45:00+10:30", "2026-04-06T01:00:00+10:30"}));
}

// Kathmandu: +05:45 (no DST), and its move from +05:30 on 1986-01-01 skipped 00:00-00:15.
TEST(CronDst, KathmanduQuarterHourOffset) {
  EXPECT_EQ(fires("0 9 * * *", "Asia/Kathmandu", "2026-12-02T00:00:00Z", 2),
            (Fires{"2026-12-02T09:00:00+05:45", "2026-12-03T09:00:00+05:45"}));
  EXPECT_EQ(fires("5 0 1 1 *", "Asia/Kathmandu", "1985-12-31T12:00:00Z", 2),
            (Fires{"1986-01-01T00:15:00+05:45", "1987-01-01T00:05:00+05:45"}));
  EXPECT_EQ(fires("*/10 0 * * *", "Asia/Kathmandu", "1985-12-31T18:00:00Z", 2),
            (Fires{"1986-01-01T00:20:00+05:45", "1986-01-01T00:30:00+05:45"}));
}

// --- properties over random specs ---

struct Sets {
  std::vector<bool> values[6];  // second, minute, hour, day-of-month, month, day-of-week
  bool star[6] = {};
};

constexpr int kLow[6] = {0, 0, 0, 1, 1, 0};
constexpr int kHigh[6] = {59, 59, 23, 31, 12, 7};

// A random field's text and the values it allows, built independently of the parser.
std::string random_field(std::mt19937& rng, int f, Sets& sets) {
  auto pick = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
  sets.values[f].assign(8 + 60, false);
  const auto allow = [&](int from, int to, int step) {
    for (int v = from; v <= to; v += step)
      sets.values[f][f == 5 && v == 7 ? 0 : v] = true;
  };
  const int kind = pick(0, 9);
  if (kind < 3) {
    sets.star[f] = true;
    allow(kLow[f], kHigh[f], 1);
    return "*";
  }
  if (kind < 5) {
    sets.star[f] = true;
    const int step = pick(1, (kHigh[f] - kLow[f]) / 2 + 1);
    allow(kLow[f], kHigh[f], step);
    return "*/" + std::to_string(step);
  }
  std::string text;
  for (int items = pick(1, 3); items > 0; --items) {
    if (!text.empty()) text += ',';
    const int a = pick(kLow[f], kHigh[f]);
    switch (pick(0, 2)) {
      case 0:
        allow(a, a, 1);
        text += std::to_string(a);
        break;
      case 1: {
        const int b = pick(a, kHigh[f]);
        allow(a, b, 1);
        text += std::to_string(a) + "-" + std::to_string(b);
        break;
      }
      default: {
        const int b = pick(a, kHigh[f]);
        const int step = pick(1, 10);
        allow(a, b, step);
        text += std::to_string(a) + "-" + std::to_string(b) + "/" + std::to_string(step);
      }
    }
  }
  return text;
}

bool wall_matches(const Sets& s, date::local_seconds at) {
  const auto day = std::chrono::floor<date::days>(at);
  const date::hh_mm_ss<seconds> t{at - day};
  const date::year_month_day ymd{day};
  const unsigned dom = static_cast<unsigned>(ymd.day());
  const unsigned dow = date::weekday{day}.c_encoding();
  const bool by_date = s.values[3][dom];
  const bool by_weekday = s.values[5][dow];
  const bool day_ok = s.star[3] || s.star[5] ? by_date && by_weekday : by_date || by_weekday;
  return s.values[0][t.seconds().count()] && s.values[1][t.minutes().count()] &&
         s.values[2][t.hours().count()] && s.values[4][static_cast<unsigned>(ymd.month())] &&
         day_ok;
}

// Whether the rule makes instant `at` a fire time (step: the spec's resolution).
bool fires_at(const Sets& s, bool fixed, const date::time_zone& zone, date::sys_seconds at,
              seconds step) {
  const date::sys_info info = zone.get_info(at);
  const date::local_seconds wall{(at + info.offset).time_since_epoch()};
  if (wall_matches(s, wall)) {
    if (!fixed) return true;
    const date::local_info li = zone.get_info(wall);
    return li.result != date::local_info::ambiguous ||
           at == date::sys_seconds{wall.time_since_epoch() - li.first.offset};
  }
  if (!fixed || at != info.begin) return false;
  const date::sys_info before = zone.get_info(at - seconds{1});
  // The wall-clock times a spring-forward change at `at` skipped fire here.
  for (auto t = date::local_seconds{(at + before.offset).time_since_epoch()}; t < wall; t += step)
    if (wall_matches(s, t)) return true;
  return false;
}

TEST(CronProperties, NextIsAFireTimeAndNothingFiresBetween) {
  std::mt19937 rng(20261202);
  const char* zones[] = {"UTC", "America/New_York", "Europe/London", "Australia/Lord_Howe",
                         "Asia/Kathmandu"};
  // Starts near 2026's changes in those zones, or anywhere in 2020-2030.
  const char* near[] = {"2026-03-08T06:00:00Z", "2026-11-01T05:00:00Z", "2026-03-29T00:30:00Z",
                        "2026-10-25T00:30:00Z", "2026-04-04T14:30:00Z", "2026-10-03T15:00:00Z"};
  int checked = 0;
  const int specs = errand_test::repetitions(240);
  for (int i = 0; i < specs; ++i) {
    const bool six = i % 4 == 3;
    Sets sets;
    std::string spec;
    if (six) {
      spec = random_field(rng, 0, sets);
    } else {
      sets.values[0].assign(68, false);
      sets.values[0][0] = true;
    }
    for (int f = 1; f < 6; ++f) {
      const std::string field = random_field(rng, f, sets);
      spec += (spec.empty() ? "" : " ") + field;
    }
    const char* zone_name = zones[i % 5];
    std::optional<CronSpec> cron;
    try {
      cron = CronSpec::parse(spec, zone_name);
    } catch (const errand::CronError& e) {
      // Only a spec with no possible date may be refused.
      EXPECT_NE(std::string(e.what()).find("never fires"), std::string::npos) << e.what();
      continue;
    }
    ASSERT_EQ(cron->fixed_time(), !sets.star[0] && !sets.star[1] && !sets.star[2]) << spec;
    const date::time_zone& zone = *date::locate_zone(zone_name);
    TimePoint from =
        std::uniform_int_distribution<int>(0, 1)(rng) == 0
            ? parse_time_in_zone(near[i % 6], "UTC")
            : parse_time_in_zone("2020-01-01T00:00:00Z", "UTC") +
                  seconds{std::uniform_int_distribution<std::int64_t>(0, 10LL * 365 * 86400)(rng)};
    from += std::chrono::microseconds{std::uniform_int_distribution<int>(0, 999'999)(rng)};
    const std::optional<TimePoint> next = cron->next_after(from);
    ASSERT_TRUE(next) << spec;
    ASSERT_GT(*next, from) << spec;
    const auto next_s = std::chrono::floor<seconds>(*next);
    ASSERT_EQ(next_s, *next) << "whole seconds: " << spec;
    EXPECT_TRUE(fires_at(sets, cron->fixed_time(), zone, next_s, six ? seconds{1} : seconds{60}))
        << spec << " in " << zone_name << ": " << cron->format_local(*next);
    // Nothing fires strictly between `from` and next (within a bounded scan).
    const seconds step = six ? seconds{1} : seconds{60};
    const seconds span = six ? seconds{86400} : seconds{20 * 86400};
    auto t = std::chrono::floor<seconds>(from) + seconds{1};
    if (!six) t = std::chrono::ceil<std::chrono::minutes>(t);
    for (; t < next_s && t < std::chrono::floor<seconds>(from) + span; t += step) {
      ASSERT_FALSE(fires_at(sets, cron->fixed_time(), zone, t, step))
          << spec << " in " << zone_name << ": fires at " << cron->format_local(t)
          << " before next " << cron->format_local(*next);
    }
    ++checked;
  }
  EXPECT_GT(checked, specs * 5 / 6);  // few random specs never fire
}

}  // namespace
