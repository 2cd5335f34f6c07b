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

}  // namespace

std::string unique_insert_sql(const std::string& s) {
  return fmt::format(
      "WITH t AS (SELECT {now} AS now, pg_get_serial_sequence($14, 'id')::regclass AS seq),"
      " u AS MATERIALIZED (SELECT u.*, {at} AS at, nextval(t.seq) AS id FROM {rows}, t"
      "  ORDER BY u.ord),"
      " ins AS (INSERT INTO {s}.jobs (id, name, payload, context, priority, run_at, created_at,"
      "  queue, partition_key, unique_key)"
      "  SELECT u.id, u.name, u.payload, u.context, u.priority, u.at, t.now, u.queue, {pkey}, {key}"
      "  FROM u, t ORDER BY u.ord"
      "  ON CONFLICT (unique_key) WHERE unique_key IS NOT NULL DO NOTHING RETURNING id),"
      " known AS (INSERT INTO {s}.queues (name) SELECT DISTINCT unnest($9::text[])"
      "  ON CONFLICT (name) DO NOTHING)"
      " SELECT u.ord, u.id FROM u, (SELECT pg_notify($8, '')) AS n"
      " WHERE u.id IN (SELECT id FROM ins)",
      fmt::arg("now", now_of(7)), fmt::arg("at", run_at_sql()), fmt::arg("rows", kRows),
      fmt::arg("s", s), fmt::arg("key", stored_unique_key_sql("u.at")),
      fmt::arg("pkey", stored_key_sql(s, "u.partition_key", "u.queue")));
}

std::string unique_resolve_sql(const std::string& s) {
  // A new statement, so a new snapshot: it sees every job that held a key unique_insert_sql
  // could not take, as committed by the time that insert waited for it. This transaction's
  // own rows are those whose xmin is its transaction id.
  return fmt::format(
      "WITH t AS (SELECT {now} AS now,"
      "  pg_current_xact_id_if_assigned()::text::int8 % 4294967296 AS own),"
      " r AS (SELECT u.ord, u.payload, u.context, u.priority, u.ustates, x.replace, {at} AS at,"
      "  {key} AS key"
      "  FROM {rows} JOIN unnest($15::bool[]) WITH ORDINALITY AS x(replace, ord) USING (ord), t"
      "  WHERE u.ukey IS NOT NULL AND $8::text IS NOT NULL AND $14::text IS NOT NULL),"
      " first AS (SELECT DISTINCT ON (key) * FROM r ORDER BY key, ord),"
      " live AS (SELECT f.ord, j.id, coalesce(j.xmin::text::int8 = t.own, false) AS ours,"
      "  (f.ustates & {live_bit}) <> 0 AS blocks"
      "  FROM first f JOIN {s}.jobs j ON j.unique_key = f.key, t),"
      " fin AS (SELECT DISTINCT ON (f.ord) f.ord, d.id FROM first f"
      "  JOIN {s}.finished_jobs d ON d.unique_key = f.key AND (f.ustates & {fin_bit}) <> 0"
      "  ORDER BY f.ord, d.id DESC),"
      " dropped AS (DELETE FROM {s}.jobs j USING live l JOIN fin ON fin.ord = l.ord"
      "  WHERE l.ours AND j.id = l.id),"
      " rep AS (UPDATE {s}.jobs j SET payload = f.payload, context = f.context,"
      "  priority = f.priority, run_at = f.at FROM first f JOIN live l ON l.ord = f.ord"
      "  WHERE j.id = l.id AND NOT l.ours AND l.blocks AND f.replace AND j.locked_by IS NULL"
      "  RETURNING j.id),"
      " res AS (SELECT f.ord, l.id AS live_id, coalesce(l.ours, false) AS ours,"
      "  coalesce(l.blocks, false) AS blocks, fin.id AS fin_id,"
      "  coalesce(l.id IN (SELECT id FROM rep), false) AS replaced"
      "  FROM first f LEFT JOIN live l ON l.ord = f.ord LEFT JOIN fin ON fin.ord = f.ord)"
      " SELECT r.ord, res.ord, res.live_id, res.ours::int, res.blocks::int, res.fin_id,"
      "  res.replaced::int, CASE WHEN $16 AND NOT res.ours AND NOT res.blocks"
      "  AND res.fin_id IS NULL THEN CAST('{marker} ' || res.ord AS int) END"
      " FROM r JOIN first f ON f.key = r.key JOIN res ON res.ord = f.ord",
      fmt::arg("now", now_of(7)), fmt::arg("at", run_at_sql()), fmt::arg("rows", kRows),
      fmt::arg("s", s), fmt::arg("key", stored_unique_key_sql(fmt::format("({})", run_at_sql()))),
      fmt::arg("live_bit", detail::live_state_bit_sql("j", "t.now")),
      fmt::arg("fin_bit", detail::finished_state_bit_sql("d")),
      fmt::arg("marker", kUniqueTakeoverMarker));
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
