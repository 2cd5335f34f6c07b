// The limits scenarios' application table (chaos_run_table.hpp), on SQLite and on PostgreSQL.
#include "chaos_run_table.hpp"

#include <fmt/format.h>
#include <libpq-fe.h>
#include <sqlite3.h>

#include <charconv>
#include <mutex>
#include <stdexcept>

namespace chaos {

namespace {

// The columns of a RunRow, in its order.
constexpr const char* kColumns = "id, job, attempt, pid, worker, key, claimed_us, start_us, end_us";

std::int64_t to_int(const std::optional<std::string>& text, const char* column) {
  std::int64_t value = 0;
  const auto [end, ec] = text ? std::from_chars(text->data(), text->data() + text->size(), value)
                              : std::from_chars_result{nullptr, std::errc::invalid_argument};
  if (ec != std::errc{} || end != text->data() + text->size())
    throw std::runtime_error(fmt::format("limit_runs.{}: not a number", column));
  return value;
}

class SqliteRunTable final : public RunTable {
 public:
  explicit SqliteRunTable(const std::string& file) {
    if (sqlite3_open_v2(file.c_str(), &db_, SQLITE_OPEN_READWRITE, nullptr) != SQLITE_OK) {
      const std::string message = db_ ? sqlite3_errmsg(db_) : "out of memory";
      sqlite3_close(db_);
      throw std::runtime_error(fmt::format("cannot open {}: {}", file, message));
    }
    // The workers' own transactions hold the write lock now and then: wait for it.
    sqlite3_busy_timeout(db_, 30'000);
  }
  ~SqliteRunTable() override { sqlite3_close(db_); }

 private:
  std::vector<Row> exec(const std::string& sql, const std::vector<Value>& values) override {
    std::lock_guard lock(mutex_);
    sqlite3_stmt* statement = nullptr;
    if (sqlite3_prepare_v2(db_, sql.c_str(), -1, &statement, nullptr) != SQLITE_OK)
      throw error(sql);
    std::vector<Row> rows;
    try {
      for (std::size_t i = 0; i < values.size(); ++i) {
        const int at = sqlite3_bind_parameter_index(statement, fmt::format("${}", i + 1).c_str());
        const int rc =
            std::holds_alternative<std::int64_t>(values[i])
                ? sqlite3_bind_int64(statement, at, std::get<std::int64_t>(values[i]))
                : sqlite3_bind_text(statement, at, std::get<std::string>(values[i]).c_str(), -1,
                                    SQLITE_TRANSIENT);
        if (rc != SQLITE_OK) throw error(sql);
      }
      int rc;
      while ((rc = sqlite3_step(statement)) == SQLITE_ROW) {
        Row& row = rows.emplace_back();
        for (int c = 0; c < sqlite3_column_count(statement); ++c) {
          const auto* text = reinterpret_cast<const char*>(sqlite3_column_text(statement, c));
          row.push_back(text ? std::optional<std::string>(text) : std::nullopt);
        }
      }
      if (rc != SQLITE_DONE) throw error(sql);
    } catch (...) {
      sqlite3_finalize(statement);
      throw;
    }
    sqlite3_finalize(statement);
    return rows;
  }

  const std::string& table() const override { return table_; }

  std::string create_sql() const override {
    return "CREATE TABLE " + table_ +
           " (id INTEGER PRIMARY KEY, job INTEGER NOT NULL, attempt "
           "INTEGER NOT NULL, pid INTEGER NOT NULL, worker TEXT NOT NULL, key TEXT NOT NULL, "
           "claimed_us INTEGER NOT NULL, start_us INTEGER NOT NULL, end_us INTEGER)";
  }

  std::runtime_error error(const std::string& sql) const {
    return std::runtime_error(fmt::format("SQLite: {}: {}", sql, sqlite3_errmsg(db_)));
  }

  const std::string table_ = "limit_runs";
  sqlite3* db_ = nullptr;
  std::mutex mutex_;
};

class PostgresRunTable final : public RunTable {
 public:
  PostgresRunTable(const std::string& url, const std::string& schema)
      : connection_(PQconnectdb(url.c_str())) {
    if (PQstatus(connection_) != CONNECTION_OK) {
      const std::string message = PQerrorMessage(connection_);
      PQfinish(connection_);
      throw std::runtime_error("cannot connect to PostgreSQL: " + message);
    }
    char* quoted = PQescapeIdentifier(connection_, schema.c_str(), schema.size());
    if (!quoted) {
      const std::string message = PQerrorMessage(connection_);
      PQfinish(connection_);
      throw std::runtime_error("cannot quote the schema's name: " + message);
    }
    table_ = std::string(quoted) + ".limit_runs";
    PQfreemem(quoted);
  }
  ~PostgresRunTable() override { PQfinish(connection_); }

