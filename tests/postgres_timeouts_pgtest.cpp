// Nothing waits forever on PostgreSQL: connecting to a server that never answers, waiting for
// another session's migration lock or table lock, a server that stops answering mid-statement,
// and a peer that vanishes (TCP keepalives set on every connection). Behind a transaction pooler
// the settings that carry the timeouts hold for every statement (PostgresPooler).
#include "postgres/pq.hpp"
#include "postgres/target.hpp"
#include "support/postgres_storage.hpp"
#include "support/silent_server.hpp"
#include "support/text.hpp"

#include <errand/errand.hpp>
#include <errand/postgres.hpp>

#include <gtest/gtest.h>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <future>
#include <string>

namespace errand_test {
namespace {

using namespace std::chrono_literals;

using errand_test::contains;

// What `open` throws, or "" when it returns; a call still running after `limit` fails the test
// (the point of these tests is that nothing hangs).
template <class F>
std::string error_within(std::chrono::seconds limit, F open) {
  auto result = std::async(std::launch::async, [open]() -> std::string {
    try {
      open();
    } catch (const std::exception& e) {
      return e.what();
    }
    return {};
  });
  if (result.wait_for(limit) != std::future_status::ready) {
    ADD_FAILURE() << "still waiting after " << limit.count() << " s";
    result.wait();  // the failure is recorded; let it end before the test's objects go
  }
  return result.get();
}

TEST(PostgresTimeouts, ConnectingToAServerThatNeverAnswersGivesUp) {
  SilentServer silent;
  const std::string url = "postgres://u:SilentSecret@127.0.0.1:" + std::to_string(silent.port()) +
                          "/db?connect_timeout=1";
  const std::string error = error_within(30s, [&] { errand::open_store(url); });
  EXPECT_TRUE(contains(error, "timeout expired")) << error;
  EXPECT_TRUE(contains(error, "postgres://u:***@127.0.0.1:")) << error;
  EXPECT_FALSE(contains(error, "SilentSecret")) << error;
}

int socket_option(int fd, int level, int name) {
  int value = -1;
  socklen_t length = sizeof value;
  if (::getsockopt(fd, level, name, &value, &length) != 0) return -1;
  return value;
}

// errand's connection defaults (pg::kConnectionDefaults) reach the socket: a server that
// vanishes from the network is noticed within about 30 s.
TEST(PostgresTimeouts, EveryConnectionHasTcpKeepalivesAndAUserTimeout) {
  const auto url = postgres_url_or_skip();
  if (!url) return;
  if (behind_transaction_pooler(*url)) GTEST_SKIP() << "checks the server connection itself";
  errand::pg::Connection connection(*url);
  const int fd = PQsocket(connection.native());
  ASSERT_GE(fd, 0);
  EXPECT_EQ(socket_option(fd, SOL_SOCKET, SO_KEEPALIVE), 1);
  EXPECT_EQ(socket_option(fd, IPPROTO_TCP, TCP_KEEPIDLE), 10);
  EXPECT_EQ(socket_option(fd, IPPROTO_TCP, TCP_KEEPINTVL), 5);
  EXPECT_EQ(socket_option(fd, IPPROTO_TCP, TCP_KEEPCNT), 3);
  EXPECT_EQ(socket_option(fd, IPPROTO_TCP, TCP_USER_TIMEOUT), 30000);
  // The URL's own setting wins.
  errand::pg::Connection own(with_conninfo_parameter(*url, "keepalives_idle", "42"));
  EXPECT_EQ(socket_option(PQsocket(own.native()), IPPROTO_TCP, TCP_KEEPIDLE), 42);
}

class PostgresLocks : public ::testing::Test {
 protected:
  void SetUp() override {
    url_ = postgres_url_or_skip();
    if (!url_) return;
    storage_ = std::make_unique<PostgresStorage>(*url_);
    storage_->open(nullptr);  // creates and migrates the schema
  }

  errand::PostgresOptions options(std::chrono::milliseconds statement_timeout) const {
    errand::PostgresOptions o;
    o.schema = storage_->schema();
    o.statement_timeout = statement_timeout;
    o.migration_lock_timeout = 300ms;
    return o;
  }

