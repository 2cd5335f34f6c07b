// The SQLite store's statements (sqlite/sql.hpp): those built from parts, each once.
#include "sqlite/sql.hpp"

#include "core/unique_sql.hpp"

#include "core/stored_values.hpp"

#include <fmt/format.h>

#include <array>
#include <bit>
#include <stdexcept>

namespace errand::sqlite::sql {

namespace {

// SQL true when `column` holds a valid stored time (an INTEGER in range).
std::string valid_time(std::string_view column) {
  return fmt::format("(typeof({0}) = 'integer' AND {0} >= {1} AND {0} < {2})", column,
                     detail::kFirstStoredMicros, detail::kEndStoredMicros);
}

// The condition selecting finished jobs by `where`, its value ?1.
std::string_view dead_condition(DeadWhere where) {
  switch (where) {
    case DeadWhere::name:
      return "WHERE state = 'discarded' AND name = ?1";
    case DeadWhere::ids:
      return "WHERE state = 'discarded' AND id IN (SELECT value FROM json_each(?1))";
    case DeadWhere::id:
      return "WHERE state = 'discarded' AND id = ?1";
    case DeadWhere::none:
      return "WHERE 0";
    case DeadWhere::finished_id:
      return "WHERE id = ?1";
    case DeadWhere::all:
      break;
  }
  return "WHERE state = 'discarded'";
}

// One text per DeadWhere, built once from `make`.
template <class Make>
std::string_view per_dead_where(DeadWhere where, Make make) {
  static_assert(static_cast<int>(DeadWhere::finished_id) == 5);
  static const std::array<std::string, 6> texts{
      make(dead_condition(DeadWhere::all)),  make(dead_condition(DeadWhere::name)),
      make(dead_condition(DeadWhere::ids)),  make(dead_condition(DeadWhere::id)),
      make(dead_condition(DeadWhere::none)), make(dead_condition(DeadWhere::finished_id))};
  return texts[static_cast<std::size_t>(where)];
}

// Copies the jobs of errand_jobs matching `where` (its parameters ?1..?3) into
// errand_finished_jobs with the values of ?4..?10 (see finish_leased in sql.hpp).
std::string finish_where(std::string_view where) {
  return fmt::format(
      "INSERT OR REPLACE INTO errand_finished_jobs "
      "(id, name, payload, context, priority, run_at, created_at, error_count, last_error, "
      "last_failed_at, snoozes, errors, state, finished_at, cancel_reason, output, queue, "
      "partition_key, unique_key) "
      "SELECT id, CAST(name AS TEXT), CAST(payload AS TEXT), CAST(context AS TEXT), "
      "CASE WHEN typeof(priority) = 'integer' AND priority BETWEEN {min} AND {max} "
      "THEN priority ELSE 0 END, "
      "CASE WHEN {run_ok} THEN run_at ELSE ?4 END, "
      "CASE WHEN {created_ok} THEN created_at ELSE ?4 END, "
      "CASE WHEN typeof(error_count) = 'integer' AND error_count >= 0 "
      "THEN min(error_count, {max} - 2) + ?6 ELSE ?6 END, "
      "coalesce(?7, CAST(last_error AS TEXT)), "
      "CASE WHEN ?6 THEN ?4 WHEN {failed_ok} THEN last_failed_at END, "
      "CASE WHEN typeof(snoozes) = 'integer' AND snoozes BETWEEN 0 AND {max} - 1 "
      "THEN snoozes ELSE 0 END, "
      "coalesce(?8, CAST(errors AS TEXT)), ?5, ?4, coalesce(?10, CAST(cancel_reason AS TEXT)), ?9, "
      "CAST(queue AS TEXT), CAST(partition_key AS TEXT), unique_key FROM errand_jobs WHERE {where}",
      fmt::arg("min", detail::kInt32Min), fmt::arg("max", detail::kInt32Max),
      fmt::arg("run_ok", valid_time("run_at")), fmt::arg("created_ok", valid_time("created_at")),
      fmt::arg("failed_ok", valid_time("last_failed_at")), fmt::arg("where", where));
}

// The columns read_job_info reads, of the jobs table and of the finished jobs table.
constexpr std::string_view kLiveColumns =
    "id, name, payload, context, priority, error_count, run_at, created_at, locked_by, "
    "locked_at, last_error, last_failed_at, snoozes, errors, cancel_requested_at, cancel_reason, "
    "progress, progress_message, progress_at, NULL, NULL, NULL, queue, partition_key";
constexpr std::string_view kFinishedColumns =
    "id, name, payload, context, priority, error_count, run_at, created_at, NULL, NULL, "
    "last_error, last_failed_at, snoozes, errors, NULL, cancel_reason, NULL, NULL, NULL, state, "
    "finished_at, output, queue, partition_key";

}  // namespace

std::string_view insert_jobs(std::size_t rows) {
  static const std::array<std::string, kRowsPerInsert> texts = [] {
    std::array<std::string, kRowsPerInsert> built;
    std::string values = "(?, ?, ?, ?, ?, ?, ?, ?)";
    for (std::string& text : built) {
      text =
          "INSERT INTO errand_jobs (name, payload, context, priority, run_at, created_at, queue, "
          "partition_key) VALUES " +
          values + " RETURNING id";
      values += ", (?, ?, ?, ?, ?, ?, ?, ?)";
    }
    return built;
  }();
  return texts.at(rows - 1);
}

std::string_view live_unique_holder() {
  static const std::string text =
      fmt::format("SELECT id, (?2 & {}) <> 0 FROM errand_jobs j WHERE unique_key = ?1",
                  detail::live_state_bit_sql("j", "?3"));
  return text;
}

std::string_view finished_unique_blocker() {
  static const std::string text = fmt::format(
      "SELECT id FROM errand_finished_jobs f WHERE unique_key = ?1 AND (?2 & {}) <> 0 "
      "ORDER BY id DESC LIMIT 1",
      detail::finished_state_bit_sql("f"));
  return text;
}

std::string_view insert_claim_ids(std::size_t ids) {
  static const std::array<std::string, std::bit_width(kIdsPerInsert)> texts = [] {
    std::array<std::string, std::bit_width(kIdsPerInsert)> built;
    std::string values = "(?1)";
    for (std::size_t i = 0; i < built.size(); ++i) {
      built[i] = "INSERT OR IGNORE INTO temp.errand_claim_ids (id) VALUES " + values;
      const std::size_t n = std::size_t{1} << i;  // ids in `values`; double them
      for (std::size_t k = n; k < 2 * n; ++k)
        values += fmt::format(", (?{})", k + 1);
    }
    return built;
  }();
  if (ids == 0 || ids > kIdsPerInsert || !std::has_single_bit(ids)) {
    throw std::logic_error("insert_claim_ids: not a power of two up to kIdsPerInsert");
  }
  return texts[static_cast<std::size_t>(std::countr_zero(ids))];
}

std::string_view finish_leased() {
  static const std::string text = finish_where("id = ?1 AND locked_by = ?2 AND locked_at = ?3");
  return text;
}

std::string_view finish_unlocked() {
  static const std::string text = finish_where("id = ?1 AND locked_by IS NULL");
  return text;
}

std::string_view finish_unlocked_named() {
  static const std::string text = finish_where("name = ?1 AND locked_by IS NULL");
  return text;
}

std::string_view finish_ready() {
  static const std::string text = finish_where("locked_by IS NULL AND run_at <= ?1");
  return text;
}

std::string_view find_lost_jobs() {
  static const std::string text = fmt::format(
      "SELECT j.id, j.name, j.payload, j.context, j.priority, j.error_count, j.run_at, "
      "j.created_at, j.last_error, j.snoozes, j.errors, j.cancel_requested_at IS NOT NULL, "
      "j.queue, j.partition_key, j.locked_at, w.id, w.started_at, w.heartbeat_at "
      "FROM errand_jobs j JOIN errand_workers w ON j.locked_by = w.id "
      "WHERE j.locked_by IS NOT NULL AND (w.heartbeat_at <= ?1 OR j.locked_at < w.started_at) "
      "AND {} ORDER BY j.locked_at, j.id LIMIT ?2",
      valid_time("j.locked_at"));
  return text;
}

std::string list_jobs(const JobFilter& filter, std::vector<detail::FilterParam>& params,
                      detail::LivePart part) {
  constexpr std::array<std::string_view, 8> kStates{
      "",
      " AND locked_by IS NULL AND run_at <= ?1",         // JobState::ready
      " AND locked_by IS NULL AND run_at > ?1",          // JobState::scheduled
      " AND locked_by IS NOT NULL AND locked_at > ?2",   // JobState::running
      " AND locked_by IS NOT NULL AND locked_at <= ?2",  // JobState::abandoned
      " AND state = ?5",                                 // JobState::completed
      " AND state = ?5",                                 // JobState::cancelled
      " AND state = ?5",                                 // JobState::discarded
  };
  static_assert(static_cast<int>(JobState::discarded) == 6);
  const bool finished = detail::lists_finished(filter);
  std::string_view state = kStates[filter.state ? static_cast<std::size_t>(*filter.state) + 1 : 0];
  // In id order, `+state` keeps SQLite off the (state, finished_at) index, with which it would
  // sort every finished job in that state for each page: it walks the primary key instead.
  if (finished && filter.order != JobOrder::natural) state = " AND +state = ?5";
  const std::string more =
      detail::job_filter_conditions(filter, finished, [&](detail::FilterParam p) {
        params.push_back(p);
        return fmt::format("?{}", 6 + params.size());
      });
  // A queue named in the text (not `?6 IS NULL OR ...`), so that SQLite reads its index range.
  return fmt::format(
      "SELECT {} FROM {} WHERE {}{}{}{}{}{} ORDER BY {} LIMIT ?4",
      finished ? kFinishedColumns : kLiveColumns, finished ? "errand_finished_jobs" : "errand_jobs",
      filter.queue ? "queue = ?6" : "?6 IS NULL", detail::live_part_sql(part), state,
      filter.name ? " AND name = ?3" : "", filter.failing_only ? " AND error_count > 0" : "", more,
      detail::job_order_sql(filter, finished, ""));
}

std::string_view find_live_job() {
  static const std::string text =
      fmt::format("SELECT {} FROM errand_jobs WHERE id = ?1", kLiveColumns);
  return text;
}

std::string_view find_finished_job() {
  static const std::string text =
      fmt::format("SELECT {} FROM errand_finished_jobs WHERE id = ?1", kFinishedColumns);
  return text;
}

std::string_view list_dead(bool named) {
  return named ? "SELECT id, name, payload, context, priority, error_count, last_error, "
                 "created_at, finished_at, queue, partition_key FROM errand_finished_jobs "
                 "WHERE state = 'discarded' AND name = ?1 "
                 "ORDER BY finished_at DESC, id DESC LIMIT ?2"
               : "SELECT id, name, payload, context, priority, error_count, last_error, "
                 "created_at, finished_at, queue, partition_key FROM errand_finished_jobs "
                 "WHERE state = 'discarded' "
                 "ORDER BY finished_at DESC, id DESC LIMIT ?2";
}

std::string_view prune_finished() {
  static const std::string text = [] {
    const auto oldest = [](std::string_view state, int cutoff) {
      return fmt::format(
          "SELECT id FROM (SELECT id FROM errand_finished_jobs WHERE state = '{}' "
          "AND finished_at <= ?{} ORDER BY finished_at LIMIT ?4)",
          state, cutoff);
    };
    return fmt::format(
        "DELETE FROM errand_finished_jobs WHERE id IN "
        "(SELECT id FROM ({} UNION ALL {} UNION ALL {}) LIMIT ?4)",
        oldest("completed", 1), oldest("cancelled", 2), oldest("discarded", 3));
  }();
  return text;
}

DeadWhere dead_where(DeadSelection::Kind kind) {
  switch (kind) {
    case DeadSelection::Kind::all:
      return DeadWhere::all;
    case DeadSelection::Kind::name:
      return DeadWhere::name;
    case DeadSelection::Kind::ids:
      return DeadWhere::ids;
    case DeadSelection::Kind::nothing:  // refused by check_dead_selection before
      break;
  }
  return DeadWhere::none;
}

// A dead job moved back keeps its unique key unless a live job holds it now, or a newer dead job
// with that key moves back with it (the unique index takes each key once).
constexpr std::string_view kKeyMovedBack =
    "CASE WHEN unique_key IS NULL OR EXISTS (SELECT 1 FROM errand_jobs j "
    "WHERE j.unique_key = errand_finished_jobs.unique_key) OR row_number() OVER "
    "(PARTITION BY unique_key ORDER BY id DESC) > 1 THEN NULL ELSE unique_key END";

std::string_view copy_dead_back(DeadWhere where) {
  return per_dead_where(where, [](std::string_view condition) {
    return fmt::format(
        "INSERT INTO errand_jobs (id, name, payload, context, priority, run_at, created_at, "
        "error_count, last_error, last_failed_at, errors, queue, partition_key, unique_key) "
        "SELECT id, name, payload, context, priority, ?2, created_at, 0, last_error, "
        "last_failed_at, errors, queue, CASE WHEN partition_key <> '' THEN partition_key "
        "WHEN EXISTS (SELECT 1 FROM errand_queues q WHERE q.name = errand_finished_jobs.queue AND "
        "q.per_key_limit IS NOT NULL) THEN '' END, {} FROM errand_finished_jobs {}",
        kKeyMovedBack, condition);
  });
}

std::string_view delete_dead(DeadWhere where) {
  return per_dead_where(where, [](std::string_view condition) {
    return fmt::format("DELETE FROM errand_finished_jobs {}", condition);
  });
}

std::string_view tally_dead_by_name(DeadWhere where) {
  return per_dead_where(where, [](std::string_view condition) {
    return fmt::format(
        "SELECT name, count(*) FROM errand_finished_jobs {} GROUP BY name "
        "ORDER BY 2 DESC, name",
        condition);
  });
}

std::string_view tally_dead_ids(DeadWhere where) {
  return per_dead_where(where, [](std::string_view condition) {
    return fmt::format("SELECT id FROM errand_finished_jobs {} ORDER BY id LIMIT ?2", condition);
  });
}

}  // namespace errand::sqlite::sql
