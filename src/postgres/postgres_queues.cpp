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
#include <map>
#include <set>

namespace errand::pg {

using detail::micros_of;
using detail::time_from_micros;

namespace {

// The claim's reads, inside its transaction, after its queues were locked.
class PgQueueReader final : public detail::QueueReader {
 public:
  PgQueueReader(Connection& connection, const std::string& schema, detail::StoredTable where)
      : connection_(connection), schema_(schema), where_(std::move(where)) {}

  void read_leases(detail::QueueSnapshot& queue) override {
    Params params;
    params.add(queue.name);
    const Result r = connection_.exec_prepared("errand_leases", leases_sql(schema_), params);
    for (int i = 0; i < r.rows(); ++i) {
      const std::int64_t n = detail::read_count(ResultRow{r, i}, 1, where_, "a count of leases");
      queue.running += n;
      if (queue.limits.per_key) queue.running_by_key[std::string(r.text(i, 0))] += n;
    }
  }
  void read_ready(detail::QueueSnapshot& queue, std::size_t limit, const std::string* key,
                  TimePoint now) override {
    Params params;
    params.add(micros_of(now)).add(static_cast<std::int64_t>(limit)).add(queue.name);
    if (key) params.add(*key);
    const Result r = connection_.exec_prepared(key ? "errand_ready_of_key" : "errand_ready",
                                               ready_jobs_sql(schema_, key != nullptr), params);
    for (int i = 0; i < r.rows(); ++i)
      queue.candidates.push_back(detail::read_claimed_job(ResultRow{r, i}, where_, now));
  }
  std::optional<std::string> next_key(const detail::QueueSnapshot& queue,
                                      const std::optional<std::string>& after,
                                      TimePoint now) override {
    Params params;
    params.add(queue.name).add(micros_of(now));
    if (after) params.add(*after);
    const Result r = connection_.exec_prepared(after ? "errand_next_key" : "errand_first_key",
                                               next_key_sql(schema_, after.has_value()), params);
    if (r.rows() == 0) return std::nullopt;
    return std::string(r.text(0, 0));
  }

