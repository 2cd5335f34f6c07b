// Unique jobs on PostgreSQL (errand/unique.hpp; the SQL in sql_unique.cpp). A live job's key is
// in the unique index on jobs.unique_key, so INSERT ... ON CONFLICT DO NOTHING lets one of any
// number of concurrent enqueues take it. A second statement, in a snapshot taken after the insert
// waited for whoever held the key, reads the holders and finished jobs that may block.
//
// One pipeline, one transaction, one round trip, unless a key must be taken from a live job that
// no longer blocks (its states say so, or it ended in between): then that transaction fails on
// purpose and the batch runs again in an explicit transaction, round by round, releasing such
// keys (the release re-checks the holder's state under its row lock) until every row is settled.
#include "postgres/postgres_store.hpp"

#include <errand/error.hpp>

#include "core/rows.hpp"
#include "core/unique_sql.hpp"
#include "core/wakeup.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <numeric>
#include <set>

namespace errand::pg {

namespace {

// Rounds of the explicit transaction before giving up: each round settles every key whose holder
// did not change hands again in between.
constexpr int kTakeoverRounds = 16;

}  // namespace

std::vector<std::size_t> PostgresStore::unique_round(
    Connection& c, std::span<const NewJob> all, const std::vector<std::size_t>& places,
    std::vector<Enqueued>& done, bool fail_open,
    std::vector<std::pair<JobId, std::uint32_t>>& takeover) {
  std::vector<NewJob> subset;
  std::span<const NewJob> jobs = all;
  if (places.size() != all.size()) {
    for (const std::size_t place : places)
      subset.push_back(all[place]);
    jobs = subset;
  }
  std::vector<std::string> keys, periods, states, replace;
  for (const NewJob& job : jobs) {
    const bool unique = !job.unique_key.empty();
    keys.push_back(unique ? job.unique_key.substr(0, detail::kStoredKeyHexDigits) : "NULL");
    periods.push_back(unique && job.unique_period ? fmt::format("{}", job.unique_period->count())
                                                  : "NULL");
    states.push_back(fmt::format("{}", job.unique_states));
    replace.push_back(job.on_conflict == OnConflict::replace ? "t" : "f");
  }
  Params now;  // the same for both statements
  add_now(now);
  Params insert = insert_params(jobs);
  insert.append(now).add(channel_name_);
  add_routing_arrays(insert, jobs);
  insert.add(array_literal(keys)).add(array_literal(periods)).add(array_literal(states));
  insert.add(fmt::format("{}.jobs", schema_));
  // The lean statements for a single unique job (sql.hpp); they fail where the others would
  // write more than the row.
  const bool one = fail_open && jobs.size() == 1 && !jobs.front().unique_key.empty();
  Params resolve;
  if (one) {
    const NewJob& job = jobs.front();
    resolve.add(keys.front());
    if (job.unique_period)
      resolve.add(std::int64_t{job.unique_period->count()});
    else
      resolve.add_null();
    if (job.run_at)
      resolve.add(detail::micros_of(*job.run_at));
    else
      resolve.add_null();
    if (job.delay)
      resolve.add(std::int64_t{job.delay->count()});
    else
      resolve.add_null();
    resolve.add(std::int64_t{job.unique_states}).add(replace.front()).append(now);
  } else {
    resolve.append(insert).add(array_literal(replace)).add(fail_open ? "t" : "f");
  }
  const Connection::Statement statements[] = {
      one ? Connection::Statement{"errand_enqueue_unique_one", unique_insert_one_sql_, insert}
          : Connection::Statement{"errand_enqueue_unique", unique_insert_sql_, insert},
      one ? Connection::Statement{"errand_unique_resolve_one", unique_resolve_one_sql_, resolve}
          : Connection::Statement{"errand_unique_resolve", unique_resolve_sql_, resolve}};
  const std::vector<Result> results = c.exec_pipeline(statements);

  const auto place_of = [&](std::int64_t ord) {
    if (ord < 1 || static_cast<std::size_t>(ord) > places.size())
      throw StoreError("enqueue: the database returned an unknown row");
    return static_cast<std::size_t>(ord - 1);
  };
  // The ids drawn for the rows (in their order) and those inserted.
  const Result& inserted = results[0];
  const std::vector<JobId> ids = parse_id_array(inserted.text(0, 0));
  if (ids.size() != places.size())
    throw StoreError("enqueue: the database returned ids for the wrong number of rows");
  std::set<JobId> taken;
  if (!inserted.is_null(0, 1)) {
    for (const JobId id : parse_id_array(inserted.text(0, 1)))
      taken.insert(id);
  }
  std::vector<bool> settled(places.size(), false);
  for (std::size_t at = 0; at < places.size(); ++at) {
    if (!taken.contains(ids[at])) continue;
    done[places[at]] = {.id = ids[at]};
    settled[at] = true;
  }
  // Each key's first row in the batch (the one that could be inserted), then the others.
  const Result& resolved = results[1];
  std::set<std::size_t> replaced, open_firsts;
  std::vector<std::pair<std::size_t, std::size_t>> followers;  // (row, its key's first row)
  for (int row = 0; row < resolved.rows(); ++row) {
    const std::size_t at = place_of(resolved.int64(row, 0));
    const std::size_t first = place_of(resolved.int64(row, 1));
    if (first != at) {
      followers.emplace_back(at, first);
      continue;
    }
    if (!resolved.is_null(row, 7)) {
      for (const JobId ord : parse_id_array(resolved.text(row, 7)))
        replaced.insert(place_of(ord));
    }
    const bool has_live = !resolved.is_null(row, 2);
    const JobId live = has_live ? resolved.int64(row, 2) : 0;
    const bool ours = resolved.int64(row, 3) == 1;
    const bool blocks = resolved.int64(row, 4) == 1;
    const bool has_finished = !resolved.is_null(row, 5);
    Enqueued& result = done[places[at]];
    if (ours && !has_finished) {
      // Inserted (above).
    } else if (ours || (!blocks && has_finished)) {
      result = {.id = resolved.int64(row, 5), .outcome = EnqueueOutcome::duplicate};
    } else if (blocks) {
      result = {.id = live, .outcome = EnqueueOutcome::duplicate};
    } else {
      open_firsts.insert(at);  // settled in a later round
      if (has_live) takeover.emplace_back(live, jobs[at].unique_states);
    }
    settled[at] = true;
  }
  for (const std::size_t at : replaced)
    done[places[at]].outcome = EnqueueOutcome::replaced;
  std::vector<std::size_t> open;
  for (const auto& [at, first] : followers) {
    if (open_firsts.contains(first)) {
      open.push_back(places[at]);
    } else {
      done[places[at]] = {.id = done[places[first]].id, .outcome = EnqueueOutcome::duplicate};
    }
    settled[at] = true;
  }
  for (const std::size_t at : open_firsts)
    open.push_back(places[at]);
  std::sort(open.begin(), open.end());
  for (std::size_t at = 0; at < places.size(); ++at) {
    if (!settled[at]) [[unlikely]]
      throw StoreError("enqueue: the database returned no outcome for a unique job");
  }
  return open;
}

std::vector<Enqueued> PostgresStore::insert_unique_jobs(std::span<const NewJob> jobs) {
  std::vector<Enqueued> done(jobs.size());
  std::vector<std::size_t> all(jobs.size());
  std::iota(all.begin(), all.end(), std::size_t{0});
  std::vector<std::pair<JobId, std::uint32_t>> takeover;
  auto c = pool_.acquire();
  try {
    unique_round(*c, jobs, all, done, /*fail_open=*/true, takeover);
    detail::publish_wakeup(wake_key_);
    return done;
  } catch (const StoreError& e) {
    if (std::string_view(e.what()).find(kUniqueTakeoverMarker) == std::string_view::npos) throw;
  }
  // The fast path rolled back: every row again, in one explicit transaction.
  done.assign(jobs.size(), Enqueued{});
  takeover.clear();
  Transaction tx(*c);
  std::vector<std::size_t> open = all;
  for (int round = 0; round < kTakeoverRounds && !open.empty(); ++round) {
    open = unique_round(*c, jobs, open, done, /*fail_open=*/false, takeover);
    if (takeover.empty()) continue;
    std::vector<std::int64_t> ids, masks;
    for (const auto& [id, states] : takeover) {
      ids.push_back(id);
      masks.push_back(states);
    }
    Params release;
    release.add_array(ids).add_array(masks);
    add_now(release);
    c->exec_prepared("errand_release_unique_keys", release_unique_keys_sql_, release);
    takeover.clear();
  }
  if (!open.empty()) {
    throw StoreError(fmt::format(
        "cannot enqueue job '{}': the job holding its unique key changed {} times while this "
        "enqueue waited for it; nothing was inserted (try again)",
        jobs[open.front()].name, kTakeoverRounds));
  }
  tx.commit();
  detail::publish_wakeup(wake_key_);
  return done;
}

}  // namespace errand::pg
