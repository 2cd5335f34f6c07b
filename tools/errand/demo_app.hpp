// The demo application's state: its own SQLite database (separate from errand's job database),
// reached by jobs through AppState as in the seed's ProcessPaymentJob.
#pragma once

#include "console.hpp"

#include <cstdint>
#include <filesystem>
#include <map>
#include <mutex>
#include <string>
#include <string_view>

struct sqlite3;
struct sqlite3_stmt;

namespace errand::cli::demo {

// Owns one sqlite3 connection and closes it on destruction. Throws std::runtime_error with
// SQLite's message on errors.
class SqliteDb {
 public:
  explicit SqliteDb(const std::filesystem::path& path);
  ~SqliteDb();
  SqliteDb(const SqliteDb&) = delete;
  SqliteDb& operator=(const SqliteDb&) = delete;

  sqlite3* get() const { return db_; }
  // Runs SQL statements that return no rows.
  void exec(const char* sql);

 private:
  sqlite3* db_ = nullptr;
};

// One prepared statement, finalized on destruction. Throws std::runtime_error on errors.
class Statement {
 public:
  Statement(sqlite3* db, std::string_view sql);
  ~Statement();
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;

  Statement& bind(int index, std::int64_t value);
  Statement& bind(int index, std::string_view value);
  // Runs to the next row; false when there is none (the statement is done).
  bool step();
  std::int64_t column_int(int index) const;
  std::string column_text(int index) const;

 private:
  sqlite3* db_;
  sqlite3_stmt* stmt_ = nullptr;
};

// Shared by reference with every job, from several worker threads at once: every member is
// thread-safe.
class AppState {
 public:
  // Opens (creating if needed) the app database at `path`, creates the users, orders and
  // order_payments tables and seeds two users.
  AppState(const std::filesystem::path& path, Console& console);

  // The app database, locked for the caller until the handle is destroyed.
  class Db {
   public:
    operator sqlite3*() const { return db_; }

   private:
    friend class AppState;
    Db(std::mutex& mu, sqlite3* db) : lock_(mu), db_(db) {}
    std::unique_lock<std::mutex> lock_;
    sqlite3* db_;
  };
  Db db() { return Db(db_mutex_, db_.get()); }

  const std::filesystem::path& db_path() const { return path_; }
  // Records a new order of `user_id` for `amount_cents`; returns its id.
  std::int64_t place_order(std::int64_t user_id, std::int64_t amount_cents);
  // Payments recorded (one per paid order).
  std::int64_t payment_count();

  // Counts an attempt of the flaky job `key` and returns its number: 1, 2, ...
  int count_attempt(const std::string& key);

  // Prints a line of job output.
  void say(std::string_view text);

 private:
  std::filesystem::path path_;
  Console& console_;
  std::mutex db_mutex_;
  SqliteDb db_;
  std::mutex attempts_mutex_;
  std::map<std::string, int, std::less<>> attempts_;
};

}  // namespace errand::cli::demo
