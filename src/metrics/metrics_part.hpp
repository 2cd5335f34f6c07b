// A registry shown inside another (errand::Metrics): a worker counts into its own registry, and
// the registry it was given includes it, so that the worker's growth can be published to the
// store's totals (metrics/cluster_totals.hpp) without a second atomic per count.
#pragma once

#include <errand/metrics.hpp>

namespace errand::detail {

// Includes `part`'s values in `whole`'s snapshots from construction on; at destruction adds them
// to `whole`'s own (under `whole`'s lock: no snapshot misses them or shows them twice). Both
// registries must outlive this object; `part` must not include `whole`.
class MetricsPart {
 public:
  MetricsPart(Metrics& whole, const Metrics& part);
  ~MetricsPart();
  MetricsPart(const MetricsPart&) = delete;
  MetricsPart& operator=(const MetricsPart&) = delete;

 private:
  Metrics& whole_;
  const Metrics& part_;
};

// Adds `from`'s values to `into`'s, series by series (queue and job type, schedule), keeping
// `into` sorted as a snapshot is.
void add_snapshot(MetricsSnapshot& into, const MetricsSnapshot& from);

}  // namespace errand::detail
