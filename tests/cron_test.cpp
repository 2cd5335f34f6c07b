// Cron specs (errand/cron.hpp): published examples, Vixie's day rule, macros, @every, bad specs.
#include <errand/cron.hpp>

#include <gtest/gtest.h>

#include "support/cron_fires.hpp"

#include <string>
#include <vector>

namespace {

using errand::CronError;
using errand::CronSpec;
using errand::parse_time_in_zone;
using errand::TimePoint;

using errand_test::Fires;

// In UTC unless a zone is given.
Fires fires(std::string_view spec, std::string_view from, int count,
            std::string_view zone = "UTC") {
  return errand_test::fires(spec, zone, from, count);
}

// crontab(5)'s examples (Debian's cron 3.0pl1 manual page).
TEST(CronExamples, CrontabManualPage) {
  // "run five minutes after midnight, every day"
  EXPECT_EQ(fires("5 0 * * *", "2026-12-02T12:00:00Z", 2),
            (Fires{"2026-12-03T00:05:00Z", "2026-12-04T00:05:00Z"}));
  // "run at 2:15pm on the first of every month"
  EXPECT_EQ(fires("15 14 1 * *", "2026-12-02T00:00:00Z", 2),
            (Fires{"2027-01-01T14:15:00Z", "2027-02-01T14:15:00Z"}));
  // "run at 10 pm on weekdays" (2026-12-04 is a Friday)
  EXPECT_EQ(fires("0 22 * * 1-5", "2026-12-04T12:00:00Z", 2),
            (Fires{"2026-12-04T22:00:00Z", "2026-12-07T22:00:00Z"}));
  // "23 minutes after midn, 2am, 4am ..., everyday"
  EXPECT_EQ(fires("23 0-23/2 * * *", "2026-12-02T00:30:00Z", 3),
            (Fires{"2026-12-02T02:23:00Z", "2026-12-02T04:23:00Z", "2026-12-02T06:23:00Z"}));
  // "run at 5 after 4 every sunday" (2026-12-06 is a Sunday)
  EXPECT_EQ(fires("5 4 * * sun", "2026-12-02T00:00:00Z", 2),
            (Fires{"2026-12-06T04:05:00Z", "2026-12-13T04:05:00Z"}));
}

// "30 4 1,15 * 5 would cause a command to be run at 4:30 am on the 1st and 15th of each month,
// plus every Friday" (crontab(5)): neither day field starts with '*', so either may match.
TEST(CronExamples, EitherDayFieldMatchesWhenNeitherIsAStar) {
  EXPECT_EQ(fires("30 4 1,15 * 5", "2026-11-30T00:00:00Z", 5),
            (Fires{"2026-12-01T04:30:00Z", "2026-12-04T04:30:00Z", "2026-12-11T04:30:00Z",
                   "2026-12-15T04:30:00Z", "2026-12-18T04:30:00Z"}));
}

// With a day field starting with '*' (here */2: odd days), a day must match both fields.
TEST(CronExamples, BothDayFieldsMustMatchWhenOneStartsWithAStar) {
  // Mondays that are odd days of the month: 2026-12-07, 2026-12-21, 2027-01-11.
  EXPECT_EQ(fires("0 0 */2 * MON", "2026-12-01T00:00:00Z", 3),
            (Fires{"2026-12-07T00:00:00Z", "2026-12-21T00:00:00Z", "2027-01-11T00:00:00Z"}));
  // dow '*/2' (Sun, Tue, Thu, Sat) with the 1st: the 1st must fall on one of them.
  EXPECT_EQ(fires("0 0 1 * */2", "2026-12-02T00:00:00Z", 3),
            (Fires{"2027-04-01T00:00:00Z", "2027-05-01T00:00:00Z", "2027-06-01T00:00:00Z"}));
}

TEST(CronExamples, NamesRangesListsAndSteps) {
  EXPECT_EQ(fires("0 9 * JAN,jul MON-fri", "2026-12-31T00:00:00Z", 2),
            (Fires{"2027-01-01T09:00:00Z", "2027-01-04T09:00:00Z"}));
  EXPECT_EQ(fires("*/15 9-17 * * *", "2026-12-02T17:40:00Z", 2),
            (Fires{"2026-12-02T17:45:00Z", "2026-12-03T09:00:00Z"}));
  // a/n runs from a to the field's end; 7 is Sunday as 0 is.
  EXPECT_EQ(fires("50/5 * * * *", "2026-12-02T10:51:00Z", 3),
            (Fires{"2026-12-02T10:55:00Z", "2026-12-02T11:50:00Z", "2026-12-02T11:55:00Z"}));
  EXPECT_EQ(fires("0 0 * * 7", "2026-12-02T00:00:00Z", 1), (Fires{"2026-12-06T00:00:00Z"}));
  // Six fields: seconds first.
  EXPECT_EQ(fires("*/20 * * * * *", "2026-12-02T10:00:59Z", 3),
            (Fires{"2026-12-02T10:01:00Z", "2026-12-02T10:01:20Z", "2026-12-02T10:01:40Z"}));
  // 29 February: 2100 is no leap year.
  EXPECT_EQ(fires("0 0 29 2 *", "2097-01-01T00:00:00Z", 1), (Fires{"2104-02-29T00:00:00Z"}));
}

TEST(CronExamples, Macros) {
  EXPECT_EQ(fires("@yearly", "2026-12-02T00:00:00Z", 1), (Fires{"2027-01-01T00:00:00Z"}));
  EXPECT_EQ(fires("@annually", "2026-12-02T00:00:00Z", 1), (Fires{"2027-01-01T00:00:00Z"}));
  EXPECT_EQ(fires("@monthly", "2026-12-02T00:00:00Z", 1), (Fires{"2027-01-01T00:00:00Z"}));
  EXPECT_EQ(fires("@weekly", "2026-12-02T00:00:00Z", 1), (Fires{"2026-12-06T00:00:00Z"}));
  EXPECT_EQ(fires("@daily", "2026-12-02T00:00:00Z", 1), (Fires{"2026-12-03T00:00:00Z"}));
  EXPECT_EQ(fires("@midnight", "2026-12-02T00:00:00Z", 1), (Fires{"2026-12-03T00:00:00Z"}));
  EXPECT_EQ(fires("@hourly", "2026-12-02T00:00:00Z", 1), (Fires{"2026-12-02T01:00:00Z"}));
  EXPECT_TRUE(CronSpec::parse("@daily").fixed_time());
  EXPECT_FALSE(CronSpec::parse("@hourly").fixed_time());
}

TEST(CronExamples, EveryIsElapsedTimeSinceTheEpoch) {
  EXPECT_EQ(fires("@every 90s", "2026-01-01T00:00:00Z", 3),
            (Fires{"2026-01-01T00:01:30Z", "2026-01-01T00:03:00Z", "2026-01-01T00:04:30Z"}));
  EXPECT_EQ(fires("@every 1h30m", "2026-01-01T00:00:00Z", 2),
            (Fires{"2026-01-01T01:30:00Z", "2026-01-01T03:00:00Z"}));
  // Across New York's spring-forward change: still 30 minutes apart.
  EXPECT_EQ(fires("@every 30m", "2026-03-08T01:15", 3, "America/New_York"),
            (Fires{"2026-03-08T01:30:00-05:00", "2026-03-08T03:00:00-04:00",
                   "2026-03-08T03:30:00-04:00"}));
  const CronSpec every = CronSpec::parse("@every 5m");
  EXPECT_EQ(every.every(), std::chrono::minutes{5});
  EXPECT_FALSE(every.fixed_time());
  // Strictly after: a fire time itself gives the next one.
  const TimePoint tick = parse_time_in_zone("2026-01-01T00:05:00Z", "UTC");
  EXPECT_EQ(every.next_after(tick), tick + std::chrono::minutes{5});
  EXPECT_EQ(every.next_after(tick - std::chrono::microseconds{1}), tick);
}

// Every bad spec is refused with a message naming the field and what is wrong.
TEST(CronBadInput, SpecsAreRefusedWithTheFieldNamed) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"", "empty"},
      {"1 2 3", "3 fields"},
      {"* * * * * * *", "7 fields"},
      {"60 * * * *", "minute field \"60\": 60 is outside 0-59"},
      {"0 24 * * *", "hour field \"24\": 24 is outside 0-23"},
      {"0 0 0 * *", "day-of-month field \"0\": 0 is outside 1-31"},
      {"0 0 * 13 *", "month field \"13\": 13 is outside 1-12"},
      {"0 0 * * 8", "day-of-week field \"8\": 8 is outside 0-7"},
      {"61 * * * * *", "second field \"61\""},
      {"*/0 * * * *", "a step of 0"},
      {"5-3 * * * *", "runs backwards"},
      {"1,,2 * * * *", "an empty list item"},
      {"0 0 * FOO *", "\"FOO\" is not a month name"},
      {"0 0 * * FOO", "\"FOO\" is not a day-of-week name"},
      {"JAN * * * *", "\"JAN\" is not a number"},
      {"L * * * *", "\"L\" is not a number"},
      {"0 0 L * *", "\"L\" is not a number"},
      {"0 0 * * 5#3", "\"5#3\" is not a number"},
      {"0 0 ? * *", "\"?\" is not a number"},
      {"*/ * * * *", "a step after '/' is missing"},
      {"1-/2 * * * *", "a value is missing"},
      {"0 0 30 2 *", "never fires"},
      {"0 0 31 4,6,9,11 *", "never fires"},
      {"@reboot", "@reboot is not a time"},
      {"@fortnightly", "unknown macro"},
      {"@daily 5", "a macro stands alone"},
      {"@every 0s", "at least 1s"},
      {"@every", "one duration"},
      {"@every 5", "units s, m, h or d"},
      {"@every 5x", "unknown unit 'x'"},
      {"@every 999999999999d", "longer than 100 years"},
      {"0 0 * * *\n0 1 * * *", "a control character"},
      {std::string(2000, '1'), "longer than 1024 bytes"},
  };
  for (const auto& [spec, message] : cases) {
    try {
      CronSpec::parse(spec);
      ADD_FAILURE() << "accepted: " << spec;
    } catch (const CronError& e) {
      EXPECT_NE(std::string(e.what()).find(message), std::string::npos)
          << spec << " -> " << e.what();
    }
  }
}

