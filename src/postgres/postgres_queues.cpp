// The PostgreSQL store's queues: claiming within their settings, and their administration
// (postgres_store.hpp). A claim locks the rows of its queues (FOR NO KEY UPDATE) in one
// statement, then counts leases and reads candidates in later statements of the same
// transaction, whose snapshots see every claim committed before the lock was granted: two claims
// from one queue never overlap, so its limits are exact.
#include "postgres/postgres_store.hpp"

#include <errand/error.hpp>

#include "core/claim_plan.hpp"
#include "core/rows.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <deque>
#include <map>
#include <set>

namespace errand::pg {

using detail::micros_of;
using detail::time_from_micros;

namespace {

// The claim's reads, inside its transaction, after its queues were locked. A queue's leases and
// jobs read ahead (in the pipeline that locked the queues) are served from those results.
class PgQueueReader final : public detail::QueueReader {
 public:
  struct ReadAhead {
    Result leases, ready;
  };

  PgQueueReader(Connection& connection, const LimitedClaimSql& sql, detail::StoredTable where,
                TimePoint now)
      : connection_(connection), sql_(sql), where_(std::move(where)), now_(now) {}

  void read_ahead(const std::string& queue, ReadAhead results) {
    ahead_.insert_or_assign(queue, std::move(results));
  }

  void read_leases(detail::QueueSnapshot& queue) override {
    const auto ahead = ahead_.find(queue.name);
    if (ahead != ahead_.end()) return count_leases(ahead->second.leases, queue);
    Params params;
    params.add(queue.name);
    count_leases(connection_.exec_prepared("errand_leases", sql_.leases, params), queue);
  }
  void read_ready(detail::QueueSnapshot& queue, std::size_t limit, const std::string* key,
                  TimePoint now) override {
    const auto ahead = ahead_.find(queue.name);
    if (!key && ahead != ahead_.end()) return take_ready(ahead->second.ready, limit, queue);
    Params params;
    params.add(micros_of(now)).add(static_cast<std::int64_t>(limit)).add(queue.name);
    if (key) params.add(*key);
    take_ready(connection_.exec_prepared(key ? "errand_ready_of_key" : "errand_ready",
                                         key ? sql_.ready_of_key : sql_.ready, params),
               limit, queue);
  }
  std::optional<std::string> next_key(const detail::QueueSnapshot& queue,
                                      const std::optional<std::string>& after,
                                      TimePoint now) override {
    Params params;
    params.add(queue.name).add(micros_of(now));
    if (after) params.add(*after);
    const Result r = connection_.exec_prepared(after ? "errand_next_key" : "errand_first_key",
                                               after ? sql_.next_key : sql_.first_key, params);
    if (r.rows() == 0) return std::nullopt;
    return std::string(r.text(0, 0));
  }

 private:
  void count_leases(const Result& r, detail::QueueSnapshot& queue) const {
    for (int i = 0; i < r.rows(); ++i) {
      const std::int64_t n = detail::read_count(ResultRow{r, i}, 1, where_, "a count of leases");
      queue.running += n;
      if (queue.limits.per_key) queue.running_by_key[std::string(r.text(i, 0))] += n;
    }
  }
  void take_ready(const Result& r, std::size_t limit, detail::QueueSnapshot& queue) const {
    for (int i = 0; i < r.rows() && static_cast<std::size_t>(i) < limit; ++i)
      queue.candidates.push_back(detail::read_claimed_job(ResultRow{r, i}, where_, now_));
  }

