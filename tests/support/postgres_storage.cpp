#include "support/postgres_storage.hpp"

#include <libpq-fe.h>
#include <unistd.h>

#include <atomic>
#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <random>
#include <stdexcept>

namespace errand_test {

namespace {

constexpr std::string_view kStartHint = "start one with scripts/with-postgres";
// How long the test's own sessions wait for a lock before failing (instead of hanging).
constexpr std::chrono::milliseconds kInspectionLockTimeout{30'000};

bool pg_required() {
  const char* require = std::getenv("ERRAND_REQUIRE_PG");
  return require && std::string_view(require) == "1";
}

// GTEST_SKIP/GTEST_FAIL return from the function they are in: keep them in a void one.
void skip_or_fail(std::string_view variable, std::string_view what) {
  if (pg_required()) {
    GTEST_FAIL() << variable << " not set, but ERRAND_REQUIRE_PG=1 requires " << what << " ("
                 << kStartHint << ")";
  } else {
    GTEST_SKIP() << variable << " not set: " << kStartHint;
  }
}

std::optional<std::string> required_variable(const char* variable, std::string_view what) {
  const char* value = std::getenv(variable);
  if (value && *value) return std::string(value);
  skip_or_fail(variable, what);
  return std::nullopt;
}

bool is_url(std::string_view conninfo) {
  return conninfo.starts_with("postgres://") || conninfo.starts_with("postgresql://");
}

std::string percent_encode(std::string_view text) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : text) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

class PgWriteBlock final : public WriteBlock {
 public:
  PgWriteBlock(const std::string& conninfo, const std::string& jobs, const std::string& dead)
      : db_(conninfo) {
    db_.exec("BEGIN; LOCK TABLE " + jobs + ", " + dead + " IN EXCLUSIVE MODE");
  }
  ~PgWriteBlock() override {
    try {
      db_.exec("ROLLBACK");
    } catch (const std::exception&) {
      // The connection closes anyway, which ends the transaction.
    }
  }

