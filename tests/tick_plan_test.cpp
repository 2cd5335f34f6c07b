// Which ticks a schedule fires (core/tick_plan.hpp): on time, after an outage under each missed-
// tick policy, and after a long one with a dense spec.
#include "core/tick_plan.hpp"

#include <gtest/gtest.h>

namespace {

using errand::CronSpec;
using errand::MissedPolicy;
using errand::MissedTicks;
using errand::parse_time_in_zone;
using errand::TimePoint;
using errand::detail::plan_ticks;
using namespace std::chrono_literals;

TimePoint at(std::string_view text) {
  return parse_time_in_zone(text, "UTC");
}

// "tick:catch_up(missed)" for each job to fire.
std::vector<std::string> shown(const CronSpec& spec, const errand::detail::TickPlan& plan) {
  std::vector<std::string> out;
  for (const auto& f : plan.fire)
    out.push_back(spec.format_local(f.tick) + (f.catch_up ? " catch-up" : "") +
                  (f.missed > 0 ? " x" + std::to_string(f.missed) : ""));
  return out;
}
using Shown = std::vector<std::string>;

TEST(TickPlan, ADueTickFiresOnTimeWithinTheGrace) {
  const CronSpec daily = CronSpec::parse("0 9 * * *");
  for (const char* now : {"2026-12-03T09:00:00Z", "2026-12-03T09:00:59Z"}) {
    const auto plan = plan_ticks(daily, at("2026-12-02T09:00:00Z"), at(now), {});
    EXPECT_EQ(shown(daily, plan), (Shown{"2026-12-03T09:00:00Z"})) << now;
    EXPECT_EQ(plan.handled, at("2026-12-03T09:00:00Z"));
    EXPECT_EQ(plan.skipped, 0u);
  }
  // Nothing due yet.
  const auto early = plan_ticks(daily, at("2026-12-02T09:00:00Z"), at("2026-12-03T08:59:59Z"), {});
  EXPECT_TRUE(early.fire.empty());
  EXPECT_FALSE(early.handled);
}

TEST(TickPlan, SkipFiresNoMissedTick) {
  const CronSpec daily = CronSpec::parse("0 9 * * *");
  // Three hours late: missed, skipped.
  auto plan = plan_ticks(daily, at("2026-12-02T09:00:00Z"), at("2026-12-03T12:00:00Z"), {});
  EXPECT_TRUE(plan.fire.empty());
  EXPECT_EQ(plan.skipped, 1u);
  EXPECT_EQ(plan.handled, at("2026-12-03T09:00:00Z"));
  // Down three days, back just after a tick: that one fires, the two before do not.
  plan = plan_ticks(daily, at("2026-12-02T09:00:00Z"), at("2026-12-05T09:00:10Z"), {});
  EXPECT_EQ(shown(daily, plan), (Shown{"2026-12-05T09:00:00Z"}));
  EXPECT_EQ(plan.skipped, 2u);
}

TEST(TickPlan, OnceFiresOneCatchUpForEverythingMissed) {
  const CronSpec daily = CronSpec::parse("0 9 * * *");
  const MissedTicks once{.policy = MissedPolicy::once};
  auto plan = plan_ticks(daily, at("2026-12-02T09:00:00Z"), at("2026-12-05T12:00:00Z"), once);
  EXPECT_EQ(shown(daily, plan), (Shown{"2026-12-05T09:00:00Z catch-up x3"}));
  plan = plan_ticks(daily, at("2026-12-02T09:00:00Z"), at("2026-12-05T09:00:10Z"), once);
  EXPECT_EQ(shown(daily, plan), (Shown{"2026-12-05T09:00:00Z catch-up x2"}));
  EXPECT_EQ(plan.skipped, 0u);
  // Nothing missed: the on-time tick alone.
  plan = plan_ticks(daily, at("2026-12-04T09:00:00Z"), at("2026-12-05T09:00:10Z"), once);
  EXPECT_EQ(shown(daily, plan), (Shown{"2026-12-05T09:00:00Z"}));
}

TEST(TickPlan, AllFiresEachMissedTickWithinTheWindowUpToTheCap) {
  const CronSpec hourly = CronSpec::parse("@hourly");
  MissedTicks all{.policy = MissedPolicy::all};
  auto plan = plan_ticks(hourly, at("2026-12-03T05:00:00Z"), at("2026-12-03T10:00:05Z"), all);
  EXPECT_EQ(shown(hourly, plan),
            (Shown{"2026-12-03T06:00:00Z catch-up", "2026-12-03T07:00:00Z catch-up",
                   "2026-12-03T08:00:00Z catch-up", "2026-12-03T09:00:00Z catch-up",
                   "2026-12-03T10:00:00Z"}));
  // Two days down, a window of 6 hours and a cap of 3: the latest 3 missed ticks.
  all.window = 6h;
  all.cap = 3;
  plan = plan_ticks(hourly, at("2026-12-01T10:00:00Z"), at("2026-12-03T10:30:00Z"), all);
  EXPECT_EQ(shown(hourly, plan),
            (Shown{"2026-12-03T08:00:00Z catch-up", "2026-12-03T09:00:00Z catch-up",
                   "2026-12-03T10:00:00Z catch-up"}));
  EXPECT_EQ(plan.skipped, 48u - 3u);
}

TEST(TickPlan, ADenseSpecAfterALongOutageIsCountedNotListed) {
  const CronSpec every_second = CronSpec::parse("@every 1s");
  const auto plan =
      plan_ticks(every_second, at("2025-12-03T00:00:00Z"), at("2026-12-03T00:00:00Z"), {});
  EXPECT_EQ(shown(every_second, plan), (Shown{"2026-12-03T00:00:00Z"}));
  EXPECT_EQ(plan.skipped, 100'000u);  // counted up to 100,000
}

TEST(TickPlan, AGapTickFiresAfterTheChangeOnTime) {
  const CronSpec spec = CronSpec::parse("30 2 * * *", "America/New_York");
  const auto plan = plan_ticks(spec, parse_time_in_zone("2026-03-07T02:30", "America/New_York"),
                               parse_time_in_zone("2026-03-08T03:00:05", "America/New_York"), {});
  EXPECT_EQ(shown(spec, plan), (Shown{"2026-03-08T03:00:00-04:00"}));
}

}  // namespace
