// `errand cron next SPEC`: the next fire times of a cron spec (errand/cron.hpp), to check the
// parser and a schedule's time zone against another implementation.
#include "command_support.hpp"
#include "format.hpp"
#include "numbers.hpp"

#include <errand/cron.hpp>

#include <fmt/format.h>

#include <memory>
#include <string>

namespace errand::cli {

namespace {

inline constexpr Bounds kFireCount{1, 10'000, "", ""};

struct NextOptions {
  std::string spec;
  std::string zone = "UTC";
  std::string from;
  std::int64_t count = 5;
  bool json = false;
};

int next(const NextOptions& opts) {
  const CronSpec spec = CronSpec::parse(opts.spec, opts.zone);
  TimePoint at = opts.from.empty()
                     ? std::chrono::time_point_cast<Duration>(std::chrono::system_clock::now())
                     : parse_time_in_zone(opts.from, opts.zone);
  nlohmann::json fires = nlohmann::json::array();
  for (std::int64_t i = 0; i < opts.count; ++i) {
    const std::optional<TimePoint> fire = spec.next_after(at);
    if (!fire) break;
    at = *fire;
    if (opts.json) {
      fires.push_back(
          {{"at", spec.format_local(at)},
           {"utc", iso_utc(at, false)},
           {"unix", std::chrono::floor<std::chrono::seconds>(at).time_since_epoch().count()}});
    } else {
      fmt::print("{}\n", spec.format_local(at));
    }
  }
  if (opts.json) {
    print_json_line({{"spec", spec.spec()},
                     {"zone", spec.zone()},
                     {"fixed_time", spec.fixed_time()},
                     {"next", fires}});
  }
  return 0;
}

}  // namespace

void add_cron(CLI::App& app, std::vector<Command>& commands) {
  auto* cmd = app.add_subcommand("cron", "Cron specs: check one's next fire times");
  cmd->require_subcommand(1);

  auto opts = std::make_shared<NextOptions>();
  auto* next_cmd = cmd->add_subcommand(
      "next",
      "Print a cron spec's next fire times as ISO 8601 with the zone's offset (5 or 6 fields, "
      "@daily ..., @every 30s)");
  next_cmd->add_option("SPEC", opts->spec, "the spec, quoted: '0 9 * * MON-FRI'")->required();
  next_cmd->add_option("--tz", opts->zone, "IANA time zone of the spec's wall-clock times")
      ->capture_default_str();
  next_cmd->add_option("--from", opts->from,
                       "start after this time: 2026-03-08T01:30:00Z, ...+05:45, or a wall-clock "
                       "2026-03-08T01:30 in --tz (default: now)");
  add_number(*next_cmd, "--count", opts->count, kFireCount, "how many fire times");
  next_cmd->add_flag("--json", opts->json, "print one JSON object");
  commands.push_back({next_cmd, [opts] { return next(*opts); }});
}

}  // namespace errand::cli
