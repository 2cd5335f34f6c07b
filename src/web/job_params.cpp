#include "web/job_params.hpp"

#include "web/api.hpp"

#include <errand/cron.hpp>
#include <errand/lifecycle.hpp>

#include <fmt/format.h>

#include <chrono>
#include <limits>
#include <optional>

namespace errand::web {

namespace {

// Payload conditions are the parameters named payload.FIELD (errand/job_search.hpp).
constexpr std::string_view kPayloadPrefix = "payload.";

JobOrder parse_order(std::string_view text) {
  if (text == "natural") return JobOrder::natural;
  if (text == "newest") return JobOrder::newest;
  if (text == "oldest") return JobOrder::oldest;
  throw HttpError(400, fmt::format("unknown sort {} (natural, newest, oldest)", quote(text)));
}

class Reader {
 public:
  explicit Reader(const Params& params) : params_(params) {}

  std::optional<std::string> text(std::string_view name) const { return non_empty(params_, name); }
  // A time (ISO 8601 with Z or an offset, or a date: UTC), if given.
  std::optional<TimePoint> time(std::string_view name) const {
    const auto value = text(name);
    if (!value) return std::nullopt;
    try {
      return parse_time_in_zone(*value, "UTC");
    } catch (const CronError& e) {
      throw HttpError(400, fmt::format("{}: {}", name, e.what()));
    }
  }
  std::optional<std::int32_t> priority(std::string_view name) const {
    constexpr std::int64_t kLimit = std::numeric_limits<std::int32_t>::max();
    const auto value = text(name);
    if (!value) return std::nullopt;
    return static_cast<std::int32_t>(parse_int(*value, -kLimit, kLimit, name));
  }

 private:
  const Params& params_;
};

}  // namespace

JobSearch parse_job_search(const Params& params, JobParamsUse use, std::size_t default_limit) {
  const bool listing = use == JobParamsUse::listing;
  for (const auto& entry : params) {
    if (listing) {
      refuse_unknown(entry.first,
                     {"state", "type", "queue", "failing", "priority_min", "priority_max",
                      "created_from", "created_before", "sort", "after", "limit"},
                     "parameter", "this call", kPayloadPrefix);
    } else {
      refuse_unknown(entry.first,
                     {"state", "type", "queue", "failing", "priority_min", "priority_max",
                      "created_from", "created_before"},
                     "filter field", "a bulk action", kPayloadPrefix);
    }
  }
  const Reader read(params);
  JobSearch search;
  JobFilter& filter = search.filter;
  if (const auto state = read.text("state")) {
    filter.state = parse_job_state(*state);
    if (!filter.state) {
      throw HttpError(400, fmt::format("unknown state {} (ready, scheduled, running, "
                                       "abandoned, completed, cancelled, discarded)",
                                       quote(*state)));
    }
  }
  filter.name = read.text("type");
  filter.queue = read.text("queue");
  if (const auto failing = read.text("failing")) {
    if (*failing != "true" && *failing != "false")
      throw HttpError(400, "failing must be true or false");
    filter.failing_only = *failing == "true";
  }
  filter.min_priority = read.priority("priority_min");
  filter.max_priority = read.priority("priority_max");
  filter.created_from = read.time("created_from");
  filter.created_before = read.time("created_before");
  filter.lock_timeout = kLockTimeout;
  filter.limit = default_limit;
  if (listing) {
    if (const auto sort = read.text("sort")) filter.order = parse_order(*sort);
    if (const auto after = read.text("after")) filter.after = parse_cursor(*after);
    if (const auto limit = read.text("limit"))
      filter.limit = static_cast<std::size_t>(parse_int(*limit, 1, kMaxPageSize, "limit"));
  } else {
    filter.order = JobOrder::oldest;  // ids never change, whatever the action does to a job
  }
  for (const auto& [key, value] : params) {
    if (key.starts_with(kPayloadPrefix))
      search.payload.push_back({key.substr(kPayloadPrefix.size()), value});
  }
  // A payload search reads up to scan_limit rows in the page's order: in id order that is one
  // keyset walk of the primary key, in the natural order a walk of each queue's part of the
  // runnable index, merged (two to three times slower). So without a sort given it lists newest
  // first.
  if (listing && !search.payload.empty() && !read.text("sort")) filter.order = JobOrder::newest;
  return search;
}

std::string cursor_text(const JobCursor& cursor) {
  return fmt::format("{}.{}.{}", cursor.id, cursor.priority, cursor.at.time_since_epoch().count());
}

JobCursor parse_cursor(std::string_view text) {
  const auto bad = [&] {
    return HttpError(400,
                     fmt::format("after {} is not a cursor this API returned (next)", quote(text)));
  };
  const auto first = text.find('.');
  const auto second = first == std::string_view::npos ? first : text.find('.', first + 1);
  if (second == std::string_view::npos) throw bad();
  constexpr std::int64_t kMax = std::numeric_limits<std::int64_t>::max();
  try {
    JobCursor cursor;
    cursor.id = parse_int(text.substr(0, first), 1, kMax, "after");
    cursor.priority = static_cast<std::int32_t>(parse_int(
        text.substr(first + 1, second - first - 1), std::numeric_limits<std::int32_t>::min(),
        std::numeric_limits<std::int32_t>::max(), "after"));
    cursor.at = TimePoint{Duration{parse_int(text.substr(second + 1), -kMax, kMax, "after")}};
    return cursor;
  } catch (const HttpError&) {
    throw bad();
  }
}

}  // namespace errand::web
