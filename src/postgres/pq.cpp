#include "postgres/pq.hpp"

#include <errand/error.hpp>

#include "core/stored_values.hpp"

#include <fmt/format.h>

#include <charconv>
#include <optional>

namespace errand::pg {

namespace {
std::string trimmed(std::string message) {
  while (!message.empty() && (message.back() == '\n' || message.back() == ' '))
    message.pop_back();
  return message;
}
}  // namespace

std::string redact(std::string_view conninfo) {
  std::string out(conninfo);
  const auto scheme_end = out.find("://");
  if (scheme_end != std::string::npos) {
    // postgres://user:secret@host/db
    const auto at = out.find('@', scheme_end + 3);
    const auto colon = out.find(':', scheme_end + 3);
    if (at != std::string::npos && colon != std::string::npos && colon < at) {
      out.replace(colon + 1, at - colon - 1, "***");
    }
    // ...?password=secret&...
    for (auto pos = out.find("password="); pos != std::string::npos;
         pos = out.find("password=", pos + 1)) {
      const auto start = pos + 9;
      const auto end = out.find('&', start);
      out.replace(start, (end == std::string::npos ? out.size() : end) - start, "***");
    }
    return out;
  }
  // key=value form: password=secret or password='sec ret'
  for (auto pos = out.find("password"); pos != std::string::npos;
       pos = out.find("password", pos + 1)) {
    auto eq = out.find_first_not_of(' ', pos + 8);
    if (eq == std::string::npos || out[eq] != '=') continue;
    auto start = out.find_first_not_of(' ', eq + 1);
    if (start == std::string::npos) break;
    std::size_t end;
    if (out[start] == '\'') {
      end = start + 1;
      while (end < out.size() && out[end] != '\'')
        end += out[end] == '\\' ? 2 : 1;
      end = std::min(end + 1, out.size());
    } else {
      end = out.find(' ', start);
      if (end == std::string::npos) end = out.size();
    }
    out.replace(start, end - start, "***");
  }
  return out;
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

std::optional<std::int64_t> Result::optional_int64(int row, int column) const {
  if (is_null(row, column)) return std::nullopt;
  return int64(row, column);
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

Connection::Connection(const std::string& conninfo) : description_(redact(conninfo)) {
  conn_ = PQconnectdb(conninfo.c_str());
  if (PQstatus(conn_) != CONNECTION_OK) {
    std::string message = trimmed(conn_ ? PQerrorMessage(conn_) : "out of memory");
    PQfinish(conn_);
    conn_ = nullptr;
    throw StoreError(
        fmt::format("cannot connect to PostgreSQL at '{}': {}", description_, message));
  }
  PQsetNoticeProcessor(
      conn_, [](void*, const char*) {}, nullptr);
}

Connection::~Connection() {
  PQfinish(conn_);
}

void fail(PGconn* conn, std::string_view description, std::string_view operation,
          const PGresult* result) {
  std::string message =
      result && *PQresultErrorMessage(result) ? PQresultErrorMessage(result) : PQerrorMessage(conn);
  throw StoreError(
      fmt::format("PostgreSQL at '{}': {}: {}", description, operation, trimmed(message)));
}

Result check(PGconn* conn, std::string_view description, PGresult* result, std::string_view sql) {
  const auto status = PQresultStatus(result);
  if (status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK) return Result(result);
  Result owned(result);  // freed on the way out
  // Name the statement by its start; the whole text would drown the server's message.
  fail(conn, description,
       sql.size() <= 60 ? std::string(sql) : std::string(sql.substr(0, 60)) + "...", result);
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

void Connection::fail(std::string_view operation, const PGresult* result) const {
  pg::fail(conn_, description_, operation, result);
}

Result Connection::exec(std::string_view sql, const Params& params) {
  return pg::exec(conn_, description_, sql, params);
}

Result Connection::exec_prepared(const std::string& name, std::string_view sql,
                                 const Params& params) {
  if (!prepared_.contains(name)) {
    const std::string text(sql);
    check(conn_, description_, PQprepare(conn_, name.c_str(), text.c_str(), params.size(), nullptr),
          text);
    prepared_.insert(name);
  }
  const auto values = params.pointers();
  return check(
      conn_, description_,
      PQexecPrepared(conn_, name.c_str(), params.size(), values.data(), nullptr, nullptr, 0), sql);
}

std::vector<Result> Connection::exec_pipeline(std::span<const Statement> statements) {
  // Until the pipeline is back in its idle state the connection must not be reused.
  broken_ = true;
  if (PQenterPipelineMode(conn_) != 1) fail("entering pipeline mode");
  // What was sent, in order: a statement's preparation (its name) or its execution (empty).
  std::vector<std::string> sent;
  std::set<std::string, std::less<>> preparing;  // a name used twice is prepared once
  for (const Statement& s : statements) {
    const std::string name(s.name);
    if (!prepared_.contains(name) && preparing.insert(name).second) {
      const std::string text(s.sql);
      if (PQsendPrepare(conn_, name.c_str(), text.c_str(), s.params.size(), nullptr) != 1)
        fail(fmt::format("sending {}", name));
      sent.push_back(name);
    }
    const auto values = s.params.pointers();
    if (PQsendQueryPrepared(conn_, name.c_str(), s.params.size(), values.data(), nullptr, nullptr,
                            0) != 1) {
      fail(fmt::format("sending {}", name));
    }
    sent.emplace_back();
  }
  if (PQpipelineSync(conn_) != 1) fail("sending the pipeline's sync");

  std::vector<Result> results;
  std::optional<std::string> error;  // the first statement that failed, and why
  std::size_t executed = 0;
  for (const std::string& preparing : sent) {
    PGresult* raw = PQgetResult(conn_);
    if (!raw) fail("reading a pipeline result");
    Result result(raw);
    const auto status = PQresultStatus(raw);
    const std::string_view what =
        preparing.empty() ? statements[executed].name : std::string_view(preparing);
    if (status == PGRES_FATAL_ERROR && !error) {
      error = fmt::format("PostgreSQL at '{}': {}: {}", description_, what,
                          trimmed(PQresultErrorMessage(raw)));
    } else if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK && !error) {
      error = fmt::format("PostgreSQL at '{}': {}: unexpected result {}", description_, what,
                          PQresStatus(status));
    }
    // Each statement's results (an aborted one's too) end with a NULL.
    if (PGresult* extra = PQgetResult(conn_)) {
      PQclear(extra);
      fail("reading a pipeline result: more than one result for a statement");
    }
    if (preparing.empty()) {
      results.push_back(std::move(result));
      ++executed;
    } else if (status == PGRES_COMMAND_OK) {
      prepared_.insert(preparing);
    }
  }
  PGresult* sync = PQgetResult(conn_);
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
  PQclear(PQexec(connection_.native(), "ROLLBACK"));
}

void Transaction::commit() {
  connection_.exec("COMMIT");
  open_ = false;
}

}  // namespace errand::pg
