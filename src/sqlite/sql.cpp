// The SQLite store's statements (sqlite/sql.hpp): those built from parts, each once.
#include "sqlite/sql.hpp"

#include "core/stored_values.hpp"

#include <fmt/format.h>

#include <array>

namespace errand::sqlite::sql {

namespace {

// SQL true when `column` holds a valid stored time (an INTEGER in range).
std::string valid_time(std::string_view column) {
  return fmt::format("(typeof({0}) = 'integer' AND {0} >= {1} AND {0} < {2})", column,
                     detail::kFirstStoredMicros, detail::kEndStoredMicros);
}

// The condition selecting dead jobs by `where`, its value ?1: "" for every dead job.
std::string_view dead_condition(DeadWhere where) {
  switch (where) {
    case DeadWhere::name:
      return "WHERE name = ?1";
    case DeadWhere::ids:
      return "WHERE id IN (SELECT value FROM json_each(?1))";
    case DeadWhere::id:
      return "WHERE id = ?1";
    case DeadWhere::none:
      return "WHERE 0";
    case DeadWhere::all:
      break;
  }
  return "";
}

// One text per DeadWhere, built once from `make`.
template <class Make>
std::string_view per_dead_where(DeadWhere where, Make make) {
  static_assert(static_cast<int>(DeadWhere::none) == 4);
  static const std::array<std::string, 5> texts{
      make(dead_condition(DeadWhere::all)), make(dead_condition(DeadWhere::name)),
      make(dead_condition(DeadWhere::ids)), make(dead_condition(DeadWhere::id)),
      make(dead_condition(DeadWhere::none))};
  return texts[static_cast<std::size_t>(where)];
}

}  // namespace

std::string_view insert_jobs(std::size_t rows) {
  static const std::array<std::string, kRowsPerInsert> texts = [] {
    std::array<std::string, kRowsPerInsert> built;
    std::string values = "(?, ?, ?, ?, ?, ?)";
    for (std::string& text : built) {
      text =
          "INSERT INTO errand_jobs (name, payload, context, priority, run_at, created_at) "
          "VALUES " +
          values + " RETURNING id";
      values += ", (?, ?, ?, ?, ?, ?)";
    }
    return built;
  }();
  return texts.at(rows - 1);
}

std::string_view bury_leased() {
  static const std::string text = fmt::format(
      "INSERT OR REPLACE INTO errand_dead_jobs "
      "(id, name, payload, context, priority, error_count, last_error, created_at, "
      "failed_at) "
      "SELECT id, CAST(name AS TEXT), CAST(payload AS TEXT), CAST(context AS TEXT), "
      "CASE WHEN typeof(priority) = 'integer' AND priority BETWEEN {min} AND {max} "
      "THEN priority ELSE 0 END, "
      "CASE WHEN typeof(error_count) = 'integer' AND error_count >= 0 "
      "THEN min(error_count, {max} - 2) + 1 ELSE 1 END, "
      "?4, CASE WHEN {created_ok} THEN created_at ELSE ?5 END, ?5 "
      "FROM errand_jobs WHERE id = ?1 AND locked_by = ?2 AND locked_at = ?3",
      fmt::arg("min", detail::kInt32Min), fmt::arg("max", detail::kInt32Max),
      fmt::arg("created_ok", valid_time("created_at")));
  return text;
}

std::string_view find_lost_jobs() {
  static const std::string text = fmt::format(
      "SELECT j.id, j.name, j.payload, j.context, j.priority, j.error_count, j.run_at, "
      "j.created_at, j.last_error, j.locked_at, w.id, w.started_at, w.heartbeat_at "
      "FROM errand_jobs j JOIN errand_workers w ON j.locked_by = w.id "
      "WHERE j.locked_by IS NOT NULL AND (w.heartbeat_at <= ?1 OR j.locked_at < w.started_at) "
      "AND {} ORDER BY j.locked_at, j.id LIMIT ?2",
      valid_time("j.locked_at"));
  return text;
}

std::string_view list_jobs(const JobFilter& filter) {
  // One text per state (or none), name filter (or none) and failing_only.
  constexpr std::array<std::string_view, 5> kStates{
      "",
      " AND locked_by IS NULL AND run_at <= ?1",         // JobState::ready
      " AND locked_by IS NULL AND run_at > ?1",          // JobState::scheduled
      " AND locked_by IS NOT NULL AND locked_at > ?2",   // JobState::running
      " AND locked_by IS NOT NULL AND locked_at <= ?2",  // JobState::abandoned
  };
  static_assert(static_cast<int>(JobState::abandoned) == 3);
  static const std::array<std::string, kStates.size()* 4> texts = [&] {
    std::array<std::string, kStates.size() * 4> built;
    for (std::size_t i = 0; i < built.size(); ++i) {
      built[i] = fmt::format(
          "SELECT id, name, payload, context, priority, error_count, run_at, created_at, "
          "locked_by, locked_at, last_error, last_failed_at FROM errand_jobs WHERE 1{}{}{} "
          "ORDER BY priority DESC, run_at, id LIMIT ?4",
          kStates[i / 4], i & 2 ? " AND name = ?3" : "", i & 1 ? " AND error_count > 0" : "");
    }
    return built;
  }();
  const std::size_t state = filter.state ? static_cast<std::size_t>(*filter.state) + 1 : 0;
  return texts[state * 4 + (filter.name ? 2 : 0) + (filter.failing_only ? 1 : 0)];
}

std::string_view list_dead(bool named) {
  return named ? "SELECT id, name, payload, context, priority, error_count, last_error, "
                 "created_at, failed_at FROM errand_dead_jobs WHERE name = ?1 "
                 "ORDER BY failed_at DESC, id DESC LIMIT ?2"
               : "SELECT id, name, payload, context, priority, error_count, last_error, "
                 "created_at, failed_at FROM errand_dead_jobs "
                 "ORDER BY failed_at DESC, id DESC LIMIT ?2";
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

std::string_view copy_dead_back(DeadWhere where) {
  return per_dead_where(where, [](std::string_view condition) {
    return fmt::format(
        "INSERT INTO errand_jobs (id, name, payload, context, priority, run_at, created_at, "
        "error_count, last_error, last_failed_at) "
        "SELECT id, name, payload, context, priority, ?2, created_at, 0, last_error, failed_at "
        "FROM errand_dead_jobs {}",
        condition);
  });
}

std::string_view delete_dead(DeadWhere where) {
  return per_dead_where(where, [](std::string_view condition) {
    return fmt::format("DELETE FROM errand_dead_jobs {}", condition);
  });
}

std::string_view tally_dead_by_name(DeadWhere where) {
  return per_dead_where(where, [](std::string_view condition) {
    return fmt::format(
        "SELECT name, count(*) FROM errand_dead_jobs {} GROUP BY name ORDER BY 2 DESC, name",
        condition);
  });
}

std::string_view tally_dead_ids(DeadWhere where) {
  return per_dead_where(where, [](std::string_view condition) {
    return fmt::format("SELECT id FROM errand_dead_jobs {} ORDER BY id LIMIT ?2", condition);
  });
}

}  // namespace errand::sqlite::sql
