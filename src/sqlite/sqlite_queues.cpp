// The SQLite store's queues: claiming within their settings, and their administration
// (sqlite_store.hpp). A claim runs inside the write transaction, which keeps every other
// connection out from before it counts a queue's leases until it commits: limits are exact.
#include "sqlite/sqlite_store.hpp"

#include <errand/error.hpp>

#include "core/claim_plan.hpp"
#include "core/rows.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <bit>
#include <map>
#include <span>

namespace errand::sqlite {

using detail::micros_of;
using detail::time_from_micros;

namespace {

// The claim's reads, inside its write transaction.
class SqliteQueueReader final : public detail::QueueReader {
 public:
  SqliteQueueReader(Connection& connection, detail::StoredTable where)
      : connection_(connection), where_(std::move(where)) {}

  void read_leases(detail::QueueSnapshot& queue) override {
    auto leases = connection_.query(sql::kLeasesByKey);
    leases->bind(1, queue.name);
    while (leases->step()) {
      const std::int64_t n = detail::read_count(*leases, 1, where_, "a count of leases");
      queue.running += n;
      if (queue.limits.per_key) queue.running_by_key[leases->text(0)] += n;
    }
  }
  void read_ready(detail::QueueSnapshot& queue, std::size_t limit, const std::string* key,
                  TimePoint now) override {
    auto find = connection_.query(key ? sql::kClaimableOfKey : sql::kClaimable);
    find->bind(1, micros_of(now));
    find->bind(2, static_cast<std::int64_t>(limit));
    find->bind(3, queue.name);
    if (key) find->bind(4, *key);
    while (find->step())
      queue.candidates.push_back(detail::read_claimed_job(*find, where_, now));
  }
  std::optional<std::string> next_key(const detail::QueueSnapshot& queue,
                                      const std::optional<std::string>& after,
                                      TimePoint now) override {
    auto next = connection_.query(after ? sql::kNextKey : sql::kFirstKey);
    next->bind(1, queue.name);
    next->bind(2, micros_of(now));
    if (after) next->bind(3, *after);
    if (!next->step()) return std::nullopt;
    return next->text(0);
  }

 private:
  Connection& connection_;
  detail::StoredTable where_;
};

}  // namespace

std::vector<detail::QueueSnapshot> SqliteStore::claim_scope(const ClaimRequest& request) {
  std::vector<detail::QueueSnapshot> queues;
  const auto where = stored("errand_queues");
  if (request.queues.empty()) {
    auto rows = connection_.query(sql::kQueueRows);
    while (rows->step())
      queues.push_back(detail::read_queue_row(*rows, where));
    detail::rotate_after(queues, request.after_queue);
    return queues;
  }
  auto row = connection_.query(sql::kQueueRow);
  for (const QueueDemand& demand : request.queues) {
    row->bind(1, demand.queue);
    if (row->step()) queues.push_back(detail::read_queue_row(*row, where));
    row->reset();
  }
  return queues;
}

void SqliteStore::claim_within_queues(std::string_view worker_id, const ClaimRequest& request,
                                      TimePoint now, Exchange& exchange) {
  std::vector<detail::QueueSnapshot> queues = claim_scope(request);
  SqliteQueueReader reader(connection_, stored("errand_jobs"));
  detail::read_snapshots(reader, queues, request, now);
  const detail::ClaimPlan plan = detail::plan_claim(queues, request, now);
  exchange.claimed.reserve(exchange.claimed.size() + plan.picks.size());
  for (const detail::ClaimPlan::Pick& pick : plan.picks) {
    ClaimedJob& job = queues[pick.queue].candidates[pick.candidate];
    job.locked_at = plan.claimed_at;
    exchange.claimed.push_back(std::move(job));
  }
  lock_claimed(worker_id, plan.claimed_at, std::span(exchange.claimed).last(plan.picks.size()));
  auto save = connection_.query(sql::kSaveQueueUse);
  for (const detail::ClaimPlan::QueueWrite& write : plan.writes) {
    save->bind(1, queues[write.queue].name);
    save->bind(2, write.rate_log);
    save->bind_optional(3, write.key_cursor);
    save->run();
    save->reset();
  }
  exchange.rate_opens_at = plan.rate_opens_at;
}

void SqliteStore::lock_claimed(std::string_view worker_id, TimePoint at,
                               std::span<const ClaimedJob> jobs) {
  if (jobs.empty()) return;
  connection_.query(sql::kClearClaimIds)->run();  // whatever a failed claim may have left
  for (std::size_t first = 0; first < jobs.size(); first += sql::kIdsPerInsert) {
    const auto chunk = jobs.subspan(first, std::min(sql::kIdsPerInsert, jobs.size() - first));
    const std::size_t ids = std::bit_ceil(chunk.size());
    auto insert = connection_.query(sql::insert_claim_ids(ids));
    for (std::size_t i = 0; i < ids; ++i)  // the last id again to fill the list
      insert->bind(static_cast<int>(i + 1), chunk[std::min(i, chunk.size() - 1)].id);
    insert->run();
  }
  auto lock = connection_.query(sql::kLockClaimIds);
  lock->bind(1, worker_id);
  lock->bind(2, micros_of(at));
  lock->run();
}

void SqliteStore::add_queue(std::string_view name, TimePoint now) {
  auto add = connection_.query(sql::kAddQueue);
  add->bind(1, name);
  add->bind(2, micros_of(now));
  add->run();
}

QueueInfo SqliteStore::update_queue(std::string_view name, const QueueUpdate& update, bool create) {
  require_writable("update_queue");
  check_queue_name(name);
  QueueLimits given{update.global, update.per_key, update.rate};
  check_limits(given);
  {
    std::lock_guard lock(mutex_);
    const auto now = clock_->now();
    Transaction tx(connection_, Transaction::Behavior::immediate);
    if (create) add_queue(name, now);
    auto row = connection_.query(sql::kQueueRow);
    row->bind(1, name);
    if (!row->step()) throw unknown_queue(name);
    detail::QueueSnapshot queue = detail::read_queue_row(*row, stored("errand_queues"));

    detail::apply_update(queue, update);
    auto write = connection_.query(sql::kUpdateQueue);
    write->bind(1, name);
    write->bind(2, std::int64_t{queue.paused ? 1 : 0});
    const auto bind_limit = [&](int i, const std::optional<std::int32_t>& v) {
      if (v) {
        write->bind(i, std::int64_t{*v});
      } else {
        write->bind_null(i);
      }
    };
    bind_limit(3, queue.limits.global);
    bind_limit(4, queue.limits.per_key);
    if (queue.limits.rate) {
      write->bind(5, std::int64_t{queue.limits.rate->limit});
      write->bind(6, queue.limits.rate->period.count());
    } else {
      write->bind_null(5);
      write->bind_null(6);
    }
    write->bind(7, micros_of(now));
    write->run();
    if (update.per_key) {
      auto give = connection_.query(sql::kGiveEmptyKeys);
      give->bind(1, name);
      give->run();
    }

    tx.commit();
  }
  for (QueueInfo& info : list_queues()) {
    if (info.name == name) return info;
  }
  throw unknown_queue(name);
}

ConfigError SqliteStore::unknown_queue(std::string_view name) {
  std::vector<std::string> known;
  auto rows = connection_.query(sql::kQueueRows);
  while (rows->step())
    known.push_back(rows->text(0));
  return detail::unknown_queue_error(name, description_, known);
}

}  // namespace errand::sqlite