 private:
  PgConnection db_;
};

}  // namespace

std::optional<std::string> postgres_url_or_skip() {
  return required_variable("ERRAND_TEST_PG_URL", "a PostgreSQL server");
}

std::string direct_url(const std::string& url) {
  const char* direct = std::getenv("ERRAND_TEST_PG_DIRECT_URL");
  return direct && *direct ? std::string(direct) : url;
}

bool behind_transaction_pooler(const std::string& url) {
  return url.find("pooler=transaction") != std::string::npos;
}

std::optional<std::string> postgres_ctl_or_skip() {
  return required_variable("ERRAND_TEST_PG_CTL", "a pg_ctl command for the test server");
}

std::string with_conninfo_parameter(const std::string& url, std::string_view key,
                                    std::string_view value) {
  if (is_url(url)) {
    const char separator = url.find('?') == std::string::npos ? '?' : '&';
    return url + separator + std::string(key) + "=" + percent_encode(value);
  }
  std::string quoted = "'";
  for (char c : value) {
    if (c == '\'' || c == '\\') quoted += '\\';
    quoted += c;
  }
  return url + " " + std::string(key) + "=" + quoted + "'";
}

std::string session_conninfo(const std::string& url, std::string_view schema,
                             std::chrono::milliseconds lock_timeout) {
  std::string options;
  if (!schema.empty()) {
    // The server splits `options` at spaces; a backslash keeps one in the value.
    options += "-c search_path=";
    for (char c : quote_identifier(schema)) {
      if (c == ' ' || c == '\\') options += '\\';
      options += c;
    }
  }
  if (lock_timeout.count() > 0) {
    if (!options.empty()) options += ' ';
    options += "-c lock_timeout=" + std::to_string(lock_timeout.count());
  }
  return options.empty() ? url : with_conninfo_parameter(url, "options", options);
}

std::string quote_identifier(std::string_view name) {
  std::string out = "\"";
  for (char c : name) {
    if (c == '"') out += '"';
    out += c;
  }
  return out + "\"";
}

std::string unique_schema_name() {
  static std::atomic<int> counter{0};
  std::random_device random;
  char suffix[8];
  std::snprintf(suffix, sizeof suffix, "%06x", random() & 0xffffffu);
  return "errand_t_" + std::to_string(::getpid()) + "_" + std::to_string(++counter) + "_" + suffix;
}

PgConnection::PgConnection(const std::string& conninfo) : conn_(PQconnectdb(conninfo.c_str())) {
  if (PQstatus(conn_) != CONNECTION_OK) {
    std::string message = conn_ ? PQerrorMessage(conn_) : "out of memory";
    PQfinish(conn_);
    throw std::runtime_error("test: cannot connect to PostgreSQL: " + message);
  }
  PQsetNoticeProcessor(
      conn_, [](void*, const char*) {}, nullptr);
}

PgConnection::~PgConnection() {
  PQfinish(conn_);
}

std::vector<Row> PgConnection::rows(std::string_view sql) {
  const std::string text(sql);
  if (PQstatus(conn_) != CONNECTION_OK) PQreset(conn_);
  PGresult* result = PQexec(conn_, text.c_str());
  auto status = PQresultStatus(result);
  if (status != PGRES_TUPLES_OK && status != PGRES_COMMAND_OK &&
      PQstatus(conn_) == CONNECTION_BAD) {
    // The server went away (a restart test): reconnect and try once more.
    PQclear(result);
    PQreset(conn_);
    result = PQexec(conn_, text.c_str());
    status = PQresultStatus(result);
  }
  if (status != PGRES_TUPLES_OK && status != PGRES_COMMAND_OK) {
    std::string message = result ? PQresultErrorMessage(result) : PQerrorMessage(conn_);
    PQclear(result);
    throw std::runtime_error("test: '" + text + "': " + message);
  }
  std::vector<Row> out;
  for (int r = 0; r < PQntuples(result); ++r) {
    Row row;
    for (int c = 0; c < PQnfields(result); ++c) {
      if (PQgetisnull(result, r, c)) {
        row.emplace_back(std::nullopt);
      } else {
        row.emplace_back(std::string(PQgetvalue(result, r, c),
                                     static_cast<std::size_t>(PQgetlength(result, r, c))));
      }
    }
    out.push_back(std::move(row));
  }
  PQclear(result);
  return out;
}

std::optional<std::string> PgConnection::text(std::string_view sql) {
  auto result = rows(sql);
  if (result.empty() || result.front().empty()) return std::nullopt;
  return result.front().front();
}

std::optional<std::int64_t> PgConnection::integer(std::string_view sql) {
  auto value = text(sql);
  if (!value) return std::nullopt;
  return std::stoll(*value);
}

PostgresStorage::PostgresStorage(std::string url, std::string schema)
    : url_(std::move(url)),
      direct_url_(direct_url(url_)),
      schema_(std::move(schema)),
      db_(std::make_unique<PgConnection>(conninfo())) {}

PostgresStorage::~PostgresStorage() {
  std::lock_guard lock(mutex_);
  try {
    db_->exec("DROP SCHEMA IF EXISTS " + quote_identifier(schema_) + " CASCADE");
  } catch (const std::exception& e) {
    std::cerr << "warning: could not drop test schema " << schema_ << ": " << e.what() << "\n";
  }
}

std::shared_ptr<errand::Store> PostgresStorage::open(std::shared_ptr<const errand::Clock> clock,
                                                     StoreTuning tuning) {
  errand::PostgresOptions options;
  options.schema = schema_;
  options.clock = std::move(clock);
  if (behind_transaction_pooler(url_)) {
    // A pooler passes no session options: the store's own timeout bounds lock waits.
    options.statement_timeout = tuning.busy_timeout;
    return errand::open_postgres(url_, options);
  }
  return errand::open_postgres(session_conninfo(url_, "", tuning.busy_timeout), options);
}

std::string PostgresStorage::url() const {
  return with_conninfo_parameter(url_, "schema", schema_);
}

std::string PostgresStorage::table(std::string_view logical) const {
  return quote_identifier(schema_) + "." + std::string(logical);
}

std::vector<Row> PostgresStorage::rows(std::string_view sql) {
  std::lock_guard lock(mutex_);
  return db_->rows(sql);
}

std::string PostgresStorage::micros(std::string_view column) const {
  return "(extract(epoch from " + std::string(column) + ") * 1000000)::int8";
}

std::unique_ptr<WriteBlock> PostgresStorage::block_writes() {
  return std::make_unique<PgWriteBlock>(conninfo(), table("jobs"), table("finished_jobs"));
}

std::string PostgresStorage::conninfo() const {
  return session_conninfo(direct_url_, schema_, kInspectionLockTimeout);
}

StoreFactory postgres_factory() {
  return StoreFactory{"postgres", []() -> std::unique_ptr<TestStorage> {
                        auto url = postgres_url_or_skip();
                        if (!url) return nullptr;
                        return std::make_unique<PostgresStorage>(*url);
                      }};
}

}  // namespace errand_test
