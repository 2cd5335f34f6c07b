// The limits scenarios' application table (chaos_limits.cpp): each run of a LimitJob inserts a
// row when it starts and sets the row's end when it returns, in the store's own database (the
// SQLite file, or the scenario's PostgreSQL schema), the way an application keeps records of its
// own beside errand's tables. Every value goes in as a bound parameter.
#pragma once

#include <errand/errand.hpp>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <variant>
#include <vector>

namespace chaos {

// One run of a job, as the table holds it. Times are microseconds since the epoch.
struct RunRow {
  std::int64_t row = 0;  // the table's own id
  errand::JobId job = 0;
  std::int32_t attempt = 0;     // RunContext::attempt
  std::int64_t pid = 0;         // the worker process
  std::string worker;           // its worker id
  std::string key;              // the job's partition key
  std::int64_t claimed_us = 0;  // RunContext::claimed_at: the claim, by the store's clock
  std::int64_t start_us = 0;    // the run's start and end, read from the store's Clock object
  std::optional<std::int64_t> end_us;  // none: the run never returned (its process was killed)
};

class RunTable {
 public:
  // `schema` empty: `target` is a SQLite file; else a PostgreSQL URL (libpq's) and the schema
  // that holds the table.
  static std::shared_ptr<RunTable> open(const std::string& target, const std::string& schema);
  virtual ~RunTable() = default;

  // Creates the table (once, by the driver, before the workers start).
  void create();
  // Inserts `run` (its row and end are ignored); returns its row id.
  std::int64_t started(const RunRow& run);
  // Sets the end of row `row`.
  void ended(std::int64_t row, std::int64_t end_us);
  // Every row, by id.
  std::vector<RunRow> rows();

  // A bound value; a result row, its values as text (empty: NULL).
  using Value = std::variant<std::int64_t, std::string>;
  using Row = std::vector<std::optional<std::string>>;

 protected:
  RunTable() = default;
  // Runs one statement ($1, $2, ... bound to `values`), thread-safe; its rows as text.
  virtual std::vector<Row> exec(const std::string& sql, const std::vector<Value>& values) = 0;
  virtual std::string create_sql() const = 0;
  // The table's name in SQL.
  virtual const std::string& table() const = 0;
};

}  // namespace chaos
