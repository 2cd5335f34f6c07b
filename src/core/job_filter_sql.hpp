// The SQL both stores share for JobFilter's ranges, keyset and order (errand/store.hpp). Values
// are never in the text: each condition names a bound parameter through `param`, which the
// store maps to its own placeholder (and, for times, to its column's representation).
#pragma once

#include <errand/lifecycle.hpp>
#include <errand/store.hpp>

#include "core/rows.hpp"

#include <fmt/format.h>

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

namespace errand::detail {

// Whether `filter` lists the finished jobs table (a finished state) rather than the live one.
inline bool lists_finished(const JobFilter& filter) {
  return filter.state && is_finished(*filter.state);
}

// The parameters job_filter_conditions may name, bound by the store when the filter has them.
enum class FilterParam {
  min_priority,    // int
  max_priority,    // int
  created_from,    // time
  created_before,  // time
  cursor_id,       // int
  cursor_priority,
  cursor_at,  // time
};

// " AND ..." for each of filter's ranges and its cursor (nothing for those it lacks), over the
// columns of the live (or, with `finished`, the finished) jobs table.
inline std::string job_filter_conditions(const JobFilter& filter, bool finished,
                                         const std::function<std::string(FilterParam)>& param) {
  std::string where;
  if (filter.min_priority) where += " AND priority >= " + param(FilterParam::min_priority);
  if (filter.max_priority) where += " AND priority <= " + param(FilterParam::max_priority);
  if (filter.created_from) where += " AND created_at >= " + param(FilterParam::created_from);
  if (filter.created_before) where += " AND created_at < " + param(FilterParam::created_before);
  if (filter.after) {
    const std::string id = param(FilterParam::cursor_id);
    switch (filter.order) {
      case JobOrder::newest:
        where += " AND id < " + id;
        break;
      case JobOrder::oldest:
        where += " AND id > " + id;
        break;
      case JobOrder::natural:
        where += finished ? fmt::format(" AND (finished_at, id) < ({}, {})",
                                        param(FilterParam::cursor_at), id)
                          : fmt::format(
                                " AND (priority < {p} OR (priority = {p} AND (run_at, id) > "
                                "({at}, {id})))",
                                fmt::arg("p", param(FilterParam::cursor_priority)),
                                fmt::arg("at", param(FilterParam::cursor_at)), fmt::arg("id", id));
        break;
    }
  }
  return where;
}

// The value of parameter `p` of `filter` (one it has): an integer, times in microseconds.
inline std::int64_t filter_param_value(const JobFilter& filter, FilterParam p) {
  switch (p) {
    case FilterParam::min_priority:
      return filter.min_priority.value_or(0);
    case FilterParam::max_priority:
      return filter.max_priority.value_or(0);
    case FilterParam::created_from:
      return micros_of(filter.created_from.value_or(TimePoint{}));
    case FilterParam::created_before:
      return micros_of(filter.created_before.value_or(TimePoint{}));
    case FilterParam::cursor_id:
      return filter.after ? filter.after->id : 0;
    case FilterParam::cursor_priority:
      return filter.after ? filter.after->priority : 0;
    case FilterParam::cursor_at:
      return filter.after ? micros_of(filter.after->at) : 0;
  }
  return 0;
}

// The ORDER BY list of filter's order, each column after `table` ("jobs.": a statement whose
// output columns are named like its table's, as PostgreSQL's us_of expressions are, must name
// the table's: ORDER BY a bare name takes the output column, which no index orders).
inline std::string job_order_sql(const JobFilter& filter, bool finished, std::string_view table) {
  switch (filter.order) {
    case JobOrder::newest:
      return fmt::format("{}id DESC", table);
    case JobOrder::oldest:
      return fmt::format("{}id", table);
    case JobOrder::natural:
      break;
  }
  return finished ? fmt::format("{0}finished_at DESC, {0}id DESC", table)
                  : fmt::format("{0}priority DESC, {0}run_at, {0}id", table);
}

}  // namespace errand::detail
