// Which jobs a claim takes, given what the store read of each queue inside the claim's
// transaction (docs/architecture.md, "Queues and limits"). Shared by the stores: they read a
// QueueSnapshot per queue (its settings, locked; its leases; its candidates), plan_claim decides,
// and they lock the chosen jobs and write back the queues' rate logs and key cursors in the same
// transaction. Exact because every claim from a limited queue holds that queue's lock (SQLite:
// the write lock; PostgreSQL: its row of the queues table) from before it counts the leases until
// it commits, and every lease of the queue is a locked row of the jobs table until settled.
#pragma once

#include <errand/error.hpp>
#include <errand/store.hpp>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace errand::detail {

// Recent claims of a rate-limited queue, oldest first: `count` claims at `at` (microseconds).
struct RateEntry {
  std::int64_t at = 0;
  std::int64_t count = 0;
};
// The stored form: "at:count at:count ...". Malformed entries are dropped (the log only limits).
std::vector<RateEntry> parse_rate_log(std::string_view text);
std::string format_rate_log(const std::vector<RateEntry>& log);

// A queue as the claim's transaction reads it. `running`: the queue's leases (locked rows);
// `running_by_key` only with a per-key limit. `candidates`: ready jobs, in claim order; with a
// per-key limit, grouped by key in turn order (the keys after `key_cursor`, then from the first),
// each key's in claim order.
struct QueueSnapshot {
  std::string name{};
  bool paused = false;
  QueueLimits limits{};
  std::string rate_log{};
  std::optional<std::string> key_cursor{};
  std::int64_t running = 0;
  std::map<std::string, std::int64_t, std::less<>> running_by_key{};
  std::vector<ClaimedJob> candidates{};
};

// The error for update_queue on a queue `name` with no row in store `store` (describe()),
// naming the `known` ones.
ConfigError unknown_queue_error(std::string_view name, std::string_view store,
                                const std::vector<std::string>& known);

// How many jobs `queue` may give now to a demand of `max` free slots and `prefetch` more (none
// from a queue with a rate; from one with a global limit, only while more than half of the limit
// stays free after the free slots' jobs), by its pause, global limit and rate;
// the per-key limit is applied by plan_claim. `now`: the store's.
std::size_t allowance(const QueueSnapshot& queue, std::size_t max, std::size_t prefetch,
                      TimePoint now);

struct ClaimPlan {
  struct Pick {
    std::size_t queue = 0;      // index into the snapshots
    std::size_t candidate = 0;  // index into its candidates
  };
  std::vector<Pick> picks{};  // in the order to run them
  // Queues whose stored rate log or key cursor changes.
  struct QueueWrite {
    std::size_t queue = 0;
    std::string rate_log{};
    std::optional<std::string> key_cursor{};
  };
  std::vector<QueueWrite> writes{};
  std::optional<TimePoint> rate_opens_at{};
  TimePoint claimed_at{};  // `now`, or later: never before the queue's last logged claim
};

// The demand of each snapshot: its QueueDemand, or for a claim from every queue the shared max.
struct QueueWant {
  std::size_t max = 0;
  std::size_t prefetch = 0;
};
QueueWant want_of(const ClaimRequest& request, std::string_view queue);

// The store's reads inside the claim's transaction, after it locked the queues.
class QueueReader {
 public:
  virtual ~QueueReader() = default;
  // Sets queue.running (and running_by_key with a per-key limit) from the queue's leases.
  virtual void read_leases(QueueSnapshot& queue) = 0;
  // Appends to queue.candidates up to `limit` jobs of the queue (of partition `key` when given)
  // due at `now`, in claim order.
  virtual void read_ready(QueueSnapshot& queue, std::size_t limit, const std::string* key,
                          TimePoint now) = 0;
  // The first partition key of the queue after `after` (the first of all without) that has a job
  // due at `now`.
  virtual std::optional<std::string> next_key(const QueueSnapshot& queue,
                                              const std::optional<std::string>& after,
                                              TimePoint now) = 0;
};

// Reads what plan_claim needs of each queue (not paused, asked for): its leases when limited,
// then its candidates within its allowance; with a per-key limit, the keys in turn from the
// cursor, each with room for more, up to the allowance in all.
void read_snapshots(QueueReader& reader, std::vector<QueueSnapshot>& queues,
                    const ClaimRequest& request, TimePoint now);

// Puts every-queue snapshots (sorted by name) in turn order: from the one after `after_queue`.
void rotate_after(std::vector<QueueSnapshot>& queues, const std::string& after_queue);

// --- administration (Store::update_queue, list_queues) ---

// `queue` with `update` applied (QueueUpdate: clear first, then set what is given).
void apply_update(QueueSnapshot& queue, const QueueUpdate& update);
// A QueueInfo with `queue`'s settings and its rate tokens at `now`; counts are zero.
QueueInfo queue_info(const QueueSnapshot& queue, TimePoint updated_at, TimePoint now);

// Decides the claim. With a request from every queue, the queues share request.max (+ prefetch)
// and take turns in the order of `queues` (the store passes them from the one after
// request.after_queue): the first pick of each, then the second of each, and so on. Pure: the
// store applies the plan.
ClaimPlan plan_claim(const std::vector<QueueSnapshot>& queues, const ClaimRequest& request,
                     TimePoint now);

}  // namespace errand::detail
