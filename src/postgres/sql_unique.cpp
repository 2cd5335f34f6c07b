// The PostgreSQL store's SQL for enqueueing unique jobs (postgres/sql.hpp, errand/unique.hpp).
#include "postgres/sql.hpp"

#include "core/unique_sql.hpp"

#include <fmt/format.h>

namespace errand::pg {

namespace {

// The key a row holds (see detail::stored_unique_key): its unique key, with a period the floor
// of its run_at (`at`) in microseconds over the period.
std::string held_key_sql(std::string_view key, std::string_view period, std::string_view at) {
  return fmt::format(
      "CASE WHEN {key} IS NULL THEN NULL WHEN {period} IS NULL THEN {key}"
      " ELSE {key} || ':' || floor((extract(epoch from {at}) * 1000000)::numeric / {period})::int8"
      " END",
      fmt::arg("key", key), fmt::arg("period", period), fmt::arg("at", at));
}

// A row's run_at from its run_at_us and delay_us at t.now.
std::string run_at_sql() {
  return fmt::format("coalesce({}, t.now + u.delay_us * interval '1 microsecond', t.now)",
                     ts_of("u.run_at_us"));
}

}  // namespace

std::string unique_insert_sql(const std::string& s) {
  return fmt::format(
      "WITH t AS (SELECT {now} AS now),"
      " u AS MATERIALIZED (SELECT u.*, {at} AS at, nextval(pg_get_serial_sequence($14, 'id')) AS id"
      "  FROM unnest($1::text[], $2::text[], $3::text[], $4::int4[], $5::int8[], $6::int8[],"
      "              $9::text[], $10::text[], $11::text[], $12::int8[], $13::int4[])"
      "   WITH ORDINALITY AS u(name, payload, context, priority, run_at_us, delay_us, queue,"
      "                        partition_key, ukey, period_us, ustates, ord), t"
      "  ORDER BY u.ord),"
      " r AS MATERIALIZED (SELECT u.*, {key} AS key FROM u),"
      " lead AS (SELECT DISTINCT ON (key) key, id, ustates, at FROM r WHERE key IS NOT NULL"
      "  ORDER BY key, ord),"
      " k AS (INSERT INTO {s}.unique_keys AS x (key, job_id, states, phase, run_at)"
      "  SELECT key, id, ustates, 'waiting', at FROM lead"
      "  ON CONFLICT (key) DO UPDATE SET job_id = excluded.job_id, states = excluded.states,"
      "   phase = 'waiting', run_at = excluded.run_at WHERE NOT {blocks} RETURNING job_id),"
      " ins AS (INSERT INTO {s}.jobs (id, name, payload, context, priority, run_at, created_at,"
      "  queue, partition_key, unique_key)"
      "  SELECT r.id, r.name, r.payload, r.context, r.priority, r.at, t.now, r.queue, {pkey}, r.key"
      "  FROM r, t WHERE r.key IS NULL OR r.id IN (SELECT job_id FROM k) ORDER BY r.ord"
      "  RETURNING id),"
      " known AS (INSERT INTO {s}.queues (name) SELECT DISTINCT unnest($9::text[])"
      "  ON CONFLICT (name) DO NOTHING)"
      " SELECT r.ord, r.id, (r.id IN (SELECT id FROM ins))::int"
      " FROM r, (SELECT pg_notify($8, '')) AS n ORDER BY r.ord",
      fmt::arg("now", now_of(7)), fmt::arg("at", run_at_sql()), fmt::arg("s", s),
      fmt::arg("key", held_key_sql("u.ukey", "u.period_us", "u.at")),
      fmt::arg("blocks", detail::unique_blocks_sql("x", now_of(7))),
      fmt::arg("pkey", stored_key_sql(s, "r.partition_key", "r.queue")));
}

std::string unique_holders_sql(const std::string& s) {
  // A new statement, so a new snapshot: it sees the key rows the insert waited for. The rows
  // this transaction wrote (xmin) are those it inserted; only the first row of a key in the
  // batch may replace its holder. Takes unique_insert_sql's parameters ($8 and $14 unused but
  // typed) and the replace flags ($15).
  return fmt::format(
      "WITH t AS (SELECT {now} AS now),"
      " r AS (SELECT u.ord, u.payload, u.context, u.priority, u.replace, {at} AS at, {key} AS key"
      "  FROM unnest($1::text[], $2::text[], $3::text[], $4::int4[], $5::int8[], $6::int8[],"
      "              $9::text[], $10::text[], $11::text[], $12::int8[], $13::int4[], $15::bool[])"
      "   WITH ORDINALITY AS u(name, payload, context, priority, run_at_us, delay_us, queue,"
      "                        partition_key, ukey, period_us, ustates, replace, ord), t"
      "  WHERE u.ukey IS NOT NULL AND $8::text IS NOT NULL AND $14::text IS NOT NULL),"
      " h AS (SELECT r.*, k.job_id, k.xmin::text::int8 = txid_current() % 4294967296 AS ours"
      "  FROM r JOIN {s}.unique_keys k ON k.key = r.key),"
      " first AS (SELECT DISTINCT ON (key) key, ord FROM r ORDER BY key, ord),"
      " rep AS (UPDATE {s}.jobs j SET payload = h.payload, context = h.context,"
      "  priority = h.priority, run_at = h.at FROM h"
      "  WHERE j.id = h.job_id AND h.replace AND NOT h.ours AND j.locked_by IS NULL"
      "   AND h.ord IN (SELECT ord FROM first) RETURNING j.id)"
      " SELECT h.ord, h.job_id, (h.job_id IN (SELECT id FROM rep))::int FROM h",
      fmt::arg("now", now_of(7)), fmt::arg("at", run_at_sql()), fmt::arg("s", s),
      fmt::arg("key", held_key_sql("u.ukey", "u.period_us", fmt::format("({})", run_at_sql()))));
}

}  // namespace errand::pg
