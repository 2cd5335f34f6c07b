// The PostgreSQL store's SQL for queues (postgres/sql.hpp): claiming within their settings, and
// their administration.
#include "postgres/sql.hpp"

#include <fmt/format.h>

namespace errand::pg {

namespace {

constexpr std::string_view kQueueColumns =
    "name, paused::int, global_limit, per_key_limit, rate_limit, rate_period_us, rate_log, "
    "key_cursor";

// A queue row (unqualified columns, or of alias q) whose queue has no limit.
constexpr std::string_view kWithoutLimits =
    "global_limit IS NULL AND per_key_limit IS NULL AND rate_limit IS NULL";

// A queue row (unqualified columns, or of alias q) whose one limit is a global one.
constexpr std::string_view kGlobalLimitAlone =
    "global_limit IS NOT NULL AND per_key_limit IS NULL AND rate_limit IS NULL";

// The clock now, not the transaction's start (after a wait for the queues' locks); microseconds
// in $n from an injected clock instead.
std::string clock_now_of(int n) {
  return fmt::format(
      "coalesce(timestamptz 'epoch' + ${}::int8 * interval '1 microsecond', clock_timestamp())", n);
}

// The columns read_claimed_job reads, of table alias j.
std::string claimed_columns() {
  return fmt::format(
      "j.id, j.name, j.payload, j.context, j.priority, j.error_count, {run_at}, {created_at},"
      " j.last_error, j.snoozes, j.errors, (j.cancel_requested_at IS NOT NULL)::int, j.queue,"
      " j.partition_key",
      fmt::arg("run_at", us_of("j.run_at")), fmt::arg("created_at", us_of("j.created_at")));
}

// A claim's end, after CTEs t (now) and c (the chosen ids, in order): locks them for worker $1
// and returns them in the columns read_claimed_job reads, then locked_at and the place in c.
std::string lock_chosen_sql(const std::string& s) {
  return fmt::format(
      " UPDATE {s}.jobs j SET locked_by = $1, locked_at = t.now FROM t"
      " WHERE j.id = ANY(ARRAY(SELECT id FROM c))"
      " RETURNING {columns}, {locked_at}, array_position(ARRAY(SELECT id FROM c), j.id)",
      fmt::arg("s", s), fmt::arg("columns", claimed_columns()),
      fmt::arg("locked_at", us_of("j.locked_at")));
}

}  // namespace

std::string open_claim_sql(const std::string& s) {
  // Each queue's candidates are numbered as its index scan gives them (rank: no sort), then one
  // sort of at most $2 rows per queue interleaves the queues; the ids' array keeps that order,
  // which array_position gives back with each returned row.
  return fmt::format(
      "WITH t AS (SELECT {now} AS now),"
      " d AS (SELECT q.name, q.n, 0 AS turn FROM unnest($4::text[], $5::int8[]) AS q(name, n)"
      "  UNION ALL SELECT name, $2::int8, (name <= $6)::int FROM {s}.queues"
      "  WHERE $4::text[] IS NULL),"
      " open AS (SELECT d.* FROM d JOIN {s}.queues q ON q.name = d.name"
      "  WHERE d.n > 0 AND NOT q.paused AND {open}),"
      " c AS MATERIALIZED (SELECT x.id FROM ("
      "  SELECT j.id, j.rank, o.turn, o.name FROM open o, t, LATERAL ("
      "   SELECT s.id, row_number() OVER () AS rank FROM (SELECT id FROM {s}.jobs"
      "    WHERE queue = o.name AND locked_by IS NULL AND run_at <= t.now"
      "    ORDER BY priority DESC, run_at, id LIMIT o.n FOR UPDATE SKIP LOCKED) s) j) x"
      "  ORDER BY x.rank, x.turn, x.name LIMIT $2)"
      "{lock}",
      fmt::arg("s", s), fmt::arg("now", now_of(3)), fmt::arg("open", kWithoutLimits),
      fmt::arg("lock", lock_chosen_sql(s)));
}

std::string single_queue_claim_sql(const std::string& s) {
  // The claim before queues had names, on the one queue's index range; the queue's settings
  // are checked once (an InitPlan), by this statement's own snapshot.
  return fmt::format(
      "WITH t AS (SELECT {now} AS now),"
      " c AS MATERIALIZED (SELECT id FROM {s}.jobs, t WHERE queue = $4 AND locked_by IS NULL"
      "  AND run_at <= t.now AND EXISTS (SELECT FROM {s}.queues q WHERE q.name = $4"
      "  AND NOT q.paused AND {open})"
      "  ORDER BY priority DESC, run_at, id LIMIT $2 FOR UPDATE OF jobs SKIP LOCKED)"
      "{lock}",
      fmt::arg("s", s), fmt::arg("now", now_of(3)), fmt::arg("open", kWithoutLimits),
      fmt::arg("lock", lock_chosen_sql(s)));
}

std::string global_claim_sql(const std::string& s) {
  // How many (n) is allowance() of core/claim_plan.cpp for a queue with a global limit alone:
  // the free slots' jobs up to the leases' room, then prefetch from the room beyond the limit's
  // upper half. f is read once (MATERIALIZED: inlined, its count ran once per reference). No row
  // in f (the queue paused, or its limits changed): LIMIT 0.
  return fmt::format(
      "WITH t AS (SELECT {now} AS now),"
      " f AS MATERIALIZED (SELECT q.global_limit AS lim, greatest(0, q.global_limit - (SELECT"
      "  count(*) FROM {s}.jobs WHERE queue = $4 AND locked_by IS NOT NULL)) AS free"
      "  FROM {s}.queues q WHERE q.name = $4 AND NOT q.paused AND {alone}),"
      " n AS (SELECT least($2::int8, free) + greatest(0, least($5::int8,"
      "  free - least($2::int8, free) - (lim + 1) / 2)) AS n FROM f),"
      " c AS MATERIALIZED (SELECT id FROM {s}.jobs, t WHERE queue = $4 AND locked_by IS NULL"
      "  AND run_at <= t.now ORDER BY priority DESC, run_at, id"
      "  LIMIT coalesce((SELECT n FROM n), 0) FOR UPDATE OF jobs SKIP LOCKED)"
      "{lock}",
      fmt::arg("s", s), fmt::arg("now", clock_now_of(3)), fmt::arg("alone", kGlobalLimitAlone),
      fmt::arg("lock", lock_chosen_sql(s)));
}

std::string queue_summary_sql(const std::string& s) {
  return fmt::format(
      "SELECT name, limited::int, (per_key_limit IS NOT NULL)::int, total, ({alone})::int"
      " FROM (SELECT name, global_limit, per_key_limit, rate_limit, NOT ({open}) AS limited,"
      "  count(*) OVER () AS total, row_number() OVER (ORDER BY name) AS k FROM {s}.queues"
      "  WHERE ($1::text[] IS NULL OR name = ANY($1::text[])) AND NOT paused) x"
      " WHERE limited OR k = 1 ORDER BY name",
      fmt::arg("s", s), fmt::arg("open", kWithoutLimits), fmt::arg("alone", kGlobalLimitAlone));
}

std::string stored_key_sql(const std::string& s, std::string_view key, std::string_view queue) {
  // The queues with a per-key limit are read once per statement (an uncorrelated InitPlan), not
  // once per row.
  return fmt::format(
      "CASE WHEN {key} <> '' THEN {key} WHEN {queue} = ANY(ARRAY(SELECT name FROM {s}.queues"
      " WHERE per_key_limit IS NOT NULL)) THEN '' END",
      fmt::arg("key", key), fmt::arg("s", s), fmt::arg("queue", queue));
}

std::string lock_jobs_table_sql(const std::string& s) {
  return fmt::format("LOCK TABLE {}.jobs IN SHARE MODE", s);
}

std::string give_empty_keys_sql(const std::string& s) {
  return fmt::format(
      "UPDATE {}.jobs SET partition_key = '' WHERE queue = $1 AND partition_key IS NULL", s);
}

std::string claim_now_sql() {
  return fmt::format("SELECT {}", us_of(clock_now_of(1)));
}

std::string queue_rows_sql(const std::string& s, bool named, bool lock) {
  return fmt::format("SELECT {columns}, {updated_at} FROM {s}.queues {where} ORDER BY name{lock}",
                     fmt::arg("columns", kQueueColumns), fmt::arg("s", s),
                     fmt::arg("updated_at", us_of("updated_at")),
                     fmt::arg("where", named ? "WHERE name = ANY($1::text[])" : ""),
                     fmt::arg("lock", lock ? " FOR NO KEY UPDATE" : ""));
}

std::string leases_sql(const std::string& s) {
  return fmt::format(
      "SELECT partition_key, count(*) FROM {}.jobs WHERE queue = $1 AND locked_by IS NOT NULL"
      " GROUP BY partition_key",
      s);
}

std::string ready_jobs_sql(const std::string& s, bool of_key) {
  return fmt::format(
      "SELECT {columns} FROM {s}.jobs j WHERE j.queue = $3 {key} AND j.locked_by IS NULL"
      " AND j.run_at <= coalesce({at}, now()) ORDER BY j.priority DESC, j.run_at, j.id LIMIT $2"
      " FOR UPDATE OF j SKIP LOCKED",
      fmt::arg("columns", claimed_columns()), fmt::arg("s", s),
      fmt::arg("key", of_key ? "AND j.partition_key IS NOT NULL AND j.partition_key = $4" : ""),
      fmt::arg("at", ts_of("$1")));
}

std::string next_key_sql(const std::string& s, bool after) {
  return fmt::format(
      "SELECT partition_key FROM {s}.jobs WHERE queue = $1 AND partition_key IS NOT NULL {after}"
      " AND locked_by IS NULL"
      " AND run_at <= {at} ORDER BY partition_key LIMIT 1",
      fmt::arg("s", s), fmt::arg("after", after ? "AND partition_key > $3" : ""),
      fmt::arg("at", ts_of("$2")));
}

std::string lock_claimed_sql(const std::string& s) {
  // No `AND locked_by IS NULL`: the rows were read unlocked and FOR UPDATE by this transaction,
  // so they still are; and with it the generic plan ANDs a bitmap of the whole runnable index
  // (its predicate) with the ids' (3 ms instead of 0.3 for 80 of 200,000 rows).
  return fmt::format(
      "UPDATE {s}.jobs SET locked_by = $1, locked_at = {at} WHERE id = ANY($3::int8[])"
      " RETURNING id",
      fmt::arg("s", s), fmt::arg("at", ts_of("$2")));
}

std::string save_queue_use_sql(const std::string& s) {
  return fmt::format("UPDATE {}.queues SET rate_log = $2, key_cursor = $3 WHERE name = $1", s);
}

std::string add_queue_sql(const std::string& s) {
  return fmt::format("INSERT INTO {}.queues (name) VALUES ($1) ON CONFLICT (name) DO NOTHING", s);
}

std::string update_queue_sql(const std::string& s) {
  return fmt::format(
      "WITH u AS (UPDATE {s}.queues SET paused = $2::int::boolean, global_limit = $3,"
      " per_key_limit = $4, rate_limit = $5, rate_period_us = $6, updated_at = {now}"
      " WHERE name = $1 RETURNING name)"
      " SELECT count(*) FROM u, (SELECT pg_notify($8, 'queues')) AS n",
      fmt::arg("s", s), fmt::arg("now", now_of(7)));
}

std::string queue_busiest_keys_sql(const std::string& s) {
  return fmt::format(
      "SELECT queue, max(n) FROM (SELECT queue, partition_key, count(*) AS n FROM {}.jobs"
      " WHERE locked_by IS NOT NULL GROUP BY queue, partition_key) k GROUP BY queue",
      s);
}

LimitedClaimSql::LimitedClaimSql(const std::string& s)
    : lock_queues(queue_rows_sql(s, /*named=*/true, /*lock=*/true)),
      claim_now(claim_now_sql()),
      leases(leases_sql(s)),
      ready(ready_jobs_sql(s, /*of_key=*/false)),
      ready_of_key(ready_jobs_sql(s, /*of_key=*/true)),
      first_key(next_key_sql(s, /*after=*/false)),
      next_key(next_key_sql(s, /*after=*/true)),
      lock_claimed(lock_claimed_sql(s)),
      save_queue_use(save_queue_use_sql(s)),
      global_claim(global_claim_sql(s)) {}

}  // namespace errand::pg
