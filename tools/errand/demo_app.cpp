#include "demo_app.hpp"

#include "format.hpp"

#include <fmt/format.h>
#include <sqlite3.h>

#include <stdexcept>

namespace errand::cli::demo {

namespace {
[[noreturn]] void fail(sqlite3* db, std::string_view what) {
  throw std::runtime_error(fmt::format("app database: {}: {}", what, sqlite3_errmsg(db)));
}
}  // namespace

SqliteDb::SqliteDb(const std::filesystem::path& path) {
  const int rc =
      sqlite3_open_v2(path.c_str(), &db_,
                      SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX, nullptr);
  if (rc != SQLITE_OK) {
    const std::string message = db_ != nullptr ? sqlite3_errmsg(db_) : sqlite3_errstr(rc);
    sqlite3_close(db_);
    throw std::runtime_error(
        fmt::format("cannot open app database {}: {}", path.string(), message));
  }
  sqlite3_busy_timeout(db_, 5000);
}

SqliteDb::~SqliteDb() {
  sqlite3_close(db_);
}

void SqliteDb::exec(const char* sql) {
  if (sqlite3_exec(db_, sql, nullptr, nullptr, nullptr) != SQLITE_OK) fail(db_, "exec");
}

Statement::Statement(sqlite3* db, std::string_view sql) : db_(db) {
  if (sqlite3_prepare_v2(db_, sql.data(), static_cast<int>(sql.size()), &stmt_, nullptr) !=
      SQLITE_OK) {
    fail(db_, sql);
  }
}

Statement::~Statement() {
  sqlite3_finalize(stmt_);
}

Statement& Statement::bind(int index, std::int64_t value) {
  if (sqlite3_bind_int64(stmt_, index, value) != SQLITE_OK) fail(db_, "bind");
  return *this;
}

Statement& Statement::bind(int index, std::string_view value) {
  if (sqlite3_bind_text(stmt_, index, value.data(), static_cast<int>(value.size()),
                        SQLITE_TRANSIENT) != SQLITE_OK) {
    fail(db_, "bind");
  }
  return *this;
}

bool Statement::step() {
  const int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  fail(db_, sqlite3_sql(stmt_));
}

std::int64_t Statement::column_int(int index) const {
  return sqlite3_column_int64(stmt_, index);
}

std::string Statement::column_text(int index) const {
  const auto* text = sqlite3_column_text(stmt_, index);
  return text == nullptr ? std::string() : std::string(reinterpret_cast<const char*>(text));
}

AppState::AppState(const std::filesystem::path& path, Console& console)
    : path_(path), console_(console), db_(path) {
  db_.exec(R"sql(
    PRAGMA journal_mode = WAL;
    CREATE TABLE IF NOT EXISTS users (
      id   INTEGER PRIMARY KEY,
      name TEXT NOT NULL
    );
    CREATE TABLE IF NOT EXISTS orders (
      id           INTEGER PRIMARY KEY AUTOINCREMENT,
      user_id      INTEGER NOT NULL REFERENCES users (id),
      amount_cents INTEGER NOT NULL
    );
    CREATE TABLE IF NOT EXISTS order_payments (
      order_id     INTEGER PRIMARY KEY REFERENCES orders (id),
      user_id      INTEGER NOT NULL REFERENCES users (id),
      amount_cents INTEGER NOT NULL,
      created_at   TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
    );
    INSERT OR IGNORE INTO users (id, name) VALUES (1, 'Alice'), (2, 'Bob');
  )sql");
}

std::int64_t AppState::place_order(std::int64_t user_id, std::int64_t amount_cents) {
  auto locked = db();
  Statement insert(locked, "INSERT INTO orders (user_id, amount_cents) VALUES (?, ?) RETURNING id");
  insert.bind(1, user_id).bind(2, amount_cents);
  if (!insert.step()) throw std::runtime_error("the app database returned no order id");
  return insert.column_int(0);
}

std::int64_t AppState::payment_count() {
  auto locked = db();
  Statement count(locked, "SELECT count(*) FROM order_payments");
  count.step();
  return count.column_int(0);
}

int AppState::count_attempt(const std::string& key) {
  std::lock_guard lock(attempts_mutex_);
  return ++attempts_[key];
}

void AppState::say(std::string_view text) {
  console_.line(
      fmt::format("        {} {}", console_.paint("|", Console::Color::dim), one_line(text)));
}

}  // namespace errand::cli::demo