  Connection& connection_;
  const LimitedClaimSql& sql_;
  detail::StoredTable where_;
  TimePoint now_;
  std::map<std::string, ReadAhead, std::less<>> ahead_;
};

}  // namespace

// Two round trips: BEGIN, the queues' rows locked, the time, and the leases and jobs of each
// queue without a per-key limit; then, once plan_claim decided, the chosen jobs locked, the
// queues' use written and COMMIT. A per-key queue's keys are read in between, one by one.
void PostgresStore::claim_limited(std::string_view worker_id, const ClaimRequest& claim,
                                  std::size_t reserve, const std::vector<LimitedQueue>& limited,
                                  Exchange& exchange) {
  // What is left to ask of them: their own demands; from every queue, the slots (and prefetch)
  // the open queues left.
  ClaimRequest request;
  std::vector<std::string> names;
  for (const LimitedQueue& queue : limited)
    names.push_back(queue.name);
  if (claim.queues.empty()) {
    const std::size_t open_slots = claim.max - reserve;
    const std::size_t took = exchange.claimed.size();
    request.max = claim.max - std::min(open_slots, took);
    request.prefetch = claim.prefetch - std::min(claim.prefetch, took - std::min(open_slots, took));
    request.after_queue = claim.after_queue;
    if (request.max + request.prefetch == 0) return;
  } else {
    for (const QueueDemand& demand : claim.queues) {
      if (std::find(names.begin(), names.end(), demand.queue) != names.end())
        request.queues.push_back(demand);
    }
  }
  if (limited.size() == 1 && limited.front().global_only &&
      claim_globally_limited(worker_id, request, limited.front().name, exchange)) {
    return;
  }
  auto c = pool_.acquire();
  Connection& connection = *c;
  Params which, now_params;
  which.add_array(names);
  add_now(now_params);
  std::vector<Connection::Statement> statements{
      {"errand_begin", "BEGIN", no_params_},
      {"errand_lock_queues", limited_sql_.lock_queues, which},
      {"errand_claim_now", limited_sql_.claim_now, now_params}};
  // Ahead: each queue's leases and as many jobs as it could give (a rate's one more).
  std::deque<Params> ahead_params;
  std::vector<std::string> ahead;
  for (const LimitedQueue& queue : limited) {
    const detail::QueueWant want = detail::want_of(request, queue.name);
    if (queue.per_key || want.max + want.prefetch == 0) continue;
    ahead.push_back(queue.name);
    Params& leases = ahead_params.emplace_back();
    leases.add(queue.name);
    statements.push_back({"errand_leases", limited_sql_.leases, leases});
    Params& ready = ahead_params.emplace_back();
    add_now(ready);
    ready.add(static_cast<std::int64_t>(want.max + want.prefetch + 1)).add(queue.name);
    statements.push_back({"errand_ready", limited_sql_.ready, ready});
  }
  Transaction tx(connection, Transaction::begun);
  std::vector<Result> first = connection.exec_pipeline(statements);
  const Result& rows = first[1];
  const TimePoint now = detail::read_time(ResultRow{first[2], 0}, 0, stored(jobs_table_), "now()");
  std::vector<detail::QueueSnapshot> queues;
  const auto where = stored(queues_table_);
  for (int i = 0; i < rows.rows(); ++i)
    queues.push_back(detail::read_queue_row(ResultRow{rows, i}, where));
  if (request.queues.empty()) detail::rotate_after(queues, request.after_queue);
  PgQueueReader reader(connection, limited_sql_, stored(jobs_table_), now);
  for (std::size_t i = 0; i < ahead.size(); ++i)
    reader.read_ahead(ahead[i], {std::move(first[3 + 2 * i]), std::move(first[4 + 2 * i])});
  detail::read_snapshots(reader, queues, request, now);
  const detail::ClaimPlan plan = detail::plan_claim(queues, request, now);

  Params lock_params;
  std::deque<Params> save_params;
  statements.clear();
  if (!plan.picks.empty()) {
    std::vector<std::int64_t> ids;
    ids.reserve(plan.picks.size());
    for (const detail::ClaimPlan::Pick& pick : plan.picks)
      ids.push_back(queues[pick.queue].candidates[pick.candidate].id);
    lock_params.add(worker_id).add(micros_of(plan.claimed_at)).add_array(ids);
    statements.push_back({"errand_lock_claimed", limited_sql_.lock_claimed, lock_params});
  }
  for (const detail::ClaimPlan::QueueWrite& write : plan.writes) {
    Params& params = save_params.emplace_back();
    params.add(queues[write.queue].name).add(write.rate_log).add_optional(write.key_cursor);
    statements.push_back({"errand_save_queue_use", limited_sql_.save_queue_use, params});
  }
  statements.push_back({"errand_commit", "COMMIT", no_params_});
  const std::vector<Result> second = connection.exec_pipeline(statements);
  tx.committed();
  if (!plan.picks.empty()) {
    std::set<JobId> locked;
    for (int i = 0; i < second[0].rows(); ++i)
      locked.insert(second[0].int64(i, 0));
    for (const detail::ClaimPlan::Pick& pick : plan.picks) {
      ClaimedJob& job = queues[pick.queue].candidates[pick.candidate];
      if (!locked.contains(job.id)) continue;  // another claim took it meanwhile
      job.locked_at = plan.claimed_at;
      exchange.claimed.push_back(std::move(job));
    }
  }
  exchange.rate_opens_at = plan.rate_opens_at;
}

std::size_t PostgresStore::begin_global_claim(
    const GlobalClaim& claim, std::vector<Connection::Statement>& statements) const {
  statements.push_back({"errand_begin", "BEGIN", no_params_});
  statements.push_back({"errand_lock_queues", limited_sql_.lock_queues, claim.which});
  return statements.size() - 1;
}

void PostgresStore::add_global_claim(GlobalClaim& claim,
                                     std::vector<Connection::Statement>& statements,
                                     std::string_view worker_id, std::size_t max,
                                     std::size_t prefetch) const {
  claim.params.add(worker_id).add(static_cast<std::int64_t>(max));
  add_now(claim.params);
  claim.params.add(claim.queue).add(static_cast<std::int64_t>(prefetch));
  claim.at = statements.size();
  statements.push_back({"errand_global_claim", limited_sql_.global_claim, claim.params});
}

bool PostgresStore::take_global_claim(const Result& row, const Result& claimed,
                                      Exchange& exchange) const {
  if (row.rows() != 1) return true;  // the queue is gone: nothing to claim
  const detail::QueueSnapshot queue =
      detail::read_queue_row(ResultRow{row, 0}, stored(queues_table_));
  const QueueLimits& limits = queue.limits;
  const bool global_alone = limits.global && !limits.per_key && !limits.rate;
  if (!queue.paused && !global_alone) {
    return false;  // its limits changed since the last summary: it claimed nothing
  }
  take_open_claim(claimed, exchange);
  return true;
}

bool PostgresStore::claim_globally_limited(std::string_view worker_id, const ClaimRequest& request,
                                           const std::string& queue, Exchange& exchange) {
  const detail::QueueWant want = detail::want_of(request, queue);
  if (want.max + want.prefetch == 0) return true;
  GlobalClaim claim{queue};
  std::vector<Connection::Statement> statements;
  const std::size_t lock_at = begin_global_claim(claim, statements);
  add_global_claim(claim, statements, worker_id, want.max, want.prefetch);
  statements.push_back({"errand_commit", "COMMIT", no_params_});
  auto c = pool_.acquire();
  Transaction tx(*c, Transaction::begun);
  const std::vector<Result> results = c->exec_pipeline(statements);
  tx.committed();
  return take_global_claim(results[lock_at], results[claim.at], exchange);
}

QueueInfo PostgresStore::update_queue(std::string_view name, const QueueUpdate& update,
                                      bool create) {
  check_queue_name(name);
  check_limits(QueueLimits{update.global, update.per_key, update.rate});
  {
    auto c = pool_.acquire();
    Transaction tx(*c);
    // Setting a per-key limit gives the queue's jobs without a key the empty key: wait for every
    // insert in flight (they read the settings before), and hold new ones until commit.
    if (update.per_key) c->exec(lock_jobs_table_sql(schema_));
    if (create) {
      Params add;
      add.add(name);
      c->exec(add_queue_sql(schema_), add);
    }
    Params which;
    which.add_array(std::vector<std::string>{std::string(name)});
    const Result r = c->exec(limited_sql_.lock_queues, which);
    if (r.rows() == 0) throw unknown_queue(*c, name);
    detail::QueueSnapshot queue = detail::read_queue_row(ResultRow{r, 0}, stored(queues_table_));
    detail::apply_update(queue, update);
    Params params;
    params.add(name).add(std::int64_t{queue.paused ? 1 : 0});
    const auto add_limit = [&](const std::optional<std::int32_t>& v) {
      if (v) {
        params.add(std::int64_t{*v});
      } else {
        params.add_null();
      }
    };
    add_limit(queue.limits.global);
    add_limit(queue.limits.per_key);
    if (queue.limits.rate) {
      params.add(std::int64_t{queue.limits.rate->limit}).add(queue.limits.rate->period.count());
    } else {
      params.add_null().add_null();
    }
    add_now(params);
    params.add(channel_name_);
    c->exec(update_queue_sql(schema_), params);
    if (update.per_key) {
      Params queue_name;
      queue_name.add(name);
      c->exec(give_empty_keys_sql(schema_), queue_name);
    }
    tx.commit();
  }
  for (QueueInfo& info : list_queues()) {
    if (info.name == name) return info;
  }
  auto c = pool_.acquire();
  throw unknown_queue(*c, name);
}

TimePoint PostgresStore::begin_snapshot(Connection& c, const detail::StoredTable& where) const {
  Params now_params;
  add_now(now_params);
  c.exec("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY");
  const Result now_row = c.exec(limited_sql_.claim_now, now_params);
  return detail::read_time(ResultRow{now_row, 0}, 0, where, "now()");
}

ConfigError PostgresStore::unknown_queue(Connection& c, std::string_view name) {
  std::vector<std::string> known;
  const Result r = c.exec(queue_rows_sql(schema_, /*named=*/false, /*lock=*/false));
  for (int i = 0; i < r.rows(); ++i)
    known.push_back(std::string(r.text(i, 0)));
  return detail::unknown_queue_error(name, description_, known);
}

}  // namespace errand::pg