 private:
  std::vector<Row> exec(const std::string& sql, const std::vector<Value>& values) override {
    std::vector<std::string> texts;
    for (const Value& value : values) {
      texts.push_back(std::holds_alternative<std::int64_t>(value)
                          ? std::to_string(std::get<std::int64_t>(value))
                          : std::get<std::string>(value));
    }
    std::vector<const char*> params;
    for (const std::string& text : texts)
      params.push_back(text.c_str());
    std::lock_guard lock(mutex_);
    PGresult* result = PQexecParams(connection_, sql.c_str(), static_cast<int>(params.size()),
                                    nullptr, params.data(), nullptr, nullptr, 0);
    const auto status = PQresultStatus(result);
    if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) {
      const std::string message = PQerrorMessage(connection_);
      PQclear(result);
      throw std::runtime_error(fmt::format("PostgreSQL: {}: {}", sql, message));
    }
    std::vector<Row> rows;
    for (int r = 0; r < PQntuples(result); ++r) {
      Row& row = rows.emplace_back();
      for (int c = 0; c < PQnfields(result); ++c) {
        row.push_back(PQgetisnull(result, r, c)
                          ? std::nullopt
                          : std::optional<std::string>(PQgetvalue(result, r, c)));
      }
    }
    PQclear(result);
    return rows;
  }

  std::string create_sql() const override {
    return "CREATE TABLE " + table_ +
           " (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, job "
           "bigint NOT NULL, attempt integer NOT NULL, pid bigint NOT NULL, worker text NOT NULL, "
           "key text NOT NULL, claimed_us bigint NOT NULL, start_us bigint NOT NULL, end_us "
           "bigint)";
  }

  const std::string& table() const override { return table_; }

  PGconn* connection_;
  std::string table_;
  std::mutex mutex_;
};

}  // namespace

std::shared_ptr<RunTable> RunTable::open(const std::string& target, const std::string& schema) {
  if (schema.empty()) return std::make_shared<SqliteRunTable>(target);
  return std::make_shared<PostgresRunTable>(target, schema);
}

void RunTable::create() {
  exec(create_sql(), {});
}

std::int64_t RunTable::started(const RunRow& run) {
  const auto rows = exec(
      fmt::format("INSERT INTO {} (job, attempt, pid, worker, key, claimed_us, start_us) VALUES "
                  "($1, $2, $3, $4, $5, $6, $7) RETURNING id",
                  table()),
      {run.job, std::int64_t{run.attempt}, run.pid, run.worker, run.key, run.claimed_us,
       run.start_us});
  if (rows.size() != 1 || rows.front().empty()) throw std::runtime_error("no id returned");
  return to_int(rows.front().front(), "id");
}

void RunTable::ended(std::int64_t row, std::int64_t end_us) {
  exec(fmt::format("UPDATE {} SET end_us = $1 WHERE id = $2", table()), {end_us, row});
}

std::vector<RunRow> RunTable::rows() {
  std::vector<RunRow> runs;
  for (const Row& row : exec(fmt::format("SELECT {} FROM {} ORDER BY id", kColumns, table()), {})) {
    if (row.size() != 9 || !row[4] || !row[5]) throw std::runtime_error("limit_runs: bad row");
    RunRow run;
    run.row = to_int(row[0], "id");
    run.job = to_int(row[1], "job");
    run.attempt = static_cast<std::int32_t>(to_int(row[2], "attempt"));
    run.pid = to_int(row[3], "pid");
    run.worker = *row[4];
    run.key = *row[5];
    run.claimed_us = to_int(row[6], "claimed_us");
    run.start_us = to_int(row[7], "start_us");
    if (row[8]) run.end_us = to_int(row[8], "end_us");
    runs.push_back(std::move(run));
  }
  return runs;
}

}  // namespace chaos