 private:
  Connection& connection_;
  const std::string& schema_;
  detail::StoredTable where_;
};

}  // namespace

void PostgresStore::claim_limited(std::string_view worker_id, const ClaimRequest& claim,
                                  std::size_t reserve, const std::vector<std::string>& names,
                                  Exchange& exchange) {
  // What is left to ask of them: their own demands; from every queue, the slots the open queues
  // left (no prefetch from a limited queue).
  ClaimRequest request;
  if (claim.queues.empty()) {
    // The reserved slots, and those of the free ones the open queues did not fill.
    request.max = claim.max - std::min(claim.max - reserve, exchange.claimed.size());
    request.after_queue = claim.after_queue;
    if (request.max == 0) return;
  } else {
    for (const QueueDemand& demand : claim.queues) {
      if (std::find(names.begin(), names.end(), demand.queue) != names.end())
        request.queues.push_back(demand);
    }
  }
  auto c = pool_.acquire();
  Transaction tx(*c);
  // The queues' rows first, locked until commit; then their leases and jobs, in statements
  // whose snapshots see every claim committed before.
  Params which;
  which.add_array(names);
  const Result rows = c->exec_prepared(
      "errand_lock_queues", queue_rows_sql(schema_, /*named=*/true, /*lock=*/true), which);
  Params now_params;
  add_now(now_params);
  const Result now_row = c->exec_prepared("errand_claim_now", claim_now_sql(), now_params);
  const TimePoint now = detail::read_time(ResultRow{now_row, 0}, 0, stored(jobs_table_), "now()");
  std::vector<detail::QueueSnapshot> queues;
  const auto where = stored(queues_table_);
  for (int i = 0; i < rows.rows(); ++i)
    queues.push_back(detail::read_queue_row(ResultRow{rows, i}, where));
  if (request.queues.empty()) detail::rotate_after(queues, request.after_queue);
  Connection& connection = *c;
  PgQueueReader reader(connection, schema_, stored(jobs_table_));
  detail::read_snapshots(reader, queues, request, now);
  const detail::ClaimPlan plan = detail::plan_claim(queues, request, now);
  if (!plan.picks.empty()) {
    std::vector<std::int64_t> ids;
    ids.reserve(plan.picks.size());
    for (const detail::ClaimPlan::Pick& pick : plan.picks)
      ids.push_back(queues[pick.queue].candidates[pick.candidate].id);
    Params params;
    params.add(worker_id).add(micros_of(plan.claimed_at)).add_array(ids);
    const Result r =
        connection.exec_prepared("errand_lock_claimed", lock_claimed_sql(schema_), params);
    std::set<JobId> locked;
    for (int i = 0; i < r.rows(); ++i)
      locked.insert(r.int64(i, 0));
    for (const detail::ClaimPlan::Pick& pick : plan.picks) {
      ClaimedJob& job = queues[pick.queue].candidates[pick.candidate];
      if (!locked.contains(job.id)) continue;  // another claim took it meanwhile
      job.locked_at = plan.claimed_at;
      exchange.claimed.push_back(std::move(job));
    }
  }
  for (const detail::ClaimPlan::QueueWrite& write : plan.writes) {
    Params params;
    params.add(queues[write.queue].name).add(write.rate_log).add_optional(write.key_cursor);
    connection.exec_prepared("errand_save_queue_use", save_queue_use_sql(schema_), params);
  }
  tx.commit();
  exchange.rate_opens_at = plan.rate_opens_at;
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
    const Result r = c->exec(queue_rows_sql(schema_, /*named=*/true, /*lock=*/true), which);
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

ConfigError PostgresStore::unknown_queue(Connection& c, std::string_view name) {
  std::vector<std::string> known;
  const Result r = c.exec(queue_rows_sql(schema_, /*named=*/false, /*lock=*/false));
  for (int i = 0; i < r.rows(); ++i)
    known.push_back(std::string(r.text(i, 0)));
  return detail::unknown_queue_error(name, description_, known);
}

std::vector<QueueInfo> PostgresStore::list_queues() {
  auto c = pool_.acquire();
  Params now_params;
  add_now(now_params);
  // One snapshot for every count.
  Transaction tx(*c);
  c->exec("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY");
  const Result now_row = c->exec(claim_now_sql(), now_params);
  const TimePoint now = detail::read_time(ResultRow{now_row, 0}, 0, stored(queues_table_), "now()");
  std::vector<QueueInfo> queues;
  std::map<std::string, std::size_t, std::less<>> index;
  {
    const Result r = c->exec(queue_rows_sql(schema_, /*named=*/false, /*lock=*/false));
    const auto where = stored(queues_table_);
    for (int i = 0; i < r.rows(); ++i) {
      TimePoint updated_at{};
      const detail::QueueSnapshot queue =
          detail::read_queue_row(ResultRow{r, i}, where, &updated_at);
      QueueInfo info = detail::queue_info(queue, updated_at, now);
      index.emplace(info.name, queues.size());
      queues.push_back(std::move(info));
    }
  }
  const auto at = [&](std::string_view name) -> QueueInfo* {
    const auto it = index.find(name);
    return it == index.end() ? nullptr : &queues[it->second];
  };
  const auto jobs = stored(jobs_table_);
  {
    Params params;
    add_now(params);
    const Result r = c->exec(queue_counts_sql(schema_), params);
    for (int i = 0; i < r.rows(); ++i) {
      QueueInfo* info = at(r.text(i, 0));
      if (!info) continue;
      const ResultRow row{r, i};
      info->ready = detail::read_count(row, 1, jobs, "a count of ready jobs");
      info->scheduled = detail::read_count(row, 2, jobs, "a count of scheduled jobs");
      info->running = detail::read_count(row, 3, jobs, "a count of leases");
      if (!r.is_null(i, 4))
        info->oldest_ready_age = now - detail::read_time(row, 4, jobs, "run_at");
    }
  }
  {
    const Result r = c->exec(queue_finished_counts_sql(schema_));
    const auto finished = stored(finished_jobs_table_);
    for (int i = 0; i < r.rows(); ++i) {
      QueueInfo* info = at(r.text(i, 0));
      if (!info) continue;
      const std::int64_t n = detail::read_count(ResultRow{r, i}, 2, finished, "a count of jobs");
      const std::string_view state = r.text(i, 1);
      detail::add_finished_count(*info, state, n);
    }
  }
  {
    const Result r = c->exec(queue_busiest_keys_sql(schema_));
    for (int i = 0; i < r.rows(); ++i) {
      if (QueueInfo* info = at(r.text(i, 0)))
        info->busiest_key_running = detail::read_count(ResultRow{r, i}, 1, jobs, "a count");
    }
  }
  tx.commit();
  return queues;
}

}  // namespace errand::pg
