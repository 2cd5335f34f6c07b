#include "core/activity.hpp"

#include <errand/error.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <limits>

namespace errand::detail {

TimePoint minute_of(TimePoint at) {
  return std::chrono::floor<std::chrono::minutes>(at);
}

namespace {

// The rows of `rows` in key order (minute, then queue), leaving it empty.
std::vector<ActivityMinute> take_rows(ActivityRows& rows) {
  std::vector<ActivityMinute> out;
  out.reserve(rows.size());
  for (auto& [key, m] : rows)
    out.push_back(std::move(m));
  rows.clear();
  return out;
}

}  // namespace

void add_activity(ActivityMinute& into, const ActivityMinute& m) {
  into.completed += m.completed;
  into.failed += m.failed;
  into.started += m.started;
  into.latency_sum += m.latency_sum;
  into.latency_max = std::max(into.latency_max, m.latency_max);
}

std::vector<ActivityMinute> merged_activity(std::span<const ActivityMinute> minutes) {
  ActivityRows merged;
  for (std::size_t i = 0; i < minutes.size(); ++i) {
    const ActivityMinute& m = minutes[i];
    const auto refuse = [&](std::string_view what) {
      throw ConfigError(fmt::format("errand: activity row {} (queue '{}'): {}", i, m.queue, what));
    };
    if (minute_of(m.minute) != m.minute) refuse("its minute is not the start of a minute");
    if (m.queue.empty()) refuse("its queue is empty");
    if (m.completed < 0 || m.failed < 0 || m.started < 0) refuse("a count is below zero");
    if (m.latency_sum < Duration{0} || m.latency_max < Duration{0}) refuse("a wait is below zero");
    if (m.started == 0 && (m.latency_sum != Duration{0} || m.latency_max != Duration{0}))
      refuse("it has waits but no run started");
    if (m.latency_max > m.latency_sum) refuse("its longest wait exceeds the sum of its waits");
    auto [it, added] = merged.try_emplace(ActivityRows::key_type{m.minute, m.queue}, m);
    if (!added) add_activity(it->second, m);
  }
  return take_rows(merged);
}

std::vector<MetricTotal> merged_metric_totals(std::span<const MetricTotal> totals) {
  using Key = std::tuple<std::string_view, std::string_view, std::string_view, std::string_view>;
  std::map<Key, MetricTotal> merged;
  for (std::size_t i = 0; i < totals.size(); ++i) {
    const MetricTotal& t = totals[i];
    const auto refuse = [&](std::string_view what) {
      throw ConfigError(fmt::format("errand: metric total row {} ('{}'): {}", i, t.name, what));
    };
    if (t.name.empty()) refuse("its name is empty");
    if (t.value < 0) refuse("its value is below zero");
    auto [it, added] = merged.try_emplace(Key{t.name, t.queue, t.job_type, t.schedule}, t);
    if (added) continue;
    if (it->second.value > std::numeric_limits<std::int64_t>::max() - t.value)
      refuse("the values of its series add up past the largest 64-bit integer");
    it->second.value += t.value;
  }
  std::vector<MetricTotal> out;
  out.reserve(merged.size());
  for (auto& [key, t] : merged)
    out.push_back(t);  // a copy: the key views the row's strings
  return out;
}

void ActivityTally::started(TimePoint at, std::string_view queue, Duration waited) {
  ActivityMinute& m = row(at, queue);
  waited = std::max(waited, Duration{0});
  m.started += 1;
  m.latency_sum += waited;
  m.latency_max = std::max(m.latency_max, waited);
}

ActivityMinute& ActivityTally::row(TimePoint at, std::string_view queue) {
  const TimePoint minute = minute_of(at);
  auto it = rows_.find(std::pair<TimePoint, std::string_view>{minute, queue});
  if (it != rows_.end()) return it->second;
  ActivityMinute m{.minute = minute, .queue = std::string(queue)};
  return rows_.emplace(std::pair{minute, m.queue}, std::move(m)).first->second;
}

std::vector<ActivityMinute> ActivityTally::take() {
  return take_rows(rows_);
}

void ActivityTally::restore(std::vector<ActivityMinute> minutes) {
  for (const ActivityMinute& m : minutes)
    add_activity(row(m.minute, m.queue), m);
}

}  // namespace errand::detail
