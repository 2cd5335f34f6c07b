// A raw sqlite3 connection for inspecting (and interfering with) a store's database file from
// the outside, independently of errand's own connections.
#pragma once

#include <sqlite3.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace errand_test {

using Row = std::vector<std::optional<std::string>>;

class SqliteDb {
 public:
  // Opens an existing file read-write (never creates it unless `create`).
  explicit SqliteDb(const std::filesystem::path& path,
                    std::chrono::milliseconds busy_timeout = std::chrono::milliseconds{5000},
                    bool create = false);
  ~SqliteDb();
  SqliteDb(const SqliteDb&) = delete;
  SqliteDb& operator=(const SqliteDb&) = delete;

  // Runs statements; throws std::runtime_error with SQLite's message.
  void exec(std::string_view sql);
  // Runs statements; returns SQLite's result code instead of throwing.
  int try_exec(std::string_view sql);
  // Every row of the first statement, each column as text (nullopt for NULL).
  std::vector<Row> rows(std::string_view sql);
  // First column of the first row; nullopt for NULL or no row.
  std::optional<std::string> text(std::string_view sql);
  std::optional<std::int64_t> integer(std::string_view sql);

  sqlite3* handle() const { return db_; }

 private:
  sqlite3* db_ = nullptr;
  std::string path_;
};

}  // namespace errand_test
