#include "postgres/pq.hpp"

#include <errand/error.hpp>

#include "core/stored_values.hpp"

#include <fmt/format.h>

#include <poll.h>

#include <future>
#include <thread>

#include <cerrno>
#include <charconv>
#include <cmath>
#include <optional>

namespace errand::pg {

namespace {
std::string trimmed(std::string message) {
  while (!message.empty() && (message.back() == '\n' || message.back() == ' '))
    message.pop_back();
  return message;
}
}  // namespace

std::string quote_identifier(std::string_view name) {
  // NAMEDATALEN - 1: PostgreSQL silently truncates longer identifiers.
  constexpr std::size_t max_bytes = 63;
  if (name.empty()) throw ConfigError("PostgreSQL identifier is empty");
  if (name.size() > max_bytes) {
    throw ConfigError(fmt::format(
        "PostgreSQL identifier '{}...' is {} bytes long; PostgreSQL keeps at most {} (it would "
        "silently shorten it)",
        name.substr(0, 20), name.size(), max_bytes));
  }
  if (name.find('\0') != std::string_view::npos) {
    throw ConfigError("PostgreSQL identifier contains a NUL byte");
  }
  std::string out = "\"";
  for (char c : name) {
    if (c == '"') out += '"';
    out += c;
  }
  return out + '"';
}

int Result::affected() const {
  const char* n = PQcmdTuples(result_.get());
  int value = 0;
  std::from_chars(n, n + std::char_traits<char>::length(n), value);
  return value;
}

std::string_view Result::text(int row, int column) const {
  return {PQgetvalue(result_.get(), row, column),
          static_cast<std::size_t>(PQgetlength(result_.get(), row, column))};
}

bool Result::read_integer(int row, int column, std::int64_t& out) const noexcept {
  if (is_null(row, column)) return false;
  const std::string_view t = text(row, column);
  const auto [end, ec] = std::from_chars(t.data(), t.data() + t.size(), out);
  return ec == std::errc{} && end == t.data() + t.size() && !t.empty();
}

bool Result::read_real(int row, int column, double& out) const noexcept {
  if (is_null(row, column)) return false;
  const std::string_view t = text(row, column);
  const auto [end, ec] = std::from_chars(t.data(), t.data() + t.size(), out);
  return ec == std::errc{} && end == t.data() + t.size() && !t.empty() && std::isfinite(out);
}

std::int64_t Result::int64(int row, int column) const {
  std::int64_t value = 0;
  if (!read_integer(row, column, value)) [[unlikely]] {
    throw StoreError(
        fmt::format("PostgreSQL returned {} in column '{}' where errand expected a whole number",
                    is_null(row, column) ? "NULL" : detail::quoted_value(text(row, column)),
                    PQfname(result_.get(), column)));
  }
  return value;
}

std::optional<std::string> Result::optional_text(int row, int column) const {
  if (is_null(row, column)) return std::nullopt;
  return std::string(text(row, column));
}

Params& Params::add(std::int64_t value) {
  values_.emplace_back(std::to_string(value));
  return *this;
}

namespace {
// libpq passes text parameters as C strings: a NUL would silently cut the value short.
void refuse_nul(std::string_view value) {
  if (value.find('\0') != std::string_view::npos) {
    throw StoreError(
        "a text value contains a NUL byte, which PostgreSQL text cannot hold; nothing was sent");
  }
}
}  // namespace

Params& Params::add(std::string_view value) {
  refuse_nul(value);
  values_.emplace_back(std::string(value));
  return *this;
}

Params& Params::add_optional(const std::optional<std::string>& value) {
  if (value) refuse_nul(*value);
  values_.push_back(value);
  return *this;
}

Params& Params::add_null() {
  values_.emplace_back(std::nullopt);
  return *this;
}

Params& Params::add_array(std::span<const std::int64_t> values) {
  std::string literal = "{";
  for (std::size_t i = 0; i < values.size(); ++i) {
    if (i > 0) literal += ',';
    literal += std::to_string(values[i]);
  }
  literal += '}';
  values_.emplace_back(std::move(literal));
  return *this;
}

Params& Params::add_array(std::span<const std::string> values) {
  std::size_t size = 2;
  for (const std::string& v : values)
    size += v.size() + 3;
  std::string literal;
  literal.reserve(size + size / 8);
  literal += '{';
  for (std::size_t i = 0; i < values.size(); ++i) {
    const std::string_view value = values[i];
    refuse_nul(value);
    if (i > 0) literal += ',';
    literal += '"';
    // Copies runs of plain characters at once; " and \ get a backslash.
    for (std::size_t start = 0;;) {
      const std::size_t special = value.find_first_of("\"\\", start);
      literal.append(value.substr(start, special - start));
      if (special == std::string_view::npos) break;
      literal += '\\';
      literal += value[special];
      start = special + 1;
    }
    literal += '"';
  }
  literal += '}';
  values_.emplace_back(std::move(literal));
  return *this;
}

std::vector<const char*> Params::pointers() const {
  std::vector<const char*> out;
  out.reserve(values_.size());
  for (const auto& v : values_)
    out.push_back(v ? v->c_str() : nullptr);
  return out;
}

namespace {

std::vector<const char*> c_strings(const std::vector<std::string>& strings) {
  std::vector<const char*> out;
  out.reserve(strings.size() + 1);
  for (const std::string& s : strings)
    out.push_back(s.c_str());
  out.push_back(nullptr);
  return out;
}

// What to add to a failed statement's message for its SQLSTATE: the likely cause.
std::string hint(const PGresult* result) {
  const char* state = result ? PQresultErrorField(result, PG_DIAG_SQLSTATE) : nullptr;
  if (!state) return {};
  const std::string_view code(state);
  if (code == "55P03") {
    return " (another session held a lock errand needed for longer than the lock timeout: a "
           "migration in progress, a LOCK TABLE or a long transaction on errand's tables; see "
           "pg_stat_activity and pg_locks)";
  }
  if (code == "57014" && std::string_view(PQresultErrorMessage(result)).find("statement timeout") !=
                             std::string_view::npos) {
    return " (the statement took longer than the statement timeout, often because another "
           "session holds a lock on errand's tables; see pg_stat_activity and pg_locks)";
  }
  return {};
}

}  // namespace

Connection::Connection(const std::string& conninfo)
    : Connection(std::make_shared<const Target>(make_target(conninfo))) {}

Connection::Connection(std::shared_ptr<const Target> target)
    : target_(std::move(target)), description_(target_->description) {
  // Keywords and values only, no dbname expansion: libpq never parses (and so never echoes)
  // any text of the user's.
  std::vector<std::string> keywords, values;
  for (const auto& [key, value] : target_->info.params) {
    keywords.push_back(key);
    values.push_back(value);
  }
  const auto k = c_strings(keywords);
  const auto v = c_strings(values);
  conn_ = PQconnectdbParams(k.data(), v.data(), 0);
  if (PQstatus(conn_) != CONNECTION_OK) {
    std::string message = trimmed(conn_ ? PQerrorMessage(conn_) : "out of memory");
    PQfinish(conn_);
    conn_ = nullptr;
    // Only libpq's words are scrubbed: the description is safe by construction.
    throw StoreError(fmt::format("cannot connect to PostgreSQL at '{}': {}", description_,
                                 target_->scrub(std::move(message))));
  }
  PQsetNoticeProcessor(
      conn_, [](void*, const char*) {}, nullptr);
  // All of them in one statement: SELECT set_config($1, $2, <local>), set_config($3, $4, ...
  const bool local = target_->transaction_pooler;
  Params params;
  std::string sql;
  for (const auto& [name, value] : target_->session_settings) {
    // A transaction is made read-only by transaction_read_only; the default is for later ones.
    const bool read_only = local && name == "default_transaction_read_only";
    params.add(read_only ? "transaction_read_only" : name).add(value);
    sql += fmt::format("{}set_config(${}, ${}, {})", sql.empty() ? "SELECT " : ", ",
                       params.size() - 1, params.size(), local);
  }
  if (sql.empty()) return;
  if (local) {
    local_settings_sql_ = std::move(sql);
    local_settings_params_ = std::move(params);
  } else {
    exec(sql, params);
  }
}

Connection::~Connection() {
  PQfinish(conn_);
}

namespace {
// "PostgreSQL at '<description>': <operation>: <message> (<hint>)": every failure's message.
// `message` is libpq's or the server's, for `result` when given (else the connection's).
std::string failure_message(PGconn* conn, std::string_view description, std::string_view operation,
                            const PGresult* result, const Target* scrubbing = nullptr) {
  std::string message =
      trimmed(result && *PQresultErrorMessage(result) ? PQresultErrorMessage(result)
                                                      : PQerrorMessage(conn));
  if (scrubbing) message = scrubbing->scrub(std::move(message));
  return fmt::format("PostgreSQL at '{}': {}: {}{}", description, operation, message, hint(result));
}
}  // namespace

void fail(PGconn* conn, std::string_view description, std::string_view operation,
          const PGresult* result) {
  throw StoreError(failure_message(conn, description, operation, result));
}

namespace {
// Names a statement by its start; the whole text would drown the server's message.
std::string statement_label(std::string_view sql) {
  return sql.size() <= 60 ? std::string(sql) : std::string(sql.substr(0, 60)) + "...";
}
}  // namespace

Result check(PGconn* conn, std::string_view description, PGresult* result, std::string_view sql) {
  const auto status = PQresultStatus(result);
  if (status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK) return Result(result);
  Result owned(result);  // freed on the way out
  fail(conn, description, statement_label(sql), result);
}

Result exec(PGconn* conn, std::string_view description, std::string_view sql,
            const Params& params) {
  const std::string text(sql);
  if (params.size() == 0) return check(conn, description, PQexec(conn, text.c_str()), text);
  const auto values = params.pointers();
  return check(
      conn, description,
      PQexecParams(conn, text.c_str(), params.size(), nullptr, values.data(), nullptr, nullptr, 0),
      text);
}

std::string Connection::operation_label(std::string_view operation) const {
  if (!timed_out_) return std::string(operation);
  return fmt::format("no reply within {} ms to {}, so errand cancelled it",
                     target_->reply_timeout.count(), operation);
}

void Connection::fail(std::string_view operation, const PGresult* result) const {
  throw StoreError(
      failure_message(conn_, description_, operation_label(operation), result, target_.get()));
}

namespace {

// How long errand waits for a cancel request to be delivered, and then for the cancelled
// statement's reply, after a reply deadline passed.
constexpr std::chrono::seconds kCancelWait{2};

// Sends a cancel request for the connection's running statement, waiting at most kCancelWait:
// PQcancel blocks until the server closes the cancel connection, which a stopped server never
// does, so it runs on a thread of its own that is left to finish by itself if it must.
bool send_cancel(PGconn* conn) {
  PGcancel* cancel = PQgetCancel(conn);
  if (!cancel) return false;
  auto delivered = std::make_shared<std::promise<bool>>();
  auto result = delivered->get_future();
  std::thread([cancel, delivered] {
    char error[256];
    const bool ok = PQcancel(cancel, error, sizeof error) == 1;
    PQfreeCancel(cancel);
    delivered->set_value(ok);
  }).detach();
  return result.wait_for(kCancelWait) == std::future_status::ready && result.get();
}

}  // namespace

bool Connection::wait_readable(std::chrono::steady_clock::time_point until, bool limited) {
  while (PQisBusy(conn_)) {
    int wait_ms = -1;
    if (limited) {
      const auto left =
          std::chrono::ceil<std::chrono::milliseconds>(until - std::chrono::steady_clock::now());
      if (left.count() <= 0) return false;
      wait_ms = static_cast<int>(std::min<std::int64_t>(left.count(), 60'000));
    }
    pollfd fd{PQsocket(conn_), POLLIN, 0};
    const int ready = ::poll(&fd, 1, wait_ms);
    if (ready < 0 && errno != EINTR) {
      broken_ = true;
      fail("waiting for the server's reply");
    }
    if (ready > 0 && PQconsumeInput(conn_) == 0) {
      broken_ = true;
      fail("reading the server's reply");
    }
  }
  return true;
}

void Connection::await_reply(std::chrono::steady_clock::time_point deadline) {
  const bool limited = target_->reply_timeout.count() > 0;
  if (wait_readable(deadline, limited)) return;
  // Past the deadline: cancel the statement, so that it does not go on (and commit) on the
  // server after errand reported a failure, then give the reply a moment to come back.
  timed_out_ = true;
  if (send_cancel(conn_) && wait_readable(std::chrono::steady_clock::now() + kCancelWait, true)) {
    return;  // the statement's results (normally "canceling statement") are read as usual
  }
  broken_ = true;  // a reply may still come: the connection is never reused
  throw StoreError(fmt::format(
      "PostgreSQL at '{}': no reply within {} ms, nor to a cancel request (the server is stuck or "
      "overloaded, or the network lost the connection); the connection is closed, and whether "
      "the statement took effect is unknown",
      description_, target_->reply_timeout.count()));
}

std::chrono::steady_clock::time_point Connection::reply_deadline() {
  timed_out_ = false;
  return std::chrono::steady_clock::now() + target_->reply_timeout;
}

PGresult* Connection::next_result(std::chrono::steady_clock::time_point deadline) {
  await_reply(deadline);
  return PQgetResult(conn_);
}

Result Connection::finish(std::string_view sql, std::chrono::steady_clock::time_point deadline) {
  // Every result of the query; the last one is returned, the first failure thrown (after all
  // results were read, so the connection stays usable).
  std::optional<Result> last;
  std::optional<Result> failed;
  while (PGresult* raw = next_result(deadline)) {
    Result result(raw);
    const auto status = PQresultStatus(raw);
    if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK && !failed) {
      failed.emplace(std::move(result));
    } else {
      last.emplace(std::move(result));
    }
  }
  if (failed) fail(statement_label(sql), failed->native());
  if (!last) fail(statement_label(sql));
  return std::move(*last);
}

Result Connection::exec(std::string_view sql, const Params& params) {
  if (params.size() > 0 && !local_settings_sql_.empty()) {
    const std::string label = statement_label(sql);
    const Statement statement{label, sql, params};
    return std::move(exec_pipeline({&statement, 1}).front());
  }
  const auto deadline = reply_deadline();
  const std::string text(sql);
  int sent = 0;
  if (params.size() == 0) {
    sent = PQsendQuery(conn_, text.c_str());  // may hold several statements
  } else {
    const auto values = params.pointers();
    sent = PQsendQueryParams(conn_, text.c_str(), params.size(), nullptr, values.data(), nullptr,
                             nullptr, 0);
  }
  if (sent != 1) {
    broken_ = true;
    fail(fmt::format("sending {}", statement_label(sql)));
  }
  return finish(sql, deadline);
}

Result Connection::exec_prepared(const std::string& name, std::string_view sql,
                                 const Params& params) {
  // Behind a transaction pooler the next transaction may run on another server connection,
  // where a prepared statement does not exist: unnamed statements only.
  if (target_->transaction_pooler) return exec(sql, params);
  const auto deadline = reply_deadline();
  if (!prepared_.contains(name)) {
    const std::string text(sql);
    if (PQsendPrepare(conn_, name.c_str(), text.c_str(), params.size(), nullptr) != 1) {
      broken_ = true;
      fail(fmt::format("sending {}", name));
    }
    finish(sql, deadline);
    prepared_.insert(name);
  }
  const auto values = params.pointers();
  if (PQsendQueryPrepared(conn_, name.c_str(), params.size(), values.data(), nullptr, nullptr, 0) !=
      1) {
    broken_ = true;
    fail(fmt::format("sending {}", name));
  }
  return finish(sql, deadline);
}

std::vector<Result> Connection::exec_pipeline(std::span<const Statement> statements) {
  const auto deadline = reply_deadline();
  // Until the pipeline is back in its idle state the connection must not be reused.
  broken_ = true;
  if (PQenterPipelineMode(conn_) != 1) fail("entering pipeline mode");
  const bool unnamed = target_->transaction_pooler;
  // Behind a transaction pooler: first the transaction-local settings; its result is dropped.
  const bool with_settings = !local_settings_sql_.empty();
  if (with_settings) {
    const auto values = local_settings_params_.pointers();
    if (PQsendQueryParams(conn_, local_settings_sql_.c_str(), local_settings_params_.size(),
                          nullptr, values.data(), nullptr, nullptr, 0) != 1) {
      fail("sending the transaction's settings");
    }
  }
  // What was sent, in order: a statement's preparation (its name) or its execution (empty).
  std::vector<std::string> sent;
  std::set<std::string, std::less<>> preparing;  // a name used twice is prepared once
  for (const Statement& s : statements) {
    const std::string name(s.name);
    const auto values = s.params.pointers();
    if (unnamed) {
      const std::string text(s.sql);
      if (PQsendQueryParams(conn_, text.c_str(), s.params.size(), nullptr, values.data(), nullptr,
                            nullptr, 0) != 1) {
        fail(fmt::format("sending {}", name));
      }
      sent.emplace_back();
      continue;
    }
    if (!prepared_.contains(name) && preparing.insert(name).second) {
      const std::string text(s.sql);
      if (PQsendPrepare(conn_, name.c_str(), text.c_str(), s.params.size(), nullptr) != 1)
        fail(fmt::format("sending {}", name));
      sent.push_back(name);
    }
    if (PQsendQueryPrepared(conn_, name.c_str(), s.params.size(), values.data(), nullptr, nullptr,
                            0) != 1) {
      fail(fmt::format("sending {}", name));
    }
    sent.emplace_back();
  }
  if (PQpipelineSync(conn_) != 1) fail("sending the pipeline's sync");

  // Each statement's results (an aborted one's too) end with a NULL.
  const auto end_of_statement = [&] {
    if (PGresult* extra = next_result(deadline)) {
      PQclear(extra);
      fail("reading a pipeline result: more than one result for a statement");
    }
  };
  std::vector<Result> results;
  std::optional<std::string> error;  // the first statement that failed, and why
  std::size_t executed = 0;
  if (with_settings) {
    PGresult* raw = next_result(deadline);
    if (!raw) fail("reading a pipeline result");
    Result result(raw);
    if (PQresultStatus(raw) != PGRES_TUPLES_OK) {
      error = failure_message(conn_, description_, operation_label("the transaction's settings"),
                              raw, target_.get());
    }
    end_of_statement();
  }
  for (const std::string& preparing : sent) {
    PGresult* raw = next_result(deadline);
    if (!raw) fail("reading a pipeline result");
    Result result(raw);
    const auto status = PQresultStatus(raw);
    const std::string_view what =
        preparing.empty() ? statements[executed].name : std::string_view(preparing);
    if (status == PGRES_FATAL_ERROR && !error) {
      error = failure_message(conn_, description_, operation_label(what), raw, target_.get());
    } else if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK && !error) {
      error = fmt::format("PostgreSQL at '{}': {}: unexpected result {}", description_, what,
                          PQresStatus(status));
    }
    end_of_statement();
    if (preparing.empty()) {
      results.push_back(std::move(result));
      ++executed;
    } else if (status == PGRES_COMMAND_OK) {
      prepared_.insert(preparing);
    }
  }
  PGresult* sync = next_result(deadline);
  const bool synced = sync && PQresultStatus(sync) == PGRES_PIPELINE_SYNC;
  PQclear(sync);
  if (!synced || PQexitPipelineMode(conn_) != 1) fail("ending the pipeline");
  broken_ = false;
  if (error) throw StoreError(*error);
  return results;
}

Transaction::Transaction(Connection& connection) : connection_(connection) {
  connection_.exec("BEGIN");
}

Transaction::~Transaction() {
  if (!open_ || !connection_.healthy()) return;
  try {
    connection_.exec("ROLLBACK");
  } catch (const StoreError&) {
    // The connection is marked broken and will not be reused.
  }
}

void Transaction::commit() {
  connection_.exec("COMMIT");
  open_ = false;
}

}  // namespace errand::pg