TEST(CronBadInput, ZonesAndTimesAreRefusedClearly) {
  EXPECT_THROW(CronSpec::parse("0 0 * * *", "Mars/Olympus_Mons"), CronError);
  EXPECT_THROW(CronSpec::parse("0 0 * * *", ""), CronError);
  EXPECT_THROW(CronSpec::parse("0 0 * * *", std::string(300, 'x')), CronError);
  for (const char* bad :
       {"", "2026-13-01", "2026-02-30", "1969-12-31", "2026-01-01T25:00", "2026-01-01T10",
        "2026-01-01T10:00:00+5", "2026-01-01T10:00:00Zx", "tomorrow"})
    EXPECT_THROW(parse_time_in_zone(bad, "UTC"), CronError) << bad;
  // A wall-clock time a spring-forward change skips does not exist.
  EXPECT_THROW(parse_time_in_zone("2026-03-08T02:30", "America/New_York"), CronError);
  // A repeated one is its first pass.
  EXPECT_EQ(CronSpec::parse("* * * * *", "America/New_York")
                .format_local(parse_time_in_zone("2026-11-01T01:30", "America/New_York")),
            "2026-11-01T01:30:00-04:00");
}

TEST(CronExamples, FormatsWithTheZonesOffset) {
  const CronSpec kathmandu = CronSpec::parse("0 9 * * *", "Asia/Kathmandu");
  EXPECT_EQ(kathmandu.format_local(parse_time_in_zone("2026-12-02T00:00:00Z", "UTC")),
            "2026-12-02T05:45:00+05:45");
  const CronSpec london = CronSpec::parse("0 9 * * *", "Europe/London");
  EXPECT_EQ(london.format_local(parse_time_in_zone("2026-12-02T00:00:00Z", "UTC")),
            "2026-12-02T00:00:00+00:00");
  EXPECT_EQ(london.format_local(parse_time_in_zone("2026-07-02T00:00:00Z", "UTC")),
            "2026-07-02T01:00:00+01:00");
}

}  // namespace
