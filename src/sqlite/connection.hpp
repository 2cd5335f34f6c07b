// A thin RAII layer over the sqlite3 C API: a connection with a cache of prepared statements,
// statements that reset themselves after use, and transactions that roll back unless committed.
// Every failure throws StoreError with the database path and SQLite's own message.
#pragma once

#include <errand/store.hpp>

#include <sqlite3.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace errand::sqlite {

class Connection;

// `path` as an SQLite URI that opens it immutable (read-only, creating and locking nothing):
// absolute, with '%', '?', '#', control characters and non-ASCII bytes percent-encoded.
std::string immutable_uri(const std::string& path);

// A prepared statement. Not thread-safe (neither is the connection that owns it).
class Statement {
 public:
  Statement(Connection& connection, std::string_view sql);
  ~Statement();
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;

  void bind(int index, std::int64_t value);
  void bind(int index, std::string_view text);
  void bind(int index, double value);
  void bind_blob(int index, std::string_view bytes);
  void bind_null(int index);
  // The text, or NULL.
  void bind_optional(int index, const std::optional<std::string>& text);

  // Advances to the next row: true if there is one, false when done. Throws on error.
  bool step();
  // Steps to completion; returns sqlite3_changes for the statement.
  int run();
  void reset() noexcept;

  bool is_null(int column) const;
  // An INTEGER column; throws StoreError for any other storage class (NULL included).
  std::int64_t int64(int column) const;
  std::string text(int column) const;
  // The row interface of core/rows.hpp: true and the value only for the expected storage class
  // (INTEGER, TEXT; REAL or INTEGER for read_real); never converts a text. shown(): the value as an
  // error message shows it.
  bool read_integer(int column, std::int64_t& out) const noexcept;
  bool read_text(int column, std::string& out) const;
  bool read_real(int column, double& out) const noexcept;  // REAL or INTEGER, finite
  std::string shown(int column) const;

 private:
  Connection& connection_;
  sqlite3_stmt* stmt_ = nullptr;
};

// A cached statement borrowed from a Connection; reset (bindings cleared) when it goes away.
class Query {
 public:
  explicit Query(Statement& statement) : statement_(statement) {}
  ~Query() { statement_.reset(); }
  Query(const Query&) = delete;
  Query& operator=(const Query&) = delete;
  Statement* operator->() { return &statement_; }
  Statement& operator*() { return statement_; }

 private:
  Statement& statement_;
};

class Connection {
 public:
  // Opens the file as `mode` says (the flags for each are in connection.cpp). Throws StoreError
  // naming the path; for `existing` and `read_only`, one saying there is no database when the file
  // does not exist.
  Connection(const std::filesystem::path& path, std::chrono::milliseconds busy_timeout,
             OpenMode mode = OpenMode::create);
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  void exec(std::string_view sql);
  // A prepared statement for `sql`, compiled once per connection.
  Query query(std::string_view sql);

  sqlite3* handle() const { return db_; }
  OpenMode mode() const { return mode_; }
  const std::string& path() const { return path_; }
  std::chrono::milliseconds busy_timeout() const { return busy_timeout_; }

  // Throws StoreError describing the connection's current error for `operation`, with a hint
  // at the cause (a busy lock, a read-only file or directory, a full disk). `os_error`: errno
  // right after the failed call, used when SQLite did not record one.
  [[noreturn]] void fail(int rc, std::string_view operation, int os_error = 0) const;

 private:
  // What to add to SQLite's message for result code `rc`: the likely cause and remedy, or "".
  std::string hint(int rc, int os_error) const;

  // sqlite3_open_v2 of `name` with `flags`; throws StoreError naming the path.
  void open(const std::string& name, int flags);

  sqlite3* db_ = nullptr;
  std::string path_;
  std::chrono::milliseconds busy_timeout_;
  OpenMode mode_;
  std::map<std::string, std::unique_ptr<Statement>, std::less<>> statements_;
};

// BEGIN ... COMMIT; rolls back in the destructor unless committed. Destructor never throws.
class Transaction {
 public:
  enum class Behavior { deferred, immediate };
  Transaction(Connection& connection, Behavior behavior);
  ~Transaction();
  Transaction(const Transaction&) = delete;
  Transaction& operator=(const Transaction&) = delete;
  void commit();

 private:
  Connection& connection_;
  bool open_ = true;
};

}  // namespace errand::sqlite