  std::optional<std::string> url_;
  std::unique_ptr<PostgresStorage> storage_;
};

TEST_F(PostgresLocks, TheMigrationLockIsTakenOnlyWhenAMigrationIsNeeded) {
  if (!url_) return;
  PgConnection holder(direct_url(storage_->server_url()));
  const std::string fresh = unique_schema_name();
  holder.exec("BEGIN; SELECT pg_advisory_xact_lock(hashtext('errand:" + storage_->schema() +
              "')), pg_advisory_xact_lock(hashtext('errand:" + fresh + "'))");
  // Up to date: opening does not wait for the lock at all.
  const std::string up_to_date =
      error_within(30s, [&] { errand::open_postgres(storage_->server_url(), options(0ms)); });
  EXPECT_EQ(up_to_date, "");
  // A schema that needs its migration waits at most migration_lock_timeout, then says why.
  auto o = options(0ms);
  o.schema = fresh;
  const std::string waited =
      error_within(30s, [&] { errand::open_postgres(storage_->server_url(), o); });
  EXPECT_TRUE(contains(waited, "migration lock")) << waited;
  EXPECT_TRUE(contains(waited, fresh)) << waited;
  holder.exec("ROLLBACK");
  // Nothing was created meanwhile.
  EXPECT_EQ(holder.integer("SELECT count(*) FROM pg_namespace WHERE nspname = '" + fresh + "'"), 0);
}

TEST_F(PostgresLocks, ALockedJobsTableFailsAStatementAfterTheStatementTimeout) {
  if (!url_) return;
  auto store = errand::open_postgres(storage_->server_url(), options(300ms));
  PgConnection holder(direct_url(storage_->server_url()));
  holder.exec("BEGIN; LOCK TABLE " + storage_->table("jobs") + " IN ACCESS EXCLUSIVE MODE");
  const std::string error = error_within(30s, [&] { store->counts(2h); });
  holder.exec("ROLLBACK");
  // The server's lock timeout, with errand's hint (behind a transaction pooler too: the
  // settings are made transaction-local there, see PostgresPooler). On a loaded machine the
  // statement timeout, 30 ms later, may come first; either way the server gave up, not
  // errand's reply deadline.
  if (contains(error, "lock timeout")) {
    EXPECT_TRUE(contains(error, "another session")) << error;
  } else {
    EXPECT_TRUE(contains(error, "statement timeout")) << error;
  }
  EXPECT_FALSE(contains(error, "no reply within")) << error;
  // The store recovers once the lock is gone.
  EXPECT_EQ(store->counts(2h).ready, 0);
}

// A server process that stops mid-statement (SIGSTOP: the kernel still acknowledges every TCP
// packet, so neither keepalives nor the user timeout notice) is given up on after the reply
// deadline, and the connection is never reused.
TEST_F(PostgresLocks, AServerThatStopsAnsweringIsGivenUpOnAfterTheReplyDeadline) {
  if (!url_) return;
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to stop the server's backend process";
  if (behind_transaction_pooler(*url_)) GTEST_SKIP() << "stops the connection's own backend";
  auto target = std::make_shared<errand::pg::Target>(errand::pg::make_target(*url_));
  target->reply_timeout = 500ms;
  errand::pg::Connection connection(target);
  const auto pid = connection.exec("SELECT pg_backend_pid()").int64(0, 0);
  ASSERT_EQ(::kill(static_cast<pid_t>(pid), SIGSTOP), 0);
  const std::string error = error_within(30s, [&] { connection.exec("SELECT 1"); });
  ::kill(static_cast<pid_t>(pid), SIGCONT);
  EXPECT_TRUE(contains(error, "no reply within 500 ms")) << error;
  EXPECT_FALSE(connection.healthy());
}

using PostgresPooler = PostgresLocks;

// Behind a transaction pooler session settings cannot be made (they would stay on a server
// connection other clients get next): every statement with parameters carries them
// transaction-locally instead, on whichever server connection runs it, and none leaks.
TEST_F(PostgresPooler, SessionSettingsHoldForEveryStatementWithParametersAndNeverLeak) {
  if (!url_) return;
  auto target = std::make_shared<errand::pg::Target>(errand::pg::make_target(
      behind_transaction_pooler(*url_) ? *url_
                                       : with_conninfo_parameter(*url_, "pooler", "transaction")));
  ASSERT_TRUE(target->transaction_pooler);
  target->session_settings = {{"plan_cache_mode", "force_generic_plan"},
                              {"statement_timeout", "4321"},
                              {"default_transaction_read_only", "on"}};
  errand::pg::Connection connection(target);
  errand::pg::Params name;
  name.add("plan_cache_mode");
  const std::string settings =
      "SELECT current_setting($1), current_setting('statement_timeout'),"
      " current_setting('transaction_read_only')";
  const auto check = [](const errand::pg::Result& r) {
    EXPECT_EQ(r.text(0, 0), "force_generic_plan");
    EXPECT_EQ(r.text(0, 1), "4321ms");
    EXPECT_EQ(r.text(0, 2), "on");
  };
  check(connection.exec(settings, name));
  check(connection.exec_prepared("settings", settings, name));
  const errand::pg::Connection::Statement statements[] = {{"a", settings, name},
                                                          {"b", settings, name}};
  for (const auto& r : connection.exec_pipeline(statements))
    check(r);
  // Read-only holds: a write with parameters is refused, and nothing was changed.
  errand::pg::Params id;
  id.add(std::int64_t{1});
  const std::string write = "DELETE FROM " + storage_->table("jobs") + " WHERE id = $1";
  const std::string error = error_within(30s, [&] { connection.exec(write, id); });
  EXPECT_TRUE(contains(error, "read-only transaction")) << error;
  // Nothing leaks into the session (parameterless statements run as they are).
  EXPECT_EQ(connection.exec("SHOW plan_cache_mode").text(0, 0), "auto");
  EXPECT_EQ(connection.exec("SHOW transaction_read_only").text(0, 0), "off");
  // A failing setting fails the statement clearly, and the connection stays usable.
  auto bad = std::make_shared<errand::pg::Target>(*target);
  bad->session_settings = {{"statement_timeout", "not a duration"}};
  errand::pg::Connection bad_connection(bad);
  const std::string refused = error_within(30s, [&] { bad_connection.exec(settings, name); });
  EXPECT_TRUE(contains(refused, "transaction's settings")) << refused;
  EXPECT_EQ(bad_connection.exec("SELECT 1").text(0, 0), "1");
}

}  // namespace
}  // namespace errand_test
