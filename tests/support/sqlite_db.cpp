#include "support/sqlite_db.hpp"

#include <stdexcept>

namespace errand_test {

SqliteDb::SqliteDb(const std::filesystem::path& path, std::chrono::milliseconds busy_timeout,
                   bool create)
    : path_(path.string()) {
  const int flags = SQLITE_OPEN_READWRITE | (create ? SQLITE_OPEN_CREATE : 0);
  const int rc = sqlite3_open_v2(path_.c_str(), &db_, flags, nullptr);
  if (rc != SQLITE_OK) {
    std::string message = db_ ? sqlite3_errmsg(db_) : sqlite3_errstr(rc);
    sqlite3_close(db_);
    db_ = nullptr;
    throw std::runtime_error("test: cannot open " + path_ + ": " + message);
  }
  sqlite3_busy_timeout(db_, static_cast<int>(busy_timeout.count()));
}

SqliteDb::~SqliteDb() {
  sqlite3_close_v2(db_);
}

int SqliteDb::try_exec(std::string_view sql) {
  const std::string text(sql);
  return sqlite3_exec(db_, text.c_str(), nullptr, nullptr, nullptr);
}

void SqliteDb::exec(std::string_view sql) {
  if (try_exec(sql) != SQLITE_OK) {
    throw std::runtime_error("test: '" + std::string(sql) + "' on " + path_ + ": " +
                             sqlite3_errmsg(db_));
  }
}

std::vector<Row> SqliteDb::rows(std::string_view sql) {
  sqlite3_stmt* stmt = nullptr;
  int rc = sqlite3_prepare_v2(db_, sql.data(), static_cast<int>(sql.size()), &stmt, nullptr);
  if (rc != SQLITE_OK) {
    throw std::runtime_error("test: prepare '" + std::string(sql) + "': " + sqlite3_errmsg(db_));
  }
  std::vector<Row> out;
  while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
    Row row;
    for (int i = 0; i < sqlite3_column_count(stmt); ++i) {
      if (sqlite3_column_type(stmt, i) == SQLITE_NULL) {
        row.emplace_back(std::nullopt);
      } else {
        const auto* data = reinterpret_cast<const char*>(sqlite3_column_text(stmt, i));
        row.emplace_back(
            std::string(data, static_cast<std::size_t>(sqlite3_column_bytes(stmt, i))));
      }
    }
    out.push_back(std::move(row));
  }
  const std::string message = sqlite3_errmsg(db_);
  sqlite3_finalize(stmt);
  if (rc != SQLITE_DONE) {
    throw std::runtime_error("test: '" + std::string(sql) + "' on " + path_ + ": " + message);
  }
  return out;
}

std::optional<std::string> SqliteDb::text(std::string_view sql) {
  auto result = rows(sql);
  if (result.empty() || result.front().empty()) return std::nullopt;
  return result.front().front();
}

std::optional<std::int64_t> SqliteDb::integer(std::string_view sql) {
  auto value = text(sql);
  if (!value) return std::nullopt;
  return std::stoll(*value);
}

}  // namespace errand_test
