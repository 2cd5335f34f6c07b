// The plans of the statements a drain runs (src/postgres/plans.hpp): whatever the jobs table's
// statistics said when the generic plan was made (empty and never analysed, 200,000 rows, mostly
// locked or deleted, emptied again), the claim walks the runnable index in order and every
// statement reaches rows through an index: no sequential scan, sort, hash or merge join, the
// plans that stalled drains at 2k jobs/s.
#include "postgres/plans.hpp"
#include "postgres/pq.hpp"
#include "postgres/sql.hpp"
#include "support/postgres_storage.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <memory>
#include <regex>
#include <string>

namespace errand_test {
namespace {

using errand::pg::Connection;

// A claim of 100 rows with the index plans reads about 100 rows in every node; the plans that
// stalled drains read the whole table of 200,000 rows for it.
constexpr long kClaimRowBound = 1'000;

class PlanTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto url = postgres_url_or_skip();
    if (!url) return;
    storage = std::make_unique<PostgresStorage>(*url);
    storage->open(nullptr);  // creates the schema
    auto target = std::make_shared<errand::pg::Target>(
        errand::pg::make_target(direct_url(storage->server_url())));
    errand::pg::add_planner_settings(*target);
    connection = std::make_unique<Connection>(target);
    s = quote_identifier(storage->schema());
    // Prepared once, as the store does: the generic plan is made at the first execution and
    // made again whenever the table's statistics change.
    connection->exec("PREPARE plan_claim AS " + errand::pg::ready_jobs_sql(s, false));
    connection->exec("PREPARE plan_claim_of_key AS " + errand::pg::ready_jobs_sql(s, true));
    connection->exec("PREPARE plan_next_key AS " + errand::pg::next_key_sql(s, true));
    connection->exec("PREPARE plan_leases AS " + errand::pg::leases_sql(s));
    connection->exec("PREPARE plan_open_claim AS " + errand::pg::open_claim_sql(s));
    connection->exec("PREPARE plan_sweep AS " + errand::pg::sweep_sql(s));
    connection->exec("PREPARE plan_settle AS " + errand::pg::settle_sql(s));
    connection->exec("PREPARE plan_settle_completed AS " + errand::pg::settle_completed_sql(s));
    connection->exec("PREPARE plan_settle_lock AS " + errand::pg::settle_lock_sql(s));
    connection->exec("PREPARE plan_settle_cancelled AS " + errand::pg::settle_cancelled_sql(s));
    connection->exec("PREPARE plan_prune AS " + errand::pg::prune_sql(s));
    connection->exec("PREPARE plan_heartbeat AS " + errand::pg::heartbeat_sql(s));
  }

  std::string plan(const std::string& execute) {
    const auto result = connection->exec("EXPLAIN (COSTS OFF) EXECUTE " + execute);
    std::string text;
    for (int row = 0; row < result.rows(); ++row)
      text += std::string(result.text(row, 0)) + "\n";
    return text;
  }

  // Every statement of a drain, planned against the table as it is now.
  void expect_index_plans(const std::string& state) {
    SCOPED_TRACE("table " + state);
    const std::string claim = plan("plan_claim(4102444800000000, 100, 'default')");
    EXPECT_NE(claim.find("Index Scan using jobs_runnable"), std::string::npos) << claim;
    expect_no_scan_of_every_row("claim", claim);
    // The hot path's claim from the queues without limits, from every queue and from named ones:
    // an index scan per queue; its only sort orders the candidates (at most the claim's size
    // per queue) into the queues' turns.
    for (const char* call : {"plan_open_claim('w', 100, NULL, NULL, NULL, '')",
                             "plan_open_claim('w', 100, NULL, '{default}', '{100}', '')"}) {
      const std::string open = plan(call);
      EXPECT_NE(open.find("Index Scan using jobs_runnable on jobs"), std::string::npos) << open;
      EXPECT_EQ(open.find("Seq Scan on jobs"), std::string::npos) << open;
      EXPECT_EQ(open.find("Hash"), std::string::npos) << open;
    }
    expect_no_scan_of_every_row("claim of a key",
                                plan("plan_claim_of_key(4102444800000000, 100, 'default', 'k')"));
    expect_no_scan_of_every_row("next key",
                                plan("plan_next_key('default', 4102444800000000, 'k')"));
    // The leases: the partial index of locked rows, however many jobs wait (their grouping
    // hashes only those rows).
    const std::string leases = plan("plan_leases('default')");
    EXPECT_NE(leases.find("jobs_locked"), std::string::npos) << leases;
    EXPECT_EQ(leases.find("Seq Scan"), std::string::npos) << leases;
    expect_no_scan_of_every_row("sweep", plan("plan_sweep(NULL, 1000000)"));
    expect_no_scan_of_every_row(
        "settle",
        plan("plan_settle('w', NULL, '{1,2}', '{0,0}', '{3}', '{0}', '{e}', '{0}', '{h}', '{4}',"
             " '{0}', '{e}', '{h}', '{5}', '{0}', '{6}', '{0}', '{0}', '{7}', '{0}', '{o}')"));
    expect_no_scan_of_every_row("settle_completed",
                                plan("plan_settle_completed('w', '{1,2}', '{0,0}')"));
    expect_no_scan_of_every_row("settle_lock", plan("plan_settle_lock('{3,4}')"));
    expect_no_scan_of_every_row(
        "settle_cancelled",
        plan("plan_settle_cancelled('w', NULL, '{3}', '{0}', '{1}', '{e}', '{h}')"));
    expect_no_scan_of_every_row(
        "heartbeat", plan("plan_heartbeat('w', 'h', 1, 1, NULL, 0, '{1}', 'errand_plan_test',"
                          " '{1}', '{0}', '{0.5}', '{m}', '[\"mail\"]')"));
    expect_no_scan_of_every_row(
        "prune", plan("plan_prune(NULL, 0, 0, 0, 1000, 'k', 86400000000, 86400000000)"));
  }

