#include "sqlite/admin.hpp"

#include "core/removal.hpp"
#include "sqlite/connection.hpp"
#include "sqlite/sql.hpp"

#include <errand/error.hpp>
#include <errand/sqlite.hpp>

#include <fmt/format.h>
#include <sqlite3.h>

#include <array>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace errand::sqlite {

namespace {

namespace fs = std::filesystem;

constexpr std::array<std::string_view, 3> kCompanions{"-wal", "-shm", "-journal"};

[[noreturn]] void refuse(const std::string& path, std::string_view why) {
  throw StoreError(fmt::format("'{}' {}; errand left it untouched", path, why));
}

struct Close {
  void operator()(sqlite3* db) const { sqlite3_close_v2(db); }
};
struct Finalize {
  void operator()(sqlite3_stmt* statement) const { sqlite3_finalize(statement); }
};

// The single row of `sql`'s result (text columns; nullopt for no row). Throws via `refuse`.
std::optional<std::vector<std::string>> one_row(sqlite3* db, const std::string& path,
                                                std::string_view sql) {
  sqlite3_stmt* raw = nullptr;
  if (sqlite3_prepare_v2(db, sql.data(), static_cast<int>(sql.size()), &raw, nullptr) !=
      SQLITE_OK) {
    refuse(path, fmt::format("cannot be read as an errand database ({})", sqlite3_errmsg(db)));
  }
  std::unique_ptr<sqlite3_stmt, Finalize> statement(raw);
  const int rc = sqlite3_step(raw);
  if (rc == SQLITE_DONE) return std::nullopt;
  if (rc != SQLITE_ROW) {
    refuse(path, fmt::format("cannot be read as a SQLite database ({})", sqlite3_errmsg(db)));
  }
  std::vector<std::string> row;
  for (int i = 0; i < sqlite3_column_count(raw); ++i) {
    const auto* text = sqlite3_column_text(raw, i);
    row.emplace_back(text ? reinterpret_cast<const char*>(text) : "");
  }
  return row;
}

// `path` opened to read it as it is. Without a -wal file: as immutable, which creates and locks
// nothing. With one, committed rows may be there only (and a crashed writer may have left it
// needing recovery, which a read-only connection cannot do): read-write when we may, but with
// writes refused and no checkpoint on close, so the database file is never written.
std::unique_ptr<sqlite3, Close> open_for_reading(const std::string& path) {
  std::error_code ec;
  const bool wal = fs::exists(path + "-wal", ec);
  sqlite3* raw = nullptr;
  int rc = wal ? sqlite3_open_v2(path.c_str(), &raw, SQLITE_OPEN_READWRITE, nullptr)
               : sqlite3_open_v2(immutable_uri(path).c_str(), &raw,
                                 SQLITE_OPEN_READONLY | SQLITE_OPEN_URI, nullptr);
  if (wal && rc != SQLITE_OK) {
    sqlite3_close_v2(raw);
    raw = nullptr;
    rc = sqlite3_open_v2(path.c_str(), &raw, SQLITE_OPEN_READONLY, nullptr);
  }
  std::unique_ptr<sqlite3, Close> db(raw);
  if (rc != SQLITE_OK) {
    refuse(path, fmt::format("cannot be opened as a SQLite database ({})",
                             raw ? sqlite3_errmsg(raw) : sqlite3_errstr(rc)));
  }
  sqlite3_busy_timeout(raw, 5000);
  sqlite3_db_config(raw, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1, nullptr);
  sqlite3_exec(raw, sql::kQueryOnly.data(), nullptr, nullptr, nullptr);
  return db;
}

// Throws unless `path` (a non-empty regular file) is an errand database, or a database without
// tables and `allow_empty`.
void check_errand_database(const std::string& path, bool allow_empty) {
  {
    std::ifstream in(path, std::ios::binary);
    std::array<char, 16> header{};
    in.read(header.data(), header.size());
    if (!in || std::string_view(header.data(), header.size()) !=
                   std::string_view("SQLite format 3\0", 16)) {
      refuse(path, "is not a SQLite database");
    }
  }
  std::unique_ptr<sqlite3, Close> db = open_for_reading(path);
  sqlite3* raw = db.get();
  const auto tables = one_row(raw, path, sql::kCountTables);
  if (!tables || (*tables)[0] == "0") {
    if (allow_empty) return;
    refuse(path, "holds no tables: it is not an errand database");
  }
  if ((*tables)[1] != "1") refuse(path, "is not an errand database (no errand_meta table)");
  const auto version = one_row(raw, path, sql::kReadSchemaVersion);
  detail::check_removable_version(version ? std::optional((*version)[0]) : std::nullopt,
                                  sqlite_schema_version(), fmt::format("'{}'", path));
}

// Removes `path` if it exists; throws StoreError when it cannot.
bool remove_file(const std::string& path) {
  std::error_code ec;
  const bool removed = fs::remove(path, ec);
  if (ec) throw StoreError(fmt::format("cannot remove '{}': {}", path, ec.message()));
  return removed;
}

}  // namespace

bool remove_errand_file(const std::string& path, bool allow_empty) {
  std::error_code ec;
  const auto status = fs::symlink_status(path, ec);
  if (ec && ec != std::errc::no_such_file_or_directory) {
    throw StoreError(fmt::format("cannot look at '{}': {}", path, ec.message()));
  }
  if (status.type() == fs::file_type::not_found) {
    // Companion files left when the database file went: stale, and SQLite would apply a stale
    // WAL to a new file of that name.
    bool removed = false;
    for (const auto suffix : kCompanions) {
      const std::string companion = path + std::string(suffix);
      if (fs::is_regular_file(fs::symlink_status(companion, ec))) {
        removed = remove_file(companion) || removed;
      }
    }
    return removed;
  }
  if (status.type() != fs::file_type::regular) refuse(path, "is not a regular file");
  const auto size = fs::file_size(path, ec);
  if (ec) throw StoreError(fmt::format("cannot look at '{}': {}", path, ec.message()));
  if (size == 0) {
    if (!allow_empty) refuse(path, "is empty: it is not an errand database");
  } else {
    check_errand_database(path, allow_empty);
  }
  remove_file(path);
  for (const auto suffix : kCompanions)
    remove_file(path + std::string(suffix));
  return true;
}

}  // namespace errand::sqlite
