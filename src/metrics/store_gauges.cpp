// errand::read_store_gauges: the store's side of the metrics, read when scraped.
#include <errand/metrics.hpp>
#include <errand/store.hpp>

namespace errand {

StoreGauges read_store_gauges(Store& store, Duration lost_after, std::int64_t count_limit) {
  StoreGauges gauges;
  gauges.queues = store.list_queues(count_limit);
  gauges.count_limit = count_limit;
  for (const WorkerInfo& worker : store.list_workers()) {
    if (worker.silent_for > lost_after) {
      ++gauges.workers_lost;
    } else {
      ++gauges.workers_alive;
    }
  }
  return gauges;
}

}  // namespace errand
