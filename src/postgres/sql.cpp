#include "postgres/sql.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <array>

#include "core/rows.hpp"

namespace errand::pg {

using detail::micros_of;

std::string array_literal(const std::vector<std::string>& items) {
  return fmt::format("{{{}}}", fmt::join(items, ","));
}

// SQL true when `column` holds a time errand can represent (core/stored_values.hpp):
// not +-infinity, from 0001-01-01 to 9999-12-31 UTC.
std::string valid_time_sql(std::string_view column) {
  return fmt::format(
      "({0} >= timestamptz '0001-01-01 00:00:00+00' AND {0} < timestamptz '10000-01-01 "
      "00:00:00+00')",
      column);
}
// Stored times cross the wire as the text of integer microseconds since the Unix epoch; a time
// errand cannot represent as its own text (e.g. 'infinity'), which the reader then refuses by
// name. Never fails, whatever the column holds (NULL stays NULL).
std::string us_of(std::string_view column) {
  return fmt::format(
      "CASE WHEN {0} THEN ((extract(epoch from {1}) * 1000000)::int8)::text ELSE {1}::text END",
      valid_time_sql(column), column);
}
// $n is NULL (use the database clock) or microseconds from an injected clock.
std::string now_of(int n) {
  return fmt::format("coalesce(timestamptz 'epoch' + ${}::int8 * interval '1 microsecond', now())",
                     n);
}
// The store's now ($1, see now_of) minus the microseconds in $2: locks or heartbeats older than
// this cutoff are abandoned or lost.
std::string cutoff_1_2() {
  return now_of(1) + " - $2::int8 * interval '1 microsecond'";
}
std::string ts_of(std::string_view us) {
  return fmt::format("(timestamptz 'epoch' + ({})::int8 * interval '1 microsecond')", us);
}

// Refuses schema names errand must not use: what quote_identifier refuses (empty, over 63
// bytes, NUL), and PostgreSQL's system schemas (pg_*, information_schema).
void check_schema_name(std::string_view schema) {
  quote_identifier(schema);
  if (schema.starts_with("pg_") || schema == "information_schema") {
    throw ConfigError(fmt::format(
        "PostgreSQL schema '{}' is a system schema (pg_*, information_schema); choose another "
        "(schema=NAME, default errand)",
        schema));
  }
}

// The NOTIFY channel of a schema. PostgreSQL identifiers hold at most 63 bytes, so a long
// schema name is replaced by a hash of it (LISTEN and NOTIFY must agree on the name).
std::string notify_channel(std::string_view schema) {
  constexpr std::string_view prefix = "errand_jobs_";
  if (prefix.size() + schema.size() <= 63) return std::string(prefix) + std::string(schema);
  std::uint64_t hash = 1469598103934665603ull;  // FNV-1a
  for (unsigned char c : schema)
    hash = (hash ^ c) * 1099511628211ull;
  return fmt::format("{}{:016x}", prefix, hash);
}

// Inserts the rows of insert_params ($1..$6) at time $7 (see now_of) and notifies channel $8
// (notify_channel) in the same statement, so the NOTIFY fires exactly when the insert commits.
std::string insert_sql(const std::string& quoted_schema) {
  return fmt::format(
      "WITH t AS (SELECT {now} AS now), ins AS ("
      " INSERT INTO {s}.jobs (name, payload, context, priority, run_at, created_at, queue,"
      "  partition_key)"
      " SELECT u.name, u.payload, u.context, u.priority,"
      "        coalesce({run_at}, t.now + u.delay_us * interval '1 microsecond', t.now), t.now,"
      "        u.queue, {key}"
      " FROM unnest($1::text[], $2::text[], $3::text[], $4::int4[], $5::int8[], $6::int8[],"
      "             $9::text[], $10::text[])"
      "      WITH ORDINALITY AS u(name, payload, context, priority, run_at_us, delay_us, queue,"
      "                           partition_key, ord), t"
      " ORDER BY u.ord RETURNING id),"
      " known AS (INSERT INTO {s}.queues (name) SELECT DISTINCT unnest($9::text[])"
      "  ON CONFLICT (name) DO NOTHING)"
      " SELECT ins.id FROM ins, (SELECT pg_notify($8, '')) AS n",
      fmt::arg("now", now_of(7)), fmt::arg("s", quoted_schema),
      fmt::arg("run_at", ts_of("u.run_at_us")),
      fmt::arg("key", stored_key_sql(quoted_schema, "u.partition_key", "u.queue")));
}

Params insert_params(std::span<const NewJob> jobs) {
  std::vector<std::string> names, payloads, contexts;
  names.reserve(jobs.size());
  payloads.reserve(jobs.size());
  contexts.reserve(jobs.size());
  std::string priorities = "{", run_ats = "{", delays = "{";
  for (const NewJob& job : jobs) {
    names.push_back(job.name);
    payloads.push_back(job.payload);
    contexts.push_back(job.context);
    const char* sep = priorities.size() > 1 ? "," : "";
    fmt::format_to(std::back_inserter(priorities), "{}{}", sep, job.priority);
    if (job.run_at) {
      fmt::format_to(std::back_inserter(run_ats), "{}{}", sep, micros_of(*job.run_at));
    } else {
      fmt::format_to(std::back_inserter(run_ats), "{}NULL", sep);
    }
    if (job.delay) {
      fmt::format_to(std::back_inserter(delays), "{}{}", sep, job.delay->count());
    } else {
      fmt::format_to(std::back_inserter(delays), "{}NULL", sep);
    }
  }
  Params params;
  params.add_array(names).add_array(payloads).add_array(contexts);
  params.add(priorities + "}").add(run_ats + "}").add(delays + "}");
  return params;
}

void add_routing_arrays(Params& params, std::span<const NewJob> jobs) {
  std::vector<std::string> queues, keys;
  queues.reserve(jobs.size());
  keys.reserve(jobs.size());
  for (const NewJob& job : jobs) {
    queues.push_back(job.queue);
    keys.push_back(job.partition_key);
  }
  params.add_array(queues).add_array(keys);
}

std::vector<JobId> inserted_ids(const Result& r) {
  std::vector<JobId> ids;
  for (int i = 0; i < r.rows(); ++i)
    ids.push_back(r.int64(i, 0));
  std::sort(ids.begin(), ids.end());  // identity values follow insertion order
  return ids;
}

namespace {

// The outcomes settle_sql applies, by what it does with them (completed ones split by `keep`).
enum class Settled : std::size_t { done, kept, retried, died, released, snoozed, count };

Settled settled_as(const Outcome& o) {
  switch (o.kind) {
    case Outcome::Kind::completed:
      return o.keep ? Settled::kept : Settled::done;
    case Outcome::Kind::retry:
      return Settled::retried;
    case Outcome::Kind::dead_letter:
      return Settled::died;
    case Outcome::Kind::released:
      return Settled::released;
    case Outcome::Kind::snoozed:
      return Settled::snoozed;
  }
  return Settled::released;
}

}  // namespace

bool may_end_cancelled(const Outcome& outcome) {
  return outcome.kind != Outcome::Kind::completed;
}

void add_settle_arrays(Params& params, std::span<const Outcome> outcomes) {
  constexpr auto kinds = static_cast<std::size_t>(Settled::count);
  std::array<std::vector<std::string>, kinds> ids, ats, errors, delays, histories, outputs;
  for (const Outcome& o : outcomes) {
    const auto k = static_cast<std::size_t>(settled_as(o));
    ids[k].push_back(std::to_string(o.id));
    ats[k].push_back(std::to_string(micros_of(o.locked_at)));
    errors[k].push_back(o.error);
    delays[k].push_back(std::to_string(o.retry_delay.count()));
    histories[k].push_back(o.errors);
    outputs[k].push_back(o.output.value_or(""));
  }
  const auto k = [](Settled s) { return static_cast<std::size_t>(s); };
  const auto lease = [&](Settled s) {
    params.add(array_literal(ids[k(s)])).add(array_literal(ats[k(s)]));
  };
  lease(Settled::done);     // $3, $4
  lease(Settled::retried);  // $5..$9
  params.add_array(errors[k(Settled::retried)]).add(array_literal(delays[k(Settled::retried)]));
  params.add_array(histories[k(Settled::retried)]);
  lease(Settled::died);  // $10..$13
  params.add_array(errors[k(Settled::died)]).add_array(histories[k(Settled::died)]);
  lease(Settled::released);  // $14, $15
  lease(Settled::snoozed);   // $16..$18
  params.add(array_literal(delays[k(Settled::snoozed)]));
  lease(Settled::kept);  // $19..$21
  params.add_array(outputs[k(Settled::kept)]);
}

void add_cancel_settle_arrays(Params& params, std::span<const Outcome> outcomes) {
  std::vector<std::string> ids, ats, charges, errors, histories;
  for (const Outcome& o : outcomes) {
    if (!may_end_cancelled(o)) continue;
    const bool charge = o.kind == Outcome::Kind::retry || o.kind == Outcome::Kind::dead_letter;
    ids.push_back(std::to_string(o.id));
    ats.push_back(std::to_string(micros_of(o.locked_at)));
    charges.push_back(charge ? "1" : "0");
    errors.push_back(charge ? o.error : "");
    histories.push_back(charge ? o.errors : "");
  }
  params.add(array_literal(ids)).add(array_literal(ats)).add(array_literal(charges));
  params.add_array(errors).add_array(histories);
}

std::string settle_lock_sql(const std::string& s) {
  return fmt::format("SELECT id FROM {}.jobs WHERE id = ANY($1::int8[]) ORDER BY id FOR UPDATE", s);
}

// Applies the outcomes of add_settle_arrays in one statement; every change is fenced by the lease
// (worker, locked_at), and every change but completion by the job's cancel not being requested
// (settle_cancelled_sql, before it, took those). Returns the ids it applied. Never fails on what
// a row holds: error counts stay below INT32_MAX, and a finished job's values that are invalid
// (core/stored_values.hpp) are replaced, so the finished table stays readable (the error of a job
// set aside for an invalid value names the value as it was). An empty history or output in the
// arrays stands for none.
std::string settle_sql(const std::string& s) {
  constexpr std::string_view kLease = "j.id = u.id AND j.locked_by = $1 AND j.locked_at = {at}";
  const std::string lease = fmt::format(fmt::runtime(kLease), fmt::arg("at", ts_of("u.at")));
  const std::string open = lease + " AND j.cancel_requested_at IS NULL";
  return fmt::format(
      "WITH t AS (SELECT {now} AS now),"
      " done AS (DELETE FROM {s}.jobs j USING unnest($3::int8[], $4::int8[]) AS u(id, at)"
      "   WHERE {lease} RETURNING j.id),"
      " kept_rows AS (DELETE FROM {s}.jobs j"
      "   USING unnest($19::int8[], $20::int8[], $21::text[]) AS u(id, at, output)"
      "   WHERE {lease} RETURNING j.*, 0 AS charge, NULL::text AS error, NULL::text AS history,"
      "     nullif(u.output, '') AS output, NULL::text AS reason),"
      " kept AS ({keep}),"
      " retried AS (UPDATE {s}.jobs j SET locked_by = NULL, locked_at = NULL,"
      "   error_count = {next_count}, last_error = u.error, last_failed_at = t.now,"
      "   run_at = t.now + u.delay * interval '1 microsecond',"
      "   errors = coalesce(nullif(u.history, ''), j.errors)"
      "   FROM unnest($5::int8[], $6::int8[], $7::text[], $8::int8[], $9::text[])"
      "     AS u(id, at, error, delay, history), t"
      "   WHERE {open} RETURNING j.id),"
      " died AS (DELETE FROM {s}.jobs j"
      "   USING unnest($10::int8[], $11::int8[], $12::text[], $13::text[])"
      "     AS u(id, at, error, history)"
      "   WHERE {open} RETURNING j.*, 1 AS charge, u.error, nullif(u.history, '') AS history,"
      "     NULL::text AS output, NULL::text AS reason),"
      " buried AS ({bury}),"
      " freed AS (UPDATE {s}.jobs j SET locked_by = NULL, locked_at = NULL"
      "   FROM unnest($14::int8[], $15::int8[]) AS u(id, at)"
      "   WHERE {open} RETURNING j.id),"
      " snoozed AS (UPDATE {s}.jobs j SET locked_by = NULL, locked_at = NULL,"
      "   snoozes = least(greatest(j.snoozes, 0), 2147483645) + 1,"
      "   run_at = t.now + u.delay * interval '1 microsecond'"
      "   FROM unnest($16::int8[], $17::int8[], $18::int8[]) AS u(id, at, delay), t"
      "   WHERE {open} RETURNING j.id)"
      " SELECT id FROM done UNION ALL SELECT id FROM kept UNION ALL SELECT id FROM retried"
      " UNION ALL SELECT id FROM buried UNION ALL SELECT id FROM freed"
      " UNION ALL SELECT id FROM snoozed",
      fmt::arg("now", now_of(2)), fmt::arg("s", s), fmt::arg("lease", lease),
      fmt::arg("open", open), fmt::arg("keep", finish_sql(s, "kept_rows", "completed")),
      fmt::arg("bury", finish_sql(s, "died", "discarded")),
      fmt::arg("next_count", "least(greatest(j.error_count, 0), 2147483645) + 1"));
}

std::string settle_completed_sql(const std::string& s) {
  return fmt::format(
      "DELETE FROM {s}.jobs j USING unnest($2::int8[], $3::int8[]) AS u(id, at)"
      " WHERE j.id = u.id AND j.locked_by = $1 AND j.locked_at = {at} RETURNING j.id",
      fmt::arg("s", s), fmt::arg("at", ts_of("u.at")));
}

bool only_deletions(std::span<const Outcome> outcomes) {
  return std::all_of(outcomes.begin(), outcomes.end(), [](const Outcome& o) {
    return o.kind == Outcome::Kind::completed && !o.keep;
  });
}

void add_completed_arrays(Params& params, std::span<const Outcome> outcomes) {
  std::vector<std::string> ids, ats;
  ids.reserve(outcomes.size());
  ats.reserve(outcomes.size());
  for (const Outcome& o : outcomes) {
    ids.push_back(std::to_string(o.id));
    ats.push_back(std::to_string(micros_of(o.locked_at)));
  }
  params.add(array_literal(ids)).add(array_literal(ats));
}

std::string settle_cancelled_sql(const std::string& s) {
  return fmt::format(
      "WITH t AS (SELECT {now} AS now),"
      " gone AS (DELETE FROM {s}.jobs j"
      "   USING unnest($3::int8[], $4::int8[], $5::int4[], $6::text[], $7::text[])"
      "     AS u(id, at, charge, error, history)"
      "   WHERE j.id = u.id AND j.locked_by = $1 AND j.locked_at = {at}"
      "     AND j.cancel_requested_at IS NOT NULL"
      "   RETURNING j.*, u.charge, nullif(u.error, '') AS error,"
      "     nullif(u.history, '') AS history, NULL::text AS output, NULL::text AS reason)"
      " {finish}",
      fmt::arg("now", now_of(2)), fmt::arg("s", s), fmt::arg("at", ts_of("u.at")),
      fmt::arg("finish", finish_sql(s, "gone", "cancelled")));
}

// Unlocks jobs locked at or before now ($1) minus the lock timeout ($2 microseconds).
std::string sweep_sql(const std::string& s) {
  return fmt::format(
      "UPDATE {s}.jobs SET locked_by = NULL, locked_at = NULL"
      " WHERE locked_by IS NOT NULL AND locked_at <= {cutoff}",
      fmt::arg("s", s), fmt::arg("cutoff", cutoff_1_2()));
}

}  // namespace errand::pg