  static void expect_no_scan_of_every_row(const std::string& statement, const std::string& plan) {
    for (const char* node : {"Seq Scan", "Sort", "Hash", "Merge Join"})
      EXPECT_EQ(plan.find(node), std::string::npos) << statement << " plans a " << node << ":\n"
                                                    << plan;
  }

  // The most rows any node of one claim of 100 read or dropped (run and rolled back): about 100
  // with the index plans, every row of the table with the ones that stalled drains.
  long claim_rows_touched() {
    connection->exec("BEGIN");
    const auto result = connection->exec(
        "EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF) EXECUTE plan_open_claim('w', 100, NULL, NULL, "
        "NULL, '')");
    connection->exec("ROLLBACK");
    const std::regex count{R"((actual rows|Rows Removed by [A-Za-z ]+)[=:] ?(\d+))"};
    long most = 0;
    std::string plan;
    for (int row = 0; row < result.rows(); ++row) {
      const std::string line(result.text(row, 0));
      plan += line + "\n";
      for (auto it = std::sregex_iterator(line.begin(), line.end(), count);
           it != std::sregex_iterator(); ++it)
        most = std::max(most, std::stol((*it)[2]));
    }
    EXPECT_GT(most, 0) << plan;
    if (most > kClaimRowBound) ADD_FAILURE() << plan;
    return most;
  }

  void fill(int rows) {
    connection->exec("INSERT INTO " + s +
                     ".jobs (name, payload, run_at, created_at)"
                     " SELECT 'plan', '{}', now() - interval '1 hour' + g * interval '1 ms', now()"
                     " FROM generate_series(1, " +
                     std::to_string(rows) + ") g");
  }

  std::unique_ptr<PostgresStorage> storage;
  std::unique_ptr<Connection> connection;
  std::string s;
};

TEST_F(PlanTest, EveryDrainStatementKeepsItsIndexPlanAtEveryTableState) {
  if (!connection) return;
  expect_index_plans("new and empty (the first plan)");

  fill(200'000);
  expect_index_plans("of 200,000 rows, plans made while it was empty");
  EXPECT_LE(claim_rows_touched(), kClaimRowBound);

  connection->exec("ANALYZE " + s + ".jobs");
  expect_index_plans("of 200,000 rows, analysed");
  EXPECT_LE(claim_rows_touched(), kClaimRowBound);

  // A drain in progress: the oldest rows claimed, many finished ones deleted, then vacuumed.
  connection->exec("UPDATE " + s +
                   ".jobs SET locked_by = 'w', locked_at = now() WHERE id <= 150000");
  connection->exec("DELETE FROM " + s + ".jobs WHERE id <= 100000");
  connection->exec("VACUUM ANALYZE " + s + ".jobs");
  expect_index_plans("mostly locked and deleted, vacuumed and analysed");
  EXPECT_LE(claim_rows_touched(), kClaimRowBound);

  connection->exec("DELETE FROM " + s + ".jobs");
  connection->exec("VACUUM ANALYZE " + s + ".jobs");
  expect_index_plans("emptied, vacuumed and analysed");
  fill(200'000);
  expect_index_plans("refilled, plans made while it was empty");
  EXPECT_LE(claim_rows_touched(), kClaimRowBound);
}

}  // namespace
}  // namespace errand_test
