// The PostgreSQL store's SQL for enqueueing unique jobs (postgres/sql.hpp, errand/unique.hpp,
// core/unique_sql.hpp).
#include "postgres/sql.hpp"

#include "core/unique_sql.hpp"

#include <fmt/format.h>

namespace errand::pg {

namespace {

// The rows of a unique batch: insert_sql's arrays, the keys' 32 hex digits ($11, NULL for a job
// without uniqueness), periods in microseconds ($12) and UniqueState masks ($13).
constexpr std::string_view kRows =
    "unnest($1::text[], $2::text[], $3::text[], $4::int4[], $5::int8[], $6::int8[],"
    " $9::text[], $10::text[], $11::text[], $12::int8[], $13::int4[])"
    " WITH ORDINALITY AS u(name, payload, context, priority, run_at_us, delay_us, queue,"
    " partition_key, ukey, period_us, ustates, ord)";

// kRows with the replace flags ($15).
constexpr std::string_view kRowsWithReplace =
    "unnest($1::text[], $2::text[], $3::text[], $4::int4[], $5::int8[], $6::int8[],"
    " $9::text[], $10::text[], $11::text[], $12::int8[], $13::int4[], $15::bool[])"
    " WITH ORDINALITY AS u(name, payload, context, priority, run_at_us, delay_us, queue,"
    " partition_key, ukey, period_us, ustates, replace, ord)";

// A row's run_at from its run_at_us and delay_us at t.now.
std::string run_at_sql() {
  return fmt::format("coalesce({}, t.now + u.delay_us * interval '1 microsecond', t.now)",
                     ts_of("u.run_at_us"));
}

// The stored key of row `u` (detail::stored_unique_key): the key's 16 bytes, then with a period
// the floor of its run_at (`at`) in microseconds over the period, 8 bytes big-endian.
std::string stored_unique_key_sql(std::string_view at) {
  return fmt::format(
      "CASE WHEN u.ukey IS NULL THEN NULL WHEN u.period_us IS NULL THEN decode(u.ukey, 'hex')"
      " ELSE decode(u.ukey, 'hex') ||"
      " int8send(floor((extract(epoch from {at}) * 1000000)::numeric / u.period_us)::int8) END",
      fmt::arg("at", at));
}

// For each row `r` (its key, its UniqueState mask `ustates`) at `t` (now, own: this
// transaction's id): `l`, the live job holding the key (id; ours: this transaction inserted it;
// blocks: its state blocks the row) and `d`, the newest finished job with the key that blocks.
std::string holder_lookups_sql(const std::string& s) {
  return fmt::format(
      "LEFT JOIN LATERAL (SELECT j.id, coalesce(j.xmin::text::int8 = t.own, false) AS ours,"
      " (r.ustates & {live_bit}) <> 0 AS blocks FROM {s}.jobs j, t"
      " WHERE j.unique_key = r.key AND j.unique_key IS NOT NULL) AS l ON true"
      " LEFT JOIN LATERAL (SELECT d.id FROM {s}.finished_jobs d"
      " WHERE d.unique_key = r.key AND d.unique_key IS NOT NULL AND (r.ustates & {fin_bit}) <> 0"
      " ORDER BY d.unique_key DESC, d.id DESC LIMIT 1) AS d ON true",
      fmt::arg("s", s), fmt::arg("live_bit", detail::live_state_bit_sql("j", "t.now")),
      fmt::arg("fin_bit", detail::finished_state_bit_sql("d")));
}

}  // namespace

std::string unique_insert_sql(const std::string& s) {
  // The planner settings (postgres/plans.hpp) leave nested loops alone: no join here matches rows
  // of two sets; the results come back as two arrays, matched by the client.
  return fmt::format(
      "WITH t AS (SELECT {now} AS now, pg_get_serial_sequence($14, 'id')::regclass AS seq),"
      " u AS MATERIALIZED (SELECT u.*, {at} AS at, nextval(t.seq) AS id FROM {rows}, t),"
      " ins AS (INSERT INTO {s}.jobs (id, name, payload, context, priority, run_at, created_at,"
      "  queue, partition_key, unique_key)"
      "  SELECT u.id, u.name, u.payload, u.context, u.priority, u.at, t.now, u.queue, {pkey}, {key}"
      "  FROM u, t"
      "  ON CONFLICT (unique_key) WHERE unique_key IS NOT NULL DO NOTHING RETURNING id),"
      " known AS (INSERT INTO {s}.queues (name) SELECT DISTINCT unnest($9::text[])"
      "  ON CONFLICT (name) DO NOTHING)"
      " SELECT (SELECT array_agg(id ORDER BY ord) FROM u), (SELECT array_agg(id) FROM ins)"
      " FROM (SELECT pg_notify($8, '')) AS n",
      fmt::arg("now", now_of(7)), fmt::arg("at", run_at_sql()), fmt::arg("rows", kRows),
      fmt::arg("s", s), fmt::arg("key", stored_unique_key_sql("u.at")),
      fmt::arg("pkey", stored_key_sql(s, "u.partition_key", "u.queue")));
}

std::string unique_insert_one_sql(const std::string& s) {
  // unique_insert_sql for one row: the id comes from the column's default, so no id sequence is
  // looked up and nothing is materialized; 0 stands for the id of a row not inserted.
  return fmt::format(
      "WITH t AS (SELECT {now} AS now),"
      " ins AS (INSERT INTO {s}.jobs (name, payload, context, priority, run_at, created_at,"
      "  queue, partition_key, unique_key)"
      "  SELECT u.name, u.payload, u.context, u.priority, {at}, t.now, u.queue, {pkey}, {key}"
      "  FROM {rows}, t WHERE $14::text IS NOT NULL"
      "  ON CONFLICT (unique_key) WHERE unique_key IS NOT NULL DO NOTHING RETURNING id),"
      " known AS (INSERT INTO {s}.queues (name) SELECT DISTINCT unnest($9::text[])"
      "  ON CONFLICT (name) DO NOTHING)"
      " SELECT ARRAY[coalesce((SELECT id FROM ins), 0)]::text, (SELECT array_agg(id) FROM ins)"
      " FROM (SELECT pg_notify($8, '')) AS n",
      fmt::arg("now", now_of(7)), fmt::arg("at", run_at_sql()), fmt::arg("rows", kRows),
      fmt::arg("s", s), fmt::arg("key", stored_unique_key_sql(fmt::format("({})", run_at_sql()))),
      fmt::arg("pkey", stored_key_sql(s, "u.partition_key", "u.queue")));
}

std::string unique_resolve_sql(const std::string& s) {
  // A new statement, so a new snapshot: it sees every job that held a key unique_insert_sql
  // could not take, as committed by the time that insert waited for it. This transaction's
  // own rows are those whose xmin is its transaction id. Each key's first row looks its holders
  // up by index (lateral); the other rows of a key only name their first.
  return fmt::format(
      "WITH t AS (SELECT {now} AS now,"
      "  pg_current_xact_id_if_assigned()::text::int8 % 4294967296 AS own),"
      " r AS MATERIALIZED (SELECT u.*, min(u.ord) OVER (PARTITION BY u.key) AS first FROM"
      "  (SELECT u.ord, u.payload, u.context, u.priority, u.ustates, u.replace, {at} AS at,"
      "   {key} AS key FROM {rows_replace}, t"
      "   WHERE u.ukey IS NOT NULL AND $8::text IS NOT NULL AND $14::text IS NOT NULL) AS u),"
      " look AS MATERIALIZED (SELECT r.*, l.id AS live_id, coalesce(l.ours, false) AS ours,"
      "  coalesce(l.blocks, false) AS blocks, d.id AS fin_id FROM r {holders}"
      "  WHERE r.ord = r.first),"
      " dropped AS (DELETE FROM {s}.jobs j USING look"
      "  WHERE j.id = look.live_id AND look.ours AND look.fin_id IS NOT NULL),"
      // Not `WHERE locked_by IS NULL`: that would make the planner scan the runnable index
      // for the few rows; a running holder is updated to itself instead.
      " rep AS (UPDATE {s}.jobs j SET"
      "  payload = CASE WHEN j.locked_by IS NULL THEN look.payload ELSE j.payload END,"
      "  context = CASE WHEN j.locked_by IS NULL THEN look.context ELSE j.context END,"
      "  priority = CASE WHEN j.locked_by IS NULL THEN look.priority ELSE j.priority END,"
      "  run_at = CASE WHEN j.locked_by IS NULL THEN look.at ELSE j.run_at END FROM look"
      "  WHERE j.id = look.live_id AND NOT look.ours AND look.blocks AND look.replace"
      "  RETURNING look.ord, j.locked_by IS NULL AS waiting)"
      " SELECT ord, first, live_id, ours::int, blocks::int, fin_id,"
      "  CASE WHEN $16 AND NOT ours AND NOT blocks AND fin_id IS NULL"
      "  THEN CAST('{marker} ' || ord AS int) END, (SELECT array_agg(ord) FROM rep WHERE waiting)"
      " FROM look"
      " UNION ALL SELECT ord, first, NULL, NULL, NULL, NULL, NULL, NULL FROM r WHERE ord <> first",
      fmt::arg("now", now_of(7)), fmt::arg("at", run_at_sql()),
      fmt::arg("rows_replace", kRowsWithReplace), fmt::arg("s", s),
      fmt::arg("key", stored_unique_key_sql(fmt::format("({})", run_at_sql()))),
      fmt::arg("holders", holder_lookups_sql(s)), fmt::arg("marker", kUniqueTakeoverMarker));
}

std::string unique_resolve_one_sql(const std::string& s) {
  // unique_resolve_sql for one row, with no data-modifying CTE, no window, no materialization
  // and only the parameters it needs (their executor start-up and the arrays' parsing were most
  // of a single keyed enqueue's extra cost). What would modify a row fails on purpose with the
  // marker instead: drop the row this transaction inserted (a finished job blocks), replace the
  // holder, take the key over. (The cast's text is not a constant: the planner would fold a
  // constant one, and fail every time.)
  return fmt::format(
      "WITH t AS (SELECT {now} AS now,"
      "  pg_current_xact_id_if_assigned()::text::int8 % 4294967296 AS own),"
      " r AS (SELECT u.ustates, u.replace, {key} AS key FROM (SELECT $1::text AS ukey,"
      "  $2::int8 AS period_us, $3::int8 AS run_at_us, $4::int8 AS delay_us, $5::int4 AS ustates,"
      "  $6::bool AS replace) AS u, t),"
      " look AS (SELECT r.replace, l.id AS live_id, coalesce(l.ours, false) AS ours,"
      "  coalesce(l.blocks, false) AS blocks, d.id AS fin_id FROM r {holders})"
      " SELECT 1::int8, 1::int8, live_id, ours::int, blocks::int, fin_id,"
      "  CASE WHEN (ours AND fin_id IS NOT NULL) OR (NOT ours AND blocks AND replace)"
      "   OR (NOT ours AND NOT blocks AND fin_id IS NULL)"
      "  THEN CAST('{marker} ' || ours::int AS int) END, NULL::text"
      " FROM look",
      fmt::arg("now", now_of(7)), fmt::arg("s", s),
      fmt::arg("key", stored_unique_key_sql(fmt::format("({})", run_at_sql()))),
      fmt::arg("holders", holder_lookups_sql(s)), fmt::arg("marker", kUniqueTakeoverMarker));
}

std::string release_unique_keys_sql(const std::string& s) {
  return fmt::format(
      "UPDATE {s}.jobs j SET unique_key = NULL"
      " FROM unnest($1::int8[], $2::int4[]) AS x(id, states), (SELECT {now} AS now) AS t"
      " WHERE j.id = x.id AND j.unique_key IS NOT NULL AND (x.states & {live_bit}) = 0",
      fmt::arg("s", s), fmt::arg("now", now_of(3)),
      fmt::arg("live_bit", detail::live_state_bit_sql("j", "t.now")));
}

}  // namespace errand::pg
