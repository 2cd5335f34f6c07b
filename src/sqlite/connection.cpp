#include "sqlite/connection.hpp"

#include <errand/error.hpp>

#include "core/stored_values.hpp"
#include "sqlite/sql.hpp"

#include <fmt/format.h>

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstring>

namespace errand::sqlite {

namespace {

// Why this process may not write `path` (strerror of access(W_OK)), or "" when it may.
std::string write_refusal(const std::filesystem::path& path) {
  if (::faccessat(AT_FDCWD, path.c_str(), W_OK, AT_EACCESS) == 0) return {};
  return std::strerror(errno);
}

// Says which of the file and its directory this process may not write. SQLite reports both as
// "attempt to write a readonly database", even for a read, when it cannot create the -wal or
// -shm file next to a WAL database. When both may be written: a generic read-only hint if
// `always`, else "".
std::string read_only_hint(const std::string& path, bool always) {
  const std::filesystem::path file(path);
  std::filesystem::path dir = file.parent_path();
  if (dir.empty()) dir = ".";
  const std::string name = file.filename().string();
  const std::string file_refusal = write_refusal(file);
  const std::string dir_refusal = write_refusal(dir);
  if (!file_refusal.empty() && !dir_refusal.empty()) {
    return fmt::format(
        " (the database is read-only for this process: neither the file nor its directory '{}' "
        "is writable ({}); errand needs to write to the file, and SQLite to create '{}-wal' and "
        "'{}-shm' in the directory)",
        dir.string(), file_refusal, name, name);
  }
  if (!file_refusal.empty()) {
    return fmt::format(
        " (the database file is read-only for this process ({}); errand needs to write to it)",
        file_refusal);
  }
  if (!dir_refusal.empty()) {
    return fmt::format(
        " (the database's directory '{}' is read-only for this process ({}); SQLite needs to "
        "create '{}-wal' and '{}-shm' there)",
        dir.string(), dir_refusal, name, name);
  }
  if (!always) return {};
  return fmt::format(
      " (the database, or its '{}-wal' or '{}-shm' file, is read-only for this "
      "process)",
      name, name);
}

// Whether this process may write both the file and its directory (read_only_hint has nothing to
// say).
bool may_write_file_and_directory(const std::string& path) {
  return read_only_hint(path, false).empty();
}

}  // namespace

std::string immutable_uri(const std::string& path) {
  std::error_code ec;
  const std::filesystem::path absolute = std::filesystem::absolute(path, ec);
  std::string uri = "file:";
  for (const char c : ec ? path : absolute.string()) {
    const auto byte = static_cast<unsigned char>(c);
    if (c == '%' || c == '?' || c == '#' || byte < 0x20 || byte >= 0x7f) {
      uri += fmt::format("%{:02X}", byte);
    } else {
      uri += c;
    }
  }
  return uri + "?immutable=1";
}

Statement::Statement(Connection& connection, std::string_view sql) : connection_(connection) {
  const int rc = sqlite3_prepare_v3(connection.handle(), sql.data(), static_cast<int>(sql.size()),
                                    SQLITE_PREPARE_PERSISTENT, &stmt_, nullptr);
  if (rc != SQLITE_OK) connection.fail(rc, fmt::format("prepare '{}'", sql));
}

Statement::~Statement() {
  sqlite3_finalize(stmt_);
}

void Statement::bind(int index, std::int64_t value) {
  const int rc = sqlite3_bind_int64(stmt_, index, value);
  if (rc != SQLITE_OK) connection_.fail(rc, "bind");
}

void Statement::bind(int index, std::string_view text) {
  const int rc =
      sqlite3_bind_text64(stmt_, index, text.data(), text.size(), SQLITE_TRANSIENT, SQLITE_UTF8);
  if (rc != SQLITE_OK) connection_.fail(rc, "bind");
}

void Statement::bind_blob(int index, std::string_view bytes) {
  const int rc = sqlite3_bind_blob64(stmt_, index, bytes.data(), bytes.size(), SQLITE_TRANSIENT);
  if (rc != SQLITE_OK) connection_.fail(rc, "bind");
}

void Statement::bind(int index, double value) {
  const int rc = sqlite3_bind_double(stmt_, index, value);
  if (rc != SQLITE_OK) connection_.fail(rc, "bind");
}

void Statement::bind_null(int index) {
  const int rc = sqlite3_bind_null(stmt_, index);
  if (rc != SQLITE_OK) connection_.fail(rc, "bind");
}

void Statement::bind_optional(int index, const std::optional<std::string>& text) {
  if (text) {
    bind(index, std::string_view(*text));
  } else {
    bind_null(index);
  }
}

bool Statement::step() {
  const int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  const int os_error = errno;
  connection_.fail(rc, fmt::format("execute '{}'", sqlite3_sql(stmt_)), os_error);
}

int Statement::run() {
  while (step()) {
  }
  return sqlite3_changes(connection_.handle());
}

void Statement::reset() noexcept {
  sqlite3_reset(stmt_);
  sqlite3_clear_bindings(stmt_);
}

bool Statement::is_null(int column) const {
  return sqlite3_column_type(stmt_, column) == SQLITE_NULL;
}

std::int64_t Statement::int64(int column) const {
  std::int64_t value = 0;
  if (!read_integer(column, value)) [[unlikely]] {
    throw StoreError(
        fmt::format("SQLite database '{}': column {} of '{}' is {}, expected an INTEGER",
                    connection_.path(), column, sqlite3_sql(stmt_), shown(column)));
  }
  return value;
}

bool Statement::read_integer(int column, std::int64_t& out) const noexcept {
  if (sqlite3_column_type(stmt_, column) != SQLITE_INTEGER) return false;
  out = sqlite3_column_int64(stmt_, column);
  return true;
}

bool Statement::read_real(int column, double& out) const noexcept {
  const int type = sqlite3_column_type(stmt_, column);
  if (type != SQLITE_FLOAT && type != SQLITE_INTEGER) return false;
  out = sqlite3_column_double(stmt_, column);
  return std::isfinite(out);
}

bool Statement::read_text(int column, std::string& out) const {
  if (sqlite3_column_type(stmt_, column) != SQLITE_TEXT) return false;
  out = text(column);
  return true;
}

std::string Statement::shown(int column) const {
  switch (sqlite3_column_type(stmt_, column)) {
    case SQLITE_NULL:
      return "NULL";
    case SQLITE_INTEGER:
      return std::to_string(sqlite3_column_int64(stmt_, column));
    case SQLITE_FLOAT:
      return fmt::format("{} (a REAL)", sqlite3_column_double(stmt_, column));
    case SQLITE_TEXT:
      return detail::quoted_value(text(column)) + " (TEXT)";
    default:
      return fmt::format("a BLOB of {} bytes", sqlite3_column_bytes(stmt_, column));
  }
}

std::string Statement::text(int column) const {
  const auto* data = reinterpret_cast<const char*>(sqlite3_column_text(stmt_, column));
  return data ? std::string(data, static_cast<std::size_t>(sqlite3_column_bytes(stmt_, column)))
              : std::string();
}

Connection::Connection(const std::filesystem::path& path, std::chrono::milliseconds busy_timeout,
                       OpenMode mode)
    : path_(path.string()), busy_timeout_(busy_timeout), mode_(mode) {
  if (mode != OpenMode::create) {
    std::error_code ec;
    if (!std::filesystem::exists(path, ec) && !ec) {
      throw StoreError(fmt::format(
          "there is no errand database at '{}' (no such file); `errand migrate --db sqlite:{}` "
          "creates one",
          path_, path_));
    }
  }
  constexpr int kNoMutex = SQLITE_OPEN_NOMUTEX;
  switch (mode) {
    case OpenMode::create:
      open(path_, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | kNoMutex);
      break;
    case OpenMode::existing:
      open(path_, SQLITE_OPEN_READWRITE | kNoMutex);
      break;
    case OpenMode::read_only:
      // A read-only connection to a WAL database creates the -wal and -shm files when they are
      // missing and cannot remove them on close: it would leave files behind (owned by the
      // reader, which breaks later writers of another user). So:
      if (may_write_file_and_directory(path_)) {
        // This process may write the file and its directory: read-write, with every write
        // refused (query_only); SQLite removes the -wal and -shm files on close as usual.
        open(path_, SQLITE_OPEN_READWRITE | kNoMutex);
        exec(sql::kQueryOnly);
      } else if (std::filesystem::exists(path_ + "-wal")) {
        // A writer has the database open (or crashed): read its WAL through the existing files.
        open(path_, SQLITE_OPEN_READONLY | kNoMutex);
      } else {
        // No connection has the database open, so every committed row is in the main file:
        // read it as immutable, creating and locking nothing. (A writer starting meanwhile
        // can make this one read inconsistent; it never writes.)
        open(immutable_uri(path_), SQLITE_OPEN_READONLY | SQLITE_OPEN_URI | kNoMutex);
      }
      break;
  }
}

void Connection::open(const std::string& name, int flags) {
  const int rc = sqlite3_open_v2(name.c_str(), &db_, flags, nullptr);
  if (rc != SQLITE_OK) {
    std::string message = db_ ? sqlite3_errmsg(db_) : sqlite3_errstr(rc);
    sqlite3_close_v2(db_);
    db_ = nullptr;
    throw StoreError(fmt::format(
        "cannot open SQLite database '{}': {} (does the directory exist, and may we write there?)",
        path_, message));
  }
  sqlite3_extended_result_codes(db_, 1);
  sqlite3_busy_timeout(db_, static_cast<int>(busy_timeout_.count()));
}

Connection::~Connection() {
  statements_.clear();  // finalize before closing
  sqlite3_close_v2(db_);
}

void Connection::exec(std::string_view sql) {
  const std::string text(sql);
  char* error = nullptr;
  const int rc = sqlite3_exec(db_, text.c_str(), nullptr, nullptr, &error);
  if (rc != SQLITE_OK) {
    const int os_error = errno;
    std::string message = error ? error : sqlite3_errstr(rc);
    sqlite3_free(error);
    throw StoreError(fmt::format("SQLite database '{}': {} failed: {}{}", path_, sql, message,
                                 hint(rc, os_error)));
  }
}

Query Connection::query(std::string_view sql) {
  auto it = statements_.find(sql);
  if (it == statements_.end()) {
    it = statements_.emplace(std::string(sql), std::make_unique<Statement>(*this, sql)).first;
  }
  return Query(*it->second);
}

std::string Connection::hint(int rc, int os_error) const {
  switch (rc & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      return fmt::format(" (another connection held the write lock for more than {} ms)",
                         busy_timeout_.count());
    case SQLITE_READONLY:
      return read_only_hint(path_, true);
    case SQLITE_CANTOPEN:
      return read_only_hint(path_, false);
    case SQLITE_FULL:
      return " (the disk holding the database is full: free some space on it)";
    case SQLITE_IOERR: {
      // SQLite's "disk I/O error" says nothing of the cause; the system's errno does. SQLite
      // records it for a failed statement but not for a failed COMMIT; then the errno the
      // failed write left behind is used, if it is one a write to a full disk gives.
      int error = sqlite3_system_errno(db_);
      if (error == 0 && (os_error == ENOSPC || os_error == EDQUOT || os_error == EFBIG)) {
        error = os_error;
      }
      switch (error) {
        case 0:
          return rc == SQLITE_IOERR_WRITE
                     ? " (writing to the database or its -wal file failed: is the disk full?)"
                     : "";
        case ENOSPC:
        case EDQUOT:
          return fmt::format(" ({}: the disk holding the database is full: free some space on it)",
                             std::strerror(error));
        case EFBIG:
          return fmt::format(
              " ({}: a file of the database reached this process's file size limit, ulimit -f; "
              "no more can be written, as on a full disk)",
              std::strerror(error));
        default:
          return fmt::format(" ({})", std::strerror(error));
      }
    }
    default:
      return {};
  }
}

void Connection::fail(int rc, std::string_view operation, int os_error) const {
  const char* detail = sqlite3_errmsg(db_);
  throw StoreError(
      fmt::format("SQLite database '{}': {}: {}{}", path_, operation, detail, hint(rc, os_error)));
}

namespace {
constexpr std::string_view begin_statement(Transaction::Behavior behavior) {
  switch (behavior) {
    case Transaction::Behavior::immediate:
      return "BEGIN IMMEDIATE";
    case Transaction::Behavior::deferred:
      break;
  }
  return "BEGIN DEFERRED";
}
}  // namespace

Transaction::Transaction(Connection& connection, Behavior behavior) : connection_(connection) {
  connection_.query(begin_statement(behavior))->run();
}

Transaction::~Transaction() {
  if (!open_) return;
  // Only fails when no transaction is active (SQLite already rolled back); nothing to do then.
  sqlite3_exec(connection_.handle(), "ROLLBACK", nullptr, nullptr, nullptr);
}

void Transaction::commit() {
  connection_.query("COMMIT")->run();
  open_ = false;
}

}  // namespace errand::sqlite
