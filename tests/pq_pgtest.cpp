// The libpq layer's pipeline (src/postgres/pq.hpp): one round trip, one implicit transaction,
// results in order, and a connection that is either reusable or marked broken after a failure.
#include "postgres/pq.hpp"
#include "postgres/sql.hpp"
#include "support/postgres_storage.hpp"

#include <errand/error.hpp>

#include <gtest/gtest.h>

#include <string>

namespace errand_test {
namespace {

using errand::pg::Connection;
using errand::pg::Params;

class PipelineTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto url = postgres_url_or_skip();
    if (!url) return;
    connection = std::make_unique<Connection>(*url);
    connection->exec("CREATE TEMP TABLE items (id int8 PRIMARY KEY)");
  }
  std::int64_t items() { return connection->exec("SELECT count(*) FROM items").int64(0, 0); }

  std::unique_ptr<Connection> connection;
};

TEST_F(PipelineTest, RunsEveryStatementAndReturnsTheResultsInOrder) {
  if (!connection) return;
  Params one, two, none;
  one.add(std::int64_t{1});
  two.add(std::int64_t{2});
  const Connection::Statement statements[] = {
      {"t_insert", "INSERT INTO items VALUES ($1) RETURNING id * 10", one},
      {"t_insert", "INSERT INTO items VALUES ($1) RETURNING id * 10", two},
      {"t_count", "SELECT count(*) FROM items", none},
  };
  const auto results = connection->exec_pipeline(statements);
  ASSERT_EQ(results.size(), 3u);
  EXPECT_EQ(results[0].int64(0, 0), 10);
  EXPECT_EQ(results[1].int64(0, 0), 20);
  EXPECT_EQ(results[2].int64(0, 0), 2);  // a later statement sees the earlier ones' rows
  EXPECT_EQ(items(), 2);
  EXPECT_TRUE(connection->healthy());
}

TEST_F(PipelineTest, AsynchronousCommitHoldsForThePipelinesTransactionOnly) {
  if (!connection) return;
  const Params none;
  const Connection::Statement statements[] = {
      {"t_async", errand::pg::kAsynchronousCommit, none},
      {"t_setting", "SELECT current_setting('synchronous_commit')", none},
  };
  const auto results = connection->exec_pipeline(statements);
  EXPECT_EQ(results[1].text(0, 0), "off");
  EXPECT_EQ(connection->exec("SELECT current_setting('synchronous_commit')").text(0, 0), "on");
}

TEST_F(PipelineTest, AFailedStatementRollsBackTheWholePipelineAndTheConnectionStaysUsable) {
  if (!connection) return;
  Params one, zero, three;
  one.add(std::int64_t{1});
  zero.add(std::int64_t{0});
  three.add(std::int64_t{3});
  const Connection::Statement failing[] = {
      {"t_insert", "INSERT INTO items VALUES ($1)", one},
      {"t_divide", "SELECT 1 / $1::int8", zero},
      {"t_insert_after", "INSERT INTO items VALUES ($1)", three},
  };
  try {
    connection->exec_pipeline(failing);
    ADD_FAILURE() << "a division by zero did not throw";
  } catch (const errand::StoreError& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("t_divide"), std::string::npos) << what;
    EXPECT_NE(what.find("division by zero"), std::string::npos) << what;
  }
  EXPECT_TRUE(connection->healthy());
  EXPECT_EQ(items(), 0) << "the insert before the failure was committed";
  // The same names again: the statement whose preparation was skipped is prepared now.
  Params ok;
  ok.add(std::int64_t{5});
  const Connection::Statement again[] = {
      {"t_insert", "INSERT INTO items VALUES ($1)", one},
      {"t_divide", "SELECT 1 / $1::int8", ok},
      {"t_insert_after", "INSERT INTO items VALUES ($1)", three},
  };
  const auto results = connection->exec_pipeline(again);
  EXPECT_EQ(results[1].int64(0, 0), 0);
  EXPECT_EQ(items(), 2);
}

TEST_F(PipelineTest, ALostConnectionIsAStoreErrorAndTheConnectionIsNotReusable) {
  if (!connection) return;
  const auto pid = connection->exec("SELECT pg_backend_pid()").int64(0, 0);
  Connection killer(*postgres_url_or_skip());
  killer.exec("SELECT pg_terminate_backend(" + std::to_string(pid) + ")");
  Params one;
  one.add(std::int64_t{1});
  const Connection::Statement statements[] = {{"t_insert", "INSERT INTO items VALUES ($1)", one}};
  EXPECT_THROW(connection->exec_pipeline(statements), errand::StoreError);
  EXPECT_FALSE(connection->healthy());
}

}  // namespace
}  // namespace errand_test
