// A thin RAII layer over libpq in the shape of libpqxx: connections, results, transactions that
// roll back unless committed, statements prepared once per connection, text-format parameters.
// Every failure throws StoreError; messages name the server by Target::description and are
// scrubbed of the target's secrets. Replies are awaited at most Target::reply_timeout.
#pragma once

#include "postgres/target.hpp"

#include <libpq-fe.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace errand::pg {

// The one way an identifier (schema, table, channel) enters SQL text: "name", with '"' doubled.
// Throws ConfigError for a name PostgreSQL would not keep as given: empty, over 63 bytes (it
// would be truncated), or holding a NUL byte. Every other value is a bound parameter.
std::string quote_identifier(std::string_view name);

class Result {
 public:
  explicit Result(PGresult* result) : result_(result) {}
  const PGresult* native() const { return result_.get(); }
  int rows() const { return PQntuples(result_.get()); }
  int affected() const;  // rows changed by INSERT/UPDATE/DELETE
  bool is_null(int row, int column) const { return PQgetisnull(result_.get(), row, column) == 1; }
  std::string_view text(int row, int column) const;
  // A whole number; throws StoreError for NULL or any text that is not one entirely.
  std::int64_t int64(int row, int column) const;
  std::optional<std::string> optional_text(int row, int column) const;
  // True and the value when the field is a whole number entirely (not NULL, no trailing text,
  // within 64 bits).
  bool read_integer(int row, int column, std::int64_t& out) const noexcept;
  // True and the value when the field is a finite number entirely.
  bool read_real(int row, int column, double& out) const noexcept;

 private:
  struct Clear {
    void operator()(PGresult* r) const { PQclear(r); }
  };
  std::unique_ptr<PGresult, Clear> result_;
};

// Positional text parameters ($1, $2, ...).
class Params {
 public:
  Params& add(std::int64_t value);
  Params& add(std::string_view value);
  Params& add(const char* value) { return add(std::string_view(value)); }
  Params& add(const std::string& value) { return add(std::string_view(value)); }
  Params& add_optional(const std::optional<std::string>& value);
  Params& add_null();
  // A PostgreSQL array literal: {1,2,3} / {"a","b"}.
  Params& add_array(std::span<const std::int64_t> values);
  Params& add_array(std::span<const std::string> values);
  Params& append(const Params& other) {
    values_.insert(values_.end(), other.values_.begin(), other.values_.end());
    return *this;
  }
  int size() const { return static_cast<int>(values_.size()); }
  std::vector<const char*> pointers() const;

 private:
  std::vector<std::optional<std::string>> values_;
};

// Runs `sql` on a connection errand does not own (`description` names it in errors).
Result exec(PGconn* conn, std::string_view description, std::string_view sql,
            const Params& params = {});
[[noreturn]] void fail(PGconn* conn, std::string_view description, std::string_view operation,
                       const PGresult* result = nullptr);

class Connection {
 public:
  // Connects (blocking, at most the target's connect_timeout) and applies the target's session
  // settings. Throws StoreError naming the target's description.
  explicit Connection(std::shared_ptr<const Target> target);
  // The same for a URL or key=value string (make_target; ConfigError for a bad one).
  explicit Connection(const std::string& conninfo);
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // Runs `sql` (one or more statements when `params` is empty).
  Result exec(std::string_view sql, const Params& params = {});
  // Runs `sql` as a statement prepared once on this connection under `name` (behind a
  // transaction pooler: as an unnamed statement, every time).
  Result exec_prepared(const std::string& name, std::string_view sql, const Params& params);

  // One statement of a pipeline: prepared once on this connection under `name`.
  struct Statement {
    std::string_view name;
    std::string_view sql;
    const Params& params;
  };
  // Sends all statements in one pipeline (one round trip) and returns their results in order.
  // Outside BEGIN they run in one implicit transaction: all commit, or none (StoreError). Only
  // the last statement may return a large result (the server runs each as it reads it).
  std::vector<Result> exec_pipeline(std::span<const Statement> statements);

  // Behind a transaction pooler every statement with parameters (exec with parameters,
  // exec_prepared, exec_pipeline) is sent in one pipeline behind a statement that makes the
  // target's session settings transaction-local (set_config(..., true)), so they hold for it on
  // whichever server connection the pooler picks: the generic plans (without them the claim's
  // custom plan sorted every runnable row, about 8 times slower), the statement and lock
  // timeouts, read-only mode (as transaction_read_only). Parameterless statements (BEGIN,
  // COMMIT, migrations, VACUUM) run as they are.

  bool healthy() const { return !broken_ && PQstatus(conn_) == CONNECTION_OK; }
  PGconn* native() const { return conn_; }
  const std::string& description() const { return description_; }
  const Target& target() const { return *target_; }

  [[noreturn]] void fail(std::string_view operation, const PGresult* result = nullptr) const;

 private:
  // When the statement being sent must have been answered (and clears timed_out_).
  // `operation`, or after a reply deadline passed: "no reply within N ms to <operation>, ...".
  std::string operation_label(std::string_view operation) const;
  std::chrono::steady_clock::time_point reply_deadline();
  // Waits until a result can be read without blocking: false once `until` passed (if limited).
  bool wait_readable(std::chrono::steady_clock::time_point until, bool limited);
  // wait_readable up to `deadline` (when the target has a reply timeout); past it, cancels the
  // statement and waits kCancelWait for its reply; without one marks the connection broken and
  // throws StoreError.
  void await_reply(std::chrono::steady_clock::time_point deadline);
  PGresult* next_result(std::chrono::steady_clock::time_point deadline);
  // Reads every result of the query sent; returns the last, throws for the first failure.
  Result finish(std::string_view sql, std::chrono::steady_clock::time_point deadline);

  std::shared_ptr<const Target> target_;
  PGconn* conn_ = nullptr;
  bool broken_ = false;     // left in an unknown protocol state: never reused
  bool timed_out_ = false;  // the statement in progress was cancelled at its reply deadline
  std::string description_;
  std::set<std::string, std::less<>> prepared_;
  // Behind a transaction pooler with session settings: the statement making them local.
  std::string local_settings_sql_;
  Params local_settings_params_;
};

// BEGIN ... COMMIT on a connection; rolls back in the destructor unless committed.
class Transaction {
 public:
  explicit Transaction(Connection& connection);
  // For a transaction whose BEGIN the caller sends (in a pipeline), and whose COMMIT too: then
  // committed() says it succeeded. Until then, it is rolled back on destruction.
  static constexpr struct Begun {
  } begun{};
  Transaction(Connection& connection, Begun) : connection_(connection) {}
  void committed() { open_ = false; }
  ~Transaction();
  Transaction(const Transaction&) = delete;
  Transaction& operator=(const Transaction&) = delete;
  void commit();

 private:
  Connection& connection_;
  bool open_ = true;
};

}  // namespace errand::pg
