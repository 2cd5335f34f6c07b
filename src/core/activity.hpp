// Minutes of activity (errand::ActivityMinute): what a worker counts between heartbeats, and the
// checks every store makes before writing them and metric totals (errand::MetricTotal).
#pragma once

#include <errand/clock.hpp>
#include <errand/store.hpp>

#include <cstdint>
#include <map>
#include <span>
#include <string>
#include <string_view>
#include <tuple>
#include <utility>
#include <vector>

namespace errand::detail {

// `minutes` checked (ConfigError, naming the row, for a minute that is not whole, an empty
// queue, a negative count or wait, or a maximum wait above a non-zero sum) with the rows of the
// same minute and queue merged, ordered by minute, then queue: the order every store locks them
// in, so that two workers' writes never deadlock.
std::vector<ActivityMinute> merged_activity(std::span<const ActivityMinute> minutes);

// `totals` checked (ConfigError, naming the row, for an empty name or a value below zero) with
// the rows of the same series merged, ordered by name, queue, job type, schedule: the order every
// store locks them in.
std::vector<MetricTotal> merged_metric_totals(std::span<const MetricTotal> totals);

// The start of the minute holding `at`.
TimePoint minute_of(TimePoint at);

// Adds the counts of `m` to `into` (the same minute and queue): sums, and the longest wait.
void add_activity(ActivityMinute& into, const ActivityMinute& m);

// Orders (minute, queue) keys, comparing a key with a std::string_view queue without a copy.
struct MinuteQueueLess {
  using is_transparent = void;
  template <class A, class B>
  bool operator()(const A& a, const B& b) const {
    return std::pair<TimePoint, std::string_view>(a.first, a.second) <
           std::pair<TimePoint, std::string_view>(b.first, b.second);
  }
};
using ActivityRows = std::map<std::pair<TimePoint, std::string>, ActivityMinute, MinuteQueueLess>;

// A worker's counts since its last heartbeat, by minute and queue. Used by one thread only (the
// worker's I/O thread, which both settles runs and beats).
class ActivityTally {
 public:
  void completed(TimePoint at, std::string_view queue) { row(at, queue).completed += 1; }
  void failed(TimePoint at, std::string_view queue) { row(at, queue).failed += 1; }
  void started(TimePoint at, std::string_view queue, Duration waited);
  bool empty() const { return rows_.empty(); }
  // The counts so far, emptying the tally.
  std::vector<ActivityMinute> take();
  // Puts counts that could not be written back, to be written with the next heartbeat.
  void restore(std::vector<ActivityMinute> minutes);

 private:
  ActivityMinute& row(TimePoint at, std::string_view queue);
  ActivityRows rows_;
};

}  // namespace errand::detail
